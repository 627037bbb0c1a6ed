/*
 * check_client.c - the client object's members and the checking and
 * normalising of request bodies (lib/domain/client.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "client.h"
#include "json.h"
#include "problems.h"
#include "tzdb.h"
#include "unit_run.h"

#define TZDATA	"/usr/share/zoneinfo/tzdata.zi"

static struct cm_tzdb	*tzdb;

/* Loaded per test: Check forks each test, and nothing is shared back. */
static void
setup(void)
{
	char	 err[256];

	tzdb = cm_tzdb_load(TZDATA, err, sizeof(err));
	ck_assert_msg(tzdb != NULL, "%s", err);
}

static void
teardown(void)
{
	cm_tzdb_free(tzdb);
	tzdb = NULL;
}

static json_t *
parse(const char *text)
{
	json_error_t	 e;
	json_t		*v;

	/* NUL allowed here so that the checks' own handling is tested. */
	v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
	    JSON_DECODE_ANY, &e);
	ck_assert_msg(v != NULL, "bad test JSON: %s: %s", text, e.text);
	return v;
}

/* printf into a new buffer (caller frees). */
static char *fmt(const char *, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

static char *
dump(const json_t *v)
{
	char	*s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	ck_assert_ptr_nonnull(s);
	return s;
}

/*
 * Runs cm_client_check_input on text.  Returns the normalised output
 * serialised (caller frees) or NULL, with the problems in probs.
 */
static char *
run(const char *text, enum cm_input_mode mode, bool ignore,
    struct cm_problems *probs)
{
	struct cm_input_policy	 pol = { ignore, tzdb };
	json_t			*body, *out, *copy;
	char			*s = NULL;

	body = parse(text);
	cm_problems_init(probs);
	out = cm_client_check_input(body, mode, &pol, probs);
	if (out != NULL) {
		ck_assert_uint_eq(probs->n, 0);
		s = dump(out);
		json_decref(out);
	} else
		ck_assert_uint_gt(probs->n, 0);
	/* The body is only read. */
	copy = parse(text);
	ck_assert(json_equal(body, copy));
	json_decref(copy);
	json_decref(body);
	return s;
}

/* Expects success with exactly the normalised output want. */
static void
expect_ok(const char *text, enum cm_input_mode mode, bool ignore,
    const char *want)
{
	struct cm_problems	 probs;
	char			*got;
	size_t			 i;

	got = run(text, mode, ignore, &probs);
	for (i = 0; i < probs.n; i++)
		fprintf(stderr, "  %s: %s\n", probs.item[i].field,
		    probs.item[i].code);
	ck_assert_msg(got != NULL, "rejected: %s", text);
	ck_assert_msg(strcmp(got, want) == 0, "%s -> %s, want %s", text, got,
	    want);
	free(got);
}

/*
 * Expects failure with exactly the problems in want, written as
 * "field:code field:code ...".
 */
static void
expect_bad(const char *text, enum cm_input_mode mode, bool ignore,
    const char *want)
{
	struct cm_problems	 probs;
	char			 got[4096] = "";
	char			*out;
	size_t			 i;

	out = run(text, mode, ignore, &probs);
	ck_assert_msg(out == NULL, "accepted: %s -> %s", text, out);
	for (i = 0; i < probs.n; i++) {
		ck_assert_ptr_nonnull(probs.item[i].message);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s:%s",
		    i ? " " : "", probs.item[i].field, probs.item[i].code);
	}
	ck_assert_msg(strcmp(got, want) == 0, "%s -> %s, want %s", text, got,
	    want);
}

#define C	CM_INPUT_CREATE
#define P	CM_INPUT_PATCH

