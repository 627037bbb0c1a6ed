/*
 * landlock.c - the Landlock layer of the sandbox: the files a worker may
 * still open, and the TCP ports it may connect to.
 *
 * A seccomp filter sees numbers, not the path or the address behind a
 * pointer; Landlock sees those.  A connected worker opens a few files
 * again (the resolver's, OpenSSL's at a TLS reconnect) and connects to the
 * database nodes: those are allowed, reading only; everything else on the
 * file system is refused with EACCES, and so are TCP connections to other
 * ports (kernels with Landlock ABI 4, Linux 6.7).  A kernel without
 * Landlock, or with it disabled, leaves the seccomp layer alone in place:
 * the caller logs that once.
 *
 * The ABI is asked for at run time, so a binary built on old kernel
 * headers uses what the running kernel has; the structures of later ABIs
 * are spelt out here for that reason.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox_int.h"

#ifdef __NR_landlock_create_ruleset

/* The access rights and rule types, by the ABI that brought them. */
#define FS_ABI1		((1ULL << 13) - 1)	/* execute .. make_sym */
#define FS_REFER	(1ULL << 13)		/* ABI 2 */
#define FS_TRUNCATE	(1ULL << 14)		/* ABI 3 */
#define FS_IOCTL_DEV	(1ULL << 15)		/* ABI 5 */
#define FS_READ_FILE	(1ULL << 2)
#define FS_READ_DIR	(1ULL << 3)
#define NET_BIND_TCP	(1ULL << 0)		/* ABI 4 */
#define NET_CONNECT_TCP	(1ULL << 1)
#define SCOPE_ABSTRACT_UNIX (1ULL << 0)		/* ABI 6 */
#define SCOPE_SIGNAL	(1ULL << 1)
#define RULE_PATH_BENEATH 1
#define RULE_NET_PORT	2
#define CREATE_VERSION	(1U << 0)

struct ruleset_attr {
	uint64_t	fs;
	uint64_t	net;		/* ABI 4 */
	uint64_t	scoped;		/* ABI 6 */
};

struct path_beneath {
	uint64_t	allowed;
	int32_t		parent_fd;
} __attribute__((packed));

struct net_port {
	uint64_t	allowed;
	uint64_t	port;
};

/* What every worker may read again after start-up. */
static const char *const base_read[] = {
	/* getaddrinfo for a database host (files and DNS) */
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
	"/etc/host.conf", "/etc/gai.conf",
	/* Connector/C's and OpenSSL's seeds at a reconnect */
	"/dev/urandom",
};

/* Only with TLS to the database: OpenSSL's configuration and CA store. */
static const char *const tls_read[] = {
	"/usr/lib/ssl", "/etc/ssl", "/usr/share/ca-certificates",
};

static int
abi_version(void)
{
	long	v = syscall(__NR_landlock_create_ruleset, NULL, 0,
	    CREATE_VERSION);

	return v < 0 ? 0 : (int)v;
}

/*
 * Allows reading below path.  A path that does not exist is skipped (the
 * resolver takes a missing gai.conf for the defaults); another error is
 * the caller's.
 */
static int
allow_read(int ruleset, const char *path, char *err, size_t errsz)
{
	struct path_beneath	pb;
	int			fd, rc;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(err, errsz, "landlock: %s: %s", path, strerror(errno));
		return -1;
	}
	memset(&pb, 0, sizeof(pb));
	pb.allowed = FS_READ_FILE | FS_READ_DIR;
	pb.parent_fd = fd;
	rc = (int)syscall(__NR_landlock_add_rule, ruleset, RULE_PATH_BENEATH,
	    &pb, 0);
	/* A file gets no READ_DIR: ask again with the file's right alone. */
	if (rc != 0 && errno == EINVAL) {
		pb.allowed = FS_READ_FILE;
		rc = (int)syscall(__NR_landlock_add_rule, ruleset,
		    RULE_PATH_BENEATH, &pb, 0);
	}
	close(fd);
	if (rc != 0) {
		snprintf(err, errsz, "landlock rule for %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
allow_port(int ruleset, unsigned port, char *err, size_t errsz)
{
	struct net_port	np = { NET_CONNECT_TCP, port };

	if (syscall(__NR_landlock_add_rule, ruleset, RULE_NET_PORT, &np,
	    0) != 0) {
		snprintf(err, errsz, "landlock rule for port %u: %s", port,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
rules(int ruleset, int abi, const struct cm_sandbox_plan *p, char *err,
    size_t errsz)
{
	size_t	i;

	for (i = 0; i < sizeof(base_read) / sizeof(base_read[0]); i++)
		if (allow_read(ruleset, base_read[i], err, errsz) != 0)
			return -1;
	for (i = 0; p->tls && i < sizeof(tls_read) / sizeof(tls_read[0]); i++)
		if (allow_read(ruleset, tls_read[i], err, errsz) != 0)
			return -1;
	for (i = 0; i < p->nread && i < CM_SANDBOX_PATHS; i++)
		if (p->read[i] != NULL && p->read[i][0] != '\0' &&
		    allow_read(ruleset, p->read[i], err, errsz) != 0)
			return -1;
#ifdef CM_SANITIZER_BUILD
	/* The sanitizers read /proc/self/maps and the binaries' symbols. */
	if (allow_read(ruleset, "/", err, errsz) != 0)
		return -1;
#endif
	for (i = 0; abi >= 4 && !p->any_port && i < p->nport &&
	    i < CM_SANDBOX_PORTS; i++)
		if (allow_port(ruleset, p->port[i], err, errsz) != 0)
			return -1;
	return 0;
}

int
sbx_landlock_install(const struct cm_sandbox_plan *p, char *err,
    size_t errsz)
{
	struct ruleset_attr	attr;
	size_t			size;
	int			abi, ruleset, rc;

	if ((abi = abi_version()) < 1)
		return 1;
	memset(&attr, 0, sizeof(attr));
	attr.fs = FS_ABI1 | (abi >= 2 ? FS_REFER : 0) |
	    (abi >= 3 ? FS_TRUNCATE : 0) | (abi >= 5 ? FS_IOCTL_DEV : 0);
	size = sizeof(attr.fs);
	if (abi >= 4) {
		/* any_port: binding is still refused, connecting is not. */
		attr.net = NET_BIND_TCP | (p->any_port ? 0 : NET_CONNECT_TCP);
		size = offsetof(struct ruleset_attr, scoped);
	}
	if (abi >= 6) {
		/* No signal to, nor abstract socket of, a process outside. */
		attr.scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	if ((ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size,
	    0)) < 0) {
		snprintf(err, errsz, "landlock_create_ruleset: %s",
		    strerror(errno));
		return -1;
	}
	rc = rules(ruleset, abi, p, err, errsz);
	if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errsz, "no_new_privs: %s", strerror(errno));
		rc = -1;
	}
	if (rc == 0 && syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
		snprintf(err, errsz, "landlock_restrict_self: %s",
		    strerror(errno));
		rc = -1;
	}
	close(ruleset);
	return rc;
}

#else /* no Landlock in these headers */

int
sbx_landlock_install(const struct cm_sandbox_plan *p, char *err,
    size_t errsz)
{
	(void)p;
	(void)err;
	(void)errsz;
	return 1;
}

#endif
