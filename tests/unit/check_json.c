/* check_json.c - unit tests for json.c. */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "json.h"
#include "unit_run.h"

/* Parses any JSON text for the test's own fixtures. */
static json_t *
load(const char *s)
{
	json_error_t	 jerr;
	json_t		*v;

	v = json_loads(s, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(v != NULL, "fixture %s: %s", s, jerr.text);
	return v;
}

/* Compact text of v, for equality and order checks. */
static char *
dump(const json_t *v)
{
	char	*s;

	s = cm_json_compact(v);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* RFC 7396, appendix A, then the example of section 3. */
static const struct {
	const char	*target, *patch, *result;
} rfc[] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	  "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", "null" },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	{ "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\","
	  "\"familyName\":\"Doe\"},\"tags\":[\"example\",\"sample\"],"
	  "\"content\":\"This will be unchanged\"}",
	  "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
	  "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
	  "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},"
	  "\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
	  "\"phoneNumber\":\"+01-123-456-7890\"}" },
};

START_TEST(merge_rfc_examples)
{
	json_t	*target, *patch, *res;
	char	*t0, *p0, *t1, *p1, *r;

	target = load(rfc[_i].target);
	patch = load(rfc[_i].patch);
	t0 = dump(target);
	p0 = dump(patch);

	res = cm_merge_patch(target, patch);
	ck_assert_ptr_nonnull(res);
	/* Exact text: members stay in insertion order, new ones last. */
	r = dump(res);
	ck_assert_str_eq(r, rfc[_i].result);

	/* Neither input changed. */
	t1 = dump(target);
	p1 = dump(patch);
	ck_assert_str_eq(t0, t1);
	ck_assert_str_eq(p0, p1);

	free(t0), free(p0), free(t1), free(p1), free(r);
	json_decref(res);
	json_decref(target);
	json_decref(patch);
}
END_TEST

START_TEST(merge_null_target)
{
	json_t	*patch, *res;
	char	*r;

	patch = load("{\"a\":{\"b\":null,\"c\":1},\"d\":null}");
	res = cm_merge_patch(NULL, patch);
	ck_assert_ptr_nonnull(res);
	r = dump(res);
	ck_assert_str_eq(r, "{\"a\":{\"c\":1}}");
	free(r);
	json_decref(res);
	json_decref(patch);

	patch = load("7");
	res = cm_merge_patch(NULL, patch);
	ck_assert(json_is_integer(res) && json_integer_value(res) == 7);
	json_decref(res);
	json_decref(patch);

	ck_assert_ptr_null(cm_merge_patch(NULL, NULL));
}
END_TEST

/* The result shares no value with either input. */
START_TEST(merge_result_is_independent)
{
	json_t	*target, *patch, *res;
	char	*t, *p;

	target = load("{\"keep\":{\"x\":1},\"over\":{\"y\":2}}");
	patch = load("{\"over\":{\"z\":[3]},\"new\":{\"w\":4}}");
	res = cm_merge_patch(target, patch);
	ck_assert_ptr_nonnull(res);

	json_object_set_new(json_object_get(res, "keep"), "x",
	    json_string("changed"));
	json_array_append_new(json_object_get(json_object_get(res, "over"),
	    "z"), json_integer(9));
	json_object_set_new(json_object_get(res, "new"), "w", json_null());

	t = dump(target);
	p = dump(patch);
	ck_assert_str_eq(t, "{\"keep\":{\"x\":1},\"over\":{\"y\":2}}");
	ck_assert_str_eq(p, "{\"over\":{\"z\":[3]},\"new\":{\"w\":4}}");
	free(t), free(p);

	/* Reference counts of the inputs are untouched. */
	ck_assert_int_eq((int)target->refcount, 1);
	ck_assert_int_eq((int)patch->refcount, 1);
	json_decref(res);
	json_decref(target);
	json_decref(patch);
}
END_TEST

