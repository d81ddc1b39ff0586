/* The sandbox from inside: its init (pid 1 of the new pid namespace) and the action's process.
 *
 * ovlbox clones init into new pid (and, as non-root, user) namespaces. init says MSG_STARTED,
 * makes the mount, IPC and UTS namespaces and waits; ovlbox meanwhile compiles the seccomp
 * filter and readies the layers, then writes "g" and the filter to sync_fd. init forks the
 * action (which makes the network namespace while init mounts the overlay, says MSG_MOUNTED,
 * and builds the view), releases it, reaps everything once it exits, unmounts the workspace
 * and writes its struct init_report. */
#ifndef OVLBOX_SANDBOX_INIT_H
#define OVLBOX_SANDBOX_INIT_H

#include <stdbool.h>
#include <sys/resource.h>

#include "ovlbox/layers.h"
#include "runopts.h"

/* What the sandbox's init tells the parent through the report pipe: MSG_STARTED, at most one
 * MSG_MOUNTED, then one struct init_report. */
enum { MSG_STARTED = 's', MSG_MOUNTED = 'm', MSG_REPORT = 'r' };

/* What the sandbox's init reports to the parent at the end. */
struct init_report {
	char tag;	     /* MSG_REPORT */
	int setup_failed;    /* 1: ovlbox could not set up; msg says why */
	int exec_errno;	     /* the action could not be executed */
	int wait_status;     /* the action's wait status */
	int unmounted;	     /* 1: the overlay is gone, the parent need not wait for init's exit */
	struct rusage usage; /* of every process of the action, all reaped */
	char msg[1024];
};

void sandbox_init(const struct run_opts *o, const struct ovl_layers *l, bool rootless, int sync_fd,
		  int report_fd, int tmpfs_sock) __attribute__((noreturn));

/* Installs fn for the signals ovlbox passes on to the action (TERM INT HUP QUIT USR1 USR2). */
void install_handlers(void (*fn)(int));

#endif
