/* The "changes" object of ovlbox's JSON stats (`ovlbox run --stats`, `ovlbox-hook unmount
 * --stats`): one writer, so the keys stay the same. */
#ifndef OVLBOX_STATS_H
#define OVLBOX_STATS_H

#include <stdbool.h>

#include "apply.h"
#include "json.h"

/* Writes "changes": {"added", "modified", "deleted", "bytes"} and "applied" into the object w
 * has open. */
void ovl_stats_changes(ovl_jw *w, const struct ovl_change_counts *c, bool applied);

#endif
