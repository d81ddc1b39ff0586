/* The "changes" object of the JSON stats (include/ovlbox/stats.h). */
#include "ovlbox/stats.h"

void ovl_stats_changes(ovl_jw *w, const struct ovl_change_counts *c, bool applied)
{
	ovl_jw_key(w, "changes");
	ovl_jw_object_open(w);
	ovl_jw_key(w, "added");
	ovl_jw_int(w, (long long)c->added);
	ovl_jw_key(w, "modified");
	ovl_jw_int(w, (long long)c->modified);
	ovl_jw_key(w, "deleted");
	ovl_jw_int(w, (long long)c->deleted);
	ovl_jw_key(w, "bytes");
	ovl_jw_int(w, (long long)c->bytes);
	ovl_jw_object_close(w);
	ovl_jw_key(w, "applied");
	ovl_jw_bool(w, applied);
}
