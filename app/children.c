/*
 * children.c - the master's workers: spawn, reap, respawn with back-off,
 * the process manager (static, dynamic, ondemand: PHP-FPM's pm.*), and the
 * request_timeout watchdog.  Every decision is taken in the master's loop,
 * never in a signal handler; the scoreboard is the table of workers.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void __attribute__((noreturn))
child_main(struct master *m, int slot)
{
	struct worker_args	a;

	close(m->log_pipe[0]);
	if (m->log_pipe[1] != STDERR_FILENO) {
		dup2(m->log_pipe[1], STDERR_FILENO);
		close(m->log_pipe[1]);
	}
	if (m->upgrade_fd >= 0)
		close(m->upgrade_fd);
	if (m->ready_fd >= 0)
		close(m->ready_fd);
	/* A worker logs to fd 2, the pipe; the master writes to the target. */
	(void)cm_log_open("stderr", m->cfg.log_level, NULL, 0);
	if (worker_drop_privileges(&m->cfg) != 0)
		_exit(1);
	a.cfg = &m->cfg;
	a.tzdb = m->tzdb;
	a.listen_fd = m->lis.fd;
	a.sb = m->sb;
	a.slot = slot;
	a.master = m->sb->master_pid;
	_exit(worker_run(&a));
}

static int
spawn(struct master *m)
{
	struct sb_slot	*s;
	pid_t		 pid;
	int		 i;
	char		 why[128];

	if (sb_now_ms() < m->next_spawn_ms)
		return -1;
	for (i = 0; i < SB_SLOTS && m->sb->slot[i].state != SB_FREE; i++)
		;
	if (i == SB_SLOTS)
		return -1;
	s = &m->sb->slot[i];
	memset(s, 0, sizeof(*s));
	s->generation = m->generation;
	s->started = time(NULL);
	s->since_ms = sb_now_ms();
	s->state = SB_STARTING;
	if ((pid = fork()) == -1) {
		s->state = SB_FREE;
		snprintf(why, sizeof(why), "fork: %s", strerror(errno));
		back_off(m, why);
		return -1;
	}
	if (pid == 0)
		child_main(m, i);
	s->pid = pid;
	m->child[i].born_ms = sb_now_ms();
	m->child[i].asked = m->child[i].timed_out = false;
	return 0;
}

static int
slot_of(const struct master *m, pid_t pid)
{
	int	i;

	for (i = 0; i < SB_SLOTS; i++)
		if (m->sb->slot[i].state != SB_FREE && m->sb->slot[i].pid == pid)
			return i;
	return -1;
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
		at_birth = s->state == SB_STARTING;
		if (!c->asked && m->state != M_STOPPING) {
			if (code != 0 || c->timed_out)
				LOG_WARN("worker %ld exited (status %d, signal "
				    "%d)%s: replacing it", (long)pid, code, sig,
				    c->timed_out ? " after request_timeout" : "");
			__atomic_add_fetch(&m->sb->respawns, 1,
			    __ATOMIC_RELAXED);
			if (at_birth && !c->timed_out &&
			    sb_now_ms() - c->born_ms < BIRTH_MS)
				back_off(m, "a worker died while starting");
		}
		s->state = SB_FREE;
		s->pid = 0;
	}
}

void
children_stop(struct master *m, bool old_only, int sig)
{
	struct sb_slot	*s;
	int		 i;

	for (i = 0; i < SB_SLOTS; i++) {
		s = &m->sb->slot[i];
		if (s->state == SB_FREE || s->pid <= 0 ||
		    (old_only && s->generation == m->generation))
			continue;
		__atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
		m->child[i].asked = true;
		kill(s->pid, sig);
	}
}

int
children_count(const struct master *m, bool current_only)
{
	const struct sb_slot	*s;
	int			 i, n = 0;

	for (i = 0; i < SB_SLOTS; i++) {
		s = &m->sb->slot[i];
		if (s->state != SB_FREE && (!current_only ||
		    (s->generation == m->generation && !s->stopping)))
			n++;
	}
	return n;
}

/* Kills a worker whose request ran past request_timeout, and says which. */
static void
watchdog(struct master *m)
{
	struct sb_slot	 copy;
	long long	 limit = m->cfg.request_timeout * 1000000LL, now;
	int		 i;

	now = sb_now_us();
	for (i = 0; i < SB_SLOTS; i++) {
		if (m->sb->slot[i].state != SB_BUSY || m->child[i].timed_out ||
		    sb_read(m->sb, i, &copy) != 0 || copy.state != SB_BUSY ||
		    now - copy.req_start_us <= limit)
			continue;
		LOG_ERR("request_timeout (%d s): killing worker %ld, request "
		    "id=%s method=%s path=%s running for %lld ms",
		    m->cfg.request_timeout, (long)copy.pid, copy.request_id,
		    copy.method, copy.path, (now - copy.req_start_us) / 1000);
		m->child[i].timed_out = true;
		kill(copy.pid, SIGKILL);
	}
}

/* Counts the current generation's workers by state. */
static void
census(const struct master *m, int *total, int *idle, int *busy,
    int *starting, int *oldest_idle)
{
	const struct sb_slot	*s;
	long long		 since = 0;
	int			 i;

	*total = *idle = *busy = *starting = 0;
	*oldest_idle = -1;
	for (i = 0; i < SB_SLOTS; i++) {
		s = &m->sb->slot[i];
		if (s->state == SB_FREE || s->generation != m->generation ||
		    s->stopping)
			continue;
		(*total)++;
		if (s->state == SB_STARTING)
			(*starting)++;
		else if (s->state == SB_BUSY)
			(*busy)++;
		else {
			(*idle)++;
			if (*oldest_idle < 0 || s->since_ms < since) {
				*oldest_idle = i;
				since = s->since_ms;
			}
		}
	}
}

static void
stop_one(struct master *m, int i, const char *why)
{
	struct sb_slot	*s = &m->sb->slot[i];

	LOG_INFO("stopping idle worker %ld (%s)", (long)s->pid, why);
	__atomic_store_n(&s->stopping, 1, __ATOMIC_RELAXED);
	m->child[i].asked = true;
	kill(s->pid, SIGTERM);
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
		if (oldest >= 0 && sb_now_ms() - m->sb->slot[oldest].since_ms >
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
