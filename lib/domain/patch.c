/* patch.c - apply changes to a stored client; describe them for the audit. */
#include "json.h"
#include "patch.h"

json_t *
cm_patch_apply(const json_t *stored, const json_t *changes, uint32_t *changed,
    struct cm_problems *probs)
{
	json_t		*next, *value, *merged;
	const char	*name;
	int		 f;

	*changed = 0;
	next = json_deep_copy(stored);
	json_object_foreach((json_t *)changes, name, value) {
		if ((f = cm_field_lookup(name)) < 0)
			continue;
		if (f == CM_F_API_METADATA) {
			merged = cm_merge_patch(json_object_get(stored, name), value);
			/* A null patch (the whole member set to null) means {}. */
			if (json_is_null(merged)) {
				json_decref(merged);
				merged = json_object();
			}
			if (!cm_client_check_metadata(merged, probs)) {
				json_decref(merged);
				json_decref(next);
				return NULL;
			}
		} else
			merged = json_incref(value);
		if (!json_equal(merged, json_object_get(stored, name)))
			*changed |= CM_FIELD_BIT(f);
		json_object_set_new(next, name, merged);
	}
	return next;
}

static json_t *
audit_value(enum cm_field f, const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return json_null();
	if (cm_field_secret(f))
		return json_string("<redacted>");
	return json_deep_copy(v);
}

json_t *
cm_audit_changes(const json_t *old, const json_t *new, uint32_t changed)
{
	json_t		*out = json_object();
	const char	*name;
	int		 f;

	for (f = 0; f < CM_F__COUNT; f++) {
		if (!(changed & CM_FIELD_BIT(f)))
			continue;
		name = cm_field_name(f);
		json_object_set_new(out, name, json_pack("{s:o, s:o}",
		    "old", audit_value(f, old ? json_object_get(old, name) : NULL),
		    "new", audit_value(f, json_object_get(new, name))));
	}
	return out;
}

json_t *
cm_patch_new_client(const json_t *input, struct cm_problems *probs)
{
	json_t		*empty = json_object(), *client;
	uint32_t	 changed;
	int		 f;

	for (f = 0; f < CM_F__COUNT; f++)
		json_object_set_new(empty, cm_field_name(f), json_null());
	json_object_set_new(empty, "status", json_true());
	json_object_set_new(empty, "api_metadata", json_object());
	client = cm_patch_apply(empty, input, &changed, probs);
	json_decref(empty);
	return client;
}
