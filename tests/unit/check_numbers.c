/*
 * check_numbers.c - numbers that round-trip as the
 * shortest text, and valid JSON that Jansson cannot hold (numbers out of
 * range, nesting past the body's limit) parsed with markers, so that the
 * member is named instead of "Invalid JSON".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "client.h"
#include "json.h"
#include "problems.h"
#include "unit_run.h"

static const struct {
	double		 d;
	const char	*text;
} reals[] = {
	{ 0.1, "0.1" }, { 0.2, "0.2" }, { 0.30000000000000004, "0.30000000000000004" },
	{ 1.0, "1.0" }, { -0.0, "-0.0" }, { 100.0, "100.0" }, { 1e300, "1e300" },
	{ 1.5e-7, "1.5e-7" }, { -2.5e-8, "-2.5e-8" }, { 123456.789, "123456.789" },
	{ 1e21, "1e21" }, { 5e-324, "5e-324" }, { 1.7976931348623157e308,
	  "1.7976931348623157e308" }, { 2.2250738585072014e-308,
	  "2.2250738585072014e-308" }, { 0.1 + 0.7, "0.7999999999999999" },
	{ 1e100, "1e100" }, { 3.14159, "3.14159" },
};

START_TEST(real_shortest)
{
	char	buf[64];

	ck_assert_int_eq(cm_json_real(reals[_i].d, buf, sizeof(buf)),
	    (int)strlen(reals[_i].text));
	ck_assert_str_eq(buf, reals[_i].text);
	ck_assert(strtod(buf, NULL) == reals[_i].d);
}
END_TEST

START_TEST(real_edges)
{
	char	buf[64];

	ck_assert_int_eq(cm_json_real(INFINITY, buf, sizeof(buf)), -1);
	ck_assert_int_eq(cm_json_real(NAN, buf, sizeof(buf)), -1);
	ck_assert_int_eq(cm_json_real(0.1, buf, 3), -1);
	ck_assert_int_eq(cm_json_real(0.1, buf, 4), 3);
}
END_TEST

/* 0.1 once came back as 0.10000000000000001 (Jansson's %.17g). */
START_TEST(compact_round_trips)
{
	const char	*in = "{\"a\":0.1,\"b\":[1e300,-2.5e-8,1.0],"
	    "\"i\":9223372036854775807,\"j\":-9223372036854775808,"
	    "\"s\":\"q\\\"b\\\\s/\\u0001\\u001f\\n\\t\\b\\f\\r\x7f\xc3\xa9\","
	    "\"t\":true,\"f\":false,\"n\":null,\"o\":{}}";
	const char	*want = "{\"a\":0.1,\"b\":[1e300,-2.5e-8,1.0],"
	    "\"i\":9223372036854775807,\"j\":-9223372036854775808,"
	    "\"s\":\"q\\\"b\\\\s/\\u0001\\u001F\\n\\t\\b\\f\\r\x7f\xc3\xa9\","
	    "\"t\":true,\"f\":false,\"n\":null,\"o\":{}}";
	json_t		*v = cm_json_parse_object(in, strlen(in), 8), *back;
	char		*out, *jansson;

	ck_assert_ptr_nonnull(v);
	out = cm_json_compact(v);
	ck_assert_str_eq(out, want);
	back = json_loads(out, 0, NULL);
	ck_assert(json_equal(back, v));
	/* Everything but the reals is written as Jansson writes it. */
	json_object_del(v, "a");
	json_object_del(v, "b");
	free(out);
	out = cm_json_compact(v);
	jansson = json_dumps(v, JSON_COMPACT);
	ck_assert_str_eq(out, jansson);
	free(jansson);
	free(out);
	json_decref(back);
	json_decref(v);
	/* Strings with a NUL inside (from the database) are escaped. */
	v = json_stringn("a\0b", 3);
	out = cm_json_compact(v);
	ck_assert_str_eq(out, "\"a\\u0000b\"");
	free(out);
	json_decref(v);
}
END_TEST

