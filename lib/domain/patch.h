/*
 * patch.h - applying checked changes to a stored client.
 *
 * Pure functions over Jansson values: given the stored client (the object
 * the API returns) and the normalised changes from cm_client_check_input(),
 * compute the new client, exactly which members change, and the audit
 * record of the change.  The data layer calls these on the locked row.
 */
#ifndef CM_PATCH_H
#define CM_PATCH_H

#include <stdint.h>
#include <jansson.h>

#include "client.h"
#include "problems.h"

#define CM_FIELD_BIT(f)	(UINT32_C(1) << (f))

/*
 * Returns a new reference to stored with changes applied (api_metadata by
 * RFC 7396 merge) and sets *changed to the bits of the members whose value
 * differs from the stored one.  Returns NULL when the merged api_metadata
 * breaks its limits (the problem is added to probs).
 */
json_t	*cm_patch_apply(const json_t *stored, const json_t *changes,
	    uint32_t *changed, struct cm_problems *probs);

/*
 * A new client from checked create input: the input applied to an empty
 * client (status true, api_metadata {}, every other member null), so
 * api_metadata gets the same merge and limits as in a patch.  Returns NULL
 * with a problem in probs when api_metadata breaks its limits.
 */
json_t	*cm_patch_new_client(const json_t *input, struct cm_problems *probs);

/*
 * {"member": {"old": ..., "new": ...}, ...} for every bit of changed, in
 * section 2 order; old may be NULL (a create).  Secret members are
 * recorded as "<redacted>".  New reference.
 */
json_t	*cm_audit_changes(const json_t *old, const json_t *new,
	    uint32_t changed);

#endif
