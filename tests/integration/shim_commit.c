/*
 * shim_commit.c - an LD_PRELOAD shim around mysql_commit() for
 * store_test.py: it makes COMMIT fail the two ways the data layer must
 * survive without leaking or writing twice.  A change of a client
 * commits on the server, inside CALL cm_update_client(...): that call
 * counts as a COMMIT here, and fails the same ways.
 *
 *   SHIM_COMMIT=drop      every COMMIT: the connection is shut down first,
 *                         so COMMIT fails with a lost connection (2013)
 *                         and nothing commits.
 *   SHIM_COMMIT=lost      every COMMIT reaches the server and commits;
 *                         then the connection is shut down and COMMIT
 *                         answers 2013, as when the server (or the
 *                         network) goes after committing and before the
 *                         answer is read: committed, outcome unknown.
 *   SHIM_COMMIT=droplost  the 1st COMMIT as in drop, the 2nd as in lost,
 *                         and so on alternately.
 *   SHIM_COMMIT=lostunseen every COMMIT as in lost, and the first lookup
 *                         of its token reads no row, as a Galera node
 *                         does that applies the write set of a node that
 *                         just left only after that read: the fence that
 *                         follows finds the token taken (1062).
 *   SHIM_COMMIT=lostslow  every COMMIT as in lost, and the first lookup
 *                         of its token waits until SHIM_LOOK_WAIT_MS after
 *                         that COMMIT before it runs, as on a cluster
 *                         that commits nothing until a failed node is
 *                         evicted or a flow-control pause ends.
 *   SHIM_COMMIT=dropblind every COMMIT as in drop, and every lookup of a
 *                         transaction's token loses its connection too:
 *                         no node can tell what became of the COMMIT.
 *   SHIM_COMMIT=deadlock  every other COMMIT (the 1st, 3rd, ...): answered
 *                         1213 without committing, as a Galera
 *                         certification failure is; the transaction is
 *                         still open and the caller rolls it back.
 *   SHIM_KEYDUP=FILE      the first INSERT of a client and the first change
 *                         of both keys (rotate-keys) answer 1062 on
 *                         uq_clients_secret_key, as a generated key that
 *                         collided would; the secret key they carried is
 *                         appended to FILE, so the test can check that the
 *                         retry drew a new one.
 *
 *   SHIM_TRIGBODY=PORT    every INSERT of a client on a connection to that
 *                         TCP port answers 1064 "Trigger ... has an error
 *                         in its body", as a Galera node does whose cached
 *                         table lost its triggers to a brute-force abort
 *                         during their load (the cluster suite).
 *
 *   SHIM_FETCH=abort      the first row fetched from a SELECT of clients
 *                         fails as Connector/C 3.3 fails it when the
 *                         server sends an error packet instead (a Galera
 *                         brute-force abort during a schema change):
 *                         the result is read to its end, the error
 *                         (1213) is left on the connection, and the
 *                         statement's own error is empty.
 *
 *   SHIM_VERSION=bump     just before the first change of a client's
 *                         columns and the first DELETE of a client, the
 *                         same connection bumps that client's version,
 *                         as a write committed through another Galera
 *                         node would have: the version-checked write
 *                         then matches no row and the transaction must
 *                         run again (its rollback undoes the bump).
 *
 *   SHIM_CUT_IN=TEXT      a migration stopped halfway: the first script
 *   SHIM_CUT=LINE         (a multi-statement query) that starts with TEXT
 *   SHIM_CUT_ERR=ERRNO    runs only up to its line that starts with LINE
 *   [SHIM_CUT_PORT=PORT]  (LINE empty: to its end), so the statements
 *                         before that line are applied; then the statement
 *                         at it fails with ERRNO: 1064 as "Trigger ... has
 *                         an error in its body" (what a Galera node answers
 *                         whose cached table lost its triggers), 1213 as a
 *                         deadlock, 2013 as a lost connection (the socket
 *                         is shut), 1146 as a missing table.  With
 *                         SHIM_CUT_PORT, only a script sent to that port.
 *
 * Built by the test itself: cc -shared -fPIC shim_commit.c -ldl.  It
 * reads MariaDB Connector/C 3.x's structures (net.last_errno, the
 * statement's params and last_error).
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

typedef my_bool (*commit_fn)(MYSQL *);

/* COMMITs and committing calls so far (the modes alternate over both). */
static unsigned	commits;
/* lostunseen: the next token lookup is to read no row; the one that does. */
static int		 unseen_next;
static MYSQL_STMT	*unseen;
/* lostslow: the next token lookup waits until this (CLOCK_MONOTONIC). */
static int		 slow_next;
static struct timespec	 slow_until;

