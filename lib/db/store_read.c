/*
 * store_read.c - the reads: one client, an admin key, the client list and
 * audit history, and the query plans of the list for clientsctl.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>

#include "cursor.h"
#include "log.h"
#include "store_int.h"

/* One bit per filter; a list statement is prepared per combination. */
#define LIST_SHAPES	16
#define F_STATUS	1u
#define F_AGENCY	2u
#define F_COMPANY	4u
#define F_DOMAIN	8u

/* ---- one client, an admin key ------------------------------------------ */

struct get_job {
	const char		*id;
	const char		*within;
	struct cm_stored	*out;
};

static enum tx_rc
get_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct get_job	*j = arg;

	switch (store_load_client(s, j->id, false, j->within, j->out)) {
	case ROW_FOUND:
		return TX_OK;
	case ROW_NONE:
		*status = CM_DB_NOT_FOUND;
		return TX_STOP;
	default:
		return TX_DB_ERROR;
	}
}

enum cm_db_status
store_get(struct cm_store *s, const char *id, const char *within,
    struct cm_stored *out)
{
	struct get_job	j = { id, within, out };

	out->client = NULL;
	return store_read(s, get_once, &j);
}

/* How often a key's use is recorded, at most (seconds). */
#define LAST_USED_EVERY_S	60
#define STR_(x)	#x
#define STR(x)	STR_(x)

struct key_job {
	const char		*hash;
	struct cm_admin_key	*key;
	long long		 left_ms;	/* until it expires; LLONG_MAX: never */
};

/*
 * Expiry is reckoned on the database's clock (the one every worker and
 * host shares), as the milliseconds left; whether the recorded use is
 * stale comes in the same row.
 */
static const char key_sql[] = "SELECT id, scopes, agency_id, "
	"TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at) DIV 1000, "
	"last_used_at IS NULL OR last_used_at < NOW(3) - INTERVAL "
	STR(LAST_USED_EVERY_S) " SECOND FROM admin_keys "
	"WHERE key_sha256 = ? AND revoked_at IS NULL";
/* Racing workers: the condition lets one of them write, the others match nothing. */
static const char key_used_sql[] = "UPDATE admin_keys SET last_used_at = "
	"NOW(3) WHERE id = ? AND (last_used_at IS NULL OR last_used_at < "
	"NOW(3) - INTERVAL " STR(LAST_USED_EVERY_S) " SECOND)";

/*
 * Records that the key was used.  Bookkeeping: a failure other than a
 * lost connection (logged) does not refuse the key.
 */
static enum tx_rc
note_use(struct cm_store *s, unsigned long long id)
{
	struct param	p = store_int((long long)id);

	if (store_exec(s, key_used_sql, &p, 1) != NULL)
		return TX_OK;
	if (s->db == NULL || store_connection_lost(s->err))
		return TX_DB_ERROR;
	s->err = 0;
	return TX_OK;
}

/* The row of key_sql in s->col, into the job. */
static bool
key_from_row(struct cm_store *s, struct key_job *j)
{
	char	bad[64];

	memset(j->key, 0, sizeof(*j->key));
	j->key->id = strtoull(s->col[0], NULL, 10);
	/* A scope a later release added grants nothing here. */
	if (cm_scope_parse(s->col[1], true, &j->key->scopes, bad,
	    sizeof(bad)) != 0) {
		LOG_ERR("admin key %llu: unreadable scopes", j->key->id);
		return false;
	}
	if (!s->col_null[2])
		snprintf(j->key->agency_id, sizeof(j->key->agency_id), "%s",
		    s->col[2]);
	j->left_ms = s->col_null[3] ? LLONG_MAX : strtoll(s->col[3], NULL, 10);
	return true;
}

static enum tx_rc
admin_key_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_job		*j = arg;
	struct param		 p = store_str(j->hash);
	MYSQL_STMT		*st;
	bool			 stale;

	if ((st = store_exec(s, key_sql, &p, 1)) == NULL)
		return TX_DB_ERROR;
	switch (store_fetch_one(s, st, 5)) {
	case ROW_FOUND:
		break;
	case ROW_NONE:
		*status = CM_DB_NOT_FOUND;
		return TX_STOP;
	default:
		return TX_DB_ERROR;
	}
	stale = strcmp(s->col[4], "1") == 0;
	if (!key_from_row(s, j)) {
		*status = CM_DB_FAILED;
		return TX_STOP;
	}
	/*
	 * Here, when the key is looked up (once per auth_cache_s per worker,
	 * not per request), and only when the recorded use is a minute old.
	 */
	return stale && j->left_ms > 0 ? note_use(s, j->key->id) : TX_OK;
}

