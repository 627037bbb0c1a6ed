/*
 * store.h - the data layer: one MariaDB connection per worker process.
 *
 * Open it after fork().  The connection is made lazily and remade when the
 * server went away; statements are prepared on first use and kept in a
 * bounded per-connection cache (STORE_STMT_MAX, store_int.h).
 * Every write runs in one transaction on the locked row and leaves its
 * audit row in the same transaction.  Nothing here logs a secret.
 */
#ifndef CM_STORE_H
#define CM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "config.h"
#include "cursor.h"
#include "problems.h"

enum cm_store_rc {
	CM_STORE_OK,
	CM_STORE_NOT_FOUND,
	CM_STORE_CONFLICT,	/* duplicate key; probs names the member */
	CM_STORE_PRECONDITION,	/* If-Match did not match the locked row */
	CM_STORE_INVALID,	/* probs says why (api_metadata after merge) */
	CM_STORE_UNAVAILABLE,	/* cannot reach the database: 503 */
	CM_STORE_FAILED,	/* anything else: 500, details in the log */
	CM_STORE_IDEM_BUSY	/* the Idempotency-Key is another request's now: 409 */
};

/*
 * An Idempotency-Key request in flight (store_idem.h): who, which
 * key, the request's fingerprint, and the random id of this request's
 * in-progress marker.  With cm_write.idem set, a successful write stores
 * its answer (status, the client's envelope, ETag, location) in the
 * idempotency row in its own transaction, so a replay finds it even if
 * the worker dies right after COMMIT.
 */
struct cm_idem {
	unsigned long long	 admin_key_id;
	char			 key[256];
	char			 fingerprint[65];
	unsigned char		 owner[16];
	char			 client_id[256];	/* "" until known */
	int			 status;	/* of a successful write: 200, 201 */
	char			 location[300];	/* "" : none */
	/*
	 * The body a successful write answers when it is not the client's
	 * envelope (DELETE's); "": the envelope of the written client, with
	 * its ETag.
	 */
	char			 answer[96];
};

/* Who writes, and on which condition. */
struct cm_write {
	const char		*request_id;
	unsigned long long	 admin_key_id;
	const char		*if_match;	/* NULL: unconditional */
	const struct cm_idem	*idem;		/* NULL: no Idempotency-Key */
};

/* A client as the API returns it, and its strong ETag. */
struct cm_stored {
	json_t	*client;	/* new reference on CM_STORE_OK; caller decrefs */
	unsigned long long version;	/* the row's version column */
	char	 etag[64];	/* "\"<version>.<created_at digits>\"" */
};

struct cm_store;

/* The config must outlive the store.  Never NULL (aborts on ENOMEM). */
struct cm_store	*cm_store_new(const struct cm_config *);
/*
 * A store for writes: its session runs with autocommit off in explicit
 * transactions, each COMMIT or ROLLBACK starting the next (no START
 * TRANSACTION round trip), and checks from the transaction state the
 * server reports that a write transaction is still the one it began
 * before it commits (store_tx.c says why).  Reads on it work too (they
 * commit when done, so no idle transaction holds metadata locks), but
 * cost a COMMIT each: give reads a cm_store_new() store.  Not for DDL,
 * which commits on its own.
 */
struct cm_store	*cm_store_new_tx(const struct cm_config *);
void		 cm_store_free(struct cm_store *);
/* What one request cost the database: for the access and slow log lines. */
struct cm_store_stats {
	long long	db_us;		/* waiting for MariaDB: execute, fetch, begin, commit */
	unsigned	statements;	/* prepared statements executed */
	unsigned	retries;	/* transactions run again after a conflict (deadlock, lock wait, certification, version) */
};
/* Copies the counters gathered since the last call into *out and resets them. */
void		 cm_store_stats_take(struct cm_store *, struct cm_store_stats *out);
/* CM_STORE_OK when the database answers. */
int		 cm_store_ping(struct cm_store *);

/*
 * The deadline of the request being served (CLOCK_MONOTONIC, absolute;
 * NULL: none), set by the worker per request from [server]
 * request_timeout.  Every lock wait, retry, back-off and reconnect takes
 * what is left of it minus a 1 s margin; when nothing is left the call
 * answers CM_STORE_UNAVAILABLE (503 + Retry-After).  It stays until set
 * again.
 */
