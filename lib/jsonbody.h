/*
 * jsonbody.h - request bodies as JSON, and RFC 7396 merge patch.
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

/* Depth of a value: scalars 0, {} or [] 1, {"a":{}} 2, ... */
int	 cm_json_depth(const json_t *);

/*
 * RFC 7396: returns a new reference to target with patch applied.
 * target may be NULL (treated as absent).  Neither argument is modified.
 */
json_t	*cm_merge_patch(const json_t *target, const json_t *patch);

/* Compact serialisation with members in insertion order; caller frees. */
char	*cm_json_compact(const json_t *);

#endif
