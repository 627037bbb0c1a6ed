/* check_config.c - unit tests for config.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "cm_paths.h"
#include "config.h"
#include "unit_run.h"

#ifndef TEST_DATADIR
#error "TEST_DATADIR must name tests/unit/data"
#endif

#define DATA(f)		TEST_DATADIR "/" f
#ifndef TEST_GENDIR
#error "TEST_GENDIR must name the build's gen/"
#endif
/*
 * The sample configuration shipped in conf/, with the configured paths
 * filled in (packaging.am), and the clientsd.conf `make install` puts in
 * place: the same with the system settings switched on.
 */
#define SAMPLE		TEST_GENDIR "/clientsd.conf.defaults"
#define INSTALLED	TEST_GENDIR "/clientsd.conf"

static void
assert_defaults(const struct cm_config *c)
{

	ck_assert_str_eq(c->listen, CM_RUNSTATEDIR "/clientsd/clientsd.sock");
	ck_assert_str_eq(c->listen_owner, "");
	ck_assert_str_eq(c->listen_group, "");
	ck_assert_uint_eq(c->listen_mode, 0660);
	ck_assert_int_eq(c->backlog, 128);
	ck_assert_int_eq(c->workers, 4);
	ck_assert_str_eq(c->user, "");
	ck_assert_str_eq(c->group, "");
	ck_assert_str_eq(c->pid_file, "");
	ck_assert_int_eq(c->sandbox, CM_SANDBOX_SECCOMP);
	ck_assert_str_eq(c->db_socket, "/run/mysqld/mysqld.sock");
	ck_assert_str_eq(c->db_host, "127.0.0.1");
	ck_assert_int_eq(c->db_port, 3306);
	ck_assert_str_eq(c->db_name, "clients");
	ck_assert_str_eq(c->db_user, "clients");
	ck_assert_str_eq(c->db_password, "");
	ck_assert_str_eq(c->db_password_file, "");
	ck_assert_int_eq(c->db_connect_timeout, 2);
	ck_assert_int_eq(c->db_retries, 10);
	ck_assert_int_eq(c->db_lock_wait_timeout, 5);
	ck_assert_int_eq(c->db_statement_timeout, 10);
	ck_assert_uint_eq(c->body_limit, 65536);
	ck_assert_int_eq(c->unknown_fields, CM_UNKNOWN_REJECT);
	/* Off: web servers log query strings. */
	ck_assert(!c->admin_key_query);
	ck_assert_int_eq(c->retry_after, 5);
	ck_assert_str_eq(c->tzdata, CM_TZDATA);
	ck_assert_int_eq(c->audit_retention_days, 0);
	ck_assert_int_eq(c->auth_cache_s, 5);
	ck_assert_int_eq(c->auth_refused_cache_s, 2);
	ck_assert_int_eq(c->idempotency_ttl_s, 86400);
	/* One node (the socket), failover, no Galera, no TLS. */
	ck_assert_str_eq(c->db_hosts, "");
	ck_assert_int_eq(c->db_policy, CM_DB_FAILOVER);
	ck_assert(!c->db_galera);
	ck_assert(!c->db_allow_donor);
	ck_assert(!c->db_causal_reads);
	ck_assert_int_eq(c->db_failback_s, 5);
	ck_assert_int_eq(c->db_tls, CM_TLS_OFF);
	ck_assert_str_eq(c->db_tls_ca, "");
	ck_assert_str_eq(c->db_tls_cert, "");
	ck_assert_str_eq(c->db_tls_key, "");
}

/* Loads path over the defaults; the file must be good. */
static void
load_ok(struct cm_config *c, const char *path)
{
	char	 err[512] = "";

	cm_config_defaults(c);
	ck_assert_msg(cm_config_load(c, path, err, sizeof(err)) == 0,
	    "%s: %s", path, err);
}

