/*
 * check_sandbox.c - unit tests for lib/sandbox: each case in a child
 * process that enters the sandbox and then tries one thing.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "sandbox.h"
#include "unit_run.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#endif

/* What the child does once sandboxed. */
enum act {
	ACT_NOTHING, ACT_READ, ACT_WRITE_NEW, ACT_EXECVE, ACT_GETRANDOM,
	ACT_RESOLVE_CONNECT, ACT_SOCKET_NETLINK, ACT_SOCKET_UDP, ACT_SOCKET_RAW,
	ACT_IOCTL_FIONREAD, ACT_IOCTL_TTY, ACT_MMAP_EXEC, ACT_MPROTECT_EXEC,
	ACT_PRCTL, ACT_SENDTO_ADDRESS, ACT_READ_PASSWD, ACT_CONNECT_PORT_1,
	ACT_CONNECT_PORT_2, ACT_KILL_PARENT, ACT_THREAD, ACT_FORK,
	ACT_SOCKETPAIR
};

static const char	*newfile = "/tmp/check_sandbox.new";

/*
 * The Seccomp: line of /proc/self/status, read through fd, opened before
 * the sandbox (which refuses /proc): reading from 0 again renews it.
 */
static int
seccomp_mode(int fd)
{
	char	 buf[4096], *p;
	ssize_t	 n;
	int	 mode = -1;

	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nSeccomp:")) != NULL)
		(void)sscanf(p + 1, "Seccomp: %d", &mode);
	return mode;
}

static bool
landlock_abi_at_least(int v)
{
#ifdef __NR_landlock_create_ruleset
	return syscall(__NR_landlock_create_ruleset, NULL, 0, 1) >= v;
#else
	(void)v;
	return false;
#endif
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

/* A thread that resolves a name (libcurl's resolver does), joined. */
static void *
resolver(void *arg)
{
	*(int *)arg = resolve_connect();
	return NULL;
}

static int
a_thread(void)
{
	pthread_t	t;
	int		rc = -1;

	if (pthread_create(&t, NULL, resolver, &rc) != 0)
		return 21;
	pthread_join(t, NULL);
	return rc == 0 ? 0 : 22;
}

/* connect() to 127.0.0.1:port (nothing listens); returns its errno. */
static int
connect_errno(unsigned port)
{
	struct sockaddr_in	sin;
	int			fd, e;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : errno;
	close(fd);
	return e;
}

/* Exit codes of a child: 0 the act was allowed, others say what failed. */
static int
act_on(enum act act)
{
	char	 buf[16], *argv[] = { "/bin/true", NULL };
	void	*p;
	int	 fd, n, sv[2];
	struct sockaddr_in	sin;

	switch (act) {
	case ACT_NOTHING:
		return 0;
	case ACT_READ:
		if ((fd = open("/etc/hosts", O_RDONLY)) < 0 ||
		    read(fd, buf, sizeof(buf)) < 0)
			return 3;
		close(fd);
		return 0;
	case ACT_WRITE_NEW:
		if ((fd = open(newfile, O_WRONLY | O_CREAT, 0600)) < 0)
			return 4;
		close(fd);
		return 0;
	case ACT_EXECVE:
		execve(argv[0], argv, NULL);
		return 5;
	case ACT_GETRANDOM:
		return getentropy(buf, sizeof(buf)) != 0 ? 6 : 0;
	case ACT_RESOLVE_CONNECT:
		return resolve_connect() != 0 ? 7 : 0;
	case ACT_SOCKET_NETLINK:
		return socket(AF_NETLINK, SOCK_RAW, 0) < 0 ? 8 : 0;
	case ACT_SOCKET_UDP:
		return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 ? 8 : 0;
	case ACT_SOCKET_RAW:
		return socket(AF_INET, SOCK_RAW, IPPROTO_TCP) < 0 ? 8 : 0;
	case ACT_IOCTL_FIONREAD:
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return 9;
		return ioctl(fd, FIONREAD, &n) != 0 ? 9 : 0;
	case ACT_IOCTL_TTY:
		return ioctl(0, TIOCSTI, "x") != 0 ? 9 : 0;
	case ACT_MMAP_EXEC:
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? 10 : 0;
	case ACT_MPROTECT_EXEC:
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 10;
		return mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0 ? 11 : 0;
	case ACT_PRCTL:
		return prctl(PR_SET_NAME, "x", 0, 0, 0) != 0 ? 12 : 0;
	case ACT_SENDTO_ADDRESS:
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return 13;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(9);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)sendto(fd, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&sin,
		    sizeof(sin));
		return 0;
	case ACT_READ_PASSWD:
		if ((fd = open("/etc/passwd", O_RDONLY)) >= 0)
			return 0;
		return errno == EACCES ? 14 : 15;
	case ACT_CONNECT_PORT_1:
		return connect_errno(1) == ECONNREFUSED ? 0 :
		    connect_errno(1) == EACCES ? 16 : 17;
	case ACT_CONNECT_PORT_2:
		return connect_errno(2) == ECONNREFUSED ? 0 :
		    connect_errno(2) == EACCES ? 16 : 17;
	case ACT_KILL_PARENT:
		return kill(getppid(), 0) != 0 ? 18 : 0;
	case ACT_THREAD:
		return a_thread();
	case ACT_FORK:
		return fork() < 0 ? 19 : 0;
	case ACT_SOCKETPAIR:
		return socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ? 20 : 0;
	}
	return 99;
}

