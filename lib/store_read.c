/*
 * store_read.c - reads of many rows: the client list and audit history,
 * and the query plans of the list for clientsctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* One bit per filter; a list statement is prepared per combination. */
#define F_STATUS	1u
#define F_AGENCY	2u
#define F_COMPANY	4u
#define F_DOMAIN	8u

static unsigned
list_shape(const struct cm_list_query *q)
{
	return (q->status >= 0 ? F_STATUS : 0) |
	    (q->agency_id ? F_AGENCY : 0) | (q->company_id ? F_COMPANY : 0) |
	    (q->domain ? F_DOMAIN : 0);
}

/*
 * "SELECT <what> FROM clients WHERE ... [ORDER BY created_at, id LIMIT ?
 * OFFSET ?]".  Each filter has an index led by its column and followed by
 * (created_at, id), so a page is an ordered index range, never a sort of
 * the table.
 */
static void
list_sql(unsigned shape, bool page, char *sql, size_t sz)
{
	static const char *const cond[] = {
		"status = ?", "agency_id = ?", "company_id = ?", "domain = ?"
	};
	size_t	n, i;
	bool	first = true;

	n = (size_t)snprintf(sql, sz, "SELECT %s FROM clients",
	    page ? CLIENT_COLUMNS : "COUNT(*)");
	for (i = 0; i < 4; i++)
		if (shape & (1u << i)) {
			n += (size_t)snprintf(sql + n, sz - n, " %s %s",
			    first ? "WHERE" : "AND", cond[i]);
			first = false;
		}
	if (page)
		snprintf(sql + n, sz - n,
		    " ORDER BY created_at, id LIMIT ? OFFSET ?");
}

static size_t
list_params(const struct cm_list_query *q, bool page, struct param *p)
{
	size_t	n = 0;

	if (q->status >= 0)
		p[n++] = store_int(q->status);
	if (q->agency_id)
		p[n++] = store_str(q->agency_id);
	if (q->company_id)
		p[n++] = store_str(q->company_id);
	if (q->domain)
		p[n++] = store_str(q->domain);
	if (page) {
		p[n++] = store_int(q->limit);
		p[n++] = store_int((long long)q->offset);
	}
	return n;
}

static MYSQL_STMT *
list_exec(struct cm_store *s, const struct cm_list_query *q, bool page)
{
	MYSQL_STMT	*st;
	struct param	 p[6];
	char		 sql[1024];

	list_sql(list_shape(q), page, sql, sizeof(sql));
	if ((st = store_stmt_sql(s, sql)) == NULL ||
	    store_execute(s, st, p, list_params(q, page, p)) != 0)
		return NULL;
	return st;
}

/* Reads every row of an executed statement as a client into arr. */
static int
clients_into(struct cm_store *s, MYSQL_STMT *st, json_t *arr)
{
	struct cm_stored	c;
	int			rc;

	if ((rc = store_bind_row(s, st, NCOLS)) == 0)
		while ((rc = store_next_row(s, st, NCOLS)) == 1 &&
		    (rc = store_row_to_client(s, &c)) == 1)
			json_array_append_new(arr, c.client);
	mysql_stmt_free_result(st);
	return rc;
}

struct list_job {
	const struct cm_list_query	*q;
	json_t				*items;
	unsigned long long		*count;
};

/*
 * The count is its own COUNT(*) over the filter's index: the page query
 * reads only the rows of the page.  XXX: the two are separate statements
 * under READ COMMITTED, so a write between them can make count and page
 * disagree by that write.
 */
static int
list_once(struct cm_store *s, void *arg)
{
	struct list_job	*j = arg;
	MYSQL_STMT	*st;

	json_array_clear(j->items);
	if ((st = list_exec(s, j->q, false)) == NULL ||
	    store_fetch_one(s, st, 1) != 1)
		return TX_DB_ERROR;
	*j->count = strtoull(s->col[0], NULL, 10);
	if (*j->count <= j->q->offset)
		return CM_STORE_OK;
	if ((st = list_exec(s, j->q, true)) == NULL ||
	    clients_into(s, st, j->items) != 0)
		return TX_DB_ERROR;
	return CM_STORE_OK;
}

int
cm_store_list(struct cm_store *s, const struct cm_list_query *q,
    json_t **items, unsigned long long *count)
{
	struct list_job	j = { q, json_array(), count };
	int		rc;

	*count = 0;
	if ((rc = store_read(s, list_once, &j)) != CM_STORE_OK) {
		json_decref(j.items);
		j.items = NULL;
	}
	*items = j.items;
	return rc;
}

/* The fetched audit row: seq, action, admin_key_id, request_id, at, changes. */
static json_t *
audit_entry(struct cm_store *s)
{
	json_t	*changes = json_loadb(s->col[5], s->col_len[5], 0, NULL);

	if (changes == NULL)
		return NULL;
	return json_pack("{s:I, s:s, s:o, s:s, s:o, s:o}",
	    "seq", (json_int_t)strtoll(s->col[0], NULL, 10),
	    "action", s->col[1],
	    "admin_key_id", s->col_null[2] ? json_null() :
	    json_integer((json_int_t)strtoll(s->col[2], NULL, 10)),
	    "request_id", s->col[3],
	    "at", store_timestamp(s->col[4]),
	    "changes", changes);
}