static int
mode_is(const char *name)
{
	const char	*mode = getenv("SHIM_COMMIT");

	return mode != NULL && strcmp(mode, name) == 0;
}

/* What this commit does: "drop", "lost", "deadlock" or NULL (nothing). */
static const char *
commit_mode(void)
{
	const char	*mode = getenv("SHIM_COMMIT");
	long		 ms;

	commits++;
	if (mode != NULL && strcmp(mode, "droplost") == 0)
		return commits % 2 == 1 ? "drop" : "lost";
	if (mode != NULL && strcmp(mode, "dropblind") == 0)
		return "drop";
	if (mode != NULL && strcmp(mode, "lostunseen") == 0) {
		unseen_next = 1;
		return "lost";
	}
	if (mode != NULL && strcmp(mode, "lostslow") == 0) {
		ms = atol(getenv("SHIM_LOOK_WAIT_MS") ?
		    getenv("SHIM_LOOK_WAIT_MS") : "0");
		slow_next = 1;
		clock_gettime(CLOCK_MONOTONIC, &slow_until);
		slow_until.tv_sec += ms / 1000 + (slow_until.tv_nsec +
		    ms % 1000 * 1000000L) / 1000000000L;
		slow_until.tv_nsec = (slow_until.tv_nsec + ms % 1000 *
		    1000000L) % 1000000000L;
		return "lost";
	}
	if (mode != NULL && strcmp(mode, "deadlock") == 0)
		return commits % 2 == 1 ? "deadlock" : NULL;
	if (mode != NULL && (strcmp(mode, "drop") == 0 ||
	    strcmp(mode, "lost") == 0))
		return mode;
	return NULL;
}

/* The errors the shim answers, as MariaDB words them. */
static const struct {
	unsigned	 err;
	const char	*state, *msg;
} errors[] = {
	{ 1213, "40001", "Deadlock found when trying to get lock; try "
	    "restarting transaction (shim)" },
	{ 2013, "HY000", "Lost connection to server during query (shim: after "
	    "COMMIT)" },
	{ 1064, "42000", "Unknown trigger has an error in its body: 'Query was "
	    "empty' (shim)" },
	{ 1146, "42S02", "Table 'shim' doesn't exist (shim)" },
};

/* err with its state and message; one not listed as a lost connection. */
static void
set_error(unsigned *no, char *state, char *msg, size_t msgsz, unsigned err)
{
	size_t	i, n = sizeof(errors) / sizeof(errors[0]);

	for (i = 0; i < n && errors[i].err != err; i++)
		;
	if (i == n)
		i = 1;
	*no = errors[i].err;
	strcpy(state, errors[i].state);
	snprintf(msg, msgsz, "%s", errors[i].msg);
}

static unsigned
cut_errno(void)
{
	const char	*e = getenv("SHIM_CUT_ERR");

	return e != NULL ? (unsigned)atoi(e) : 1064;
}

/* SHIM_CUT's error, on the connection (a lost one shut first). */
static void
cut_error(MYSQL *m, unsigned err)
{
	if (err == 2013)
		shutdown(mysql_get_socket(m), SHUT_RDWR);
	set_error(&m->net.last_errno, m->net.sqlstate, m->net.last_error,
	    sizeof(m->net.last_error), err);
}

