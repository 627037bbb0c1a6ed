/*
 * check_dbnodes.c - several database endpoints: the hosts list,
 * the walk a worker makes over it, fail-back and the Galera health rule.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "dbnodes.h"
#include "unit_run.h"

static struct cm_dbnodes
parse_ok(const char *list)
{
	struct cm_dbnodes	n;
	char			why[256] = "";

	ck_assert_msg(cm_dbnodes_parse(list, &n, why, sizeof(why)) == 0,
	    "%s: %s", list, why);
	return n;
}

/* The reason must name what is wrong. */
static void
parse_bad(const char *list, const char *want)
{
	struct cm_dbnodes	n;
	char			why[256] = "";

	ck_assert_int_eq(cm_dbnodes_parse(list, &n, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, want) != NULL, "%s: \"%s\" lacks \"%s\"",
	    list, why, want);
}

START_TEST(parse_list)
{
	struct cm_dbnodes	n;

	n = parse_ok("127.0.0.1:13311, 127.0.0.1:13321 ,/run/mysqld/a.sock");
	ck_assert_uint_eq(n.n, 3);
	ck_assert(!n.node[0].socket);
	ck_assert_str_eq(n.node[0].host, "127.0.0.1");
	ck_assert_uint_eq(n.node[0].port, 13311);
	ck_assert_str_eq(n.node[0].label, "127.0.0.1:13311");
	ck_assert_uint_eq(n.node[1].port, 13321);
	ck_assert(n.node[2].socket);
	ck_assert_str_eq(n.node[2].host, "/run/mysqld/a.sock");
	ck_assert_str_eq(n.node[2].label, "/run/mysqld/a.sock");
	ck_assert_uint_eq(n.node[2].port, 0);

	n = parse_ok("[::1]:3306,db-2.example:3307");
	ck_assert_uint_eq(n.n, 2);
	ck_assert_str_eq(n.node[0].host, "::1");
	ck_assert_uint_eq(n.node[0].port, 3306);
	ck_assert_str_eq(n.node[0].label, "[::1]:3306");
	ck_assert_str_eq(n.node[1].host, "db-2.example");
	ck_assert_str_eq(n.node[1].label, "db-2.example:3307");

	n = parse_ok("/one.sock");
	ck_assert_uint_eq(n.n, 1);
}
END_TEST

START_TEST(parse_errors)
{
	parse_bad("", "empty entry");
	parse_bad("127.0.0.1:1,", "empty entry");
	parse_bad("a:1,,b:2", "empty entry");
	parse_bad("127.0.0.1", "expected host:port");
	parse_bad("127.0.0.1:", "port must be 1..65535");
	parse_bad("127.0.0.1:0", "port must be 1..65535");
	parse_bad("127.0.0.1:65536", "port must be 1..65535");
	parse_bad("127.0.0.1:33o6", "port must be 1..65535");
	parse_bad("127.0.0.1:+3306", "port must be 1..65535");
	parse_bad(":3306", "bad host");
	parse_bad("::1:3306", "in brackets");
	parse_bad("[::1]3306", "expected [address]:port");
	parse_bad("[::1", "expected [address]:port");
	parse_bad("[]:3306", "bad host");
	parse_bad("a b:3306", "bad host");
	parse_bad("a:1, b:2, a:1", "a:1 listed twice");
	parse_bad("/s.sock,/s.sock", "listed twice");
	parse_bad("a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,"
	    "a:14,a:15,a:16,a:17", "at most 16 entries");
}
END_TEST

START_TEST(single_entry)
{
	struct cm_dbnodes	n;

	cm_dbnodes_single("/run/mysqld/mysqld.sock", "127.0.0.1", 3306, &n);
	ck_assert_uint_eq(n.n, 1);
	ck_assert(n.node[0].socket);
	ck_assert_str_eq(n.node[0].label, "/run/mysqld/mysqld.sock");
	cm_dbnodes_single("", "10.0.0.5", 3307, &n);
	ck_assert(!n.node[0].socket);
	ck_assert_str_eq(n.node[0].host, "10.0.0.5");
	ck_assert_uint_eq(n.node[0].port, 3307);
	ck_assert_str_eq(n.node[0].label, "10.0.0.5:3307");
	cm_dbnodes_single("", "::1", 3306, &n);
	ck_assert_str_eq(n.node[0].label, "[::1]:3306");
}
END_TEST

START_TEST(start_offsets)
{
	size_t	seen[3] = { 0, 0, 0 };
	unsigned long pid;

	ck_assert_uint_eq(cm_dbnodes_start(CM_DB_FAILOVER, 3, 12345), 0);
	ck_assert_uint_eq(cm_dbnodes_start(CM_DB_FAILOVER, 1, 7), 0);
	ck_assert_uint_eq(cm_dbnodes_start(CM_DB_BALANCE, 1, 7), 0);
	ck_assert_uint_eq(cm_dbnodes_start(CM_DB_BALANCE, 0, 7), 0);
	/* Consecutive pids (a pool forking its workers) spread evenly. */
	for (pid = 1000; pid < 1012; pid++)
		seen[cm_dbnodes_start(CM_DB_BALANCE, 3, pid)]++;
	ck_assert_uint_eq(seen[0], 4);
	ck_assert_uint_eq(seen[1], 4);
	ck_assert_uint_eq(seen[2], 4);
}
END_TEST

