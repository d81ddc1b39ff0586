/* ovlbox run: what came of a run, and the --stats file that reports it. */
#ifndef OVLBOX_RUNSTATS_H
#define OVLBOX_RUNSTATS_H

#include <stdbool.h>
#include <sys/resource.h>

#include "ovlbox/apply.h"
#include "ovlbox/error.h"

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

/* Whether the --stats file can be written (it exists and is writable, or its directory is),
 * checked before the run without changing anything. */
int run_check_stats_path(const char *path, ovl_error_t *err);

/* Writes the --stats JSON object to path. status is ovlbox's exit status. */
int run_write_stats(const char *path, const struct run_result *res, int status, ovl_error_t *err);

#endif
