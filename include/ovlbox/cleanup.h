/* __attribute__((cleanup)) helpers: every early return frees and closes. */
#ifndef OVLBOX_CLEANUP_H
#define OVLBOX_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"

static inline void ovl_freep(void *p)
{
	free(*(void **)p);
}

static inline void ovl_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void ovl_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static inline void ovl_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void ovl_errorp(ovl_error_t *e)
{
	ovl_error_free(e);
}

#define cleanup_free  __attribute__((cleanup(ovl_freep)))
#define cleanup_close __attribute__((cleanup(ovl_closep)))
#define cleanup_dir   __attribute__((cleanup(ovl_closedirp)))
#define cleanup_file  __attribute__((cleanup(ovl_fclosep)))
#define cleanup_error __attribute__((cleanup(ovl_errorp)))

/* Hands ownership of a cleanup_close fd to the caller. */
static inline int ovl_steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* Hands ownership of a cleanup_free pointer to the caller; the result has *pp's type. */
static inline void *(ovl_steal_ptr)(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}
#define ovl_steal_ptr(pp) (0 ? (*(pp)) : (ovl_steal_ptr)(pp))

#endif
