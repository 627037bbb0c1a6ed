/*
 * store_int.h - what the store_*.c files share; not a public API.
 *
 * store.c        the store's life, statement cache, rows, single reads
 * store_conn.c   connecting: the node walk, sessions, Galera health, fail-back
 * store_tx.c     the transaction runner: retries, deadline, tokens
 * store_write.c  create, patch, delete, key rotation (and their audit rows)
 * store_read.c   the client list, audit history, query plans
 * store_admin.c  migrations and admin keys
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
#include "dbnodes.h"
#include "store.h"

/* The members of section 2 in order, as selected from the table. */
#define CLIENT_COLUMNS \
	"id, name, status, publishable_key, secret_key, domain, email, phone, " \
	"website, timezone, global_name, company_id, agency_id, api_metadata, " \
	"ghl_location_id, proxy_api_key, created_at, updated_at, version"
#define NCOLS		(CM_F__COUNT + 1)	/* + version */
#define COL_VERSION	CM_F__COUNT
#define MAX_COLS	(NCOLS + 1)		/* + NOW(3) of a locked read */

/*
 * Statements with a fixed text, by name.  Every statement, these and the
 * ones built at run time (UPDATE column sets, list filters), is prepared on
 * first use and kept in one bounded per-connection cache (see store.c).
 */
enum stmt_id {
	ST_ADMIN_KEY, ST_GET, ST_GET_LOCKED, ST_INSERT, ST_DELETE, ST_AUDIT,
	ST_AUDIT_COUNT,
	ST_KEY_CREATE, ST_KEY_LIST, ST_KEY_REVOKE,
	ST_MIGRATION_SEEN, ST_MIGRATION_RECORD,
	ST__COUNT
};

#define LIST_SHAPES	16	/* one bit per list filter */

/*
 * At most this many server-side prepared statements per worker (per
 * connection): the least recently used one is closed to make room.
 * MariaDB's max_prepared_stmt_count (16,382 by default) is shared by all
 * connections, so 24 per worker leaves room for about 680 workers.  A
 * statement returned by store_stmt*() stays valid until STORE_STMT_MAX
 * other statements have been used after it.
 */
#define STORE_STMT_MAX	24

/* A write transaction's token: 128 random bits (client_audit.tx_token). */
#define STORE_TOKEN_LEN	16

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

struct cm_store {
	const struct cm_config	*cfg;
	MYSQL			*db;
	struct store_cached	 cache[STORE_STMT_MAX];
	unsigned long long	 tick;
	unsigned long long	 prepared;	/* statements prepared so far (tests, logs) */
	unsigned		 err;		/* last MariaDB error number; 0 at each attempt */
	/* The request's deadline (cm_store_set_deadline), CLOCK_MONOTONIC. */
	bool			 has_deadline;
	struct timespec		 deadline;
	int			 lock_wait;	/* innodb_lock_wait_timeout the session has */
	unsigned char		 cursor_key[64];	/* 0 bytes: not read yet */
	size_t			 cursor_keylen;
	/* Verified admin keys; a session without autocommit. */
	struct cm_authcache	 auth;
	bool			 tx_session;	/* see cm_store_new_tx() */
	/*
	 * A tx session's transaction as the server last reported it
	 * (session_track_transaction_info): 'T' while the one this session
	 * began is running.  tx_wrote: the transaction wrote; tx_unverified:
	 * a statement with a result set (whose answer carries no state) ran
	 * since the last report (store_tx_intact()).
	 */
	char			 tx_state;
	bool			 tx_wrote, tx_unverified;
	bool			 cut;		/* the watch cut the last call (dbwatch.h) */
	bool			 settling;	/* looking up a lost COMMIT's token */
	long long		 call_t0;	/* store_call_begin() */
	/*
	 * The token of the write transaction being run
	 * (store_transaction draws it once per call, so a rerun after a
	 * COMMIT of unknown outcome carries the same one), and whether the
	 * attempt wrote it into an audit row (store_token()).
	 */
	unsigned char		 tx_token[STORE_TOKEN_LEN];
	bool			 tx_tokened;
	struct cm_store_stats	 stats;		/* since cm_store_stats_take() */
	/*
	 * The database nodes and what this store knows of them
	 * (each store of a worker keeps its own; no state is shared).
	 * Times are CLOCK_MONOTONIC milliseconds.
	 */
	struct cm_dbnodes	 nodes;
	long long		 down_until[CM_DBNODES_MAX];	/* 0: not marked */
	char			 down_why[CM_DBNODES_MAX][192];	/* for the log */
	long long		 said_at[CM_DBNODES_MAX];	/* see say_now() */
	size_t			 start;		/* where this worker's walk starts */
	int			 cur;		/* node of db; -1 when not connected */
	int			 last;		/* node of the last connection; -1 none */
	long long		 failback_next;	/* the next fail-back probe */
	long long		 health_next;	/* the next health recheck (galera) */
	char			 errmsg[160];	/* text of err (store_fail), for the log */
	/* The row fetch_row() last read, as NUL-terminated strings. */
	char			*col[MAX_COLS];
	size_t			 cap[MAX_COLS];
	MYSQL_BIND		 bind[MAX_COLS];
	unsigned long		 col_len[MAX_COLS];
	store_flag		 col_null[MAX_COLS];
	store_flag		 col_error[MAX_COLS];
};

