/*
 * dbsetup.c - `clientsctl db-setup --print`: the provider's set-up SQL.
 *
 * Least privilege, by role.  The migration user owns the schema: DDL and
 * DML on `db`.*, with the right to grant them, because the runtime user's
 * grants are per table and MariaDB grants on a table only once it exists:
 * `clientsctl migrate` gives them after the migrations (store_admin.c).
 * The runtime user gets nothing here but its account, so re-running this
 * SQL never takes a running service's rights away; nor does the webhook
 * dispatcher's, whose grants migrate gives too.
 */
#include <stdio.h>
#include <string.h>

#include "dbsetup.h"

const struct cm_grant cm_runtime_grants[] = {
	{ "clients",		"SELECT, INSERT, UPDATE, DELETE", false },
	{ "idempotency_keys",	"SELECT, INSERT, UPDATE, DELETE", false },
	/* Erasure rewrites changes; nothing else of history is rewritten. */
	{ "client_audit",	"SELECT, INSERT, UPDATE (changes)", false },
	/*
	 * Reads keys, and records their use: that one column, nothing else
	 * of a key (its own row: granted apart, so that a -d of migrations
	 * before the column's still grants the read).
	 */
	{ "admin_keys",		"SELECT", false },
	{ "admin_keys",		"UPDATE (last_used_at)", false },
	/* Written by the triggers on clients, as their definer. */
	{ "client_counts",	"SELECT", false },
	{ "installation_secrets", "SELECT", false },
	/* Managed through the API (webhooks:manage). */
	{ "webhook_endpoints",	"SELECT, INSERT, UPDATE, DELETE", false },
	/* Read for /status?webhooks=true; the dispatcher writes it. */
	{ "webhook_deliveries",	"SELECT", false },
	{ "schema_migrations",	"SELECT", false },
	/* A change of a client in one call (014); INVOKER: the rights above. */
	{ "cm_update_client",	"EXECUTE", true },
	{ NULL, NULL, false }
};

/*
 * The webhook dispatcher's (clientsd-webhooks): it reads the history and
 * the endpoints, with their secrets, and keeps its own tables; it writes
 * no client, no history, no endpoint and no key.
 */
const struct cm_grant cm_webhook_grants[] = {
	{ "client_audit",	"SELECT", false },
	{ "webhook_endpoints",	"SELECT", false },
	{ "webhook_deliveries",	"SELECT, INSERT, UPDATE, DELETE", false },
	{ "webhook_progress",	"SELECT, INSERT, UPDATE, DELETE", false },
	{ "webhook_lease",	"SELECT, INSERT, UPDATE", false },
	{ "schema_migrations",	"SELECT", false },
	{ NULL, NULL, false }
};

#define DML	"SELECT, INSERT, UPDATE, DELETE"
#define DDL	DML ", CREATE, ALTER, DROP, INDEX, REFERENCES, " \
		"CREATE VIEW, SHOW VIEW, TRIGGER, LOCK TABLES, " \
		"CREATE ROUTINE, ALTER ROUTINE, EXECUTE"
/* The rest of MariaDB 10.11's database privileges: the migration user's
 * schema has no event or temporary table. */
#define NOT_DDL	"CREATE TEMPORARY TABLES, EVENT, DELETE HISTORY"

/* Names are printed unquoted inside `...`: letters, digits, _ only. */
static int
plain_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* A host part: what MariaDB accepts, minus quotes and backslashes. */
static int
plain_host(const char *s)
{
	if (*s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("_.-%:", *s) != NULL))
			return 0;
	return 1;
}

