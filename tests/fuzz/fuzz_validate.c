/*
 * fuzz_validate.c - every validator of the client object's members on any bytes
 * (they take a length, not a C string), the api_metadata key rule, the
 * tz database lookup, and the duplicate-key message parser of the data
 * layer (the message carries a client's value).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dberr.h"
#include "tzdb.h"
#include "validate.h"

static struct cm_tzdb	*tzdb;

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	err[256];

	(void)argc;
	(void)argv;
	tzdb = cm_tzdb_load("/usr/share/zoneinfo/tzdata.zi", err, sizeof(err));
	return 0;
}

static const struct cm_verdict *(*const checks[])(const char *, size_t) = {
	cm_check_token, cm_check_name, cm_check_domain, cm_check_email,
	cm_check_phone, cm_check_website, cm_check_global_name,
	cm_check_proxy_api_key, cm_check_metadata_key,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cm_verdict	*v;
	const char		*s, *member;
	char			*copy, key[193];
	size_t			 i, len;
	int			 n;

	/* An exact-size heap copy: any read past len is an ASan report. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if ((v = checks[i](copy, size)) != NULL &&
		    (v->code == NULL || v->message == NULL))
			abort();
	(void)cm_js_reserved_word(copy, size);
	if (cm_utf8_codepoints(copy, size) > size)
		abort();
	s = copy;
	len = size;
	cm_trim_spaces(&s, &len);
	if (s < copy || s + len > copy + size)
		abort();
	if (tzdb != NULL)
		(void)cm_tzdb_has(tzdb, copy, size);
	cm_ascii_lower(copy, size);
	free(copy);

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if ((n = cm_dberr_dup_key(copy, key, sizeof(key))) >= 0 &&
	    ((size_t)n != strlen(key) || n == 0))
		abort();
	(void)cm_dberr_dup_member(copy, &member);
	free(copy);
	return 0;
}