START_TEST(depth)
{
	static const struct {
		const char	*text;
		int		 depth;
	} t[] = {
		{ "1", 0 }, { "\"s\"", 0 }, { "null", 0 },
		{ "{}", 1 }, { "[]", 1 }, { "[1,\"a\",null]", 1 },
		{ "{\"a\":{}}", 2 }, { "{\"a\":1,\"b\":[]}", 2 },
		{ "[1,[2,[3]]]", 3 }, { "{\"a\":[{\"b\":1}]}", 3 },
		{ "{\"a\":1,\"b\":{\"c\":{\"d\":{}}},\"e\":[]}", 4 },
	};
	json_t	*v;
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = load(t[i].text);
		ck_assert_msg(cm_json_depth(v) == t[i].depth,
		    "%s: depth %d, want %d", t[i].text, cm_json_depth(v),
		    t[i].depth);
		json_decref(v);
	}
	ck_assert_int_eq(cm_json_depth(NULL), 0);
}
END_TEST

/* "{"a":" n times, then {}, then "}" n times: depth n + 1. */
static char *
nested(int n)
{
	char	*s, *p;
	int	 i;

	s = malloc((size_t)n * 7 + 3);
	ck_assert_ptr_nonnull(s);
	p = s;
	for (i = 0; i < n; i++)
		p = stpcpy(p, "{\"a\":");
	p = stpcpy(p, "{}");
	for (i = 0; i < n; i++)
		*p++ = '}';
	*p = '\0';
	return s;
}

/* Texts with an explicit length, so NUL bytes can be part of them. */
#define T(s) { s, sizeof(s) - 1 }
static const struct {
	const char	*buf;
	size_t		 len;
} bad[] = {
	T(""), T(" "), T("\n\t "),
	/* Not an object at the top level. */
	T("[]"), T("[{}]"), T("1"), T("\"x\""), T("null"), T("true"),
	/* Syntax. */
	T("{"), T("{\"a\"}"), T("{\"a\":}"), T("{a:1}"), T("{'a':1}"),
	T("{\"a\":1,}"), T("{\"a\":01}"), T("{\"a\":NaN}"),
	T("\xef\xbb\xbf{}"),
	/* Duplicate member names, at any level. */
	T("{\"a\":1,\"a\":2}"), T("{\"a\":1,\"a\":1}"),
	T("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}"),
	T("{\"x\":[{\"a\":1,\"a\":2}]}"),
	T("{\"\\u0061\":1,\"a\":2}"),
	/* Trailing garbage. */
	T("{}x"), T("{} {}"), T("{\"a\":1}1"), T("{} ,"), T("{}\0"),
	T("{}\0{}"),
	/* Invalid UTF-8: stray byte, overlong, surrogate, truncated. */
	T("{\"a\":\"\xff\"}"), T("{\"a\":\"\xc0\xaf\"}"),
	T("{\"a\":\"\xed\xa0\x80\"}"), T("{\"a\":\"\xe2\x82\"}"),
	T("{\"\xfe\":1}"), T("{\"a\":\"\xf4\x90\x80\x80\"}"),
	/* Lone surrogate escapes. */
	T("{\"a\":\"\\ud800\"}"), T("{\"a\":\"\\udc00x\"}"),
	/* NUL, escaped or raw, in values and names. */
	T("{\"a\":\"\\u0000\"}"), T("{\"a\\u0000b\":1}"),
	T("{\"a\":\"x\0y\"}"), T("{\"a\":\"\n\"}"),
};

START_TEST(parse_rejects)
{
	json_t	*v;

	v = cm_json_parse_object(bad[_i].buf, bad[_i].len, 32);
	ck_assert_msg(v == NULL, "bad[%d] was accepted", _i);
}
END_TEST

START_TEST(parse_rejects_null)
{

	ck_assert_ptr_null(cm_json_parse_object(NULL, 0, 32));
	ck_assert_ptr_null(cm_json_parse_object("{}", 0, 32));
}
END_TEST

