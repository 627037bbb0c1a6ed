/* config.c - the clientsd.conf INI file. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_paths.h"	/* generated: the configured paths */
#include "config.h"

/* How a key's value is parsed and stored. */
enum kind {
	K_STR,		/* char[size] */
	K_INT,		/* int in [min, max] */
	K_SIZE,		/* size_t in [min, max] */
	K_MODE,		/* unsigned, octal digits, in [min, max] */
	K_BOOL,		/* bool */
	K_POLICY,	/* enum cm_unknown_policy */
	K_PM,		/* enum cm_pm */
	K_LEVEL,	/* enum cm_log_level */
	K_SANDBOX,	/* enum cm_sandbox */
	K_HOSTS,	/* char[size], a list cm_dbnodes_parse() accepts */
	K_DBPOLICY,	/* enum cm_db_policy */
	K_TLS		/* enum cm_db_tls */
};

#define F_NONEMPTY	0x01	/* "" is not a valid value */

struct key {
	const char	*section;
	const char	*name;
	enum kind	 kind;
	size_t		 off;	/* offsetof(struct cm_config, ...) */
	size_t		 size;	/* K_STR: the buffer's size */
	long long	 min, max;
	int		 flags;
};

#define STR(s, n, f, fl) \
	{ s, n, K_STR, offsetof(struct cm_config, f), \
	  sizeof(((struct cm_config *)0)->f), 0, 0, fl }
#define NUM(s, n, k, f, lo, hi) \
	{ s, n, k, offsetof(struct cm_config, f), 0, lo, hi, F_NONEMPTY }

/* Every key; clientsd.conf(5) and conf/clientsd.conf list the same. */
static const struct key keys[] = {
	STR("server", "listen", listen, F_NONEMPTY),
	STR("server", "listen_owner", listen_owner, 0),
	STR("server", "listen_group", listen_group, 0),
	NUM("server", "listen_mode", K_MODE, listen_mode, 0, 0777),
	NUM("server", "backlog", K_INT, backlog, 1, 65535),
	NUM("server", "workers", K_INT, workers, 1, 256),
	STR("server", "user", user, 0),
	STR("server", "group", group, 0),
	STR("server", "pid_file", pid_file, 0),
	/* The pool's keys (see clientsd.conf(5)). */
	STR("server", "pool", pool_name, F_NONEMPTY),
	NUM("server", "pm", K_PM, pm, 0, 0),
	NUM("server", "min_spare", K_INT, min_spare, 1, 256),
	NUM("server", "max_spare", K_INT, max_spare, 1, 256),
	NUM("server", "start_workers", K_INT, start_workers, 1, 256),
	NUM("server", "idle_timeout", K_INT, idle_timeout, 1, 86400),
	NUM("server", "max_requests", K_INT, max_requests, 0, 1000000000),
	NUM("server", "request_timeout", K_INT, request_timeout, 2, 3600),
	NUM("server", "stop_timeout", K_INT, stop_timeout, 1, 3600),
	NUM("server", "slowlog_ms", K_INT, slowlog_ms, 0, 3600000),
	NUM("server", "allow_root", K_BOOL, allow_root, 0, 0),
	STR("server", "listen_allowed", listen_allowed, 0),
	STR("log", "target", log_target, F_NONEMPTY),
	NUM("log", "level", K_LEVEL, log_level, 0, 0),
	NUM("server", "sandbox", K_SANDBOX, sandbox, 0, 0),
	STR("database", "socket", db_socket, 0),
	STR("database", "host", db_host, 0),
	NUM("database", "port", K_INT, db_port, 1, 65535),
	STR("database", "name", db_name, F_NONEMPTY),
	STR("database", "user", db_user, F_NONEMPTY),
	STR("database", "password", db_password, 0),
	STR("database", "password_file", db_password_file, 0),
	NUM("database", "connect_timeout", K_INT, db_connect_timeout, 1, 300),
	NUM("database", "retries", K_INT, db_retries, 0, 1000),
	NUM("database", "lock_wait_timeout", K_INT, db_lock_wait_timeout, 0, 3600),
	NUM("database", "statement_timeout", K_INT, db_statement_timeout, 1, 3600),
	NUM("api", "body_limit", K_SIZE, body_limit, 1024, 16777216),
	NUM("api", "unknown_fields", K_POLICY, unknown_fields, 0, 0),
	NUM("api", "admin_key_query", K_BOOL, admin_key_query, 0, 0),
	NUM("api", "retry_after", K_INT, retry_after, 1, 3600),
	STR("api", "tzdata", tzdata, F_NONEMPTY),
	NUM("audit", "retention_days", K_INT, audit_retention_days, 0, 36500),
	NUM("api", "auth_cache_s", K_INT, auth_cache_s, 0, 3600),
	NUM("api", "auth_refused_cache_s", K_INT, auth_refused_cache_s, 0, 60),
	NUM("api", "idempotency_ttl_s", K_INT, idempotency_ttl_s, 1, 31536000),
	NUM("webhooks", "allow_http", K_BOOL, webhook_allow_http, 0, 0),
	NUM("webhooks", "allow_private", K_BOOL, webhook_allow_private, 0, 0),
	STR("webhooks", "user", webhook_user, F_NONEMPTY),
	NUM("webhooks", "connect_timeout", K_INT, webhook_connect_timeout, 1, 60),
	NUM("webhooks", "timeout", K_INT, webhook_timeout, 1, 300),
	NUM("webhooks", "retry_period", K_INT, webhook_retry_period, 1, 2592000),
	NUM("webhooks", "retry_min_ms", K_INT, webhook_retry_min_ms, 10, 3600000),
	NUM("webhooks", "retry_max_s", K_INT, webhook_retry_max_s, 1, 86400),
	NUM("webhooks", "lease_s", K_INT, webhook_lease_s, 2, 3600),
	NUM("webhooks", "poll_ms", K_INT, webhook_poll_ms, 10, 60000),
	NUM("webhooks", "settle_s", K_INT, webhook_settle_s, 0, 3600),
	/* Several endpoints, Galera, TLS. */
	{ "database", "hosts", K_HOSTS, offsetof(struct cm_config, db_hosts),
	  sizeof(((struct cm_config *)0)->db_hosts), 0, 0, 0 },
	NUM("database", "policy", K_DBPOLICY, db_policy, 0, 0),
	NUM("database", "galera", K_BOOL, db_galera, 0, 0),
	NUM("database", "allow_donor", K_BOOL, db_allow_donor, 0, 0),
	NUM("database", "causal_reads", K_BOOL, db_causal_reads, 0, 0),
	NUM("database", "failback_s", K_INT, db_failback_s, 1, 3600),
	NUM("database", "tls", K_TLS, db_tls, 0, 0),
	STR("database", "ca", db_tls_ca, 0),
	STR("database", "cert", db_tls_cert, 0),
	STR("database", "key", db_tls_key, 0),
};

