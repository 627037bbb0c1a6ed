/* check_authcache.c - unit tests for authcache.c. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "authcache.h"
#include "unit_run.h"

static void
hash(int n, char *out)
{
	snprintf(out, 65, "%064d", n);
}

/* A key of id, with some scopes and a binding, to see all of it come back. */
static struct cm_admin_key
key_of(unsigned long long id)
{
	struct cm_admin_key	k;

	memset(&k, 0, sizeof(k));
	k.id = id;
	k.scopes = CM_SCOPE_CLIENTS_READ | CM_SCOPE_AUDIT_READ;
	snprintf(k.agency_id, sizeof(k.agency_id), "ag-%llu", id);
	return k;
}

/* cm_authcache_get's HIT, with the id in *id. */
static bool
hit(struct cm_authcache *c, const char *h, uint64_t now, unsigned long long *id)
{
	struct cm_admin_key	k;

	if (cm_authcache_get(c, h, now, &k) != CM_AUTHCACHE_HIT)
		return false;
	*id = k.id;
	return true;
}

static void
put(struct cm_authcache *c, const char *h, unsigned long long id, uint64_t now)
{
	struct cm_admin_key	k = key_of(id);

	cm_authcache_put(c, h, &k, CM_AUTHCACHE_NEVER, now);
}

START_TEST(hit_within_ttl_only)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65];

	cm_authcache_init(&c, 5, 0);
	hash(1, h);
	ck_assert(!hit(&c, h, 1000, &id));
	put(&c, h, 42, 1000);
	ck_assert(hit(&c, h, 1000, &id));
	ck_assert_uint_eq(id, 42);
	ck_assert(hit(&c, h, 5999, &id));
	/* exactly ttl after the lookup: gone (revocation bound) */
	ck_assert(!hit(&c, h, 6000, &id));
	ck_assert(!hit(&c, h, 6001, &id));
	hash(2, h);
	ck_assert(!hit(&c, h, 1000, &id));
}
END_TEST

START_TEST(off_when_zero)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65];

	cm_authcache_init(&c, 0, 0);
	hash(1, h);
	put(&c, h, 42, 1000);
	ck_assert(!hit(&c, h, 1000, &id));
}
END_TEST

START_TEST(full_cache_evicts_the_oldest)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65];
	int			i;

	cm_authcache_init(&c, 5, 0);
	for (i = 0; i < CM_AUTHCACHE_SLOTS + 1; i++) {
		hash(i, h);
		put(&c, h, (unsigned long long)i, 1000 + (uint64_t)i);
	}
	hash(0, h);
	ck_assert(!hit(&c, h, 1100, &id));
	for (i = 1; i < CM_AUTHCACHE_SLOTS + 1; i++) {
		hash(i, h);
		ck_assert(hit(&c, h, 1100, &id));
		ck_assert_uint_eq(id, (unsigned long long)i);
	}
	/* a refresh renews the same slot, not a second one */
	hash(3, h);
	put(&c, h, 3, 4000);
	ck_assert(hit(&c, h, 8999, &id));
	hash(4, h);
	ck_assert(!hit(&c, h, 8999, &id));
	ck_assert(!hit(&c, "short", 1100, &id));
}
END_TEST

/* Scopes and binding come back as they were put. */
START_TEST(key_comes_back_whole)
{
	struct cm_authcache	c;
	struct cm_admin_key	k = key_of(7), got;
	char			h[65];

	cm_authcache_init(&c, 5, 0);
	hash(7, h);
	cm_authcache_put(&c, h, &k, CM_AUTHCACHE_NEVER, 1000);
	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(cm_authcache_get(&c, h, 1000, &got), CM_AUTHCACHE_HIT);
	ck_assert_uint_eq(got.id, 7);
	ck_assert_uint_eq(got.scopes, CM_SCOPE_CLIENTS_READ | CM_SCOPE_AUDIT_READ);
	ck_assert_str_eq(got.agency_id, "ag-7");
}
END_TEST

/*
 * A key that expires while remembered is refused from that millisecond
 * on, without a lookup, until the slot itself ends; one expired when it
 * was looked up, at once.
 */
START_TEST(key_expiry_within_the_slot)
{
	struct cm_authcache	c;
	struct cm_admin_key	k = key_of(9), got;
	char			h[65];

	cm_authcache_init(&c, 5, 0);
	hash(9, h);
	cm_authcache_put(&c, h, &k, 3000, 1000);
	ck_assert_int_eq(cm_authcache_get(&c, h, 2999, &got), CM_AUTHCACHE_HIT);
	ck_assert_int_eq(cm_authcache_get(&c, h, 3000, &got),
	    CM_AUTHCACHE_EXPIRED);
	ck_assert_uint_eq(got.id, 9);
	ck_assert_int_eq(cm_authcache_get(&c, h, 5999, &got),
	    CM_AUTHCACHE_EXPIRED);
	/* The slot's own end: looked up again (an operator may have extended it). */
	ck_assert_int_eq(cm_authcache_get(&c, h, 6000, &got), CM_AUTHCACHE_MISS);
	cm_authcache_put(&c, h, &k, 7000, 7000);
	ck_assert_int_eq(cm_authcache_get(&c, h, 7000, &got),
	    CM_AUTHCACHE_EXPIRED);
}
END_TEST

/* A refused key is remembered for its own ttl; then it costs a lookup. */
START_TEST(refused_key_remembered_for_its_ttl)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65], other[65];

	cm_authcache_init(&c, 5, 2);
	hash(7, h);
	hash(8, other);
	ck_assert(!cm_authcache_refused(&c, h, 1000));
	cm_authcache_refuse(&c, h, 1000);
	ck_assert(cm_authcache_refused(&c, h, 1000));
	ck_assert(cm_authcache_refused(&c, h, 2999));
	ck_assert(!cm_authcache_refused(&c, h, 3000));
	ck_assert(!cm_authcache_refused(&c, other, 1500));
	/* a refusal is no acceptance */
	ck_assert(!hit(&c, h, 1500, &id));
	ck_assert(!cm_authcache_refused(&c, "short", 1500));
}
END_TEST

/* Bounded: the 65th refusal replaces the oldest; off when its ttl is 0. */
START_TEST(refusals_are_bounded)
{
	struct cm_authcache	c;
	char			h[65];
	int			i;

	cm_authcache_init(&c, 5, 2);
	for (i = 0; i < CM_AUTHCACHE_REFUSED + 1; i++) {
		hash(100 + i, h);
		cm_authcache_refuse(&c, h, 1000);
	}
	hash(100, h);
	ck_assert(!cm_authcache_refused(&c, h, 1001));
	for (i = 1; i < CM_AUTHCACHE_REFUSED + 1; i++) {
		hash(100 + i, h);
		ck_assert(cm_authcache_refused(&c, h, 1001));
	}
	cm_authcache_init(&c, 5, 0);
	cm_authcache_refuse(&c, h, 1000);
	ck_assert(!cm_authcache_refused(&c, h, 1000));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("authcache");
	TCase	*tc = tcase_create("authcache");

	tcase_add_test(tc, hit_within_ttl_only);
	tcase_add_test(tc, off_when_zero);
	tcase_add_test(tc, full_cache_evicts_the_oldest);
	tcase_add_test(tc, key_comes_back_whole);
	tcase_add_test(tc, key_expiry_within_the_slot);
	tcase_add_test(tc, refused_key_remembered_for_its_ttl);
	tcase_add_test(tc, refusals_are_bounded);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
