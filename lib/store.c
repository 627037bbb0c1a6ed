/*
 * store.c - the MariaDB data layer: the store's life, prepared statements
 * and their cache, rows, and the single reads (store_conn.c connects,
 * store_tx.c runs transactions).
 *
 * Only prepared statements carry data.  START TRANSACTION, COMMIT and the
 * session settings are constant SQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "auth.h"
#include "dberr.h"
#include "dbwatch.h"
#include "deadline.h"
#include "log.h"
#include "store_int.h"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_ADMIN_KEY] = "SELECT id FROM admin_keys "
	    "WHERE key_sha256 = ? AND revoked_at IS NULL",
	[ST_GET] = "SELECT " CLIENT_COLUMNS " FROM clients WHERE id = ?",
	/* NOW(3) is the time this write will stamp into updated_at. */
	[ST_GET_LOCKED] = "SELECT " CLIENT_COLUMNS ", NOW(3) FROM clients "
	    "WHERE id = ? FOR UPDATE",
	[ST_INSERT] = "INSERT INTO clients (id, name, status, publishable_key, "
	    "secret_key, domain, email, phone, website, timezone, global_name, "
	    "company_id, agency_id, api_metadata, ghl_location_id, "
	    "proxy_api_key, created_at, updated_at, version) VALUES (?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3), NOW(3), 1)",
	/* The version read, so a write on another node is caught. */
	[ST_DELETE] = "DELETE FROM clients WHERE id = ? AND version = ?",
	[ST_AUDIT] = "INSERT INTO client_audit (client_id, action, "
	    "admin_key_id, request_id, at, changes, tx_token) "
	    "VALUES (?, ?, ?, ?, NOW(3), ?, ?)",
	[ST_AUDIT_COUNT] = "SELECT COUNT(*) FROM client_audit "
	    "WHERE client_id = ?",
	[ST_KEY_CREATE] = "INSERT INTO admin_keys (name, key_sha256, "
	    "created_at) VALUES (?, ?, NOW(3))",
	[ST_KEY_LIST] = "SELECT id, name, created_at, "
	    "COALESCE(revoked_at, '-') FROM admin_keys ORDER BY id",
	[ST_KEY_REVOKE] = "UPDATE admin_keys SET revoked_at = NOW(3) "
	    "WHERE id = ? AND revoked_at IS NULL",
	[ST_MIGRATION_SEEN] = "SELECT 1 FROM schema_migrations WHERE name = ?",
	[ST_MIGRATION_RECORD] = "INSERT INTO schema_migrations (name, "
	    "applied_at) VALUES (?, NOW(3))",
};

/* Column buffers start this big and grow to the longest value fetched. */
#define COL_INITIAL	1024

struct cm_store *
cm_store_new(const struct cm_config *cfg)
{
	struct cm_store	*s;
	size_t		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		abort();
	s->cfg = cfg;
	cm_authcache_init(&s->auth, (unsigned)cfg->auth_cache_s);
	store_nodes_init(s);
	for (i = 0; i < MAX_COLS; i++) {
		s->cap[i] = COL_INITIAL;
		if ((s->col[i] = malloc(s->cap[i])) == NULL)
			abort();
	}
	return s;
}

struct cm_store *
cm_store_new_tx(const struct cm_config *cfg)
{
	struct cm_store	*s = cm_store_new(cfg);

	s->tx_session = true;
	return s;
}

void
cm_store_free(struct cm_store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	store_disconnect(s);
	for (i = 0; i < MAX_COLS; i++)
		free(s->col[i]);
	free(s);
}

void
store_close(MYSQL_STMT **st)
{
	if (*st != NULL)
		mysql_stmt_close(*st);
	*st = NULL;
}

static void
cache_drop(struct store_cached *c)
{
	store_close(&c->st);
	free(c->sql);
	c->sql = NULL;
}

/* Statements die with their connection: all of them go. */
void
store_disconnect(struct cm_store *s)
{
	size_t	i;

	for (i = 0; i < STORE_STMT_MAX; i++)
		cache_drop(&s->cache[i]);
	if (s->db != NULL)
		mysql_close(s->db);
	s->db = NULL;
	s->cur = -1;
}

