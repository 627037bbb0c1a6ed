/*
 * shim_commit.c - an LD_PRELOAD shim around mysql_commit() for
 * store_test.py: it makes COMMIT fail the two ways the data layer must
 * survive without leaking or writing twice.
 *
 *   SHIM_COMMIT=drop      every COMMIT: the connection is shut down first,
 *                         so COMMIT fails with a lost connection (2013).
 *   SHIM_COMMIT=deadlock  every other COMMIT (the 1st, 3rd, ...): answered
 *                         1213 without committing, as a Galera
 *                         certification failure is; the transaction is
 *                         still open and the caller rolls it back.
 *
 * Built by the test itself: cc -shared -fPIC shim_commit.c -ldl.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <dlfcn.h>
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
	if (mode != NULL && strcmp(mode, "drop") == 0)
		shutdown(mysql_get_socket(m), SHUT_RDWR);
	else if (mode != NULL && strcmp(mode, "deadlock") == 0 && calls % 2 == 1) {
		m->net.last_errno = 1213;
		strcpy(m->net.sqlstate, "40001");
		strcpy(m->net.last_error, "Deadlock found when trying to get "
		    "lock; try restarting transaction (shim)");
		return 1;
	}
	return real(m);
}
