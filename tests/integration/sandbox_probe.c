/*
 * sandbox_probe.c - an LD_PRELOAD shim for sandbox_test.py, never built
 * into clientsd: the test compiles it (cc -shared -fPIC) and preloads it
 * into a throw-away pool.  It wraps libfcgi's FCGX_Accept_r: when an
 * accepted request carries the FastCGI parameter HTTP_X_SANDBOX_PROBE,
 * the worker makes the system call it names, from inside the sandbox,
 * exactly as a compromised worker would:
 *
 *   execve      execve("/bin/true")
 *   open-write  open(HTTP_X_SANDBOX_PATH, O_WRONLY | O_CREAT) - a new file
 *
 * Under the sandbox the kernel stops the worker with SIGSYS.  Without it
 * the call succeeds (the process becomes /bin/true, or the file exists),
 * which is how the test shows that the probe does make the call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

int
FCGX_Accept_r(FCGX_Request *req)
{
	static int	(*real)(FCGX_Request *);
	const char	*probe, *path;
	char		*argv[] = { "/bin/true", NULL };
	char		 line[256];
	int		 rc, fd, n;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "FCGX_Accept_r");
	if (real == NULL || (rc = real(req)) < 0)
		return -1;
	if ((probe = FCGX_GetParam("HTTP_X_SANDBOX_PROBE", req->envp)) == NULL)
		return rc;
	if (strcmp(probe, "execve") == 0) {
		execve(argv[0], argv, NULL);
		n = snprintf(line, sizeof(line), "probe: execve failed\n");
	} else if (strcmp(probe, "open-write") == 0 &&
	    (path = FCGX_GetParam("HTTP_X_SANDBOX_PATH", req->envp)) != NULL) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		n = snprintf(line, sizeof(line), "probe: open-write %s\n",
		    fd >= 0 ? "succeeded" : "failed");
		if (fd >= 0)
			close(fd);
	} else
		n = snprintf(line, sizeof(line), "probe: unknown probe\n");
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	return rc;
}
