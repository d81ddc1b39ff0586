/* The sandbox from inside: its init (pid 1 of the new pid namespace) and the action's process.
 *
 * ovlbox reads a seccomp profile file, if one is given (the filter is compiled later), and
 * clones init into new pid (and, as non-root, user) namespaces. init forks the action's process
 * at once, makes the mount namespace and waits for a byte on sync_fd (a unix socket), which
 * ovlbox sends once it has readied the layers, with the work dir's fd unless the layers are
 * kept or on the --upper-size tmpfs. Meanwhile the action's process makes the network, IPC and
 * UTS namespaces and compiles a profile file's filter (the built-in profile is compiled at
 * build time). init mounts the overlay, builds the view (joining the action's network
 * namespace to mount /sys), removes the volatile overlay's marker from the work dir, closes it
 * and releases the action, which joins init's mount namespace and executes. Once the action has
 * exited and every other process is gone, init unmounts the workspace, writes its struct
 * init_report and, with the work dir's fd ovlbox sends it again, removes overlayfs' scratch dir
 * while ovlbox applies. While the action runs, init holds no fd of a host mount (see
 * sandbox_init). */
#ifndef OVLBOX_SANDBOX_INIT_H
#define OVLBOX_SANDBOX_INIT_H

#include <stdbool.h>
#include <sys/resource.h>

#include "ovlbox/layers.h"
#include "ovlbox/seccomp.h"
#include "runopts.h"

/* What the sandbox's init writes to the parent through the report socket, once: at the end, or
 * when set-up fails. */
struct init_report {
	int setup_failed;    /* 1: ovlbox could not set up; msg says why */
	int exec_errno;	     /* the action could not be executed */
	int wait_status;     /* the action's wait status */
	int unmounted;	     /* 1: the overlay is gone, the parent need not wait for init's exit */
	struct rusage usage; /* of every process of the action, all reaped */
	char msg[1024];
};

void sandbox_init(const struct run_opts *o, struct ovl_layers *l, struct ovl_seccomp *filter,
		  bool rootless, int lock_fd, int sync_fd, int report_fd, int tmpfs_sock)
    __attribute__((noreturn));

/* Installs fn for the signals ovlbox passes on to the action (TERM INT HUP QUIT USR1 USR2). */
void install_handlers(void (*fn)(int));

/* Blocks (SIG_BLOCK) or unblocks (SIG_UNBLOCK) the signals ovlbox passes on. */
void forwarded_signals_mask(int how);

#endif
