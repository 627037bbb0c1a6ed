/*
 * worker.c - the accept loop of one worker.
 *
 * No request is broken by a signal: the signals that end a worker (TERM,
 * INT, QUIT; USR1 for mod_fcgid; the master's death through
 * PR_SET_PDEATHSIG) are blocked from the return of FCGX_Accept_r() to
 * the end of FCGX_Finish_r(), so libfcgi's reads and writes are never
 * interrupted.  They are unblocked only while waiting in accept; the
 * handler then puts a fresh, unbound socket on the listening descriptor's
 * number (PHP-FPM's trick), so that the accept in progress, restarted by
 * SA_RESTART, fails at once and the loop ends.  The listening socket
 * itself stays open in the master and the other workers.
 */
#include <sys/prctl.h>
#include <sys/socket.h>

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
#include <mysql.h>

#include "handlers.h"
#include "log.h"
#include "store.h"
#include "worker.h"

static volatile sig_atomic_t	stopping;
static int			listen_fd_no = -1;

static void
on_stop(int sig)
{
	int	saved = errno, s;

	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
	if (listen_fd_no >= 0 &&
	    (s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0) {
		dup2(s, listen_fd_no);
		close(s);
	}
	errno = saved;
}

static void
worker_signals(bool spawned, sigset_t *stopset)
{
	struct sigaction	sa;

	sigemptyset(stopset);
	sigaddset(stopset, SIGTERM);
	sigaddset(stopset, SIGINT);
	sigaddset(stopset, SIGQUIT);
	if (spawned)
		sigaddset(stopset, SIGUSR1);	/* mod_fcgid's graceful stop */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_mask = *stopset;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	if (spawned)
		sigaction(SIGUSR1, &sa, NULL);
	else {
		/* The master's signals are for the master. */
		signal(SIGUSR1, SIG_IGN);
		signal(SIGUSR2, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
	}
	signal(SIGPIPE, SIG_IGN);	/* a client that went away is not fatal */
	signal(SIGCHLD, SIG_DFL);
}

int
worker_drop_privileges(const struct cm_config *cfg)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return 0;
	if (cfg->user[0] == '\0') {
		if (cfg->allow_root)
			return 0;
		LOG_ERR("refusing to run a worker as root: set [server] user "
		    "(or allow_root = true)");
		return -1;
	}
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
	    setuid(pw->pw_uid) != 0 || setuid(0) == 0) {
		LOG_ERR("dropping privileges to %s: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	/* The credential change cleared PR_SET_PDEATHSIG: worker_run sets it. */
	return 0;
}

static void
deadline_after(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += seconds;
}

int
worker_run(const struct worker_args *a)
{
	struct worker	 w;
	FCGX_Request	 req;
	sigset_t	 stopset, waitmask;
	struct timespec	 deadline;
	unsigned long	 served = 0;
	bool		 spawned = a->master == 0;

	worker_signals(spawned, &stopset);
	sigprocmask(SIG_BLOCK, &stopset, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGQUIT);
	if (spawned)
		sigdelset(&waitmask, SIGUSR1);
	listen_fd_no = a->listen_fd;
	if (!spawned) {
		/* When the master dies, finish the request in hand and exit. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != a->master)
			return 0;
	}
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&req, a->listen_fd, 0) != 0) {
		LOG_ERR("libfcgi initialisation failed");
		return 1;
	}
	memset(&w, 0, sizeof(w));
	w.cfg = a->cfg;
	w.tzdb = a->tzdb;
	w.sb = a->sb;
	w.slot = a->slot;
	w.listen_fd = a->listen_fd;
	w.store = cm_store_new(a->cfg);
	if ((w.body = malloc(a->cfg->body_limit + 1)) == NULL)
		return 1;
	/* Connect now so the first request is fast; failure is retried per request. */
	(void)cm_store_ping(w.store);
	sb_set_state(w.sb, w.slot, SB_IDLE);
	for (;;) {
		if (stopping)
			break;
		if (!spawned && getppid() != a->master) {
			LOG_WARN("the master is gone: exiting");
			break;
		}
		if (a->cfg->max_requests > 0 &&
		    served >= (unsigned long)a->cfg->max_requests) {
			LOG_INFO("served %lu requests (max_requests): exiting",
			    served);
			break;
		}
		/* The stop signals may arrive only while we wait here. */
		sigprocmask(SIG_SETMASK, &waitmask, NULL);
		if (FCGX_Accept_r(&req) < 0) {
			sigprocmask(SIG_BLOCK, &stopset, NULL);
			break;
		}
		sigprocmask(SIG_BLOCK, &stopset, NULL);
		deadline_after(&deadline, a->cfg->request_timeout);
		cm_store_set_deadline(w.store, &deadline);
		handle_request(&w, &req);
		FCGX_Finish_r(&req);
		cm_store_set_deadline(w.store, NULL);
		served++;
	}
	FCGX_Free(&req, 0);
	cm_store_free(w.store);
	free(w.body);
	mysql_library_end();
	cm_log_flush();
	return 0;
}
