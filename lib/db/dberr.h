/*
 * dberr.h - what a MariaDB error number (and a duplicate-key message)
 * means to the data layer.  Pure functions: no connection, no logging, so
 * the unit tests can feed them the exact messages MariaDB sends.
 */
#ifndef CM_DBERR_H
#define CM_DBERR_H

#include <stdbool.h>
#include <stddef.h>

enum cm_dberr {
	CM_DBERR_OTHER,		/* unexpected: 500, the cause in the log */
	CM_DBERR_DUPLICATE,	/* 1062, 1586: a unique key; cm_dberr_dup_key() */
	CM_DBERR_CONFLICT,	/* 1213 deadlock, 1205 lock wait: retry the transaction */
	CM_DBERR_LOST,		/* the connection is unusable: reconnect */
	CM_DBERR_BUSY		/* the server refuses more work: 503 at once */
};

enum cm_dberr	 cm_dberr_class(unsigned err);

/*
 * For a LOST error: true when it says the database node is unusable (so
 * the worker marks it down and moves to another node), false when only
 * the connection ended (idle timeout 4031, KILL or a Galera brute-force
 * abort of an idle connection 1927): reconnecting to the same node is
 * right then.
 */
bool		 cm_dberr_node_down(unsigned err);

/*
 * For an error of COMMIT: true when the client cannot know whether the
 * transaction committed (the connection or the node went during it), so
 * its token must be looked up; false when it certainly did not.
 */
bool		 cm_dberr_commit_unknown(unsigned err);

/*
 * The key name of a duplicate-key message, "Duplicate entry 'VALUE' for
 * key 'NAME'", copied into key (NUL-terminated).  VALUE is the client's
 * and may hold anything, quotes and "for key '" included, so the name is
 * taken from the END of the message: after the last " for key '", up to
 * the final quote.  A "table." prefix (MySQL 8 style) is dropped.  Returns
 * the name's length, or -1 when msg has not that shape or the name does
 * not fit in keysz.
 */
int		 cm_dberr_dup_key(const char *msg, char *key, size_t keysz);

/* What a unique key of the clients table guards. */
enum cm_dup {
	CM_DUP_UNKNOWN,		/* a key we did not expect: 500 */
	CM_DUP_MEMBER,		/* id, domain or global_name: 409 naming it */
	CM_DUP_GENERATED	/* a generated key collided: retry with new keys */
};

/*
 * Classifies the duplicate-key message msg; for CM_DUP_MEMBER *member is
 * the API member ("id" for PRIMARY), else NULL.
 */
enum cm_dup	 cm_dberr_dup_member(const char *msg, const char **member);

#endif
