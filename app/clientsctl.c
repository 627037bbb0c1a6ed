/*
 * clientsctl - the admin CLI: schema migrations and admin keys.
 *
 * migrate, admin-key and audit purge connect as the migration user (the
 * -m config, else the default migration config); the rest as the runtime
 * user of the -c config.
 *
 *	clientsctl [-c config] [-m migrate-config] db-setup --print [--host HOST]
 *	    [--webhooks CONFIG]
 *	clientsctl [-c config] [-m migrate-config] migrate [-d dir] [--contract]
 *	clientsctl [-c config] admin-key create --name NAME [--scope SCOPES]
 *	    [--agency ID] [--expires DATE] [--description TEXT]
 *	clientsctl [-c config] admin-key set ID [--scope SCOPES]
 *	    [--agency ID | --no-agency] [--expires DATE | --no-expires]
 *	    [--description TEXT]
 *	clientsctl [-c config] admin-key list
 *	clientsctl [-c config] admin-key revoke ID
 *	clientsctl [-c config] audit CLIENT_ID
 *	clientsctl [-c config] audit --key ID
 *	clientsctl [-c config] audit purge [--before DATE] [--dry-run]
 *	clientsctl [-c config] erase CLIENT_ID
 *	clientsctl [-c config] explain-list
 *	clientsctl [-c config] purge-idempotency [--batch N]
 *	clientsctl [-c config] webhook list
 *	clientsctl [-c config] webhook replay --since DATE [--endpoint ID]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mysql.h>

#include "cm_paths.h"
#include "config.h"
#include "db.h"
#include "dbconf.h"
#include "dbsetup.h"
#include "webhook.h"
#include "json.h"
#include "keys.h"
#include "mem.h"
#include "random.h"
#include "scope.h"
#include "steward.h"
#include "validate.h"

static const char usage_text[] =
	    "usage: clientsctl [-c config] [-m migrate-config] db-setup --print [--host HOST]\n"
	    "                  [--webhooks CONFIG]\n"
	    "       clientsctl [-c config] [-m migrate-config] migrate [-d dir] [--contract]\n"
	    "       clientsctl [-c config] admin-key create --name NAME [--scope SCOPES]\n"
	    "                  [--agency ID] [--expires DATE] [--description TEXT]\n"
	    "       clientsctl [-c config] admin-key set ID [--scope SCOPES]\n"
	    "                  [--agency ID | --no-agency] [--expires DATE | --no-expires]\n"
	    "                  [--description TEXT]\n"
	    "       clientsctl [-c config] admin-key list\n"
	    "       clientsctl [-c config] admin-key revoke ID\n"
	    "       clientsctl [-c config] audit [--] CLIENT_ID\n"
	    "       clientsctl [-c config] audit --key ID\n"
	    "       clientsctl [-c config] audit purge [--before DATE] "
	    "[--dry-run]\n"
	    "       clientsctl [-c config] erase CLIENT_ID\n"
	    "       clientsctl [-c config] explain-list\n"
	    "       clientsctl [-c config] purge-idempotency [--batch N]\n"
	    "       clientsctl [-c config] webhook list\n"
	    "       clientsctl [-c config] webhook replay --since DATE "
	    "[--endpoint ID]\n"
	    "       clientsctl -h | --help | -V | --version\n";

static void __attribute__((noreturn))
usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static int
failed(enum cm_db_status rc, const char *what)
{
	fprintf(stderr, "clientsctl: %s: %s\n", what,
	    rc == CM_DB_UNAVAILABLE ? "database unavailable" :
	    rc == CM_DB_NOT_FOUND ? "no such active key" :
	    "database error (see the message above)");
	return 1;
}

static void
print_applied(const struct cm_migration_report *r, void *arg)
{
	(void)arg;
	printf("applied %s (%s) in %.3f s: %d statements, the slowest "
	    "(%d) %.3f s\n", r->name, r->kind, r->seconds, r->statements,
	    r->slowest, r->slowest_s);
	fflush(stdout);
}

static void
print_waiting(const char *name, const char *needs, void *arg)
{
	int	*waiting = arg;

	(*waiting)++;
	printf("not applied: %s (contract): run clientsctl migrate "
	    "--contract once every host runs clientsd %s or later\n", name,
	    needs);
}

/*
 * The migrations (the contract ones only with --contract), then the
 * runtime user's grants (dbsetup.h).
 */
