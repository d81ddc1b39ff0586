/* The unit tests' one assertion: counts every check, prints each failure with its place and
 * goes on; a test's main returns failures ? 1 : 0. */
#ifndef OVLBOX_UNIT_CHECK_H
#define OVLBOX_UNIT_CHECK_H

#include <stdio.h>

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

#endif
