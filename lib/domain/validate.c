/*
 * validate.c - the rules of the client object's members, one pure
 * function each.
 *
 * Every character class here is spelled out in ASCII rather than taken from
 * <ctype.h>: the rules are about bytes of the wire format, not about the
 * process locale.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "validate.h"

static const struct cm_verdict v_token = {
	"invalid_format", "must match ^[a-zA-Z0-9_-]{1,255}$"
};
static const struct cm_verdict v_name_length = {
	"invalid_length", "must be 1-255 characters after trimming spaces"
};
static const struct cm_verdict v_domain = {
	"invalid_domain",
	"must be a host name such as example.com "
	"(no scheme, port, path or trailing dot)"
};
static const struct cm_verdict v_email = {
	"invalid_email", "must be a valid e-mail address"
};
static const struct cm_verdict v_phone = {
	"invalid_phone",
	"must be + then 7-15 digits (the first 1-9) separated only by "
	"single spaces, '-', '.' or one pair of parentheses"
};
static const struct cm_verdict v_url = {
	"invalid_url",
	"must be an absolute http or https URL with a host, without spaces, "
	"at most 2048 characters"
};
static const struct cm_verdict v_global_name = {
	"invalid_format", "must match ^[A-Za-z_$][A-Za-z0-9_$]{0,254}$"
};
static const struct cm_verdict v_reserved = {
	"reserved_word", "must not be a JavaScript reserved word"
};
static const struct cm_verdict v_proxy_api_key = {
	"invalid_format",
	"must be 1-255 printable ASCII characters without whitespace"
};
static const struct cm_verdict v_metadata_key = {
	"invalid_key", "must have keys of 1-255 characters"
};

/*
 * ECMAScript 2023 ReservedWord (keywords, future reserved words, the
 * literals null/true/false), the strict-mode future reserved words
 * (implements ... yield) and await (reserved in modules).
 *
 * arguments and eval are not reserved words, but strict-mode code cannot
 * bind them (var eval = ... is a SyntaxError), so a global of that name
 * could never be declared by a script: they are rejected too.  Contextual
 * keywords (async, get, set, of, as, from, ...) and the old ES3 future
 * reserved words (abstract, int, goto, ...) are valid identifiers in every
 * current engine and are accepted; so are undefined, NaN and Infinity,
 * which are ordinary (if non-writable) global properties.
 */
static const char *const js_reserved[] = {
	"arguments", "await", "break", "case", "catch", "class", "const",
	"continue", "debugger", "default", "delete", "do", "else", "enum",
	"eval", "export", "extends", "false", "finally", "for", "function",
	"if", "implements", "import", "in", "instanceof", "interface", "let",
	"new", "null", "package", "private", "protected", "public", "return",
	"static", "super", "switch", "this", "throw", "true", "try", "typeof",
	"var", "void", "while", "with", "yield",
};

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool
is_token_char(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

static bool
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

const struct cm_verdict cm_v_forbidden_char = {
	"invalid_characters",
	"must not contain control, format or bidirectional characters"
};

/* Decodes the code point at s[*i] (valid UTF-8) and moves *i past it. */
static unsigned long
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned long	cp = s[*i];
	int		more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;

	if (more > 0)
		cp &= 0x3fUL >> more;
	for ((*i)++; more > 0 && *i < len; more--, (*i)++)
		cp = cp << 6 | (s[*i] & 0x3fUL);
	return cp;
}

