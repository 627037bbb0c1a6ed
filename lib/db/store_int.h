/*
 * store_int.h - what the files of the data layer share; not a public API
 * (that is db.h).  They form a line, each using only those before it:
 *
 * store_conn.c   one connection: the walk over the nodes, sessions, Galera
 *                health, fail-back, the deadline and the watch, errors
 * store_stmt.c   statements on it: the cache, parameters, rows, a client row
 * store_tx.c     the transaction runner: retries, back-off, tokens
 * store_write.c, store_read.c, store_events.c, store_webhooks.c,
 * store_dispatch.c, store_idem.c, store_erase.c, store_admin.c
 *                the jobs: what each call of db.h does
 * db.c           db.h: a worker's two connections, one per kind of call
 */
#ifndef CM_STORE_INT_H
#define CM_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <mysql.h>
#include <jansson.h>

#include "authcache.h"
#include "client.h"
#include "db.h"
#include "dberr.h"
#include "dbnodes.h"

/* The members of the client object in order, as selected from the table. */
#define CLIENT_COLUMNS \
	"id, name, status, publishable_key, secret_key, domain, email, phone, " \
	"website, timezone, global_name, company_id, agency_id, api_metadata, " \
	"ghl_location_id, proxy_api_key, created_at, updated_at, version"
#define NCOLS		(CM_F__COUNT + 1)	/* + version */
#define COL_VERSION	CM_F__COUNT
#define MAX_COLS	(NCOLS + 1)		/* + NOW(3) of a locked read */

/*
 * At most this many server-side prepared statements per connection: the
 * least recently used one is closed to make room.  MariaDB's
 * max_prepared_stmt_count (16,382 by default) is shared by all
 * connections, so 24 per connection leaves room for about 340 workers
 * with two connections each.  A statement returned by store_stmt() stays
 * valid until STORE_STMT_MAX other statements have been used after it.
 */
#define STORE_STMT_MAX	24

/* A write transaction's token: 128 random bits (client_audit.tx_token). */
#define STORE_TOKEN_LEN	16
/*
 * The history action of a fence (store_tx.c): a row that claims a lost
 * transaction's token and is no event (it names no client).
 */
#define STORE_FENCE_ACTION	"fence"

/*
 * MYSQL_BIND's is_null/error flags: my_bool (char) in MariaDB Connector/C
 * 3.x, bool in MySQL 8's client library, which dropped the my_bool name.
 */
typedef __typeof__(*((MYSQL_BIND *)0)->is_null)	store_flag;

struct store_cached {
	char			*sql;		/* owned copy; NULL: slot free */
	uint32_t		 hash;
	MYSQL_STMT		*st;
	unsigned long long	 used;		/* s->tick at the last use */
};

