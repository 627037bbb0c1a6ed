/*
 * clientsd - the Clients Management API as a FastCGI responder.
 *
 * Standalone mode (nginx, or anything speaking FastCGI to a socket): binds
 * [server] listen (or takes the socket systemd or an upgrading master
 * hands over) and runs a prefork pool: master.c, children.c, worker.c.
 * Spawned mode (mod_fcgid, spawn-fcgi): fd 0 already is a listening
 * FastCGI socket, and this process is one worker; the web server manages
 * the processes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>

#include "mem.h"
#include "config.h"
#include "dbconf.h"
#include "listen.h"
#include "schema.h"
#include "log.h"
#include "master.h"
#include "scoreboard.h"
#include "tzdb.h"
#include "worker.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: clientsd [-t] [-c config]\n"
	    "       clientsd -V | --version\n"
	    "       clientsd -h | --help\n"
	    "\n"
	    "  -c FILE   the configuration (default: $CLIENTSD_CONFIG, else %s)\n"
	    "  -t        check the configuration and exit (0 good, 1 bad)\n"
	    "  -V        print the version and exit\n"
	    "  -h        print this help and exit\n"
	    "\n"
	    "Signals to the master: TERM, INT, QUIT stop gracefully; HUP\n"
	    "reloads the configuration; USR2 upgrades to the binary on disk;\n"
	    "USR1 reopens the log file.  See clientsd(8).\n",
	    cm_config_default_path());
}

/* Spawned by the web server: one worker, no pool, a private scoreboard. */
static int
spawned(const struct cm_config *cfg, const struct cm_tzdb *tzdb)
{
	struct worker_args	 a;
	struct scoreboard	*sb;
	int			 rc;

	if (worker_drop_privileges(cfg) != 0)
		return 1;
	if ((sb = sb_create(cfg, "fcgid")) == NULL) {
		LOG_ERR("scoreboard: %s", strerror(errno));
		return 1;
	}
	sb->slot[0].pid = getpid();
	sb->slot[0].started = sb->start_time;
	sb->slot[0].state = SB_STARTING;
	a.cfg = cfg;
	a.tzdb = tzdb;
	a.listen_fd = STDIN_FILENO;
	a.sb = sb;
	a.slot = 0;
	a.master = 0;
	rc = worker_run(&a);
	sb_destroy(sb);
	return rc;
}

/*
 * -t: the configuration, then the database's schema (schema.h), which
 * must answer and be one this build serves: a SIGUSR2 upgrade runs this
 * before the new binary takes over.
 */
static int
config_test(const struct cm_config *cfg, const char *path)
{
	char	level[64], why[256] = "";

	if (geteuid() == 0 && cfg->user[0] == '\0' && !cfg->allow_root) {
		fprintf(stderr, "clientsd: %s: workers would run as root: set "
		    "[server] user (or allow_root = true)\n", path);
		return 1;
	}
	(void)cm_log_open("stderr", CM_LOG_ERR, NULL, 0);
	if (mysql_library_init(0, NULL, NULL) != 0 ||
	    dbconf_schema_check(cfg, level, sizeof(level), why,
	    sizeof(why)) != 0) {
		fprintf(stderr, "clientsd: %s is OK, but %s\n", path,
		    why[0] != '\0' ? why : "the database library failed");
		return 1;
	}
	printf("clientsd: the configuration file %s is OK; the database "
	    "schema (%s) is one clientsd %s serves\n", path, level,
	    PACKAGE_VERSION);
	return 0;
}

/*
 * A pool refuses to start on a schema it cannot serve; a database that
 * does not answer yet is no reason not to start (each connection checks
 * the schema when it is made).
 */
static int
schema_at_start(const struct cm_config *cfg)
{
	char	level[64], why[256];
	int	rc;

	rc = dbconf_schema_check(cfg, level, sizeof(level), why, sizeof(why));
	if (rc < 0)
		LOG_ERR("refusing to start: %s", why);
	else if (rc > 0)
		LOG_WARN("the database schema is not checked now (%s): each "
		    "connection checks it", why);
	return rc < 0 ? -1 : 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cm_config	 cfg;
	struct cm_tzdb		*tzdb;
	const char		*path = cm_config_default_path();
	char			 err[512];
	int			 ch, rc, test = 0;

	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1)
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("clientsd %s\nschema: serves %s and later "
			    "expand migrations\n", PACKAGE_VERSION,
			    cm_schema_needed());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	cm_mem_init();
	cm_config_defaults(&cfg);
	if (cm_config_load(&cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsd: %s\n", err);
		return 1;
	}
	if ((tzdb = cm_tzdb_load(cfg.tzdata, err, sizeof(err))) == NULL) {
		fprintf(stderr, "clientsd: %s\n", err);
		return 1;
	}
	if (test) {
		cm_tzdb_free(tzdb);
		rc = config_test(&cfg, path);
		explicit_bzero(&cfg, sizeof(cfg));
		return rc;
	}
	if (cm_log_open(cfg.log_target, cfg.log_level, err, sizeof(err)) != 0) {
		fprintf(stderr, "clientsd: %s\n", err);
		cm_tzdb_free(tzdb);
		return 1;
	}
	if (mysql_library_init(0, NULL, NULL) != 0) {
		LOG_ERR("cannot initialise the MariaDB library");
		cm_tzdb_free(tzdb);
		return 1;
	}
	if (listen_is_socket(STDIN_FILENO) && getenv(LISTEN_ENV) == NULL &&
	    getenv("LISTEN_FDS") == NULL) {
		/* Its connections check the schema as they are made. */
		rc = spawned(&cfg, tzdb);
		cm_tzdb_free(tzdb);
	} else if (schema_at_start(&cfg) != 0) {
		cm_tzdb_free(tzdb);
		rc = 1;
	} else
		rc = master_run(&cfg, path, tzdb, argv);	/* owns tzdb */
	explicit_bzero(&cfg, sizeof(cfg));
	return rc;
}
