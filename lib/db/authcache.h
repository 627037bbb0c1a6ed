/*
 * authcache.h - a worker's memory of admin keys it has verified.
 *
 * A few slots, keyed by the SHA-256 (hex) of the presented key, each
 * valid for ttl_ms after the database said yes: a revoked key is refused,
 * and a change of its scopes, binding or expiry seen, at most ttl_ms
 * after the change.  A slot also holds when the key itself expires (its
 * expires_at, as a time on this clock), so an expired key is refused to
 * the millisecond even while it is remembered.
 *
 * And a bounded list of keys the database refused (unknown or revoked),
 * each for refused_ttl_ms, so the same bad token sent again and again
 * costs no query.  A new admin key is random: nobody can have sent it
 * before it existed, so it works at once.  The one exception is a reader
 * behind the writer (Galera without causal_reads): a key presented to a
 * node the new key has not reached yet is refused, and then for
 * refused_ttl_ms more.  Distinct random tokens still cost a query each.
 *
 * Time is the caller's (CLOCK_MONOTONIC ms), so this is pure and
 * unit-tested.  No allocation, no global state.
 */
#ifndef CM_AUTHCACHE_H
#define CM_AUTHCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"

#define CM_AUTHCACHE_SLOTS	8
#define CM_AUTHCACHE_REFUSED	64
/* A key without expires_at. */
#define CM_AUTHCACHE_NEVER	UINT64_MAX

struct cm_authcache {
	uint64_t	ttl_ms;		/* 0: never remembers */
	struct {
		char			sha256[65];	/* "" empty */
		struct cm_admin_key	key;
		uint64_t		expires_ms;	/* of the slot: look up again */
		uint64_t		key_expires_ms;	/* of the key, or NEVER */
	}		slot[CM_AUTHCACHE_SLOTS];
	uint64_t	refused_ttl_ms;	/* 0: never remembers a refusal */
	unsigned	next_refused;	/* the oldest entry: replaced next */
	struct {
		char			sha256[65];	/* "" empty */
		uint64_t		expires_ms;
	}		refused[CM_AUTHCACHE_REFUSED];
};

enum cm_authcache_hit {
	CM_AUTHCACHE_MISS,	/* not remembered (or no longer): look it up */
	CM_AUTHCACHE_HIT,	/* a valid key, in *key */
	CM_AUTHCACHE_EXPIRED	/* remembered, and past its own expiry */
};

void	cm_authcache_init(struct cm_authcache *, unsigned ttl_s,
	    unsigned refused_ttl_s);
/* What is remembered of sha256 at now_ms; *key set on a HIT and EXPIRED. */
enum cm_authcache_hit cm_authcache_get(struct cm_authcache *,
	    const char *sha256, uint64_t now_ms, struct cm_admin_key *key);
/*
 * Remembers a key the database accepted (replacing the slot that expires
 * first), which itself expires at key_expires_ms (CM_AUTHCACHE_NEVER:
 * never; at or before now_ms: already).
 */
void	cm_authcache_put(struct cm_authcache *, const char *sha256,
	    const struct cm_admin_key *key, uint64_t key_expires_ms,
	    uint64_t now_ms);
/* true when sha256 was refused less than refused_ttl ago. */
bool	cm_authcache_refused(struct cm_authcache *, const char *sha256,
	    uint64_t now_ms);
/* Remembers a refused key (replacing the oldest entry). */
void	cm_authcache_refuse(struct cm_authcache *, const char *sha256,
	    uint64_t now_ms);
/* Now on CLOCK_MONOTONIC, in milliseconds. */
uint64_t cm_authcache_now_ms(void);

#endif