/* The key's expiry as a time of the cache's clock. */
static uint64_t
key_expires_ms(long long left_ms, uint64_t now_ms)
{
	if (left_ms == LLONG_MAX)
		return CM_AUTHCACHE_NEVER;
	return left_ms > 0 ? now_ms + (uint64_t)left_ms : now_ms;
}

enum cm_db_status
store_admin_key(struct cm_store *s, const char *sha256_hex,
    struct cm_admin_key *key)
{
	struct key_job		j = { sha256_hex, key, LLONG_MAX };
	enum cm_db_status	rc;
	uint64_t		now = cm_authcache_now_ms();

	switch (cm_authcache_get(&s->auth, sha256_hex, now, key)) {
	case CM_AUTHCACHE_HIT:
		return CM_DB_OK;
	case CM_AUTHCACHE_EXPIRED:
		return CM_DB_EXPIRED;
	default:
		break;
	}
	if (cm_authcache_refused(&s->auth, sha256_hex, now))
		return CM_DB_NOT_FOUND;
	rc = store_read(s, admin_key_once, &j);
	now = cm_authcache_now_ms();
	if (rc == CM_DB_OK) {
		cm_authcache_put(&s->auth, sha256_hex, key,
		    key_expires_ms(j.left_ms, now), now);
		if (j.left_ms <= 0)
			rc = CM_DB_EXPIRED;
	} else if (rc == CM_DB_NOT_FOUND)
		cm_authcache_refuse(&s->auth, sha256_hex, now);
	return rc;
}

/*
 * The statements of a list shape:
 *   COUNT  the total: the sharded counters of 009_list_counts.sql without
 *          a filter or with status alone, else COUNT(*) over the filter's
 *          index
 *   PAGE   the first page (OFFSET 0)
 *   AFTER  the page after a position (keyset): an index range
 *   SEEK   the position before row `offset`: created_at and id only, so
 *          the walk stays in the (covering) index and never reads rows;
 *          then AFTER reads the page (a deferred join in two statements)
 */
enum list_kind { K_COUNT, K_PAGE, K_AFTER, K_SEEK };

static unsigned
list_shape(const struct cm_list_query *q)
{
	return (q->status >= 0 ? F_STATUS : 0) |
	    (q->agency_id ? F_AGENCY : 0) | (q->company_id ? F_COMPANY : 0) |
	    (q->domain ? F_DOMAIN : 0);
}

/*
 * The index a keyset page of the shape walks.  Forced: with the equality
 * of the filter and the OR of the position, the optimizer may otherwise
 * take `ref` on the filter's column alone, which walks the index from the
 * start of the filter's range to the position (linear in the page number)
 * or, on rare values, merge indexes and sort.
 */
static const char *
shape_index(unsigned shape)
{
	if (shape & F_DOMAIN)
		return "uq_clients_domain";
	if (shape & F_AGENCY)
		return "ix_clients_agency";
	if (shape & F_COMPANY)
		return "ix_clients_company";
	if (shape & F_STATUS)
		return "ix_clients_status";
	return "ix_clients_created";
}

/*
 * Each filter has an index led by its column and followed by
 * (created_at, id), so a page is an ordered index range, never a sort of
 * the table.
 */
