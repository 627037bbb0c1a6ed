/*
 * status.c - GET /api/v1/status (the pool, from the scoreboard, like
 * PHP-FPM's pm.status_path) and GET /api/v1/ping (no key, no database).
 * Both are for operators and load balancers (doc/admin-guide.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "listen.h"
#include "mem.h"
#include "scoreboard.h"

#define OPENMETRICS_CT	"application/openmetrics-text; version=1.0.0; charset=utf-8"

struct totals {
	int	total, busy, idle;
	int	queue;		/* -1: unknown */
};

static const char *const state_name[] = {
	[SB_FREE] = "free", [SB_STARTING] = "starting", [SB_IDLE] = "idle",
	[SB_BUSY] = "busy"
};

static void
iso_time(time_t t, char *out, size_t outsz)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "1970-01-01T00:00:00Z");
}

static json_t *
int_or_null(int v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* An entry's request members made null (where the entry was made). */
static json_t *
without_request(json_t *w)
{
	static const char *const members[] = { "request_id", "method", "path" };
	size_t			  i;

	for (i = 0; w != NULL && i < sizeof(members) / sizeof(members[0]); i++)
		json_object_set_new(w, members[i], json_null());
	return w;
}

/*
 * hide_requests: for a key bound to an agency, which sees the workers but
 * not what they serve (a path names a client, maybe another agency's).
 */
static json_t *
workers_json(const struct scoreboard *sb, bool hide_requests)
{
	struct sb_slot	 s;
	json_t		*a = json_array(), *w;
	char		 started[32];
	long long	 dur;
	int		 i;

	/*
	 * Any worker can write any slot: what is shown is range-checked
	 * (a state out of the table is not shown; the strings were cut by
	 * sb_read, and one that is not UTF-8 makes json_pack fail, which
	 * drops that worker's entry).
	 */
	for (i = 0; i < SB_SLOTS; i++) {
		if (sb->slot[i].state == SB_FREE || sb_read(sb, i, &s) != 0 ||
		    s.state <= SB_FREE || s.state > SB_BUSY)
			continue;
		iso_time(s.started, started, sizeof(started));
		dur = s.state == SB_BUSY ? sb_now_us() - s.req_start_us :
		    s.duration_us;
		w = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I}",
		    "pid", (json_int_t)s.pid,
		    "state", s.stopping ? "stopping" : state_name[s.state],
		    "started", started,
		    "requests", (json_int_t)s.requests,
		    "request_id", s.request_id,
		    "method", s.method,
		    "path", s.path,
		    "duration_us", (json_int_t)dur,
		    "cpu_ms", (json_int_t)s.cpu_ms);
		json_array_append_new(a, hide_requests ? without_request(w) : w);
	}
	return a;
}

static unsigned long long
get(const unsigned long long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * schema: the newest migration this worker's connection found, or NULL
 * before it has connected (the status page sends no query).
 */
static json_t *
status_json(const struct scoreboard *sb, const struct totals *t, bool full,
    bool hide_requests, const char *schema)
{
	char	 start[32];
	json_t	*d;

	iso_time(sb->start_time, start, sizeof(start));
	/* Shared memory: never read past the arrays, ended or not. */
	d = json_pack("{s:s%, s:s%, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:I, "
	    "s:I, s:I, s:I, s:o, s:o}",
	    "pool", sb->pool, strnlen(sb->pool, sizeof(sb->pool)),
	    "process_manager", sb->pm, strnlen(sb->pm, sizeof(sb->pm)),
	    "start_time", start,
	    "uptime_s", (json_int_t)(time(NULL) - sb->start_time),
	    "master_pid", (json_int_t)sb->master_pid,
	    "accepted", (json_int_t)get(&sb->accepted),
	    "active_workers", t->busy,
	    "idle_workers", t->idle,
	    "total_workers", t->total,
	    "max_active_workers", (json_int_t)get(&sb->max_active),
	    "max_workers_reached", (json_int_t)get(&sb->max_workers_reached),
	    "slow_requests", (json_int_t)get(&sb->slow_requests),
	    "respawns", (json_int_t)get(&sb->respawns),
	    "listen_queue", int_or_null(t->queue),
	    "max_listen_queue", int_or_null(t->queue < 0 ? -1 :
	    (sb->max_listen_queue > t->queue ? sb->max_listen_queue :
	    t->queue)));
	json_object_set_new(d, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(d, "schema", schema != NULL && schema[0] != '\0' ?
	    json_string(schema) : json_null());
	if (full)
		json_object_set_new(d, "workers", workers_json(sb, hide_requests));
	return d;
}

/* Appends to a malloc'ed string (out of memory: cm_oom()). */
static void
add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			n = 0;	/* a format of ours: cannot fail */
		if ((size_t)n < *cap - *len)
			break;
		*cap = *cap * 2 + (size_t)n;
		*buf = cm_realloc(*buf, *cap);
	}
	*len += (size_t)n;
}