/* Unicode 15's Cf (format) characters, less ZWNJ, ZWJ and emoji tags. */
static bool
is_format(unsigned long c)
{
	static const unsigned long	range[][2] = {
		{ 0x00ad, 0x00ad }, { 0x0600, 0x0605 }, { 0x061c, 0x061c },
		{ 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x0890, 0x0891 },
		{ 0x08e2, 0x08e2 }, { 0x180e, 0x180e }, { 0x200b, 0x200b },
		{ 0x200e, 0x200f }, { 0x202a, 0x202e }, { 0x2060, 0x2064 },
		{ 0x2066, 0x206f }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
		{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
		{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
		{ 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
	};
	size_t	i;

	for (i = 0; i < sizeof(range) / sizeof(range[0]); i++)
		if (c >= range[i][0] && c <= range[i][1])
			return true;
	return false;
}

bool
cm_text_forbidden(const char *s, size_t len, unsigned long *cp, size_t *pos)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned long		 c;
	size_t			 i = 0, n = 0;

	while (i < len) {
		c = utf8_next(p, len, &i);
		n++;
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
		    c == 0x2029 || is_format(c)) {
			*cp = c;
			*pos = n;
			return true;
		}
	}
	return false;
}

size_t
cm_utf8_codepoints(const char *s, size_t len)
{
	size_t	 i, n = 0;

	/* Valid UTF-8 assumed: every byte but a continuation starts one. */
	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

void
cm_trim_spaces(const char **s, size_t *len)
{
	while (*len > 0 && (*s)[0] == ' ') {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && (*s)[*len - 1] == ' ')
		(*len)--;
}

bool
cm_js_reserved_word(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(js_reserved) / sizeof(js_reserved[0]); i++)
		if (strlen(js_reserved[i]) == len &&
		    memcmp(js_reserved[i], s, len) == 0)
			return true;
	return false;
}

const struct cm_verdict *
cm_check_token(const char *s, size_t len)
{
	size_t	 i;

	if (len < 1 || len > 255)
		return &v_token;
	for (i = 0; i < len; i++)
		if (!is_token_char((unsigned char)s[i]))
			return &v_token;
	return NULL;
}

const struct cm_verdict *
cm_check_name(const char *s, size_t len)
{
	unsigned long	cp;
	size_t		n, pos;

	n = cm_utf8_codepoints(s, len);
	if (n < 1 || n > 255)
		return &v_name_length;
	if (cm_text_forbidden(s, len, &cp, &pos))
		return &cm_v_forbidden_char;
	return NULL;
}

/*
 * A host-name label for the domain rule: 1-63 of [a-z0-9-] (the caller has
 * lowercased), not starting or ending with '-'.
 */
static bool
domain_label_ok(const char *l, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (len < 1 || len > 63 || l[0] == '-' || l[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++) {
		c = (unsigned char)l[i];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return false;
	}
	return true;
}

static bool
all_digits(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

const struct cm_verdict *
cm_check_domain(const char *s, size_t len)
{
	size_t	 i, start = 0, labels = 0;

	if (len < 1 || len > 253)
		return &v_domain;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!domain_label_ok(s + start, i - start))
			return &v_domain;
		labels++;
		if (i == len)
			break;
		start = i + 1;
	}
	/* The last label must not look like the end of an IPv4 address. */
	if (labels < 2 || all_digits(s + start, len - start))
		return &v_domain;
	return NULL;
}

/* WHATWG: [a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-] */
static bool
is_email_local_char(unsigned char c)
{
	return is_alnum(c) || (c != '\0' &&
	    strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* WHATWG: [a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])? */
static bool
email_label_ok(const char *l, size_t len)
{
	size_t	 i;

	if (len < 1 || len > 63 || l[0] == '-' || l[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)l[i]) && l[i] != '-')
			return false;
	return true;
}

const struct cm_verdict *
cm_check_email(const char *s, size_t len)
{
	const char	*at, *d;
	size_t		 i, local, dlen, start, dots = 0;

	if (len < 1 || len > 254)
		return &v_email;
	if ((at = memchr(s, '@', len)) == NULL)
		return &v_email;
	local = at - s;
	if (local < 1 || local > 64)
		return &v_email;
	for (i = 0; i < local; i++)
		if (!is_email_local_char((unsigned char)s[i]))
			return &v_email;
	d = at + 1;
	dlen = len - local - 1;
	/* A second '@' fails here: it is not a label character. */
	for (i = start = 0; i <= dlen; i++) {
		if (i < dlen && d[i] != '.')
			continue;
		if (!email_label_ok(d + start, i - start))
			return &v_email;
		if (i < dlen)
			dots++;
		start = i + 1;
	}
	return dots > 0 ? NULL : &v_email;
}

/*
 * '+', then digit groups.  A separator (one ' ', '-' or '.') may only stand
 * between a digit or ')' and a digit or '('; one pair of parentheses may
 * enclose one group of digits.  Digits are counted across all groups.
 */
const struct cm_verdict *
cm_check_phone(const char *s, size_t len)
{
	enum { P_DIGIT, P_SEP, P_OPEN, P_CLOSE } prev = P_SEP;
	size_t	 i, digits = 0;
	bool	 in_paren = false, had_paren = false;
	char	 c;

	if (len < 2 || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return &v_phone;
	for (i = 1; i < len; i++) {
		c = s[i];
		if (is_digit((unsigned char)c)) {
			digits++;
			prev = P_DIGIT;
		} else if (c == ' ' || c == '-' || c == '.') {
			if (in_paren || (prev != P_DIGIT && prev != P_CLOSE))
				return &v_phone;
			prev = P_SEP;
		} else if (c == '(') {
			if (had_paren)
				return &v_phone;
			had_paren = in_paren = true;
			prev = P_OPEN;
		} else if (c == ')') {
			if (!in_paren || prev != P_DIGIT)
				return &v_phone;
			in_paren = false;
			prev = P_CLOSE;
		} else
			return &v_phone;
		if (digits > 15)
			return &v_phone;
	}
	if (in_paren || prev == P_SEP || digits < 7)
		return &v_phone;
	return NULL;
}

/*
 * Bytes never allowed in a website: ASCII controls, space, DEL, and the
 * characters RFC 3986 never allows unencoded (" < > \ ^ ` { | }), which
 * also keeps the value harmless when a dashboard renders it as a link.
 * '\' matters: WHATWG parsers read it as '/', so "https://a.com\@b.com"
 * would not mean what a reader sees.
 */
static bool
url_bad_ascii(unsigned char c)
{
	return c <= 0x20 || c == 0x7f ||
	    (c != '\0' && strchr("\"<>\\^`{|}", c) != NULL);
}

/*
 * Non-ASCII is allowed (IRIs, IDN hosts) except C1 controls and Unicode
 * spaces: U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000, and the zero-width no-break space U+FEFF.
 */
static bool
url_bad_multibyte(const unsigned char *p, size_t left)
{
	if (p[0] == 0xc2 && left >= 2)
		return p[1] <= 0xa0;	/* C1 and NBSP */
	if (left < 3)
		return false;
	if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
		return true;
	if (p[0] == 0xe2 && p[1] == 0x80)
		return p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 ||
		    p[2] == 0xaf;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
		return true;
	if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return true;
	return p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf;
}

static bool
url_chars_ok(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x80 ? url_bad_ascii(p[i]) :
		    url_bad_multibyte(p + i, len - i))
			return false;
	}
	return true;
}

