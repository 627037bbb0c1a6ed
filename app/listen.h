/*
 * listen.h - the pool's listening socket: bound here, or inherited from a
 * master being upgraded ($CLIENTSD_LISTEN_FD) or from systemd's socket
 * activation ($LISTEN_FDS); removed on exit only when we bound it.
 */
#ifndef CLIENTSD_LISTEN_H
#define CLIENTSD_LISTEN_H

#include <stdbool.h>

#include "config.h"

#define LISTEN_ENV	"CLIENTSD_LISTEN_FD"

struct listener {
	int	fd;
	bool	inherited;	/* from an old master or systemd: not ours to unlink */
	char	path[256];	/* the Unix socket path we bound, or "" */
	char	name[256];	/* for log lines: the path or host:port */
};

/* True when fd is a listening socket. */
bool	listen_is_socket(int fd);
/*
 * An inherited socket (upgrade first, then systemd), else a fresh one bound
 * to cfg->listen: a Unix socket that still answers is an error (another
 * instance), a stale one is removed.  Returns 0, or -1 with err set.
 */
int	listen_open(const struct cm_config *, struct listener *, char *err,
	    size_t errsz);
/* Binds cfg->listen anew (reload with a changed listen). */
int	listen_bind(const struct cm_config *, struct listener *, char *err,
	    size_t errsz);
/* Closes the socket and unlinks a path we bound, unless keep_path. */
void	listen_close(struct listener *, bool keep_path);
/* The accept queue of a TCP socket (TCP_INFO), or -1 where Linux does not say. */
int	listen_queue(int fd);

#endif
