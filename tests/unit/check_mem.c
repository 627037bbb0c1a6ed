/* check_mem.c - unit tests for mem.c's request arena. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "mem.h"
#include "unit_run.h"

static json_malloc_t	jmalloc;
static json_free_t	jfree;

static void
setup(void)
{
	cm_mem_init();
	json_get_alloc_funcs(&jmalloc, &jfree);
}

/* Inside a request: cut one after the other, 16-aligned, never reused. */
START_TEST(arena_bumps_within_a_request)
{
	unsigned char	*a, *b, *c;

	cm_mem_request_begin();
	a = jmalloc(40);
	b = jmalloc(40);
	ck_assert_uint_eq((uintptr_t)a % 16, 0);
	ck_assert_ptr_eq(b, a + 48);
	jfree(a);
	c = jmalloc(40);
	ck_assert_ptr_eq(c, b + 48);	/* malloc would have handed a back */
	memset(a, 1, 40);		/* still the request's: a no-op free */
	cm_mem_request_end();
}
END_TEST

/* The next request starts where the last one did: the block is kept. */
START_TEST(arena_reset_between_requests)
{
	void	*first, *again;

	cm_mem_request_begin();
	first = jmalloc(100);
	(void)jmalloc(5000);
	cm_mem_request_end();
	cm_mem_request_begin();
	again = jmalloc(100);
	cm_mem_request_end();
	ck_assert_ptr_eq(again, first);
}
END_TEST

/*
 * A request that outgrows the first block gets a bigger one; the next
 * request is served from that one block (the older ones went back).
 */
START_TEST(arena_grows_and_keeps_the_newest)
{
	unsigned char	*p, *first, *last = NULL;
	int		 i;

	cm_mem_request_begin();
	for (i = 0; i < 200; i++) {
		p = jmalloc(1024);
		memset(p, 0x5a, 1024);
	}
	cm_mem_request_end();
	cm_mem_request_begin();
	first = jmalloc(1024);
	for (i = 1; i < 200; i++)
		last = jmalloc(1024);
	ck_assert_ptr_eq(last, first + 199 * 1024);
	cm_mem_request_end();
}
END_TEST

/*
 * A body larger than the arena keeps idle is served, then given back: the
 * next request starts a first-size block again, so its 129th KiB is not
 * where the big block would have put it.
 */
START_TEST(arena_large_request)
{
	size_t		 big = 3 * 1024 * 1024;
	unsigned char	*p, *first, *next = NULL;
	int		 i;

	cm_mem_request_begin();
	p = jmalloc(big);
	memset(p, 0x33, big);
	ck_assert_uint_eq(p[big - 1], 0x33);
	cm_mem_request_end();
	cm_mem_request_begin();
	first = jmalloc(1024);
	for (i = 1; i <= 128; i++)
		next = jmalloc(1024);
	ck_assert_ptr_ne(next, first + 128 * 1024);
	cm_mem_request_end();
}
END_TEST

/*
 * Outside a request it is malloc: a value made before a request is not
 * in the arena, so the next request's allocations do not overwrite it,
 * and it may die inside one (back to malloc; ASan checks that free).
 */
START_TEST(arena_outside_is_malloc)
{
	json_t		*kept, *v;
	unsigned char	*p;

	kept = json_string("made before the request");
	cm_mem_request_begin();
	v = json_pack("{s:s, s:i}", "a", "b", "n", 1);
	ck_assert_str_eq(json_string_value(json_object_get(v, "a")), "b");
	json_decref(v);
	cm_mem_request_end();
	cm_mem_request_begin();
	p = jmalloc(4096);
	memset(p, 0x77, 4096);
	ck_assert_str_eq(json_string_value(kept), "made before the request");
	json_decref(kept);
	cm_mem_request_end();
}
END_TEST

static Suite *
mem_suite(void)
{
	Suite	*s = suite_create("mem");
	TCase	*tc = tcase_create("arena");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, arena_bumps_within_a_request);
	tcase_add_test(tc, arena_reset_between_requests);
	tcase_add_test(tc, arena_grows_and_keeps_the_newest);
	tcase_add_test(tc, arena_large_request);
	tcase_add_test(tc, arena_outside_is_malloc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(mem_suite());
}
