/* json.c - request bodies as JSON, RFC 7396 merge patch, serialising. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "mem.h"

json_t *
cm_json_parse_object(const char *buf, size_t len, int max_depth)
{
	return cm_json_parse_object_why(buf, len, max_depth, NULL, 0);
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:
	case JSON_REAL:		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	case JSON_NULL:		return "null";
	default:		return "an object";
	}
}

json_t *
cm_json_parse_object_why(const char *buf, size_t len, int max_depth,
    char *why, size_t whysz)
{
	json_error_t	 jerr;
	json_t		*v;

	if (why == NULL)
		whysz = 0;
	if (buf == NULL || len == 0) {
		if (whysz > 0)
			snprintf(why, whysz, "must be one JSON object; the body "
			    "is empty");
		return NULL;
	}
	/*
	 * Jansson checks UTF-8, rejects \u0000 unless JSON_ALLOW_NUL, and
	 * rejects anything but whitespace after the value unless
	 * JSON_DISABLE_EOF_CHECK: we want all three.  Without
	 * JSON_DECODE_ANY a scalar at the top level is a syntax error.
	 */
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		/* jerr.text is Jansson's reason, e.g. "duplicate object key". */
		if (whysz > 0)
			snprintf(why, whysz, "must be one JSON object: line %d, "
			    "column %d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	/*
	 * Jansson's own nesting limit is 2048, far too deep for us; its
	 * recursion is bounded by that, so measuring afterwards is safe.
	 */
	if (!json_is_object(v) || cm_json_depth(v) > max_depth) {
		if (whysz > 0 && !json_is_object(v))
			snprintf(why, whysz, "must be one JSON object, not %s",
			    json_kind(v));
		else if (whysz > 0)
			snprintf(why, whysz, "must not be nested more than %d "
			    "levels deep", max_depth);
		json_decref(v);
		return NULL;
	}
	return v;
}

