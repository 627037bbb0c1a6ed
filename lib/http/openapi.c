/* openapi.c - the OpenAPI document, assembled into the binary. */
#include <stdio.h>

#include "random.h"
#include "openapi.h"

#ifndef CM_OPENAPI_JSON_FILE
#error "CM_OPENAPI_JSON_FILE (the path of doc/openapi.json) is not defined"
#endif

/*
 * The assembler copies the file's bytes into .rodata between two labels;
 * the Makefile makes this object depend on the file.  A NUL follows so a
 * debugger can print it; it is not part of the length.
 */
__asm__(
    ".section .rodata\n"
    ".balign 16\n"
    "cm_openapi_json_start:\n"
    ".incbin \"" CM_OPENAPI_JSON_FILE "\"\n"
    "cm_openapi_json_end:\n"
    ".byte 0\n"
    ".previous\n");
extern const char cm_openapi_json_start[] __asm__("cm_openapi_json_start");
extern const char cm_openapi_json_end[] __asm__("cm_openapi_json_end");

const char *
cm_openapi_json(size_t *len)
{
	*len = (size_t)(cm_openapi_json_end - cm_openapi_json_start);
	return cm_openapi_json_start;
}

int
cm_openapi_etag(char out[CM_OPENAPI_ETAG_SIZE])
{
	char	hex[CM_SHA256_HEX_LEN + 1];
	size_t	len;
	const char *doc = cm_openapi_json(&len);

	if (cm_sha256_hex(doc, len, hex) != 0)
		return -1;
	snprintf(out, CM_OPENAPI_ETAG_SIZE, "\"sha256-%s\"", hex);
	return 0;
}
