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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const patterns[] = {
		"/clients", "/clients/{id}", "/clients/{id}/rotate-keys"
	};
	struct cm_precondition	 pre;
	struct cm_request	 req;
	char			*copy, *piece[5], out[256], small[1];
	char			 id[CM_ID_MAX + 2];
	const char		*tok;
	size_t			 i, n = 0, len;
	long			 dl;
	bool			 ok;

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

	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		id[0] = '\0';
		if (cm_path_match(piece[0], patterns[i], id, sizeof(id), &ok) &&
		    ok && strlen(id) >= sizeof(id))
			abort();
	}
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
	if (cm_if_match_parse(piece[4], &pre) == 0) {
		if (pre.n > CM_PRECONDITION_TAGS)
			abort();
		for (i = 0; i < pre.n; i++)
			if (strlen(pre.tag[i]) >= CM_PRECONDITION_TAG_MAX)
				abort();
		(void)cm_precondition_holds(&pre, "\"1.20260101000000000\"");
		(void)cm_precondition_holds(&pre, NULL);
	}
	len = cm_bearer_token(piece[4], &tok);
	if (len > 0 && (tok < piece[4] || tok + len > piece[4] +
	    strlen(piece[4])))
		abort();
	free(copy);
	return 0;
}
