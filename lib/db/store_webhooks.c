/*
 * store_webhooks.c - webhook endpoints (db.h): create, read, list,
 * change, rotate the secret, delete.  The secret is written here and
 * never read back by these calls: only create and rotate hand one out,
 * the one they were given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "webhook.h"

#define WH_COLUMNS	"id, url, event_types, agency_id, enabled, " \
			"description, previous_secret_until, created_at, " \
			"updated_at"
#define WH_NCOLS	9
/*
 * A key bound to an agency sees that agency's endpoints only; the
 * binding is passed twice (NULL: every endpoint).
 */
#define WH_WITHIN	"(? IS NULL OR agency_id = ?)"

static const char wh_get_sql[] = "SELECT " WH_COLUMNS " FROM "
	"webhook_endpoints WHERE id = ? AND " WH_WITHIN;
static const char wh_lock_sql[] = "SELECT " WH_COLUMNS " FROM "
	"webhook_endpoints WHERE id = ? AND " WH_WITHIN " FOR UPDATE";
static const char wh_list_sql[] = "SELECT " WH_COLUMNS " FROM "
	"webhook_endpoints WHERE id > ? AND " WH_WITHIN " ORDER BY id LIMIT ?";
static const char wh_count_sql[] = "SELECT COUNT(*) FROM webhook_endpoints "
	"WHERE " WH_WITHIN;
/* Sent the events after the newest history row at its creation. */
static const char wh_insert_sql[] = "INSERT INTO webhook_endpoints (url, "
	"event_types, agency_id, enabled, description, secret, after_seq, "
	"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, (SELECT "
	"COALESCE(MAX(seq), 0) FROM client_audit), NOW(3), NOW(3))";
static const char wh_update_sql[] = "UPDATE webhook_endpoints SET url = ?, "
	"event_types = ?, agency_id = ?, enabled = ?, description = ?, "
	"version = version + 1, updated_at = NOW(3) WHERE id = ?";
/* overlap 0: the previous secret is dropped at once. */
static const char wh_rotate_sql[] = "UPDATE webhook_endpoints SET "
	"previous_secret = IF(? > 0, secret, NULL), "
	"previous_secret_until = IF(? > 0, NOW(3) + INTERVAL ? SECOND, NULL), "
	"secret = ?, version = version + 1, updated_at = NOW(3) "
	"WHERE id = ? AND " WH_WITHIN;
static const char wh_delete_sql[] = "DELETE FROM webhook_endpoints "
	"WHERE id = ? AND " WH_WITHIN;

/* The fetched row as the API's endpoint (no secret: none is selected). */
static json_t *
endpoint_of_row(struct cm_store *s)
{
	char	id[CM_WEBHOOK_ID_MAX];

	cm_webhook_id(strtoull(s->col[0], NULL, 10), id, sizeof(id));
	return json_pack("{s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o}",
	    "id", id, "url", s->col[1],
	    "event_types", cm_webhook_types_array(s->col[2]),
	    "agency_id", s->col_null[3] ? json_null() : json_string(s->col[3]),
	    "enabled", strcmp(s->col[4], "0") != 0,
	    "description", s->col_null[5] ? json_null() :
	    json_stringn(s->col[5], s->col_len[5]),
	    "previous_secret_expires_at", s->col_null[6] ? json_null() :
	    store_timestamp(s->col[6]),
	    "created_at", store_timestamp(s->col[7]),
	    "updated_at", store_timestamp(s->col[8]));
}

/* One endpoint by id within the binding, locked or not, into *out. */
static enum row_rc
load_endpoint(struct cm_store *s, unsigned long long id, const char *within,
    bool locked, json_t **out)
{
	struct param	 p[3];
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	p[0] = store_int((long long)id);
	p[1] = p[2] = store_str(within);
	if ((st = store_exec(s, locked ? wh_lock_sql : wh_get_sql, p, 3)) ==
	    NULL)
		return ROW_ERROR;
	if ((rc = store_fetch_one(s, st, WH_NCOLS)) == ROW_FOUND &&
	    (*out = endpoint_of_row(s)) == NULL)
		rc = ROW_ERROR;
	return rc;
}

struct wh_job {
	unsigned long long	 id;
	const char		*within;
	const json_t		*input;		/* create, patch: checked members */
	const char		*secret;	/* create, rotate */
	int			 overlap_s;	/* rotate */
	json_t			*out;		/* the endpoint afterwards */
};

