/* Filesystem mechanisms that never follow a symlink: every walk is relative to a directory fd,
 * paths are byte strings relative to that fd, and ".." or absolute components are refused. */
#ifndef OVLBOX_FS_H
#define OVLBOX_FS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* true if path is relative, non-empty and has no "..", "." or empty components. */
bool ovl_path_is_clean_relative(const char *path);

/* Opens relpath beneath dirfd with open(2) flags (O_NOFOLLOW and O_CLOEXEC are added). No
 * component may be a symlink; "" or "." opens dirfd itself again. Uses openat2
 * (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and falls back to an O_NOFOLLOW walk without it. */
int ovl_open_beneath(int dirfd, const char *relpath, int flags, ovl_error_t *err);

/* Removes dirfd/name: unlinks a non-directory, or removes a directory tree bottom-up, of any
 * depth, holding a bounded number of fds (walk.h). A missing name is success. Symlinks are
 * removed, never followed. */
int ovl_remove_tree_at(int dirfd, const char *name, ovl_error_t *err);

/* A directory stream on a duplicate of fd (fd stays open and usable), read from the start.
 * NULL with errno set on failure. */
DIR *ovl_opendir_dup(int fd);

/* openat() of a directory to be read, with O_NOATIME where the caller may use it (the owner, or
 * CAP_FOWNER): ovlbox reading a layer must not move the atimes that apply restores and
 * compares, nor the workspace's. flags as for openat(). */
int ovl_openat_noatime(int dirfd, const char *name, int flags);

/* openat() of a directory (O_DIRECTORY and O_CLOEXEC are added to flags) for working on it
 * through the fd: O_RDONLY where permission allows, so that xattr calls need no /proc lookup,
 * else O_PATH. */
int ovl_open_dir_fd(int dirfd, const char *path, int flags);

/* statx(AT_SYMLINK_NOFOLLOW) of dirfd/name ("" = dirfd itself) into a struct stat; also reports
 * whether the inode is immutable or append-only. Returns 0, or -1 with errno set (no error object:
 * callers decide whether ENOENT is an error). */
int ovl_lstat_at(int dirfd, const char *name, struct stat *st, bool *protected_attr);

/* Extended attributes of the inode behind fd (which may be an O_PATH fd of any file type,
 * symlinks included: those go through /proc/self/fd, the others through the f*xattr calls). */
/* fgetxattr(2) and fsetxattr(2), returning as they do. */
ssize_t ovl_fgetxattr(int fd, const char *name, void *buf, size_t size);
int ovl_fsetxattr(int fd, const char *name, const void *value, size_t len, int flags);
/* Fills *names with a NUL-separated list (caller frees) and its size. */
int ovl_xattr_list(int fd, char **names, size_t *size, ovl_error_t *err);
/* Fills *value (caller frees) and *len; returns 1, 0 if absent, -1 on error. */
int ovl_xattr_get(int fd, const char *name, char **value, size_t *len, ovl_error_t *err);
int ovl_xattr_set(int fd, const char *name, const void *value, size_t len, ovl_error_t *err);
/* Removing an absent attribute is success. */
int ovl_xattr_remove(int fd, const char *name, ovl_error_t *err);

/* Filters attribute names for ovl_copy_xattrs: return true to copy. */
typedef bool (*ovl_xattr_filter)(const char *name, void *data);

/* Makes dst's xattrs equal to src's (as filtered): sets every copied one, removes the others that
 * the filter accepts. */
int ovl_copy_xattrs(int src, int dst, ovl_xattr_filter keep, void *data, ovl_error_t *err);

/* Sets owner (without following), mode, then times of the inode behind fd (an O_PATH fd is
 * fine) to those in st. Mode bits include setuid/setgid as given. */
int ovl_set_owner_mode_times(int fd, const struct stat *st, ovl_error_t *err);

/* "/proc/self/fd/N" for fd into buf: a path that names fd's inode for the calls that take no fd
 * (mount(2), umount2, the l*xattr calls on an O_PATH fd). */
#define OVL_PROC_FD_PATH_MAX 32
void ovl_proc_fd_path(char buf[OVL_PROC_FD_PATH_MAX], int fd);

/* Writes all of buf to fd. */
int ovl_write_all(int fd, const void *buf, size_t len);

/* How ovl_replace_file makes the new file. */
struct ovl_replace {
	const char *tmp;	 /* its temporary name, in the same directory */
	mode_t mode;		 /* its mode (less the umask), when like is NULL */
	const struct stat *like; /* NULL, or the file it replaces: take its owner and mode */
	bool sync;		 /* fsync it before the rename */
};

/* Writes data into a new file r->tmp in dir_fd (a stale one from a crash is replaced) and renames
 * it over name: a reader sees the old file or the new one, never a part. On failure tmp is
 * removed and the error names the step and tmp ("write .x.tmp: No space left on device"), and
 * says so when tmp could not be removed either. */
int ovl_replace_file(int dir_fd, const char *name, const struct ovl_replace *r, const void *data,
		     size_t len, ovl_error_t *err);

/* Reads exactly len bytes; -1 with errno set on error, or with errno 0 at an early end of file. */
int ovl_read_all(int fd, void *buf, size_t len);

/* One fd over a unix socket (SCM_RIGHTS, with one byte of data): ovl_send_fd() returns 0 or -1
 * (errno set); ovl_recv_fd() returns the fd (close-on-exec), or -1 with errno ENODATA if the
 * byte came without an fd (a plain write), or -1 (errno set; EPIPE at end of file). */
int ovl_send_fd(int sock, int fd);
int ovl_recv_fd(int sock);

/* Creates a directory (mode) if missing. Returns 1 if created, 0 if it existed (as a directory,
 * not a symlink), -1 on error. */
int ovl_mkdir_if_missing(const char *path, mode_t mode, ovl_error_t *err);

#endif
