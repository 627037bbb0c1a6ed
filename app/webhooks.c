/*
 * webhooks.c - clientsd-webhooks, the webhook dispatcher: the only part
 * of clientsd that connects out.  See clientsd-webhooks(8).
 *
 *	clientsd-webhooks [-c config] | -t [-c config] | -V | -h
 *
 * One process, one loop.  Each round it takes or renews its lease in the
 * database (only its holder delivers: a second dispatcher waits), queues
 * the new events of every endpoint, and starts, per enabled endpoint with
 * nothing in flight, that endpoint's next due delivery; the transfers run
 * side by side (libcurl's multi interface), so one slow receiver delays
 * only its own deliveries.  An outcome is written as it comes; one never
 * written (the process killed mid-delivery) leaves the delivery pending,
 * so it is made again: at least once.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netdb.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mysql.h>

#include "cm_paths.h"
#include "config.h"
#include "db.h"
#include "dbconf.h"
#include "dbwatch.h"
#include "deadline.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "random.h"
#include "sandbox.h"
#include "webhook.h"

/* A receiver's answer is read this far, and never logged. */
#define BODY_CAP		4096
/* Delivered rows are kept this long for `clientsctl webhook list`. */
#define KEEP_DELIVERED_S	(7 * 86400)
/* History rows looked at per endpoint and round, at most. */
#define ENQUEUE_BATCH		1000
/* Housekeeping, at most this often. */
#define TIDY_EVERY_US		(60LL * 1000000)

static volatile sig_atomic_t	stopping;

/* One transfer in flight: a delivery to its endpoint. */
struct flight {
	struct cm_wh_delivery	 d;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;
	size_t			 got;		/* bytes of the answer read */
	bool			 allow_private;
	bool			 refused;	/* the address check said no */
	long long		 t0_us;
};

struct dispatcher {
	const struct cm_config	*cfg;
	struct cm_db		*db;
	CURLM			*multi;
	char			 holder[128];
	bool			 held;
	/* The lease's state last logged: -1 none, 0 waiting, 1 held, 2 no database. */
	int			 lease_state;
	struct cm_wh_target	*targets;
	size_t			 ntargets;
	/* In flight, by endpoint id (at most one each). */
	struct flight		**flights;
	size_t			 nflights;
	long long		 tidied_us;
	long long		 rescanned_us;
};

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * A bound on each piece of database work, as on a worker's request: the
 * data layer works to the deadline, and the watch cuts a call to a node
 * that stalls (a Galera node leaving the cluster keeps its connections
 * open), so the dispatcher never hangs on one.
 */
static void
db_begin(struct dispatcher *p)
{
	struct timespec	deadline, limit;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	cm_timespec_add_ms(&deadline, p->cfg->request_timeout * 1000L);
	cm_db_begin_request(p->db, &deadline);
	limit = deadline;
	cm_timespec_add_ms(&limit, -CM_DEADLINE_MARGIN_MS);
	cm_dbwatch_start(&limit, p->cfg->db_statement_timeout * 1000L);
}

static void
db_end(struct dispatcher *p)
{
	cm_dbwatch_stop();
	cm_db_end_request(p->db);
}

/* ---- one transfer ------------------------------------------------------- */

/* The answer is counted and dropped: it may be anything, of any size. */
static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct flight	*f = arg;

	(void)data;
	f->got += size * n;
	return f->got > BODY_CAP ? 0 : size * n;
}

/*
 * Every connection's address is checked as it is opened, after name
 * resolution: a name that resolves to a private address is refused as
 * the address itself would be, and a DNS answer that changes between a
 * check and the connect cannot slip past.
 */
static curl_socket_t
on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct flight	*f = arg;

	(void)purpose;
	if (!cm_webhook_addr_allowed(&a->addr, f->allow_private)) {
		f->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void
flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	if (f->easy != NULL)
		curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->body);
	json_decref(f->d.event);
	free(f);
}

