/* Releasing removed directories in a kernel worker (see include/ovlbox/release.h). */
#include <errno.h>
#include <linux/io_uring.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ovlbox/release.h"

static void close_keep_errno(int fd)
{
	int saved = errno;
	close(fd);
	errno = saved;
}

/* A new io_uring instance holding its own references to fds (registered files), or -1 if
 * io_uring is not available to this process. Its teardown, queued to a kernel worker by the last
 * close of the returned fd, drops those references. */
static int ring_holding(const int *fds, unsigned n)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ring = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (ring < 0)
		return -1;
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES, fds, n) < 0) {
		close_keep_errno(ring);
		return -1;
	}
	return ring;
}

void ovl_release_all(struct ovl_release *r)
{
	if (r->n == 0)
		return;
	int ring = ring_holding(r->fd, r->n);
	/* Our references go first, so that the ring's, dropped in the worker, are the last
	 * (without a ring, these closes free the directories here). */
	for (unsigned i = 0; i < r->n; i++)
		close_keep_errno(r->fd[i]);
	if (ring >= 0)
		close_keep_errno(ring);
	r->n = 0;
}

void ovl_release_hold(struct ovl_release *r, int fd)
{
	if (fd < 0)
		return;
	if (r->n == OVL_RELEASE_BATCH)
		ovl_release_all(r);
	r->fd[r->n++] = fd;
}
