/*
 * handlers.c - routing a request to its endpoint and mapping results to
 * statuses.  The order of checks is part of the contract: authentication,
 * route, method, id, Content-Type, size, JSON, fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "client.h"
#include "http.h"
#include "jsonbody.h"
#include "log.h"
#include "handlers.h"

/* Deep enough for any body whose api_metadata can pass its own depth limit. */
#define BODY_MAX_DEPTH	64

struct call {
	struct worker		*w;
	FCGX_Request		*fcgi;
	struct cm_request	 req;
	struct cm_route_match	 route;
	struct cm_response	 res;
	unsigned long long	 admin_key_id;
};

static const char *
param(struct call *c, const char *name)
{
	return FCGX_GetParam(name, c->fcgi->envp);
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
	c->req.if_match = param(c, "HTTP_IF_MATCH");
	c->req.content_length = len ? strtoll(len, NULL, 10) : 0;
	cm_request_id_set(&c->req, param(c, "HTTP_X_REQUEST_ID"));
	cm_route_match(c->req.uri, &c->route);
}

static bool
method_is(const struct call *c, const char *m)
{
	return strcmp(c->req.method, m) == 0;
}

static void
unavailable(struct call *c)
{
	cm_response_error(&c->res, 503, "Service unavailable", NULL);
	cm_response_header(&c->res, "Retry-After", "%d", c->w->cfg->retry_after);
}

/* Maps a data layer result that is not CM_STORE_OK. */
static void
store_error(struct call *c, int rc, const struct cm_problems *probs)
{
	switch (rc) {
	case CM_STORE_NOT_FOUND:
		cm_response_error(&c->res, 404, "Client not found", NULL);
		break;
	case CM_STORE_CONFLICT:
		cm_response_error(&c->res, 409, "Conflict", probs);
		break;
	case CM_STORE_PRECONDITION:
		cm_response_error(&c->res, 412, "Precondition failed", NULL);
		break;
	case CM_STORE_INVALID:
		cm_response_error(&c->res, 400, "Validation failed", probs);
		break;
	case CM_STORE_UNAVAILABLE:
		unavailable(c);
		break;
	default:
		cm_response_error(&c->res, 500, "Internal server error", NULL);
		break;
	}
}

/*
 * The admin key comes from "Authorization: Bearer" or, when allowed and no
 * Authorization header was sent, from ?admin_key=.  Returns true when the
 * request may go on; otherwise the response is set.
 */
static bool
authenticate(struct call *c)
{
	char		 query_key[256];
	const char	*tok = NULL;
	size_t		 len = 0;
	int		 rc;

	if (c->req.authorization != NULL)
		len = cm_bearer_token(c->req.authorization, &tok);
	else if (c->w->cfg->admin_key_query &&
	    cm_query_get(c->req.query, "admin_key", query_key,
	    sizeof(query_key)) == 1) {
		tok = query_key;
		len = strlen(query_key);
	}
	rc = len > 0 ? cm_store_admin_key(c->w->store, tok, len,
	    &c->admin_key_id) : CM_STORE_NOT_FOUND;
	explicit_bzero(query_key, sizeof(query_key));
	if (rc == CM_STORE_OK)
		return true;
	if (rc == CM_STORE_NOT_FOUND) {
		cm_response_error(&c->res, 401, "Unauthorized", NULL);
		cm_response_header(&c->res, "WWW-Authenticate",
		    "Bearer realm=\"admin\"");
	} else
		store_error(c, rc, NULL);
	return false;
}

/* Checks Content-Type and size, reads and parses the body. */
static json_t *
read_body(struct call *c, bool merge_patch_ok)
{
	size_t	 limit = c->w->cfg->body_limit;
	json_t	*body;
	int	 n;

	if (!cm_content_type_is(c->req.content_type, "application/json") &&
	    !(merge_patch_ok && cm_content_type_is(c->req.content_type,
	    "application/merge-patch+json"))) {
		cm_response_error(&c->res, 415, "Unsupported media type", NULL);
		if (merge_patch_ok)
			cm_response_header(&c->res, "Accept-Patch",
			    "application/json, application/merge-patch+json");
		return NULL;
	}
	if (c->req.content_length > (long long)limit) {
		cm_response_error(&c->res, 413, "Payload too large", NULL);
		return NULL;
	}
	n = FCGX_GetStr(c->w->body, (int)limit + 1, c->fcgi->in);
	if (n > (int)limit) {
		cm_response_error(&c->res, 413, "Payload too large", NULL);
		return NULL;
	}
	body = n > 0 ? cm_json_parse_object(c->w->body, (size_t)n,
	    BODY_MAX_DEPTH) : NULL;
	if (body == NULL)
		cm_response_error(&c->res, 400, "Invalid JSON", NULL);
	return body;
}

