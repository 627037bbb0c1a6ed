/*
 * idempotent.c - Idempotency-Key on POST /clients, PATCH /clients/{id},
 * POST /clients/{id}/rotate-keys and DELETE /clients/{id}.
 *
 * call_idem_begin() runs once the body is read (call_body): it checks the
 * header, fingerprints the request and takes the key (an in-progress
 * marker, committed) or answers from the stored row: a replay, 422 for a
 * different request, 409 while the first still runs.  A successful write
 * stores its answer in its own transaction (cm_idem.render renders it);
 * call_idem_finish() stores any other non-5xx answer after the endpoint
 * ran, and deletes the marker after a 5xx so the request may be repeated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "deadline.h"
#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "mem.h"

/* The answer a successful client write sends: its envelope. */
static char *
render_client(const struct cm_stored *st, void *arg)
{
	json_t	*env = cm_envelope_data(json_incref(st->client));
	char	*text = cm_json_compact(env);

	(void)arg;
	json_decref(env);
	return text;
}

/* A DELETE's answer, fixed before the write (call->idem_answer). */
static char *
render_fixed(const struct cm_stored *st, void *arg)
{
	(void)st;
	return cm_strdup(arg);
}

/* Seconds after which an in-progress marker's request is gone. */
static int
marker_stale_s(const struct cm_config *cfg)
{
	return (int)((cm_request_life_ms(cfg->request_timeout) + 999) / 1000);
}

static void
bad_key(struct call *c)
{
	cm_response_error(&c->res, 400, "Bad request", NULL);
	cm_response_detail(&c->res, "Idempotency-Key", "invalid_value",
	    "must be 1 to 255 visible ASCII characters (no spaces)");
}

static void
in_progress(struct call *c)
{
	cm_response_error(&c->res, 409, "Conflict", NULL);
	cm_response_detail(&c->res, NULL, "idempotency_in_progress",
	    "must wait until the first request with this Idempotency-Key has "
	    "finished, then repeat it");
	cm_response_header(&c->res, "Retry-After", "%d", c->w->cfg->retry_after);
}

/* The stored answer, as it was sent, plus Idempotent-Replayed. */
static void
replay(struct call *c, struct cm_idem_answer *a)
{
	if (a->etag[0] != '\0')
		cm_response_header(&c->res, "ETag", "%s", a->etag);
	if (a->location[0] != '\0')
		cm_response_header(&c->res, "Location", "%s", a->location);
	cm_response_header(&c->res, "Idempotent-Replayed", "true");
	c->replay = a->body;	/* freed by handle_request after the reply */
	a->body = NULL;
	cm_response_raw(&c->res, a->status, c->replay, a->len);
}

/*
 * Takes the key for a request whose path (and, for DELETE, its parsed
 * query) is path and whose body is body; client_id: the client its stored
 * answer is about (NULL: none, so that an erasure keeps its own marker).
 */
static bool
take_key(struct call *c, const char *path, const char *body, size_t len,
    const char *client_id)
{
	struct cm_idem		*idem = &c->idem;
	struct cm_idem_answer	 ans;
	enum cm_idem_verdict	 verdict;
	enum cm_db_status	 rc;

	if (c->req.idempotency_key == NULL)
		return true;
	if (c->req.idempotency_keys > 1) {
		cm_response_error(&c->res, 400, "Bad request", NULL);
		cm_response_detail(&c->res, "Idempotency-Key", "invalid_value",
		    "must be sent once: this request has more than one "
		    "Idempotency-Key header, and no one of them is taken");
		return false;
	}
	if (!cm_idem_key_valid(c->req.idempotency_key)) {
		bad_key(c);
		return false;
	}
	memset(idem, 0, sizeof(*idem));
	idem->admin_key_id = c->key.id;
	snprintf(idem->key, sizeof(idem->key), "%s", c->req.idempotency_key);
	if (client_id != NULL)
		snprintf(idem->client_id, sizeof(idem->client_id), "%s",
		    client_id);
	if (cm_idem_fingerprint(c->req.method, path, body, len,
	    idem->fingerprint) != 0) {
		cm_response_error(&c->res, 500, "Internal server error", NULL);
		return false;
	}
	rc = cm_db_idem_begin(c->w->db, idem, c->w->cfg->idempotency_ttl_s,
	    marker_stale_s(c->w->cfg), &verdict, &ans);
	if (rc != CM_DB_OK) {
		call_store_error(c, rc, NULL, NULL);
		return false;
	}
	switch (verdict) {
	case CM_IDEM_GO:
		c->idem_on = true;
		return true;
	case CM_IDEM_REPLAY:
		replay(c, &ans);
		break;
	case CM_IDEM_REUSED:
		cm_response_error(&c->res, 422, "Unprocessable request", NULL);
		cm_response_detail(&c->res, NULL, "idempotency_key_reused",
		    "must not reuse an Idempotency-Key for a different request");
		break;
	case CM_IDEM_BUSY:
		in_progress(c);
		break;
	}
	free(ans.body);
	return false;
}

