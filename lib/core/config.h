/*
 * config.h - the clientsd.conf INI file.
 *
 * Every key, its section and its default are listed in conf/clientsd.conf
 * and in clientsd.conf(5).  Unknown sections or keys, malformed lines and
 * bad values are errors reported as "file:line: reason".
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "dbhosts.h"
#include "log.h"

enum cm_unknown_policy { CM_UNKNOWN_REJECT, CM_UNKNOWN_IGNORE };
/* [server] pm: PHP-FPM's process managers. */
enum cm_pm { CM_PM_STATIC, CM_PM_DYNAMIC, CM_PM_ONDEMAND };
/* [server] sandbox: seccomp (the default) or none; see sandbox.h. */
enum cm_sandbox { CM_SANDBOX_SECCOMP, CM_SANDBOX_NONE };

/*
 * The systemd credential (LoadCredential=db-password:FILE) read from
 * $CREDENTIALS_DIRECTORY for the database password.
 */
#define CM_DB_PASSWORD_CREDENTIAL	"db-password"

struct cm_config {
	/* [server] */
	char	listen[256];		/* "/run/clientsd.sock" or "127.0.0.1:9000" */
	char	listen_owner[64];	/* "" = unchanged */
	char	listen_group[64];
	unsigned listen_mode;		/* default 0660 */
	int	backlog;		/* default 128 */
	int	workers;		/* default 4, 1..256 */
	char	user[64];		/* drop to this user when started as root */
	char	group[64];
	char	pid_file[256];
	/* [server], the pool (pool helper's block; clientsd.conf(5)) */
	char	pool_name[64];		/* default "clientsd": the status page's pool */
	enum cm_pm pm;			/* default static */
	int	min_spare;		/* dynamic: default 1 */
	int	max_spare;		/* dynamic: default 3 */
	int	start_workers;		/* dynamic: default 2 */
	int	idle_timeout;		/* ondemand: seconds, default 10 */
	int	max_requests;		/* recycle after N requests; 0 = never */
	int	request_timeout;	/* seconds, default 30: watchdog + deadline */
	int	stop_timeout;		/* seconds, default 30 */
	int	slowlog_ms;		/* 0 = off */
	bool	allow_root;		/* workers may run as root (containers) */
	char	listen_allowed[256];	/* TCP: "ADDR, ..." allowed peers; "" any */
	int	server_line;		/* line of the last [server] key, for errors */
	/* [log] */
	char	log_target[256];	/* "stderr", "syslog" or an absolute path */
	enum cm_log_level log_level;	/* default info */
	enum cm_sandbox sandbox;	/* default seccomp */
	/* [database] */
	char	db_socket[256];		/* default /run/mysqld/mysqld.sock */
	char	db_host[256];		/* used when db_socket is "" */
	int	db_port;		/* default 3306 */
	char	db_name[64];		/* default "clients" */
	char	db_user[64];		/* default "clients" */
	char	db_password[256];	/* secret: never logged */
	/*
	 * A file holding the password (one line); read by cm_config_load
	 * into db_password.  Without it, $CREDENTIALS_DIRECTORY/db-password
	 * (systemd's LoadCredential=) is used when present.
	 */
	char	db_password_file[256];
	int	db_connect_timeout;	/* seconds, default 2 */
	int	db_retries;		/* conflict retries and reconnects, each: a cap within the deadline, default 10 */
	/* store: cap of innodb_lock_wait_timeout per transaction, seconds */
	int	db_lock_wait_timeout;	/* default 5 */
	/*
	 * store: how long one statement may go unanswered before its node
	 * is taken for stalled (dbwatch.h), seconds; > lock_wait_timeout
	 */
	int	db_statement_timeout;	/* default 10 */
	/*
	 * Several endpoints.  hosts ("" = the socket or host/port
	 * above) is checked by cm_dbnodes_parse() at load; the store parses
	 * it again into its node list.
	 */
	char	db_hosts[1024];		/* "h:p, [v6]:p, /sock" */
	enum cm_db_policy db_policy;	/* default failover */
	bool	db_galera;		/* check wsrep health at connect and /health */
	bool	db_allow_donor;		/* a Donor/Desynced node counts as healthy */
	bool	db_causal_reads;	/* SET SESSION wsrep_sync_wait = 1 */
	int	db_failback_s;		/* default 5: fail-back probe interval, down mark */
	enum cm_db_tls db_tls;		/* default off */
	char	db_tls_ca[256];		/* CA file (verify; optional with required) */
	char	db_tls_cert[256];	/* client certificate and its key: both or neither */
	char	db_tls_key[256];
	/* [api] */
	size_t	body_limit;		/* bytes, default 65536 */
	enum cm_unknown_policy unknown_fields;	/* default reject */
	bool	admin_key_query;	/* allow ?admin_key=, default false */
	int	retry_after;		/* seconds in Retry-After on 503, default 5 */
	char	tzdata[256];		/* default /usr/share/zoneinfo/tzdata.zi */
	/* [audit] */
	int	audit_retention_days;	/* 0 = keep forever (default), 0..36500 */
	/* [api]: the per-worker key cache */
	int	auth_cache_s;		/* admin keys cached per worker, default 5; 0 off */
	int	auth_refused_cache_s;	/* refused keys remembered, default 2; 0 off */
	/* [api]: Idempotency-Key */
	int	idempotency_ttl_s;	/* Idempotency-Key answers kept, default 86400 */
	/* [webhooks]: the endpoints API, and the dispatcher (clientsd-webhooks) */
	bool	webhook_allow_http;	/* endpoints may be http://, default false */
	bool	webhook_allow_private;	/* deliveries to private addresses, default false */
	char	webhook_user[64];	/* the dispatcher's database user, default "clients_webhooks" */
	int	webhook_connect_timeout; /* s, default 5 */
	int	webhook_timeout;	/* s per attempt, default 10 */
	int	webhook_retry_period;	/* s an event is retried, default 259200 */
	int	webhook_retry_min_ms;	/* the first back-off, default 1000 */
	int	webhook_retry_max_s;	/* the longest back-off, default 3600 */
	int	webhook_lease_s;	/* the dispatcher's lease, default 15 */
	int	webhook_poll_ms;	/* between rounds, default 500 */
	int	webhook_settle_s;	/* history older than this is settled, default 60 */
};

void	cm_config_defaults(struct cm_config *);
/* The file to read without -c: $CLIENTSD_CONFIG, else $(sysconfdir)/clientsd/clientsd.conf. */
const char *cm_config_default_path(void);
/*
 * Reads path over the defaults already in cfg.  Returns 0, or -1 with
 * "path:line: reason" (or "path: strerror") in err.  Then resolves the
 * database password: password_file if set, else the systemd credential
 * $CREDENTIALS_DIRECTORY/db-password if it exists, else password.  Setting
 * both password and password_file is an error; an unreadable file or
 * credential is an error naming it (never its contents).
 */
int	cm_config_load(struct cm_config *cfg, const char *path,
	    char *err, size_t errsz);

#endif