static void
metric(char **b, size_t *l, size_t *c, const char *name, const char *type,
    const char *help, long long v)
{
	add(b, l, c, "# TYPE clientsd_%s %s\n# HELP clientsd_%s %s\n"
	    "clientsd_%s%s %lld\n", name, type, name, help, name,
	    strcmp(type, "counter") == 0 ? "_total" : "", v);
}

/* The same counters as OpenMetrics text (names prefixed clientsd_). */
static char *
status_openmetrics(const struct scoreboard *sb, const struct totals *t,
    const char *schema)
{
	size_t	 len = 0, cap = 4096;
	char	*b = cm_malloc(cap);

	b[0] = '\0';
	add(&b, &len, &cap, "# TYPE clientsd_pool info\n"
	    "# HELP clientsd_pool The pool and its process manager.\n"
	    "clientsd_pool_info{pool=\"%.*s\",process_manager=\"%.*s\"} 1\n",
	    (int)strnlen(sb->pool, sizeof(sb->pool)), sb->pool,
	    (int)strnlen(sb->pm, sizeof(sb->pm)), sb->pm);
	add(&b, &len, &cap, "# TYPE clientsd_build info\n"
	    "# HELP clientsd_build The release and the database schema it "
	    "found.\n"
	    "clientsd_build_info{version=\"%s\",schema=\"%s\"} 1\n",
	    PACKAGE_VERSION, schema != NULL ? schema : "");
	metric(&b, &len, &cap, "start_time_seconds", "gauge",
	    "When the master started, in seconds since the epoch.",
	    (long long)sb->start_time);
	metric(&b, &len, &cap, "uptime_seconds", "gauge",
	    "Seconds since the master started.",
	    (long long)(time(NULL) - sb->start_time));
	metric(&b, &len, &cap, "master_pid", "gauge",
	    "Process id of the master.", (long long)sb->master_pid);
	metric(&b, &len, &cap, "accepted", "counter",
	    "Requests accepted by the pool.", (long long)get(&sb->accepted));
	metric(&b, &len, &cap, "active_workers", "gauge",
	    "Workers serving a request.", t->busy);
	metric(&b, &len, &cap, "idle_workers", "gauge",
	    "Workers waiting for a request.", t->idle);
	metric(&b, &len, &cap, "total_workers", "gauge",
	    "Worker processes.", t->total);
	metric(&b, &len, &cap, "max_active_workers", "gauge",
	    "Most workers busy at once since the start.",
	    (long long)get(&sb->max_active));
	metric(&b, &len, &cap, "max_workers_reached", "counter",
	    "Times every allowed worker was busy.",
	    (long long)get(&sb->max_workers_reached));
	metric(&b, &len, &cap, "slow_requests", "counter",
	    "Requests slower than slowlog_ms.",
	    (long long)get(&sb->slow_requests));
	metric(&b, &len, &cap, "respawns", "counter",
	    "Workers started again after one exited unasked.",
	    (long long)get(&sb->respawns));
	if (t->queue >= 0) {
		metric(&b, &len, &cap, "listen_queue", "gauge",
		    "Connections waiting in the accept queue.", t->queue);
		metric(&b, &len, &cap, "max_listen_queue", "gauge",
		    "Most connections seen waiting in the accept queue.",
		    sb->max_listen_queue > t->queue ? sb->max_listen_queue :
		    t->queue);
	}
	add(&b, &len, &cap, "# EOF\n");
	return b;
}