static void
list_sql(unsigned shape, enum list_kind kind, char *sql, size_t sz)
{
	static const char *const cond[] = {
		"status = ?", "agency_id = ?", "company_id = ?", "domain = ?"
	};
	size_t	n, i;
	bool	first = true;

	if (kind == K_COUNT && (shape & ~F_STATUS) == 0) {
		/* Without a filter: every value of the TINYINT, as a range. */
		snprintf(sql, sz, "SELECT CAST(COALESCE(SUM(n), 0) AS SIGNED) "
		    "FROM client_counts WHERE status %s", shape ? "= ?" :
		    "BETWEEN -128 AND 127");
		return;
	}
	n = (size_t)snprintf(sql, sz, "SELECT %s FROM clients%s%s%s",
	    kind == K_COUNT ? "COUNT(*)" :
	    kind == K_SEEK ? "created_at, id" : CLIENT_COLUMNS,
	    kind == K_AFTER ? " FORCE INDEX (" : "",
	    kind == K_AFTER ? shape_index(shape) : "",
	    kind == K_AFTER ? ")" : "");
	for (i = 0; i < 4; i++)
		if (shape & (1u << i)) {
			n += (size_t)snprintf(sql + n, sz - n, " %s %s",
			    first ? "WHERE" : "AND", cond[i]);
			first = false;
		}
	if (kind == K_AFTER)
		n += (size_t)snprintf(sql + n, sz - n, " %s (created_at > ? OR "
		    "(created_at = ? AND id > ?))", first ? "WHERE" : "AND");
	if (kind == K_PAGE || kind == K_SEEK)
		snprintf(sql + n, sz - n,
		    " ORDER BY created_at, id LIMIT ? OFFSET ?");
	else if (kind == K_AFTER)
		snprintf(sql + n, sz - n, " ORDER BY created_at, id LIMIT ?");
}

/* A position: "YYYY-MM-DD HH:MM:SS.mmm ID", as MariaDB prints created_at. */
struct position {
	char	created_at[24];
	char	id[256];
};

static size_t
list_params(const struct cm_list_query *q, enum list_kind kind,
    const struct position *pos, unsigned long long offset, struct param *p)
{
	size_t	n = 0;

	if (kind == K_COUNT && (list_shape(q) & ~F_STATUS) == 0) {
		if (q->status >= 0)
			p[n++] = store_int(q->status);
		return n;
	}
	if (q->status >= 0)
		p[n++] = store_int(q->status);
	if (q->agency_id)
		p[n++] = store_str(q->agency_id);
	if (q->company_id)
		p[n++] = store_str(q->company_id);
	if (q->domain)
		p[n++] = store_str(q->domain);
	if (kind == K_AFTER) {
		p[n++] = store_str(pos->created_at);
		p[n++] = store_str(pos->created_at);
		p[n++] = store_str(pos->id);
	}
	/* One row more than the page: whether there is a next page. */
	if (kind == K_PAGE || kind == K_AFTER)
		p[n++] = store_int((long long)q->limit + 1);
	if (kind == K_SEEK)
		p[n++] = store_int(1);
	if (kind == K_PAGE || kind == K_SEEK)
		p[n++] = store_int((long long)offset);
	return n;
}

static MYSQL_STMT *
list_exec(struct cm_store *s, const struct cm_list_query *q,
    enum list_kind kind, const struct position *pos,
    unsigned long long offset)
{
	MYSQL_STMT	*st;
	struct param	 p[10];
	char		 sql[1024];

	list_sql(list_shape(q), kind, sql, sizeof(sql));
	if ((st = store_stmt(s, sql)) == NULL ||
	    store_execute(s, st, p, list_params(q, kind, pos, offset, p)) !=
	    TX_OK)
		return NULL;
	return st;
}

/* ---- cursors ---------------------------------------------------------- */

/* The installation's cursor key (009_list_counts.sql), read once. */
enum tx_rc
store_cursor_key(struct cm_store *s)
{
	static const char	 sql[] = "SELECT secret FROM installation_secrets "
				     "WHERE name = 'cursor'";
	MYSQL_STMT		*st;
	enum row_rc		 rc;

	if (s->cursor_keylen > 0)
		return TX_OK;
	if ((st = store_exec(s, sql, NULL, 0)) == NULL ||
	    (rc = store_fetch_one(s, st, 1)) == ROW_ERROR)
		return TX_DB_ERROR;
	if (rc == ROW_NONE || s->col_len[0] < 16 ||
	    s->col_len[0] > sizeof(s->cursor_key)) {
		LOG_ERR("database: no cursor secret (migration "
		    "009_list_counts.sql not applied?)");
		s->err = CR_UNKNOWN_ERROR;
		return TX_DB_ERROR;
	}
	memcpy(s->cursor_key, s->col[0], s->col_len[0]);
	s->cursor_keylen = s->col_len[0];
	return TX_OK;
}

/*
 * The binding a cursor was made under, after its list's scope: a bound
 * key's cursors open for that binding only.  None for an unbound key, so
 * its cursors are those of a release without bindings.
 */
