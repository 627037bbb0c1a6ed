/*
 * store_admin.c - admin keys, for clientsctl (store_migrate.c has the
 * schema): create, change, list, revoke.  Only ever the key's SHA-256 is
 * stored; the list shows a prefix of it, by which an operator matches a
 * key in hand (sha256sum) to its row.
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

static const char key_create_sql[] = "INSERT INTO admin_keys (name, "
	"key_sha256, created_at, scopes, agency_id, expires_at, description) "
	"VALUES (?, ?, NOW(3), ?, ?, ?, ?)";
static const char key_list_sql[] = "SELECT id, name, created_at, "
	"COALESCE(revoked_at, '-'), LEFT(key_sha256, 12), scopes, "
	"COALESCE(agency_id, '-'), COALESCE(expires_at, '-'), "
	"COALESCE(last_used_at, '-'), COALESCE(description, '-') "
	"FROM admin_keys ORDER BY id";
#define KEY_LIST_COLS	10
static const char key_revoke_sql[] = "UPDATE admin_keys SET revoked_at = "
	"NOW(3) WHERE id = ? AND revoked_at IS NULL";
static const char key_active_sql[] = "SELECT id FROM admin_keys "
	"WHERE id = ? AND revoked_at IS NULL FOR UPDATE";

/* The default of the column (db/013_key_scopes.sql): every scope. */
static const struct cm_key_settings defaults = {
	true, CM_SCOPE_ALL, true, NULL, true, NULL, true, NULL
};

struct key_job {
	const char			*name, *sha256_hex;
	const struct cm_key_settings	*set;
	unsigned long long		 id;
	bool				 found;
};

static enum tx_rc
key_create_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_job			*j = arg;
	const struct cm_key_settings	*k = j->set;
	struct param			 p[6];
	MYSQL_STMT			*st;
	char				 scopes[CM_SCOPES_TEXT_MAX];

	(void)status;
	if (cm_scope_format(k->set_scopes ? k->scopes : CM_SCOPE_ALL, scopes,
	    sizeof(scopes)) < 0)
		return TX_DB_ERROR;
	p[0] = store_str(j->name);
	p[1] = store_str(j->sha256_hex);
	p[2] = store_str(scopes);
	p[3] = store_str(k->set_agency ? k->agency_id : NULL);
	p[4] = store_str(k->set_expires ? k->expires_at : NULL);
	p[5] = store_str(k->set_description ? k->description : NULL);
	if ((st = store_exec(s, key_create_sql, p, 6)) == NULL)
		return TX_DB_ERROR;
	j->id = mysql_stmt_insert_id(st);
	return TX_OK;
}

enum cm_db_status
store_admin_key_create(struct cm_store *s, const char *name,
    const char *sha256_hex, const struct cm_key_settings *set,
    unsigned long long *id)
{
	struct key_job		j = { name, sha256_hex, set ? set : &defaults,
				    0, false };
	enum cm_db_status	rc;

	if ((rc = store_transaction(s, key_create_tx, &j)) == CM_DB_OK)
		*id = j.id;
	return rc;
}

/* "UPDATE admin_keys SET <the parts set> WHERE id = ?" and its parameters. */
static size_t
key_set_sql(const struct cm_key_settings *k, char *scopes, char *sql,
    size_t sz, struct param *p)
{
	size_t	n = 0, len;

	len = (size_t)snprintf(sql, sz, "UPDATE admin_keys SET");
	if (k->set_scopes) {
		len += (size_t)snprintf(sql + len, sz - len, " scopes = ?,");
		p[n++] = store_str(scopes);
	}
	if (k->set_agency) {
		len += (size_t)snprintf(sql + len, sz - len, " agency_id = ?,");
		p[n++] = store_str(k->agency_id);
	}
	if (k->set_expires) {
		len += (size_t)snprintf(sql + len, sz - len, " expires_at = ?,");
		p[n++] = store_str(k->expires_at);
	}
	if (k->set_description) {
		len += (size_t)snprintf(sql + len, sz - len, " description = ?,");
		p[n++] = store_str(k->description);
	}
	/* The last comma goes: "..., x = ? WHERE id = ?". */
	snprintf(sql + len - 1, sz - len + 1, " WHERE id = ?");
	return n;
}

