/*
 * db.c - a worker's database (db.h): a connection for reads and one for
 * writes, and which one each call uses.
 *
 * Reads go to a plain session (autocommit on): one statement, no COMMIT.
 * Writes go to a write session (explicit transactions, chained, their
 * state checked: store_conn.c).  The write session also serves the
 * reads a write depends on, inside its transaction.  Migrations run on
 * the plain one: DDL commits on its own.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "store_int.h"

struct cm_db {
	struct cm_db_config	 cfg;
	struct cm_store		*read, *write;
};

struct cm_db *
cm_db_open(const struct cm_db_config *cfg, unsigned long worker)
{
	struct cm_db	*db = cm_calloc(1, sizeof(*db));

	db->cfg = *cfg;
	db->read = store_new(&db->cfg, false, worker);
	db->write = store_new(&db->cfg, true, worker);
	return db;
}

void
cm_db_close(struct cm_db *db)
{
	if (db == NULL)
		return;
	store_free(db->read);
	store_free(db->write);
	explicit_bzero(db->cfg.password, sizeof(db->cfg.password));
	free(db);
}

void
cm_db_begin_request(struct cm_db *db, const struct timespec *deadline)
{
	store_set_deadline(db->read, deadline);
	store_set_deadline(db->write, deadline);
	db->write->tx_unsettled = false;
}

bool
cm_db_outcome_unknown(const struct cm_db *db)
{
	return db->write->tx_unsettled;
}

void
cm_db_stats_take(struct cm_db *db, struct cm_db_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	store_stats_take(db->read, stats);
	store_stats_take(db->write, stats);
}

void
cm_db_end_request(struct cm_db *db)
{
	store_set_deadline(db->read, NULL);
	store_set_deadline(db->write, NULL);
	/* A node one session found stalled costs the other no wait of its own. */
	store_learn_stalls(db->read, db->write);
	store_learn_stalls(db->write, db->read);
	store_between_requests(db->read);
	store_between_requests(db->write);
}

enum cm_db_status
cm_db_ping(struct cm_db *db)
{
	enum cm_db_status	rc;

	if ((rc = store_ping(db->read)) != CM_DB_OK)
		return rc;
	return store_ping(db->write);
}

enum cm_db_status
cm_db_admin_key(struct cm_db *db, const char *sha256_hex,
    struct cm_admin_key *key)
{
	return store_admin_key(db->read, sha256_hex, key);
}

enum cm_db_status
cm_db_get(struct cm_db *db, const char *id, const char *within,
    struct cm_stored *out)
{
	return store_get(db->read, id, within, out);
}

enum cm_db_status
cm_db_create(struct cm_db *db, const json_t *input, const struct cm_write *w,
    struct cm_stored *out, struct cm_problems *probs)
{
	return store_create(db->write, input, w, out, probs);
}

enum cm_db_status
cm_db_patch(struct cm_db *db, const char *id, const json_t *changes,
    const struct cm_write *w, struct cm_stored *out, struct cm_problems *probs)
{
	return store_patch(db->write, id, changes, w, out, probs);
}

enum cm_db_status
cm_db_rotate_keys(struct cm_db *db, const char *id, bool publishable,
    bool secret, const struct cm_write *w, struct cm_stored *out)
{
	return store_rotate_keys(db->write, id, publishable, secret, w, out);
}

enum cm_db_status
cm_db_delete(struct cm_db *db, const char *id, bool hard,
    const struct cm_write *w, struct cm_stored *out)
{
	return store_delete(db->write, id, hard, w, out);
}

enum cm_db_status
cm_db_erase(struct cm_db *db, const char *id, const struct cm_write *w,
    bool *deleted)
{
	return store_erase(db->write, id, w, deleted);
}

enum cm_db_status
cm_db_list(struct cm_db *db, const struct cm_list_query *q,
    struct cm_page *out)
{
	return store_list(db->read, q, out);
}

enum cm_db_status
cm_db_audit(struct cm_db *db, const char *id, const struct cm_list_query *q,
    struct cm_page *out)
{
	return store_audit(db->read, id, q, out);
}

enum cm_db_status
cm_db_events(struct cm_db *db, const struct cm_event_query *q,
    struct cm_page *out)
{
	return store_events(db->read, q, out);
}

enum cm_db_status
cm_db_webhook_create(struct cm_db *db, const json_t *input, const char *secret,
    json_t **out)
{
	return store_webhook_create(db->write, input, secret, out);
}

enum cm_db_status
cm_db_webhook_get(struct cm_db *db, unsigned long long id, const char *within,
    json_t **out)
{
	return store_webhook_get(db->read, id, within, out);
}

enum cm_db_status
cm_db_webhook_list(struct cm_db *db, unsigned limit, const char *after,
    const char *within, struct cm_page *out)
{
	return store_webhook_list(db->read, limit, after, within, out);
}

enum cm_db_status
cm_db_webhook_patch(struct cm_db *db, unsigned long long id,
    const char *within, const json_t *changes, json_t **out)
{
	return store_webhook_patch(db->write, id, within, changes, out);
}

enum cm_db_status
cm_db_webhook_rotate(struct cm_db *db, unsigned long long id,
    const char *within, const char *secret, int overlap_s, json_t **out)
{
	return store_webhook_rotate(db->write, id, within, secret, overlap_s,
	    out);
}

