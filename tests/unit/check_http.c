/* check_http.c - paths, request headers, envelope rendering, patch model. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "patch.h"
#include "unit_run.h"

START_TEST(path_match)
{
	char	id[16];
	bool	ok;

	ck_assert(cm_path_match("/clients", "/clients", id, sizeof(id), &ok));
	ck_assert(cm_path_match("/clients?x=1", "/clients", id, sizeof(id),
	    &ok));
	ck_assert(!cm_path_match("/clients/", "/clients", id, sizeof(id), &ok));
	ck_assert(!cm_path_match("/clientsx", "/clients", id, sizeof(id), &ok));
	ck_assert(cm_path_match("/clients/a%62", "/clients/{id}", id,
	    sizeof(id), &ok));
	ck_assert(ok);
	ck_assert_str_eq(id, "ab");
	ck_assert(cm_path_match("/clients/a%zz", "/clients/{id}", id,
	    sizeof(id), &ok));
	ck_assert(!ok);
	ck_assert(cm_path_match("/clients/0123456789abcdefg", "/clients/{id}",
	    id, sizeof(id), &ok));
	ck_assert(!ok);		/* longer than the buffer */
	ck_assert(!cm_path_match("/clients/a/b", "/clients/{id}", id,
	    sizeof(id), &ok));
	ck_assert(!cm_path_match("/clients", "/clients/{id}", id, sizeof(id),
	    &ok));
	ck_assert(cm_path_match("/%63lients", "/clients", id, sizeof(id), &ok));
	ck_assert(!cm_path_match(NULL, "/clients", id, sizeof(id), &ok));
	ck_assert(!cm_path_match("clients", "/clients", id, sizeof(id), &ok));
}
END_TEST

