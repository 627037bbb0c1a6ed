/*
 * store_idem.h - Idempotency-Key in the database: the
 * in-progress marker, the stored answer, replays, expiry.  The pure parts
 * (the header, the fingerprint) are in idempotency.h; the table is
 * db/011_idempotency.sql.
 */
#ifndef CM_STORE_IDEM_H
#define CM_STORE_IDEM_H

#include "store.h"

/* What the first step found for the key. */
enum cm_idem_verdict {
	CM_IDEM_GO,		/* the key is ours now (a marker committed): run */
	CM_IDEM_REPLAY,		/* an answer is stored for this request: send it */
	CM_IDEM_REUSED,		/* the key is another request's (fingerprint): 422 */
	CM_IDEM_BUSY		/* the first request still runs: 409 + Retry-After */
};

/* A stored answer. */
struct cm_idem_answer {
	int	 status;
	char	 etag[64];	/* "" : none */
	char	 location[300];	/* "" : none */
	char	*body;		/* malloc'ed, NUL-terminated; caller frees */
	size_t	 len;
};

/*
 * In one transaction: reads the row of (admin key, key) locked; none, or
 * one older than ttl_s (expired), or an in-progress marker older than
 * stale_s (its request is gone: the watchdog kills a request at the
 * request timeout) -> writes this request's marker (owner drawn here into
 * idem->owner) and answers CM_IDEM_GO.  Otherwise: another fingerprint ->
 * CM_IDEM_REUSED; a stored answer -> CM_IDEM_REPLAY with it in *ans (a
 * body the caller frees); a live marker -> CM_IDEM_BUSY.  Two requests
 * inserting the same key on two Galera nodes: the loser gets a duplicate
 * key or a certification failure and reads the winner's row.
 * Returns CM_STORE_OK (see *verdict), CM_STORE_UNAVAILABLE or
 * CM_STORE_FAILED.
 */
int	cm_store_idem_begin(struct cm_store *, struct cm_idem *, int ttl_s,
	    int stale_s, enum cm_idem_verdict *verdict,
	    struct cm_idem_answer *ans);

/*
 * Stores an answer that did not come with a write (any non-5xx but the
 * successful writes, which store theirs in their own transaction), in a
 * small transaction of its own; nothing when the marker is no longer this
 * request's.
 */
int	cm_store_idem_finish(struct cm_store *, const struct cm_idem *,
	    const struct cm_idem_answer *);

/* Deletes this request's marker (after a 5xx: the request may be repeated). */
int	cm_store_idem_release(struct cm_store *, const struct cm_idem *);

/*
 * Deletes the rows older than ttl_s in batches of batch rows (one short
 * transaction each, oldest first).  *rows: how many went.
 */
int	cm_store_idem_purge(struct cm_store *, int ttl_s, unsigned batch,
	    unsigned long long *rows);

#endif
