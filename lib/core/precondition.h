/*
 * precondition.h - a write's condition on the current representation of
 * what it changes (RFC 9110's If-Match, already parsed): any existing
 * representation ("*"), or one of a list of entity-tags, compared
 * strongly (byte for byte; a weak tag never matches).
 */
#ifndef CM_PRECONDITION_H
#define CM_PRECONDITION_H

#include <stdbool.h>
#include <stddef.h>

#define CM_PRECONDITION_TAGS	32	/* entity-tags one condition may list */
#define CM_PRECONDITION_TAG_MAX	80	/* longer ones match no tag of ours */

struct cm_precondition {
	bool	any;		/* "*" */
	size_t	n;
	char	tag[CM_PRECONDITION_TAGS][CM_PRECONDITION_TAG_MAX];
};

/*
 * Whether p holds for the representation whose entity-tag is etag (NULL:
 * there is none, so nothing matches, "*" included).  A NULL p (no
 * condition) always holds.
 */
bool	cm_precondition_holds(const struct cm_precondition *p, const char *etag);

#endif
