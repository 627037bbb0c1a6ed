/*
 * dbwatch.c - cuts a database call that waits too long (see dbwatch.h).
 *
 * The handler reads and writes only the volatile fields below, calls
 * clock_gettime() and shutdown(), both async-signal-safe, and keeps
 * errno.  The fields are the process's by necessity: a signal handler
 * has no other way to reach them.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "dbwatch.h"
#include "deadline.h"

#define NO_LIMIT	(-1LL)

static struct {
	volatile sig_atomic_t	fd;		/* of the call in progress; -1: none */
	volatile sig_atomic_t	cut;		/* the watch cut that call */
	volatile sig_atomic_t	armed;
	volatile long long	started_ms;	/* of that call */
	volatile long long	limit_ms;	/* NO_LIMIT, or CLOCK_MONOTONIC ms */
	volatile long long	cap_ms;
	/*
	 * The timer runs from a request's start and is left running after
	 * it: a worker under load never calls setitimer().  Idle for
	 * IDLE_TICKS ticks, the handler stops it.
	 */
	volatile sig_atomic_t	timer_on;
	volatile sig_atomic_t	idle_ticks;
} w = { -1, 0, 0, 0, NO_LIMIT, 0, 0, 0 };

#define IDLE_TICKS	4

static long long
mono_ms(void)
{
	return cm_clock_us(CLOCK_MONOTONIC) / 1000;
}

static long long
limit_of(const struct timespec *t)
{
	return t == NULL ? NO_LIMIT : t->tv_sec * 1000LL + t->tv_nsec / 1000000;
}

/* Cuts the call in progress if it is past its limit or cap. */
static void
check(long long now)
{
	int	fd = w.fd;

	if (fd < 0 || !w.armed)
		return;
	if ((w.limit_ms != NO_LIMIT && now >= w.limit_ms) ||
	    now - w.started_ms >= w.cap_ms) {
		w.cut = 1;
		w.fd = -1;
		(void)shutdown(fd, SHUT_RDWR);
	}
}

static void set_timer(long);

static void
on_tick(int sig)
{
	int	saved = errno;

	(void)sig;
	if (w.armed)
		check(mono_ms());
	else if (++w.idle_ticks >= IDLE_TICKS) {
		set_timer(0);
		w.timer_on = 0;
	}
	errno = saved;
}

void
cm_dbwatch_install(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

static void
set_timer(long ms)
{
	struct itimerval	it;

	it.it_interval.tv_sec = it.it_value.tv_sec = ms / 1000;
	it.it_interval.tv_usec = it.it_value.tv_usec = (ms % 1000) * 1000;
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

void
cm_dbwatch_start(const struct timespec *limit, long cap_ms)
{
	w.limit_ms = limit_of(limit);
	w.cap_ms = cap_ms;
	w.idle_ticks = 0;
	/* armed first: a tick from here on no longer stops the timer. */
	w.armed = 1;
	if (!w.timer_on) {
		w.timer_on = 1;
		set_timer(CM_DBWATCH_TICK_MS);
	}
}

void
cm_dbwatch_stop(void)
{
	w.armed = 0;
}

void
cm_dbwatch_limit(const struct timespec *limit)
{
	w.limit_ms = limit_of(limit);
}

void
cm_dbwatch_enter(int fd)
{
	w.cut = 0;
	w.started_ms = mono_ms();
	w.fd = fd;
	/* Already late: no need to wait for a tick. */
	check(w.started_ms);
}

bool
cm_dbwatch_leave(void)
{
	w.fd = -1;
	return w.cut != 0;
}
