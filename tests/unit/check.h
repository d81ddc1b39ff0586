/* The unit tests' one assertion: counts every check, prints each failure with its place and
 * goes on; a test's main returns failures ? 1 : 0. */
#ifndef OVLBOX_UNIT_CHECK_H
#define OVLBOX_UNIT_CHECK_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

static int checks, failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                \
			printf(__VA_ARGS__);                                                       \
			putchar('\n');                                                             \
		}                                                                                  \
	} while (0)

/* mkdtemp(template), opened as a directory fd; aborts, as a test cannot go on without it. */
static inline int check_scratch_dir(char *template)
{
	if (mkdtemp(template) == NULL)
		abort();
	int fd = open(template, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	return fd;
}

#endif
