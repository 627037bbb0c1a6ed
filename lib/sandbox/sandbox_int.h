/*
 * sandbox_int.h - the sandbox's layers (filter.c: seccomp, landlock.c:
 * Landlock), for sandbox.c alone.
 */
#ifndef CM_SANDBOX_INT_H
#define CM_SANDBOX_INT_H

#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define CM_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CM_SANITIZER_BUILD 1
#endif
#endif

/* The seccomp allow-list for the plan: its size, and installing it. */
size_t	sbx_filter_size(const struct cm_sandbox_plan *);
int	sbx_filter_install(const struct cm_sandbox_plan *, char *err,
	    size_t errsz);
/* A system call's name for number nr (malloc'd: the caller frees), or NULL. */
char	*sbx_call_name(int nr);

/* Landlock: 0 in place, 1 the kernel has none, -1 with the reason in err. */
int	sbx_landlock_install(const struct cm_sandbox_plan *, char *err,
	    size_t errsz);

#endif
