/*
 * webhook.c - webhook endpoints' members and ids (webhook.h).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "event.h"
#include "mem.h"
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

/* ---- deliveries ------------------------------------------------------ */

int
cm_webhook_sign(const char *secret, long long t, const char *body,
    size_t len, char out[CM_WEBHOOK_SIG_HEX])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned	 maclen = 0;
	char		 ts[24], *msg;
	int		 n = snprintf(ts, sizeof(ts), "%lld.", t);
	bool		 ok;

	/* The message is "<t>.<body>"; one-shot HMAC() wants it whole. */
	msg = cm_malloc((size_t)n + len + 1);
	memcpy(msg, ts, (size_t)n);
	memcpy(msg + n, body, len);
	ok = HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)msg, (size_t)n + len, mac, &maclen) !=
	    NULL && maclen == 32;
	free(msg);
	if (!ok)
		return -1;
	cm_hex_encode(mac, 32, out);
	return 0;
}

int
cm_webhook_signature_header(const char *secret, const char *previous,
    long long t, const char *body, size_t len, char *out, size_t sz)
{
	char	cur[CM_WEBHOOK_SIG_HEX], prev[CM_WEBHOOK_SIG_HEX];
	int	n;

	if (cm_webhook_sign(secret, t, body, len, cur) != 0 ||
	    (previous != NULL && cm_webhook_sign(previous, t, body, len,
	    prev) != 0))
		return -1;
	n = previous != NULL ?
	    snprintf(out, sz, "t=%lld,v1=%s,v1=%s", t, cur, prev) :
	    snprintf(out, sz, "t=%lld,v1=%s", t, cur);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

long long
cm_webhook_backoff_ms(unsigned n, long long min_ms, long long max_ms,
    unsigned r)
{
	long long	wait = min_ms;

	while (n-- > 1 && wait < max_ms)
		wait *= 2;
	if (wait > max_ms)
		wait = max_ms;
	/* The lower half is kept, the upper half drawn. */
	return wait / 2 + (long long)(r % (unsigned)(wait / 2 + 1));
}

/* a.b.c.d in host order against net/bits. */
static bool
v4_in(uint32_t a, uint32_t net, unsigned bits)
{
	return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
}

static bool
v4_allowed(uint32_t a, bool allow_private)
{
	if (v4_in(a, 0x00000000, 8) || v4_in(a, 0xe0000000, 4) ||
	    v4_in(a, 0xf0000000, 4))	/* this network, multicast, reserved */
		return false;
	if (v4_in(a, 0x7f000000, 8) || v4_in(a, 0x0a000000, 8) ||
	    v4_in(a, 0xac100000, 12) || v4_in(a, 0xc0a80000, 16) ||
	    v4_in(a, 0xa9fe0000, 16) || v4_in(a, 0x64400000, 10))
		return allow_private;
	return true;
}

bool
cm_webhook_addr_allowed(const struct sockaddr *addr, bool allow_private)
{
	const struct sockaddr_in	*in4;
	const struct sockaddr_in6	*in6;
	const unsigned char		*b;
	uint32_t			 a;

	if (addr->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)(const void *)addr;
		return v4_allowed(ntohl(in4->sin_addr.s_addr), allow_private);
	}
	if (addr->sa_family != AF_INET6)
		return false;
	in6 = (const struct sockaddr_in6 *)(const void *)addr;
	b = in6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		    (uint32_t)b[14] << 8 | b[15];
		return v4_allowed(a, allow_private);
	}
	if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ||
	    IN6_IS_ADDR_MULTICAST(&in6->sin6_addr))
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
	    IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ||
	    (b[0] & 0xfe) == 0xfc)	/* unique local fc00::/7 */
		return allow_private;
	return true;
}
