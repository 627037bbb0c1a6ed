/*
 * trivial.c - the HTTP path's own ceiling: a libfcgi responder that does
 * nothing but answer a fixed JSON body, prefork like clientsd, on the
 * socket nginx already points at.  Not part of the product; bench/run
 * builds and runs it.
 *
 *   trivial SOCKET WORKERS PIDFILE
 *
 * The master writes PIDFILE, forks WORKERS accept loops and, on SIGTERM,
 * stops them and removes the socket.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

static const char answer[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "\r\n"
    "{\"success\":true,\"data\":{\"pong\":true}}";

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
serve(int fd)
{
	FCGX_Request	r;

	if (FCGX_InitRequest(&r, fd, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutStr(answer, (int)sizeof(answer) - 1, r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	FILE		*fp;
	pid_t		*kids;
	int		 fd, n, i;

	if (argc != 4 || (n = atoi(argv[2])) < 1 || n > 256) {
		fprintf(stderr, "usage: trivial SOCKET WORKERS PIDFILE\n");
		return 2;
	}
	if (FCGX_Init() != 0 || (fd = FCGX_OpenSocket(argv[1], 1024)) < 0) {
		fprintf(stderr, "trivial: cannot listen on %s\n", argv[1]);
		return 1;
	}
	chmod(argv[1], 0666);
	if ((kids = calloc((size_t)n, sizeof(*kids))) == NULL)
		return 1;
	for (i = 0; i < n; i++)
		if ((kids[i] = fork()) == 0)
			return serve(fd);
	if ((fp = fopen(argv[3], "w")) != NULL) {
		fprintf(fp, "%ld\n", (long)getpid());
		fclose(fp);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stopping)
		pause();
	for (i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	unlink(argv[1]);
	unlink(argv[3]);
	return 0;
}
