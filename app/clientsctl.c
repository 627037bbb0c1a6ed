/*
 * clientsctl - the admin CLI: schema migrations and admin keys.
 *
 *	clientsctl [-c config] migrate [-d dir]
 *	clientsctl [-c config] admin-key create --name NAME
 *	clientsctl [-c config] admin-key list
 *	clientsctl [-c config] admin-key revoke ID
 *	clientsctl [-c config] audit CLIENT_ID
 *	clientsctl [-c config] explain-list
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <mysql.h>

#include "auth.h"
#include "config.h"
#include "jsonbody.h"
#include "store.h"
#include "validate.h"

static const char usage_text[] =
	    "usage: clientsctl [-c config] migrate [-d dir]\n"
	    "       clientsctl [-c config] admin-key create --name NAME\n"
	    "       clientsctl [-c config] admin-key list\n"
	    "       clientsctl [-c config] admin-key revoke ID\n"
	    "       clientsctl [-c config] audit CLIENT_ID\n"
	    "       clientsctl [-c config] explain-list\n"
	    "       clientsctl -h | --help | -V | --version\n";

static void __attribute__((noreturn))
usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static int
failed(int rc, const char *what)
{
	fprintf(stderr, "clientsctl: %s: %s\n", what,
	    rc == CM_STORE_UNAVAILABLE ? "database unavailable" :
	    rc == CM_STORE_NOT_FOUND ? "no such active key" :
	    "database error (see the message above)");
	return 1;
}

static void
print_applied(const char *name)
{
	printf("applied %s\n", name);
}

static int
migrate(struct cm_store *s, int argc, char *argv[])
{
	const char	*dir = PKGDATADIR "/migrations";
	int		 rc;

	if (argc == 3 && strcmp(argv[1], "-d") == 0)
		dir = argv[2];
	else if (argc != 1)
		usage();
	if ((rc = cm_store_migrate(s, dir, print_applied)) != CM_STORE_OK)
		return failed(rc, "migrate");
	printf("schema up to date\n");
	return 0;
}

/* Prints the key once, on stdout alone; only its hash is stored. */
static int
key_create(struct cm_store *s, const char *name)
{
	char			key[CM_ADMIN_KEY_LEN + 1];
	char			hash[CM_SHA256_HEX_LEN + 1];
	unsigned long long	id;
	int			rc;

	if (name[0] == '\0' || strlen(name) > 255)
		usage();
	if (cm_admin_key(key) != 0 ||
	    cm_sha256_hex(key, strlen(key), hash) != 0) {
		fprintf(stderr, "clientsctl: getrandom: %s\n", strerror(errno));
		return 1;
	}
	rc = cm_store_admin_key_create(s, name, hash, &id);
	if (rc == CM_STORE_OK) {
		printf("%s\n", key);
		fprintf(stderr, "created admin key %llu (%s); it is shown "
		    "only this once\n", id, name);
	}
	explicit_bzero(key, sizeof(key));
	return rc == CM_STORE_OK ? 0 : failed(rc, "admin-key create");
}

static int
admin_key(struct cm_store *s, int argc, char *argv[])
{
	char	*end;
	unsigned long long id;
	int	 rc;

	if (argc == 4 && strcmp(argv[1], "create") == 0 &&
	    strcmp(argv[2], "--name") == 0)
		return key_create(s, argv[3]);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		rc = cm_store_admin_key_list(s, stdout);
		return rc == CM_STORE_OK ? 0 : failed(rc, "admin-key list");
	}
	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		errno = 0;
		id = strtoull(argv[2], &end, 10);
		if (errno != 0 || *end != '\0' || argv[2][0] == '\0')
			usage();
		if ((rc = cm_store_admin_key_revoke(s, id)) != CM_STORE_OK)
			return failed(rc, "admin-key revoke");
		printf("revoked admin key %llu\n", id);
		return 0;
	}
	usage();
	return 2;
}

/* Every audit entry of a client, newest first, one JSON object a line. */
static int
audit(struct cm_store *s, const char *id)
{
	struct cm_list_query	 q = { -1, NULL, NULL, NULL, 200, 0, NULL, true };
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
		if ((rc = cm_store_audit(s, id, &q, &pg)) != CM_STORE_OK)
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

int
main(int argc, char *argv[])
{
	struct cm_config	 cfg;
	struct cm_store		*s;
	const char		*path = cm_config_default_path();
	char			 err[512];
	int			 ch, rc;

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
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			usage();
		path = optarg;
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
	s = cm_store_new(&cfg);
	if (strcmp(argv[0], "migrate") == 0)
		rc = migrate(s, argc, argv);
	else if (strcmp(argv[0], "admin-key") == 0)
		rc = admin_key(s, argc, argv);
	else if (strcmp(argv[0], "audit") == 0 && argc == 2)
		rc = audit(s, argv[1]);
	else if (strcmp(argv[0], "explain-list") == 0 && argc == 1)
		rc = cm_store_explain_list(s, stdout) == CM_STORE_OK ? 0 :
		    failed(CM_STORE_FAILED, "explain-list");
	else
		usage();
	cm_store_free(s);
	mysql_library_end();
	return rc;
}
