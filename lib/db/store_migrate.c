/*
 * store_migrate.c - the schema: `clientsctl migrate` (the migrations of
 * db/, then the runtime user's grants) and the check every connection of
 * clientsd makes that it can serve the schema it found (schema.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbsetup.h"
#include "deadline.h"
#include "log.h"
#include "mem.h"
#include "schema.h"
#include "store_int.h"

static const char migration_seen_sql[] = "SELECT 1 FROM schema_migrations "
	"WHERE name = ?";
static const char migration_record_sql[] = "INSERT INTO schema_migrations "
	"(name, applied_at, kind) VALUES (?, NOW(3), ?)";
static const char whoami_sql[] = "SELECT SUBSTRING_INDEX(CURRENT_USER(), "
	"'@', 1), SUBSTRING_INDEX(CURRENT_USER(), '@', -1)";
static const char applied_sql[] = "SELECT name, COALESCE(kind, 'expand') "
	"FROM schema_migrations ORDER BY name";
/* A table made by a release before kinds were recorded. */
static const char applied_old_sql[] = "SELECT name, 'expand' "
	"FROM schema_migrations ORDER BY name";

static const char migrations_table[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" name VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	" applied_at DATETIME(3) NOT NULL,"
	" kind VARCHAR(8) CHARACTER SET ascii NULL,"
	" PRIMARY KEY (name)"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";
/* Instant: a NULL column at the end of a table of a few rows. */
static const char migrations_kind[] = "ALTER TABLE schema_migrations ADD "
	"COLUMN IF NOT EXISTS kind VARCHAR(8) CHARACTER SET ascii NULL";

#define HEADER_LINES	60	/* where "-- kind:" and "-- needs:" are looked for */
#define MIGRATE_RUNS	5	/* runs of a migration stopped by a conflict (apply) */

static int	migrations_table_ready(struct cm_store *);

/*
 * One migration file: its file name (what schema_migrations records), its
 * name without ".sql", and its header.
 */
struct migration {
	char			 file[256];
	char			 name[256];
	enum cm_migration_kind	 kind;
	char			 needs[32];	/* contract: the version every host runs */
	char			*sql;
	size_t			 len;
};

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
	char		**names = NULL;
	size_t		 len;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		names = cm_realloc(names, (*n + 1) * sizeof(*names));
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

/* The value of "-- key: value" among the header lines of sql, into out. */
static bool
header(const char *sql, const char *key, char *out, size_t outsz)
{
	const char	*p = sql, *nl, *v;
	size_t		 klen = strlen(key), n;
	int		 line;

	for (line = 0; line < HEADER_LINES && *p != '\0'; line++, p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (strncmp(p, "-- ", 3) != 0 || strncmp(p + 3, key, klen) != 0 ||
		    p[3 + klen] != ':')
			goto next;
		for (v = p + 4 + klen; *v == ' '; v++)
			;
		n = (size_t)(nl - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\r'))
			n--;
		snprintf(out, outsz, "%.*s", (int)n, v);
		return true;
	next:
		if (*nl == '\0')
			break;
	}
	return false;
}

/* Reads dir/file and its header; 0, or -1 (logged). */
static int
load(const char *dir, const char *file, struct migration *m)
{
	char	path[4096], kind[16];

	memset(m, 0, sizeof(*m));
	snprintf(m->file, sizeof(m->file), "%s", file);
	snprintf(m->name, sizeof(m->name), "%.*s", (int)(strlen(file) - 4),
	    file);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((m->sql = read_file(path, &m->len)) == NULL) {
		LOG_ERR("%s: %s", path, strerror(errno));
		return -1;
	}
	if (!header(m->sql, "kind", kind, sizeof(kind)) ||
	    (strcmp(kind, "expand") != 0 && strcmp(kind, "contract") != 0)) {
		LOG_ERR("%s: no \"-- kind: expand\" or \"-- kind: contract\" "
		    "line in its header", path);
		return -1;
	}
	m->kind = strcmp(kind, "contract") == 0 ? CM_MIGRATION_CONTRACT :
	    CM_MIGRATION_EXPAND;
	if (m->kind == CM_MIGRATION_CONTRACT &&
	    !header(m->sql, "needs", m->needs, sizeof(m->needs))) {
		LOG_ERR("%s: a contract migration names the release every host "
		    "must run first (\"-- needs: VERSION\")", path);
		return -1;
	}
	return 0;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Runs a script of trusted SQL (a file of ours), timing each statement:
 * the server runs them in order and answers each when it is done, so the
 * time between two answers is the second statement's.
 */
static int
run_script(struct cm_store *s, const struct migration *m,
    struct cm_migration_report *r)
{
	MYSQL		*db = s->db;
	MYSQL_RES	*res;
	struct timespec	 t0;
	double		 t;
	int		 status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (mysql_real_query(db, m->sql, m->len) != 0)
		return store_fail(s, NULL, "migration"), -1;
	do {
		t = seconds_since(&t0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r->statements++;
		if (t > r->slowest_s) {
			r->slowest_s = t;
			r->slowest = r->statements;
		}
		r->seconds += t;
		if ((res = mysql_store_result(db)) != NULL)
			mysql_free_result(res);
		if ((status = mysql_next_result(db)) > 0)
			return store_fail(s, NULL, "migration"), -1;
	} while (status == 0);
	return 0;
}

/* Whether name is recorded as applied: 1, 0, or -1 (an error). */
static int
applied_already(struct cm_store *s, const char *name)
{
	struct param	 p = store_str(name);
	MYSQL_STMT	*st;
	int		 seen;

	if ((st = store_exec(s, migration_seen_sql, &p, 1)) == NULL)
		return -1;
	if (mysql_stmt_store_result(st) != 0)
		return store_fail(s, st, "migration lookup"), -1;
	seen = mysql_stmt_num_rows(st) > 0;
	mysql_stmt_free_result(st);
	return seen;
}

/*
 * One run of migration m: its script, then its row in schema_migrations.
 * 0, or -1 with *failed_at the 1-based statement that failed (0: the
 * record).
 */
static int
run_once(struct cm_store *s, const struct migration *m,
    struct cm_migration_report *r, int *failed_at)
{
	struct param	p[2];

	memset(r, 0, sizeof(*r));
	r->name = m->name;
	r->kind = cm_migration_kind_name(m->kind);
	if (run_script(s, m, r) != 0) {
		*failed_at = r->statements + 1;
		return -1;
	}
	p[0] = store_str(m->file);
	p[1] = store_str(r->kind);
	if (store_exec(s, migration_record_sql, p, 2) == NULL) {
		*failed_at = 0;
		return -1;
	}
	return 0;
}

/*
 * Whether a failed run is worth another: a conflict with the writes going
 * on through it (a deadlock, a lock wait, a Galera brute-force abort, or
 * a node whose cached triggers failed to load, which store_fail marked
 * down) or a lost connection; the connection is dropped where the node is
 * at fault, so the next run goes to another node.  Anything else (a
 * statement this schema refuses, a right missing) fails alike again.
 */
static bool
worth_again(struct cm_store *s)
{
	enum cm_dberr	cls = cm_dberr_class(s->err);

	store_drop_failed(s, cls);
	return cls == CM_DBERR_CONFLICT || cls == CM_DBERR_LOST;
}

/* Waits 0.2 s before the 2nd run, doubling (3 s in all); then connects. */
static int
before_run(struct cm_store *s, int run)
{
	cm_sleep_ms(200L << (run - 2));
	return s->db == NULL ? migrations_table_ready(s) : 0;
}

/*
 * Applies m.  MariaDB commits each DDL statement by itself, so a migration
 * that fails halfway leaves the statements before the failing one applied
 * and itself unrecorded.  Every migration of db/ is written to run again
 * whole over its own result, statement by statement (IF NOT EXISTS, OR
 * REPLACE, counts that add a difference; upgrade_test.py runs each one
 * cut at each statement): so a failure worth another run (worth_again) is
 * run again here, and any other one by the operator's next migrate.  A
 * run after a lost connection may find the first one recorded.
 */
static int
apply(struct cm_store *s, const struct migration *m,
    const struct cm_migrate_opts *o)
{
	struct cm_migration_report	 r;
	char				 where[64];
	int				 run, at = 0, seen;

	for (run = 1; ; run++) {
		if (run > 1) {
			if (before_run(s, run) != 0 ||
			    (seen = applied_already(s, m->file)) < 0)
				return -1;
			if (seen)
				return 0;
		}
		if (run_once(s, m, &r, &at) == 0)
			break;
		if (at > 0)
			snprintf(where, sizeof(where), "its statement %d", at);
		else
			snprintf(where, sizeof(where), "its record");
		if (run == MIGRATE_RUNS || !worth_again(s)) {
			LOG_ERR("migrate: %s stopped at %s (those before it "
			    "are applied, it is not recorded): the next "
			    "clientsctl migrate runs it again whole, each "
			    "statement over its own result; fix what the error "
			    "above says first", m->name, where);
			return -1;
		}
		LOG_WARN("migrate: %s stopped at %s (a conflict or a lost "
		    "connection): running it again whole, run %d of %d",
		    m->name, where, run + 1, MIGRATE_RUNS);
	}
	if (o->applied != NULL)
		o->applied(&r, o->arg);
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
	if (err != ok_err && err != 1146 && err != 1054 && err != 1305)
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
		/*
		 * 1146, 1054, 1305: a table, column or procedure of a
		 * migration not applied yet (a -d of fewer).
		 */
		if ((err = grant_query(s, sql, 1142)) == 0 || err == 1146 ||
		    err == 1054 || err == 1305)
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

/*
 * The dispatcher's grants, table by table.  Its account is optional (an
 * installation without webhooks has none): no such account (1410 for a
 * granter that may not create users, 1133 for one that may) is a note,
 * not an error; the dispatcher cannot start without its grants.
 */
static int
grant_webhooks(struct cm_store *s, const char *user)
{
	const struct cm_grant	*g;
	MYSQL_STMT		*st;
	char			 host[256], sql[512];
	unsigned		 err;

	if ((st = store_exec(s, whoami_sql, NULL, 0)) == NULL ||
	    store_fetch_one(s, st, 2) != ROW_FOUND)
		return -1;
	snprintf(host, sizeof(host), "%s", s->col[1]);
	for (g = cm_webhook_grants; g->table != NULL; g++) {
		if (cm_dbsetup_grant_sql(sql, sizeof(sql), g, user, host) != 0) {
			LOG_ERR("migrate: [webhooks] user %s is not a plain "
			    "name (letters, digits, _)", user);
			return -1;
		}
		if ((err = grant_query(s, sql, 1410)) == 0 || err == 1146)
			continue;
		if (err == 1410 || err == 1133) {
			LOG_INFO("migrate: no account '%s'@'%s' ([webhooks] "
			    "user): the webhook dispatcher gets its grants once "
			    "it exists and migrate runs again", user, host);
			return 0;
		}
		return -1;
	}
	return 0;
}

/*
 * The table of applied migrations, with its kind column (instant).  The
 * migrations run at MariaDB's default isolation, as from the mariadb
 * client, not at the READ COMMITTED of the connections the service makes
 * (store_conn.c): under it START TRANSACTION WITH CONSISTENT SNAPSHOT is
 * no snapshot, and 009, which counts the rows already there in one, was
 * off by the writes made between its reads (measured: tens of 26,000
 * rows miscounted, in each run, with four writers running through it).
 */
static const char migrate_isolation[] = "SET SESSION TRANSACTION "
	"ISOLATION LEVEL REPEATABLE READ";

static int
migrations_table_ready(struct cm_store *s)
{
	if (store_connect(s) != 0)
		return -1;
	if (store_query(s, migrate_isolation, sizeof(migrate_isolation) - 1) != 0 ||
	    store_query(s, migrations_table, sizeof(migrations_table) - 1) != 0 ||
	    store_query(s, migrations_kind, sizeof(migrations_kind) - 1) != 0) {
		store_fail(s, NULL, "migrations table");
		return -1;
	}
	return 0;
}

/*
 * Applies migrations[0..n) not applied yet, in order: the expand ones,
 * and the contract ones only with o->contract (else each is named to
 * o->waiting).  0 or -1 (logged).
 */
static int
apply_pending(struct cm_store *s, struct migration *ms, size_t n,
    const struct cm_migrate_opts *o)
{
	size_t	i;
	int	seen;

	for (i = 0; i < n; i++) {
		if ((seen = applied_already(s, ms[i].file)) < 0)
			return -1;
		if (seen)
			continue;
		if (ms[i].kind == CM_MIGRATION_CONTRACT && !o->contract) {
			if (o->waiting != NULL)
				o->waiting(ms[i].name, ms[i].needs, o->arg);
			continue;
		}
		if (apply(s, &ms[i], o) != 0)
			return -1;
	}
	return 0;
}

enum cm_db_status
store_migrate(struct cm_store *s, const struct cm_migrate_opts *o)
{
	struct migration	*ms;
	char			**names;
	size_t			  i, n;
	int			  rc = 0;

	if (migrations_table_ready(s) != 0)
		return s->db != NULL ? CM_DB_FAILED : CM_DB_UNAVAILABLE;
	if ((names = list_migrations(o->dir, &n)) == NULL) {
		LOG_ERR("%s: no migrations found", o->dir);
		return CM_DB_FAILED;
	}
	ms = cm_calloc(n, sizeof(*ms));
	for (i = 0; i < n && rc == 0; i++)
		rc = load(o->dir, names[i], &ms[i]);
	/* Every file is read and its header checked before any runs. */
	if (rc == 0)
		rc = apply_pending(s, ms, n, o);
	for (i = 0; i < n; i++) {
		free(ms[i].sql);
		free(names[i]);
	}
	free(ms);
	free(names);
	if (rc == 0 && o->runtime_user != NULL &&
	    grant_runtime(s, o->runtime_user) != 0)
		rc = -1;
	if (rc == 0 && o->webhook_user != NULL &&
	    grant_webhooks(s, o->webhook_user) != 0)
		rc = -1;
	return rc == 0 ? CM_DB_OK : CM_DB_FAILED;
}

/*
 * The schema check of a new connection (plain protocol: no statement is
 * prepared on a connection not yet adopted).  0 when this build serves
 * the schema, with its newest migration in level; -1 with why.
 */
int
store_schema_check(MYSQL *db, char *level, size_t levelsz, char *why,
    size_t whysz)
{
	struct cm_applied	 applied[256];
	char			 names[256][64];
	MYSQL_RES		*res = NULL;
	MYSQL_ROW		 row;
	size_t			 n = 0;

	if (mysql_real_query(db, applied_sql, sizeof(applied_sql) - 1) != 0 &&
	    (mysql_errno(db) != 1054 || mysql_real_query(db, applied_old_sql,
	    sizeof(applied_old_sql) - 1) != 0)) {
		snprintf(why, whysz, mysql_errno(db) == 1146 ? "the database "
		    "has no schema: run clientsctl migrate" : "reading the "
		    "schema: %s (%u)", mysql_error(db), mysql_errno(db));
		return -1;
	}
	if ((res = mysql_store_result(db)) == NULL) {
		snprintf(why, whysz, "reading the schema: %s (%u)",
		    mysql_error(db), mysql_errno(db));
		return -1;
	}
	while ((row = mysql_fetch_row(res)) != NULL && n < 256) {
		if (row[0] == NULL)
			continue;
		/* Recorded as file names: the name is without ".sql". */
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)(strlen(row[0]) >
		    4 && strcmp(row[0] + strlen(row[0]) - 4, ".sql") == 0 ?
		    strlen(row[0]) - 4 : strlen(row[0])), row[0]);
		applied[n].name = names[n];
		applied[n].contract = row[1] != NULL &&
		    strcmp(row[1], "contract") == 0;
		n++;
	}
	mysql_free_result(res);
	snprintf(level, levelsz, "%s", n > 0 ? names[n - 1] : "");
	return cm_schema_servable(applied, n, why, whysz) ? 0 : -1;
}
