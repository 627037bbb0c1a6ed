/*
 * problems.h - the field-level problems of one request.
 *
 * A request's validation collects every problem it finds into one
 * struct cm_problems (caller-owned, usually on the stack); the HTTP layer
 * renders them as the "details" array of the error envelope.
 * code and message must be static strings; field and note are copied.
 */
#ifndef CM_PROBLEMS_H
#define CM_PROBLEMS_H

#include <stddef.h>
#include <jansson.h>

/*
 * Problems listed, at most.  Further ones are counted, and the rendered
 * list ends with one entry saying how many (code too_many_problems).
 */
#define CM_PROBLEMS_MAX   64
#define CM_FIELD_NAME_MAX 320  /* "api_metadata." + a 255-char key + room */

#define CM_PROBLEM_NOTE_MAX 96

struct cm_problem {
	char		 field[CM_FIELD_NAME_MAX];
	const char	*code;
	const char	*message;
	/* What in the value: "U+202E at character 3"; "" none. */
	char		 note[CM_PROBLEM_NOTE_MAX];
};

struct cm_problems {
	size_t			n;
	size_t			more;	/* found beyond CM_PROBLEMS_MAX */
	struct cm_problem	item[CM_PROBLEMS_MAX];
};

void	 cm_problems_init(struct cm_problems *);
/* Every problem found, listed or not. */
size_t	 cm_problems_count(const struct cm_problems *);
void	 cm_problems_add(struct cm_problems *, const char *field,
	    const char *code, const char *message);
/* The same, with a note rendered after the message ("message: note"). */
void	 cm_problems_add_note(struct cm_problems *, const char *field,
	    const char *code, const char *message, const char *note);
/*
 * New reference: [{"field","code","message"}, ...] in insertion order,
 * then, when problems were beyond the cap, one with field null saying
 * how many.
 */
json_t	*cm_problems_json(const struct cm_problems *);

#endif
