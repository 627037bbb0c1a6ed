/*
 * db.h - the data layer: what the application asks of the database.
 *
 * A worker opens one cm_db after fork(): a connection for reads and one
 * for writes, each made on first use and remade when its node goes away.
 * A read call uses the first, a write call the second; the caller never
 * picks.  Every write runs in one transaction on the locked row and
 * leaves its audit row in it.  The layer speaks data: it takes parsed
 * preconditions and opaque answer bytes, never HTTP, and logs no secret.
 *
 * Ownership: a json_t in a result is a new reference the caller decrefs;
 * a body in a result is malloc'ed and the caller frees it.  Everything a
 * call takes is borrowed for the call.
 */
#ifndef CM_DB_H
#define CM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "cursor.h"
#include "dbhosts.h"
#include "precondition.h"
#include "problems.h"
#include "scope.h"

/* What the data layer needs of the configuration ([database], [api]). */
struct cm_db_config {
	struct cm_dbnodes	 nodes;		/* hosts, or the single endpoint */
	enum cm_db_policy	 policy;
	char			 name[64], user[64];
	char			 password[256];	/* secret: never logged */
	int			 connect_timeout, retries, lock_wait_timeout;
	int			 statement_timeout, failback_s;
	/*
	 * How long past the deadline settling a lost COMMIT may take
	 * (cm_settle_ms); 0: it ends with the rest, a second before it.
	 */
	long			 settle_ms;
	bool			 galera, allow_donor, causal_reads;
	enum cm_db_tls		 tls;
	char			 tls_ca[256], tls_cert[256], tls_key[256];
	int			 auth_cache_s;
	int			 auth_refused_cache_s;
	/*
	 * Each new connection checks that this build serves the schema it
	 * finds (schema.h); one that does not is refused like a node that
	 * is down, its reason logged.  Off for clientsctl migrate.
	 */
	bool			 check_schema;
};

enum cm_db_status {
	CM_DB_OK,
	CM_DB_NOT_FOUND,
	CM_DB_CONFLICT,		/* a duplicate; the problems name the member */
	CM_DB_PRECONDITION_FAILED,	/* the locked row does not match */
	CM_DB_INVALID,		/* the problems say why (api_metadata, a cursor) */
	CM_DB_UNAVAILABLE,	/* no database, or out of time: 503 */
	CM_DB_FAILED,		/* anything else: 500, the cause in the log */
	CM_DB_IDEM_BUSY,	/* the Idempotency-Key is another request's now */
	CM_DB_EXPIRED		/* an admin key past its expires_at (cm_db_admin_key) */
};

/* The longest agency id (the id rule: 255 characters), and its NUL. */
#define CM_AGENCY_MAX	256

/*
 * An admin key, as the one lookup that authenticates it found it: what
 * it may do, and which clients it sees.
 */
struct cm_admin_key {
	unsigned long long	 id;
	unsigned		 scopes;	/* enum cm_scope bits (scope.h) */
	/*
	 * The agency the key is bound to, "" when none.  A bound key sees
	 * and writes only that agency's clients: the calls below take it as
	 * `within` (NULL: every client).
	 */
	char			 agency_id[CM_AGENCY_MAX];
};

/* A client as the API returns it, and its strong ETag. */
struct cm_stored {
	json_t			*client;	/* NULL unless CM_DB_OK */
	unsigned long long	 version;	/* the row's version column */
	/*
	 * "\"<version>.<created_at digits>\"": also set with
	 * CM_DB_PRECONDITION_FAILED, the current row's (or "" when there is
	 * none), so the caller can tell it without another read.
	 */
	char			 etag[64];
};

/*
 * An Idempotency-Key request in flight: who, which key, the request's
 * fingerprint, the random id of its in-progress marker (drawn by
 * cm_db_idem_begin), and what a successful write answers.  A write given
 * one stores its answer in the idempotency row in its own transaction, so
 * a repeat finds it if and only if the write committed.
 */
