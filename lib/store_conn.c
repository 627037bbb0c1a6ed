/*
 * store_conn.c - the connection to the database: the walk over the
 * [database] nodes (failover, balance), each node's session settings and
 * Galera health, down marks, fail-back between requests, the request's
 * deadline, and /health's check.
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

static void	failback(struct cm_store *, long long now);

/* CLOCK_MONOTONIC milliseconds: the clock of down marks and fail-back. */
static long long
store_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * The node list from [database] hosts, or the one socket or host/port.
 * The config checked hosts at load; a list that fails here (a config
 * filled in by code) falls back to the single keys.  The walk of a
 * balancing worker starts at its pid's place in the list.
 */
void
store_nodes_init(struct cm_store *s)
{
	const struct cm_config	*c = s->cfg;
	char			 why[128];

	if (c->db_hosts[0] == '\0' ||
	    cm_dbnodes_parse(c->db_hosts, &s->nodes, why, sizeof(why)) != 0)
		cm_dbnodes_single(c->db_socket, c->db_host, c->db_port,
		    &s->nodes);
	s->start = cm_dbnodes_start(c->db_policy, s->nodes.n,
	    (unsigned long)getpid());
	s->cur = s->last = -1;
}

void
cm_store_set_worker(struct cm_store *s, unsigned long id)
{
	s->start = cm_dbnodes_start(s->cfg->db_policy, s->nodes.n, id);
}

/* Node i is not to be used for failback_s seconds (unless all are down). */
static void
mark_down(struct cm_store *s, int i, const char *why)
{
	s->down_until[i] = store_mono_ms() + s->cfg->db_failback_s * 1000LL;
	snprintf(s->down_why[i], sizeof(s->down_why[i]), "%s", why);
}

/*
 * The connection failed in a way that says its server is gone or not
 * serving (cm_dberr_class() LOST): drop it.  When the error says the node
 * itself is unusable (cm_dberr_node_down) it is marked down, so that the
 * next store_connect() goes to another node.
 */
void
store_lost(struct cm_store *s)
{
	char		why[sizeof(s->down_why[0])];
	unsigned	err = s->err;
	const char	*msg = s->errmsg;

	if (s->db != NULL && mysql_errno(s->db) != 0) {
		err = mysql_errno(s->db);
		msg = mysql_error(s->db);
	}
	if (s->cur >= 0 && cm_dberr_node_down(err)) {
		snprintf(why, sizeof(why), "%s (%u)", msg, err);
		mark_down(s, s->cur, why);
	}
	store_disconnect(s);
}

void
cm_store_set_deadline(struct cm_store *s, const struct timespec *deadline)
{
	s->has_deadline = deadline != NULL;
	if (deadline != NULL)
		s->deadline = *deadline;
	else
		store_failback(s);	/* between requests */
}

long
store_budget_ms(const struct cm_store *s)
{
	struct timespec	now;

	if (!s->has_deadline)
		return CM_BUDGET_NONE;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return cm_budget_ms(&s->deadline, &now) +
	    (s->settling ? CM_DEADLINE_SETTLE_MS : 0);
}

/*
 * Session settings every statement relies on: UTC timestamps, strict
 * modes so nothing is silently truncated, and READ COMMITTED (a write
 * locks its row and reads it locked; gap locks only cost concurrency),
 * set with the standard statement: MySQL 8 removed tx_isolation.  The
 * lock wait starts at [database] lock_wait_timeout, far shorter than
 * InnoDB's 50 s, and is lowered per transaction to fit the deadline
 * (set_lock_wait).
 */
static const char session_sql[] =
	"SET time_zone = '+00:00', "
	"sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
	"ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', "
	"innodb_lock_wait_timeout = %d%s";
static const char isolation_sql[] =
	"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
/*
 * cm_store_new_tx(): explicit transactions, each COMMIT and ROLLBACK
 * starting the next, with their state reported (store_tx_intact()), and
 * autocommit off, so that nothing a statement does after a silent
 * rollback commits on its own.
 */
static const char session_tx[] = ", autocommit = 0, completion_type = 'CHAIN', "
	"session_track_transaction_info = 'STATE'";
static const char begin_sql[] = "START TRANSACTION";
/*
 * causal_reads: a read waits until the node has applied every write the
 * cluster committed before it began (reads see writes made through any
 * node).  Only reads (bit 1): writes are certified anyway.
 */
static const char causal_sql[] = "SET SESSION wsrep_sync_wait = 1";
/* The Galera health rule's two inputs; SHOW works on a node not yet ready. */
static const char health_sql[] = "SHOW GLOBAL STATUS WHERE Variable_name IN "
	"('wsrep_ready', 'wsrep_local_state')";

