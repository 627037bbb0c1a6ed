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

/*
 * The request's arena.  Between begin and end, every allocation Jansson
 * makes (the parsed body, the rows turned into objects, the envelope)
 * is cut from a few large blocks instead of asking malloc for each of
 * the hundred or so a request makes; freeing one is a no-op, and end
 * takes them all back at once.  So no JSON value made during a request
 * may outlive it: the caller has decref'd every one before end.  A
 * value made outside (before begin) may be decref'd inside; it goes
 * back to malloc.  Not reentrant: one request at a time per process.
 */
void	 cm_mem_request_begin(void);
void	 cm_mem_request_end(void);

#endif
