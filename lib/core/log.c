/* log.c - log lines to stderr, syslog or a file, with a repeat limiter. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

/* syslog.h's LOG_INFO and LOG_ERR are log.h's macros: keep its numbers apart. */
#include <syslog.h>
static const int syslog_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
#undef LOG_DEBUG
#undef LOG_INFO
#undef LOG_ERR

#include "log.h"

enum target { T_STDERR, T_SYSLOG, T_FILE };

/*
 * The process's log state.  XXX: module state, like syslog(3)'s own; a
 * process has one log.
 */
static struct {
	enum target		 target;
	enum cm_log_level	 level;
	int			 fd;		/* T_STDERR: 2; T_FILE: the file */
	char			 path[256];
	int			 repeat_s;
	/* The repeat limiter: the last message, when it was first written, and
	 * how many identical ones were swallowed since. */
	char			 last[2048];
	enum cm_log_level	 last_level;
	struct timespec		 since;
	unsigned long		 repeats;
	/* getpid() once per cm_log_open(), which a forked worker calls. */
	pid_t			 pid;
	/* Between cm_log_batch_begin() and _end(): lines gathered in out. */
	bool			 batch;
	size_t			 outlen;
	char			 out[32768];
} lg = { T_STDERR, CM_LOG_INFO, STDERR_FILENO, "", CM_LOG_REPEAT_S, "",
	 CM_LOG_INFO, { 0, 0 }, 0, 0, false, 0, "" };

/* The lines gathered, in one write(2): each whole, in order. */
static void
write_out(void)
{
	if (lg.outlen > 0)
		(void)!write(lg.fd, lg.out, lg.outlen);
	lg.outlen = 0;
}

void
cm_log_batch_begin(void)
{
	lg.batch = lg.target != T_SYSLOG;
}

void
cm_log_batch_end(void)
{
	write_out();
	lg.batch = false;
}

static const char *const level_word[] = { "debug", "info", "warn", "error" };

