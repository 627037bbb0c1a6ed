/*
 * scoreboard.c - the shared-memory slots (see scoreboard.h).
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "scoreboard.h"

struct scoreboard *
sb_create(const struct cm_config *cfg, const char *pm)
{
	struct scoreboard	*sb;

	sb = mmap(NULL, sizeof(*sb), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
	memset(sb, 0, sizeof(*sb));
	snprintf(sb->pool, sizeof(sb->pool), "%s", cfg->pool_name);
	snprintf(sb->pm, sizeof(sb->pm), "%s", pm);
	sb->start_time = time(NULL);
	sb->master_pid = getpid();
	sb->listen_queue = sb->max_listen_queue = -1;
	return sb;
}

void
sb_destroy(struct scoreboard *sb)
{
	if (sb != NULL)
		munmap(sb, sizeof(*sb));
}

long long
sb_now_us(void)
{
	return cm_clock_us(CLOCK_MONOTONIC);
}

long long
sb_now_ms(void)
{
	return sb_now_us() / 1000;
}

void
sb_write_begin(struct sb_slot *s)
{
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void
sb_write_end(struct sb_slot *s)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
}

static void
copy_str(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src != NULL ? src : "");
}

void
sb_request_start(struct scoreboard *sb, int slot, const char *rid,
    const char *method, const char *path)
{
	struct sb_slot		*s = &sb->slot[slot];
	unsigned long long	 busy, max;

	sb_write_begin(s);
	s->state = SB_BUSY;
	s->since_ms = sb_now_ms();
	s->req_start_us = sb_now_us();
	s->duration_us = 0;
	copy_str(s->request_id, sizeof(s->request_id), rid);
	copy_str(s->method, sizeof(s->method), method);
	copy_str(s->path, sizeof(s->path), path);
	sb_write_end(s);
	__atomic_add_fetch(&sb->accepted, 1, __ATOMIC_RELAXED);
	/* A counter, not a walk over every slot at each request. */
	busy = (unsigned long long)__atomic_add_fetch(&sb->busy_now, 1,
	    __ATOMIC_RELAXED);
	max = __atomic_load_n(&sb->max_active, __ATOMIC_RELAXED);
	while (busy > max && !__atomic_compare_exchange_n(&sb->max_active,
	    &max, busy, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void
sb_request_end(struct scoreboard *sb, int slot, long long duration_us,
    int slow)
{
	struct sb_slot	*s = &sb->slot[slot];
	struct rusage	 ru;
	long long	 cpu = s->cpu_ms;

	/* The status page's CPU figure: a system call every 32 requests. */
	if (s->requests % 32 == 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000LL +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	__atomic_sub_fetch(&sb->busy_now, 1, __ATOMIC_RELAXED);
	sb_write_begin(s);
	s->state = SB_IDLE;
	s->since_ms = sb_now_ms();
	s->duration_us = duration_us;
	s->cpu_ms = cpu;
	s->requests++;
	sb_write_end(s);
	if (slow)
		__atomic_add_fetch(&sb->slow_requests, 1, __ATOMIC_RELAXED);
}

void
sb_set_state(struct scoreboard *sb, int slot, enum sb_state st)
{
	struct sb_slot	*s = &sb->slot[slot];

	sb_write_begin(s);
	s->state = st;
	s->since_ms = sb_now_ms();
	sb_write_end(s);
}

int
sb_read(const struct scoreboard *sb, int slot, struct sb_slot *out)
{
	const struct sb_slot	*s = &sb->slot[slot];
	unsigned		 seq;
	int			 tries;

	for (tries = 0; tries < 100; tries++) {
		seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			continue;
		memcpy(out, (const void *)s, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == seq) {
			out->request_id[sizeof(out->request_id) - 1] = '\0';
			out->method[sizeof(out->method) - 1] = '\0';
			out->path[sizeof(out->path) - 1] = '\0';
			return 0;
		}
	}
	return -1;
}

void
sb_count(const struct scoreboard *sb, int *total, int *busy, int *idle)
{
	int	i, st;

	*total = *busy = *idle = 0;
	for (i = 0; i < SB_SLOTS; i++) {
		st = __atomic_load_n(&sb->slot[i].state, __ATOMIC_RELAXED);
		if (st == SB_FREE)
			continue;
		(*total)++;
		if (st == SB_BUSY)
			(*busy)++;
		else if (st == SB_IDLE)
			(*idle)++;
	}
}