/* "message (number)" of the last error on db, into why. */
static void
db_why(MYSQL *db, char *why, size_t whysz)
{
	snprintf(why, whysz, "%s (%u)", mysql_error(db), mysql_errno(db));
}

/* Protocol, timeouts, character set and TLS of a connection about to be made. */
static void
node_options(const struct cm_config *c, const struct cm_dbnode *nd, MYSQL *db,
    unsigned timeout)
{
	unsigned	rw_timeout = 30;
	unsigned	proto = nd->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
	store_flag	on = 1, verify = c->db_tls == CM_TLS_VERIFY;

	/* Else Connector/C takes host "localhost" for its default socket. */
	mysql_options(db, MYSQL_OPT_PROTOCOL, &proto);
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (c->db_tls == CM_TLS_OFF)
		return;
	/* required: encrypted or no connection; verify: and the certificate checked. */
	mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &on);
	mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	if (c->db_tls_ca[0] != '\0')
		mysql_options(db, MYSQL_OPT_SSL_CA, c->db_tls_ca);
	if (c->db_tls_cert[0] != '\0') {
		mysql_options(db, MYSQL_OPT_SSL_CERT, c->db_tls_cert);
		mysql_options(db, MYSQL_OPT_SSL_KEY, c->db_tls_key);
	}
}

/*
 * The Galera health of the node behind db (one query): CM_NODE_* , or -1
 * when the query failed (why says how).
 */
static int
node_health(struct cm_store *s, MYSQL *db, char *why, size_t whysz)
{
	const struct cm_config	*c = s->cfg;
	MYSQL_RES		*res;
	MYSQL_ROW		 row;
	char			 ready[16] = "", state[16] = "";
	bool			 has_ready = false, has_state = false;
	int			 h;

	store_call_begin(s, db);
	if (mysql_real_query(db, health_sql, sizeof(health_sql) - 1) != 0 ||
	    (res = mysql_store_result(db)) == NULL) {
		store_call_end(s);
		db_why(db, why, whysz);
		return -1;
	}
	store_call_end(s);
	while ((row = mysql_fetch_row(res)) != NULL) {
		if (row[0] == NULL || row[1] == NULL)
			continue;
		if (strcasecmp(row[0], "wsrep_ready") == 0 && (has_ready = true))
			snprintf(ready, sizeof(ready), "%s", row[1]);
		else if (strcasecmp(row[0], "wsrep_local_state") == 0 &&
		    (has_state = true))
			snprintf(state, sizeof(state), "%s", row[1]);
	}
	mysql_free_result(res);
	h = cm_dbnodes_health(has_ready ? ready : NULL,
	    has_state ? state : NULL, c->db_allow_donor);
	if (h == CM_NODE_NOT_READY || h == CM_NODE_NOT_SYNCED)
		snprintf(why, whysz, "%s (wsrep_ready %s, wsrep_local_state "
		    "%s)", cm_dbnodes_health_str(h), ready,
		    has_state ? state : "-");
	else
		snprintf(why, whysz, "%s", cm_dbnodes_health_str(h));
	return h;
}

/* The session settings of a new connection; 0 or -1 (why says why). */
static int
node_session(struct cm_store *s, MYSQL *db, char *why, size_t whysz)
{
	const struct cm_config	*c = s->cfg;
	char			 session[sizeof(session_sql) + sizeof(session_tx) + 16];
	int			 n;

	/* Our own integer, not input. */
	n = snprintf(session, sizeof(session), session_sql,
	    c->db_lock_wait_timeout, s->tx_session ? session_tx : "");
	store_call_begin(s, db);
	if (mysql_real_query(db, session, (unsigned long)n) != 0 ||
	    mysql_real_query(db, isolation_sql, sizeof(isolation_sql) - 1) != 0 ||
	    (c->db_causal_reads &&
	    mysql_real_query(db, causal_sql, sizeof(causal_sql) - 1) != 0) ||
	    (s->tx_session &&
	    mysql_real_query(db, begin_sql, sizeof(begin_sql) - 1) != 0)) {
		store_call_end(s);
		db_why(db, why, whysz);
		return -1;
	}
	store_call_end(s);
	return 0;
}

/*
 * A new connection to node i, healthy (galera) and with its session set,
 * or NULL with the reason in why.  The caller owns what it returns.
 */