static int
migrate(struct cm_db *db, const char *runtime_user, const char *webhook_user,
    int argc, char *argv[])
{
	struct cm_migrate_opts	 o;
	int			 i, rc, waiting = 0;

	memset(&o, 0, sizeof(o));
	o.dir = CM_MIGRATIONSDIR;
	o.runtime_user = runtime_user;
	o.webhook_user = webhook_user;
	o.applied = print_applied;
	o.waiting = print_waiting;
	o.arg = &waiting;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
			o.dir = argv[++i];
		else if (strcmp(argv[i], "--contract") == 0)
			o.contract = true;
		else
			usage();
	}
	if ((rc = cm_db_migrate(db, &o)) != CM_DB_OK)
		return failed(rc, "migrate");
	printf(waiting > 0 ? "schema expanded; %d contract migration%s "
	    "waiting\n" : "schema up to date\n", waiting,
	    waiting == 1 ? "" : "s");
	return 0;
}

/* Longest description, in characters (the column's). */
#define DESCRIPTION_MAX	500

/* A usage error about one option: says why, exits 2. */
static void __attribute__((noreturn))
bad_option(const char *option, const char *why)
{
	fprintf(stderr, "clientsctl: %s: %s\n", option, why);
	exit(2);
}

static unsigned
parse_scopes(const char *text)
{
	unsigned	scopes;
	char		bad[64], why[160];

	if (cm_scope_parse(text, false, &scopes, bad, sizeof(bad)) != 0) {
		snprintf(why, sizeof(why), "\"%.64s\" is not a scope (see "
		    "clientsctl(8): clients:read, clients:write, ..., or all)",
		    bad);
		bad_option("--scope", why);
	}
	if (scopes == 0)
		bad_option("--scope", "name at least one scope");
	return scopes;
}

/* DATE (UTC) as the column's literal, into buf; in the future only. */
static const char *
parse_expiry(const char *text, char *buf, size_t sz)
{
	char		now[32];
	time_t		t = time(NULL);
	struct tm	tm;

	if (cm_steward_parse_date(text, buf, sz) != 0)
		bad_option("--expires", "expected YYYY-MM-DD or "
		    "YYYY-MM-DDTHH:MM:SSZ (UTC)");
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S.000", &tm) == 0 ||
	    strcmp(buf, now) <= 0)
		bad_option("--expires", "must be in the future (revoke a key "
		    "to stop it now)");
	return buf;
}

/* Free text for people: UTF-8, nothing invisible, and no tab for the list. */
static const char *
parse_description(const char *text)
{
	json_t		*valid = json_string(text);	/* NULL: not UTF-8 */
	unsigned long	 cp;
	size_t		 pos;

	if (valid == NULL)
		bad_option("--description", "must be UTF-8");
	json_decref(valid);
	if (cm_utf8_codepoints(text, strlen(text)) > DESCRIPTION_MAX)
		bad_option("--description", "at most 500 characters");
	if (cm_text_forbidden(text, strlen(text), &cp, &pos))
		bad_option("--description", "no control, format or "
		    "bidirectional characters");
	return text[0] != '\0' ? text : NULL;
}

/*
 * The options of create (from argv[i]) or set into *k (expires points
 * into expbuf); --name's value into *name when name is not NULL.
 */
static void
key_options(int argc, char *argv[], int i, struct cm_key_settings *k,
    const char **name, char *expbuf, size_t expsz)
{
	const char	*o;

	memset(k, 0, sizeof(*k));
	for (; i < argc; i++) {
		o = argv[i];
		if (name != NULL && strcmp(o, "--name") == 0 && i + 1 < argc)
			*name = argv[++i];
		else if (strcmp(o, "--scope") == 0 && i + 1 < argc) {
			k->set_scopes = true;
			k->scopes = parse_scopes(argv[++i]);
		} else if (strcmp(o, "--agency") == 0 && i + 1 < argc) {
			k->set_agency = true;
			k->agency_id = argv[++i];
			if (cm_check_token(k->agency_id,
			    strlen(k->agency_id)) != NULL)
				bad_option("--agency", "an agency id matches "
				    "^[a-zA-Z0-9_-]{1,255}$");
		} else if (name == NULL && strcmp(o, "--no-agency") == 0) {
			k->set_agency = true;
			k->agency_id = NULL;
		} else if (strcmp(o, "--expires") == 0 && i + 1 < argc) {
			k->set_expires = true;
			k->expires_at = parse_expiry(argv[++i], expbuf, expsz);
		} else if (name == NULL && strcmp(o, "--no-expires") == 0) {
			k->set_expires = true;
			k->expires_at = NULL;
		} else if (strcmp(o, "--description") == 0 && i + 1 < argc) {
			k->set_description = true;
			k->description = parse_description(argv[++i]);
		} else
			usage();
	}
}

