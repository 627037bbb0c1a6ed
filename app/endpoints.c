/*
 * endpoints.c - what each endpoint (doc/api-guide.md) does, once the
 * request is authenticated, routed and its id checked (handlers.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "event.h"
#include "json.h"
#include "openapi.h"
#include "scope.h"
#include "validate.h"

#define LIST_LIMIT_DEFAULT	50
#define LIST_LIMIT_MAX		200
#define OFFSET_MAX		1000000000000ULL	/* far past any table */

void
ep_health(struct call *c)
{
	if (cm_db_ping(c->w->db) != CM_DB_OK) {
		call_unavailable(c);
		return;
	}
	cm_response_data(&c->res, 200, json_pack("{s:s}", "database", "ok"));
}

void
ep_get_client(struct call *c)
{
	struct cm_stored	st;
	enum cm_db_status	rc;

	if ((rc = cm_db_get(c->w->db, c->route.id, call_within(c), &st)) ==
	    CM_DB_OK)
		call_reply_client(c, 200, &st);
	else
		call_store_error(c, rc, NULL, NULL);
}

void
ep_patch_client(struct call *c)
{
	struct cm_write		 w = call_writer(c);
	struct cm_problems	 probs;
	struct cm_stored	 st;
	json_t			*changes;
	enum cm_db_status	 rc;

	if ((changes = call_client_input(c, CM_INPUT_PATCH)) == NULL)
		return;
	/* A bound key cannot move a client out of its agency. */
	if (!call_agency_allowed(c, changes, false)) {
		json_decref(changes);
		return;
	}
	cm_problems_init(&probs);
	w.idem = call_idem_write(c, 200, c->route.id);
	rc = cm_db_patch(c->w->db, c->route.id, changes, &w, &st, &probs);
	json_decref(changes);
	c->idem_saved = rc == CM_DB_OK;
	if (rc == CM_DB_OK)
		call_reply_client(c, 200, &st);
	else
		call_store_error(c, rc, &probs, &st);
}

void
ep_create_client(struct call *c)
{
	struct cm_write		 w = call_writer(c);
	struct cm_problems	 probs;
	struct cm_stored	 st;
	json_t			*input;
	enum cm_db_status	 rc;

	w.precondition = NULL;	/* nothing exists to match yet */
	if ((input = call_client_input(c, CM_INPUT_CREATE)) == NULL)
		return;
	if (!call_agency_allowed(c, input, true)) {
		json_decref(input);
		return;
	}
	cm_problems_init(&probs);
	w.idem = call_idem_write(c, 201,
	    json_string_value(json_object_get(input, "id")));
	rc = cm_db_create(c->w->db, input, &w, &st, &probs);
	c->idem_saved = rc == CM_DB_OK;
	if (rc == CM_DB_OK) {
		cm_response_header(&c->res, "Location", "/api/v1/clients/%s",
		    json_string_value(json_object_get(input, "id")));
		call_reply_client(c, 201, &st);
	} else
		call_store_error(c, rc, &probs, NULL);
	json_decref(input);
}

/*
 * A non-negative decimal integer from the query: 1 set, 0 absent, -1 bad
 * (a sign, spaces, letters, empty, or above max).
 */
static int
query_uint(const struct call *c, const char *name, unsigned long long max,
    unsigned long long *out)
{
	char	buf[32];
	char	*end;
	int	rc;

	if ((rc = cm_query_get(c->req.query, name, buf, sizeof(buf))) <= 0)
		return rc;
	if (!isdigit((unsigned char)buf[0]))
		return -1;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return (errno != 0 || *end != '\0' || *out > max) ? -1 : 1;
}

void
call_query_limit(const struct call *c, unsigned *limit,
    struct cm_problems *probs)
{
	unsigned long long	v;
	int			rc;

	*limit = LIST_LIMIT_DEFAULT;
	if ((rc = query_uint(c, "limit", LIST_LIMIT_MAX, &v)) < 0 ||
	    (rc == 1 && v < 1))
		cm_problems_add(probs, "limit", "invalid_value",
		    "must be an integer from 1 to 200");
	else if (rc == 1)
		*limit = (unsigned)v;
}

/*
 * limit (1..200, default 50), offset (>= 0, default 0), after (a cursor,
 * not with offset) and count (true|false).  after points into buf.
 */
