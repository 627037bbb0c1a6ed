/*
 * routes.c - the route table (routes.h).  HEAD goes wherever GET does
 * (handlers.c sends the headers alone).  Routes on the raw REQUEST_URI:
 * SCRIPT_NAME/PATH_INFO differ between web servers; REQUEST_URI does not.
 */
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "routes.h"
#include "scope.h"
#include "validate.h"

#define API_PREFIX	"/api/v1"

/*
 * DELETE's scope is the delete; erase=true needs clients:erase too, which
 * ep_delete_client checks once it has read the query.
 */
const struct route routes[] = {
	{ M_GET | M_HEAD, "/health", true, 0, ep_health },
	{ M_GET | M_HEAD, "/ping", true, 0, ep_ping },
	{ M_GET | M_HEAD, "/openapi.json", true, 0, ep_openapi },
	{ M_GET | M_HEAD, "/status", false, CM_SCOPE_POOL_STATUS, ep_status },
	{ M_GET | M_HEAD, "/clients", false, CM_SCOPE_CLIENTS_READ,
	    ep_list_clients },
	{ M_POST, "/clients", false, CM_SCOPE_CLIENTS_WRITE, ep_create_client },
	{ M_GET | M_HEAD, "/clients/{id}", false, CM_SCOPE_CLIENTS_READ,
	    ep_get_client },
	{ M_PATCH, "/clients/{id}", false, CM_SCOPE_CLIENTS_WRITE,
	    ep_patch_client },
	{ M_DELETE, "/clients/{id}", false, CM_SCOPE_CLIENTS_DELETE,
	    ep_delete_client },
	{ M_POST, "/clients/{id}/rotate-keys", false, CM_SCOPE_KEYS_ROTATE,
	    ep_rotate_keys },
	{ M_GET | M_HEAD, "/clients/{id}/audit", false, CM_SCOPE_AUDIT_READ,
	    ep_audit },
	{ M_GET | M_HEAD, "/events", false, CM_SCOPE_EVENTS_READ, ep_events },
	{ M_GET | M_HEAD, "/webhook-endpoints", false, CM_SCOPE_WEBHOOKS_MANAGE,
	    ep_webhook_list },
	{ M_POST, "/webhook-endpoints", false, CM_SCOPE_WEBHOOKS_MANAGE,
	    ep_webhook_create },
	{ M_GET | M_HEAD, "/webhook-endpoints/{id}", false,
	    CM_SCOPE_WEBHOOKS_MANAGE, ep_webhook_get },
	{ M_PATCH, "/webhook-endpoints/{id}", false, CM_SCOPE_WEBHOOKS_MANAGE,
	    ep_webhook_patch },
	{ M_DELETE, "/webhook-endpoints/{id}", false, CM_SCOPE_WEBHOOKS_MANAGE,
	    ep_webhook_delete },
	{ M_POST, "/webhook-endpoints/{id}/rotate-secret", false,
	    CM_SCOPE_WEBHOOKS_MANAGE, ep_webhook_rotate },
};
const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

static const char *const method_name[] = {
	"GET", "HEAD", "POST", "PATCH", "DELETE"
};

unsigned
route_method(const char *method)
{
	size_t	i;

	for (i = 0; i < sizeof(method_name) / sizeof(method_name[0]); i++)
		if (strcmp(method, method_name[i]) == 0)
			return 1u << i;
	return 0;
}

void
route_allow(unsigned methods, char *buf, size_t sz)
{
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(method_name) / sizeof(method_name[0]); i++)
		if ((methods & (1u << i)) && n < sz)
			n += (size_t)snprintf(buf + n, sz - n, "%s%s",
			    n ? ", " : "", method_name[i]);
}

bool
route_has_id(const struct route *r)
{
	return strstr(r->pattern, "{id}") != NULL;
}

bool
route_is_client(const struct route *r)
{
	return strncmp(r->pattern, "/clients/{id}", 13) == 0;
}

const char *
route_id_error(const struct route *r)
{
	return route_is_client(r) ? "Invalid client id" :
	    "Invalid webhook endpoint id";
}

void
route_find(const char *method, const char *uri, struct route_match *m)
{
	unsigned	bit = route_method(method);
	char		id[CM_ID_MAX + 2];
	bool		decoded;
	size_t		i;

	memset(m, 0, sizeof(*m));
	if (uri == NULL || strncmp(uri, API_PREFIX "/",
	    sizeof(API_PREFIX)) != 0)
		return;
	for (i = 0; i < routes_count; i++) {
		if (!cm_path_match(uri + sizeof(API_PREFIX) - 1,
		    routes[i].pattern, id, sizeof(id), &decoded))
			continue;
		if (m->path == NULL) {
			m->path = &routes[i];
			m->id_valid = route_has_id(&routes[i]) && decoded &&
			    cm_check_token(id, strlen(id)) == NULL;
			if (m->id_valid)
				memcpy(m->id, id, strlen(id) + 1);
		}
		m->allowed |= routes[i].methods;
		if ((routes[i].methods & bit) && m->route == NULL)
			m->route = &routes[i];
	}
}

void
route_path(const struct route_match *m, char *buf, size_t sz)
{
	const char	*p = m->path ? m->path->pattern : "", *brace;

	if ((brace = strstr(p, "{id}")) == NULL)
		snprintf(buf, sz, "%s%s", API_PREFIX, p);
	else
		snprintf(buf, sz, "%s%.*s%s%s", API_PREFIX, (int)(brace - p), p,
		    m->id, brace + 4);
}