START_TEST(query_values)
{
	char	v[16];

	ck_assert_int_eq(cm_query_get("a=1&admin_key=k%2By+z", "admin_key", v,
	    sizeof(v)), 1);
	ck_assert_str_eq(v, "k+y z");
	ck_assert_int_eq(cm_query_get("xadmin_key=1", "admin_key", v, sizeof(v)), 0);
	ck_assert_int_eq(cm_query_get("", "admin_key", v, sizeof(v)), 0);
	ck_assert_int_eq(cm_query_get("hard", "hard", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(cm_query_get("k=%zz", "k", v, sizeof(v)), -1);
	ck_assert_int_eq(cm_query_get("k=0123456789abcdefg", "k", v, sizeof(v)), -1);
}
END_TEST

START_TEST(content_types)
{
	ck_assert(cm_content_type_is("application/json", "application/json"));
	ck_assert(cm_content_type_is("Application/JSON; charset=UTF-8", "application/json"));
	ck_assert(cm_content_type_is("application/json;charset=\"utf-8\"", "application/json"));
	ck_assert(!cm_content_type_is("application/json; charset=latin1", "application/json"));
	ck_assert(!cm_content_type_is("application/jsonx", "application/json"));
	ck_assert(!cm_content_type_is("text/plain", "application/json"));
	ck_assert(!cm_content_type_is(NULL, "application/json"));
	ck_assert(cm_content_type_is("application/merge-patch+json",
	    "application/merge-patch+json"));
}
END_TEST

START_TEST(request_ids)
{
	struct cm_request	r;
	char			long_id[200];

	cm_request_id_set(&r, "abc.DEF_1-2");
	ck_assert_str_eq(r.request_id, "abc.DEF_1-2");
	cm_request_id_set(&r, "bad id");
	ck_assert_uint_eq(strlen(r.request_id), 32);
	ck_assert_uint_eq(strspn(r.request_id, "0123456789abcdef"), 32);
	memset(long_id, 'a', 129);
	long_id[129] = '\0';
	cm_request_id_set(&r, long_id);
	ck_assert_uint_eq(strlen(r.request_id), 32);
	long_id[128] = '\0';
	cm_request_id_set(&r, long_id);
	ck_assert_str_eq(r.request_id, long_id);
	cm_request_id_set(&r, NULL);
	ck_assert_uint_eq(strlen(r.request_id), 32);
}
END_TEST

/* If-Match parsed; cm_precondition_holds() compares strongly. */
static bool
if_match(const char *header, const char *etag)
{
	struct cm_precondition	p;

	if (header == NULL)
		return cm_precondition_holds(NULL, etag);
	ck_assert_int_eq(cm_if_match_parse(header, &p), 0);
	return cm_precondition_holds(&p, etag);
}

START_TEST(if_match_parsed)
{
	struct cm_precondition	p;
	char			many[40 * 8];
	size_t			i;

	ck_assert(if_match(NULL, "\"1.2\""));
	ck_assert(if_match("*", "\"1.2\""));
	ck_assert(if_match(" \"1.2\" ", "\"1.2\""));
	ck_assert(if_match("\"0.1\", \"1.2\"", "\"1.2\""));
	ck_assert(!if_match("\"1.3\"", "\"1.2\""));
	ck_assert(!if_match("W/\"1.2\"", "\"1.2\""));
	ck_assert(!if_match("1.2", "\"1.2\""));
	ck_assert(!if_match("", "\"1.2\""));
	/* No representation: nothing matches, "*" included. */
	ck_assert_int_eq(cm_if_match_parse("*", &p), 0);
	ck_assert(!cm_precondition_holds(&p, NULL));
	ck_assert(cm_precondition_holds(NULL, NULL));
	/* At most CM_PRECONDITION_TAGS tags; longer ones cannot match ours. */
	many[0] = '\0';
	for (i = 0; i < CM_PRECONDITION_TAGS; i++)
		strcat(many, "\"1.2\", ");
	ck_assert_int_eq(cm_if_match_parse(many, &p), 0);
	strcat(many, "\"9\"");
	ck_assert_int_eq(cm_if_match_parse(many, &p), -1);
	memset(many, 'x', 200);
	many[200] = '\0';
	ck_assert_int_eq(cm_if_match_parse(many, &p), 0);
	ck_assert_uint_eq(p.n, 0);
}
END_TEST

START_TEST(error_envelope)
{
	struct cm_response	res;
	struct cm_problems	probs;
	char			*out;
	size_t			 len;

	cm_response_init(&res);
	cm_problems_init(&probs);
	cm_problems_add(&probs, "email", "invalid_email", "must be a valid e-mail address");
	cm_response_error(&res, 400, "Validation failed", &probs);
	out = cm_response_render(&res, "rid", false, &len);
	ck_assert_str_eq(out,
	    "Status: 400 Bad Request\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Request-Id: rid\r\n\r\n"
	    "{\"success\":false,\"data\":null,\"error\":\"Validation failed\","
	    "\"count\":0,\"details\":[{\"field\":\"email\",\"code\":"
	    "\"invalid_email\",\"message\":\"must be a valid e-mail address\"}]}");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	cm_response_clear(&res);
}
END_TEST

/* The 65th problem and beyond are counted, and said, not dropped. */
START_TEST(problems_beyond_the_cap)
{
	struct cm_problems	 probs;
	json_t			*arr, *last;
	char			 name[16];
	int			 i;

	cm_problems_init(&probs);
	for (i = 0; i < CM_PROBLEMS_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		cm_problems_add(&probs, name, "unknown_field", "must not be sent");
	}
	arr = cm_problems_json(&probs);
	ck_assert_uint_eq(json_array_size(arr), CM_PROBLEMS_MAX);
	json_decref(arr);
	for (i = 0; i < 6; i++)
		cm_problems_add(&probs, "x", "unknown_field", "must not be sent");
	ck_assert_uint_eq(cm_problems_count(&probs), CM_PROBLEMS_MAX + 6);
	arr = cm_problems_json(&probs);
	ck_assert_uint_eq(json_array_size(arr), CM_PROBLEMS_MAX + 1);
	last = json_array_get(arr, CM_PROBLEMS_MAX);
	ck_assert(json_is_null(json_object_get(last, "field")));
	ck_assert_str_eq(json_string_value(json_object_get(last, "code")),
	    "too_many_problems");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(last,
	    "message")), "6 more were found"));
	ck_assert(strncmp(json_string_value(json_object_get(last, "message")),
	    "must ", 5) == 0);
	json_decref(arr);
}
END_TEST

START_TEST(data_envelope_and_head)
{
	struct cm_response	res;
	char			*out;
	size_t			 len;

	cm_response_init(&res);
	cm_response_header(&res, "ETag", "\"%d.%d\"", 3, 4);
	cm_response_data(&res, 201, json_pack("{s:s}", "id", "x"));
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_ptr_nonnull(strstr(out, "Status: 201 Created\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "ETag: \"3.4\"\r\n\r\n"
	    "{\"success\":true,\"data\":{\"id\":\"x\"}}"));
	free(out);
	out = cm_response_render(&res, "r", true, &len);
	ck_assert_str_eq(out + len - 4, "\r\n\r\n");
	free(out);
	cm_response_error(&res, 503, "Service unavailable", NULL);
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_ptr_null(strstr(out, "details"));
	free(out);
	cm_response_clear(&res);
}
END_TEST

