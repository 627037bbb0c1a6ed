/*
 * call.h - one request in flight, shared by handlers.c (the request's
 * life: reading, authentication, routing, the reply, the log line) and
 * endpoints.c (what each endpoint does).
 */
#ifndef CLIENTSD_CALL_H
#define CLIENTSD_CALL_H

#include <stdbool.h>
#include <fcgiapp.h>
#include <jansson.h>

#include "client.h"
#include "db.h"
#include "handlers.h"
#include "http.h"
#include "precondition.h"
#include "routes.h"

struct call {
	struct worker		*w;
	FCGX_Request		*fcgi;
	struct cm_request	 req;
	struct route_match	 route;
	struct cm_response	 res;
	struct cm_admin_key	 key;		/* who asks: id 0 before authentication */
	/* If-Match, parsed; has_precondition: the header was sent. */
	bool			 has_precondition;
	struct cm_precondition	 precondition;
	/* An Idempotency-Key whose in-progress marker is ours. */
	bool			 idem_on;
	bool			 idem_saved;	/* its answer went with the write */
	struct cm_idem		 idem;
	/* A DELETE's answer, stored as it is sent (compact JSON). */
	char			 idem_answer[96];
	char			*replay;	/* a replayed body; freed after the reply */
};

/*
 * The answer for a data layer result other than CM_DB_OK.  st: what the
 * call returned (its etag tells a 412 the current ETag), or NULL.
 */
void	 call_store_error(struct call *, enum cm_db_status,
	    const struct cm_problems *, const struct cm_stored *st);
/* Who writes, and on which condition (If-Match). */
struct cm_write call_writer(const struct call *);
/*
 * Whether the key holds scope (one enum cm_scope bit); false with the
 * 403 set when it does not.
 */
bool	 call_scope(struct call *, unsigned scope);
/* The key's agency binding for the data layer's calls: NULL when none. */
const char *call_within(const struct call *);
/*
 * A bound key writes only its agency's clients: agency_id in input (a
 * create's or a PATCH's checked members) must be that agency, and a
 * create without one gets it (create: true).  false with the 403 naming
 * agency_id set.
 */
bool	 call_agency_allowed(struct call *, json_t *input, bool create);
void	 call_unavailable(struct call *);
/*
 * The request body: NULL when there is none (*empty set) or when the
 * response is already set (Content-Type 415, size 413, JSON 400).
 */
json_t	*call_body(struct call *, bool merge_patch_ok, bool *empty);
/*
 * A body's checked members (input, stolen): input itself, or NULL with
 * the 400 set when it is NULL (the problems) or empty.
 */
json_t	*call_input_checked(struct call *, json_t *input,
	    const struct cm_problems *);
/* limit (1..200, default 50) of a listing's query; a problem naming it if bad. */
void	 call_query_limit(const struct call *, unsigned *limit,
	    struct cm_problems *);
/* The checked, normalised members of a client body, or NULL (response set). */
json_t	*call_client_input(struct call *, enum cm_input_mode);
/* A strong ETag header and {"success":true,"data":client}. */
void	 call_reply_client(struct call *, int status, struct cm_stored *);

/* idempotent.c */
/*
 * With an Idempotency-Key: checks it, fingerprints the request (body: the
 * len bytes read) and takes the key; false when the response is set (400
 * for the header, a replay, 422, 409, 503).  true without the header.
 */
bool	 call_idem_begin(struct call *, const char *body, size_t len);
/*
 * The same for DELETE (no body; hard and erase are part of the request),
 * whose successful answer is answer (compact JSON).
 */
bool	 call_idem_begin_delete(struct call *, bool hard, bool erase,
	    const char *answer);
/*
 * For cm_write.idem: the key taken by call_idem_begin (NULL: none), with
 * the status a successful write answers and the client it is about (a
 * 201's Location is made from it).
 */
struct cm_idem *call_idem_write(struct call *, int status,
	    const char *client_id);
/* 409 idempotency_in_progress (CM_DB_IDEM_BUSY). */
void	 call_idem_conflict(struct call *);
/* After the endpoint: stores a non-5xx answer not stored yet; a 5xx frees the key. */
void	 call_idem_finish(struct call *);

/* endpoints.c */
void	 ep_health(struct call *);
void	 ep_list_clients(struct call *);
void	 ep_create_client(struct call *);
void	 ep_get_client(struct call *);
void	 ep_patch_client(struct call *);
void	 ep_delete_client(struct call *);
void	 ep_rotate_keys(struct call *);
void	 ep_audit(struct call *);
void	 ep_events(struct call *);
/* ep_webhooks.c */
void	 ep_webhook_create(struct call *);
void	 ep_webhook_list(struct call *);
void	 ep_webhook_get(struct call *);
void	 ep_webhook_patch(struct call *);
void	 ep_webhook_rotate(struct call *);
void	 ep_webhook_delete(struct call *);
/* status.c */
void	 ep_status(struct call *);
void	 ep_ping(struct call *);
void	 ep_openapi(struct call *);

#endif
