/*
 * scoreboard.h - the shared-memory slots the master and its workers share
 * (PHP-FPM's fpm_scoreboard): what each worker is doing, and the pool's
 * counters, for the status page and the master's decisions.
 *
 * The master maps it before the first fork (MAP_SHARED | MAP_ANONYMOUS) and
 * owns the slot table: it takes a slot before fork() and frees it after
 * waitpid().  A worker writes only its own slot, inside sb_write_begin/end
 * (a sequence lock), so readers never see a half-written request id.
 * Counters are updated with atomic adds.
 */
#ifndef CLIENTSD_SCOREBOARD_H
#define CLIENTSD_SCOREBOARD_H

#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "http.h"

/* Up to 256 workers of the current generation plus the old one draining. */
#define SB_SLOTS	512

enum sb_state { SB_FREE, SB_STARTING, SB_IDLE, SB_BUSY };

struct sb_slot {
	unsigned		seq;		/* odd while being written */
	int			state;		/* enum sb_state */
	int			stopping;	/* told to finish and exit */
	pid_t			pid;
	unsigned		generation;	/* the master's config generation */
	time_t			started;	/* wall clock, for the status page */
	long long		since_ms;	/* monotonic: state entered */
	long long		req_start_us;	/* monotonic: current/last request */
	long long		duration_us;	/* last request, or 0 while busy */
	long long		cpu_ms;
	unsigned long long	requests;
	char			request_id[CM_REQUEST_ID_MAX + 1];
	char			method[17];
	char			path[256];
};

struct scoreboard {
	char			pool[64];
	char			pm[16];		/* static|dynamic|ondemand|fcgid */
	time_t			start_time;
	pid_t			master_pid;
	unsigned long long	accepted;
	unsigned long long	max_active;
	/* Workers in a request now (atomic; max_active is its high mark). */
	int			busy_now;
	unsigned long long	max_workers_reached;
	unsigned long long	slow_requests;
	unsigned long long	respawns;
	int			listen_queue;	/* -1: the OS does not say */
	int			max_listen_queue;
	struct sb_slot		slot[SB_SLOTS];
};

/* Maps a zeroed scoreboard shared with future children; NULL on failure. */
struct scoreboard *sb_create(const struct cm_config *, const char *pm);
void	sb_destroy(struct scoreboard *);

long long sb_now_ms(void);
long long sb_now_us(void);

/* A worker's own slot. */
void	sb_write_begin(struct sb_slot *);
void	sb_write_end(struct sb_slot *);
/* The worker starts a request (rid, method, path without the query). */
void	sb_request_start(struct scoreboard *, int slot, const char *rid,
	    const char *method, const char *path);
/* ... and ends it: duration, CPU, requests served. */
void	sb_request_end(struct scoreboard *, int slot, long long duration_us,
	    int slow);
void	sb_set_state(struct scoreboard *, int slot, enum sb_state);

/* A consistent copy of a slot; -1 when it is being written right now. */
int	sb_read(const struct scoreboard *, int slot, struct sb_slot *out);

/* Counts the slots in use (not free): total, busy and idle. */
void	sb_count(const struct scoreboard *, int *total, int *busy, int *idle);

#endif
