/*
 * handlers.c - the life of one request: reading the CGI environment,
 * authentication, routing to an endpoint (endpoints.c), mapping results
 * to statuses, the reply and its log line.  The order of checks is part
 * of the contract: authentication, route, method, id, the key's scope,
 * Content-Type, size, JSON, fields, a bound key's agency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "deadline.h"
#include "scope.h"
#include "http.h"
#include "random.h"
#include "json.h"
#include "log.h"
#include "call.h"
#include "handlers.h"
#include "scoreboard.h"

/* Deep enough for any body whose api_metadata can pass its own depth limit. */
#define BODY_MAX_DEPTH	64

static const char *
param(struct call *c, const char *name)
{
	return FCGX_GetParam(name, c->fcgi->envp);
}

/*
 * How many Idempotency-Key headers came: nginx passes each as its own
 * parameter, Apache, lighttpd and Caddy join them with ", ".
 */
static int
count_idempotency_keys(struct call *c)
{
	static const char	 name[] = "HTTP_IDEMPOTENCY_KEY=";
	char			**e;
	const char		*p;
	int			 n = 0;

	for (e = c->fcgi->envp; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, name, sizeof(name) - 1) != 0)
			continue;
		n++;
		for (p = *e + sizeof(name) - 1; (p = strstr(p, ", ")) != NULL;
		    p += 2)
			n++;
	}
	return n;
}

static void
read_request(struct call *c)
{
	const char	*uri = param(c, "REQUEST_URI");
	const char	*len = param(c, "CONTENT_LENGTH");
	const char	*query = param(c, "QUERY_STRING");

	c->req.method = param(c, "REQUEST_METHOD");
	if (c->req.method == NULL)
		c->req.method = "GET";
	c->req.uri = uri ? uri : "/";
	c->req.query = query ? query : "";
	c->req.content_type = param(c, "CONTENT_TYPE");
	if (c->req.content_type != NULL && c->req.content_type[0] == '\0')
		c->req.content_type = NULL;
	c->req.authorization = param(c, "HTTP_AUTHORIZATION");
	/* mod_fcgid's FcgidPassHeader can pass an absent header as "". */
	if (c->req.authorization != NULL && c->req.authorization[0] == '\0')
		c->req.authorization = NULL;
	c->req.if_match = param(c, "HTTP_IF_MATCH");
	c->req.idempotency_key = param(c, "HTTP_IDEMPOTENCY_KEY");
	c->req.idempotency_keys = c->req.idempotency_key == NULL ? 0 :
	    count_idempotency_keys(c);
	c->req.content_length = len ? strtoll(len, NULL, 10) : 0;
	/*
	 * Caddy's FastCGI transport invents "application/x-www-form-urlencoded"
	 * for a POST, PATCH or DELETE that has no Content-Type, even without a
	 * body; such a bodiless request is taken as having none, as it does
	 * behind every other server.
	 */
	if (c->req.content_length == 0 && c->req.content_type != NULL &&
	    strcmp(c->req.content_type, "application/x-www-form-urlencoded") == 0)
		c->req.content_type = NULL;
	cm_request_id_set(&c->req, param(c, "HTTP_X_REQUEST_ID"));
	route_find(c->req.method, c->req.uri, &c->route);
}

static bool
method_is(const struct call *c, const char *m)
{
	return strcmp(c->req.method, m) == 0;
}

void
call_unavailable(struct call *c)
{
	cm_response_error(&c->res, 503, "Service unavailable", NULL);
	cm_response_header(&c->res, "Retry-After", "%d", c->w->cfg->retry_after);
}

/*
 * 412 tells the client the current ETag, so it can retry without a GET:
 * the one of the row the write locked, when the data layer gave it, else
 * read now (a write landing in between makes it stale, which the next
 * If-Match says).  None when the client does not exist.
 */