/* SHIM_CUT: where script q is cut (q + len: after its end), or NULL. */
static const char *
cut_at(MYSQL *m, const char *q, unsigned long len)
{
	const char	*in = getenv("SHIM_CUT_IN"), *line = getenv("SHIM_CUT");
	const char	*port = getenv("SHIM_CUT_PORT"), *p;
	size_t		 n;

	if (in == NULL || line == NULL || strncmp(q, in, strlen(in)) != 0 ||
	    (port != NULL && m->port != (unsigned)atoi(port)))
		return NULL;
	if ((n = strlen(line)) == 0)
		return q + len;
	for (p = q; p != NULL && p < q + len; p = memchr(p, '\n',
	    (size_t)(q + len - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(q + len - p) < n || strncmp(p, line, n) != 0)
			continue;
		/* After the statement before (a comment alone would be one). */
		while (p > q && p[-1] != ';')
			p--;
		return p;
	}
	return NULL;
}

typedef int (*query_fn)(MYSQL *, const char *, unsigned long);
typedef int (*next_fn)(MYSQL *);

/* SHIM_CUT: the script is cut once; its results are being read. */
static int	cut_done, cut_reading;

int
mysql_real_query(MYSQL *m, const char *q, unsigned long len)
{
	static query_fn	 real;
	const char	*at;

	if (real == NULL)
		real = (query_fn)dlsym(RTLD_NEXT, "mysql_real_query");
	if (cut_done || (at = cut_at(m, q, len)) == NULL)
		return real(m, q, len);
	cut_done = 1;
	if (at == q) {
		cut_error(m, cut_errno());
		return 1;
	}
	cut_reading = 1;
	return real(m, q, (unsigned long)(at - q));
}

int
mysql_next_result(MYSQL *m)
{
	static next_fn	real;
	int		rc;

	if (real == NULL)
		real = (next_fn)dlsym(RTLD_NEXT, "mysql_next_result");
	rc = real(m);
	if (rc == -1 && cut_reading) {
		cut_error(m, cut_errno());
		rc = 1;
	}
	if (rc != 0)
		cut_reading = 0;
	return rc;
}

my_bool
mysql_commit(MYSQL *m)
{
	static commit_fn	 real;
	const char		*mode = commit_mode();

	if (real == NULL)
		real = (commit_fn)dlsym(RTLD_NEXT, "mysql_commit");
	if (mode != NULL && strcmp(mode, "drop") == 0)
		shutdown(mysql_get_socket(m), SHUT_RDWR);
	else if (mode != NULL && strcmp(mode, "lost") == 0) {
		if (real(m) != 0)
			return 1;
		shutdown(mysql_get_socket(m), SHUT_RDWR);
		set_error(&m->net.last_errno, m->net.sqlstate, m->net.last_error,
		    sizeof(m->net.last_error), 2013);
		return 1;
	} else if (mode != NULL && strcmp(mode, "deadlock") == 0) {
		set_error(&m->net.last_errno, m->net.sqlstate, m->net.last_error,
		    sizeof(m->net.last_error), 1213);
		return 1;
	}
	return real(m);
}

/* Which statements write a client's keys, by the SQL they were prepared with. */
enum kind { K_OTHER, K_INSERT, K_ROTATE, K_UPDATE, K_DELETE, K_CALL,
	K_LOOK, K_READ };
static struct {
	MYSQL_STMT	*st;
	enum kind	 kind;
} seen[256];

/* What st was prepared as (mysql_stmt_prepare below). */
static enum kind
kind_of(MYSQL_STMT *st)
{
	size_t	i;

	for (i = 0; i < sizeof(seen) / sizeof(seen[0]) && seen[i].st; i++)
		if (seen[i].st == st)
			return seen[i].kind;
	return K_OTHER;
}

typedef int (*prepare_fn)(MYSQL_STMT *, const char *, unsigned long);
typedef int (*execute_fn)(MYSQL_STMT *);

int
mysql_stmt_prepare(MYSQL_STMT *st, const char *sql, unsigned long len)
{
	static prepare_fn	 real;
	static const char	 ins[] = "INSERT INTO clients (";
	static const char	 rot[] =
	    "UPDATE clients SET publishable_key = ?, secret_key = ?,";
	static const char	 call[] = "CALL cm_update_client(";
	static const char	 look[] = "SET STATEMENT wsrep_sync_wait = 1 FOR "
	    "SELECT action FROM client_audit WHERE tx_token";
	const char		*mode = getenv("SHIM_COMMIT");
	enum kind		 k = K_OTHER;
	size_t			 i, slot = 0;

	if (real == NULL)
		real = (prepare_fn)dlsym(RTLD_NEXT, "mysql_stmt_prepare");
	if (len >= sizeof(ins) - 1 && strncmp(sql, ins, sizeof(ins) - 1) == 0)
		k = K_INSERT;
	else if (len >= sizeof(rot) - 1 &&
	    strncmp(sql, rot, sizeof(rot) - 1) == 0)
		k = K_ROTATE;
	else if (len >= sizeof(call) - 1 &&
	    strncmp(sql, call, sizeof(call) - 1) == 0)
		k = K_CALL;
	else if ((mode_is("dropblind") || mode_is("lostunseen") ||
	    mode_is("lostslow")) &&
	    len >= sizeof(look) - 1 && strncmp(sql, look, sizeof(look) - 1) == 0)
		k = K_LOOK;
	else if (getenv("SHIM_FETCH") != NULL && strncmp(sql, "SELECT ", 7) == 0 &&
	    strstr(sql, " FROM clients") != NULL)
		k = K_READ;
	if (getenv("SHIM_VERSION") != NULL &&
	    strncmp(sql, "UPDATE clients SET ", 19) == 0)
		k = K_UPDATE;
	else if (getenv("SHIM_VERSION") != NULL &&
	    strncmp(sql, "DELETE FROM clients WHERE id = ?", 32) == 0)
		k = K_DELETE;
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (seen[i].st == st || seen[i].st == NULL) {
			slot = i;
			break;
		}
	}
	seen[slot].st = st;
	seen[slot].kind = k;
	return real(st, sql, len);
}

