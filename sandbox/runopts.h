/* ovlbox run: its command line. */
#ifndef OVLBOX_RUNOPTS_H
#define OVLBOX_RUNOPTS_H

#include <stdbool.h>
#include <sys/resource.h>

#include "ovlbox/caps.h"
#include "ovlbox/mark.h"
#include "rootfs.h"

struct run_rlimit {
	int resource;
	struct rlimit lim;
	const char *spec; /* as given, for messages */
};

struct run_opts {
	char *workspace_abs, *upper_abs, *work_abs;
	enum ovl_on_exit on_exit;
	const char *hostname;
	bool net_host;
	struct user_mount *mounts;
	size_t nmounts;
	struct ovl_capset caps;
	const char *seccomp;	    /* "default", "none" or a file */
	double timeout, kill_after; /* seconds; timeout 0 = none */
	char **envp;
	const char *cwd;
	struct run_rlimit *rlimits;
	size_t nrlimits;
	const char *stats;
	const char *upper_size;		 /* tmpfs size= value, or NULL */
	bool keep_setuid, allow_devices; /* passed to the apply */
	bool check_owners;		 /* as non-root, walk the workspace before the run */
	char **argv;			 /* the action */
	char *exec_path; /* argv[0] resolved on PATH before the sandbox starts, or NULL */
};

/* Returns 0, 1 after --help, -1 after printing a one-line error. */
int run_opts_parse(int argc, char **argv, struct run_opts *o);
void run_opts_free(struct run_opts *o);

#endif
