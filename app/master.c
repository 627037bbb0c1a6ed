/*
 * master.c - the master of the standalone pool: its loop and its states
 * (running, upgrading, stopping).
 *
 * Signals are blocked at all times except inside ppoll(), which waits for
 * them together with the workers' log pipe (and, while upgrading, the new
 * master's readiness pipe): no wake-up is lost, and the handlers only
 * record what arrived.  Reload, upgrade, log reopening and the stop all run
 * in the loop.  The master keeps the privileges it started with, only to
 * bind a changed listen, reopen its log and remove its pid file and socket;
 * it never talks to the database and never serves a request.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbconf.h"
#include "deadline.h"
#include "log.h"
#include "master.h"
#include "notify.h"

#define READY_ENV	"CLIENTSD_READY_FD"
#define UPGRADE_ENV	"CLIENTSD_UPGRADE_FROM"
#define READY_WAIT_MS	10000	/* ready anyway when workers start slowly */

static volatile sig_atomic_t	got_chld, got_stop, got_hup, got_usr1,
				got_usr2;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:	got_chld = 1; break;
	case SIGHUP:	got_hup = 1; break;
	case SIGUSR1:	got_usr1 = 1; break;
	case SIGUSR2:	got_usr2 = 1; break;
	default:	got_stop = sig; break;
	}
}

static const int master_signals[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2
};

