/*
 * dbsetup.c - `clientsctl db-setup --print`: the provider's set-up SQL.
 *
 * Least privilege: the runtime user (the one clientsd connects as) gets
 * SELECT, INSERT, UPDATE and DELETE on every table of the database,
 * client_audit included (erasure and retention delete from it), and no
 * DDL; the migration user (clientsctl migrate) gets the DDL as well.
 * Grants are on `db`.*, so tables a later migration adds are covered.
 */
#include <stdio.h>
#include <string.h>

#include "dbsetup.h"

#define DML	"SELECT, INSERT, UPDATE, DELETE"
#define DDL	DML ", CREATE, ALTER, DROP, INDEX, REFERENCES, " \
		"CREATE VIEW, SHOW VIEW, TRIGGER, LOCK TABLES"

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

static void
user(FILE *out, const char *name, const char *host, const char *password,
    const char *db, const char *privileges)
{
	fprintf(out, "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY ",
	    name, host);
	literal(out, password);
	fprintf(out, ";\nALTER USER '%s'@'%s' IDENTIFIED BY ", name, host);
	literal(out, password);
	/* A re-run takes back whatever an older set-up granted. */
	fprintf(out, ";\nREVOKE ALL PRIVILEGES, GRANT OPTION FROM '%s'@'%s';\n"
	    "GRANT %s ON `%s`.* TO '%s'@'%s';\n",
	    name, host, privileges, db, name, host);
}

int
cm_dbsetup_print(FILE *out, const struct cm_db_config *run,
    const struct cm_db_config *mig, const char *host, char *err, size_t errsz)
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
	if (bad != NULL) {
		snprintf(err, errsz, "%s", bad);
		return -1;
	}
	fprintf(out, "-- clientsd database set-up: run as a MariaDB "
	    "administrator, e.g.\n"
	    "--   clientsctl db-setup --print | mariadb -u root\n"
	    "CREATE DATABASE IF NOT EXISTS `%s`\n"
	    "    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
	    "-- The runtime user (clientsd.conf): data only, no DDL.\n",
	    run->name);
	user(out, run->user, host, run->password, run->name, DML);
	fprintf(out, "-- The migration user (clientsctl migrate): "
	    "schema changes too.\n");
	user(out, mig->user, host, mig->password, run->name, DDL);
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errsz, "cannot write the SQL");
		return -1;
	}
	return 0;
}
