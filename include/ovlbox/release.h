/* Releasing removed directories off the caller's path.
 *
 * A directory's inode and block are freed when the last reference to it goes, usually in the
 * rmdir itself. On ext4 without a journal mounted `discard` (these machines' root disk) that
 * frees the block with a synchronous discard: 0.15-0.3 ms for each directory, in whoever drops
 * the reference. ovlbox removes five of them after every run (upper, work, work/work and the
 * volatile marker's two), on the runtime's path when the hook does it at poststop.
 *
 * The remover opens each directory before removing it, so that rmdir only takes the name away,
 * and hands the open directory here. ovl_release_all() registers the held directories with a
 * fresh io_uring instance and closes it: the instance's teardown runs in a kernel worker, which
 * drops the last references, so the kernel frees inodes and blocks after the caller has gone on.
 * Nothing is left behind: no process, and the names are gone before ovl_release_all() returns.
 * Where io_uring is missing or refused (kernel.io_uring_disabled, a seccomp filter), the
 * directories are simply closed, as without this module. */
#ifndef OVLBOX_RELEASE_H
#define OVLBOX_RELEASE_H

/* Directories held at once; a fuller set is released first (so the open fds stay few). */
#define OVL_RELEASE_BATCH 16

struct ovl_release {
	int fd[OVL_RELEASE_BATCH];
	unsigned n;
};

#define OVL_RELEASE_INIT                                                                           \
	{                                                                                          \
		.n = 0                                                                             \
	}

/* Takes over fd, an fd of a removed directory opened for reading: not O_PATH, which io_uring
 * refuses (the batch it is in would then be closed here). fd < 0 is ignored. */
void ovl_release_hold(struct ovl_release *r, int fd);

/* Releases every held directory as described above; r is empty afterwards. Cannot fail. */
void ovl_release_all(struct ovl_release *r);

/* For __attribute__((cleanup)): an early return still releases. */
static inline void ovl_release_allp(struct ovl_release *r)
{
	ovl_release_all(r);
}
#define cleanup_release __attribute__((cleanup(ovl_release_allp)))

#endif
