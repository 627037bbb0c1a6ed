/*
 * dbconf.h - the data layer's part of the configuration.
 */
#ifndef CLIENTSD_DBCONF_H
#define CLIENTSD_DBCONF_H

#include "config.h"
#include "db.h"
#include "sandbox.h"

/*
 * The [database] keys and auth_cache_s of cfg, into *out, with the hosts
 * list parsed (or the single socket or host and port).  The password is
 * copied: scrub *out when done with it (cm_db_open keeps its own copy).
 */
void	dbconf_of(const struct cm_config *cfg, struct cm_db_config *out);

/*
 * What a process connected with db still does, for the sandbox: DNS when
 * a database host is a name, TCP to the nodes' ports, the TLS files,
 * syslog when it writes syslog itself (own_log; a worker of the pool
 * writes to the master's pipe).  The caller adds what is its own.
 */
void	dbconf_sandbox_plan(const struct cm_config *,
	    const struct cm_db_config *db, bool own_log,
	    struct cm_sandbox_plan *);

/*
 * Whether this build serves the database's schema (schema.h), asked over
 * one short connection: 0 yes (level: the newest migration), -1 no, 1
 * the database did not answer; why says which.  For start, -t and reload.
 */
int	dbconf_schema_check(const struct cm_config *, char *level,
	    size_t levelsz, char *why, size_t whysz);

#endif
