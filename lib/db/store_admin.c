/*
 * store_admin.c - admin keys, for clientsctl (store_migrate.c has the
 * schema).
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

static const char key_create_sql[] = "INSERT INTO admin_keys (name, "
	"key_sha256, created_at) VALUES (?, ?, NOW(3))";
static const char key_list_sql[] = "SELECT id, name, created_at, "
	"COALESCE(revoked_at, '-') FROM admin_keys ORDER BY id";
static const char key_revoke_sql[] = "UPDATE admin_keys SET revoked_at = "
	"NOW(3) WHERE id = ? AND revoked_at IS NULL";

struct key_job {
	const char		*name, *sha256_hex;
	unsigned long long	 id;
};

static enum tx_rc
key_create_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_job	*j = arg;
	struct param	 p[2];
	MYSQL_STMT	*st;

	(void)status;
	p[0] = store_str(j->name);
	p[1] = store_str(j->sha256_hex);
	if ((st = store_exec(s, key_create_sql, p, 2)) == NULL)
		return TX_DB_ERROR;
	j->id = mysql_stmt_insert_id(st);
	return TX_OK;
}

enum cm_db_status
store_admin_key_create(struct cm_store *s, const char *name,
    const char *sha256_hex, unsigned long long *id)
{
	struct key_job		j = { name, sha256_hex, 0 };
	enum cm_db_status	rc;

	if ((rc = store_transaction(s, key_create_tx, &j)) == CM_DB_OK)
		*id = j.id;
	return rc;
}

enum cm_db_status
store_admin_key_list(struct cm_store *s, void *out)
{
	FILE		*fp = out;
	MYSQL_STMT	*st;
	MYSQL_BIND	 b[4];
	char		 col[4][256];
	unsigned long	 len[4];
	int		 i, rc;

	if ((st = store_exec(s, key_list_sql, NULL, 0)) == NULL)
		return s->db ? CM_DB_FAILED : CM_DB_UNAVAILABLE;
	memset(b, 0, sizeof(b));
	for (i = 0; i < 4; i++) {
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = col[i];
		b[i].buffer_length = sizeof(col[i]) - 1;
		b[i].length = &len[i];
	}
	if (mysql_stmt_bind_result(st, b) != 0 || mysql_stmt_store_result(st))
		return store_fail(s, st, "admin key list"), CM_DB_FAILED;
	fprintf(fp, "ID\tNAME\tCREATED_AT\tREVOKED_AT\n");
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		for (i = 0; i < 4; i++)
			col[i][len[i] < sizeof(col[i]) ? len[i] : sizeof(col[i]) - 1] = '\0';
		fprintf(fp, "%s\t%s\t%s\t%s\n", col[0], col[1], col[2], col[3]);
	}
	mysql_stmt_free_result(st);
	return CM_DB_OK;
}

struct revoke_job {
	unsigned long long	id;
	bool			found;
};

static enum tx_rc
key_revoke_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct revoke_job	*j = arg;
	struct param		 p = store_int((long long)j->id);
	MYSQL_STMT		*st;

	(void)status;
	if ((st = store_exec(s, key_revoke_sql, &p, 1)) == NULL)
		return TX_DB_ERROR;
	j->found = mysql_stmt_affected_rows(st) == 1;
	return TX_OK;
}

enum cm_db_status
store_admin_key_revoke(struct cm_store *s, unsigned long long id)
{
	struct revoke_job	j = { id, false };
	enum cm_db_status	rc;

	if ((rc = store_transaction(s, key_revoke_tx, &j)) != CM_DB_OK)
		return rc;
	return j.found ? CM_DB_OK : CM_DB_NOT_FOUND;
}
