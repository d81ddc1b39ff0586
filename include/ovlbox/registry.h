/* The machine's registry of layer sets in use, so that no two containers share layers: a mount
 * stage refuses a workspace, upper or work dir that is, contains or lies in a layer of another
 * container whose init still runs. One file per container under OVL_REGISTRY_DIR (a tmpfs:
 * gone at reboot, with the containers), holding its init and the chain of directories (dev:ino,
 * up to /) of each of its three layers; stale entries (their init gone) are dropped by the next
 * claim. Kept by root only: in a user namespace (rootless podman) there is no registry, and the
 * calls do nothing. */
#ifndef OVLBOX_REGISTRY_H
#define OVLBOX_REGISTRY_H

#include "error.h"
#include "layers.h"
#include "mark.h"

#define OVL_REGISTRY_DIR "/run/ovlbox/layers"

struct ovl_registry_conflict {
	char id[OVL_MARK_ID_MAX]; /* the other container */
	const char *ours;	  /* "workspace", "upper dir" or "work dir" */
	const char *theirs;
	const char *how; /* "is", "lies in" or "contains" */
};

/* Under the registry's lock: checks l's layers (opened; a missing upper or work is placed by its
 * parent) against every live entry of another container, then records m's container as their
 * owner (replacing its own earlier entry). Returns 0, 1 with *c filled on a conflict (nothing
 * recorded), or -1. */
int ovl_registry_claim(const struct ovl_layers *l, const struct ovl_mark *m,
		       struct ovl_registry_conflict *c, ovl_error_t *err);
/* Drops id's entry, if any. */
int ovl_registry_release(const char *id, ovl_error_t *err);

#endif