static const char *const good[] = {
	"{}",
	" \r\n\t{ } \r\n\t",
	"{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{\"e\":true},\"f\":-1.5e3}",
	"{\"name\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}",
	"{\"a\":{\"a\":{\"a\":1}}}",	/* same name at different levels */
	"{\"\":\"\"}",
	"{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
};

START_TEST(parse_accepts)
{
	json_t	*v;

	v = cm_json_parse_object(good[_i], strlen(good[_i]), 32);
	ck_assert_msg(v != NULL, "good[%d] was rejected", _i);
	ck_assert(json_is_object(v));
	json_decref(v);
}
END_TEST

/* Only len bytes are read: what follows them does not matter. */
START_TEST(parse_reads_len_bytes)
{
	const char	*s = "{\"a\":1}garbage";
	json_t		*v;

	v = cm_json_parse_object(s, 7, 32);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "a")), 1);
	json_decref(v);
	ck_assert_ptr_null(cm_json_parse_object(s, 8, 32));
	ck_assert_ptr_null(cm_json_parse_object(s, 6, 32));
}
END_TEST

START_TEST(parse_depth_limit)
{
	json_t	*v;
	char	*s;

	/* Depth 8 at a limit of 8 passes, depth 9 does not. */
	s = nested(7);
	v = cm_json_parse_object(s, strlen(s), 8);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(cm_json_depth(v), 8);
	json_decref(v);
	free(s);

	s = nested(8);
	ck_assert_ptr_null(cm_json_parse_object(s, strlen(s), 8));
	v = cm_json_parse_object(s, strlen(s), 9);
	ck_assert_ptr_nonnull(v);
	json_decref(v);
	free(s);

	/* Arrays count too. */
	s = strdup("{\"a\":[[[[1]]]]}");
	ck_assert_ptr_null(cm_json_parse_object(s, strlen(s), 4));
	v = cm_json_parse_object(s, strlen(s), 5);
	ck_assert_ptr_nonnull(v);
	json_decref(v);
	free(s);

	/* Deeper than Jansson's own limit: an error, not a crash. */
	s = nested(5000);
	ck_assert_ptr_null(cm_json_parse_object(s, strlen(s), 10000));
	free(s);
}
END_TEST

START_TEST(compact_keeps_order)
{
	const char	*s = "{ \"z\" : 1, \"a\" : [ 1, 2 ], \"m\" : { \"y\" : "
	    "null, \"b\" : \"\xc3\xa9\" } }";
	json_t		*v;
	char		*out;

	v = cm_json_parse_object(s, strlen(s), 32);
	ck_assert_ptr_nonnull(v);
	out = cm_json_compact(v);
	ck_assert_str_eq(out,
	    "{\"z\":1,\"a\":[1,2],\"m\":{\"y\":null,\"b\":\"\xc3\xa9\"}}");
	free(out);
	json_decref(v);

	/* Scalars serialise too (audit old/new values are scalars). */
	v = json_string("x\"y");
	out = cm_json_compact(v);
	ck_assert_str_eq(out, "\"x\\\"y\"");
	free(out);
	json_decref(v);
	out = cm_json_compact(json_null());
	ck_assert_str_eq(out, "null");
	free(out);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("json");

	tc = tcase_create("merge_patch");
	tcase_add_loop_test(tc, merge_rfc_examples, 0,
	    (int)(sizeof(rfc) / sizeof(rfc[0])));
	tcase_add_test(tc, merge_null_target);
	tcase_add_test(tc, merge_result_is_independent);
	suite_add_tcase(s, tc);

	tc = tcase_create("depth");
	tcase_add_test(tc, depth);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, parse_rejects, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, parse_rejects_null);
	tcase_add_loop_test(tc, parse_accepts, 0,
	    (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_test(tc, parse_reads_len_bytes);
	tcase_add_test(tc, parse_depth_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("compact");
	tcase_add_test(tc, compact_keeps_order);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return unit_run(json_suite());
}
