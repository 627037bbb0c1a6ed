/* http.c - paths, request headers and the response envelope. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "json.h"
#include "mem.h"
#include "random.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Query strings (form encoding) also spell a space as '+'. */
static long
decode(const char *in, size_t len, char *out, size_t outsz, bool plus_space)
{
	size_t	i, n = 0;
	int	hi, lo, c;

	/* No room even for the terminating NUL: nothing may be written. */
	if (outsz == 0)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c == '+' && plus_space)
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= len)
				return -1;
			hi = hexval(in[i + 1]);
			lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == '\0' || n + 1 >= outsz)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (long)n;
}

long
cm_percent_decode(const char *in, size_t len, char *out, size_t outsz)
{
	return decode(in, len, out, outsz, false);
}

/* The next '/'-separated segment of [*p, end): its start and length. */
static bool
next_segment(const char **p, const char *end, const char **seg, size_t *len)
{
	const char	*slash;

	if (*p > end)
		return false;
	if ((slash = memchr(*p, '/', (size_t)(end - *p))) == NULL)
		slash = end;
	*seg = *p;
	*len = (size_t)(slash - *p);
	*p = slash + 1;
	return true;
}

/*
 * Each segment is decoded on its own, so that "%2F" inside an id is part
 * of the id (and makes it invalid) rather than a separator.
 */
bool
cm_path_match(const char *path, const char *pattern, char *param,
    size_t paramsz, bool *param_ok)
{
	const char	*p, *end, *q, *qend, *seg, *pat;
	size_t		 len, plen;
	char		 buf[64];
	long		 n;

	*param_ok = false;
	if (path == NULL || path[0] != '/' || pattern[0] != '/')
		return false;
	p = path + 1;
	end = p + strcspn(p, "?#");
	q = pattern + 1;
	qend = q + strlen(q);
	while (next_segment(&q, qend, &pat, &plen)) {
		if (!next_segment(&p, end, &seg, &len))
			return false;
		if (plen == 4 && memcmp(pat, "{id}", 4) == 0) {
			n = cm_percent_decode(seg, len, param, paramsz);
			*param_ok = n >= 0;
			continue;
		}
		n = cm_percent_decode(seg, len, buf, sizeof(buf));
		if (n < 0 || (size_t)n != plen || memcmp(buf, pat, plen) != 0)
			return false;
	}
	return p > end;
}

