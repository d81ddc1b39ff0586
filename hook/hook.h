/* ovlbox-hook: the OCI hook's policy (annotations, stages, messages) over libovlbox. */
#ifndef OVLBOX_HOOK_H
#define OVLBOX_HOOK_H

#include <stdbool.h>

#include "ovlbox/error.h"
#include "ovlbox/layers.h"
#include "ovlbox/oci.h"

#define ANN_WORKSPACE "org.ovlbox.workspace"
#define ANN_UPPERDIR  "org.ovlbox.upperdir"
#define ANN_WORKDIR   "org.ovlbox.workdir"
#define ANN_ON_EXIT   "org.ovlbox.on-exit"

enum hook_stage {
	STAGE_INFER, /* no STAGE argument: from the state's status */
	STAGE_PRESTART,
	STAGE_CREATE_RUNTIME,
	STAGE_CREATE_CONTAINER,
	STAGE_POSTSTOP,
};

struct hook_ctx {
	struct ovl_oci_state state;
	struct ovl_oci_config config;
	const char *destination; /* the annotation's value */
	char *dest_rel;		 /* the same, relative to the rootfs */
	const char *upper_ann;	 /* NULL: default */
	const char *work_ann;	 /* NULL: default */
	struct ovl_layers layers;
	enum ovl_on_exit on_exit;
};

/* Reads the state from fd and the bundle's config.json and validates every annotation and the
 * workspace mount, then opens the layers (ovl_layers_open: read-only). *stage STAGE_INFER is replaced by the stage the state implies. Returns 1 when
 * the container asks for a workspace, 0 when there is nothing to do (no org.ovlbox.workspace
 * annotation, or a poststop after the bundle was removed), -1 on error. Changes nothing on disk.
 * layers_under (--layers-under): when not NULL, upper and work must lie beneath it and are
 * reached from it with no symlink on the way. */
int hook_ctx_load(struct hook_ctx *ctx, int state_fd, enum hook_stage *stage,
		  const char *layers_under, ovl_error_t *err);
void hook_ctx_free(struct hook_ctx *ctx);

/* The command that finishes what the hook leaves behind ("ovlbox apply [--upper U] ... DIR");
 * malloc'ed. */
char *hook_ovlbox_cmd(const struct hook_ctx *ctx, const char *verb);

/* Takes the workspace lock, waiting up to HOOK_LOCK_WAIT_MS while another ovlbox holds it. */
#define HOOK_LOCK_WAIT_MS 2000
int hook_lock(const struct hook_ctx *ctx, ovl_error_t *err);

/* Mount stages. in_place: the hook already runs in the container's namespaces (createContainer);
 * otherwise the state's pid names the container process whose namespaces to enter. */
int hook_mount(struct hook_ctx *ctx, bool in_place, ovl_error_t *err);

/* poststop: apply, discard or keep. */
int hook_poststop(struct hook_ctx *ctx, ovl_error_t *err);

#endif
