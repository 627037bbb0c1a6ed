/*
 * webhooks_probe.c - an LD_PRELOAD shim for delivery_test.py, never built
 * into clientsd: the test compiles it (cc -shared -fPIC) and preloads it
 * into a dispatcher.  It wraps libcurl's curl_multi_add_handle, which the
 * dispatcher calls to start each delivery, inside its sandbox (and
 * libcurl itself never calls, unlike curl_easy_init): when the
 * environment has WEBHOOKS_PROBE=execve, the dispatcher then calls
 * execve("/bin/true"), exactly as one taken over through a bug in what
 * parses a receiver's answer would.
 *
 * Under the sandbox the kernel stops the dispatcher with SIGSYS.  Without
 * it the call succeeds (the process becomes /bin/true and exits 0), which
 * is how the test shows that the probe does make the call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	curl_multi_add_handle(void *, void *);

int
curl_multi_add_handle(void *multi, void *easy)
{
	static int	(*real)(void *, void *);
	const char	*probe = getenv("WEBHOOKS_PROBE");
	char		*argv[] = { "/bin/true", NULL };

	if (probe != NULL && strcmp(probe, "execve") == 0) {
		execve(argv[0], argv, NULL);
		(void)!write(STDERR_FILENO, "probe: execve failed\n", 21);
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "curl_multi_add_handle");
	return real != NULL ? real(multi, easy) : 1;
}
