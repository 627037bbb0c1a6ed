/* check_steward.c - unit tests for steward.c: personal members, erasing
 * audit records, --before dates and retention cut-offs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <unistd.h>

#include "config.h"
#include "steward.h"
#include "unit_run.h"

START_TEST(personal_members)
{
	static const enum cm_field personal[] = {
		CM_F_NAME, CM_F_DOMAIN, CM_F_EMAIL, CM_F_PHONE, CM_F_WEBSITE,
		CM_F_GLOBAL_NAME, CM_F_COMPANY_ID, CM_F_API_METADATA,
		CM_F_GHL_LOCATION_ID, CM_F_PROXY_API_KEY
	};
	int	f, n = 0;
	size_t	i;

	for (i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
		ck_assert_msg(cm_steward_personal(personal[i]), "%s",
		    cm_field_name(personal[i]));
	for (f = 0; f < CM_F__COUNT; f++)
		n += cm_steward_personal(f);
	ck_assert_int_eq(n, (int)(sizeof(personal) / sizeof(personal[0])));
	/* Kept: the history's key, facts, and values that identify nobody. */
	ck_assert(!cm_steward_personal(CM_F_ID));
	ck_assert(!cm_steward_personal(CM_F_STATUS));
	ck_assert(!cm_steward_personal(CM_F_TIMEZONE));
	ck_assert(!cm_steward_personal(CM_F_AGENCY_ID));
	ck_assert(!cm_steward_personal(CM_F_SECRET_KEY));
	ck_assert(!cm_steward_personal(CM_F_PUBLISHABLE_KEY));
	ck_assert(!cm_steward_personal(CM_F_CREATED_AT));
}
END_TEST

static void
assert_json(json_t *got, const char *want)
{
	json_t	*w = json_loads(want, 0, NULL);
	char	*g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(json_equal(got, w), "got %s, want %s", g, want);
	free(g);
	json_decref(w);
}

START_TEST(erase_changes)
{
	json_t	*c = json_loads("{"
	    "\"name\":{\"old\":\"Ann Example\",\"new\":\"Ann B. Example\"},"
	    "\"email\":{\"old\":null,\"new\":\"ann@example.org\"},"
	    "\"status\":{\"old\":true,\"new\":false},"
	    "\"timezone\":{\"old\":null,\"new\":\"Europe/Paris\"},"
	    "\"api_metadata\":{\"old\":{},\"new\":{\"home\":\"Rue 1\"}},"
	    "\"secret_key\":{\"old\":\"<redacted>\",\"new\":\"<redacted>\"},"
	    "\"proxy_api_key\":{\"old\":null,\"new\":\"<redacted>\"},"
	    "\"future_member\":{\"old\":1,\"new\":2}}", 0, NULL);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(cm_steward_erase_changes(c), 8);
	assert_json(c, "{"
	    "\"name\":{\"old\":\"<erased>\",\"new\":\"<erased>\"},"
	    "\"email\":{\"old\":null,\"new\":\"<erased>\"},"
	    "\"status\":{\"old\":true,\"new\":false},"
	    "\"timezone\":{\"old\":null,\"new\":\"Europe/Paris\"},"
	    "\"api_metadata\":{\"old\":\"<erased>\",\"new\":\"<erased>\"},"
	    "\"secret_key\":{\"old\":\"<redacted>\",\"new\":\"<redacted>\"},"
	    "\"proxy_api_key\":{\"old\":null,\"new\":\"<erased>\"},"
	    "\"future_member\":{\"old\":\"<erased>\",\"new\":\"<erased>\"}}");
	/* Erasing again finds nothing: a repeat rewrites no row. */
	ck_assert_int_eq(cm_steward_erase_changes(c), 0);
	json_decref(c);

	c = json_loads("{}", 0, NULL);
	ck_assert_int_eq(cm_steward_erase_changes(c), 0);
	json_decref(c);
	c = json_loads("{\"name\":\"flat\"}", 0, NULL);
	ck_assert_int_eq(cm_steward_erase_changes(c), -1);
	json_decref(c);
	c = json_loads("[]", 0, NULL);
	ck_assert_int_eq(cm_steward_erase_changes(c), -1);
	json_decref(c);
}
END_TEST

