/* log.c - one line per event on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include "log.h"

void
cm_log(const char *level, const char *fmt, ...)
{
	char		 line[2048], stamp[32];
	struct timeval	 tv;
	struct tm	 tm;
	va_list		 ap;
	int		 n;
	size_t		 len;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ pid=%ld %s ", stamp,
	    (long)(tv.tv_usec / 1000), (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	len = strlen(line);
	line[len++] = '\n';
	/* One write(2) per line so lines of concurrent workers do not mix. */
	(void)!write(STDERR_FILENO, line, len);
}