/* A string literal: ' and \ escaped (NO_BACKSLASH_ESCAPES is off). */
static void
literal(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s != '\0'; s++) {
		if (*s == '\'' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

int
cm_dbsetup_grant_sql(char *out, size_t outsz, const struct cm_grant *g,
    const char *user, const char *host)
{
	int	n;

	if (!plain_name(g->table) || !plain_name(user) || !plain_host(host))
		return -1;
	n = snprintf(out, outsz, "GRANT %s ON %s`%s` TO '%s'@'%s'",
	    g->privileges, g->procedure ? "PROCEDURE " : "", g->table, user,
	    host);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void
account(FILE *out, const char *name, const char *host, const char *password)
{
	fprintf(out, "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY ",
	    name, host);
	literal(out, password);
	fprintf(out, ";\nALTER USER '%s'@'%s' IDENTIFIED BY ", name, host);
	literal(out, password);
	fprintf(out, ";\n");
}

/* What is wrong with the dispatcher's config beside the other two, or NULL. */
static const char *
bad_hooks(const struct cm_db_config *run, const struct cm_db_config *mig,
    const struct cm_db_config *hooks)
{
	if (hooks == NULL)
		return NULL;
	if (strcmp(run->name, hooks->name) != 0)
		return "[database] name differs in the dispatcher's config";
	if (!plain_name(hooks->user))
		return "[database] user must be letters, digits or _";
	if (strcmp(hooks->user, run->user) == 0 ||
	    strcmp(hooks->user, mig->user) == 0)
		return "the dispatcher's config must name a [database] user of "
		    "its own (it reads endpoints' secrets, and writes no client)";
	if (hooks->password[0] == '\0')
		return "set [database] password in the dispatcher's config first";
	return NULL;
}

int
cm_dbsetup_print(FILE *out, const struct cm_db_config *run,
    const struct cm_db_config *mig, const struct cm_db_config *hooks,
    const char *host, char *err, size_t errsz)
{
	const char	*bad = NULL;

	if (!plain_name(run->name))
		bad = "[database] name must be letters, digits or _";
	else if (strcmp(run->name, mig->name) != 0)
		bad = "[database] name differs between the two configs";
	else if (!plain_name(run->user) || !plain_name(mig->user))
		bad = "[database] user must be letters, digits or _";
	else if (strcmp(run->user, mig->user) == 0)
		bad = "the migration config must name another [database] user "
		    "than clientsd.conf (the runtime user has no DDL right)";
	else if (run->password[0] == '\0')
		bad = "set [database] password in clientsd.conf first";
	else if (mig->password[0] == '\0')
		bad = "set [database] password in the migration config first";
	else if (!plain_host(host))
		bad = "--host must be a host name, address or pattern";
	else
		bad = bad_hooks(run, mig, hooks);
	if (bad != NULL) {
		snprintf(err, errsz, "%s", bad);
		return -1;
	}
	fprintf(out, "-- clientsd database set-up: run as a MariaDB "
	    "administrator, e.g.\n"
	    "--   clientsctl db-setup --print | mariadb -u root\n"
	    "CREATE DATABASE IF NOT EXISTS `%s`\n"
	    "    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
	    "-- The runtime user (clientsd.conf): `clientsctl migrate` grants\n"
	    "-- it what its requests need, table by table, once the tables\n"
	    "-- exist (clientsctl(8), \"Database users\").\n",
	    run->name);
	account(out, run->user, host, run->password);
	fprintf(out, "-- The migration user (clientsctl migrate, admin-key, "
	    "audit purge):\n-- the schema's owner, which grants the "
	    "runtime user its share.\n");
	account(out, mig->user, host, mig->password);
	/*
	 * Grant first, then take back the database's other privileges an
	 * older set-up may have given: the triggers on clients run as their
	 * definer, this user, so a re-run under load (an upgrade) must never
	 * leave it without its rights, not even between two statements (a
	 * REVOKE ALL then GRANT did: every write to clients in between
	 * failed with "TRIGGER command denied").
	 */
	fprintf(out, "GRANT %s ON `%s`.* TO '%s'@'%s' WITH GRANT OPTION;\n"
	    "REVOKE %s ON `%s`.* FROM '%s'@'%s';\n",
	    DDL, run->name, mig->user, host, NOT_DDL, run->name, mig->user,
	    host);
	if (hooks != NULL) {
		fprintf(out, "-- The webhook dispatcher's user (clientsd-webhooks): "
		    "`clientsctl migrate`\n-- grants it its share, table by "
		    "table, as [webhooks] user.\n");
		account(out, hooks->user, host, hooks->password);
	}
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errsz, "cannot write the SQL");
		return -1;
	}
	return 0;
}
