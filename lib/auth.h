/*
 * auth.h - admin keys and client keys.
 *
 * Admin keys are "ak_" + 64 lowercase hex (32 bytes from getrandom());
 * only their SHA-256 (hex) is stored.  Client keys are a prefix + 32 lowercase
 * hex (16 bytes from getrandom()).
 */
#ifndef CM_AUTH_H
#define CM_AUTH_H

#include <stddef.h>

#define CM_SHA256_HEX_LEN 64
#define CM_CLIENT_KEY_LEN 35	/* "pk_" + 32 hex */
#define CM_ADMIN_KEY_LEN  67	/* "ak_" + 64 hex */

/* Fills buf with n bytes from getrandom(); 0 or -1 (errno set). */
int	cm_random_bytes(void *buf, size_t n);
/* out: CM_CLIENT_KEY_LEN + 1 bytes; prefix is "pk_" or "sk_". 0 or -1. */
int	cm_client_key(const char *prefix, char *out);
/* out: CM_ADMIN_KEY_LEN + 1 bytes. 0 or -1. */
int	cm_admin_key(char *out);
/* out: CM_SHA256_HEX_LEN + 1 bytes, lowercase hex. 0 or -1. */
int	cm_sha256_hex(const void *data, size_t len, char *out);

/*
 * Extracts the token from an Authorization header value: the scheme
 * "Bearer" matched case-insensitively, one or more spaces, then a token of
 * printable non-space ASCII and nothing after it.  Returns the token's
 * length and sets *tok, or 0 when the header is not a Bearer credential.
 */
size_t	cm_bearer_token(const char *header, const char **tok);

#endif
