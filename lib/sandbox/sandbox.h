/*
 * sandbox.h - confine a worker (or the webhook dispatcher) to what it
 * needs once it has connected.
 *
 * Like kcgi's sandbox, in two layers a worker installs after connecting to
 * the database and dropping its privileges (both irreversible, inherited
 * by children and threads):
 *
 *   seccomp   an allow-list of system calls, with the arguments filtered
 *             where a number says what the call does (socket families,
 *             ioctl requests, no executable memory, opens read-only);
 *             any other call traps: the SIGSYS handler writes one log line
 *             (time, pid, the call's name) and the worker dies by SIGSYS;
 *   landlock  where the kernel has it (Linux 5.13 and later): the files a
 *             worker may still open are the few the plan names, and TCP
 *             connections go only to the database ports (Linux 6.7).
 *             Older kernels get the seccomp layer alone.
 *
 * The lists and their reasons are in doc/design.md ("The sandbox").
 */
#ifndef CM_SANDBOX_H
#define CM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"		/* enum cm_sandbox: [server] sandbox */

#define CM_SANDBOX_PATHS	8	/* extra readable paths of a plan */
#define CM_SANDBOX_PORTS	16	/* TCP ports of a plan */

/* What the worker will still do, beyond what every worker does. */
struct cm_sandbox_plan {
	bool		 dns;		/* a database host is a name: DNS over UDP */
	bool		 syslog;	/* this process writes syslog(3) datagrams */
	bool		 tls;		/* TLS: OpenSSL's configuration and CA files */
	/*
	 * It starts threads (libcurl's resolver): clone for a thread only
	 * (clone3, whose flags a filter cannot read, answers ENOSYS and glibc
	 * falls back to clone), a thread's start-up calls, and socketpair
	 * for the thread's wake-up.
	 */
	bool		 threads;
	/* TCP to any port (the dispatcher's receivers): port[] unused. */
	bool		 any_port;
	/* Files or directories it opens for reading (the TLS CA, key ...). */
	const char	*read[CM_SANDBOX_PATHS];
	size_t		 nread;
	/* TCP ports it connects to (the database nodes'); 0 entries: none. */
	unsigned	 port[CM_SANDBOX_PORTS];
	size_t		 nport;
};

/*
 * Enters the sandbox of that kind for that plan.  Returns 0 when it is in
 * place, or when there is none to install (kind none, a build without
 * libseccomp, a kernel without seccomp filters: these log one warning); -1
 * with the reason in err otherwise (the worker must not serve then).
 */
int	cm_sandbox_enter(enum cm_sandbox kind, const struct cm_sandbox_plan *,
	    char *err, size_t errsz);

/* How many system calls the allow-list of this build holds for the plan
 * (0: built without libseccomp). */
size_t	cm_sandbox_size(const struct cm_sandbox_plan *);

#endif
