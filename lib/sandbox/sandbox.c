/*
 * sandbox.c - the seccomp-bpf allow-list of a worker.
 *
 * The list names what a worker does after start-up and nothing more:
 * FastCGI (accept, read, write, poll, shutdown, close), MariaDB
 * Connector/C including reconnects and failover to another node, TLS
 * ([database] tls adds the directory reads OpenSSL needs) (socket,
 * connect, poll, socket options; getaddrinfo's read-only opens of
 * /etc/hosts, /etc/resolv.conf, nsswitch.conf and its DNS datagrams for a
 * TCP host), memory, time, getrandom, signals, its log (writes to stderr,
 * a pipe, or syslog's datagram socket) and exit.  Opening files is allowed
 * read-only only; no exec, fork, ptrace, chmod, mount, ...
 *
 * A call outside the list traps: the SIGSYS handler writes one line with
 * the call's number (async-signal-safe: no stdio, no malloc), then lets
 * the signal kill the process, so the pool sees "signal 31".
 *
 * Sanitizer builds use a wider list: LeakSanitizer's exit-time check
 * clones a tracer thread that ptraces the process, and ASan reads
 * /proc/self/maps.  Those calls are allowed only in such builds.
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "config.h"
#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define CM_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CM_SANITIZER_BUILD 1
#endif
#endif

#ifdef HAVE_SECCOMP

/* Allowed with any arguments. */
static const char *const allowed[] = {
	/* FastCGI and database sockets, log writes */
	"accept", "accept4", "read", "readv", "recvfrom", "recvmsg",
	"write", "writev", "sendto", "sendmsg", "sendmmsg", "close",
	"shutdown", "poll", "ppoll", "select", "pselect6",
	/* reconnects: a new socket to the database (or to syslog, DNS) */
	"socket", "connect", "setsockopt", "getsockopt", "getsockname",
	"getpeername", "fcntl", "ioctl",
	/* read-only files (see openat below): getaddrinfo, tzdata, stdio */
	"fstat", "newfstatat", "statx", "lseek", "access", "faccessat",
	"faccessat2", "uname",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* threads' locks (Connector/C, OpenSSL), time, randomness */
	"futex", "clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep", "getrandom", "getrusage",
	"sched_yield",
	/* the database watch's timer (dbwatch.h) */
	"setitimer",
	/* signals: handlers run, masks around requests */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall",
	/* who am I: the pool's scoreboard, the parent check */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "prctl",
	"exit", "exit_group",
};

/*
 * Only with [database] tls on: OpenSSL 3 lists the system CA directory
 * (its default verify paths, when no ca file is set) at each TLS connect.
 * Reading a directory's names is all these do.
 */
static const char *const allowed_tls[] = { "getdents64", "getdents" };

#ifdef CM_SANITIZER_BUILD
/* ASan/UBSan/LSan runtime: reports and the leak check at exit. */
static const char *const allowed_sanitizer[] = {
	"clone", "clone3", "ptrace", "wait4", "waitid", "getdents", "getdents64",
	"readlink", "readlinkat", "sched_getaffinity", "set_robust_list",
	"rseq", "pipe", "pipe2", "dup", "dup2", "kill", "tgkill",
	"process_vm_readv",
};
#endif

/* Flags that make an open more than a read. */
#define OPEN_WRITING	(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

/* The names in list (n of them) this architecture knows. */
static size_t
known(const char *const *list, size_t n)
{
	size_t	i, k = 0;

	for (i = 0; i < n; i++)
		k += seccomp_syscall_resolve_name(list[i]) != __NR_SCMP_ERROR;
	return k;
}

static size_t
count_of(void)
{
	size_t	n = known(allowed, sizeof(allowed) / sizeof(allowed[0]));
	static const char *const conditional[] = { "openat", "open" };

	/* openat and open with read-only flags; tgkill to itself. */
	n += known(conditional, 2);
#ifdef CM_SANITIZER_BUILD
	n += known(allowed_sanitizer,
	    sizeof(allowed_sanitizer) / sizeof(allowed_sanitizer[0]));
#else
	n += 1;
#endif
	return n;
}