static bool
prefix_nocase(const char *s, size_t len, const char *pfx)
{
	size_t	n = strlen(pfx);

	return len >= n && strncasecmp(s, pfx, n) == 0;
}

/* "[" IPv6 "]": hex digits, ':' and '.' (embedded IPv4), at least one ':'. */
static size_t
url_ip_literal(const char *s, size_t len)
{
	size_t	 i;
	bool	 colon = false;

	for (i = 1; i < len && s[i] != ']'; i++) {
		if (s[i] == ':')
			colon = true;
		else if (!is_hex((unsigned char)s[i]) && s[i] != '.')
			return 0;
	}
	if (i == len || !colon)
		return 0;
	return i + 1;
}

/*
 * RFC 3986 reg-name: unreserved, pct-encoded, sub-delims; non-ASCII bytes
 * for IDN hosts.  No userinfo: '@' is refused because a website has no use
 * for credentials and "https://bank.com@evil.com" misleads readers.
 */
static size_t
url_reg_name(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == ':' || c == '/' || c == '?' || c == '#')
			break;
		if (!(c >= 0x80 || is_alnum(c) ||
		    strchr("-._~%!$&'()*+,;=", c) != NULL))
			return 0;
	}
	return i;
}

/* ":" 1-5 digits <= 65535; returns bytes used, 0 when malformed. */
static size_t
url_port(const char *s, size_t len)
{
	size_t		 i;
	unsigned long	 port = 0;

	for (i = 1; i < len && is_digit((unsigned char)s[i]); i++) {
		port = port * 10 + (unsigned long)(s[i] - '0');
		if (i > 5 || port > 65535)
			return 0;
	}
	return i > 1 ? i : 0;
}

const struct cm_verdict *
cm_check_website(const char *s, size_t len)
{
	size_t	 p, n;

	if (len < 1 || len > 2048 || !url_chars_ok(s, len))
		return &v_url;
	if (prefix_nocase(s, len, "http://"))
		p = 7;
	else if (prefix_nocase(s, len, "https://"))
		p = 8;
	else
		return &v_url;
	if (p < len && s[p] == '[')
		n = url_ip_literal(s + p, len - p);
	else
		n = url_reg_name(s + p, len - p);
	if (n == 0)
		return &v_url;
	p += n;
	if (p < len && s[p] == ':') {
		if ((n = url_port(s + p, len - p)) == 0)
			return &v_url;
		p += n;
	}
	/* Whatever follows the authority is path, query or fragment. */
	if (p < len && s[p] != '/' && s[p] != '?' && s[p] != '#')
		return &v_url;
	return NULL;
}

const struct cm_verdict *
cm_check_global_name(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (len < 1 || len > 255)
		return &v_global_name;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (!(is_alpha(c) || c == '_' || c == '$' ||
		    (i > 0 && is_digit(c))))
			return &v_global_name;
	}
	if (cm_js_reserved_word(s, len))
		return &v_reserved;
	return NULL;
}

const struct cm_verdict *
cm_check_proxy_api_key(const char *s, size_t len)
{
	size_t	 i;

	if (len < 1 || len > 255)
		return &v_proxy_api_key;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return &v_proxy_api_key;
	return NULL;
}

const struct cm_verdict *
cm_check_metadata_key(const char *s, size_t len)
{
	size_t	 n;

	n = cm_utf8_codepoints(s, len);
	return n < 1 || n > 255 ? &v_metadata_key : NULL;
}

void
cm_ascii_lower(char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] += 'a' - 'A';
}
