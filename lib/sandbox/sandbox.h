/*
 * sandbox.h - confine a worker to the system calls it needs (seccomp-bpf).
 *
 * Like kcgi's sandbox: a worker that has connected to the database and
 * dropped its privileges installs an allow-list of system calls; any other
 * call makes the kernel stop it with SIGSYS, after one log line naming the
 * call's number ("scmp_sys_resolver NUM" names it), and the pool (or
 * mod_fcgid) starts a new worker.  The list, its size and how to debug it
 * are in doc/design.md ("The sandbox") and doc/admin-guide.md
 * ("Troubleshooting").
 */
#ifndef CM_SANDBOX_H
#define CM_SANDBOX_H

#include <stddef.h>

struct cm_config;

/*
 * Enters the sandbox chosen by cfg->sandbox; irreversible, per process
 * (children inherit it).  Returns 0 when the filter is in place, or when
 * there is none to install ([server] sandbox = none, a build without
 * libseccomp, a kernel without seccomp filters: these log one warning);
 * -1 with the reason in err otherwise (the worker must not serve then).
 */
int	cm_sandbox_enter(const struct cm_config *cfg, char *err, size_t errsz);

/* How many system calls the allow-list of this build holds (0: none). */
size_t	cm_sandbox_size(void);

#endif