static json_t *
body(const char *s, int depth)
{
	return cm_json_parse_body(s, strlen(s), depth);
}

static char *
nested(const char *pre, int n, const char *post)
{
	size_t	lp = strlen(pre), lq = strlen(post);
	char	*s = malloc(lp + 2 * (size_t)n + lq + 1);
	int	 i;

	memcpy(s, pre, lp);
	for (i = 0; i < n; i++) {
		s[lp + (size_t)i] = '[';
		s[lp + (size_t)n + (size_t)i] = ']';
	}
	memcpy(s + lp + 2 * (size_t)n, post, lq + 1);
	return s;
}

START_TEST(body_marks_numbers_out_of_range)
{
	json_t	*v;

	v = body("{\"api_metadata\":{\"a\":1e400,\"b\":[9223372036854775808]},"
	    "\"name\":-9223372036854775809,\"x\":1}", 64);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "api_metadata")),
	    CM_JSON_MARK_RANGE);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "name")),
	    CM_JSON_MARK_RANGE);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "x")),
	    CM_JSON_MARK_NONE);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "x")), 1);
	json_decref(v);
	/* The limits themselves fit, and so does a zero written small. */
	v = body("{\"a\":9223372036854775807,\"b\":-9223372036854775808,"
	    "\"c\":1.7976931348623157e308,\"d\":2.2250738585072014e-308,"
	    "\"e\":0e-400,\"f\":-0.0}", 64);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_marked(v), CM_JSON_MARK_NONE);
	json_decref(v);
	/* Below a double's normal range: it would be kept as 0 or with fewer
	 * digits than sent, so it is out of range like 1e400. */
	v = body("{\"api_metadata\":{\"d\":1e-400},\"x\":4.9e-324}", 64);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "api_metadata")),
	    CM_JSON_MARK_RANGE);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "x")),
	    CM_JSON_MARK_RANGE);
	json_decref(v);
}
END_TEST

START_TEST(body_marks_deep_members)
{
	json_t	*v;
	char	*s;
	int	 n;

	/* Body depth 64 is fine, 65 marks the member; past Jansson's 2048 too. */
	s = nested("{\"api_metadata\":", 63, ",\"name\":\"n\"}");
	v = body(s, 64);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_marked(v), CM_JSON_MARK_NONE);
	ck_assert_int_eq(cm_json_depth(v), 64);
	json_decref(v);
	free(s);
	for (n = 64; n <= 5000; n += 4936) {
		s = nested("{\"name\":\"n\",\"api_metadata\":", n, "}");
		v = body(s, 64);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(cm_json_marked(json_object_get(v,
		    "api_metadata")), CM_JSON_MARK_DEEP);
		ck_assert_str_eq(json_string_value(json_object_get(v, "name")),
		    "n");
		json_decref(v);
		free(s);
	}
	/* A deep member with numbers out of range inside is DEEP. */
	s = nested("{\"a\":[1e400,", 70, "]}");
	v = body(s, 64);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_marked(json_object_get(v, "a")),
	    CM_JSON_MARK_DEEP);
	json_decref(v);
	free(s);
}
END_TEST

static const char *const still_invalid[] = {
	"{\"a\":1e400,}", "{\"a\":1e400", "{\"a\":1e400,\"a\":1}",
	"{\"a\":1e400,\"b\":\"\\u0000\"}", "{\"a\":1e400,\"b\":\"\xff\"}",
	"{\"a\":01e400}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":1e400 1}",
	"[1e400]", "1e400", "{\"a\":[1e400}", "{\"a\":1e400]", "{\"a\":.5e400}",
	"{\"a\":1e400}x", "{\"a\":1e400,\"b\":tru}", "{\"a\":\"\\x\",\"b\":1e400}",
	"{\"a\":\"\\u12\",\"b\":1e400}", "{\"a\":\"\t\",\"b\":1e400}",
	"{1e400:1}", "{\"a\" 1e400}", "{\"a\":[1e400,]}",
	"{\"\\u0000\":1e400}",
};

