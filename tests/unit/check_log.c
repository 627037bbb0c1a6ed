/* check_log.c - unit tests for log.c: targets, levels, the repeat limiter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "log.h"
#include "unit_run.h"

static char	path[64];

static void
setup(void)
{
	char	err[256];
	int	fd;

	snprintf(path, sizeof(path), "/tmp/check_log.XXXXXX");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	close(fd);
	ck_assert_int_eq(cm_log_open(path, CM_LOG_INFO, err, sizeof(err)), 0);
	cm_log_set_repeat_interval(CM_LOG_REPEAT_S);
}

static void
teardown(void)
{
	char	err[256];

	cm_log_open("stderr", CM_LOG_INFO, err, sizeof(err));
	unlink(path);
}

/* The lines of the log file, counted; *text gets a copy (caller frees). */
static int
lines(char **text)
{
	FILE	*fp = fopen(path, "r");
	char	 buf[8192];
	size_t	 n;
	int	 count = 0;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		count += *p == '\n';
	if (text != NULL)
		*text = strdup(buf);
	return count;
}

START_TEST(line_format_and_level)
{
	char	*t;

	LOG_DEBUG("not written at level info");
	LOG_INFO("hello %d", 42);
	LOG_ERR("bad thing");
	ck_assert_int_eq(lines(&t), 2);
	ck_assert_ptr_nonnull(strstr(t, " info hello 42\n"));
	ck_assert_ptr_nonnull(strstr(t, " error bad thing\n"));
	ck_assert_ptr_nonnull(strstr(t, " pid="));
	ck_assert_ptr_null(strstr(t, "debug"));
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
	ck_assert_int_eq(t[4], '-');
	ck_assert_int_eq(t[10], 'T');
	ck_assert_int_eq(t[23], 'Z');
	free(t);
}
END_TEST

START_TEST(repeats_are_counted_not_written)
{
	char	*t;
	int	 i;

	for (i = 0; i < 1000; i++)
		LOG_ERR("cannot connect to the database");
	/* The first line only, while the storm lasts. */
	ck_assert_int_eq(lines(NULL), 1);
	LOG_INFO("something else");
	ck_assert_int_eq(lines(&t), 3);
	ck_assert_ptr_nonnull(strstr(t,
	    " error last message repeated 999 more times\n"));
	ck_assert_ptr_nonnull(strstr(t, " info something else\n"));
	free(t);
}
END_TEST

START_TEST(one_summary_per_interval)
{
	char	*t;
	int	 i;

	cm_log_set_repeat_interval(1);
	LOG_ERR("storm");
	for (i = 0; i < 50; i++)
		LOG_ERR("storm");
	ck_assert_int_eq(lines(NULL), 1);
	sleep(1);
	LOG_ERR("storm");		/* the interval is over: a summary */
	ck_assert_int_eq(lines(&t), 2);
	ck_assert_ptr_nonnull(strstr(t, "last message repeated 51 more times"));
	free(t);
	cm_log_flush();			/* nothing pending: nothing written */
	ck_assert_int_eq(lines(NULL), 2);
}
END_TEST

START_TEST(same_text_other_level_is_not_a_repeat)
{
	LOG_WARN("x");
	LOG_ERR("x");
	ck_assert_int_eq(lines(NULL), 2);
}
END_TEST

START_TEST(reopen_follows_a_rotated_file)
{
	char	 rotated[80], *t;

	LOG_INFO("before");
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	ck_assert_int_eq(rename(path, rotated), 0);
	ck_assert_int_eq(cm_log_reopen(), 0);
	LOG_INFO("after");
	ck_assert_int_eq(lines(&t), 1);
	ck_assert_ptr_nonnull(strstr(t, " info after\n"));
	free(t);
	unlink(rotated);
}
END_TEST

START_TEST(forward_keeps_the_line)
{
	const char	 line[] = "2026-01-01T00:00:00.000Z pid=7 warn from a worker";
	char		*t;

	cm_log_forward(line, sizeof(line) - 1, true);
	ck_assert_int_eq(lines(&t), 1);
	ck_assert_str_eq(t, "2026-01-01T00:00:00.000Z pid=7 warn from a worker\n");
	free(t);
}
END_TEST

