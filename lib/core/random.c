/* random.c - random bytes from getrandom(), hex, SHA-256 (random.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "random.h"

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

void
cm_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
cm_sha256_hex(const void *data, size_t len, char *out)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != CM_SHA256_HEX_LEN)
		return -1;
	cm_hex_encode(md, mdlen, out);
	return 0;
}
