/*
 * shim_commit.c - an LD_PRELOAD shim around mysql_commit() for
 * store_test.py: it makes COMMIT fail the two ways the data layer must
 * survive without leaking or writing twice.
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
 *   SHIM_COMMIT=deadlock  every other COMMIT (the 1st, 3rd, ...): answered
 *                         1213 without committing, as a Galera
 *                         certification failure is; the transaction is
 *                         still open and the caller rolls it back.
 *   SHIM_KEYDUP=FILE      the first INSERT of a client and the first UPDATE
 *                         of both keys (rotate-keys) answer 1062 on
 *                         uq_clients_secret_key, as a generated key that
 *                         collided would; the secret key they carried is
 *                         appended to FILE, so the test can check that the
 *                         retry drew a new one.
 *
 *   SHIM_VERSION=bump     just before the first UPDATE of a client's
 *                         columns and the first DELETE of a client, the
 *                         same connection bumps that client's version,
 *                         as a write committed through another Galera
 *                         node would have: the version-checked write
 *                         then matches no row and the transaction must
 *                         run again (its rollback undoes the bump).
 *
 * Built by the test itself: cc -shared -fPIC shim_commit.c -ldl.  It
 * reads MariaDB Connector/C 3.x's structures (net.last_errno, the
 * statement's params and last_error).
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

typedef my_bool (*commit_fn)(MYSQL *);

my_bool
mysql_commit(MYSQL *m)
{
	static commit_fn	 real;
	static unsigned		 calls;
	const char		*mode = getenv("SHIM_COMMIT");

	if (real == NULL)
		real = (commit_fn)dlsym(RTLD_NEXT, "mysql_commit");
	calls++;
	if (mode != NULL && strcmp(mode, "droplost") == 0)
		mode = calls % 2 == 1 ? "drop" : "lost";
	if (mode != NULL && strcmp(mode, "drop") == 0)
		shutdown(mysql_get_socket(m), SHUT_RDWR);
	else if (mode != NULL && strcmp(mode, "lost") == 0) {
		if (real(m) != 0)
			return 1;
		shutdown(mysql_get_socket(m), SHUT_RDWR);
		m->net.last_errno = 2013;
		strcpy(m->net.sqlstate, "HY000");
		strcpy(m->net.last_error, "Lost connection to server during "
		    "query (shim: after COMMIT)");
		return 1;
	}
	else if (mode != NULL && strcmp(mode, "deadlock") == 0 && calls % 2 == 1) {
		m->net.last_errno = 1213;
		strcpy(m->net.sqlstate, "40001");
		strcpy(m->net.last_error, "Deadlock found when trying to get "
		    "lock; try restarting transaction (shim)");
		return 1;
	}
	return real(m);
}

/* Which statements write a client's keys, by the SQL they were prepared with. */
enum kind { K_OTHER, K_INSERT, K_ROTATE, K_UPDATE, K_DELETE };
static struct {
	MYSQL_STMT	*st;
	enum kind	 kind;
} seen[256];

typedef int (*prepare_fn)(MYSQL_STMT *, const char *, unsigned long);
typedef int (*execute_fn)(MYSQL_STMT *);

int
mysql_stmt_prepare(MYSQL_STMT *st, const char *sql, unsigned long len)
{
	static prepare_fn	 real;
	static const char	 ins[] = "INSERT INTO clients (";
	static const char	 rot[] =
	    "UPDATE clients SET publishable_key = ?, secret_key = ?,";
	enum kind		 k = K_OTHER;
	size_t			 i, slot = 0;

	if (real == NULL)
		real = (prepare_fn)dlsym(RTLD_NEXT, "mysql_stmt_prepare");
	if (len >= sizeof(ins) - 1 && strncmp(sql, ins, sizeof(ins) - 1) == 0)
		k = K_INSERT;
	else if (len >= sizeof(rot) - 1 &&
	    strncmp(sql, rot, sizeof(rot) - 1) == 0)
		k = K_ROTATE;
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
 * DELETE; ids are [A-Za-z0-9_-], so they go into the SQL as they are.
 */
static int
bump_version(MYSQL_STMT *st, execute_fn real, enum kind k, int first)
{
	char		 sql[512];
	MYSQL_BIND	*b;
	unsigned long	 n;

	if (!first || st->param_count < 2)
		return real(st);
	b = &st->params[k == K_DELETE ? 0 : st->param_count - 2];
	n = b->length ? *b->length : b->buffer_length;
	snprintf(sql, sizeof(sql), "UPDATE clients SET version = version + 1 "
	    "WHERE id = '%.*s'", (int)n, (const char *)b->buffer);
	if (mysql_query(st->mysql, sql) != 0)
		fprintf(stderr, "shim: bump failed: %s\n", mysql_error(st->mysql));
	return real(st);
}

int
mysql_stmt_execute(MYSQL_STMT *st)
{
	static execute_fn	 real;
	static int		 failed[5];
	const char		*file = getenv("SHIM_KEYDUP");
	enum kind		 k = K_OTHER;
	MYSQL_BIND		*b;
	FILE			*fp;
	size_t			 i;
	unsigned long		 n;

	if (real == NULL)
		real = (execute_fn)dlsym(RTLD_NEXT, "mysql_stmt_execute");
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]) && seen[i].st; i++)
		if (seen[i].st == st)
			k = seen[i].kind;
	if (k == K_UPDATE || k == K_DELETE)
		return bump_version(st, real, k, failed[k]++ == 0);
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
