/*
 * authcache.c - see authcache.h.
 */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "authcache.h"
#include "deadline.h"

void
cm_authcache_init(struct cm_authcache *c, unsigned ttl_s,
    unsigned refused_ttl_s)
{
	memset(c, 0, sizeof(*c));
	c->ttl_ms = (uint64_t)ttl_s * 1000;
	c->refused_ttl_ms = (uint64_t)refused_ttl_s * 1000;
}

enum cm_authcache_hit
cm_authcache_get(struct cm_authcache *c, const char *sha256, uint64_t now_ms,
    struct cm_admin_key *key)
{
	size_t	i;

	if (c->ttl_ms == 0 || strlen(sha256) != 64)
		return CM_AUTHCACHE_MISS;
	for (i = 0; i < CM_AUTHCACHE_SLOTS; i++) {
		if (c->slot[i].sha256[0] == '\0' ||
		    CRYPTO_memcmp(c->slot[i].sha256, sha256, 64) != 0)
			continue;
		if (now_ms >= c->slot[i].expires_ms) {
			c->slot[i].sha256[0] = '\0';
			return CM_AUTHCACHE_MISS;
		}
		*key = c->slot[i].key;
		return now_ms >= c->slot[i].key_expires_ms ?
		    CM_AUTHCACHE_EXPIRED : CM_AUTHCACHE_HIT;
	}
	return CM_AUTHCACHE_MISS;
}

void
cm_authcache_put(struct cm_authcache *c, const char *sha256,
    const struct cm_admin_key *key, uint64_t key_expires_ms, uint64_t now_ms)
{
	size_t	i, victim = 0;

	if (c->ttl_ms == 0 || strlen(sha256) != 64)
		return;
	for (i = 0; i < CM_AUTHCACHE_SLOTS; i++) {
		if (strcmp(c->slot[i].sha256, sha256) == 0) {
			victim = i;
			break;
		}
		if (c->slot[i].expires_ms < c->slot[victim].expires_ms)
			victim = i;
	}
	memcpy(c->slot[victim].sha256, sha256, 65);
	c->slot[victim].key = *key;
	c->slot[victim].expires_ms = now_ms + c->ttl_ms;
	c->slot[victim].key_expires_ms = key_expires_ms;
}

bool
cm_authcache_refused(struct cm_authcache *c, const char *sha256,
    uint64_t now_ms)
{
	size_t	i;

	if (c->refused_ttl_ms == 0 || strlen(sha256) != 64)
		return false;
	for (i = 0; i < CM_AUTHCACHE_REFUSED; i++)
		if (c->refused[i].sha256[0] != '\0' &&
		    now_ms < c->refused[i].expires_ms &&
		    memcmp(c->refused[i].sha256, sha256, 64) == 0)
			return true;
	return false;
}

void
cm_authcache_refuse(struct cm_authcache *c, const char *sha256,
    uint64_t now_ms)
{
	unsigned	i = c->next_refused;

	if (c->refused_ttl_ms == 0 || strlen(sha256) != 64)
		return;
	memcpy(c->refused[i].sha256, sha256, 65);
	c->refused[i].expires_ms = now_ms + c->refused_ttl_ms;
	c->next_refused = (i + 1) % CM_AUTHCACHE_REFUSED;
}

uint64_t
cm_authcache_now_ms(void)
{
	return (uint64_t)(cm_clock_us(CLOCK_MONOTONIC) / 1000);
}
