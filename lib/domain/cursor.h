/*
 * cursor.h - opaque, tamper-evident keyset cursors for paged lists.
 *
 * A cursor is "<position>.<mac>", both base64url without padding: the
 * position is where the last page ended (written and read only by the
 * data layer), the mac an HMAC-SHA256 (first 16 bytes) over the list's
 * scope and the position with the installation's cursor secret.  The
 * scope names the list and its filters ("clients" + filter values,
 * "audit" + client id), so a cursor of another list, of the same list
 * with other filters, or with any byte changed does not open.
 */
#ifndef CM_CURSOR_H
#define CM_CURSOR_H

#include <stddef.h>

/* Longest position, longest cursor (with its NUL). */
#define CM_CURSOR_POS_MAX	300
#define CM_CURSOR_MAX		((CM_CURSOR_POS_MAX + 2) / 3 * 4 + 1 + 22 + 1)

/*
 * Writes the cursor of pos (NUL-terminated, at most CM_CURSOR_POS_MAX
 * bytes) for scope to out (CM_CURSOR_MAX bytes).  0, or -1 when pos is
 * too long or HMAC fails.
 */
int	cm_cursor_make(const unsigned char *key, size_t keylen,
	    const char *scope, size_t scopelen, const char *pos,
	    char *out, size_t outsz);
/*
 * Checks cursor against scope and writes its position, NUL-terminated, to
 * pos (CM_CURSOR_POS_MAX + 1 bytes).  0, or -1 when it is malformed, was
 * made for another scope or with another key, or was changed.
 */
int	cm_cursor_open(const unsigned char *key, size_t keylen,
	    const char *scope, size_t scopelen, const char *cursor,
	    char *pos, size_t possz);

#endif
