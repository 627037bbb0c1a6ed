/*
 * store_int.h - what the store_*.c files share; not a public API.
 *
 * store.c        connection, statements, rows, the transaction runner
 * store_write.c  create, patch, delete, key rotation (and their audit rows)
 * store_read.c   the client list, audit history, query plans
 * store_admin.c  migrations and admin keys
 */
#ifndef CM_STORE_INT_H
#define CM_STORE_INT_H

#include <stdint.h>
#include <time.h>

#include <mysql.h>
#include <jansson.h>

#include "client.h"
#include "store.h"

/* The members of section 2 in order, as selected from the table. */
#define CLIENT_COLUMNS \
	"id, name, status, publishable_key, secret_key, domain, email, phone, " \
	"website, timezone, global_name, company_id, agency_id, api_metadata, " \
	"ghl_location_id, proxy_api_key, created_at, updated_at, version"
#define NCOLS		(CM_F__COUNT + 1)	/* + version */
#define COL_VERSION	CM_F__COUNT
#define MAX_COLS	(NCOLS + 1)		/* + NOW(3) of a locked read */

/* Statements prepared once per connection, on first use. */
enum stmt_id {
	ST_ADMIN_KEY, ST_GET, ST_GET_LOCKED, ST_INSERT, ST_DELETE, ST_AUDIT,
	ST_AUDIT_COUNT, ST_AUDIT_PAGE,
	ST_KEY_CREATE, ST_KEY_LIST, ST_KEY_REVOKE,
	ST_MIGRATION_SEEN, ST_MIGRATION_RECORD,
	ST__COUNT
};

#define UPDATE_CACHE	64	/* UPDATE statements kept, by column set */
#define LIST_SHAPES	16	/* one bit per list filter */

struct cm_store {
	const struct cm_config	*cfg;
	MYSQL			*db;
	MYSQL_STMT		*stmt[ST__COUNT];
	struct {
		uint32_t	 columns;	/* CM_FIELD_BIT()s it writes */
		MYSQL_STMT	*st;
	}			 update[UPDATE_CACHE];
	size_t			 nupdate;
	MYSQL_STMT		*list_page[LIST_SHAPES];
	MYSQL_STMT		*list_count[LIST_SHAPES];
	unsigned		 err;		/* last MariaDB error number */
	struct timespec		 deadline;	/* of the request; 0 = none */
	struct cm_store_stats	 stats;		/* since cm_store_stats_take() */
	/* The row fetch_row() last read, as NUL-terminated strings. */
	char			*col[MAX_COLS];
	size_t			 cap[MAX_COLS];
	MYSQL_BIND		 bind[MAX_COLS];
	unsigned long		 col_len[MAX_COLS];
	my_bool			 col_null[MAX_COLS];
	my_bool			 col_error[MAX_COLS];
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
bool		 store_connection_lost(unsigned err);
int		 store_fail(struct cm_store *, MYSQL_STMT *, const char *what);
MYSQL_STMT	*store_prepare(struct cm_store *, const char *sql);
void		 store_close(MYSQL_STMT **);
int		 store_execute(struct cm_store *, MYSQL_STMT *,
		    const struct param *, size_t nparam);
/* Connects if needed and prepares once; the statement stays the store's. */
MYSQL_STMT	*store_stmt(struct cm_store *, enum stmt_id);
/* store_stmt(), then executes. */
MYSQL_STMT	*store_exec(struct cm_store *, enum stmt_id,
		    const struct param *, size_t nparam);
struct param	 store_str(const char *);
struct param	 store_int(long long);
/*
 * Rows of ncols string columns, read into s->col one at a time: bind once,
 * then next_row until it returns 0 (no more rows) or TX_DB_ERROR, then
 * mysql_stmt_free_result().  fetch_one does all three for one row.
 */
int		 store_bind_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
int		 store_next_row(struct cm_store *, MYSQL_STMT *, size_t ncols);
int		 store_fetch_one(struct cm_store *, MYSQL_STMT *, size_t ncols);
/* The fetched row as the API's client (columns of CLIENT_COLUMNS). */
int		 store_row_to_client(struct cm_store *, struct cm_stored *);
/*
 * out->version and out->etag: the version for changes, the creation time
 * (its digits, in either timestamp form) so that a client deleted and
 * created again never reuses a tag.
 */
void		 store_set_etag(struct cm_stored *, unsigned long long version,
		    const char *created_at);
/* "2026-11-27 10:00:00.123" -> "2026-11-27T10:00:00.123Z" */
json_t		*store_timestamp(const char *);
/* 1 found, 0 not, TX_DB_ERROR. */
int		 store_load_client(struct cm_store *, enum stmt_id, const char *id,
		    struct cm_stored *);
/* Runs fn in one transaction with retries; see store.c. */
int		 store_transaction(struct cm_store *,
		    int (*fn)(struct cm_store *, void *), void *arg,
		    struct cm_problems *);
/* Runs fn (a read) again once on a new connection if the old one died. */
int		 store_read(struct cm_store *,
		    int (*fn)(struct cm_store *, void *), void *arg);

#endif
