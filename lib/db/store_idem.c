/*
 * store_idem.c - Idempotency-Key in the database (db.h,
 * db/011_idempotency.sql): the in-progress marker, the stored answer,
 * replays, expiry.  The pure rules (the header, the fingerprint) are in
 * idempotency.h.  Nothing here logs a stored body: a create's holds
 * secret_key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dberr.h"
#include "log.h"
#include "mem.h"
#include "random.h"
#include "store_int.h"

/* The row of (admin key, key), locked; expired and stale computed by the server's clock. */
static const char read_sql[] = "SELECT fingerprint, status, "
	"COALESCE(etag, ''), COALESCE(location, ''), COALESCE(body, ''), "
	"created_at < NOW(3) - INTERVAL ? SECOND, "
	"created_at < NOW(3) - INTERVAL ? SECOND, owner = ? "
	"FROM idempotency_keys WHERE admin_key_id = ? AND idem_key = ? FOR UPDATE";
enum { R_FP, R_STATUS, R_ETAG, R_LOCATION, R_BODY, R_EXPIRED, R_STALE, R_MINE,
	R__N };

static const char insert_sql[] = "INSERT INTO idempotency_keys "
	"(admin_key_id, idem_key, fingerprint, owner, client_id, created_at) "
	"VALUES (?, ?, ?, ?, ?, NOW(3))";
/* An expired row or a stale marker becomes this request's marker. */
static const char take_sql[] = "UPDATE idempotency_keys SET fingerprint = ?, "
	"owner = ?, client_id = ?, created_at = NOW(3), status = NULL, "
	"etag = NULL, location = NULL, body = NULL "
	"WHERE admin_key_id = ? AND idem_key = ?";
static const char owner_sql[] = "SELECT owner FROM idempotency_keys "
	"WHERE admin_key_id = ? AND idem_key = ? FOR UPDATE";
static const char save_sql[] = "UPDATE idempotency_keys SET status = ?, "
	"etag = ?, location = ?, body = ?, client_id = COALESCE(?, client_id) "
	"WHERE admin_key_id = ? AND idem_key = ?";
static const char release_sql[] = "DELETE FROM idempotency_keys "
	"WHERE admin_key_id = ? AND idem_key = ? AND owner = ? "
	"AND status IS NULL";
static const char purge_sql[] = "DELETE FROM idempotency_keys "
	"WHERE created_at < NOW(3) - INTERVAL ? SECOND ORDER BY created_at "
	"LIMIT ?";
static const char erase_sql[] = "DELETE FROM idempotency_keys "
	"WHERE client_id = ?";

/* "" is SQL NULL. */
static struct param
opt_str(const char *v)
{
	return store_str(v != NULL && v[0] != '\0' ? v : NULL);
}

static void
answer_clear(struct cm_idem_answer *a)
{
	free(a->body);
	memset(a, 0, sizeof(*a));
}

struct begin_job {
	struct cm_idem		*idem;
	int			 ttl_s, stale_s;
	enum cm_idem_verdict	*verdict;
	struct cm_idem_answer	*ans;
};

/* The stored answer of the fetched row, into *a. */
static void
answer_from_row(struct cm_store *s, struct cm_idem_answer *a)
{
	a->status = atoi(s->col[R_STATUS]);
	snprintf(a->etag, sizeof(a->etag), "%s", s->col[R_ETAG]);
	snprintf(a->location, sizeof(a->location), "%s", s->col[R_LOCATION]);
	a->len = s->col_len[R_BODY];
	a->body = cm_malloc(a->len + 1);
	memcpy(a->body, s->col[R_BODY], a->len + 1);
}

/*
 * Reads the row: ROW_NONE none (or expired, or a stale marker: ours to
 * take, *taken set), ROW_FOUND decided (*verdict), ROW_ERROR.
 */
