/*
 * random.h - the randomness and hashing everything else builds on: bytes
 * from getrandom(), lowercase hex, SHA-256.
 */
#ifndef CM_RANDOM_H
#define CM_RANDOM_H

#include <stddef.h>

#define CM_SHA256_HEX_LEN 64

/* Fills buf with n bytes from getrandom(); 0 or -1 (errno set). */
int	cm_random_bytes(void *buf, size_t n);
/*
 * The same bytes, drawn from getrandom() a page at a time: for the
 * identifiers a request makes (its id, its transaction's token, a retry's
 * jitter), not for keys.  The page is wiped in a forked child
 * (MADV_WIPEONFORK), so no two processes ever hand out the same bytes.
 * 0 or -1 (errno set).
 */
int	cm_random_ids(void *buf, size_t n);
/* Writes 2 * n lowercase hex digits and a NUL to out. */
void	cm_hex_encode(const unsigned char *in, size_t n, char *out);
/* out: CM_SHA256_HEX_LEN + 1 bytes, lowercase hex. 0 or -1. */
int	cm_sha256_hex(const void *data, size_t len, char *out);

#endif