/* The request's headers: the event's id and the signature(s). */
static bool
flight_headers(struct flight *f, const struct cm_wh_target *t)
{
	char	line[400], sig[300];
	const char *id = json_string_value(json_object_get(f->d.event, "id"));

	if (cm_webhook_signature_header(t->secret, t->previous[0] ?
	    t->previous : NULL, (long long)time(NULL), f->body,
	    strlen(f->body), sig, sizeof(sig)) != 0)
		return false;
	snprintf(line, sizeof(line), "Clients-Signature: %s", sig);
	f->headers = curl_slist_append(f->headers, line);
	snprintf(line, sizeof(line), "Clients-Event-Id: %s", id ? id : "");
	f->headers = curl_slist_append(f->headers, line);
	f->headers = curl_slist_append(f->headers,
	    "Content-Type: application/json");
	/* No "100-continue" round trip: the body is small. */
	f->headers = curl_slist_append(f->headers, "Expect:");
	return f->headers != NULL;
}

/*
 * An easy handle for one delivery: POST the body, the protocols allowed
 * (https; http only by config), no redirect followed, bounded in time.
 */
static bool
flight_setup(struct dispatcher *p, struct flight *f,
    const struct cm_wh_target *t)
{
	const struct cm_config	*c = p->cfg;
	CURL			*e;

	if ((e = f->easy = curl_easy_init()) == NULL ||
	    !flight_headers(f, t))
		return false;
	f->allow_private = c->webhook_allow_private;
	return curl_easy_setopt(e, CURLOPT_URL, t->url) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR,
	    c->webhook_allow_http ? "http,https" : "https") == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT,
	    (long)c->webhook_connect_timeout) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->webhook_timeout) ==
	    CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "clientsd-webhooks/"
	    PACKAGE_VERSION) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, f) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open) ==
	    CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f) == CURLE_OK &&
	    curl_easy_setopt(e, CURLOPT_PRIVATE, f) == CURLE_OK;
}

/* The in-flight slot of endpoint id (grown as endpoints appear). */
static struct flight **
slot(struct dispatcher *p, unsigned long long id)
{
	size_t	i;

	for (i = 0; i < p->ntargets; i++)
		if (p->targets[i].id == id)
			return &p->flights[i];
	return NULL;
}

/* Starts the endpoint's next due delivery, if any. */
static void
start_next(struct dispatcher *p, size_t i)
{
	const struct cm_wh_target	*t = &p->targets[i];
	struct flight			*f;
	bool				 found;

	db_begin(p);
	f = cm_calloc(1, sizeof(*f));
	if (cm_db_wh_next(p->db, t->id, &f->d, &found) != CM_DB_OK || !found) {
		db_end(p);
		flight_free(f);
		return;
	}
	db_end(p);
	f->body = cm_json_compact(f->d.event);
	if (f->body == NULL || !flight_setup(p, f, t) ||
	    curl_multi_add_handle(p->multi, f->easy) != CURLM_OK) {
		LOG_ERR("webhooks: endpoint we_%llu: cannot start a delivery",
		    t->id);
		flight_free(f);
		return;
	}
	f->t0_us = cm_clock_us(CLOCK_MONOTONIC);
	p->flights[i] = f;
}

/* ---- an outcome ----------------------------------------------------------- */

/* What an attempt came to: delivered, or why not (no secret, no body). */
static bool
outcome(struct flight *f, CURLcode res, long *status, const char **why)
{
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, status);
	*why = NULL;
	/* A 2xx acknowledges, even if its body was cut at the cap. */
	if (*status >= 200 && *status <= 299)
		return true;
	if (f->refused)
		*why = "destination address not allowed";
	else if (res == CURLE_OPERATION_TIMEDOUT)
		*why = "timed out";
	else if (res == CURLE_UNSUPPORTED_PROTOCOL)
		*why = "protocol not allowed";
	else if (res != CURLE_OK && *status == 0)
		*why = curl_easy_strerror(res);
	else
		*why = "not a 2xx answer";
	return false;
}