START_TEST(test_fields)
{
	static const char *const names[] = {
		"id", "name", "status", "publishable_key", "secret_key",
		"domain", "email", "phone", "website", "timezone",
		"global_name", "company_id", "agency_id", "api_metadata",
		"ghl_location_id", "proxy_api_key", "created_at", "updated_at",
	};
	int	 i;

	ck_assert_int_eq(CM_F__COUNT, 18);
	for (i = 0; i < CM_F__COUNT; i++) {
		ck_assert_str_eq(cm_field_name(i), names[i]);
		ck_assert_int_eq(cm_field_lookup(names[i]), i);
	}
	ck_assert_ptr_null(cm_field_name(CM_F__COUNT));
	ck_assert_int_eq(cm_field_lookup("ID"), -1);
	ck_assert_int_eq(cm_field_lookup("nope"), -1);
	ck_assert_int_eq(cm_field_lookup(""), -1);
	ck_assert_int_eq(cm_field_lookup(NULL), -1);

	ck_assert(cm_field_writable(CM_F_ID, C));
	ck_assert(!cm_field_writable(CM_F_ID, P));
	for (i = 0; i < CM_F__COUNT; i++) {
		bool ro = i == CM_F_PUBLISHABLE_KEY || i == CM_F_SECRET_KEY ||
		    i == CM_F_CREATED_AT || i == CM_F_UPDATED_AT;

		if (i != CM_F_ID) {
			ck_assert_int_eq(cm_field_writable(i, C), !ro);
			ck_assert_int_eq(cm_field_writable(i, P), !ro);
		}
		ck_assert_int_eq(cm_field_secret(i),
		    i == CM_F_PUBLISHABLE_KEY || i == CM_F_SECRET_KEY ||
		    i == CM_F_PROXY_API_KEY);
	}
}
END_TEST

START_TEST(test_create_minimal)
{
	expect_ok("{\"name\":\"  Acme  \",\"id\":\"c1\"}", C, false,
	    "{\"id\":\"c1\",\"name\":\"Acme\"}");
	expect_bad("{}", C, false, "id:required name:required");
	expect_bad("{\"name\":\"A\"}", C, false, "id:required");
	expect_bad("{\"id\":\"a\"}", C, false, "name:required");
	/* Required even when everything else is ignored. */
	expect_bad("{\"foo\":1}", C, true, "id:required name:required");
	expect_bad("{\"id\":null,\"name\":null}", C, false,
	    "id:null_not_allowed name:null_not_allowed");
	expect_bad("{\"id\":7,\"name\":[]}", C, false,
	    "id:invalid_type name:invalid_type");
	expect_bad("{\"id\":\"a b\",\"name\":\"   \"}", C, false,
	    "id:invalid_format name:invalid_length");
	expect_bad("{\"id\":\"\",\"name\":\"\"}", C, false,
	    "id:invalid_format name:invalid_length");
	expect_bad("{\"id\":\"a\",\"name\":\"a\\u0000b\"}", C, false,
	    "name:invalid_characters");
	expect_bad("{\"id\":\"a\",\"name\":\" a\\u0085 \"}", C, false,
	    "name:invalid_characters");
}
END_TEST

START_TEST(test_create_full)
{
	/* Body order differs from section 2; output is in section 2 order. */
	expect_ok("{"
	    "\"proxy_api_key\":\"pk-1\","
	    "\"api_metadata\":{\"plan\":\"pro\",\"x\":null},"
	    "\"ghl_location_id\":\"loc_1\","
	    "\"agency_id\":\"ag-1\","
	    "\"company_id\":\"co_1\","
	    "\"global_name\":\"$acme\","
	    "\"timezone\":\"US/Pacific\","
	    "\"website\":\"HTTPS://Acme.example/\","
	    "\"phone\":\"  +1 (555) 012-3456 \","
	    "\"email\":\"Ops@Acme.example\","
	    "\"domain\":\"WWW.Acme.EXAMPLE\","
	    "\"status\":false,"
	    "\"name\":\" \\u00c6r\\u00f8 Corp \","
	    "\"id\":\"acme_1\"}", C, false,
	    "{\"id\":\"acme_1\",\"name\":\"\xc3\x86r\xc3\xb8 Corp\","
	    "\"status\":false,\"domain\":\"www.acme.example\","
	    "\"email\":\"Ops@Acme.example\",\"phone\":\"+1 (555) 012-3456\","
	    "\"website\":\"HTTPS://Acme.example/\","
	    "\"timezone\":\"US/Pacific\",\"global_name\":\"$acme\","
	    "\"company_id\":\"co_1\",\"agency_id\":\"ag-1\","
	    "\"api_metadata\":{\"plan\":\"pro\",\"x\":null},"
	    "\"ghl_location_id\":\"loc_1\",\"proxy_api_key\":\"pk-1\"}");

	/* Nullable members keep null; so does api_metadata (stored as {}). */
	expect_ok("{\"id\":\"a\",\"name\":\"b\",\"domain\":null,"
	    "\"email\":null,\"phone\":null,\"website\":null,"
	    "\"timezone\":null,\"global_name\":null,\"company_id\":null,"
	    "\"agency_id\":null,\"api_metadata\":null,"
	    "\"ghl_location_id\":null,\"proxy_api_key\":null}", C, false,
	    "{\"id\":\"a\",\"name\":\"b\",\"domain\":null,\"email\":null,"
	    "\"phone\":null,\"website\":null,\"timezone\":null,"
	    "\"global_name\":null,\"company_id\":null,\"agency_id\":null,"
	    "\"api_metadata\":null,\"ghl_location_id\":null,"
	    "\"proxy_api_key\":null}");
}
END_TEST