static int
within_scope(const char *within, char *buf, size_t sz)
{
	return within == NULL ? 0 : snprintf(buf, sz, "\x1fwithin=%s", within);
}

/* What a cursor is bound to: the list, its filters as sent, the binding. */
static size_t
list_scope(const struct cm_list_query *q, char *buf, size_t sz)
{
	int	n;

	n = snprintf(buf, sz, "clients\x1f%d\x1f%c%s\x1f%c%s\x1f%c%s",
	    q->status, q->agency_id ? '=' : '-', q->agency_id ? q->agency_id : "",
	    q->company_id ? '=' : '-', q->company_id ? q->company_id : "",
	    q->domain ? '=' : '-', q->domain ? q->domain : "");
	if (n >= 0 && (size_t)n < sz)
		n += within_scope(q->within, buf + n, sz - (size_t)n);
	return n < 0 ? 0 : (size_t)n >= sz ? sz - 1 : (size_t)n;
}

static size_t
audit_scope(const char *id, const char *within, char *buf, size_t sz)
{
	int	n = snprintf(buf, sz, "audit\x1f%s", id);

	if (n >= 0 && (size_t)n < sz)
		n += within_scope(within, buf + n, sz - (size_t)n);
	return n < 0 ? 0 : (size_t)n >= sz ? sz - 1 : (size_t)n;
}

/* false: not a cursor of this scope. */
static bool
open_position(struct cm_store *s, const char *scope, size_t scopelen,
    const char *cursor, struct position *pos)
{
	char	 text[CM_CURSOR_POS_MAX + 1], *sp;

	if (cm_cursor_open(s->cursor_key, s->cursor_keylen, scope, scopelen,
	    cursor, text, sizeof(text)) != 0 ||
	    (sp = strchr(text, ' ')) == NULL || sp - text != 10 ||
	    (sp = strchr(sp + 1, ' ')) == NULL || sp - text != 23 ||
	    strlen(sp + 1) >= sizeof(pos->id) || sp[1] == '\0')
		return false;
	memcpy(pos->created_at, text, 23);
	pos->created_at[23] = '\0';
	snprintf(pos->id, sizeof(pos->id), "%s", sp + 1);
	return true;
}

enum tx_rc
store_make_cursor(struct cm_store *s, const char *scope, size_t scopelen,
    const char *text, char *out)
{
	if (cm_cursor_make(s->cursor_key, s->cursor_keylen, scope, scopelen,
	    text, out, CM_CURSOR_MAX) != 0) {
		LOG_ERR("cursor: cannot sign a position");
		s->err = CR_UNKNOWN_ERROR;
		return TX_DB_ERROR;
	}
	return TX_OK;
}

bool
store_open_seq(struct cm_store *s, const char *scope, size_t scopelen,
    const char *cursor, unsigned long long *seq)
{
	char	text[CM_CURSOR_POS_MAX + 1], *end;

	if (cm_cursor_open(s->cursor_key, s->cursor_keylen, scope, scopelen,
	    cursor, text, sizeof(text)) != 0 || text[0] < '1' ||
	    text[0] > '9' || strlen(text) > 20)
		return false;
	*seq = strtoull(text, &end, 10);
	return *end == '\0';
}

enum cm_db_status
store_read_paged(struct cm_store *s, store_job fn, void *arg, bool counted,
    struct cm_page *out)
{
	enum cm_db_status	rc;

	out->items = json_array();
	out->counted = counted;
	out->count = 0;
	out->next[0] = '\0';
	if ((rc = store_read(s, fn, arg)) != CM_DB_OK) {
		json_decref(out->items);
		out->items = NULL;
	}
	return rc;
}

enum tx_rc
store_read_page(struct cm_store *s, MYSQL_STMT *st,
    const struct store_page *pg, unsigned limit, struct cm_page *out)
{
	char		 last[32] = "";
	unsigned	 n = 0, rows = 0;
	bool		 more = false;
	json_t		*e;
	enum row_rc	 rc;

	if (st == NULL || store_bind_row(s, st, pg->ncols) != ROW_FOUND)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, pg->ncols)) == ROW_FOUND) {
		/*
		 * limit + 1 rows read: there may be more, even when a skipped
		 * row left room for the last (the cursor then follows it).
		 */
		if (++rows > limit)
			more = true;
		if (n == limit)
			continue;
		snprintf(last, sizeof(last), "%s", s->col[0]);
		if ((e = pg->row(s)) != NULL) {
			json_array_append_new(out->items, e);
			n++;
		} else if (!pg->skip_null) {
			rc = ROW_ERROR;
			break;
		}
	}
	store_free_result(s, st);
	if (rc == ROW_ERROR)
		return TX_DB_ERROR;
	return more ? store_make_cursor(s, pg->scope, pg->scopelen, last,
	    out->next) : TX_OK;
}

