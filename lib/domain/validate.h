/*
 * validate.h - one small pure function per rule of the client object's members.
 *
 * Every checker takes a UTF-8 string s of len bytes (not necessarily
 * NUL-terminated; the JSON layer has already guaranteed valid UTF-8 without
 * NUL) and returns NULL when the value is acceptable, else a pointer to a
 * static verdict naming the reason.  No I/O, no allocation, no globals.
 */
#ifndef CM_VALIDATE_H
#define CM_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

struct cm_verdict {
	const char	*code;		/* e.g. "invalid_email" */
	const char	*message;	/* e.g. "must be a valid e-mail address" */
};

/* id, company_id, agency_id, ghl_location_id: ^[a-zA-Z0-9_-]{1,255}$ */
const struct cm_verdict	*cm_check_token(const char *s, size_t len);
/* name: caller trims spaces first (cm_trim_spaces); 1-255 code points, no controls */
const struct cm_verdict	*cm_check_name(const char *s, size_t len);
/* domain: caller lowercases first (ASCII) */
const struct cm_verdict	*cm_check_domain(const char *s, size_t len);
const struct cm_verdict	*cm_check_email(const char *s, size_t len);
/* phone: caller trims spaces first */
const struct cm_verdict	*cm_check_phone(const char *s, size_t len);
const struct cm_verdict	*cm_check_website(const char *s, size_t len);
const struct cm_verdict	*cm_check_global_name(const char *s, size_t len);
const struct cm_verdict	*cm_check_proxy_api_key(const char *s, size_t len);
/* api_metadata object key: 1-255 code points */
const struct cm_verdict	*cm_check_metadata_key(const char *s, size_t len);

bool	 cm_js_reserved_word(const char *s, size_t len);
size_t	 cm_utf8_codepoints(const char *s, size_t len);
/* Lowercases A-Z in place (the domain rule's normalisation). */
void	 cm_ascii_lower(char *s, size_t len);
/* Narrows [*s, *s + *len) to drop leading and trailing U+0020 spaces. */
void	 cm_trim_spaces(const char **s, size_t *len);

#endif