bool
store_connection_lost(unsigned err)
{
	return cm_dberr_class(err) == CM_DBERR_LOST;
}

int
store_fail(struct cm_store *s, MYSQL_STMT *st, const char *what)
{
	s->err = st ? mysql_stmt_errno(st) : mysql_errno(s->db);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s",
	    st ? mysql_stmt_error(st) : mysql_error(s->db));
	if (s->cut) {
		/* Whatever Connector/C made of the shut socket: the node is lost. */
		s->err = CR_SERVER_LOST;
		snprintf(s->errmsg, sizeof(s->errmsg), "connection cut (no "
		    "answer in time)");
	}
	/* Duplicates are answered with 409; nothing to tell the operator. */
	if (s->err != ER_DUP_ENTRY)
		LOG_ERR("database %s: %s (%u)", what, s->errmsg, s->err);
	return TX_DB_ERROR;
}

void
store_call_begin(struct cm_store *s, MYSQL *db)
{
	s->cut = false;
	s->call_t0 = store_now_us();
	cm_dbwatch_enter((int)mysql_get_socket(db));
}

bool
store_call_end(struct cm_store *s)
{
	long long	us = store_now_us() - s->call_t0;

	s->stats.db_us += us;
	if ((s->cut = cm_dbwatch_leave()))
		LOG_WARN("database node %s: no answer after %lld ms (the "
		    "request's deadline, or statement_timeout %d s): connection "
		    "cut, node taken for stalled",
		    s->cur >= 0 ? s->nodes.node[s->cur].label : "being connected",
		    us / 1000, s->cfg->db_statement_timeout);
	return s->cut;
}

MYSQL_STMT *
store_prepare(struct cm_store *s, const char *sql)
{
	MYSQL_STMT	*st;

	if ((st = mysql_stmt_init(s->db)) == NULL) {
		store_fail(s, NULL, "stmt_init");
		return NULL;
	}
	store_call_begin(s, s->db);
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		store_call_end(s);
		store_fail(s, st, "prepare");
		mysql_stmt_close(st);
		return NULL;
	}
	store_call_end(s);
	return st;
}

/* Microseconds on the monotonic clock, for the time spent waiting on MariaDB. */
long long
store_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int
store_execute(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	MYSQL_BIND	b[24];
	store_flag	is_null[24];
	size_t		i;
	int		rc;

	if (n > 24)
		abort();
	memset(b, 0, sizeof(b));
	for (i = 0; i < n; i++) {
		is_null[i] = p[i].type == P_STR && p[i].s == NULL;
		b[i].is_null = &is_null[i];
		if (p[i].type == P_INT) {
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
		} else {
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].s;
			b[i].buffer_length = p[i].len;
			b[i].length = (unsigned long *)&p[i].len;
		}
	}
	s->stats.statements++;
	store_call_begin(s, s->db);
	rc = mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0;
	store_call_end(s);
	if (rc)
		return store_fail(s, st, "execute");
	if (!s->tx_session)
		return 0;
	/* A result set carries no transaction state: checked later. */
	if (mysql_stmt_field_count(st) != 0) {
		s->tx_unverified = true;
		return 0;
	}
	s->tx_wrote = true;
	return store_tx_intact(s) ? 0 : TX_DB_ERROR;
}

void
cm_store_stats_take(struct cm_store *s, struct cm_store_stats *out)
{
	*out = s->stats;
	memset(&s->stats, 0, sizeof(s->stats));
}

static uint32_t
sql_hash(const char *sql)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *sql != '\0'; sql++)
		h = (h ^ (unsigned char)*sql) * 16777619u;
	return h;
}

/*
 * The statement cache: at most STORE_STMT_MAX prepared statements per
 * connection, looked up by their SQL text, the least recently used one
 * closed when a new one needs its slot.  A linear scan: 24 entries cost
 * less than one round trip to the server.
 */