struct cm_idem {
	unsigned long long	 admin_key_id;
	char			 key[256];
	char			 fingerprint[65];
	unsigned char		 owner[16];
	char			 client_id[256];	/* "" until known */
	int			 status;	/* of a successful write: 200, 201 */
	char			 location[300];	/* "" : none */
	/*
	 * The body a successful write answers, rendered by the caller from
	 * what the write stored (NULL for a delete or an erasure):
	 * malloc'ed, NUL-terminated; NULL only when out of memory.
	 */
	char			*(*render)(const struct cm_stored *, void *arg);
	void			*render_arg;
	bool			 with_etag;	/* the answer carries the ETag */
};

/* Who writes, and on which condition. */
struct cm_write {
	const char			*request_id;
	unsigned long long		 admin_key_id;
	const struct cm_precondition	*precondition;	/* NULL: none */
	const struct cm_idem		*idem;		/* NULL: no key */
	/*
	 * The writer's agency binding (NULL: none): a client of another
	 * agency, or of none, is CM_DB_NOT_FOUND, as if it did not exist.
	 */
	const char			*within;
};

/* What one request cost the database: for the access and slow log lines. */
struct cm_db_stats {
	long long	db_us;		/* waiting for MariaDB */
	unsigned	statements;	/* prepared statements executed */
	unsigned	retries;	/* transactions run again after a conflict */
};

struct cm_db;

/*
 * A worker's database.  worker (its pool slot, or a spawned worker's
 * pid) says where its walk over several nodes starts under policy =
 * balance.  Copies cfg.  Never NULL (out of memory: cm_oom()).
 */
struct cm_db	*cm_db_open(const struct cm_db_config *cfg, unsigned long worker);
void		 cm_db_close(struct cm_db *);

/*
 * The request's deadline (CLOCK_MONOTONIC): every lock wait, retry,
 * back-off, reconnect and statement fits in what is left of it minus a
 * margin, or the call answers CM_DB_UNAVAILABLE.  cm_db_end_request(),
 * once the answer has gone, moves back to a preferred node that
 * recovered and re-checks the nodes' health (bounded by connect_timeout).
 */
void	cm_db_begin_request(struct cm_db *, const struct timespec *deadline);
void	cm_db_end_request(struct cm_db *);
/*
 * Whether a write of this request answered CM_DB_UNAVAILABLE with its
 * COMMIT's outcome unknown (cm_db_begin_request() clears it): no node could tell in time whether it
 * committed, and it may still (every other CM_DB_UNAVAILABLE of a write
 * means that nothing was written).
 */
bool	cm_db_outcome_unknown(const struct cm_db *);
/* What the database cost since the last call, into *stats (zeroed first). */
void	cm_db_stats_take(struct cm_db *, struct cm_db_stats *stats);

/* CM_DB_OK when both connections can be used (a healthy node answers). */
enum cm_db_status cm_db_ping(struct cm_db *);

/*
 * An active (not revoked) admin key by the SHA-256 (hex) of the
 * presented token, into *key: CM_DB_OK, CM_DB_NOT_FOUND, or
 * CM_DB_EXPIRED when it is past its expires_at (by the database's clock,
 * to the millisecond, also while it is remembered).  An accepted or
 * expired one is remembered for auth_cache_s seconds, a refused one for
 * auth_refused_cache_s (authcache.h): a change of its scopes, binding or
 * expiry, or its revocation, takes effect within auth_cache_s.  *key is
 * set with CM_DB_OK, and with CM_DB_EXPIRED (its id names the key in the
 * log line).  The lookup that reads a key also records its use
 * (last_used_at) when the recorded one is a minute old or more: a write
 * at most once a minute per key and worker, never one per request.
 */
enum cm_db_status cm_db_admin_key(struct cm_db *, const char *sha256_hex,
	    struct cm_admin_key *key);

