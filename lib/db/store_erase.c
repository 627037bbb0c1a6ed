/*
 * store_erase.c - erasure and audit retention in the database (db.h).
 * The rules (which members are personal, cut-off dates) are steward.h's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "patch.h"
#include "steward.h"
#include "store_int.h"

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
static enum tx_rc
locked_history(struct cm_store *s, const char *id, json_t *out,
    enum cm_db_status *status)
{
	static const char	 sql[] = "SELECT seq, changes FROM client_audit "
				     "WHERE client_id = ? ORDER BY seq FOR UPDATE";
	struct param		 p = store_str(id);
	MYSQL_STMT		*st;
	json_t			*changes;
	enum row_rc		 rc;
	enum tx_rc		 out_rc = TX_OK;

	if ((st = store_exec(s, sql, &p, 1)) == NULL ||
	    store_bind_row(s, st, 2) != ROW_FOUND)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, 2)) == ROW_FOUND) {
		if ((changes = json_loadb(s->col[1], s->col_len[1], 0,
		    NULL)) == NULL) {
			LOG_ERR("erase: audit row %s of %s is not JSON",
			    s->col[0], id);
			*status = CM_DB_FAILED;
			out_rc = TX_STOP;
			break;
		}
		json_array_append_new(out, json_pack("[I, o]",
		    (json_int_t)strtoll(s->col[0], NULL, 10), changes));
	}
	store_free_result(s, st);
	return rc == ROW_ERROR ? TX_DB_ERROR : out_rc;
}

/* Rewrites the rows of history whose changes still hold a personal value. */
static enum tx_rc
erase_history(struct cm_store *s, const char *id, json_t *history,
    unsigned long long *rewritten, enum cm_db_status *status)
{
	static const char	 sql[] = "UPDATE client_audit SET changes = ? "
				     "WHERE seq = ?";
	struct param		 p[2];
	json_t			*row, *changes;
	char			*text;
	size_t			 i;
	int			 n;

	json_array_foreach(history, i, row) {
		changes = json_array_get(row, 1);
		if ((n = cm_steward_erase_changes(changes)) < 0) {
			LOG_ERR("erase: audit row %lld of %s has an unexpected "
			    "shape", (long long)json_integer_value(
			    json_array_get(row, 0)), id);
			*status = CM_DB_FAILED;
			return TX_STOP;
		}
		if (n == 0)
			continue;
		text = cm_json_compact(changes);
		p[0] = store_str(text);
		p[1] = store_int(json_integer_value(json_array_get(row, 0)));
		if (store_exec(s, sql, p, 2) == NULL) {
			free(text);
			return TX_DB_ERROR;
		}
		free(text);
		(*rewritten)++;
	}
	return TX_OK;
}

static enum tx_rc
precondition_failed(enum cm_db_status *status)
{
	*status = CM_DB_PRECONDITION_FAILED;
	return TX_STOP;
}

/*
 * The row is locked first, as every write to a client does, so an erase
 * and a PATCH of the same client run one after the other: a PATCH that
 * committed first has its audit row erased here; one that waited finds
 * no row (404).
 */
static enum tx_rc
erase_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	struct erase_job	*j = arg;
	struct cm_stored	 cur = { NULL, 0, "" };
	json_t			*history = json_array(), *changes;
	enum row_rc		 row;
	enum tx_rc		 rc = TX_DB_ERROR;

	j->deleted = false;
	j->rows = 0;
	j->answers = 0;
	if ((row = store_load_client(s, j->id, true, j->w->within, &cur)) ==
	    ROW_ERROR)
		goto out;
	/*
	 * A bound writer erases only a client it sees: one of its agency
	 * that still exists (a history alone belongs to no agency it can
	 * prove).
	 */
	if (row == ROW_NONE && j->w->within != NULL) {
		*status = CM_DB_NOT_FOUND;
		rc = TX_STOP;
		goto out;
	}
	if (row == ROW_FOUND &&
	    !cm_precondition_holds(j->w->precondition, cur.etag)) {
		rc = precondition_failed(status);
		goto out;
	}
	if ((rc = locked_history(s, j->id, history, status)) != TX_OK)
		goto out;
	if (cur.client == NULL && json_array_size(history) == 0) {
		*status = CM_DB_NOT_FOUND;
		rc = TX_STOP;
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
	    (row = store_load_client(s, j->id, true, NULL, &cur)) != ROW_NONE) {
		rc = row == ROW_FOUND ? TX_RETRY : TX_DB_ERROR;
		goto out;
	}
	/* No representation to match: RFC 9110 makes any If-Match false. */
	if (cur.client == NULL &&
	    !cm_precondition_holds(j->w->precondition, NULL)) {
		rc = precondition_failed(status);
		goto out;
	}
	if ((rc = erase_history(s, j->id, history, &j->rows, status)) != TX_OK)
		goto out;
	/*
	 * The client's stored Idempotency-Key answers hold its personal
	 * values (and a create's or rotation's its secret_key): they go in
	 * this transaction too.
	 */
	if ((rc = store_idem_erase(s, j->id, &j->answers)) != TX_OK)
		goto out;
	if (cur.client != NULL) {
		if ((rc = store_delete_row(s, j->id, cur.version)) != TX_OK)
			goto out;
		j->deleted = true;
	}
	/* A repeat with nothing left to erase leaves no second "erase" row. */
	if (j->deleted || j->rows > 0 || j->answers > 0) {
		changes = cur.client != NULL ? cm_audit_changes(cur.client, NULL,
		    store_present_members(cur.client)) : json_object();
		cm_steward_erase_changes(changes);
		if ((rc = store_write_audit(s, j->id, "erase", j->w, changes)) !=
		    TX_OK)
			goto out;
	}
	/* Its own Idempotency-Key answer (its marker has no client id). */
	rc = store_idem_answer(s, j->w, NULL, NULL, status);
