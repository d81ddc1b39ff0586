/* The mark a layer set carries in its work dir while a container owns it.
 *
 * ovlbox-hook writes it at the mount stage, before the overlay is attached, and every later stage
 * (poststop, `ovlbox apply|discard`, the next mount stage) reads it back to decide whose layers
 * these are and whether they are still the same directories. It lives only in the work dir: the
 * merged root shows the upper root's xattrs, so the action could read or forge a mark there, but
 * it never sees the work dir.
 *
 * Text, one field a line, every byte outside printable ASCII (and the backslash) as \xNN:
 *
 *   ovlbox-mark 1
 *   id CONTAINER-ID
 *   workspace DEV INO
 *   upper DEV INO
 *   work DEV INO
 *   on-exit apply|discard|keep
 *   state mounted|unmounted
 *   init PID STARTTIME BOOT-ID
 *
 * (DEV as the kernel's st_dev number; STARTTIME as field 22 of /proc/PID/stat.) A mark written
 * by ovlbox 0.1 is the container id alone: it is read as that id with nothing else known. */
#ifndef OVLBOX_MARK_H
#define OVLBOX_MARK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Bytes of a container id, with its NUL. */
#define OVL_MARK_ID_MAX 256
/* Bytes of a whole mark as text. */
#define OVL_MARK_MAX 2048
/* Bytes of a boot id ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"), with its NUL. */
#define OVL_BOOT_ID_MAX 40

enum ovl_on_exit {
	OVL_ON_EXIT_APPLY,
	OVL_ON_EXIT_DISCARD,
	OVL_ON_EXIT_KEEP,
};
/* "apply", "discard", "keep". */
const char *ovl_on_exit_name(enum ovl_on_exit e);
/* 0 and *out, or -1 (no error object: the caller names the field). */
int ovl_on_exit_parse(const char *s, enum ovl_on_exit *out);

struct ovl_devino {
	uint64_t dev, ino;
};

/* A process, as it can be recognised later: its pid alone may be reused. */
struct ovl_proc_id {
	int64_t pid; /* 0: unknown */
	uint64_t starttime;
	char boot_id[OVL_BOOT_ID_MAX];
};

struct ovl_mark {
	char id[OVL_MARK_ID_MAX];
	bool legacy; /* an ovlbox 0.1 mark: only id is known */
	struct ovl_devino workspace, upper, work;
	enum ovl_on_exit on_exit;
	bool mounted;
	struct ovl_proc_id init;
};

/* Renders m into buf (OVL_MARK_MAX bytes); returns its length. */
size_t ovl_mark_format(const struct ovl_mark *m, char buf[OVL_MARK_MAX]);
/* Parses len bytes of text. Refuses anything but a complete, well-formed mark (or a legacy id)
 * with "damaged mark: ..." naming the line. */
int ovl_mark_parse(const char *text, size_t len, struct ovl_mark *m, ovl_error_t *err);

/* Identifies pid now (its start time in /proc/PID/stat and this boot). */
int ovl_proc_id_of(int64_t pid, struct ovl_proc_id *out, ovl_error_t *err);
/* The caller's parent, as /proc (the pid namespace it was mounted for) numbers it. */
int ovl_proc_parent(int64_t *ppid, ovl_error_t *err);
/* 1 if the process p still runs (same boot, same pid with the same start time), 0 if it is gone,
 * -1 on error. An unknown process (pid 0) counts as running: nothing says it stopped. */
int ovl_proc_id_alive(const struct ovl_proc_id *p, ovl_error_t *err);

#endif