/* One connection and what the layer knows of it. */
struct cm_store {
	const struct cm_db_config *cfg;
	MYSQL			*db;
	/* Owned here, managed by store_stmt.c; closed with the connection. */
	struct store_cached	 cache[STORE_STMT_MAX];
	unsigned long long	 tick;
	unsigned long long	 prepared;	/* statements prepared so far */
	unsigned		 err;		/* last MariaDB error number; 0 at each attempt */
	char			 errmsg[160];	/* its text, for the log */
	/* The request's deadline (CLOCK_MONOTONIC). */
	bool			 has_deadline;
	struct timespec		 deadline;
	bool			 settling;	/* looking up a lost COMMIT's token */
	int			 lock_wait;	/* innodb_lock_wait_timeout the session has */
	unsigned char		 cursor_key[64];	/* 0 bytes: not read yet */
	size_t			 cursor_keylen;
	struct cm_authcache	 auth;		/* verified admin keys */
	char			 schema[64];	/* newest migration, as last checked */
	bool			 schema_bad;	/* the last connect found one it cannot serve */
	char			 schema_why[192];
	/*
	 * A write session (store_new(true)): explicit transactions chained
	 * by COMMIT and ROLLBACK, their state reported by the server.
	 * tx_state: the last reported ('T' while the session's own runs);
	 * tx_wrote: the transaction wrote; tx_unverified: a statement with
	 * a result set (whose answer carries no state) ran since the last
	 * report (store_tx_intact()).
	 */
	bool			 tx_session;
	char			 tx_state;
	bool			 tx_wrote, tx_unverified;
	/*
	 * The token of the write transaction being run (drawn once per
	 * call, and again only after the old one was fenced), whether the
	 * attempt wrote it into an audit row, and whether a write of this
	 * request ended with its COMMIT's outcome unknown (no node could
	 * tell in time).
	 */
	unsigned char		 tx_token[STORE_TOKEN_LEN];
	bool			 tx_tokened;
	bool			 tx_unsettled;
	struct cm_db_stats	 stats;		/* since store_stats_take() */
	bool			 cut;		/* the watch cut the last call */
	bool			 leave;		/* the node failed, not the call: leave it */
	long long		 call_t0;	/* store_call_begin() */
	/* The nodes and this connection's marks (CLOCK_MONOTONIC ms). */
	long long		 down_until[CM_DBNODES_MAX];	/* 0: not marked */
	char			 down_why[CM_DBNODES_MAX][192];	/* for the log */
	long long		 said_at[CM_DBNODES_MAX];	/* see say_now() */
	/* Stalls: a node that gave no answer in the time given (mark_down()). */
	unsigned		 stalls[CM_DBNODES_MAX];	/* in a row */
	long long		 stalled_at[CM_DBNODES_MAX];	/* the last one */
	long long		 adopted_ms;	/* when db was connected */
	size_t			 start;		/* where this connection's walk starts */
	int			 cur;		/* node of db; -1 when not connected */
	int			 last;		/* node of the last connection; -1 none */
	long long		 failback_next;	/* the next fail-back probe */
	long long		 health_next;	/* the next health recheck (galera) */
	/* The row store_next_row() last read, as NUL-terminated strings. */
	char			*col[MAX_COLS];
	size_t			 cap[MAX_COLS];
	MYSQL_BIND		 bind[MAX_COLS];
	unsigned long		 col_len[MAX_COLS];
	store_flag		 col_null[MAX_COLS];
	store_flag		 col_error[MAX_COLS];
};

/* What a row read found. */
enum row_rc {
	ROW_NONE,	/* no (more) rows */
	ROW_FOUND,	/* in s->col */
	ROW_ERROR	/* s->err says why */
};

/* What a step of a transaction (and a whole job) says. */
enum tx_rc {
	TX_OK,		/* go on; from a job: commit */
	TX_STOP,	/* roll back and answer the job's status */
	TX_DB_ERROR,	/* a database error: s->err says which */
	TX_RETRY,	/* roll back and run again (a version that moved, a key
			   that collided): counts as a conflict */
	TX_COMMITTED,	/* from a job: its last call committed on the server */
	TX_UNKNOWN	/* from a job: that call's answer was lost (the token
			   settles it, as a lost COMMIT's) */
};

/*
 * A transaction's job: runs its statements; on TX_STOP sets *status to
 * the answer (CM_DB_NOT_FOUND, CM_DB_CONFLICT, ...).  It may run more
 * than once: it resets what it produces at its start.
 */
typedef enum tx_rc (*store_job)(struct cm_store *, void *arg,
    enum cm_db_status *status);

/* One statement parameter; a NULL s with P_STR binds SQL NULL. */
struct param {
	enum { P_STR, P_INT }	 type;
	const char		*s;
	unsigned long		 len;
	long long		 i;
};

/* ---- store_conn.c ------------------------------------------------- */

/* A connection, not made yet; tx: a write session. */
struct cm_store	*store_new(const struct cm_db_config *, bool tx,
		    unsigned long worker);
void		 store_free(struct cm_store *);
/* Connects to the first healthy node of the walk; 0, or -1 (logged). */
int		 store_connect(struct cm_store *);
void		 store_disconnect(struct cm_store *);
/* The connection is unusable: disconnect (and mark its node down if its error says so). */
void		 store_lost(struct cm_store *);
void		 store_leave_if_down(struct cm_store *);
/* Before a failed call of that class is tried again (store_conn.c). */
void		 store_drop_failed(struct cm_store *, enum cm_dberr);
bool		 store_connection_lost(unsigned err);
/* Records the error of st (or of the connection) in s->err, logs it; TX_DB_ERROR. */
enum tx_rc	 store_fail(struct cm_store *, MYSQL_STMT *, const char *what);
/* Around every blocking call on db: the watch (dbwatch.h) and stats.db_us. */
void		 store_call_begin(struct cm_store *, MYSQL *db);
bool		 store_call_end(struct cm_store *);
/* mysql_real_query() of constant SQL, watched; its return value. */
int		 store_query(struct cm_store *, const char *sql, unsigned long len);
/*
 * After a statement of a write session that answered without a result
 * set: false (s->err set, logged) when the server no longer runs the
 * transaction the session began, though it reported no error.
 */