/* within: the caller's agency binding (NULL: none), as cm_write's. */
enum cm_db_status cm_db_get(struct cm_db *, const char *id,
	    const char *within, struct cm_stored *out);

/* input: normalised members from cm_client_check_input(CREATE). */
enum cm_db_status cm_db_create(struct cm_db *, const json_t *input,
	    const struct cm_write *, struct cm_stored *out,
	    struct cm_problems *);
/* changes: normalised members from cm_client_check_input(PATCH). */
enum cm_db_status cm_db_patch(struct cm_db *, const char *id,
	    const json_t *changes, const struct cm_write *,
	    struct cm_stored *out, struct cm_problems *);
/* Fresh keys for the members asked for, in one transaction. */
enum cm_db_status cm_db_rotate_keys(struct cm_db *, const char *id,
	    bool publishable, bool secret, const struct cm_write *,
	    struct cm_stored *out);
/*
 * Soft: status false (nothing written when already false); hard: the row
 * goes.  out->etag is set on CM_DB_PRECONDITION_FAILED.
 */
enum cm_db_status cm_db_delete(struct cm_db *, const char *id, bool hard,
	    const struct cm_write *, struct cm_stored *out);
/*
 * Erasure: in one transaction, locks and deletes the client's row (if it
 * still exists; the precondition is checked against it, and fails when
 * there is none), overwrites the personal members' values in every audit
 * row of the client, deletes its stored Idempotency-Key answers, and
 * writes one audit row "erase".  CM_DB_NOT_FOUND only when there is
 * neither a row nor a history.  A repeat finds nothing left and writes
 * no second row.  *deleted (may be NULL): whether a row went.
 */
enum cm_db_status cm_db_erase(struct cm_db *, const char *id,
	    const struct cm_write *, bool *deleted);

/* GET /clients and the audit history: filters (NULL or -1: any), a page. */
struct cm_list_query {
	int			 status;	/* -1 any, 0, 1 */
	const char		*agency_id;
	const char		*company_id;
	const char		*domain;	/* lowercased */
	unsigned		 limit;
	unsigned long long	 offset;	/* 0 when after is set */
	const char		*after;		/* a next cursor, or NULL */
	bool			 no_count;	/* no count query */
	/*
	 * The caller's agency binding (NULL: none): the list holds only that
	 * agency's clients whatever the filters (an agency_id filter naming
	 * another finds none), a client of another agency has no history,
	 * and a cursor opens only for the binding it was made under.
	 */
	const char		*within;
};

struct cm_page {
	json_t			*items;		/* NULL unless CM_DB_OK */
	bool			 counted;
	unsigned long long	 count;		/* all matches, when counted */
	char			 next[CM_CURSOR_MAX];	/* "" on the last page */
};

/*
 * Items ordered by created_at, id.  CM_DB_INVALID: q->after is not a
 * cursor of this list with these filters.
 */
enum cm_db_status cm_db_list(struct cm_db *, const struct cm_list_query *,
	    struct cm_page *);
/*
 * A client's history, newest first (limit, offset, after and no_count of
 * q); CM_DB_NOT_FOUND when it has none; CM_DB_INVALID as for the list.
 */
enum cm_db_status cm_db_audit(struct cm_db *, const char *id,
	    const struct cm_list_query *, struct cm_page *);

/* GET /events: the history as events (event.h), oldest first. */
struct cm_event_query {
	const char		*type;		/* an event type; NULL: every type */
	const char		*client_id;	/* NULL: every client */
	unsigned		 limit;
	const char		*after;		/* a next cursor, or NULL */
	/*
	 * The caller's agency binding (NULL: none): only events of clients
	 * that were in that agency when the event happened, and a cursor
	 * opens only for the binding it was made under.
	 */
	const char		*within;
};

/*
 * A page of events ordered by their history row's seq (out->counted is
 * false: the feed has no total).  CM_DB_INVALID: q->after is not a cursor
 * of the feed with these filters.
 */
