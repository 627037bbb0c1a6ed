/* mem.c - allocation that stops the process when memory runs out (mem.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "mem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n)	((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

/*
 * Measured: a GET of one client takes 3.5 KiB of it, a create 16 KiB, a
 * page of 50 clients 100 KiB; a bigger page or body adds a block twice
 * the size.
 */
#define ARENA_FIRST	(128 * 1024)
/* A bigger block than this (a large body) goes back after its request. */
#define ARENA_KEEP	(1024 * 1024)
#define ARENA_ALIGN	16

struct arena_block {
	struct arena_block	*next;		/* older blocks */
	size_t			 size;		/* of data */
	size_t			 used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

/*
 * The process's one arena.  File scope because Jansson's allocation hooks
 * take no argument to carry it in; only this file touches it.
 */
static struct {
	struct arena_block	*blocks;	/* newest first */
	bool			 on;
} arena;

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

static struct arena_block *
arena_grow(size_t need)
{
	size_t			 size = ARENA_FIRST;
	struct arena_block	*b;

	if (arena.blocks != NULL && arena.blocks->size * 2 > size)
		size = arena.blocks->size * 2;
	if (size < need)
		size = need;
	b = cm_malloc(sizeof(*b) + size);
	b->size = size;
	b->used = 0;
	b->next = arena.blocks;
	ARENA_POISON(b->data, size);
	return arena.blocks = b;
}

static void *
arena_malloc(size_t n)
{
	struct arena_block	*b = arena.blocks;
	void			*p;

	if (!arena.on)
		return cm_malloc(n);
	if (n > SIZE_MAX / 4)
		cm_oom();	/* no JSON this big; the rounding would wrap */
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (b == NULL || b->size - b->used < n)
		b = arena_grow(n);
	p = b->data + b->used;
	b->used += n;
	ARENA_UNPOISON(p, n);
	return p;
}

static bool
in_arena(const void *p)
{
	const struct arena_block	*b;
	uintptr_t			 a = (uintptr_t)p;

	for (b = arena.blocks; b != NULL; b = b->next)
		if (a >= (uintptr_t)b->data && a < (uintptr_t)b->data + b->size)
			return true;
	return false;
}

static void
arena_free(void *p)
{
	if (p != NULL && !in_arena(p))
		free(p);
}

void
cm_mem_request_begin(void)
{
	arena.on = true;
}

/* Keeps the newest block (the largest) unless it is too big to hold idle. */
void
cm_mem_request_end(void)
{
	struct arena_block	*b, *older;

	arena.on = false;
	if ((b = arena.blocks) == NULL)
		return;
	while (b->next != NULL) {
		older = b->next->next;
		free(b->next);
		b->next = older;
	}
	if (b->size > ARENA_KEEP) {
		free(b);
		arena.blocks = NULL;
		return;
	}
	b->used = 0;
	ARENA_POISON(b->data, b->size);
}

void
cm_mem_init(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}
