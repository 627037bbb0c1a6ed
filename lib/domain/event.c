/*
 * event.c - history rows made into events (event.h).
 */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "event.h"

/* Each history action and its type; a type may stand for several. */
static const struct {
	const char	*action;
	const char	*type;
} kinds[] = {
	{ "create", "client.created" },
	{ "update", "client.updated" },
	{ "delete", "client.deleted" },
	{ "hard_delete", "client.deleted" },
	{ "rotate_keys", "client.keys_rotated" },
	{ "erase", "client.erased" },
};
#define KINDS	(sizeof(kinds) / sizeof(kinds[0]))

/* The types in their order: the webhook_endpoints.event_types SET's. */
static const char *const types[CM_EVENT_TYPE_COUNT] = {
	"client.created", "client.updated", "client.deleted",
	"client.keys_rotated", "client.erased"
};

const char *
cm_event_type_at(size_t i)
{
	return i < CM_EVENT_TYPE_COUNT ? types[i] : NULL;
}

const char *
cm_event_type(const char *action)
{
	size_t	i;

	for (i = 0; action != NULL && i < KINDS; i++)
		if (strcmp(kinds[i].action, action) == 0)
			return kinds[i].type;
	return NULL;
}

size_t
cm_event_actions(const char *type, const char **actions)
{
	size_t	i, n = 0;

	for (i = 0; type != NULL && i < KINDS; i++)
		if (strcmp(kinds[i].type, type) == 0 && n < CM_EVENT_TYPES_MAX)
			actions[n++] = kinds[i].action;
	return n;
}

int
cm_event_type_known(const char *text)
{
	const char	*a[CM_EVENT_TYPES_MAX];

	return cm_event_actions(text, a) > 0;
}

void
cm_event_id(unsigned long long seq, char *buf, size_t sz)
{
	snprintf(buf, sz, "evt_%llu", seq);
}

/*
 * The names of the members in changes, in the client object's order (the
 * order of the API's tables), whatever order the stored JSON has; a name
 * that is not a member (none is written) is left out rather than echoed.
 */
static json_t *
changed_names(const json_t *changes)
{
	json_t	*names = json_array();
	int	 f;

	for (f = 0; f < CM_F__COUNT; f++)
		if (json_object_get(changes, cm_field_name(f)) != NULL)
			json_array_append_new(names,
			    json_string(cm_field_name(f)));
	return names;
}

json_t *
cm_event_from_row(const struct cm_event_row *r)
{
	const char	*type = cm_event_type(r->action);
	char		 id[CM_EVENT_ID_MAX];

	if (type == NULL) {
		json_decref(r->created_at);
		return NULL;
	}
	cm_event_id(r->seq, id, sizeof(id));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o}",
	    "id", id, "type", type, "client_id", r->client_id,
	    "changed", changed_names(r->changes),
	    "admin_key_id", r->admin_key_id < 0 ? json_null() :
	    json_integer((json_int_t)r->admin_key_id),
	    "request_id", r->request_id, "created_at", r->created_at);
}
