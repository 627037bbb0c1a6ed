/*
 * check_store.c - the data layer's pure parts: MariaDB error classes, the
 * key name of a duplicate-key message (the exact messages MariaDB 10.11
 * sends, with client values built to mislead a strstr), and the deadline
 * arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "dberr.h"
#include "deadline.h"
#include "unit_run.h"

static const char *
member_of(const char *msg, enum cm_dup want)
{
	const char	*m = "unset";

	ck_assert_int_eq(cm_dberr_dup_member(msg, &m), want);
	return m;
}

START_TEST(dup_key_names)
{
	char	key[64];

	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'acme' for key 'PRIMARY'", key, sizeof(key)), 7);
	ck_assert_str_eq(key, "PRIMARY");
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'a.example' for key 'uq_clients_domain'", key,
	    sizeof(key)), 17);
	ck_assert_str_eq(key, "uq_clients_domain");
	/* MySQL 8 names the table too. */
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'x' for key 'clients.uq_clients_global_name'", key,
	    sizeof(key)), 22);
	ck_assert_str_eq(key, "uq_clients_global_name");
	/* The value itself pretends to end the message. */
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'v' for key 'PRIMARY'' for key 'uq_clients_domain'",
	    key, sizeof(key)), 17);
	ck_assert_str_eq(key, "uq_clients_domain");
	/* Not that shape, or no room. */
	ck_assert_int_eq(cm_dberr_dup_key("Deadlock found", key, sizeof(key)), -1);
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'x' for key 'PRIMARY", key, sizeof(key)), -1);
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'x' for key ''", key, sizeof(key)), -1);
	ck_assert_int_eq(cm_dberr_dup_key(
	    "Duplicate entry 'x' for key 'PRIMARY'", key, 7), -1);
	ck_assert_int_eq(cm_dberr_dup_key(NULL, key, sizeof(key)), -1);
}
END_TEST

/*
 * Ids "x_key" and "uq_clients_domain" were once classified by the
 * value in the message: a fake deadlock (503) and a 409 naming domain.
 */
START_TEST(dup_members_by_key_not_value)
{
	ck_assert_str_eq(member_of("Duplicate entry 'x_key' for key 'PRIMARY'",
	    CM_DUP_MEMBER), "id");
	ck_assert_str_eq(member_of(
	    "Duplicate entry 'uq_clients_domain' for key 'PRIMARY'",
	    CM_DUP_MEMBER), "id");
	ck_assert_str_eq(member_of(
	    "Duplicate entry 'uq_clients_global_name' for key 'PRIMARY'",
	    CM_DUP_MEMBER), "id");
	ck_assert_str_eq(member_of(
	    "Duplicate entry 'x_key.example' for key 'uq_clients_domain'",
	    CM_DUP_MEMBER), "domain");
	ck_assert_str_eq(member_of(
	    "Duplicate entry 'uq_clients_domain' for key 'uq_clients_global_name'",
	    CM_DUP_MEMBER), "global_name");
	ck_assert_str_eq(member_of(
	    "Duplicate entry 'it''s' for key 'PRIMARY'", CM_DUP_MEMBER), "id");
	ck_assert_ptr_null(member_of(
	    "Duplicate entry 'pk_00112233445566778899aabbccddeeff' for key "
	    "'uq_clients_publishable_key'", CM_DUP_GENERATED));
	ck_assert_ptr_null(member_of(
	    "Duplicate entry 'sk_00112233445566778899aabbccddeeff' for key "
	    "'uq_clients_secret_key'", CM_DUP_GENERATED));
	ck_assert_ptr_null(member_of(
	    "Duplicate entry 'abc' for key 'uq_admin_keys_sha256'",
	    CM_DUP_UNKNOWN));
	ck_assert_ptr_null(member_of("Duplicate entry 'a_key'", CM_DUP_UNKNOWN));
}
END_TEST