/* ---- the list ----------------------------------------------------------- */

/*
 * Reads the rows of an executed page statement (at most limit + 1) as
 * clients into arr, the first limit of them; *more when there was one
 * more, and last the position of the last client kept.
 */
static enum row_rc
clients_into(struct cm_store *s, MYSQL_STMT *st, unsigned limit, json_t *arr,
    bool *more, char *last, size_t lastsz)
{
	struct cm_stored	c;
	unsigned		n = 0;
	enum row_rc		rc;

	*more = false;
	if ((rc = store_bind_row(s, st, NCOLS)) == ROW_FOUND)
		while ((rc = store_next_row(s, st, NCOLS)) == ROW_FOUND) {
			if (n == limit) {
				*more = true;
				continue;
			}
			snprintf(last, lastsz, "%.23s %s",
			    s->col[CM_F_CREATED_AT], s->col[CM_F_ID]);
			if ((rc = store_row_to_client(s, &c)) != ROW_FOUND)
				break;
			json_array_append_new(arr, c.client);
			n++;
		}
	store_free_result(s, st);
	return rc;
}

struct list_job {
	const struct cm_list_query	*q;	/* as asked: the cursor's scope */
	struct cm_list_query		 eff;	/* what is read: the binding applied */
	bool				 none;	/* filtered outside the binding */
	struct cm_page			*out;
};

/* The position just before row `offset` (>= 1) of the list. */
static enum row_rc
seek(struct cm_store *s, const struct cm_list_query *q, struct position *pos)
{
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	if ((st = list_exec(s, q, K_SEEK, NULL, q->offset - 1)) == NULL)
		return ROW_ERROR;
	if ((rc = store_fetch_one(s, st, 2)) == ROW_FOUND) {
		snprintf(pos->created_at, sizeof(pos->created_at), "%.23s",
		    s->col[0]);
		snprintf(pos->id, sizeof(pos->id), "%s", s->col[1]);
	}
	return rc;
}

/*
 * The count is its own statement: the page query reads only the rows of
 * the page.  XXX: the two are separate statements under READ COMMITTED,
 * so a write between them can make count and page disagree by that write.
 */
static enum tx_rc
list_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct list_job		*j = arg;
	const struct cm_list_query *q = &j->eff;
	struct position		 pos;
	MYSQL_STMT		*st;
	char			 scope[1400], last[CM_CURSOR_POS_MAX + 1];
	size_t			 scopelen = list_scope(j->q, scope, sizeof(scope));
	bool			 more = false;
	enum row_rc		 rc;

	json_array_clear(j->out->items);
	j->out->next[0] = '\0';
	if (store_cursor_key(s) != TX_OK)
		return TX_DB_ERROR;
	if (q->after != NULL &&
	    !open_position(s, scope, scopelen, q->after, &pos)) {
		*status = CM_DB_INVALID;
		return TX_STOP;
	}
	if (j->none) {
		j->out->counted = !q->no_count;
		return TX_OK;	/* count 0, no page */
	}
	if ((j->out->counted = !q->no_count)) {
		if ((st = list_exec(s, q, K_COUNT, NULL, 0)) == NULL ||
		    store_fetch_one(s, st, 1) != ROW_FOUND)
			return TX_DB_ERROR;
		j->out->count = strtoull(s->col[0], NULL, 10);
		if (j->out->count <= q->offset)
			return TX_OK;
	}
	if (q->after == NULL && q->offset > 0 &&
	    (rc = seek(s, q, &pos)) != ROW_FOUND)
		return rc == ROW_NONE ? TX_OK : TX_DB_ERROR;
	st = q->after == NULL && q->offset == 0 ?
	    list_exec(s, q, K_PAGE, NULL, 0) : list_exec(s, q, K_AFTER, &pos, 0);
	if (st == NULL || clients_into(s, st, q->limit, j->out->items, &more,
	    last, sizeof(last)) == ROW_ERROR)
		return TX_DB_ERROR;
	if (more && store_make_cursor(s, scope, scopelen, last,
	    j->out->next) != TX_OK)
		return TX_DB_ERROR;
	return TX_OK;
}

