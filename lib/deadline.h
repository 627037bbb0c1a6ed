/*
 * deadline.h - the arithmetic of a request's time budget in the data
 * layer (issue 6, DECISIONS "Time limits"): what is left of a
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

/* now + seconds, for callers without a deadline of their own. */
struct timespec	cm_deadline_in(const struct timespec *now, int seconds);

#endif