bool		 store_tx_intact(struct cm_store *);
/* After COMMIT or ROLLBACK: the chained transaction's state. */
void		 store_tx_restart(struct cm_store *);
void		 store_set_deadline(struct cm_store *, const struct timespec *);
/* Milliseconds left of the deadline minus its margin (deadline.h). */
long		 store_budget_ms(const struct cm_store *);
/* Between requests: health recheck and fail-back. */
void		 store_between_requests(struct cm_store *);
enum cm_db_status store_ping(struct cm_store *);
void		 store_stats_take(struct cm_store *, struct cm_db_stats *add);
/*
 * The stalls the worker's other session met since s last looked: marked
 * here too, and s leaves a node that stalled after s connected to it.
 */
void		 store_learn_stalls(struct cm_store *s, const struct cm_store *from);

/* ---- store_stmt.c ------------------------------------------------- */

/* The cached statement for sql, prepared on first use (connects if needed). */
MYSQL_STMT	*store_stmt(struct cm_store *, const char *sql);
/* Binds p and executes; 0 or TX_DB_ERROR. */
enum tx_rc	 store_execute(struct cm_store *, MYSQL_STMT *,
		    const struct param *, size_t nparam);
/*
 * Binds p and executes st, nothing more (store_execute() also checks the
 * transaction's state after a write); 0 or TX_DB_ERROR.
 */
enum tx_rc	 store_execute_only(struct cm_store *, MYSQL_STMT *,
		    const struct param *, size_t nparam);
/*
 * A statement that ends the transaction on the server (a procedure that
 * COMMITs): TX_COMMITTED, TX_UNKNOWN when its answer was lost after the
 * transaction wrote its token, TX_RETRY when the row changed since it was
 * read (1020), else TX_DB_ERROR (s->err; duplicates are the caller's).
 */
enum tx_rc	 store_commit_call(struct cm_store *, MYSQL_STMT *,
		    const struct param *, size_t nparam);
/* store_stmt(), then store_execute(); NULL on error (s->err). */
MYSQL_STMT	*store_exec(struct cm_store *, const char *sql,
		    const struct param *, size_t nparam);
struct param	 store_str(const char *);
struct param	 store_int(long long);
struct param	 store_bin(const void *, unsigned long len);
/*
 * Rows of ncols string columns, read into s->col one at a time: bind,
 * then next_row until ROW_NONE or ROW_ERROR, then store_free_result().
 * fetch_one does all three for one row.
 */
enum row_rc	 store_bind_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
enum row_rc	 store_next_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
enum row_rc	 store_fetch_one(struct cm_store *, MYSQL_STMT *, size_t ncols);
void		 store_free_result(struct cm_store *, MYSQL_STMT *);
/* The fetched row as the API's client (columns of CLIENT_COLUMNS). */
enum row_rc	 store_row_to_client(struct cm_store *, struct cm_stored *);
/* out->version and out->etag from the version and the creation time. */
void		 store_set_etag(struct cm_stored *, unsigned long long version,
		    const char *created_at);
/* "2026-11-27 10:00:00.123" -> "2026-11-27T10:00:00.123Z" */
json_t		*store_timestamp(const char *);
/*
 * One client by id; locked (FOR UPDATE, with NOW(3) in s->col[NCOLS]) or
 * not.  ROW_NONE also for a client outside the agency within (NULL: any).
 */
enum row_rc	 store_load_client(struct cm_store *, const char *id,
		    bool locked, const char *within, struct cm_stored *);

/* ---- store_tx.c --------------------------------------------------- */

/*
 * Runs job in one transaction with retries (see store_tx.c); out, when
 * given, is the job's result: when a COMMIT's outcome was unknown and a
 * rerun finds that it had committed after all, the answer is what that
 * attempt computed.  The caller discards out->client on any status but
 * CM_DB_OK.
 */
enum cm_db_status store_write_tx(struct cm_store *, store_job, void *arg,
		    struct cm_problems *, struct cm_stored *out);
enum cm_db_status store_transaction(struct cm_store *, store_job, void *arg);
/* Runs job, a read, again once on a new connection if the old one died. */
enum cm_db_status store_read(struct cm_store *, store_job, void *arg);
/*
 * The parameter of the current transaction's token, for its audit row;
 * marks the attempt as tokened, so that a COMMIT of unknown outcome is
 * settled by looking the token up.
 */