START_TEST(test_create_read_only)
{
	expect_bad("{\"id\":\"a\",\"name\":\"b\",\"publishable_key\":\"x\","
	    "\"secret_key\":null,\"created_at\":1,\"updated_at\":\"x\"}",
	    C, false, "publishable_key:read_only_field "
	    "secret_key:read_only_field created_at:read_only_field "
	    "updated_at:read_only_field");
	expect_ok("{\"id\":\"a\",\"name\":\"b\",\"publishable_key\":\"x\","
	    "\"secret_key\":null,\"created_at\":1,\"updated_at\":\"x\"}",
	    C, true, "{\"id\":\"a\",\"name\":\"b\"}");
}
END_TEST

START_TEST(test_patch)
{
	expect_ok("{}", P, false, "{}");
	expect_ok("{\"status\":true}", P, false, "{\"status\":true}");
	expect_ok("{\"name\":\"  x\"}", P, false, "{\"name\":\"x\"}");
	expect_ok("{\"email\":null,\"name\":\"n\"}", P, false,
	    "{\"name\":\"n\",\"email\":null}");
	/* api_metadata is the merge patch as sent, nulls included. */
	expect_ok("{\"api_metadata\":{\"a\":null,\"b\":{\"c\":[1,{}]}}}", P,
	    false, "{\"api_metadata\":{\"a\":null,\"b\":{\"c\":[1,{}]}}}");
	/* null replaces the stored object (with {}), unlike {} which merges nothing. */
	expect_ok("{\"api_metadata\":null}", P, false,
	    "{\"api_metadata\":null}");
	expect_ok("{\"api_metadata\":{}}", P, false, "{\"api_metadata\":{}}");

	/* id is read-only in a patch. */
	expect_bad("{\"id\":\"a\"}", P, false, "id:read_only_field");
	expect_bad("{\"id\":\"a\",\"name\":\"b\"}", P, false,
	    "id:read_only_field");
	expect_ok("{\"id\":\"a\",\"name\":\"b\"}", P, true, "{\"name\":\"b\"}");
	/* Read-only members are refused whatever their value. */
	expect_bad("{\"secret_key\":{\"x\":1},\"updated_at\":null}", P, false,
	    "secret_key:read_only_field updated_at:read_only_field");
	/* Nothing writable left: empty object, the caller decides. */
	expect_ok("{\"id\":\"a\",\"publishable_key\":\"x\",\"created_at\":1,"
	    "\"bogus\":2}", P, true, "{}");
}
END_TEST