/* Prints the key once, on stdout alone; only its hash is stored. */
static int
key_create(struct cm_db *db, int argc, char *argv[])
{
	struct cm_key_settings	k;
	const char		*name = NULL;
	char			key[CM_ADMIN_KEY_LEN + 1], expires[32];
	char			hash[CM_SHA256_HEX_LEN + 1];
	unsigned long long	id;
	int			rc;

	key_options(argc, argv, 2, &k, &name, expires, sizeof(expires));
	if (name == NULL || name[0] == '\0' || strlen(name) > 255)
		usage();
	if (cm_admin_key(key) != 0 ||
	    cm_sha256_hex(key, strlen(key), hash) != 0) {
		fprintf(stderr, "clientsctl: getrandom: %s\n", strerror(errno));
		return 1;
	}
	rc = cm_db_admin_key_create(db, name, hash, &k, &id);
	if (rc == CM_DB_OK) {
		printf("%s\n", key);
		fprintf(stderr, "created admin key %llu (%s); it is shown "
		    "only this once\n", id, name);
	}
	explicit_bzero(key, sizeof(key));
	return rc == CM_DB_OK ? 0 : failed(rc, "admin-key create");
}

static unsigned long long
key_id(const char *text)
{
	char			*end;
	unsigned long long	 id;

	errno = 0;
	id = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || text[0] < '0' || text[0] > '9')
		usage();
	return id;
}

/* Changes a key's settings; its secret stays. */
static int
key_set(struct cm_db *db, int argc, char *argv[])
{
	struct cm_key_settings	k;
	unsigned long long	id = key_id(argv[2]);
	char			expires[32];
	int			rc;

	key_options(argc, argv, 3, &k, NULL, expires, sizeof(expires));
	if (!k.set_scopes && !k.set_agency && !k.set_expires &&
	    !k.set_description)
		usage();
	if ((rc = cm_db_admin_key_set(db, id, &k)) != CM_DB_OK)
		return failed(rc, "admin-key set");
	printf("changed admin key %llu (in effect on every worker within "
	    "[api] auth_cache_s)\n", id);
	return 0;
}

static int
admin_key(struct cm_db *db, int argc, char *argv[])
{
	unsigned long long id;
	int	 rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return key_create(db, argc, argv);
	if (argc >= 4 && strcmp(argv[1], "set") == 0)
		return key_set(db, argc, argv);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		rc = cm_db_admin_key_list(db, stdout);
		return rc == CM_DB_OK ? 0 : failed(rc, "admin-key list");
	}
	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		id = key_id(argv[2]);
		if ((rc = cm_db_admin_key_revoke(db, id)) != CM_DB_OK)
			return failed(rc, "admin-key revoke");
		printf("revoked admin key %llu\n", id);
		return 0;
	}
	usage();
	return 2;
}

/*
 * What one admin key did: its audit rows, newest first, one JSON object
 * a line, each naming its client (with admin-key list, which says what
 * the key may do).
 */
static int
audit_key(struct cm_db *db, const char *text)
{
	unsigned long long	 id = key_id(text), before = 0;
	json_t			*items, *e;
	char			*line;
	size_t			 i, n;
	int			 rc;

	do {
		if ((rc = cm_db_audit_by_key(db, id, before, 200, &items)) !=
		    CM_DB_OK)
			return failed(rc, "audit --key");
		json_array_foreach(items, i, e) {
			line = cm_json_compact(e);
			printf("%s\n", line ? line : "");
			free(line);
			before = (unsigned long long)json_integer_value(
			    json_object_get(e, "seq"));
		}
		n = json_array_size(items);
		json_decref(items);
	} while (n == 200);
	return 0;
}

