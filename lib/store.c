/*
 * store.c - the MariaDB data layer: the connection, prepared statements,
 * rows, the transaction runner, and the single reads.
 *
 * Only prepared statements carry data.  START TRANSACTION, COMMIT and the
 * session settings are constant SQL.
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
#include "deadline.h"
#include "log.h"
#include "store_int.h"

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
	/* Issue 8: the version read, so a write on another node is caught. */
	[ST_DELETE] = "DELETE FROM clients WHERE id = ? AND version = ?",
	[ST_AUDIT] = "INSERT INTO client_audit (client_id, action, "
	    "admin_key_id, request_id, at, changes, tx_token) "
	    "VALUES (?, ?, ?, ?, NOW(3), ?, ?)",
	[ST_AUDIT_COUNT] = "SELECT COUNT(*) FROM client_audit "
	    "WHERE client_id = ?",
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

/* Column buffers start this big and grow to the longest value fetched. */
#define COL_INITIAL	1024

struct cm_store *
cm_store_new(const struct cm_config *cfg)
{
	struct cm_store	*s;
	size_t		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		abort();
	s->cfg = cfg;
	cm_authcache_init(&s->auth, (unsigned)cfg->auth_cache_s);
	store_nodes_init(s);
	for (i = 0; i < MAX_COLS; i++) {
		s->cap[i] = COL_INITIAL;
		if ((s->col[i] = malloc(s->cap[i])) == NULL)
			abort();
	}
	return s;
}

struct cm_store *
cm_store_new_tx(const struct cm_config *cfg)
{
	struct cm_store	*s = cm_store_new(cfg);

	s->tx_session = true;
	return s;
}

void
cm_store_free(struct cm_store *s)
{
	size_t	i;

	if (s == NULL)
		return;
	store_disconnect(s);
	for (i = 0; i < MAX_COLS; i++)
		free(s->col[i]);
	free(s);
}

void
store_close(MYSQL_STMT **st)
{
	if (*st != NULL)
		mysql_stmt_close(*st);
	*st = NULL;
}

static void
cache_drop(struct store_cached *c)
{
	store_close(&c->st);
	free(c->sql);
	c->sql = NULL;
}

