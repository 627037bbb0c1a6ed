/*
 * tzdb.c - the set of IANA time zone names, read from a zic input file.
 *
 * Only two kinds of line matter: "Zone NAME ..." and "Link TARGET NAME"
 * (tzdata.zi abbreviates them to "Z" and "L"; zic accepts any
 * case-insensitive prefix of the keyword, and so do we).  Continuation and
 * Rule lines are skipped.  The names are kept sorted for binary search.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "tzdb.h"

struct cm_tzdb {
	char	**name;		/* sorted, unique; each owned */
	size_t	  n;
	size_t	  cap;
};

static const char ws[] = " \t\r\n";

/* True when tok is a non-empty, case-insensitive prefix of keyword. */
static bool
keyword_prefix(const char *tok, size_t len, const char *keyword)
{
	return len > 0 && len <= strlen(keyword) &&
	    strncasecmp(tok, keyword, len) == 0;
}

static int
add_name(struct cm_tzdb *db, const char *s, size_t len)
{
	char	**nv;
	size_t	  ncap;

	if (db->n == db->cap) {
		ncap = db->cap ? db->cap * 2 : 512;
		nv = cm_realloc(db->name, ncap * sizeof(*nv));
		db->name = nv;
		db->cap = ncap;
	}
	db->name[db->n] = cm_malloc(len + 1);
	memcpy(db->name[db->n], s, len);
	db->name[db->n][len] = '\0';
	db->n++;
	return 0;
}

/*
 * Adds the name a "Zone" (field 2) or "Link" (field 3) line defines.
 * Returns 0, also for lines that define nothing, or -1 on ENOMEM.
 */
static int
parse_line(struct cm_tzdb *db, const char *line)
{
	const char	*tok;
	size_t		 len, want, field = 1;

	tok = line + strspn(line, ws);
	len = strcspn(tok, ws);
	if (keyword_prefix(tok, len, "zone"))
		want = 2;
	else if (keyword_prefix(tok, len, "link"))
		want = 3;
	else
		return 0;
	while (field < want) {
		tok += len;
		tok += strspn(tok, ws);
		len = strcspn(tok, ws);
		if (len == 0 || tok[0] == '#')
			return 0;
		field++;
	}
	return add_name(db, tok, len);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, then drops duplicates (a name may be both zone and link). */
static void
sort_unique(struct cm_tzdb *db)
{
	size_t	 i, j;

	qsort(db->name, db->n, sizeof(db->name[0]), name_cmp);
	for (i = j = 0; i < db->n; i++) {
		if (j > 0 && strcmp(db->name[j - 1], db->name[i]) == 0)
			free(db->name[i]);
		else
			db->name[j++] = db->name[i];
	}
	db->n = j;
}

struct cm_tzdb *
cm_tzdb_load(const char *path, char *err, size_t errsz)
{
	struct cm_tzdb	*db;
	FILE		*f;
	char		*line = NULL;
	size_t		 linesz = 0;
	int		 rc = 0;

	db = cm_calloc(1, sizeof(*db));
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		cm_tzdb_free(db);
		return NULL;
	}
	while (rc == 0 && getline(&line, &linesz, f) != -1)
		rc = parse_line(db, line);
	if (rc == 0 && ferror(f))
		rc = -1;
	if (rc == -1)
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	free(line);
	fclose(f);
	if (rc == 0 && db->n == 0) {
		snprintf(err, errsz, "%s: no Zone or Link lines", path);
		rc = -1;
	}
	if (rc == -1) {
		cm_tzdb_free(db);
		return NULL;
	}
	sort_unique(db);
	return db;
}

void
cm_tzdb_free(struct cm_tzdb *db)
{
	size_t	 i;

	if (db == NULL)
		return;
	for (i = 0; i < db->n; i++)
		free(db->name[i]);
	free(db->name);
	free(db);
}

size_t
cm_tzdb_count(const struct cm_tzdb *db)
{
	return db == NULL ? 0 : db->n;
}

/* strcmp order for a counted string against a NUL-terminated one. */
static int
counted_cmp(const char *s, size_t len, const char *name)
{
	size_t	 nlen = strlen(name);
	int	 c;

	c = memcmp(s, name, len < nlen ? len : nlen);
	if (c != 0)
		return c;
	return len < nlen ? -1 : len > nlen;
}

bool
cm_tzdb_has(const struct cm_tzdb *db, const char *s, size_t len)
{
	size_t	 lo = 0, hi, mid;
	int	 c;

	if (db == NULL || len == 0)
		return false;
	hi = db->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = counted_cmp(s, len, db->name[mid])) == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}