struct audit_job {
	const char		*id;
	unsigned		 limit;
	unsigned long long	 offset;
	json_t			*entries;
	unsigned long long	*count;
};

static int
audit_once(struct cm_store *s, void *arg)
{
	struct audit_job	*j = arg;
	struct param		 p[3];
	MYSQL_STMT		*st;
	json_t			*e;
	int			 rc;

	json_array_clear(j->entries);
	p[0] = store_str(j->id);
	p[1] = store_int(j->limit);
	p[2] = store_int((long long)j->offset);
	if ((st = store_exec(s, ST_AUDIT_COUNT, p, 1)) == NULL ||
	    store_fetch_one(s, st, 1) != 1)
		return TX_DB_ERROR;
	if ((*j->count = strtoull(s->col[0], NULL, 10)) == 0)
		return CM_STORE_NOT_FOUND;
	if ((st = store_exec(s, ST_AUDIT_PAGE, p, 3)) == NULL ||
	    store_bind_row(s, st, 6) != 0)
		return TX_DB_ERROR;
	while ((rc = store_next_row(s, st, 6)) == 1) {
		if ((e = audit_entry(s)) == NULL) {
			rc = TX_DB_ERROR;
			break;
		}
		json_array_append_new(j->entries, e);
	}
	mysql_stmt_free_result(st);
	return rc == 0 ? CM_STORE_OK : TX_DB_ERROR;
}

int
cm_store_audit(struct cm_store *s, const char *id, unsigned limit,
    unsigned long long offset, json_t **entries, unsigned long long *count)
{
	struct audit_job	j = { id, limit, offset, json_array(), count };
	int			rc;

	*count = 0;
	if ((rc = store_read(s, audit_once, &j)) != CM_STORE_OK) {
		json_decref(j.entries);
		j.entries = NULL;
	}
	*entries = j.entries;
	return rc;
}

/* "status,agency_id" for a shape; "-" for none. */
static void
shape_name(unsigned shape, char *buf, size_t sz)
{
	static const char *const name[] = {
		"status", "agency_id", "company_id", "domain"
	};
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (shape & (1u << i))
			n += (size_t)snprintf(buf + n, sz - n, "%s%s",
			    n ? "," : "", name[i]);
	if (n == 0)
		snprintf(buf, sz, "-");
}

/* EXPLAIN's columns: id select_type table type possible_keys key ... rows Extra */
static int
explain_one(struct cm_store *s, unsigned shape, bool page, const char *domain,
    FILE *fp)
{
	struct cm_list_query	 q = { (shape & F_STATUS) ? 1 : -1,
				     (shape & F_AGENCY) ? "a" : NULL,
				     (shape & F_COMPANY) ? "c" : NULL,
				     (shape & F_DOMAIN) ? domain : NULL,
				     50, 0 };
	struct param		 p[6];
	MYSQL_STMT		*st;
	char			 sql[1100], filters[64];
	int			 rc;

	shape_name(shape, filters, sizeof(filters));
	memcpy(sql, "EXPLAIN ", 8);
	list_sql(shape, page, sql + 8, sizeof(sql) - 8);
	if ((st = store_prepare(s, sql)) == NULL)
		return -1;
	rc = store_execute(s, st, p, list_params(&q, page, p));
	if (rc == 0 && (rc = store_bind_row(s, st, 10)) == 0)
		while ((rc = store_next_row(s, st, 10)) == 1)
			fprintf(fp, "%s\t%s\ttype=%s\tkey=%s\trows=%s\t"
			    "extra=%s\n", page ? "page" : "count", filters,
			    s->col_null[3] ? "-" : s->col[3],
			    s->col_null[5] ? "-" : s->col[5],
			    s->col_null[8] ? "-" : s->col[8], s->col[9]);
	mysql_stmt_close(st);
	return rc;
}

/*
 * A domain that exists, when one does: for a missing one MariaDB only
 * says "Impossible WHERE", which hides the plan of a real lookup.
 */
static void
sample_domain(struct cm_store *s, char *buf, size_t sz)
{
	static const char	 sql[] = "SELECT domain FROM clients "
				     "WHERE domain IS NOT NULL LIMIT 1";
	MYSQL_STMT		*st;

	snprintf(buf, sz, "d.example");
	if ((st = store_prepare(s, sql)) == NULL)
		return;
	if (store_execute(s, st, NULL, 0) == 0 && store_fetch_one(s, st, 1) == 1)
		snprintf(buf, sz, "%s", s->col[0]);
	mysql_stmt_close(st);
}

int
cm_store_explain_list(struct cm_store *s, void *fp)
{
	char		domain[256];
	unsigned	shape;

	if (store_connect(s) != 0)
		return CM_STORE_UNAVAILABLE;
	sample_domain(s, domain, sizeof(domain));
	for (shape = 0; shape < LIST_SHAPES; shape++)
		if (explain_one(s, shape, false, domain, fp) != 0 ||
		    explain_one(s, shape, true, domain, fp) != 0)
			return CM_STORE_FAILED;
	return CM_STORE_OK;
}
