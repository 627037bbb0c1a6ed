/*
 * fuzz_http.c - what the service parses of a request line and headers:
 * routing with percent-decoding, query parameters, Content-Type,
 * X-Request-Id, If-Match, Authorization: Bearer.  The input is split at
 * NUL bytes into the pieces, so one input drives all of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const names[] = {
	"limit", "offset", "status", "agency_id", "company_id", "domain",
	"hard", "admin_key", "", "a"
};

static bool
id_ok(const char *id)
{
	size_t	i, n = strlen(id);

	if (n < 1 || n > CM_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' &&
		    id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '_' || id[i] == '-'))
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cm_route_match	 m;
	struct cm_request	 req;
	char			*copy, *piece[5], out[256], small[1];
	const char		*tok;
	size_t			 i, n = 0, len;
	long			 dl;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Pieces: URI, query, Content-Type, X-Request-Id, If-Match/Authorization. */
	piece[n++] = copy;
	for (i = 0; i < size && n < 5; i++)
		if (copy[i] == '\0')
			piece[n++] = copy + i + 1;
	while (n < 5)
		piece[n++] = copy + size;

	cm_route_match(piece[0], &m);
	if (m.id_valid != (m.id[0] != '\0') || (m.id_valid && !id_ok(m.id)))
		abort();
	dl = cm_percent_decode(piece[0], strlen(piece[0]), out, sizeof(out));
	if (dl >= 0 && ((size_t)dl >= sizeof(out) || strlen(out) != (size_t)dl))
		abort();
	(void)cm_percent_decode(piece[0], strlen(piece[0]), small, 0);
	(void)cm_percent_decode(piece[0], strlen(piece[0]), small, 1);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (cm_query_get(piece[1], names[i], out, sizeof(out)) == 1 &&
		    strlen(out) >= sizeof(out))
			abort();
	(void)cm_query_get(piece[1], "a", small, 0);
	(void)cm_content_type_is(piece[2], "application/json");
	(void)cm_content_type_is(piece[2], "application/merge-patch+json");
	memset(&req, 0, sizeof(req));
	cm_request_id_set(&req, piece[3]);
	len = strlen(req.request_id);
	if (len < 1 || len > CM_REQUEST_ID_MAX)
		abort();
	(void)cm_if_match(piece[4], "\"1.20260101000000000\"");
	(void)cm_if_match(piece[4], "\"\"");
	len = cm_bearer_token(piece[4], &tok);
	if (len > 0 && (tok < piece[4] || tok + len > piece[4] +
	    strlen(piece[4])))
		abort();
	free(copy);
	return 0;
}
