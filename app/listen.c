/*
 * listen.c - bind, inherit, remove (see listen.h).
 *
 * We bind ourselves instead of FCGX_OpenSocket(): libfcgi unlinks the path
 * before binding, so a second instance would silently steal the socket of
 * a running one.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "notify.h"

bool
listen_is_socket(int fd)
{
	int		on = 0;
	socklen_t	len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/* A Unix socket gets listen_mode and listen_owner/listen_group, like PHP-FPM's listen.*. */
static int
socket_access(const struct cm_config *cfg, const char *path, char *err,
    size_t errsz)
{
	struct passwd	*pw = NULL;
	struct group	*gr = NULL;

	if (cfg->listen_owner[0] && (pw = getpwnam(cfg->listen_owner)) == NULL) {
		snprintf(err, errsz, "listen_owner %s: no such user",
		    cfg->listen_owner);
		return -1;
	}
	if (cfg->listen_group[0] && (gr = getgrnam(cfg->listen_group)) == NULL) {
		snprintf(err, errsz, "listen_group %s: no such group",
		    cfg->listen_group);
		return -1;
	}
	if ((pw || gr) && chown(path, pw ? pw->pw_uid : (uid_t)-1,
	    gr ? gr->gr_gid : (gid_t)-1) != 0) {
		snprintf(err, errsz, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, cfg->listen_mode) != 0) {
		snprintf(err, errsz, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* -1 with err when something answers on path; removes a stale socket. */
static int
clear_unix_path(const char *path, char *err, size_t errsz)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, rc;

	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "%s exists and is not a socket", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errsz, "something already answers on %s "
		    "(another clientsd?): not starting", path);
		return -1;
	}
	LOG_INFO("removing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errsz, "unlink %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
bind_unix(const struct cm_config *cfg, struct listener *l, char *err,
    size_t errsz)
{
	struct sockaddr_un	 sun;
	const char		*path = cfg->listen;
	int			 fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsz, "listen %s: path too long", path);
		return -1;
	}
	if (clear_unix_path(path, err, errsz) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errsz, "listen %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (socket_access(cfg, path, err, errsz) == -1 ||
	    listen(fd, cfg->backlog) == -1) {
		if (err[0] == '\0')
			snprintf(err, errsz, "listen %s: %s", path,
			    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	l->fd = fd;
	snprintf(l->path, sizeof(l->path), "%s", path);
	return 0;
}

static int
bind_tcp(const struct cm_config *cfg, struct listener *l, char *err,
    size_t errsz)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], *colon;
	int		 fd = -1, on = 1, rc;

	snprintf(host, sizeof(host), "%s", cfg->listen);
	if ((colon = strrchr(host, ':')) == NULL) {
		snprintf(err, errsz, "listen %s: a path or host:port",
		    cfg->listen);
		return -1;
	}
	*colon = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints,
	    &res)) != 0) {
		snprintf(err, errsz, "listen %s: %s", cfg->listen,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, cfg->backlog) == -1) {
		snprintf(err, errsz, "listen %s: %s%s", cfg->listen,
		    strerror(errno), errno == EADDRINUSE ?
		    " (another clientsd?): not starting" : "");
		if (fd != -1)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	l->fd = fd;
	l->path[0] = '\0';
	return 0;
}

int
listen_bind(const struct cm_config *cfg, struct listener *l, char *err,
    size_t errsz)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	err[0] = '\0';
	snprintf(l->name, sizeof(l->name), "%s", cfg->listen);
	if (strchr(cfg->listen, '/') != NULL)
		return bind_unix(cfg, l, err, errsz);
	return bind_tcp(cfg, l, err, errsz);
}

/* The name of an inherited socket, for the log. */
static void
describe(int fd, struct listener *l)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&ss;
	socklen_t		 len = sizeof(ss);

	snprintf(l->name, sizeof(l->name), "fd %d", fd);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_UNIX && sun->sun_path[0] != '\0')
		snprintf(l->name, sizeof(l->name), "%.*s",
		    (int)sizeof(sun->sun_path), sun->sun_path);
}

int
listen_open(const struct cm_config *cfg, struct listener *l, char *err,
    size_t errsz)
{
	const char	*env = getenv(LISTEN_ENV);
	char		*end;
	long		 fd = -1;
	bool		 upgraded = false;

	if (env != NULL) {
		fd = strtol(env, &end, 10);
		upgraded = *end == '\0' && fd >= 0 && listen_is_socket((int)fd);
		if (!upgraded)
			fd = -1;
		unsetenv(LISTEN_ENV);
	}
	if (!upgraded && (fd = notify_listen_fd()) >= 0 &&
	    !listen_is_socket((int)fd)) {
		snprintf(err, errsz, "LISTEN_FDS: fd %ld is not a listening "
		    "socket", fd);
		return -1;
	}
	if (fd < 0)
		return listen_bind(cfg, l, err, errsz);
	memset(l, 0, sizeof(*l));
	l->fd = (int)fd;
	(void)fcntl(l->fd, F_SETFD, FD_CLOEXEC);
	describe(l->fd, l);
	/* systemd owns its socket; one handed over by an old master is ours now. */
	l->inherited = !upgraded;
	if (upgraded && l->name[0] == '/')
		snprintf(l->path, sizeof(l->path), "%s", l->name);
	if (strcmp(l->name, cfg->listen) != 0)
		LOG_WARN("using the socket inherited from %s (%s); [server] "
		    "listen = %s is ignored", upgraded ? "the old master" :
		    "systemd", l->name, cfg->listen);
	else
		LOG_INFO("using the socket inherited from %s (%s)", upgraded ?
		    "the old master" : "systemd", l->name);
	return 0;
}

void
listen_close(struct listener *l, bool keep_path)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (!keep_path && !l->inherited && l->path[0] != '\0')
		unlink(l->path);
}

int
listen_queue(int fd)
{
	struct tcp_info	 ti;
	socklen_t	 len = sizeof(ti);
	struct sockaddr_storage ss;
	socklen_t	 slen = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return -1;
	/* For a listening socket Linux reports the accept queue in unacked. */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return (int)ti.tcpi_unacked;
}