static void
finish(struct dispatcher *p, struct flight *f, CURLcode res)
{
	const struct cm_config	*c = p->cfg;
	const char		*why;
	long			 status = 0;
	long long		 wait_ms = 0;
	bool			 ok = outcome(f, res, &status, &why);
	uint32_t		 r = 0;
	enum cm_db_status	 rc;

	if (!ok) {
		(void)cm_random_bytes(&r, sizeof(r));
		wait_ms = cm_webhook_backoff_ms(f->d.attempts + 1,
		    c->webhook_retry_min_ms,
		    (long long)c->webhook_retry_max_s * 1000, r);
	}
	db_begin(p);
	rc = cm_db_wh_record(p->db, p->holder, &f->d, ok, (int)status, why,
	    wait_ms, c->webhook_retry_period);
	db_end(p);
	LOG_INFO("delivery event=evt_%llu endpoint=we_%llu attempt=%u "
	    "status=%ld us=%lld result=%s%s%s%s", f->d.seq, f->d.endpoint_id,
	    f->d.attempts + 1, status, cm_clock_us(CLOCK_MONOTONIC) - f->t0_us,
	    ok ? "delivered" : "retry", why ? " error=\"" : "", why ? why : "",
	    why ? "\"" : "");
	if (rc != CM_DB_OK)
		LOG_WARN("webhooks: the outcome of evt_%llu to we_%llu was not "
		    "recorded: it will be delivered again", f->d.seq,
		    f->d.endpoint_id);
}

/*
 * Every transfer that ended since the last look; its endpoint's next
 * delivery starts at once, not a round later, while the lease is ours.
 */
static void
collect(struct dispatcher *p)
{
	struct flight	*f, **s;
	CURLMsg		*m;
	int		 left;

	while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		curl_multi_remove_handle(p->multi, m->easy_handle);
		finish(p, f, m->data.result);
		if ((s = slot(p, f->d.endpoint_id)) != NULL && *s == f) {
			*s = NULL;
			if (p->held && !stopping &&
			    p->targets[s - p->flights].enabled)
				start_next(p, (size_t)(s - p->flights));
		}
		flight_free(f);
	}
}

/* ---- a round ---------------------------------------------------------------- */

/* The endpoints' secrets are scrubbed before their memory is given back. */
static void
forget_targets(struct cm_wh_target *t, size_t n)
{
	if (t != NULL)
		explicit_bzero(t, n * sizeof(*t));
	free(t);
}

/*
 * The endpoints as the database has them now; a transfer to one that
 * went away is abandoned (its rows went with it).
 */
static void
reload_targets(struct dispatcher *p)
{
	struct cm_wh_target	*t;
	struct flight		**fl;
	size_t			 n, i, k;

	db_begin(p);
	if (cm_db_wh_targets(p->db, &t, &n) != CM_DB_OK) {
		db_end(p);
		return;
	}
	db_end(p);
	fl = cm_calloc(n ? n : 1, sizeof(*fl));
	for (k = 0; k < p->ntargets; k++) {
		for (i = 0; i < n && t[i].id != p->targets[k].id; i++)
			;
		if (i < n) {
			fl[i] = p->flights[k];
			t[i].queued_to = p->targets[k].queued_to;
		} else if (p->flights[k] != NULL) {
			curl_multi_remove_handle(p->multi, p->flights[k]->easy);
			flight_free(p->flights[k]);
		}
	}
	forget_targets(p->targets, p->ntargets);
	free(p->flights);
	p->targets = t;
	p->ntargets = n;
	p->flights = fl;
}

