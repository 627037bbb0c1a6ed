/*
 * dbnodes.h - several database endpoints: the [database] hosts
 * list, the order a worker tries them in, the Galera health rule and the
 * fail-back timing.
 *
 * Pure functions of their arguments: no connection, no clock, no logging
 * (the caller passes "now"), so the unit tests drive every choice.  The
 * store (store.c) keeps the per-node state (down-until times) and does
 * the connecting.
 */
#ifndef CM_DBNODES_H
#define CM_DBNODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_DBNODES_MAX	16	/* entries of a hosts list */

/* [database] policy */
enum cm_db_policy {
	CM_DB_FAILOVER,		/* the first healthy node in list order, back to it when it recovers */
	CM_DB_BALANCE		/* each worker starts at its own offset in the list */
};

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

/*
 * Where a worker's walk starts: node 0 under failover; under balance
 * worker % n (worker: its pid), so workers spread over the nodes.
 */
size_t	cm_dbnodes_start(enum cm_db_policy, size_t n, unsigned long worker);

/*
 * The node to try next, walking from start in list order (wrapping):
 * first the nodes not marked down (down_until[i] <= now_ms) and not yet
 * tried (bit i of tried), then, as a last resort when all of those
 * failed, the ones marked down and not yet tried (a whole cluster down
 * recovers as soon as any node answers, not when the marks expire).
 * -1: every node was tried.
 */
int	cm_dbnodes_pick(size_t n, size_t start, const long long *down_until,
	    long long now_ms, uint32_t tried);

/*
 * Fail-back: the node to probe when a worker is on node cur, or -1 when
 * there is none: the first node before cur in the walk from start that is
 * not marked down.  The caller probes at most every failback_s seconds
 * (cm_dbnodes_failback_due).
 */
int	cm_dbnodes_failback_target(size_t n, size_t start, size_t cur,
	    const long long *down_until, long long now_ms);
/* True when next_ms (the time of the next allowed probe) has come. */
bool	cm_dbnodes_failback_due(long long next_ms, long long now_ms);

/* A Galera node as its two status variables describe it. */
enum cm_node_health {
	CM_NODE_OK,		/* wsrep_ready ON and Synced (or Donor, allowed) */
	CM_NODE_NOT_GALERA,	/* no wsrep_local_state: wsrep is off, not a Galera node */
	CM_NODE_NOT_READY,	/* wsrep_ready is not ON */
	CM_NODE_NOT_SYNCED	/* ready, but joining, joined, or a donor not allowed */
};

/*
 * The health rule: wsrep_ready = ON and wsrep_local_state = 4 (Synced),
 * or 2 (Donor/Desynced) when allow_donor.  NULL: the variable was not in
 * the answer.
 */
enum cm_node_health cm_dbnodes_health(const char *wsrep_ready,
	    const char *wsrep_local_state, bool allow_donor);
/* "not synced", ...: for log lines. */
const char	*cm_dbnodes_health_str(enum cm_node_health);

#endif