out:
	json_decref(cur.client);
	json_decref(history);
	return rc;
}

enum cm_db_status
store_erase(struct cm_store *s, const char *id, const struct cm_write *w,
    bool *deleted)
{
	struct erase_job	j = { id, w, false, 0, 0 };
	enum cm_db_status	rc;

	rc = store_transaction(s, erase_tx, &j);
	if (rc == CM_DB_OK)
		LOG_INFO("erase: client %s%s, %llu audit rows erased, %llu "
		    "stored Idempotency-Key answers deleted, request id=%s", id,
		    j.deleted ? " deleted" : "", j.rows, j.answers,
		    w->request_id);
	if (deleted != NULL)
		*deleted = rc == CM_DB_OK && j.deleted;
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
static enum tx_rc
purge_batch_tx(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	static const char	 sql[] = "DELETE FROM client_audit WHERE at < ? "
				     "ORDER BY at LIMIT ?";
	struct purge_job	*j = arg;
	struct param		 p[2];
	MYSQL_STMT		*st;

	(void)status;
	p[0] = store_str(j->cutoff);
	p[1] = store_int(j->batch);
	if ((st = store_exec(s, sql, p, 2)) == NULL)
		return TX_DB_ERROR;
	j->rows = (unsigned long long)mysql_stmt_affected_rows(st);
	return TX_OK;
}

struct count_job {
	const char		*cutoff;
	unsigned long long	 rows;
};

static enum tx_rc
purge_count(struct cm_store *s, void *arg, enum cm_db_status *status)
{
	static const char	 sql[] = "SELECT COUNT(*) FROM client_audit "
				     "WHERE at < ?";
	struct count_job	*j = arg;
	struct param		 p = store_str(j->cutoff);
	MYSQL_STMT		*st;

	(void)status;
	if ((st = store_exec(s, sql, &p, 1)) == NULL ||
	    store_fetch_one(s, st, 1) != ROW_FOUND)
		return TX_DB_ERROR;
	j->rows = strtoull(s->col[0], NULL, 10);
	return TX_OK;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

enum cm_db_status
store_audit_purge(struct cm_store *s, const char *cutoff, unsigned batch,
    bool dry_run, unsigned long long *rows, unsigned long long *batches)
{
	struct purge_job	j = { cutoff, batch ? batch : 1000, 0 };
	struct count_job	c = { cutoff, 0 };
	unsigned long long	n = 0;
	struct timespec		t0;
	enum cm_db_status	rc = CM_DB_OK;

	*rows = 0;
	if (dry_run) {
		if ((rc = store_read(s, purge_count, &c)) == CM_DB_OK)
			*rows = c.rows;
		if (batches != NULL)
			*batches = 0;
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if ((rc = store_transaction(s, purge_batch_tx, &j)) != CM_DB_OK)
			break;
		*rows += j.rows;
		n++;
	} while (j.rows == j.batch);
	if (batches != NULL)
		*batches = n;
	if (rc == CM_DB_OK)
		LOG_INFO("audit purge: %llu rows older than %s deleted in %llu "
		    "batches of at most %u, %.2f s", *rows, cutoff, n, j.batch,
		    seconds_since(&t0));
	else
		LOG_ERR("audit purge: stopped after %llu rows older than %s "
		    "(%llu batches)", *rows, cutoff, n);
	return rc;
}
