/*
 * dbhosts.c - the [database] hosts list, parsed (dbhosts.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbhosts.h"

/* Digits only, 1..65535; else 0. */
static unsigned
parse_port(const char *s)
{
	unsigned long	v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	return v >= 1 && v <= 65535 ? (unsigned)v : 0;
}

/* A host name or address: no spaces, brackets, slashes or colons left. */
static bool
host_ok(const char *h, bool v6)
{
	if (*h == '\0')
		return false;
	for (; *h != '\0'; h++)
		if (isspace((unsigned char)*h) || *h == '[' || *h == ']' ||
		    *h == '/' || *h == '\\' || (*h == ':' && !v6))
			return false;
	return true;
}

/* "host:port" or "[v6]:port" into node; the reason in why on error. */
static int
parse_tcp(const char *e, struct cm_dbnode *node, char *why, size_t whysz)
{
	const char	*colon, *hs = e, *he;
	bool		 v6 = *e == '[';

	if (v6) {
		hs = e + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':') {
			snprintf(why, whysz, "hosts: entry \"%.64s\": expected "
			    "[address]:port", e);
			return -1;
		}
		colon = he + 1;
	} else if ((colon = strrchr(e, ':')) == NULL) {
		snprintf(why, whysz, "hosts: entry \"%.64s\": expected "
		    "host:port, [address]:port or /socket", e);
		return -1;
	} else
		he = colon;
	if ((size_t)(he - hs) >= sizeof(node->host)) {
		snprintf(why, whysz, "hosts: entry \"%.64s\": host too long", e);
		return -1;
	}
	memcpy(node->host, hs, (size_t)(he - hs));
	node->host[he - hs] = '\0';
	if (!host_ok(node->host, v6)) {
		snprintf(why, whysz, "hosts: entry \"%.64s\": bad host%s", e,
		    !v6 && strchr(node->host, ':') ? " (an IPv6 address goes "
		    "in brackets: [::1]:3306)" : "");
		return -1;
	}
	if ((node->port = parse_port(colon + 1)) == 0) {
		snprintf(why, whysz, "hosts: entry \"%.64s\": port must be "
		    "1..65535", e);
		return -1;
	}
	node->socket = false;
	snprintf(node->label, sizeof(node->label), v6 ? "[%s]:%u" : "%s:%u",
	    node->host, node->port);
	return 0;
}

static int
parse_entry(const char *e, struct cm_dbnode *node, char *why, size_t whysz)
{
	if (*e == '\0') {
		snprintf(why, whysz, "hosts: empty entry");
		return -1;
	}
	if (*e != '/')
		return parse_tcp(e, node, why, whysz);
	if (strlen(e) >= sizeof(node->host)) {
		snprintf(why, whysz, "hosts: socket path \"%.64s...\" too long", e);
		return -1;
	}
	node->socket = true;
	node->port = 0;
	snprintf(node->host, sizeof(node->host), "%s", e);
	snprintf(node->label, sizeof(node->label), "%s", e);
	return 0;
}

/* Copies the entry [s, e) without surrounding white space into buf. */
static void
entry_copy(const char *s, const char *e, char *buf, size_t bufsz)
{
	size_t	n;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - s) < bufsz - 1 ? (size_t)(e - s) : bufsz - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

int
cm_dbnodes_parse(const char *list, struct cm_dbnodes *out, char *why,
    size_t whysz)
{
	const char	*s = list, *comma;
	char		 entry[300];
	size_t		 i;

	out->n = 0;
	for (;;) {
		comma = strchr(s, ',');
		entry_copy(s, comma ? comma : s + strlen(s), entry,
		    sizeof(entry));
		if (out->n == CM_DBNODES_MAX) {
			snprintf(why, whysz, "hosts: at most %d entries",
			    CM_DBNODES_MAX);
			return -1;
		}
		if (parse_entry(entry, &out->node[out->n], why, whysz) != 0)
			return -1;
		for (i = 0; i < out->n; i++)
			if (strcmp(out->node[i].label,
			    out->node[out->n].label) == 0) {
				snprintf(why, whysz, "hosts: %.64s listed twice",
				    out->node[i].label);
				return -1;
			}
		out->n++;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

void
cm_dbnodes_single(const char *socket, const char *host, int port,
    struct cm_dbnodes *out)
{
	struct cm_dbnode	*n = &out->node[0];

	out->n = 1;
	n->socket = socket[0] != '\0';
	snprintf(n->host, sizeof(n->host), "%s", n->socket ? socket : host);
	n->port = n->socket ? 0 : (unsigned)port;
	if (n->socket)
		snprintf(n->label, sizeof(n->label), "%s", n->host);
	else
		snprintf(n->label, sizeof(n->label),
		    strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host, n->port);
}
