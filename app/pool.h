/*
 * pool.h - standalone mode: bind the FastCGI socket, drop privileges,
 * prefork the workers and keep their number up until told to stop.
 */
#ifndef CLIENTSD_POOL_H
#define CLIENTSD_POOL_H

#include "config.h"

/* Runs in each forked worker with the listening socket; returns its exit status. */
typedef int (*pool_worker_fn)(int listen_fd, void *arg);

/* Returns the process exit status once every worker has stopped. */
int	pool_run(const struct cm_config *, pool_worker_fn, void *arg);

#endif