START_TEST(error_classes)
{
	static const unsigned	lost[] = { 2002, 2003, 2006, 2013, 2026, 2055,
				    1053, 1927, 4031, 1047, 1158, 1159, 1160, 1161,
				    1180 };
	static const unsigned	busy[] = { 1040, 1203, 1226, 1461, 1135 };
	size_t			i;

	for (i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		ck_assert_int_eq(cm_dberr_class(lost[i]), CM_DBERR_LOST);
	for (i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
		ck_assert_int_eq(cm_dberr_class(busy[i]), CM_DBERR_BUSY);
	ck_assert_int_eq(cm_dberr_class(1213), CM_DBERR_CONFLICT);
	ck_assert_int_eq(cm_dberr_class(1205), CM_DBERR_CONFLICT);
	ck_assert_int_eq(cm_dberr_class(1062), CM_DBERR_DUPLICATE);
	ck_assert_int_eq(cm_dberr_class(1586), CM_DBERR_DUPLICATE);
	ck_assert_int_eq(cm_dberr_class(0), CM_DBERR_OTHER);
	ck_assert_int_eq(cm_dberr_class(1064), CM_DBERR_OTHER);
	ck_assert_int_eq(cm_dberr_class(1406), CM_DBERR_OTHER);
}
END_TEST

/*
 * Which LOST errors mark the node down (move to another node),
 * and which only ended the connection (reconnect to the same node).
 */
START_TEST(node_down_errors)
{
	static const unsigned	down[] = { 1047, 1053, 2002, 2003, 2006, 2013,
				    2026, 2055, 1158, 1159, 1160, 1161, 1180 };
	size_t			i;

	for (i = 0; i < sizeof(down) / sizeof(down[0]); i++)
		ck_assert_msg(cm_dberr_node_down(down[i]), "%u", down[i]);
	ck_assert(!cm_dberr_node_down(4031));	/* idle timeout */
	ck_assert(!cm_dberr_node_down(1927));	/* KILL, BF abort */
	ck_assert(!cm_dberr_node_down(1213));	/* a conflict: stay */
	ck_assert(!cm_dberr_node_down(1205));
	ck_assert(!cm_dberr_node_down(1040));	/* busy: not down */
	ck_assert(!cm_dberr_node_down(1062));
	ck_assert(!cm_dberr_node_down(0));
}
END_TEST

/*
 * A COMMIT that fails with one of these may have committed: its token is
 * looked up.  1180 is what a Galera node that lost the primary component
 * (a stalled node, evicted meanwhile) answers at COMMIT.
 */
START_TEST(commit_outcome)
{
	static const unsigned	unknown[] = { 2013, 2006, 2055, 1047, 1180, 1927,
				    1053, 1158, 1159, 1160, 1161, 4031 };
	static const unsigned	definite[] = { 1213, 1205, 1062, 1064, 1040, 0 };
	size_t			i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ck_assert_msg(cm_dberr_commit_unknown(unknown[i]), "%u",
		    unknown[i]);
	for (i = 0; i < sizeof(definite) / sizeof(definite[0]); i++)
		ck_assert_msg(!cm_dberr_commit_unknown(definite[i]), "%u",
		    definite[i]);
}
END_TEST

/* The arrival time as nginx ($msec), Apache (%t) and the others send it. */
START_TEST(arrival)
{
	long long	us;

	ck_assert_int_eq(cm_arrival_parse("t=1765000000.123", &us), 0);
	ck_assert_int_eq(us, 1765000000123000LL);
	ck_assert_int_eq(cm_arrival_parse("1765000000.5", &us), 0);
	ck_assert_int_eq(us, 1765000000500000LL);
	ck_assert_int_eq(cm_arrival_parse("t=1765000000123456", &us), 0);
	ck_assert_int_eq(us, 1765000000123456LL);
	ck_assert_int_eq(cm_arrival_parse("t=1765000000123", &us), 0);
	ck_assert_int_eq(us, 1765000000123000LL);
	ck_assert_int_eq(cm_arrival_parse("1765000000", &us), 0);
	ck_assert_int_eq(us, 1765000000000000LL);
	ck_assert_int_eq(cm_arrival_parse("1765000000123456789", &us), 0);
	ck_assert_int_eq(us, 1765000000123456LL);
	ck_assert_int_eq(cm_arrival_parse(NULL, &us), -1);
	ck_assert_int_eq(cm_arrival_parse("", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("t=", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("t=abc", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("t=-5", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("t=1.2.3", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("t= 1765000000", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("1e9", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("0", &us), -1);
	ck_assert_int_eq(cm_arrival_parse("99999999999999999999", &us), -1);
	ck_assert_int_eq(cm_arrival_parse(".5", &us), -1);
}
END_TEST

START_TEST(waited)
{
	ck_assert_int_eq(cm_waited_us(1000000, 3500000), 2500000);
	ck_assert_int_eq(cm_waited_us(5000000, 5000000), 0);
	/* A little ahead (clocks a hair apart): no wait, not skew. */
	ck_assert_int_eq(cm_waited_us(5900000, 5000000), 0);
	ck_assert_int_eq(cm_waited_us(6000000, 5000000), 0);
	/* More than a second ahead: the clocks disagree. */
	ck_assert_int_eq(cm_waited_us(6000001, 5000000), -1);
}
END_TEST

static struct timespec
ts(long sec, long nsec)
{
	struct timespec	t = { sec, nsec };

	return t;
}

START_TEST(budget)
{
	struct timespec	d = ts(100, 500000000), now;

	now = ts(70, 500000000);
	ck_assert_int_eq(cm_budget_ms(&d, &now), 29000);
	now = ts(99, 0);
	ck_assert_int_eq(cm_budget_ms(&d, &now), 500);
	now = ts(99, 600000000);
	ck_assert_int_eq(cm_budget_ms(&d, &now), -100);
	ck_assert_int_eq(cm_budget_ms(NULL, &now), CM_BUDGET_NONE);
	now = ts(90, 0);
	d = cm_deadline_in(&now, 30);
	ck_assert_int_eq(d.tv_sec, 120);
	ck_assert_int_eq(cm_budget_ms(&d, &now), 29000);
}
END_TEST

START_TEST(add_ms)
{
	struct timespec	t = ts(10, 900000000);

	cm_timespec_add_ms(&t, 250);
	ck_assert_int_eq(t.tv_sec, 11);
	ck_assert_int_eq(t.tv_nsec, 150000000);
	cm_timespec_add_ms(&t, -1200);
	ck_assert_int_eq(t.tv_sec, 9);
	ck_assert_int_eq(t.tv_nsec, 950000000);
	cm_timespec_add_ms(&t, -30000);
	ck_assert_int_eq(t.tv_sec, -21);
	ck_assert_int_eq(t.tv_nsec, 950000000);
	cm_timespec_add_ms(&t, 0);
	ck_assert_int_eq(t.tv_sec, -21);
}
END_TEST

START_TEST(lock_wait)
{
	ck_assert_int_eq(cm_lock_wait_s(29000, 5), 5);
	ck_assert_int_eq(cm_lock_wait_s(3999, 5), 3);
	ck_assert_int_eq(cm_lock_wait_s(999, 5), 0);
	ck_assert_int_eq(cm_lock_wait_s(-5, 5), 0);
	ck_assert_int_eq(cm_lock_wait_s(CM_BUDGET_NONE, 50), 50);
}
END_TEST

/* Settling a lost COMMIT: half of request_timeout past the deadline. */
START_TEST(settle)
{
	ck_assert_int_eq(cm_settle_ms(30), 15000);
	ck_assert_int_eq(cm_settle_ms(8), 4000);
	ck_assert_int_eq(cm_settle_ms(3), 1500);
	ck_assert_int_eq(cm_settle_ms(0), 0);
	ck_assert_int_eq(cm_request_life_ms(30), 45000);
	ck_assert_int_eq(cm_request_life_ms(3), 4500);
}
END_TEST

/* cm_sleep_ms: the whole pause, seconds and milliseconds both. */
START_TEST(sleep_ms)
{
	long long	t0 = cm_clock_us(CLOCK_MONOTONIC), us;

	cm_sleep_ms(1030);
	us = cm_clock_us(CLOCK_MONOTONIC) - t0;
	ck_assert_int_ge(us, 1030000);
	ck_assert_int_lt(us, 3000000);
}
END_TEST

START_TEST(backoff)
{
	int	a;
	long	ms;

	/* 10 ms doubling, between half and all of it, at most 1 s. */
	ck_assert_int_eq(cm_backoff_ms(1, 0, 10000), 5);
	ck_assert_int_eq(cm_backoff_ms(1, 5, 10000), 10);
	ck_assert_int_eq(cm_backoff_ms(2, 0, 10000), 10);
	ck_assert_int_eq(cm_backoff_ms(3, 10, 10000), 30);
	ck_assert_int_eq(cm_backoff_ms(3, 20, 10000), 40);
	for (a = 1; a < 40; a++) {
		ms = cm_backoff_ms(a, 0xffffffffu, CM_BUDGET_NONE);
		ck_assert_int_ge(ms, 5);
		ck_assert_int_le(ms, 1000);
	}
	ck_assert_int_eq(cm_backoff_ms(40, 0, CM_BUDGET_NONE), 500);
	/* Never past the deadline. */
	ck_assert_int_eq(cm_backoff_ms(1, 5, 10), -1);
	ck_assert_int_eq(cm_backoff_ms(1, 5, 11), 10);
	ck_assert_int_eq(cm_backoff_ms(1, 0, 0), -1);
	ck_assert_int_eq(cm_backoff_ms(1, 0, -3), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, dup_key_names);
	tcase_add_test(tc, dup_members_by_key_not_value);
	tcase_add_test(tc, error_classes);
	tcase_add_test(tc, node_down_errors);
	tcase_add_test(tc, commit_outcome);
	tcase_add_test(tc, arrival);
	tcase_add_test(tc, waited);
	tcase_add_test(tc, add_ms);
	tcase_add_test(tc, budget);
	tcase_add_test(tc, lock_wait);
	tcase_add_test(tc, settle);
	tcase_add_test(tc, backoff);
	tcase_add_test(tc, sleep_ms);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
