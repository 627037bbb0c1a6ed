/*
 * http.h - HTTP plumbing for a FastCGI responder: routing on the decoded
 * request path, query parameters, request headers, and rendering the JSON
 * envelope with its status line and headers.
 *
 * Nothing here touches the network or the FastCGI library: the app reads
 * the CGI environment into a struct cm_request and writes out what
 * cm_response_render() returns, which keeps this module unit-testable.
 */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "precondition.h"
#include "problems.h"

#define CM_ID_MAX	  255
#define CM_REQUEST_ID_MAX 128
/* CONTENT_LENGTH "-1": a body of unknown length, delimited by its stream. */
#define CM_LENGTH_UNKNOWN (-1LL)

/* Borrowed views of the CGI environment of one request. */
struct cm_request {
	const char	*method;
	const char	*uri;		/* REQUEST_URI: raw path + "?query" */
	const char	*query;		/* raw, without '?', never NULL */
	const char	*content_type;	/* NULL when absent */
	const char	*authorization;
	const char	*if_match;
	const char	*idempotency_key;	/* NULL when absent */
	/* Idempotency-Key headers sent: a server may pass each, or join them
	 * with ", " (which a key cannot hold: no spaces). */
	int		 idempotency_keys;
	long long	 content_length;	/* 0 when absent, CM_LENGTH_UNKNOWN for -1 */
	char		 request_id[CM_REQUEST_ID_MAX + 1];
};

/*
 * Whether path (up to '?' or '#') matches pattern, segment by segment,
 * each segment of path percent-decoded on its own; "{id}" in pattern
 * matches any one segment, decoded into param (paramsz bytes): *param_ok
 * says whether it decoded and fit.  Neither may have a trailing part the
 * other lacks ("/a/" is "/a" plus an empty segment).
 */
bool	cm_path_match(const char *path, const char *pattern, char *param,
	    size_t paramsz, bool *param_ok);
/* Decodes %XX; '+' is kept.  Returns the length or -1 (bad escape, NUL, too long). */
long	cm_percent_decode(const char *in, size_t len, char *out, size_t outsz);
/*
 * Finds the first name=value pair of a raw query string and decodes the
 * value ('+' as space).  Returns 1 found, 0 absent, -1 undecodable/too long.
 */
int	cm_query_get(const char *query, const char *name, char *out, size_t outsz);
/* True when the media type (before ';') equals mime, case-insensitively, and a charset parameter, if any, is utf-8. */
bool	cm_content_type_is(const char *ct, const char *mime);
/* Uses the X-Request-Id value when valid, else generates 32 hex chars. */
void	cm_request_id_set(struct cm_request *, const char *header);
/*
 * RFC 9110 If-Match into *out: "*", or the list of entity-tags (compared
 * strongly later: a weak one never matches).  -1 when it lists more than
 * CM_PRECONDITION_TAGS of them (a 400), else 0.
 */
int	cm_if_match_parse(const char *header, struct cm_precondition *out);
/*
 * RFC 9110 If-None-Match: true when header is "*" or lists etag, compared
 * weakly (a W/ prefix on either side is ignored).  etag is a strong tag.
 */
bool	cm_if_none_match(const char *header, const char *etag);

struct cm_response {
	int	 status;
	json_t	*body;		/* owned; the whole envelope */
	char	*headers;	/* owned; extra "Name: value\r\n" lines, or NULL */
	size_t	 hlen, hcap;
	char	*text;		/* owned; a non-JSON body (OpenMetrics) */
	const char *text_type;	/* its Content-Type (a static string) */
	const char *raw;	/* borrowed, outlives the response: sent as */
	size_t	 rawlen;	/* the body instead of body when not NULL */
};

void	 cm_response_init(struct cm_response *);
void	 cm_response_clear(struct cm_response *);
void	 cm_response_header(struct cm_response *, const char *name,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* {"success":false,"data":null,"error":...,"count":0[,"details":[...]]} */
void	 cm_response_error(struct cm_response *, int status, const char *error,
	    const struct cm_problems *);
/*
 * {"success":true,"data":data} as a new object; steals data.  What
 * cm_response_data() sends, and what an Idempotency-Key answer stores.
 */
json_t	*cm_envelope_data(json_t *data);
/* {"success":true,"data":data}; steals the reference to data. */
void	 cm_response_data(struct cm_response *, int status, json_t *data);
/* {"success":true,"data":[...],"count":count}; steals items. */
void	 cm_response_list(struct cm_response *, json_t *items,
	    unsigned long long count);
/*
 * Appends {"field": field (NULL: null), "code": code, "message": message}
 * to the details of an error set by cm_response_error(); copies the strings.
 */
void	 cm_response_detail(struct cm_response *, const char *field,
	    const char *code, const char *message);
/* A body of len bytes that is already JSON (borrowed, e.g. static data). */
void	 cm_response_raw(struct cm_response *, int status, const char *raw,
	    size_t len);
/*
 * A page of a paged list: {"success":true,"data":[...],"count":N|null,
 * "next":"cursor"|null}; count NULL and next NULL or "" write null.
 * Steals items.
 */
void	 cm_response_page(struct cm_response *, json_t *items,
	    const unsigned long long *count, const char *next);
/* Any other body (e.g. DELETE's); steals it. */
void	 cm_response_body(struct cm_response *, int status, json_t *body);
/* A non-JSON body of type ctype (static); steals text (malloc'ed). */
void	 cm_response_text(struct cm_response *, int status, const char *ctype,
	    char *text);
/*
 * The whole CGI response: "Status:" (left out for 200, the CGI default),
 * Content-Type, Cache-Control, X-Request-Id, the extra headers, a blank line and (unless head) the body.
 * Returns malloc'ed bytes (caller frees) and their length in *len.
 */
char	*cm_response_render(const struct cm_response *, const char *request_id,
	    bool head, size_t *len);
const char *cm_status_text(int status);

/*
 * Extracts the token from an Authorization header value: the scheme
 * "Bearer" matched case-insensitively, one or more spaces, then a token of
 * printable non-space ASCII and nothing after it.  Returns the token's
 * length and sets *tok, or 0 when the header is not a Bearer credential.
 */
size_t	cm_bearer_token(const char *header, const char **tok);

#endif