/* A header block longer than the renderer's stack buffer, whole. */
START_TEST(long_header_block)
{
	struct cm_response	 res;
	char			 link[3000], *out;
	size_t			 len;

	memset(link, 'l', sizeof(link) - 1);
	link[sizeof(link) - 1] = '\0';
	cm_response_init(&res);
	cm_response_header(&res, "Link", "<%s>", link);
	cm_response_data(&res, 200, json_pack("{s:s}", "id", "x"));
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_uint_eq(len, strlen(out));
	ck_assert_ptr_nonnull(strstr(out, "X-Request-Id: r\r\nLink: <l"));
	ck_assert_str_eq(strstr(out, "l>\r\n\r\n"), "l>\r\n\r\n"
	    "{\"success\":true,\"data\":{\"id\":\"x\"}}");
	free(out);
	cm_response_clear(&res);
}
END_TEST

/* The non-JSON body of the OpenMetrics page. */
START_TEST(status_ping_and_text_bodies)
{
	struct cm_response	res;
	char			*out;
	size_t			 len;

	cm_response_init(&res);
	cm_response_data(&res, 200, json_pack("{s:b}", "pong", 1));
	cm_response_text(&res, 200, "application/openmetrics-text; "
	    "version=1.0.0; charset=utf-8", strdup("a_total 1\n# EOF\n"));
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_ptr_nonnull(strstr(out, "Content-Type: application/"
	    "openmetrics-text; version=1.0.0; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "Cache-Control: no-store\r\n"));
	ck_assert_str_eq(out + len - 20, "\r\n\r\na_total 1\n# EOF\n");
	ck_assert_ptr_null(strstr(out, "pong"));
	free(out);
	/* An error after all is JSON again. */
	cm_response_error(&res, 500, "Internal server error", NULL);
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_ptr_nonnull(strstr(out, "application/json"));
	free(out);
	cm_response_clear(&res);
}
END_TEST

START_TEST(list_and_other_bodies)
{
	struct cm_response	res;
	char			*out;
	size_t			 len;

	cm_response_init(&res);
	cm_response_list(&res, json_pack("[{s:s}]", "id", "a"), 42);
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4,
	    "{\"success\":true,\"data\":[{\"id\":\"a\"}],\"count\":42}");
	free(out);
	/* 200 is the CGI default: no "Status:" line a server could leak. */
	out = cm_response_render(&res, "r", true, &len);
	ck_assert_str_eq(out,
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Request-Id: r\r\n\r\n");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	cm_response_body(&res, 200, json_pack("{s:b, s:b, s:b}", "success", 1,
	    "deleted", 1, "hard", 0));
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4,
	    "{\"success\":true,\"deleted\":true,\"hard\":false}");
	free(out);
	/* A 304 has no body and so no Content-Type (RFC 9110 15.4.5). */
	cm_response_header(&res, "ETag", "%s", "\"t\"");
	cm_response_raw(&res, 304, NULL, 0);
	out = cm_response_render(&res, "r", false, &len);
	ck_assert_str_eq(out,
	    "Status: 304 Not Modified\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Request-Id: r\r\n"
	    "ETag: \"t\"\r\n\r\n");
	ck_assert_uint_eq(len, strlen(out));
	free(out);
	cm_response_clear(&res);
}
END_TEST

START_TEST(new_client_from_input)
{
	struct cm_problems	 probs;
	json_t			*in, *c;
	char			*text;

	cm_problems_init(&probs);
	in = json_pack("{s:s, s:s, s:{s:n, s:i}}", "id", "a", "name", "A",
	    "api_metadata", "gone", "kept", 1);
	c = cm_patch_new_client(in, &probs);
	ck_assert_ptr_nonnull(c);
	text = cm_json_compact(c);
	/* Every member, in section 2 order; null members of the metadata dropped. */
	ck_assert_str_eq(text, "{\"id\":\"a\",\"name\":\"A\",\"status\":true,"
	    "\"publishable_key\":null,\"secret_key\":null,\"domain\":null,"
	    "\"email\":null,\"phone\":null,\"website\":null,\"timezone\":null,"
	    "\"global_name\":null,\"company_id\":null,\"agency_id\":null,"
	    "\"api_metadata\":{\"kept\":1},\"ghl_location_id\":null,"
	    "\"proxy_api_key\":null,\"created_at\":null,\"updated_at\":null}");
	free(text);
	json_decref(c);
	json_decref(in);
	in = json_pack("{s:s, s:s, s:n}", "id", "a", "name", "A", "api_metadata");
	c = cm_patch_new_client(in, &probs);
	/* api_metadata null on create stores {}. */
	ck_assert(json_is_object(json_object_get(c, "api_metadata")));
	ck_assert_uint_eq(json_object_size(json_object_get(c, "api_metadata")), 0);
	json_decref(c);
	json_decref(in);
}
END_TEST

