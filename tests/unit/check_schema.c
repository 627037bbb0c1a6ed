/*
 * check_schema.c - unit tests for schema.c: the table of migrations
 * matches the files in db/ (names and "-- kind:" lines), Makefile.am
 * installs each of them, and the rule of which schemas a build serves.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "schema.h"
#include "unit_run.h"

#define DBDIR	TEST_DATADIR "/../../../db"

/* The kind a migration file declares, or -1. */
static int
file_kind(const char *file)
{
	char	 path[1024], line[512];
	FILE	*f;
	int	 kind = -1;

	snprintf(path, sizeof(path), "%s/%s", DBDIR, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && kind < 0) {
		if (strcmp(line, "-- kind: expand\n") == 0)
			kind = CM_MIGRATION_EXPAND;
		else if (strcmp(line, "-- kind: contract\n") == 0)
			kind = CM_MIGRATION_CONTRACT;
	}
	fclose(f);
	return kind;
}

/* The next "*.sql" of db/, or NULL at the end. */
static const char *
next_sql(DIR *d)
{
	struct dirent	*e;
	size_t		 len;

	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len >= 5 && strcmp(e->d_name + len - 4, ".sql") == 0)
			return e->d_name;
	}
	return NULL;
}

/* a[] holds every migration of schema.c; contract as each declares or none. */
static size_t
applied_all(struct cm_applied *a, bool declared)
{
	const struct cm_migration	*m;
	size_t				 n = 0;

	for (m = cm_schema_known; m->name != NULL; m++) {
		a[n].name = m->name;
		a[n].contract = declared && m->kind == CM_MIGRATION_CONTRACT;
		n++;
	}
	return n;
}

START_TEST(table_matches_db_dir)
{
	const struct cm_migration	*m;
	const char			*file;
	DIR				*d;
	char				 name[256];
	size_t				 files = 0, rows = 0;

	ck_assert_ptr_nonnull(d = opendir(DBDIR));
	while ((file = next_sql(d)) != NULL) {
		files++;
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(file) - 4),
		    file);
		for (m = cm_schema_known; m->name != NULL; m++)
			if (strcmp(m->name, name) == 0)
				break;
		ck_assert_msg(m->name != NULL, "%s is not in schema.c", name);
		ck_assert_msg((int)m->kind == file_kind(file),
		    "%s: schema.c and the file's \"-- kind:\" differ", name);
	}
	closedir(d);
	for (m = cm_schema_known; m->name != NULL; m++) {
		rows++;
		if (m[1].name != NULL)
			ck_assert_msg(strcmp(m->name, m[1].name) < 0,
			    "schema.c is not in name order at %s", m->name);
	}
	ck_assert_uint_eq(rows, files);
	ck_assert_str_eq(cm_schema_needed(), cm_schema_known[rows - 1].name);
}
END_TEST

/* Every known expand migration applied: served; one missing: named. */
/*
 * Automake takes no wildcard: a migration missing from
 * dist_migrations_DATA would be left out of the tarball and the packages,
 * whose clientsd would then refuse the schema its clientsctl made.
 */
START_TEST(makefile_installs_each_migration)
{
	static char	 text[65536];
	const char	*file;
	DIR		*d;
	FILE		*f;
	char		 want[300];
	size_t		 n;

	ck_assert_ptr_nonnull(f = fopen(DBDIR "/../Makefile.am", "r"));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	ck_assert_uint_lt(n, sizeof(text) - 1);
	text[n] = '\0';
	ck_assert_ptr_nonnull(d = opendir(DBDIR));
	while ((file = next_sql(d)) != NULL) {
		snprintf(want, sizeof(want), "db/%s", file);
		ck_assert_msg(strstr(text, want) != NULL,
		    "Makefile.am does not install %s", want);
	}
	closedir(d);
}
END_TEST

START_TEST(expand_migrations_are_needed)
{
	struct cm_applied	 a[64];
	char			 why[256];
	size_t			 n = applied_all(a, true);

	ck_assert(cm_schema_servable(a, n, why, sizeof(why)));
	/* The next release's expand migration: still served. */
	a[n].name = "999_next_release";
	a[n].contract = false;
	ck_assert(cm_schema_servable(a, n + 1, why, sizeof(why)));
	/* The newest one missing: refused, and named. */
	ck_assert(!cm_schema_servable(a, n - 1, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, cm_schema_needed()));
	ck_assert_ptr_nonnull(strstr(why, "clientsctl migrate"));
	/* Nothing applied at all. */
	ck_assert(!cm_schema_servable(a, 0, why, sizeof(why)));
}
END_TEST

/* A contract migration this build does not know took something away. */
START_TEST(unknown_contract_is_refused)
{
	struct cm_applied	 a[64];
	char			 why[256];
	size_t			 n = applied_all(a, false);

	a[n].name = "999_drop_old";
	a[n].contract = true;
	ck_assert(!cm_schema_servable(a, n + 1, why, sizeof(why)));
	ck_assert_ptr_nonnull(strstr(why, "999_drop_old"));
	ck_assert_ptr_nonnull(strstr(why, "newer release"));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("schema");
	TCase	*tc = tcase_create("schema");

	tcase_add_test(tc, table_matches_db_dir);
	tcase_add_test(tc, makefile_installs_each_migration);
	tcase_add_test(tc, expand_migrations_are_needed);
	tcase_add_test(tc, unknown_contract_is_refused);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