/* Nothing a worker writes can start a line or move a terminal's cursor. */
START_TEST(forward_escapes_control_characters)
{
	const char	 line[] = "2026-01-01T00:00:00.000Z pid=7 info a\rb\033[2Jc\x7f";
	char		*t;

	cm_log_forward(line, sizeof(line) - 1, true);
	ck_assert_int_eq(lines(&t), 1);
	ck_assert_str_eq(t, "2026-01-01T00:00:00.000Z pid=7 info "
	    "a\\x0db\\x1b[2Jc\\x7f\n");
	free(t);
}
END_TEST

/* A line longer than any a process writes is cut, one line still. */
START_TEST(forward_cuts_a_long_line)
{
	char	 line[3 * CM_LOG_LINE_MAX], *t;
	size_t	 n;

	n = (size_t)snprintf(line, sizeof(line), "2026-01-01T00:00:00.000Z pid=7 "
	    "info ");
	memset(line + n, 'x', sizeof(line) - n);
	cm_log_forward(line, sizeof(line), true);
	ck_assert_int_eq(lines(&t), 1);
	ck_assert_uint_eq(strlen(t), CM_LOG_LINE_MAX);
	free(t);
}
END_TEST

/* A line whose pid the master could not match is quoted, as a warning. */
START_TEST(forward_quotes_a_line_not_its_own)
{
	const char	 line[] = "2026-01-01T00:00:00.000Z pid=1 error forged";
	char		*t, own[32];

	cm_log_forward(line, sizeof(line) - 1, false);
	ck_assert_int_eq(lines(&t), 1);
	snprintf(own, sizeof(own), " pid=%ld warn ", (long)getpid());
	ck_assert_ptr_nonnull(strstr(t, own));
	ck_assert_ptr_nonnull(strstr(t, "a worker wrote a line not its own: "
	    "2026-01-01T00:00:00.000Z pid=1 error forged\n"));
	free(t);
}
END_TEST

START_TEST(line_pid)
{
	const char	*ok = "2026-01-01T00:00:00.000Z pid=4242 info x";

	ck_assert_int_eq(cm_log_line_pid(ok, strlen(ok)), 4242);
	ck_assert_int_eq(cm_log_line_pid("x pid=0 info", 12), -1);
	ck_assert_int_eq(cm_log_line_pid("x pid=-1 info", 13), -1);
	ck_assert_int_eq(cm_log_line_pid("x pid=12", 8), -1);
	ck_assert_int_eq(cm_log_line_pid("x pd=12 info", 12), -1);
	ck_assert_int_eq(cm_log_line_pid("x pid=99999999999999 info", 25), -1);
	ck_assert_int_eq(cm_log_line_pid("nospace", 7), -1);
}
END_TEST

/* A process's own message with a newline stays one line. */
START_TEST(own_message_escaped)
{
	char	*t;

	LOG_INFO("path=/a\nforged line");
	ck_assert_int_eq(lines(&t), 1);
	ck_assert_ptr_nonnull(strstr(t, " info path=/a\\x0aforged line\n"));
	free(t);
}
END_TEST

START_TEST(bad_target)
{
	char	err[256] = "";

	ck_assert_int_eq(cm_log_open("/nonexistent/dir/x.log", CM_LOG_INFO,
	    err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/x.log"));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("log");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, line_format_and_level);
	tcase_add_test(tc, repeats_are_counted_not_written);
	tcase_add_test(tc, one_summary_per_interval);
	tcase_add_test(tc, same_text_other_level_is_not_a_repeat);
	tcase_add_test(tc, reopen_follows_a_rotated_file);
	tcase_add_test(tc, forward_keeps_the_line);
	tcase_add_test(tc, forward_escapes_control_characters);
	tcase_add_test(tc, forward_cuts_a_long_line);
	tcase_add_test(tc, forward_quotes_a_line_not_its_own);
	tcase_add_test(tc, line_pid);
	tcase_add_test(tc, own_message_escaped);
	tcase_add_test(tc, bad_target);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
