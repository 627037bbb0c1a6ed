/* deadline.c - a request's time budget in the data layer (see deadline.h). */
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
