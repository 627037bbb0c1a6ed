/*
 * client.c - the members of the client object (doc/api-guide.md) and the
 * checking of request bodies against them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "json.h"
#include "validate.h"

#define METADATA_MAX_BYTES	16384
#define METADATA_MAX_DEPTH	8
#define LOWER_MAX		256	/* > the 253 bytes of a domain */

/* How a member's value is checked on write. */
enum kind {
	K_ID,		/* string, never null */
	K_NAME,		/* string, never null, trimmed */
	K_BOOL,		/* true or false */
	K_STRING,	/* string or null, checked by the field's check */
	K_TIMEZONE,	/* string or null, looked up in the tz database */
	K_OBJECT,	/* object or null (null means {}) */
	K_GENERATED	/* never writable */
};

#define F_CREATE	0x01	/* writable in a create */
#define F_PATCH		0x02	/* writable in a patch */
#define F_SECRET	0x04
#define F_TRIM		0x08	/* drop leading/trailing U+0020 first */
#define F_LOWER		0x10	/* ASCII-lowercase first */
#define F_TEXT		0x20	/* free text: no invisible characters */

struct field {
	const char	 *name;
	enum kind	  kind;
	unsigned int	  flags;
	const struct cm_verdict *(*check)(const char *, size_t);
};

#define RW	(F_CREATE | F_PATCH)

/* Indexed by enum cm_field. */
static const struct field fields[CM_F__COUNT] = {
	{ "id", K_ID, F_CREATE, cm_check_token },
	{ "name", K_NAME, RW | F_TRIM | F_TEXT, cm_check_name },
	{ "status", K_BOOL, RW, NULL },
	{ "publishable_key", K_GENERATED, F_SECRET, NULL },
	{ "secret_key", K_GENERATED, F_SECRET, NULL },
	{ "domain", K_STRING, RW | F_LOWER, cm_check_domain },
	{ "email", K_STRING, RW | F_TEXT, cm_check_email },
	{ "phone", K_STRING, RW | F_TRIM, cm_check_phone },
	{ "website", K_STRING, RW | F_TEXT, cm_check_website },
	{ "timezone", K_TIMEZONE, RW, NULL },
	{ "global_name", K_STRING, RW | F_TEXT, cm_check_global_name },
	{ "company_id", K_STRING, RW, cm_check_token },
	{ "agency_id", K_STRING, RW, cm_check_token },
	{ "api_metadata", K_OBJECT, RW, NULL },
	{ "ghl_location_id", K_STRING, RW, cm_check_token },
	{ "proxy_api_key", K_STRING, RW | F_SECRET, cm_check_proxy_api_key },
	{ "created_at", K_GENERATED, 0, NULL },
	{ "updated_at", K_GENERATED, 0, NULL },
};

static const struct cm_verdict v_not_object_body = {
	"invalid_type", "must be a JSON object"
};
static const struct cm_verdict v_not_string = {
	"invalid_type", "must be a string"
};
static const struct cm_verdict v_not_string_or_null = {
	"invalid_type", "must be a string or null"
};
static const struct cm_verdict v_not_bool = {
	"invalid_type", "must be true or false"
};
static const struct cm_verdict v_not_object = {
	"invalid_type", "must be an object or null"
};
static const struct cm_verdict v_null = {
	"null_not_allowed", "must not be null"
};
static const struct cm_verdict v_required = {
	"required", "must be present when a client is created"
};
static const struct cm_verdict v_read_only = {
	"read_only_field", "must not be sent: the member is read-only"
};
static const struct cm_verdict v_unknown = {
	"unknown_field",
	"must not be sent: it is not a member of the client object"
};
static const struct cm_verdict v_timezone = {
	"invalid_timezone",
	"must be an IANA time zone name such as America/Los_Angeles"
};
static const struct cm_verdict v_too_large = {
	"too_large", "must be at most 16384 bytes serialized"
};
static const struct cm_verdict v_too_deep = {
	"too_deep", "must not be nested more than 8 levels deep"
};
static const struct cm_verdict v_out_of_range = {
	"invalid_value", "must hold only numbers in range: integers that fit "
	"in 64 bits, other numbers 0 or between 2.2e-308 and 1.8e308 in "
	"magnitude (a double's normal range)"
};

