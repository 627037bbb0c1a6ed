/*
 * store_tx.c - the transaction runner (store_int.h): lock waits and
 * back-off within the request's deadline, retries of conflicts and lost
 * connections, and the transaction token that settles a COMMIT whose
 * answer was lost; and the retry loop of single reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "dberr.h"
#include "dbwatch.h"
#include "deadline.h"
#include "log.h"
#include "random.h"
#include "store_int.h"

/*
 * Sets innodb_lock_wait_timeout for the transaction about to start: what
 * is left of the deadline, capped by [database] lock_wait_timeout; sent
 * only when it differs from the session's.  The value is our own integer,
 * not input.
 */
static enum tx_rc
set_lock_wait(struct cm_store *s, long budget)
{
	char	sql[64];
	int	want = cm_lock_wait_s(budget, s->cfg->lock_wait_timeout);
	int	n;

	if (want == s->lock_wait)
		return TX_OK;
	n = snprintf(sql, sizeof(sql),
	    "SET SESSION innodb_lock_wait_timeout = %d", want);
	if (store_query(s, sql, (unsigned long)n) != 0)
		return store_fail(s, NULL, "lock wait");
	s->lock_wait = want;
	return TX_OK;
}

/* Sleeps before retry number attempt; false when the deadline forbids. */
static bool
backoff(struct cm_store *s, int attempt)
{
	unsigned	r = 0;
	long		ms;

	/* Jitter keeps two retrying writers from colliding in lock-step. */
	(void)cm_random_ids(&r, sizeof(r));
	if ((ms = cm_backoff_ms(attempt, r, store_budget_ms(s))) < 0)
		return false;
	cm_sleep_ms(ms);
	return true;
}

