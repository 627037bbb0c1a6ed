/* check_idempotency.c - unit tests for idempotency.c. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "random.h"
#include "idempotency.h"
#include "unit_run.h"

START_TEST(key_rules)
{
	char	k[300];

	ck_assert(cm_idem_key_valid("a"));
	ck_assert(cm_idem_key_valid("550e8400-e29b-41d4-a716-446655440000"));
	ck_assert(cm_idem_key_valid("!~\"#{}"));
	ck_assert(!cm_idem_key_valid(NULL));
	ck_assert(!cm_idem_key_valid(""));
	ck_assert(!cm_idem_key_valid("has space"));
	ck_assert(!cm_idem_key_valid("tab\there"));
	ck_assert(!cm_idem_key_valid("caf\xc3\xa9"));
	ck_assert(!cm_idem_key_valid("del\x7f"));
	memset(k, 'k', 255);
	k[255] = '\0';
	ck_assert(cm_idem_key_valid(k));
	k[255] = 'k';
	k[256] = '\0';
	ck_assert(!cm_idem_key_valid(k));
}
END_TEST

START_TEST(fingerprint_is_method_path_body_hash)
{
	char	fp[CM_IDEM_FP_LEN + 1], other[CM_IDEM_FP_LEN + 1];
	char	bodyhash[CM_SHA256_HEX_LEN + 1], want[CM_SHA256_HEX_LEN + 1];
	char	text[256];
	int	n;

	ck_assert_int_eq(cm_idem_fingerprint("POST", "/api/v1/clients",
	    "{\"id\":\"a\"}", 10, fp), 0);
	ck_assert_uint_eq(strlen(fp), CM_IDEM_FP_LEN);
	/* The documented construction, spelled out. */
	ck_assert_int_eq(cm_sha256_hex("{\"id\":\"a\"}", 10, bodyhash), 0);
	n = snprintf(text, sizeof(text), "POST\n/api/v1/clients\n%s", bodyhash);
	ck_assert_int_eq(cm_sha256_hex(text, (size_t)n, want), 0);
	ck_assert_str_eq(fp, want);
	/* Any of the three changes it. */
	ck_assert_int_eq(cm_idem_fingerprint("PATCH", "/api/v1/clients",
	    "{\"id\":\"a\"}", 10, other), 0);
	ck_assert_str_ne(fp, other);
	ck_assert_int_eq(cm_idem_fingerprint("POST", "/api/v1/clients/a",
	    "{\"id\":\"a\"}", 10, other), 0);
	ck_assert_str_ne(fp, other);
	ck_assert_int_eq(cm_idem_fingerprint("POST", "/api/v1/clients",
	    "{\"id\":\"b\"}", 10, other), 0);
	ck_assert_str_ne(fp, other);
	/* An empty body hashes like any other. */
	ck_assert_int_eq(cm_idem_fingerprint("POST", "/p", "", 0, other), 0);
	ck_assert_uint_eq(strlen(other), CM_IDEM_FP_LEN);
}
END_TEST

START_TEST(header_lines)
{
	const char	*lines = "Location: /api/v1/clients/a\r\n"
			    "ETag: \"2.2026\"\r\nX-Etag-Not: x\r\n";
	char		 v[64];

	ck_assert(cm_idem_header(lines, "ETag", v, sizeof(v)));
	ck_assert_str_eq(v, "\"2.2026\"");
	ck_assert(cm_idem_header(lines, "etag", v, sizeof(v)));
	ck_assert(cm_idem_header(lines, "location", v, sizeof(v)));
	ck_assert_str_eq(v, "/api/v1/clients/a");
	ck_assert(!cm_idem_header(lines, "Retry-After", v, sizeof(v)));
	ck_assert(!cm_idem_header(lines, "ETa", v, sizeof(v)));
	ck_assert(!cm_idem_header("", "ETag", v, sizeof(v)));
	/* Cut to the buffer. */
	ck_assert(cm_idem_header(lines, "Location", v, 5));
	ck_assert_str_eq(v, "/api");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("idempotency");
	TCase	*tc = tcase_create("idempotency");

	tcase_add_test(tc, key_rules);
	tcase_add_test(tc, fingerprint_is_method_path_body_hash);
	tcase_add_test(tc, header_lines);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
