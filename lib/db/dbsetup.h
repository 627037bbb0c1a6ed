/*
 * dbsetup.h - the database roles and the SQL a DBA runs to set them up:
 * the database, the runtime user (clientsd.conf) and the migration user
 * (clientsctl-migrate.conf), `clientsctl db-setup --print`; and the
 * runtime user's grants, table by table, which `clientsctl migrate` gives
 * once the tables exist.
 */
#ifndef CM_DBSETUP_H
#define CM_DBSETUP_H

#include <stdbool.h>
#include <stdio.h>

#include "db.h"

/*
 * The runtime user's privileges, one table at a time: what a worker's
 * requests need and nothing more.  It reads admin_keys and writes only
 * when a key was last used (one column); it adds history (client_audit) and may overwrite only the column
 * erasure rewrites, never delete it.  Key management, retention purges and
 * the schema are the migration user's (clientsctl).  The list ends with a
 * NULL table.
 */
struct cm_grant {
	const char	*table;		/* or the procedure's name */
	const char	*privileges;
	bool		 procedure;	/* EXECUTE ON PROCEDURE */
};
extern const struct cm_grant cm_runtime_grants[];
/* The webhook dispatcher's, given to [webhooks] user once it exists. */
extern const struct cm_grant cm_webhook_grants[];

/*
 * The GRANT statement of g for user@host, into out.  Returns 0, or -1
 * when a name is not plain (letters, digits, _; a host pattern) or out is
 * too small.
 */
int	cm_dbsetup_grant_sql(char *out, size_t outsz, const struct cm_grant *g,
	    const char *user, const char *host);

/*
 * Writes the SQL to out.  run is the runtime config, mig the migration
 * config, hooks the webhook dispatcher's or NULL (same database, three
 * different users); host the accounts' host part ("localhost", "%",
 * "10.0.0.%"...).  Returns 0, or -1 with a message naming the setting at
 * fault in err (nothing written then).
 */
int	cm_dbsetup_print(FILE *out, const struct cm_db_config *run,
	    const struct cm_db_config *mig, const struct cm_db_config *hooks,
	    const char *host, char *err, size_t errsz);

#endif