bool
call_idem_begin(struct call *c, const char *body, size_t len)
{
	char	path[320];

	route_path(&c->route, path, sizeof(path));
	/* The client id lets an erasure find the client's stored answers. */
	return take_key(c, path, body, len,
	    route_has_id(c->route.route) && route_is_client(c->route.route) ?
	    c->route.id : NULL);
}

/*
 * DELETE's path carries what its query decided (hard, erase): a soft and
 * a hard delete with one key are two requests (422), and "?hard=true" and
 * "?hard=true&x=1" one.
 */
bool
call_idem_begin_delete(struct call *c, bool hard, bool erase,
    const char *answer)
{
	char	path[340];

	route_path(&c->route, path, sizeof(path));
	snprintf(path + strlen(path), sizeof(path) - strlen(path),
	    "?hard=%s&erase=%s", hard ? "true" : "false",
	    erase ? "true" : "false");
	/*
	 * A hard delete and an erasure delete the stored answers of the
	 * client's requests in their transaction: their own marker is not
	 * one of them.
	 */
	if (!take_key(c, path, "", 0, hard ? NULL : c->route.id))
		return false;
	snprintf(c->idem_answer, sizeof(c->idem_answer), "%s", answer);
	return true;
}

struct cm_idem *
call_idem_write(struct call *c, int status, const char *client_id)
{
	if (!c->idem_on)
		return NULL;
	c->idem.status = status;
	if (c->idem_answer[0] != '\0') {
		c->idem.render = render_fixed;
		c->idem.render_arg = c->idem_answer;
		c->idem.with_etag = false;
	} else {
		c->idem.render = render_client;
		c->idem.render_arg = NULL;
		c->idem.with_etag = true;
	}
	if (client_id != NULL) {
		snprintf(c->idem.client_id, sizeof(c->idem.client_id), "%s",
		    client_id);
		if (status == 201)
			snprintf(c->idem.location, sizeof(c->idem.location),
			    "/api/v1/clients/%s", client_id);
	}
	return &c->idem;
}

void
call_idem_conflict(struct call *c)
{
	in_progress(c);
}

/* Any other non-5xx answer is stored now; a 5xx frees the key. */
void
call_idem_finish(struct call *c)
{
	struct cm_idem_answer	 a;
	enum cm_db_status	 rc;

	if (!c->idem_on || c->idem_saved)
		return;
	if (c->res.status >= 500) {
		if (cm_db_idem_release(c->w->db, &c->idem) != CM_DB_OK)
			LOG_WARN("request id=%s: Idempotency-Key marker not "
			    "released: repeats get 409 until it is %d s old",
			    c->req.request_id, marker_stale_s(c->w->cfg));
		return;
	}
	memset(&a, 0, sizeof(a));
	a.status = c->res.status;
	cm_idem_header(c->res.headers ? c->res.headers : "", "ETag", a.etag,
	    sizeof(a.etag));
	cm_idem_header(c->res.headers ? c->res.headers : "", "Location", a.location,
	    sizeof(a.location));
	a.body = c->res.body != NULL ? cm_json_compact(c->res.body) : NULL;
	a.len = a.body != NULL ? strlen(a.body) : 0;
	if (a.body == NULL)
		LOG_ERR("request id=%s: no JSON answer to store for its "
		    "Idempotency-Key", c->req.request_id);
	else if ((rc = cm_db_idem_finish(c->w->db, &c->idem, &a)) != CM_DB_OK) {
		LOG_WARN("request id=%s: answer %d not stored for its "
		    "Idempotency-Key (%d): the key is freed", c->req.request_id,
		    a.status, rc);
		cm_db_idem_release(c->w->db, &c->idem);
	}
	free(a.body);
}
