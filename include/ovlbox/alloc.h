/* Allocation that cannot fail: out of memory, the process aborts (as crun's xmalloc does),
 * instead of a check at each call site. Plus the small type-checked helpers bubblewrap has. */
#ifndef OVLBOX_ALLOC_H
#define OVLBOX_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Elements of an array; a pointer does not compile. */
#define N_ELEMENTS(a)                                                                              \
	(sizeof(a) / sizeof((a)[0]) +                                                              \
	 0 * sizeof(                                                                               \
		 char[1 - 2 * __builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]))]))

#endif
