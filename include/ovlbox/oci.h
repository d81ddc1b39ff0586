/* OCI runtime state (what a hook reads on stdin) and the bundle's config.json: parsing,
 * annotations and mounts. Every value here is untrusted input: types are checked and errors name
 * the field ("config.json: mounts[2].source: expected a string, got a number"). */
#ifndef OVLBOX_OCI_H
#define OVLBOX_OCI_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "json.h"
#include "mark.h"

/* The annotations a container asks for a copy-on-write workspace with (ovlbox-hook(8)). */
#define ANN_WORKSPACE "org.ovlbox.workspace"
#define ANN_UPPERDIR  "org.ovlbox.upperdir"
#define ANN_WORKDIR   "org.ovlbox.workdir"
#define ANN_ON_EXIT   "org.ovlbox.on-exit"

#define OVL_OCI_STATE_MAX  (1u << 20)  /* bytes of state JSON accepted */
#define OVL_OCI_CONFIG_MAX (16u << 20) /* bytes of config.json accepted */

struct ovl_oci_state {
	ovl_json *root;
	const char *id;		     /* NULL when absent */
	const char *status;	     /* NULL when absent */
	const char *bundle;	     /* absolute path (required) */
	int64_t pid;		     /* 0 when absent */
	bool has_pid;		     /* whether "pid" was given (not null) */
	const ovl_json *annotations; /* object, or NULL when absent */
};

/* Reads the state JSON from fd. Requires "bundle" (an absolute path); "pid" must be a
 * non-negative integer when present; "annotations" an object of strings when present. */
int ovl_oci_state_read(int fd, struct ovl_oci_state *s, ovl_error_t *err);
void ovl_oci_state_free(struct ovl_oci_state *s);

struct ovl_oci_config {
	ovl_json *root;
	char *rootfs;		/* root.path made absolute (relative paths are bundle-relative) */
	const ovl_json *mounts; /* array, or NULL when absent */
	const ovl_json *annotations; /* object, or NULL when absent */
};

/* Loads <bundle>/config.json. Requires root.path (a string); checks the types of "mounts" and
 * "annotations" (their elements are checked when used). Only root, mounts and annotations are
 * kept: the whole file must be valid JSON, but its other sections are not stored. */
int ovl_oci_config_load(const char *bundle, struct ovl_oci_config *c, ovl_error_t *err);
void ovl_oci_config_free(struct ovl_oci_config *c);

/* Looks key up in config.json's annotations, then in the state's. Returns 1 and sets *value when
 * found, 0 when absent, -1 when the value is not a string. */
int ovl_oci_annotation(const struct ovl_oci_config *c, const struct ovl_oci_state *s,
		       const char *key, const char **value, ovl_error_t *err);

struct ovl_oci_mount {
	size_t index;		 /* position in config.json "mounts" */
	const char *destination; /* as written */
	const char *source;	 /* NULL when absent */
	const char *type;	 /* NULL when absent */
	bool bind;		 /* type "bind", or a "bind"/"rbind" option */
};

/* Finds the mount whose destination names the same container path as dest (compared after
 * normalisation: repeated and trailing slashes do not matter). When several do, the last wins (it
 * is the one on top). Returns 1 and fills *m, 0 when none matches, -1 on a malformed entry. */
int ovl_oci_find_mount(const struct ovl_oci_config *c, const char *dest, struct ovl_oci_mount *m,
		       ovl_error_t *err);

/* What a container's org.ovlbox.* annotations ask for besides the workspace: where its layers
 * are and what becomes of the changes. Strings point into the JSON they were read from. */
struct ovl_oci_request {
	const char *upperdir;	   /* org.ovlbox.upperdir: an absolute path; NULL: the default */
	const char *workdir;	   /* org.ovlbox.workdir: an absolute path; NULL: the default */
	const char *on_exit_value; /* org.ovlbox.on-exit as written; NULL: absent */
	enum ovl_on_exit on_exit;  /* what it says; OVL_ON_EXIT_APPLY when absent */
};

/* Reads the request from config.json's annotations, then the state's (ovl_oci_annotation; either
 * may be NULL), and checks it (ovl_oci_request_check). */
int ovl_oci_request_read(const struct ovl_oci_config *c, const struct ovl_oci_state *s,
			 struct ovl_oci_request *r, ovl_error_t *err);

/* Checks a request whose strings the caller looked up itself: the on-exit (into r->on_exit, by
 * ovl_oci_on_exit), then upperdir and workdir ("annotation org.ovlbox.upperdir: not an absolute
 * path: V"). */
int ovl_oci_request_check(struct ovl_oci_request *r, ovl_error_t *err);

/* An on-exit value, given at where ("annotation org.ovlbox.on-exit", a variable): 0 and *out, or
 * -1 with "WHERE: V is not one of apply, discard, keep". */
int ovl_oci_on_exit(const char *value, const char *where, enum ovl_on_exit *out, ovl_error_t *err);

/* The workspace a container asks for (an absolute container path, given at where), relative to
 * its rootfs (ovl_oci_container_path); never the rootfs itself ("WHERE: the workspace cannot be
 * the container's /"). *rel is malloc'ed (NULL on error); rel may be NULL (only checked). */
int ovl_oci_workspace_path(const char *ws, const char *where, char **rel, ovl_error_t *err);

/* Turns an absolute container path into a clean path relative to the rootfs: "/a//b/" -> "a/b",
 * "/" -> "". Refuses relative paths and "." or ".." components. *rel is malloc'ed. */
int ovl_oci_container_path(const char *path, char **rel, ovl_error_t *err);

#endif
