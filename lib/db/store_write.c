/*
 * store_write.c - every write to a client: create, patch, soft and hard
 * delete, key rotation.  Each runs in one transaction on the locked row,
 * compares If-Match with that row, writes only the columns that change,
 * and leaves one audit row in the same transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysqld_error.h>

#include "keys.h"
#include "dberr.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "patch.h"
#include "store_int.h"

/*
 * Binds a client member as a statement parameter.  *owned receives a
 * string to free afterwards (the serialised api_metadata).
 */
static struct param
member_param(const json_t *client, enum cm_field f, char **owned)
{
	const json_t	*v = json_object_get(client, cm_field_name(f));
	struct param	 p = { P_STR, NULL, 0, 0 };

	if (v == NULL || json_is_null(v))
		return p;
	if (json_is_boolean(v))
		return store_int(json_is_true(v));
	if (json_is_string(v)) {
		p.s = json_string_value(v);
		p.len = (unsigned long)json_string_length(v);
		return p;
	}
	*owned = cm_json_compact(v);
	return store_str(*owned);
}

/* The members of a client that hold a value: what a create, hard delete or erase records. */
uint32_t
store_present_members(const json_t *client)
{
	uint32_t	mask = 0;
	int		f;

	for (f = 0; f < CM_F__COUNT; f++)
		if (f != CM_F_CREATED_AT && f != CM_F_UPDATED_AT &&
		    !json_is_null(json_object_get(client, cm_field_name(f))))
			mask |= CM_FIELD_BIT(f);
	return mask;
}

static const char audit_sql[] = "INSERT INTO client_audit (client_id, "
	"action, admin_key_id, request_id, at, changes, tx_token) "
	"VALUES (?, ?, ?, ?, NOW(3), ?, ?)";

enum tx_rc
store_write_audit(struct cm_store *s, const char *id, const char *action,
    const struct cm_write *w, json_t *changes)
{
	struct param	 p[6];
	char		*text = cm_json_compact(changes);
	enum tx_rc	 rc = TX_OK;

	p[0] = store_str(id);
	p[1] = store_str(action);
	p[2] = w->admin_key_id ? store_int((long long)w->admin_key_id) :
	    store_str(NULL);
	p[3] = store_str(w->request_id);
	p[4] = store_str(text);
	p[5] = store_token(s);
	if (store_exec(s, audit_sql, p, 6) == NULL)
		rc = TX_DB_ERROR;
	free(text);
	json_decref(changes);
	return rc;
}

/* The unique members, in the order of the client object's members. */
static const enum cm_field unique_members[] = {
	CM_F_ID, CM_F_DOMAIN, CM_F_GLOBAL_NAME
};

/*
 * MariaDB names only the first key that collided.  Which of the unique
 * members the written row shares with other clients, read in the same
 * transaction (a failed statement leaves it usable); self: the client
 * being changed (a PATCH), NULL on create.
 */
static const char dup_probe_sql[] =
	"SELECT COALESCE(SUM(id = ?), 0), COALESCE(SUM(domain = ?), 0), "
	"COALESCE(SUM(global_name = ?), 0) FROM clients "
	"WHERE (id = ? OR domain = ? OR global_name = ?) AND NOT (id <=> ?)";

static void
name_duplicates(struct cm_store *s, const json_t *row, const char *self,
    const char *reported, struct cm_problems *probs)
{
	struct param	 p[7];
	MYSQL_STMT	*st;
	size_t		 i, named = 0;
	const char	*v;

	for (i = 0; i < 3; i++) {
		v = json_string_value(json_object_get(row,
		    cm_field_name(unique_members[i])));
		/* A PATCH never changes the id: only the others can collide. */
		if (i == 0 && self != NULL)
			v = NULL;
		p[i] = p[i + 3] = store_str(v);
	}
	p[6] = store_str(self);
	if ((st = store_exec(s, dup_probe_sql, p, 7)) != NULL &&
	    store_fetch_one(s, st, 3) == ROW_FOUND)
		for (i = 0; i < 3; i++)
			if (strcmp(s->col[i], "0") != 0) {
				cm_problems_add(probs,
				    cm_field_name(unique_members[i]), "duplicate",
				    "must be unique: another client already has this value");
				named++;
			}
	/* Gone again since (or the probe failed): what MariaDB said. */
	if (named == 0)
		cm_problems_add(probs, reported, "duplicate",
		    "must be unique: another client already has this value");
}

