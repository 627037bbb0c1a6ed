/*
 * notify.c - sd_notify and sd_listen_fds, the protocol only (see notify.h).
 * Our own twenty lines rather than libsystemd: the build needs nothing more
 * on systems without systemd, and the wire format is documented as stable.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"

#define SD_LISTEN_FDS_START	3

int
notify_send(const char *fmt, ...)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	char			 msg[512];
	socklen_t		 len;
	va_list			 ap;
	int			 fd, rc, n;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')		/* an abstract socket */
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len) == n ? 0 : -1;
	close(fd);
	return rc;
}

int
notify_listen_fd(void)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char		*end;
	long		 p, n;
	int		 fd = -1;

	if (pid != NULL && fds != NULL) {
		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno == 0 && *end == '\0' && p == (long)getpid()) {
			n = strtol(fds, &end, 10);
			if (errno == 0 && *end == '\0' && n >= 1) {
				fd = SD_LISTEN_FDS_START;
				(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
			}
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return fd;
}