int
cm_json_depth(const json_t *v)
{
	const char	*key;
	json_t		*child;
	size_t		 i;
	int		 d, max = 0;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if ((d = cm_json_depth(child)) > max)
				max = d;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		/* The iteration API takes a non-const object; it only reads. */
		json_object_foreach((json_t *)v, key, child) {
			if ((d = cm_json_depth(child)) > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

/*
 * The RFC 7396 algorithm applied in place: target is a borrowed
 * reference into our private copy (or NULL), patch is only read.
 * Returns a new reference, or NULL on allocation failure.
 */
static json_t *
merge(json_t *target, const json_t *patch)
{
	const char	*name;
	json_t		*res, *value, *sub;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	res = json_is_object(target) ? json_incref(target) : json_object();
	if (res == NULL)
		return NULL;
	json_object_foreach((json_t *)patch, name, value) {
		if (json_is_null(value)) {
			/* Absent already is fine: json_object_del fails. */
			(void)json_object_del(res, name);
			continue;
		}
		sub = merge(json_object_get(res, name), value);
		/* json_object_set_new consumes sub even when it fails. */
		if (sub == NULL || json_object_set_new(res, name, sub) == -1) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

json_t *
cm_merge_patch(const json_t *target, const json_t *patch)
{
	json_t	*copy, *res;

	if (patch == NULL)
		return NULL;
	/*
	 * Work on a deep copy so neither input (nor anything sharing
	 * their sub-values) ever changes; the result shares nothing.
	 */
	copy = NULL;
	if (json_is_object(patch) && json_is_object(target) &&
	    (copy = json_deep_copy(target)) == NULL)
		return NULL;
	res = merge(copy, patch);
	json_decref(copy);
	return res;
}

/* ---- serialising ------------------------------------------------------ */

struct buf {
	char	*p;
	size_t	 len, cap;
	bool	 failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	char	*grown;
	size_t	 cap;

	if (b->failed)
		return;
	if (n >= b->cap - b->len) {
		cap = b->cap;
		while (n >= cap - b->len)
			cap *= 2;
		grown = cm_realloc(b->p, cap);
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* As Jansson's dump_string() with no flags: UTF-8 kept, '/' kept. */
static void
put_string(struct buf *b, const char *s, size_t n)
{
	char	 esc[8];
	size_t	 i, run = 0;

	put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':	put(b, "\\\"", 2); break;
		case '\\':	put(b, "\\\\", 2); break;
		case '\b':	put(b, "\\b", 2); break;
		case '\f':	put(b, "\\f", 2); break;
		case '\n':	put(b, "\\n", 2); break;
		case '\r':	put(b, "\\r", 2); break;
		case '\t':	put(b, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04X", c);
			put(b, esc, 6);
		}
	}
	put(b, s + run, n - run);
	put(b, "\"", 1);
}

/*
 * The fewest significant digits that read back as d, written the way
 * Jansson's %.17g would lay them out: positional notation for exponents
 * -4 to 16, else an exponent; always with a '.' or an 'e' so that it
 * reads back as a real.
 */
int
cm_json_real(double d, char *out, size_t sz)
{
	char	buf[400], *e, *p;
	int	prec, x, n;

	if (!isfinite(d))
		return -1;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
	x = atoi(strchr(buf, 'e') + 1);
	if (x >= -4 && x < 17) {
		snprintf(buf, sizeof(buf), "%.*f", prec - 1 - x > 0 ?
		    prec - 1 - x : 0, d);
		if (strchr(buf, '.') == NULL)
			strcat(buf, ".0");
	} else {
		/* "1.5e-07" -> "1.5e-7", "1e+300" -> "1e300", as Jansson. */
		e = strchr(buf, 'e');
		p = e + 1;
		if (*p == '+')
			memmove(p, p + 1, strlen(p));
		else if (*p == '-')
			p++;
		while (p[0] == '0' && p[1] != '\0')
			memmove(p, p + 1, strlen(p));
	}
	n = snprintf(out, sz, "%s", buf);
	return n < 0 || (size_t)n >= sz ? -1 : n;
}

static void
put_value(struct buf *b, const json_t *v)
{
	const char	*key;
	json_t		*child;
	char		 num[64];
	size_t		 i;
	int		 n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put(b, "{", 1);
		i = 0;
		/* Insertion order (Jansson >= 2.8); the iteration only reads. */
		json_object_foreach((json_t *)v, key, child) {
			if (i++ > 0)
				put(b, ",", 1);
			put_string(b, key, strlen(key));
			put(b, ":", 1);
			put_value(b, child);
		}
		put(b, "}", 1);
		break;
	case JSON_ARRAY:
		put(b, "[", 1);
		json_array_foreach(v, i, child) {
			if (i > 0)
				put(b, ",", 1);
			put_value(b, child);
		}
		put(b, "]", 1);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		put(b, num, (size_t)n);
		break;
	case JSON_REAL:
		if ((n = cm_json_real(json_real_value(v), num, sizeof(num))) < 0)
			b->failed = true;
		else
			put(b, num, (size_t)n);
		break;
	case JSON_TRUE:
		put(b, "true", 4);
		break;
	case JSON_FALSE:
		put(b, "false", 5);
		break;
	case JSON_NULL:
		put(b, "null", 4);
		break;
	}
}

char *
cm_json_compact(const json_t *v)
{
	/* One client's answer is about 3 KiB: most never grow the buffer. */
	struct buf	b = { NULL, 0, 4096, false };

	if (v == NULL)
		return NULL;
	b.p = cm_malloc(b.cap);
	b.p[0] = '\0';
	put_value(&b, v);
	/* A number no shortest form reads back as (not finite): none parse so. */
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---- bodies with numbers Jansson cannot hold, or nested too deep -------- */

/* The markers, as JSON text and as the string Jansson makes of them. */
#define MARK_RANGE_TEXT	"\"\\u0000N\""
#define MARK_DEEP_TEXT	"\"\\u0000D\""

struct span {
	size_t			 from, to;	/* [from, to) of the text */
	enum cm_json_mark	 mark;
};

struct scan {
	const char	*s;
	size_t		 len, pos;
	struct span	*spans;
	size_t		 nspans, capspans;
	bool		 nul;		/* a \u0000 escape: no rewriting */
};

static void
skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len && (sc->s[sc->pos] == ' ' ||
	    sc->s[sc->pos] == '\t' || sc->s[sc->pos] == '\n' ||
	    sc->s[sc->pos] == '\r'))
		sc->pos++;
}

static bool
add_span(struct scan *sc, size_t from, size_t to, enum cm_json_mark mark)
{
	struct span	*grown;

	/* A member replaced as a whole takes the numbers inside it along. */
	while (sc->nspans > 0 && sc->spans[sc->nspans - 1].from >= from)
		sc->nspans--;
	if (sc->nspans == sc->capspans) {
		sc->capspans = sc->capspans ? sc->capspans * 2 : 8;
		grown = cm_realloc(sc->spans, sc->capspans * sizeof(*grown));
		sc->spans = grown;
	}
	sc->spans[sc->nspans].from = from;
	sc->spans[sc->nspans].to = to;
	sc->spans[sc->nspans++].mark = mark;
	return true;
}

static bool
scan_string(struct scan *sc)
{
	static const char	hex[] = "0123456789abcdefABCDEF";
	size_t			i;
	unsigned char		c;

	sc->pos++;	/* the opening quote */
	while (sc->pos < sc->len) {
		c = (unsigned char)sc->s[sc->pos++];
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (sc->pos >= sc->len)
			return false;
		c = (unsigned char)sc->s[sc->pos++];
		if (c == 'u') {
			if (sc->len - sc->pos < 4)
				return false;
			for (i = 0; i < 4; i++)
				if (sc->s[sc->pos + i] == '\0' ||
				    strchr(hex, sc->s[sc->pos + i]) == NULL)
					return false;
			if (strncmp(sc->s + sc->pos, "0000", 4) == 0)
				sc->nul = true;
			sc->pos += 4;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
			return false;
	}
	return false;
}

static bool
digits(struct scan *sc)
{
	size_t	start = sc->pos;

	while (sc->pos < sc->len && sc->s[sc->pos] >= '0' &&
	    sc->s[sc->pos] <= '9')
		sc->pos++;
	return sc->pos > start;
}

/*
 * What a double holds: an integer within json_int_t, a real within a
 * double's normal range.  Beyond it in either direction the value would
 * not be kept as sent: Jansson refuses 1e400, and 1e-400 would be stored
 * as 0 (a subnormal, as fewer digits), so both are out of range.
 */
static bool
number_fits(const char *tok, size_t n, bool integer)
{
	char	*copy;
	double	 d;
	bool	 ok;

	copy = cm_malloc(n + 1);
	memcpy(copy, tok, n);
	copy[n] = '\0';
	errno = 0;
	if (integer) {
		(void)strtoll(copy, NULL, 10);
		ok = errno != ERANGE;
	} else {
		d = strtod(copy, NULL);
		ok = errno != ERANGE && !(d != 0 && fabs(d) < DBL_MIN);
	}
	free(copy);
	return ok;
}

static bool
scan_number(struct scan *sc)
{
	size_t	start = sc->pos;
	bool	integer = true;

	if (sc->s[sc->pos] == '-')
		sc->pos++;
	if (sc->pos < sc->len && sc->s[sc->pos] == '0')
		sc->pos++;
	else if (!digits(sc))
		return false;
	if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
		sc->pos++;
		integer = false;
		if (!digits(sc))
			return false;
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' ||
	    sc->s[sc->pos] == 'E')) {
		sc->pos++;
		integer = false;
		if (sc->pos < sc->len && (sc->s[sc->pos] == '+' ||
		    sc->s[sc->pos] == '-'))
			sc->pos++;
		if (!digits(sc))
			return false;
	}
	if (!number_fits(sc->s + start, sc->pos - start, integer))
		return add_span(sc, start, sc->pos, CM_JSON_MARK_RANGE);
	return true;
}

static bool
scan_literal(struct scan *sc, const char *word)
{
	size_t	n = strlen(word);

	if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
		return false;
	sc->pos += n;
	return true;
}

/*
 * Checks the whole text against RFC 8259's grammar without recursion
 * (the stack of open containers is a byte array), noting the numbers out
 * of range and the members of the top-level object nested deeper than
 * max_depth.  UTF-8 and duplicate names are left to Jansson, which reads
 * the rewritten text.
 */
static bool
scan_body(struct scan *sc, int max_depth)
{
	char	*stack;
	size_t	 depth = 0, member_from = 0, deepest = 0;
	bool	 ok = false, want_value = true;
	char	 c;

	stack = cm_malloc(sc->len + 1);
	skip_ws(sc);
	if (sc->pos >= sc->len || sc->s[sc->pos] != '{')
		goto out;
	for (;;) {
		skip_ws(sc);
		if (sc->pos >= sc->len)
			goto out;
		c = sc->s[sc->pos];
		if (want_value) {
			if (depth == 1)
				member_from = sc->pos, deepest = 1;
			if (c == '{' || c == '[') {
				stack[depth++] = c;
				if (depth > deepest)
					deepest = depth;
				sc->pos++;
				skip_ws(sc);
				if (sc->pos < sc->len && sc->s[sc->pos] ==
				    (c == '{' ? '}' : ']')) {
					want_value = false;
					continue;	/* closed below */
				}
				if (c == '{') {
					if (sc->pos >= sc->len ||
					    sc->s[sc->pos] != '"' ||
					    !scan_string(sc))
						goto out;
					skip_ws(sc);
					if (sc->pos >= sc->len ||
					    sc->s[sc->pos++] != ':')
						goto out;
				}
				continue;
			}
			if (c == '"') {
				if (!scan_string(sc))
					goto out;
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (!scan_number(sc))
					goto out;
			} else if (!scan_literal(sc, "true") &&
			    !scan_literal(sc, "false") &&
			    !scan_literal(sc, "null"))
				goto out;
			want_value = false;
		} else if (c == ',') {
			if (depth == 0)
				goto out;
			sc->pos++;
			skip_ws(sc);
			if (stack[depth - 1] == '{') {
				if (sc->pos >= sc->len ||
				    sc->s[sc->pos] != '"' || !scan_string(sc))
					goto out;
				skip_ws(sc);
				if (sc->pos >= sc->len ||
				    sc->s[sc->pos++] != ':')
					goto out;
			}
			want_value = true;
			continue;
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '['))
				goto out;
			depth--;
			sc->pos++;
			if (depth == 0)
				break;
		} else
			goto out;
		/* A value of the top-level object just ended. */
		if (depth == 1 && deepest > (size_t)max_depth &&
		    !add_span(sc, member_from, sc->pos, CM_JSON_MARK_DEEP))
			goto out;
	}
	skip_ws(sc);
	ok = sc->pos == sc->len;
out:
	free(stack);
	return ok;
}

static char *
rewrite(const struct scan *sc, size_t *outlen)
{
	struct buf	b = { NULL, 0, 64, false };
	size_t		i, at = 0;

	b.p = cm_malloc(b.cap);
	for (i = 0; i < sc->nspans; i++) {
		put(&b, sc->s + at, sc->spans[i].from - at);
		if (sc->spans[i].mark == CM_JSON_MARK_DEEP)
			put(&b, MARK_DEEP_TEXT, sizeof(MARK_DEEP_TEXT) - 1);
		else
			put(&b, MARK_RANGE_TEXT, sizeof(MARK_RANGE_TEXT) - 1);
		at = sc->spans[i].to;
	}
	put(&b, sc->s + at, sc->len - at);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*outlen = b.len;
	return b.p;
}

/* Whether v holds a real that is 0 or below a double's normal range. */
static bool
has_tiny_real(const json_t *v)
{
	const char	*key;
	json_t		*x;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_REAL:
		return fabs(json_real_value(v)) < DBL_MIN;
	case JSON_OBJECT:
		/* The iteration API takes a non-const object; it only reads. */
		json_object_foreach((json_t *)v, key, x)
			if (has_tiny_real(x))
				return true;
		return false;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (has_tiny_real(x))
				return true;
		return false;
	default:
		return false;
	}
}