static json_t *
stored_client(void)
{
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:n, s:n, s:{s:i}, s:s}",
	    "id", "a", "name", "A", "status", 1, "publishable_key", "pk_x",
	    "secret_key", "sk_x", "email", "proxy_api_key", "api_metadata",
	    "k", 1, "updated_at", "t0");
}

START_TEST(patch_changes_exactly)
{
	struct cm_problems	 probs;
	json_t			*cur = stored_client(), *chg, *next, *audit;
	uint32_t		 changed;
	char			*text;

	cm_problems_init(&probs);
	chg = json_pack("{s:s, s:b, s:{s:n, s:i}, s:s}", "name", "A", "status", 0,
	    "api_metadata", "k", "j", 2, "proxy_api_key", "secret!");
	next = cm_patch_apply(cur, chg, &changed, &probs);
	ck_assert_ptr_nonnull(next);
	ck_assert_uint_eq(changed, CM_FIELD_BIT(CM_F_STATUS) |
	    CM_FIELD_BIT(CM_F_API_METADATA) | CM_FIELD_BIT(CM_F_PROXY_API_KEY));
	text = cm_json_compact(json_object_get(next, "api_metadata"));
	ck_assert_str_eq(text, "{\"j\":2}");
	free(text);
	audit = cm_audit_changes(cur, next, changed);
	text = cm_json_compact(audit);
	ck_assert_str_eq(text, "{\"status\":{\"old\":true,\"new\":false},"
	    "\"api_metadata\":{\"old\":{\"k\":1},\"new\":{\"j\":2}},"
	    "\"proxy_api_key\":{\"old\":null,\"new\":\"<redacted>\"}}");
	free(text);
	json_decref(audit);
	json_decref(next);
	json_decref(chg);
	json_decref(cur);
}
END_TEST

START_TEST(patch_no_op_and_bad_metadata)
{
	struct cm_problems	 probs;
	json_t			*cur = stored_client(), *chg, *next;
	uint32_t		 changed = 99;

	cm_problems_init(&probs);
	chg = json_pack("{s:s, s:{s:i}, s:n}", "name", "A", "api_metadata",
	    "k", 1, "email", NULL);
	next = cm_patch_apply(cur, chg, &changed, &probs);
	ck_assert_uint_eq(changed, 0);
	ck_assert(json_equal(next, cur));
	json_decref(next);
	json_decref(chg);
	chg = json_pack("{s:{s:{s:{s:{s:{s:{s:{s:{s:{}}}}}}}}}}", "api_metadata",
	    "1", "2", "3", "4", "5", "6", "7", "8");
	ck_assert_ptr_null(cm_patch_apply(cur, chg, &changed, &probs));
	ck_assert_uint_eq(probs.n, 1);
	ck_assert_str_eq(probs.item[0].code, "too_deep");
	json_decref(chg);
	json_decref(cur);
}
END_TEST

/* decode() once wrote out[0] with outsz == 0 (UBSan, ASan). */
START_TEST(percent_decode_no_room)
{
	char	buf[4] = "zzz";

	ck_assert_int_eq(cm_percent_decode("", 0, buf, 0), -1);
	ck_assert_int_eq(cm_percent_decode("a", 1, buf, 0), -1);
	ck_assert_int_eq(buf[0], 'z');
	ck_assert_int_eq(cm_query_get("a=", "a", buf, 0), -1);
	ck_assert_int_eq(buf[0], 'z');
	ck_assert_int_eq(cm_percent_decode("", 0, buf, 1), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, path_match);
	tcase_add_test(tc, query_values);
	tcase_add_test(tc, content_types);
	tcase_add_test(tc, request_ids);
	tcase_add_test(tc, if_match_parsed);
	tcase_add_test(tc, error_envelope);
	tcase_add_test(tc, problems_beyond_the_cap);
	tcase_add_test(tc, data_envelope_and_head);
	tcase_add_test(tc, long_header_block);
	tcase_add_test(tc, list_and_other_bodies);
	tcase_add_test(tc, status_ping_and_text_bodies);
	tcase_add_test(tc, new_client_from_input);
	tcase_add_test(tc, patch_changes_exactly);
	tcase_add_test(tc, patch_no_op_and_bad_metadata);
	tcase_add_test(tc, percent_decode_no_room);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