static void
precondition_failed(struct call *c, const struct cm_stored *locked)
{
	struct cm_stored	st;

	cm_response_error(&c->res, 412, "Precondition failed", NULL);
	cm_response_detail(&c->res, NULL, "precondition_failed", "must match "
	    "the client's current ETag, sent in this answer's ETag header");
	if (locked != NULL && locked->etag[0] != '\0')
		cm_response_header(&c->res, "ETag", "%s", locked->etag);
	else if (c->route.id_valid && route_is_client(c->route.route) &&
	    cm_db_get(c->w->db, c->route.id, call_within(c), &st) == CM_DB_OK) {
		cm_response_header(&c->res, "ETag", "%s", st.etag);
		json_decref(st.client);
	}
}

void
call_store_error(struct call *c, enum cm_db_status rc,
    const struct cm_problems *probs, const struct cm_stored *st)
{
	switch (rc) {
	case CM_DB_NOT_FOUND:
		cm_response_error(&c->res, 404, "Client not found", NULL);
		break;
	case CM_DB_CONFLICT:
		cm_response_error(&c->res, 409, "Conflict", probs);
		break;
	case CM_DB_PRECONDITION_FAILED:
		precondition_failed(c, st);
		break;
	case CM_DB_INVALID:
		cm_response_error(&c->res, 400, "Validation failed", probs);
		break;
	case CM_DB_UNAVAILABLE:
		call_unavailable(c);
		if (cm_db_outcome_unknown(c->w->db))
			cm_response_detail(&c->res, NULL, "outcome_unknown",
			    "must be settled before the write is sent again: it "
			    "may have been made (the database did not say in "
			    "time); a retry with the same Idempotency-Key "
			    "answers what happened, else read the resource "
			    "first");
		break;
	case CM_DB_IDEM_BUSY:
		call_idem_conflict(c);
		break;
	default:
		cm_response_error(&c->res, 500, "Internal server error", NULL);
		break;
	}
}

/*
 * 401 with the challenge; an expired key is told why (a key unknown or
 * revoked is not: that would tell a guesser which hashes exist).
 */
static void
unauthorized(struct call *c, bool expired)
{
	cm_response_error(&c->res, 401, "Unauthorized", NULL);
	cm_response_header(&c->res, "WWW-Authenticate", "Bearer realm=\"admin\"");
	if (expired)
		cm_response_detail(&c->res, NULL, "key_expired", "must use an "
		    "admin key that has not expired: this one has (an operator "
		    "can set a later expiry or make a new key)");
}

/*
 * The admin key comes from "Authorization: Bearer" or, when allowed and no
 * Authorization header was sent, from ?admin_key=.  Returns true when the
 * request may go on; otherwise the response is set.
 */
static bool
authenticate(struct call *c)
{
	char			 query_key[256], hash[CM_SHA256_HEX_LEN + 1];
	const char		*tok = NULL;
	size_t			 len = 0;
	enum cm_db_status	 rc = CM_DB_NOT_FOUND;

	if (c->req.authorization != NULL)
		len = cm_bearer_token(c->req.authorization, &tok);
	else if (c->w->cfg->admin_key_query &&
	    cm_query_get(c->req.query, "admin_key", query_key,
	    sizeof(query_key)) == 1) {
		tok = query_key;
		len = strlen(query_key);
	}
	if (len > 0 && cm_sha256_hex(tok, len, hash) != 0)
		rc = CM_DB_FAILED;
	else if (len > 0)
		rc = cm_db_admin_key(c->w->db, hash, &c->key);
	explicit_bzero(query_key, sizeof(query_key));
	if (rc == CM_DB_OK)
		return true;
	if (rc == CM_DB_NOT_FOUND || rc == CM_DB_EXPIRED)
		unauthorized(c, rc == CM_DB_EXPIRED);
	else
		call_store_error(c, rc, NULL, NULL);
	return false;
}

const char *
call_within(const struct call *c)
{
	return c->key.agency_id[0] != '\0' ? c->key.agency_id : NULL;
}

