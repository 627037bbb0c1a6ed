/*
 * worker.h - one worker process: the accept loop.
 */
#ifndef CLIENTSD_WORKER_H
#define CLIENTSD_WORKER_H

#include <sys/types.h>

#include "config.h"
#include "scoreboard.h"
#include "tzdb.h"

struct worker_args {
	const struct cm_config	*cfg;
	const struct cm_tzdb	*tzdb;
	int			 listen_fd;
	struct scoreboard	*sb;
	int			 slot;
	pid_t			 master;	/* 0: spawned by the web server */
};

/* Serves requests until told to stop; returns the exit status. */
int	worker_run(const struct worker_args *);
/*
 * Root check and privilege drop for a worker: switches to [server] user
 * when root; refuses root without it unless allow_root.  0 or -1 (logged).
 */
int	worker_drop_privileges(const struct cm_config *);

#endif
