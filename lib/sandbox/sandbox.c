/*
 * sandbox.c - a worker enters the sandbox (sandbox.h): Landlock, then the
 * seccomp filter, and the SIGSYS report of a call the filter refused.
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_int.h"

/*
 * The system calls' names by number, for the SIGSYS line: the handler may
 * not allocate, so they are looked up before the filter is loaded.
 * XXX: process state, written once before the filter is in place and only
 * read after, like the log's.
 */
#define NAMES_MAX	512
static char	*call_name[NAMES_MAX];

static void
names_load(void)
{
	int	nr;

	for (nr = 0; nr < NAMES_MAX; nr++)
		if (call_name[nr] == NULL)
			call_name[nr] = sbx_call_name(nr);
}

/* Appends s to line at *n (line has room for size bytes). */
static void
put(char *line, size_t size, size_t *n, const char *s)
{
	while (*s != '\0' && *n + 1 < size)
		line[(*n)++] = *s++;
}

/* Appends v in decimal, zero-padded to width digits. */
static void
put_num(char *line, size_t size, size_t *n, long long v, int width)
{
	char	tmp[24];
	int	k = 0;

	if (v < 0)
		v = 0;
	do
		tmp[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && k < (int)sizeof(tmp));
	while (k < width && k < (int)sizeof(tmp))
		tmp[k++] = '0';
	while (k > 0 && *n + 1 < size)
		line[(*n)++] = tmp[--k];
}

/*
 * The log's time stamp (2026-01-31T23:59:59.123Z) without gmtime_r, which
 * is not async-signal-safe: days to a civil date (Howard Hinnant's
 * algorithm).
 */
static void
put_time(char *line, size_t size, size_t *n)
{
	struct timespec	ts;
	long long	days, secs, era, doe, yoe, doy, mp, y, m, d;

	clock_gettime(CLOCK_REALTIME, &ts);
	days = ts.tv_sec / 86400;
	secs = ts.tv_sec % 86400;
	days += 719468;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	put_num(line, size, n, y, 4);
	put(line, size, n, "-");
	put_num(line, size, n, m, 2);
	put(line, size, n, "-");
	put_num(line, size, n, d, 2);
	put(line, size, n, "T");
	put_num(line, size, n, secs / 3600, 2);
	put(line, size, n, ":");
	put_num(line, size, n, secs / 60 % 60, 2);
	put(line, size, n, ":");
	put_num(line, size, n, secs % 60, 2);
	put(line, size, n, ".");
	put_num(line, size, n, ts.tv_nsec / 1000000, 3);
	put(line, size, n, "Z");
}

/*
 * SIGSYS from the filter: one line in the log's format (time, pid, the
 * call's name and number), then death by the same signal (the handler was
 * reset on entry, and SIGSYS stays blocked until it returns).
 */
static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char		line[256];
	size_t		n = 0;
	int		nr = si->si_syscall;
	const char	*name = nr >= 0 && nr < NAMES_MAX &&
			    call_name[nr] != NULL ? call_name[nr] : "unknown";

	(void)ctx;
	put_time(line, sizeof(line), &n);
	put(line, sizeof(line), &n, " pid=");
	put_num(line, sizeof(line), &n, (long long)getpid(), 1);
	put(line, sizeof(line), &n, " error sandbox: forbidden system call ");
	put(line, sizeof(line), &n, name);
	put(line, sizeof(line), &n, " (number ");
	put_num(line, sizeof(line), &n, nr, 1);
	put(line, sizeof(line), &n, "): the process stops with SIGSYS "
	    "([server] sandbox = none to confirm)\n");
	(void)!write(STDERR_FILENO, line, n);
	raise(sig);
}

static int
trap_handler(char *err, size_t errsz)
{
	struct sigaction	sa;

	names_load();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		snprintf(err, errsz, "sigaction SIGSYS: %s", strerror(errno));
		return -1;
	}
	return 0;
}

size_t
cm_sandbox_size(const struct cm_sandbox_plan *p)
{
	return sbx_filter_size(p);
}

int
cm_sandbox_enter(enum cm_sandbox kind, const struct cm_sandbox_plan *p,
    char *err, size_t errsz)
{
	int	rc;

	if (kind == CM_SANDBOX_NONE)
		return 0;
	if ((rc = sbx_landlock_install(p, err, errsz)) < 0)
		return -1;
	if (rc > 0)
		LOG_DEBUG("sandbox: the kernel has no Landlock: files and "
		    "ports are not narrowed, the system call filter stays");
	if (sbx_filter_size(p) == 0) {
		LOG_WARN("sandbox: built without libseccomp: running without "
		    "the system call filter");
		return 0;
	}
	/* EINVAL: a kernel built without CONFIG_SECCOMP(_FILTER). */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
		LOG_WARN("sandbox: the kernel has no seccomp: running "
		    "without the system call filter");
		return 0;
	}
	if (trap_handler(err, errsz) != 0)
		return -1;
	return sbx_filter_install(p, err, errsz);
}
