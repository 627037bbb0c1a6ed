/* mem.c - allocation that stops the process when memory runs out (mem.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "mem.h"

void
cm_oom(void)
{
	/* Fixed text: formatting may itself need memory. */
	LOG_ERR("out of memory: exiting (the master starts another worker)");
	cm_log_flush();
	_exit(70);
}

void *
cm_malloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		cm_oom();
	return p;
}

void *
cm_calloc(size_t n, size_t size)
{
	void	*p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		cm_oom();
	return p;
}

void *
cm_realloc(void *old, size_t n)
{
	void	*p = realloc(old, n ? n : 1);

	if (p == NULL)
		cm_oom();
	return p;
}

char *
cm_strdup(const char *s)
{
	size_t	 n = strlen(s) + 1;

	return memcpy(cm_malloc(n), s, n);
}

void
cm_mem_init(void)
{
	json_set_alloc_funcs(cm_malloc, free);
}
