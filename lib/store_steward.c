/*
 * store_steward.c - erasure and audit retention, on the store's
 * connection and transaction runner (store_int.h).
 *
 * Their statements go through the store's statement cache
 * (store_stmt_sql): prepared on first use on a connection, kept while
 * they are used, dropped with the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "jsonbody.h"
#include "log.h"
#include "patch.h"
#include "steward.h"
#include "store_int.h"
#include "store_steward.h"

/* ---- erasure ------------------------------------------------------ */

struct erase_job {
	const char		*id;
	const struct cm_write	*w;
	bool			 deleted;	/* the row existed and went */
	unsigned long long	 rows;		/* audit rows rewritten */
	unsigned long long	 answers;	/* Idempotency-Key answers deleted */
};

/*
 * The client's audit rows, locked, as an array of [seq, changes]: read
 * whole before any is rewritten (one statement's result at a time).
 */
static int
locked_history(struct cm_store *s, const char *id, json_t *out)
{
	static const char	 sql[] = "SELECT seq, changes FROM client_audit "
				     "WHERE client_id = ? ORDER BY seq FOR UPDATE";
	struct param		 p = store_str(id);
	MYSQL_STMT		*st;
	json_t			*changes;
	int			 rc;

	if ((st = store_stmt_sql(s, sql)) == NULL)
		return TX_DB_ERROR;
	if ((rc = store_execute(s, st, &p, 1)) == 0 &&
	    (rc = store_bind_row(s, st, 2)) == 0) {
		while ((rc = store_next_row(s, st, 2)) == 1) {
			if ((changes = json_loadb(s->col[1], s->col_len[1], 0,
			    NULL)) == NULL) {
				LOG_ERR("erase: audit row %s of %s is not JSON",
				    s->col[0], id);
				rc = CM_STORE_FAILED;
				break;
			}
			json_array_append_new(out, json_pack("[I, o]",
			    (json_int_t)strtoll(s->col[0], NULL, 10), changes));
		}
		store_free_result(s, st);
	}
	return rc;
}

/* Rewrites the rows of history whose changes still hold a personal value. */
static int
erase_history(struct cm_store *s, const char *id, json_t *history,
    unsigned long long *rewritten)
{
	static const char	 sql[] = "UPDATE client_audit SET changes = ? "
				     "WHERE seq = ?";
	MYSQL_STMT		*st = NULL;
	struct param		 p[2];
	json_t			*row, *changes;
	char			*text;
	size_t			 i;
	int			 n, rc = 0;

	json_array_foreach(history, i, row) {
		changes = json_array_get(row, 1);
		if ((n = cm_steward_erase_changes(changes)) < 0) {
			LOG_ERR("erase: audit row %lld of %s has an unexpected "
			    "shape", (long long)json_integer_value(
			    json_array_get(row, 0)), id);
			rc = CM_STORE_FAILED;
			break;
		}
		if (n == 0)
			continue;
		if (st == NULL && (st = store_stmt_sql(s, sql)) == NULL) {
			rc = TX_DB_ERROR;
			break;
		}
		text = cm_json_compact(changes);
		p[0] = store_str(text);
		p[1] = store_int(json_integer_value(json_array_get(row, 0)));
		rc = store_execute(s, st, p, 2);
		free(text);
		if (rc != 0)
			break;
		(*rewritten)++;
	}
	return rc;
}

static int
write_erase_row(struct cm_store *s, const char *id, const struct cm_write *w,
    json_t *changes)
{
	struct param	 p[6];
	char		*text;
	int		 rc = 0;

	cm_steward_erase_changes(changes);
	text = cm_json_compact(changes);
	p[0] = store_str(id);
	p[1] = store_str("erase");
	p[2] = w->admin_key_id ? store_int((long long)w->admin_key_id) :
	    store_str(NULL);
	p[3] = store_str(w->request_id);
	p[4] = store_str(text);
	p[5] = store_token(s);
	if (store_exec(s, ST_AUDIT, p, 6) == NULL)
		rc = TX_DB_ERROR;
	free(text);
	return rc;
}

/* The locked row goes, if it still has the version read (store_one_row). */
static int
delete_row(struct cm_store *s, const char *id, unsigned long long version)
{
	struct param	 p[2];
	MYSQL_STMT	*st;

	p[0] = store_str(id);
	p[1] = store_int((long long)version);
	if ((st = store_exec(s, ST_DELETE, p, 2)) == NULL)
		return TX_DB_ERROR;
	return store_one_row(st, id);
}

/*
 * The row is locked first, as every write to a client does, so an erase
 * and a PATCH of the same client run one after the other: a PATCH that
 * committed first has its audit row erased here; one that waited finds
 * no row (404).
 */