/* One endpoint's figures as OpenMetrics samples of the family name. */
static void
webhook_samples(char **b, size_t *l, size_t *c, const json_t *figures,
    const char *name, const char *type, const char *help, const char *member)
{
	const json_t	*e, *v;
	size_t		 i;

	add(b, l, c, "# TYPE clientsd_webhook_%s %s\n# HELP clientsd_webhook_%s "
	    "%s\n", name, type, name, help);
	json_array_foreach(figures, i, e) {
		if (json_is_null(v = json_object_get(e, member)))
			continue;
		add(b, l, c, "clientsd_webhook_%s%s{endpoint=\"%s\"} %lld\n", name,
		    strcmp(type, "counter") == 0 ? "_total" : "",
		    json_string_value(json_object_get(e, "endpoint_id")),
		    (long long)json_integer_value(v));
	}
}

/*
 * The endpoints' figures, before the text's "# EOF" (its last 6 bytes):
 * backlog and oldest undelivered age as gauges, attempts and failures as
 * counters.
 */
static char *
webhooks_openmetrics(char *text, const json_t *figures)
{
	size_t	len = strlen(text) - 6, cap = len + 4096;
	char	*b = cm_realloc(text, cap);

	b[len] = '\0';
	webhook_samples(&b, &len, &cap, figures, "backlog", "gauge",
	    "Deliveries waiting, per endpoint.", "backlog");
	webhook_samples(&b, &len, &cap, figures, "oldest_undelivered_seconds",
	    "gauge", "Age of the oldest waiting delivery, per endpoint.",
	    "oldest_undelivered_s");
	webhook_samples(&b, &len, &cap, figures, "attempts", "counter",
	    "Delivery attempts, per endpoint (of the deliveries kept).",
	    "attempts");
	webhook_samples(&b, &len, &cap, figures, "failures", "counter",
	    "Deliveries given up after the retry period, per endpoint.",
	    "failures");
	add(&b, &len, &cap, "# EOF\n");
	return b;
}

/* A query switch: absent, or one of two words.  -1 for anything else. */
static int
query_word(struct call *c, const char *name, const char *no, const char *yes)
{
	char	v[32];
	int	rc = cm_query_get(c->req.query, name, v, sizeof(v));

	if (rc == 0)
		return 0;
	if (rc == 1 && strcmp(v, no) == 0)
		return 0;
	if (rc == 1 && strcmp(v, yes) == 0)
		return 1;
	return -1;
}

void
ep_status(struct call *c)
{
	struct cm_problems	 probs;
	struct scoreboard	*sb = c->w->sb;
	struct totals		 t;
	json_t			*figures = NULL, *d;
	char			*text;
	int			 full, om, hooks;
	enum cm_db_status	 rc;

	cm_problems_init(&probs);
	if ((full = query_word(c, "full", "false", "true")) < 0)
		cm_problems_add(&probs, "full", "invalid_value",
		    "must be true or false");
	if ((om = query_word(c, "format", "json", "openmetrics")) < 0)
		cm_problems_add(&probs, "format", "invalid_value",
		    "must be json or openmetrics");
	if ((hooks = query_word(c, "webhooks", "false", "true")) < 0)
		cm_problems_add(&probs, "webhooks", "invalid_value",
		    "must be true or false");
	if (probs.n > 0) {
		cm_response_error(&c->res, 400, "Invalid query parameters",
		    &probs);
		return;
	}
	/* Only then does the page read the database. */
	if (hooks && (rc = cm_db_wh_status(c->w->db, call_within(c),
	    &figures)) != CM_DB_OK) {
		call_store_error(c, rc, NULL, NULL);
		return;
	}
	sb_count(sb, &t.total, &t.busy, &t.idle);
	t.queue = listen_queue(c->w->listen_fd);
	if (!om) {
		d = status_json(sb, &t, full, call_within(c) != NULL,
		    cm_db_schema_level(c->w->db));
		if (figures != NULL)
			json_object_set_new(d, "webhooks", figures);
		cm_response_data(&c->res, 200, d);
		return;
	}
	text = status_openmetrics(sb, &t, cm_db_schema_level(c->w->db));
	if (figures != NULL) {
		text = webhooks_openmetrics(text, figures);
		json_decref(figures);
	}
	cm_response_text(&c->res, 200, OPENMETRICS_CT, text);
}

void
ep_ping(struct call *c)
{
	cm_response_data(&c->res, 200, json_pack("{s:b}", "pong", 1));
}