static enum cm_log_level
level_of(const char *word)
{
	size_t	i;

	for (i = 0; i < sizeof(level_word) / sizeof(level_word[0]); i++)
		if (strcmp(word, level_word[i]) == 0)
			return (enum cm_log_level)i;
	return CM_LOG_ERR;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
cm_log_open(const char *target, enum cm_log_level level, char *err,
    size_t errsz)
{
	int	fd;

	cm_log_flush();
	lg.pid = getpid();
	if (strcmp(target, "syslog") == 0 || strcmp(target, "stderr") == 0) {
		if (lg.target == T_FILE)	/* a worker leaving the master's file */
			close(lg.fd);
		lg.fd = STDERR_FILENO;
		lg.target = T_STDERR;
		if (strcmp(target, "syslog") == 0) {
			openlog("clientsd", LOG_NDELAY, LOG_DAEMON);
			lg.target = T_SYSLOG;
		}
	} else {
		if ((fd = open_file(target)) == -1) {
			snprintf(err, errsz, "log target %s: %s", target,
			    strerror(errno));
			return -1;
		}
		if (lg.target == T_FILE)
			close(lg.fd);
		lg.target = T_FILE;
		lg.fd = fd;
		snprintf(lg.path, sizeof(lg.path), "%s", target);
	}
	lg.level = level;
	return 0;
}

int
cm_log_reopen(void)
{
	int	fd;

	if (lg.target != T_FILE)
		return 0;
	if ((fd = open_file(lg.path)) == -1)
		return -1;
	/* dup2 keeps the number: nothing else holding lg.fd needs to know. */
	if (dup2(fd, lg.fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void
cm_log_set_repeat_interval(int seconds)
{
	cm_log_flush();
	lg.repeat_s = seconds;
}

/* Writes one finished line ("...\n") to the target. */
static void
emit(enum cm_log_level level, const char *line, size_t len)
{
	const char	*p;

	if (lg.target == T_SYSLOG) {
		/* syslog stamps time and pid itself: from the level word on. */
		p = strchr(line, ' ');
		p = p != NULL && (p = strchr(p + 1, ' ')) != NULL ? p + 1 : line;
		syslog(syslog_prio[level], "%.*s", (int)(len - (p - line) - 1),
		    p);
		return;
	}
	/* One write(2) per line (or per batch of whole lines) so lines of
	 * concurrent writers do not mix. */
	if (lg.batch && len <= sizeof(lg.out)) {
		if (lg.outlen + len > sizeof(lg.out))
			write_out();
		memcpy(lg.out + lg.outlen, line, len);
		lg.outlen += len;
		return;
	}
	write_out();
	(void)!write(lg.fd, line, len);
}

/*
 * Copies len bytes of src to dst (room for dstsz, NUL included) with
 * control characters as \xNN, so no line can carry a newline, a carriage
 * return or a terminal escape into the log; returns the length written.
 */
static size_t
escape(char *dst, size_t dstsz, const char *src, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;
	size_t			 i, n = 0;

	for (i = 0; i < len && n + 1 < dstsz; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c != 0x7f) {
			dst[n++] = (char)c;
			continue;
		}
		if (n + 5 > dstsz)
			break;
		dst[n++] = '\\';
		dst[n++] = 'x';
		dst[n++] = hex[c >> 4];
		dst[n++] = hex[c & 15];
	}
	dst[n] = '\0';
	return n;
}

pid_t
cm_log_line_pid(const char *line, size_t len)
{
	const char	*p, *end = line + len;
	long		 pid = 0;

	if ((p = memchr(line, ' ', len)) == NULL || end - p < 6 ||
	    memcmp(p, " pid=", 5) != 0)
		return -1;
	for (p += 5; p < end && *p >= '0' && *p <= '9' && pid < 1L << 30; p++)
		pid = pid * 10 + (*p - '0');
	return p < end && *p == ' ' && pid > 0 && pid < 1L << 30 ?
	    (pid_t)pid : -1;
}

void
cm_log_forward(const char *line, size_t len, bool own_pid)
{
	const char	*p;
	char		 word[8], clean[CM_LOG_LINE_MAX];
	size_t		 n;

	if (len > CM_LOG_LINE_MAX - 1)
		len = CM_LOG_LINE_MAX - 1;
	n = escape(clean, sizeof(clean), line, len);
	if (!own_pid) {
		cm_log("warn", "a worker wrote a line not its own: %s", clean);
		return;
	}
	clean[n++] = '\n';
	/* "TIME pid=N LEVEL ...": the level picks the syslog priority. */
	word[0] = '\0';
	if ((p = memchr(clean, ' ', n)) != NULL &&
	    (p = memchr(p + 1, ' ', n - (p + 1 - clean))) != NULL) {
		for (p++, len = 0; p < clean + n && *p != ' ' && len + 1 <
		    sizeof(word); p++)
			word[len++] = *p;
		word[len] = '\0';
	}
	emit(level_of(word), clean, n);
}

/* Formats "TIME pid=N LEVEL msg\n" into out; returns its length or 0. */
static size_t
format_line(char *out, size_t outsz, enum cm_log_level level,
    const char *msg)
{
	char		 stamp[32], clean[CM_LOG_LINE_MAX];
	struct timeval	 tv;
	struct tm	 tm;
	int		 n;

	(void)escape(clean, sizeof(clean), msg, strlen(msg));
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(out, outsz, "%s.%03ldZ pid=%ld %s %s\n", stamp,
	    (long)(tv.tv_usec / 1000), (long)(lg.pid != 0 ? lg.pid : getpid()),
	    level_word[level], clean);
	if (n < 0)
		return 0;
	if ((size_t)n >= outsz) {	/* cut long messages, keep the newline */
		out[outsz - 2] = '\n';
		return outsz - 1;
	}
	return (size_t)n;
}

static void
write_msg(enum cm_log_level level, const char *msg)
{
	char	line[CM_LOG_LINE_MAX];
	size_t	len;

	if ((len = format_line(line, sizeof(line), level, msg)) > 0)
		emit(level, line, len);
}

void
cm_log_flush(void)
{
	char	msg[128];

	if (lg.repeats == 0)
		return;
	snprintf(msg, sizeof(msg), "last message repeated %lu more times",
	    lg.repeats);
	lg.repeats = 0;
	write_msg(lg.last_level, msg);
}

static long long
ms_since(const struct timespec *t0, const struct timespec *t1)
{
	return (t1->tv_sec - t0->tv_sec) * 1000LL +
	    (t1->tv_nsec - t0->tv_nsec) / 1000000;
}

void
cm_log(const char *level, const char *fmt, ...)
{
	enum cm_log_level	 lv = level_of(level);
	char			 msg[2048];
	struct timespec		 now;
	va_list			 ap;
	int			 saved = errno;

	if (lv < lg.level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (lg.repeat_s > 0 && lv == lg.last_level &&
	    strcmp(msg, lg.last) == 0) {
		lg.repeats++;
		/* One summary per interval while the storm lasts. */
		if (ms_since(&lg.since, &now) >= lg.repeat_s * 1000LL) {
			cm_log_flush();
			lg.since = now;
		}
		errno = saved;
		return;
	}
	cm_log_flush();
	memcpy(lg.last, msg, sizeof(lg.last));
	lg.last_level = lv;
	lg.since = now;
	write_msg(lv, msg);
	errno = saved;
}
