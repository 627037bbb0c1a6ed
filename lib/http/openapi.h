/*
 * openapi.h - the API's own OpenAPI document, built into the program.
 *
 * doc/openapi.yaml is turned into doc/openapi.json at build time (the
 * tarball ships the JSON, so no YAML tool is needed to build a release)
 * and the JSON bytes are assembled into the binary with .incbin: serving
 * it opens no file, which a sandboxed worker could not do.
 */
#ifndef CM_OPENAPI_H
#define CM_OPENAPI_H

#include <stddef.h>

/* "\"sha256-" + 64 hex + "\"" + NUL */
#define CM_OPENAPI_ETAG_SIZE 74

/* The document (static, not NUL-terminated within *len bytes). */
const char	*cm_openapi_json(size_t *len);
/* Its strong ETag, the SHA-256 of the bytes, into out.  0 or -1. */
int		 cm_openapi_etag(char out[CM_OPENAPI_ETAG_SIZE]);

#endif