/* One line per change of the lease's state, not one per round. */
static void
lease_log(struct dispatcher *p, int state)
{
	static const char *const says[] = {
		"waiting for the lease (another dispatcher holds it)",
		"holding the lease",
		"no database for the lease: not delivering until one answers"
	};

	if (state == p->lease_state)
		return;
	p->lease_state = state;
	if (state == 2)
		LOG_WARN("webhooks: %s", says[state]);
	else
		LOG_INFO("webhooks: %s", says[state]);
}

/*
 * How often the rows not yet settled are read again (for those that
 * appeared late) and the progress moved: a quarter of settle_s, so that
 * a burst costs a round one pass over new rows, not over the whole
 * unsettled history.
 */
static long long
rescan_every_us(const struct cm_config *cfg)
{
	long long	us = (long long)cfg->webhook_settle_s * 1000000 / 4;
	long long	poll = (long long)cfg->webhook_poll_ms * 1000;

	return us > poll ? us : poll;
}

static void
round_once(struct dispatcher *p)
{
	enum cm_db_status	rc;
	bool			held, rescan;
	unsigned		queued;
	size_t			i;
	long long		now;

	db_begin(p);
	rc = cm_db_wh_lease(p->db, p->holder, p->cfg->webhook_lease_s, &held);
	db_end(p);
	lease_log(p, rc != CM_DB_OK ? 2 : held);
	p->held = rc == CM_DB_OK && held;
	if (!p->held)
		return;
	reload_targets(p);
	now = cm_clock_us(CLOCK_MONOTONIC);
	if ((rescan = now - p->rescanned_us >= rescan_every_us(p->cfg)))
		p->rescanned_us = now;
	for (i = 0; i < p->ntargets; i++) {
		db_begin(p);
		if ((rc = cm_db_wh_enqueue(p->db, &p->targets[i],
		    p->cfg->webhook_settle_s, ENQUEUE_BATCH, rescan,
		    &queued)) != CM_DB_OK)
			LOG_WARN("webhooks: endpoint we_%llu: new events not "
			    "queued this round (%d)", p->targets[i].id, (int)rc);
		db_end(p);
	}
	for (i = 0; i < p->ntargets; i++)
		if (p->targets[i].enabled && p->flights[i] == NULL)
			start_next(p, i);
	if (cm_clock_us(CLOCK_MONOTONIC) - p->tidied_us > TIDY_EVERY_US) {
		db_begin(p);
		(void)cm_db_wh_tidy(p->db, KEEP_DELIVERED_S);
		db_end(p);
		p->tidied_us = cm_clock_us(CLOCK_MONOTONIC);
	}
}

/* Runs transfers for about poll_ms, collecting what ends. */
static void
pump(struct dispatcher *p)
{
	long long	end = cm_clock_us(CLOCK_MONOTONIC) +
			    (long long)p->cfg->webhook_poll_ms * 1000;
	int		running, ms;

	do {
		curl_multi_perform(p->multi, &running);
		collect(p);
		ms = (int)((end - cm_clock_us(CLOCK_MONOTONIC)) / 1000);
		if (ms > 0)
			curl_multi_poll(p->multi, NULL, 0, ms, NULL);
	} while (!stopping && cm_clock_us(CLOCK_MONOTONIC) < end);
}

/* host:pid:random, so two dispatchers never take each other's lease. */
static void
make_holder(char *buf, size_t sz)
{
	char		host[64] = "";
	unsigned char	r[6];
	char		hex[13];

	gethostname(host, sizeof(host) - 1);
	if (cm_random_bytes(r, sizeof(r)) != 0)
		memset(r, 0, sizeof(r));
	cm_hex_encode(r, sizeof(r), hex);
	snprintf(buf, sz, "%.60s:%ld:%s", host, (long)getpid(), hex);
}

