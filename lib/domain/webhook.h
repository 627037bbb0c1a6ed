/*
 * webhook.h - webhook endpoints: what a caller may set on one, and how it
 * is written and shown.  Pure: no I/O (the secret's bytes come from the
 * caller's random source through cm_webhook_secret()).
 *
 * An endpoint has a URL (https; http only where the operator allows it),
 * the event types it wants (a non-empty set of event.h's types), an
 * optional agency (then only that agency's events), whether it is
 * enabled, a description, and a signing secret that is shown once.
 */
#ifndef CM_WEBHOOK_H
#define CM_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "client.h"
#include "problems.h"

/* "whsec_" + 64 lowercase hex (32 bytes from getrandom()), and its NUL. */
#define CM_WEBHOOK_SECRET_LEN	70
/* The event types as the SET column spells them, comma-separated. */
#define CM_WEBHOOK_TYPES_MAX	96
/* "we_" and a 64-bit number, and its NUL. */
#define CM_WEBHOOK_ID_MAX	24
/* After a rotation, how long the previous secret stays valid (seconds). */
#define CM_WEBHOOK_OVERLAP_DEFAULT	86400
#define CM_WEBHOOK_OVERLAP_MAX		604800

/* What the input check needs of the configuration. */
struct cm_webhook_policy {
	bool	ignore_unknown;		/* [api] unknown_fields = ignore */
	bool	allow_http;		/* [webhooks] allow_http */
};

/*
 * Checks a request body (a JSON object) for an endpoint: url, event_types,
 * agency_id, enabled, description, in that order, then unknown and
 * read-only members.  Every problem goes into probs.  On success returns
 * a new object of the members sent, normalised: event_types as the SET
 * text ("client.created,client.deleted", in the types' order); on create,
 * url and event_types are required and enabled defaults to true.  NULL
 * when there were problems.  An object with no member is returned empty
 * (the caller answers "No valid fields provided").
 */
json_t	*cm_webhook_check_input(const json_t *body, enum cm_input_mode,
	    const struct cm_webhook_policy *, struct cm_problems *probs);
/* The SET text of the types as a JSON array, in the types' order. */
json_t	*cm_webhook_types_array(const char *set_text);
/* Whether the SET text holds type. */
bool	 cm_webhook_types_have(const char *set_text, const char *type);
/* "whsec_" + 64 hex of the 32 bytes in raw, into out (CM_WEBHOOK_SECRET_LEN). */
void	 cm_webhook_secret(const unsigned char raw[32], char *out);
/* "we_<n>" into out (CM_WEBHOOK_ID_MAX). */
void	 cm_webhook_id(unsigned long long n, char *out, size_t sz);
/*
 * The number of an endpoint id ("we_" and 1 to 19 digits, no leading
 * zero): 0, or -1 when text is not one (no such endpoint can exist).
 */
int	 cm_webhook_id_parse(const char *text, unsigned long long *n);
/*
 * The optional rotate-secret body {"overlap_s": 0..604800}: the overlap
 * (CM_WEBHOOK_OVERLAP_DEFAULT when body is NULL or lacks it) into
 * *overlap_s; false with the problems in probs.
 */
bool	 cm_webhook_check_rotate(const json_t *body, bool ignore_unknown,
	    int *overlap_s, struct cm_problems *probs);

/* ---- deliveries ------------------------------------------------------ */

/* One "v1=" signature: 64 hex digits of HMAC-SHA256, and its NUL. */
#define CM_WEBHOOK_SIG_HEX	65

/*
 * The v1 signature of a delivery: hex HMAC-SHA256, keyed by the secret
 * (the whole "whsec_..." text), of "<t>.<body>".  0, or -1 when HMAC
 * fails.
 */
int	 cm_webhook_sign(const char *secret, long long t, const char *body,
	    size_t len, char out[CM_WEBHOOK_SIG_HEX]);
/*
 * The signature header's value, "t=<t>,v1=<hex>" and, while a rotation's
 * overlap lasts (previous not NULL), ",v1=<hex>" made with the previous
 * secret, into out.  0, or -1 when out is too small or HMAC fails.
 */
int	 cm_webhook_signature_header(const char *secret, const char *previous,
	    long long t, const char *body, size_t len, char *out, size_t sz);
/*
 * The wait before attempt n + 1 after n failed ones (n >= 1), in ms:
 * min_ms doubled per attempt, at most max_ms, of which the upper half is
 * jitter chosen by r (a random 32-bit number): receivers coming back are
 * not all hit at once.
 */
long long cm_webhook_backoff_ms(unsigned n, long long min_ms, long long max_ms,
	    unsigned r);

struct sockaddr;
/*
 * Whether a delivery may connect to addr: never to an unspecified,
 * multicast or broadcast address; to loopback, private (RFC 1918, unique
 * local fc00::/7, carrier-grade NAT 100.64/10) and link-local addresses
 * (the cloud metadata service at 169.254.169.254 among them), and to
 * IPv4-mapped forms of those, only with allow_private.
 */
bool	 cm_webhook_addr_allowed(const struct sockaddr *addr,
	    bool allow_private);

#endif