START_TEST(parse_date_good)
{
	static const char *const in[][2] = {
		{ "2026-11-27", "2026-11-27 00:00:00.000" },
		{ "2026-11-27T13:14:15", "2026-11-27 13:14:15.000" },
		{ "2026-11-27T13:14:15Z", "2026-11-27 13:14:15.000" },
		{ "2026-11-27 23:59:59", "2026-11-27 23:59:59.000" },
		{ "2024-02-29", "2024-02-29 00:00:00.000" },
		{ "2000-02-29", "2000-02-29 00:00:00.000" },
		{ "1970-01-01", "1970-01-01 00:00:00.000" },
		{ "9999-12-31T23:59:59Z", "9999-12-31 23:59:59.000" },
	};
	char	out[32];
	size_t	i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck_assert_msg(cm_steward_parse_date(in[i][0], out,
		    sizeof(out)) == 0, "%s", in[i][0]);
		ck_assert_str_eq(out, in[i][1]);
	}
}
END_TEST

START_TEST(parse_date_bad)
{
	static const char *const in[] = {
		"", "2026", "2026-11", "2026-11-2", "2026/11/27", "26-11-27",
		"2026-13-01", "2026-00-10", "2026-11-00", "2026-11-31",
		"2023-02-29", "1900-02-29", "1969-12-31", "2026-11-27T24:00:00",
		"2026-11-27T12:60:00", "2026-11-27T12:00:60", "2026-11-27T12:00",
		"2026-11-27T12:00:00+01:00", "2026-11-27X12:00:00",
		"2026-11-27T12:00:00z", " 2026-11-27", "2026-11-27 ",
		"2026-1a-27", "+026-11-27", "2026-11-27T1:00:00Z",
		"2026-11-27T12:00:00.5Z", "2026-11-27; DROP TABLE x",
	};
	char	out[32];
	size_t	i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		ck_assert_msg(cm_steward_parse_date(in[i], out,
		    sizeof(out)) == -1, "accepted \"%s\"", in[i]);
	/* Too small an output buffer is a failure, not a truncation. */
	ck_assert_int_eq(cm_steward_parse_date("2026-11-27", out, 10), -1);
}
END_TEST

START_TEST(retention_cutoff)
{
	char	out[32];

	/* 2026-11-27T10:00:00Z */
	ck_assert_int_eq(cm_steward_retention_cutoff(30, 1795773600, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "2026-10-28 10:00:00.000");
	ck_assert_int_eq(cm_steward_retention_cutoff(1, 1795773600, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "2026-11-26 10:00:00.000");
	/* Across a leap day. */
	ck_assert_int_eq(cm_steward_retention_cutoff(2, 1709251200, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "2024-02-28 00:00:00.000");
	/* 0 (and below) keeps everything: no cut-off. */
	ck_assert_int_eq(cm_steward_retention_cutoff(0, 1795773600, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(cm_steward_retention_cutoff(-3, 1795773600, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(cm_steward_retention_cutoff(30, 86400, out,
	    sizeof(out)), -1);
}
END_TEST

/* Loads "[audit]\nretention_days = value"; returns cm_config_load's result. */
static int
load_retention(const char *value, struct cm_config *c, char *err, size_t errsz)
{
	char	 path[] = "/tmp/check_steward.XXXXXX";
	FILE	*fp;
	int	 fd, rc;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	fprintf(fp, "[audit]\nretention_days = %s\n", value);
	fclose(fp);
	cm_config_defaults(c);
	rc = cm_config_load(c, path, err, errsz);
	unlink(path);
	return rc;
}

START_TEST(retention_days_config)
{
	struct cm_config	c;
	char			err[256];

	cm_config_defaults(&c);
	ck_assert_int_eq(c.audit_retention_days, 0);
	ck_assert_int_eq(load_retention("90", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.audit_retention_days, 90);
	ck_assert_int_eq(load_retention("0", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.audit_retention_days, 0);
	ck_assert_int_eq(load_retention("-1", &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "retention_days: out of range"));
	ck_assert_int_eq(load_retention("36501", &c, err, sizeof(err)), -1);
	ck_assert_int_eq(load_retention("30d", &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "retention_days: bad integer"));
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("steward");
	tc = tcase_create("erasure");
	tcase_add_test(tc, personal_members);
	tcase_add_test(tc, erase_changes);
	suite_add_tcase(s, tc);
	tc = tcase_create("retention");
	tcase_add_test(tc, parse_date_good);
	tcase_add_test(tc, parse_date_bad);
	tcase_add_test(tc, retention_cutoff);
	tcase_add_test(tc, retention_days_config);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
