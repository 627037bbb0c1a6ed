/* check_dbsetup.c - unit tests for dbsetup.c (clientsctl db-setup --print). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "db.h"
#include "dbsetup.h"
#include "unit_run.h"

static struct cm_db_config run, mig, hooks;
static const struct cm_db_config *with_hooks;	/* NULL: no --webhooks */

static void
setup(void)
{
	memset(&run, 0, sizeof(run));
	strcpy(run.name, "clients");
	strcpy(run.user, "clients");
	strcpy(run.password, "rt-pw");
	mig = run;
	strcpy(mig.user, "clients_migrate");
	strcpy(mig.password, "mig-pw");
	hooks = run;
	strcpy(hooks.user, "clients_webhooks");
	strcpy(hooks.password, "wh-pw");
	with_hooks = NULL;
}

/* The SQL for run/mig and host, or NULL with the message in err. */
static char *
print(const char *host, char *err, size_t errsz)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 rc;

	ck_assert_ptr_nonnull(f = open_memstream(&buf, &len));
	err[0] = '\0';
	rc = cm_dbsetup_print(f, &run, &mig, with_hooks, host, err, errsz);
	fclose(f);
	if (rc != 0) {
		ck_assert_uint_eq(len, 0);	/* nothing half-written */
		free(buf);
		return NULL;
	}
	ck_assert_str_eq(err, "");
	return buf;
}

/*
 * db-setup makes the runtime user's account and nothing more (its grants
 * are per table, given by migrate once the tables exist), so re-running it
 * never takes a running service's rights away; the migration user owns the
 * schema and may grant.
 */
START_TEST(runtime_account_only_migration_user_owns)
{
	char	 err[256], *sql, *grant, *revoke;

	ck_assert_ptr_nonnull(sql = print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(sql, "CREATE DATABASE IF NOT EXISTS `clients`"));
	ck_assert_ptr_nonnull(strstr(sql, "CREATE USER IF NOT EXISTS "
	    "'clients'@'localhost' IDENTIFIED BY 'rt-pw';"));
	ck_assert_ptr_null(strstr(sql, "TO 'clients'@"));
	ck_assert_ptr_null(strstr(sql, "FROM 'clients'@"));
	/* Granted, then the rest taken back: never without its rights. */
	ck_assert_ptr_nonnull(grant = strstr(sql, "GRANT SELECT, INSERT, "
	    "UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, CREATE "
	    "VIEW, SHOW VIEW, TRIGGER, LOCK TABLES, CREATE ROUTINE, ALTER "
	    "ROUTINE, EXECUTE ON `clients`.* TO "
	    "'clients_migrate'@'localhost' WITH GRANT OPTION;"));
	ck_assert_ptr_nonnull(revoke = strstr(sql, "REVOKE CREATE TEMPORARY "
	    "TABLES, EVENT, DELETE HISTORY ON `clients`.* FROM "
	    "'clients_migrate'@'localhost';"));
	ck_assert(grant < revoke);
	ck_assert_ptr_null(strstr(sql, "REVOKE ALL"));
	ck_assert_ptr_null(strstr(sql, "ALL PRIVILEGES ON"));
	ck_assert_ptr_nonnull(strstr(sql, "IDENTIFIED BY 'mig-pw';"));
	free(sql);
}
END_TEST

/*
 * The runtime grants: of admin_keys only reads and the last-use column,
 * history append-only.
 */
