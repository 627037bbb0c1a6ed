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

START_TEST(hit_within_ttl_only)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65];

	cm_authcache_init(&c, 5, 0);
	hash(1, h);
	ck_assert(!cm_authcache_get(&c, h, 1000, &id));
	cm_authcache_put(&c, h, 42, 1000);
	ck_assert(cm_authcache_get(&c, h, 1000, &id));
	ck_assert_uint_eq(id, 42);
	ck_assert(cm_authcache_get(&c, h, 5999, &id));
	/* exactly ttl after the lookup: gone (revocation bound) */
	ck_assert(!cm_authcache_get(&c, h, 6000, &id));
	ck_assert(!cm_authcache_get(&c, h, 6001, &id));
	hash(2, h);
	ck_assert(!cm_authcache_get(&c, h, 1000, &id));
}
END_TEST

START_TEST(off_when_zero)
{
	struct cm_authcache	c;
	unsigned long long	id = 0;
	char			h[65];

	cm_authcache_init(&c, 0, 0);
	hash(1, h);
	cm_authcache_put(&c, h, 42, 1000);
	ck_assert(!cm_authcache_get(&c, h, 1000, &id));
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
		cm_authcache_put(&c, h, (unsigned long long)i, 1000 + (uint64_t)i);
	}
	hash(0, h);
	ck_assert(!cm_authcache_get(&c, h, 1100, &id));
	for (i = 1; i < CM_AUTHCACHE_SLOTS + 1; i++) {
		hash(i, h);
		ck_assert(cm_authcache_get(&c, h, 1100, &id));
		ck_assert_uint_eq(id, (unsigned long long)i);
	}
	/* a refresh renews the same slot, not a second one */
	hash(3, h);
	cm_authcache_put(&c, h, 3, 4000);
	ck_assert(cm_authcache_get(&c, h, 8999, &id));
	hash(4, h);
	ck_assert(!cm_authcache_get(&c, h, 8999, &id));
	ck_assert(!cm_authcache_get(&c, "short", 1100, &id));
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
	ck_assert(!cm_authcache_get(&c, h, 1500, &id));
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
	tcase_add_test(tc, refused_key_remembered_for_its_ttl);
	tcase_add_test(tc, refusals_are_bounded);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