/*
 * Forks a child that enters the sandbox of kind sb for plan p (a default
 * plan when NULL), then acts; returns its wait status, and what it wrote
 * to stderr in out (when out is not NULL).  Exit 0: the act was allowed;
 * 10 + mode: wrong seccomp mode; 20: enter failed.
 */
static int
run_plan(enum cm_sandbox sb, const struct cm_sandbox_plan *p, enum act act,
    char *out, size_t outsz)
{
	struct cm_sandbox_plan	 dflt = { .port = { 1 }, .nport = 1 };
	char			 err[256], drain[512];
	int			 status, fd[2], want, st;
	ssize_t			 n;
	size_t			 len = 0, i;
	pid_t			 pid;

	if (p == NULL)
		p = &dflt;
	ck_assert_int_eq(pipe(fd), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		close(fd[0]);
		dup2(fd[1], STDERR_FILENO);
		st = open("/proc/self/status", O_RDONLY);
		if (cm_sandbox_enter(sb, p, err, sizeof(err)) != 0) {
			fprintf(stderr, "enter: %s\n", err);
			_exit(20);
		}
		want = sb == CM_SANDBOX_SECCOMP && cm_sandbox_size(p) > 0 ? 2 : 0;
		if (seccomp_mode(st) != want)
			_exit(10 + seccomp_mode(st));
		_exit(act_on(act));
	}
	close(fd[1]);
	/* Read to the end, so the child never writes to a closed pipe. */
	while ((n = read(fd[0], drain, sizeof(drain))) > 0)
		for (i = 0; out != NULL && i < (size_t)n && len + 1 < outsz; i++)
			out[len++] = drain[i];
	if (out != NULL)
		out[len] = '\0';
	close(fd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static int
run(enum cm_sandbox sb, enum act act)
{
	return run_plan(sb, NULL, act, NULL, 0);
}

static void
assert_exit(int status, int code)
{
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == code,
	    "status %#x (exit %d, signal %d), wanted exit %d", status,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0, code);
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
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_NOTHING), 0);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_READ), 0);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_GETRANDOM), 0);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_RESOLVE_CONNECT), 0);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_IOCTL_FIONREAD), 0);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_CONNECT_PORT_1), 0);
}
END_TEST

START_TEST(forbidden_calls_kill)
{
	struct cm_sandbox_plan	p = { .port = { 1 }, .nport = 1 };

	if (cm_sandbox_size(&p) == 0)
		return;		/* built without libseccomp */
	unlink(newfile);
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_WRITE_NEW));
	ck_assert_int_eq(access(newfile, F_OK), -1);
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_EXECVE));
}
END_TEST

/* The arguments are filtered: a family, a type, a request, PROT_EXEC. */
START_TEST(arguments_are_filtered)
{
	struct cm_sandbox_plan	p = { .port = { 1 }, .nport = 1 };

	if (cm_sandbox_size(&p) == 0)
		return;
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_SOCKET_NETLINK));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_SOCKET_RAW));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_SOCKET_UDP));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_IOCTL_TTY));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_MMAP_EXEC));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_MPROTECT_EXEC));
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_SENDTO_ADDRESS));
#ifndef SANITIZER_BUILD
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_PRCTL));
#endif
	/* A host that is a name: DNS datagrams, and still no raw socket. */
	p.dns = true;
	assert_exit(run_plan(CM_SANDBOX_SECCOMP, &p, ACT_SOCKET_UDP, NULL, 0),
	    0);
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &p, ACT_SOCKET_RAW, NULL,
	    0));
}
END_TEST

/* The SIGSYS line: the log's format, this pid, the call's name. */
START_TEST(sigsys_line_names_the_call)
{
	struct cm_sandbox_plan	p = { .port = { 1 }, .nport = 1 };
	regex_t			re;
	char			out[512];

	if (cm_sandbox_size(&p) == 0)
		return;
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &p, ACT_SOCKET_NETLINK, out,
	    sizeof(out)));
	ck_assert_int_eq(regcomp(&re, "^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T"
	    "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z pid=[1-9][0-9]* "
	    "error sandbox: forbidden system call socket \\(number [0-9]+\\)",
	    REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "line: %s", out);
	regfree(&re);
}
END_TEST

