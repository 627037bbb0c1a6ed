/*
 * check_openapi.c - the API as a document, in lib/: the built-in OpenAPI document and its
 * ETag, If-None-Match, raw bodies, details with a null field, and the
 * parser's reasons for "Invalid JSON".
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "http.h"
#include "json.h"
#include "openapi.h"
#include "validate.h"
#include "unit_run.h"

START_TEST(document_is_built_in)
{
	json_error_t	 jerr;
	const char	*doc;
	json_t		*v;
	size_t		 len;

	doc = cm_openapi_json(&len);
	ck_assert_uint_gt(len, 1000);
	v = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(v != NULL, "not JSON: %s (line %d)", jerr.text, jerr.line);
	ck_assert_str_eq(json_string_value(json_object_get(v, "openapi")), "3.1.0");
	ck_assert_ptr_nonnull(json_object_get(json_object_get(v, "paths"),
	    "/clients/{id}"));
	ck_assert_ptr_nonnull(json_object_get(json_object_get(v, "paths"),
	    "/openapi.json"));
	json_decref(v);
}
END_TEST

START_TEST(etag_is_the_sha256)
{
	char	a[CM_OPENAPI_ETAG_SIZE], b[CM_OPENAPI_ETAG_SIZE];
	size_t	i;

	ck_assert_int_eq(cm_openapi_etag(a), 0);
	ck_assert_int_eq(cm_openapi_etag(b), 0);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), CM_OPENAPI_ETAG_SIZE - 1);
	ck_assert(strncmp(a, "\"sha256-", 8) == 0);
	ck_assert_int_eq(a[strlen(a) - 1], '"');
	for (i = 8; i < strlen(a) - 1; i++)
		ck_assert(strchr("0123456789abcdef", a[i]) != NULL);
}
END_TEST

START_TEST(if_none_match)
{
	const char	*tag = "\"sha256-ab\"";

	ck_assert(!cm_if_none_match(NULL, tag));
	ck_assert(cm_if_none_match("*", tag));
	ck_assert(cm_if_none_match(" * ", tag));
	ck_assert(cm_if_none_match("\"sha256-ab\"", tag));
	ck_assert(cm_if_none_match("W/\"sha256-ab\"", tag));	/* weak compare */
	ck_assert(cm_if_none_match("\"x\", \"sha256-ab\" ", tag));
	ck_assert(!cm_if_none_match("\"sha256-a\"", tag));
	ck_assert(!cm_if_none_match("sha256-ab", tag));
	ck_assert(!cm_if_none_match("", tag));
	ck_assert(!cm_if_none_match("\"x\", W/\"y\"", tag));
}
END_TEST

START_TEST(raw_body_and_304)
{
	struct cm_response	 res;
	static const char	 doc[] = "{\"openapi\":\"3.1.0\"}";
	char			*out;
	size_t			 len;

	cm_response_init(&res);
	cm_response_raw(&res, 200, doc, sizeof(doc) - 1);
	out = cm_response_render(&res, "rid", false, &len);
	ck_assert_ptr_nonnull(out);
	/* A 200 goes without a Status line (CGI's default). */
	ck_assert(strncmp(out, "Content-Type: application/json", 30) == 0);
	ck_assert(len > sizeof(doc) - 1);
	ck_assert(memcmp(out + len - (sizeof(doc) - 1), doc, sizeof(doc) - 1) == 0);
	ck_assert(strstr(out, "\r\n\r\n{\"openapi\"") != NULL);
	free(out);
	out = cm_response_render(&res, "rid", true, &len);	/* HEAD */
	ck_assert(strcmp(out + len - 4, "\r\n\r\n") == 0);
	free(out);
	cm_response_raw(&res, 304, NULL, 0);
	out = cm_response_render(&res, "rid", false, &len);
	ck_assert(strncmp(out, "Status: 304 Not Modified\r\n", 26) == 0);
	ck_assert(strcmp(out + len - 4, "\r\n\r\n") == 0);
	free(out);
	cm_response_clear(&res);
}
END_TEST

START_TEST(details_with_null_field)
{
	struct cm_response	 res;
	json_t			*d;

	cm_response_init(&res);
	cm_response_error(&res, 415, "Unsupported media type", NULL);
	cm_response_detail(&res, NULL, "unsupported_media_type",
	    "must be sent with Content-Type application/json");
	cm_response_detail(&res, "id", "invalid_format", "must match x");
	d = json_object_get(res.body, "details");
	ck_assert_uint_eq(json_array_size(d), 2);
	ck_assert(json_is_null(json_object_get(json_array_get(d, 0), "field")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0),
	    "code")), "unsupported_media_type");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 1),
	    "field")), "id");
	ck_assert_str_eq(json_string_value(json_object_get(res.body, "error")),
	    "Unsupported media type");
	cm_response_clear(&res);
}
END_TEST