static void
query_page(const struct call *c, struct cm_list_query *q, char *buf,
    size_t sz, struct cm_problems *probs)
{
	unsigned long long	v;
	char			flag[8];
	int			rc, has_offset;

	q->offset = 0;
	q->after = NULL;
	q->no_count = false;
	call_query_limit(c, &q->limit, probs);
	if ((has_offset = query_uint(c, "offset", OFFSET_MAX, &v)) < 0)
		cm_problems_add(probs, "offset", "invalid_value",
		    "must be an integer of 0 or more");
	else if (has_offset == 1)
		q->offset = v;
	if ((rc = cm_query_get(c->req.query, "after", buf, sz)) < 0 ||
	    (rc == 1 && buf[0] == '\0'))
		cm_problems_add(probs, "after", "invalid_value",
		    "must be the next cursor of an earlier page of this list");
	else if (rc == 1 && has_offset != 0)
		cm_problems_add(probs, "after", "invalid_value",
		    "must not be combined with offset: use one or the other");
	else if (rc == 1)
		q->after = buf;
	if ((rc = cm_query_get(c->req.query, "count", flag, sizeof(flag))) != 0) {
		if (rc == 1 && strcmp(flag, "false") == 0)
			q->no_count = true;
		else if (rc != 1 || strcmp(flag, "true") != 0)
			cm_problems_add(probs, "count", "invalid_value",
			    "must be true or false");
	}
}

/* 400 naming after: the cursor does not belong to this list. */
static void
bad_cursor(struct call *c)
{
	struct cm_problems	probs;

	cm_problems_init(&probs);
	cm_problems_add(&probs, "after", "invalid_value", "must be a cursor "
	    "of this list with these filters (this one is tampered, from "
	    "another list, or from other filters)");
	cm_response_error(&c->res, 400, "Invalid query parameters", &probs);
}

/* A listing's answer: the page, bad_cursor(), or the store's error. */
static void
reply_listing(struct call *c, enum cm_db_status rc, struct cm_page *pg)
{
	if (rc == CM_DB_OK)
		cm_response_page(&c->res, pg->items,
		    pg->counted ? &pg->count : NULL, pg->next);
	else if (rc == CM_DB_INVALID)
		bad_cursor(c);
	else
		call_store_error(c, rc, NULL, NULL);
}

/*
 * A filter value, normalised (lowercased) as the member is on write:
 * 1 set (in buf), 0 absent; adds a problem when bad.
 */
static int
query_filter(const struct call *c, const char *name, char *buf, size_t sz,
    bool lowercase, const struct cm_verdict *(*check)(const char *, size_t),
    struct cm_problems *probs)
{
	const struct cm_verdict	*v = NULL;
	int			 rc;

	if ((rc = cm_query_get(c->req.query, name, buf, sz)) == 0)
		return 0;
	if (rc == 1 && lowercase)
		cm_ascii_lower(buf, strlen(buf));
	if (rc < 0)
		cm_problems_add(probs, name, "invalid_value", "must be "
		    "percent-encoded correctly and short enough for its rule");
	else if ((v = check(buf, strlen(buf))) != NULL)
		cm_problems_add(probs, name, v->code, v->message);
	return rc == 1 && v == NULL;
}

static void
bad_query(struct call *c, const struct cm_problems *probs)
{
	cm_response_error(&c->res, 400, "Invalid query parameters", probs);
}

void
ep_list_clients(struct call *c)
{
	struct cm_list_query	 q = { -1, NULL, NULL, NULL, 0, 0, NULL, false,
				     call_within(c) };
	struct cm_problems	 probs;
	struct cm_page		 pg;
	char			 status[8], agency[CM_ID_MAX + 2];
	char			 company[CM_ID_MAX + 2], domain[256];
	char			 after[CM_CURSOR_MAX + 1];
	enum cm_db_status	 rc;
	int			 got;

	cm_problems_init(&probs);
	query_page(c, &q, after, sizeof(after), &probs);
	if ((got = cm_query_get(c->req.query, "status", status,
	    sizeof(status))) != 0) {
		if (got == 1 && strcmp(status, "true") == 0)
			q.status = 1;
		else if (got == 1 && strcmp(status, "false") == 0)
			q.status = 0;
		else
			cm_problems_add(&probs, "status", "invalid_value",
			    "must be true or false");
	}
	if (query_filter(c, "agency_id", agency, sizeof(agency), false,
	    cm_check_token, &probs) == 1)
		q.agency_id = agency;
	if (query_filter(c, "company_id", company, sizeof(company), false,
	    cm_check_token, &probs) == 1)
		q.company_id = company;
	if (query_filter(c, "domain", domain, sizeof(domain), true,
	    cm_check_domain, &probs) == 1)
		q.domain = domain;
	if (probs.n > 0) {
		bad_query(c, &probs);
		return;
	}
	rc = cm_db_list(c->w->db, &q, &pg);
	reply_listing(c, rc, &pg);
}

/*
 * A true/false query flag: 1 true, 0 false or absent; adds a problem
 * naming it for any other value.
 */
