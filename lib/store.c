/*
 * store.c - the MariaDB data layer for clients.
 *
 * Only prepared statements carry data.  START TRANSACTION, COMMIT and the
 * session settings are constant SQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "auth.h"
#include "client.h"
#include "http.h"
#include "jsonbody.h"
#include "log.h"
#include "patch.h"
#include "store_int.h"

/* The members of section 2 in order, as selected from the table. */
#define CLIENT_COLUMNS \
	"id, name, status, publishable_key, secret_key, domain, email, phone, " \
	"website, timezone, global_name, company_id, agency_id, api_metadata, " \
	"ghl_location_id, proxy_api_key, created_at, updated_at, version"
#define NCOLS		(CM_F__COUNT + 1)	/* + version */
#define COL_VERSION	CM_F__COUNT

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
	[ST_AUDIT] = "INSERT INTO client_audit (client_id, action, "
	    "admin_key_id, request_id, at, changes) "
	    "VALUES (?, ?, ?, ?, NOW(3), ?)",
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

/* The members PATCH can write: one bit each in an UPDATE statement key. */
static const enum cm_field patchable[] = {
	CM_F_NAME, CM_F_STATUS, CM_F_DOMAIN, CM_F_EMAIL, CM_F_PHONE,
	CM_F_WEBSITE, CM_F_TIMEZONE, CM_F_GLOBAL_NAME, CM_F_COMPANY_ID,
	CM_F_AGENCY_ID, CM_F_API_METADATA, CM_F_GHL_LOCATION_ID,
	CM_F_PROXY_API_KEY,
};
#define NPATCHABLE	(sizeof(patchable) / sizeof(patchable[0]))

/* Room for one fetched row; column sizes are the schema's, in bytes. */
static const size_t col_size[NCOLS + 1] = {
	256, 1024, 8, 40, 40, 256, 1024, 256, 8192, 128, 256, 256, 256,
	65536, 256, 256, 32, 32, 24, 32
};

struct cm_store {
	const struct cm_config	*cfg;
	MYSQL			*db;
	MYSQL_STMT		*stmt[ST__COUNT];
	/* UPDATE statements by the set of patchable columns they write. */
	MYSQL_STMT		*update[1u << NPATCHABLE];
	unsigned		 err;		/* last MariaDB error number */
	char			*col[NCOLS + 1];
	unsigned long		 col_len[NCOLS + 1];
	my_bool			 col_null[NCOLS + 1];
	my_bool			 col_error[NCOLS + 1];
};

struct cm_store *
cm_store_new(const struct cm_config *cfg)
{
	struct cm_store	*s;
	size_t		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		abort();
	s->cfg = cfg;
	for (i = 0; i <= NCOLS; i++)
		if ((s->col[i] = malloc(col_size[i])) == NULL)
			abort();
	return s;
}

void
cm_store_free(struct cm_store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	store_disconnect(s);
	for (i = 0; i <= NCOLS; i++)
		free(s->col[i]);
	free(s);
}

void
store_disconnect(struct cm_store *s)
{
	size_t	i;

	for (i = 0; i < ST__COUNT; i++)
		if (s->stmt[i] != NULL) {
			mysql_stmt_close(s->stmt[i]);
			s->stmt[i] = NULL;
		}
	for (i = 0; i < (1u << NPATCHABLE); i++)
		if (s->update[i] != NULL) {
			mysql_stmt_close(s->update[i]);
			s->update[i] = NULL;
		}
	if (s->db != NULL)
		mysql_close(s->db);
	s->db = NULL;
}

MYSQL *
store_db(struct cm_store *s)
{
	return s->db;
}

unsigned
store_errno(const struct cm_store *s)
{
	return s->err;
}

/*
 * Session settings every statement relies on: UTC timestamps, strict
 * modes so nothing is silently truncated, and a lock wait far shorter than
 * InnoDB's 50 s so a stuck row turns into a retry, then a 503.
 */
static const char session_sql[] =
	"SET time_zone = '+00:00', "
	"sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
	"ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', "
	"innodb_lock_wait_timeout = 5, "
	"tx_isolation = 'READ-COMMITTED'";

