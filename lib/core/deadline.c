/* deadline.c - a request's time budget in the data layer (see deadline.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"

long
cm_budget_ms(const struct timespec *deadline, const struct timespec *now)
{
	long long	ms;

	if (deadline == NULL)
		return CM_BUDGET_NONE;
	ms = (long long)(deadline->tv_sec - now->tv_sec) * 1000 +
	    (deadline->tv_nsec - now->tv_nsec) / 1000000;
	ms -= CM_DEADLINE_MARGIN_MS;
	if (ms > CM_BUDGET_NONE)
		ms = CM_BUDGET_NONE;
	if (ms < -CM_BUDGET_NONE)
		ms = -CM_BUDGET_NONE;
	return (long)ms;
}

long
cm_settle_ms(int request_timeout_s)
{
	return request_timeout_s > 0 ? request_timeout_s * 1000L / 2 : 0;
}

long
cm_request_life_ms(int request_timeout_s)
{
	return request_timeout_s * 1000L + cm_settle_ms(request_timeout_s);
}

int
cm_lock_wait_s(long budget_ms, int cap_s)
{
	long	s = budget_ms / 1000;

	if (s < 0)
		s = 0;
	if (s > cap_s)
		s = cap_s;
	return (int)s;
}

long
cm_backoff_ms(int attempt, unsigned rnd, long budget_ms)
{
	long	base = 10, pause;

	while (--attempt > 0 && base < 1000)
		base *= 2;
	if (base > 1000)
		base = 1000;
	pause = base / 2 + (long)(rnd % (unsigned)(base / 2 + 1));
	return pause < budget_ms ? pause : -1;
}

struct timespec
cm_deadline_in(const struct timespec *now, int seconds)
{
	struct timespec	t = *now;

	t.tv_sec += seconds;
	return t;
}

void
cm_sleep_ms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

void
cm_timespec_add_ms(struct timespec *t, long ms)
{
	long long	ns = t->tv_nsec + (ms % 1000) * 1000000LL;

	t->tv_sec += ms / 1000 + ns / 1000000000LL;
	ns %= 1000000000LL;
	if (ns < 0) {
		ns += 1000000000LL;
		t->tv_sec--;
	}
	t->tv_nsec = (long)ns;
}

/* Digits and at most one '.', nothing else: strtod accepts far more. */
static bool
plain_number(const char *v, bool *fraction)
{
	size_t	digits = 0;

	*fraction = false;
	for (; *v != '\0'; v++) {
		if (isdigit((unsigned char)*v))
			digits++;
		else if (*v == '.' && !*fraction && digits > 0)
			*fraction = true;
		else
			return false;
	}
	return digits > 0 && digits <= 19;
}

int
cm_arrival_parse(const char *v, long long *us)
{
	bool		 fraction;
	long long	 n;
	char		*end;

	if (v == NULL)
		return -1;
	if (strncmp(v, "t=", 2) == 0)
		v += 2;
	if (!plain_number(v, &fraction))
		return -1;
	if (fraction) {
		/* Seconds: 10 digits and a fraction of up to microseconds. */
		*us = (long long)(strtod(v, NULL) * 1e6 + 0.5);
		return *us > 0 ? 0 : -1;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n <= 0)
		return -1;
	if (n < 100000000000LL)			/* seconds, until year 5138 */
		*us = n * 1000000LL;
	else if (n < 100000000000000LL)		/* milliseconds */
		*us = n * 1000LL;
	else if (n < 100000000000000000LL)	/* microseconds */
		*us = n;
	else					/* nanoseconds */
		*us = n / 1000LL;
	return 0;
}

long long
cm_waited_us(long long arrival_us, long long real_now_us)
{
	long long	waited = real_now_us - arrival_us;

	if (waited < -CM_ARRIVAL_SKEW_US)
		return -1;
	return waited < 0 ? 0 : waited;
}

long long
cm_clock_us(clockid_t clock)
{
	struct timespec	ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}
