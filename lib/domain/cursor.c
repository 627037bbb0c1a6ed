/*
 * cursor.c - keyset cursors: base64url(position) "." base64url(mac).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cursor.h"

#define MAC_LEN		16	/* bytes of HMAC-SHA256 kept: 128 bits */
#define MAC_B64		22	/* their base64url length */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out must hold (n + 2) / 3 * 4 + 1. */
static size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t		i, o = 0;
	unsigned long	v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

/*
 * Decodes n characters; -1 on a character outside the alphabet, a length
 * no encoder makes, non-zero padding bits (two spellings of one value), or
 * more than outsz bytes.  Returns the decoded length.
 */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	unsigned long	v = 0;
	size_t		i, o = 0;
	int		d, bits = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((d = b64_value(in[i])) < 0)
			return -1;
		v = (v << 6 | (unsigned long)d) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	if (bits > 0 && (v & ((1ul << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

/* HMAC-SHA256(key, scope NUL pos), first MAC_LEN bytes. */
static int
mac(const unsigned char *key, size_t keylen, const char *scope,
    size_t scopelen, const char *pos, size_t poslen, unsigned char *out)
{
	unsigned char	 msg[2048], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (scopelen + 1 + poslen > sizeof(msg) || keylen > 1024)
		return -1;
	memcpy(msg, scope, scopelen);
	msg[scopelen] = '\0';
	memcpy(msg + scopelen + 1, pos, poslen);
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, scopelen + 1 + poslen,
	    md, &mdlen) == NULL || mdlen < MAC_LEN)
		return -1;
	memcpy(out, md, MAC_LEN);
	return 0;
}

int
cm_cursor_make(const unsigned char *key, size_t keylen, const char *scope,
    size_t scopelen, const char *pos, char *out, size_t outsz)
{
	unsigned char	m[MAC_LEN];
	size_t		poslen = strlen(pos), n;

	if (poslen > CM_CURSOR_POS_MAX || outsz < CM_CURSOR_MAX ||
	    mac(key, keylen, scope, scopelen, pos, poslen, m) != 0)
		return -1;
	n = b64_encode((const unsigned char *)pos, poslen, out);
	out[n++] = '.';
	b64_encode(m, MAC_LEN, out + n);
	return 0;
}

int
cm_cursor_open(const unsigned char *key, size_t keylen, const char *scope,
    size_t scopelen, const char *cursor, char *pos, size_t possz)
{
	unsigned char	 want[MAC_LEN], got[MAC_LEN + 1];
	const char	*dot;
	long		 n;

	if (possz < CM_CURSOR_POS_MAX + 1 ||
	    (dot = strchr(cursor, '.')) == NULL ||
	    strlen(dot + 1) != MAC_B64 ||
	    b64_decode(dot + 1, MAC_B64, got, sizeof(got)) != MAC_LEN)
		return -1;
	n = b64_decode(cursor, (size_t)(dot - cursor), (unsigned char *)pos,
	    CM_CURSOR_POS_MAX);
	if (n <= 0 || memchr(pos, '\0', (size_t)n) != NULL)
		return -1;
	pos[n] = '\0';
	if (mac(key, keylen, scope, scopelen, pos, (size_t)n, want) != 0 ||
	    CRYPTO_memcmp(want, got, MAC_LEN) != 0) {
		pos[0] = '\0';
		return -1;
	}
	return 0;
}