enum cm_db_status
store_list(struct cm_store *s, const struct cm_list_query *q,
    struct cm_page *out)
{
	struct list_job		j = { q, *q, false, out };

	if (q->within != NULL) {
		j.none = q->agency_id != NULL &&
		    strcmp(q->agency_id, q->within) != 0;
		j.eff.agency_id = q->within;
	}
	return store_read_paged(s, list_once, &j, false, out);
}

/* ---- the audit history -------------------------------------------------- */

enum { A_AFTER, A_SEEK, A_PAGE };

static const char *const audit_sql[] = {
	[A_AFTER] = "SELECT seq, action, admin_key_id, request_id, at, "
	    "changes FROM client_audit WHERE client_id = ? AND seq < ? "
	    "ORDER BY seq DESC LIMIT ?",
	/* ix_audit_client (client_id, seq) covers it: no row is read. */
	[A_SEEK] = "SELECT seq FROM client_audit WHERE client_id = ? "
	    "ORDER BY seq DESC LIMIT 1 OFFSET ?",
	[A_PAGE] = "SELECT seq, action, admin_key_id, request_id, at, "
	    "changes FROM client_audit WHERE client_id = ? "
	    "ORDER BY seq DESC LIMIT ?",
};

static MYSQL_STMT *
audit_exec(struct cm_store *s, int which, const struct param *p, size_t n)
{
	return store_exec(s, audit_sql[which], p, n);
}

/*
 * The fetched audit row: seq, action, admin_key_id, request_id, at,
 * changes; with_client: and client_id, in column 6, named after seq.
 */
static json_t *
audit_entry(struct cm_store *s, bool with_client)
{
	json_t	*changes = json_loadb(s->col[5], s->col_len[5], 0, NULL);

	if (changes == NULL)
		return NULL;
	if (with_client)
		return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o}",
		    "seq", (json_int_t)strtoll(s->col[0], NULL, 10),
		    "client_id", s->col[6], "action", s->col[1],
		    "admin_key_id", s->col_null[2] ? json_null() :
		    json_integer((json_int_t)strtoll(s->col[2], NULL, 10)),
		    "request_id", s->col[3], "at", store_timestamp(s->col[4]),
		    "changes", changes);
	return json_pack("{s:I, s:s, s:o, s:s, s:o, s:o}",
	    "seq", (json_int_t)strtoll(s->col[0], NULL, 10),
	    "action", s->col[1],
	    "admin_key_id", s->col_null[2] ? json_null() :
	    json_integer((json_int_t)strtoll(s->col[2], NULL, 10)),
	    "request_id", s->col[3],
	    "at", store_timestamp(s->col[4]),
	    "changes", changes);
}

struct audit_job {
	const char			*id;
	const struct cm_list_query	*q;
	struct cm_page			*out;
};

/* The fetched audit row as the history's entry (store_page.row). */
static json_t *
entry_of_row(struct cm_store *s)
{
	return audit_entry(s, false);
}

static enum tx_rc
audit_count(struct cm_store *s, const char *id, unsigned long long *count)
{
	static const char	 sql[] = "SELECT COUNT(*) FROM client_audit "
				     "WHERE client_id = ?";
	struct param		 p = store_str(id);
	MYSQL_STMT		*st;

	if ((st = store_exec(s, sql, &p, 1)) == NULL ||
	    store_fetch_one(s, st, 1) != ROW_FOUND)
		return TX_DB_ERROR;
	*count = strtoull(s->col[0], NULL, 10);
	return TX_OK;
}

/* The client has no history: stop with CM_DB_NOT_FOUND. */
static enum tx_rc
no_history(enum cm_db_status *status)
{
	*status = CM_DB_NOT_FOUND;
	return TX_STOP;
}

/*
 * Whether a bound caller sees the client's history: only while the
 * client exists in its agency (one read; none without a binding).
 */
