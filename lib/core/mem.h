/*
 * mem.h - what a process does when memory runs out: the one policy.
 *
 * A worker is one of a pool the master keeps full, so it stops: the line
 * "out of memory" goes to the log, the process exits with status 70
 * (EX_SOFTWARE), and the master forks a new worker.  A request it was
 * serving gets the web server's 502; nothing half-done is committed (a
 * transaction the process did not COMMIT is rolled back by the server
 * when the connection goes).  Nothing else in the tree handles a failed
 * allocation: these wrappers never return NULL, and cm_mem_init() routes
 * Jansson's allocations through them.
 */
#ifndef CM_MEM_H
#define CM_MEM_H

#include <stddef.h>

/* Logs and exits; never returns. */
void	 cm_oom(void) __attribute__((noreturn));
void	*cm_malloc(size_t);
void	*cm_calloc(size_t n, size_t size);
void	*cm_realloc(void *, size_t);
char	*cm_strdup(const char *);
/* Once per process, before any JSON is made. */
void	 cm_mem_init(void);

#endif