static enum row_rc
read_row(struct cm_store *s, struct begin_job *j, bool *taken)
{
	struct param	 p[5];
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	p[0] = store_int(j->ttl_s);
	p[1] = store_int(j->stale_s);
	p[2] = store_bin(j->idem->owner, sizeof(j->idem->owner));
	p[3] = store_int((long long)j->idem->admin_key_id);
	p[4] = store_str(j->idem->key);
	*taken = false;
	if ((st = store_exec(s, read_sql, p, 5)) == NULL)
		return ROW_ERROR;
	if ((rc = store_fetch_one(s, st, R__N)) != ROW_FOUND)
		return rc;
	/*
	 * Our own marker: this transaction ran before and its COMMIT's
	 * answer was lost (it had committed).
	 */
	if (strcmp(s->col[R_MINE], "1") == 0 && s->col_null[R_STATUS])
		*j->verdict = CM_IDEM_GO;
	else if (strcmp(s->col[R_EXPIRED], "1") == 0)
		*taken = true;
	else if (strcmp(s->col[R_FP], j->idem->fingerprint) != 0)
		*j->verdict = CM_IDEM_REUSED;
	else if (!s->col_null[R_STATUS]) {
		*j->verdict = CM_IDEM_REPLAY;
		answer_from_row(s, j->ans);
	} else if (strcmp(s->col[R_STALE], "1") == 0)
		*taken = true;
	else
		*j->verdict = CM_IDEM_BUSY;
	return *taken ? ROW_NONE : ROW_FOUND;
}

/* This request's marker: a new row, or over an expired or stale one. */
static enum tx_rc
write_marker(struct cm_store *s, const struct cm_idem *idem, bool over)
{
	struct param	 p[5];
	MYSQL_STMT	*st;

	if (over) {
		p[0] = store_str(idem->fingerprint);
		p[1] = store_bin(idem->owner, sizeof(idem->owner));
		p[2] = opt_str(idem->client_id);
		p[3] = store_int((long long)idem->admin_key_id);
		p[4] = store_str(idem->key);
	} else {
		p[0] = store_int((long long)idem->admin_key_id);
		p[1] = store_str(idem->key);
		p[2] = store_str(idem->fingerprint);
		p[3] = store_bin(idem->owner, sizeof(idem->owner));
		p[4] = opt_str(idem->client_id);
	}
	if ((st = store_stmt(s, over ? take_sql : insert_sql)) == NULL)
		return TX_DB_ERROR;
	if (store_execute(s, st, p, 5) == TX_OK)
		return TX_OK;
	/*
	 * Another request inserted the key first (here it waited for that
	 * one's COMMIT; on another Galera node it committed before ours):
	 * read again, and find its row.
	 */
	return cm_dberr_class(s->err) == CM_DBERR_DUPLICATE ? TX_RETRY :
	    TX_DB_ERROR;
}

static enum tx_rc
begin_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct begin_job	*j = arg;
	bool			 taken;
	enum row_rc		 rc;
	enum tx_rc		 w;

	(void)status;
	answer_clear(j->ans);
	*j->verdict = CM_IDEM_GO;
	if ((rc = read_row(s, j, &taken)) != ROW_NONE)
		return rc == ROW_FOUND ? TX_OK : TX_DB_ERROR;
	if ((w = write_marker(s, j->idem, taken)) != TX_OK)
		return w;
	if (taken)
		LOG_INFO("idempotency key of admin key %llu: an expired or "
		    "abandoned row replaced", j->idem->admin_key_id);
	return TX_OK;
}

enum cm_db_status
store_idem_begin(struct cm_store *s, struct cm_idem *idem, int ttl_s,
    int stale_s, enum cm_idem_verdict *verdict, struct cm_idem_answer *ans)
{
	struct begin_job	j = { idem, ttl_s, stale_s, verdict, ans };
	enum cm_db_status	rc;

	memset(ans, 0, sizeof(*ans));
	if (cm_random_ids(idem->owner, sizeof(idem->owner)) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		return CM_DB_FAILED;
	}
	if ((rc = store_transaction(s, begin_tx, &j)) != CM_DB_OK)
		answer_clear(ans);
	return rc;
}

/*
 * Stores answer a in the key's row if the marker is still this
 * request's; else TX_STOP with CM_DB_IDEM_BUSY (taken over by a repeat
 * after this request outlived the request timeout, or purged).
 */
static enum tx_rc
idem_save(struct cm_store *s, const struct cm_idem *idem,
    const struct cm_idem_answer *a, const char *client_id,
    enum cm_db_status *status)
{
	struct param	 p[7];
	MYSQL_STMT	*st;
	enum row_rc	 rc;

