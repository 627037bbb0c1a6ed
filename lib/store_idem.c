/*
 * store_idem.c - Idempotency-Key in the database (store_idem.h,
 * db/011_idempotency.sql), on the store's connection and transaction
 * runner.  Nothing here logs a stored body: a create's holds secret_key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dberr.h"
#include "http.h"
#include "jsonbody.h"
#include "log.h"
#include "store_idem.h"
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
	if ((a->body = malloc(a->len + 1)) == NULL)
		abort();
	memcpy(a->body, s->col[R_BODY], a->len + 1);
}

/*
 * Reads the row: 0 none (or expired, or a stale marker: ours to take,
 * *taken set), 1 decided (*verdict), TX_DB_ERROR.
 */
static int
read_row(struct cm_store *s, struct begin_job *j, bool *taken)
{
	struct param	 p[5];
	MYSQL_STMT	*st;
	int		 rc;

	p[0] = store_int(j->ttl_s);
	p[1] = store_int(j->stale_s);
	p[2] = store_bin(j->idem->owner, sizeof(j->idem->owner));
	p[3] = store_int((long long)j->idem->admin_key_id);
	p[4] = store_str(j->idem->key);
	*taken = false;
	if ((st = store_stmt_sql(s, read_sql)) == NULL ||
	    store_execute(s, st, p, 5) != 0)
		return TX_DB_ERROR;
	if ((rc = store_fetch_one(s, st, R__N)) != 1)
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
	return *taken ? 0 : 1;
}

/* This request's marker: a new row, or over an expired or stale one. */
static int
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
	if ((st = store_stmt_sql(s, over ? take_sql : insert_sql)) == NULL)
		return TX_DB_ERROR;
	if (store_execute(s, st, p, 5) == 0)
		return 0;
	/*
	 * Another request inserted the key first (here it waited for that
	 * one's COMMIT; on another Galera node it committed before ours):
	 * read again, and find its row.
	 */
	return cm_dberr_class(s->err) == CM_DBERR_DUPLICATE ? TX_RETRY :
	    TX_DB_ERROR;
}

static int
begin_tx(struct cm_store *s, void *arg)
{
	struct begin_job	*j = arg;
	bool			 taken;
	int			 rc;

	answer_clear(j->ans);
	*j->verdict = CM_IDEM_GO;
	if ((rc = read_row(s, j, &taken)) != 0)
		return rc == 1 ? CM_STORE_OK : rc;
	if ((rc = write_marker(s, j->idem, taken)) != 0)
		return rc;
	if (taken)
		LOG_INFO("idempotency key of admin key %llu: an expired or "
		    "abandoned row replaced", j->idem->admin_key_id);
	return CM_STORE_OK;
}

int
cm_store_idem_begin(struct cm_store *s, struct cm_idem *idem, int ttl_s,
    int stale_s, enum cm_idem_verdict *verdict, struct cm_idem_answer *ans)
{
	struct begin_job	j = { idem, ttl_s, stale_s, verdict, ans };
	int			rc;

	memset(ans, 0, sizeof(*ans));
	if (cm_random_bytes(idem->owner, sizeof(idem->owner)) != 0) {
		LOG_ERR("getrandom: %s", strerror(errno));
		return CM_STORE_FAILED;
	}
	if ((rc = store_transaction(s, begin_tx, &j, NULL)) != CM_STORE_OK)
		answer_clear(ans);
	return rc;
}

int
store_idem_save(struct cm_store *s, const struct cm_idem *idem,
    const struct cm_idem_answer *a, const char *client_id)
{
	struct param	 p[7];
	MYSQL_STMT	*st;
	int		 rc;

	p[0] = store_int((long long)idem->admin_key_id);
	p[1] = store_str(idem->key);
	if ((st = store_stmt_sql(s, owner_sql)) == NULL ||
	    store_execute(s, st, p, 2) != 0 ||
	    (rc = store_fetch_one(s, st, 1)) < 0)
		return TX_DB_ERROR;
	/* Taken over (this request outlived the request timeout) or purged. */
	if (rc == 0 || s->col_len[0] != sizeof(idem->owner) ||
	    memcmp(s->col[0], idem->owner, sizeof(idem->owner)) != 0)
		return CM_STORE_IDEM_BUSY;
	p[0] = store_int(a->status);
	p[1] = opt_str(a->etag);
	p[2] = opt_str(a->location);
	p[3] = store_bin(a->body, (unsigned long)a->len);
	p[4] = opt_str(client_id);
	p[5] = store_int((long long)idem->admin_key_id);
	p[6] = store_str(idem->key);
	if ((st = store_stmt_sql(s, save_sql)) == NULL ||
	    store_execute(s, st, p, 7) != 0)
		return TX_DB_ERROR;
	return 0;
}