/* Every audit entry of a client, newest first, one JSON object a line. */
static int
audit(struct cm_db *db, const char *id)
{
	struct cm_list_query	 q = { -1, NULL, NULL, NULL, 200, 0, NULL, true,
				     NULL };
	struct cm_page		 pg;
	char			 after[CM_CURSOR_MAX];
	json_t			*e;
	char			*line;
	size_t			 i;
	int			 rc;

	if (cm_check_token(id, strlen(id)) != NULL)
		usage();
	/* Cursor pages: a history growing meanwhile repeats and skips nothing. */
	do {
		if ((rc = cm_db_audit(db, id, &q, &pg)) != CM_DB_OK)
			return failed(rc, "audit");
		json_array_foreach(pg.items, i, e) {
			line = cm_json_compact(e);	/* reals as the API writes them */
			printf("%s\n", line ? line : "");
			free(line);
		}
		json_decref(pg.items);
		snprintf(after, sizeof(after), "%s", pg.next);
		q.after = after;
	} while (after[0] != '\0');
	return 0;
}

/*
 * audit purge: the rows older than --before DATE, else than the config's
 * retention_days; with --dry-run only counts them.
 */
static int
audit_purge(struct cm_db *db, const struct cm_config *cfg, int argc,
    char *argv[])
{
	const char		*before = NULL;
	char			 cutoff[32];
	bool			 dry_run = false;
	unsigned long long	 rows, batches;
	struct timespec		 t0, t1;
	double			 secs;
	int			 i, rc;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = true;
		else if (strcmp(argv[i], "--before") == 0 && i + 1 < argc)
			before = argv[++i];
		else
			usage();
	}
	if (before != NULL) {
		if (cm_steward_parse_date(before, cutoff, sizeof(cutoff)) != 0) {
			fprintf(stderr, "clientsctl: --before: expected "
			    "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), got "
			    "\"%.64s\"\n", before);
			return 2;
		}
	} else if (cm_steward_retention_cutoff(cfg->audit_retention_days,
	    time(NULL), cutoff, sizeof(cutoff)) != 0) {
		printf("[audit] retention_days is 0 (keep forever): nothing "
		    "purged\n");
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cm_db_audit_purge(db, cutoff, 1000, dry_run, &rows, &batches);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc != CM_DB_OK)
		return failed(rc, "audit purge");
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (dry_run)
		printf("would delete %llu audit rows older than %s UTC\n", rows,
		    cutoff);
	else
		printf("deleted %llu audit rows older than %s UTC in %llu "
		    "batches, %.2f s (%.0f rows/s)\n", rows, cutoff, batches,
		    secs, secs > 0 ? (double)rows / secs : 0.0);
	return 0;
}

/*
 * purge-idempotency: the Idempotency-Key rows older than [api]
 * idempotency_ttl_s (their stored answers hold response bodies, secret
 * keys included), in batches of --batch rows (1000).
 */
static int
purge_idempotency(struct cm_db *db, const struct cm_config *cfg, int argc,
    char *argv[])
{
	unsigned long long	 rows;
	char			*end;
	unsigned long		 batch = 1000;
	int			 rc;

	if (argc == 3 && strcmp(argv[1], "--batch") == 0) {
		errno = 0;
		batch = strtoul(argv[2], &end, 10);
		if (errno != 0 || *end != '\0' || batch < 1 || batch > 100000) {
			fprintf(stderr, "clientsctl: --batch: expected 1 to "
			    "100000\n");
			return 2;
		}
	} else if (argc != 1)
		usage();
	rc = cm_db_idem_purge(db, cfg->idempotency_ttl_s, (unsigned)batch,
	    &rows);
	if (rc != CM_DB_OK)
		return failed(rc, "purge-idempotency");
	printf("deleted %llu Idempotency-Key rows older than %d s\n", rows,
	    cfg->idempotency_ttl_s);
	return 0;
}

/* erase: as DELETE ?hard=true&erase=true, without an admin key id. */
static int
erase(struct cm_db *db, const char *id)
{
	unsigned char	 r[6];
	char		 rid[32];
	struct cm_write	 w = { rid, 0, NULL, NULL, NULL };
	bool		 deleted;
	int		 rc;

	if (cm_check_token(id, strlen(id)) != NULL)
		usage();
	if (cm_random_bytes(r, sizeof(r)) != 0) {
		fprintf(stderr, "clientsctl: getrandom: %s\n", strerror(errno));
		return 1;
	}
	snprintf(rid, sizeof(rid), "clientsctl-%02x%02x%02x%02x%02x%02x",
	    r[0], r[1], r[2], r[3], r[4], r[5]);
	rc = cm_db_erase(db, id, &w, &deleted);
	if (rc == CM_DB_NOT_FOUND) {
		fprintf(stderr, "clientsctl: erase: no client %s and no "
		    "history of it\n", id);
		return 1;
	}
	if (rc != CM_DB_OK)
		return failed(rc, "erase");
	printf("erased %s%s (request id %s)\n", id,
	    deleted ? ": client deleted, history erased" :
	    ": no client row left; its history holds no personal value", rid);
	return 0;
}

