/*
 * ep_webhooks.c - the webhook endpoints API (doc/api-guide.md, "Webhook
 * endpoints"): register, list, read, change, rotate the signing secret,
 * delete.  The secret is drawn here from getrandom() and answered once,
 * by the create or the rotation that made it.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "call.h"
#include "json.h"
#include "random.h"
#include "webhook.h"

/* Endpoints have no ETag: an If-Match would be a condition never checked. */
static bool
no_precondition(struct call *c)
{
	if (!c->has_precondition)
		return true;
	cm_response_error(&c->res, 400, "Bad request", NULL);
	cm_response_detail(&c->res, "If-Match", "invalid_value", "must not be "
	    "sent: webhook endpoints have no ETag");
	return false;
}

/* The path's endpoint number; false with the 404 set when it cannot exist. */
static bool
endpoint_id(struct call *c, unsigned long long *id)
{
	if (cm_webhook_id_parse(c->route.id, id) == 0)
		return true;
	cm_response_error(&c->res, 404, "Webhook endpoint not found", NULL);
	return false;
}

/* A data layer result other than CM_DB_OK. */
static void
store_error(struct call *c, enum cm_db_status rc)
{
	if (rc == CM_DB_NOT_FOUND)
		cm_response_error(&c->res, 404, "Webhook endpoint not found",
		    NULL);
	else
		call_store_error(c, rc, NULL, NULL);
}

/* The checked members of the body, or NULL with the answer set. */
static json_t *
endpoint_input(struct call *c, enum cm_input_mode mode)
{
	struct cm_webhook_policy pol = {
		c->w->cfg->unknown_fields == CM_UNKNOWN_IGNORE,
		c->w->cfg->webhook_allow_http
	};
	struct cm_problems	 probs;
	json_t			*body, *input;

	if ((body = call_body(c, mode == CM_INPUT_PATCH, NULL)) == NULL)
		return NULL;
	cm_problems_init(&probs);
	input = cm_webhook_check_input(body, mode, &pol, &probs);
	json_decref(body);
	if ((input = call_input_checked(c, input, &probs)) != NULL &&
	    !call_agency_allowed(c, input, mode == CM_INPUT_CREATE)) {
		json_decref(input);
		return NULL;
	}
	return input;
}