START_TEST(pick_failover)
{
	long long	down[3] = { 0, 0, 0 };
	const long long	now = 100000;

	/* Failover: always the first healthy one in list order. */
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0), 0);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x1), 1);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x3), 2);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x7), -1);
	/* Node 0 marked down: straight to node 1. */
	down[0] = now + 5000;
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0), 1);
	/* ... and tried again last, when all the others failed. */
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x6), 0);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x7), -1);
	/* The mark expires: node 0 is first again. */
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now + 5000, 0), 0);
	/* All marked down: the walk still tries them, in order. */
	down[1] = down[2] = now + 5000;
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0), 0);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x1), 1);
	/* Down nodes come after every healthy one, whatever their place. */
	down[1] = 0;
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0), 1);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x2), 0);
	ck_assert_int_eq(cm_dbnodes_pick(3, 0, down, now, 0x3), 2);
}
END_TEST

START_TEST(pick_balance)
{
	long long	down[3] = { 0, 0, 0 };
	const long long	now = 100000;

	/* Balance: from the worker's offset, wrapping. */
	ck_assert_int_eq(cm_dbnodes_pick(3, 2, down, now, 0), 2);
	ck_assert_int_eq(cm_dbnodes_pick(3, 2, down, now, 0x4), 0);
	ck_assert_int_eq(cm_dbnodes_pick(3, 2, down, now, 0x5), 1);
	down[2] = now + 1;
	ck_assert_int_eq(cm_dbnodes_pick(3, 2, down, now, 0), 0);
	ck_assert_int_eq(cm_dbnodes_pick(1, 0, down, now, 0), 0);
	ck_assert_int_eq(cm_dbnodes_pick(1, 0, down, now, 0x1), -1);
}
END_TEST

START_TEST(failback)
{
	long long	down[3] = { 0, 0, 0 };
	const long long	now = 100000;

	/* On the preferred node: nothing to probe. */
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 0, 0, down, now), -1);
	/* On node 2: probe node 0 first. */
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 0, 2, down, now), 0);
	/* Node 0 still marked down: node 1 is better than node 2. */
	down[0] = now + 1;
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 0, 2, down, now), 1);
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 0, 1, down, now), -1);
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 0, 1, down, now + 1), 0);
	/* Balance: "before" is relative to the worker's start. */
	down[0] = 0;
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 1, 2, down, now), 1);
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 1, 0, down, now), 1);
	ck_assert_int_eq(cm_dbnodes_failback_target(3, 1, 1, down, now), -1);
	ck_assert(cm_dbnodes_failback_due(5000, 5000));
	ck_assert(cm_dbnodes_failback_due(5000, 6000));
	ck_assert(!cm_dbnodes_failback_due(5000, 4999));
}
END_TEST

START_TEST(health_rule)
{
	ck_assert_int_eq(cm_dbnodes_health("ON", "4", false), CM_NODE_OK);
	ck_assert_int_eq(cm_dbnodes_health("ON", "4", true), CM_NODE_OK);
	/* Donor/Desynced: only when allowed. */
	ck_assert_int_eq(cm_dbnodes_health("ON", "2", false), CM_NODE_NOT_SYNCED);
	ck_assert_int_eq(cm_dbnodes_health("ON", "2", true), CM_NODE_OK);
	/* Joining, joined: never. */
	ck_assert_int_eq(cm_dbnodes_health("ON", "1", true), CM_NODE_NOT_SYNCED);
	ck_assert_int_eq(cm_dbnodes_health("ON", "3", true), CM_NODE_NOT_SYNCED);
	ck_assert_int_eq(cm_dbnodes_health("ON", "0", true), CM_NODE_NOT_SYNCED);
	ck_assert_int_eq(cm_dbnodes_health("ON", "44", true), CM_NODE_NOT_SYNCED);
	/* Synced but not ready (a non-primary component). */
	ck_assert_int_eq(cm_dbnodes_health("OFF", "4", true), CM_NODE_NOT_READY);
	ck_assert_int_eq(cm_dbnodes_health("", "4", true), CM_NODE_NOT_READY);
	/* A plain MariaDB: wsrep_ready OFF (10.11), or none; no local state. */
	ck_assert_int_eq(cm_dbnodes_health("OFF", NULL, false), CM_NODE_NOT_GALERA);
	ck_assert_int_eq(cm_dbnodes_health("ON", NULL, true), CM_NODE_NOT_GALERA);
	ck_assert_int_eq(cm_dbnodes_health(NULL, NULL, false), CM_NODE_NOT_GALERA);
	ck_assert_int_eq(cm_dbnodes_health(NULL, "4", false), CM_NODE_NOT_GALERA);
	ck_assert_str_eq(cm_dbnodes_health_str(CM_NODE_NOT_SYNCED), "not synced");
	ck_assert_ptr_nonnull(strstr(cm_dbnodes_health_str(CM_NODE_NOT_GALERA),
	    "not a Galera node"));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dbnodes");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, parse_list);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, single_entry);
	tcase_add_test(tc, start_offsets);
	tcase_add_test(tc, pick_failover);
	tcase_add_test(tc, pick_balance);
	tcase_add_test(tc, failback);
	tcase_add_test(tc, health_rule);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
