/*
 * authcache.h - a worker's memory of admin keys it has verified.
 *
 * A few slots, keyed by the SHA-256 (hex) of the presented key, each
 * valid for ttl_ms after the database said yes; only accepted keys are
 * kept, so a revoked key is refused at most ttl_ms after revocation and
 * a new key works at once.  Time is the caller's (CLOCK_MONOTONIC ms), so
 * this is pure and unit-tested.  No allocation, no global state.
 */
#ifndef CM_AUTHCACHE_H
#define CM_AUTHCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define CM_AUTHCACHE_SLOTS	8

struct cm_authcache {
	uint64_t	ttl_ms;		/* 0: never remembers */
	struct {
		char			sha256[65];	/* "" empty */
		unsigned long long	id;
		uint64_t		expires_ms;
	}		slot[CM_AUTHCACHE_SLOTS];
};

void	cm_authcache_init(struct cm_authcache *, unsigned ttl_s);
/* true with *id when sha256 was verified less than ttl ago. */
bool	cm_authcache_get(struct cm_authcache *, const char *sha256,
	    uint64_t now_ms, unsigned long long *id);
/* Remembers an accepted key (replacing the slot that expires first). */
void	cm_authcache_put(struct cm_authcache *, const char *sha256,
	    unsigned long long id, uint64_t now_ms);
/* Now on CLOCK_MONOTONIC, in milliseconds. */
uint64_t cm_authcache_now_ms(void);

#endif
