/* What a container asks for: its annotations (Kubernetes rules included), and with the operator's
 * opt-in its OVLBOX_* variables. Every value is untrusted and checked here, before the runtime
 * runs; ovlbox-hook checks them again when it mounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ovlbox/alloc.h"
#include "ovlbox/cleanup.h"
#include "ovlbox/oci.h"
#include "runtime.h"

/* A struct field of config.json (matched as runc's decoder matches it) that must be an object
 * or an array (type), null or absent (*out NULL). */
static int field(const ovl_json *obj, const char *key, enum ovl_json_type type,
		 const ovl_json **out, ovl_error_t *err)
{
	if (ovl_json_get_member(obj, key, true, out, err) < 0)
		return -1;
	if (*out && ovl_json_type(*out) == OVL_JSON_NULL)
		*out = NULL;
	if (*out && ovl_json_type(*out) != type)
		return ovl_error(err, 0, "%s: expected %s, got %s", ovl_qp(key),
				 ovl_json_type_phrase(type),
				 ovl_json_type_phrase(ovl_json_type(*out)));
	return 0;
}

/* An annotation (exact key, given once, a string); *value NULL when absent. */
static int annotation(const ovl_json *ann, const char *key, const char **value, ovl_error_t *err)
{
	const ovl_json *v;
	*value = NULL;
	int r = ovl_json_get_member(ann, key, false, &v, err);
	if (r <= 0)
		return r < 0 ? ovl_error_wrap(err, "annotations") : 0;
	if (ovl_json_string(v, key, value, err) < 0)
		return ovl_error_wrap(err, "annotations");
	return 0;
}

struct env_vars {
	const char *workspace, *on_exit; /* values; NULL when not set */
	size_t ws_index, on_exit_index;
};

/* OVLBOX_WORKSPACE and OVLBOX_ON_EXIT in process.env (each at most once). OVLBOX_UPPERDIR and
 * the like are never read: an image's ENV lands here too, and must not choose host paths. */
static int read_env(const ovl_json *config, struct env_vars *ev, ovl_error_t *err)
{
	const ovl_json *process, *env;
	memset(ev, 0, sizeof(*ev));
	if (field(config, "process", OVL_JSON_OBJECT, &process, err) < 0)
		return -1;
	if (process && field(process, "env", OVL_JSON_ARRAY, &env, err) < 0)
		return ovl_error_wrap(err, "process");
	if (process == NULL || env == NULL)
		return 0;
	for (size_t i = 0; i < ovl_json_len(env); i++) {
		const char *e;
		char at[32];
		snprintf(at, sizeof(at), "env[%zu]", i);
		if (ovl_json_string(ovl_json_at(env, i), at, &e, err) < 0)
			return ovl_error_wrap(err, "process");
		const char **value = NULL;
		size_t *index = NULL;
		const char *name = NULL;
		if (strncmp(e, ENV_WORKSPACE "=", sizeof(ENV_WORKSPACE)) == 0) {
			value = &ev->workspace, index = &ev->ws_index, name = ENV_WORKSPACE;
		} else if (strncmp(e, ENV_ON_EXIT "=", sizeof(ENV_ON_EXIT)) == 0) {
			value = &ev->on_exit, index = &ev->on_exit_index, name = ENV_ON_EXIT;
		} else {
			continue;
		}
		if (*value)
			return ovl_error(err, 0, "process.env: %s given twice", name);
		*value = e + strlen(name) + 1;
		*index = i;
	}
	return 0;
}

/* org.ovlbox.workspace.NAME for the container named NAME in a pod; *value NULL when absent. */
static int named_workspace(const ovl_json *ann, const char *name, const char **value,
			   ovl_error_t *err)
{
	cleanup_free char *key = xasprintf(ANN_WORKSPACE ".%s", name);
	if (annotation(ann, key, value, err) < 0)
		return -1;
	if (*value && ovl_oci_workspace_path(*value, key, NULL, err) < 0)
		return ovl_error_wrap(err, "annotation");
	return 0;
}

/* Whether config.json mounts something at the container path ws (the pod-wide annotation
 * applies only to the containers that do). */
static int mounts_destination(const ovl_json *config, const char *ws, ovl_error_t *err)
{
	struct ovl_oci_config c = {0};
	if (field(config, "mounts", OVL_JSON_ARRAY, &c.mounts, err) < 0)
		return -1;
	struct ovl_oci_mount m;
	return ovl_oci_find_mount(&c, ws, &m, err);
}

static bool is_ovlbox_hook(const char *path, const char *hook)
{
	const char *base = strrchr(path, '/');
	return strcmp(path, hook) == 0 || strcmp(base ? base + 1 : path, HOOK_NAME) == 0;
}

