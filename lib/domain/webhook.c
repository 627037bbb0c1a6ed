/*
 * webhook.c - webhook endpoints' members and ids (webhook.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "random.h"
#include "validate.h"
#include "webhook.h"

/* The members a caller sends, in the order problems are reported. */
static const char *const writable[] = {
	"url", "event_types", "agency_id", "enabled", "description"
};
/* The members the service sets; sending one is read_only_field. */
static const char *const read_only[] = {
	"id", "secret", "previous_secret_expires_at", "created_at", "updated_at"
};

#define N_WRITABLE	(sizeof(writable) / sizeof(writable[0]))
#define N_READ_ONLY	(sizeof(read_only) / sizeof(read_only[0]))
#define DESCRIPTION_MAX	500

static bool
in(const char *name, const char *const *list, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/*
 * url: an absolute URL as the website rule has it, ASCII only (a
 * receiver's URL goes to the HTTP client as it is: percent-encode the
 * rest), no fragment (never sent), https unless the operator allows http.
 */
static void
check_url(const json_t *v, const struct cm_webhook_policy *pol,
    struct cm_problems *probs)
{
	const char	*s = json_string_value(v);
	size_t		 i, len;

	if (s == NULL) {
		cm_problems_add(probs, "url", "invalid_type", "must be a string");
		return;
	}
	len = json_string_length(v);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] > 0x7e || s[i] == '#')
			break;
	if (i < len || cm_check_website(s, len) != NULL)
		cm_problems_add(probs, "url", "invalid_url", "must be an "
		    "absolute https URL with a host, at most 2048 ASCII "
		    "characters, without spaces, user info or a fragment");
	else if (!pol->allow_http && strncasecmp(s, "https://", 8) != 0)
		cm_problems_add(probs, "url", "invalid_url", "must use https "
		    "(http is allowed only where the operator set [webhooks] "
		    "allow_http)");
}

/* event_types: a non-empty array of distinct event types, as SET text. */
static void
check_types(const json_t *v, json_t *out, struct cm_problems *probs)
{
	char		 set[CM_WEBHOOK_TYPES_MAX] = "";
	const char	*t;
	unsigned	 seen = 0;
	size_t		 i, k, n = 0;
	json_t		*e;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		cm_problems_add(probs, "event_types", "invalid_type", "must be "
		    "a non-empty array of event types");
		return;
	}
	json_array_foreach(v, i, e) {
		t = json_string_value(e);
		for (k = 0; k < CM_EVENT_TYPE_COUNT; k++)
			if (t != NULL && strcmp(t, cm_event_type_at(k)) == 0)
				break;
		if (k == CM_EVENT_TYPE_COUNT || (seen & 1u << k)) {
			cm_problems_add(probs, "event_types", "invalid_value",
			    "must hold each of client.created, client.updated, "
			    "client.deleted, client.keys_rotated, "
			    "client.erased at most once");
			return;
		}
		seen |= 1u << k;
	}
	for (k = 0; k < CM_EVENT_TYPE_COUNT; k++)
		if (seen & 1u << k)
			n += (size_t)snprintf(set + n, sizeof(set) - n, "%s%s",
			    n ? "," : "", cm_event_type_at(k));
	json_object_set_new(out, "event_types", json_string(set));
}

/* agency_id: the id rule, or null (every agency's events). */
static void
check_agency(const json_t *v, struct cm_problems *probs)
{
	const struct cm_verdict	*bad;

	if (json_is_null(v))
		return;
	if (!json_is_string(v))
		cm_problems_add(probs, "agency_id", "invalid_type",
		    "must be a string or null");
	else if ((bad = cm_check_token(json_string_value(v),
	    json_string_length(v))) != NULL)
		cm_problems_add(probs, "agency_id", bad->code, bad->message);
}