static void
master_signals_init(sigset_t *waitmask)
{
	struct sigaction	sa;
	sigset_t		block;
	size_t			i;

	sigemptyset(&block);
	for (i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++)
		sigaddset(&block, master_signals[i]);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	for (i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++)
		sigdelset(waitmask, master_signals[i]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_mask = block;
	for (i = 0; i < sizeof(master_signals) / sizeof(master_signals[0]); i++)
		sigaction(master_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static const char *const pm_name[] = {
	[CM_PM_STATIC] = "static", [CM_PM_DYNAMIC] = "dynamic",
	[CM_PM_ONDEMAND] = "ondemand"
};

/*
 * An error that stops the start: logged, and also on standard error when
 * the log goes elsewhere, so that whoever started clientsd sees why.
 */
static void
startup_error(const struct cm_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
startup_error(const struct cm_config *cfg, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	LOG_ERR("%s", msg);
	if (strcmp(cfg->log_target, "stderr") != 0)
		fprintf(stderr, "clientsd: %s\n", msg);
}

/* --- pid file ------------------------------------------------------ */

static pid_t
pid_file_read(const char *path)
{
	FILE	*fp;
	long	 pid = 0;

	if (path[0] == '\0' || (fp = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1)
		pid = 0;
	fclose(fp);
	return (pid_t)pid;
}

/* The pid of a stale file may be anybody's by now: is it a clientsd? */
static bool
is_clientsd(pid_t pid)
{
	char	 path[64], comm[64] = "";
	FILE	*fp;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return true;	/* cannot tell: assume it is */
	if (fgets(comm, sizeof(comm), fp) == NULL)
		comm[0] = '\0';
	fclose(fp);
	return strncmp(comm, "clientsd", 8) == 0;
}

/* -1 when the pid file names a live clientsd (other than an upgrading master). */
static int
pid_file_check(const struct cm_config *cfg, const char *path)
{
	const char	*from = getenv(UPGRADE_ENV);
	pid_t		 pid = pid_file_read(path);

	if (pid <= 0 || pid == getpid() ||
	    (from != NULL && pid == (pid_t)atol(from)))
		return 0;
	if ((kill(pid, 0) == 0 || errno == EPERM) && is_clientsd(pid)) {
		startup_error(cfg, "already running: pid file %s names live "
		    "process %ld; not starting", path, (long)pid);
		return -1;
	}
	return 0;
}

static int
pid_file_write(const char *path)
{
	char	 tmp[1100];
	FILE	*fp;

	if (path[0] == '\0')
		return 0;
	/* Renamed into place: a reader never sees an empty file. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((fp = fopen(tmp, "w")) == NULL) {
		LOG_ERR("pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		LOG_ERR("pid_file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Only our own: after an upgrade the file names the new master. */
static void
pid_file_remove(const char *path)
{
	if (path[0] != '\0' && pid_file_read(path) == getpid())
		unlink(path);
}

/* --- the workers' log lines ------------------------------------------ */

#define LOG_BATCH_MS	50

static char	logbuf[4 * CM_LOG_LINE_MAX];
static size_t	loglen;

/* One line from the pipe: the log escapes and cuts it; the pid must be ours. */
static void
forward_line(const struct master *m, const char *line, size_t len)
{
	pid_t	pid = cm_log_line_pid(line, len);

	cm_log_forward(line, len, pid > 0 && children_has(m, pid));
}

/*
 * Reads what the workers wrote and forwards whole lines.  The pipe is the
 * workers' to write, so nothing in it is trusted: a line longer than a
 * worker ever writes is cut where the buffer ends.  Returns whether
 * there was anything: while there is, the loop drains every
 * LOG_BATCH_MS instead of waking for each line (a worker's access line is
 * one write; the master's CPU per request stays a fraction of one wake-up).
 */
static bool
drain_log(struct master *m)
{
	ssize_t	 n;
	char	*nl, *p;
	bool	 any = false;

	cm_log_batch_begin();
	for (;;) {
		n = read(m->log_pipe[0], logbuf + loglen,
		    sizeof(logbuf) - loglen);
		if (n <= 0)
			break;
		any = true;
		loglen += (size_t)n;
		p = logbuf;
		while ((nl = memchr(p, '\n', loglen - (p - logbuf))) != NULL) {
			forward_line(m, p, (size_t)(nl - p));
			p = nl + 1;
		}
		loglen -= (size_t)(p - logbuf);
		memmove(logbuf, p, loglen);
		if (loglen == sizeof(logbuf)) {
			forward_line(m, logbuf, loglen);
			loglen = 0;
		}
	}
	cm_log_batch_end();
	return any;
}

/* --- systemd and the old master ------------------------------------- */

static void
status_line(struct master *m, const char *what)
{
	int	total, busy, idle;

	sb_count(m->sb, &total, &busy, &idle);
	(void)notify_send("%s%sSTATUS=%d workers: %d busy, %d idle\n",
	    what, what[0] ? "\n" : "", total, busy, idle);
}

/* STATUS= when the counts changed, at most once a second (systemd's view). */
static void
status_update(struct master *m)
{
	int	c[3];

	if (getenv("NOTIFY_SOCKET") == NULL || sb_now_ms() - m->sent_ms < 1000)
		return;
	sb_count(m->sb, &c[0], &c[1], &c[2]);
	if (memcmp(c, m->sent_counts, sizeof(c)) == 0)
		return;
	memcpy(m->sent_counts, c, sizeof(c));
	m->sent_ms = sb_now_ms();
	status_line(m, "");
}

/* Once the first workers are up: READY=1, and the old master may go. */
static void
check_ready(struct master *m)
{
	int	total, busy, idle;
	char	one = 1;

	sb_count(m->sb, &total, &busy, &idle);
	if (m->ready || (idle < children_initial(&m->cfg) &&
	    sb_now_ms() - m->started_ms < READY_WAIT_MS))
		return;
	m->ready = true;
	(void)notify_send("READY=1\nMAINPID=%ld\nSTATUS=%d workers: %d busy, "
	    "%d idle\n", (long)getpid(), total, busy, idle);
	if (m->ready_fd >= 0) {
		(void)!write(m->ready_fd, &one, 1);
		close(m->ready_fd);
		m->ready_fd = -1;
	}
	LOG_INFO("ready: pool %s, pm %s, %d workers", m->cfg.pool_name,
	    pm_name[m->cfg.pm], total);
}

/* --- stop, reload, upgrade ------------------------------------------- */

static void
begin_stop(struct master *m, const char *why)
{
	if (m->state == M_STOPPING)
		return;
	if (m->new_master > 0 && !m->handed_over) {
		LOG_INFO("stopping the new master %ld too", (long)m->new_master);
		kill(m->new_master, SIGTERM);
	}
	m->state = M_STOPPING;
	m->stop_deadline_ms = sb_now_ms() + m->cfg.stop_timeout * 1000LL;
	if (!m->handed_over)
		(void)notify_send("STOPPING=1\n");
	LOG_INFO("%s: stopping %d workers (they finish their requests; "
	    "stop_timeout %d s)", why, children_count(m, false),
	    m->cfg.stop_timeout);
	children_stop(m, false, SIGTERM);
}

static void
reload(struct master *m)
{
	struct cm_config	 cfg;
	struct cm_tzdb		*tz;
	struct listener		 nl, old;
	char			 err[600], level[64];
	int			 rc;

	(void)notify_send("RELOADING=1\nMONOTONIC_USEC=%lld\n",
	    cm_clock_us(CLOCK_MONOTONIC));
	LOG_INFO("SIGHUP: reloading %s", m->cfg_path);
	cm_config_defaults(&cfg);
	if (cm_config_load(&cfg, m->cfg_path, err, sizeof(err)) != 0) {
		LOG_ERR("reload failed: %s; keeping the running configuration",
		    err);
		goto done;
	}
	if (geteuid() == 0 && cfg.user[0] == '\0' && !cfg.allow_root) {
		LOG_ERR("reload failed: %s: workers would run as root: set "
		    "[server] user (or allow_root = true); keeping the running "
		    "configuration", m->cfg_path);
		goto done;
	}
	if ((rc = dbconf_schema_check(&cfg, level, sizeof(level), err,
	    sizeof(err))) < 0) {
		LOG_ERR("reload failed: %s; keeping the running configuration",
		    err);
		goto done;
	}
	if (rc > 0)
		LOG_WARN("reload: the database schema is not checked now (%s): "
		    "each connection checks it", err);
	if ((tz = cm_tzdb_load(cfg.tzdata, err, sizeof(err))) == NULL) {
		LOG_ERR("reload failed: %s; keeping the running configuration",
		    err);
		goto done;
	}
	if (strcmp(cfg.listen, m->cfg.listen) != 0 && m->lis.inherited)
		LOG_WARN("listen = %s ignored: the socket is systemd's (%s)",
		    cfg.listen, m->lis.name);
	else if (strcmp(cfg.listen, m->cfg.listen) != 0) {
		if (listen_bind(&cfg, &nl, err, sizeof(err)) != 0) {
			LOG_ERR("reload failed: %s; keeping the running "
			    "configuration", err);
			cm_tzdb_free(tz);
			goto done;
		}
		old = m->lis;
		m->lis = nl;
		/* The old workers keep their copy until they are done. */
		listen_close(&old, false);
		LOG_INFO("now listening on %s (was %s)", m->lis.name, old.name);
	}
	if (strcmp(cfg.log_target, m->cfg.log_target) != 0 ||
	    cfg.log_level != m->cfg.log_level) {
		if (cm_log_open(cfg.log_target, cfg.log_level, err,
		    sizeof(err)) != 0) {
			LOG_ERR("%s: keeping the old log target", err);
			snprintf(cfg.log_target, sizeof(cfg.log_target), "%s",
			    m->cfg.log_target);
		}
	}
	/* The workers still running hold their own copy (fork). */
	cm_tzdb_free(m->tzdb);
	m->tzdb = tz;
	m->cfg = cfg;
	explicit_bzero(&cfg, sizeof(cfg));
	snprintf(m->sb->pool, sizeof(m->sb->pool), "%s", m->cfg.pool_name);
	snprintf(m->sb->pm, sizeof(m->sb->pm), "%s", pm_name[m->cfg.pm]);
	m->generation++;
	m->started_initial = false;
	m->backoff_ms = 0;
	m->next_spawn_ms = 0;
	children_maintain(m);		/* the new workers first */
	children_stop(m, true, SIGTERM);	/* then the old ones drain */
	LOG_INFO("reloaded: pm %s, %d new workers; the old ones finish their "
	    "requests", pm_name[m->cfg.pm], children_count(m, true));
done:
	status_line(m, "READY=1");
}

/* Runs "EXE -t -c CONFIG" and waits for it: 0 when it says OK. */
static int
check_binary(struct master *m)
{
	pid_t	pid;
	int	st;

	if ((pid = fork()) == -1) {
		LOG_ERR("upgrade: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t	none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)!freopen("/dev/null", "w", stdout);
		execl(m->exe, m->exe, "-t", "-c", m->cfg_path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	LOG_ERR("upgrade: %s -t -c %s failed (status %d, signal %d): keeping "
	    "the running binary", m->exe, m->cfg_path,
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1,
	    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return -1;
}

/*
 * Whether the file at our binary's path is no longer the one running: a
 * package upgrade renames the new binary into place.  Then SIGHUP (what
 * `systemctl reload` and the packages' scripts send) upgrades to it, as
 * SIGUSR2 would; the new master reads the configuration anew anyway.
 */
static bool
binary_replaced(const struct master *m)
{
	struct stat	st;

	return m->exe_st.st_ino != 0 && stat(m->exe, &st) == 0 &&
	    (st.st_ino != m->exe_st.st_ino || st.st_dev != m->exe_st.st_dev);
}

/* SIGUSR2: a new master from the binary on disk, on our listening socket. */
static void
upgrade(struct master *m)
{
	int	p[2];
	pid_t	pid;
	char	num[32];

	if (m->state != M_RUNNING) {
		LOG_WARN("SIGUSR2 ignored: %s in progress", m->state ==
		    M_UPGRADING ? "an upgrade" : "a stop");
		return;
	}
	LOG_INFO("SIGUSR2: upgrading to %s", m->exe);
	if (check_binary(m) != 0)
		return;
	if (pipe2(p, O_CLOEXEC) == -1) {
		LOG_ERR("upgrade: pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		LOG_ERR("upgrade: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		sigset_t	none;
		size_t		i;

		/* Only these two survive execve: the socket and the pipe. */
		(void)fcntl(m->lis.fd, F_SETFD, 0);
		(void)fcntl(p[1], F_SETFD, 0);
		snprintf(num, sizeof(num), "%d", m->lis.fd);
		setenv(LISTEN_ENV, num, 1);
		snprintf(num, sizeof(num), "%d", p[1]);
		setenv(READY_ENV, num, 1);
		snprintf(num, sizeof(num), "%ld", (long)getppid());
		setenv(UPGRADE_ENV, num, 1);
		for (i = 0; i < sizeof(master_signals) /
		    sizeof(master_signals[0]); i++)
			signal(master_signals[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(m->exe, m->argv);
		_exit(127);
	}
	close(p[1]);
	m->upgrade_fd = p[0];
	m->new_master = pid;
	m->state = M_UPGRADING;
	LOG_INFO("upgrade: new master %ld started; this one serves until it "
	    "is ready", (long)pid);
}

/* The new master wrote its byte (ready) or closed the pipe (gave up). */
static void
upgrade_answer(struct master *m)
{
	char	c;
	ssize_t	n;

	while ((n = read(m->upgrade_fd, &c, 1)) == -1 && errno == EINTR)
		;
	if (n == -1 && errno == EAGAIN)
		return;
	close(m->upgrade_fd);
	m->upgrade_fd = -1;
	if (n == 1) {
		LOG_INFO("upgrade: the new master %ld is ready",
		    (long)m->new_master);
		m->handed_over = true;
		begin_stop(m, "upgrade");
		return;
	}
	LOG_ERR("upgrade failed: the new master %ld gave up; this one goes on",
	    (long)m->new_master);
	if (m->state == M_UPGRADING)
		m->state = M_RUNNING;
}

/* --- the loop -------------------------------------------------------- */

/* Until the next thing to do: a tick, the end of a back-off, the watchdog. */
static int
loop_timeout_ms(const struct master *m)
{
	long long	wait = m->state == M_STOPPING || !m->ready ? 100 : 1000, d;
	long long	now = sb_now_us(), limit = children_watchdog_us(m);
	long long	since;
	int		i;

	if (m->next_spawn_ms > 0 &&
	    (d = m->next_spawn_ms - now / 1000) >= 0 && d < wait)
		wait = d + 1;
	if (m->log_busy && wait > LOG_BATCH_MS)
		wait = LOG_BATCH_MS;
	for (i = 0; i < SB_SLOTS; i++)
		if (!m->child[i].timed_out &&
		    (since = children_busy_since(m, i, now)) >= 0 &&
		    (d = (since + limit - now) / 1000) < wait)
			wait = d < 0 ? 0 : d + 1;
	return (int)wait;
}

static void
handle_signals(struct master *m)
{
	int	sig;

	if (got_chld) {
		got_chld = 0;
		drain_log(m);	/* a worker's last lines, while its pid is known */
		children_reap(m);
	}
	if ((sig = got_stop) != 0) {
		got_stop = 0;
		begin_stop(m, sig == SIGQUIT ? "SIGQUIT" : sig == SIGINT ?
		    "SIGINT" : "SIGTERM");
	}
	if (got_hup) {
		got_hup = 0;
		if (m->state == M_RUNNING && binary_replaced(m)) {
			LOG_INFO("SIGHUP: %s is a new binary: upgrading to it "
			    "(as SIGUSR2)", m->exe);
			upgrade(m);
		} else if (m->state == M_RUNNING)
			reload(m);
		else
			LOG_WARN("SIGHUP ignored while %s", m->state ==
			    M_STOPPING ? "stopping" : "upgrading");
	}
	if (got_usr1) {
		got_usr1 = 0;
		if (cm_log_reopen() != 0)
			LOG_ERR("SIGUSR1: reopening %s: %s", m->cfg.log_target,
			    strerror(errno));
		else
			LOG_INFO("SIGUSR1: log reopened");
	}
	if (got_usr2) {
		got_usr2 = 0;
		upgrade(m);
	}
}

static void
loop(struct master *m, const sigset_t *waitmask)
{
	struct pollfd	 pfd[3];
	struct timespec	 ts;
	nfds_t		 n;
	int		 t, total, busy, idle, rc;

	for (;;) {
		handle_signals(m);
		children_maintain(m);
		if (m->state != M_STOPPING)
			check_ready(m);
		if (m->ready && m->state == M_RUNNING)
			status_update(m);
		if (m->state == M_STOPPING && children_count(m, false) == 0)
			break;
		n = 0;
		/* Quiet: wake for the first line.  Busy: the timer drains. */
		pfd[n].fd = m->log_busy ? -1 : m->log_pipe[0];
		pfd[n++].events = POLLIN;
		if (m->upgrade_fd >= 0) {
			pfd[n].fd = m->upgrade_fd;
			pfd[n++].events = POLLIN;
		}
		/* ondemand: wake up for a waiting connection nobody takes. */
		sb_count(m->sb, &total, &busy, &idle);
		if (m->cfg.pm == CM_PM_ONDEMAND && m->state != M_STOPPING &&
		    total - busy == 0 && children_count(m, true) <
		    m->cfg.workers) {
			pfd[n].fd = m->lis.fd;
			pfd[n++].events = POLLIN;
		}
		t = loop_timeout_ms(m);
		ts.tv_sec = t / 1000;
		ts.tv_nsec = (t % 1000) * 1000000L;
		rc = ppoll(pfd, n, &ts, waitmask);
		m->log_busy = drain_log(m);
		if (rc <= 0)
			continue;
		if (m->upgrade_fd >= 0 && pfd[1].fd == m->upgrade_fd &&
		    (pfd[1].revents & (POLLIN | POLLHUP)))
			upgrade_answer(m);
		if (n > 0 && pfd[n - 1].fd == m->lis.fd &&
		    (pfd[n - 1].revents & POLLIN))
			m->pending = true;
	}
}

int
master_run(const struct cm_config *cfg, const char *cfg_path,
    struct cm_tzdb *tzdb, char **argv)
{
	static struct master	 m;
	sigset_t		 waitmask;
	char			 err[600];
	const char		*env;
	ssize_t			 n;

	m.cfg = *cfg;
	m.tzdb = tzdb;
	m.argv = argv;
	m.ready_fd = m.upgrade_fd = -1;
	m.log_pipe[0] = m.log_pipe[1] = -1;
	m.started_ms = sb_now_ms();
	snprintf(m.cfg_path, sizeof(m.cfg_path), "%s", cfg_path);
	if ((n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1)) <= 0)
		snprintf(m.exe, sizeof(m.exe), "%s", argv[0]);
	else
		m.exe[n] = '\0';
	if (stat("/proc/self/exe", &m.exe_st) != 0)
		memset(&m.exe_st, 0, sizeof(m.exe_st));
	if ((env = getenv(READY_ENV)) != NULL) {
		m.ready_fd = atoi(env);
		(void)fcntl(m.ready_fd, F_SETFD, FD_CLOEXEC);
		unsetenv(READY_ENV);
	}
	if (geteuid() == 0 && cfg->user[0] == '\0') {
		if (!cfg->allow_root) {
			startup_error(cfg, "refusing to run workers as root: set "
			    "[server] user (or allow_root = true)");
			goto refused;
		}
		LOG_WARN("allow_root = true: the workers run as root");
	}
	if (pid_file_check(cfg, cfg->pid_file) != 0)
		goto refused;
	if (listen_open(cfg, &m.lis, err, sizeof(err)) != 0) {
		startup_error(cfg, "%s", err);
		goto refused;
	}
	unsetenv(UPGRADE_ENV);
	if (pid_file_write(cfg->pid_file) != 0 ||
	    (m.sb = sb_create(cfg, pm_name[cfg->pm])) == NULL ||
	    pipe2(m.log_pipe, O_CLOEXEC) == -1) {
		if (m.sb == NULL || m.log_pipe[0] < 0)
			LOG_ERR("cannot set up the pool: %s", strerror(errno));
		listen_close(&m.lis, false);
		pid_file_remove(cfg->pid_file);
		goto refused;
	}
	(void)fcntl(m.log_pipe[0], F_SETFL, O_NONBLOCK);
	/* Room for the lines of LOG_BATCH_MS at any rate: 1 MiB, or the default. */
	(void)fcntl(m.log_pipe[0], F_SETPIPE_SZ, 1 << 20);
	master_signals_init(&waitmask);
	LOG_INFO("listening on %s: pool %s, pm %s, up to %d workers",
	    m.lis.name, cfg->pool_name, pm_name[cfg->pm], cfg->workers);
	loop(&m, &waitmask);
	drain_log(&m);
	close(m.log_pipe[0]);
	close(m.log_pipe[1]);
	listen_close(&m.lis, m.handed_over);
	pid_file_remove(m.cfg.pid_file);
	LOG_INFO("stopped%s", m.handed_over ? ": the new master took over" :
	    "");
	cm_log_flush();
	sb_destroy(m.sb);
	cm_tzdb_free(m.tzdb);
	explicit_bzero(&m.cfg, sizeof(m.cfg));
	return 0;
refused:
	sb_destroy(m.sb);
	cm_tzdb_free(m.tzdb);
	explicit_bzero(&m.cfg, sizeof(m.cfg));
	return 1;
}