/*
 * Maps a duplicate-key error to the members it is about, by the key name
 * MariaDB reports (never by searching the message: it holds the client's
 * value), then every other unique member that collides too.  A generated
 * key that collided (astronomically rare) reruns the transaction, which
 * draws new keys.
 */
static enum tx_rc
duplicate(struct cm_store *s, MYSQL_STMT *st, const json_t *row,
    const char *self, struct cm_problems *probs, enum cm_db_status *status)
{
	const char	*msg = mysql_stmt_error(st);
	const char	*member;

	switch (cm_dberr_dup_member(msg, &member)) {
	case CM_DUP_MEMBER:
		s->err = 0;
		name_duplicates(s, row, self, member, probs);
		*status = CM_DB_CONFLICT;
		return TX_STOP;
	case CM_DUP_GENERATED:
		LOG_WARN("generated key collided; new keys");
		return TX_RETRY;
	default:
		LOG_ERR("database: unexpected duplicate: %s", msg);
		return TX_DB_ERROR;
	}
}

/* Executes a write whose failure may be a duplicate key. */
static enum tx_rc
exec_write(struct cm_store *s, MYSQL_STMT *st, const struct param *p,
    size_t n, const json_t *row, const char *self, struct cm_problems *probs,
    enum cm_db_status *status)
{
	if (store_execute(s, st, p, n) == TX_OK)
		return TX_OK;
	if (cm_dberr_class(s->err) == CM_DBERR_DUPLICATE)
		return duplicate(s, st, row, self, probs, status);
	return TX_DB_ERROR;
}

/* The members cm_update_client() takes, in its order (014). */
static const enum cm_field call_members[] = {
	CM_F_NAME, CM_F_STATUS, CM_F_PUBLISHABLE_KEY, CM_F_SECRET_KEY,
	CM_F_DOMAIN, CM_F_EMAIL, CM_F_PHONE, CM_F_WEBSITE, CM_F_TIMEZONE,
	CM_F_GLOBAL_NAME, CM_F_COMPANY_ID, CM_F_AGENCY_ID, CM_F_API_METADATA,
	CM_F_GHL_LOCATION_ID, CM_F_PROXY_API_KEY
};
#define CALL_MEMBERS	(sizeof(call_members) / sizeof(call_members[0]))

static const char update_call_sql[] = "CALL cm_update_client(?, ?, ?, "
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/*
 * The change of a client as one call: the version-checked UPDATE of
 * every member, the audit row and the COMMIT, run on the server
 * (db/014_update_procedure.sql).  TX_COMMITTED when it committed; a
 * duplicate names its members; else as store_commit_call().
 */
static enum tx_rc
update_call(struct cm_store *s, const char *id, unsigned long long version,
    const json_t *next, const char *now, const char *action,
    const struct cm_write *w, json_t *changes, struct cm_problems *probs,
    enum cm_db_status *status)
{
	struct param	 p[3 + CALL_MEMBERS + 5];
	char		*owned = NULL, *text = cm_json_compact(changes);
	MYSQL_STMT	*st;
	size_t		 i, n = 0;
	enum tx_rc	 rc;

	p[n++] = store_str(id);
	p[n++] = store_int((long long)version);
	p[n++] = store_str(now);
	for (i = 0; i < CALL_MEMBERS; i++)
		p[n++] = member_param(next, call_members[i], &owned);
	p[n++] = store_str(action);
	p[n++] = w->admin_key_id ? store_int((long long)w->admin_key_id) :
	    store_str(NULL);
	p[n++] = store_str(w->request_id);
	p[n++] = store_str(text);
	p[n++] = store_token(s);
	if ((st = store_stmt(s, update_call_sql)) == NULL)
		rc = TX_DB_ERROR;
	else if ((rc = store_commit_call(s, st, p, n)) == TX_DB_ERROR &&
	    cm_dberr_class(s->err) == CM_DBERR_DUPLICATE)
		rc = duplicate(s, st, next, id, probs, status);
	free(owned);
	free(text);
	json_decref(changes);
	return rc;
}