struct param	 store_token(struct cm_store *);
/*
 * After an UPDATE or DELETE "WHERE id = ? AND version = ?": TX_OK when it
 * hit the row, TX_RETRY when the version moved since the transaction read
 * it (a write through another Galera node).
 */
enum tx_rc	 store_one_row(MYSQL_STMT *, const char *id);

/* ---- the jobs: db.c calls each on the connection it picks ---------- */

enum cm_db_status store_get(struct cm_store *, const char *id,
		    const char *within, struct cm_stored *);
enum cm_db_status store_admin_key(struct cm_store *, const char *sha256_hex,
		    struct cm_admin_key *);
enum cm_db_status store_list(struct cm_store *, const struct cm_list_query *,
		    struct cm_page *);
enum cm_db_status store_audit(struct cm_store *, const char *id,
		    const struct cm_list_query *, struct cm_page *);
enum cm_db_status store_audit_by_key(struct cm_store *,
		    unsigned long long key_id, unsigned long long before,
		    unsigned limit, json_t **items);
enum cm_db_status store_explain_list(struct cm_store *, void *fp);
enum cm_db_status store_events(struct cm_store *,
		    const struct cm_event_query *, struct cm_page *);
enum cm_db_status store_webhook_create(struct cm_store *, const json_t *input,
		    const char *secret, json_t **out);
enum cm_db_status store_webhook_get(struct cm_store *, unsigned long long id,
		    const char *within, json_t **out);
enum cm_db_status store_webhook_list(struct cm_store *, unsigned limit,
		    const char *after, const char *within, struct cm_page *);
enum cm_db_status store_webhook_patch(struct cm_store *, unsigned long long id,
		    const char *within, const json_t *changes, json_t **out);
enum cm_db_status store_webhook_rotate(struct cm_store *,
		    unsigned long long id, const char *within,
		    const char *secret, int overlap_s, json_t **out);
enum cm_db_status store_webhook_delete(struct cm_store *,
		    unsigned long long id, const char *within);
enum cm_db_status store_wh_lease(struct cm_store *, const char *holder,
		    int lease_s, bool *held);
enum cm_db_status store_wh_targets(struct cm_store *,
		    struct cm_wh_target **out, size_t *n);
enum cm_db_status store_wh_enqueue(struct cm_store *,
		    struct cm_wh_target *, int settle_s, unsigned batch,
		    bool rescan, unsigned *queued);
enum cm_db_status store_wh_next(struct cm_store *,
		    unsigned long long endpoint_id, struct cm_wh_delivery *,
		    bool *found);
enum cm_db_status store_wh_record(struct cm_store *, const char *holder,
		    const struct cm_wh_delivery *, bool delivered, int status,
		    const char *error, long long retry_ms, int retry_period_s);
enum cm_db_status store_wh_tidy(struct cm_store *, int keep_s);
enum cm_db_status store_wh_list(struct cm_store *, void *fp);
enum cm_db_status store_wh_status(struct cm_store *, const char *within,
		    json_t **out);
enum cm_db_status store_wh_replay(struct cm_store *, const char *since,
		    unsigned long long endpoint_id, unsigned long long *rows);
enum cm_db_status store_create(struct cm_store *, const json_t *input,
		    const struct cm_write *, struct cm_stored *,
		    struct cm_problems *);
enum cm_db_status store_patch(struct cm_store *, const char *id,
		    const json_t *changes, const struct cm_write *,
		    struct cm_stored *, struct cm_problems *);
enum cm_db_status store_rotate_keys(struct cm_store *, const char *id,
		    bool publishable, bool secret, const struct cm_write *,
		    struct cm_stored *);
enum cm_db_status store_delete(struct cm_store *, const char *id, bool hard,
		    const struct cm_write *, struct cm_stored *);
enum cm_db_status store_erase(struct cm_store *, const char *id,
		    const struct cm_write *, bool *deleted);
enum cm_db_status store_audit_purge(struct cm_store *, const char *cutoff,
		    unsigned batch, bool dry_run, unsigned long long *rows,
		    unsigned long long *batches);
enum cm_db_status store_idem_begin(struct cm_store *, struct cm_idem *,
		    int ttl_s, int stale_s, enum cm_idem_verdict *,
		    struct cm_idem_answer *);
