/*
 * store_events.c - the events feed (db.h): the history, oldest first, as
 * thin events (event.h).  It only reads what the writes already leave:
 * the write path has no statement of its own for events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "store_int.h"

/*
 * One statement per shape (which filters are set, how many actions the
 * type stands for), each an index range in seq order: the client's
 * ix_audit_client, the agency's ix_audit_agency, the type's
 * ix_audit_action (015_event_agency.sql), or the primary key.
 */
#define EVENT_COLUMNS	"seq, action, admin_key_id, request_id, at, " \
			"changes, client_id"
#define EVENT_NCOLS	7
/* Parameters of the longest statement: two SELECTs of five, and a limit. */
#define EVENT_PARAMS	(2 * 5 + 1)

struct events_job {
	const struct cm_event_query	*q;
	const char			*actions[CM_EVENT_TYPES_MAX];
	size_t				 nactions;
	struct cm_page			*out;
};

/*
 * One SELECT of the page: seq after `after`, the filters, at most one
 * action (NULL: any), in seq order, limit + 1 rows.  Appends to sql at
 * *len and to p at *n.
 */
static void
events_select(const struct events_job *j, unsigned long long after,
    const char *action, char *sql, size_t sz, int *len, struct param *p,
    size_t *n)
{
	*len += snprintf(sql + *len, sz - (size_t)*len, "SELECT "
	    EVENT_COLUMNS " FROM client_audit WHERE seq > ?");
	p[(*n)++] = store_int((long long)after);
	if (j->q->client_id != NULL) {
		*len += snprintf(sql + *len, sz - (size_t)*len,
		    " AND client_id = ?");
		p[(*n)++] = store_str(j->q->client_id);
	}
	if (j->q->within != NULL) {
		*len += snprintf(sql + *len, sz - (size_t)*len,
		    " AND agency_id = ?");
		p[(*n)++] = store_str(j->q->within);
	}
	if (action != NULL) {
		*len += snprintf(sql + *len, sz - (size_t)*len,
		    " AND action = ?");
		p[(*n)++] = store_str(action);
	} else if (j->q->client_id == NULL && j->q->within == NULL)
		/* A fence (store_tx.c) is no event: pages stay full. */
		*len += snprintf(sql + *len, sz - (size_t)*len,
		    " AND action <> '" STORE_FENCE_ACTION "'");
	*len += snprintf(sql + *len, sz - (size_t)*len, " ORDER BY seq LIMIT ?");
	p[(*n)++] = store_int((long long)j->q->limit + 1);
}

/*
 * The statement of q's shape into sql, and its parameters into p
 * (EVENT_PARAMS slots); how many.  A type of two actions (client.deleted)
 * is two ranges of ix_audit_action merged: "action IN (...)" would read
 * every such row after the cursor and sort them.
 */
static size_t
events_sql(const struct events_job *j, unsigned long long after, char *sql,
    size_t sz, struct param *p)
{
	size_t	n = 0, i;
	int	len = 0;

	if (j->nactions < 2) {
		events_select(j, after, j->nactions ? j->actions[0] : NULL, sql,
		    sz, &len, p, &n);
		return n;
	}
	len += snprintf(sql, sz, "SELECT * FROM (");
	for (i = 0; i < j->nactions; i++) {
		len += snprintf(sql + len, sz - (size_t)len, "%s(",
		    i ? " UNION ALL " : "");
		events_select(j, after, j->actions[i], sql, sz, &len, p, &n);
		len += snprintf(sql + len, sz - (size_t)len, ")");
	}
	snprintf(sql + len, sz - (size_t)len, ") e ORDER BY seq LIMIT ?");
	p[n++] = store_int((long long)j->q->limit + 1);
	return n;
}

/*
 * What a cursor is bound to: the feed, its filters as sent and the
 * caller's binding, so one opens only for the page it continues.
 */
static size_t
events_scope(const struct cm_event_query *q, char *buf, size_t sz)
{
	int	n;

	n = snprintf(buf, sz, "events\x1f%c%s\x1f%c%s\x1f%c%s",
	    q->type ? '=' : '-', q->type ? q->type : "",
	    q->client_id ? '=' : '-', q->client_id ? q->client_id : "",
	    q->within ? '=' : '-', q->within ? q->within : "");
	return n < 0 ? 0 : (size_t)n >= sz ? sz - 1 : (size_t)n;
}

/* The fetched row as an event; NULL when it is not one (or not JSON). */
json_t *
store_event_of_row(struct cm_store *s)
{
	struct cm_event_row	 r;
	json_t			*changes, *e;

	if ((changes = json_loadb(s->col[5], s->col_len[5], 0, NULL)) == NULL)
		return NULL;
	r.seq = strtoull(s->col[0], NULL, 10);
	r.action = s->col[1];
	r.admin_key_id = s->col_null[2] ? -1 : strtoll(s->col[2], NULL, 10);
	r.request_id = s->col[3];
	r.created_at = store_timestamp(s->col[4]);
	r.changes = changes;
	r.client_id = s->col[6];
	e = cm_event_from_row(&r);
	json_decref(changes);
	return e;
}

static enum tx_rc
events_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct events_job	*j = arg;
	struct param		 p[EVENT_PARAMS];
	char			 scope[800], sql[1000];
	size_t			 scopelen = events_scope(j->q, scope,
				     sizeof(scope)), np;
	unsigned long long	 after = 0;
	/* Every action is an event's; a row that is not is skipped. */
	struct store_page	 pg = { EVENT_NCOLS, store_event_of_row, true,
				     scope, scopelen };

	json_array_clear(j->out->items);
	j->out->next[0] = '\0';
	if (store_cursor_key(s) != TX_OK)
		return TX_DB_ERROR;
	if (j->q->after != NULL &&
	    !store_open_seq(s, scope, scopelen, j->q->after, &after)) {
		*status = CM_DB_INVALID;
		return TX_STOP;
	}
	np = events_sql(j, after, sql, sizeof(sql), p);
	return store_read_page(s, store_exec(s, sql, p, np), &pg, j->q->limit,
	    j->out);
}

enum cm_db_status
store_events(struct cm_store *s, const struct cm_event_query *q,
    struct cm_page *out)
{
	struct events_job	j = { q, { NULL }, 0, out };

	if (q->type != NULL && (j.nactions = cm_event_actions(q->type,
	    j.actions)) == 0)
		return CM_DB_INVALID;	/* the caller checks the type first */
	return store_read_paged(s, events_once, &j, false, out);
}
