/*
 * store_tx.c - the transaction runner: lock waits and back-off within the
 * request's deadline, retries of conflicts and lost connections, and the
 * transaction token that settles a COMMIT whose answer was lost; and the
 * retry loop of single reads.
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
	if (store_query(s, sql, (unsigned long)n) != 0)
		return store_fail(s, NULL, "lock wait");
	s->lock_wait = want;
	return 0;
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
 * Why a tx session checks every answer.  A Galera node that applies a
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
 * So each tx session runs explicit transactions (completion_type = CHAIN:
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

/*
 * Before COMMIT: a write transaction whose last statements all returned
 * result sets has had no state reported since; one statement without a
 * result set asks for it.
 */
static int
verify_before_commit(struct cm_store *s)
{
	static const char	probe[] = "DO 0";

	if (!s->tx_session || !s->tx_wrote || !s->tx_unverified)
		return 0;
	if (store_query(s, probe, sizeof(probe) - 1) != 0)
		return store_fail(s, NULL, "transaction check");
	return store_tx_intact(s) ? 0 : TX_DB_ERROR;
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

	/* A tx session is always in one: its COMMITs and ROLLBACKs chain. */
	if (s->tx_session) {
		store_tx_restart(s);
		return 0;
	}
	return store_query(s, begin, sizeof(begin) - 1);
}

/* The session is in a transaction that did not COMMIT: end it. */
static void
rollback(struct cm_store *s)
{
	int	rc;

	if (s->db == NULL)
		return;
	store_call_begin(s, s->db);
	rc = mysql_rollback(s->db);
	store_call_end(s);
	if (rc != 0 && (s->cut || store_connection_lost(mysql_errno(s->db))))
		store_lost(s);
	else
		store_tx_restart(s);
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

/* Settling a lost COMMIT may use CM_DEADLINE_SETTLE_MS of the margin. */
static void
settle_grace(struct cm_store *s, bool on)
{
	struct timespec	limit;

	if (!s->has_deadline)
		return;
	limit = s->deadline;
	cm_timespec_add_ms(&limit, -(CM_DEADLINE_MARGIN_MS -
	    (on ? CM_DEADLINE_SETTLE_MS : 0)));
	cm_dbwatch_limit(&limit);
	s->settling = on;
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
token_looks(struct cm_store *s)
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

static int
token_committed(struct cm_store *s)
{
	int	rc;

	settle_grace(s, true);
	rc = token_looks(s);
	settle_grace(s, false);
	return rc;
}

/* COMMIT: 0 done, TX_DB_ERROR (s->err) rolled back, TX_UNKNOWN. */
static int
commit(struct cm_store *s)
{
	int	rc;

	if ((rc = verify_before_commit(s)) != 0)
		return rc;
	store_call_begin(s, s->db);
	rc = mysql_commit(s->db);
	store_call_end(s);
	if (rc == 0) {
		store_tx_restart(s);
		return 0;
	}
	store_fail(s, NULL, "commit");
	if (!cm_dberr_commit_unknown(s->err))
		return TX_DB_ERROR;
	store_lost(s);
	/*
	 * The server may have committed before the connection went (or
	 * before its node left the cluster).  A transaction that wrote no
	 * token wrote nothing that matters twice (nothing at all, or the
	 * retention's idempotent delete): run again.
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
		/*
		 * One reconnect even with retries = 0: a failover must
		 * not need a retry budget.
		 */
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
		    store_query(s, "COMMIT", 6) != 0) {
			store_fail(s, NULL, "commit");
			rc = TX_DB_ERROR;
		} else if (s->tx_session && s->db != NULL)
			store_tx_restart(s);
		if (rc != TX_DB_ERROR)
			return rc;
		if (s->tx_session)
			rollback(s);
		if ((rc = after_failure(s, &r, rc)) != TX_RETRY)
			return rc;
	}
}
