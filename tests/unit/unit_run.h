/*
 * unit_run.h - how every unit test program ends its main(): run the
 * suite s (Check forks each test, so a crash fails that test alone),
 * report one TAP line per test on stdout (automake's tap-driver.sh reads
 * them: `make check` counts each test, not each program), and exit 0 only
 * if no test failed.  The suite is freed with the runner.
 */
#ifndef UNIT_RUN_H
#define UNIT_RUN_H

#include <stdlib.h>

#include <check.h>

static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