static enum tx_rc
begin_tx(struct cm_store *s)
{
	static const char	 begin[] = "START TRANSACTION";

	/* A write session is always in one: its COMMITs and ROLLBACKs chain. */
	if (s->tx_session) {
		store_tx_restart(s);
		return TX_OK;
	}
	return store_query(s, begin, sizeof(begin) - 1) == 0 ? TX_OK :
	    store_fail(s, NULL, "begin");
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

/*
 * Before COMMIT: a write transaction whose last statements all returned
 * result sets has had no state reported since; one statement without a
 * result set asks for it (store_tx_intact).
 */
static enum tx_rc
verify_before_commit(struct cm_store *s)
{
	static const char	probe[] = "DO 0";

	if (!s->tx_session || !s->tx_wrote || !s->tx_unverified)
		return TX_OK;
	if (store_query(s, probe, sizeof(probe) - 1) != 0)
		return store_fail(s, NULL, "transaction check");
	return store_tx_intact(s) ? TX_OK : TX_DB_ERROR;
}

/* Token lookups after an unknown COMMIT, at most (besides the deadline). */
#define TOKEN_LOOKS	20

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
	"SELECT action FROM client_audit WHERE tx_token = ? FOR UPDATE";
/*
 * Not found is not yet "never": on Galera the write set may still wait on
 * its node (flow control while a rejoined node catches up, a slow link)
 * and be ordered later.  Seen in a drill: PATCHes answered 503 whose
 * token no node had, committed seconds later.  So an absent token is
 * claimed: a row of its own with the same unique tx_token, committed.
 * Once it is, the transaction can never commit: on one server its row
 * would be a duplicate; on Galera its write set, ordered after the fence,
 * fails certification on the unique key.  Ordered before, it makes the
 * fence a duplicate (1062) or fail certification (1213), and the next
 * look finds it.  No reader takes a fence for history: it names no
 * client, no key, no request and no event's action; the retention purge
 * deletes it with the history of its day.
 */
static const char fence_sql[] = "INSERT INTO client_audit (client_id, "
	"action, admin_key_id, request_id, at, changes, tx_token) VALUES "
	"('', '" STORE_FENCE_ACTION "', NULL, '', NOW(3), '{}', ?)";

struct param
store_token(struct cm_store *s)
{
	s->tx_tokened = true;
	return store_bin(s->tx_token, sizeof(s->tx_token));
}

/* What the lookups found out; TOKEN_ABSENT: fenced, it never commits. */
enum token_found { TOKEN_COMMITTED, TOKEN_ABSENT, TOKEN_UNKNOWN };
/*
 * What one look found: TOKEN_COMMITTED, TOKEN_ABSENT (its fence), or
 * these.
 */
#define LOOK_ERROR	(-1)	/* a database error: s->err */
#define LOOK_NONE	(-2)	/* no row with the token */
#define LOOK_AGAIN	(-3)	/* the fence committed, yet no row: look again */

/* The token's row, read: TOKEN_COMMITTED, TOKEN_ABSENT, LOOK_NONE, LOOK_ERROR. */
static int
token_read(struct cm_store *s)
{
	struct param	 p = store_bin(s->tx_token, sizeof(s->tx_token));
	MYSQL_STMT	*st;

	if (set_lock_wait(s, store_budget_ms(s)) != TX_OK ||
	    (st = store_exec(s, token_sql, &p, 1)) == NULL)
		return LOOK_ERROR;
	switch (store_fetch_one(s, st, 1)) {
	case ROW_FOUND:
		return strcmp(s->col[0], STORE_FENCE_ACTION) == 0 ? TOKEN_ABSENT :
		    TOKEN_COMMITTED;
	case ROW_NONE:
		return LOOK_NONE;
	default:
		return LOOK_ERROR;
	}
}

/* The fence (fence_sql) in, committed: 0, or LOOK_ERROR. */
static int
token_fence(struct cm_store *s)
{
	struct param	 p = store_bin(s->tx_token, sizeof(s->tx_token));

	if (store_exec(s, fence_sql, &p, 1) == NULL)
		return LOOK_ERROR;
	if (store_query(s, "COMMIT", 6) != 0) {
		store_fail(s, NULL, "commit");
		return LOOK_ERROR;
	}
	store_tx_restart(s);
	return 0;
}

/*
 * One look: the token's row read, and when there is none, the fence
 * committed and the row read again (a COMMIT that answered OK may have
 * been emptied on Galera: only the row tells).
 */
static int
token_look(struct cm_store *s)
{
	int	rc;

	if ((rc = token_read(s)) == LOOK_NONE && (rc = token_fence(s)) == 0 &&
	    (rc = token_read(s)) == LOOK_NONE)
		rc = LOOK_AGAIN;
	rollback(s);
	return rc;
}

static enum token_found
token_looks(struct cm_store *s)
{
	enum cm_dberr	cls;
	int		rc, attempt;

	/* Without a deadline (clientsctl) the cap alone ends it. */
	for (attempt = 0; attempt < TOKEN_LOOKS; attempt++) {
		if (attempt > 0 && !backoff(s, attempt))
			return TOKEN_UNKNOWN;
		s->err = 0;
		if (s->db == NULL && store_connect(s) != 0)
			continue;
		if ((rc = token_look(s)) == LOOK_AGAIN)
			continue;
		if (rc != LOOK_ERROR)
			return (enum token_found)rc;
		cls = cm_dberr_class(s->err);
		store_drop_failed(s, cls);
		switch (cls) {
		case CM_DBERR_LOST:
		case CM_DBERR_CONFLICT:
		case CM_DBERR_BUSY:
			break;
		case CM_DBERR_DUPLICATE:
			/*
			 * The fence found the token taken: the transaction's
			 * row arrived between the read and the fence (on
			 * Galera, a write set of a node that just left,
			 * applied late).  The next read finds it.
			 */
			LOG_WARN("database: COMMIT of unknown outcome; its "
			    "token was taken when fenced: looking again");
			break;
		default:
			return TOKEN_UNKNOWN;
		}
	}
	return TOKEN_UNKNOWN;
}

/* Settling a lost COMMIT may run settle_ms past the deadline (deadline.h). */
static void
settle_grace(struct cm_store *s, bool on)
{
	struct timespec	limit;

	if (!s->has_deadline)
		return;
	limit = s->deadline;
	cm_timespec_add_ms(&limit, -CM_DEADLINE_MARGIN_MS +
	    (on ? s->cfg->settle_ms : 0));
	cm_dbwatch_limit(&limit);
	s->settling = on;
}

/*
 * Did the transaction carrying s->tx_token commit?  Reconnects (to any
 * healthy node: store_connect picks it) and waits out lock waits within
 * the deadline and its settling grace.
 */
static enum token_found
token_committed(struct cm_store *s)
{
	enum token_found	found;

	settle_grace(s, true);
	found = token_looks(s);
	settle_grace(s, false);
	return found;
}

/*
 * After a COMMIT that answered OK, on Galera: did it commit anything?  A
 * brute-force abort that lands after the transaction's last reported
 * state and before COMMIT rolls it back while the session waits, and the
 * COMMIT then finds no transaction and answers OK.  Measured on MariaDB
 * 10.11: two merge-PATCHes in flight when a migration's CREATE OR
 * REPLACE TRIGGER on clients ran in total order isolation were answered
 * 200 and were not there, in each of three runs.  The token the
 * transaction wrote tells: a COMMIT of this node is seen at once by this
 * session's next read.  Then the read transaction is ended (chained), so
 * that an idle session holds no metadata lock.
 */
static const char own_token_sql[] = "SELECT 1 FROM client_audit "
	"WHERE tx_token = ?";

static bool
own_token_seen(struct cm_store *s)
{
	struct param	 p = store_bin(s->tx_token, sizeof(s->tx_token));
	MYSQL_STMT	*st;
	enum row_rc	 rc = ROW_ERROR;

	if ((st = store_exec(s, own_token_sql, &p, 1)) != NULL)
		rc = store_fetch_one(s, st, 1);
	rollback(s);
	if (rc == ROW_FOUND)
		return true;
	LOG_WARN("database: COMMIT answered OK, but %s: settling it by the "
	    "transaction's token", rc == ROW_NONE ? "this node does not have "
	    "the transaction's token (a Galera brute-force abort just before "
	    "COMMIT)" : "the token could not be read back");
	return false;
}

/* What a COMMIT came to. */
enum commit_rc { COMMIT_DONE, COMMIT_FAILED, COMMIT_UNKNOWN };

static enum commit_rc
commit(struct cm_store *s)
{
	int	rc;

	if (verify_before_commit(s) != TX_OK)
		return COMMIT_FAILED;
	store_call_begin(s, s->db);
	rc = mysql_commit(s->db);
	store_call_end(s);
	if (rc == 0) {
		store_tx_restart(s);
		/* Not seen: looked up again and run once more if absent. */
		if (s->tx_tokened && s->cfg->galera && !own_token_seen(s))
			return COMMIT_UNKNOWN;
		return COMMIT_DONE;
	}
	store_fail(s, NULL, "commit");
	if (!cm_dberr_commit_unknown(s->err))
		return COMMIT_FAILED;
	store_lost(s);
	/*
	 * The server may have committed before the connection went (or
	 * before its node left the cluster).  A transaction that wrote no
	 * token wrote nothing that matters twice (nothing at all, or the
	 * retention's idempotent delete): run again.
	 */
	return s->tx_tokened ? COMMIT_UNKNOWN : COMMIT_FAILED;
}

enum tx_rc
store_commit_call(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n)
{
	if (store_execute_only(s, st, p, n) == TX_OK) {
		/* A CALL ends with a status of its own: read to the end. */
		while (mysql_stmt_next_result(st) == 0)
			;
		store_tx_restart(s);
		/*
		 * The procedure's COMMIT is a COMMIT like commit()'s: a
		 * brute-force abort can empty it as well (measured: one
		 * PATCH of about 3,000 answered 200 and absent while a
		 * migration ran in total order isolation).
		 */
		if (s->tx_tokened && s->cfg->galera && !own_token_seen(s))
			return TX_UNKNOWN;
		return TX_COMMITTED;
	}
	if (s->err == 1020)
		return TX_RETRY;
	if (!cm_dberr_commit_unknown(s->err) || !s->tx_tokened)
		return TX_DB_ERROR;
	store_lost(s);
	return TX_UNKNOWN;
}

/* The runner's state across attempts (store_write_tx). */
struct tx_run {
	store_job	    fn;
	void		   *arg;
	struct cm_stored   *out;	/* the job's result, or NULL */
	int		    reruns;	/* attempts run again after an unknown COMMIT */
	int		    conflicts;	/* 1213, 1205, version misses, TX_RETRY */
	int		    losses;	/* LOST errors before COMMIT */
};

/* What one attempt came to. */
enum attempt_rc {
	ATTEMPT_COMMITTED,
	ATTEMPT_STOPPED,	/* the job said no: *status */
	ATTEMPT_FAILED,		/* a database error (s->err) */
	ATTEMPT_RETRY,		/* the job asked to run again */
	ATTEMPT_UNKNOWN		/* COMMIT's answer was lost */
};

static enum attempt_rc
attempt_once(struct cm_store *s, struct tx_run *r, long budget,
    enum cm_db_status *status)
{
	enum tx_rc	rc;

	s->tx_tokened = false;
	if ((rc = set_lock_wait(s, budget)) == TX_OK &&
	    (rc = begin_tx(s)) == TX_OK)
		rc = r->fn(s, r->arg, status);
	/* The job's own call committed, or its outcome is the token's. */
	if (rc == TX_COMMITTED)
		return ATTEMPT_COMMITTED;
	if (rc == TX_UNKNOWN)
		return ATTEMPT_UNKNOWN;
	if (rc == TX_OK) {
		switch (commit(s)) {
		case COMMIT_DONE:
			return ATTEMPT_COMMITTED;
		case COMMIT_UNKNOWN:
			return ATTEMPT_UNKNOWN;
		case COMMIT_FAILED:
			rc = TX_DB_ERROR;
			break;
		}
	}
	/* A failed COMMIT (a certification failure) leaves it open too. */
	rollback(s);
	return rc == TX_STOP ? ATTEMPT_STOPPED : rc == TX_RETRY ?
	    ATTEMPT_RETRY : ATTEMPT_FAILED;
}

/*
 * COMMIT's answer was lost, or its OK committed nothing: looks the token
 * up, and fences it when absent (token_look).  true: run once more, with
 * a new token (the old one is the fence's now); false: *status is the
 * answer.  Absent means fenced, so a 503 after it is true too.
 */
static bool
resolve_unknown(struct cm_store *s, struct tx_run *r, enum cm_db_status *status)
{
	switch (token_committed(s)) {
	case TOKEN_COMMITTED:
		LOG_WARN("database: COMMIT of unknown outcome; the "
		    "transaction had committed (token found)");
		*status = CM_DB_OK;
		return false;
	case TOKEN_UNKNOWN:
		LOG_WARN("database: COMMIT of unknown outcome, and no node "
		    "could tell in time: answered 503 (outcome unknown)");
		s->tx_unsettled = true;
		*status = CM_DB_UNAVAILABLE;
		return false;
	case TOKEN_ABSENT:
		break;
	}
	if (r->reruns++ > 0 || cm_random_ids(s->tx_token,
	    sizeof(s->tx_token)) != 0) {
		LOG_WARN("database: COMMIT of unknown outcome; the transaction "
		    "had not committed, and never will (its token fenced)");
		*status = CM_DB_UNAVAILABLE;
		return false;
	}
	LOG_WARN("database: COMMIT of unknown outcome; the transaction had "
	    "not committed, and never will (its token fenced): running it "
	    "once more");
	if (r->out != NULL) {
		json_decref(r->out->client);
		r->out->client = NULL;
	}
	return true;
}

/*
 * After a failed attempt (a database error, or the job asked to run
 * again): true to run again, else *status is the answer.  Conflicts wait
 * a jittered exponential back-off; reconnects after a lost connection
 * run at once the first time (failover to another node should be quick),
 * then back off too.  Both are capped by [database] retries and by the
 * deadline.
 */
static bool
run_again(struct cm_store *s, struct tx_run *r, bool asked,
    enum cm_db_status *status)
{
	enum cm_dberr	cls = asked ? CM_DBERR_CONFLICT : cm_dberr_class(s->err);

	*status = CM_DB_UNAVAILABLE;
	store_drop_failed(s, cls);	/* rollback() may have dropped it */
	switch (cls) {
	case CM_DBERR_LOST:
		/* One reconnect even with retries = 0. */
		if (r->losses > 0 && (r->losses >= s->cfg->retries ||
		    !backoff(s, r->losses)))
			return false;
		r->losses++;
		return true;
	case CM_DBERR_CONFLICT:
		if (r->conflicts >= s->cfg->retries ||
		    !backoff(s, r->conflicts + 1))
			return false;
		r->conflicts++;
		s->stats.retries++;
		return true;
	case CM_DBERR_BUSY:
		return false;
	default:
		*status = CM_DB_FAILED;
		return false;
	}
}

/*
 * Runs job inside one transaction.  Conflicts (deadlock, lock-wait
 * timeout, Galera's certification failure, a row whose version changed
 * since it was read, a generated key that collided) are run again after
 * a jittered exponential back-off, and a lost connection is remade
 * (store_connect picks a healthy node) and the transaction run again: as
 * often as the deadline allows, at most [database] retries times each.
 * When COMMIT's outcome is unknown, the token the transaction wrote into
 * its audit row is looked up on a new connection (resolve_unknown):
 * found, it committed and the answer is its result; not found, it is
 * fenced (it can never commit then) and run once more.  Every wait fits in what is left of the deadline minus its
 * margin; out of time is CM_DB_UNAVAILABLE.  s->err starts at 0 in every
 * attempt, so an old error never steers a retry.
 */
enum cm_db_status
store_write_tx(struct cm_store *s, store_job fn, void *arg,
    struct cm_problems *probs, struct cm_stored *out)
{
	struct tx_run		r = { fn, arg, out, 0, 0, 0 };
	enum cm_db_status	status = CM_DB_FAILED;
	long			budget;
	bool			again;
	int			attempt;

	/*
	 * One token per call, which a retry carries too (uq_audit_tx_token);
	 * a new one only after the old one was fenced (resolve_unknown).
	 */
	if (cm_random_ids(s->tx_token, sizeof(s->tx_token)) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		return CM_DB_FAILED;
	}
	for (attempt = 0, again = true; again; attempt++) {
		s->err = 0;
		if (probs != NULL)
			cm_problems_init(probs);
		status = CM_DB_OK;
		again = false;
		/*
		 * The first attempt always runs (its lock wait shrinks to 0
		 * when less than a second is left); a retry needs time left.
		 */
		if (((budget = store_budget_ms(s)) <= 0 && attempt > 0) ||
		    (s->db == NULL && store_connect(s) != 0)) {
			status = CM_DB_UNAVAILABLE;
			break;
		}
		switch (attempt_once(s, &r, budget, &status)) {
		case ATTEMPT_COMMITTED:
			status = CM_DB_OK;
			break;
		case ATTEMPT_STOPPED:
			break;
		case ATTEMPT_UNKNOWN:
			again = resolve_unknown(s, &r, &status);
			break;
		case ATTEMPT_RETRY:
			again = run_again(s, &r, true, &status);
			break;
		case ATTEMPT_FAILED:
			again = run_again(s, &r, false, &status);
			break;
		}
	}
	return status;
}

enum cm_db_status
store_transaction(struct cm_store *s, store_job fn, void *arg)
{
	return store_write_tx(s, fn, arg, NULL, NULL);
}

/*
 * Runs fn, a read, on the store's connection.  A lost connection is
 * remade and the read run again, a conflict (a lock wait or a Galera
 * brute-force abort) too after a back-off: at most [database] retries
 * times each, within the deadline.
 */
enum cm_db_status
store_read(struct cm_store *s, store_job fn, void *arg)
{
	struct tx_run		r = { fn, arg, NULL, 0, 0, 0 };
	enum cm_db_status	status;
	enum tx_rc		rc;
	int			attempt;

	for (attempt = 0; ; attempt++) {
		s->err = 0;
		status = CM_DB_OK;
		if (attempt > 0 && store_budget_ms(s) <= 0)
			return CM_DB_UNAVAILABLE;
		if (s->db == NULL && store_connect(s) != 0)
			return CM_DB_UNAVAILABLE;
		rc = fn(s, arg, &status);
		/* No idle transaction (and its metadata locks) on a write session. */
		if (s->tx_session && s->db != NULL && rc != TX_DB_ERROR) {
			if (store_query(s, "COMMIT", 6) != 0)
				rc = store_fail(s, NULL, "commit");
			else
				store_tx_restart(s);
		}
		if (rc == TX_OK)
			return CM_DB_OK;
		if (rc == TX_STOP)
			return status;
		if (s->tx_session)
			rollback(s);
		if (!run_again(s, &r, rc == TX_RETRY, &status))
			return status;
	}
}

enum tx_rc
store_one_row(MYSQL_STMT *st, const char *id)
{
	if (mysql_stmt_affected_rows(st) == 1)
		return TX_OK;
	LOG_INFO("client %s changed since it was read (another node?): "
	    "running the transaction again", id);
	return TX_RETRY;
}