static int
query_flag(const struct call *c, const char *name, struct cm_problems *probs)
{
	char	v[8];
	int	rc;

	if ((rc = cm_query_get(c->req.query, name, v, sizeof(v))) == 0)
		return 0;
	if (rc == 1 && strcmp(v, "true") == 0)
		return 1;
	if (rc != 1 || strcmp(v, "false") != 0)
		cm_problems_add(probs, name, "invalid_value",
		    "must be true or false");
	return 0;
}

/* DELETE's answer: {"success":true,"deleted":true,"hard":…[,"erased":true]}. */
static json_t *
deleted_body(bool hard, bool erase)
{
	json_t	*b = json_pack("{s:b, s:b, s:b}", "success", 1, "deleted", 1,
		    "hard", hard);

	if (erase)
		json_object_set_new(b, "erased", json_true());
	return b;
}

void
ep_delete_client(struct call *c)
{
	struct cm_write		 w = call_writer(c);
	struct cm_problems	 probs;
	struct cm_stored	 st = { NULL, 0, "" };
	json_t			*answer;
	char			*text;
	bool			 is_hard, erase, go;
	enum cm_db_status	 rc;

	/* Its options are in the query: a body would be silently ignored. */
	if (c->req.content_length > 0 ||
	    (c->req.content_length == CM_LENGTH_UNKNOWN &&
	    FCGX_GetChar(c->fcgi->in) != EOF)) {
		cm_response_error(&c->res, 400, "Bad request", NULL);
		cm_response_detail(&c->res, NULL, "body_not_allowed", "must be "
		    "sent without a body: DELETE takes hard=true and erase=true "
		    "in the query string");
		return;
	}
	cm_problems_init(&probs);
	is_hard = query_flag(c, "hard", &probs) == 1;
	erase = query_flag(c, "erase", &probs) == 1;
	/* Erasure removes the row: asking for it with a soft delete is a mistake. */
	if (erase && !is_hard)
		cm_problems_add(&probs, "erase", "invalid_value",
		    "must come with hard=true: erasure deletes the client "
		    "for good");
	if (probs.n > 0) {
		bad_query(c, &probs);
		return;
	}
	/* Erasure needs its own scope besides the delete's (the route's). */
	if (erase && !call_scope(c, CM_SCOPE_CLIENTS_ERASE))
		return;
	answer = deleted_body(is_hard, erase);
	text = cm_json_compact(answer);
	go = call_idem_begin_delete(c, is_hard, erase, text);
	free(text);
	if (!go) {
		json_decref(answer);
		return;
	}
	w.idem = call_idem_write(c, 200, NULL);
	if (erase)
		rc = cm_db_erase(c->w->db, c->route.id, &w, NULL);
	else
		rc = cm_db_delete(c->w->db, c->route.id, is_hard, &w, &st);
	c->idem_saved = rc == CM_DB_OK;
	if (rc != CM_DB_OK) {
		json_decref(answer);
		call_store_error(c, rc, NULL, &st);
		return;
	}
	cm_response_body(&c->res, 200, answer);
}

/*
 * The optional body {"keys": ["secret", "publishable"]}: which keys to
 * renew (both when there is no body).  Returns false with the response
 * set when the body is bad.
 */
static bool
keys_to_rotate(struct call *c, bool *publishable, bool *secret)
{
	struct cm_problems	 probs;
	json_t			*body, *keys, *k;
	const char		*name, *word;
	bool			 empty, ignore;
	size_t			 i;

	*publishable = *secret = true;
	if ((body = call_body(c, false, &empty)) == NULL)
		return empty;
	cm_problems_init(&probs);
	ignore = c->w->cfg->unknown_fields == CM_UNKNOWN_IGNORE;
	keys = json_object_get(body, "keys");
	if (keys != NULL) {
		*publishable = *secret = false;
		if (!json_is_array(keys) || json_array_size(keys) == 0)
			cm_problems_add(&probs, "keys", "invalid_value",
			    "must be a non-empty array of \"secret\" and "
			    "\"publishable\"");
		json_array_foreach(keys, i, k) {
			word = json_string_value(k);
			if (word != NULL && strcmp(word, "secret") == 0)
				*secret = true;
			else if (word != NULL && strcmp(word, "publishable") == 0)
				*publishable = true;
			else if (probs.n == 0)
				cm_problems_add(&probs, "keys", "invalid_value",
				    "must hold only \"secret\" and \"publishable\"");
		}
	}
	json_object_foreach(body, name, k)
		if (strcmp(name, "keys") != 0 && !ignore)
			cm_problems_add(&probs, name, "unknown_field",
			    "must not be sent: a rotate-keys body has only "
			    "\"keys\"");
	json_decref(body);
	if (probs.n > 0)
		cm_response_error(&c->res, 400, "Validation failed", &probs);
	return probs.n == 0;
}

