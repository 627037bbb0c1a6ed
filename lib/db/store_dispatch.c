/*
 * store_dispatch.c - what the webhook dispatcher keeps in the database
 * (db.h, db/017_webhook_deliveries.sql): its lease, each endpoint's
 * progress through the history, and one delivery row per event and
 * endpoint; and the operator's view of them (clientsctl webhook).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "mem.h"
#include "store_int.h"
#include "webhook.h"

/*
 * Taken when free or expired, renewed by its holder; the assignments run
 * left to right, so expires_at moves only when holder is (now) ours.
 */
static const char lease_sql[] = "INSERT INTO webhook_lease (name, holder, "
	"expires_at) VALUES ('dispatcher', ?, NOW(3) + INTERVAL ? SECOND) "
	"ON DUPLICATE KEY UPDATE holder = IF(holder = VALUES(holder) OR "
	"expires_at < NOW(3), VALUES(holder), holder), expires_at = "
	"IF(holder = VALUES(holder), VALUES(expires_at), expires_at)";
static const char lease_holder_sql[] = "SELECT holder FROM webhook_lease "
	"WHERE name = 'dispatcher'";
/* A write of a delivery's outcome counts only while the lease is ours. */
#define LEASE_HELD	"EXISTS (SELECT 1 FROM webhook_lease WHERE name = " \
			"'dispatcher' AND holder = ? AND expires_at > NOW(3))"

static const char targets_sql[] = "SELECT id, url, event_types, agency_id, "
	"enabled, secret, IF(previous_secret_until > NOW(3), previous_secret, "
	"NULL), after_seq FROM webhook_endpoints ORDER BY id";
static const char progress_sql[] = "SELECT scanned_seq FROM webhook_progress "
	"WHERE endpoint_id = ?";
/* The end of this round's window: at most batch rows of history. */
static const char window_sql[] = "SELECT MAX(seq) FROM (SELECT seq FROM "
	"client_audit WHERE seq > ? ORDER BY seq LIMIT ?) w";
static const char enqueue_sql[] = "INSERT IGNORE INTO webhook_deliveries "
	"(endpoint_id, event_seq, client_id, queued_at, next_attempt_at) "
	"SELECT ?, seq, client_id, NOW(3), NOW(3) FROM client_audit "
	"WHERE seq > ? AND seq <= ? AND (? IS NULL OR agency_id = ?) AND "
	"FIND_IN_SET(action, ?) > 0";
/* Rows old enough that none before them can still commit. */
static const char settled_sql[] = "SELECT MAX(seq) FROM client_audit "
	"WHERE seq > ? AND seq <= ? AND at < NOW(3) - INTERVAL ? SECOND";
static const char progress_set_sql[] = "INSERT INTO webhook_progress "
	"(endpoint_id, scanned_seq) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
	"scanned_seq = GREATEST(scanned_seq, VALUES(scanned_seq))";
/* The oldest pending event of a client goes first, whatever is due. */
static const char next_sql[] = "SELECT a.seq, a.action, a.admin_key_id, "
	"a.request_id, a.at, a.changes, a.client_id, d.attempts "
	"FROM webhook_deliveries d JOIN client_audit a ON a.seq = d.event_seq "
	"WHERE d.endpoint_id = ? AND d.state = 'pending' AND "
	"d.next_attempt_at <= NOW(3) AND NOT EXISTS (SELECT 1 FROM "
	"webhook_deliveries o WHERE o.endpoint_id = d.endpoint_id AND "
	"o.client_id = d.client_id AND o.state = 'pending' AND "
	"o.event_seq < d.event_seq) ORDER BY d.event_seq LIMIT 1";
static const char record_sql[] = "UPDATE webhook_deliveries SET "
	"attempts = attempts + 1, last_status = ?, last_error = ?, "
	"state = IF(?, 'delivered', IF(queued_at < NOW(3) - INTERVAL ? SECOND, "
	"'failed', 'pending')), "
	"next_attempt_at = IF(state = 'pending', NOW(3) + INTERVAL (? * 1000) "
	"MICROSECOND, next_attempt_at), "
	"done_at = IF(state = 'pending', NULL, NOW(3)) "
	"WHERE endpoint_id = ? AND event_seq = ? AND state = 'pending' AND "
	LEASE_HELD;

/* ---- the lease ---------------------------------------------------------- */

