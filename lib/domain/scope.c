/*
 * scope.c - see scope.h.
 */
#include <stdio.h>
#include <string.h>

#include "scope.h"

static const char *const names[CM_SCOPE_COUNT] = {
	"clients:read", "clients:write", "clients:delete", "clients:erase",
	"keys:rotate", "audit:read", "pool:status", "events:read",
	"webhooks:manage"
};

const char *
cm_scope_name(unsigned bit)
{
	size_t	i;

	for (i = 0; i < CM_SCOPE_COUNT; i++)
		if (bit == 1u << i)
			return names[i];
	return NULL;
}

unsigned
cm_scope_bit(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < CM_SCOPE_COUNT; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return 1u << i;
	return 0;
}

/* One word of the list, [s, s + len) trimmed of spaces: its bits, or 0. */
static unsigned
word_bits(const char *s, size_t len)
{
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 3 && memcmp(s, "all", 3) == 0)
		return CM_SCOPE_ALL;
	return cm_scope_bit(s, len);
}

int
cm_scope_parse(const char *text, bool ignore_unknown, unsigned *out,
    char *bad, size_t badsz)
{
	const char	*p = text, *comma;
	size_t		 len;
	unsigned	 bits;

	*out = 0;
	if (badsz > 0)
		bad[0] = '\0';
	if (*text == '\0')
		return 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if ((bits = word_bits(p, len)) != 0)
			*out |= bits;
		else if (!ignore_unknown || strspn(p, " ") >= len) {
			snprintf(bad, badsz, "%.*s", (int)len, p);
			return -1;
		}
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

int
cm_scope_format(unsigned scopes, char *buf, size_t sz)
{
	size_t	i, n = 0, len;

	if (sz == 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < CM_SCOPE_COUNT; i++) {
		if (!(scopes & (1u << i)))
			continue;
		len = strlen(names[i]);
		if (n + (n > 0) + len + 1 > sz)
			return -1;
		if (n > 0)
			buf[n++] = ',';
		memcpy(buf + n, names[i], len + 1);
		n += len;
	}
	return (int)n;
}
