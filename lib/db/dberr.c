/*
 * dberr.c - MariaDB error numbers and duplicate-key messages, classified.
 *
 * The numbers are spelled out (with their names) rather than taken from
 * mysqld_error.h/errmsg.h: MariaDB's and MySQL's headers disagree on some
 * (1927, 4031), and this module must not depend on which one is installed.
 */
#include <string.h>

#include "dberr.h"

enum cm_dberr
cm_dberr_class(unsigned err)
{
	switch (err) {
	case 1062:	/* ER_DUP_ENTRY */
	case 1586:	/* ER_DUP_ENTRY_WITH_KEY_NAME */
		return CM_DBERR_DUPLICATE;
	case 1213:	/* ER_LOCK_DEADLOCK (also Galera's certification failure) */
	case 1205:	/* ER_LOCK_WAIT_TIMEOUT */
		return CM_DBERR_CONFLICT;
	/* The connection is gone or will not serve: reconnect. */
	case 2002:	/* CR_CONNECTION_ERROR: socket connect failed */
	case 2003:	/* CR_CONN_HOST_ERROR: TCP connect failed */
	case 2006:	/* CR_SERVER_GONE_ERROR */
	case 2013:	/* CR_SERVER_LOST: during a query */
	case 2026:	/* CR_SSL_CONNECTION_ERROR */
	case 2055:	/* CR_SERVER_LOST_EXTENDED: lost, with the system error */
	case 1053:	/* ER_SERVER_SHUTDOWN: the server is shutting down */
	case 1927:	/* ER_CONNECTION_KILLED: KILL CONNECTION, or a Galera BF abort of an idle one */
	case 4031:	/* ER_CLIENT_INTERACTION_TIMEOUT (MariaDB 10.5+): wait_timeout */
	case 1047:	/* ER_UNKNOWN_COM_ERROR: "WSREP has not yet prepared node for application use" */
	case 1180:	/* ER_ERROR_DURING_COMMIT: a Galera node that left the primary component */
	case 1158:	/* ER_NET_READ_ERROR */
	case 1159:	/* ER_NET_READ_INTERRUPTED */
	case 1160:	/* ER_NET_ERROR_ON_WRITE */
	case 1161:	/* ER_NET_WRITE_INTERRUPTED */
		return CM_DBERR_LOST;
	/* The server is there but refuses more: retrying now only adds load. */
	case 1040:	/* ER_CON_COUNT_ERROR: max_connections */
	case 1203:	/* ER_TOO_MANY_USER_CONNECTIONS */
	case 1226:	/* ER_USER_LIMIT_REACHED */
	case 1461:	/* ER_MAX_PREPARED_STMT_COUNT_REACHED */
	case 1135:	/* ER_CANT_CREATE_THREAD */
		return CM_DBERR_BUSY;
	default:
		return CM_DBERR_OTHER;
	}
}

bool
cm_dberr_node_down(unsigned err)
{
	if (cm_dberr_class(err) != CM_DBERR_LOST)
		return false;
	/*
	 * XXX 2006 (gone away) also follows an idle timeout on servers that
	 * close without 4031: then a healthy node is skipped for failback_s.
	 */
	return err != 4031 && err != 1927;
}

bool
cm_dberr_commit_unknown(unsigned err)
{
	/*
	 * The connection went, or the node stopped serving, while COMMIT was
	 * under way: 2013 and the rest of the LOST family, 1047 (the node
	 * is no longer ready), 1180 (a Galera node that lost the primary
	 * component while replicating the write set), 1927 (killed).  What
	 * the server did is unknown to the client.  A deadlock or a
	 * certification failure (1213) is a definite "not committed".
	 */
	return cm_dberr_class(err) == CM_DBERR_LOST;
}

int
cm_dberr_dup_key(const char *msg, char *key, size_t keysz)
{
	static const char	 mark[] = " for key '";
	const char		*p, *last = NULL, *start;
	size_t			 len, n;

	if (msg == NULL || strncmp(msg, "Duplicate entry '", 17) != 0)
		return -1;
	for (p = msg; (p = strstr(p, mark)) != NULL; p++)
		last = p;
	if (last == NULL)
		return -1;
	start = last + sizeof(mark) - 1;
	len = strlen(start);
	if (len < 2 || start[len - 1] != '\'')
		return -1;
	n = len - 1;
	/* MySQL 8 says 'clients.uq_clients_domain'; index names have no dot. */
	if ((p = memchr(start, '.', n)) != NULL) {
		n -= (size_t)(p + 1 - start);
		start = p + 1;
	}
	if (n == 0 || n >= keysz || memchr(start, '\'', n) != NULL)
		return -1;
	memcpy(key, start, n);
	key[n] = '\0';
	return (int)n;
}

enum cm_dup
cm_dberr_dup_member(const char *msg, const char **member)
{
	static const struct {
		const char	*key;
		const char	*member;	/* NULL: a generated key */
	} keys[] = {
		{ "PRIMARY", "id" },
		{ "uq_clients_domain", "domain" },
		{ "uq_clients_global_name", "global_name" },
		{ "uq_clients_publishable_key", NULL },
		{ "uq_clients_secret_key", NULL },
	};
	char	key[193];
	size_t	i;

	*member = NULL;
	if (cm_dberr_dup_key(msg, key, sizeof(key)) < 0)
		return CM_DUP_UNKNOWN;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key) != 0)
			continue;
		*member = keys[i].member;
		return keys[i].member ? CM_DUP_MEMBER : CM_DUP_GENERATED;
	}
	return CM_DUP_UNKNOWN;
}