START_TEST(test_types)
{
	expect_bad("{\"status\":\"true\"}", P, false, "status:invalid_type");
	expect_bad("{\"status\":1}", P, false, "status:invalid_type");
	expect_bad("{\"status\":0}", P, false, "status:invalid_type");
	expect_bad("{\"status\":null}", P, false, "status:null_not_allowed");
	expect_ok("{\"status\":false}", P, false, "{\"status\":false}");
	expect_bad("{\"name\":null}", P, false, "name:null_not_allowed");
	expect_bad("{\"name\":5}", P, false, "name:invalid_type");
	expect_bad("{\"name\":true}", P, false, "name:invalid_type");
	expect_bad("{\"email\":5}", P, false, "email:invalid_type");
	expect_bad("{\"domain\":[\"a.com\"]}", P, false, "domain:invalid_type");
	expect_bad("{\"phone\":15550123}", P, false, "phone:invalid_type");
	expect_bad("{\"timezone\":{}}", P, false, "timezone:invalid_type");
	expect_bad("{\"proxy_api_key\":false}", P, false,
	    "proxy_api_key:invalid_type");
	expect_bad("{\"company_id\":1.5}", P, false, "company_id:invalid_type");
	expect_bad("{\"api_metadata\":[]}", P, false,
	    "api_metadata:invalid_type");
	expect_bad("{\"api_metadata\":\"{}\"}", P, false,
	    "api_metadata:invalid_type");
	expect_bad("{\"api_metadata\":false}", P, false,
	    "api_metadata:invalid_type");
}
END_TEST

START_TEST(test_messages)
{
	struct cm_problems	 probs;
	char			*out;

	out = run("{\"email\":5,\"status\":1,\"api_metadata\":1,"
	    "\"name\":null}", P, false, &probs);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(probs.n, 4);
	ck_assert_str_eq(probs.item[0].message, "must not be null");
	ck_assert_str_eq(probs.item[1].message, "must be true or false");
	ck_assert_str_eq(probs.item[2].message, "must be a string or null");
	ck_assert_str_eq(probs.item[3].message, "must be an object or null");

	out = run("{\"email\":\"x\",\"name\":\"\",\"id\":\"/\"}", C, false,
	    &probs);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(probs.n, 3);
	ck_assert_str_eq(probs.item[0].message,
	    "must match ^[a-zA-Z0-9_-]{1,255}$");
	ck_assert_str_eq(probs.item[1].message,
	    "must be 1-255 characters after trimming spaces");
	ck_assert_str_eq(probs.item[2].message,
	    "must be a valid e-mail address");
}
END_TEST

START_TEST(test_normalise)
{
	expect_ok("{\"domain\":\"Example.COM\"}", P, false,
	    "{\"domain\":\"example.com\"}");
	expect_ok("{\"phone\":\"  +1 555 0123  \"}", P, false,
	    "{\"phone\":\"+1 555 0123\"}");
	/* Only name and phone are trimmed, only domain lowercased. */
	expect_bad("{\"domain\":\" example.com\"}", P, false,
	    "domain:invalid_domain");
	expect_bad("{\"email\":\" a@b.co\"}", P, false, "email:invalid_email");
	expect_bad("{\"timezone\":\" UTC\"}", P, false,
	    "timezone:invalid_timezone");
	expect_ok("{\"email\":\"A@B.CO\"}", P, false, "{\"email\":\"A@B.CO\"}");
	expect_ok("{\"global_name\":\"Acme\"}", P, false,
	    "{\"global_name\":\"Acme\"}");
	/* Only ASCII is lowercased; the rest is still refused. */
	expect_bad("{\"domain\":\"\\u00c9x.com\"}", P, false,
	    "domain:invalid_domain");
	/* Trimming leaves tabs (and they are then refused). */
	expect_bad("{\"phone\":\"\\t+15550123\"}", P, false,
	    "phone:invalid_phone");
}
END_TEST

START_TEST(test_empty_strings)
{
	expect_bad("{\"name\":\"\",\"domain\":\"\",\"email\":\"\","
	    "\"phone\":\"\",\"website\":\"\",\"timezone\":\"\","
	    "\"global_name\":\"\",\"company_id\":\"\",\"agency_id\":\"\","
	    "\"ghl_location_id\":\"\",\"proxy_api_key\":\"\"}", P, false,
	    "name:invalid_length domain:invalid_domain email:invalid_email "
	    "phone:invalid_phone website:invalid_url "
	    "timezone:invalid_timezone global_name:invalid_format "
	    "company_id:invalid_format agency_id:invalid_format "
	    "ghl_location_id:invalid_format proxy_api_key:invalid_format");
	expect_bad("{\"phone\":\"   \"}", P, false, "phone:invalid_phone");
}
END_TEST

