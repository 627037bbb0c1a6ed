/*
 * pool.c - the prefork pool of standalone mode.
 *
 * The master binds the socket before dropping privileges (so it may live in
 * a root-owned directory), then only forks, waits and restarts.  It never
 * talks to the database: each worker opens its own connection after fork.
 * Signals are caught without SA_RESTART so waitpid() returns to look at
 * the flags.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "log.h"
#include "pool.h"

#define MAX_WORKERS	256
#define STOP_GRACE_SEC	30	/* then in-flight requests are cut off */

static volatile sig_atomic_t	 stop_signal;

static void
on_stop(int sig)
{
	stop_signal = sig;
}

static void
catch_signal(int sig, void (*fn)(int))
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: blocking calls return EINTR */
	sigaction(sig, &sa, NULL);
}

/* A Unix socket gets listen_mode and listen_owner/listen_group, like PHP-FPM's listen.*. */
static int
socket_access(const struct cm_config *cfg)
{
	struct passwd	*pw = NULL;
	struct group	*gr = NULL;

	if (strchr(cfg->listen, '/') == NULL)
		return 0;
	if (cfg->listen_owner[0] && (pw = getpwnam(cfg->listen_owner)) == NULL) {
		LOG_ERR("listen_owner %s: no such user", cfg->listen_owner);
		return -1;
	}
	if (cfg->listen_group[0] && (gr = getgrnam(cfg->listen_group)) == NULL) {
		LOG_ERR("listen_group %s: no such group", cfg->listen_group);
		return -1;
	}
	if ((pw || gr) && chown(cfg->listen, pw ? pw->pw_uid : (uid_t)-1,
	    gr ? gr->gr_gid : (gid_t)-1) != 0) {
		LOG_ERR("chown %s: %s", cfg->listen, strerror(errno));
		return -1;
	}
	if (chmod(cfg->listen, cfg->listen_mode) != 0) {
		LOG_ERR("chmod %s: %s", cfg->listen, strerror(errno));
		return -1;
	}
	return 0;
}

static int
drop_privileges(const struct cm_config *cfg)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0 || cfg->user[0] == '\0')
		return 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		LOG_ERR("user %s: no such user", cfg->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (cfg->group[0] != '\0') {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			LOG_ERR("group %s: no such group", cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		LOG_ERR("dropping privileges to %s: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_pid_file(const char *path)
{
	FILE	*fp;

	if (path[0] == '\0')
		return 0;
	if ((fp = fopen(path, "w")) == NULL) {
		LOG_ERR("pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	return fclose(fp) == 0 ? 0 : -1;
}

static pid_t
spawn(int fd, pool_worker_fn fn, void *arg)
{
	pid_t	pid;

	if ((pid = fork()) != 0) {
		if (pid < 0)
			LOG_ERR("fork: %s", strerror(errno));
		return pid;
	}
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	_exit(fn(fd, arg));
}

static void
signal_all(const pid_t *pids, int n, int sig)
{
	int	i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], sig);
}

static int
slot_of(const pid_t *pids, int n, pid_t pid)
{
	int	i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return i;
	return -1;
}

/* Forwards the stop to the workers, lets them finish, then insists. */
static void
stop_workers(pid_t *pids, int n)
{
	time_t	deadline = time(NULL) + STOP_GRACE_SEC;
	int	left = 0, i, status;
	pid_t	pid;

	signal_all(pids, n, SIGTERM);
	for (i = 0; i < n; i++)
		left += pids[i] > 0;
	alarm(STOP_GRACE_SEC);
	while (left > 0) {
		pid = waitpid(-1, &status, 0);
		if (pid > 0 && (i = slot_of(pids, n, pid)) >= 0) {
			pids[i] = 0;
			left--;
		} else if (pid < 0 && errno == ECHILD)
			break;
		else if (time(NULL) >= deadline) {
			LOG_WARN("workers still busy after %d s: killing them",
			    STOP_GRACE_SEC);
			signal_all(pids, n, SIGKILL);
			deadline = time(NULL) + STOP_GRACE_SEC;
		}
	}
}

static void
on_alarm(int sig)
{
	(void)sig;
}

int
pool_run(const struct cm_config *cfg, pool_worker_fn fn, void *arg)
{
	pid_t	pids[MAX_WORKERS] = { 0 }, pid;
	time_t	born[MAX_WORKERS] = { 0 };
	int	fd, i, status, n = cfg->workers;

	if (n < 1 || n > MAX_WORKERS)
		n = n < 1 ? 1 : MAX_WORKERS;
	if (FCGX_Init() != 0 || (fd = FCGX_OpenSocket(cfg->listen,
	    cfg->backlog)) < 0) {
		LOG_ERR("cannot listen on %s", cfg->listen);
		return 1;
	}
	if (socket_access(cfg) != 0 || write_pid_file(cfg->pid_file) != 0 ||
	    drop_privileges(cfg) != 0)
		return 1;
	catch_signal(SIGTERM, on_stop);
	catch_signal(SIGINT, on_stop);
	catch_signal(SIGALRM, on_alarm);
	LOG_INFO("listening on %s with %d workers", cfg->listen, n);
	while (!stop_signal) {
		for (i = 0; i < n && !stop_signal; i++)
			if (pids[i] == 0 && (pid = spawn(fd, fn, arg)) > 0) {
				pids[i] = pid;
				born[i] = time(NULL);
			}
		pid = waitpid(-1, &status, 0);
		if (pid <= 0 || (i = slot_of(pids, n, pid)) < 0)
			continue;
		pids[i] = 0;
		if (!stop_signal)
			LOG_WARN("worker %ld exited (status %d, signal %d): "
			    "restarting", (long)pid, WIFEXITED(status) ?
			    WEXITSTATUS(status) : -1, WIFSIGNALED(status) ?
			    WTERMSIG(status) : 0);
		/* A worker dying at birth (database config?) must not spin the CPU. */
		if (time(NULL) - born[i] < 1)
			sleep(1);
	}
	LOG_INFO("signal %d: stopping workers", (int)stop_signal);
	stop_workers(pids, n);
	if (strchr(cfg->listen, '/') != NULL)
		unlink(cfg->listen);	/* may fail after the privilege drop */
	if (cfg->pid_file[0] != '\0')
		unlink(cfg->pid_file);
	return 0;
}
