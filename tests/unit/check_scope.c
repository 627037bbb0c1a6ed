/*
 * check_scope.c - unit tests for scope.c: the names, parsing a
 * comma-separated list (clientsctl's --scope, the database's SET column)
 * and formatting a set back.
 */
#include <string.h>

#include <check.h>

#include "scope.h"
#include "unit_run.h"

START_TEST(names_and_bits)
{
	unsigned	i, seen = 0;
	const char	*n;

	for (i = 0; i < CM_SCOPE_COUNT; i++) {
		ck_assert_ptr_nonnull(n = cm_scope_name(1u << i));
		ck_assert_uint_eq(cm_scope_bit(n, strlen(n)), 1u << i);
		seen |= 1u << i;
	}
	ck_assert_uint_eq(seen, CM_SCOPE_ALL);
	ck_assert_str_eq(cm_scope_name(CM_SCOPE_CLIENTS_READ), "clients:read");
	ck_assert_str_eq(cm_scope_name(CM_SCOPE_CLIENTS_ERASE), "clients:erase");
	ck_assert_str_eq(cm_scope_name(CM_SCOPE_WEBHOOKS_MANAGE),
	    "webhooks:manage");
	ck_assert_ptr_null(cm_scope_name(0));
	ck_assert_ptr_null(cm_scope_name(CM_SCOPE_CLIENTS_READ |
	    CM_SCOPE_CLIENTS_WRITE));
	ck_assert_ptr_null(cm_scope_name(1u << CM_SCOPE_COUNT));
	ck_assert_uint_eq(cm_scope_bit("clients:rea", 11), 0);
	ck_assert_uint_eq(cm_scope_bit("Clients:read", 12), 0);
	/* len bytes only: a longer buffer is cut where the caller says. */
	ck_assert_uint_eq(cm_scope_bit("audit:read,x", 10), CM_SCOPE_AUDIT_READ);
}
END_TEST

START_TEST(parse_lists)
{
	unsigned	s;
	char		bad[32];

	ck_assert_int_eq(cm_scope_parse("clients:read", false, &s, bad,
	    sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_CLIENTS_READ);
	ck_assert_int_eq(cm_scope_parse("clients:read, audit:read ,pool:status",
	    false, &s, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_CLIENTS_READ | CM_SCOPE_AUDIT_READ |
	    CM_SCOPE_POOL_STATUS);
	ck_assert_int_eq(cm_scope_parse("keys:rotate,keys:rotate", false, &s,
	    bad, sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_KEYS_ROTATE);
	ck_assert_int_eq(cm_scope_parse("all", false, &s, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_ALL);
	ck_assert_int_eq(cm_scope_parse("audit:read,all", false, &s, bad,
	    sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_ALL);
	/* The empty SET of a key stripped of every scope. */
	ck_assert_int_eq(cm_scope_parse("", false, &s, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(s, 0);
}
END_TEST

START_TEST(parse_refuses_and_names_the_word)
{
	unsigned	s = 99;
	char		bad[32];

	ck_assert_int_eq(cm_scope_parse("clients:read,clients:wirte", false,
	    &s, bad, sizeof(bad)), -1);
	ck_assert_str_eq(bad, "clients:wirte");
	ck_assert_int_eq(cm_scope_parse("clients:read,,audit:read", false, &s,
	    bad, sizeof(bad)), -1);
	ck_assert_str_eq(bad, "");
	ck_assert_int_eq(cm_scope_parse("clients:read,", false, &s, bad,
	    sizeof(bad)), -1);
	ck_assert_int_eq(cm_scope_parse(" ", false, &s, bad, sizeof(bad)), -1);
	ck_assert_int_eq(cm_scope_parse("CLIENTS:READ", false, &s, bad,
	    sizeof(bad)), -1);
	ck_assert_str_eq(bad, "CLIENTS:READ");
	ck_assert_int_eq(cm_scope_parse("clients", false, &s, bad,
	    sizeof(bad)), -1);
	/* A bad word too long for bad is cut, still NUL-terminated. */
	ck_assert_int_eq(cm_scope_parse("x123456789x123456789x123456789x123456789",
	    false, &s, bad, 8), -1);
	ck_assert_str_eq(bad, "x123456");
}
END_TEST

/*
 * What the data layer reads: a scope a later release added to the column
 * grants nothing here and does not lock the key out; an empty word still
 * is no scope.
 */
START_TEST(parse_ignores_unknown_for_the_database)
{
	unsigned	s;
	char		bad[32];

	ck_assert_int_eq(cm_scope_parse("clients:read,events:write", true, &s,
	    bad, sizeof(bad)), 0);
	ck_assert_uint_eq(s, CM_SCOPE_CLIENTS_READ);
	ck_assert_int_eq(cm_scope_parse("clients:read,,x", true, &s, bad,
	    sizeof(bad)), -1);
}
END_TEST

START_TEST(format_round_trip)
{
	char		buf[CM_SCOPES_TEXT_MAX], small[16];
	unsigned	s, back;
	char		bad[8];

	ck_assert_int_eq(cm_scope_format(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(cm_scope_format(CM_SCOPE_AUDIT_READ |
	    CM_SCOPE_CLIENTS_READ, buf, sizeof(buf)), 23);
	ck_assert_str_eq(buf, "clients:read,audit:read");
	ck_assert_int_gt(cm_scope_format(CM_SCOPE_ALL, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "clients:read,clients:write,clients:delete,"
	    "clients:erase,keys:rotate,audit:read,pool:status,events:read,"
	    "webhooks:manage");
	/* Bits this build does not know are left out. */
	ck_assert_int_eq(cm_scope_format(1u << 20 | CM_SCOPE_POOL_STATUS, buf,
	    sizeof(buf)), 11);
	ck_assert_str_eq(buf, "pool:status");
	ck_assert_int_eq(cm_scope_format(CM_SCOPE_ALL, small, sizeof(small)),
	    -1);
	ck_assert_int_eq(cm_scope_format(CM_SCOPE_ALL, small, 0), -1);
	for (s = 0; s <= CM_SCOPE_ALL; s++) {
		ck_assert_int_ge(cm_scope_format(s, buf, sizeof(buf)), 0);
		ck_assert_int_eq(cm_scope_parse(buf, false, &back, bad,
		    sizeof(bad)), 0);
		ck_assert_uint_eq(back, s);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("scope");
	TCase	*tc = tcase_create("scope");

	tcase_add_test(tc, names_and_bits);
	tcase_add_test(tc, parse_lists);
	tcase_add_test(tc, parse_refuses_and_names_the_word);
	tcase_add_test(tc, parse_ignores_unknown_for_the_database);
	tcase_add_test(tc, format_round_trip);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