/* One statement parameter; a NULL s with P_STR binds SQL NULL. */
struct param {
	enum { P_STR, P_INT }	 type;
	const char		*s;
	unsigned long		 len;
	long long		 i;
};

/* Internal results of a step inside a transaction. */
#define TX_DB_ERROR	(-1)	/* see store->err */
#define TX_RETRY	(-2)	/* roll back and run the transaction again (a
				   generated key collided, or the row's version
				   changed under us); counts as a conflict */

/*
 * Connects to the first healthy node of the walk (dbnodes.h), logging
 * every node it passes over and why; 0, or -1 when none could be used.
 */
int		 store_connect(struct cm_store *);
/* The node list and this worker's place in it (cm_store_new). */
void		 store_nodes_init(struct cm_store *);
/* Between requests: back to a preferred node that recovered (store_conn.c). */
void		 store_failback(struct cm_store *);
void		 store_disconnect(struct cm_store *);
/* The server is gone or not serving: disconnect (and, with several nodes, mark it down). */
void		 store_lost(struct cm_store *);
/* Microseconds on CLOCK_MONOTONIC: the time spent waiting on MariaDB. */
long long	 store_now_us(void);
bool		 store_connection_lost(unsigned err);	/* cm_dberr_class() LOST */
/*
 * Around every blocking call on db (the store's connection, or one being
 * set up): the watch bounds it (dbwatch.h) and its time counts as
 * stats.db_us.  store_call_end() says whether the watch cut it.
 */
void		 store_call_begin(struct cm_store *, MYSQL *db);
bool		 store_call_end(struct cm_store *);
/*
 * After a statement of a tx session that answered without a result set:
 * false (s->err set, logged) when the server no longer runs the
 * transaction the session began, though it reported no error (see
 * store_tx.c); the caller fails the statement.
 */
bool		 store_tx_intact(struct cm_store *);
/* After COMMIT or ROLLBACK: the chained transaction's state. */
void		 store_tx_restart(struct cm_store *);
/* mysql_real_query() of constant SQL, watched; its return value. */
int		 store_query(struct cm_store *, const char *sql, unsigned long len);
/* Milliseconds left of the deadline minus its margin (deadline.h). */
long		 store_budget_ms(const struct cm_store *);
int		 store_fail(struct cm_store *, MYSQL_STMT *, const char *what);
/* Not cached: the caller closes it (store_close). */
MYSQL_STMT	*store_prepare(struct cm_store *, const char *sql);
void		 store_close(MYSQL_STMT **);
int		 store_execute(struct cm_store *, MYSQL_STMT *,
		    const struct param *, size_t nparam);
/*
 * Connects if needed and returns the cached statement, preparing it on
 * first use; it stays the store's (never close it).  store_stmt_sql()
 * does the same for a statement built at run time, cached by its text.
 */
MYSQL_STMT	*store_stmt(struct cm_store *, enum stmt_id);
MYSQL_STMT	*store_stmt_sql(struct cm_store *, const char *sql);
/* store_stmt(), then executes. */
MYSQL_STMT	*store_exec(struct cm_store *, enum stmt_id,
		    const struct param *, size_t nparam);