void
cm_config_defaults(struct cm_config *cfg)
{

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->listen, CM_RUNSTATEDIR "/clientsd/clientsd.sock");
	cfg->listen_mode = 0660;
	cfg->backlog = 128;
	cfg->workers = 4;
	strcpy(cfg->pool_name, "clientsd");
	cfg->pm = CM_PM_STATIC;
	cfg->min_spare = 1;
	cfg->max_spare = 3;
	cfg->start_workers = 2;
	cfg->idle_timeout = 10;
	cfg->request_timeout = 30;
	cfg->stop_timeout = 30;
	strcpy(cfg->log_target, "stderr");
	cfg->log_level = CM_LOG_INFO;
	strcpy(cfg->db_socket, "/run/mysqld/mysqld.sock");
	strcpy(cfg->db_host, "127.0.0.1");
	cfg->db_port = 3306;
	strcpy(cfg->db_name, "clients");
	strcpy(cfg->db_user, "clients");
	cfg->db_connect_timeout = 2;
	cfg->db_retries = 10;
	cfg->db_lock_wait_timeout = 5;
	cfg->db_statement_timeout = 10;
	cfg->body_limit = 65536;
	cfg->unknown_fields = CM_UNKNOWN_REJECT;
	cfg->admin_key_query = false;	/* web servers log query strings */
	cfg->retry_after = 5;
	strcpy(cfg->tzdata, CM_TZDATA);
	cfg->auth_cache_s = 5;
	cfg->auth_refused_cache_s = 2;
	cfg->idempotency_ttl_s = 86400;
	cfg->db_policy = CM_DB_FAILOVER;
	cfg->db_failback_s = 5;
	cfg->db_tls = CM_TLS_OFF;
	strcpy(cfg->webhook_user, "clients_webhooks");
	cfg->webhook_connect_timeout = 5;
	cfg->webhook_timeout = 10;
	cfg->webhook_retry_period = 259200;	/* 3 days, as Stripe */
	cfg->webhook_retry_min_ms = 1000;
	cfg->webhook_retry_max_s = 3600;
	cfg->webhook_lease_s = 15;
	cfg->webhook_poll_ms = 500;
	/* Longer than any transaction lives (request_timeout), plus clock skew. */
	cfg->webhook_settle_s = 60;
}