struct lease_job {
	const char	*holder;
	int		 lease_s;
	bool		 held;
};

static enum tx_rc
lease_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct lease_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;

	(void)status;
	p[0] = store_str(j->holder);
	p[1] = store_int(j->lease_s);
	if (store_exec(s, lease_sql, p, 2) == NULL ||
	    (st = store_exec(s, lease_holder_sql, NULL, 0)) == NULL ||
	    store_fetch_one(s, st, 1) != ROW_FOUND)
		return TX_DB_ERROR;
	j->held = strcmp(s->col[0], j->holder) == 0;
	return TX_OK;
}

enum cm_db_status
store_wh_lease(struct cm_store *s, const char *holder, int lease_s,
    bool *held)
{
	struct lease_job	j = { holder, lease_s, false };
	enum cm_db_status	rc = store_transaction(s, lease_tx, &j);

	*held = rc == CM_DB_OK && j.held;
	return rc;
}

/* ---- endpoints and their queues ----------------------------------------- */

struct targets_job {
	struct cm_wh_target	*t;
	size_t			 n, cap;
};

static void
target_of_row(struct cm_store *s, struct cm_wh_target *t)
{
	memset(t, 0, sizeof(*t));
	t->id = strtoull(s->col[0], NULL, 10);
	snprintf(t->url, sizeof(t->url), "%s", s->col[1]);
	snprintf(t->types, sizeof(t->types), "%s", s->col[2]);
	if (!s->col_null[3])
		snprintf(t->agency_id, sizeof(t->agency_id), "%s", s->col[3]);
	t->enabled = strcmp(s->col[4], "0") != 0;
	snprintf(t->secret, sizeof(t->secret), "%s", s->col[5]);
	if (!s->col_null[6])
		snprintf(t->previous, sizeof(t->previous), "%s", s->col[6]);
	t->after_seq = strtoull(s->col[7], NULL, 10);
}

static enum tx_rc
targets_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct targets_job	*j = arg;
	MYSQL_STMT		*st;
	enum row_rc		 rc;

	(void)status;
	j->n = 0;
	if ((st = store_exec(s, targets_sql, NULL, 0)) == NULL ||
	    store_bind_row(s, st, 8) != ROW_FOUND)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, 8)) == ROW_FOUND) {
		if (j->n == j->cap) {
			j->cap = j->cap ? j->cap * 2 : 8;
			j->t = cm_realloc(j->t, j->cap * sizeof(*j->t));
		}
		target_of_row(s, &j->t[j->n++]);
	}
	store_free_result(s, st);
	return rc == ROW_ERROR ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_wh_targets(struct cm_store *s, struct cm_wh_target **out, size_t *n)
{
	struct targets_job	j = { NULL, 0, 0 };
	enum cm_db_status	rc = store_read(s, targets_once, &j);

	if (rc != CM_DB_OK) {
		free(j.t);
		j.t = NULL;
		j.n = 0;
	}
	*out = j.t;
	*n = j.n;
	return rc;
}

/* The history actions of the endpoint's types, comma-separated. */
static void
actions_of(const char *types, char *buf, size_t sz)
{
	const char	*a[CM_EVENT_TYPES_MAX];
	size_t		 k, i, m, n = 0;

	buf[0] = '\0';
	for (k = 0; k < CM_EVENT_TYPE_COUNT; k++) {
		if (!cm_webhook_types_have(types, cm_event_type_at(k)))
			continue;
		m = cm_event_actions(cm_event_type_at(k), a);
		for (i = 0; i < m; i++)
			n += (size_t)snprintf(buf + n, n < sz ? sz - n : 0,
			    "%s%s", n ? "," : "", a[i]);
	}
}

/* One unsigned number from a one-column statement; dflt when NULL. */
static enum tx_rc
one_number(struct cm_store *s, const char *sql, const struct param *p,
    size_t np, unsigned long long dflt, unsigned long long *out)
{
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	if ((st = store_exec(s, sql, p, np)) == NULL ||
	    (rc = store_fetch_one(s, st, 1)) == ROW_ERROR)
		return TX_DB_ERROR;
	*out = rc == ROW_FOUND && !s->col_null[0] ?
	    strtoull(s->col[0], NULL, 10) : dflt;
	return TX_OK;
}

