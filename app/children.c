/*
 * children.c - the master's workers: spawn, reap, respawn with back-off,
 * the process manager (static, dynamic, ondemand: PHP-FPM's pm.*), and the
 * request_timeout watchdog.  Every decision is taken in the master's loop,
 * never in a signal handler.
 *
 * Whom to signal comes only from the master's own table (m->child): pids
 * fork() returned and waitpid() has not reaped.  The scoreboard is shared
 * memory every worker can write, so what the master reads there (a
 * worker's state, when its request started) is range-checked and used for
 * the process manager's counts and the watchdog's timing, never as a pid.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "log.h"
#include "master.h"
#include "worker.h"

#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		30000
#define BIRTH_MS		2000	/* dying sooner, unasked, is a crash loop */
#define SPAWN_BURST		32	/* dynamic: at most this many per tick */

int
children_initial(const struct cm_config *cfg)
{
	switch (cfg->pm) {
	case CM_PM_DYNAMIC:
		return cfg->start_workers;
	case CM_PM_ONDEMAND:
		return 0;
	default:
		return cfg->workers;
	}
}

/* Exponential, capped, and logged once per back-off: never a spin. */
static void
back_off(struct master *m, const char *why)
{
	m->backoff_ms = m->backoff_ms == 0 ? BACKOFF_FIRST_MS :
	    m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    m->backoff_ms * 2;
	m->next_spawn_ms = sb_now_ms() + m->backoff_ms;
	LOG_ERR("%s: next worker start in %lld ms", why, m->backoff_ms);
}

/*
 * A worker's descriptors: /dev/null on 0 and 1, the log pipe on 2, the
 * listening socket, and nothing else the master holds (its log file, the
 * upgrade pipes, whatever its own parent left open).  Returns the
 * listening socket's number (moved above 2 if it was there), or -1.
 */
