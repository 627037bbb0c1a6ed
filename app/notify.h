/*
 * notify.h - systemd's readiness protocol and socket activation, without
 * libsystemd: a datagram of "KEY=value" lines to $NOTIFY_SOCKET
 * (sd_notify(3)), and $LISTEN_PID/$LISTEN_FDS (sd_listen_fds(3)).  Both
 * are tiny, stable protocols; with neither variable set these do nothing.
 */
#ifndef CLIENTSD_NOTIFY_H
#define CLIENTSD_NOTIFY_H

/* Sends one notification ("READY=1\nSTATUS=..."); quietly nothing when
 * $NOTIFY_SOCKET is unset.  Returns 0, or -1 when sending failed. */
int	notify_send(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* The first socket systemd passed (fd 3) when $LISTEN_PID is this process
 * and $LISTEN_FDS >= 1, else -1.  Unsets both variables. */
int	notify_listen_fd(void);

#endif
