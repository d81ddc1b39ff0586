/* OCI state and config.json (see include/ovlbox/oci.h). JSON goes through json.h only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/oci.h"

/* "annotations" of obj: absent (*out NULL), or an object of strings. */
static int get_annotations(const ovl_json *obj, const ovl_json **out, ovl_error_t *err)
{
	*out = NULL;
	if (ovl_json_get_object(obj, "annotations", out, err) < 0)
		return -1;
	for (size_t i = 0; i < ovl_json_len(*out); i++) {
		const char *ignored;
		if (ovl_json_string(ovl_json_at(*out, i), ovl_json_key_at(*out, i), &ignored, err) <
		    0)
			return ovl_error_wrap(err, "annotations");
	}
	return 0;
}

int ovl_oci_state_read(int fd, struct ovl_oci_state *s, ovl_error_t *err)
{
	memset(s, 0, sizeof(*s));
	s->root = ovl_json_parse_fd(fd, OVL_OCI_STATE_MAX, "state", err);
	if (s->root == NULL)
		return -1;
	if (ovl_json_type(s->root) != OVL_JSON_OBJECT) {
		ovl_error(err, 0, "state: expected an object, got %s",
			  ovl_json_type_phrase(ovl_json_type(s->root)));
		goto fail;
	}
	if (ovl_json_get_string(s->root, "id", &s->id, err) < 0 ||
	    ovl_json_get_string(s->root, "status", &s->status, err) < 0)
		goto fail_wrap;
	int r = ovl_json_get_string(s->root, "bundle", &s->bundle, err);
	if (r < 0)
		goto fail_wrap;
	if (r == 0) {
		ovl_error(err, 0, "state: bundle: missing");
		goto fail;
	}
	if (s->bundle[0] != '/') {
		ovl_error(err, 0, "state: bundle: not an absolute path: %s", ovl_qp(s->bundle));
		goto fail;
	}
	const ovl_json *pid = ovl_json_get(s->root, "pid");
	if (pid != NULL && ovl_json_type(pid) != OVL_JSON_NULL) {
		if (ovl_json_int64(pid, "pid", &s->pid, err) < 0)
			goto fail_wrap;
		if (s->pid < 0 || s->pid > INT32_MAX) {
			ovl_error(err, 0, "state: pid: out of range: %lld", (long long)s->pid);
			goto fail;
		}
		s->has_pid = true;
	}
	if (get_annotations(s->root, &s->annotations, err) < 0)
		goto fail_wrap;
	return 0;
fail_wrap:
	ovl_error_wrap(err, "state");
fail:
	ovl_oci_state_free(s);
	return -1;
}

void ovl_oci_state_free(struct ovl_oci_state *s)
{
	ovl_json_free(s->root);
	memset(s, 0, sizeof(*s));
}

int ovl_oci_config_load(const char *bundle, struct ovl_oci_config *c, ovl_error_t *err)
{
	memset(c, 0, sizeof(*c));
	cleanup_free char *path = xasprintf("%s/config.json", bundle);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ovl_error(err, errno, "open %s", ovl_qp(path));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ovl_error(err, errno, "stat %s", ovl_qp(path));
	if (!S_ISREG(st.st_mode))
		return ovl_error(err, 0, "%s: not a regular file", ovl_qp(path));
	/* The rest (process, linux, hooks, ...) is checked as JSON but not stored. */
	static const char *const used[] = {"root", "mounts", "annotations", NULL};
	c->root = ovl_json_parse_fd_members(fd, OVL_OCI_CONFIG_MAX, "config.json", used, err);
	if (c->root == NULL)
		return -1;
	if (ovl_json_type(c->root) != OVL_JSON_OBJECT) {
		ovl_error(err, 0, "config.json: expected an object, got %s",
			  ovl_json_type_phrase(ovl_json_type(c->root)));
		goto fail;
	}
	const ovl_json *root = NULL;
	const char *root_path = NULL;
	int r = ovl_json_get_object(c->root, "root", &root, err);
	if (r < 0)
		goto fail_wrap;
	if (r > 0)
		r = ovl_json_get_string(root, "path", &root_path, err);
	if (r < 0) {
		ovl_error_wrap(err, "root");
		goto fail_wrap;
	}
	if (r == 0 || root_path[0] == '\0') {
		ovl_error(err, 0, "config.json: root.path: missing");
		goto fail;
	}
	if (root_path[0] == '/')
		c->rootfs = xstrdup(root_path);
	else
		c->rootfs = xasprintf("%s/%s", bundle, root_path);
	if (ovl_json_get_array(c->root, "mounts", &c->mounts, err) < 0 ||
	    get_annotations(c->root, &c->annotations, err) < 0)
		goto fail_wrap;
	return 0;
fail_wrap:
	ovl_error_wrap(err, "config.json");
fail:
	ovl_oci_config_free(c);
	return -1;
}

void ovl_oci_config_free(struct ovl_oci_config *c)
{
	ovl_json_free(c->root);
	free(c->rootfs);
	memset(c, 0, sizeof(*c));
}

int ovl_oci_annotation(const struct ovl_oci_config *c, const struct ovl_oci_state *s,
		       const char *key, const char **value, ovl_error_t *err)
{
	int r = 0;
	if (c && c->annotations) {
		r = ovl_json_get_string(c->annotations, key, value, err);
		if (r != 0)
			return r < 0 ? ovl_error_wrap(err, "config.json: annotations") : r;
	}
	if (s && s->annotations) {
		r = ovl_json_get_string(s->annotations, key, value, err);
		if (r < 0)
			return ovl_error_wrap(err, "state: annotations");
	}
	return r;
}

