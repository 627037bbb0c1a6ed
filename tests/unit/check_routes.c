/*
 * check_routes.c - the route table (app/routes.c): routing, ids decoded
 * per segment, what is derived from the table (Allow, open routes, the
 * canonical path), and the table against the OpenAPI document.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "call.h"
#include "openapi.h"
#include "routes.h"
#include "scope.h"
#include "unit_run.h"

/* The endpoints are not under test: the table only points at them. */
void ep_health(struct call *c) { (void)c; }
void ep_list_clients(struct call *c) { (void)c; }
void ep_create_client(struct call *c) { (void)c; }
void ep_get_client(struct call *c) { (void)c; }
void ep_patch_client(struct call *c) { (void)c; }
void ep_delete_client(struct call *c) { (void)c; }
void ep_rotate_keys(struct call *c) { (void)c; }
void ep_audit(struct call *c) { (void)c; }
void ep_events(struct call *c) { (void)c; }
void ep_webhook_create(struct call *c) { (void)c; }
void ep_webhook_list(struct call *c) { (void)c; }
void ep_webhook_get(struct call *c) { (void)c; }
void ep_webhook_patch(struct call *c) { (void)c; }
void ep_webhook_rotate(struct call *c) { (void)c; }
void ep_webhook_delete(struct call *c) { (void)c; }
void ep_status(struct call *c) { (void)c; }
void ep_ping(struct call *c) { (void)c; }
void ep_openapi(struct call *c) { (void)c; }

static struct route_match
found(const char *method, const char *uri)
{
	struct route_match	m;

	route_find(method, uri, &m);
	return m;
}

/* The pattern of the path uri routes to for GET (or "" when none). */
static const char *
path_of(const char *uri)
{
	static struct route_match	m;

	m = found("GET", uri);
	return m.path ? m.path->pattern : "";
}

START_TEST(routes_by_path)
{
	struct route_match	m;

	ck_assert_str_eq(path_of("/api/v1/health"), "/health");
	ck_assert_str_eq(path_of("/api/v1/clients"), "/clients");
	ck_assert_str_eq(path_of("/api/v1/clients?limit=1"), "/clients");
	m = found("GET", "/api/v1/clients/acme-1_X?admin_key=k");
	ck_assert_str_eq(m.path->pattern, "/clients/{id}");
	ck_assert(m.id_valid);
	ck_assert_str_eq(m.id, "acme-1_X");
	m = found("POST", "/api/v1/clients/a/rotate-keys");
	ck_assert_str_eq(m.path->pattern, "/clients/{id}/rotate-keys");
	ck_assert_str_eq(m.id, "a");
	ck_assert_str_eq(path_of("/api/v1/clients/a/audit"), "/clients/{id}/audit");
	ck_assert_str_eq(path_of("/api/v1/clients/a/other"), "");
	ck_assert_str_eq(path_of("/api/v1/clients/a/audit/x"), "");
	ck_assert_str_eq(path_of("/api/v2/clients"), "");
	ck_assert_str_eq(path_of("/api/v1/"), "");
	ck_assert_str_eq(path_of("/api/v1/healthz"), "");
	ck_assert_str_eq(path_of(NULL), "");
	ck_assert_str_eq(path_of("/api/v1/status"), "/status");
	ck_assert_str_eq(path_of("/api/v1/status?full=true"), "/status");
	ck_assert_str_eq(path_of("/api/v1/ping"), "/ping");
	ck_assert_str_eq(path_of("/api/v1/ping/x"), "");
	ck_assert_str_eq(path_of("/api/v1/statusx"), "");
	ck_assert_str_eq(path_of("/api/v1/openapi.json"), "/openapi.json");
	ck_assert_str_eq(path_of("/api/v1/openapi.json?x=1"), "/openapi.json");
	ck_assert_str_eq(path_of("/api/v1/openapi.yaml"), "");
	ck_assert_str_eq(path_of("/api/v1/openapi.json/x"), "");
	/* A literal segment may be percent-encoded; the prefix may not. */
	ck_assert_str_eq(path_of("/api/v1/%68ealth"), "/health");
	ck_assert_str_eq(path_of("/api/%761/health"), "");
}
END_TEST

START_TEST(ids_are_decoded_per_segment)
{
	struct route_match	m;
	char			uri[600];

	m = found("GET", "/api/v1/clients/ab%63");
	ck_assert(m.id_valid);
	ck_assert_str_eq(m.id, "abc");
	/* An encoded slash belongs to the id, which it makes invalid. */
	m = found("GET", "/api/v1/clients/a%2Fb");
	ck_assert_str_eq(m.path->pattern, "/clients/{id}");
	ck_assert(!m.id_valid);
	ck_assert(!found("GET", "/api/v1/clients/%20x").id_valid);
	ck_assert(!found("GET", "/api/v1/clients/a%00b").id_valid);
	ck_assert(!found("GET", "/api/v1/clients/a%zz").id_valid);
	ck_assert(!found("GET", "/api/v1/clients/a%4").id_valid);
	ck_assert(!found("GET", "/api/v1/clients/").id_valid);
	ck_assert_ptr_nonnull(found("GET", "/api/v1/clients/").path);
	strcpy(uri, "/api/v1/clients/");
	memset(uri + 16, 'a', 255);
	uri[16 + 255] = '\0';
	ck_assert(found("GET", uri).id_valid);
	strcat(uri, "a");
	ck_assert(!found("GET", uri).id_valid);
}
END_TEST

