/*
 * store_conn.c - one connection to the database, the bottom of the data
 * layer (store_int.h): the walk over the nodes (failover, balance), each
 * node's session settings and Galera health, down marks, fail-back and
 * health rechecks between requests, the request's deadline and the watch
 * on every blocking call, errors, and the state of a write session's
 * transaction.
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

#include "dberr.h"
#include "dbwatch.h"
#include "deadline.h"
#include "log.h"
#include "mem.h"
#include "store_int.h"

/* Column buffers start this big and grow to the longest value fetched. */
#define COL_INITIAL	1024

static void	failback(struct cm_store *, long long now);
static void	mark_down(struct cm_store *, int, const char *, bool);

struct cm_store *
store_new(const struct cm_db_config *cfg, bool tx, unsigned long worker)
{
	struct cm_store	*s = cm_calloc(1, sizeof(*s));
	size_t		 i;

	s->cfg = cfg;
	s->tx_session = tx;
	cm_authcache_init(&s->auth, (unsigned)cfg->auth_cache_s,
	    (unsigned)cfg->auth_refused_cache_s);
	s->start = cm_dbnodes_start(cfg->policy, cfg->nodes.n, worker);
	s->cur = s->last = -1;
	for (i = 0; i < MAX_COLS; i++) {
		s->cap[i] = COL_INITIAL;
		s->col[i] = cm_malloc(s->cap[i]);
	}
	return s;
}

void
store_free(struct cm_store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	store_disconnect(s);
	for (i = 0; i < MAX_COLS; i++)
		free(s->col[i]);
	free(s);
}

