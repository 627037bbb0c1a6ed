/*
 * keys.h - admin keys and client keys.
 *
 * Admin keys are "ak_" + 64 lowercase hex (32 bytes from getrandom());
 * only their SHA-256 (hex) is stored.  Client keys are a prefix + 32
 * lowercase hex (16 bytes from getrandom()).
 */
#ifndef CM_KEYS_H
#define CM_KEYS_H

#define CM_CLIENT_KEY_LEN 35	/* "pk_" + 32 hex */
#define CM_ADMIN_KEY_LEN  67	/* "ak_" + 64 hex */

/* out: CM_CLIENT_KEY_LEN + 1 bytes; prefix is "pk_" or "sk_". 0 or -1. */
int	cm_client_key(const char *prefix, char *out);
/* out: CM_ADMIN_KEY_LEN + 1 bytes. 0 or -1. */
int	cm_admin_key(char *out);

#endif
