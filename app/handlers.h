/*
 * handlers.h - one FastCGI request in, one JSON response out.
 */
#ifndef CLIENTSD_HANDLERS_H
#define CLIENTSD_HANDLERS_H

#include <time.h>

#include <fcgiapp.h>

#include "config.h"
#include "store.h"
#include "tzdb.h"

struct scoreboard;

/* Everything a worker process owns; built after fork(). */
struct worker {
	const struct cm_config	*cfg;
	const struct cm_tzdb	*tzdb;
	struct cm_store		*store;
	/* Writes, on a session without autocommit (cm_store_new_tx). */
	struct cm_store		*wstore;
	char			*body;		/* cfg->body_limit + 1 bytes */
	struct scoreboard	*sb;		/* shared with the master */
	int			 slot;		/* ours in sb */
	int			 listen_fd;	/* for the status page's queue */
	/*
	 * The request in hand: its deadline (CLOCK_MONOTONIC), and how long
	 * it waited between the web server and us (-1: unknown).
	 */
	struct timespec		 deadline;
	long long		 waited_us;
};

/* Serves one accepted request and logs one line for it. */
void	handle_request(struct worker *, FCGX_Request *);

#endif