static MYSQL *
node_open(struct cm_store *s, int i, unsigned timeout, char *why,
    size_t whysz)
{
	const struct cm_config	*c = s->cfg;
	const struct cm_dbnode	*nd = &s->nodes.node[i];
	MYSQL			*db;

	if ((db = mysql_init(NULL)) == NULL) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	node_options(c, nd, db, timeout);
	if (mysql_real_connect(db, nd->socket ? NULL : nd->host, c->db_user,
	    c->db_password, c->db_name, nd->port, nd->socket ? nd->host : NULL,
	    CLIENT_MULTI_STATEMENTS) == NULL) {
		db_why(db, why, whysz);
		mysql_close(db);
		return NULL;
	}
	/* Health first: a node not yet prepared refuses most else (1047). */
	if ((c->db_galera && node_health(s, db, why, whysz) != CM_NODE_OK) ||
	    node_session(s, db, why, whysz) != 0) {
		mysql_close(db);
		return NULL;
	}
	return db;
}

/*
 * A connect takes what is left of the deadline, at most connect_timeout,
 * at least a second (the callers decide whether a retry may start).
 */
static unsigned
connect_timeout(const struct cm_store *s)
{
	unsigned	timeout = (unsigned)s->cfg->db_connect_timeout;
	long		budget = store_budget_ms(s);

	if (budget / 1000 < (long)timeout)
		timeout = budget < 1000 ? 1 : (unsigned)(budget / 1000);
	return timeout;
}

/* Makes db the store's connection to node i, and says why it moved. */
static void
adopt(struct cm_store *s, MYSQL *db, int i, int failed)
{
	const char	*to = s->nodes.node[i].label;

	if (failed >= 0)
		LOG_WARN("database node %s down: %s; using %s",
		    s->nodes.node[failed].label, s->down_why[failed], to);
	else if (s->last >= 0 && s->last != i &&
	    s->down_until[s->last] > store_mono_ms())
		LOG_WARN("database node %s down: %s; using %s",
		    s->nodes.node[s->last].label, s->down_why[s->last], to);
	else if (s->last >= 0 && s->last != i)
		LOG_INFO("database: back to node %s (from %s)", to,
		    s->nodes.node[s->last].label);
	s->db = db;
	s->cur = s->last = i;
	s->lock_wait = s->cfg->db_lock_wait_timeout;
	s->tx_state = 'T';	/* node_session began one */
	s->health_next = store_mono_ms() + s->cfg->db_failback_s * 1000LL;
	s->tx_wrote = s->tx_unverified = false;
	if ((size_t)i != s->start)
		s->failback_next = store_mono_ms() +
		    s->cfg->db_failback_s * 1000LL;
}

/*
 * Whether a node's failure goes to the log at its level now: during an
 * outage every request walks the list again, and the lines alternate with
 * the access log's, out of the log module's reach (it sums identical
 * lines in a row).  So each node's reasons are said once per
 * CM_LOG_REPEAT_S per connection, and in between at debug level.
 */
static bool
say_now(struct cm_store *s, int i)
{
	long long	now = store_mono_ms();

	if (s->said_at[i] != 0 && now - s->said_at[i] < CM_LOG_REPEAT_S * 1000LL)
		return false;
	s->said_at[i] = now;
	return true;
}

/*
 * Connects to the first node of the walk (cm_dbnodes_pick) that takes the
 * connection and is healthy; each node that fails is marked down for
 * failback_s seconds and logged with its reason: a warning (an error
 * when no node is left), or debug when that node's was said less than
 * CM_LOG_REPEAT_S ago (say_now).
 * Each attempt needs time left before the deadline (its margin aside).
 */
int
store_connect(struct cm_store *s)
{
	MYSQL		*db;
	uint32_t	 tried = 0;
	char		 why[sizeof(s->down_why[0])];
	int		 i, failed = -1;
	bool		 late = false;

	if (s->db != NULL)
		return 0;
	while ((i = cm_dbnodes_pick(s->nodes.n, s->start, s->down_until,
	    store_mono_ms(), tried)) >= 0) {
		if (store_budget_ms(s) <= 0) {
			late = true;
			break;
		}
		tried |= UINT32_C(1) << i;
		if ((db = node_open(s, i, connect_timeout(s), why,
		    sizeof(why))) != NULL) {
			adopt(s, db, i, failed);
			return 0;
		}
		if (failed >= 0 && !say_now(s, failed))
			LOG_DEBUG("database node %s down: %s",
			    s->nodes.node[failed].label, s->down_why[failed]);
		else if (failed >= 0)
			LOG_WARN("database node %s down: %s",
			    s->nodes.node[failed].label, s->down_why[failed]);
		mark_down(s, i, why);
		failed = i;
	}
	s->err = CR_CONN_HOST_ERROR;
	if (failed >= 0 && !say_now(s, failed))
		LOG_DEBUG("database node %s down: %s%s",
		    s->nodes.node[failed].label, s->down_why[failed],
		    late ? "; no time left to try the others" :
		    s->nodes.n > 1 ? "; no database node left" : "");
	else if (failed >= 0)
		LOG_ERR("database node %s down: %s%s",
		    s->nodes.node[failed].label, s->down_why[failed],
		    late ? "; no time left to try the others" :
		    s->nodes.n > 1 ? "; no database node left" : "");
	return -1;
}

