/*
 * dbhosts.h - the database endpoints of [database] hosts (or of the single
 * socket, host and port keys), parsed: what the configuration holds and
 * the data layer walks (dbnodes.h).  Pure functions.
 */
#ifndef CM_DBHOSTS_H
#define CM_DBHOSTS_H

#include <stdbool.h>
#include <stddef.h>

#define CM_DBNODES_MAX	16	/* entries of a hosts list */

/* [database] policy */
enum cm_db_policy {
	CM_DB_FAILOVER,		/* the first healthy node in list order, back to it when it recovers */
	CM_DB_BALANCE		/* each worker starts at its own offset in the list */
};

/* [database] tls: none, encrypted, encrypted and the server's certificate checked. */
enum cm_db_tls { CM_TLS_OFF, CM_TLS_REQUIRED, CM_TLS_VERIFY };

struct cm_dbnode {
	bool		 socket;	/* a Unix socket: path in host, port 0 */
	char		 host[256];	/* address or name, without [ ] */
	unsigned	 port;
	char		 label[272];	/* as logs name it: "h:p", "[v6]:p", "/path" */
};

struct cm_dbnodes {
	size_t			n;
	struct cm_dbnode	node[CM_DBNODES_MAX];
};

/*
 * Parses a hosts list: entries separated by commas (spaces around them
 * ignored); "/path" is a Unix socket, "host:port" TCP, "[v6addr]:port"
 * TCP over IPv6.  The port is required (1..65535).  Returns 0, or -1 with
 * the reason (naming the entry) in why.  out is left partly filled on
 * error.
 */
int	cm_dbnodes_parse(const char *list, struct cm_dbnodes *out,
	    char *why, size_t whysz);

/* One entry from the single socket or host/port keys. */
void	cm_dbnodes_single(const char *socket, const char *host, int port,
	    struct cm_dbnodes *out);

#endif