enum cm_db_status store_idem_finish(struct cm_store *, const struct cm_idem *,
		    const struct cm_idem_answer *);
enum cm_db_status store_idem_release(struct cm_store *, const struct cm_idem *);
enum cm_db_status store_idem_purge(struct cm_store *, int ttl_s,
		    unsigned batch, unsigned long long *rows);
enum cm_db_status store_migrate(struct cm_store *,
		    const struct cm_migrate_opts *);
/* 0 when this build serves db's schema (its newest migration in level); -1 with why. */
int		 store_schema_check(MYSQL *db, char *level, size_t levelsz,
		    char *why, size_t whysz);
enum cm_db_status store_admin_key_create(struct cm_store *, const char *name,
		    const char *sha256_hex, const struct cm_key_settings *,
		    unsigned long long *id);
enum cm_db_status store_admin_key_set(struct cm_store *, unsigned long long id,
		    const struct cm_key_settings *);
enum cm_db_status store_admin_key_list(struct cm_store *, void *fp);
enum cm_db_status store_admin_key_revoke(struct cm_store *,
		    unsigned long long id);

/* ---- jobs shared between files ------------------------------------ */

/*
 * store_idem.c: inside a write's transaction, stores its answer in the
 * Idempotency-Key row (TX_STOP with CM_DB_IDEM_BUSY when the marker is no
 * longer this request's).  client_id: the client the answer is about
 * (NULL: keep).  out: what the write stored (NULL: a delete).
 */
enum tx_rc	 store_idem_answer(struct cm_store *, const struct cm_write *,
		    const char *client_id, const struct cm_stored *out,
		    enum cm_db_status *status);
/* Inside erasure's transaction: the client's stored answers go. */
enum tx_rc	 store_idem_erase(struct cm_store *, const char *client_id,
		    unsigned long long *rows);
/* store_read.c: the installation's cursor key into s->cursor_key, once. */
enum tx_rc	 store_cursor_key(struct cm_store *);
/* store_read.c: the cursor of position text for scope, into out (CM_CURSOR_MAX). */
enum tx_rc	 store_make_cursor(struct cm_store *, const char *scope,
		    size_t scopelen, const char *text, char *out);
/*
 * store_read.c: the position in a cursor made for scope, when it is a
 * number (decimal, no sign or leading zero): true with *seq.
 */
bool		 store_open_seq(struct cm_store *, const char *scope,
		    size_t scopelen, const char *cursor, unsigned long long *seq);
/*
 * How store_read_page() makes items of rows: ncols columns, the first
 * the row's position; row() makes the fetched row an item (owned by the
 * caller), or answers NULL: a row to skip when skip_null, else an error.
 * Cursors are signed for scope.
 */
struct store_page {
	size_t		  ncols;
	json_t		*(*row)(struct cm_store *);
	bool		  skip_null;
	const char	 *scope;
	size_t		  scopelen;
};
/*
 * store_read.c: the rows of an executed page statement st (limit + 1 at
 * most; st NULL when it failed) into out->items, the first limit of them,
 * and when it gave limit + 1 rows, out->next the cursor after the last
 * row read of those kept or skipped (a page after a skipped row may be
 * short or empty: the statement should leave out what it can).
 */
enum tx_rc	 store_read_page(struct cm_store *, MYSQL_STMT *st,
		    const struct store_page *, unsigned limit, struct cm_page *out);
/*
 * store_read.c: store_read() of a job that fills out, a page made empty
 * first (counted as said); out->items stays NULL unless CM_DB_OK.
 */
enum cm_db_status store_read_paged(struct cm_store *, store_job, void *arg,
		    bool counted, struct cm_page *out);
/*
 * store_events.c: the fetched history row (seq, action, admin_key_id,
 * request_id, at, changes, client_id) as an event; NULL when it is none.
 */
json_t		*store_event_of_row(struct cm_store *);
/* store_write.c: CM_FIELD_BIT()s of the members that hold a value. */
uint32_t	 store_present_members(const json_t *client);
/* store_write.c: the audit row of a write; steals changes. */
enum tx_rc	 store_write_audit(struct cm_store *, const char *id,
		    const char *action, const struct cm_write *, json_t *changes);
/* store_write.c: DELETE of the client read at version (store_one_row). */
enum tx_rc	 store_delete_row(struct cm_store *, const char *id,
		    unsigned long long version);

#endif
