/*
 * idempotency.h - the pure parts of Idempotency-Key: checking
 * the header, the request's fingerprint, and reading a header back out of
 * a response's header lines.  No database, no logging: unit-tested as is.
 * The data access is in store_idem.h.
 */
#ifndef CM_IDEMPOTENCY_H
#define CM_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>

#define CM_IDEM_KEY_MAX		255
#define CM_IDEM_FP_LEN		64	/* hex SHA-256 */

/* An Idempotency-Key value: 1..255 visible ASCII characters (0x21-0x7e). */
bool	cm_idem_key_valid(const char *key);

/*
 * The fingerprint of a request, method + path + body hash (so a retry
 * must be the very same request, whatever its headers): the hex
 * SHA-256 of "METHOD\nPATH\n" followed by the hex SHA-256 of the body's
 * len bytes.  path is the canonical path (the decoded id),
 * so two spellings of one request fingerprint the same.  out: at least
 * CM_IDEM_FP_LEN + 1 bytes.  0, or -1 when hashing failed.
 */
int	cm_idem_fingerprint(const char *method, const char *path,
	    const void *body, size_t len, char *out);

/*
 * The value of header name (case-insensitive) in lines of "Name: value\r\n",
 * copied into out (NUL-terminated, cut at outsz - 1).  true when found.
 */
bool	cm_idem_header(const char *lines, const char *name, char *out,
	    size_t outsz);

#endif