enum cm_db_status cm_db_events(struct cm_db *, const struct cm_event_query *,
	    struct cm_page *);

/* ---- webhook endpoints -------------------------------------------- */

/*
 * An endpoint is the API's object (webhook.h; never its secret).  id is
 * the number of its "we_<n>"; within is the caller's agency binding
 * (NULL: none): an endpoint of another agency, or of none, is
 * CM_DB_NOT_FOUND to a bound caller.  *out is a new reference, NULL
 * unless CM_DB_OK.
 */
/* input: checked members (cm_webhook_check_input, CREATE); secret: its secret. */
enum cm_db_status cm_db_webhook_create(struct cm_db *, const json_t *input,
	    const char *secret, json_t **out);
enum cm_db_status cm_db_webhook_get(struct cm_db *, unsigned long long id,
	    const char *within, json_t **out);
/* Ordered by id; count: every endpoint the caller sees. */
enum cm_db_status cm_db_webhook_list(struct cm_db *, unsigned limit,
	    const char *after, const char *within, struct cm_page *);
/* changes: checked members (PATCH); nothing written when none changes. */
enum cm_db_status cm_db_webhook_patch(struct cm_db *, unsigned long long id,
	    const char *within, const json_t *changes, json_t **out);
/*
 * A new secret; the previous one stays valid for overlap_s seconds (0:
 * not at all).
 */
enum cm_db_status cm_db_webhook_rotate(struct cm_db *, unsigned long long id,
	    const char *within, const char *secret, int overlap_s,
	    json_t **out);
enum cm_db_status cm_db_webhook_delete(struct cm_db *, unsigned long long id,
	    const char *within);

/* ---- the webhook dispatcher (clientsd-webhooks) -------------------- */

/* An endpoint as the dispatcher needs it: with its secrets. */
struct cm_wh_target {
	unsigned long long	 id;
	char			 url[2049];
	char			 types[96];	/* the SET's text */
	char			 agency_id[CM_AGENCY_MAX];	/* "": every agency */
	bool			 enabled;
	char			 secret[71];	/* secret: never logged */
	char			 previous[71];	/* "" unless in a rotation's overlap */
	unsigned long long	 after_seq;
	/*
	 * The dispatcher's own, kept from round to round (0 when loaded):
	 * the history queued so far, ahead of the progress the database
	 * keeps, which moves only past settled rows.
	 */
	unsigned long long	 queued_to;
};

/* One delivery due: which event, to which endpoint, the event itself. */
struct cm_wh_delivery {
	unsigned long long	 endpoint_id, seq;
	unsigned		 attempts;	/* made before this one */
	json_t			*event;		/* the feed's event; caller decrefs */
};

/*
 * Takes or renews the lease named "dispatcher" for holder, lease_s
 * seconds from now on the database's clock: *held says whether holder
 * has it now (another holder's lease is taken only once it expired).
 */
enum cm_db_status cm_db_wh_lease(struct cm_db *, const char *holder,
	    int lease_s, bool *held);
/* Every endpoint, into a malloc'ed array (*n entries; caller frees). */
enum cm_db_status cm_db_wh_targets(struct cm_db *, struct cm_wh_target **out,
	    size_t *n);
/*
 * Queues the events of t (its types, its agency) in the next batch rows
 * of history after t->queued_to (or its progress, when further), and
 * moves t->queued_to past them.  With rescan, also queues again what
 * appeared since in the rows between its progress and t->queued_to (a
 * row's place is drawn before its transaction commits, so a smaller one
 * can appear later), then moves its progress past the rows older than
 * settle_s.  *queued: how many rows were new.
 */
enum cm_db_status cm_db_wh_enqueue(struct cm_db *, struct cm_wh_target *t,
	    int settle_s, unsigned batch, bool rescan, unsigned *queued);
/*
 * The endpoint's next delivery due: the oldest pending one whose client
 * has no older pending one (a client's events in order), attempted no
 * earlier than its next_attempt_at.  *found false when none.
 */
