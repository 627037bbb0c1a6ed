/*
 * filter.c - the seccomp layer of the sandbox: which system calls a worker
 * may make once connected, and with which arguments.
 *
 * The list names what a worker does after start-up and nothing more:
 * FastCGI (accept, read, write, poll, shutdown, close), MariaDB
 * Connector/C including reconnects and failover to another node (socket,
 * connect, socket options), name resolution of a database host (the
 * resolver's read-only files; DNS datagrams only when a host is a name),
 * TLS (the CA directory's names), memory that is never executable, time,
 * getrandom, signals, its log (writes to stderr, a pipe; syslog's datagram
 * socket only when this process writes syslog itself) and exit.  The
 * webhook dispatcher's plan adds threads (libcurl's resolver) and TCP to
 * any port; its calls are otherwise a worker's.
 *
 * Arguments are filtered where a number says what a call does: the socket
 * family and type, the ioctl request, PROT_EXEC, the open flags, the
 * destination of sendto.  Addresses behind pointers (connect's, a path)
 * cannot be read by a seccomp filter: the Landlock layer (landlock.c)
 * narrows those where the kernel can.
 *
 * Sanitizer builds use a wider list: LeakSanitizer's exit-time check
 * clones a tracer thread that ptraces the process, and ASan reads
 * /proc/self/maps.  Those calls are allowed only in such builds.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "sandbox_int.h"

#ifdef HAVE_SECCOMP

/* Allowed with any arguments. */
static const char *const allowed[] = {
	/* FastCGI and database sockets, log writes */
	"accept", "accept4", "read", "readv", "recvfrom", "recvmsg",
	"write", "writev", "close", "shutdown", "poll", "ppoll", "select",
	"pselect6",
	/* the accept loop's wait (its epoll instance is made before) */
	"epoll_pwait", "epoll_wait",
	/* reconnects: the address is behind a pointer (see landlock.c) */
	"connect", "setsockopt", "getsockopt", "getsockname", "getpeername",
	"fcntl",
	/* read-only files (opens: see below): getaddrinfo, OpenSSL */
	"fstat", "newfstatat", "statx", "lseek", "access", "faccessat",
	"faccessat2", "uname",
	/* memory (mmap and mprotect: see below) */
	"brk", "munmap", "mremap", "madvise",
	/* threads' locks (Connector/C, OpenSSL), time, randomness */
	"futex", "clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep", "getrandom", "getrusage",
	"sched_yield",
	/* the database watch's timer (dbwatch.h) */
	"setitimer",
	/* signals: handlers run, masks around requests */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall",
	/* who am I: the scoreboard, the parent check */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid",
	"exit", "exit_group",
};

/* Only with TLS to the database: OpenSSL lists the CA directory. */
static const char *const allowed_tls[] = { "getdents64", "getdents" };

/* Only when a database host is a name: the resolver's queries. */
static const char *const allowed_dns[] = { "sendmmsg" };

/* Only for a process that starts threads: what a new thread runs first. */
static const char *const allowed_threads[] = { "set_robust_list", "rseq" };

#ifdef CM_SANITIZER_BUILD
/* ASan/UBSan/LSan runtime: reports and the leak check at exit. */
static const char *const allowed_sanitizer[] = {
	"clone", "clone3", "ptrace", "wait4", "waitid", "getdents", "getdents64",
	"readlink", "readlinkat", "sched_getaffinity", "set_robust_list",
	"rseq", "pipe", "pipe2", "dup", "dup2", "kill", "tgkill",
	"process_vm_readv", "prctl",
};
#endif

/* Flags that make an open more than a read. */
#define OPEN_WRITING	(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
/* A socket's type without the flags socket(2) accepts with it. */
#define TYPE_ONLY	(~(unsigned)(SOCK_NONBLOCK | SOCK_CLOEXEC))

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

#define MAX_CALLS	128

/* Counts (ctx NULL) or adds the rules; errors go to err. */
struct build {
	scmp_filter_ctx	 ctx;
	int		 nr[MAX_CALLS];	/* the distinct calls with a rule */
	size_t		 calls;
	char		*err;
	size_t		 errsz;
};

static void
count(struct build *b, int nr)
{
	size_t	i;

	for (i = 0; i < b->calls; i++)
		if (b->nr[i] == nr)
			return;
	if (b->calls < MAX_CALLS)
		b->nr[b->calls++] = nr;
}

/* One rule: nr answered by action when the comparisons (up to two) hold. */
static int
rule_act(struct build *b, uint32_t action, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	int	nr, rc;

	/* A name this architecture lacks (e.g. "select" on arm64) is skipped. */
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return 0;
	count(b, nr);
	if (b->ctx == NULL)
		return 0;
	if ((rc = seccomp_rule_add_array(b->ctx, action, nr, n, cmp)) != 0) {
		snprintf(b->err, b->errsz, "seccomp rule for %s: %s", name,
		    strerror(-rc));
		return -1;
	}
	return 0;
}

/* One rule allowing nr when the comparisons hold. */
static int
rule(struct build *b, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	return rule_act(b, SCMP_ACT_ALLOW, name, n, cmp);
}

static int
any_args(struct build *b, const char *const *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (rule(b, list[i], 0, NULL) != 0)
			return -1;
	return 0;
}

/* socket(family, type [| NONBLOCK | CLOEXEC], any protocol) */
static int
socket_of(struct build *b, int family, int type)
{
	struct scmp_arg_cmp	c[2] = {
		SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)family),
		SCMP_A1_32(SCMP_CMP_MASKED_EQ, TYPE_ONLY, (uint32_t)type),
	};

	return rule(b, "socket", 2, c);
}