static int
child_fds(const struct master *m)
{
	int	lis = m->lis.fd, null;

	if (lis <= STDERR_FILENO && (lis = fcntl(lis, F_DUPFD, 3)) == -1)
		return -1;
	if (m->log_pipe[1] != STDERR_FILENO &&
	    dup2(m->log_pipe[1], STDERR_FILENO) == -1)
		return -1;
	if ((null = open("/dev/null", O_RDWR)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1)
		return -1;
	if (lis > 3)
		(void)close_range(3, (unsigned)lis - 1, 0);
	(void)close_range((unsigned)lis + 1, ~0U, 0);
	return lis;
}

static void __attribute__((noreturn))
child_main(struct master *m, int slot)
{
	struct worker_args	a;
	int			lis;

	/* A worker logs to fd 2, the pipe; the master writes to the target. */
	(void)cm_log_open("stderr", m->cfg.log_level, NULL, 0);
	if ((lis = child_fds(m)) == -1) {
		LOG_ERR("worker: setting up its descriptors: %s",
		    strerror(errno));
		_exit(1);
	}
	if (worker_drop_privileges(&m->cfg) != 0)
		_exit(1);
	a.cfg = &m->cfg;
	a.tzdb = m->tzdb;
	a.listen_fd = lis;
	a.sb = m->sb;
	a.slot = slot;
	a.master = getppid();
	_exit(worker_run(&a));
}

static int
spawn(struct master *m)
{
	struct sb_slot	*s;
	struct child	*c;
	pid_t		 pid;
	int		 i;
	char		 why[128];

	if (sb_now_ms() < m->next_spawn_ms)
		return -1;
	for (i = 0; i < SB_SLOTS && m->child[i].pid != 0; i++)
		;
	if (i == SB_SLOTS)
		return -1;
	s = &m->sb->slot[i];
	memset(s, 0, sizeof(*s));
	s->generation = m->generation;
	s->started = time(NULL);
	s->since_ms = sb_now_ms();
	s->state = SB_STARTING;
	c = &m->child[i];
	memset(c, 0, sizeof(*c));
	c->generation = m->generation;
	c->born_us = sb_now_us();
	if ((pid = fork()) == -1) {
		s->state = SB_FREE;
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		back_off(m, why);
		return -1;
	}
	if (pid == 0)
		child_main(m, i);
	c->pid = pid;
	s->pid = pid;		/* for the status page only */
	return 0;
}

/* A live worker's state as it says, or STARTING when it says nonsense. */
static enum sb_state
said_state(const struct master *m, int i)
{
	int	st = __atomic_load_n(&m->sb->slot[i].state, __ATOMIC_RELAXED);

	return st == SB_IDLE || st == SB_BUSY ? (enum sb_state)st :
	    SB_STARTING;
}

/* A monotonic time a worker wrote, kept only between its birth and now. */
static long long
plausible_us(const struct child *c, long long t_us, long long now)
{
	return t_us >= c->born_us && t_us <= now ? t_us : -1;
}

long long
children_busy_since(const struct master *m, int i, long long now)
{
	const struct child	*c = &m->child[i];
	long long		 t;

	if (c->pid == 0 || said_state(m, i) != SB_BUSY)
		return -1;
	t = __atomic_load_n(&m->sb->slot[i].req_start_us, __ATOMIC_RELAXED);
	return plausible_us(c, t, now);
}

/* Tells worker i to stop: the flag for the status page, the signal. */
static void
signal_child(struct master *m, int i, int sig)
{
	struct child	*c = &m->child[i];

	c->stopping = c->asked = true;
	__atomic_store_n(&m->sb->slot[i].stopping, 1, __ATOMIC_RELAXED);
	kill(c->pid, sig);
}

static int
slot_of(const struct master *m, pid_t pid)
{
	int	i;

	for (i = 0; i < SB_SLOTS; i++)
		if (m->child[i].pid == pid)
			return i;
	return -1;
}

bool
children_has(const struct master *m, pid_t pid)
{
	return pid > 0 && slot_of(m, pid) >= 0;
}

void
children_reap(struct master *m)
{
	struct sb_slot	*s;
	struct child	*c;
	pid_t		 pid;
	int		 st, i, code, sig;
	bool		 at_birth;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		if (pid == m->new_master) {
			LOG_ERR("upgrade: the new master %ld exited (status %d, "
			    "signal %d) before it was ready: this one goes on",
			    (long)pid, code, sig);
			m->new_master = 0;
			continue;
		}
		if ((i = slot_of(m, pid)) < 0)
			continue;
		s = &m->sb->slot[i];
		c = &m->child[i];
		at_birth = said_state(m, i) == SB_STARTING;
		/* Killed in a request: it will not count itself out. */
		if (said_state(m, i) == SB_BUSY &&
		    __atomic_sub_fetch(&m->sb->busy_now, 1, __ATOMIC_RELAXED) < 0)
			__atomic_store_n(&m->sb->busy_now, 0, __ATOMIC_RELAXED);
		if (!c->asked && m->state != M_STOPPING) {
			if (code != 0 || c->timed_out)
				LOG_WARN("worker %ld exited (status %d, signal "
				    "%d)%s: replacing it", (long)pid, code, sig,
				    c->timed_out ? " after request_timeout" : "");
			__atomic_add_fetch(&m->sb->respawns, 1,
			    __ATOMIC_RELAXED);
			if (at_birth && !c->timed_out &&
			    sb_now_us() - c->born_us < BIRTH_MS * 1000LL)
				back_off(m, "a worker died while starting");
		}
		c->pid = 0;
		s->state = SB_FREE;
		s->pid = 0;
	}
}

void
children_stop(struct master *m, bool old_only, int sig)
{
	int	i;

	for (i = 0; i < SB_SLOTS; i++)
		if (m->child[i].pid > 0 && (!old_only ||
		    m->child[i].generation != m->generation))
			signal_child(m, i, sig);
}

int
children_count(const struct master *m, bool current_only)
{
	const struct child	*c;
	int			 i, n = 0;

	for (i = 0; i < SB_SLOTS; i++) {
		c = &m->child[i];
		if (c->pid != 0 && (!current_only ||
		    (c->generation == m->generation && !c->stopping)))
			n++;
	}
	return n;
}

long long
children_watchdog_us(const struct master *m)
{
	return cm_request_life_ms(m->cfg.request_timeout) * 1000LL;
}

/* Kills a worker busy past children_watchdog_us, and says which. */
static void
watchdog(struct master *m)
{
	struct sb_slot	 copy;
	long long	 limit = children_watchdog_us(m), now, since;
	int		 i;

	now = sb_now_us();
	for (i = 0; i < SB_SLOTS; i++) {
		if (m->child[i].timed_out ||
		    (since = children_busy_since(m, i, now)) < 0 ||
		    now - since <= limit)
			continue;
		/* What it was doing, for the log only (the log escapes it). */
		if (sb_read(m->sb, i, &copy) != 0)
			copy.request_id[0] = copy.method[0] = copy.path[0] =
			    '\0';
		LOG_ERR("request_timeout (%d s): killing worker %ld, request "
		    "id=%s method=%s path=%s running for %lld ms",
		    m->cfg.request_timeout, (long)m->child[i].pid,
		    copy.request_id, copy.method, copy.path,
		    (now - since) / 1000);
		/* Not asked to stop: its death is a respawn, and said. */
		m->child[i].timed_out = true;
		kill(m->child[i].pid, SIGKILL);
	}
}

