/* random.c - random bytes from getrandom(), hex, SHA-256 (random.h). */
#include <sys/mman.h>

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

/*
 * The page of cm_random_ids(): how many bytes are left, then the bytes.
 * XXX: process state, like the log's; a child gets it wiped, never copied.
 */
#define IDS_PAGE	4096
struct ids_page {
	size_t		left;
	unsigned char	bytes[IDS_PAGE - sizeof(size_t)];
};
static struct ids_page	*ids;

int
cm_random_ids(void *buf, size_t n)
{
	void	*p;

	if (n > sizeof(ids->bytes))
		return cm_random_bytes(buf, n);
	if (ids == NULL) {
		p = mmap(NULL, IDS_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return cm_random_bytes(buf, n);
		/* Without it (a kernel before 4.14), every call draws anew. */
		if (madvise(p, IDS_PAGE, MADV_WIPEONFORK) != 0) {
			munmap(p, IDS_PAGE);
			return cm_random_bytes(buf, n);
		}
		ids = p;
	}
	if (ids->left < n) {
		if (cm_random_bytes(ids->bytes, sizeof(ids->bytes)) != 0)
			return -1;
		ids->left = sizeof(ids->bytes);
	}
	ids->left -= n;
	memcpy(buf, ids->bytes + ids->left, n);
	/* What was handed out is not kept. */
	explicit_bzero(ids->bytes + ids->left, n);
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