START_TEST(runtime_grants_per_table)
{
	const struct cm_grant	*g;
	char			 sql[512];
	int			 seen = 0, keys = 0;

	for (g = cm_runtime_grants; g->table != NULL; g++) {
		ck_assert_int_eq(cm_dbsetup_grant_sql(sql, sizeof(sql), g,
		    "clients", "10.0.0.%"), 0);
		/* Keys: read, and one column written (when last used). */
		if (strcmp(g->table, "admin_keys") == 0)
			ck_assert_str_eq(sql, keys++ == 0 ?
			    "GRANT SELECT ON `admin_keys` TO 'clients'@'10.0.0.%'" :
			    "GRANT UPDATE (last_used_at) ON `admin_keys` TO "
			    "'clients'@'10.0.0.%'");
		if (strcmp(g->table, "client_audit") == 0) {
			ck_assert_str_eq(sql, "GRANT SELECT, INSERT, UPDATE "
			    "(changes) ON `client_audit` TO 'clients'@'10.0.0.%'");
			seen++;
		}
		ck_assert_ptr_null(strstr(g->privileges, "CREATE"));
		ck_assert_ptr_null(strstr(g->privileges, "ALTER"));
		ck_assert_ptr_null(strstr(g->privileges, "DROP"));
	}
	ck_assert_int_eq(seen, 1);
	ck_assert_int_eq(keys, 2);
	ck_assert_int_eq(cm_dbsetup_grant_sql(sql, sizeof(sql),
	    cm_runtime_grants, "x'y", "localhost"), -1);
	ck_assert_int_eq(cm_dbsetup_grant_sql(sql, sizeof(sql),
	    cm_runtime_grants, "clients", "local'host"), -1);
	ck_assert_int_eq(cm_dbsetup_grant_sql(sql, 20, cm_runtime_grants,
	    "clients", "localhost"), -1);
}
END_TEST

/* A password with quotes and backslashes stays one string literal. */
START_TEST(password_is_escaped)
{
	char	 err[256], *sql;

	strcpy(run.password, "a'b\\c\"d");
	ck_assert_ptr_nonnull(sql = print("10.0.0.%", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(sql, "IDENTIFIED BY 'a\\'b\\\\c\"d';"));
	ck_assert_ptr_nonnull(strstr(sql, "'clients'@'10.0.0.%' IDENTIFIED"));
	free(sql);
}
END_TEST

START_TEST(bad_settings_are_refused)
{
	char	 err[256];

	strcpy(mig.user, "clients");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "another [database] user"));
	setup();
	run.password[0] = '\0';
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "password in clientsd.conf"));
	setup();
	mig.password[0] = '\0';
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "migration config"));
	setup();
	strcpy(run.name, "cli`ents");
	strcpy(mig.name, "cli`ents");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "[database] name"));
	setup();
	strcpy(mig.name, "other");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "differs"));
	setup();
	strcpy(run.user, "x'y");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "[database] user"));
	setup();
	ck_assert_ptr_null(print("local'host", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "--host"));
	ck_assert_ptr_null(print("", err, sizeof(err)));
}
END_TEST

/*
 * --webhooks: the dispatcher's account too, granted nothing here (migrate
 * gives its grants); its own user, its own password.
 */
START_TEST(dispatcher_account)
{
	char	 err[256], *sql, *mig_at, *hooks_at;

	ck_assert_ptr_nonnull(sql = print("localhost", err, sizeof(err)));
	ck_assert_ptr_null(strstr(sql, "clients_webhooks"));
	free(sql);
	with_hooks = &hooks;
	ck_assert_ptr_nonnull(sql = print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(mig_at = strstr(sql, "'clients_migrate'@"));
	ck_assert_ptr_nonnull(hooks_at = strstr(sql, "CREATE USER IF NOT "
	    "EXISTS 'clients_webhooks'@'localhost' IDENTIFIED BY 'wh-pw';"));
	ck_assert(mig_at < hooks_at);
	ck_assert_ptr_nonnull(strstr(sql, "ALTER USER "
	    "'clients_webhooks'@'localhost' IDENTIFIED BY 'wh-pw';"));
	ck_assert_ptr_null(strstr(sql, "TO 'clients_webhooks'@"));
	free(sql);
	strcpy(hooks.user, "clients");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "a [database] user of its own"));
	strcpy(hooks.user, "clients_migrate");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "a [database] user of its own"));
	strcpy(hooks.user, "x'y");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "[database] user"));
	strcpy(hooks.user, "clients_webhooks");
	hooks.password[0] = '\0';
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "password in the dispatcher's"));
	strcpy(hooks.password, "wh-pw");
	strcpy(hooks.name, "other");
	ck_assert_ptr_null(print("localhost", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "dispatcher's config"));
}
END_TEST

static Suite *
dbsetup_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("dbsetup");
	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, runtime_account_only_migration_user_owns);
	tcase_add_test(tc, runtime_grants_per_table);
	tcase_add_test(tc, password_is_escaped);
	tcase_add_test(tc, bad_settings_are_refused);
	tcase_add_test(tc, dispatcher_account);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(dbsetup_suite());
}