/* The row's outcome as the job's: found, none (404), or an error. */
static enum tx_rc
found(enum row_rc rc, enum cm_db_status *status)
{
	if (rc == ROW_FOUND)
		return TX_OK;
	if (rc == ROW_NONE) {
		*status = CM_DB_NOT_FOUND;
		return TX_STOP;
	}
	return TX_DB_ERROR;
}

/* The event types of an endpoint (a JSON array) as the SET's text. */
static void
types_text(const json_t *types, char *buf, size_t sz)
{
	json_t	*t;
	size_t	 i, n = 0;

	buf[0] = '\0';
	json_array_foreach(types, i, t)
		n += (size_t)snprintf(buf + n, n < sz ? sz - n : 0, "%s%s",
		    n ? "," : "", json_string_value(t));
}

/* url, event_types, agency_id, enabled, description of e into p[0..4]. */
static void
member_params(const json_t *e, const char *types, struct param *p)
{
	p[0] = store_str(json_string_value(json_object_get(e, "url")));
	p[1] = store_str(types);
	p[2] = store_str(json_string_value(json_object_get(e, "agency_id")));
	p[3] = store_int(json_is_true(json_object_get(e, "enabled")));
	p[4] = store_str(json_string_value(json_object_get(e, "description")));
}

static enum tx_rc
create_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_job	*j = arg;
	struct param	 p[6];
	MYSQL_STMT	*st;
	const char	*types = json_string_value(json_object_get(j->input,
			    "event_types"));

	json_decref(j->out);
	j->out = NULL;
	member_params(j->input, NULL, p);
	p[1] = store_str(types);
	p[5] = store_str(j->secret);
	if ((st = store_exec(s, wh_insert_sql, p, 6)) == NULL)
		return TX_DB_ERROR;
	j->id = mysql_stmt_insert_id(st);
	return found(load_endpoint(s, j->id, NULL, false, &j->out), status);
}

/*
 * The locked endpoint with the checked changes applied; an UPDATE only
 * when one changes something (updated_at then moves, as a client's).
 */
static enum tx_rc
patch_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_job	*j = arg;
	struct param	 p[6];
	char		 types[CM_WEBHOOK_TYPES_MAX];
	const char	*name;
	json_t		*cur = NULL, *next, *v;
	enum tx_rc	 rc;

	json_decref(j->out);
	j->out = NULL;
	if ((rc = found(load_endpoint(s, j->id, j->within, true, &cur),
	    status)) != TX_OK)
		return rc;
	next = json_deep_copy(cur);
	json_object_foreach((json_t *)j->input, name, v)
		json_object_set_new(next, name, strcmp(name, "event_types") ?
		    json_incref(v) : cm_webhook_types_array(json_string_value(v)));
	if (json_equal(cur, next)) {
		json_decref(next);
		j->out = cur;
		return TX_OK;
	}
	json_decref(cur);
	types_text(json_object_get(next, "event_types"), types, sizeof(types));
	member_params(next, types, p);
	p[5] = store_int((long long)j->id);
	rc = store_exec(s, wh_update_sql, p, 6) == NULL ? TX_DB_ERROR :
	    found(load_endpoint(s, j->id, NULL, false, &j->out), status);
	json_decref(next);
	return rc;
}

static enum tx_rc
rotate_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_job	*j = arg;
	struct param	 p[7];
	MYSQL_STMT	*st;

	json_decref(j->out);
	j->out = NULL;
	p[0] = p[1] = p[2] = store_int(j->overlap_s);
	p[3] = store_str(j->secret);
	p[4] = store_int((long long)j->id);
	p[5] = p[6] = store_str(j->within);
	if ((st = store_exec(s, wh_rotate_sql, p, 7)) == NULL)
		return TX_DB_ERROR;
	if (mysql_stmt_affected_rows(st) == 0)
		return found(ROW_NONE, status);
	return found(load_endpoint(s, j->id, NULL, false, &j->out), status);
}

static enum tx_rc
delete_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_job	*j = arg;
	struct param	 p[3];
	MYSQL_STMT	*st;

	p[0] = store_int((long long)j->id);
	p[1] = p[2] = store_str(j->within);
	if ((st = store_exec(s, wh_delete_sql, p, 3)) == NULL)
		return TX_DB_ERROR;
	return found(mysql_stmt_affected_rows(st) == 0 ? ROW_NONE : ROW_FOUND,
	    status);
}

