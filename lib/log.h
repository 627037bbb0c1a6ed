/*
 * log.h - logging to stderr, the way slowcgi does it: a few macros.
 *
 * Every line starts with an ISO-8601 UTC time and the pid.  Callers never
 * pass secrets (keys, passwords, the admin_key query value) to these.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

void	cm_log(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define LOG_INFO(...)	cm_log("info", __VA_ARGS__)
#define LOG_WARN(...)	cm_log("warn", __VA_ARGS__)
#define LOG_ERR(...)	cm_log("error", __VA_ARGS__)

#endif
