/*
 * master.h - the standalone pool's master process (master.c: its loop,
 * signals, reload, upgrade, stop) and its children (children.c: spawn,
 * reap, respawn with back-off, the process manager, the watchdog).
 */
#ifndef CLIENTSD_MASTER_H
#define CLIENTSD_MASTER_H

#include <sys/types.h>
#include <sys/stat.h>
#include <stdbool.h>

#include "config.h"
#include "listen.h"
#include "scoreboard.h"
#include "tzdb.h"

enum master_state { M_RUNNING, M_UPGRADING, M_STOPPING };

/*
 * The master's own table of its workers, one entry per scoreboard slot.
 * It is the only source for whom to signal: every worker can write the
 * whole scoreboard, so a pid read from there could be anyone's.  A pid
 * here was returned by fork() and is cleared when waitpid() reaps it.
 */
struct child {
	pid_t		pid;		/* 0: the slot is free */
	unsigned	generation;	/* the config generation it started in */
	long long	born_us;	/* monotonic, at fork() */
	bool		stopping;	/* told to finish and exit */
	bool		asked;		/* we told it to stop (or killed it) */
	bool		timed_out;	/* the watchdog killed it */
};

struct master {
	struct cm_config	 cfg;
	char			 cfg_path[1024];
	char			 exe[1024];	/* for the upgrade: this binary */
	struct stat		 exe_st;	/* the file it was started from */
	char			**argv;
	struct cm_tzdb		*tzdb;
	struct listener		 lis;
	struct scoreboard	*sb;
	struct child		 child[SB_SLOTS];
	unsigned		 generation;
	int			 log_pipe[2];
	enum master_state	 state;
	long long		 stop_deadline_ms;
	bool			 killed_all;
	bool			 handed_over;	/* the new master owns the socket */
	bool			 ready;		/* told systemd / the old master */
	int			 ready_fd;	/* to the old master, or -1 */
	long long		 started_ms;
	/* An upgrade in progress. */
	pid_t			 new_master;
	int			 upgrade_fd;	/* its readiness pipe, or -1 */
	/* Back-off after fork() failures and workers dying at birth. */
	long long		 backoff_ms;
	long long		 next_spawn_ms;
	bool			 all_busy;	/* for max_workers_reached */
	/* pm = ondemand: a connection waits and nobody is idle. */
	bool			 pending;
	/* The last drain of the log pipe found lines: drain by the clock. */
	bool			 log_busy;
	/* pm = dynamic: start_workers were started for this generation. */
	bool			 started_initial;
	/* The worker counts last sent to systemd (STATUS=), and when. */
	int			 sent_counts[3];
	long long		 sent_ms;
};

/* Runs the pool until stopped; returns the exit status.  Owns tzdb. */
int	master_run(const struct cm_config *, const char *cfg_path,
	    struct cm_tzdb *tzdb, char **argv);

/* children.c */
/* Starts, stops and watches workers as the process manager says. */
void	children_maintain(struct master *);
/* Collects exited workers (SIGCHLD). */
void	children_reap(struct master *);
/* Asks every worker (of older generations only, when old_only) to stop. */
void	children_stop(struct master *, bool old_only, int sig);
/* Whether pid is one of this master's live workers. */
bool	children_has(const struct master *, pid_t);
/* Live workers: all, or of the current generation. */
int	children_count(const struct master *, bool current_only);
/* How many workers the process manager starts with. */
int	children_initial(const struct cm_config *);
/*
 * When the request in slot i started (monotonic us), if the worker there
 * says it is busy and the claim is plausible (after the worker's birth,
 * not in the future); -1 otherwise.
 */
long long children_busy_since(const struct master *, int i, long long now);
/*
 * How long a worker may stay busy with one request before the watchdog
 * kills it (microseconds): cm_request_life_ms.
 */
long long children_watchdog_us(const struct master *);

#endif