int
cm_query_get(const char *query, const char *name, char *out, size_t outsz)
{
	size_t	 nlen = strlen(name), vlen;
	const char *p = query, *amp;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		vlen = amp ? (size_t)(amp - p) : strlen(p);
		if (vlen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			return decode(p + nlen + 1, vlen - nlen - 1, out, outsz,
			    true) < 0 ? -1 : 1;
		}
		if (vlen == nlen && strncmp(p, name, nlen) == 0) {
			if (outsz == 0)
				return -1;
			out[0] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool
cm_content_type_is(const char *ct, const char *mime)
{
	size_t	 len = strlen(mime);
	const char *p;

	if (ct == NULL)
		return false;
	ct = skip_ows(ct);
	if (strncasecmp(ct, mime, len) != 0)
		return false;
	p = skip_ows(ct + len);
	if (*p == '\0')
		return true;
	if (*p != ';')
		return false;
	/* Only one parameter is meaningful for JSON: charset, and it must be UTF-8. */
	p = skip_ows(p + 1);
	if (strncasecmp(p, "charset=", 8) != 0)
		return false;
	p += 8;
	if (*p == '"')
		return strncasecmp(p, "\"utf-8\"", 7) == 0 && *skip_ows(p + 7) == '\0';
	return strncasecmp(p, "utf-8", 5) == 0 && *skip_ows(p + 5) == '\0';
}

void
cm_request_id_set(struct cm_request *req, const char *header)
{
	unsigned char	raw[16];
	size_t		len = header ? strlen(header) : 0;

	if (len >= 1 && len <= CM_REQUEST_ID_MAX &&
	    strspn(header, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == len) {
		memcpy(req->request_id, header, len + 1);
		return;
	}
	if (cm_random_ids(raw, sizeof(raw)) != 0)
		memset(raw, 0, sizeof(raw));
	cm_hex_encode(raw, sizeof(raw), req->request_id);
}

/*
 * Whether the tag list of an If-Match or If-None-Match header names etag
 * (or is "*").  weak: the weak comparison of If-None-Match (a "W/" prefix
 * is ignored); else the strong one of If-Match (a weak entry never
 * matches: our tags all start with '"').
 */
/*
 * Calls fn for each entry of an entity-tag list (comma-separated, spaces
 * around entries dropped, empty entries skipped) until it returns true;
 * returns whether one did.
 */
static bool
each_tag(const char *header, bool (*fn)(const char *, size_t, void *),
    void *arg)
{
	const char	*p = header, *q;
	size_t		 len;

	while (*p != '\0') {
		p = skip_ows(p);
		if (*p == ',') {
			p++;
			continue;
		}
		q = p + strcspn(p, ",");
		len = (size_t)(q - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0 && fn(p, len, arg))
			return true;
		p = q;
	}
	return false;
}

/* "*" alone (spaces around it aside): any representation. */
static bool
is_star(const char *header)
{
	const char	*p = skip_ows(header);

	return *p == '*' && *skip_ows(p + 1) == '\0';
}

struct tag_list {
	struct cm_precondition	*out;
	bool			 full;
};

static bool
add_tag(const char *tag, size_t len, void *arg)
{
	struct tag_list	*l = arg;

	/* Longer than any tag of ours: it can match none. */
	if (len >= CM_PRECONDITION_TAG_MAX)
		return false;
	if (l->out->n == CM_PRECONDITION_TAGS) {
		l->full = true;
		return true;
	}
	memcpy(l->out->tag[l->out->n], tag, len);
	l->out->tag[l->out->n++][len] = '\0';
	return false;
}

int
cm_if_match_parse(const char *header, struct cm_precondition *out)
{
	struct tag_list	l = { out, false };

	memset(out, 0, sizeof(*out));
	if (is_star(header)) {
		out->any = true;
		return 0;
	}
	each_tag(header, add_tag, &l);
	return l.full ? -1 : 0;
}

struct weak_match {
	const char	*etag;
	size_t		 len;
};

/* Weak comparison (RFC 9110 8.8.3.2): "W/" is dropped on both sides. */
static bool
same_weak(const char *tag, size_t len, void *arg)
{
	const struct weak_match	*m = arg;

	if (len > 2 && tag[0] == 'W' && tag[1] == '/') {
		tag += 2;
		len -= 2;
	}
	return len == m->len && memcmp(tag, m->etag, len) == 0;
}

bool
cm_if_none_match(const char *header, const char *etag)
{
	struct weak_match	m = { etag, strlen(etag) };

	if (header == NULL)
		return false;
	return is_star(header) || each_tag(header, same_weak, &m);
}

const char *
cm_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

void
cm_response_init(struct cm_response *res)
{
	memset(res, 0, sizeof(*res));
	res->status = 500;
}

void
cm_response_clear(struct cm_response *res)
{
	json_decref(res->body);
	free(res->text);
	free(res->headers);
	cm_response_init(res);
}

void
cm_response_text(struct cm_response *res, int status, const char *ctype,
    char *text)
{
	json_decref(res->body);
	res->body = NULL;
	free(res->text);
	res->status = status;
	res->text = text;
	res->text_type = ctype;
}

void
cm_response_header(struct cm_response *res, const char *name,
    const char *fmt, ...)
{
	va_list	ap;
	size_t	need;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	need = res->hlen + strlen(name) + 2 + (size_t)(n > 0 ? n : 0) + 3;
	if (need > res->hcap) {
		res->hcap = need > 2 * res->hcap ? need : 2 * res->hcap;
		res->headers = cm_realloc(res->headers, res->hcap);
	}
	res->hlen += (size_t)snprintf(res->headers + res->hlen,
	    res->hcap - res->hlen, "%s: ", name);
	va_start(ap, fmt);
	res->hlen += (size_t)vsnprintf(res->headers + res->hlen,
	    res->hcap - res->hlen, fmt, ap);
	va_end(ap);
	res->hlen += (size_t)snprintf(res->headers + res->hlen,
	    res->hcap - res->hlen, "\r\n");
}

void
cm_response_error(struct cm_response *res, int status, const char *error,
    const struct cm_problems *probs)
{
	json_decref(res->body);
	free(res->text);	/* an error is JSON even after a text body */
	res->text = NULL;
	res->raw = NULL;	/* ... or a raw one */
	res->rawlen = 0;
	res->status = status;
	res->body = json_pack("{s:b, s:n, s:s, s:i}", "success", 0, "data",
	    "error", error, "count", 0);
	if (probs != NULL && probs->n > 0)
		json_object_set_new(res->body, "details", cm_problems_json(probs));
}

void
cm_response_detail(struct cm_response *res, const char *field,
    const char *code, const char *message)
{
	json_t	*details;

	if (res->body == NULL)
		return;
	if ((details = json_object_get(res->body, "details")) == NULL) {
		details = json_array();
		json_object_set_new(res->body, "details", details);
	}
	json_array_append_new(details, json_pack("{s:o, s:s, s:s}", "field",
	    field ? json_string(field) : json_null(), "code", code,
	    "message", message));
}

void
cm_response_raw(struct cm_response *res, int status, const char *raw,
    size_t len)
{
	json_decref(res->body);
	res->body = NULL;
	free(res->text);
	res->text = NULL;
	res->status = status;
	res->raw = raw;
	res->rawlen = len;
}

void
cm_response_body(struct cm_response *res, int status, json_t *body)
{
	json_decref(res->body);
	free(res->text);	/* a JSON body replaces a text one */
	res->text = NULL;
	res->raw = NULL;	/* or a raw one */
	res->rawlen = 0;
	res->status = status;
	res->body = body;
}

json_t *
cm_envelope_data(json_t *data)
{
	return json_pack("{s:b, s:o}", "success", 1, "data", data);
}

void
cm_response_data(struct cm_response *res, int status, json_t *data)
{
	cm_response_body(res, status, cm_envelope_data(data));
}

void
cm_response_list(struct cm_response *res, json_t *items,
    unsigned long long count)
{
	cm_response_body(res, 200, json_pack("{s:b, s:o, s:I}", "success", 1,
	    "data", items, "count", (json_int_t)count));
}

void
cm_response_page(struct cm_response *res, json_t *items,
    const unsigned long long *count, const char *next)
{
	cm_response_body(res, 200, json_pack("{s:b, s:o, s:o, s:o}",
	    "success", 1, "data", items,
	    "count", count ? json_integer((json_int_t)*count) : json_null(),
	    "next", next && next[0] ? json_string(next) : json_null()));
}

/*
 * The CGI header block of res into buf (size bytes), snprintf's way: its
 * whole length returned, even when buf held less.  A 304 has no body, so
 * nothing for a Content-Type to describe (RFC 9110 15.4.5); a proxy that
 * sees one may try to parse the empty body.
 */
static int
render_header(char *buf, size_t size, const struct cm_response *res,
    const char *status, const char *request_id)
{
	const char	*ctype = res->text != NULL ? res->text_type :
			    "application/json; charset=utf-8";
	bool		 typed = res->status != 304;

	return snprintf(buf, size, "%s%s%s%s"
	    "Cache-Control: no-store\r\n"
	    "X-Request-Id: %s\r\n"
	    "%s"
	    "\r\n",
	    status, typed ? "Content-Type: " : "", typed ? ctype : "",
	    typed ? "\r\n" : "", request_id, res->headers ? res->headers : "");
}

/*
 * The header block is formatted on its own, into a stack buffer that
 * holds any usual one (formatted again only when longer); the body, the
 * largest part, is copied in once, not through printf.
 */
char *
cm_response_render(const struct cm_response *res, const char *request_id,
    bool head, size_t *len)
{
	const char	*body = "";
	char		*made = NULL, *out;
	char		 status[64], head_buf[1024];
	size_t		 hlen, blen, rawlen = head ? 0 : res->rawlen;
	int		 n;

	/*
	 * CGI (RFC 3875 6.3.3) makes "Status:" optional, 200 by default.
	 * Some servers (Caddy's FastCGI transport) copy it into the HTTP
	 * response as a header, so a 200 goes without it.
	 */
	status[0] = '\0';
	if (res->status != 200)
		snprintf(status, sizeof(status), "Status: %d %s\r\n",
		    res->status, cm_status_text(res->status));
	if (!head && res->text != NULL)
		body = res->text;
	else if (!head && res->body != NULL)
		body = made = cm_json_compact(res->body);
	blen = strlen(body);
	if ((n = render_header(head_buf, sizeof(head_buf), res, status,
	    request_id)) < 0)
		cm_oom();	/* the format is ours: only memory can fail */
	hlen = (size_t)n;
	out = cm_malloc(hlen + blen + rawlen + 1);
	if (hlen < sizeof(head_buf))
		memcpy(out, head_buf, hlen);
	else
		(void)render_header(out, hlen + 1, res, status, request_id);
	memcpy(out + hlen, body, blen);
	free(made);
	/* A raw body is bytes of a known length: appended, not formatted. */
	if (res->raw != NULL && rawlen > 0)
		memcpy(out + hlen + blen, res->raw, rawlen);
	*len = hlen + blen + rawlen;
	out[*len] = '\0';	/* for callers that print it */
	return out;
}

size_t
cm_bearer_token(const char *header, const char **tok)
{
	const char	*p, *start;

	if (tok != NULL)
		*tok = NULL;
	if (header == NULL || strncasecmp(header, "Bearer", 6) != 0)
		return 0;
	p = header + 6;
	/* "Bearerabc" is another scheme, not a Bearer credential. */
	if (*p != ' ')
		return 0;
	while (*p == ' ')
		p++;
	start = p;
	while (*p > ' ' && *p < 0x7f)
		p++;
	if (p == start || *p != '\0')
		return 0;
	if (tok != NULL)
		*tok = start;
	return (size_t)(p - start);
}