/*
 * The id is the second last parameter of the UPDATE, the first of the
 * DELETE and of the call; ids are [A-Za-z0-9_-], so they go into the SQL
 * as they are.
 */
static int
bump_version(MYSQL_STMT *st, execute_fn real, enum kind k, int first)
{
	char		 sql[512];
	MYSQL_BIND	*b;
	unsigned long	 n;

	if (!first || st->param_count < 2)
		return real(st);
	b = &st->params[k == K_UPDATE ? st->param_count - 2 : 0];
	n = b->length ? *b->length : b->buffer_length;
	snprintf(sql, sizeof(sql), "UPDATE clients SET version = version + 1 "
	    "WHERE id = '%.*s'", (int)n, (const char *)b->buffer);
	if (mysql_query(st->mysql, sql) != 0)
		fprintf(stderr, "shim: bump failed: %s\n", mysql_error(st->mysql));
	return real(st);
}

/* The call's parameter i as text ("" for NULL or a number). */
static const char *
param_text(MYSQL_STMT *st, unsigned i, unsigned long *n)
{
	MYSQL_BIND	*b = &st->params[i];

	*n = b->length ? *b->length : b->buffer_length;
	return b->buffer_type == MYSQL_TYPE_STRING && b->buffer != NULL ?
	    (const char *)b->buffer : "";
}

/* The committing call (cm_update_client) fails as a COMMIT would. */
static int
committing_call(MYSQL_STMT *st, execute_fn real)
{
	const char	*mode = commit_mode();

	if (mode != NULL && strcmp(mode, "drop") == 0)
		shutdown(mysql_get_socket(st->mysql), SHUT_RDWR);
	else if (mode != NULL && strcmp(mode, "lost") == 0) {
		if (real(st) != 0)
			return 1;
		shutdown(mysql_get_socket(st->mysql), SHUT_RDWR);
		set_error(&st->last_errno, st->sqlstate, st->last_error,
		    sizeof(st->last_error), 2013);
		return 1;
	} else if (mode != NULL && strcmp(mode, "deadlock") == 0) {
		set_error(&st->last_errno, st->sqlstate, st->last_error,
		    sizeof(st->last_error), 1213);
		return 1;
	}
	return real(st);
}

/* Sleeps until t, through the signals (the data layer's watch ticks). */
static void
wait_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) ==
	    EINTR)
		;
}

/* Parameters of cm_update_client (db/014_update_procedure.sql). */
#define CALL_SECRET	6
#define CALL_ACTION	18

