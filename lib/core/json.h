/*
 * json.h - request bodies as JSON, and RFC 7396 merge patch.
 */
#ifndef CM_JSONBODY_H
#define CM_JSONBODY_H

#include <stddef.h>
#include <jansson.h>

/*
 * Parses buf[0..len) as exactly one JSON object: valid UTF-8, no duplicate
 * member names, no NUL in strings, nothing but whitespace after it, nesting
 * no deeper than max_depth.  Returns a new reference or NULL (len == 0,
 * syntax, not an object, too deep, duplicates).
 */
json_t	*cm_json_parse_object(const char *buf, size_t len, int max_depth);
/*
 * The same, and when it returns NULL (and why is not NULL) writes into
 * why[0..whysz) an instruction for the sender that starts with "must":
 * what was wrong and, for a syntax error, Jansson's line, column and
 * reason ("must be one JSON object: line 1, column 9: ...").
 */
json_t	*cm_json_parse_object_why(const char *buf, size_t len, int max_depth,
	    char *why, size_t whysz);

/*
 * A request body: like cm_json_parse_object(), but valid JSON that Jansson
 * cannot hold, or that is deeper than max_depth, still parses: a number
 * out of range (an integer beyond 64 bits, 1e400) becomes the marker
 * CM_JSON_MARK_RANGE in its place, and a member of the body nested too
 * deep becomes CM_JSON_MARK_DEEP as a whole, so that the caller can name
 * the member ("Validation failed") rather than answer "Invalid JSON".
 * The markers are strings no body can hold (they start with NUL, and a
 * body with an escaped NUL is rejected).  Returns NULL for what is not
 * valid JSON (RFC 8259), not an object, not UTF-8, with duplicate names.
 */
json_t	*cm_json_parse_body(const char *buf, size_t len, int max_depth);

enum cm_json_mark {
	CM_JSON_MARK_NONE,
	CM_JSON_MARK_RANGE,	/* a number out of range */
	CM_JSON_MARK_DEEP	/* a value nested too deep */
};
/* The first marker in v or anywhere under it (DEEP wins over RANGE). */
enum cm_json_mark cm_json_marked(const json_t *v);

/* Depth of a value: scalars 0, {} or [] 1, {"a":{}} 2, ... */
int	 cm_json_depth(const json_t *);

/*
 * RFC 7396: returns a new reference to target with patch applied.
 * target may be NULL (treated as absent).  Neither argument is modified.
 */
json_t	*cm_merge_patch(const json_t *target, const json_t *patch);

/*
 * Compact serialisation with members in insertion order; caller frees.
 * Unlike Jansson's own (%.17g), a real is written as the shortest text
 * that reads back as the same double: 0.1 stays 0.1.  Strings are escaped
 * as Jansson escapes them.  NULL on ENOMEM or a value Jansson could not
 * write either.
 */
char	*cm_json_compact(const json_t *);
/* The shortest "%.*g" of d that reads back as d, Jansson-style ("1.0", "1e300"). */
int	 cm_json_real(double d, char *buf, size_t sz);

#endif