/*
 * With galera: every failback_s seconds, between requests, whether the
 * node this connection is on still passes the health rule.  A node that
 * turned Donor/Desynced (allow_donor = false) or lost wsrep_ready keeps
 * its connections open; they leave it here, not only at their next
 * connect.  False when the connection was dropped.
 */
static bool
recheck_health(struct cm_store *s, long long now)
{
	char	why[sizeof(s->down_why[0])];

	if (!s->cfg->db_galera || now < s->health_next)
		return true;
	s->health_next = now + s->cfg->db_failback_s * 1000LL;
	if (node_health(s, s->db, why, sizeof(why)) == CM_NODE_OK)
		return true;
	LOG_WARN("database node %s: %s; leaving it", s->nodes.node[s->cur].label,
	    why);
	mark_down(s, s->cur, why);
	store_disconnect(s);
	return false;
}

/*
 * Between requests: the health recheck, then fail-back.  Both talk to
 * nodes that may have stalled: the watch bounds them by connect_timeout.
 */
void
store_failback(struct cm_store *s)
{
	struct timespec	limit;
	long long	now = store_mono_ms();

	if (s->db == NULL || s->cur < 0 || (!(s->cfg->db_galera &&
	    now >= s->health_next) && ((size_t)s->cur == s->start ||
	    !cm_dbnodes_failback_due(s->failback_next, now))))
		return;
	clock_gettime(CLOCK_MONOTONIC, &limit);
	limit.tv_sec += s->cfg->db_connect_timeout;
	cm_dbwatch_start(&limit, s->cfg->db_connect_timeout * 1000L);
	if (recheck_health(s, now))
		failback(s, now);
	cm_dbwatch_stop();
}

/*
 * A worker on a node after its preferred one (a node earlier in its walk)
 * probes the best such node not marked down, at most every failback_s
 * seconds, and moves there when it is healthy.  Under balance the
 * preferred node is the worker's own start, so the spread comes back too.
 */
static void
failback(struct cm_store *s, long long now)
{
	MYSQL		*db;
	char		 why[sizeof(s->down_why[0])];
	int		 to, from = s->cur;

	if ((size_t)from == s->start ||
	    !cm_dbnodes_failback_due(s->failback_next, now))
		return;
	s->failback_next = now + s->cfg->db_failback_s * 1000LL;
	if ((to = cm_dbnodes_failback_target(s->nodes.n, s->start,
	    (size_t)from, s->down_until, now)) < 0)
		return;
	if ((db = node_open(s, to, (unsigned)s->cfg->db_connect_timeout, why,
	    sizeof(why))) == NULL) {
		LOG_DEBUG("database node %s still down: %s",
		    s->nodes.node[to].label, why);
		mark_down(s, to, why);
		return;
	}
	store_disconnect(s);
	s->down_until[to] = 0;
	adopt(s, db, to, -1);
}

/*
 * /health: the connection answers and, with galera = true, its node is
 * still Synced (or a Donor, when allowed): mysql_ping() alone succeeds on
 * a node that is not.  A node that fails either is marked down and the
 * walk tries the others: the answer is whether this worker can serve.
 */
int
cm_store_ping(struct cm_store *s)
{
	char	why[sizeof(s->down_why[0])];

	int	rc = 0;

	if (s->db != NULL) {
		store_call_begin(s, s->db);
		rc = mysql_ping(s->db);
		store_call_end(s);
	}
	if (rc != 0) {
		s->err = mysql_errno(s->db);
		store_lost(s);
	} else if (s->db != NULL && s->cfg->db_galera &&
	    node_health(s, s->db, why, sizeof(why)) != CM_NODE_OK) {
		mark_down(s, s->cur, why);
		store_disconnect(s);
	}
	if (s->db == NULL && store_connect(s) != 0)
		return CM_STORE_UNAVAILABLE;
	return CM_STORE_OK;
}