START_TEST(defaults)
{
	struct cm_config c;

	memset(&c, 0xa5, sizeof(c));
	cm_config_defaults(&c);
	assert_defaults(&c);
}
END_TEST

START_TEST(good_file_sets_every_key)
{
	struct cm_config c;

	load_ok(&c, DATA("config-good.conf"));
	ck_assert_str_eq(c.listen, "127.0.0.1:9000");
	ck_assert_str_eq(c.listen_owner, "www-data");
	ck_assert_str_eq(c.listen_group, "www-data");
	ck_assert_uint_eq(c.listen_mode, 0666);
	ck_assert_int_eq(c.backlog, 512);
	ck_assert_int_eq(c.workers, 16);
	ck_assert_str_eq(c.user, "clientsd");
	ck_assert_str_eq(c.group, "nogroup");
	ck_assert_str_eq(c.pid_file, "/run/clientsd/clientsd.pid");
	ck_assert_str_eq(c.db_socket, "");
	ck_assert_str_eq(c.db_host, "db.example.internal");
	ck_assert_int_eq(c.db_port, 3307);
	ck_assert_str_eq(c.db_name, "clients_test");
	ck_assert_str_eq(c.db_user, "clients_rw");
	/* Quotes keep the spaces; '#', ';' and '=' are plain characters. */
	ck_assert_str_eq(c.db_password, " p#ss=word; with spaces ");
	ck_assert_int_eq(c.db_connect_timeout, 10);
	ck_assert_int_eq(c.db_retries, 0);
	ck_assert_uint_eq(c.body_limit, 1048576);
	ck_assert_int_eq(c.unknown_fields, CM_UNKNOWN_IGNORE);
	ck_assert(c.admin_key_query);
	ck_assert_int_eq(c.sandbox, CM_SANDBOX_NONE);
	ck_assert_int_eq(c.retry_after, 30);
	ck_assert_str_eq(c.tzdata, "/opt/tz/tzdata.zi");
}
END_TEST

START_TEST(empty_and_comment_files_keep_defaults)
{
	struct cm_config c;

	load_ok(&c, DATA("config-empty.conf"));
	assert_defaults(&c);
	load_ok(&c, DATA("config-comments.conf"));
	assert_defaults(&c);
}
END_TEST

/* Sections may repeat; a key set twice keeps its last value. */
START_TEST(partial_file_overrides_only_its_keys)
{
	struct cm_config c, d;

	load_ok(&c, DATA("config-partial.conf"));
	ck_assert_int_eq(c.retry_after, 9);
	ck_assert_int_eq(c.workers, 3);
	ck_assert_uint_eq(c.body_limit, 2048);
	c.retry_after = 5;
	c.workers = 4;
	c.body_limit = 65536;
	assert_defaults(&c);

	/* Loading reads over what is already in cfg, not the defaults. */
	cm_config_defaults(&d);
	d.db_port = 1234;
	ck_assert_int_eq(cm_config_load(&d, DATA("config-partial.conf"),
	    NULL, 0), 0);
	ck_assert_int_eq(d.db_port, 1234);
}
END_TEST

START_TEST(crlf_and_case)
{
	struct cm_config c;

	load_ok(&c, DATA("config-crlf.conf"));
	ck_assert_int_eq(c.workers, 7);
	ck_assert(c.admin_key_query);
}
END_TEST

START_TEST(longest_value_fits)
{
	struct cm_config c;

	load_ok(&c, DATA("config-fits.conf"));
	ck_assert_uint_eq(strlen(c.listen), sizeof(c.listen) - 1);
}
END_TEST