enum cm_db_status cm_db_wh_next(struct cm_db *, unsigned long long endpoint_id,
	    struct cm_wh_delivery *out, bool *found);
/*
 * An attempt's outcome, written only while holder holds the lease:
 * delivered, or retried after retry_ms, or (queued more than
 * retry_period_s ago) given up: failed.  status 0: no HTTP answer;
 * error: a short reason (no secret, no body), or NULL.
 */
enum cm_db_status cm_db_wh_record(struct cm_db *, const char *holder,
	    const struct cm_wh_delivery *, bool delivered, int status,
	    const char *error, long long retry_ms, int retry_period_s);
/* Deliveries of endpoints that are gone, and delivered ones older than keep_s. */
enum cm_db_status cm_db_wh_tidy(struct cm_db *, int keep_s);
/*
 * GET /status?webhooks=true: per endpoint the caller sees (within: its
 * binding), {"endpoint_id", "enabled", "backlog", "oldest_undelivered_s",
 * "attempts", "failures"} into *out (a new array).
 */
enum cm_db_status cm_db_wh_status(struct cm_db *, const char *within,
	    json_t **out);
/* clientsctl webhook list: one line per endpoint with its backlog, to fp. */
enum cm_db_status cm_db_wh_list(struct cm_db *, void *fp);
/*
 * clientsctl webhook replay: the failed deliveries of events since
 * ("YYYY-MM-DD HH:MM:SS.000" UTC), of one endpoint (0: every one), queued
 * again.  *rows: how many.
 */
enum cm_db_status cm_db_wh_replay(struct cm_db *, const char *since,
	    unsigned long long endpoint_id, unsigned long long *rows);

/* ---- Idempotency-Key ---------------------------------------------- */

enum cm_idem_verdict {
	CM_IDEM_GO,		/* the key is ours now (a marker committed): run */
	CM_IDEM_REPLAY,		/* an answer is stored for this request */
	CM_IDEM_REUSED,		/* the key is another request's (fingerprint) */
	CM_IDEM_BUSY		/* the first request still runs */
};

/* A stored answer. */
struct cm_idem_answer {
	int	 status;
	char	 etag[64];	/* "" : none */
	char	 location[300];	/* "" : none */
	char	*body;		/* malloc'ed, NUL-terminated; caller frees */
	size_t	 len;
};

/*
 * In one transaction: the row of (admin key, key), locked.  None, one
 * older than ttl_s, or a marker older than stale_s (its request is gone)
 * -> this request's marker is written (owner drawn into idem->owner):
 * CM_IDEM_GO.  Otherwise another fingerprint: REUSED; a stored answer:
 * REPLAY with it in *ans; a live marker: BUSY.
 */
enum cm_db_status cm_db_idem_begin(struct cm_db *, struct cm_idem *,
	    int ttl_s, int stale_s, enum cm_idem_verdict *verdict,
	    struct cm_idem_answer *ans);
/*
 * Stores an answer that did not come with a write, in a small
 * transaction; nothing when the marker is no longer this request's.
 */
enum cm_db_status cm_db_idem_finish(struct cm_db *, const struct cm_idem *,
	    const struct cm_idem_answer *);
/* Deletes this request's marker (after a 5xx the request may be repeated). */
enum cm_db_status cm_db_idem_release(struct cm_db *, const struct cm_idem *);

/* ---- clientsctl --------------------------------------------------- */

/* Rows older than ttl_s, in batches of batch (one transaction each). */
enum cm_db_status cm_db_idem_purge(struct cm_db *, int ttl_s, unsigned batch,
	    unsigned long long *rows);
/*
 * Audit rows older than cutoff ("YYYY-MM-DD HH:MM:SS.000" UTC), in
 * batches of batch rows, oldest first; with dry_run only counted.
 * *batches (may be NULL): transactions run.  Stops at the first error,
 * the batches done committed.
 */
