/* problems.c - collecting and rendering field-level problems. */
#include <stdio.h>
#include <string.h>

#include "problems.h"

void
cm_problems_init(struct cm_problems *p)
{
	p->n = 0;
	p->more = 0;
}

size_t
cm_problems_count(const struct cm_problems *p)
{
	return p->n + p->more;
}

void
cm_problems_add_note(struct cm_problems *p, const char *field,
    const char *code, const char *message, const char *note)
{
	struct cm_problem *it;

	if (p->n >= CM_PROBLEMS_MAX) {
		p->more++;
		return;
	}
	it = &p->item[p->n++];
	snprintf(it->field, sizeof(it->field), "%s", field);
	it->code = code;
	it->message = message;
	snprintf(it->note, sizeof(it->note), "%s", note != NULL ? note : "");
}

void
cm_problems_add(struct cm_problems *p, const char *field, const char *code,
    const char *message)
{
	cm_problems_add_note(p, field, code, message, NULL);
}

json_t *
cm_problems_json(const struct cm_problems *p)
{
	json_t	*arr = json_array();
	char	 text[256];
	size_t	 i;

	for (i = 0; i < p->n; i++) {
		snprintf(text, sizeof(text), "%s%s%s", p->item[i].message,
		    p->item[i].note[0] != '\0' ? ": " : "", p->item[i].note);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}",
		    "field", p->item[i].field, "code", p->item[i].code,
		    "message", text));
	}
	if (p->more > 0) {
		snprintf(text, sizeof(text), "must fix the problems listed and "
		    "send again: %zu more were found and not listed", p->more);
		json_array_append_new(arr, json_pack("{s:n, s:s, s:s}",
		    "field", "code", "too_many_problems", "message", text));
	}
	return arr;
}