static enum row_rc
visible(struct cm_store *s, const char *id, const char *within)
{
	struct cm_stored	cur = { NULL, 0, "" };
	enum row_rc		rc;

	if (within == NULL)
		return ROW_FOUND;
	rc = store_load_client(s, id, false, within, &cur);
	json_decref(cur.client);
	return rc;
}

static enum tx_rc
audit_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct audit_job	*j = arg;
	const struct cm_list_query *q = j->q;
	struct param		 p[3];
	MYSQL_STMT		*st;
	char			 scope[800], seq[CM_CURSOR_POS_MAX + 1], *end;
	size_t			 scopelen = audit_scope(j->id, q->within, scope,
				     sizeof(scope));
	struct store_page	 pg = { 6, entry_of_row, false, scope, scopelen };
	unsigned long long	 count;
	enum row_rc		 rc;

	json_array_clear(j->out->items);
	j->out->next[0] = '\0';
	if ((rc = visible(s, j->id, q->within)) != ROW_FOUND)
		return rc == ROW_NONE ? no_history(status) : TX_DB_ERROR;
	if (store_cursor_key(s) != TX_OK)
		return TX_DB_ERROR;
	if (q->after != NULL) {
		if (cm_cursor_open(s->cursor_key, s->cursor_keylen, scope,
		    scopelen, q->after, seq, sizeof(seq)) != 0 ||
		    seq[0] < '1' || seq[0] > '9' ||
		    (strtoull(seq, &end, 10), *end != '\0')) {
			*status = CM_DB_INVALID;
			return TX_STOP;
		}
	}
	if ((j->out->counted = !q->no_count)) {
		if (audit_count(s, j->id, &j->out->count) != TX_OK)
			return TX_DB_ERROR;
		if (j->out->count == 0)
			return no_history(status);
		if (j->out->count <= q->offset)
			return TX_OK;
	}
	p[0] = store_str(j->id);
	if (q->after == NULL && q->offset > 0) {
		p[1] = store_int((long long)q->offset - 1);
		if ((st = audit_exec(s, A_SEEK, p, 2)) == NULL ||
		    (rc = store_fetch_one(s, st, 1)) == ROW_ERROR)
			return TX_DB_ERROR;
		if (rc == ROW_NONE)
			goto empty;
		snprintf(seq, sizeof(seq), "%s", s->col[0]);
	}
	if (q->after == NULL && q->offset == 0) {
		p[1] = store_int((long long)q->limit + 1);
		st = audit_exec(s, A_PAGE, p, 2);
	} else {
		p[1] = store_int((long long)strtoull(seq, NULL, 10));
		p[2] = store_int((long long)q->limit + 1);
		st = audit_exec(s, A_AFTER, p, 3);
	}
	if (store_read_page(s, st, &pg, q->limit, j->out) != TX_OK)
		return TX_DB_ERROR;
empty:
	/* Without a count, an empty answer must still tell 404 from past-the-end. */
	if (!j->out->counted && json_array_size(j->out->items) == 0) {
		if (audit_count(s, j->id, &count) != TX_OK)
			return TX_DB_ERROR;
		if (count == 0)
			return no_history(status);
	}
	return TX_OK;
}

enum cm_db_status
store_audit(struct cm_store *s, const char *id,
    const struct cm_list_query *q, struct cm_page *out)
{
	struct audit_job	j = { id, q, out };

	return store_read_paged(s, audit_once, &j, false, out);
}

/* ---- what one admin key did ----------------------------------------------- */

/* ix_audit_key (admin_key_id, seq): an index range, newest first. */
static const char key_audit_sql[] = "SELECT seq, action, admin_key_id, "
	"request_id, at, changes, client_id FROM client_audit "
	"WHERE admin_key_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?";

struct key_audit_job {
	unsigned long long	 key_id, before;
	unsigned		 limit;
	json_t			*items;
};

