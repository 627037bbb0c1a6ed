/* check_sandbox.c - unit tests for sandbox.c: each case in a child process. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netdb.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "sandbox.h"
#include "unit_run.h"

/* What the child does once sandboxed. */
enum act { ACT_NOTHING, ACT_READ, ACT_WRITE_NEW, ACT_EXECVE, ACT_GETRANDOM,
    ACT_RESOLVE_CONNECT };

static const char	*newfile = "/tmp/check_sandbox.new";

static int
seccomp_mode(void)
{
	char	 line[256];
	FILE	*f;
	int	 mode = -1;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

/*
 * What a reconnect to "localhost:1" does: getaddrinfo (files: /etc/hosts,
 * nsswitch.conf, gai.conf), socket, connect (refused: nothing listens).
 */
static int
resolve_connect(void)
{
	struct addrinfo	 hints, *res;
	int		 fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "1", &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	rc = fd < 0 ? -1 : 0;
	if (fd >= 0) {
		(void)connect(fd, res->ai_addr, res->ai_addrlen);
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

/*
 * Forks a child that enters the sandbox of kind sb, then acts; returns
 * its wait status.  Exit 0: the act was allowed; 10 + mode: wrong
 * seccomp mode; 20: enter failed.
 */
static int
run(enum cm_sandbox sb, enum act act)
{
	struct cm_config c;
	char		 err[256], *argv[] = { "/bin/true", NULL }, buf[16];
	int		 status, fd, want;
	pid_t		 pid;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		cm_config_defaults(&c);
		c.sandbox = sb;
		/* stderr to /dev/null: the SIGSYS line is the caller's business. */
		if ((fd = open("/dev/null", O_WRONLY)) >= 0)
			dup2(fd, STDERR_FILENO);
		if (cm_sandbox_enter(&c, err, sizeof(err)) != 0)
			_exit(20);
		want = sb == CM_SANDBOX_SECCOMP && cm_sandbox_size() > 0 ? 2 : 0;
		if (seccomp_mode() != want)
			_exit(10 + seccomp_mode());
		switch (act) {
		case ACT_NOTHING:
			break;
		case ACT_READ:
			if ((fd = open("/etc/hosts", O_RDONLY)) < 0 ||
			    read(fd, buf, sizeof(buf)) < 0)
				_exit(3);
			close(fd);
			break;
		case ACT_WRITE_NEW:
			if ((fd = open(newfile, O_WRONLY | O_CREAT, 0600)) < 0)
				_exit(4);
			close(fd);
			break;
		case ACT_EXECVE:
			execve(argv[0], argv, NULL);
			_exit(5);
		case ACT_GETRANDOM:
			if (getentropy(buf, sizeof(buf)) != 0)
				_exit(6);
			break;
		case ACT_RESOLVE_CONNECT:
			/* A reconnect to a TCP host: name lookup, socket, connect. */
			if (resolve_connect() != 0)
				_exit(7);
			break;
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_exit0(int status)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x (exit %d, signal %d)", status,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void
assert_sigsys(int status)
{
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	    "status %#x (exit %d, signal %d): not killed by SIGSYS", status,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

START_TEST(allowed_calls_pass)
{
	assert_exit0(run(CM_SANDBOX_SECCOMP, ACT_NOTHING));
	assert_exit0(run(CM_SANDBOX_SECCOMP, ACT_READ));
	assert_exit0(run(CM_SANDBOX_SECCOMP, ACT_GETRANDOM));
	assert_exit0(run(CM_SANDBOX_SECCOMP, ACT_RESOLVE_CONNECT));
}
END_TEST

START_TEST(forbidden_calls_kill)
{
	if (cm_sandbox_size() == 0)
		return;		/* built without libseccomp */
	unlink(newfile);
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_WRITE_NEW));
	ck_assert_int_eq(access(newfile, F_OK), -1);
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_EXECVE));
}
END_TEST

/* The control: without the sandbox the same calls succeed. */
START_TEST(none_allows_everything)
{
	unlink(newfile);
	assert_exit0(run(CM_SANDBOX_NONE, ACT_WRITE_NEW));
	ck_assert_int_eq(access(newfile, F_OK), 0);
	unlink(newfile);
	assert_exit0(run(CM_SANDBOX_NONE, ACT_READ));
}
END_TEST

START_TEST(list_size)
{
#if defined(HAVE_SECCOMP) && defined(__x86_64__)
#if defined(__SANITIZE_ADDRESS__)
	ck_assert_uint_eq(cm_sandbox_size(), 86);
#else
	ck_assert_uint_eq(cm_sandbox_size(), 68);
#endif
#elif !defined(HAVE_SECCOMP)
	ck_assert_uint_eq(cm_sandbox_size(), 0);
#endif
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sandbox");
	TCase	*tc = tcase_create("sandbox");

	tcase_add_test(tc, allowed_calls_pass);
	tcase_add_test(tc, forbidden_calls_kill);
	tcase_add_test(tc, none_allows_everything);
	tcase_add_test(tc, list_size);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
