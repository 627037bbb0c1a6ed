/*
 * scope.h - what an admin key may do: its scopes, a fixed set.
 *
 * Each route of the API needs one scope (app/routes.c); DELETE with
 * erase=true needs clients:erase as well.  A key holds a set of them,
 * stored as a SET column (db/013_key_scopes.sql) whose text is the same
 * comma-separated list this parses and formats.  Pure: no I/O.
 */
#ifndef CM_SCOPE_H
#define CM_SCOPE_H

#include <stdbool.h>
#include <stddef.h>

/* One bit each, in the order of the table (and of the SET column). */
enum cm_scope {
	CM_SCOPE_CLIENTS_READ	 = 1u << 0,	/* GET, HEAD of clients, the list */
	CM_SCOPE_CLIENTS_WRITE	 = 1u << 1,	/* POST (create), PATCH */
	CM_SCOPE_CLIENTS_DELETE	 = 1u << 2,	/* DELETE, soft and hard */
	CM_SCOPE_CLIENTS_ERASE	 = 1u << 3,	/* erase=true, with delete */
	CM_SCOPE_KEYS_ROTATE	 = 1u << 4,	/* rotate-keys */
	CM_SCOPE_AUDIT_READ	 = 1u << 5,	/* a client's history */
	CM_SCOPE_POOL_STATUS	 = 1u << 6,	/* /status */
	CM_SCOPE_EVENTS_READ	 = 1u << 7,	/* the events feed (to come) */
	CM_SCOPE_WEBHOOKS_MANAGE = 1u << 8	/* webhooks (to come) */
};

#define CM_SCOPE_COUNT	9
#define CM_SCOPE_ALL	((1u << CM_SCOPE_COUNT) - 1)
/* Every name, comma-separated, and its NUL: the longest formatted set. */
#define CM_SCOPES_TEXT_MAX	160

/* The name of one scope bit ("clients:read"); NULL for anything else. */
const char	*cm_scope_name(unsigned bit);
/* The bit of a name (len bytes), or 0 for an unknown one. */
unsigned	 cm_scope_bit(const char *name, size_t len);
/*
 * A comma-separated list of names ("all" for every scope; spaces around
 * a name ignored; a name twice is once) into *out.  0, or -1 with the
 * first word that is not a scope copied into bad (badsz bytes): an empty
 * word, or an unknown name unless ignore_unknown, which the data layer
 * sets (a later release may add scopes to the column; they grant nothing
 * here).
 */
int		 cm_scope_parse(const char *text, bool ignore_unknown,
		    unsigned *out, char *bad, size_t badsz);
/*
 * The names of the bits of scopes, comma-separated in table order, into
 * buf ("" for none; bits this build does not know are left out).
 * Returns the length, or -1 when buf is too small.
 */
int		 cm_scope_format(unsigned scopes, char *buf, size_t sz);

#endif