int ovl_oci_container_path(const char *path, char **rel, ovl_error_t *err)
{
	*rel = NULL;
	if (path[0] != '/')
		return ovl_error(err, 0, "%s: not an absolute path", ovl_qp(path));
	size_t len = strlen(path);
	cleanup_free char *out = xmalloc(len + 1);
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return ovl_error(err, 0, "%s: \".\" and \"..\" components are not allowed",
					 ovl_qp(path));
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
	*rel = ovl_steal_ptr(&out);
	return 0;
}

int ovl_oci_workspace_path(const char *ws, const char *where, char **rel, ovl_error_t *err)
{
	cleanup_free char *path = NULL;
	if (rel)
		*rel = NULL;
	if (ovl_oci_container_path(ws, &path, err) < 0)
		return ovl_error_wrap(err, "%s", where);
	if (path[0] == '\0')
		return ovl_error(err, 0, "%s: the workspace cannot be the container's /", where);
	if (rel)
		*rel = ovl_steal_ptr(&path);
	return 0;
}

int ovl_oci_on_exit(const char *value, const char *where, enum ovl_on_exit *out, ovl_error_t *err)
{
	if (ovl_on_exit_parse(value, out) < 0)
		return ovl_error(err, 0, "%s: %s is not one of apply, discard, keep", where,
				 ovl_qp(value));
	return 0;
}

static int check_layer_dir(const char *key, const char *value, ovl_error_t *err)
{
	if (value && value[0] != '/')
		return ovl_error(err, 0, "annotation %s: not an absolute path: %s", key,
				 ovl_qp(value));
	return 0;
}

int ovl_oci_request_check(struct ovl_oci_request *r, ovl_error_t *err)
{
	r->on_exit = OVL_ON_EXIT_APPLY;
	if (r->on_exit_value &&
	    ovl_oci_on_exit(r->on_exit_value, "annotation " ANN_ON_EXIT, &r->on_exit, err) < 0)
		return -1;
	if (check_layer_dir(ANN_UPPERDIR, r->upperdir, err) < 0 ||
	    check_layer_dir(ANN_WORKDIR, r->workdir, err) < 0)
		return -1;
	return 0;
}

int ovl_oci_request_read(const struct ovl_oci_config *c, const struct ovl_oci_state *s,
			 struct ovl_oci_request *r, ovl_error_t *err)
{
	memset(r, 0, sizeof(*r));
	if (ovl_oci_annotation(c, s, ANN_ON_EXIT, &r->on_exit_value, err) < 0 ||
	    ovl_oci_annotation(c, s, ANN_UPPERDIR, &r->upperdir, err) < 0 ||
	    ovl_oci_annotation(c, s, ANN_WORKDIR, &r->workdir, err) < 0)
		return -1;
	return ovl_oci_request_check(r, err);
}

/* Container paths are compared after normalisation; a path that does not normalise matches
 * nothing (it could not have been mounted either). */
static bool same_container_path(const char *a_rel, const char *b)
{
	cleanup_error ovl_error_t ignored = NULL;
	cleanup_free char *b_rel = NULL;
	if (ovl_oci_container_path(b, &b_rel, &ignored) < 0)
		return false;
	return strcmp(a_rel, b_rel) == 0;
}

static int mount_entry(const ovl_json *e, size_t i, struct ovl_oci_mount *m, ovl_error_t *err)
{
	memset(m, 0, sizeof(*m));
	m->index = i;
	if (ovl_json_type(e) != OVL_JSON_OBJECT)
		return ovl_error(err, 0, "mounts[%zu]: expected an object, got %s", i,
				 ovl_json_type_phrase(ovl_json_type(e)));
	int r = ovl_json_get_string(e, "destination", &m->destination, err);
	if (r == 0)
		return ovl_error(err, 0, "mounts[%zu]: destination: missing", i);
	if (r < 0 || ovl_json_get_string(e, "source", &m->source, err) < 0 ||
	    ovl_json_get_string(e, "type", &m->type, err) < 0)
		return ovl_error_wrap(err, "mounts[%zu]", i);
	m->bind = m->type && strcmp(m->type, "bind") == 0;
	const ovl_json *opts = NULL;
	if (ovl_json_get_array(e, "options", &opts, err) < 0)
		return ovl_error_wrap(err, "mounts[%zu]", i);
	for (size_t j = 0; j < ovl_json_len(opts); j++) {
		const char *o;
		if (ovl_json_string(ovl_json_at(opts, j), "options", &o, err) < 0)
			return ovl_error_wrap(err, "mounts[%zu]", i);
		if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0)
			m->bind = true;
	}
	return 0;
}

int ovl_oci_find_mount(const struct ovl_oci_config *c, const char *dest, struct ovl_oci_mount *m,
		       ovl_error_t *err)
{
	cleanup_free char *rel = NULL;
	if (ovl_oci_container_path(dest, &rel, err) < 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < ovl_json_len(c->mounts); i++) {
		const ovl_json *e = ovl_json_at(c->mounts, i);
		const ovl_json *d = ovl_json_get(e, "destination");
		/* Entries are checked in full only when they are candidates. */
		if (d != NULL && ovl_json_type(d) == OVL_JSON_STRING) {
			const char *ds;
			if (ovl_json_string(d, "destination", &ds, err) < 0)
				return -1;
			if (!same_container_path(rel, ds))
				continue;
		}
		if (mount_entry(e, i, m, err) < 0)
			return ovl_error_wrap(err, "config.json");
		found = 1;
	}
	if (found) {
		/* mount_entry filled *m with the last match. */
		return 1;
	}
	memset(m, 0, sizeof(*m));
	return 0;
}
