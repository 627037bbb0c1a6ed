/*
 * store_int.h - what store.c shares with store_admin.c; not a public API.
 */
#ifndef CM_STORE_INT_H
#define CM_STORE_INT_H

#include <mysql.h>

#include "store.h"

/* Statements prepared once per connection, on first use. */
enum stmt_id {
	ST_ADMIN_KEY, ST_GET, ST_GET_LOCKED, ST_INSERT, ST_AUDIT,
	ST_KEY_CREATE, ST_KEY_LIST, ST_KEY_REVOKE,
	ST_MIGRATION_SEEN, ST_MIGRATION_RECORD,
	ST__COUNT
};

/* One statement parameter; a NULL s with P_STR binds SQL NULL. */
struct param {
	enum { P_STR, P_INT }	 type;
	const char		*s;
	unsigned long		 len;
	long long		 i;
};

/* Internal result of a step inside a transaction. */
#define TX_DB_ERROR	(-1)	/* see store->err */

int		 store_connect(struct cm_store *);
void		 store_disconnect(struct cm_store *);
MYSQL		*store_db(struct cm_store *);
unsigned	 store_errno(const struct cm_store *);
/* Prepares (once) and executes; results stay on the statement. */
MYSQL_STMT	*store_exec(struct cm_store *, enum stmt_id,
		    const struct param *, size_t nparam);
int		 store_fail(struct cm_store *, MYSQL_STMT *, const char *what);

#endif
