/* precondition.c - see precondition.h. */
#include <string.h>

#include "precondition.h"

bool
cm_precondition_holds(const struct cm_precondition *p, const char *etag)
{
	size_t	i;

	if (p == NULL)
		return true;
	if (etag == NULL || etag[0] == '\0')
		return false;
	if (p->any)
		return true;
	for (i = 0; i < p->n; i++)
		if (strcmp(p->tag[i], etag) == 0)
			return true;
	return false;
}