enum cm_db_status
cm_db_webhook_delete(struct cm_db *db, unsigned long long id,
    const char *within)
{
	return store_webhook_delete(db->write, id, within);
}

enum cm_db_status
cm_db_wh_lease(struct cm_db *db, const char *holder, int lease_s, bool *held)
{
	return store_wh_lease(db->write, holder, lease_s, held);
}

enum cm_db_status
cm_db_wh_targets(struct cm_db *db, struct cm_wh_target **out, size_t *n)
{
	return store_wh_targets(db->read, out, n);
}

enum cm_db_status
cm_db_wh_enqueue(struct cm_db *db, struct cm_wh_target *t, int settle_s,
    unsigned batch, bool rescan, unsigned *queued)
{
	return store_wh_enqueue(db->write, t, settle_s, batch, rescan, queued);
}

enum cm_db_status
cm_db_wh_next(struct cm_db *db, unsigned long long endpoint_id,
    struct cm_wh_delivery *out, bool *found)
{
	return store_wh_next(db->read, endpoint_id, out, found);
}

enum cm_db_status
cm_db_wh_record(struct cm_db *db, const char *holder,
    const struct cm_wh_delivery *d, bool delivered, int status,
    const char *error, long long retry_ms, int retry_period_s)
{
	return store_wh_record(db->write, holder, d, delivered, status, error,
	    retry_ms, retry_period_s);
}

enum cm_db_status
cm_db_wh_tidy(struct cm_db *db, int keep_s)
{
	return store_wh_tidy(db->write, keep_s);
}

enum cm_db_status
cm_db_wh_status(struct cm_db *db, const char *within, json_t **out)
{
	return store_wh_status(db->read, within, out);
}

enum cm_db_status
cm_db_wh_list(struct cm_db *db, void *fp)
{
	return store_wh_list(db->read, fp);
}

enum cm_db_status
cm_db_wh_replay(struct cm_db *db, const char *since,
    unsigned long long endpoint_id, unsigned long long *rows)
{
	return store_wh_replay(db->write, since, endpoint_id, rows);
}

enum cm_db_status
cm_db_idem_begin(struct cm_db *db, struct cm_idem *idem, int ttl_s,
    int stale_s, enum cm_idem_verdict *verdict, struct cm_idem_answer *ans)
{
	return store_idem_begin(db->write, idem, ttl_s, stale_s, verdict, ans);
}

enum cm_db_status
cm_db_idem_finish(struct cm_db *db, const struct cm_idem *idem,
    const struct cm_idem_answer *ans)
{
	return store_idem_finish(db->write, idem, ans);
}

enum cm_db_status
cm_db_idem_release(struct cm_db *db, const struct cm_idem *idem)
{
	return store_idem_release(db->write, idem);
}

enum cm_db_status
cm_db_idem_purge(struct cm_db *db, int ttl_s, unsigned batch,
    unsigned long long *rows)
{
	return store_idem_purge(db->write, ttl_s, batch, rows);
}

enum cm_db_status
cm_db_audit_purge(struct cm_db *db, const char *cutoff, unsigned batch,
    bool dry_run, unsigned long long *rows, unsigned long long *batches)
{
	return store_audit_purge(db->write, cutoff, batch, dry_run, rows,
	    batches);
}

enum cm_db_status
cm_db_explain_list(struct cm_db *db, void *fp)
{
	return store_explain_list(db->read, fp);
}

enum cm_db_status
cm_db_migrate(struct cm_db *db, const struct cm_migrate_opts *o)
{
	return store_migrate(db->read, o);
}

enum cm_db_status
cm_db_schema_check(struct cm_db *db, char *level, size_t levelsz, char *why,
    size_t whysz)
{
	struct cm_store	*s = db->read;

	s->schema_bad = false;
	if (store_connect(s) != 0) {
		snprintf(why, whysz, "%s", s->schema_bad ? s->schema_why :
		    "no database node answers");
		return s->schema_bad ? CM_DB_INVALID : CM_DB_UNAVAILABLE;
	}
	/* Connected with the check off (clientsctl): check now. */
	if (!s->cfg->check_schema && store_schema_check(s->db, s->schema,
	    sizeof(s->schema), why, whysz) != 0)
		return mysql_errno(s->db) == 0 ? CM_DB_INVALID : CM_DB_FAILED;
	snprintf(level, levelsz, "%s", s->schema);
	return CM_DB_OK;
}

const char *
cm_db_schema_level(const struct cm_db *db)
{
	return db->read->schema;
}

enum cm_db_status
cm_db_admin_key_create(struct cm_db *db, const char *name,
    const char *sha256_hex, const struct cm_key_settings *set,
    unsigned long long *id)
{
	return store_admin_key_create(db->write, name, sha256_hex, set, id);
}

enum cm_db_status
cm_db_admin_key_set(struct cm_db *db, unsigned long long id,
    const struct cm_key_settings *set)
{
	return store_admin_key_set(db->write, id, set);
}

enum cm_db_status
cm_db_admin_key_list(struct cm_db *db, void *fp)
{
	return store_admin_key_list(db->read, fp);
}

enum cm_db_status
cm_db_admin_key_revoke(struct cm_db *db, unsigned long long id)
{
	return store_admin_key_revoke(db->write, id);
}

enum cm_db_status
cm_db_audit_by_key(struct cm_db *db, unsigned long long key_id,
    unsigned long long before, unsigned limit, json_t **items)
{
	return store_audit_by_key(db->read, key_id, before, limit, items);
}