/* Landlock: other files and other TCP ports are refused (EACCES). */
START_TEST(files_and_ports_are_narrowed)
{
	if (!landlock_abi_at_least(1))
		return;
#ifndef SANITIZER_BUILD
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_READ_PASSWD), 14);
#endif
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_READ), 0);
	assert_exit(run(CM_SANDBOX_NONE, ACT_READ_PASSWD), 0);
	if (!landlock_abi_at_least(4))
		return;
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_CONNECT_PORT_2), 16);
	assert_exit(run(CM_SANDBOX_SECCOMP, ACT_CONNECT_PORT_1), 0);
	assert_exit(run(CM_SANDBOX_NONE, ACT_CONNECT_PORT_2), 0);
#ifdef SANITIZER_BUILD
	/*
	 * kill is on the sanitizers' list; Landlock still keeps signals in:
	 * not even the existence probe reaches the parent.
	 */
	if (landlock_abi_at_least(6))
		assert_exit(run(CM_SANDBOX_SECCOMP, ACT_KILL_PARENT), 18);
#else
	assert_sigsys(run(CM_SANDBOX_SECCOMP, ACT_KILL_PARENT));
#endif
}
END_TEST

/* The control: without the sandbox the same calls succeed. */
START_TEST(none_allows_everything)
{
	unlink(newfile);
	assert_exit(run(CM_SANDBOX_NONE, ACT_WRITE_NEW), 0);
	ck_assert_int_eq(access(newfile, F_OK), 0);
	unlink(newfile);
	assert_exit(run(CM_SANDBOX_NONE, ACT_READ), 0);
	assert_exit(run(CM_SANDBOX_NONE, ACT_SOCKET_NETLINK), 0);
	assert_exit(run(CM_SANDBOX_NONE, ACT_MPROTECT_EXEC), 0);
}
END_TEST

/*
 * The dispatcher's additions: a thread (which resolves a name) and a
 * socketpair with plan.threads, TCP to any port with plan.any_port; still
 * no new process, and no thread at all without them.
 */
START_TEST(threads_and_any_port)
{
	struct cm_sandbox_plan	d = { .threads = true, .any_port = true,
				    .dns = true, .tls = true };
	struct cm_sandbox_plan	w = { .port = { 1 }, .nport = 1 };

	if (cm_sandbox_size(&w) == 0)
		return;
	assert_exit(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_THREAD, NULL, 0), 0);
	assert_exit(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_SOCKETPAIR, NULL, 0),
	    0);
	assert_exit(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_CONNECT_PORT_2, NULL,
	    0), 0);
	assert_exit(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_RESOLVE_CONNECT, NULL,
	    0), 0);
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_EXECVE, NULL, 0));
#ifndef SANITIZER_BUILD
	/* The sanitizers' list allows clone; their Landlock reads all. */
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_FORK, NULL, 0));
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &w, ACT_THREAD, NULL, 0));
	assert_sigsys(run_plan(CM_SANDBOX_SECCOMP, &w, ACT_SOCKETPAIR, NULL,
	    0));
	if (landlock_abi_at_least(1))
		assert_exit(run_plan(CM_SANDBOX_SECCOMP, &d, ACT_READ_PASSWD,
		    NULL, 0), 14);
#endif
}
END_TEST

START_TEST(list_size)
{
	struct cm_sandbox_plan	p = { .nport = 0 };

#if defined(HAVE_SECCOMP) && defined(__x86_64__)
#if defined(SANITIZER_BUILD)
	ck_assert_uint_eq(cm_sandbox_size(&p), 86);
#else
	ck_assert_uint_eq(cm_sandbox_size(&p), 67);
#endif
	p.tls = p.dns = true;
	ck_assert_uint_gt(cm_sandbox_size(&p), 67);
	p.tls = p.dns = false;
	p.threads = true;
#if !defined(SANITIZER_BUILD)
	/* set_robust_list, rseq, socketpair, clone, clone3 */
	ck_assert_uint_eq(cm_sandbox_size(&p), 72);
#endif
#elif !defined(HAVE_SECCOMP)
	ck_assert_uint_eq(cm_sandbox_size(&p), 0);
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
	tcase_add_test(tc, arguments_are_filtered);
	tcase_add_test(tc, sigsys_line_names_the_call);
	tcase_add_test(tc, files_and_ports_are_narrowed);
	tcase_add_test(tc, none_allows_everything);
	tcase_add_test(tc, threads_and_any_port);
	tcase_add_test(tc, list_size);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