/*
 * Reads the client locked, and *now, the time this write stamps; a
 * missing client, or one outside the writer's agency, stops the job with
 * CM_DB_NOT_FOUND (before If-Match is looked at: its 412 would tell).
 */
static enum tx_rc
lock_client(struct cm_store *s, const char *id, const struct cm_write *w,
    struct cm_stored *cur, char now[32], enum cm_db_status *status)
{
	switch (store_load_client(s, id, true, w->within, cur)) {
	case ROW_FOUND:
		snprintf(now, 32, "%s", s->col[NCOLS]);
		return TX_OK;
	case ROW_NONE:
		*status = CM_DB_NOT_FOUND;
		return TX_STOP;
	default:
		return TX_DB_ERROR;
	}
}

/*
 * The write's precondition against the locked row: when it fails, the
 * job stops with CM_DB_PRECONDITION_FAILED, and out->etag is the row's
 * (the caller answers with it, without reading again).
 */
static enum tx_rc
check_precondition(const struct cm_write *w, struct cm_stored *cur,
    struct cm_stored *out, enum cm_db_status *status)
{
	if (cm_precondition_holds(w->precondition, cur->etag))
		return TX_OK;
	snprintf(out->etag, sizeof(out->etag), "%s", cur->etag);
	json_decref(cur->client);
	cur->client = NULL;
	*status = CM_DB_PRECONDITION_FAILED;
	return TX_STOP;
}

/* A change of some members: PATCH, soft delete, key rotation. */
struct modify_job {
	const char		*id;
	const json_t		*changes;
	const char		*action;	/* for the audit row */
	const struct cm_write	*w;
	struct cm_stored	*out;
	struct cm_problems	*probs;
};

/* The result of an earlier attempt goes: this one starts afresh. */
static void
stored_reset(struct cm_stored *out)
{
	json_decref(out->client);
	out->client = NULL;
}

static enum tx_rc
modify_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct modify_job	*j = arg;
	struct cm_stored	 cur = { NULL, 0, "" };
	json_t			*next;
	uint32_t		 changed;
	char			 now[32];
	enum tx_rc		 rc;

	stored_reset(j->out);
	if ((rc = lock_client(s, j->id, j->w, &cur, now, status)) != TX_OK ||
	    (rc = check_precondition(j->w, &cur, j->out, status)) != TX_OK)
		return rc;
	if ((next = cm_patch_apply(cur.client, j->changes, &changed,
	    j->probs)) == NULL) {
		*status = CM_DB_INVALID;
		rc = TX_STOP;
		goto out;
	}
	if (changed == 0) {
		/* Nothing to write: the stored client, updated_at and ETag stay. */
		json_decref(next);
		*j->out = cur;
		return store_idem_answer(s, j->w, j->id, j->out, status);
	}
	/*
	 * What the call writes: version + 1 and updated_at = now.  The
	 * Idempotency-Key answer (if any) is written first: the call
	 * commits, and it must be in the same transaction.
	 */
	json_object_set_new(next, "updated_at", store_timestamp(now));
	j->out->client = next;
	store_set_etag(j->out, cur.version + 1,
	    json_string_value(json_object_get(next, "created_at")));
	if ((rc = store_idem_answer(s, j->w, j->id, j->out, status)) == TX_OK)
		rc = update_call(s, j->id, cur.version, next, now, j->action,
		    j->w, cm_audit_changes(cur.client, next, changed),
		    j->probs, status);
out:
	json_decref(cur.client);
	return rc;
}

/* Runs tx on j; whatever it left in out goes unless the result is OK. */
static enum cm_db_status
run_job(struct cm_store *s, store_job tx, struct modify_job *j)
{
	enum cm_db_status	rc;

	j->out->client = NULL;
	j->out->etag[0] = '\0';
	if ((rc = store_write_tx(s, tx, j, j->probs, j->out)) != CM_DB_OK)
		stored_reset(j->out);
	return rc;
}