const char *
cm_field_name(enum cm_field f)
{
	if ((unsigned int)f >= CM_F__COUNT)
		return NULL;
	return fields[f].name;
}

int
cm_field_lookup(const char *name)
{
	int	 i;

	if (name == NULL)
		return -1;
	for (i = 0; i < CM_F__COUNT; i++)
		if (strcmp(fields[i].name, name) == 0)
			return i;
	return -1;
}

bool
cm_field_writable(enum cm_field f, enum cm_input_mode mode)
{
	if ((unsigned int)f >= CM_F__COUNT)
		return false;
	return (fields[f].flags &
	    (mode == CM_INPUT_CREATE ? F_CREATE : F_PATCH)) != 0;
}

bool
cm_field_secret(enum cm_field f)
{
	if ((unsigned int)f >= CM_F__COUNT)
		return false;
	return (fields[f].flags & F_SECRET) != 0;
}

static void
add(struct cm_problems *probs, const char *field, const struct cm_verdict *v)
{
	cm_problems_add(probs, field, v->code, v->message);
}

/* The verdict of the field's rule on s, already normalised. */
static const struct cm_verdict *
check_text(const struct field *f, const char *s, size_t len,
    const struct cm_input_policy *pol)
{
	if (f->kind != K_TIMEZONE)
		return f->check(s, len);
	/* Without a tz database nothing can be shown valid. */
	if (pol->tzdb == NULL || !cm_tzdb_has(pol->tzdb, s, len))
		return &v_timezone;
	return NULL;
}

/*
 * Checks one string value after normalising it as the field asks; on
 * success *out is a new string holding the normalised value.  In free
 * text, a character no text may hold (cm_text_forbidden) is a problem of
 * its own when the field's rule passed, and is named in note, by its
 * position as sent, whatever the verdict.
 */
static const struct cm_verdict *
check_string(const struct field *f, const json_t *v,
    const struct cm_input_policy *pol, json_t **out, char *note)
{
	const struct cm_verdict	*bad;
	const char		*s = json_string_value(v);
	size_t			 len = json_string_length(v), pos;
	unsigned long		 cp;
	char			 low[LOWER_MAX];


	if (f->flags & F_TRIM)
		cm_trim_spaces(&s, &len);
	/*
	 * Only domain is lowercased, and a domain longer than LOWER_MAX fails
	 * its length rule whatever its case, so it is checked as sent.
	 */
	if ((f->flags & F_LOWER) && len <= sizeof(low)) {
		memcpy(low, s, len);
		cm_ascii_lower(low, len);
		s = low;
	}
	bad = check_text(f, s, len, pol);
	if ((f->flags & F_TEXT) && cm_text_forbidden(json_string_value(v),
	    json_string_length(v), &cp, &pos)) {
		snprintf(note, CM_PROBLEM_NOTE_MAX, "U+%04lX at character %zu",
		    cp, pos);
		if (bad == NULL)
			bad = &cm_v_forbidden_char;
	}
	if (bad == NULL)
		*out = json_stringn(s, len);
	return bad;
}

/*
 * A value cm_json_parse_body() marked: valid JSON the service cannot hold
 * (a number out of range, nesting past the body's limit).  In api_metadata
 * that is its own problem; anywhere else the value is of the wrong type.
 */
static const struct cm_verdict *
check_marked(const struct field *f, enum cm_json_mark mark)
{
	switch (f->kind) {
	case K_OBJECT:
		return mark == CM_JSON_MARK_DEEP ? &v_too_deep : &v_out_of_range;
	case K_BOOL:
		return &v_not_bool;
	case K_STRING:
	case K_TIMEZONE:
		return &v_not_string_or_null;
	default:
		return &v_not_string;
	}
}