struct enqueue_job {
	const struct cm_wh_target	*t;
	int				 settle_s;
	unsigned			 batch;
	bool				 rescan;
	unsigned			 queued;
	unsigned long long		 queued_to;	/* out */
};

/* Queues t's events among the history rows (lo, hi]. */
static enum tx_rc
enqueue_range(struct cm_store *s, const struct cm_wh_target *t,
    unsigned long long lo, unsigned long long hi, unsigned *queued)
{
	struct param	 p[6];
	MYSQL_STMT	*st;
	char		 actions[128];
	const char	*agency;

	agency = t->agency_id[0] != '\0' ? t->agency_id : NULL;
	actions_of(t->types, actions, sizeof(actions));
	p[0] = store_int((long long)t->id);
	p[1] = store_int((long long)lo);
	p[2] = store_int((long long)hi);
	p[3] = p[4] = store_str(agency);
	p[5] = store_str(actions);
	if ((st = store_exec(s, enqueue_sql, p, 6)) == NULL)
		return TX_DB_ERROR;
	*queued += (unsigned)mysql_stmt_affected_rows(st);
	return TX_OK;
}

/*
 * The rows between the progress (from) and to read again, then the
 * progress moved past those older than settle_s: no row before them can
 * still appear.
 */
static enum tx_rc
enqueue_settle(struct cm_store *s, struct enqueue_job *j,
    unsigned long long from, unsigned long long to)
{
	struct param		p[3];
	unsigned long long	settled;

	if (enqueue_range(s, j->t, from, to, &j->queued) != TX_OK)
		return TX_DB_ERROR;
	p[0] = store_int((long long)from);
	p[1] = store_int((long long)to);
	p[2] = store_int(j->settle_s);
	if (one_number(s, settled_sql, p, 3, from, &settled) != TX_OK)
		return TX_DB_ERROR;
	if (settled == from)
		return TX_OK;
	p[0] = store_int((long long)j->t->id);
	p[1] = store_int((long long)settled);
	return store_exec(s, progress_set_sql, p, 2) == NULL ? TX_DB_ERROR :
	    TX_OK;
}

/*
 * The window of new rows starts where the last round stopped, not at the
 * progress: a burst of more than a batch younger than settle_s would
 * otherwise fill every round's window with rows already queued, and
 * nothing newer would be queued until they settled.
 */
static enum tx_rc
enqueue_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct enqueue_job		*j = arg;
	const struct cm_wh_target	*t = j->t;
	struct param			 p[2];
	unsigned long long		 from, head, hi;

	(void)status;
	j->queued = 0;
	p[0] = store_int((long long)t->id);
	if (one_number(s, progress_sql, p, 1, t->after_seq, &from) != TX_OK)
		return TX_DB_ERROR;
	if (from < t->after_seq)
		from = t->after_seq;
	head = t->queued_to > from ? t->queued_to : from;
	p[0] = store_int((long long)head);
	p[1] = store_int(j->batch);
	if (one_number(s, window_sql, p, 2, head, &hi) != TX_OK)
		return TX_DB_ERROR;
	if (hi > head && enqueue_range(s, t, head, hi, &j->queued) != TX_OK)
		return TX_DB_ERROR;
	j->queued_to = hi;
	if (j->rescan && hi > from)
		return enqueue_settle(s, j, from, hi);
	return TX_OK;
}

enum cm_db_status
store_wh_enqueue(struct cm_store *s, struct cm_wh_target *t, int settle_s,
    unsigned batch, bool rescan, unsigned *queued)
{
	struct enqueue_job	j = { t, settle_s, batch, rescan, 0, 0 };
	enum cm_db_status	rc = store_transaction(s, enqueue_tx, &j);

	if (rc == CM_DB_OK)
		t->queued_to = j.queued_to;
	*queued = rc == CM_DB_OK ? j.queued : 0;
	return rc;
}

/* ---- one delivery --------------------------------------------------------- */

struct next_job {
	unsigned long long	 endpoint_id;
	struct cm_wh_delivery	*out;
	bool			 found;
};

