/* Shared by the fuzz harnesses in tests/fuzz/: a scratch directory made once per process
 * for the inputs that are read from a file, and the checks every parser's result must pass.
 * The harnesses build both as libFuzzer targets (make fuzz) and with tests/fuzz/replay.c as
 * plain programs that run given files (make tests; tests/fuzz_replay.bats). */
#ifndef OVLBOX_FUZZ_H
#define OVLBOX_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovlbox/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];
static const char *fuzz_file_name;

static inline void fuzz_cleanup(void)
{
	if (fuzz_dir[0] == '\0')
		return;
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, fuzz_file_name);
	unlink(path);
	rmdir(fuzz_dir);
}

/* A directory fd where name is written by fuzz_write(); made at the first call, removed at
 * exit (a crash leaves it in $TMPDIR). */
static inline int fuzz_scratch_dir(const char *name)
{
	static int fd = -1;
	if (fd >= 0)
		return fd;
	const char *tmp = getenv("TMPDIR");
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/ovlbox-fuzz.XXXXXX",
		 tmp && tmp[0] && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	fuzz_file_name = name;
	atexit(fuzz_cleanup);
	fd = open(fuzz_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	return fd;
}

/* Replaces the file name in dirfd with data. */
static inline void fuzz_write(int dirfd, const char *name, const uint8_t *data, size_t size)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n <= 0)
			abort();
		data += n;
		size -= (size_t)n;
	}
	close(fd);
}

/* Every failure must come with one error, of one line (house rule: it is printed as is). */
static inline void fuzz_check_error(int r, ovl_error_t *err)
{
	if (r < 0 && (*err == NULL || (*err)->msg == NULL || strchr((*err)->msg, '\n'))) {
		fprintf(stderr, "error message missing or not one line: %s\n",
			*err && (*err)->msg ? (*err)->msg : "(none)");
		abort();
	}
	ovl_error_free(err);
}

#endif
