/* jsonbody.c - request bodies as JSON, and RFC 7396 merge patch. */
#include <stddef.h>

#include <jansson.h>

#include "jsonbody.h"

json_t *
cm_json_parse_object(const char *buf, size_t len, int max_depth)
{
	json_error_t	 jerr;
	json_t		*v;

	if (buf == NULL || len == 0)
		return NULL;
	/*
	 * Jansson checks UTF-8, rejects \u0000 unless JSON_ALLOW_NUL, and
	 * rejects anything but whitespace after the value unless
	 * JSON_DISABLE_EOF_CHECK: we want all three.  Without
	 * JSON_DECODE_ANY a scalar at the top level is a syntax error.
	 */
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		return NULL;
	/*
	 * Jansson's own nesting limit is 2048, far too deep for us; its
	 * recursion is bounded by that, so measuring afterwards is safe.
	 */
	if (!json_is_object(v) || cm_json_depth(v) > max_depth) {
		json_decref(v);
		return NULL;
	}
	return v;
}

int
cm_json_depth(const json_t *v)
{
	const char	*key;
	json_t		*child;
	size_t		 i;
	int		 d, max = 0;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if ((d = cm_json_depth(child)) > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		/* The iteration API takes a non-const object; it only reads. */
		json_object_foreach((json_t *)v, key, child) {
			if ((d = cm_json_depth(child)) > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/*
 * The RFC 7396 algorithm applied in place: target is a borrowed
 * reference into our private copy (or NULL), patch is only read.
 * Returns a new reference, or NULL on allocation failure.
 */
static json_t *
merge(json_t *target, const json_t *patch)
{
	const char	*name;
	json_t		*res, *value, *sub;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	res = json_is_object(target) ? json_incref(target) : json_object();
	if (res == NULL)
		return NULL;
	json_object_foreach((json_t *)patch, name, value) {
		if (json_is_null(value)) {
			/* Absent already is fine: json_object_del fails. */
			(void)json_object_del(res, name);
			continue;
		}
		sub = merge(json_object_get(res, name), value);
		/* json_object_set_new consumes sub even when it fails. */
		if (sub == NULL || json_object_set_new(res, name, sub) == -1) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

json_t *
cm_merge_patch(const json_t *target, const json_t *patch)
{
	json_t	*copy, *res;

	if (patch == NULL)
		return NULL;
	/*
	 * Work on a deep copy so neither input (nor anything sharing
	 * their sub-values) ever changes; the result shares nothing.
	 */
	copy = NULL;
	if (json_is_object(patch) && json_is_object(target) &&
	    (copy = json_deep_copy(target)) == NULL)
		return NULL;
	res = merge(copy, patch);
	json_decref(copy);
	return res;
}

char *
cm_json_compact(const json_t *v)
{

	/* Jansson >= 2.8 always keeps objects in insertion order. */
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
