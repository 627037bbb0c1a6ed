/*
 * tzdb.h - the set of IANA time zone names (zones and links).
 *
 * Loaded once per process from the tz database's tzdata.zi (Debian's tzdata
 * package ships /usr/share/zoneinfo/tzdata.zi): its "Z name" and
 * "L target name" lines.  Lookups are a binary search over the sorted names;
 * a name from a request is never turned into a file path.
 */
#ifndef CM_TZDB_H
#define CM_TZDB_H

#include <stdbool.h>
#include <stddef.h>

struct cm_tzdb;

/* Returns NULL and writes a reason to err on failure.  Caller frees. */
struct cm_tzdb	*cm_tzdb_load(const char *path, char *err, size_t errsz);
void		 cm_tzdb_free(struct cm_tzdb *);
size_t		 cm_tzdb_count(const struct cm_tzdb *);
/* Exact, case-sensitive. */
bool		 cm_tzdb_has(const struct cm_tzdb *, const char *s, size_t len);

#endif
