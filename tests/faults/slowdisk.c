/*
 * slowdisk.c - a slow disk for one process, on demand: an LD_PRELOAD
 * library for the cluster drills' MariaDB nodes.
 *
 * Every write to a file at an offset (pwrite, pwrite64, pwritev) and
 * every fsync and fdatasync first sleeps the number of milliseconds
 * written in the file named by SLOWDISK_FILE (no file, or 0: no delay).
 * InnoDB writes its redo log with pwrite at each commit (and syncs it,
 * when innodb_flush_log_at_trx_commit = 1), so a delay here is a disk
 * whose every write takes that long: commits on the node slow down, its
 * applier falls behind, and Galera's flow control slows the cluster to
 * its pace.  The file is read again at most every 100 ms, so a drill
 * changes the delay while the node runs.  Test code, never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_long	delay_ms;
static atomic_llong	read_at_ms = -1000;

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The delay in force: the control file's number, read again when stale. */
static long
current_delay(void)
{
	const char	*path = getenv("SLOWDISK_FILE");
	long long	 now = now_ms();
	char		 buf[32];
	long		 ms = 0;
	ssize_t		 n;
	int		 fd;

	if (path == NULL)
		return 0;
	if (now - atomic_load(&read_at_ms) < 100)
		return atomic_load(&delay_ms);
	atomic_store(&read_at_ms, now);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
			buf[n] = '\0';
			ms = strtol(buf, NULL, 10);
		}
		close(fd);
	}
	atomic_store(&delay_ms, ms > 0 ? ms : 0);
	return ms > 0 ? ms : 0;
}

static void
slow_down(void)
{
	long		ms = current_delay();
	struct timespec	ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

typedef ssize_t	(*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t	(*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t	(*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int	(*sync_fn)(int);

/* The libc function this one stands in front of. */
static void *
next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static pwrite_fn	real;

	if (real == NULL)
		real = (pwrite_fn)next("pwrite");
	slow_down();
	return real(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	static pwrite64_fn	real;

	if (real == NULL)
		real = (pwrite64_fn)next("pwrite64");
	slow_down();
	return real(fd, buf, n, off);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	static pwritev_fn	real;

	if (real == NULL)
		real = (pwritev_fn)next("pwritev");
	slow_down();
	return real(fd, iov, cnt, off);
}

int
fsync(int fd)
{
	static sync_fn	real;

	if (real == NULL)
		real = (sync_fn)next("fsync");
	slow_down();
	return real(fd);
}

int
fdatasync(int fd)
{
	static sync_fn	real;

	if (real == NULL)
		real = (sync_fn)next("fdatasync");
	slow_down();
	return real(fd);
}