static void
check_description(const json_t *v, struct cm_problems *probs)
{
	const char	*s = json_string_value(v);
	size_t		 i, n = 0;

	if (json_is_null(v))
		return;
	if (s == NULL) {
		cm_problems_add(probs, "description", "invalid_type",
		    "must be a string or null");
		return;
	}
	/* Code points, not bytes: the column is VARCHAR(500) of utf8mb4. */
	for (i = 0; s[i] != '\0'; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	if (n > DESCRIPTION_MAX)
		cm_problems_add(probs, "description", "invalid_length",
		    "must be at most 500 characters");
}

/* Unknown and read-only members, in body order. */
static void
check_others(const json_t *body, bool ignore, struct cm_problems *probs)
{
	const char	*name;
	json_t		*v;

	json_object_foreach((json_t *)body, name, v) {
		if (in(name, writable, N_WRITABLE))
			continue;
		if (in(name, read_only, N_READ_ONLY))
			cm_problems_add(probs, name, "read_only_field",
			    "must not be sent: the service sets it");
		else if (!ignore)
			cm_problems_add(probs, name, "unknown_field",
			    "must not be sent: not a member of a webhook "
			    "endpoint");
	}
}

json_t *
cm_webhook_check_input(const json_t *body, enum cm_input_mode mode,
    const struct cm_webhook_policy *pol, struct cm_problems *probs)
{
	json_t	*out = json_object(), *v;
	size_t	 i;

	for (i = 0; i < N_WRITABLE; i++) {
		v = json_object_get(body, writable[i]);
		if (v == NULL) {
			if (mode == CM_INPUT_CREATE && i < 2)
				cm_problems_add(probs, writable[i], "required",
				    "must be sent to create an endpoint");
			continue;
		}
		if (i == 0)
			check_url(v, pol, probs);
		else if (i == 1)
			check_types(v, out, probs);
		else if (i == 2)
			check_agency(v, probs);
		else if (i == 3 && !json_is_boolean(v))
			cm_problems_add(probs, "enabled", "invalid_type",
			    "must be true or false");
		else if (i == 4)
			check_description(v, probs);
		if (i != 1)
			json_object_set(out, writable[i], v);
	}
	check_others(body, pol->ignore_unknown, probs);
	if (mode == CM_INPUT_CREATE && json_object_get(out, "enabled") == NULL)
		json_object_set_new(out, "enabled", json_true());
	if (cm_problems_count(probs) > 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

bool
cm_webhook_types_have(const char *set_text, const char *type)
{
	size_t		 n = strlen(type);
	const char	*p = set_text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, type, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
		if ((p = strchr(p, ',')) != NULL)
			p++;
	}
	return false;
}

json_t *
cm_webhook_types_array(const char *set_text)
{
	json_t	*a = json_array();
	size_t	 k;

	for (k = 0; k < CM_EVENT_TYPE_COUNT; k++)
		if (cm_webhook_types_have(set_text, cm_event_type_at(k)))
			json_array_append_new(a, json_string(cm_event_type_at(k)));
	return a;
}

void
cm_webhook_secret(const unsigned char raw[32], char *out)
{
	memcpy(out, "whsec_", 6);
	cm_hex_encode(raw, 32, out + 6);
}

void
cm_webhook_id(unsigned long long n, char *out, size_t sz)
{
	snprintf(out, sz, "we_%llu", n);
}

int
cm_webhook_id_parse(const char *text, unsigned long long *n)
{
	char	*end;
	size_t	 len;

	if (strncmp(text, "we_", 3) != 0 || text[3] < '1' || text[3] > '9' ||
	    (len = strlen(text + 3)) > 19)
		return -1;
	/* 19 digits always fit in 64 bits. */
	*n = strtoull(text + 3, &end, 10);
	return *end == '\0' ? 0 : -1;
}

bool
cm_webhook_check_rotate(const json_t *body, bool ignore_unknown,
    int *overlap_s, struct cm_problems *probs)
{
	const char	*name;
	json_t		*v;

	*overlap_s = CM_WEBHOOK_OVERLAP_DEFAULT;
	if (body == NULL)
		return true;
	json_object_foreach((json_t *)body, name, v) {
		if (strcmp(name, "overlap_s") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > CM_WEBHOOK_OVERLAP_MAX)
				cm_problems_add(probs, name, "invalid_value",
				    "must be an integer from 0 to 604800 "
				    "(seconds: up to 7 days)");
			else
				*overlap_s = (int)json_integer_value(v);
		} else if (!ignore_unknown)
			cm_problems_add(probs, name, "unknown_field",
			    "must not be sent: a rotate-secret body has only "
			    "\"overlap_s\"");
	}
	return cm_problems_count(probs) == 0;
}
