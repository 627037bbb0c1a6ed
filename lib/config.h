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

enum cm_unknown_policy { CM_UNKNOWN_REJECT, CM_UNKNOWN_IGNORE };

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
	/* [database] */
	char	db_socket[256];		/* default /run/mysqld/mysqld.sock */
	char	db_host[256];		/* used when db_socket is "" */
	int	db_port;		/* default 3306 */
	char	db_name[64];		/* default "clients" */
	char	db_user[64];		/* default "clients" */
	char	db_password[256];	/* secret: never logged */
	int	db_connect_timeout;	/* seconds, default 2 */
	int	db_retries;		/* deadlock / lock wait retries, default 3 */
	/* [api] */
	size_t	body_limit;		/* bytes, default 65536 */
	enum cm_unknown_policy unknown_fields;	/* default reject */
	bool	admin_key_query;	/* allow ?admin_key=, default true */
	int	retry_after;		/* seconds in Retry-After on 503, default 5 */
	char	tzdata[256];		/* default /usr/share/zoneinfo/tzdata.zi */
};

void	cm_config_defaults(struct cm_config *);
/* The file to read without -c: $CLIENTSD_CONFIG, else $(sysconfdir)/clientsd.conf. */
const char *cm_config_default_path(void);
/*
 * Reads path over the defaults already in cfg.  Returns 0, or -1 with
 * "path:line: reason" (or "path: strerror") in err.
 */
int	cm_config_load(struct cm_config *cfg, const char *path,
	    char *err, size_t errsz);

#endif
