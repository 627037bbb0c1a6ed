/*
 * client.h - the client object (doc/api-guide.md): its members, which are
 * writable, and how a request body is checked and normalised.
 */
#ifndef CM_CLIENT_H
#define CM_CLIENT_H

#include <stdbool.h>
#include <jansson.h>

#include "problems.h"
#include "tzdb.h"

/* In the order of the client object's members (and of every response). */
enum cm_field {
	CM_F_ID, CM_F_NAME, CM_F_STATUS, CM_F_PUBLISHABLE_KEY, CM_F_SECRET_KEY,
	CM_F_DOMAIN, CM_F_EMAIL, CM_F_PHONE, CM_F_WEBSITE, CM_F_TIMEZONE,
	CM_F_GLOBAL_NAME, CM_F_COMPANY_ID, CM_F_AGENCY_ID, CM_F_API_METADATA,
	CM_F_GHL_LOCATION_ID, CM_F_PROXY_API_KEY, CM_F_CREATED_AT,
	CM_F_UPDATED_AT,
	CM_F__COUNT
};

enum cm_input_mode { CM_INPUT_CREATE, CM_INPUT_PATCH };

struct cm_input_policy {
	bool			 ignore_unknown;	/* unknown_fields = ignore */
	const struct cm_tzdb	*tzdb;
};

const char	*cm_field_name(enum cm_field);
/* Returns -1 when name is not a member of section 2. */
int		 cm_field_lookup(const char *name);
bool		 cm_field_writable(enum cm_field, enum cm_input_mode);
bool		 cm_field_secret(enum cm_field);  /* secret_key, publishable_key, proxy_api_key */

/*
 * Checks a parsed request body (a JSON object) against section 2.
 * Adds every problem to probs, in section 2 order, then unknown members in
 * body order.  On success (probs->n == 0) returns a new object holding the
 * normalised writable members present in the body (name and phone trimmed,
 * domain lowercased); api_metadata is the merge patch as sent, checked
 * only for type, and null when the body said null: that means {} both on
 * create and as the result of a patch.  Returns NULL when there were
 * problems.  In CREATE mode, id and name are required and id is included.
 * An object with no writable member is returned empty: the caller decides
 * ("No valid fields provided").
 */
json_t	*cm_client_check_input(const json_t *body, enum cm_input_mode,
	    const struct cm_input_policy *, struct cm_problems *probs);

/*
 * Checks api_metadata after the merge: serialized size <= 16 KiB, nesting
 * depth <= 8 (the api_metadata object itself is depth 1), every key 1-255
 * code points.  Adds at most one problem (field "api_metadata" or
 * "api_metadata.a.b" naming where the first problem is).  Returns true when ok.
 */
bool	 cm_client_check_metadata(const json_t *merged, struct cm_problems *probs);

#endif
