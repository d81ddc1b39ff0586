/* ovlbox-hook: the OCI hook's policy (annotations, stages, messages) over libovlbox. */
#ifndef OVLBOX_HOOK_H
#define OVLBOX_HOOK_H

#include <stdbool.h>

#include "ovlbox/apply.h"
#include "ovlbox/error.h"
#include "ovlbox/layers.h"
#include "ovlbox/ns.h"
#include "ovlbox/oci.h"

enum hook_stage {
	STAGE_INFER, /* no STAGE argument: from the state's status */
	STAGE_PRESTART,
	STAGE_CREATE_RUNTIME,
	STAGE_CREATE_CONTAINER,
	STAGE_POSTSTOP,
	STAGE_MOUNT,   /* a running container: a fresh overlay (the executor calls it) */
	STAGE_UNMOUNT, /* a running container: unmount, then the on-exit */
	STAGE_RUNNING, /* inferred from a running container's state: a usage error */
};

/* A stage's return when the workspace is busy (ovlbox-hook exits 3). */
#define HOOK_BUSY (-3)
/* A stage's return for a usage error found in the state (exit 2). */
#define HOOK_USAGE (-2)

/* unmount's flags. */
struct hook_unmount_opts {
	bool kill;		  /* --kill */
	bool has_on_exit;	  /* --on-exit given */
	enum ovl_on_exit on_exit; /* its value */
	const char *stats;	  /* --stats FILE, or NULL */
};

struct hook_ctx {
	struct ovl_oci_state state;
	struct ovl_oci_config config;
	const char *destination;	/* the annotation's value */
	char *dest_rel;			/* the same, relative to the rootfs */
	struct ovl_oci_request request; /* upperdir, workdir, on-exit */
	struct ovl_layers layers;
	bool running; /* the mount and unmount stages: the container has pivoted */
};

/* Reads the state from fd and the bundle's config.json and validates every annotation and the
 * workspace mount, then opens the layers (ovl_layers_open: read-only). *stage STAGE_INFER is
 * replaced by the stage the state implies. Returns 1 when the container asks for a workspace, 0
 * when there is nothing to do (no org.ovlbox.workspace annotation, or a poststop after the bundle
 * was removed), -1 on error. Changes nothing on disk. layers_under (--layers-under): when not NULL,
 * upper and work must lie beneath it and are reached from it with no symlink on the way. */
int hook_ctx_load(struct hook_ctx *ctx, int state_fd, enum hook_stage *stage,
		  const char *layers_under, ovl_error_t *err);
void hook_ctx_free(struct hook_ctx *ctx);

/* The command that finishes what the hook leaves behind ("ovlbox apply [--upper U] ... DIR",
 * --upper/--work only where they are not the defaults); malloc'ed. */
char *hook_ovlbox_cmd(const struct hook_ctx *ctx, const char *verb);
/* Wraps a failed apply's error with what was kept and the command that finishes it (with
 * --allow-devices when device nodes stopped it). Returns -1. */
int hook_apply_failed(const struct hook_ctx *ctx, ovl_error_t *err);

/* Takes the workspace lock, waiting up to HOOK_LOCK_WAIT_MS while another ovlbox holds it. */
#define HOOK_LOCK_WAIT_MS 2000
int hook_lock(const struct hook_ctx *ctx, ovl_error_t *err);

/* Mount stages. in_place: the hook already runs in the container's namespaces (createContainer);
 * otherwise the state's pid names the container process whose namespaces to enter. */
int hook_mount(struct hook_ctx *ctx, bool in_place, ovl_error_t *err);

/* hook_mount with the lock held already. */
int hook_mount_locked(struct hook_ctx *ctx, bool in_place, ovl_error_t *err);

/* The state must name the container (its id marks the layers). */
int hook_check_state_id(const struct hook_ctx *ctx, ovl_error_t *err);
/* Opens the namespaces of the state's pid (nothing with in_place); refuses a container without
 * a mount namespace of its own. */
int hook_open_target(const struct hook_ctx *ctx, bool in_place, struct ovl_ns_target *t,
		     ovl_error_t *err);
/* In the container's mount namespace: its root (ctx->running) or the rootfs of config.json. */
int hook_open_rootfs(const struct hook_ctx *ctx, ovl_error_t *err);

/* Runs fn in a child process and waits for it; its error line comes back through a pipe. fn's
 * return value (0, -1 or HOOK_BUSY) is the return value. */
int hook_in_child(int (*fn)(void *arg, ovl_error_t *err), void *arg, ovl_error_t *err);

/* poststop: apply, discard or keep. */
int hook_poststop(struct hook_ctx *ctx, ovl_error_t *err);

/* What an on-exit did, for --stats. */
struct hook_outcome {
	struct ovl_change_counts changes;
	bool applied;
};
/* With the lock held, on layers this container owns and no overlay of theirs mounted: finishes
 * an interrupted apply, or carries out on_exit (apply, discard, keep) as poststop does, then
 * drops the layers' registry entry. out (may be NULL) gets the counts of the changes. */
int hook_carry_out(struct hook_ctx *ctx, enum ovl_on_exit on_exit, struct hook_outcome *out,
		   ovl_error_t *err);

/* The running container's stages (hook/recycle.c). */
int hook_remount(struct hook_ctx *ctx, ovl_error_t *err);
int hook_unmount(struct hook_ctx *ctx, const struct hook_unmount_opts *o, ovl_error_t *err);

#endif
