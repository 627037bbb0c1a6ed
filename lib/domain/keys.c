/* keys.c - the keys this service generates (keys.h). */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keys.h"
#include "random.h"

#define CLIENT_KEY_BYTES 16
#define ADMIN_KEY_BYTES  32

/* out gets prefix (3 bytes) + 2 * n hex digits + NUL. */
static int
random_key(const char *prefix, size_t n, char *out)
{
	unsigned char	 raw[ADMIN_KEY_BYTES];

	if (n > sizeof(raw) || cm_random_bytes(raw, n) == -1)
		return -1;
	memcpy(out, prefix, 3);
	cm_hex_encode(raw, n, out + 3);
	/* The raw bytes are the key: do not leave them on the stack. */
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int
cm_client_key(const char *prefix, char *out)
{

	if (prefix == NULL ||
	    (strcmp(prefix, "pk_") != 0 && strcmp(prefix, "sk_") != 0)) {
		errno = EINVAL;
		return -1;
	}
	return random_key(prefix, CLIENT_KEY_BYTES, out);
}

int
cm_admin_key(char *out)
{

	return random_key("ak_", ADMIN_KEY_BYTES, out);
}
