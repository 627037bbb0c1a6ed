/*
 * sandbox_cost.c - what the worker's sandbox costs per system call: two
 * million getppid() (a call the filter allows with any arguments) and
 * send()/recv() pairs on a socket pair (send goes through an argument
 * rule), timed without the sandbox, then in a child inside it.  Times a
 * request's calls (bench/RESULTS.md: about 14 per PATCH, 9 per GET) give
 * the filter's cost per request.  Build and run from a build directory:
 *
 *   cc -O2 -I../lib/core -I../lib/sandbox -I. -o sandbox_cost \
 *       ../bench/sandbox_cost.c lib/sandbox/libsandbox.a lib/core/libcore.a \
 *       -lseccomp -ljansson -lcrypto && ./sandbox_cost
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define CALLS	2000000L

static double
seconds(void)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* ns per call: getppid, then a send/recv pair's mean. */
static void
measure(const int sv[2], double *getppid_ns, double *sendrecv_ns)
{
	char	b[1];
	double	t0;
	long	i;

	t0 = seconds();
	for (i = 0; i < CALLS; i++)
		(void)syscall(SYS_getppid);
	*getppid_ns = (seconds() - t0) / CALLS * 1e9;
	t0 = seconds();
	for (i = 0; i < CALLS; i++) {
		(void)send(sv[0], "x", 1, MSG_DONTWAIT);
		(void)recv(sv[1], b, 1, MSG_DONTWAIT);
	}
	*sendrecv_ns = (seconds() - t0) / CALLS / 2 * 1e9;
}

int
main(void)
{
	struct cm_sandbox_plan	plan;
	char			err[256];
	double			g, s;
	int			sv[2], round, st;
	pid_t			pid;

	memset(&plan, 0, sizeof(plan));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	for (round = 0; round < 3; round++) {
		measure(sv, &g, &s);
		printf("plain      getppid %6.1f ns  send/recv %7.1f ns\n", g, s);
		fflush(stdout);
		if ((pid = fork()) == 0) {
			if (cm_sandbox_enter(CM_SANDBOX_SECCOMP, &plan, err,
			    sizeof(err)) != 0) {
				fprintf(stderr, "%s\n", err);
				_exit(1);
			}
			measure(sv, &g, &s);
			printf("sandboxed  getppid %6.1f ns  send/recv %7.1f ns\n",
			    g, s);
			fflush(stdout);
			_exit(0);
		}
		(void)waitpid(pid, &st, 0);
	}
	return 0;
}