/*
 * The migration user's credentials: mpath (-m, which must exist) or the
 * installed clientsctl-migrate.conf, loaded over the [database] settings
 * of clientsd.conf.  Without either, the runtime user's are used, which
 * works only where that user may change the schema.
 */
static int
load_migrate_config(struct cm_config *cfg, const char *mpath)
{
	char	 err[512];

	if (mpath == NULL) {
		mpath = CM_MIGRATE_CONFIG_PATH;
		if (access(mpath, F_OK) != 0) {
			fprintf(stderr, "clientsctl: no %s: using the runtime "
			    "user of the config\n", mpath);
			return 0;
		}
	}
	if (cm_config_load(cfg, mpath, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsctl: %s\n", err);
		return -1;
	}
	return 0;
}

/*
 * Whether the command belongs to the schema's owner, the migration user
 * (-m): migrations, admin keys, purging history.  The runtime user's
 * grants do not let it write admin keys or delete history.
 */
static bool
as_owner(int argc, char *argv[])
{
	return strcmp(argv[0], "migrate") == 0 ||
	    strcmp(argv[0], "admin-key") == 0 ||
	    (strcmp(argv[0], "audit") == 0 && argc >= 2 &&
	    strcmp(argv[1], "purge") == 0) ||
	    strcmp(argv[0], "webhook") == 0;
}

/*
 * webhook list: each endpoint and its deliveries (the dispatcher's
 * tables, which the runtime user cannot read: the migration user's).
 * webhook replay --since DATE [--endpoint ID]: the failed deliveries of
 * events since DATE (UTC) queued again.
 */
static int
webhook(struct cm_db *db, int argc, char *argv[])
{
	const char		*since = NULL;
	char			 cutoff[32];
	unsigned long long	 endpoint = 0, rows;
	enum cm_db_status	 rc;
	int			 i;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return cm_db_wh_list(db, stdout) == CM_DB_OK ? 0 :
		    failed(CM_DB_FAILED, "webhook list");
	if (argc < 2 || strcmp(argv[1], "replay") != 0)
		usage();
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
			since = argv[++i];
		else if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc &&
		    cm_webhook_id_parse(argv[i + 1], &endpoint) == 0)
			i++;
		else
			usage();
	}
	if (since == NULL || cm_steward_parse_date(since, cutoff,
	    sizeof(cutoff)) != 0) {
		fprintf(stderr, "clientsctl: webhook replay: --since: expected "
		    "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n");
		return 2;
	}
	if ((rc = cm_db_wh_replay(db, cutoff, endpoint, &rows)) != CM_DB_OK)
		return failed(rc, "webhook replay");
	printf("%llu deliveries queued again\n", rows);
	return 0;
}

/*
 * The dispatcher's config (--webhooks), read as clientsd-webhooks reads
 * it; its user must be the one migrate grants ([webhooks] user of run).
 */
static int
load_hooks_config(const struct cm_config *run, const char *path,
    struct cm_config *hooks)
{
	char	 err[512];