static enum tx_rc
next_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct next_job	*j = arg;
	struct param	 p = store_int((long long)j->endpoint_id);
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	(void)status;
	json_decref(j->out->event);
	j->out->event = NULL;
	if ((st = store_exec(s, next_sql, &p, 1)) == NULL ||
	    (rc = store_fetch_one(s, st, 8)) == ROW_ERROR)
		return TX_DB_ERROR;
	if ((j->found = rc == ROW_FOUND)) {
		j->out->endpoint_id = j->endpoint_id;
		j->out->seq = strtoull(s->col[0], NULL, 10);
		j->out->attempts = (unsigned)strtoul(s->col[7], NULL, 10);
		if ((j->out->event = store_event_of_row(s)) == NULL)
			return TX_DB_ERROR;
	}
	return TX_OK;
}

enum cm_db_status
store_wh_next(struct cm_store *s, unsigned long long endpoint_id,
    struct cm_wh_delivery *out, bool *found)
{
	struct next_job		j = { endpoint_id, out, false };
	enum cm_db_status	rc;

	out->event = NULL;
	rc = store_read(s, next_once, &j);
	*found = rc == CM_DB_OK && j.found;
	if (!*found) {
		json_decref(out->event);
		out->event = NULL;
	}
	return rc;
}

struct record_job {
	const char			*holder, *error;
	const struct cm_wh_delivery	*d;
	bool				 delivered;
	int				 status, retry_period_s;
	long long			 retry_ms;
};

static enum tx_rc
record_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct record_job	*j = arg;
	struct param		 p[8];

	(void)status;
	p[0] = j->status > 0 ? store_int(j->status) : store_str(NULL);
	p[1] = store_str(j->error);
	p[2] = store_int(j->delivered);
	p[3] = store_int(j->retry_period_s);
	p[4] = store_int(j->retry_ms);
	p[5] = store_int((long long)j->d->endpoint_id);
	p[6] = store_int((long long)j->d->seq);
	p[7] = store_str(j->holder);
	return store_exec(s, record_sql, p, 8) == NULL ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_wh_record(struct cm_store *s, const char *holder,
    const struct cm_wh_delivery *d, bool delivered, int status,
    const char *error, long long retry_ms, int retry_period_s)
{
	struct record_job	j = { holder, error, d, delivered, status,
				    retry_period_s, retry_ms };

	return store_transaction(s, record_tx, &j);
}

/* ---- housekeeping and the operator's view ----------------------------------- */

static enum tx_rc
tidy_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	static const char *const sql[] = {
		"DELETE FROM webhook_deliveries WHERE endpoint_id NOT IN "
		"(SELECT id FROM webhook_endpoints)",
		"DELETE FROM webhook_progress WHERE endpoint_id NOT IN "
		"(SELECT id FROM webhook_endpoints)",
		"DELETE FROM webhook_deliveries WHERE state = 'delivered' AND "
		"done_at < NOW(3) - INTERVAL ? SECOND LIMIT 1000",
	};
	struct param	p = store_int(*(int *)arg);
	size_t		i;

	(void)status;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (store_exec(s, sql[i], &p, i == 2) == NULL)
			return TX_DB_ERROR;
	return TX_OK;
}

enum cm_db_status
store_wh_tidy(struct cm_store *s, int keep_s)
{
	return store_transaction(s, tidy_tx, &keep_s);
}

static const char list_sql[] = "SELECT e.id, e.enabled, "
	"COALESCE(e.agency_id, '-'), e.event_types, "
	"COUNT(IF(d.state = 'pending', 1, NULL)), "
	"COALESCE(TIMESTAMPDIFF(SECOND, MIN(IF(d.state = 'pending', "
	"d.queued_at, NULL)), NOW(3)), '-'), "
	"COUNT(IF(d.state = 'failed', 1, NULL)), COALESCE(SUM(d.attempts), 0), "
	"COALESCE(MAX(d.done_at), '-'), e.url FROM webhook_endpoints e "
	"LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id "
	"GROUP BY e.id ORDER BY e.id";
#define LIST_COLS	10

