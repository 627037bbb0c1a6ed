/*
 * fuzz_body.c - the request-body path: parsing (cm_json_parse_body), the
 * member checker (create and patch), the RFC 7396 merge onto a stored
 * client, the audit record, and serialising (which must read back as the
 * same value).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "json.h"
#include "patch.h"
#include "problems.h"
#include "tzdb.h"

static struct cm_tzdb	*tzdb;
static json_t		*stored;

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char		 err[256];
	const char	*s = "{\"id\":\"c1\",\"name\":\"n\",\"status\":true,"
	    "\"publishable_key\":\"pk_0\",\"secret_key\":\"sk_0\","
	    "\"domain\":null,\"email\":null,\"phone\":null,\"website\":null,"
	    "\"timezone\":null,\"global_name\":null,\"company_id\":null,"
	    "\"agency_id\":null,\"api_metadata\":{\"a\":{\"b\":[1,0.5]},"
	    "\"plan\":\"pro\"},\"ghl_location_id\":null,\"proxy_api_key\":null,"
	    "\"created_at\":\"2026-01-01T00:00:00.000Z\","
	    "\"updated_at\":\"2026-01-01T00:00:00.000Z\"}";

	(void)argc;
	(void)argv;
	tzdb = cm_tzdb_load("/usr/share/zoneinfo/tzdata.zi", err, sizeof(err));
	stored = json_loads(s, 0, NULL);
	return 0;
}

/* What we write must read back as the same value. */
static void
round_trip(const json_t *v)
{
	char	*text = cm_json_compact(v);
	json_t	*back;

	if (text == NULL)
		abort();
	back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (back == NULL || !json_equal(back, v))
		abort();
	json_decref(back);
	free(text);
}

static void
check_mode(const json_t *body, enum cm_input_mode mode, bool ignore)
{
	struct cm_input_policy	 pol = { ignore, tzdb };
	struct cm_problems	 probs;
	json_t			*in, *next, *audit;
	uint32_t		 changed;

	cm_problems_init(&probs);
	in = cm_client_check_input(body, mode, &pol, &probs);
	if (in == NULL) {
		if (probs.n == 0)
			abort();	/* rejected without saying why */
		return;
	}
	cm_problems_init(&probs);
	next = mode == CM_INPUT_CREATE ? cm_patch_new_client(in, &probs) :
	    cm_patch_apply(stored, in, &changed, &probs);
	if (next != NULL) {
		round_trip(next);
		audit = cm_audit_changes(mode == CM_INPUT_CREATE ? NULL :
		    stored, next, mode == CM_INPUT_CREATE ? 0xffff : changed);
		round_trip(audit);
		json_decref(audit);
		json_decref(next);
	}
	json_decref(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*body, *merged;

	if ((body = cm_json_parse_body((const char *)data, size, 64)) == NULL)
		return 0;
	if (cm_json_depth(body) > 64)
		abort();
	check_mode(body, CM_INPUT_CREATE, false);
	check_mode(body, CM_INPUT_PATCH, false);
	check_mode(body, CM_INPUT_PATCH, true);
	if (cm_json_marked(body) == CM_JSON_MARK_NONE) {
		round_trip(body);
		merged = cm_merge_patch(json_object_get(stored, "api_metadata"),
		    body);
		if (merged == NULL)
			abort();
		round_trip(merged);
		json_decref(merged);
	}
	json_decref(body);
	return 0;
}