struct param	 store_str(const char *);
struct param	 store_int(long long);
/* len bytes, not NUL-terminated (a token). */
struct param	 store_bin(const void *, unsigned long len);
/*
 * The parameter of the current transaction's token, for its audit row;
 * marks the attempt as tokened, so that a COMMIT of unknown outcome is
 * resolved by looking the token up (store.c).
 */
struct param	 store_token(struct cm_store *);
/*
 * Rows of ncols string columns, read into s->col one at a time: bind once,
 * then next_row until it returns 0 (no more rows) or TX_DB_ERROR, then
 * store_free_result().  fetch_one does all three for one row.
 */
int		 store_bind_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
int		 store_next_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
int		 store_fetch_one(struct cm_store *, MYSQL_STMT *, size_t ncols);
/* mysql_stmt_free_result(), watched: it reads the rows not fetched. */
void		 store_free_result(struct cm_store *, MYSQL_STMT *);
/* The fetched row as the API's client (columns of CLIENT_COLUMNS). */
int		 store_row_to_client(struct cm_store *, struct cm_stored *);
/*
 * out->version and out->etag: the version for changes, the creation time
 * (its digits, in either timestamp form) so that a client deleted and
 * created again never reuses a tag.
 */
void		 store_set_etag(struct cm_stored *, unsigned long long version,
		    const char *created_at);
/* "2026-11-27 10:00:00.123" -> "2026-11-27T10:00:00.123Z" */
json_t		*store_timestamp(const char *);
/* 1 found, 0 not, TX_DB_ERROR. */
int		 store_load_client(struct cm_store *, enum stmt_id, const char *id,
		    struct cm_stored *);
/*
 * Runs fn in one transaction with retries; see store.c.  fn may run more
 * than once: it must reset what it produces at its start, and the caller
 * discards it (out->client) on any result but CM_STORE_OK.
 */
int		 store_transaction(struct cm_store *,
		    int (*fn)(struct cm_store *, void *), void *arg,
		    struct cm_problems *);
/*
 * The same, for a job whose result is a client in *out (owned by the
 * caller): when a COMMIT's outcome was unknown and a rerun then finds
 * that it had committed after all, the answer is what that attempt
 * computed, kept aside here while the rerun runs.
 */
int		 store_write_tx(struct cm_store *,
		    int (*fn)(struct cm_store *, void *), void *arg,
		    struct cm_problems *, struct cm_stored *out);
/*
 * After an UPDATE or DELETE of a client "WHERE id = ? AND version = ?":
 * 0 when it hit the row, TX_RETRY when its version changed since the
 * transaction read it (a write through another Galera node): the
 * transaction runs again from its read.
 */
int		 store_one_row(MYSQL_STMT *, const char *id);
/*
 * store_idem.c: inside a write's transaction, stores its answer
 * in the Idempotency-Key row (0; CM_STORE_IDEM_BUSY when the marker is no
 * longer this request's: the write is then rolled back; TX_DB_ERROR).
 * client_id: the client the answer is about (NULL: keep).
 */
struct cm_idem_answer;
int		 store_idem_save(struct cm_store *, const struct cm_idem *,
		    const struct cm_idem_answer *, const char *client_id);
/*
 * With w->idem, stores the answer of a write that succeeded in the
 * write's own transaction: a repeat finds it if and only if the write
 * committed, even when the worker dies right after COMMIT.  The body is
 * w->idem->answer when set (DELETE), else the envelope the endpoint
 * sends (cm_envelope_data of out->client, compact) with out's ETag, so a
 * replay is the same bytes.  0 without w->idem; else as store_idem_save.
 */
int		 store_idem_answer(struct cm_store *, const struct cm_write *,
		    const char *client_id, const struct cm_stored *out);
/* Inside erasure's transaction: the client's stored answers go. */
int		 store_idem_erase(struct cm_store *, const char *client_id,
		    unsigned long long *rows);
/* CM_FIELD_BIT()s of the members that hold a value (timestamps aside). */
uint32_t	 store_present_members(const json_t *client);
/* Runs fn (a read) again once on a new connection if the old one died. */
int		 store_read(struct cm_store *,
		    int (*fn)(struct cm_store *, void *), void *arg);

#endif