static enum tx_rc
list_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	FILE		*fp = arg;
	MYSQL_STMT	*st;
	char		 id[CM_WEBHOOK_ID_MAX];
	enum row_rc	 rc;

	(void)status;
	if ((st = store_exec(s, list_sql, NULL, 0)) == NULL ||
	    store_bind_row(s, st, LIST_COLS) != ROW_FOUND)
		return TX_DB_ERROR;
	fprintf(fp, "ID\tENABLED\tAGENCY_ID\tEVENT_TYPES\tBACKLOG\tOLDEST_S\t"
	    "FAILED\tATTEMPTS\tLAST_DONE_AT\tURL\n");
	while ((rc = store_next_row(s, st, LIST_COLS)) == ROW_FOUND) {
		cm_webhook_id(strtoull(s->col[0], NULL, 10), id, sizeof(id));
		fprintf(fp, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id,
		    strcmp(s->col[1], "0") ? "yes" : "no", s->col[2],
		    s->col[3], s->col[4], s->col[5], s->col[6], s->col[7],
		    s->col[8], s->col[9]);
	}
	store_free_result(s, st);
	return rc == ROW_ERROR ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_wh_list(struct cm_store *s, void *fp)
{
	return store_read(s, list_once, fp);
}

struct replay_job {
	const char		*since;
	unsigned long long	 endpoint_id, rows;
};

static enum tx_rc
replay_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	static const char	 sql[] = "UPDATE webhook_deliveries d JOIN "
		"client_audit a ON a.seq = d.event_seq SET d.state = 'pending', "
		"d.attempts = 0, d.queued_at = NOW(3), "
		"d.next_attempt_at = NOW(3), d.done_at = NULL "
		"WHERE d.state = 'failed' AND a.at >= ? AND "
		"(? = 0 OR d.endpoint_id = ?)";
	struct replay_job	*j = arg;
	struct param		 p[3];
	MYSQL_STMT		*st;

	(void)status;
	p[0] = store_str(j->since);
	p[1] = p[2] = store_int((long long)j->endpoint_id);
	if ((st = store_exec(s, sql, p, 3)) == NULL)
		return TX_DB_ERROR;
	j->rows = mysql_stmt_affected_rows(st);
	return TX_OK;
}

enum cm_db_status
store_wh_replay(struct cm_store *s, const char *since,
    unsigned long long endpoint_id, unsigned long long *rows)
{
	struct replay_job	j = { since, endpoint_id, 0 };
	enum cm_db_status	rc = store_transaction(s, replay_tx, &j);

	*rows = rc == CM_DB_OK ? j.rows : 0;
	return rc;
}

static const char status_sql[] = "SELECT e.id, e.enabled, "
	"COUNT(IF(d.state = 'pending', 1, NULL)), "
	"TIMESTAMPDIFF(SECOND, MIN(IF(d.state = 'pending', d.queued_at, NULL)), "
	"NOW(3)), COALESCE(SUM(d.attempts), 0), "
	"COUNT(IF(d.state = 'failed', 1, NULL)) FROM webhook_endpoints e "
	"LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id "
	"WHERE ? IS NULL OR e.agency_id = ? GROUP BY e.id ORDER BY e.id";

struct status_job {
	const char	*within;
	json_t		*out;
};

static enum tx_rc
status_once(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct status_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;
	char			 id[CM_WEBHOOK_ID_MAX];
	enum row_rc		 rc;

	(void)status;
	json_array_clear(j->out);
	p[0] = p[1] = store_str(j->within);
	if ((st = store_exec(s, status_sql, p, 2)) == NULL ||
	    store_bind_row(s, st, 6) != ROW_FOUND)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, 6)) == ROW_FOUND) {
		cm_webhook_id(strtoull(s->col[0], NULL, 10), id, sizeof(id));
		json_array_append_new(j->out, json_pack("{s:s, s:b, s:I, s:o, "
		    "s:I, s:I}", "endpoint_id", id,
		    "enabled", strcmp(s->col[1], "0") != 0,
		    "backlog", (json_int_t)strtoll(s->col[2], NULL, 10),
		    "oldest_undelivered_s", s->col_null[3] ? json_null() :
		    json_integer((json_int_t)strtoll(s->col[3], NULL, 10)),
		    "attempts", (json_int_t)strtoll(s->col[4], NULL, 10),
		    "failures", (json_int_t)strtoll(s->col[5], NULL, 10)));
	}
	store_free_result(s, st);
	return rc == ROW_ERROR ? TX_DB_ERROR : TX_OK;
}

enum cm_db_status
store_wh_status(struct cm_store *s, const char *within, json_t **out)
{
	struct status_job	j = { within, json_array() };
	enum cm_db_status	rc = store_read(s, status_once, &j);

	if (rc != CM_DB_OK) {
		json_decref(j.out);
		j.out = NULL;
	}
	*out = j.out;
	return rc;
}