START_TEST(booleans)
{
	static const struct {
		const char	*text;
		bool		 value;
	} t[] = {
		{ "true", true }, { "yes", true }, { "on", true }, { "1", true },
		{ "false", false }, { "no", false }, { "off", false },
		{ "0", false }, { "TRUE", true }, { "Off", false },
	};
	struct cm_config c;
	char		 path[] = "/tmp/check_config.XXXXXX", err[512];
	FILE		*f;
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_ne(fd = mkstemp(path), -1);
		ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
		fprintf(f, "[api]\nadmin_key_query = %s\n", t[i].text);
		fclose(f);
		cm_config_defaults(&c);
		c.admin_key_query = !t[i].value;
		ck_assert_msg(cm_config_load(&c, path, err, sizeof(err)) == 0,
		    "%s", err);
		ck_assert_msg(c.admin_key_query == t[i].value, "%s", t[i].text);
		unlink(path);
		strcpy(path, "/tmp/check_config.XXXXXX");
	}
}
END_TEST

/* Each broken file: the line the error is on and the reason given. */
static const struct {
	const char	*file;
	int		 line;
	const char	*reason;
} broken[] = {
	{ "config-unknown-section.conf", 5, "unknown section [srever]" },
	{ "config-unknown-key.conf", 4, "unknown key wokers in [server]" },
	{ "config-wrong-section.conf", 3, "unknown key port in [server]" },
	{ "config-outside-section.conf", 3,
	  "key listen outside of any section" },
	{ "config-malformed.conf", 6,
	  "malformed line (expected [section] or key = value)" },
	{ "config-malformed-section.conf", 3, "malformed section header" },
	{ "config-section-trailing.conf", 2, "malformed section header" },
	{ "config-no-key.conf", 3, "malformed line (no key before =)" },
	{ "config-bad-int.conf", 3, "workers: bad integer" },
	{ "config-bad-int-space.conf", 2, "port: bad integer" },
	{ "config-bad-int-plus.conf", 5, "retries: bad integer" },
	{ "config-bad-int-hex.conf", 2, "body_limit: bad integer" },
	{ "config-bad-int-comment.conf", 2, "workers: bad integer" },
	{ "config-range-high.conf", 3, "workers: out of range (1..256)" },
	{ "config-range-low.conf", 2, "workers: out of range (1..256)" },
	{ "config-range-negative.conf", 3, "retries: out of range (0..1000)" },
	{ "config-range-huge.conf", 2,
	  "body_limit: out of range (1024..16777216)" },
	{ "config-range-body.conf", 2,
	  "body_limit: out of range (1024..16777216)" },
	{ "config-bad-mode.conf", 2, "listen_mode: bad octal mode" },
	{ "config-range-mode.conf", 3, "listen_mode: out of range (0..0777)" },
	{ "config-bad-bool.conf", 2, "admin_key_query: bad boolean "
	  "(true, false, yes, no, on, off, 1 or 0)" },
	{ "config-bad-policy.conf", 3,
	  "unknown_fields: bad value (reject or ignore)" },
	{ "config-empty-int.conf", 2, "connect_timeout: empty value" },
	{ "config-empty-listen.conf", 2, "listen: empty value" },
	{ "config-bad-quote.conf", 3, "password: unterminated quote" },
	{ "config-too-long.conf", 3,
	  "listen: value too long (at most 255 bytes)" },
	{ "config-password-too-long.conf", 4,
	  "password: value too long (at most 255 bytes)" },
	{ "config-nul.conf", 2, "NUL byte in line" },
	/* The pool's keys. */
	{ "config-bad-pm.conf", 3,
	  "pm: bad value (static, dynamic, ondemand)" },
	{ "config-bad-level.conf", 3,
	  "level: bad value (debug, info, warn, error)" },
	{ "config-bad-target.conf", 2,
	  "target: stderr, syslog or an absolute path" },
	{ "config-bad-spare.conf", 5, "pm = dynamic needs min_spare <= "
	  "start_workers <= max_spare <= workers (3, 2, 2, 4)" },
};