	p[0] = store_int((long long)idem->admin_key_id);
	p[1] = store_str(idem->key);
	if ((st = store_exec(s, owner_sql, p, 2)) == NULL ||
	    (rc = store_fetch_one(s, st, 1)) == ROW_ERROR)
		return TX_DB_ERROR;
	if (rc == ROW_NONE || s->col_len[0] != sizeof(idem->owner) ||
	    memcmp(s->col[0], idem->owner, sizeof(idem->owner)) != 0) {
		*status = CM_DB_IDEM_BUSY;
		return TX_STOP;
	}
	p[0] = store_int(a->status);
	p[1] = opt_str(a->etag);
	p[2] = opt_str(a->location);
	p[3] = store_bin(a->body, (unsigned long)a->len);
	p[4] = opt_str(client_id);
	p[5] = store_int((long long)idem->admin_key_id);
	p[6] = store_str(idem->key);
	return store_exec(s, save_sql, p, 7) != NULL ? TX_OK : TX_DB_ERROR;
}

enum tx_rc
store_idem_answer(struct cm_store *s, const struct cm_write *w,
    const char *client_id, const struct cm_stored *out,
    enum cm_db_status *status)
{
	struct cm_idem_answer	 a;
	enum tx_rc		 rc;

	if (w->idem == NULL)
		return TX_OK;
	memset(&a, 0, sizeof(a));
	a.status = w->idem->status;
	snprintf(a.location, sizeof(a.location), "%s", w->idem->location);
	if (out != NULL && w->idem->with_etag)
		snprintf(a.etag, sizeof(a.etag), "%s", out->etag);
	if ((a.body = w->idem->render(out, w->idem->render_arg)) == NULL)
		cm_oom();
	a.len = strlen(a.body);
	rc = idem_save(s, w->idem, &a, client_id, status);
	explicit_bzero(a.body, a.len);	/* a create's holds secret_key */
	free(a.body);
	return rc;
}

struct finish_job {
	const struct cm_idem		*idem;
	const struct cm_idem_answer	*ans;
};

static enum tx_rc
finish_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct finish_job	*j = arg;

	return idem_save(s, j->idem, j->ans, j->idem->client_id, status);
}

enum cm_db_status
store_idem_finish(struct cm_store *s, const struct cm_idem *idem,
    const struct cm_idem_answer *ans)
{
	struct finish_job	j = { idem, ans };
	enum cm_db_status	rc;

	rc = store_transaction(s, finish_tx, &j);
	return rc == CM_DB_IDEM_BUSY ? CM_DB_OK : rc;
}

static enum tx_rc
release_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	const struct cm_idem	*idem = arg;
	struct param		 p[3];

	(void)status;
	p[0] = store_int((long long)idem->admin_key_id);
	p[1] = store_str(idem->key);
	p[2] = store_bin(idem->owner, sizeof(idem->owner));
	return store_exec(s, release_sql, p, 3) != NULL ? TX_OK : TX_DB_ERROR;
}

enum cm_db_status
store_idem_release(struct cm_store *s, const struct cm_idem *idem)
{
	return store_transaction(s, release_tx, (void *)idem);
}

enum tx_rc
store_idem_erase(struct cm_store *s, const char *client_id,
    unsigned long long *rows)
{
	struct param	 p = store_str(client_id);
	MYSQL_STMT	*st;

	if ((st = store_exec(s, erase_sql, &p, 1)) == NULL)
		return TX_DB_ERROR;
	*rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return TX_OK;
}

struct purge_job {
	int			ttl_s;
	unsigned		batch;
	unsigned long long	rows;	/* of the last batch */
};

static enum tx_rc
purge_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct purge_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;

	(void)status;
	p[0] = store_int(j->ttl_s);
	p[1] = store_int(j->batch);
	if ((st = store_exec(s, purge_sql, p, 2)) == NULL)
		return TX_DB_ERROR;
	j->rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return TX_OK;
}

enum cm_db_status
store_idem_purge(struct cm_store *s, int ttl_s, unsigned batch,
    unsigned long long *rows)
{
	struct purge_job	j = { ttl_s, batch ? batch : 1000, 0 };
	enum cm_db_status	rc;

	*rows = 0;
	do {
		if ((rc = store_transaction(s, purge_tx, &j)) != CM_DB_OK)
			break;
		*rows += j.rows;
	} while (j.rows == j.batch);
	return rc;
}