/*
 * The key is locked and looked at first: an UPDATE that changes nothing
 * reports no row, which must not read as "no such key".
 */
static enum tx_rc
key_set_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_job	*j = arg;
	struct param	 p[5];
	MYSQL_STMT	*st;
	char		 sql[256], scopes[CM_SCOPES_TEXT_MAX];
	size_t		 n;
	enum row_rc	 row;

	p[0] = store_int((long long)j->id);
	if ((st = store_exec(s, key_active_sql, p, 1)) == NULL ||
	    (row = store_fetch_one(s, st, 1)) == ROW_ERROR)
		return TX_DB_ERROR;
	if (row == ROW_NONE) {
		*status = CM_DB_NOT_FOUND;
		return TX_STOP;
	}
	if (cm_scope_format(j->set->scopes, scopes, sizeof(scopes)) < 0)
		return TX_DB_ERROR;
	n = key_set_sql(j->set, scopes, sql, sizeof(sql), p);
	p[n++] = store_int((long long)j->id);
	return store_exec(s, sql, p, n) == NULL ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_admin_key_set(struct cm_store *s, unsigned long long id,
    const struct cm_key_settings *set)
{
	struct key_job	j = { NULL, NULL, set, id, false };

	if (!set->set_scopes && !set->set_agency && !set->set_expires &&
	    !set->set_description)
		return CM_DB_OK;
	return store_transaction(s, key_set_tx, &j);
}

/* A value for one tab-separated cell: no tab or line break of its own. */
static void
print_cell(FILE *fp, const char *v, bool last)
{
	for (; *v != '\0'; v++)
		fputc((unsigned char)*v < 0x20 || *v == 0x7f ? '?' : *v, fp);
	fputc(last ? '\n' : '\t', fp);
}

enum cm_db_status
store_admin_key_list(struct cm_store *s, void *out)
{
	FILE		*fp = out;
	MYSQL_STMT	*st;
	enum row_rc	 rc;
	int		 i;

	if ((st = store_exec(s, key_list_sql, NULL, 0)) == NULL ||
	    store_bind_row(s, st, KEY_LIST_COLS) != ROW_FOUND)
		return s->db ? CM_DB_FAILED : CM_DB_UNAVAILABLE;
	fprintf(fp, "ID\tNAME\tCREATED_AT\tREVOKED_AT\tSHA256_PREFIX\tSCOPES\t"
	    "AGENCY_ID\tEXPIRES_AT\tLAST_USED_AT\tDESCRIPTION\n");
	while ((rc = store_next_row(s, st, KEY_LIST_COLS)) == ROW_FOUND)
		for (i = 0; i < KEY_LIST_COLS; i++)
			/* A key stripped of every scope: an empty SET. */
			print_cell(fp, i == 5 && s->col[i][0] == '\0' ? "-" :
			    s->col[i], i == KEY_LIST_COLS - 1);
	store_free_result(s, st);
	return rc == ROW_NONE ? CM_DB_OK : CM_DB_FAILED;
}

static enum tx_rc
key_revoke_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_job	*j = arg;
	struct param	 p = store_int((long long)j->id);
	MYSQL_STMT	*st;

	(void)status;
	if ((st = store_exec(s, key_revoke_sql, &p, 1)) == NULL)
		return TX_DB_ERROR;
	j->found = mysql_stmt_affected_rows(st) == 1;
	return TX_OK;
}

enum cm_db_status
store_admin_key_revoke(struct cm_store *s, unsigned long long id)
{
	struct key_job		j = { NULL, NULL, NULL, id, false };
	enum cm_db_status	rc;

	if ((rc = store_transaction(s, key_revoke_tx, &j)) != CM_DB_OK)
		return rc;
	return j.found ? CM_DB_OK : CM_DB_NOT_FOUND;
}