/* Writes "N" in decimal into buf (size >= 12); returns the length. */
static size_t
fmt_int(char *buf, int v)
{
	char		 tmp[12];
	size_t		 n = 0, i;
	unsigned	 u = v < 0 ? 0u - (unsigned)v : (unsigned)v;

	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0 && n < sizeof(tmp) - 1);
	if (v < 0)
		tmp[n++] = '-';
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/*
 * SIGSYS from the filter: one line, then death by the same signal (the
 * handler was reset on entry, and SIGSYS stays blocked until it returns).
 */
static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char	line[160];
	size_t	n = 0;
	static const char a[] = "sandbox: forbidden system call ";
	static const char b[] = " (scmp_sys_resolver it; [server] sandbox = "
	    "none to debug): worker stops with SIGSYS\n";

	(void)ctx;
	memcpy(line, a, sizeof(a) - 1);
	n = sizeof(a) - 1;
	n += fmt_int(line + n, si->si_syscall);
	memcpy(line + n, b, sizeof(b) - 1);
	n += sizeof(b) - 1;
	(void)!write(STDERR_FILENO, line, n);
	raise(sig);
}

static int
add(scmp_filter_ctx ctx, const char *name, char *err, size_t errsz)
{
	int	nr, rc;

	/* A name this architecture lacks (e.g. "select" on arm64) is skipped. */
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return 0;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) {
		snprintf(err, errsz, "seccomp rule for %s: %s", name,
		    strerror(-rc));
		return -1;
	}
	return 0;
}

static int
build(scmp_filter_ctx ctx, bool tls, char *err, size_t errsz)
{
	size_t	i;
	int	rc = 0;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (add(ctx, allowed[i], err, errsz) != 0)
			return -1;
	for (i = 0; tls && i < sizeof(allowed_tls) / sizeof(allowed_tls[0]); i++)
		if (add(ctx, allowed_tls[i], err, errsz) != 0)
			return -1;
#ifdef CM_SANITIZER_BUILD
	for (i = 0; i < sizeof(allowed_sanitizer) /
	    sizeof(allowed_sanitizer[0]); i++)
		if (add(ctx, allowed_sanitizer[i], err, errsz) != 0)
			return -1;
#else
	/* raise(SIGSYS) in the handler: a signal to this process only. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
#endif
	/* Files open for reading only: never created, truncated, written. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_WRITING, 0));
	if (rc == 0 && SCMP_SYS(open) >= 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_WRITING, 0));
	if (rc != 0) {
		snprintf(err, errsz, "seccomp rule: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

static int
install(bool tls, char *err, size_t errsz)
{
	scmp_filter_ctx		 ctx;
	struct sigaction	 sa;
	int			 rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		snprintf(err, errsz, "sigaction SIGSYS: %s", strerror(errno));
		return -1;
	}
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
		snprintf(err, errsz, "seccomp_init failed");
		return -1;
	}
	/*
	 * Also have the kernel log every trapped call (dmesg / the audit log:
	 * "type=1326 ... syscall=N"): the only trace of a denial in a thread
	 * that blocks signals, such as LeakSanitizer's tracer.
	 */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (build(ctx, tls, err, errsz) != 0) {
		seccomp_release(ctx);
		return -1;
	}
	/* libseccomp sets no_new_privs itself (SCMP_FLTATR_CTL_NNP). */
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		snprintf(err, errsz, "seccomp_load: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

size_t
cm_sandbox_size(void)
{
	return count_of();
}

int
cm_sandbox_enter(const struct cm_config *cfg, char *err, size_t errsz)
{
	if (cfg->sandbox == CM_SANDBOX_NONE)
		return 0;
	/* EINVAL: a kernel built without CONFIG_SECCOMP(_FILTER). */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
		LOG_WARN("sandbox: the kernel has no seccomp: running "
		    "without the sandbox");
		return 0;
	}
	return install(cfg->db_tls != CM_TLS_OFF, err, errsz);
}

#else /* !HAVE_SECCOMP */

size_t
cm_sandbox_size(void)
{
	return 0;
}

int
cm_sandbox_enter(const struct cm_config *cfg, char *err, size_t errsz)
{
	(void)err;
	(void)errsz;
	if (cfg->sandbox != CM_SANDBOX_NONE)
		LOG_WARN("sandbox: built without libseccomp: running without "
		    "the sandbox");
	return 0;
}

#endif