static int
erase_tx(struct cm_store *s, void *arg)
{
	struct erase_job	*j = arg;
	struct cm_stored	 cur = { NULL, 0, "" };
	json_t			*history = json_array(), *changes;
	int			 rc;

	j->deleted = false;
	j->rows = 0;
	j->answers = 0;
	if ((rc = store_load_client(s, ST_GET_LOCKED, j->id, &cur)) < 0)
		goto out;
	if (rc == 1 && !cm_if_match(j->w->if_match, cur.etag)) {
		rc = CM_STORE_PRECONDITION;
		goto out;
	}
	if ((rc = locked_history(s, j->id, history)) != 0)
		goto out;
	if (cur.client == NULL && json_array_size(history) == 0) {
		rc = CM_STORE_NOT_FOUND;
		goto out;
	}
	/*
	 * No row to lock, and READ COMMITTED takes no gap locks: a POST of
	 * the same id may have committed since the first read.  Look again,
	 * now that the history is locked; if it did, start over, so the
	 * erase runs after that create (and deletes the new client) instead
	 * of erasing its "create" row while its values stay in the table.
	 * A create committing after this look comes after the erase.
	 */
	if (cur.client == NULL &&
	    (rc = store_load_client(s, ST_GET_LOCKED, j->id, &cur)) != 0) {
		if (rc == 1)
			rc = TX_RETRY;
		goto out;
	}
	/* No representation to match: RFC 9110 makes any If-Match false. */
	if (cur.client == NULL && j->w->if_match != NULL) {
		rc = CM_STORE_PRECONDITION;
		goto out;
	}
	if ((rc = erase_history(s, j->id, history, &j->rows)) != 0)
		goto out;
	/*
	 * The client's stored Idempotency-Key answers hold its personal
	 * values (and a create's or rotation's its secret_key): they go in
	 * this transaction too: erased means gone from every table.
	 */
	if ((rc = store_idem_erase(s, j->id, &j->answers)) != 0)
		goto out;
	if (cur.client != NULL) {
		if ((rc = delete_row(s, j->id, cur.version)) != 0)
			goto out;
		j->deleted = true;
	}
	/* A repeat with nothing left to erase leaves no second "erase" row. */
	if (j->deleted || j->rows > 0 || j->answers > 0) {
		changes = cur.client != NULL ? cm_audit_changes(cur.client, NULL,
		    store_present_members(cur.client)) : json_object();
		rc = write_erase_row(s, j->id, j->w, changes);
		json_decref(changes);
	}
	/* Its own Idempotency-Key answer (its marker has no client id). */
	if (rc == 0)
		rc = store_idem_answer(s, j->w, NULL, NULL);
out:
	json_decref(cur.client);
	json_decref(history);
	return rc;
}

int
cm_store_erase(struct cm_store *s, const char *id, const struct cm_write *w,
    bool *deleted)
{
	struct erase_job	j = { id, w, false, 0, 0 };
	int			rc;

	rc = store_transaction(s, erase_tx, &j, NULL);
	if (rc == CM_STORE_OK)
		LOG_INFO("erase: client %s%s, %llu audit rows erased, %llu "
		    "stored Idempotency-Key answers deleted, request id=%s", id,
		    j.deleted ? " deleted" : "", j.rows, j.answers,
		    w->request_id);
	if (deleted != NULL)
		*deleted = rc == CM_STORE_OK && j.deleted;
	return rc;
}

/* ---- retention ---------------------------------------------------- */

struct purge_job {
	const char		*cutoff;
	unsigned		 batch;
	unsigned long long	 rows;	/* of the last batch */
};

/*
 * One batch: the oldest rows first, along ix_audit_at, so each
 * transaction locks at most batch rows, all older than anything a writer
 * inserts now.
 */
static int
purge_batch_tx(struct cm_store *s, void *arg)
{
	static const char	 sql[] = "DELETE FROM client_audit WHERE at < ? "
				     "ORDER BY at LIMIT ?";
	struct purge_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;
	int			 rc;

	p[0] = store_str(j->cutoff);
	p[1] = store_int(j->batch);
	if ((st = store_stmt_sql(s, sql)) == NULL)
		return TX_DB_ERROR;
	if ((rc = store_execute(s, st, p, 2)) == 0)
		j->rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return rc == 0 ? CM_STORE_OK : rc;
}

struct count_job {
	const char		*cutoff;
	unsigned long long	 rows;
};

static int
purge_count(struct cm_store *s, void *arg)
{
	static const char	 sql[] = "SELECT COUNT(*) FROM client_audit "
				     "WHERE at < ?";
	struct count_job	*j = arg;
	struct param		 p = store_str(j->cutoff);
	MYSQL_STMT		*st;
	int			 rc;

	if ((st = store_stmt_sql(s, sql)) == NULL)
		return TX_DB_ERROR;
	if ((rc = store_execute(s, st, &p, 1)) == 0 &&
	    (rc = store_fetch_one(s, st, 1)) == 1) {
		j->rows = strtoull(s->col[0], NULL, 10);
		rc = CM_STORE_OK;
	}
	return rc;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int
cm_store_audit_purge(struct cm_store *s, const char *cutoff, unsigned batch,
    bool dry_run, unsigned long long *rows, unsigned long long *batches)
{
	struct purge_job	j = { cutoff, batch ? batch : 1000, 0 };
	struct count_job	c = { cutoff, 0 };
	unsigned long long	n = 0;
	struct timespec		t0;
	int			rc = CM_STORE_OK;

	*rows = 0;
	if (dry_run) {
		if ((rc = store_read(s, purge_count, &c)) == CM_STORE_OK)
			*rows = c.rows;
		if (batches != NULL)
			*batches = 0;
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if ((rc = store_transaction(s, purge_batch_tx, &j, NULL)) !=
		    CM_STORE_OK)
			break;
		*rows += j.rows;
		n++;
	} while (j.rows == j.batch);
	if (batches != NULL)
		*batches = n;
	if (rc == CM_STORE_OK)
		LOG_INFO("audit purge: %llu rows older than %s deleted in %llu "
		    "batches of at most %u, %.2f s", *rows, cutoff, n, j.batch,
		    seconds_since(&t0));
	else
		LOG_ERR("audit purge: stopped after %llu rows older than %s "
		    "(%llu batches)", *rows, cutoff, n);
	return rc;
}