static enum tx_rc
get_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_job	*j = arg;

	json_decref(j->out);
	j->out = NULL;
	return found(load_endpoint(s, j->id, j->within, false, &j->out),
	    status);
}

/* Runs a job; *out: the endpoint it left (NULL unless CM_DB_OK). */
static enum cm_db_status
run(struct cm_store *s, store_job fn, bool write, struct wh_job *j,
    json_t **out)
{
	enum cm_db_status	rc;

	j->out = NULL;
	rc = write ? store_transaction(s, fn, j) : store_read(s, fn, j);
	if (rc != CM_DB_OK) {
		json_decref(j->out);
		j->out = NULL;
	}
	if (out != NULL)
		*out = j->out;
	else
		json_decref(j->out);
	return rc;
}

enum cm_db_status
store_webhook_create(struct cm_store *s, const json_t *input,
    const char *secret, json_t **out)
{
	struct wh_job	j = { 0, NULL, input, secret, 0, NULL };

	return run(s, create_tx, true, &j, out);
}

enum cm_db_status
store_webhook_get(struct cm_store *s, unsigned long long id,
    const char *within, json_t **out)
{
	struct wh_job	j = { id, within, NULL, NULL, 0, NULL };

	return run(s, get_once, false, &j, out);
}

enum cm_db_status
store_webhook_patch(struct cm_store *s, unsigned long long id,
    const char *within, const json_t *changes, json_t **out)
{
	struct wh_job	j = { id, within, changes, NULL, 0, NULL };

	return run(s, patch_tx, true, &j, out);
}

enum cm_db_status
store_webhook_rotate(struct cm_store *s, unsigned long long id,
    const char *within, const char *secret, int overlap_s, json_t **out)
{
	struct wh_job	j = { id, within, NULL, secret, overlap_s, NULL };

	return run(s, rotate_tx, true, &j, out);
}

enum cm_db_status
store_webhook_delete(struct cm_store *s, unsigned long long id,
    const char *within)
{
	struct wh_job	j = { id, within, NULL, NULL, 0, NULL };

	return run(s, delete_tx, true, &j, NULL);
}

/* ---- the list ------------------------------------------------------------ */

struct wh_list_job {
	unsigned		 limit;
	const char		*after, *within;
	struct cm_page		*out;
};

static size_t
list_scope(const char *within, char *buf, size_t sz)
{
	int	n = snprintf(buf, sz, "webhook-endpoints\x1f%c%s",
		    within ? '=' : '-', within ? within : "");

	return n < 0 ? 0 : (size_t)n >= sz ? sz - 1 : (size_t)n;
}

static enum tx_rc
list_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct wh_list_job	*j = arg;
	struct param		 p[4];
	MYSQL_STMT		*st;
	char			 scope[300];
	size_t			 scopelen = list_scope(j->within, scope,
				     sizeof(scope));
	unsigned long long	 after = 0;
	struct store_page	 pg = { WH_NCOLS, endpoint_of_row, false,
				     scope, scopelen };

	json_array_clear(j->out->items);
	j->out->next[0] = '\0';
	if (store_cursor_key(s) != TX_OK)
		return TX_DB_ERROR;
	if (j->after != NULL &&
	    !store_open_seq(s, scope, scopelen, j->after, &after)) {
		*status = CM_DB_INVALID;
		return TX_STOP;
	}
	p[0] = p[1] = store_str(j->within);
	if ((st = store_exec(s, wh_count_sql, p, 2)) == NULL ||
	    store_fetch_one(s, st, 1) != ROW_FOUND)
		return TX_DB_ERROR;
	j->out->count = strtoull(s->col[0], NULL, 10);
	p[0] = store_int((long long)after);
	p[1] = p[2] = store_str(j->within);
	p[3] = store_int((long long)j->limit + 1);
	return store_read_page(s, store_exec(s, wh_list_sql, p, 4), &pg,
	    j->limit, j->out);
}

enum cm_db_status
store_webhook_list(struct cm_store *s, unsigned limit, const char *after,
    const char *within, struct cm_page *out)
{
	struct wh_list_job	j = { limit, after, within, out };

	return store_read_paged(s, list_once, &j, true, out);
}