/* Statements die with their connection: all of them go. */
void
store_disconnect(struct cm_store *s)
{
	size_t	i;

	for (i = 0; i < STORE_STMT_MAX; i++)
		cache_drop(&s->cache[i]);
	if (s->db != NULL)
		mysql_close(s->db);
	s->db = NULL;
	s->cur = -1;
}

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
	return cm_budget_ms(&s->deadline, &now);
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
/* cm_store_new_tx(): a transaction begins with its first statement. */
static const char session_tx[] = ", autocommit = 0";
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
node_health(const struct cm_config *c, MYSQL *db, char *why, size_t whysz)
{
	MYSQL_RES	*res;
	MYSQL_ROW	 row;
	char		 ready[16] = "", state[16] = "";
	bool		 has_ready = false, has_state = false;
	int		 h;

	if (mysql_real_query(db, health_sql, sizeof(health_sql) - 1) != 0 ||
	    (res = mysql_store_result(db)) == NULL) {
		db_why(db, why, whysz);
		return -1;
	}
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
	char			 session[sizeof(session_sql) + 48];
	int			 n;

	/* Our own integer, not input. */
	n = snprintf(session, sizeof(session), session_sql,
	    c->db_lock_wait_timeout, s->tx_session ? session_tx : "");
	if (mysql_real_query(db, session, (unsigned long)n) != 0 ||
	    mysql_real_query(db, isolation_sql, sizeof(isolation_sql) - 1) != 0 ||
	    (c->db_causal_reads &&
	    mysql_real_query(db, causal_sql, sizeof(causal_sql) - 1) != 0)) {
		db_why(db, why, whysz);
		return -1;
	}
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
	if ((c->db_galera && node_health(c, db, why, whysz) != CM_NODE_OK) ||
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
 * The first attempt always runs; the next ones only while the deadline
 * leaves time.
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
		if (tried != 0 && store_budget_ms(s) <= 0) {
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
 * Between requests: a worker on a node after its preferred one (a node
 * earlier in its walk) probes the best such node not marked down, at most
 * every failback_s seconds, and moves there when it is healthy.  Under
 * balance the preferred node is the worker's own start, so the spread
 * comes back too.  XXX a probe of a host that does not answer costs up to
 * connect_timeout between two requests.
 */
void
store_failback(struct cm_store *s)
{
	MYSQL		*db;
	long long	 now = store_mono_ms();
	char		 why[sizeof(s->down_why[0])];
	int		 to, from = s->cur;

	if (s->db == NULL || from < 0 || (size_t)from == s->start ||
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

bool
store_connection_lost(unsigned err)
{
	return cm_dberr_class(err) == CM_DBERR_LOST;
}

int
store_fail(struct cm_store *s, MYSQL_STMT *st, const char *what)
{
	s->err = st ? mysql_stmt_errno(st) : mysql_errno(s->db);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s",
	    st ? mysql_stmt_error(st) : mysql_error(s->db));
	/* Duplicates are answered with 409; nothing to tell the operator. */
	if (s->err != ER_DUP_ENTRY)
		LOG_ERR("database %s: %s (%u)", what,
		    st ? mysql_stmt_error(st) : mysql_error(s->db), s->err);
	return TX_DB_ERROR;
}

MYSQL_STMT *
store_prepare(struct cm_store *s, const char *sql)
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

/* Microseconds on the monotonic clock, for the time spent waiting on MariaDB. */
static long long
store_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int
store_execute(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	MYSQL_BIND	b[24];
	store_flag	is_null[24];
	size_t		i;
	long long	t0;
	int		rc;

	if (n > 24)
		abort();
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
	t0 = store_now_us();
	s->stats.statements++;
	rc = mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0;
	s->stats.db_us += store_now_us() - t0;
	if (rc)
		return store_fail(s, st, "execute");
	return 0;
}

void
cm_store_stats_take(struct cm_store *s, struct cm_store_stats *out)
{
	*out = s->stats;
	memset(&s->stats, 0, sizeof(s->stats));
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
store_stmt_sql(struct cm_store *s, const char *sql)
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
	cache_drop(victim);
	if ((victim->st = store_prepare(s, sql)) == NULL)
		return NULL;
	if ((victim->sql = strdup(sql)) == NULL)
		abort();
	victim->hash = h;
	victim->used = ++s->tick;
	s->prepared++;
	return victim->st;
}

MYSQL_STMT *
store_stmt(struct cm_store *s, enum stmt_id id)
{
	return store_stmt_sql(s, stmt_sql[id]);
}

MYSQL_STMT *
store_exec(struct cm_store *s, enum stmt_id id, const struct param *p,
    size_t n)
{
	MYSQL_STMT	*st;

	if ((st = store_stmt(s, id)) == NULL || store_execute(s, st, p, n) != 0)
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

int
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
	if (mysql_stmt_bind_result(st, b) != 0)
		return store_fail(s, st, "bind_result");
	return 0;
}

/* Grows the buffer of a truncated column and fetches all of it. */
static int
refetch_column(struct cm_store *s, MYSQL_STMT *st, size_t i)
{
	char	*grown;

	if ((grown = realloc(s->col[i], s->col_len[i] + 1)) == NULL)
		abort();
	s->col[i] = grown;
	s->cap[i] = s->col_len[i] + 1;
	s->bind[i].buffer = grown;
	s->bind[i].buffer_length = s->cap[i] - 1;
	if (mysql_stmt_fetch_column(st, &s->bind[i], (unsigned)i, 0) != 0)
		return store_fail(s, st, "fetch_column");
	return 0;
}

int
store_next_row(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	size_t		i;
	int		rc;
	long long	t0 = store_now_us();

	rc = mysql_stmt_fetch(st);
	s->stats.db_us += store_now_us() - t0;
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1)
		return store_fail(s, st, "fetch");
	if (rc == MYSQL_DATA_TRUNCATED) {
		for (i = 0; i < ncols; i++)
			if (s->col_error[i] && refetch_column(s, st, i) != 0)
				return TX_DB_ERROR;
		/* The next rows go into the grown buffers. */
		if (mysql_stmt_bind_result(st, s->bind) != 0)
			return store_fail(s, st, "bind_result");
	}
	for (i = 0; i < ncols; i++)
		s->col[i][s->col_null[i] ? 0 : s->col_len[i]] = '\0';
	return 1;
}

int
store_fetch_one(struct cm_store *s, MYSQL_STMT *st, size_t ncols)
{
	int	rc;

	if ((rc = store_bind_row(s, st, ncols)) == 0)
		rc = store_next_row(s, st, ncols);
	mysql_stmt_free_result(st);
	return rc;
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

int
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
			return TX_DB_ERROR;
		}
		json_object_set_new(c, cm_field_name(f), v);
	}
	store_set_etag(out, strtoull(s->col[COL_VERSION], NULL, 10),
	    s->col[CM_F_CREATED_AT]);
	out->client = c;
	return 1;
}

int
store_load_client(struct cm_store *s, enum stmt_id which, const char *id,
    struct cm_stored *out)
{
	struct param	 p = store_str(id);
	MYSQL_STMT	*st;
	int		 rc;

	if ((st = store_exec(s, which, &p, 1)) == NULL)
		return TX_DB_ERROR;
	rc = store_fetch_one(s, st, which == ST_GET_LOCKED ? NCOLS + 1 : NCOLS);
	if (rc != 1)
		return rc;
	return store_row_to_client(s, out);
}

/*
 * Sets innodb_lock_wait_timeout for the transaction about to start: what
 * is left of the deadline, capped by [database] lock_wait_timeout; sent
 * only when it differs from the session's.  The value is our own integer,
 * not input.
 */
static int
set_lock_wait(struct cm_store *s, long budget)
{
	char	sql[64];
	int	want = cm_lock_wait_s(budget, s->cfg->db_lock_wait_timeout);
	int	n;

	if (want == s->lock_wait)
		return 0;
	n = snprintf(sql, sizeof(sql),
	    "SET SESSION innodb_lock_wait_timeout = %d", want);
	if (mysql_real_query(s->db, sql, (unsigned long)n) != 0)
		return store_fail(s, NULL, "lock wait");
	s->lock_wait = want;
	return 0;
}

/* Sleeps before retry number attempt; false when the deadline forbids. */
static bool
backoff(struct cm_store *s, int attempt)
{
	unsigned	r = 0;
	long		ms;
	struct timespec	ts;

	/* Jitter keeps two retrying writers from colliding in lock-step. */
	(void)cm_random_bytes(&r, sizeof(r));
	if ((ms = cm_backoff_ms(attempt, r, store_budget_ms(s))) < 0)
		return false;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	return true;
}

static int
begin_tx(struct cm_store *s)
{
	static const char	 begin[] = "START TRANSACTION";
	long long		 t0;
	int			 rc;

	/* Issue 9: a tx session needs no BEGIN: its first statement starts it. */
	if (s->tx_session)
		return 0;
	t0 = store_now_us();
	rc = mysql_real_query(s->db, begin, sizeof(begin) - 1);
	s->stats.db_us += store_now_us() - t0;
	return rc;
}

/* The session is in a transaction that did not COMMIT: end it. */
static void
rollback(struct cm_store *s)
{
	if (s->db != NULL && mysql_rollback(s->db) != 0 &&
	    store_connection_lost(mysql_errno(s->db)))
		store_lost(s);
}

/* An attempt's COMMIT was sent and its answer lost: did it commit? */
#define TX_UNKNOWN	(-3)
/* Token lookups after an unknown COMMIT, at most (besides the deadline). */
#define TOKEN_LOOKS	20

/* The transaction runner's state across attempts (store_write_tx). */
struct tx_run {
	int		  (*fn)(struct cm_store *, void *);
	void		   *arg;
	struct cm_problems *probs;
	struct cm_stored   *out;	/* the job's result, or NULL */
	struct cm_stored    kept;	/* out of the attempt whose COMMIT was unknown */
	bool		    unknown;	/* some COMMIT's outcome was unknown */
	int		    reruns;	/* attempts run again after an unknown COMMIT */
	int		    conflicts;	/* 1213, 1205, version misses, TX_RETRY */
	int		    losses;	/* LOST errors before COMMIT */
};

/*
 * The token lookup after a COMMIT whose answer was lost.  A locking read:
 * if the old session's transaction is still open on the server (it has
 * not yet seen the connection go, or is still committing), its
 * uncommitted audit row is locked and the read waits for the outcome
 * instead of missing it.  SET STATEMENT wsrep_sync_wait = 1 makes a
 * Galera node apply every write set it has received before reading, so a
 * COMMIT that was replicated from the dead node is seen; MariaDB accepts
 * the variable without Galera too (wsrep_on = 0), where it does nothing.
 */
static const char token_sql[] = "SET STATEMENT wsrep_sync_wait = 1 FOR "
	"SELECT 1 FROM client_audit WHERE tx_token = ? FOR UPDATE";

struct param
store_bin(const void *p, unsigned long len)
{
	struct param	r = { P_STR, p, len, 0 };

	return r;
}

struct param
store_token(struct cm_store *s)
{
	s->tx_tokened = true;
	return store_bin(s->tx_token, sizeof(s->tx_token));
}

/* One look: 1 the token committed, 0 not, TX_DB_ERROR (s->err). */
static int
token_look(struct cm_store *s)
{
	struct param	 p = store_bin(s->tx_token, sizeof(s->tx_token));
	MYSQL_STMT	*st;
	int		 rc;

	if (set_lock_wait(s, store_budget_ms(s)) != 0 ||
	    (st = store_stmt_sql(s, token_sql)) == NULL ||
	    store_execute(s, st, &p, 1) != 0)
		rc = TX_DB_ERROR;
	else
		rc = store_fetch_one(s, st, 1);
	rollback(s);
	return rc;
}

/*
 * Did the transaction carrying s->tx_token commit?  1 yes, 0 no, -1
 * cannot tell before the deadline.  Reconnects (to any healthy node:
 * store_connect picks it) and waits out lock waits within the deadline.
 */
static int
token_committed(struct cm_store *s)
{
	int	attempt, rc;

	/* Without a deadline (clientsctl) the cap alone ends it. */
	for (attempt = 0; attempt < TOKEN_LOOKS; attempt++) {
		if (attempt > 0 && !backoff(s, attempt))
			return -1;
		s->err = 0;
		if (s->db == NULL && store_connect(s) != 0)
			continue;
		if ((rc = token_look(s)) >= 0)
			return rc;
		switch (cm_dberr_class(s->err)) {
		case CM_DBERR_LOST:
			if (s->db != NULL)
				store_lost(s);
			break;
		case CM_DBERR_CONFLICT:
			break;
		default:
			return -1;
		}
	}
	return -1;
}

/* COMMIT: 0 done, TX_DB_ERROR (s->err) rolled back, TX_UNKNOWN. */
static int
commit(struct cm_store *s)
{
	long long	t0 = store_now_us();
	int		rc = mysql_commit(s->db);

	s->stats.db_us += store_now_us() - t0;
	if (rc == 0)
		return 0;
	store_fail(s, NULL, "commit");
	if (!store_connection_lost(s->err))
		return TX_DB_ERROR;
	store_lost(s);
	/*
	 * The server may have committed before the connection went.  A
	 * transaction that wrote no token wrote nothing that matters twice
	 * (nothing at all, or the retention's idempotent delete): run again.
	 */
	return s->tx_tokened ? TX_UNKNOWN : TX_DB_ERROR;
}

/* One attempt: fn's result, 0 committed, TX_DB_ERROR, TX_RETRY, TX_UNKNOWN. */
static int
attempt_once(struct cm_store *s, struct tx_run *r, long budget)
{
	int	rc;

	s->tx_tokened = false;
	if (set_lock_wait(s, budget) != 0)
		rc = TX_DB_ERROR;
	else if (begin_tx(s) != 0)
		rc = store_fail(s, NULL, "begin");
	else if ((rc = r->fn(s, r->arg)) == CM_STORE_OK &&
	    (rc = commit(s)) != TX_DB_ERROR)
		return rc;
	/* A failed COMMIT (a certification failure) leaves it open too. */
	rollback(s);
	return rc;
}

/* The result of the attempt whose COMMIT was unknown goes aside for the rerun. */
static void
keep_result(struct tx_run *r)
{
	if (r->out == NULL)
		return;
	json_decref(r->kept.client);
	r->kept = *r->out;
	r->out->client = NULL;
}

/*
 * After an unknown COMMIT, the rerun ended without committing: perhaps
 * because the first attempt did commit after all (a Galera node applied
 * it late; the rerun then met its row, version or token).  If the token
 * is there, the answer is what that attempt computed.
 */
static int
settle(struct cm_store *s, struct tx_run *r, int rc)
{
	if (!r->unknown || rc == CM_STORE_OK || token_committed(s) != 1)
		return rc;
	if (r->out != NULL) {
		json_decref(r->out->client);
		*r->out = r->kept;
		r->kept.client = NULL;
	}
	LOG_WARN("database: COMMIT of unknown outcome had committed "
	    "(found on a rerun)");
	return CM_STORE_OK;
}

/* COMMIT's answer was lost: look the token up, then answer or run once more. */
static int
resolve_unknown(struct cm_store *s, struct tx_run *r)
{
	int	found = token_committed(s);

	if (found == 1) {
		LOG_WARN("database: COMMIT's answer lost; the transaction "
		    "had committed (token found)");
		return CM_STORE_OK;
	}
	if (found < 0 || r->reruns++ > 0)
		return CM_STORE_UNAVAILABLE;
	LOG_WARN("database: COMMIT's answer lost; the transaction had not "
	    "committed (no token): running it once more");
	r->unknown = true;
	keep_result(r);
	return TX_RETRY;
}

/*
 * What to do after a failed attempt: TX_RETRY to run again, else the
 * answer.  Conflicts wait a jittered exponential back-off; reconnects
 * after a lost connection run at once the first time (failover to
 * another node should be quick), then back off too.  Both are capped
 * by [database] retries and by the deadline.
 */
static int
after_failure(struct cm_store *s, struct tx_run *r, int rc)
{
	enum cm_dberr	cls = rc == TX_RETRY ? CM_DBERR_CONFLICT :
			    cm_dberr_class(s->err);

	switch (cls) {
	case CM_DBERR_LOST:
		if (s->db != NULL)	/* rollback() may have dropped it */
			store_lost(s);
		/* One reconnect even with retries = 0, as before issue 8. */
		if (r->losses > 0 && (r->losses >= s->cfg->db_retries ||
		    !backoff(s, r->losses)))
			return CM_STORE_UNAVAILABLE;
		r->losses++;
		return TX_RETRY;
	case CM_DBERR_CONFLICT:
		if (r->conflicts >= s->cfg->db_retries ||
		    !backoff(s, r->conflicts + 1))
			return CM_STORE_UNAVAILABLE;
		r->conflicts++;
		s->stats.retries++;
		return TX_RETRY;
	case CM_DBERR_BUSY:
		return CM_STORE_UNAVAILABLE;
	default:
		return CM_STORE_FAILED;
	}
}

/*
 * Runs fn inside one transaction.  fn returns CM_STORE_OK to commit, a
 * CM_STORE_* result to roll back with, TX_DB_ERROR (s->err says why) or
 * TX_RETRY.  Conflicts (deadlock, lock-wait timeout, Galera's
 * certification failure, a row whose version changed since it was read,
 * a generated key that collided) are run again after a jittered
 * exponential back-off, and a lost connection is remade (store_connect
 * picks a healthy node) and the transaction run again: as often as the
 * deadline allows, at most [database] retries times each.  When the
 * connection goes during COMMIT, the outcome is unknown: the token the
 * transaction wrote into its audit row is looked up on a new connection
 * (resolve_unknown): found, it committed and the answer is its result;
 * not found, it is run once more.  Every wait fits in what is left of the
 * deadline minus its margin; out of time is a 503.  s->err starts at 0
 * in every attempt, so an old error never steers a retry.
 */
int
store_write_tx(struct cm_store *s, int (*fn)(struct cm_store *, void *),
    void *arg, struct cm_problems *probs, struct cm_stored *out)
{
	struct tx_run	r = { fn, arg, probs, out, { NULL, 0, "" }, false, 0,
			    0, 0 };
	long		budget;
	int		attempt, rc;

	/* One token per call: a rerun carries it too (uq_audit_tx_token). */
	if (cm_random_bytes(s->tx_token, sizeof(s->tx_token)) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		return CM_STORE_FAILED;
	}
	for (attempt = 0; ; attempt++) {
		s->err = 0;
		if (probs != NULL)
			cm_problems_init(probs);
		/*
		 * The first attempt always runs (its lock wait shrinks to 0
		 * when less than a second is left); a retry needs time left.
		 */
		if ((budget = store_budget_ms(s)) <= 0 && attempt > 0)
			rc = CM_STORE_UNAVAILABLE;
		else if (s->db == NULL && store_connect(s) != 0)
			rc = CM_STORE_UNAVAILABLE;
		else if ((rc = attempt_once(s, &r, budget)) == TX_UNKNOWN)
			rc = resolve_unknown(s, &r);
		else if (rc == TX_DB_ERROR || rc == TX_RETRY)
			rc = after_failure(s, &r, rc);
		if (rc != TX_RETRY)
			break;
	}
	rc = settle(s, &r, rc);
	json_decref(r.kept.client);
	return rc;
}

int
store_transaction(struct cm_store *s, int (*fn)(struct cm_store *, void *),
    void *arg, struct cm_problems *probs)
{
	return store_write_tx(s, fn, arg, probs, NULL);
}

/*
 * Runs fn, a read, on the store's connection.  A lost connection is
 * remade and the read run again, a conflict (a lock wait or a Galera
 * brute-force abort) too after a back-off: at most [database] retries
 * times each, within the deadline.
 */
int
store_read(struct cm_store *s, int (*fn)(struct cm_store *, void *),
    void *arg)
{
	struct tx_run	r = { fn, arg, NULL, NULL, { NULL, 0, "" }, false, 0,
			    0, 0 };
	int		attempt, rc;

	for (attempt = 0; ; attempt++) {
		s->err = 0;
		if (attempt > 0 && store_budget_ms(s) <= 0)
			return CM_STORE_UNAVAILABLE;
		if (s->db == NULL && store_connect(s) != 0)
			return CM_STORE_UNAVAILABLE;
		rc = fn(s, arg);
		/* No idle transaction (and its metadata locks) on a tx session. */
		if (s->tx_session && s->db != NULL && rc != TX_DB_ERROR &&
		    mysql_commit(s->db) != 0) {
			store_fail(s, NULL, "commit");
			rc = TX_DB_ERROR;
		}
		if (rc != TX_DB_ERROR)
			return rc;
		if (s->tx_session)
			rollback(s);
		if ((rc = after_failure(s, &r, rc)) != TX_RETRY)
			return rc;
	}
}

struct get_job {
	const char		*id;
	struct cm_stored	*out;
};

static int
get_once(struct cm_store *s, void *arg)
{
	struct get_job	*j = arg;
	int		 rc;

	rc = store_load_client(s, ST_GET, j->id, j->out);
	if (rc == TX_DB_ERROR)
		return rc;
	return rc == 1 ? CM_STORE_OK : CM_STORE_NOT_FOUND;
}

int
cm_store_get(struct cm_store *s, const char *id, struct cm_stored *out)
{
	struct get_job	j = { id, out };

	out->client = NULL;
	return store_read(s, get_once, &j);
}

struct key_job {
	const char		*hash;
	unsigned long long	*id;
};

static int
admin_key_once(struct cm_store *s, void *arg)
{
	struct key_job	*j = arg;
	struct param	 p = store_str(j->hash);
	MYSQL_STMT	*st;
	int		 rc;

	if ((st = store_exec(s, ST_ADMIN_KEY, &p, 1)) == NULL ||
	    (rc = store_fetch_one(s, st, 1)) < 0)
		return TX_DB_ERROR;
	if (rc == 0)
		return CM_STORE_NOT_FOUND;
	*j->id = strtoull(s->col[0], NULL, 10);
	return CM_STORE_OK;
}

int
cm_store_admin_key(struct cm_store *s, const char *token, size_t len,
    unsigned long long *id)
{
	char		hash[CM_SHA256_HEX_LEN + 1];
	struct key_job	j = { hash, id };
	int		rc;

	if (cm_sha256_hex(token, len, hash) != 0)
		return CM_STORE_FAILED;
	if (cm_authcache_get(&s->auth, hash, cm_authcache_now_ms(), id))
		return CM_STORE_OK;
	if ((rc = store_read(s, admin_key_once, &j)) == CM_STORE_OK)
		cm_authcache_put(&s->auth, hash, *id, cm_authcache_now_ms());
	return rc;
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

	if (s->db != NULL && mysql_ping(s->db) != 0) {
		s->err = mysql_errno(s->db);
		store_lost(s);
	} else if (s->db != NULL && s->cfg->db_galera &&
	    node_health(s->cfg, s->db, why, sizeof(why)) != CM_NODE_OK) {
		mark_down(s, s->cur, why);
		store_disconnect(s);
	}
	if (s->db == NULL && store_connect(s) != 0)
		return CM_STORE_UNAVAILABLE;
	return CM_STORE_OK;
}