/* What 405, HEAD and the open routes read from the table. */
START_TEST(derived_from_the_table)
{
	struct route_match	m;
	char			allow[64];

	m = found("PUT", "/api/v1/clients/a");
	ck_assert_ptr_null(m.route);
	ck_assert_ptr_nonnull(m.path);
	route_allow(m.allowed, allow, sizeof(allow));
	ck_assert_str_eq(allow, "GET, HEAD, PATCH, DELETE");
	m = found("DELETE", "/api/v1/clients");
	route_allow(m.allowed, allow, sizeof(allow));
	ck_assert_str_eq(allow, "GET, HEAD, POST");
	m = found("GET", "/api/v1/clients/a/rotate-keys");
	ck_assert_ptr_null(m.route);
	route_allow(m.allowed, allow, sizeof(allow));
	ck_assert_str_eq(allow, "POST");
	ck_assert(found("HEAD", "/api/v1/clients/a/audit").route->serve ==
	    ep_audit);
	ck_assert(found("PATCH", "/api/v1/clients/a").route->serve ==
	    ep_patch_client);
	ck_assert(found("GET", "/api/v1/health").path->open);
	ck_assert(found("GET", "/api/v1/ping").path->open);
	ck_assert(found("GET", "/api/v1/openapi.json").path->open);
	ck_assert(!found("GET", "/api/v1/status").path->open);
	ck_assert(!found("GET", "/api/v1/clients").path->open);
	ck_assert_uint_eq(route_method("TRACE"), 0);
}
END_TEST

START_TEST(canonical_path)
{
	struct route_match	m;
	char			buf[320];

	m = found("POST", "/api/v1/clients/ab%63/rotate-keys?x=1");
	route_path(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "/api/v1/clients/abc/rotate-keys");
	m = found("POST", "/api/v1/clients?x");
	route_path(&m, buf, sizeof(buf));
	ck_assert_str_eq(buf, "/api/v1/clients");
}
END_TEST

/* A route needs exactly one scope this build knows, unless it is open. */
START_TEST(every_route_one_scope)
{
	size_t	i;

	for (i = 0; i < routes_count; i++) {
		if (routes[i].open) {
			ck_assert_uint_eq(routes[i].scope, 0);
			continue;
		}
		ck_assert_msg(cm_scope_name(routes[i].scope) != NULL,
		    "%s: scope %#x is not one known scope", routes[i].pattern,
		    routes[i].scope);
	}
	ck_assert_uint_eq(found("GET", "/api/v1/clients").route->scope,
	    CM_SCOPE_CLIENTS_READ);
	ck_assert_uint_eq(found("HEAD", "/api/v1/clients/a").route->scope,
	    CM_SCOPE_CLIENTS_READ);
	ck_assert_uint_eq(found("POST", "/api/v1/clients").route->scope,
	    CM_SCOPE_CLIENTS_WRITE);
	ck_assert_uint_eq(found("PATCH", "/api/v1/clients/a").route->scope,
	    CM_SCOPE_CLIENTS_WRITE);
	ck_assert_uint_eq(found("DELETE", "/api/v1/clients/a").route->scope,
	    CM_SCOPE_CLIENTS_DELETE);
	ck_assert_uint_eq(found("POST", "/api/v1/clients/a/rotate-keys")
	    .route->scope, CM_SCOPE_KEYS_ROTATE);
	ck_assert_uint_eq(found("GET", "/api/v1/clients/a/audit").route->scope,
	    CM_SCOPE_AUDIT_READ);
	ck_assert_uint_eq(found("GET", "/api/v1/status").route->scope,
	    CM_SCOPE_POOL_STATUS);
}
END_TEST

/* Rows of one path agree on whether it needs a key. */
START_TEST(one_path_one_policy)
{
	size_t	i, j;

	for (i = 0; i < routes_count; i++)
		for (j = 0; j < routes_count; j++)
			if (strcmp(routes[i].pattern, routes[j].pattern) == 0)
				ck_assert_int_eq(routes[i].open, routes[j].open);
}
END_TEST

static const char *const method_key[] = {
	"get", "head", "post", "patch", "delete"
};

/*
 * The table and the OpenAPI document name the same operations: every
 * method of every route is an operation of its path, and every
 * operation of the document is a route.  HEAD is checked against the
 * document's own HEAD operations when it declares any, else it must go
 * with GET.
 */