/* Since when worker i is idle, as it says, kept between birth and now. */
static long long
idle_since_ms(const struct master *m, int i)
{
	long long	now = sb_now_us(), t;

	t = __atomic_load_n(&m->sb->slot[i].since_ms, __ATOMIC_RELAXED);
	if (t > (LLONG_MAX - 999) / 1000 || t < 0 ||
	    plausible_us(&m->child[i], t * 1000, now) < 0)
		return now / 1000;	/* nonsense: as if idle just now */
	return t;
}

/* Counts the current generation's workers by state. */
static void
census(const struct master *m, int *total, int *idle, int *busy,
    int *starting, int *oldest_idle)
{
	const struct child	*c;
	long long		 since = 0, t;
	int			 i;

	*total = *idle = *busy = *starting = 0;
	*oldest_idle = -1;
	for (i = 0; i < SB_SLOTS; i++) {
		c = &m->child[i];
		if (c->pid == 0 || c->generation != m->generation ||
		    c->stopping)
			continue;
		(*total)++;
		switch (said_state(m, i)) {
		case SB_BUSY:
			(*busy)++;
			break;
		case SB_IDLE:
			(*idle)++;
			t = idle_since_ms(m, i);
			if (*oldest_idle < 0 || t < since) {
				*oldest_idle = i;
				since = t;
			}
			break;
		default:
			(*starting)++;
		}
	}
}

static void
stop_one(struct master *m, int i, const char *why)
{
	LOG_INFO("stopping idle worker %ld (%s)", (long)m->child[i].pid, why);
	signal_child(m, i, SIGTERM);
}

/* PHP-FPM's pm: how many to start or stop this tick. */
static void
manage(struct master *m)
{
	const struct cm_config	*cfg = &m->cfg;
	int			 total, idle, busy, starting, oldest, n;
	bool			 all_busy;

	census(m, &total, &idle, &busy, &starting, &oldest);
	if (idle > 0 && m->backoff_ms > 0 && sb_now_ms() >= m->next_spawn_ms)
		m->backoff_ms = 0;	/* a worker started fine: the loop is over */
	switch (cfg->pm) {
	case CM_PM_STATIC:
		for (n = total; n < cfg->workers; n++)
			if (spawn(m) != 0)
				break;
		break;
	case CM_PM_DYNAMIC:
		if (!m->started_initial) {
			m->started_initial = true;
			for (n = total; n < cfg->start_workers; n++)
				if (spawn(m) != 0)
					break;
			break;
		}
		n = cfg->min_spare - idle - starting;
		if (total + n > cfg->workers)
			n = cfg->workers - total;
		if (total < cfg->min_spare && n < cfg->min_spare - total)
			n = cfg->min_spare - total;
		if (n > SPAWN_BURST)
			n = SPAWN_BURST;
		for (; n > 0; n--)
			if (spawn(m) != 0)
				break;
		if (idle > cfg->max_spare && oldest >= 0)
			stop_one(m, oldest, "more than max_spare idle");
		break;
	case CM_PM_ONDEMAND:
		if (m->pending && idle == 0 && starting == 0 &&
		    total < cfg->workers)
			(void)spawn(m);
		m->pending = false;
		if (oldest >= 0 && sb_now_ms() - idle_since_ms(m, oldest) >
		    cfg->idle_timeout * 1000LL)
			stop_one(m, oldest, "idle_timeout");
		break;
	}
	all_busy = total >= cfg->workers && busy >= total;
	if (all_busy && !m->all_busy)
		__atomic_add_fetch(&m->sb->max_workers_reached, 1,
		    __ATOMIC_RELAXED);
	m->all_busy = all_busy;
}

void
children_maintain(struct master *m)
{
	int	q;

	if (m->state == M_STOPPING) {
		if (!m->killed_all && sb_now_ms() >= m->stop_deadline_ms) {
			LOG_WARN("stop_timeout (%d s): %d workers still busy: "
			    "killing them", m->cfg.stop_timeout,
			    children_count(m, false));
			children_stop(m, false, SIGKILL);
			m->killed_all = true;
		}
		watchdog(m);
		return;
	}
	watchdog(m);
	manage(m);
	if ((q = listen_queue(m->lis.fd)) >= 0) {
		m->sb->listen_queue = q;
		if (q > m->sb->max_listen_queue)
			m->sb->max_listen_queue = q;
	}
}