START_TEST(test_order)
{
	/* Section 2 order first, then unknown members in body order. */
	expect_bad("{\"zeta\":1,\"updated_at\":\"x\",\"proxy_api_key\":\" \","
	    "\"email\":\"bad\",\"alpha\":2,\"global_name\":\"class\","
	    "\"name\":\"\",\"id\":\"x\",\"domain\":\"a\",\"Name\":\"n\"}",
	    P, false,
	    "id:read_only_field name:invalid_length domain:invalid_domain "
	    "email:invalid_email global_name:reserved_word "
	    "proxy_api_key:invalid_format updated_at:read_only_field "
	    "zeta:unknown_field alpha:unknown_field Name:unknown_field");
	/* The same with the ignore policy: unknown and read-only dropped. */
	expect_bad("{\"zeta\":1,\"updated_at\":\"x\",\"proxy_api_key\":\" \","
	    "\"email\":\"bad\",\"alpha\":2,\"global_name\":\"class\","
	    "\"name\":\"\",\"id\":\"x\",\"domain\":\"a\",\"Name\":\"n\"}",
	    P, true,
	    "name:invalid_length domain:invalid_domain "
	    "email:invalid_email global_name:reserved_word "
	    "proxy_api_key:invalid_format");
	/* Every field at once, one problem each. */
	expect_bad("{\"updated_at\":0,\"created_at\":0,\"proxy_api_key\":1,"
	    "\"ghl_location_id\":\"#\",\"api_metadata\":0,\"agency_id\":\"#\","
	    "\"company_id\":\"#\",\"global_name\":\"9\",\"timezone\":\"x\","
	    "\"website\":\"x\",\"phone\":\"x\",\"email\":\"x\","
	    "\"domain\":\"x\",\"secret_key\":0,\"publishable_key\":0,"
	    "\"status\":0,\"name\":0,\"id\":0}", C, false,
	    "id:invalid_type name:invalid_type status:invalid_type "
	    "publishable_key:read_only_field secret_key:read_only_field "
	    "domain:invalid_domain email:invalid_email phone:invalid_phone "
	    "website:invalid_url timezone:invalid_timezone "
	    "global_name:invalid_format company_id:invalid_format "
	    "agency_id:invalid_format api_metadata:invalid_type "
	    "ghl_location_id:invalid_format proxy_api_key:invalid_type "
	    "created_at:read_only_field updated_at:read_only_field");
}
END_TEST

START_TEST(test_unknown)
{
	struct cm_problems	 probs;
	json_t			*details;
	char			*text, *key;
	size_t			 i;

	expect_bad("{\"foo\":1}", P, false, "foo:unknown_field");
	expect_ok("{\"foo\":1}", P, true, "{}");
	expect_ok("{\"foo\":1,\"status\":true}", P, true, "{\"status\":true}");
	expect_bad("{\"\":1}", P, false, ":unknown_field");
	/* A bad member is still reported when unknown ones are ignored. */
	expect_bad("{\"foo\":1,\"status\":null}", P, true,
	    "status:null_not_allowed");

	/* A long unknown name is cut on a character boundary. */
	key = malloc(400 * 2 + 1);
	ck_assert_ptr_nonnull(key);
	for (i = 0; i < 400; i++)
		memcpy(key + 2 * i, "\xc3\xa9", 2);
	key[800] = '\0';
	text = fmt("{\"%s\":1}", key);
	ck_assert_ptr_null(run(text, P, false, &probs));
	ck_assert_uint_eq(probs.n, 1);
	ck_assert_str_eq(probs.item[0].code, "unknown_field");
	ck_assert_uint_eq(strlen(probs.item[0].field), CM_FIELD_NAME_MAX - 2);
	details = cm_problems_json(&probs);
	ck_assert_uint_eq(json_array_size(details), 1);
	json_decref(details);
	free(text);
	free(key);
}
END_TEST

