/* Which xattr namespace an upper layer's overlay xattrs are in: trusted.overlay.* (an overlay
 * mounted without userxattr, by root) or user.overlay.* (userxattr: rootless mounts, rootless
 * podman's volume overlays, hand mounts). Apply and diff read opaque dirs, xattr whiteouts and
 * the xattrs to strip in that namespace only; the other one's names are user data. */
#ifndef OVLBOX_XATTRNS_H
#define OVLBOX_XATTRNS_H

#include "error.h"
#include "layers.h"

enum ovl_xattr_ns {
	OVL_XATTR_NS_AUTO = 0, /* the mode ovlbox recorded at prepare, else detected */
	OVL_XATTR_NS_TRUSTED,  /* trusted.overlay.* */
	OVL_XATTR_NS_USER,     /* user.overlay.* */
};

/* Overlay xattrs found in an upper (escaped names, overlay.overlay.*, are user data either way
 * and do not count). Without CAP_SYS_ADMIN in the initial user namespace, trusted.* names cannot
 * be listed: only user.overlay.* can be found. */
#define OVL_XATTR_MARK_TRUSTED 1u
#define OVL_XATTR_MARK_USER    2u
/* Walks the whole upper below upper_fd (a readable directory fd) without following symlinks,
 * stopping once both kinds were found; *marks gets what was found. */
int ovl_xattr_marks(int upper_fd, unsigned *marks, ovl_error_t *err);

/* Returned, with err set, by ovl_xattr_ns_choose(), ovl_apply() and ovl_diff() for an upper
 * ovlbox did not prepare that holds overlay xattrs of both namespaces, read in AUTO: the caller
 * must name the namespace. */
#define OVL_XATTR_NS_AMBIGUOUS (-2)

/* The namespace to read l's upper (open as upper_fd) in: 1 for user.overlay.*, 0 for
 * trusted.overlay.*, -1 on error, OVL_XATTR_NS_AMBIGUOUS. An upper ovlbox prepared keeps the mode
 * recorded then (an action cannot switch it by setting xattrs in the merged view); naming the
 * other namespace for it is refused. For any other upper, a named namespace is taken as given;
 * in AUTO the upper's overlay xattrs decide, and an upper that has none (nothing in it depends on
 * the namespace) is read as an overlay mounted by the caller would have written it: userxattr
 * inside a user namespace. */
int ovl_xattr_ns_choose(const struct ovl_layers *l, int upper_fd, enum ovl_xattr_ns ns,
			ovl_error_t *err);

#endif