void		 cm_store_set_deadline(struct cm_store *,
		    const struct timespec *deadline);
/*
 * Setting no deadline (NULL) also marks the end of a request:
 * a worker on a node after its preferred one checks then, at most every
 * [database] failback_s seconds, whether the preferred node is healthy
 * again, and moves back to it.
 */

/*
 * Which worker this store serves (its pool slot; a spawned worker's pid):
 * under [database] policy = balance, where its walk over the nodes starts.
 * cm_store_new() uses the pid until this is called.
 */
void		 cm_store_set_worker(struct cm_store *, unsigned long id);

/*
 * Looks up an active admin key by the SHA-256 of the presented token;
 * an accepted key is remembered for [api] auth_cache_s (no lookup then).
 */
int	cm_store_admin_key(struct cm_store *, const char *token, size_t len,
	    unsigned long long *id);

int	cm_store_get(struct cm_store *, const char *id, struct cm_stored *);
/* input: normalised members from cm_client_check_input(CREATE). */
int	cm_store_create(struct cm_store *, const json_t *input,
	    const struct cm_write *, struct cm_stored *, struct cm_problems *);
/* changes: normalised members from cm_client_check_input(PATCH). */
int	cm_store_patch(struct cm_store *, const char *id, const json_t *changes,
	    const struct cm_write *, struct cm_stored *, struct cm_problems *);

/*
 * GET /clients: filters (NULL or -1: any), a page of it, and the total.
 * The audit history takes limit, offset, after and no_count only.
 */
struct cm_list_query {
	int			 status;	/* -1 any, 0, 1 */
	const char		*agency_id;
	const char		*company_id;
	const char		*domain;	/* lowercased */
	unsigned		 limit;
	unsigned long long	 offset;	/* 0 when after is set */
	const char		*after;		/* a next cursor, or NULL */
	bool			 no_count;	/* ?count=false: no count query */
};

/* One page of a list. */
struct cm_page {
	json_t			*items;	/* new array on CM_STORE_OK; caller decrefs */
	bool			 counted;	/* false: count not asked for */
	unsigned long long	 count;	/* all matches, when counted */
	char			 next[CM_CURSOR_MAX];	/* "" on the last page */
};

/*
 * Items ordered by created_at, id.  CM_STORE_INVALID: q->after is not a
 * cursor of this list with these filters (tampered, foreign, other filters).
 */
int	cm_store_list(struct cm_store *, const struct cm_list_query *,
	    struct cm_page *);
/* Soft: status false (nothing written when already false); hard: row gone. */
int	cm_store_delete(struct cm_store *, const char *id, bool hard,
	    const struct cm_write *);
/* Fresh keys for the members asked for, in one transaction. */
int	cm_store_rotate_keys(struct cm_store *, const char *id,
	    bool publishable, bool secret, const struct cm_write *,
	    struct cm_stored *);
/*
 * The history of a client, newest first (by seq); CM_STORE_NOT_FOUND when
 * it has none; CM_STORE_INVALID as for the list.
 */
int	cm_store_audit(struct cm_store *, const char *id,
	    const struct cm_list_query *, struct cm_page *);

/* For clientsctl: query plans, migrations and admin keys. */
/*
 * Writes the EXPLAIN of every list query shape, tab-separated, to fp:
 * kinds count, page (first), after (keyset), seek (offset's covering walk).
 */
int	cm_store_explain_list(struct cm_store *, void *fp);
int	cm_store_migrate(struct cm_store *, const char *dir,
	    void (*applied)(const char *name));
int	cm_store_admin_key_create(struct cm_store *, const char *name,
	    const char *sha256_hex, unsigned long long *id);
/* Writes "ID\tNAME\tCREATED_AT\tREVOKED_AT" lines (header first) to fp. */
int	cm_store_admin_key_list(struct cm_store *, void *fp);
int	cm_store_admin_key_revoke(struct cm_store *, unsigned long long id);

#endif