/* Checks a writable member's value; on success *out is its new value. */
static const struct cm_verdict *
check_value(const struct field *f, const json_t *v,
    const struct cm_input_policy *pol, json_t **out, char *note)
{
	enum cm_json_mark	mark;

	if (f->kind != K_GENERATED &&
	    (mark = cm_json_marked(v)) != CM_JSON_MARK_NONE)
		return check_marked(f, mark);
	switch (f->kind) {
	case K_ID:
	case K_NAME:
		if (json_is_null(v))
			return &v_null;
		if (!json_is_string(v))
			return &v_not_string;
		return check_string(f, v, pol, out, note);
	case K_BOOL:
		if (json_is_null(v))
			return &v_null;
		if (!json_is_boolean(v))
			return &v_not_bool;
		*out = json_boolean(json_is_true(v));
		return NULL;
	case K_STRING:
	case K_TIMEZONE:
		if (json_is_null(v)) {
			*out = json_null();
			return NULL;
		}
		if (!json_is_string(v))
			return &v_not_string_or_null;
		return check_string(f, v, pol, out, note);
	case K_OBJECT:
		/*
		 * null stays null: as a merge patch it replaces the stored
		 * object, which the caller then stores as {} (client.h).
		 */
		if (json_is_null(v))
			*out = json_null();
		else if (json_is_object(v))
			*out = json_deep_copy(v);
		else
			return &v_not_object;
		return NULL;
	case K_GENERATED:
		break;
	}
	return &v_read_only;
}

/*
 * The verdict on one member of section 2 (NULL: fine, or silently
 * dropped), with *out set to the value to keep, if any.
 */
static const struct cm_verdict *
check_member(enum cm_field i, const json_t *body, enum cm_input_mode mode,
    const struct cm_input_policy *pol, json_t **out, char *note)
{
	const struct field	*f = &fields[i];
	const json_t		*v;

	*out = NULL;
	if ((v = json_object_get(body, f->name)) == NULL) {
		if (mode == CM_INPUT_CREATE &&
		    (i == CM_F_ID || i == CM_F_NAME))
			return &v_required;
		return NULL;
	}
	/* The ignore switch drops read-only members too, as unknown ones. */
	if (!cm_field_writable(i, mode))
		return pol->ignore_unknown ? NULL : &v_read_only;
	return check_value(f, v, pol, out, note);
}

/*
 * Names an unknown member.  The name is the client's and may be longer than
 * a problem's field: cut it at a UTF-8 character boundary so that the
 * details array can still be rendered.
 */
