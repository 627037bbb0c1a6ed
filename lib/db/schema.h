/*
 * schema.h - which database schemas this build can serve.
 *
 * Every migration in db/ is of one kind, named in its header line
 * "-- kind: expand" or "-- kind: contract":
 *
 *   expand    adds (a table, a column, an index, a trigger) and changes
 *             nothing the previous release reads or writes: that release
 *             keeps working on the expanded schema, so hosts are upgraded
 *             one by one and can be rolled back;
 *   contract  takes away what an older release still used; it runs only
 *             through `clientsctl migrate --contract`, once every host
 *             runs at least the release its "-- needs: VERSION" line
 *             names.
 *
 * A build serves a schema that has every expand migration it knows, and
 * no contract migration it does not know (that one took away something
 * this build may use).  Expand migrations it does not know are the next
 * release's: it serves them.  Pure functions and a table.
 */
#ifndef CM_SCHEMA_H
#define CM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

enum cm_migration_kind { CM_MIGRATION_EXPAND, CM_MIGRATION_CONTRACT };

struct cm_migration {
	const char		*name;	/* the file name without ".sql" */
	enum cm_migration_kind	 kind;
};

/* The migrations this build knows, in order; ends with a NULL name. */
extern const struct cm_migration cm_schema_known[];

/* An applied migration, as schema_migrations records it. */
struct cm_applied {
	const char	*name;		/* without ".sql" */
	bool		 contract;	/* recorded as a contract migration */
};

/*
 * Whether this build serves a database whose applied migrations are
 * applied[0..n).  False with the reason in why ("lacks 012_node_counters:
 * run clientsctl migrate", "...contracted by a newer release...").
 */
bool	cm_schema_servable(const struct cm_applied *applied, size_t n,
	    char *why, size_t whysz);

/* The newest migration this build knows ("012_node_counters"). */
const char *cm_schema_needed(void);

/* "expand" or "contract". */
const char *cm_migration_kind_name(enum cm_migration_kind);

#endif