json_t *
cm_json_parse_body(const char *buf, size_t len, int max_depth)
{
	struct scan	 sc = { buf, len, 0, NULL, 0, 0, false };
	json_error_t	 jerr;
	json_t		*v;
	char		*text;
	size_t		 tlen;

	/*
	 * Jansson takes 1e-400 as 0 without a word: a body holding a real
	 * that is 0 or subnormal is scanned for the literal that underflowed.
	 */
	if ((v = cm_json_parse_object(buf, len, max_depth)) != NULL &&
	    !has_tiny_real(v))
		return v;
	/* Not what Jansson takes as it is: valid JSON nonetheless? */
	if (buf == NULL || len == 0 || !scan_body(&sc, max_depth) ||
	    sc.nul || sc.nspans == 0) {
		free(sc.spans);
		return v;	/* NULL, or a body without an underflow */
	}
	json_decref(v);
	text = rewrite(&sc, &tlen);
	free(sc.spans);
	if (text == NULL)
		return NULL;
	v = json_loadb(text, tlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &jerr);
	free(text);
	if (v != NULL && (!json_is_object(v) || cm_json_depth(v) > max_depth)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static enum cm_json_mark
mark_of(const json_t *v)
{
	if (!json_is_string(v) || json_string_length(v) != 2 ||
	    json_string_value(v)[0] != '\0')
		return CM_JSON_MARK_NONE;
	switch (json_string_value(v)[1]) {
	case 'N':
		return CM_JSON_MARK_RANGE;
	case 'D':
		return CM_JSON_MARK_DEEP;
	default:
		return CM_JSON_MARK_NONE;
	}
}

enum cm_json_mark
cm_json_marked(const json_t *v)
{
	enum cm_json_mark	 m, found = CM_JSON_MARK_NONE;
	const char		*key;
	json_t			*child;
	size_t			 i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child)
			if ((m = cm_json_marked(child)) > found)
				found = m;
		return found;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if ((m = cm_json_marked(child)) > found)
				found = m;
		return found;
	}
	return mark_of(v);
}
