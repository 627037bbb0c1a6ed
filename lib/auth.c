/* auth.c - admin keys, client keys and the Authorization header. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"

#define CLIENT_KEY_BYTES 16
#define ADMIN_KEY_BYTES  32

int
cm_random_bytes(void *buf, size_t n)
{
	unsigned char	*p = buf;
	ssize_t		 got;

	/*
	 * getrandom() may return fewer bytes than asked (above 256 bytes,
	 * or when a signal arrives) and fails with EINTR if interrupted
	 * before returning anything.
	 */
	while (n > 0) {
		got = getrandom(p, n, 0);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Writes 2 * n lowercase hex digits and a NUL to out. */
static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* out gets prefix (3 bytes) + 2 * n hex digits + NUL. */
static int
random_key(const char *prefix, size_t n, char *out)
{
	unsigned char	 raw[ADMIN_KEY_BYTES];

	if (n > sizeof(raw) || cm_random_bytes(raw, n) == -1)
		return -1;
	memcpy(out, prefix, 3);
	hex_encode(raw, n, out + 3);
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

int
cm_sha256_hex(const void *data, size_t len, char *out)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != CM_SHA256_HEX_LEN)
		return -1;
	hex_encode(md, mdlen, out);
	return 0;
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
