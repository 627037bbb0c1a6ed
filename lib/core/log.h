/*
 * log.h - log lines, the way slowcgi does it: a few macros.
 *
 * Every line starts with an ISO-8601 UTC time, the pid and the level.
 * Callers never pass secrets (keys, passwords, the admin_key query value)
 * to these.  Where the lines go is chosen once per process:
 *
 *   stderr   fd 2 (a pool's worker has the master's log pipe there, and
 *            the master writes what it reads to its own target);
 *   syslog   syslog(3), facility daemon, ident "clientsd";
 *   /a/path  appended to that file, reopened by cm_log_reopen().
 *
 * Repeated identical lines are rate-limited per process: the first one is
 * written, the repeats within CM_LOG_REPEAT_S seconds are counted, and one
 * summary line with the count is written per interval (and by
 * cm_log_flush()).  Not thread-safe: one thread per process.  A process
 * that forks and logs calls cm_log_open() in the child (the pid on each
 * line is read there, not at every line).
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>

#define CM_LOG_REPEAT_S	10
/* The longest line a process writes, newline included; longer is cut. */
#define CM_LOG_LINE_MAX	2200

/* [log] level: lines below it are not written. */
enum cm_log_level { CM_LOG_DEBUG, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERR };

/*
 * Chooses the target and level; "stderr" and level info until called.
 * Returns 0, or -1 with the reason in err (the file cannot be opened).
 */
int	cm_log_open(const char *target, enum cm_log_level,
	    char *err, size_t errsz);
/* Reopens a file target (logrotate's postrotate); 0 or -1 (old file kept). */
int	cm_log_reopen(void);
/* Writes the pending repeat summary, if any. */
void	cm_log_flush(void);
/*
 * The master: one line a worker wrote (up to and without its '\n') to the
 * target.  Control characters become \xNN and the line is cut at
 * CM_LOG_LINE_MAX.  A line whose pid the caller could not match to one of
 * its workers (own_pid false) is written as the caller's own warning that
 * quotes it, so a worker cannot pass a line off as another process's.
 */
void	cm_log_forward(const char *line, size_t len, bool own_pid);
/*
 * Around many lines (the master forwarding what it drained): they are
 * written together, in one write(2), at cm_log_batch_end().
 */
void	cm_log_batch_begin(void);
void	cm_log_batch_end(void);
/* The pid a line in this format claims ("TIME pid=N LEVEL ..."), or -1. */
pid_t	cm_log_line_pid(const char *line, size_t len);
/* For tests: the interval of the repeat limiter, in seconds (0 = off). */
void	cm_log_set_repeat_interval(int seconds);

void	cm_log(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...)	cm_log("debug", __VA_ARGS__)
#define LOG_INFO(...)	cm_log("info", __VA_ARGS__)
#define LOG_WARN(...)	cm_log("warn", __VA_ARGS__)
#define LOG_ERR(...)	cm_log("error", __VA_ARGS__)

#endif
