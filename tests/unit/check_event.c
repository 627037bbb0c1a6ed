/*
 * check_event.c - unit tests for event.c: history actions and event types
 * both ways, and an event made from a history row (names, never values).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "unit_run.h"

START_TEST(actions_and_types)
{
	const char	*a[CM_EVENT_TYPES_MAX];

	ck_assert_str_eq(cm_event_type("create"), "client.created");
	ck_assert_str_eq(cm_event_type("update"), "client.updated");
	ck_assert_str_eq(cm_event_type("delete"), "client.deleted");
	ck_assert_str_eq(cm_event_type("hard_delete"), "client.deleted");
	ck_assert_str_eq(cm_event_type("rotate_keys"), "client.keys_rotated");
	ck_assert_str_eq(cm_event_type("erase"), "client.erased");
	ck_assert_ptr_null(cm_event_type("purge"));
	ck_assert_ptr_null(cm_event_type(NULL));
	ck_assert_uint_eq(cm_event_actions("client.deleted", a), 2);
	ck_assert_str_eq(a[0], "delete");
	ck_assert_str_eq(a[1], "hard_delete");
	ck_assert_uint_eq(cm_event_actions("client.updated", a), 1);
	ck_assert_str_eq(a[0], "update");
	ck_assert_uint_eq(cm_event_actions("client.erased", a), 1);
	ck_assert_str_eq(a[0], "erase");
	/* Exact names only: no prefix, no case folding, no action names. */
	ck_assert_uint_eq(cm_event_actions("client.update", a), 0);
	ck_assert_uint_eq(cm_event_actions("Client.updated", a), 0);
	ck_assert_uint_eq(cm_event_actions("update", a), 0);
	ck_assert_uint_eq(cm_event_actions("", a), 0);
	ck_assert_uint_eq(cm_event_actions(NULL, a), 0);
	ck_assert(cm_event_type_known("client.keys_rotated"));
	ck_assert(!cm_event_type_known("client.keys_rotated "));
}
END_TEST

START_TEST(event_from_row_names_without_values)
{
	json_t		*changes = json_pack("{s:{s:s,s:s}, s:{s:n,s:s}, "
			    "s:{s:s,s:s}}",
			    "secret_key", "old", "<redacted>", "new", "<redacted>",
			    "email", "old", "new", "ops@acme.example",
			    "name", "old", "Acme", "new", "Acme Inc.");
	struct cm_event_row r = { 612, "update", "acme", changes, 7, "rq-1",
			    json_string("2026-11-27T17:46:06.832Z") };
	json_t		*e = cm_event_from_row(&r);
	char		*text;

	ck_assert_ptr_nonnull(e);
	text = json_dumps(e, JSON_COMPACT);
	/* Members in the client's order; no value of any of them. */
	ck_assert_str_eq(text, "{\"id\":\"evt_612\",\"type\":\"client.updated\","
	    "\"client_id\":\"acme\",\"changed\":[\"name\",\"secret_key\","
	    "\"email\"],\"admin_key_id\":7,\"request_id\":\"rq-1\","
	    "\"created_at\":\"2026-11-27T17:46:06.832Z\"}");
	ck_assert_ptr_null(strstr(text, "ops@acme"));
	free(text);
	json_decref(e);
	/* No key (clientsctl), nothing changed, a name that is no member. */
	json_object_clear(changes);
	json_object_set_new(changes, "nonsense", json_object());
	r.admin_key_id = -1;
	r.action = "erase";
	r.created_at = json_string("2026-11-27T17:46:06.832Z");
	e = cm_event_from_row(&r);
	ck_assert(json_is_null(json_object_get(e, "admin_key_id")));
	ck_assert_uint_eq(json_array_size(json_object_get(e, "changed")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "type")),
	    "client.erased");
	json_decref(e);
	/* An action that is no event's: none (created_at released). */
	r.action = "purge";
	r.created_at = json_string("2026-11-27T17:46:06.832Z");
	ck_assert_ptr_null(cm_event_from_row(&r));
	json_decref(changes);
}
END_TEST

START_TEST(ids)
{
	char	buf[CM_EVENT_ID_MAX];

	cm_event_id(1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "evt_1");
	cm_event_id(18446744073709551615ULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "evt_18446744073709551615");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("event");
	TCase	*tc = tcase_create("event");

	tcase_add_test(tc, actions_and_types);
	tcase_add_test(tc, event_from_row_names_without_values);
	tcase_add_test(tc, ids);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