enum cm_db_status cm_db_audit_purge(struct cm_db *, const char *cutoff,
	    unsigned batch, bool dry_run, unsigned long long *rows,
	    unsigned long long *batches);
/* EXPLAIN of every list query shape, tab-separated, to fp (a FILE *). */
enum cm_db_status cm_db_explain_list(struct cm_db *, void *fp);
/* One migration applied: how long it took, and its slowest statement. */
struct cm_migration_report {
	const char	*name;		/* "012_node_counters" */
	const char	*kind;		/* "expand" or "contract" */
	double		 seconds;
	int		 statements;
	int		 slowest;	/* 1-based */
	double		 slowest_s;
};

struct cm_migrate_opts {
	const char	*dir;		/* the *.sql files */
	const char	*runtime_user;	/* whom to grant (dbsetup.h); NULL: none */
	const char	*webhook_user;	/* the dispatcher's user; NULL: none */
	bool		 contract;	/* also the contract migrations */
	void		(*applied)(const struct cm_migration_report *, void *arg);
	/* A contract migration left for --contract; needs: the release every host runs first. */
	void		(*waiting)(const char *name, const char *needs, void *arg);
	void		*arg;
};

/*
 * Applies the migrations of o->dir not applied yet, in name order: the
 * expand ones, and the contract ones only with o->contract; then gives
 * o->runtime_user its grants, table by table, and takes back its
 * database-wide rights.  Every file's header is checked before any runs.
 */
enum cm_db_status cm_db_migrate(struct cm_db *, const struct cm_migrate_opts *);

/*
 * Whether this build serves the database's schema: CM_DB_OK with the
 * newest migration applied in level, CM_DB_INVALID with the reason in
 * why, CM_DB_UNAVAILABLE when no node answers.
 */
enum cm_db_status cm_db_schema_check(struct cm_db *, char *level,
	    size_t levelsz, char *why, size_t whysz);
/* The newest migration the last schema check saw ("" before one). */
const char	*cm_db_schema_level(const struct cm_db *);

/*
 * What clientsctl sets on an admin key: each part only when its set_
 * flag is true (create: the others take their defaults, every scope and
 * no binding, expiry or description).
 */
struct cm_key_settings {
	bool		 set_scopes;
	unsigned	 scopes;		/* enum cm_scope bits */
	bool		 set_agency;
	const char	*agency_id;		/* NULL: not bound */
	bool		 set_expires;
	const char	*expires_at;		/* "YYYY-MM-DD HH:MM:SS.000" UTC; NULL: never */
	bool		 set_description;
	const char	*description;		/* NULL: none */
};

enum cm_db_status cm_db_admin_key_create(struct cm_db *, const char *name,
	    const char *sha256_hex, const struct cm_key_settings *,
	    unsigned long long *id);
/*
 * Changes an active key's settings, never its secret: CM_DB_NOT_FOUND
 * when there is no such key or it is revoked.
 */
enum cm_db_status cm_db_admin_key_set(struct cm_db *, unsigned long long id,
	    const struct cm_key_settings *);
/*
 * Every key, one tab-separated line each after a header, to fp:
 * ID NAME CREATED_AT REVOKED_AT SHA256_PREFIX SCOPES AGENCY_ID EXPIRES_AT
 * LAST_USED_AT DESCRIPTION ("-" for none; the first four as before
 * scopes existed, for scripts that read them).
 */
enum cm_db_status cm_db_admin_key_list(struct cm_db *, void *fp);
enum cm_db_status cm_db_admin_key_revoke(struct cm_db *, unsigned long long id);
/*
 * What one admin key did: its audit rows, newest first, with seq below
 * before (0: from the newest), at most limit of them, into *items (an
 * array of entries as the history answers them, plus client_id).
 */
enum cm_db_status cm_db_audit_by_key(struct cm_db *, unsigned long long key_id,
	    unsigned long long before, unsigned limit, json_t **items);

#endif