static enum cm_db_status
modify(struct cm_store *s, const char *id, const json_t *changes,
    const char *action, const struct cm_write *w, struct cm_stored *out,
    struct cm_problems *probs)
{
	struct modify_job	j = { id, changes, action, w, out, probs };

	return run_job(s, modify_tx, &j);
}

enum cm_db_status
store_patch(struct cm_store *s, const char *id, const json_t *changes,
    const struct cm_write *w, struct cm_stored *out, struct cm_problems *probs)
{
	return modify(s, id, changes, "update", w, out, probs);
}

/* Key rotation: fresh keys drawn in each attempt, so a retry after a collision gets new ones. */
struct rotate_job {
	struct modify_job	 m;	/* first: the transaction gets &m */
	bool			 publishable, secret;
};

static enum tx_rc
rotate_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct rotate_job	*j = arg;
	char			 pk[CM_CLIENT_KEY_LEN + 1], sk[CM_CLIENT_KEY_LEN + 1];
	json_t			*keys;
	enum tx_rc		 rc;

	stored_reset(j->m.out);
	if ((j->publishable && cm_client_key("pk_", pk) != 0) ||
	    (j->secret && cm_client_key("sk_", sk) != 0)) {
		LOG_ERR("getrandom: %s", strerror(errno));
		*status = CM_DB_FAILED;
		return TX_STOP;
	}
	keys = json_object();
	if (j->publishable)
		json_object_set_new(keys, "publishable_key", json_string(pk));
	if (j->secret) {
		json_object_set_new(keys, "secret_key", json_string(sk));
		explicit_bzero(sk, sizeof(sk));
	}
	j->m.changes = keys;
	rc = modify_tx(s, &j->m, status);
	j->m.changes = NULL;
	json_decref(keys);
	return rc;
}

enum cm_db_status
store_rotate_keys(struct cm_store *s, const char *id, bool publishable,
    bool secret, const struct cm_write *w, struct cm_stored *out)
{
	struct cm_problems	probs;
	struct rotate_job	j = { { id, NULL, "rotate_keys", w, out, &probs },
				    publishable, secret };

	return run_job(s, rotate_tx, &j.m);
}

/* The version read: a write committed through another node in between is caught. */
static const char delete_sql[] = "DELETE FROM clients WHERE id = ? AND "
	"version = ?";

enum tx_rc
store_delete_row(struct cm_store *s, const char *id, unsigned long long version)
{
	struct param	 p[2];
	MYSQL_STMT	*st;

	p[0] = store_str(id);
	p[1] = store_int((long long)version);
	if ((st = store_exec(s, delete_sql, p, 2)) == NULL)
		return TX_DB_ERROR;
	return store_one_row(st, id);
}

static enum tx_rc
hard_delete_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct modify_job	*j = arg;
	struct cm_stored	 cur = { NULL, 0, "" };
	unsigned long long	 answers;
	char			 now[32];
	enum tx_rc		 rc;

	if ((rc = lock_client(s, j->id, j->w, &cur, now, status)) != TX_OK ||
	    (rc = check_precondition(j->w, &cur, j->out, status)) != TX_OK)
		return rc;
	/*
	 * The stored answers of the client's requests go with it: replayed,
	 * they would hand out a Location that is 404 and a create's
	 * secret_key.  A replay of one is then a request never seen.
	 */
	if ((rc = store_delete_row(s, j->id, cur.version)) == TX_OK &&
	    (rc = store_idem_erase(s, j->id, &answers)) == TX_OK &&
	    (rc = store_write_audit(s, j->id, "hard_delete", j->w,
	    cm_audit_changes(cur.client, NULL,
	    store_present_members(cur.client)))) == TX_OK)
		rc = store_idem_answer(s, j->w, j->id, NULL, status);
	json_decref(cur.client);
	return rc;
}