int
mysql_stmt_execute(MYSQL_STMT *st)
{
	static execute_fn	 real;
	static int		 failed[K_READ + 1];
	const char		*file = getenv("SHIM_KEYDUP");
	enum kind		 k;
	MYSQL_BIND		*b;
	FILE			*fp;
	unsigned long		 n;

	if (real == NULL)
		real = (execute_fn)dlsym(RTLD_NEXT, "mysql_stmt_execute");
	k = kind_of(st);
	if (k == K_CALL && getenv("SHIM_VERSION") != NULL)
		return bump_version(st, real, k, failed[K_UPDATE]++ == 0);
	if (k == K_CALL && file != NULL && st->param_count > CALL_ACTION &&
	    strncmp(param_text(st, CALL_ACTION, &n), "rotate_keys", n) == 0 &&
	    n == 11 && failed[K_ROTATE]++ == 0) {
		b = &st->params[CALL_SECRET];
		n = b->length ? *b->length : b->buffer_length;
		if ((fp = fopen(file, "a")) != NULL) {
			fprintf(fp, "%.*s\n", (int)n, (const char *)b->buffer);
			fclose(fp);
		}
		st->last_errno = 1062;
		strcpy(st->sqlstate, "23000");
		snprintf(st->last_error, sizeof(st->last_error),
		    "Duplicate entry '%.*s' for key 'uq_clients_secret_key'",
		    (int)n, (const char *)b->buffer);
		return 1;
	}
	if (k == K_CALL)
		return committing_call(st, real);
	if (k == K_LOOK && mode_is("lostunseen")) {
		if (unseen_next) {
			unseen_next = 0;
			unseen = st;
		}
		return real(st);
	}
	if (k == K_LOOK && mode_is("lostslow")) {
		if (slow_next) {
			slow_next = 0;
			wait_until(&slow_until);
		}
		return real(st);
	}
	if (k == K_LOOK) {
		shutdown(mysql_get_socket(st->mysql), SHUT_RDWR);
		return real(st);
	}
	if (k == K_UPDATE || k == K_DELETE)
		return bump_version(st, real, k, failed[k]++ == 0);
	if (k == K_INSERT && getenv("SHIM_TRIGBODY") != NULL &&
	    st->mysql != NULL &&
	    st->mysql->port == (unsigned)atoi(getenv("SHIM_TRIGBODY"))) {
		st->last_errno = 1064;
		strcpy(st->sqlstate, "42000");
		snprintf(st->last_error, sizeof(st->last_error), "Trigger "
		    "'clients_count_insert' has an error in its body: 'You "
		    "have an error in your SQL syntax (shim)'");
		return 1;
	}
	if (file == NULL || k == K_OTHER || failed[k]++ > 0)
		return real(st);
	/* The secret key: the 5th column of the INSERT, 2nd of the UPDATE. */
	b = &st->params[k == K_INSERT ? 4 : 1];
	n = b->length ? *b->length : b->buffer_length;
	if ((fp = fopen(file, "a")) != NULL) {
		fprintf(fp, "%.*s\n", (int)n, (const char *)b->buffer);
		fclose(fp);
	}
	st->last_errno = 1062;
	strcpy(st->sqlstate, "23000");
	snprintf(st->last_error, sizeof(st->last_error),
	    "Duplicate entry '%.*s' for key 'uq_clients_secret_key'", (int)n,
	    (const char *)b->buffer);
	return 1;
}

typedef int (*fetch_fn)(MYSQL_STMT *);

/*
 * SHIM_FETCH: the first read of clients, failed as a brute-force abort
 * fails it (the error on the connection only).
 */
static int
fetch_aborted(MYSQL_STMT *st, fetch_fn real)
{
	int	rc;

	while ((rc = real(st)) == 0 || rc == MYSQL_DATA_TRUNCATED)
		;
	set_error(&st->mysql->net.last_errno, st->mysql->net.sqlstate,
	    st->mysql->net.last_error, sizeof(st->mysql->net.last_error), 1213);
	st->last_errno = 0;
	st->last_error[0] = '\0';
	return 1;
}

/* lostunseen: the marked lookup's row is not seen.  SHIM_FETCH: above. */
int
mysql_stmt_fetch(MYSQL_STMT *st)
{
	static fetch_fn	 real;
	static int	 aborted;
	int		 rc;

	if (real == NULL)
		real = (fetch_fn)dlsym(RTLD_NEXT, "mysql_stmt_fetch");
	if (kind_of(st) == K_READ && !aborted++)
		return fetch_aborted(st, real);
	rc = real(st);
	if (st != unseen || rc != 0)
		return rc;
	unseen = NULL;
	return MYSQL_NO_DATA;
}
