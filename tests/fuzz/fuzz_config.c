/*
 * fuzz_config.c - the INI config parser on any file content: it either
 * loads or says "file:line: reason", never crashes, and a loaded config
 * keeps its invariants.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memfd_create */
#endif
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 fd = -1;
	struct cm_config	 cfg;
	char			 path[64], err[512];

	if (fd < 0 && (fd = memfd_create("fuzz_config", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cm_config_defaults(&cfg);
	err[0] = '\0';
	if (cm_config_load(&cfg, path, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();	/* failed without a reason */
		return 0;
	}
	if (cfg.workers < 1 || cfg.workers > 256 || cfg.body_limit < 1024 ||
	    memchr(cfg.listen, '\0', sizeof(cfg.listen)) == NULL ||
	    memchr(cfg.db_password, '\0', sizeof(cfg.db_password)) == NULL)
		abort();
	return 0;
}