enum cm_db_status
store_delete(struct cm_store *s, const char *id, bool hard,
    const struct cm_write *w, struct cm_stored *out)
{
	struct cm_problems	 probs;
	struct modify_job	 j = { id, NULL, NULL, w, out, &probs };
	json_t			*off;
	enum cm_db_status	 rc;

	if (hard)
		return run_job(s, hard_delete_tx, &j);
	/* Soft: status false; already false changes (and stamps) nothing. */
	off = json_pack("{s:b}", "status", 0);
	rc = modify(s, id, off, "delete", w, out, &probs);
	json_decref(off);
	json_decref(out->client);
	out->client = NULL;
	return rc;
}

struct create_job {
	const json_t		*row;	/* the new client, without its keys */
	const struct cm_write	*w;
	struct cm_stored	*out;
	struct cm_problems	*probs;
};

static const char insert_sql[] = "INSERT INTO clients (id, name, status, "
	"publishable_key, secret_key, domain, email, phone, website, timezone, "
	"global_name, company_id, agency_id, api_metadata, ghl_location_id, "
	"proxy_api_key, created_at, updated_at, version) VALUES (?, ?, ?, ?, "
	"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3), NOW(3), 1)";

static enum tx_rc
insert_client(struct cm_store *s, const json_t *row, struct cm_problems *probs,
    enum cm_db_status *status)
{
	struct param	 p[CM_F_PROXY_API_KEY + 1];
	char		*owned = NULL;
	MYSQL_STMT	*st;
	enum tx_rc	 rc = TX_DB_ERROR;
	int		 f;

	for (f = 0; f <= CM_F_PROXY_API_KEY; f++)
		p[f] = member_param(row, f, &owned);
	if ((st = store_stmt(s, insert_sql)) != NULL)
		rc = exec_write(s, st, p, CM_F_PROXY_API_KEY + 1, row, NULL,
		    probs, status);
	free(owned);
	return rc;
}

static enum tx_rc
create_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct create_job	*j = arg;
	char			 pk[CM_CLIENT_KEY_LEN + 1], sk[CM_CLIENT_KEY_LEN + 1];
	const char		*id = json_string_value(json_object_get(j->row, "id"));
	json_t			*row;
	enum tx_rc		 rc;

	stored_reset(j->out);
	/* Drawn in each attempt: a retry after a collision gets new keys. */
	if (cm_client_key("pk_", pk) != 0 || cm_client_key("sk_", sk) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		*status = CM_DB_FAILED;
		return TX_STOP;
	}
	row = json_deep_copy(j->row);
	json_object_set_new(row, "publishable_key", json_string(pk));
	json_object_set_new(row, "secret_key", json_string(sk));
	explicit_bzero(sk, sizeof(sk));
	rc = insert_client(s, row, j->probs, status);
	json_decref(row);
	if (rc != TX_OK)
		return rc;
	/*
	 * Read back for the database's timestamps and version.  Not there:
	 * the server rolled the transaction back under us; run it again.
	 */
	switch (store_load_client(s, id, false, NULL, j->out)) {
	case ROW_FOUND:
		break;
	case ROW_NONE:
		return TX_RETRY;
	default:
		return TX_DB_ERROR;
	}
	if ((rc = store_write_audit(s, id, "create", j->w, cm_audit_changes(NULL,
	    j->out->client, store_present_members(j->out->client)))) != TX_OK)
		return rc;
	return store_idem_answer(s, j->w, id, j->out, status);
}

enum cm_db_status
store_create(struct cm_store *s, const json_t *input,
    const struct cm_write *w, struct cm_stored *out, struct cm_problems *probs)
{
	struct create_job j = { NULL, w, out, probs };
	enum cm_db_status rc;

	out->client = NULL;
	cm_problems_init(probs);
	/* Checked before the transaction: a bad api_metadata costs no round trip. */
	if ((j.row = cm_patch_new_client(input, probs)) == NULL)
		return CM_DB_INVALID;
	if ((rc = store_write_tx(s, create_tx, &j, probs, out)) != CM_DB_OK)
		stored_reset(out);
	json_decref((json_t *)j.row);
	return rc;
}