void
ep_rotate_keys(struct call *c)
{
	struct cm_write		w = call_writer(c);
	struct cm_stored	st;
	bool			publishable, secret;
	enum cm_db_status	rc;

	if (!keys_to_rotate(c, &publishable, &secret))
		return;
	w.idem = call_idem_write(c, 200, c->route.id);
	rc = cm_db_rotate_keys(c->w->db, c->route.id, publishable, secret, &w,
	    &st);
	c->idem_saved = rc == CM_DB_OK;
	if (rc == CM_DB_OK)
		call_reply_client(c, 200, &st);
	else
		call_store_error(c, rc, NULL, &st);
}

void
ep_audit(struct call *c)
{
	struct cm_list_query	 q = { -1, NULL, NULL, NULL, 0, 0, NULL, false,
				     call_within(c) };
	struct cm_problems	 probs;
	struct cm_page		 pg;
	char			 after[CM_CURSOR_MAX + 1];
	enum cm_db_status	 rc;

	cm_problems_init(&probs);
	query_page(c, &q, after, sizeof(after), &probs);
	if (probs.n > 0) {
		bad_query(c, &probs);
		return;
	}
	rc = cm_db_audit(c->w->db, c->route.id, &q, &pg);
	reply_listing(c, rc, &pg);
}

/*
 * The feed's query: limit and after as a list's, type (an event type) and
 * client_id (the id rule).  offset is refused rather than ignored: the
 * feed pages by cursor only, and a skipped offset would repeat events.
 */
static void
query_events(const struct call *c, struct cm_event_query *q, char *type,
    char *client, char *after, struct cm_problems *probs)
{
	char	scratch[8];
	int	rc;

	call_query_limit(c, &q->limit, probs);
	if (cm_query_get(c->req.query, "offset", scratch,
	    sizeof(scratch)) != 0)
		cm_problems_add(probs, "offset", "invalid_value",
		    "must not be sent: the feed pages with after and next");
	if ((rc = cm_query_get(c->req.query, "after", after,
	    CM_CURSOR_MAX + 1)) < 0 || (rc == 1 && after[0] == '\0'))
		cm_problems_add(probs, "after", "invalid_value",
		    "must be the next cursor of an earlier page of the feed");
	else if (rc == 1)
		q->after = after;
	if ((rc = cm_query_get(c->req.query, "type", type,
	    CM_EVENT_TYPE_MAX)) != 0 && (rc < 0 || !cm_event_type_known(type)))
		cm_problems_add(probs, "type", "invalid_value", "must be one "
		    "of client.created, client.updated, client.deleted, "
		    "client.keys_rotated, client.erased");
	else if (rc == 1)
		q->type = type;
	if (query_filter(c, "client_id", client, CM_ID_MAX + 2, false,
	    cm_check_token, probs) == 1)
		q->client_id = client;
}

void
ep_events(struct call *c)
{
	struct cm_event_query	 q = { NULL, NULL, 0, NULL, call_within(c) };
	struct cm_problems	 probs;
	struct cm_page		 pg;
	char			 type[CM_EVENT_TYPE_MAX];
	char			 client[CM_ID_MAX + 2];
	char			 after[CM_CURSOR_MAX + 1];
	enum cm_db_status	 rc;

	cm_problems_init(&probs);
	query_events(c, &q, type, client, after, &probs);
	if (probs.n > 0) {
		bad_query(c, &probs);
		return;
	}
	rc = cm_db_events(c->w->db, &q, &pg);
	reply_listing(c, rc, &pg);
}

/*
 * The built-in OpenAPI document, with a strong ETag (its SHA-256, hashed
 * per request: about 0.1 ms for 55 KB) and If-None-Match -> 304.
 */
void
ep_openapi(struct call *c)
{
	const char	*doc, *inm = FCGX_GetParam("HTTP_IF_NONE_MATCH",
			    c->fcgi->envp);
	char		 etag[CM_OPENAPI_ETAG_SIZE];
	size_t		 len;

	doc = cm_openapi_json(&len);
	if (cm_openapi_etag(etag) != 0) {
		cm_response_error(&c->res, 500, "Internal server error", NULL);
		return;
	}
	cm_response_header(&c->res, "ETag", "%s", etag);
	/* If-None-Match uses weak comparison (RFC 9110 13.1.2). */
	if (inm != NULL && cm_if_none_match(inm, etag)) {
		cm_response_raw(&c->res, 304, NULL, 0);
		return;
	}
	cm_response_raw(&c->res, 200, doc, len);
}
