/*
 * routes.h - the API's routes, in one table (routes.c): which methods a
 * path answers, whether it needs an admin key and which scope the key
 * must hold, and the endpoint that serves it.  Routing, the 405's Allow,
 * the open routes, the 403 and the check against the OpenAPI document
 * (its security requirement per operation) all read it.
 */
#ifndef CLIENTSD_ROUTES_H
#define CLIENTSD_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct call;

enum route_method {
	M_GET = 1, M_HEAD = 2, M_POST = 4, M_PATCH = 8, M_DELETE = 16
};

struct route {
	unsigned	  methods;	/* enum route_method bits */
	const char	 *pattern;	/* below /api/v1, as the OpenAPI document spells it */
	bool		  open;		/* answered without an admin key */
	unsigned	  scope;	/* the one enum cm_scope bit the key needs; 0 when open */
	void		(*serve)(struct call *);
};

/* The table, and how many rows it has. */
extern const struct route	routes[];
extern const size_t		routes_count;

/* What routing found for a request. */
struct route_match {
	const struct route	*route;		/* NULL: no route for this method */
	const struct route	*path;		/* a route of this path; NULL: 404 */
	unsigned		 allowed;	/* the methods of this path (405 Allow) */
	bool			 id_valid;	/* {id} decoded and ^[a-zA-Z0-9_-]{1,255}$ */
	char			 id[CM_ID_MAX + 1];
};

/* The method's bit; 0 for a method no route answers. */
unsigned	route_method(const char *method);
/* Routes method and uri (the raw REQUEST_URI). */
void		route_find(const char *method, const char *uri,
		    struct route_match *);
/* "GET, HEAD, POST" for methods bits, into buf. */
void		route_allow(unsigned methods, char *buf, size_t sz);
/* Whether a route's pattern takes an id ({id}: a client's or an endpoint's). */
bool		route_has_id(const struct route *);
/* Whether that id is a client's (else a webhook endpoint's). */
bool		route_is_client(const struct route *);
/* The 400's error string for an id that breaks the id rule. */
const char	*route_id_error(const struct route *);
/* The request's path as routed: /api/v1 + pattern with the decoded id. */
void		route_path(const struct route_match *, char *buf, size_t sz);

#endif