int
store_idem_answer(struct cm_store *s, const struct cm_write *w,
    const char *client_id, const struct cm_stored *out)
{
	struct cm_idem_answer	 a;
	json_t			*env;
	int			 rc;

	if (w->idem == NULL)
		return 0;
	memset(&a, 0, sizeof(a));
	a.status = w->idem->status;
	snprintf(a.location, sizeof(a.location), "%s", w->idem->location);
	if (w->idem->answer[0] != '\0' || out == NULL) {
		a.body = strdup(w->idem->answer);
	} else {
		snprintf(a.etag, sizeof(a.etag), "%s", out->etag);
		env = cm_envelope_data(json_incref(out->client));
		a.body = cm_json_compact(env);
		json_decref(env);
	}
	if (a.body == NULL)
		abort();
	a.len = strlen(a.body);
	rc = store_idem_save(s, w->idem, &a, client_id);
	explicit_bzero(a.body, a.len);	/* a create's holds secret_key */
	free(a.body);
	return rc;
}

struct finish_job {
	const struct cm_idem		*idem;
	const struct cm_idem_answer	*ans;
};

static int
finish_tx(struct cm_store *s, void *arg)
{
	struct finish_job	*j = arg;
	int			 rc;

	rc = store_idem_save(s, j->idem, j->ans, j->idem->client_id);
	return rc == 0 ? CM_STORE_OK : rc;
}

int
cm_store_idem_finish(struct cm_store *s, const struct cm_idem *idem,
    const struct cm_idem_answer *ans)
{
	struct finish_job	j = { idem, ans };
	int			rc;

	rc = store_transaction(s, finish_tx, &j, NULL);
	return rc == CM_STORE_IDEM_BUSY ? CM_STORE_OK : rc;
}

static int
release_tx(struct cm_store *s, void *arg)
{
	const struct cm_idem	*idem = arg;
	struct param		 p[3];
	MYSQL_STMT		*st;

	p[0] = store_int((long long)idem->admin_key_id);
	p[1] = store_str(idem->key);
	p[2] = store_bin(idem->owner, sizeof(idem->owner));
	if ((st = store_stmt_sql(s, release_sql)) == NULL ||
	    store_execute(s, st, p, 3) != 0)
		return TX_DB_ERROR;
	return CM_STORE_OK;
}

int
cm_store_idem_release(struct cm_store *s, const struct cm_idem *idem)
{
	return store_transaction(s, release_tx, (void *)idem, NULL);
}

int
store_idem_erase(struct cm_store *s, const char *client_id,
    unsigned long long *rows)
{
	struct param	 p = store_str(client_id);
	MYSQL_STMT	*st;

	if ((st = store_stmt_sql(s, erase_sql)) == NULL ||
	    store_execute(s, st, &p, 1) != 0)
		return TX_DB_ERROR;
	*rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return 0;
}

struct purge_job {
	int			ttl_s;
	unsigned		batch;
	unsigned long long	rows;	/* of the last batch */
};

static int
purge_tx(struct cm_store *s, void *arg)
{
	struct purge_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;

	p[0] = store_int(j->ttl_s);
	p[1] = store_int(j->batch);
	if ((st = store_stmt_sql(s, purge_sql)) == NULL ||
	    store_execute(s, st, p, 2) != 0)
		return TX_DB_ERROR;
	j->rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return CM_STORE_OK;
}

int
cm_store_idem_purge(struct cm_store *s, int ttl_s, unsigned batch,
    unsigned long long *rows)
{
	struct purge_job	j = { ttl_s, batch ? batch : 1000, 0 };
	int			rc;

	*rows = 0;
	do {
		if ((rc = store_transaction(s, purge_tx, &j, NULL)) !=
		    CM_STORE_OK)
			break;
		*rows += j.rows;
	} while (j.rows == j.batch);
	return rc;
}