static void
add_unknown(struct cm_problems *probs, const char *key)
{
	char	 field[CM_FIELD_NAME_MAX];
	size_t	 len = strlen(key);

	if (len >= sizeof(field)) {
		len = sizeof(field) - 1;
		while (len > 0 && ((unsigned char)key[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(field, key, len);
	field[len] = '\0';
	add(probs, field, &v_unknown);
}

/*
 * api_metadata's limits, in the same pass as every other member, so that
 * one answer lists every problem.  What the member adds is checked: the
 * patch without its null (delete) members, which is the stored value of a
 * create and part of a PATCH's merged value (cm_patch_apply() checks that
 * whole once the row is read): a key, depth or size wrong here is wrong
 * there too.
 */
static void
metadata_limits(const json_t *input, struct cm_problems *probs)
{
	json_t	*v, *added;

	if ((v = json_object_get(input, "api_metadata")) == NULL ||
	    !json_is_object(v))
		return;
	added = cm_merge_patch(NULL, v);
	(void)cm_client_check_metadata(added, probs);
	json_decref(added);
}

json_t *
cm_client_check_input(const json_t *body, enum cm_input_mode mode,
    const struct cm_input_policy *pol, struct cm_problems *probs)
{
	const struct cm_verdict	*bad;
	json_t			*out, *value, *member;
	const char		*key;
	char			 note[CM_PROBLEM_NOTE_MAX];
	size_t			 before = cm_problems_count(probs);
	int			 i;

	if (!json_is_object(body)) {
		add(probs, "", &v_not_object_body);
		return NULL;
	}
	out = json_object();	/* never NULL: Jansson allocates with cm_malloc */
	for (i = 0; i < CM_F__COUNT; i++) {
		note[0] = '\0';
		if ((bad = check_member(i, body, mode, pol, &value, note)) !=
		    NULL)
			cm_problems_add_note(probs, fields[i].name, bad->code,
			    bad->message, note);
		else if (value != NULL)
			json_object_set_new(out, fields[i].name, value);
	}
	metadata_limits(out, probs);
	/* The iteration API takes a non-const object; it only reads. */
	json_object_foreach((json_t *)body, key, member)
		if (cm_field_lookup(key) == -1 && !pol->ignore_unknown)
			add_unknown(probs, key);
	if (cm_problems_count(probs) != before) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/*
 * Appends "." and seg to the path in buf (len bytes used), cutting seg at a
 * UTF-8 character boundary when it does not fit, so the field name stays
 * valid UTF-8 for the response.  Returns the new length.
 */
static size_t
path_append(char *buf, size_t len, const char *seg, size_t seglen)
{
	size_t	 room = CM_FIELD_NAME_MAX - 1 - len;

	if (room == 0) {
		buf[len] = '\0';
		return len;
	}
	buf[len++] = '.';
	room--;
	if (seglen > room) {
		seglen = room;
		while (seglen > 0 && ((unsigned char)seg[seglen] & 0xc0) == 0x80)
			seglen--;
	}
	memcpy(buf + len, seg, seglen);
	len += seglen;
	buf[len] = '\0';
	return len;
}

/*
 * Checks every object key under v, depth first in document order; names
 * the first bad one as "api_metadata.a.b".  Array elements are named by
 * their index.  Recursion is bounded: the depth was checked first.
 */
static bool
keys_ok(const json_t *v, const char *path, size_t plen,
    struct cm_problems *probs)
{
	const struct cm_verdict	*bad;
	char			 sub[CM_FIELD_NAME_MAX], num[24];
	const char		*key;
	json_t			*child;
	size_t			 i, klen, slen;

	if (json_is_object(v)) {
		/* The iteration API takes a non-const object; it only reads. */
		json_object_foreach((json_t *)v, key, child) {
			klen = strlen(key);
			memcpy(sub, path, plen);
			slen = path_append(sub, plen, key, klen);
			if ((bad = cm_check_metadata_key(key, klen)) != NULL) {
				add(probs, sub, bad);
				return false;
			}
			if (!keys_ok(child, sub, slen, probs))
				return false;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			snprintf(num, sizeof(num), "%zu", i);
			memcpy(sub, path, plen);
			slen = path_append(sub, plen, num, strlen(num));
			if (!keys_ok(child, sub, slen, probs))
				return false;
		}
	}
	return true;
}

bool
cm_client_check_metadata(const json_t *merged, struct cm_problems *probs)
{
	static const char	 top[] = "api_metadata";
	char			*s;
	size_t			 len;

	if (!json_is_object(merged)) {
		add(probs, top, &v_not_object);
		return false;
	}
	if (cm_json_depth(merged) > METADATA_MAX_DEPTH) {
		add(probs, top, &v_too_deep);
		return false;
	}
	if (!keys_ok(merged, top, sizeof(top) - 1, probs))
		return false;
	/* Measured as stored.  Failing to serialise fails closed. */
	s = cm_json_compact(merged);
	len = s == NULL ? SIZE_MAX : strlen(s);
	free(s);
	if (len > METADATA_MAX_BYTES) {
		add(probs, top, &v_too_large);
		return false;
	}
	return true;
}