struct cm_write
call_writer(const struct call *c)
{
	struct cm_write	w = { c->req.request_id, c->key.id,
			    c->has_precondition ? &c->precondition : NULL,
			    NULL, call_within(c) };

	return w;
}

/*
 * Asked before anything of the request is read or looked up: the answer
 * is the same whether the client exists or not, so a key learns nothing
 * of clients it may not touch.
 */
bool
call_scope(struct call *c, unsigned scope)
{
	char	msg[96];

	if ((c->key.scopes & scope) == scope)
		return true;
	snprintf(msg, sizeof(msg), "must use a key with the scope %s",
	    cm_scope_name(scope) ? cm_scope_name(scope) : "?");
	cm_response_error(&c->res, 403, "Forbidden", NULL);
	cm_response_detail(&c->res, NULL, "missing_scope", msg);
	return false;
}

bool
call_agency_allowed(struct call *c, json_t *input, bool create)
{
	const char	*within = call_within(c);
	json_t		*v;
	char		 msg[CM_AGENCY_MAX + 96];

	if (within == NULL)
		return true;
	if ((v = json_object_get(input, "agency_id")) == NULL) {
		if (create)
			json_object_set_new(input, "agency_id",
			    json_string(within));
		return true;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), within) == 0)
		return true;
	snprintf(msg, sizeof(msg), "must be %s or left out: this key is bound "
	    "to that agency and writes only its clients", within);
	cm_response_error(&c->res, 403, "Forbidden", NULL);
	cm_response_detail(&c->res, "agency_id", "agency_not_allowed", msg);
	return false;
}

/*
 * If-Match, parsed once for the write that evaluates it; false (400
 * naming the header) when it lists more entity-tags than any client
 * could need.
 */
static bool
read_precondition(struct call *c)
{
	if (c->req.if_match == NULL)
		return true;
	c->has_precondition = true;
	if (cm_if_match_parse(c->req.if_match, &c->precondition) == 0)
		return true;
	cm_response_error(&c->res, 400, "Bad request", NULL);
	cm_response_detail(&c->res, "If-Match", "invalid_value", "must list "
	    "at most 32 entity-tags");
	return false;
}

/*
 * Checks Content-Type and size and reads the body into w->body: its
 * length, or -1 with the response set (415, 413, 400 cut short).  A
 * request without a body answers 0 and sets *empty (when empty is not
 * NULL); it needs no Content-Type.
 */
static long
read_body(struct call *c, bool merge_patch_ok, bool *empty)
{
	size_t	 limit = c->w->cfg->body_limit;
	int	 n;

	if (empty != NULL && (*empty = c->req.content_length == 0 &&
	    c->req.content_type == NULL))
		return 0;
	if (!cm_content_type_is(c->req.content_type, "application/json") &&
	    !(merge_patch_ok && cm_content_type_is(c->req.content_type,
	    "application/merge-patch+json"))) {
		cm_response_error(&c->res, 415, "Unsupported media type", NULL);
		cm_response_detail(&c->res, NULL, "unsupported_media_type",
		    merge_patch_ok ? "must be sent with Content-Type "
		    "application/json or application/merge-patch+json" :
		    "must be sent with Content-Type application/json");
		if (merge_patch_ok)
			cm_response_header(&c->res, "Accept-Patch",
			    "application/json, application/merge-patch+json");
		return -1;
	}
	if (c->req.content_length > (long long)limit) {
		cm_response_error(&c->res, 413, "Payload too large", NULL);
		return -1;
	}
	n = FCGX_GetStr(c->w->body, (int)limit + 1, c->fcgi->in);
	if (n > (int)limit) {
		cm_response_error(&c->res, 413, "Payload too large", NULL);
		return -1;
	}
	/*
	 * A body cut short (or a stream that failed) is never parsed.
	 * CONTENT_LENGTH -1 (Caddy's FastCGI transport, for a chunked body)
	 * says "unknown": FastCGI frames the stream with an empty record, so
	 * its end is the body's end, bounded by the cap above; a connection
	 * lost before that record is a stream error (libfcgi).
	 */
	if (FCGX_GetError(c->fcgi->in) != 0 ||
	    (c->req.content_length != CM_LENGTH_UNKNOWN &&
	    n != c->req.content_length)) {
		LOG_WARN("request id=%s: read %d of %lld body bytes "
		    "(CONTENT_LENGTH), stream error %d: not parsed",
		    c->req.request_id, n, c->req.content_length,
		    FCGX_GetError(c->fcgi->in));
		cm_response_error(&c->res, 400, "Bad request", NULL);
		return -1;
	}
	if (n == 0 && empty != NULL)
		*empty = true;
	return n;
}