	cm_config_defaults(hooks);
	if (cm_config_load(hooks, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsctl: db-setup: %s\n", err);
		return -1;
	}
	if (strcmp(hooks->db_user, run->webhook_user) != 0) {
		fprintf(stderr, "clientsctl: db-setup: %s: [database] user %s "
		    "is not [webhooks] user of the config (%s): migrate would "
		    "not grant it\n", path, hooks->db_user, run->webhook_user);
		return -1;
	}
	return 0;
}

/* db-setup --print [--host HOST] [--webhooks CONFIG]: the set-up SQL. */
static int
db_setup(const struct cm_config *run, const char *mpath, int argc,
    char *argv[])
{
	struct cm_config	 mig = *run, hooks;
	struct cm_db_config	 r, m, h;
	const char		*host, *hpath = NULL;
	char			 err[512];
	bool			 print = false;
	int			 i, rc;

	host = run->db_socket[0] != '\0' ? "localhost" : "%";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--print") == 0)
			print = true;
		else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--webhooks") == 0 && i + 1 < argc)
			hpath = argv[++i];
		else
			usage();
	}
	if (!print)
		usage();
	if (mpath == NULL && access(CM_MIGRATE_CONFIG_PATH, F_OK) != 0) {
		fprintf(stderr, "clientsctl: db-setup: no %s (or -m FILE) "
		    "with the migration user's [database] user and "
		    "password\n", CM_MIGRATE_CONFIG_PATH);
		return 1;
	}
	if (load_migrate_config(&mig, mpath) != 0 ||
	    (hpath != NULL && load_hooks_config(run, hpath, &hooks) != 0))
		return 1;
	dbconf_of(run, &r);
	dbconf_of(&mig, &m);
	if (hpath != NULL)
		dbconf_of(&hooks, &h);
	rc = cm_dbsetup_print(stdout, &r, &m, hpath != NULL ? &h : NULL, host,
	    err, sizeof(err));
	explicit_bzero(&mig, sizeof(mig));
	explicit_bzero(&hooks, sizeof(hooks));
	explicit_bzero(&r, sizeof(r));
	explicit_bzero(&m, sizeof(m));
	explicit_bzero(&h, sizeof(h));
	if (rc != 0) {
		fprintf(stderr, "clientsctl: db-setup: %s\n", err);
		return 1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct cm_config	 cfg;
	struct cm_db_config	 dbcfg;
	struct cm_db		*db;
	const char		*path = cm_config_default_path();
	const char		*mpath = NULL;
	char			 err[512], runtime_user[64], webhook_user[64];
	int			 ch, rc;

	cm_mem_init();
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		printf("\nSee clientsctl(8).\n");
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "--version") == 0)) {
		printf("clientsctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	while ((ch = getopt(argc, argv, "+c:m:")) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'm')
			mpath = optarg;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cm_config_defaults(&cfg);
	if (cm_config_load(&cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsctl: %s\n", err);
		return 1;
	}
	if (strcmp(argv[0], "db-setup") == 0) {
		rc = db_setup(&cfg, mpath, argc, argv);
		explicit_bzero(&cfg, sizeof(cfg));
		return rc;
	}
	/* The runtime user (clientsd.conf) may not do these: its owner does. */
	snprintf(runtime_user, sizeof(runtime_user), "%s", cfg.db_user);
	snprintf(webhook_user, sizeof(webhook_user), "%s", cfg.webhook_user);
	if (as_owner(argc, argv) && load_migrate_config(&cfg, mpath) != 0)
		return 1;
	dbconf_of(&cfg, &dbcfg);
	/* Every command but migrate works on a schema it can serve. */
	dbcfg.check_schema = strcmp(argv[0], "migrate") != 0;
	db = cm_db_open(&dbcfg, (unsigned long)getpid());
	explicit_bzero(&dbcfg, sizeof(dbcfg));
	if (strcmp(argv[0], "migrate") == 0)
		rc = migrate(db, runtime_user, webhook_user, argc, argv);
	else if (strcmp(argv[0], "admin-key") == 0)
		rc = admin_key(db, argc, argv);
	else if (strcmp(argv[0], "audit") == 0 && argc >= 2 &&
	    strcmp(argv[1], "purge") == 0)
		rc = audit_purge(db, &cfg, argc, argv);
	else if (strcmp(argv[0], "audit") == 0 && argc == 3 &&
	    strcmp(argv[1], "--key") == 0)
		rc = audit_key(db, argv[2]);
	else if (strcmp(argv[0], "audit") == 0 && argc == 3 &&
	    strcmp(argv[1], "--") == 0)
		rc = audit(db, argv[2]);	/* a client whose id is "purge" */
	else if (strcmp(argv[0], "audit") == 0 && argc == 2)
		rc = audit(db, argv[1]);
	else if (strcmp(argv[0], "erase") == 0 && argc == 2)
		rc = erase(db, argv[1]);
	else if (strcmp(argv[0], "purge-idempotency") == 0)
		rc = purge_idempotency(db, &cfg, argc, argv);
	else if (strcmp(argv[0], "webhook") == 0)
		rc = webhook(db, argc, argv);
	else if (strcmp(argv[0], "explain-list") == 0 && argc == 1)
		rc = cm_db_explain_list(db, stdout) == CM_DB_OK ? 0 :
		    failed(CM_DB_FAILED, "explain-list");
	else
		usage();
	cm_db_close(db);
	mysql_library_end();
	return rc;
}
