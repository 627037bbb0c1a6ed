/*
 * store_stmt.c - statements on a connection (store_int.h): the bounded
 * cache of prepared statements, parameters, rows, and a client row read
 * into the API's object.  Only prepared statements carry data; the
 * constant SQL (session settings, COMMIT) is store_conn.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "log.h"
#include "mem.h"
#include "store_int.h"

/* Parameters of one statement, at most. */
#define PARAMS_MAX	24

static MYSQL_STMT *
prepare(struct cm_store *s, const char *sql)
{
	MYSQL_STMT	*st;

	if ((st = mysql_stmt_init(s->db)) == NULL)
		cm_oom();
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

/*
 * A write session's statement that answered without a result set also
 * tells whether the transaction is still the session's own
 * (store_tx_intact); one with a result set tells nothing, and the commit
 * asks later.
 */
enum tx_rc
store_execute(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	if (store_execute_only(s, st, p, n) != TX_OK)
		return TX_DB_ERROR;
	if (!s->tx_session)
		return TX_OK;
	if (mysql_stmt_field_count(st) != 0) {
		s->tx_unverified = true;
		return TX_OK;
	}
	s->tx_wrote = true;
	return store_tx_intact(s) ? TX_OK : TX_DB_ERROR;
}

enum tx_rc
store_execute_only(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	MYSQL_BIND	b[PARAMS_MAX];
	store_flag	is_null[PARAMS_MAX];
	size_t		i;
	int		rc;

	if (n > PARAMS_MAX) {
		LOG_ERR("database: a statement with %zu parameters (at most "
		    "%d)", n, PARAMS_MAX);
		s->err = CR_UNKNOWN_ERROR;
		return TX_DB_ERROR;
	}
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
	return TX_OK;
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
store_stmt(struct cm_store *s, const char *sql)
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
	if (victim->st != NULL)
		mysql_stmt_close(victim->st);
	free(victim->sql);
	memset(victim, 0, sizeof(*victim));
	if ((victim->st = prepare(s, sql)) == NULL)
		return NULL;
	victim->sql = cm_strdup(sql);
	victim->hash = h;
	victim->used = ++s->tick;
	s->prepared++;
	return victim->st;
}

MYSQL_STMT *
store_exec(struct cm_store *s, const char *sql, const struct param *p,
    size_t n)
{
	MYSQL_STMT	*st;

	if ((st = store_stmt(s, sql)) == NULL ||
	    store_execute(s, st, p, n) != TX_OK)
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

struct param
store_bin(const void *p, unsigned long len)
{
	struct param	r = { P_STR, p, len, 0 };

	return r;
}

enum row_rc
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
	if (mysql_stmt_bind_result(st, b) != 0) {
		store_fail(s, st, "bind_result");
		return ROW_ERROR;
	}
	return ROW_FOUND;
}

/* Grows the buffer of a truncated column and fetches all of it. */
static int
refetch_column(struct cm_store *s, MYSQL_STMT *st, size_t i)
{
	char	*grown;

	grown = cm_realloc(s->col[i], s->col_len[i] + 1);
	s->col[i] = grown;
	s->cap[i] = s->col_len[i] + 1;
	s->bind[i].buffer = grown;
	s->bind[i].buffer_length = s->cap[i] - 1;
	if (mysql_stmt_fetch_column(st, &s->bind[i], (unsigned)i, 0) != 0) {
		store_fail(s, st, "fetch_column");
		return -1;
	}
	return 0;
}

enum row_rc
store_next_row(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	size_t		i;
	int		rc;

	store_call_begin(s, s->db);
	rc = mysql_stmt_fetch(st);
	store_call_end(s);
	if (rc == MYSQL_NO_DATA)
		return ROW_NONE;
	if (rc == 1) {
		store_fail(s, st, "fetch");
		return ROW_ERROR;
	}
	if (rc == MYSQL_DATA_TRUNCATED) {
		for (i = 0; i < ncols; i++)
			if (s->col_error[i] && refetch_column(s, st, i) != 0)
				return ROW_ERROR;
		/* The next rows go into the grown buffers. */
		if (mysql_stmt_bind_result(st, s->bind) != 0) {
			store_fail(s, st, "bind_result");
			return ROW_ERROR;
		}
	}
	for (i = 0; i < ncols; i++)
		s->col[i][s->col_null[i] ? 0 : s->col_len[i]] = '\0';
	return ROW_FOUND;
}

enum row_rc
store_fetch_one(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	enum row_rc	rc;

	if ((rc = store_bind_row(s, st, ncols)) == ROW_FOUND)
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

enum row_rc
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
			return ROW_ERROR;
		}
		json_object_set_new(c, cm_field_name(f), v);
	}
	store_set_etag(out, strtoull(s->col[COL_VERSION], NULL, 10),
	    s->col[CM_F_CREATED_AT]);
	out->client = c;
	return ROW_FOUND;
}

static const char get_sql[] = "SELECT " CLIENT_COLUMNS " FROM clients "
	"WHERE id = ?";
/* NOW(3) is the time this write will stamp into updated_at. */
static const char get_locked_sql[] = "SELECT " CLIENT_COLUMNS ", NOW(3) "
	"FROM clients WHERE id = ? FOR UPDATE";

/* Whether the fetched client row belongs to the agency within (NULL: any). */
static bool
in_agency(const struct cm_store *s, const char *within)
{
	return within == NULL || (!s->col_null[CM_F_AGENCY_ID] &&
	    strcmp(s->col[CM_F_AGENCY_ID], within) == 0);
}

enum row_rc
store_load_client(struct cm_store *s, const char *id, bool locked,
    const char *within, struct cm_stored *out)
{
	struct param	 p = store_str(id);
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	if ((st = store_exec(s, locked ? get_locked_sql : get_sql, &p, 1)) ==
	    NULL)
		return ROW_ERROR;
	rc = store_fetch_one(s, st, locked ? NCOLS + 1 : NCOLS);
	if (rc != ROW_FOUND)
		return rc;
	/* Another agency's client is, to a bound caller, no client at all. */
	if (!in_agency(s, within))
		return ROW_NONE;
	return store_row_to_client(s, out);
}
