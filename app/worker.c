/*
 * worker.c - the accept loop of one worker.
 *
 * No request is broken by a signal: the signals that end a worker (TERM,
 * INT, QUIT; USR1 for mod_fcgid; the master's death through
 * PR_SET_PDEATHSIG) are blocked at all times except inside epoll_pwait(),
 * where the worker waits for a connection on the listening socket.  The
 * worker accepts the connection itself and hands it to libfcgi, so nothing
 * in libfcgi ever sees EINTR: neither its reads and writes, nor the
 * select() its own accept path runs on a new Unix connection (a signal
 * there makes it close the connection unread: a 502 in nginx).
 *
 * Each worker waits on an epoll instance of its own with the listening
 * socket added EPOLLEXCLUSIVE: the kernel wakes one idle worker per
 * connection, not every one (the others would find nothing to accept).
 * The socket is non-blocking, so a worker that still loses a race goes
 * back to waiting.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <mysql.h>

#include "dbconf.h"
#include "dbwatch.h"
#include "deadline.h"
#include "handlers.h"
#include "log.h"
#include "mem.h"
#include "sandbox.h"
#include "worker.h"

static volatile sig_atomic_t	stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
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
	sa.sa_flags = 0;	/* only epoll_pwait() sees them, and must return */
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

/*
 * The parameter the shipped snippets set to the time the web server
 * received the request (nginx's $msec, Apache's %t, ...); as a header,
 * X-Request-Start, the convention where a server can only add headers.
 */
#define ARRIVAL_PARAM	"HTTP_X_REQUEST_START"

/*
 * The request's deadline is request_timeout after the web server
 * received it, not after we accepted it: a request that waited in the
 * listen queue while the web server gave up must not then be written.
 * Without a usable arrival time (a server that does not pass it, clocks
 * that disagree) it counts from now.  The watch (dbwatch.h) bounds every
 * database call by what is left, minus the margin kept for answering.
 */
static void
request_deadline(struct worker *w, FCGX_Request *req)
{
	const char	*v = FCGX_GetParam(ARRIVAL_PARAM, req->envp);
	struct timespec	 limit;
	long long	 arrival;

	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	w->waited_us = -1;
	if (v != NULL && cm_arrival_parse(v, &arrival) == 0 &&
	    (w->waited_us = cm_waited_us(arrival, cm_clock_us(CLOCK_REALTIME))) < 0)
		LOG_WARN("%s is %.64s, later than this host's clock: not used "
		    "(the web server's clock and ours disagree)", ARRIVAL_PARAM,
		    v);
	cm_timespec_add_ms(&w->deadline, w->cfg->request_timeout * 1000L -
	    (w->waited_us > 0 ? (long)(w->waited_us / 1000) : 0));
	cm_db_begin_request(w->db, &w->deadline);
	limit = w->deadline;
	cm_timespec_add_ms(&limit, -CM_DEADLINE_MARGIN_MS);
	cm_dbwatch_start(&limit, w->cfg->db_statement_timeout * 1000L);
}

/* listen_allowed (PHP-FPM's listen.allowed_clients): a TCP peer in the list. */
static bool
peer_allowed(const char *allowed, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6	*s6 = (const void *)ss;
	const struct sockaddr_in	*s4 = (const void *)ss;
	char				 addr[INET6_ADDRSTRLEN], list[256];
	char				*tok, *save = NULL;

	if (allowed[0] == '\0' || (ss->ss_family != AF_INET &&
	    ss->ss_family != AF_INET6))
		return true;
	if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr,
		    sizeof(addr));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
	else
		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
	snprintf(list, sizeof(list), "%s", allowed);
	for (tok = strtok_r(list, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save))
		if (strcmp(tok, addr) == 0)
			return true;
	LOG_WARN("connection from %s refused: not in listen_allowed", addr);
	return false;
}

/* An epoll instance that wakes this worker alone for a connection. */
static int
exclusive_waiter(int listen_fd)
{
	struct epoll_event	ev;
	int			ep;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = listen_fd;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		close(ep);
		return -1;
	}
	return ep;
}

/*
 * Waits for a connection with the stop signals unblocked (the only place
 * they are), and accepts it.  -1 when there is none (a signal, a lost
 * race), -2 after a second without one (time to look at the master).
 */
static int
next_connection(int ep, int listen_fd, const char *allowed,
    const sigset_t *waitmask)
{
	struct epoll_event	 ev;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd, n;

	if ((n = epoll_pwait(ep, &ev, 1, 1000, waitmask)) <= 0 || stopping)
		return n == 0 ? -2 : -1;
	memset(&ss, 0, sizeof(ss));
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd >= 0 && !peer_allowed(allowed, &ss)) {
		close(fd);
		return -1;
	}
	if (fd == -1 && errno != EAGAIN && errno != EINTR &&
	    errno != ECONNABORTED) {
		LOG_ERR("accept: %s", strerror(errno));
		/* EMFILE and the like: do not spin. */
		(void)poll(NULL, 0, 100);
	}
	return fd;
}

/*
 * Reads what is left of the request's stdin (its end record, usually
 * already in libfcgi's buffer: no system call).  True when all of it was
 * read, so that closing leaves nothing unread.
 */