/* A fresh secret into out; false with a 500 set when there is no randomness. */
static bool
new_secret(struct call *c, char *out)
{
	unsigned char	raw[32];

	if (cm_random_bytes(raw, sizeof(raw)) != 0) {
		cm_response_error(&c->res, 500, "Internal server error", NULL);
		return false;
	}
	cm_webhook_secret(raw, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}

/* {"success":true,"data":endpoint[+secret]}; steals endpoint. */
static void
reply(struct call *c, int status, json_t *endpoint, const char *secret)
{
	if (secret != NULL)
		json_object_set_new(endpoint, "secret", json_string(secret));
	cm_response_data(&c->res, status, endpoint);
}

void
ep_webhook_create(struct call *c)
{
	char			 secret[CM_WEBHOOK_SECRET_LEN + 1];
	json_t			*input, *out;
	const char		*id;
	enum cm_db_status	 rc;

	if (!no_precondition(c) || (input = endpoint_input(c,
	    CM_INPUT_CREATE)) == NULL)
		return;
	if (!new_secret(c, secret)) {
		json_decref(input);
		return;
	}
	rc = cm_db_webhook_create(c->w->db, input, secret, &out);
	json_decref(input);
	if (rc != CM_DB_OK) {
		store_error(c, rc);
	} else {
		id = json_string_value(json_object_get(out, "id"));
		cm_response_header(&c->res, "Location",
		    "/api/v1/webhook-endpoints/%s", id);
		reply(c, 201, out, secret);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
}

/* limit (1..200) and after; problems name them. */
static void
list_query(struct call *c, unsigned *limit, const char **after, char *buf,
    size_t sz, struct cm_problems *probs)
{
	int	rc;

	call_query_limit(c, limit, probs);
	*after = NULL;
	if ((rc = cm_query_get(c->req.query, "after", buf, sz)) < 0 ||
	    (rc == 1 && buf[0] == '\0'))
		cm_problems_add(probs, "after", "invalid_value",
		    "must be the next cursor of an earlier page of this list");
	else if (rc == 1)
		*after = buf;
}

void
ep_webhook_list(struct call *c)
{
	struct cm_problems	 probs;
	struct cm_page		 pg;
	char			 after[CM_CURSOR_MAX + 1];
	const char		*cursor;
	unsigned		 limit;
	enum cm_db_status	 rc;

	cm_problems_init(&probs);
	list_query(c, &limit, &cursor, after, sizeof(after), &probs);
	if (probs.n > 0) {
		cm_response_error(&c->res, 400, "Invalid query parameters",
		    &probs);
		return;
	}
	rc = cm_db_webhook_list(c->w->db, limit, cursor, call_within(c), &pg);
	if (rc == CM_DB_OK)
		cm_response_page(&c->res, pg.items, &pg.count, pg.next);
	else if (rc == CM_DB_INVALID) {
		cm_problems_add(&probs, "after", "invalid_value", "must be a "
		    "cursor of this list (this one is tampered or from "
		    "another list)");
		cm_response_error(&c->res, 400, "Invalid query parameters",
		    &probs);
	} else
		store_error(c, rc);
}

void
ep_webhook_get(struct call *c)
{
	unsigned long long	 id;
	json_t			*out;
	enum cm_db_status	 rc;

	if (!endpoint_id(c, &id))
		return;
	if ((rc = cm_db_webhook_get(c->w->db, id, call_within(c), &out)) ==
	    CM_DB_OK)
		reply(c, 200, out, NULL);
	else
		store_error(c, rc);
}

void
ep_webhook_patch(struct call *c)
{
	unsigned long long	 id;
	json_t			*input, *out;
	enum cm_db_status	 rc;

	if (!no_precondition(c) || !endpoint_id(c, &id) ||
	    (input = endpoint_input(c, CM_INPUT_PATCH)) == NULL)
		return;
	rc = cm_db_webhook_patch(c->w->db, id, call_within(c), input, &out);
	json_decref(input);
	if (rc == CM_DB_OK)
		reply(c, 200, out, NULL);
	else
		store_error(c, rc);
}

void
ep_webhook_rotate(struct call *c)
{
	struct cm_problems	 probs;
	unsigned long long	 id;
	char			 secret[CM_WEBHOOK_SECRET_LEN + 1];
	json_t			*body, *out;
	bool			 empty, ok;
	int			 overlap;
	enum cm_db_status	 rc;

	if (!no_precondition(c) || !endpoint_id(c, &id))
		return;
	if ((body = call_body(c, false, &empty)) == NULL && !empty)
		return;
	cm_problems_init(&probs);
	ok = cm_webhook_check_rotate(body, c->w->cfg->unknown_fields ==
	    CM_UNKNOWN_IGNORE, &overlap, &probs);
	json_decref(body);
	if (!ok) {
		cm_response_error(&c->res, 400, "Validation failed", &probs);
		return;
	}
	if (!new_secret(c, secret))
		return;
	rc = cm_db_webhook_rotate(c->w->db, id, call_within(c), secret,
	    overlap, &out);
	if (rc == CM_DB_OK)
		reply(c, 200, out, secret);
	else
		store_error(c, rc);
	OPENSSL_cleanse(secret, sizeof(secret));
}

void
ep_webhook_delete(struct call *c)
{
	unsigned long long	id;
	enum cm_db_status	rc;

	if (!no_precondition(c) || !endpoint_id(c, &id))
		return;
	if ((rc = cm_db_webhook_delete(c->w->db, id, call_within(c))) ==
	    CM_DB_OK)
		cm_response_body(&c->res, 200, json_pack("{s:b, s:b}",
		    "success", 1, "deleted", 1));
	else
		store_error(c, rc);
}
