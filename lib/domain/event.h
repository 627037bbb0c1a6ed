/*
 * event.h - the events of the feed and of webhook deliveries: what the
 * history (client_audit) says happened to a client, made thin.
 *
 * An event names the members that changed and never their values: a
 * receiver fetches the client for those, so an event carries no secret,
 * no personal value, and nothing an erasure would have to chase.  Pure:
 * no I/O.
 */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include <stddef.h>
#include <jansson.h>

/* Types a history row can have; "client.deleted" covers soft and hard. */
#define CM_EVENT_TYPES_MAX	2	/* history actions one type stands for */

/* "evt_" and a seq of 20 digits, and its NUL. */
#define CM_EVENT_ID_MAX	25

/* The longest event type name ("client.keys_rotated"), and its NUL. */
#define CM_EVENT_TYPE_MAX	32

/* How many event types there are; the i-th in their order (NULL past it). */
#define CM_EVENT_TYPE_COUNT	5
const char	*cm_event_type_at(size_t i);
/* The event type of a history action ("update" -> "client.updated"); NULL: none. */
const char	*cm_event_type(const char *action);
/*
 * The history actions of an event type, into actions (CM_EVENT_TYPES_MAX
 * slots): how many, or 0 when type is not an event type.
 */
size_t		 cm_event_actions(const char *type, const char **actions);
/* Whether text names an event type. */
int		 cm_event_type_known(const char *text);

/* One history row, as the data layer read it (all borrowed). */
struct cm_event_row {
	unsigned long long	 seq;
	const char		*action;
	const char		*client_id;
	const json_t		*changes;	/* {"member": {"old", "new"}} */
	long long		 admin_key_id;	/* -1: none (clientsctl, a purge) */
	const char		*request_id;
	json_t			*created_at;	/* stolen: the API's timestamp string */
};

/*
 * The event of a history row: {"id", "type", "client_id", "changed",
 * "admin_key_id", "request_id", "created_at"}, its changed members in the
 * client object's order.  A new reference; NULL when the row's action is
 * none of the events' (created_at is released then too).
 */
json_t		*cm_event_from_row(const struct cm_event_row *);
/* "evt_<seq>" into buf (CM_EVENT_ID_MAX bytes hold any). */
void		 cm_event_id(unsigned long long seq, char *buf, size_t sz);

#endif