START_TEST(test_timezone)
{
	struct cm_input_policy	 pol = { false, NULL };
	struct cm_problems	 probs;
	json_t			*body;

	expect_ok("{\"timezone\":\"America/Los_Angeles\"}", P, false,
	    "{\"timezone\":\"America/Los_Angeles\"}");
	expect_ok("{\"timezone\":\"UTC\"}", P, false, "{\"timezone\":\"UTC\"}");
	expect_ok("{\"timezone\":\"US/Pacific\"}", P, false,
	    "{\"timezone\":\"US/Pacific\"}");
	expect_bad("{\"timezone\":\"utc\"}", P, false,
	    "timezone:invalid_timezone");
	expect_bad("{\"timezone\":\"America/los_angeles\"}", P, false,
	    "timezone:invalid_timezone");
	expect_bad("{\"timezone\":\"../etc/passwd\"}", P, false,
	    "timezone:invalid_timezone");
	expect_bad("{\"timezone\":\"UTC\\u0000\"}", P, false,
	    "timezone:invalid_timezone");

	/* No tz database: nothing can be shown valid, null still can. */
	body = parse("{\"timezone\":\"UTC\"}");
	cm_problems_init(&probs);
	ck_assert_ptr_null(cm_client_check_input(body, P, &pol, &probs));
	ck_assert_uint_eq(probs.n, 1);
	json_decref(body);
	body = parse("{\"timezone\":null}");
	cm_problems_init(&probs);
	json_decref(cm_client_check_input(body, P, &pol, &probs));
	ck_assert_uint_eq(probs.n, 0);
	json_decref(body);
}
END_TEST

START_TEST(test_not_object)
{
	struct cm_input_policy	 pol = { false, NULL };
	struct cm_problems	 probs;
	json_t			*body = json_array();

	cm_problems_init(&probs);
	ck_assert_ptr_null(cm_client_check_input(body, P, &pol, &probs));
	ck_assert_uint_eq(probs.n, 1);
	json_decref(body);
}
END_TEST

START_TEST(test_long_domain)
{
	struct cm_problems	 probs;
	char			 text[600];

	/* Longer than the lowercasing buffer: still just invalid. */
	snprintf(text, sizeof(text), "{\"domain\":\"%0300d.COM\"}", 0);
	ck_assert_ptr_null(run(text, P, false, &probs));
	ck_assert_str_eq(probs.item[0].code, "invalid_domain");
}
END_TEST

/* Checks the metadata in text; want is "ok" or "field:code". */
static void
expect_meta(const char *text, const char *want)
{
	struct cm_problems	 probs;
	json_t			*v = parse(text);
	char			 got[1024];
	bool			 ok;

	cm_problems_init(&probs);
	ok = cm_client_check_metadata(v, &probs);
	json_decref(v);
	ck_assert_int_eq(ok, probs.n == 0);
	ck_assert_uint_le(probs.n, 1);
	if (ok)
		snprintf(got, sizeof(got), "ok");
	else
		snprintf(got, sizeof(got), "%s:%s", probs.item[0].field,
		    probs.item[0].code);
	ck_assert_msg(strcmp(got, want) == 0, "%.200s -> %s, want %s", text,
	    got, want);
}

START_TEST(test_metadata_depth)
{
	expect_meta("{}", "ok");
	expect_meta("{\"a\":1,\"b\":\"x\",\"c\":null,\"d\":[]}", "ok");
	/* api_metadata itself is level 1: 8 levels ok, 9 not. */
	expect_meta("{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":{}}}}}}}}",
	    "ok");
	expect_meta("{\"1\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":"
	    "{\"8\":{}}}}}}}}}", "api_metadata:too_deep");
	/* Arrays count as levels too. */
	expect_meta("{\"a\":[[[[[[[1]]]]]]]}", "ok");
	expect_meta("{\"a\":[[[[[[[[]]]]]]]]}", "api_metadata:too_deep");
	expect_meta("{\"a\":[{\"b\":[{\"c\":[{\"d\":[]}]}]}]}", "ok");
	expect_meta("{\"a\":[{\"b\":[{\"c\":[{\"d\":[{}]}]}]}]}",
	    "api_metadata:too_deep");
	expect_meta("[]", "api_metadata:invalid_type");
	expect_meta("null", "api_metadata:invalid_type");
}
END_TEST

