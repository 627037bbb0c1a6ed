/*
 * clientsd - the Clients Management API as a FastCGI responder.
 *
 * Standalone mode (nginx, or anything speaking FastCGI to a socket): binds
 * [server] listen and runs a prefork pool.  Spawned mode (mod_fcgid,
 * spawn-fcgi): fd 0 already is a listening FastCGI socket, and this process
 * is one worker; the web server manages the processes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <mysql.h>

#include "config.h"
#include "handlers.h"
#include "log.h"
#include "pool.h"
#include "store.h"
#include "tzdb.h"

struct setup {
	struct cm_config	 cfg;
	struct cm_tzdb		*tzdb;
};

static volatile sig_atomic_t	stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
	/* Makes libfcgi's accept() give up instead of retrying on EINTR. */
	FCGX_ShutdownPending();
}

static void
worker_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);	/* mod_fcgid's graceful stop */
	signal(SIGPIPE, SIG_IGN);	/* a client that went away is not fatal */
}

/* One worker: accept, serve, repeat; an in-flight request always finishes. */
static int
serve(int listen_fd, void *arg)
{
	struct setup	*su = arg;
	struct worker	 w;
	FCGX_Request	 req;

	worker_signals();
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		LOG_ERR("libfcgi initialisation failed");
		return 1;
	}
	w.cfg = &su->cfg;
	w.tzdb = su->tzdb;
	w.store = cm_store_new(&su->cfg);
	if ((w.body = malloc(su->cfg.body_limit + 1)) == NULL)
		return 1;
	/* Connect now so the first request is fast; failure is retried per request. */
	(void)cm_store_ping(w.store);
	while (!stopping && FCGX_Accept_r(&req) >= 0) {
		handle_request(&w, &req);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 0);
	cm_store_free(w.store);
	free(w.body);
	mysql_library_end();
	return 0;
}

static int
is_listening_socket(int fd)
{
	int		on = 0;
	socklen_t	len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: clientsd [-c config]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct setup	 su;
	const char	*path = cm_config_default_path();
	char		 err[512];
	int		 ch, rc;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c')
			usage();
		path = optarg;
	}
	if (optind != argc)
		usage();
	cm_config_defaults(&su.cfg);
	if (cm_config_load(&su.cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsd: %s\n", err);
		return 1;
	}
	if ((su.tzdb = cm_tzdb_load(su.cfg.tzdata, err, sizeof(err))) == NULL) {
		fprintf(stderr, "clientsd: %s\n", err);
		return 1;
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "clientsd: cannot initialise the MariaDB library\n");
		return 1;
	}
	if (is_listening_socket(STDIN_FILENO))
		rc = serve(STDIN_FILENO, &su);
	else
		rc = pool_run(&su.cfg, serve, &su);
	cm_tzdb_free(su.tzdb);
	return rc;
}