/* What "Invalid JSON" tells the sender, for each kind of bad body. */
static const struct {
	const char	*body;
	const char	*want;	/* a part of the message */
} why_cases[] = {
	{ "", "must be one JSON object; the body is empty" },
	{ "{\"a\": }", "must be one JSON object: line 1, column 7: " },
	{ "{\"a\": 1,\n \"b\": tru}", "line 2, column " },
	{ "{\"a\": 1, \"a\": 2}", "duplicate object key" },
	{ "[1, 2]", "must be one JSON object, not an array" },
	{ "\"s\"", "must be one JSON object: line 1" },
	{ "{} {}", "end of file expected" },
	{ "{\"a\": {\"b\": {\"c\": {}}}}", "must not be nested more than 3 levels deep" },
};

START_TEST(invalid_json_says_why)
{
	char	 why[256];
	json_t	*v;
	size_t	 len = strlen(why_cases[_i].body);

	strcpy(why, "unset");
	v = cm_json_parse_object_why(len ? why_cases[_i].body : NULL, len, 3,
	    why, sizeof(why));
	ck_assert_ptr_null(v);
	ck_assert_msg(strncmp(why, "must ", 5) == 0, "%s", why);
	ck_assert_msg(strstr(why, why_cases[_i].want) != NULL,
	    "%s: got \"%s\", want \"%s\"", why_cases[_i].body, why,
	    why_cases[_i].want);
}
END_TEST

START_TEST(valid_json_leaves_why_alone)
{
	char	 why[16] = "unset";
	json_t	*v;

	v = cm_json_parse_object_why("{\"a\":1}", 7, 3, why, sizeof(why));
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(why, "unset");
	json_decref(v);
	/* why may be NULL: same answer, no message. */
	ck_assert_ptr_null(cm_json_parse_object_why("[", 1, 3, NULL, 0));
	/* A short buffer truncates, never overflows. */
	ck_assert_ptr_null(cm_json_parse_object_why("[", 1, 3, why, 8));
	ck_assert_str_eq(why, "must be");
}
END_TEST

static void
must_start_with_must(const struct cm_verdict *v, const char *what)
{
	ck_assert_msg(v != NULL, "%s: accepted", what);
	ck_assert_msg(strncmp(v->message, "must ", 5) == 0, "%s: \"%s\"",
	    what, v->message);
}

/* Every validator's message reads as an instruction (it starts with "must"). */
START_TEST(validator_messages_are_instructions)
{
	must_start_with_must(cm_check_token("a b", 3), "token");
	must_start_with_must(cm_check_name("", 0), "name length");
	must_start_with_must(cm_check_name("a\x01", 2), "name control");
	must_start_with_must(cm_check_domain("a", 1), "domain");
	must_start_with_must(cm_check_email("a", 1), "email");
	must_start_with_must(cm_check_phone("1", 1), "phone");
	must_start_with_must(cm_check_website("ftp://a", 7), "website");
	must_start_with_must(cm_check_global_name("1a", 2), "global_name");
	must_start_with_must(cm_check_global_name("class", 5), "reserved");
	must_start_with_must(cm_check_proxy_api_key("a b", 3), "proxy_api_key");
	must_start_with_must(cm_check_metadata_key("", 0), "metadata key");
}
END_TEST

/* ... and so does every problem a body can have, all found at once. */
START_TEST(input_problems_are_instructions)
{
	struct cm_input_policy	 pol = { false, NULL };
	struct cm_problems	 probs;
	json_t			*body, *out;
	size_t			 i;
	char			 err[256];

	pol.tzdb = cm_tzdb_load("/usr/share/zoneinfo/tzdata.zi", err,
	    sizeof(err));
	ck_assert_msg(pol.tzdb != NULL, "%s", err);
	body = json_pack("{s:s, s:n, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s,"
	    " s:s, s:i, s:s, s:i, s:s, s:s, s:s}",
	    "publishable_key", "pk", "name", "status", "yes", "domain", 1,
	    "email", "no", "phone", "1", "website", "x", "timezone", "Mars/X",
	    "global_name", "if", "company_id", "a b", "agency_id", "",
	    "api_metadata", 3, "ghl_location_id", "?", "proxy_api_key", 1,
	    "nope", "x", "created_at", "x", "updated_at", "x");
	ck_assert_ptr_nonnull(body);
	cm_problems_init(&probs);
	out = cm_client_check_input(body, CM_INPUT_CREATE, &pol, &probs);
	ck_assert_ptr_null(out);
	ck_assert_uint_ge(probs.n, 15);
	for (i = 0; i < probs.n; i++)
		ck_assert_msg(strncmp(probs.item[i].message, "must ", 5) == 0,
		    "%s (%s): \"%s\"", probs.item[i].field, probs.item[i].code,
		    probs.item[i].message);
	json_decref(body);
	cm_tzdb_free((struct cm_tzdb *)pol.tzdb);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("openapi");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, document_is_built_in);
	tcase_add_test(tc, etag_is_the_sha256);
	tcase_add_test(tc, if_none_match);
	tcase_add_test(tc, raw_body_and_304);
	tcase_add_test(tc, details_with_null_field);
	tcase_add_loop_test(tc, invalid_json_says_why, 0,
	    sizeof(why_cases) / sizeof(why_cases[0]));
	tcase_add_test(tc, valid_json_leaves_why_alone);
	tcase_add_test(tc, validator_messages_are_instructions);
	tcase_add_test(tc, input_problems_are_instructions);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