/*
 * The worker's sandbox (sandbox.h) for plan, the database's part of it
 * (dbconf_sandbox_plan), with what delivering adds: libcurl's
 * resolver threads, DNS, TCP to any port (the receivers'; the address
 * rule is checked at connect), OpenSSL's CA files.  Entered before the
 * first round, once the process has read its configuration, opened its
 * log and connected to the database (as a worker does: what the client
 * library loads at its first connection is loaded outside); reconnects
 * and the receivers' connections are made inside.
 */
static int
enter_sandbox(const struct cm_config *cfg, struct cm_sandbox_plan *plan)
{
	struct addrinfo		hints, *res = NULL;
	char			err[256];

	plan->threads = plan->any_port = plan->dns = plan->tls = true;
	/*
	 * One lookup first: the name service reads its configuration and
	 * loads what it loads once, while the process may still map code.
	 */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "443", &hints, &res) == 0)
		freeaddrinfo(res);
	if (cm_sandbox_enter(cfg->sandbox, plan, err, sizeof(err)) != 0) {
		LOG_ERR("webhooks: sandbox: %s", err);
		return -1;
	}
	return 0;
}

static int
run(const struct cm_config *cfg)
{
	struct cm_db_config	dbcfg;
	struct cm_sandbox_plan	plan;
	struct dispatcher	p;
	size_t			i;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.lease_state = -1;
	cm_dbwatch_install();
	dbconf_of(cfg, &dbcfg);
	dbconf_sandbox_plan(cfg, &dbcfg, true, &plan);
	p.db = cm_db_open(&dbcfg, (unsigned long)getpid());
	explicit_bzero(&dbcfg, sizeof(dbcfg));
	if ((p.multi = curl_multi_init()) == NULL) {
		LOG_ERR("webhooks: libcurl: cannot start");
		return 1;
	}
	/* Connected before the sandbox; a database down now is retried inside. */
	db_begin(&p);
	(void)cm_db_ping(p.db);
	db_end(&p);
	if (enter_sandbox(cfg, &plan) != 0)
		return 1;
	make_holder(p.holder, sizeof(p.holder));
	LOG_INFO("webhooks: started as %s", p.holder);
	while (!stopping) {
		round_once(&p);
		pump(&p);
	}
	/* Transfers cut short stay pending: the next holder makes them. */
	for (i = 0; i < p.ntargets; i++)
		if (p.flights[i] != NULL) {
			curl_multi_remove_handle(p.multi, p.flights[i]->easy);
			flight_free(p.flights[i]);
		}
	forget_targets(p.targets, p.ntargets);
	free(p.flights);
	curl_multi_cleanup(p.multi);
	cm_db_close(p.db);
	LOG_INFO("webhooks: stopped");
	return 0;
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: clientsd-webhooks "
	    "[-c config] | -t [-c config] | -V | -h\n");
	exit(status);
}

int
main(int argc, char *argv[])
{
	struct cm_config	 cfg;
	struct sigaction	 sa;
	const char		*path = CM_WEBHOOKS_CONFIG_PATH;
	char			 err[512];
	bool			 test = false;
	int			 ch, rc;

	cm_mem_init();
	while ((ch = getopt(argc, argv, "c:thV")) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 't')
			test = true;
		else if (ch == 'V') {
			printf("clientsd-webhooks %s\n", PACKAGE_VERSION);
			return 0;
		} else
			usage(ch == 'h' ? 0 : 2);
	}
	if (optind != argc)
		usage(2);
	cm_config_defaults(&cfg);
	if (cm_config_load(&cfg, path, err, sizeof(err)) != 0 ||
	    cm_log_open(cfg.log_target, cfg.log_level, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsd-webhooks: %s\n", err);
		return 1;
	}
	if (test) {
		printf("clientsd-webhooks: %s is valid\n", path);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "clientsd-webhooks: libcurl: cannot start\n");
		return 1;
	}
	rc = run(&cfg);
	explicit_bzero(&cfg, sizeof(cfg));
	curl_global_cleanup();
	mysql_library_end();
	return rc;
}