MYSQL_STMT *
store_stmt_sql(struct cm_store *s, const char *sql)
{
	struct store_cached	*c, *victim = NULL;
	uint32_t		 h = sql_hash(sql);
	size_t			 i;

	if (s->db == NULL && store_connect(s) != 0)
		return NULL;
	for (i = 0; i < STORE_STMT_MAX; i++) {
		c = &s->cache[i];
		if (c->sql != NULL && c->hash == h && strcmp(c->sql, sql) == 0) {
			c->used = ++s->tick;
			return c->st;
		}
		/* A free slot, else the least recently used. */
		if (victim == NULL || (victim->sql != NULL &&
		    (c->sql == NULL || c->used < victim->used)))
			victim = c;
	}
	cache_drop(victim);
	if ((victim->st = store_prepare(s, sql)) == NULL)
		return NULL;
	if ((victim->sql = strdup(sql)) == NULL)
		abort();
	victim->hash = h;
	victim->used = ++s->tick;
	s->prepared++;
	return victim->st;
}

MYSQL_STMT *
store_stmt(struct cm_store *s, enum stmt_id id)
{
	return store_stmt_sql(s, stmt_sql[id]);
}

MYSQL_STMT *
store_exec(struct cm_store *s, enum stmt_id id, const struct param *p,
    size_t n)
{
	MYSQL_STMT	*st;

	if ((st = store_stmt(s, id)) == NULL || store_execute(s, st, p, n) != 0)
		return NULL;
	return st;
}

struct param
store_str(const char *str)
{
	struct param	p = { P_STR, str, str ? (unsigned long)strlen(str) : 0, 0 };

	return p;
}

struct param
store_int(long long i)
{
	struct param	p = { P_INT, NULL, 0, i };

	return p;
}

int
store_bind_row(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	MYSQL_BIND	*b = s->bind;
	size_t		 i;

	memset(b, 0, sizeof(s->bind));
	for (i = 0; i < ncols && i < MAX_COLS; i++) {
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = s->col[i];
		b[i].buffer_length = s->cap[i] - 1;
		b[i].length = &s->col_len[i];
		b[i].is_null = &s->col_null[i];
		b[i].error = &s->col_error[i];
	}
	if (mysql_stmt_bind_result(st, b) != 0)
		return store_fail(s, st, "bind_result");
	return 0;
}

/* Grows the buffer of a truncated column and fetches all of it. */
static int
refetch_column(struct cm_store *s, MYSQL_STMT *st, size_t i)
{
	char	*grown;

	if ((grown = realloc(s->col[i], s->col_len[i] + 1)) == NULL)
		abort();
	s->col[i] = grown;
	s->cap[i] = s->col_len[i] + 1;
	s->bind[i].buffer = grown;
	s->bind[i].buffer_length = s->cap[i] - 1;
	if (mysql_stmt_fetch_column(st, &s->bind[i], (unsigned)i, 0) != 0)
		return store_fail(s, st, "fetch_column");
	return 0;
}

int
store_next_row(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	size_t		i;
	int		rc;

	store_call_begin(s, s->db);
	rc = mysql_stmt_fetch(st);
	store_call_end(s);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return store_fail(s, st, "fetch");
	if (rc == MYSQL_DATA_TRUNCATED) {
		for (i = 0; i < ncols; i++)
			if (s->col_error[i] && refetch_column(s, st, i) != 0)
				return TX_DB_ERROR;
		/* The next rows go into the grown buffers. */
		if (mysql_stmt_bind_result(st, s->bind) != 0)
			return store_fail(s, st, "bind_result");
	}
	for (i = 0; i < ncols; i++)
		s->col[i][s->col_null[i] ? 0 : s->col_len[i]] = '\0';
	return 1;
}

int
store_fetch_one(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	int	rc;

	if ((rc = store_bind_row(s, st, ncols)) == 0)
		rc = store_next_row(s, st, ncols);
	store_free_result(s, st);
	return rc;
}

void
store_free_result(struct cm_store *s, MYSQL_STMT *st)
{
	/* Unbuffered: the rows not fetched are read from the socket here. */
	store_call_begin(s, s->db);
	mysql_stmt_free_result(st);
	store_call_end(s);
}

json_t *
store_timestamp(const char *v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%.10sT%.12sZ", v, v + 11);
	return json_string(buf);
}