int
store_connect(struct cm_store *s)
{
	const struct cm_config	*c = s->cfg;
	unsigned		 timeout = (unsigned)c->db_connect_timeout;
	unsigned		 rw_timeout = 30;
	const char		*sock = c->db_socket[0] ? c->db_socket : NULL;

	if (s->db != NULL)
		return 0;
	if ((s->db = mysql_init(NULL)) == NULL)
		return -1;
	mysql_options(s->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(s->db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(s->db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(s->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (mysql_real_connect(s->db, sock ? NULL : c->db_host, c->db_user,
	    c->db_password, c->db_name, (unsigned)c->db_port, sock,
	    CLIENT_MULTI_STATEMENTS) == NULL ||
	    mysql_real_query(s->db, session_sql, sizeof(session_sql) - 1) != 0) {
		s->err = mysql_errno(s->db);
		LOG_ERR("database connect: %s (%u)", mysql_error(s->db), s->err);
		store_disconnect(s);
		return -1;
	}
	return 0;
}

int
store_fail(struct cm_store *s, MYSQL_STMT *st, const char *what)
{
	s->err = st ? mysql_stmt_errno(st) : mysql_errno(s->db);
	if (s->err != ER_DUP_ENTRY)
		LOG_ERR("database %s: %s (%u)", what,
		    st ? mysql_stmt_error(st) : mysql_error(s->db), s->err);
	return TX_DB_ERROR;
}

static MYSQL_STMT *
prepare(struct cm_store *s, const char *sql)
{
	MYSQL_STMT	*st;

	if ((st = mysql_stmt_init(s->db)) == NULL) {
		store_fail(s, NULL, "stmt_init");
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		store_fail(s, st, "prepare");
		mysql_stmt_close(st);
		return NULL;
	}
	return st;
}

static int
bind_and_execute(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	MYSQL_BIND	b[24];
	my_bool		is_null[24];
	size_t		i;

	memset(b, 0, sizeof(b));
	for (i = 0; i < n && i < 24; i++) {
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
	if (mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0)
		return store_fail(s, st, "execute");
	return 0;
}

static MYSQL_STMT *
exec_prepared(struct cm_store *s, MYSQL_STMT **slot, const char *sql,
    const struct param *p, size_t n)
{
	if (*slot == NULL && (*slot = prepare(s, sql)) == NULL)
		return NULL;
	if (bind_and_execute(s, *slot, p, n) != 0)
		return NULL;
	return *slot;
}

MYSQL_STMT *
store_exec(struct cm_store *s, enum stmt_id id, const struct param *p,
    size_t n)
{
	if (s->db == NULL && store_connect(s) != 0)
		return NULL;
	return exec_prepared(s, &s->stmt[id], stmt_sql[id], p, n);
}

static struct param
str_param(const char *str)
{
	struct param	p = { P_STR, str, str ? (unsigned long)strlen(str) : 0, 0 };

	return p;
}

/*
 * Fetches one row of ncols string columns into the store's buffers.
 * Returns 1 row, 0 none, TX_DB_ERROR.
 */
static int
fetch_row(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	MYSQL_BIND	b[NCOLS + 1];
	size_t		i;
	int		rc;

	memset(b, 0, sizeof(b));
	for (i = 0; i < ncols; i++) {
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = s->col[i];
		b[i].buffer_length = col_size[i] - 1;
		b[i].length = &s->col_len[i];
		b[i].is_null = &s->col_null[i];
		b[i].error = &s->col_error[i];
	}
	if (mysql_stmt_bind_result(st, b) != 0)
		return store_fail(s, st, "bind_result");
	rc = mysql_stmt_fetch(st);
	mysql_stmt_free_result(st);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return store_fail(s, st, "fetch");
	if (rc == MYSQL_DATA_TRUNCATED) {
		/* XXX: a stored value longer than its buffer; the schema prevents it. */
		LOG_ERR("database fetch: a column was truncated");
		s->err = CR_UNKNOWN_ERROR;
		return TX_DB_ERROR;
	}
	for (i = 0; i < ncols; i++)
		s->col[i][s->col_len[i]] = '\0';
	return 1;
}

/* "2026-11-27 10:00:00.123" -> "2026-11-27T10:00:00.123Z" */
static json_t *
timestamp_json(const char *v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%.10sT%.12sZ", v, v + 11);
	return json_string(buf);
}

/* Turns the fetched row into the API's client object and its ETag. */
static int
row_to_client(struct cm_store *s, struct cm_stored *out)
{
	json_t	*c = json_object(), *v;
	char	 digits[32];
	size_t	 i, n = 0;
	int	 f;

	for (f = 0; f < CM_F__COUNT; f++) {
		const char *col = s->col[f];

		if (s->col_null[f])
			v = json_null();
		else if (f == CM_F_STATUS)
			v = json_boolean(col[0] == '1');
		else if (f == CM_F_API_METADATA)
			v = json_loadb(col, s->col_len[f], 0, NULL);
		else if (f == CM_F_CREATED_AT || f == CM_F_UPDATED_AT)
			v = timestamp_json(col);
		else
			v = json_stringn(col, s->col_len[f]);
		if (v == NULL) {
			json_decref(c);
			LOG_ERR("database row: member %s unreadable", cm_field_name(f));
			s->err = CR_UNKNOWN_ERROR;
			return TX_DB_ERROR;
		}
		json_object_set_new(c, cm_field_name(f), v);
	}
	for (i = 0; s->col[CM_F_CREATED_AT][i] && n < sizeof(digits) - 1; i++)
		if (s->col[CM_F_CREATED_AT][i] >= '0' &&
		    s->col[CM_F_CREATED_AT][i] <= '9')
			digits[n++] = s->col[CM_F_CREATED_AT][i];
	digits[n] = '\0';
	/* Version for changes, creation time so a re-created id never reuses a tag. */
	snprintf(out->etag, sizeof(out->etag), "\"%s.%s\"",
	    s->col[COL_VERSION], digits);
	out->client = c;
	return 1;
}

/* Reads a client row; 1 found, 0 not, TX_DB_ERROR. */
static int
load_client(struct cm_store *s, enum stmt_id which, const char *id,
    struct cm_stored *out)
{
	struct param	 p = str_param(id);
	MYSQL_STMT	*st;
	int		 rc;

	if ((st = store_exec(s, which, &p, 1)) == NULL)
		return TX_DB_ERROR;
	rc = fetch_row(s, st, which == ST_GET_LOCKED ? NCOLS + 1 : NCOLS);
	if (rc != 1)
		return rc;
	return row_to_client(s, out);
}

/*
 * Binds a client member as a statement parameter.  *owned receives a
 * string to free afterwards (the serialised api_metadata).
 */
static struct param
member_param(const json_t *client, enum cm_field f, char **owned)
{
	const json_t	*v = json_object_get(client, cm_field_name(f));
	struct param	 p = { P_STR, NULL, 0, 0 };

	if (v == NULL || json_is_null(v))
		return p;
	if (json_is_boolean(v)) {
		p.type = P_INT;
		p.i = json_is_true(v);
	} else if (json_is_string(v)) {
		p.s = json_string_value(v);
		p.len = (unsigned long)json_string_length(v);
	} else {
		*owned = cm_json_compact(v);
		p = str_param(*owned);
	}
	return p;
}

static int
write_audit(struct cm_store *s, const char *id, const char *action,
    const struct cm_write *w, json_t *changes)
{
	struct param	 p[5];
	char		*text = cm_json_compact(changes);
	int		 rc = 0;

	p[0] = str_param(id);
	p[1] = str_param(action);
	p[2] = (struct param){ P_INT, NULL, 0, (long long)w->admin_key_id };
	p[3] = str_param(w->request_id);
	p[4] = str_param(text);
	if (w->admin_key_id == 0)
		p[2] = str_param(NULL);
	if (store_exec(s, ST_AUDIT, p, 5) == NULL)
		rc = TX_DB_ERROR;
	free(text);
	json_decref(changes);
	return rc;
}

/* Maps a duplicate-key error to the member it is about. */
static int
duplicate(struct cm_store *s, MYSQL_STMT *st, struct cm_problems *probs)
{
	const char	*msg = mysql_stmt_error(st);
	const char	*member = "id";

	if (strstr(msg, "uq_clients_domain") != NULL)
		member = "domain";
	else if (strstr(msg, "uq_clients_global_name") != NULL)
		member = "global_name";
	else if (strstr(msg, "_key'") != NULL) {
		/* A generated key collided: astronomically rare, so just retry. */
		s->err = ER_LOCK_DEADLOCK;
		return TX_DB_ERROR;
	}
	cm_problems_add(probs, member, "duplicate",
	    "is already used by another client");
	return CM_STORE_CONFLICT;
}

/* Executes a write whose failure may be a duplicate key. */
static int
exec_write(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n, struct cm_problems *probs)
{
	if (bind_and_execute(s, st, p, n) == 0)
		return 0;
	if (s->err == ER_DUP_ENTRY)
		return duplicate(s, st, probs);
	return TX_DB_ERROR;
}

static MYSQL_STMT *
update_stmt(struct cm_store *s, unsigned key)
{
	char	sql[1024];
	size_t	i, n;

	if (s->update[key] != NULL)
		return s->update[key];
	n = (size_t)snprintf(sql, sizeof(sql), "UPDATE clients SET ");
	for (i = 0; i < NPATCHABLE; i++)
		if (key & (1u << i))
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s = ?, ",
			    cm_field_name(patchable[i]));
	snprintf(sql + n, sizeof(sql) - n,
	    "version = version + 1, updated_at = ? WHERE id = ?");
	s->update[key] = prepare(s, sql);
	return s->update[key];
}

/* UPDATE of exactly the changed columns, plus version and updated_at. */
static int
update_changed(struct cm_store *s, const char *id, const json_t *next,
    uint32_t changed, const char *now, struct cm_problems *probs)
{
	struct param	 p[NPATCHABLE + 2];
	char		*owned = NULL;
	MYSQL_STMT	*st;
	unsigned	 key = 0;
	size_t		 i, n = 0;
	int		 rc;

	for (i = 0; i < NPATCHABLE; i++)
		if (changed & CM_FIELD_BIT(patchable[i])) {
			key |= 1u << i;
			p[n++] = member_param(next, patchable[i], &owned);
		}
	p[n++] = str_param(now);
	p[n++] = str_param(id);
	if ((st = update_stmt(s, key)) == NULL)
		rc = TX_DB_ERROR;
	else
		rc = exec_write(s, st, p, n, probs);
	free(owned);
	return rc;
}

/* Converts "YYYY-MM-DD HH:MM:SS.mmm" to the next ETag and updated_at. */
static void
stamp_update(json_t *next, struct cm_stored *out, const char *now)
{
	unsigned long long	version = 0;
	const char		*digits = strchr(out->etag, '.');

	sscanf(out->etag, "\"%llu", &version);
	json_object_set_new(next, "updated_at", timestamp_json(now));
	snprintf(out->etag, sizeof(out->etag), "\"%llu%s", version + 1,
	    digits ? digits : "\"");
}

struct patch_job {
	const char		*id;
	const json_t		*changes;
	const struct cm_write	*w;
	struct cm_stored	*out;
	struct cm_problems	*probs;
};

static int
patch_tx(struct cm_store *s, void *arg)
{
	struct patch_job	*j = arg;
	struct cm_stored	 cur = { NULL, "" };
	json_t			*next;
	uint32_t		 changed;
	char			 now[32];
	int			 rc;

	if ((rc = load_client(s, ST_GET_LOCKED, j->id, &cur)) != 1)
		return rc == 0 ? CM_STORE_NOT_FOUND : rc;
	snprintf(now, sizeof(now), "%s", s->col[NCOLS]);
	rc = CM_STORE_PRECONDITION;
	if (!cm_if_match(j->w->if_match, cur.etag))
		goto out;
	rc = CM_STORE_INVALID;
	if ((next = cm_patch_apply(cur.client, j->changes, &changed,
	    j->probs)) == NULL)
		goto out;
	if (changed == 0) {
		/* Nothing to write: the stored client, updated_at and ETag stay. */
		json_decref(next);
		*j->out = cur;
		return CM_STORE_OK;
	}
	if ((rc = update_changed(s, j->id, next, changed, now, j->probs)) == 0)
		rc = write_audit(s, j->id, "update", j->w,
		    cm_audit_changes(cur.client, next, changed));
	if (rc != 0) {
		json_decref(next);
		goto out;
	}
	j->out->client = next;
	memcpy(j->out->etag, cur.etag, sizeof(cur.etag));
	stamp_update(next, j->out, now);
out:
	json_decref(cur.client);
	return rc;
}

/* The members of a client that hold a value: what a create records. */
static uint32_t
present_members(const json_t *client)
{
	uint32_t	mask = 0;
	int		f;

	for (f = 0; f < CM_F__COUNT; f++)
		if (f != CM_F_CREATED_AT && f != CM_F_UPDATED_AT &&
		    !json_is_null(json_object_get(client, cm_field_name(f))))
			mask |= CM_FIELD_BIT(f);
	return mask;
}

struct create_job {
	const json_t		*row;	/* the new client, without its keys */
	const struct cm_write	*w;
	struct cm_stored	*out;
	struct cm_problems	*probs;
};

static int
create_tx(struct cm_store *s, void *arg)
{
	struct create_job	*j = arg;
	struct param		 p[CM_F__COUNT];
	char			 pk[CM_CLIENT_KEY_LEN + 1], sk[CM_CLIENT_KEY_LEN + 1];
	char			*owned = NULL;
	const char		*id;
	json_t			*row;
	int			 f, rc;

	if (cm_client_key("pk_", pk) != 0 || cm_client_key("sk_", sk) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		return CM_STORE_FAILED;
	}
	row = json_deep_copy(j->row);
	json_object_set_new(row, "publishable_key", json_string(pk));
	json_object_set_new(row, "secret_key", json_string(sk));
	for (f = 0; f <= CM_F_PROXY_API_KEY; f++)
		p[f] = member_param(row, f, &owned);
	id = json_string_value(json_object_get(row, "id"));
	if (s->stmt[ST_INSERT] == NULL &&
	    (s->stmt[ST_INSERT] = prepare(s, stmt_sql[ST_INSERT])) == NULL)
		rc = TX_DB_ERROR;
	else
		rc = exec_write(s, s->stmt[ST_INSERT], p, CM_F_PROXY_API_KEY + 1,
		    j->probs);
	free(owned);
	if (rc == 0 && (rc = load_client(s, ST_GET, id, j->out)) == 1)
		rc = write_audit(s, id, "create", j->w, cm_audit_changes(NULL,
		    j->out->client, present_members(j->out->client)));
	else if (rc == 0)
		rc = TX_DB_ERROR;
	json_decref(row);
	if (rc != 0) {
		json_decref(j->out->client);
		j->out->client = NULL;
	}
	return rc;
}

static bool
retryable(unsigned err)
{
	return err == ER_LOCK_DEADLOCK || err == ER_LOCK_WAIT_TIMEOUT;
}

static bool
connection_lost(unsigned err)
{
	return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST ||
	    err == CR_CONNECTION_ERROR || err == CR_CONN_HOST_ERROR ||
	    err == ER_CONNECTION_KILLED || err == 4031 /* idle timeout */;
}

static void
backoff(int attempt)
{
	unsigned char	r = 0;
	struct timespec	ts;

	/* Jitter keeps two retrying writers from colliding in lock-step. */
	(void)cm_random_bytes(&r, 1);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(attempt * 10 + r % 20) * 1000000L;
	nanosleep(&ts, NULL);
}

/*
 * Runs fn inside one transaction.  Deadlocks and lock-wait timeouts are
 * retried with jitter; a lost connection is remade and the transaction
 * retried as long as COMMIT was never sent (after that the outcome is
 * unknown, so it becomes a 503 rather than a possible double write).
 */
static int
in_transaction(struct cm_store *s, int (*fn)(struct cm_store *, void *),
    void *arg, struct cm_problems *probs)
{
	static const char	 begin[] = "START TRANSACTION";
	int			 attempt, rc, reconnects = 0;

	for (attempt = 0; ; attempt++) {
		if (probs != NULL)
			cm_problems_init(probs);
		if (s->db == NULL && store_connect(s) != 0)
			return CM_STORE_UNAVAILABLE;
		if (mysql_real_query(s->db, begin, sizeof(begin) - 1) != 0)
			rc = store_fail(s, NULL, "begin");
		else if ((rc = fn(s, arg)) == CM_STORE_OK) {
			if (mysql_commit(s->db) == 0)
				return CM_STORE_OK;
			store_fail(s, NULL, "commit");
			if (connection_lost(s->err)) {
				store_disconnect(s);
				return CM_STORE_UNAVAILABLE;
			}
			rc = TX_DB_ERROR;
		}
		if (s->db != NULL)
			mysql_rollback(s->db);
		if (rc != TX_DB_ERROR)
			return rc;
		if (connection_lost(s->err)) {
			store_disconnect(s);
			if (reconnects++ > 0)
				return CM_STORE_UNAVAILABLE;
			continue;
		}
		if (!retryable(s->err) || attempt >= s->cfg->db_retries)
			return retryable(s->err) ? CM_STORE_UNAVAILABLE :
			    CM_STORE_FAILED;
		backoff(attempt + 1);
	}
}

int
cm_store_patch(struct cm_store *s, const char *id, const json_t *changes,
    const struct cm_write *w, struct cm_stored *out, struct cm_problems *probs)
{
	struct patch_job j = { id, changes, w, out, probs };

	out->client = NULL;
	return in_transaction(s, patch_tx, &j, probs);
}

int
cm_store_create(struct cm_store *s, const json_t *input,
    const struct cm_write *w, struct cm_stored *out, struct cm_problems *probs)
{
	struct create_job j = { NULL, w, out, probs };
	int		  rc;

	out->client = NULL;
	cm_problems_init(probs);
	/* Checked before the transaction: a bad api_metadata costs no round trip. */
	if ((j.row = cm_patch_new_client(input, probs)) == NULL)
		return CM_STORE_INVALID;
	rc = in_transaction(s, create_tx, &j, probs);
	json_decref((json_t *)j.row);
	return rc;
}

/* A single read: retried once on a fresh connection when the old one died. */
int
cm_store_get(struct cm_store *s, const char *id, struct cm_stored *out)
{
	int	attempt, rc;

	out->client = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (s->db == NULL && store_connect(s) != 0)
			return CM_STORE_UNAVAILABLE;
		rc = load_client(s, ST_GET, id, out);
		if (rc == 1)
			return CM_STORE_OK;
		if (rc == 0)
			return CM_STORE_NOT_FOUND;
		if (!connection_lost(s->err))
			return CM_STORE_FAILED;
		store_disconnect(s);
	}
	return CM_STORE_UNAVAILABLE;
}

int
cm_store_admin_key(struct cm_store *s, const char *token, size_t len,
    unsigned long long *id)
{
	char		 hash[CM_SHA256_HEX_LEN + 1];
	struct param	 p;
	MYSQL_STMT	*st;
	int		 attempt, rc;

	if (cm_sha256_hex(token, len, hash) != 0)
		return CM_STORE_FAILED;
	p = str_param(hash);
	for (attempt = 0; attempt < 2; attempt++) {
		if (s->db == NULL && store_connect(s) != 0)
			return CM_STORE_UNAVAILABLE;
		if ((st = store_exec(s, ST_ADMIN_KEY, &p, 1)) != NULL &&
		    (rc = fetch_row(s, st, 1)) >= 0) {
			if (rc == 0)
				return CM_STORE_NOT_FOUND;
			*id = strtoull(s->col[0], NULL, 10);
			return CM_STORE_OK;
		}
		if (!connection_lost(s->err))
			return CM_STORE_FAILED;
		store_disconnect(s);
	}
	return CM_STORE_UNAVAILABLE;
}

int
cm_store_ping(struct cm_store *s)
{
	if (s->db != NULL && mysql_ping(s->db) != 0)
		store_disconnect(s);
	if (s->db == NULL && store_connect(s) != 0)
		return CM_STORE_UNAVAILABLE;
	return CM_STORE_OK;
}