static bool
read_to_the_end(FCGX_Stream *in)
{
	char	rest[512];
	int	n = 0;

	while (FCGX_GetError(in) == 0 && !FCGX_HasSeenEOF(in) &&
	    (n = FCGX_GetStr(rest, sizeof(rest), in)) > 0)
		;
	return FCGX_GetError(in) == 0 && FCGX_HasSeenEOF(in);
}

/*
 * The connection's end.  Everything read: a plain close(); the answer
 * was written whole by FCGX_Finish_r.  Otherwise libfcgi's careful way
 * (shutdown, then read to the peer's end before closing), since a socket
 * closed with data unread resets the connection, and the web server
 * could lose the answer with it.
 */
static void
close_connection(FCGX_Request *req, bool drained)
{
	int	fd = req->ipcFd;

	if (fd < 0)
		return;
	if (!drained) {
		FCGX_Free(req, 1);
		return;
	}
	req->ipcFd = -1;
	FCGX_Free(req, 0);
	close(fd);
}

int
worker_run(const struct worker_args *a)
{
	struct worker		 w;
	struct cm_db_config	 dbcfg;
	struct cm_sandbox_plan	 plan;
	FCGX_Request		 req;
	sigset_t	 stopset, waitmask;
	unsigned long	 served = 0;
	bool		 drained;
	int		 fd, fl, ep;
	bool		 spawned = a->master == 0;
	char		 err[256];

	worker_signals(spawned, &stopset);
	cm_dbwatch_install();
	sigprocmask(SIG_BLOCK, &stopset, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGQUIT);
	if (spawned)
		sigdelset(&waitmask, SIGUSR1);
	if (!spawned) {
		/* When the master dies, finish the request in hand and exit. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != a->master)
			return 0;
	}
	/* Shared by every worker: a lost race for a connection is EAGAIN. */
	if ((fl = fcntl(a->listen_fd, F_GETFL)) == -1 ||
	    fcntl(a->listen_fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		LOG_ERR("listening socket: %s", strerror(errno));
		return 1;
	}
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&req, a->listen_fd, 0) != 0) {
		LOG_ERR("libfcgi initialisation failed");
		return 1;
	}
	if ((ep = exclusive_waiter(a->listen_fd)) == -1) {
		LOG_ERR("epoll on the listening socket: %s", strerror(errno));
		return 1;
	}
	/*
	 * No fastbins: libfcgi allocates its 8 KiB stream buffers for every
	 * request, and each such allocation made malloc consolidate the
	 * fastbins first (a tenth of a worker's malloc time); small
	 * allocations still come from the per-thread cache.
	 */
	(void)mallopt(M_MXFAST, 0);
	memset(&w, 0, sizeof(w));
	w.cfg = a->cfg;
	w.tzdb = a->tzdb;
	w.sb = a->sb;
	w.slot = a->slot;
	w.listen_fd = a->listen_fd;
	/* policy = balance spreads the pool's slots over the nodes. */
	dbconf_of(a->cfg, &dbcfg);
	w.db = cm_db_open(&dbcfg, spawned ? (unsigned long)getpid() :
	    (unsigned long)a->slot);
	w.body = cm_malloc(a->cfg->body_limit + 1);
	/* Connect now so the first request is fast; failure is retried per request. */
	(void)cm_db_ping(w.db);
	/* Connected, privileges dropped: from here on only the allow-list. */
	dbconf_sandbox_plan(a->cfg, &dbcfg, spawned, &plan);
	explicit_bzero(&dbcfg, sizeof(dbcfg));
	if (cm_sandbox_enter(a->cfg->sandbox, &plan, err, sizeof(err)) != 0) {
		LOG_ERR("sandbox: %s", err);
		return 1;
	}
	sb_set_state(w.sb, w.slot, SB_IDLE);
	for (;;) {
		if (stopping)
			break;
		if (a->cfg->max_requests > 0 &&
		    served >= (unsigned long)a->cfg->max_requests) {
			LOG_INFO("served %lu requests (max_requests): exiting",
			    served);
			break;
		}
		if ((fd = next_connection(ep, a->listen_fd,
		    a->cfg->listen_allowed, &waitmask)) == -2 && !spawned &&
		    getppid() != a->master) {
			/* PR_SET_PDEATHSIG says it too; this covers a lost race. */
			LOG_WARN("the master is gone: exiting");
			break;
		}
		if (fd < 0)
			continue;
		/* libfcgi reads the request from our connection: an open ipcFd
		 * kept "from the last request" is used instead of accept(). */
		req.ipcFd = fd;
		req.keepConnection = 1;
		if (FCGX_Accept_r(&req) < 0)
			continue;	/* not a FastCGI request: closed */
		cm_mem_request_begin();
		request_deadline(&w, &req);
		handle_request(&w, &req);
		cm_dbwatch_stop();
		/* Read to the end: Finish then leaves the connection to us. */
		if ((drained = read_to_the_end(req.in)))
			req.keepConnection = 1;
		FCGX_Finish_r(&req);
		/* One request per connection: a web server asking to keep it
		 * (FCGI_KEEP_CONN) would hold this worker while idle. */
		close_connection(&req, drained);
		cm_db_end_request(w.db);
		cm_mem_request_end();
		served++;
	}
	FCGX_Free(&req, 0);
	close(ep);
	cm_db_close(w.db);
	free(w.body);
	mysql_library_end();
	cm_log_flush();
	return 0;
}