/* Statements die with their connection: all of them go. */
void
store_disconnect(struct cm_store *s)
{
	struct store_cached	*c;
	size_t			 i;

	for (i = 0; i < STORE_STMT_MAX; i++) {
		c = &s->cache[i];
		if (c->st != NULL)
			mysql_stmt_close(c->st);
		free(c->sql);
		memset(c, 0, sizeof(*c));
	}
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

/*
 * The failed call's error number and message into s->err and s->errmsg.
 * A statement's own error is empty when Connector/C (3.3) read an error
 * packet while fetching a row: it leaves that error on the connection
 * only (a Galera brute-force abort of a read during a schema change
 * reached the log as "database fetch:  (0)" and the client as a 500).
 * With no number anywhere, the connection's state is unknown: it is
 * taken for lost, dropped and the call made again.
 */
static void
fail_reason(struct cm_store *s, MYSQL_STMT *st)
{
	const char	*msg = "";

	s->err = 0;
	if (st != NULL && (s->err = mysql_stmt_errno(st)) != 0)
		msg = mysql_stmt_error(st);
	else if (s->db != NULL && (s->err = mysql_errno(s->db)) != 0)
		msg = mysql_error(s->db);
	if (s->err == 0) {
		s->err = CR_SERVER_LOST;
		msg = "failed without an error number";
	}
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
}

enum tx_rc
store_fail(struct cm_store *s, MYSQL_STMT *st, const char *what)
{
	fail_reason(s, st);
	if (s->cut) {
		/* Whatever Connector/C made of the shut socket: the node is lost. */
		s->err = CR_SERVER_LOST;
		snprintf(s->errmsg, sizeof(s->errmsg), "connection cut (no "
		    "answer in time)");
	}
	/*
	 * On Galera, MariaDB 10.11 answers "Trigger ... has an error in its
	 * body" (a syntax error, 1064) after a brute-force abort hit a
	 * statement while it parsed the table's triggers: the node keeps
	 * that table object, its triggers marked unparseable, in its table
	 * cache, and every statement that gets it fails the same way, for
	 * seconds or (seen in the drills) minutes, until the table leaves the
	 * cache (FLUSH LOCAL TABLES clients on that node: the log says so).
	 * Those triggers are the migrations' own and parse: the node is at fault,
	 * not the transaction.  It is left for failback_s, and the
	 * transaction runs again on another node as after a conflict.  A
	 * single server keeps the error: a trigger that fails there is broken.
	 */
	if (s->cfg->galera && s->err == ER_PARSE_ERROR &&
	    strstr(s->errmsg, "has an error in its body") != NULL) {
		if (s->cur >= 0) {
			mark_down(s, s->cur, "a table's triggers failed to "
			    "load there (after a brute-force abort; FLUSH "
			    "LOCAL TABLES clients there clears it)", false);
			s->leave = true;
		}
		s->err = ER_LOCK_DEADLOCK;
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
	s->call_t0 = cm_clock_us(CLOCK_MONOTONIC);
	cm_dbwatch_enter((int)mysql_get_socket(db));
}

bool
store_call_end(struct cm_store *s)
{
	long long	us = cm_clock_us(CLOCK_MONOTONIC) - s->call_t0;

	s->stats.db_us += us;
	if ((s->cut = cm_dbwatch_leave()))
		LOG_WARN("database node %s: no answer after %lld ms (the "
		    "request's deadline, or statement_timeout %d s): connection "
		    "cut, node taken for stalled",
		    s->cur >= 0 ? s->cfg->nodes.node[s->cur].label :
		    "being connected", us / 1000, s->cfg->statement_timeout);
	return s->cut;
}

int
store_query(struct cm_store *s, const char *sql, unsigned long len)
{
	int	rc;

	store_call_begin(s, s->db);
	rc = mysql_real_query(s->db, sql, len);
	store_call_end(s);
	return rc;
}

/*
 * Why a write session checks every answer.  A Galera node that applies a
 * write set conflicting with a local transaction aborts the local one
 * ("brute force").  When that happens while the session is idle between
 * two statements, the server rolls the transaction back and reports it
 * to the next statement as a deadlock (1213) -- except, as measured on
 * MariaDB 10.11, when that next statement is a SELECT: the SELECT then
 * answers normally (an empty result or none at all), and with autocommit
 * off the statements after it run in a new transaction that COMMIT
 * commits.  A create whose INSERT was aborted that way committed its
 * audit row and its stored answer without the client row.
 *
 * So a write session runs explicit transactions (completion_type = CHAIN:
 * every COMMIT and ROLLBACK starts the next one) and has the server track
 * their state (session_track_transaction_info = STATE, reported in the
 * answers that carry no result set).  A transaction the session began
 * reports 'T'; one opened implicitly by a statement after a silent
 * rollback reports 'I', and a session with no transaction at all clears
 * SERVER_STATUS_IN_TRANS.  Either fails the statement as a conflict: the
 * transaction is rolled back whole and run again.
 */
bool
store_tx_intact(struct cm_store *s)
{
	const char	*state;
	size_t		 len;

	if (mysql_session_track_get_first(s->db, SESSION_TRACK_TRANSACTION_STATE,
	    &state, &len) == 0 && len > 0)
		s->tx_state = state[0];
	s->tx_unverified = false;
	if ((s->db->server_status & SERVER_STATUS_IN_TRANS) &&
	    s->tx_state == 'T')
		return true;
	s->err = ER_LOCK_DEADLOCK;
	snprintf(s->errmsg, sizeof(s->errmsg), "the server rolled the "
	    "transaction back without saying so (a Galera brute-force abort)");
	LOG_WARN("database: %s; running it again", s->errmsg);
	return false;
}

void
store_tx_restart(struct cm_store *s)
{
	const char	*state;
	size_t		 len;

	s->tx_wrote = s->tx_unverified = false;
	if (s->tx_session && s->db != NULL &&
	    mysql_session_track_get_first(s->db,
	    SESSION_TRACK_TRANSACTION_STATE, &state, &len) == 0 && len > 0)
		s->tx_state = state[0];
}

void
store_stats_take(struct cm_store *s, struct cm_db_stats *add)
{
	add->db_us += s->stats.db_us;
	add->statements += s->stats.statements;
	add->retries += s->stats.retries;
	memset(&s->stats, 0, sizeof(s->stats));
}

/* CLOCK_MONOTONIC milliseconds: the clock of down marks and fail-back. */
static long long
store_mono_ms(void)
{
	return cm_clock_us(CLOCK_MONOTONIC) / 1000;
}

/*
 * Node i is not to be used for failback_s seconds (unless all are down).
 * A node that stalled (gave no answer in the time given: its connections
 * stay open, so every try costs that time) is kept out for longer, twice
 * as long for each stall in a row up to 16 times: a worker that went back
 * to it every failback_s would spend most of its time waiting on it.
 */
static void
mark_down(struct cm_store *s, int i, const char *why, bool stalled)
{
	long long	now = store_mono_ms(), period;

	period = s->cfg->failback_s * 1000LL;
	if (stalled) {
		if (s->stalls[i] < 4)
			s->stalls[i]++;
		period <<= s->stalls[i];
		s->stalled_at[i] = now;
	}
	s->down_until[i] = now + period;
	snprintf(s->down_why[i], sizeof(s->down_why[i]), "%s", why);
}

void
store_learn_stalls(struct cm_store *s, const struct cm_store *from)
{
	size_t	i;

	for (i = 0; i < s->cfg->nodes.n; i++) {
		if (from->stalled_at[i] <= s->stalled_at[i])
			continue;
		s->stalled_at[i] = from->stalled_at[i];
		s->stalls[i] = from->stalls[i];
		if (from->down_until[i] > s->down_until[i]) {
			s->down_until[i] = from->down_until[i];
			memcpy(s->down_why[i], from->down_why[i],
			    sizeof(s->down_why[i]));
		}
		if (s->db != NULL && s->cur == (int)i &&
		    s->adopted_ms <= from->stalled_at[i]) {
			LOG_DEBUG("database node %s: leaving it (stalled on "
			    "the worker's other session)",
			    s->cfg->nodes.node[i].label);
			store_disconnect(s);
		}
	}
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
		mark_down(s, s->cur, why, s->cut);
	}
	store_disconnect(s);
}

/*
 * The connection's node failed the last statement, not its transaction
 * (store_fail marked it down): drop the connection, so that the
 * transaction runs again on another node.
 */
void
store_leave_if_down(struct cm_store *s)
{
	if (s->leave && s->db != NULL)
		store_disconnect(s);
}

/*
 * A call failed with an error of class cls and is to be tried again: the
 * connection is dropped where it or its node is at fault (a LOST one,
 * the node marked down when the error says so; a CONFLICT for which
 * store_fail marked the node down), so the next try connects anew, on
 * another node if need be.  Other classes keep it.
 */
void
store_drop_failed(struct cm_store *s, enum cm_dberr cls)
{
	if (cls == CM_DBERR_LOST && s->db != NULL)
		store_lost(s);
	else if (cls == CM_DBERR_CONFLICT)
		store_leave_if_down(s);
}

void
store_set_deadline(struct cm_store *s, const struct timespec *deadline)
{
	s->has_deadline = deadline != NULL;
	if (deadline != NULL)
		s->deadline = *deadline;
}

long
store_budget_ms(const struct cm_store *s)
{
	struct timespec	now;

	if (!s->has_deadline)
		return CM_BUDGET_NONE;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return cm_budget_ms(&s->deadline, &now) +
	    (s->settling ? s->cfg->settle_ms : 0);
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
 * A write session: explicit transactions, each COMMIT and ROLLBACK
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
node_options(const struct cm_db_config *c, const struct cm_dbnode *nd, MYSQL *db,
    unsigned timeout)
{
	unsigned	rw_timeout = 30;
	unsigned	proto = nd->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
	store_flag	on = 1, verify = c->tls == CM_TLS_VERIFY;

	/* Else Connector/C takes host "localhost" for its default socket. */
	mysql_options(db, MYSQL_OPT_PROTOCOL, &proto);
	mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (c->tls == CM_TLS_OFF)
		return;
	/* required: encrypted or no connection; verify: and the certificate checked. */
	mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &on);
	mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	if (c->tls_ca[0] != '\0')
		mysql_options(db, MYSQL_OPT_SSL_CA, c->tls_ca);
	if (c->tls_cert[0] != '\0') {
		mysql_options(db, MYSQL_OPT_SSL_CERT, c->tls_cert);
		mysql_options(db, MYSQL_OPT_SSL_KEY, c->tls_key);
	}
}

/*
 * The Galera health of the node behind db (one query): CM_NODE_* , or -1
 * when the query failed (why says how).
 */
static int
node_health(struct cm_store *s, MYSQL *db, char *why, size_t whysz)
{
	const struct cm_db_config *c = s->cfg;
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
	    has_state ? state : NULL, c->allow_donor);
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
	const struct cm_db_config *c = s->cfg;
	char			 session[sizeof(session_sql) + sizeof(session_tx) + 16];
	int			 n;

	/* Our own integer, not input. */
	n = snprintf(session, sizeof(session), session_sql,
	    c->lock_wait_timeout, s->tx_session ? session_tx : "");
	store_call_begin(s, db);
	if (mysql_real_query(db, session, (unsigned long)n) != 0 ||
	    mysql_real_query(db, isolation_sql, sizeof(isolation_sql) - 1) != 0 ||
	    (c->causal_reads &&
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

/* The schema check of a new connection (store_schema_check); 0 or -1. */
static int
node_schema(struct cm_store *s, MYSQL *db, char *why, size_t whysz)
{
	int	rc;

	store_call_begin(s, db);
	rc = store_schema_check(db, s->schema, sizeof(s->schema), why, whysz);
	store_call_end(s);
	if (rc != 0 && mysql_errno(db) == 0) {
		s->schema_bad = true;
		snprintf(s->schema_why, sizeof(s->schema_why), "%s", why);
	}
	return rc;
}

/* node_open() without the stall verdict. */
static MYSQL *
node_try(struct cm_store *s, int i, unsigned timeout, char *why,
    size_t whysz)
{
	const struct cm_db_config *c = s->cfg;
	const struct cm_dbnode	*nd = &s->cfg->nodes.node[i];
	MYSQL			*db;

	if ((db = mysql_init(NULL)) == NULL) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	node_options(c, nd, db, timeout);
	if (mysql_real_connect(db, nd->socket ? NULL : nd->host, c->user,
	    c->password, c->name, nd->port, nd->socket ? nd->host : NULL,
	    CLIENT_MULTI_STATEMENTS) == NULL) {
		db_why(db, why, whysz);
		mysql_close(db);
		return NULL;
	}
	/* Health first: a node not yet prepared refuses most else (1047). */
	if ((c->galera && node_health(s, db, why, whysz) != CM_NODE_OK) ||
	    node_session(s, db, why, whysz) != 0) {
		mysql_close(db);
		return NULL;
	}
	/* A schema this build cannot serve: no request is tried on it. */
	if (c->check_schema && node_schema(s, db, why, whysz) != 0) {
		mysql_close(db);
		return NULL;
	}
	return db;
}

/*
 * A new connection to node i, healthy (galera) and with its session set,
 * or NULL with the reason in why and *stalled saying whether the node
 * gave no answer in the time given.  The caller owns what it returns.
 */
static MYSQL *
node_open(struct cm_store *s, int i, unsigned timeout, char *why,
    size_t whysz, bool *stalled)
{
	long long	t0 = store_mono_ms();
	MYSQL		*db;

	s->cut = false;
	if ((db = node_try(s, i, timeout, why, whysz)) == NULL)
		*stalled = s->cut ||
		    store_mono_ms() - t0 >= timeout * 1000LL - 100;
	return db;
}

/*
 * A connect takes what is left of the deadline, at most connect_timeout,
 * at least a second (the callers decide whether a retry may start).
 */
static unsigned
connect_timeout(const struct cm_store *s)
{
	unsigned	timeout = (unsigned)s->cfg->connect_timeout;
	long		budget = store_budget_ms(s);

	if (budget / 1000 < (long)timeout)
		timeout = budget < 1000 ? 1 : (unsigned)(budget / 1000);
	return timeout;
}

/* Makes db the store's connection to node i, and says why it moved. */
static void
adopt(struct cm_store *s, MYSQL *db, int i, int failed)
{
	const char	*to = s->cfg->nodes.node[i].label;

	if (failed >= 0)
		LOG_WARN("database node %s down: %s; using %s",
		    s->cfg->nodes.node[failed].label, s->down_why[failed], to);
	else if (s->last >= 0 && s->last != i &&
	    s->down_until[s->last] > store_mono_ms())
		LOG_WARN("database node %s down: %s; using %s",
		    s->cfg->nodes.node[s->last].label, s->down_why[s->last], to);
	else if (s->last >= 0 && s->last != i)
		LOG_INFO("database: back to node %s (from %s)", to,
		    s->cfg->nodes.node[s->last].label);
	s->db = db;
	s->cur = s->last = i;
	s->adopted_ms = store_mono_ms();
	s->leave = false;
	s->stalls[i] = 0;
	s->lock_wait = s->cfg->lock_wait_timeout;
	s->tx_state = 'T';	/* node_session began one */
	s->health_next = store_mono_ms() + s->cfg->failback_s * 1000LL;
	s->tx_wrote = s->tx_unverified = false;
	if ((size_t)i != s->start)
		s->failback_next = store_mono_ms() +
		    s->cfg->failback_s * 1000LL;
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
	bool		 late = false, stalled = false;

	if (s->db != NULL)
		return 0;
	while ((i = cm_dbnodes_pick(s->cfg->nodes.n, s->start, s->down_until,
	    store_mono_ms(), tried)) >= 0) {
		if (store_budget_ms(s) <= 0) {
			late = true;
			break;
		}
		tried |= UINT32_C(1) << i;
		if ((db = node_open(s, i, connect_timeout(s), why,
		    sizeof(why), &stalled)) != NULL) {
			adopt(s, db, i, failed);
			return 0;
		}
		if (failed >= 0 && !say_now(s, failed))
			LOG_DEBUG("database node %s down: %s",
			    s->cfg->nodes.node[failed].label, s->down_why[failed]);
		else if (failed >= 0)
			LOG_WARN("database node %s down: %s",
			    s->cfg->nodes.node[failed].label, s->down_why[failed]);
		mark_down(s, i, why, stalled);
		failed = i;
	}
	s->err = CR_CONN_HOST_ERROR;
	if (failed >= 0 && !say_now(s, failed))
		LOG_DEBUG("database node %s down: %s%s",
		    s->cfg->nodes.node[failed].label, s->down_why[failed],
		    late ? "; no time left to try the others" :
		    s->cfg->nodes.n > 1 ? "; no database node left" : "");
	else if (failed >= 0)
		LOG_ERR("database node %s down: %s%s",
		    s->cfg->nodes.node[failed].label, s->down_why[failed],
		    late ? "; no time left to try the others" :
		    s->cfg->nodes.n > 1 ? "; no database node left" : "");
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

	if (!s->cfg->galera || now < s->health_next)
		return true;
	s->health_next = now + s->cfg->failback_s * 1000LL;
	if (node_health(s, s->db, why, sizeof(why)) == CM_NODE_OK)
		return true;
	LOG_WARN("database node %s: %s; leaving it", s->cfg->nodes.node[s->cur].label,
	    why);
	mark_down(s, s->cur, why, s->cut);
	store_disconnect(s);
	return false;
}

/*
 * Between requests: the health recheck, then fail-back.  Both talk to
 * nodes that may have stalled: the watch bounds them by connect_timeout.
 */
void
store_between_requests(struct cm_store *s)
{
	struct timespec	limit;
	long long	now = store_mono_ms();

	if (s->db == NULL || s->cur < 0 || (!(s->cfg->galera &&
	    now >= s->health_next) && ((size_t)s->cur == s->start ||
	    !cm_dbnodes_failback_due(s->failback_next, now))))
		return;
	clock_gettime(CLOCK_MONOTONIC, &limit);
	limit.tv_sec += s->cfg->connect_timeout;
	cm_dbwatch_start(&limit, s->cfg->connect_timeout * 1000L);
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
	bool		 stalled = false;

	if ((size_t)from == s->start ||
	    !cm_dbnodes_failback_due(s->failback_next, now))
		return;
	s->failback_next = now + s->cfg->failback_s * 1000LL;
	if ((to = cm_dbnodes_failback_target(s->cfg->nodes.n, s->start,
	    (size_t)from, s->down_until, now)) < 0)
		return;
	if ((db = node_open(s, to, (unsigned)s->cfg->connect_timeout, why,
	    sizeof(why), &stalled)) == NULL) {
		LOG_DEBUG("database node %s still down: %s",
		    s->cfg->nodes.node[to].label, why);
		mark_down(s, to, why, stalled);
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
enum cm_db_status
store_ping(struct cm_store *s)
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
	} else if (s->db != NULL && s->cfg->galera &&
	    node_health(s, s->db, why, sizeof(why)) != CM_NODE_OK) {
		mark_down(s, s->cur, why, s->cut);
		store_disconnect(s);
	}
	if (s->db == NULL && store_connect(s) != 0)
		return CM_DB_UNAVAILABLE;
	return CM_DB_OK;
}