static enum tx_rc
key_audit_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct key_audit_job	*j = arg;
	struct param		 p[3];
	MYSQL_STMT		*st;
	json_t			*e;
	enum row_rc		 rc;

	(void)status;
	json_array_clear(j->items);
	p[0] = store_int((long long)j->key_id);
	p[1] = store_int(j->before > 0 && j->before < (unsigned long long)LLONG_MAX ?
	    (long long)j->before : LLONG_MAX);
	p[2] = store_int(j->limit);
	if ((st = store_exec(s, key_audit_sql, p, 3)) == NULL ||
	    store_bind_row(s, st, 7) != ROW_FOUND)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, 7)) == ROW_FOUND) {
		if ((e = audit_entry(s, true)) == NULL) {
			rc = ROW_ERROR;
			break;
		}
		json_array_append_new(j->items, e);
	}
	store_free_result(s, st);
	return rc == ROW_ERROR ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_audit_by_key(struct cm_store *s, unsigned long long key_id,
    unsigned long long before, unsigned limit, json_t **items)
{
	struct key_audit_job	j = { key_id, before, limit, json_array() };
	enum cm_db_status	rc;

	if ((rc = store_read(s, key_audit_once, &j)) != CM_DB_OK) {
		json_decref(j.items);
		j.items = NULL;
	}
	*items = j.items;
	return rc;
}

/* "status,agency_id" for a shape; "-" for none. */
static void
shape_name(unsigned shape, char *buf, size_t sz)
{
	static const char *const name[] = {
		"status", "agency_id", "company_id", "domain"
	};
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (shape & (1u << i))
			n += (size_t)snprintf(buf + n, sz - n, "%s%s",
			    n ? "," : "", name[i]);
	if (n == 0)
		snprintf(buf, sz, "-");
}

static const char *const kind_name[] = { "count", "page", "after", "seek" };

/* EXPLAIN's columns: id select_type table type possible_keys key ... rows Extra */
static enum row_rc
explain_one(struct cm_store *s, unsigned shape, enum list_kind kind,
    const char *domain, FILE *fp)
{
	struct cm_list_query	 q = { (shape & F_STATUS) ? 1 : -1,
				     (shape & F_AGENCY) ? "a" : NULL,
				     (shape & F_COMPANY) ? "c" : NULL,
				     (shape & F_DOMAIN) ? domain : NULL,
				     50, 0, NULL, false, NULL };
	struct position		 pos = { "2025-01-01 00:00:00.000", "m" };
	struct param		 p[10];
	MYSQL_STMT		*st;
	char			 sql[1100], filters[64];
	enum row_rc		 rc;

	shape_name(shape, filters, sizeof(filters));
	memcpy(sql, "EXPLAIN ", 8);
	list_sql(shape, kind, sql + 8, sizeof(sql) - 8);
	if ((st = store_exec(s, sql, p, list_params(&q, kind, &pos,
	    kind == K_SEEK ? 1000 : 0, p))) == NULL)
		return ROW_ERROR;
	if ((rc = store_bind_row(s, st, 10)) == ROW_FOUND)
		while ((rc = store_next_row(s, st, 10)) == ROW_FOUND)
			fprintf(fp, "%s\t%s\ttype=%s\tkey=%s\trows=%s\t"
			    "extra=%s\n", kind_name[kind], filters,
			    s->col_null[3] ? "-" : s->col[3],
			    s->col_null[5] ? "-" : s->col[5],
			    s->col_null[8] ? "-" : s->col[8], s->col[9]);
	store_free_result(s, st);
	return rc;
}

/*
 * A domain that exists, when one does: for a missing one MariaDB only
 * says "Impossible WHERE", which hides the plan of a real lookup.
 */
static void
sample_domain(struct cm_store *s, char *buf, size_t sz)
{
	static const char	 sql[] = "SELECT domain FROM clients "
				     "WHERE domain IS NOT NULL LIMIT 1";
	MYSQL_STMT		*st;

	snprintf(buf, sz, "d.example");
	if ((st = store_exec(s, sql, NULL, 0)) != NULL &&
	    store_fetch_one(s, st, 1) == ROW_FOUND)
		snprintf(buf, sz, "%s", s->col[0]);
}

enum cm_db_status
store_explain_list(struct cm_store *s, void *fp)
{
	char		domain[256];
	unsigned	shape;
	enum list_kind	kind;

	if (store_connect(s) != 0)
		return CM_DB_UNAVAILABLE;
	sample_domain(s, domain, sizeof(domain));
	for (shape = 0; shape < LIST_SHAPES; shape++)
		for (kind = K_COUNT; kind <= K_SEEK; kind++)
			if (explain_one(s, shape, kind, domain, fp) ==
			    ROW_ERROR)
				return CM_DB_FAILED;
	return CM_DB_OK;
}
