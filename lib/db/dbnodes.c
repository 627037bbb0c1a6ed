/*
 * dbnodes.c - the walk over the database nodes, the Galera health rule
 * and the fail-back timing.  Pure: see dbnodes.h.
 */
#include <string.h>
#include <strings.h>

#include "dbnodes.h"

size_t
cm_dbnodes_start(enum cm_db_policy policy, size_t n, unsigned long worker)
{
	if (n == 0 || policy == CM_DB_FAILOVER)
		return 0;
	return (size_t)(worker % n);
}

int
cm_dbnodes_pick(size_t n, size_t start, const long long *down_until,
    long long now_ms, uint32_t tried)
{
	size_t	k, i;
	int	pass;

	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < n; k++) {
			i = (start + k) % n;
			if (tried & (UINT32_C(1) << i))
				continue;
			/* Pass 0: only the nodes not marked down. */
			if (pass == 0 && down_until[i] > now_ms)
				continue;
			return (int)i;
		}
	return -1;
}

int
cm_dbnodes_failback_target(size_t n, size_t start, size_t cur,
    const long long *down_until, long long now_ms)
{
	size_t	k, i;

	for (k = 0; k < n; k++) {
		i = (start + k) % n;
		if (i == cur)
			return -1;	/* cur is the best one that is up */
		if (down_until[i] <= now_ms)
			return (int)i;
	}
	return -1;
}

bool
cm_dbnodes_failback_due(long long next_ms, long long now_ms)
{
	return now_ms >= next_ms;
}

enum cm_node_health
cm_dbnodes_health(const char *ready, const char *state, bool allow_donor)
{
	/* A server without wsrep (wsrep_on = OFF) still has wsrep_ready OFF. */
	if (ready == NULL || state == NULL)
		return CM_NODE_NOT_GALERA;
	if (strcasecmp(ready, "ON") != 0)
		return CM_NODE_NOT_READY;
	/* 4 Synced; 2 Donor/Desynced; 1 Joining, 3 Joined: not yet. */
	if (strcmp(state, "4") == 0)
		return CM_NODE_OK;
	if (strcmp(state, "2") == 0 && allow_donor)
		return CM_NODE_OK;
	return CM_NODE_NOT_SYNCED;
}

const char *
cm_dbnodes_health_str(enum cm_node_health h)
{
	switch (h) {
	case CM_NODE_OK:
		return "synced";
	case CM_NODE_NOT_GALERA:
		return "not a Galera node (no wsrep_local_state; galera = true)";
	case CM_NODE_NOT_READY:
		return "not ready";
	case CM_NODE_NOT_SYNCED:
		break;
	}
	return "not synced";
}
