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
/* name: caller trims spaces first (cm_trim_spaces); 1-255 code points, nothing cm_text_forbidden() finds */
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

/*
 * Text members (name, email, website, global_name) must not hold what a
 * reader cannot see or what reorders what they see: controls (Cc), line
 * and paragraph separators (U+2028, U+2029), bidirectional controls
 * (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the other
 * format characters (Cf).  Allowed among Cf, because languages and emoji
 * need them: U+200C (ZWNJ), U+200D (ZWJ) and the emoji tag characters
 * U+E0020-U+E007F.  Returns true with the first such code point in *cp
 * and its 1-based position in *pos (in characters), false when there is
 * none.  s is valid UTF-8 (the JSON parser made sure).
 */
bool	 cm_text_forbidden(const char *s, size_t len, unsigned long *cp,
	    size_t *pos);
extern const struct cm_verdict cm_v_forbidden_char;

bool	 cm_js_reserved_word(const char *s, size_t len);
size_t	 cm_utf8_codepoints(const char *s, size_t len);
/* Lowercases A-Z in place (the domain rule's normalisation). */
void	 cm_ascii_lower(char *s, size_t len);
/* Narrows [*s, *s + *len) to drop leading and trailing U+0020 spaces. */
void	 cm_trim_spaces(const char **s, size_t *len);

#endif
