/*
 * dbwatch.h - a bound on every wait for the database.
 *
 * A database node that stalls (a frozen process, a network that stops
 * forwarding) keeps its TCP connections open: a statement sent to it
 * waits for Connector/C's read timeout, which is fixed when the
 * connection is made and cannot be shortened per statement.  The watch
 * bounds each call instead: while it runs, an interval timer (SIGALRM,
 * every CM_DBWATCH_TICK_MS) checks the call in progress, and cuts one
 * that has passed the current limit (what is left of the request's
 * deadline) or its own cap (how long one statement may take before its
 * node is taken for stalled) by shutting its socket down.  Connector/C
 * then fails the call with "lost connection" (2013), which the data layer
 * answers as it answers a node that went away: the node is marked down,
 * and the request walks on to another one or, out of time, answers 503.
 *
 * The state is per process (a signal handler needs it there) and holds
 * one call at a time: a worker runs one request, and a request one
 * database call, at a time.  Nothing here allocates or logs.
 */
#ifndef CM_DBWATCH_H
#define CM_DBWATCH_H

#include <stdbool.h>
#include <time.h>

/* How often the timer checks the call in progress. */
#define CM_DBWATCH_TICK_MS	250

/*
 * Installs the SIGALRM handler (SA_RESTART: reads and writes elsewhere in
 * the process are restarted, never failed).  Once per process, before
 * the sandbox is entered.
 */
void	cm_dbwatch_install(void);

/*
 * Arms the watch: from now until cm_dbwatch_stop(), calls are cut past
 * limit (CLOCK_MONOTONIC; NULL: no limit) or after cap_ms each.  A
 * process that never calls this (clientsctl) is never cut.  The timer
 * keeps ticking after stop, and stops itself after a second without a
 * watched call: back-to-back requests set it once.
 */
void	cm_dbwatch_start(const struct timespec *limit, long cap_ms);
void	cm_dbwatch_stop(void);
/* Moves the limit of an armed watch (a COMMIT being settled gets more). */
void	cm_dbwatch_limit(const struct timespec *limit);

/*
 * Around one blocking call on socket fd: enter before, leave after.  A
 * call that enters past the limit is cut at once.  leave() says whether
 * the watch cut this call.
 */
void	cm_dbwatch_enter(int fd);
bool	cm_dbwatch_leave(void);

#endif
