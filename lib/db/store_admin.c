/*
 * store_admin.c - what clientsctl does to the database: schema migrations
 * and admin keys.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbsetup.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

static const char migration_seen_sql[] = "SELECT 1 FROM schema_migrations "
	"WHERE name = ?";
static const char migration_record_sql[] = "INSERT INTO schema_migrations "
	"(name, applied_at) VALUES (?, NOW(3))";
static const char whoami_sql[] = "SELECT SUBSTRING_INDEX(CURRENT_USER(), "
	"'@', 1), SUBSTRING_INDEX(CURRENT_USER(), '@', -1)";
static const char key_create_sql[] = "INSERT INTO admin_keys (name, "
	"key_sha256, created_at) VALUES (?, ?, NOW(3))";
static const char key_list_sql[] = "SELECT id, name, created_at, "
	"COALESCE(revoked_at, '-') FROM admin_keys ORDER BY id";
static const char key_revoke_sql[] = "UPDATE admin_keys SET revoked_at = "
	"NOW(3) WHERE id = ? AND revoked_at IS NULL";

static const char migrations_table[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" name VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" applied_at DATETIME(3) NOT NULL,"
	" PRIMARY KEY (name)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.sql files of dir, sorted by name (which starts with a number). */
static char **
list_migrations(const char *dir, size_t *n)
{
	DIR		*d;
	struct dirent	*e;
	char		**names = NULL, **grown;
	size_t		 len;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		grown = cm_realloc(names, (*n + 1) * sizeof(*names));
		names = grown;
		names[*n] = cm_strdup(e->d_name);
		(*n)++;
	}
	closedir(d);
	if (names != NULL)
		qsort(names, *n, sizeof(*names), by_name);
	return names;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	*fp;
	char	*buf = NULL;
	long	 size;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = cm_malloc((size_t)size + 1)) != NULL &&
	    fread(buf, 1, (size_t)size, fp) == (size_t)size) {
		buf[size] = '\0';
		*len = (size_t)size;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

/* Runs a script of trusted SQL (a file of ours) statement by statement. */
static int
run_script(struct cm_store *s, const char *sql, size_t len)
{
	MYSQL		*db = s->db;
	MYSQL_RES	*res;
	int		 status;

	if (mysql_real_query(db, sql, len) != 0)
		return store_fail(s, NULL, "migration"), -1;
	do {
		if ((res = mysql_store_result(db)) != NULL)
			mysql_free_result(res);
		if ((status = mysql_next_result(db)) > 0)
			return store_fail(s, NULL, "migration"), -1;
	} while (status == 0);
	return 0;
}

static int
apply_one(struct cm_store *s, const char *dir, const char *name,
    void (*applied)(const char *))
{
	struct param	 p = { P_STR, name, (unsigned long)strlen(name), 0 };
	MYSQL_STMT	*st;
	char		 path[4096], *sql;
	size_t		 len;
	int		 seen, rc;

	if ((st = store_exec(s, migration_seen_sql, &p, 1)) == NULL)
		return -1;
	if (mysql_stmt_store_result(st) != 0)
		return store_fail(s, st, "migration lookup"), -1;
	seen = mysql_stmt_num_rows(st) > 0;
	mysql_stmt_free_result(st);
	if (seen)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((sql = read_file(path, &len)) == NULL) {
		LOG_ERR("%s: %s", path, strerror(errno));
		return -1;
	}
	/* XXX: MariaDB commits DDL implicitly, so a failing migration can be half-applied. */
	rc = run_script(s, sql, len);
	free(sql);
	if (rc != 0 || store_exec(s, migration_record_sql, &p, 1) == NULL)
		return -1;
	if (applied != NULL)
		applied(name);
	return 0;
}

/*
 * A GRANT or REVOKE built from checked names; 0 or the server's error,
 * logged unless it is the one the caller expects (ok_err).
 */
static unsigned
grant_query(struct cm_store *s, const char *sql, unsigned ok_err)
{
	unsigned	err;

	if (store_query(s, sql, (unsigned long)strlen(sql)) == 0)
		return 0;
	err = mysql_errno(s->db) != 0 ? mysql_errno(s->db) : 2013;
	if (err != ok_err)
		LOG_ERR("migrate: %s: %s (%u)", sql, mysql_error(s->db), err);
	return err;
}

/*
 * The runtime user's grants, table by table (dbsetup.h), then the
 * database-wide rights an older set-up gave it taken back, in that order
 * so a running service never lacks a right in between.  The account's
 * host is the migration user's: db-setup makes both with the same.
 * GRANT cannot take its names as parameters: they are checked plain
 * (letters, digits, _) before they are put in the text.
 */
static int
grant_runtime(struct cm_store *s, const char *user)
{
	const struct cm_grant	*g;
	MYSQL_STMT		*st;
	char			 me[80], host[256], sql[512];
	unsigned		 err;

	if ((st = store_exec(s, whoami_sql, NULL, 0)) == NULL ||
	    store_fetch_one(s, st, 2) != ROW_FOUND)
		return -1;
	snprintf(me, sizeof(me), "%s", s->col[0]);
	snprintf(host, sizeof(host), "%s", s->col[1]);
	if (strcmp(me, user) == 0) {
		LOG_WARN("migrate: connected as the runtime user %s: its "
		    "grants are left as they are (use the migration config, "
		    "-m)", user);
		return 0;
	}
	for (g = cm_runtime_grants; g->table != NULL; g++) {
		if (cm_dbsetup_grant_sql(sql, sizeof(sql), g, user, host) != 0) {
			LOG_ERR("migrate: [database] user %s is not a plain "
			    "name (letters, digits, _)", user);
			return -1;
		}
		if ((err = grant_query(s, sql, 1142)) == 0)
			continue;
		/*
		 * A set-up older than the grants per table: the migration
		 * user may not grant.  The runtime user keeps the rights it
		 * has (database-wide, which cover the new tables too), so the
		 * service goes on; least privilege waits for the DBA.
		 */
		if (err == 1142 || err == 1044) {
			LOG_WARN("migrate: %s may not grant, so the runtime user "
			    "%s keeps its database-wide rights: run the SQL of "
			    "`clientsctl db-setup --print` once more as a "
			    "MariaDB administrator, then clientsctl migrate",
			    me, user);
			return 0;
		}
		if (err == 1133)
			LOG_ERR("migrate: no account '%s'@'%s' (the runtime "
			    "user, with the migration user's host): create it "
			    "with `clientsctl db-setup --print`", user, host);
		return -1;
	}
	/*
	 * What older set-ups granted database-wide.  1141: it holds none (a
	 * set-up of this version, or a second run).
	 */
	snprintf(sql, sizeof(sql), "REVOKE SELECT, INSERT, UPDATE, DELETE ON * "
	    "FROM '%s'@'%s'", user, host);
	if ((err = grant_query(s, sql, 1141)) != 0 && err != 1141)
		return -1;
	return 0;
}

enum cm_db_status
store_migrate(struct cm_store *s, const char *dir, const char *runtime_user,
    void (*applied)(const char *name))
{
	enum cm_db_status	 rc = CM_DB_OK;
	char			**names;
	size_t			  i, n;

	if (store_connect(s) != 0)
		return CM_DB_UNAVAILABLE;
	if (store_query(s, migrations_table, sizeof(migrations_table) - 1) !=
	    0) {
		store_fail(s, NULL, "migrations table");
		return CM_DB_FAILED;
	}
	if ((names = list_migrations(dir, &n)) == NULL && n == 0) {
		LOG_ERR("%s: no migrations found", dir);
		return CM_DB_FAILED;
	}
	for (i = 0; i < n; i++) {
		if (rc == CM_DB_OK && apply_one(s, dir, names[i], applied) != 0)
			rc = CM_DB_FAILED;
		free(names[i]);
	}
	free(names);
	if (rc == CM_DB_OK && runtime_user != NULL &&
	    grant_runtime(s, runtime_user) != 0)
		rc = CM_DB_FAILED;
	return rc;
}

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