static int
sockets(struct build *b, const struct cm_sandbox_plan *p)
{
	if (socket_of(b, AF_UNIX, SOCK_STREAM) != 0 ||
	    socket_of(b, AF_INET, SOCK_STREAM) != 0 ||
	    socket_of(b, AF_INET6, SOCK_STREAM) != 0)
		return -1;
	if (p->dns && (socket_of(b, AF_INET, SOCK_DGRAM) != 0 ||
	    socket_of(b, AF_INET6, SOCK_DGRAM) != 0))
		return -1;
	if (p->syslog && socket_of(b, AF_UNIX, SOCK_DGRAM) != 0)
		return -1;
	return 0;
}

/* Calls allowed with one argument pinned or masked. */
static int
narrowed(struct build *b)
{
	struct scmp_arg_cmp	c;

	/* sendto only on a connected socket: no address of its own. */
	c = SCMP_A4_64(SCMP_CMP_EQ, 0);
	if (rule(b, "sendto", 1, &c) != 0)
		return -1;
	/* The socket ioctls Connector/C and the resolver use. */
	c = SCMP_A1_32(SCMP_CMP_EQ, FIONREAD);
	if (rule(b, "ioctl", 1, &c) != 0)
		return -1;
	c = SCMP_A1_32(SCMP_CMP_EQ, FIONBIO);
	if (rule(b, "ioctl", 1, &c) != 0)
		return -1;
	/* Memory, never executable: no code can be made after start-up. */
	c = SCMP_A2_32(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if (rule(b, "mmap", 1, &c) != 0 || rule(b, "mprotect", 1, &c) != 0)
		return -1;
	/* Files open for reading only: never created, truncated, written. */
	c = SCMP_A2_32(SCMP_CMP_MASKED_EQ, OPEN_WRITING,
	    0);
	if (rule(b, "openat", 1, &c) != 0)
		return -1;
	c = SCMP_A1_32(SCMP_CMP_MASKED_EQ, OPEN_WRITING,
	    0);
	if (rule(b, "open", 1, &c) != 0)
		return -1;
#ifndef CM_SANITIZER_BUILD
	/* raise(SIGSYS) in the trap handler: a signal to this process only. */
	c = SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)getpid());
	if (rule(b, "tgkill", 1, &c) != 0)
		return -1;
#endif
	return 0;
}

/*
 * Threads (plan.threads): clone only with CLONE_THREAD, a thread of this
 * process and never a new one; clone3 passes its flags behind a pointer,
 * so it answers ENOSYS, on which glibc's pthread_create uses clone.  The
 * sanitizer builds allow both with any arguments already.
 */
static int
threads(struct build *b)
{
	struct scmp_arg_cmp	c;

	if (any_args(b, allowed_threads, NITEMS(allowed_threads)) != 0)
		return -1;
	c = SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)AF_UNIX);
	if (rule(b, "socketpair", 1, &c) != 0)
		return -1;
#ifndef CM_SANITIZER_BUILD
	c = SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	if (rule(b, "clone", 1, &c) != 0 ||
	    rule_act(b, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) != 0)
		return -1;
#endif
	return 0;
}

static int
build(struct build *b, const struct cm_sandbox_plan *p)
{
	if (any_args(b, allowed, NITEMS(allowed)) != 0 ||
	    (p->tls && any_args(b, allowed_tls, NITEMS(allowed_tls)) != 0) ||
	    (p->dns && any_args(b, allowed_dns, NITEMS(allowed_dns)) != 0))
		return -1;
#ifdef CM_SANITIZER_BUILD
	if (any_args(b, allowed_sanitizer, NITEMS(allowed_sanitizer)) != 0)
		return -1;
#endif
	if (sockets(b, p) != 0 || narrowed(b) != 0 ||
	    (p->threads && threads(b) != 0))
		return -1;
	return 0;
}

size_t
sbx_filter_size(const struct cm_sandbox_plan *p)
{
	struct build	b;
	char		err[8];

	memset(&b, 0, sizeof(b));
	b.err = err;
	b.errsz = sizeof(err);
	(void)build(&b, p);
	return b.calls;
}

int
sbx_filter_install(const struct cm_sandbox_plan *p, char *err, size_t errsz)
{
	struct build	b;
	int		rc;

	memset(&b, 0, sizeof(b));
	b.err = err;
	b.errsz = errsz;
	if ((b.ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
		snprintf(err, errsz, "seccomp_init failed");
		return -1;
	}
	/*
	 * Also have the kernel log every trapped call (dmesg / the audit log:
	 * "type=1326 ... syscall=N"): the only trace of a denial in a thread
	 * that blocks signals, such as LeakSanitizer's tracer.
	 */
	(void)seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (build(&b, p) != 0) {
		seccomp_release(b.ctx);
		return -1;
	}
	/* libseccomp sets no_new_privs itself (SCMP_FLTATR_CTL_NNP). */
	rc = seccomp_load(b.ctx);
	seccomp_release(b.ctx);
	if (rc != 0) {
		snprintf(err, errsz, "seccomp_load: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

char *
sbx_call_name(int nr)
{
	return seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

#else /* !HAVE_SECCOMP */

size_t
sbx_filter_size(const struct cm_sandbox_plan *p)
{
	(void)p;
	return 0;
}

int
sbx_filter_install(const struct cm_sandbox_plan *p, char *err, size_t errsz)
{
	(void)p;
	snprintf(err, errsz, "built without libseccomp");
	return -1;
}

char *
sbx_call_name(int nr)
{
	(void)nr;
	return NULL;
}

#endif