/* Whether hooks already run ovlbox-hook at some stage (podman and CRI-O add it from hooks.d). */
static int has_ovlbox_hook(const ovl_json *config, const char *hook, ovl_error_t *err)
{
	const ovl_json *hooks;
	if (field(config, "hooks", OVL_JSON_OBJECT, &hooks, err) < 0)
		return -1;
	for (size_t i = 0; i < ovl_json_len(hooks); i++) {
		const char *stage = ovl_json_key_at(hooks, i);
		const ovl_json *list;
		if (field(hooks, stage, OVL_JSON_ARRAY, &list, err) < 0)
			return ovl_error_wrap(err, "hooks");
		for (size_t j = 0; j < ovl_json_len(list); j++) {
			const ovl_json *entry = ovl_json_at(list, j), *path;
			const char *p;
			if (ovl_json_type(entry) != OVL_JSON_OBJECT)
				return ovl_error(
				    err, 0, "hooks.%s[%zu]: expected an object, got %s",
				    ovl_qp(stage), j, ovl_json_type_phrase(ovl_json_type(entry)));
			if (ovl_json_get_member(entry, "path", true, &path, err) < 0 ||
			    (path && ovl_json_string(path, "path", &p, err) < 0))
				return ovl_error_wrap(err, "hooks.%s[%zu]", ovl_qp(stage), j);
			if (path && is_ovlbox_hook(p, hook))
				return 1;
		}
	}
	/* the stages the wrapper appends to must be arrays (or absent) */
	const ovl_json *list;
	if (field(hooks, "createRuntime", OVL_JSON_ARRAY, &list, err) < 0 ||
	    field(hooks, "poststop", OVL_JSON_ARRAY, &list, err) < 0)
		return ovl_error_wrap(err, "hooks");
	return 0;
}

/* The workspace asked for: per-name annotation in a pod, the annotation (in a pod only for a
 * container that mounts it), the variable. */
static int choose_workspace(const ovl_json *config, const ovl_json *ann, bool pod, const char *name,
			    const struct env_vars *ev, struct rt_request *r, ovl_error_t *err)
{
	const char *ws = NULL;
	if (pod && name && named_workspace(ann, name, &ws, err) < 0)
		return -1;
	if (ws) {
		r->workspace = ws;
		r->set_workspace = true;
		return 0;
	}
	if (annotation(ann, ANN_WORKSPACE, &ws, err) < 0)
		return -1;
	if (ws) {
		if (ovl_oci_workspace_path(ws, "annotation " ANN_WORKSPACE, NULL, err) < 0)
			return -1;
		int m = pod ? mounts_destination(config, ws, err) : 1;
		if (m < 0)
			return -1;
		r->workspace = m ? ws : NULL;
		return 0;
	}
	if (ev->workspace) {
		if (ovl_oci_workspace_path(ev->workspace, "process.env " ENV_WORKSPACE, NULL, err) <
		    0)
			return -1;
		r->workspace = ev->workspace;
		r->set_workspace = true;
	}
	return 0;
}

/* org.ovlbox.on-exit, upperdir and workdir, checked as the hook checks them; the on-exit from
 * the variable when the annotation gives none. */
static int read_layer_request(const ovl_json *ann, const struct env_vars *ev, struct rt_request *r,
			      ovl_error_t *err)
{
	struct ovl_oci_request q = {0};
	enum ovl_on_exit ignored;
	if (annotation(ann, ANN_ON_EXIT, &q.on_exit_value, err) < 0)
		return -1;
	if (q.on_exit_value == NULL && ev->on_exit &&
	    ovl_oci_on_exit(ev->on_exit, "process.env " ENV_ON_EXIT, &ignored, err) < 0)
		return -1;
	if (annotation(ann, ANN_UPPERDIR, &q.upperdir, err) < 0 ||
	    annotation(ann, ANN_WORKDIR, &q.workdir, err) < 0 || ovl_oci_request_check(&q, err) < 0)
		return -1;
	r->on_exit = q.on_exit_value;
	if (r->on_exit == NULL && ev->on_exit) {
		r->on_exit = ev->on_exit;
		r->set_on_exit = true;
	}
	return 0;
}

int rt_request_read(const ovl_json *config, const struct rt_settings *s, struct rt_request *r,
		    ovl_error_t *err)
{
	memset(r, 0, sizeof(*r));
	if (ovl_json_type(config) != OVL_JSON_OBJECT)
		return ovl_error(err, 0, "expected an object, got %s",
				 ovl_json_type_phrase(ovl_json_type(config)));
	const ovl_json *ann;
	const char *type, *name;
	if (field(config, "annotations", OVL_JSON_OBJECT, &ann, err) < 0 ||
	    annotation(ann, ANN_CRI_TYPE, &type, err) < 0 ||
	    annotation(ann, ANN_CRI_NAME, &name, err) < 0)
		return -1;
	/* The pod's sandbox (pause) container gets the pod's annotations too. */
	if (type && strcmp(type, "sandbox") == 0)
		return 0;
	struct env_vars ev = {0};
	if (s->env && read_env(config, &ev, err) < 0)
		return -1;
	if (choose_workspace(config, ann, type != NULL, name, &ev, r, err) < 0)
		return -1;
	if (r->workspace == NULL)
		return 0;
	int present = has_ovlbox_hook(config, s->hook, err);
	if (present != 0) {
		r->workspace = NULL;
		return present < 0 ? -1 : 0;
	}
	if (read_layer_request(ann, &ev, r, err) < 0)
		return -1;
	/* the variables were meant for ovlbox: the action does not see them */
	if (ev.workspace)
		r->drop[r->ndrop++] = ev.ws_index;
	if (ev.on_exit)
		r->drop[r->ndrop++] = ev.on_exit_index;
	if (r->ndrop == 2 && r->drop[0] > r->drop[1]) {
		size_t t = r->drop[0];
		r->drop[0] = r->drop[1];
		r->drop[1] = t;
	}
	return 0;
}