/* Body -> checked, normalised members; NULL when the response is set. */
static json_t *
checked_input(struct call *c, enum cm_input_mode mode)
{
	struct cm_input_policy	 pol = {
		c->w->cfg->unknown_fields == CM_UNKNOWN_IGNORE, c->w->tzdb
	};
	struct cm_problems	 probs;
	json_t			*body, *input;

	if ((body = read_body(c, mode == CM_INPUT_PATCH)) == NULL)
		return NULL;
	cm_problems_init(&probs);
	input = cm_client_check_input(body, mode, &pol, &probs);
	json_decref(body);
	if (input == NULL)
		cm_response_error(&c->res, 400, "Validation failed", &probs);
	else if (json_object_size(input) == 0) {
		cm_response_error(&c->res, 400, "No valid fields provided", NULL);
		json_decref(input);
		input = NULL;
	}
	return input;
}

static void
reply_client(struct call *c, int status, struct cm_stored *st)
{
	cm_response_header(&c->res, "ETag", "%s", st->etag);
	cm_response_data(&c->res, status, st->client);
}

static void
get_client(struct call *c)
{
	struct cm_stored	st;
	int			rc;

	if ((rc = cm_store_get(c->w->store, c->route.id, &st)) == CM_STORE_OK)
		reply_client(c, 200, &st);
	else
		store_error(c, rc, NULL);
}

static void
patch_client(struct call *c)
{
	struct cm_write		 w = { c->req.request_id, c->admin_key_id,
				     c->req.if_match };
	struct cm_problems	 probs;
	struct cm_stored	 st;
	json_t			*changes;
	int			 rc;

	if ((changes = checked_input(c, CM_INPUT_PATCH)) == NULL)
		return;
	cm_problems_init(&probs);
	rc = cm_store_patch(c->w->store, c->route.id, changes, &w, &st, &probs);
	json_decref(changes);
	if (rc == CM_STORE_OK)
		reply_client(c, 200, &st);
	else
		store_error(c, rc, &probs);
}

static void
create_client(struct call *c)
{
	struct cm_write		 w = { c->req.request_id, c->admin_key_id, NULL };
	struct cm_problems	 probs;
	struct cm_stored	 st;
	json_t			*input;
	int			 rc;

	if ((input = checked_input(c, CM_INPUT_CREATE)) == NULL)
		return;
	cm_problems_init(&probs);
	rc = cm_store_create(c->w->store, input, &w, &st, &probs);
	if (rc == CM_STORE_OK) {
		cm_response_header(&c->res, "Location", "/api/v1/clients/%s",
		    json_string_value(json_object_get(input, "id")));
		reply_client(c, 201, &st);
	} else
		store_error(c, rc, &probs);
	json_decref(input);
}

static void
health(struct call *c)
{
	if (cm_store_ping(c->w->store) != CM_STORE_OK) {
		unavailable(c);
		return;
	}
	cm_response_data(&c->res, 200, json_pack("{s:s}", "database", "ok"));
}

static void
not_allowed(struct call *c, const char *allow)
{
	cm_response_error(&c->res, 405, "Method not allowed", NULL);
	cm_response_header(&c->res, "Allow", "%s", allow);
}

static void
dispatch(struct call *c)
{
	bool	get = method_is(c, "GET") || method_is(c, "HEAD");

	if (c->route.route == CM_ROUTE_HEALTH) {
		if (get)
			health(c);
		else
			not_allowed(c, "GET, HEAD");
		return;
	}
	if (!authenticate(c))
		return;
	switch (c->route.route) {
	case CM_ROUTE_CLIENTS:
		if (method_is(c, "POST"))
			create_client(c);
		else
			not_allowed(c, "POST");
		return;
	case CM_ROUTE_CLIENT:
		if (!get && !method_is(c, "PATCH"))
			not_allowed(c, "GET, HEAD, PATCH");
		else if (!c->route.id_valid)
			cm_response_error(&c->res, 400, "Invalid client id", NULL);
		else if (get)
			get_client(c);
		else
			patch_client(c);
		return;
	default:
		/* XXX: rotate-keys and audit arrive with the next issue. */
		cm_response_error(&c->res, 404, "Not found", NULL);
		return;
	}
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

void
handle_request(struct worker *w, FCGX_Request *fcgi)
{
	struct call	 c;
	struct timespec	 t0;
	char		*out, path[256];
	size_t		 len;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.fcgi = fcgi;
	cm_response_init(&c.res);
	read_request(&c);
	dispatch(&c);
	out = cm_response_render(&c.res, c.req.request_id, method_is(&c, "HEAD"),
	    &len);
	if (out != NULL) {
		FCGX_PutStr(out, (int)len, fcgi->out);
		free(out);
	}
	loggable_path(c.req.uri, path, sizeof(path));
	LOG_INFO("request id=%s method=%.16s path=%s status=%d us=%lld",
	    c.req.request_id, c.req.method, path, c.res.status,
	    elapsed_us(&t0));
	cm_response_clear(&c.res);
}
