/*
 * deadline.h - the arithmetic of a request's time budget in the data
 * layer (one knob, [server] request_timeout; see doc/design.md, "The
 * deadline"): what is left of a
 * CLOCK_MONOTONIC deadline minus a margin, the lock wait to set, and a
 * jittered exponential back-off that fits in what is left.  Pure
 * functions of their arguments (the caller passes "now" and the random
 * number), so the unit tests drive them without sleeping.
 */
#ifndef CM_DEADLINE_H
#define CM_DEADLINE_H

#include <stdbool.h>
#include <time.h>

/* What the data layer leaves for answering after its last wait. */
#define CM_DEADLINE_MARGIN_MS	1000L

/*
 * How long past its deadline a request may go on settling a COMMIT whose
 * answer was lost (looking its token up, fencing it): half of
 * request_timeout.  Such a write is done; only its answer is unknown, and
 * the nodes that can tell are often the ones that were waiting for a
 * failed node to be evicted (about 5 s) or for a flow-control pause to
 * end.  A true answer a little late is worth more than a 503 that cannot
 * say whether the write was made.  Nothing new starts in this time, the
 * master's watchdog allows it, and the shipped web server snippets wait
 * 60 s, twice the default request_timeout.
 */
long	cm_settle_ms(int request_timeout_s);
/*
 * The longest a request lives, in milliseconds: request_timeout and the
 * settle (the watchdog's limit; an Idempotency-Key marker older than this
 * belongs to a request that is gone).
 */
long	cm_request_life_ms(int request_timeout_s);
/* "No deadline": larger than any wait we compute. */
#define CM_BUDGET_NONE		(1L << 30)

/*
 * Milliseconds left before deadline minus the margin, as seen at now;
 * CM_BUDGET_NONE when deadline is NULL; <= 0 when out of time.
 */
long	cm_budget_ms(const struct timespec *deadline, const struct timespec *now);

/*
 * innodb_lock_wait_timeout (whole seconds) for a transaction starting
 * with budget_ms left: what is left, capped by cap_s.  0 (no wait: MariaDB
 * answers 1205 at once) when less than a second is left.
 */
int	cm_lock_wait_s(long budget_ms, int cap_s);

/*
 * The pause before retry number attempt (1, 2, ...): a random point
 * between half and all of 10 ms * 2^(attempt-1), at most 1 s ("equal
 * jitter").  rnd is a random number.  Returns -1 when that pause would
 * not leave budget_ms > 0 afterwards: the caller gives up (503).
 */
long	cm_backoff_ms(int attempt, unsigned rnd, long budget_ms);

/* The clock's time in microseconds (CLOCK_MONOTONIC, CLOCK_REALTIME). */
long long	cm_clock_us(clockid_t clock);

/* now + seconds, for callers without a deadline of their own. */
struct timespec	cm_deadline_in(const struct timespec *now, int seconds);
/* *t += ms (ms may be negative). */
void	cm_timespec_add_ms(struct timespec *t, long ms);
/* Sleeps ms milliseconds (a signal may end it sooner). */
void	cm_sleep_ms(long ms);

/*
 * When the web server received the request, as the shipped snippets pass
 * it (X-Request-Start or its FastCGI parameter): "t=VALUE" or "VALUE",
 * VALUE the time since the epoch in seconds with a fraction (nginx's
 * $msec), or whole seconds, milliseconds, microseconds (Apache's %t) or
 * nanoseconds, told apart by magnitude.  0 and *us on success; -1 when v
 * is NULL or has no such shape.
 */
int	cm_arrival_parse(const char *v, long long *us);

/*
 * How long a request that arrived at arrival_us (CLOCK_REALTIME
 * microseconds) has waited at real_now_us: >= 0, or -1 when the arrival
 * is more than CM_ARRIVAL_SKEW_US in the future (the web server's clock
 * and ours disagree: the time cannot be trusted).
 */
#define CM_ARRIVAL_SKEW_US	1000000LL
long long	cm_waited_us(long long arrival_us, long long real_now_us);

#endif
