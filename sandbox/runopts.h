/* ovlbox run: its command line, and what it reports. */
#ifndef OVLBOX_RUNOPTS_H
#define OVLBOX_RUNOPTS_H

#include <stdbool.h>
#include <sys/resource.h>

#include "ovlbox/apply.h"
#include "ovlbox/caps.h"
#include "ovlbox/error.h"
#include "rootfs.h"

enum { EXIT_TIMED_OUT = 124 };

enum on_exit { ON_EXIT_APPLY, ON_EXIT_DISCARD, ON_EXIT_KEEP };

struct run_rlimit {
	int resource;
	struct rlimit lim;
	const char *spec; /* as given, for messages */
};

struct run_opts {
	char *workspace_abs, *upper_abs, *work_abs;
	enum on_exit on_exit;
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

struct run_result {
	int exit_code; /* what ovlbox run exits with for the action */
	int exec_errno;
	int wait_status;
	bool timed_out, applied;
	double wall_ms;
	struct rusage usage;
	struct ovl_change_counts changes;
	/* Workspace entries of owners a rootless run cannot map: 0 as root or after
	 * --check-owners, counted after a rootless action that failed, else -1 (not looked for). */
	long long unmapped_owners;
};

/* Returns 0, 1 after --help, -1 after printing a one-line error. */
int run_opts_parse(int argc, char **argv, struct run_opts *o);
void run_opts_free(struct run_opts *o);

/* Whether the --stats file can be written (it exists and is writable, or its directory is),
 * checked before the run without changing anything. */
int run_check_stats_path(const char *path, ovl_error_t *err);

/* Writes the --stats JSON object to path. status is ovlbox's exit status. */
int run_write_stats(const char *path, const struct run_result *res, int status, ovl_error_t *err);

#endif