START_TEST(body_still_rejects_invalid_json)
{
	char	*s;

	ck_assert_msg(body(still_invalid[_i], 64) == NULL, "accepted %s",
	    still_invalid[_i]);
	s = nested("{\"a\":", 100, ",}");
	ck_assert_ptr_null(body(s, 64));
	free(s);
	s = nested("{\"a\":[", 100, "}");
	ck_assert_ptr_null(body(s, 64));
	free(s);
	ck_assert_ptr_null(cm_json_parse_body(NULL, 0, 64));
	ck_assert_ptr_null(cm_json_parse_body("{}", 0, 64));
}
END_TEST

/* A body nobody can tell from a marker: strings never hold NUL. */
START_TEST(body_no_forged_markers)
{
	ck_assert_ptr_null(body("{\"a\":\"\\u0000N\"}", 64));
	ck_assert_ptr_null(body("{\"a\":\"\\u0000N\",\"b\":1e400}", 64));
}
END_TEST

static void
expect_problem(const char *text, const char *field, const char *code)
{
	struct cm_input_policy	 pol = { false, NULL };
	struct cm_problems	 probs;
	json_t			*v = body(text, 64), *in;

	ck_assert_ptr_nonnull(v);
	cm_problems_init(&probs);
	in = cm_client_check_input(v, CM_INPUT_PATCH, &pol, &probs);
	ck_assert_ptr_null(in);
	ck_assert_uint_eq(probs.n, 1);
	ck_assert_str_eq(probs.item[0].field, field);
	ck_assert_str_eq(probs.item[0].code, code);
	json_decref(v);
}

START_TEST(client_names_the_member)
{
	char	*s;

	expect_problem("{\"api_metadata\":{\"a\":1e400}}", "api_metadata",
	    "invalid_value");
	expect_problem("{\"api_metadata\":{\"a\":[18446744073709551616]}}",
	    "api_metadata", "invalid_value");
	expect_problem("{\"name\":1e400}", "name", "invalid_type");
	expect_problem("{\"status\":1e400}", "status", "invalid_type");
	expect_problem("{\"email\":1e400}", "email", "invalid_type");
	expect_problem("{\"nosuch\":1e400}", "nosuch", "unknown_field");
	expect_problem("{\"created_at\":1e400}", "created_at",
	    "read_only_field");
	s = nested("{\"api_metadata\":", 200, "}");
	expect_problem(s, "api_metadata", "too_deep");
	free(s);
	s = nested("{\"phone\":", 200, "}");
	expect_problem(s, "phone", "invalid_type");
	free(s);
}
END_TEST

/* The 16 KiB limit measures the shortest form. */
START_TEST(metadata_size_shortest)
{
	struct cm_problems	 probs;
	json_t			*m = json_object();
	char			 key[16];
	int			 i;

	for (i = 0; i < 1300; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		json_object_set_new(m, key, json_real(0.1));
	}
	cm_problems_init(&probs);
	ck_assert(cm_client_check_metadata(m, &probs));
	ck_assert_uint_eq(probs.n, 0);
	json_decref(m);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("numbers");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, real_shortest, 0,
	    (int)(sizeof(reals) / sizeof(reals[0])));
	tcase_add_test(tc, real_edges);
	tcase_add_test(tc, compact_round_trips);
	tcase_add_test(tc, body_marks_numbers_out_of_range);
	tcase_add_test(tc, body_marks_deep_members);
	tcase_add_loop_test(tc, body_still_rejects_invalid_json, 0,
	    (int)(sizeof(still_invalid) / sizeof(still_invalid[0])));
	tcase_add_test(tc, body_no_forged_markers);
	tcase_add_test(tc, client_names_the_member);
	tcase_add_test(tc, metadata_size_shortest);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
