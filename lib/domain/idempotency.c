/* idempotency.c - Idempotency-Key's pure parts (see idempotency.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "random.h"
#include "idempotency.h"

bool
cm_idem_key_valid(const char *key)
{
	size_t	i;

	if (key == NULL)
		return false;
	for (i = 0; key[i] != '\0'; i++)
		if (i >= CM_IDEM_KEY_MAX || key[i] < 0x21 || key[i] > 0x7e)
			return false;
	return i > 0;
}

int
cm_idem_fingerprint(const char *method, const char *path, const void *body,
    size_t len, char *out)
{
	char	bodyhash[CM_SHA256_HEX_LEN + 1];
	char	text[16 + 512 + CM_SHA256_HEX_LEN];
	int	n;

	if (cm_sha256_hex(body, len, bodyhash) != 0)
		return -1;
	n = snprintf(text, sizeof(text), "%s\n%s\n%s", method, path, bodyhash);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -1;
	return cm_sha256_hex(text, (size_t)n, out);
}

bool
cm_idem_header(const char *lines, const char *name, char *out, size_t outsz)
{
	size_t		 nlen = strlen(name), vlen;
	const char	*p, *end;

	for (p = lines; p != NULL && *p != '\0'; p = end + 2) {
		if ((end = strstr(p, "\r\n")) == NULL)
			return false;
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		p += nlen + 1;
		while (*p == ' ')
			p++;
		vlen = (size_t)(end - p);
		if (outsz == 0)
			return true;
		if (vlen >= outsz)
			vlen = outsz - 1;
		memcpy(out, p, vlen);
		out[vlen] = '\0';
		return true;
	}
	return false;
}
