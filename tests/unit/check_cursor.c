/* check_cursor.c - unit tests for cursor.c. */
#include <string.h>

#include <check.h>

#include "cursor.h"
#include "unit_run.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "0123456789abcdef0123456789abcdeF";

#define SCOPE	"clients\x1f-1\x1f=ag"

static void
make(const char *pos, char *out)
{
	ck_assert_int_eq(cm_cursor_make(key, sizeof(key), SCOPE, strlen(SCOPE),
	    pos, out, CM_CURSOR_MAX), 0);
}

static int
open_(const unsigned char *k, const char *scope, const char *cur, char *pos)
{
	return cm_cursor_open(k, 32, scope, strlen(scope), cur, pos,
	    CM_CURSOR_POS_MAX + 1);
}

START_TEST(round_trip)
{
	const char	*positions[] = { "2026-11-27 10:00:00.123 acme", "1", "ab",
			    "abc", "abcd", "x y z" };
	char		 cur[CM_CURSOR_MAX], pos[CM_CURSOR_POS_MAX + 1];
	size_t		 i;

	for (i = 0; i < sizeof(positions) / sizeof(*positions); i++) {
		make(positions[i], cur);
		ck_assert(strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789-_.") == strlen(cur));
		ck_assert_int_eq(open_(key, SCOPE, cur, pos), 0);
		ck_assert_str_eq(pos, positions[i]);
	}
}
END_TEST

START_TEST(longest_position)
{
	char	p[CM_CURSOR_POS_MAX + 2], cur[CM_CURSOR_MAX], pos[CM_CURSOR_POS_MAX + 1];

	memset(p, 'z', CM_CURSOR_POS_MAX);
	p[CM_CURSOR_POS_MAX] = '\0';
	make(p, cur);
	ck_assert_int_eq(open_(key, SCOPE, cur, pos), 0);
	ck_assert_str_eq(pos, p);
	p[CM_CURSOR_POS_MAX] = 'z';
	p[CM_CURSOR_POS_MAX + 1] = '\0';
	ck_assert_int_eq(cm_cursor_make(key, 32, SCOPE, strlen(SCOPE), p, cur,
	    CM_CURSOR_MAX), -1);
}
END_TEST

START_TEST(every_changed_byte_fails)
{
	char	cur[CM_CURSOR_MAX], bad[CM_CURSOR_MAX], pos[CM_CURSOR_POS_MAX + 1];
	size_t	i, n;

	make("2026-11-27 10:00:00.123 acme", cur);
	n = strlen(cur);
	for (i = 0; i < n; i++) {
		memcpy(bad, cur, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : bad[i] == '.' ? '-' : 'A';
		ck_assert_msg(open_(key, SCOPE, bad, pos) == -1, "byte %zu", i);
	}
	memcpy(bad, cur, n + 1);
	bad[n - 1] = '\0';
	ck_assert_int_eq(open_(key, SCOPE, bad, pos), -1);
}
END_TEST

START_TEST(other_scope_or_key_fails)
{
	char	cur[CM_CURSOR_MAX], pos[CM_CURSOR_POS_MAX + 1];

	make("2026-11-27 10:00:00.123 acme", cur);
	ck_assert_int_eq(open_(key, "clients\x1f-1\x1f=ag2", cur, pos), -1);
	ck_assert_int_eq(open_(key, "clients\x1f" "1\x1f=ag", cur, pos), -1);
	ck_assert_int_eq(open_(key, "audit\x1f" "acme", cur, pos), -1);
	ck_assert_int_eq(open_(key2, SCOPE, cur, pos), -1);
	ck_assert_int_eq(open_(key, SCOPE, cur, pos), 0);
}
END_TEST

START_TEST(malformed_fails)
{
	const char	*bad[] = { "", ".", "abc", "abc.", ".abc", "a.b.c",
			    "YQ.AAAAAAAAAAAAAAAAAAAAAA", "Y.AAAAAAAAAAAAAAAAAAAAAA",
			    "YR.AAAAAAAAAAAAAAAAAAAAAA", "Y+.AAAAAAAAAAAAAAAAAAAAAA",
			    "AA.AAAAAAAAAAAAAAAAAAAAAAA" };
	char		 pos[CM_CURSOR_POS_MAX + 1];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(open_(key, SCOPE, bad[i], pos) == -1, "%s", bad[i]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("cursor");
	TCase	*tc = tcase_create("cursor");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, longest_position);
	tcase_add_test(tc, every_changed_byte_fails);
	tcase_add_test(tc, other_scope_or_key_fails);
	tcase_add_test(tc, malformed_fails);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