static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* Trims leading and trailing white space in place. */
static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct key *
find_key(const char *section, const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool
known_section(const char *section)
{
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

/*
 * Decimal (base 10, optional leading '-') or octal (base 8) digits only:
 * no '+', no spaces, no "0x".  Returns 0, -1 (not a number) or -2 (does
 * not fit in a long long: out of range for every key).
 */
static int
parse_num(const char *s, int base, long long *out)
{
	const char	*p;
	char		*end;

	p = (base == 10 && *s == '-') ? s + 1 : s;
	if (*p == '\0')
		return -1;
	for (; *p != '\0'; p++)
		if (*p < '0' || *p > (base == 8 ? '7' : '9'))
			return -1;
	errno = 0;
	*out = strtoll(s, &end, base);
	if (errno == ERANGE)
		return -2;
	if (errno != 0 || *end != '\0')
		return -1;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static const char *const pm_names[] = { "static", "dynamic", "ondemand", NULL };
static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const policy_names[] = { "failover", "balance", NULL };
static const char *const tls_names[] = { "off", "required", "verify", NULL };

/* An enum stored as an int: the index of value in names (case-insensitive). */
static int
set_choice(char *field, const char *value, const char *const *names,
    const char *key, char *why, size_t whysz)
{
	size_t	i, n;
	int	len;

	for (i = 0; names[i] != NULL; i++)
		if (strcasecmp(value, names[i]) == 0) {
			*(int *)(void *)field = (int)i;
			return 0;
		}
	len = snprintf(why, whysz, "%s: bad value (", key);
	for (n = 0; names[n] != NULL && len > 0 && (size_t)len < whysz; n++)
		len += snprintf(why + len, whysz - len, "%s%s", n ? ", " : "",
		    names[n]);
	if (len > 0 && (size_t)len < whysz)
		snprintf(why + len, whysz - len, ")");
	return -1;
}

/*
 * Stores value for k into cfg.  On error writes the reason (without
 * "path:line: ") to why.  The value itself is never copied into the
 * reason: it may be the database password.
 */
static int
set_value(struct cm_config *cfg, const struct key *k, const char *value,
    char *why, size_t whysz)
{
	char		*field = (char *)cfg + k->off;
	struct cm_dbnodes nodes;
	long long	 n;
	bool		 b;
	int		 rc;

	if ((k->flags & F_NONEMPTY) && *value == '\0') {
		snprintf(why, whysz, "%s: empty value", k->name);
		return -1;
	}
	switch (k->kind) {
	case K_STR:
		if (strlen(value) >= k->size) {
			snprintf(why, whysz, "%s: value too long "
			    "(at most %zu bytes)", k->name, k->size - 1);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_INT:
	case K_SIZE:
	case K_MODE:
		rc = parse_num(value, k->kind == K_MODE ? 8 : 10, &n);
		if (rc == -1) {
			snprintf(why, whysz, "%s: %s", k->name,
			    k->kind == K_MODE ? "bad octal mode" :
			    "bad integer");
			return -1;
		}
		if (rc == -2 || n < k->min || n > k->max) {
			snprintf(why, whysz, k->kind == K_MODE ?
			    "%s: out of range (%llo..%04llo)" :
			    "%s: out of range (%lld..%lld)",
			    k->name, k->min, k->max);
			return -1;
		}
		if (k->kind == K_INT)
			*(int *)(void *)field = (int)n;
		else if (k->kind == K_SIZE)
			*(size_t *)(void *)field = (size_t)n;
		else
			*(unsigned *)(void *)field = (unsigned)n;
		return 0;
	case K_BOOL:
		if (parse_bool(value, &b) == -1) {
			snprintf(why, whysz, "%s: bad boolean "
			    "(true, false, yes, no, on, off, 1 or 0)", k->name);
			return -1;
		}
		*(bool *)(void *)field = b;
		return 0;
	case K_POLICY:
		if (strcasecmp(value, "reject") == 0)
			*(enum cm_unknown_policy *)(void *)field =
			    CM_UNKNOWN_REJECT;
		else if (strcasecmp(value, "ignore") == 0)
			*(enum cm_unknown_policy *)(void *)field =
			    CM_UNKNOWN_IGNORE;
		else {
			snprintf(why, whysz, "%s: bad value "
			    "(reject or ignore)", k->name);
			return -1;
		}
		return 0;
	case K_PM:
		return set_choice(field, value, pm_names, k->name, why, whysz);
	case K_DBPOLICY:
		return set_choice(field, value, policy_names, k->name, why,
		    whysz);
	case K_TLS:
		return set_choice(field, value, tls_names, k->name, why, whysz);
	case K_HOSTS:
		/* "" keeps socket/host/port; anything else must parse. */
		if (*value != '\0' &&
		    cm_dbnodes_parse(value, &nodes, why, whysz) != 0)
			return -1;
		if (strlen(value) >= k->size) {
			snprintf(why, whysz, "%s: value too long "
			    "(at most %zu bytes)", k->name, k->size - 1);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_LEVEL:
		return set_choice(field, value, level_names, k->name, why,
		    whysz);
	case K_SANDBOX:
		if (strcasecmp(value, "seccomp") == 0)
			*(enum cm_sandbox *)(void *)field = CM_SANDBOX_SECCOMP;
		else if (strcasecmp(value, "none") == 0)
			*(enum cm_sandbox *)(void *)field = CM_SANDBOX_NONE;
		else {
			snprintf(why, whysz, "%s: bad value "
			    "(seccomp or none)", k->name);
			return -1;
		}
		return 0;
	}
	snprintf(why, whysz, "%s: unsupported key", k->name);
	return -1;
}

/*
 * One line, already without its newline.  section is the current
 * section ("" before the first header), sectsz its buffer size.
 */
static int
parse_line(struct cm_config *cfg, char *line, char *section, size_t sectsz,
    const struct key **set, char *why, size_t whysz)
{
	const struct key *k;
	char		*s, *eq, *name, *value, *end;
	size_t		 len;

	s = trim(line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != '\0') {
			snprintf(why, whysz, "malformed section header");
			return -1;
		}
		*end = '\0';
		name = trim(s + 1);
		if (!known_section(name)) {
			snprintf(why, whysz, "unknown section [%.64s]", name);
			return -1;
		}
		/* Known names are short: this always fits. */
		snprintf(section, sectsz, "%s", name);
		return 0;
	}

	if ((eq = strchr(s, '=')) == NULL) {
		snprintf(why, whysz,
		    "malformed line (expected [section] or key = value)");
		return -1;
	}
	*eq = '\0';
	name = trim(s);
	value = trim(eq + 1);
	if (*name == '\0') {
		snprintf(why, whysz, "malformed line (no key before =)");
		return -1;
	}
	if (*section == '\0') {
		snprintf(why, whysz, "key %.64s outside of any section", name);
		return -1;
	}
	if ((k = find_key(section, name)) == NULL) {
		snprintf(why, whysz, "unknown key %.64s in [%s]",
		    name, section);
		return -1;
	}

	/* Optional double quotes keep leading or trailing spaces. */
	len = strlen(value);
	if (*value == '"') {
		if (len < 2 || value[len - 1] != '"') {
			snprintf(why, whysz, "%s: unterminated quote",
			    k->name);
			return -1;
		}
		value[len - 1] = '\0';
		value++;
	}
	*set = k;
	return set_value(cfg, k, value, why, whysz);
}

/* What no single key can check: the pool's keys together, the log target. */
static int
pool_check(const struct cm_config *c, char *why, size_t whysz)
{
	if (strcmp(c->log_target, "stderr") != 0 &&
	    strcmp(c->log_target, "syslog") != 0 && c->log_target[0] != '/') {
		snprintf(why, whysz, "target: stderr, syslog or an absolute "
		    "path");
		return -1;
	}
	if (c->pm == CM_PM_DYNAMIC && !(c->min_spare <= c->start_workers &&
	    c->start_workers <= c->max_spare && c->max_spare <= c->workers)) {
		snprintf(why, whysz, "pm = dynamic needs min_spare <= "
		    "start_workers <= max_spare <= workers (%d, %d, %d, %d)",
		    c->min_spare, c->start_workers, c->max_spare, c->workers);
		return -1;
	}
	return 0;
}

/*
 * Which of the endpoint keys one file set: hosts, or socket/host/port
 * (the last one seen), with their lines.  hosts replaces the other three,
 * so a file setting both is ambiguous: an error naming both keys.
 */
struct endpoint_keys {
	int		 hosts_line;
	int		 single_line;
	const char	*single;	/* "socket", "host" or "port" */
	int		 last_line;	/* of any [database] key */
};

static void
note_endpoint_key(struct endpoint_keys *ek, const struct key *k, int line)
{
	if (k == NULL || strcmp(k->section, "database") != 0)
		return;
	ek->last_line = line;
	if (strcmp(k->name, "hosts") == 0)
		ek->hosts_line = line;
	else if (strcmp(k->name, "socket") == 0 ||
	    strcmp(k->name, "host") == 0 || strcmp(k->name, "port") == 0) {
		ek->single_line = line;
		ek->single = k->name;
	}
}

/*
 * The [database] keys that go together: hosts or socket/host/port in one
 * file; cert and key both or neither; TLS files only with tls on.  A
 * later file that sets socket/host/port (and not hosts) replaces an
 * earlier file's hosts.
 */
static int
db_check(struct cm_config *c, const struct endpoint_keys *ek, int *line,
    char *why, size_t whysz)
{
	/* An empty hosts means "not set": the sample lists every key. */
	if (ek->hosts_line && ek->single_line && c->db_hosts[0] != '\0') {
		*line = ek->hosts_line > ek->single_line ? ek->hosts_line :
		    ek->single_line;
		snprintf(why, whysz, "hosts and %s are both set (hosts "
		    "replaces socket, host and port: keep one)", ek->single);
		return -1;
	}
	if (ek->single_line && !ek->hosts_line)
		c->db_hosts[0] = '\0';
	*line = ek->last_line;
	if ((c->db_tls_cert[0] == '\0') != (c->db_tls_key[0] == '\0')) {
		snprintf(why, whysz, "cert and key: set both or neither");
		return -1;
	}
	if (c->db_tls == CM_TLS_OFF && (c->db_tls_ca[0] || c->db_tls_cert[0])) {
		snprintf(why, whysz, "ca, cert and key need tls = required "
		    "or verify (tls is off)");
		return -1;
	}
	/* A statement may wait that long for a lock before it answers. */
	if (c->db_statement_timeout <= c->db_lock_wait_timeout) {
		snprintf(why, whysz, "statement_timeout (%d) must exceed "
		    "lock_wait_timeout (%d)", c->db_statement_timeout,
		    c->db_lock_wait_timeout);
		return -1;
	}
	return 0;
}

/*
 * Reads a secret file into out (outsz bytes): the whole file less one
 * trailing newline (LF or CRLF).  Returns 0, or -1 with errno-style
 * reason in why (never the contents); ENOENT is left in *missing so the
 * credential can be optional.
 */
static int
read_secret(const char *file, char *out, size_t outsz, bool *missing,
    char *why, size_t whysz)
{
	char	 buf[512];
	size_t	 n;
	FILE	*f;
	int	 rc = -1;

	if ((f = fopen(file, "r")) == NULL) {
		if (missing != NULL)
			*missing = errno == ENOENT;
		snprintf(why, whysz, "%s", strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f))
		snprintf(why, whysz, "%s", strerror(errno));
	else if (n == sizeof(buf))
		snprintf(why, whysz, "too long (at most %zu bytes)", outsz - 1);
	else {
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		if (memchr(buf, '\0', n) != NULL ||
		    memchr(buf, '\n', n) != NULL)
			snprintf(why, whysz, "more than one line, or a NUL byte");
		else if (n >= outsz)
			snprintf(why, whysz, "too long (at most %zu bytes)",
			    outsz - 1);
		else {
			memcpy(out, buf, n);
			out[n] = '\0';
			rc = 0;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return rc;
}

/* The database password from password_file or the systemd credential. */
static int
resolve_password(struct cm_config *cfg, const char *path, char *err,
    size_t errsz)
{
	const char	*dir = getenv("CREDENTIALS_DIRECTORY");
	char		 file[4096 + 64], why[128];
	bool		 missing = false;

	if (cfg->db_password_file[0] != '\0') {
		if (cfg->db_password[0] != '\0') {
			seterr(err, errsz, "%s: password and password_file "
			    "are both set", path);
			return -1;
		}
		if (read_secret(cfg->db_password_file, cfg->db_password,
		    sizeof(cfg->db_password), NULL, why, sizeof(why)) != 0) {
			seterr(err, errsz, "%s: password_file %s: %s", path,
			    cfg->db_password_file, why);
			return -1;
		}
		return 0;
	}
	if (dir == NULL || dir[0] == '\0')
		return 0;
	snprintf(file, sizeof(file), "%.4096s/%s", dir,
	    CM_DB_PASSWORD_CREDENTIAL);
	if (read_secret(file, cfg->db_password, sizeof(cfg->db_password),
	    &missing, why, sizeof(why)) != 0) {
		if (missing)
			return 0;	/* no such credential: keep password */
		seterr(err, errsz, "credential %s: %s", file, why);
		return -1;
	}
	return 0;
}

int
cm_config_load(struct cm_config *cfg, const char *path,
    char *err, size_t errsz)
{
	struct cm_config tmp;
	struct endpoint_keys ek = { 0, 0, NULL, 0 };
	const struct key *set;
	int		 dbline = 0;
	FILE		*f;
	char		*line = NULL;
	size_t		 cap = 0, lineno = 0;
	ssize_t		 n;
	char		 section[32] = "", why[256];
	int		 rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		seterr(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Work on a copy: on any error cfg is left as it was. */
	tmp = *cfg;
	/*
	 * password and password_file are judged per file: a file read over
	 * another (clientsctl-migrate.conf over clientsd.conf) may set either
	 * without clashing with what the first one set.
	 */
	tmp.db_password[0] = '\0';
	tmp.db_password_file[0] = '\0';
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (strlen(line) != (size_t)n) {
			seterr(err, errsz, "%s:%zu: NUL byte in line",
			    path, lineno);
			rc = -1;
			break;
		}
		set = NULL;
		if (parse_line(&tmp, line, section, sizeof(section),
		    &set, why, sizeof(why)) == -1) {
			seterr(err, errsz, "%s:%zu: %s", path, lineno, why);
			rc = -1;
			break;
		}
		if (strcmp(section, "server") == 0 || strcmp(section, "log") == 0)
			tmp.server_line = (int)lineno;
		note_endpoint_key(&ek, set, (int)lineno);
	}
	if (rc == 0 && pool_check(&tmp, why, sizeof(why)) == -1) {
		seterr(err, errsz, "%s:%d: %s", path, tmp.server_line, why);
		rc = -1;
	}
	if (rc == 0 && db_check(&tmp, &ek, &dbline, why, sizeof(why)) == -1) {
		seterr(err, errsz, "%s:%d: %s", path, dbline, why);
		rc = -1;
	}
	if (rc == 0 && ferror(f)) {
		seterr(err, errsz, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	/* The password passed through line: scrub it before freeing. */
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	if (rc == 0 && tmp.db_password[0] == '\0' &&
	    tmp.db_password_file[0] == '\0') {
		/* Neither set here: keep what an earlier file gave. */
		memcpy(tmp.db_password, cfg->db_password,
		    sizeof(tmp.db_password));
		memcpy(tmp.db_password_file, cfg->db_password_file,
		    sizeof(tmp.db_password_file));
		if (tmp.db_password_file[0] == '\0')
			rc = resolve_password(&tmp, path, err, errsz);
	} else if (rc == 0)
		rc = resolve_password(&tmp, path, err, errsz);
	if (rc == 0)
		*cfg = tmp;
	explicit_bzero(&tmp, sizeof(tmp));
	return rc;
}

const char *
cm_config_default_path(void)
{
	const char	*path = getenv("CLIENTSD_CONFIG");

	return (path != NULL && path[0] != '\0') ? path :
	    CM_CONFIG_PATH;
}