START_TEST(table_matches_the_openapi_document)
{
	json_error_t	 jerr;
	const char	*doc, *path, *op;
	json_t		*api, *paths, *item, *v;
	bool		 declares_head = false, seen;
	size_t		 len, i, k;

	doc = cm_openapi_json(&len);
	ck_assert_ptr_nonnull(api = json_loadb(doc, len, 0, &jerr));
	paths = json_object_get(api, "paths");
	json_object_foreach(paths, path, item)
		if (json_object_get(item, "head") != NULL)
			declares_head = true;
	for (i = 0; i < routes_count; i++) {
		item = json_object_get(paths, routes[i].pattern);
		ck_assert_msg(item != NULL, "%s is not in the document",
		    routes[i].pattern);
		for (k = 0; k < 5; k++) {
			if (!(routes[i].methods & (1u << k)))
				continue;
			if (k == 1 && !declares_head) {
				ck_assert_msg(routes[i].methods & M_GET,
				    "HEAD without GET on %s", routes[i].pattern);
				continue;
			}
			ck_assert_msg(json_object_get(item, method_key[k]) !=
			    NULL, "%s %s is not in the document",
			    method_key[k], routes[i].pattern);
		}
	}
	json_object_foreach(paths, path, item) {
		json_object_foreach(item, op, v) {
			for (k = 0; k < 5 && strcmp(op, method_key[k]) != 0; k++)
				;
			if (k == 5)
				continue;	/* parameters, summary, ... */
			for (i = 0, seen = false; i < routes_count && !seen; i++)
				seen = strcmp(routes[i].pattern, path) == 0 &&
				    (routes[i].methods & (1u << k));
			ck_assert_msg(seen, "the document's %s %s has no route",
			    op, path);
		}
	}
	json_decref(api);
}
END_TEST

/*
 * The scope the document requires of an operation: its security
 * requirement (or the document's), [{bearerAuth: [scope]}], or [] for an
 * open one.  Returns the scope's name, "" for open, NULL when the
 * requirement has another shape.
 */
static const char *
required_scope(json_t *api, json_t *op)
{
	json_t	*sec = json_object_get(op, "security"), *req, *names;

	if (sec == NULL)
		sec = json_object_get(api, "security");
	if (json_array_size(sec) == 0)
		return "";
	if (json_array_size(sec) != 1 || json_object_size(req =
	    json_array_get(sec, 0)) != 1 ||
	    json_array_size(names = json_object_get(req, "bearerAuth")) != 1)
		return NULL;
	return json_string_value(json_array_get(names, 0));
}

/*
 * The scope of every route and method is the one the document's security
 * requirement names for that operation (the routes' HEAD included), and
 * the open routes require none.
 */
START_TEST(scopes_match_the_openapi_document)
{
	json_error_t	 jerr;
	const char	*doc, *want, *got;
	json_t		*api, *item, *op;
	size_t		 len, i, k;

	doc = cm_openapi_json(&len);
	ck_assert_ptr_nonnull(api = json_loadb(doc, len, 0, &jerr));
	for (i = 0; i < routes_count; i++) {
		item = json_object_get(json_object_get(api, "paths"),
		    routes[i].pattern);
		want = routes[i].open ? "" : cm_scope_name(routes[i].scope);
		for (k = 0; k < 5; k++) {
			if (!(routes[i].methods & (1u << k)) ||
			    (op = json_object_get(item, method_key[k])) == NULL)
				continue;
			got = required_scope(api, op);
			ck_assert_msg(got != NULL && strcmp(got, want) == 0,
			    "%s %s: the document requires %s, the table %s",
			    method_key[k], routes[i].pattern, got ? got : "?",
			    want);
		}
	}
	json_decref(api);
}
END_TEST

/*
 * The document lists the scopes (the bearer scheme's x-clientsd-scopes,
 * each with what it allows): exactly those this build knows.
 */
START_TEST(document_lists_every_scope)
{
	json_error_t	 jerr;
	const char	*doc;
	json_t		*api, *list;
	size_t		 len, i;

	doc = cm_openapi_json(&len);
	ck_assert_ptr_nonnull(api = json_loadb(doc, len, 0, &jerr));
	list = json_object_get(json_object_get(json_object_get(json_object_get(
	    api, "components"), "securitySchemes"), "bearerAuth"),
	    "x-clientsd-scopes");
	ck_assert_uint_eq(json_object_size(list), CM_SCOPE_COUNT);
	for (i = 0; i < CM_SCOPE_COUNT; i++)
		ck_assert_msg(json_string_length(json_object_get(list,
		    cm_scope_name(1u << i))) > 0, "the document does not "
		    "describe %s", cm_scope_name(1u << i));
	json_decref(api);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("routes");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, routes_by_path);
	tcase_add_test(tc, ids_are_decoded_per_segment);
	tcase_add_test(tc, derived_from_the_table);
	tcase_add_test(tc, canonical_path);
	tcase_add_test(tc, one_path_one_policy);
	tcase_add_test(tc, every_route_one_scope);
	tcase_add_test(tc, scopes_match_the_openapi_document);
	tcase_add_test(tc, document_lists_every_scope);
	tcase_add_test(tc, table_matches_the_openapi_document);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