START_TEST(test_metadata_size)
{
	char	*text;
	size_t	 n;

	/* {"k":"..."} is 8 bytes around the value: 16384 ok, 16385 not. */
	for (n = 16376; n <= 16377; n++) {
		text = malloc(n + 16);
		ck_assert_ptr_nonnull(text);
		memcpy(text, "{\"k\":\"", 6);
		memset(text + 6, 'v', n);
		strcpy(text + 6 + n, "\"}");
		expect_meta(text, n == 16376 ? "ok" : "api_metadata:too_large");
		free(text);
	}
	/* Measured compact: whitespace in the body does not count. */
	text = malloc(16376 + 64);
	ck_assert_ptr_nonnull(text);
	memcpy(text, "{   \"k\"   :   \"", 15);
	memset(text + 15, 'v', 16376);
	strcpy(text + 15 + 16376, "\"   }");
	expect_meta(text, "ok");
	free(text);
}
END_TEST

START_TEST(test_metadata_keys)
{
	struct cm_problems	 probs;
	json_t			*v, *details;
	char			*key, *text;
	size_t			 i;

	expect_meta("{\"\":1}", "api_metadata.:invalid_key");
	expect_meta("{\"a\":{\"b\":{\"\":1}}}", "api_metadata.a.b.:invalid_key");
	expect_meta("{\"list\":[{\"ok\":1},{\"\":2}]}",
	    "api_metadata.list.1.:invalid_key");
	/* The first bad key in document order is named. */
	expect_meta("{\"a\":{\"\":1},\"\":2}", "api_metadata.a.:invalid_key");
	/* Depth is checked before keys. */
	expect_meta("{\"\":{\"2\":{\"3\":{\"4\":{\"5\":{\"6\":{\"7\":"
	    "{\"8\":{}}}}}}}}}", "api_metadata:too_deep");

	/* 255 code points ok, 256 not, multibyte. */
	key = malloc(256 * 3 + 1);
	ck_assert_ptr_nonnull(key);
	for (i = 0; i < 256; i++)
		memcpy(key + 3 * i, "\xe2\x82\xac", 3);
	key[255 * 3] = '\0';
	text = fmt("{\"a\":{\"%s\":1}}", key);
	expect_meta(text, "ok");
	free(text);

	memcpy(key + 255 * 3, "\xe2\x82\xac", 3);
	key[256 * 3] = '\0';
	text = fmt("{\"a\":{\"%s\":1}}", key);
	v = parse(text);
	cm_problems_init(&probs);
	ck_assert(!cm_client_check_metadata(v, &probs));
	ck_assert_uint_eq(probs.n, 1);
	ck_assert_str_eq(probs.item[0].code, "invalid_key");
	ck_assert_int_eq(strncmp(probs.item[0].field, "api_metadata.a.\xe2",
	    16), 0);
	/* Cut to fit, on a character boundary: still renderable. */
	ck_assert_uint_lt(strlen(probs.item[0].field), CM_FIELD_NAME_MAX);
	ck_assert_uint_eq((strlen(probs.item[0].field) - 15) % 3, 0);
	details = cm_problems_json(&probs);
	ck_assert_uint_eq(json_array_size(details), 1);
	json_decref(details);
	json_decref(v);
	free(text);

	/* A long valid path is cut too, without overflowing. */
	key[255 * 3] = '\0';
	text = fmt("{\"%s\":{\"%s\":{\"\":1}}}", key, key);
	v = parse(text);
	cm_problems_init(&probs);
	ck_assert(!cm_client_check_metadata(v, &probs));
	ck_assert_str_eq(probs.item[0].code, "invalid_key");
	details = cm_problems_json(&probs);
	ck_assert_uint_eq(json_array_size(details), 1);
	json_decref(details);
	json_decref(v);
	free(text);
	free(key);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite	*s = suite_create("client");
	TCase	*tc = tcase_create("input");
	TCase	*md = tcase_create("metadata");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_create_minimal);
	tcase_add_test(tc, test_create_full);
	tcase_add_test(tc, test_create_read_only);
	tcase_add_test(tc, test_patch);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_messages);
	tcase_add_test(tc, test_normalise);
	tcase_add_test(tc, test_empty_strings);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_timezone);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_long_domain);
	suite_add_tcase(s, tc);
	tcase_add_test(md, test_metadata_depth);
	tcase_add_test(md, test_metadata_size);
	tcase_add_test(md, test_metadata_keys);
	suite_add_tcase(s, md);
	return s;
}

int
main(void)
{
	return unit_run(client_suite());
}
