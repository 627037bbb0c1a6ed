/*
 * dbsetup.h - the SQL a DBA runs to set up clientsd's database: the
 * database, a DML-only runtime user (clientsd.conf) and a migration user
 * with DDL (clientsctl-migrate.conf).  `clientsctl db-setup --print`.
 */
#ifndef CM_DBSETUP_H
#define CM_DBSETUP_H

#include <stdio.h>

#include "db.h"

/*
 * Writes the SQL to out.  run is the runtime config, mig the migration
 * config (same database); host the accounts' host part ("localhost",
 * "%", "10.0.0.%"...).  Returns 0, or -1 with a message naming the
 * setting at fault in err (nothing written then).
 */
int	cm_dbsetup_print(FILE *out, const struct cm_db_config *run,
	    const struct cm_db_config *mig, const char *host,
	    char *err, size_t errsz);

#endif