START_TEST(broken_files)
{
	struct cm_config c, before;
	char		 path[512], want[1024], err[1024];

	snprintf(path, sizeof(path), "%s/%s", TEST_DATADIR, broken[_i].file);
	snprintf(want, sizeof(want), "%s:%d: %s", path, broken[_i].line,
	    broken[_i].reason);
	cm_config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	memset(err, 0, sizeof(err));
	ck_assert_int_eq(cm_config_load(&c, path, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	/* The secret never reaches a message. */
	ck_assert_ptr_null(strstr(err, "SECRETPW"));
	/* Nothing changes on error, not even keys before the bad line. */
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
}
END_TEST

START_TEST(missing_file)
{
	struct cm_config c;
	char		 err[512];

	cm_config_defaults(&c);
	ck_assert_int_eq(cm_config_load(&c, DATA("no-such.conf"), err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, DATA("no-such.conf")
	    ": No such file or directory");
	assert_defaults(&c);

	/* A directory opens but cannot be read. */
	ck_assert_int_eq(cm_config_load(&c, TEST_DATADIR, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, TEST_DATADIR ": Is a directory");
}
END_TEST

START_TEST(small_error_buffer)
{
	struct cm_config c;
	char		 err[8];

	cm_config_defaults(&c);
	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(cm_config_load(&c, DATA("config-bad-int.conf"),
	    err, sizeof(err)), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(cm_config_load(&c, DATA("config-bad-int.conf"),
	    NULL, 0), -1);
}
END_TEST

/* The shipped sample parses, and it documents the real defaults. */
START_TEST(sample_file)
{
	struct cm_config c;
	char		 path[] = "/tmp/check_config.XXXXXX", *line = NULL;
	size_t		 cap = 0, keys = 0;
	FILE		*in, *out;
	int		 fd;

	load_ok(&c, SAMPLE);
	assert_defaults(&c);

	/* Uncomment every "#key = value" line: still the defaults. */
	ck_assert_ptr_nonnull(in = fopen(SAMPLE, "r"));
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(out = fdopen(fd, "w"));
	while (getline(&line, &cap, in) != -1) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
			fputs(line + 1, out);
			keys++;
		} else
			fputs(line, out);
	}
	free(line);
	fclose(in);
	fclose(out);
	ck_assert_uint_eq(keys, 65);	/* every key of config.c, each listed once */
	load_ok(&c, path);
	unlink(path);
	assert_defaults(&c);
}
END_TEST

/* The pool's keys: defaults, and every one set. */
START_TEST(pool_keys)
{
	struct cm_config c;

	cm_config_defaults(&c);
	ck_assert_str_eq(c.pool_name, "clientsd");
	ck_assert_int_eq(c.pm, CM_PM_STATIC);
	ck_assert_int_eq(c.min_spare, 1);
	ck_assert_int_eq(c.max_spare, 3);
	ck_assert_int_eq(c.start_workers, 2);
	ck_assert_int_eq(c.idle_timeout, 10);
	ck_assert_int_eq(c.max_requests, 0);
	ck_assert_int_eq(c.request_timeout, 30);
	ck_assert_int_eq(c.stop_timeout, 30);
	ck_assert_int_eq(c.slowlog_ms, 0);
	ck_assert(!c.allow_root);
	ck_assert_str_eq(c.listen_allowed, "");
	ck_assert_str_eq(c.log_target, "stderr");
	ck_assert_int_eq(c.log_level, CM_LOG_INFO);
	load_ok(&c, DATA("config-pool.conf"));
	ck_assert_str_eq(c.pool_name, "www");
	ck_assert_int_eq(c.pm, CM_PM_DYNAMIC);
	ck_assert_int_eq(c.workers, 10);
	ck_assert_int_eq(c.min_spare, 2);
	ck_assert_int_eq(c.max_spare, 6);
	ck_assert_int_eq(c.start_workers, 3);
	ck_assert_int_eq(c.idle_timeout, 20);
	ck_assert_int_eq(c.max_requests, 500);
	ck_assert_int_eq(c.request_timeout, 12);
	ck_assert_int_eq(c.stop_timeout, 7);
	ck_assert_int_eq(c.slowlog_ms, 250);
	ck_assert(c.allow_root);
	ck_assert_str_eq(c.listen_allowed, "127.0.0.1, ::1");
	ck_assert_str_eq(c.log_target, "/var/log/clientsd.log");
	ck_assert_int_eq(c.log_level, CM_LOG_WARN);
}
END_TEST

/* ---- the database password from a file or a systemd credential ---- */

/* A scratch directory for one test's files; removed by scratch_done(). */
static char scratch[64];

static void
scratch_new(void)
{
	strcpy(scratch, "/tmp/check_config_pw.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
}

/* Writes len bytes of text to scratch/name; returns the path (static). */
static const char *
scratch_file(const char *name, const char *text, size_t len)
{
	static char	 path[4][160];
	static int	 next;
	char		*p = path[next++ % 4];
	FILE		*f;

	snprintf(p, sizeof(path[0]), "%s/%s", scratch, name);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	return p;
}

static void
scratch_done(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	ck_assert_int_eq(system(cmd), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* Loads "[database]\n" + body from a scratch config; returns the rc. */
static int
load_db(struct cm_config *c, const char *body, char *err, size_t errsz)
{
	char	 text[1024];
	int	 n;

	n = snprintf(text, sizeof(text), "[database]\n%s", body);
	cm_config_defaults(c);
	err[0] = '\0';
	return cm_config_load(c, scratch_file("clientsd.conf", text,
	    (size_t)n), err, errsz);
}

/* Several endpoints, Galera, TLS: every key set. */
START_TEST(db_nodes_keys)
{
	struct cm_config c;
	char		 err[512];

	scratch_new();
	ck_assert_int_eq(load_db(&c, "hosts = 127.0.0.1:13311, [::1]:13321, "
	    "/run/mysqld/a.sock\npolicy = balance\ngalera = true\n"
	    "allow_donor = yes\ncausal_reads = on\nfailback_s = 9\n"
	    "tls = verify\nca = /etc/ssl/ca.pem\ncert = /etc/ssl/c.pem\n"
	    "key = /etc/ssl/c.key\n", err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_hosts,
	    "127.0.0.1:13311, [::1]:13321, /run/mysqld/a.sock");
	ck_assert_int_eq(c.db_policy, CM_DB_BALANCE);
	ck_assert(c.db_galera);
	ck_assert(c.db_allow_donor);
	ck_assert(c.db_causal_reads);
	ck_assert_int_eq(c.db_failback_s, 9);
	ck_assert_int_eq(c.db_tls, CM_TLS_VERIFY);
	ck_assert_str_eq(c.db_tls_ca, "/etc/ssl/ca.pem");
	ck_assert_str_eq(c.db_tls_cert, "/etc/ssl/c.pem");
	ck_assert_str_eq(c.db_tls_key, "/etc/ssl/c.key");
	ck_assert_int_eq(load_db(&c, "policy = FAILOVER\ntls = required\n",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(c.db_policy, CM_DB_FAILOVER);
	ck_assert_int_eq(c.db_tls, CM_TLS_REQUIRED);
	/* The single keys still work, and an empty hosts keeps them. */
	ck_assert_int_eq(load_db(&c, "hosts =\nsocket =\nhost = db1\n"
	    "port = 3307\n", err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_hosts, "");
	ck_assert_str_eq(c.db_host, "db1");
	scratch_done();
}
END_TEST

/* Each bad [database] body gives an error naming the key and the line. */
START_TEST(db_nodes_errors)
{
	static const struct {
		const char	*body;
		const char	*want;
	} t[] = {
		{ "hosts = a:1\nsocket = /s\n",
		  "clientsd.conf:3: hosts and socket are both set" },
		{ "port = 3307\nhosts = a:1\n",
		  "clientsd.conf:3: hosts and port are both set" },
		{ "host = b\n\nhosts = a:1\n", "hosts and host are both set" },
		{ "hosts = a:1,\n", "clientsd.conf:2: hosts: empty entry" },
		{ "hosts = 127.0.0.1\n", "hosts: entry \"127.0.0.1\": expected" },
		{ "hosts = a:99999\n", "port must be 1..65535" },
		{ "hosts = ::1:3306\n", "in brackets" },
		{ "hosts = a:1,a:1\n", "a:1 listed twice" },
		{ "policy = roundrobin\n", "policy: bad value (failover, balance)" },
		{ "tls = yes\n", "tls: bad value (off, required, verify)" },
		{ "galera = maybe\n", "galera: bad boolean" },
		{ "failback_s = 0\n", "failback_s: out of range (1..3600)" },
		{ "tls = verify\ncert = /c.pem\n",
		  "clientsd.conf:3: cert and key: set both or neither" },
		{ "tls = required\nkey = /c.key\n", "cert and key: set both" },
		{ "ca = /ca.pem\n", "ca, cert and key need tls = required" },
		/* A statement may wait lock_wait_timeout for a lock. */
		{ "statement_timeout = 5\n", "clientsd.conf:2: statement_timeout "
		  "(5) must exceed lock_wait_timeout (5)" },
		{ "lock_wait_timeout = 20\n", "statement_timeout (10) must "
		  "exceed lock_wait_timeout (20)" },
		{ "statement_timeout = 0\n", "statement_timeout: out of range" },
	};
	struct cm_config c;
	char		 err[512];
	size_t		 i;

	scratch_new();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(load_db(&c, t[i].body, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, t[i].want) != NULL,
		    "%s: \"%s\" lacks \"%s\"", t[i].body, err, t[i].want);
		/* Nothing changed on error. */
		ck_assert_str_eq(c.db_hosts, "");
	}
	scratch_done();
}
END_TEST

static const char *
layer(const char *name, const char *text)
{
	return scratch_file(name, text, strlen(text));
}

/*
 * hosts and socket/host/port are judged per file: a later file (such as
 * clientsctl-migrate.conf) that sets socket replaces the first's hosts.
 */
START_TEST(db_nodes_layered_files)
{
	struct cm_config c;
	char		 err[512];

	scratch_new();
	ck_assert_int_eq(load_db(&c, "hosts = a:1, b:2\n", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(cm_config_load(&c, layer("second.conf", "[database]\nsocket = /s.sock\n"), err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_hosts, "");
	ck_assert_str_eq(c.db_socket, "/s.sock");
	ck_assert_int_eq(cm_config_load(&c, layer("third.conf", "[database]\nhosts = c:3\n"), err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_hosts, "c:3");
	/* A file without endpoint keys keeps what the others set. */
	ck_assert_int_eq(cm_config_load(&c, layer("fourth.conf", "[database]\nname = x\n"), err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_hosts, "c:3");
	scratch_done();
}
END_TEST

START_TEST(password_file_read)
{
	static const struct {
		const char	*content;
		size_t		 len;
		const char	*password;
	} t[] = {
		{ "s3cret\n", 7, "s3cret" },
		{ "s3cret", 6, "s3cret" },
		{ "s3cret\r\n", 8, "s3cret" },
		{ " sp aced #;= \n", 14, " sp aced #;= " },
		{ "", 0, "" },
	};
	struct cm_config c;
	char		 conf[256], err[512];
	size_t		 i;

	scratch_new();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(conf, sizeof(conf), "password_file = %s\n",
		    scratch_file("pw", t[i].content, t[i].len));
		ck_assert_msg(load_db(&c, conf, err, sizeof(err)) == 0, "%s",
		    err);
		ck_assert_str_eq(c.db_password, t[i].password);
	}
	scratch_done();
}
END_TEST

START_TEST(password_file_errors)
{
	static const struct {
		const char	*content;
		size_t		 len;
		const char	*reason;
	} t[] = {
		{ "SECRETPW\nline2\n", 15, "more than one line, or a NUL byte" },
		{ "SECRET\0PW\n", 10, "more than one line, or a NUL byte" },
	};
	struct cm_config c, before;
	char		 conf[512], err[512], want[512], big[600];
	const char	*pw;
	size_t		 i;

	scratch_new();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pw = scratch_file("pw", t[i].content, t[i].len);
		snprintf(conf, sizeof(conf), "password_file = %s\n", pw);
		ck_assert_int_eq(load_db(&c, conf, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s/clientsd.conf: password_file "
		    "%s: %s", scratch, pw, t[i].reason);
		ck_assert_str_eq(err, want);
		ck_assert_ptr_null(strstr(err, "SECRET"));
	}
	/* 256 and 600 bytes: over the 255 a password may have. */
	memset(big, 'S', sizeof(big));
	for (i = 256; i <= sizeof(big); i += sizeof(big) - 256) {
		pw = scratch_file("pw", big, i);
		snprintf(conf, sizeof(conf), "password_file = %s\n", pw);
		ck_assert_int_eq(load_db(&c, conf, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "too long (at most 255 bytes)") !=
		    NULL, "%s", err);
		ck_assert_ptr_null(strstr(err, "SSSS"));
	}
	/* A missing file, and a password set both ways. */
	snprintf(conf, sizeof(conf), "password_file = %s/none\n", scratch);
	ck_assert_int_eq(load_db(&c, conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/clientsd.conf: password_file "
	    "%s/none: No such file or directory", scratch, scratch);
	ck_assert_str_eq(err, want);
	snprintf(conf, sizeof(conf), "password = SECRETPW\npassword_file = "
	    "%s\n", scratch_file("pw", "x\n", 2));
	cm_config_defaults(&before);
	ck_assert_int_eq(load_db(&c, conf, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/clientsd.conf: password and "
	    "password_file are both set", scratch);
	ck_assert_str_eq(err, want);
	/* Nothing changes on error. */
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	scratch_done();
}
END_TEST

START_TEST(password_credential)
{
	struct cm_config c;
	char		 conf[512], err[512], want[512];

	scratch_new();
	/* No credential in the directory: the config's password stays. */
	setenv("CREDENTIALS_DIRECTORY", scratch, 1);
	ck_assert_int_eq(load_db(&c, "password = inline\n", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.db_password, "inline");
	/* The credential wins over password... */
	scratch_file("db-password", "from-systemd\n", 13);
	ck_assert_int_eq(load_db(&c, "password = inline\n", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.db_password, "from-systemd");
	ck_assert_int_eq(load_db(&c, "", err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_password, "from-systemd");
	/* ...and password_file over the credential. */
	snprintf(conf, sizeof(conf), "password_file = %s\n",
	    scratch_file("pw", "from-file\n", 10));
	ck_assert_int_eq(load_db(&c, conf, err, sizeof(err)), 0);
	ck_assert_str_eq(c.db_password, "from-file");
	/* A credential that cannot be used is an error naming it. */
	scratch_file("db-password", "SECRET\nPW\n", 10);
	ck_assert_int_eq(load_db(&c, "", err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "credential %s/db-password: more than "
	    "one line, or a NUL byte", scratch);
	ck_assert_str_eq(err, want);
	/* Without the variable nothing is read. */
	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(load_db(&c, "password = inline\n", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.db_password, "inline");
	scratch_done();
}
END_TEST

/* A file read over another (clientsctl-migrate.conf) sets its own password. */
START_TEST(password_layered_files)
{
	struct cm_config c;
	char		 conf[512], err[512];
	const char	*base;

	scratch_new();
	snprintf(conf, sizeof(conf), "[database]\npassword_file = %s\n",
	    scratch_file("pw", "runtime\n", 8));
	base = scratch_file("base.conf", conf, strlen(conf));
	cm_config_defaults(&c);
	ck_assert_msg(cm_config_load(&c, base, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.db_password, "runtime");
	/* password over an earlier password_file: no clash, it wins. */
	ck_assert_msg(cm_config_load(&c, scratch_file("mig.conf",
	    "[database]\nuser = m\npassword = migrate\n", 39), err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.db_password, "migrate");
	ck_assert_str_eq(c.db_user, "m");
	/* A file that sets neither keeps what the earlier one gave. */
	cm_config_defaults(&c);
	ck_assert_int_eq(cm_config_load(&c, base, err, sizeof(err)), 0);
	ck_assert_msg(cm_config_load(&c, scratch_file("other.conf",
	    "[database]\nuser = other\n", 24), err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_str_eq(c.db_password, "runtime");
	scratch_done();
}
END_TEST

START_TEST(sandbox_values)
{
	struct cm_config c;
	char		 err[512];

	scratch_new();
	cm_config_defaults(&c);
	ck_assert_int_eq(cm_config_load(&c, scratch_file("s.conf",
	    "[server]\nsandbox = none\n", strlen("[server]\nsandbox = none\n")), err, sizeof(err)), 0);
	ck_assert_int_eq(c.sandbox, CM_SANDBOX_NONE);
	ck_assert_int_eq(cm_config_load(&c, scratch_file("s.conf",
	    "[server]\nsandbox = SecComp\n", strlen("[server]\nsandbox = SecComp\n")), err, sizeof(err)), 0);
	ck_assert_int_eq(c.sandbox, CM_SANDBOX_SECCOMP);
	ck_assert_int_eq(cm_config_load(&c, scratch_file("s.conf",
	    "[server]\nsandbox = off\n", strlen("[server]\nsandbox = off\n")), err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: sandbox: bad value (seccomp or none)")
	    != NULL, "%s", err);
	scratch_done();
}
END_TEST

/*
 * The installed config loads (no inline comment or other slip in what
 * make's sed rules produce) and drops the workers to the clientsd user.
 */
START_TEST(installed_file)
{
	struct cm_config c;

	load_ok(&c, INSTALLED);
	ck_assert_str_eq(c.listen, CM_RUNSTATEDIR "/clientsd/clientsd.sock");
	ck_assert_str_eq(c.pid_file, CM_RUNSTATEDIR "/clientsd/clientsd.pid");
	ck_assert_str_eq(c.user, "clientsd");
	ck_assert_str_eq(c.group, "clientsd");
	ck_assert_str_ne(c.listen_group, "");
	ck_assert_str_eq(c.tzdata, CM_TZDATA);
	ck_assert_str_eq(c.db_user, "clients");
	ck_assert_str_eq(c.db_password, "");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("good");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, good_file_sets_every_key);
	tcase_add_test(tc, empty_and_comment_files_keep_defaults);
	tcase_add_test(tc, partial_file_overrides_only_its_keys);
	tcase_add_test(tc, crlf_and_case);
	tcase_add_test(tc, longest_value_fits);
	tcase_add_test(tc, booleans);
	tcase_add_test(tc, db_nodes_keys);
	tcase_add_test(tc, db_nodes_errors);
	tcase_add_test(tc, db_nodes_layered_files);
	tcase_add_test(tc, password_file_read);
	tcase_add_test(tc, password_file_errors);
	tcase_add_test(tc, password_credential);
	tcase_add_test(tc, password_layered_files);
	tcase_add_test(tc, sandbox_values);
	tcase_add_test(tc, sample_file);
	tcase_add_test(tc, pool_keys);
	tcase_add_test(tc, installed_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("broken");
	tcase_add_loop_test(tc, broken_files, 0,
	    (int)(sizeof(broken) / sizeof(broken[0])));
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, small_error_buffer);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return unit_run(config_suite());
}