/*
 * Reads the body and, with an Idempotency-Key, takes the key or answers
 * from it (idempotent.c: the fingerprint needs the bytes read, so it comes
 * after the size checks and before the JSON ones), then parses it.
 * Valid JSON that Jansson cannot hold still parses (a number out of
 * range, nesting too deep: the members are named later); what does not
 * is parsed again only to say where and why.
 */
json_t *
call_body(struct call *c, bool merge_patch_ok, bool *empty)
{
	json_t	*body;
	char	 why[256];
	long	 n;

	if ((n = read_body(c, merge_patch_ok, empty)) < 0)
		return NULL;
	if (!call_idem_begin(c, c->w->body, (size_t)n)) {
		if (empty != NULL)
			*empty = false;	/* answered: the caller stops */
		return NULL;
	}
	if (empty != NULL && *empty)
		return NULL;
	body = n > 0 ? cm_json_parse_body(c->w->body, (size_t)n,
	    BODY_MAX_DEPTH) : NULL;
	if (body == NULL) {
		snprintf(why, sizeof(why), "must be one JSON object");
		json_decref(cm_json_parse_object_why(c->w->body,
		    n > 0 ? (size_t)n : 0, BODY_MAX_DEPTH, why, sizeof(why)));
		cm_response_error(&c->res, 400, "Invalid JSON", NULL);
		cm_response_detail(&c->res, NULL, "invalid_json", why);
	}
	return body;
}

json_t *
call_input_checked(struct call *c, json_t *input,
    const struct cm_problems *probs)
{
	if (input == NULL)
		cm_response_error(&c->res, 400, "Validation failed", probs);
	else if (json_object_size(input) == 0) {
		cm_response_error(&c->res, 400, "No valid fields provided", NULL);
		json_decref(input);
		input = NULL;
	}
	return input;
}

json_t *
call_client_input(struct call *c, enum cm_input_mode mode)
{
	struct cm_input_policy	 pol = {
		c->w->cfg->unknown_fields == CM_UNKNOWN_IGNORE, c->w->tzdb
	};
	struct cm_problems	 probs;
	json_t			*body, *input;

	if ((body = call_body(c, mode == CM_INPUT_PATCH, NULL)) == NULL)
		return NULL;
	cm_problems_init(&probs);
	input = cm_client_check_input(body, mode, &pol, &probs);
	json_decref(body);
	return call_input_checked(c, input, &probs);
}

void
call_reply_client(struct call *c, int status, struct cm_stored *st)
{
	cm_response_header(&c->res, "ETag", "%s", st->etag);
	cm_response_data(&c->res, status, st->client);
}

static void
not_allowed(struct call *c, unsigned methods)
{
	char	allow[64];

	route_allow(methods, allow, sizeof(allow));
	cm_response_error(&c->res, 405, "Method not allowed", NULL);
	cm_response_header(&c->res, "Allow", "%s", allow);
}

/*
 * The order of checks is the contract's: authentication (but for the
 * open routes), route, method, id, the key's scope, then the endpoint's
 * own.
 */