static json_t *
column_json(struct cm_store *s, enum cm_field f)
{
	const char	*col = s->col[f];

	if (s->col_null[f])
		return json_null();
	switch (f) {
	case CM_F_STATUS:
		return json_boolean(col[0] == '1');
	case CM_F_API_METADATA:
		return json_loadb(col, s->col_len[f], 0, NULL);
	case CM_F_CREATED_AT:
	case CM_F_UPDATED_AT:
		return store_timestamp(col);
	default:
		return json_stringn(col, s->col_len[f]);
	}
}

void
store_set_etag(struct cm_stored *out, unsigned long long version,
    const char *created_at)
{
	char	digits[32];
	size_t	i, n = 0;

	for (i = 0; created_at[i] != '\0' && n < sizeof(digits) - 1; i++)
		if (created_at[i] >= '0' && created_at[i] <= '9')
			digits[n++] = created_at[i];
	digits[n] = '\0';
	out->version = version;
	snprintf(out->etag, sizeof(out->etag), "\"%llu.%s\"", version, digits);
}

int
store_row_to_client(struct cm_store *s, struct cm_stored *out)
{
	json_t	*c = json_object(), *v;
	int	 f;

	for (f = 0; f < CM_F__COUNT; f++) {
		if ((v = column_json(s, f)) == NULL) {
			json_decref(c);
			LOG_ERR("database row: member %s unreadable",
			    cm_field_name(f));
			s->err = CR_UNKNOWN_ERROR;
			return TX_DB_ERROR;
		}
		json_object_set_new(c, cm_field_name(f), v);
	}
	store_set_etag(out, strtoull(s->col[COL_VERSION], NULL, 10),
	    s->col[CM_F_CREATED_AT]);
	out->client = c;
	return 1;
}

int
store_load_client(struct cm_store *s, enum stmt_id which, const char *id,
    struct cm_stored *out)
{
	struct param	 p = store_str(id);
	MYSQL_STMT	*st;
	int		 rc;

	if ((st = store_exec(s, which, &p, 1)) == NULL)
		return TX_DB_ERROR;
	rc = store_fetch_one(s, st, which == ST_GET_LOCKED ? NCOLS + 1 : NCOLS);
	if (rc != 1)
		return rc;
	return store_row_to_client(s, out);
}

struct get_job {
	const char		*id;
	struct cm_stored	*out;
};

static int
get_once(struct cm_store *s, void *arg)
{
	struct get_job	*j = arg;
	int		 rc;

	rc = store_load_client(s, ST_GET, j->id, j->out);
	if (rc == TX_DB_ERROR)
		return rc;
	return rc == 1 ? CM_STORE_OK : CM_STORE_NOT_FOUND;
}

int
cm_store_get(struct cm_store *s, const char *id, struct cm_stored *out)
{
	struct get_job	j = { id, out };

	out->client = NULL;
	return store_read(s, get_once, &j);
}

struct key_job {
	const char		*hash;
	unsigned long long	*id;
};

static int
admin_key_once(struct cm_store *s, void *arg)
{
	struct key_job	*j = arg;
	struct param	 p = store_str(j->hash);
	MYSQL_STMT	*st;
	int		 rc;

	if ((st = store_exec(s, ST_ADMIN_KEY, &p, 1)) == NULL ||
	    (rc = store_fetch_one(s, st, 1)) < 0)
		return TX_DB_ERROR;
	if (rc == 0)
		return CM_STORE_NOT_FOUND;
	*j->id = strtoull(s->col[0], NULL, 10);
	return CM_STORE_OK;
}

int
cm_store_admin_key(struct cm_store *s, const char *token, size_t len,
    unsigned long long *id)
{
	char		hash[CM_SHA256_HEX_LEN + 1];
	struct key_job	j = { hash, id };
	int		rc;

	if (cm_sha256_hex(token, len, hash) != 0)
		return CM_STORE_FAILED;
	if (cm_authcache_get(&s->auth, hash, cm_authcache_now_ms(), id))
		return CM_STORE_OK;
	if ((rc = store_read(s, admin_key_once, &j)) == CM_STORE_OK)
		cm_authcache_put(&s->auth, hash, *id, cm_authcache_now_ms());
	return rc;
}