static void
dispatch(struct call *c)
{
	const struct route_match	*m = &c->route;

	if ((m->path == NULL || !m->path->open) && !authenticate(c))
		return;
	if (m->path == NULL) {
		cm_response_error(&c->res, 404, "Not found", NULL);
		return;
	}
	if (m->route == NULL)
		not_allowed(c, m->allowed);
	else if (route_has_id(m->route) && !m->id_valid) {
		cm_response_error(&c->res, 400, route_id_error(m->route), NULL);
		cm_response_detail(&c->res, "id", "invalid_format", "must match "
		    "^[a-zA-Z0-9_-]{1,255}$ after percent-decoding");
	} else if ((m->route->open || call_scope(c, m->route->scope)) &&
	    read_precondition(c))
		m->route->serve(c);
}

/*
 * A request that waited at the web server and in our listen queue past
 * its deadline (minus the margin for answering) gets 503 without
 * touching the database: its client, or the web server, has given up.
 */
static bool
too_late(struct call *c)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (cm_budget_ms(&c->w->deadline, &now) > 0)
		return false;
	LOG_WARN("request id=%s waited %lld ms before it reached a worker, past "
	    "request_timeout (%d s): 503 without touching the database",
	    c->req.request_id, c->w->waited_us / 1000,
	    c->w->cfg->request_timeout);
	return true;
}

static long long
elapsed_us(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000LL +
	    (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* The path for the log: up to '?' (never the admin_key), printable only. */
static void
loggable_path(const char *uri, char *out, size_t outsz)
{
	size_t	i, n = 0;

	for (i = 0; uri[i] != '\0' && uri[i] != '?' && n + 1 < outsz; i++)
		out[n++] = (uri[i] > 0x20 && uri[i] < 0x7f) ? uri[i] : '?';
	out[n] = '\0';
}

static const char *
client_addr(struct call *c)
{
	const char	*a = param(c, "REMOTE_ADDR");

	return a != NULL && a[0] != '\0' ? a : "-";
}

void
handle_request(struct worker *w, FCGX_Request *fcgi)
{
	struct call	 c;
	struct timespec	 t0;
	char		*out, path[256];
	size_t		 len = 0;
	struct cm_db_stats st;
	long long	 us;
	int		 slow;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.fcgi = fcgi;
	cm_response_init(&c.res);
	read_request(&c);
	loggable_path(c.req.uri, path, sizeof(path));
	if (w->sb != NULL)
		sb_request_start(w->sb, w->slot, c.req.request_id,
		    c.req.method, path);
	if (too_late(&c))
		call_unavailable(&c);
	else
		dispatch(&c);
	call_idem_finish(&c);
	out = cm_response_render(&c.res, c.req.request_id, method_is(&c, "HEAD"),
	    &len);
	if (out != NULL) {
		FCGX_PutStr(out, (int)len, fcgi->out);
		free(out);
	} else
		len = 0;
	us = elapsed_us(&t0);
	cm_db_stats_take(w->db, &st);
	/* One access line: no query string, no key, only the key's id. */
	LOG_INFO("request id=%s addr=%.64s key=%llu method=%.16s path=%s "
	    "status=%d bytes=%zu us=%lld db_us=%lld wait_us=%lld",
	    c.req.request_id, client_addr(&c), c.key.id, c.req.method,
	    path, c.res.status, len, us, st.db_us, w->waited_us);
	slow = w->cfg->slowlog_ms > 0 && us >= w->cfg->slowlog_ms * 1000LL;
	if (slow)
		LOG_WARN("slow request id=%s method=%.16s path=%s status=%d "
		    "us=%lld db_us=%lld statements=%u retries=%u (slowlog_ms "
		    "%d)", c.req.request_id, c.req.method, path, c.res.status,
		    us, st.db_us, st.statements, st.retries, w->cfg->slowlog_ms);
	if (w->sb != NULL)
		sb_request_end(w->sb, w->slot, us, slow);
	cm_response_clear(&c.res);
	free(c.replay);	/* after the response that borrowed it */
}
