/* ovlbox-runtime: a runc-compatible wrapper. For `create` and `run` of a container that asks for
 * a copy-on-write workspace it adds ovlbox-hook's mount stage (createRuntime) and poststop to the
 * bundle's config.json; for every command it then executes the real runtime in its place. */
#ifndef OVLBOX_RUNTIME_H
#define OVLBOX_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "ovlbox/error.h"
#include "ovlbox/json.h"
#include "ovlbox/oci.h"

#define PROG "ovlbox-runtime"

#define ANN_CRI_TYPE	 "io.kubernetes.cri.container-type"
#define ANN_CRI_NAME	 "io.kubernetes.cri.container-name"
#define ENV_WORKSPACE	 "OVLBOX_WORKSPACE"
#define ENV_ON_EXIT	 "OVLBOX_ON_EXIT"
#define DEFAULT_RUNTIME	 "/usr/sbin/runc"
#define DEFAULT_SETTINGS OVLBOX_SYSCONFDIR "/ovlbox/runtime.json"
#define HOOK_NAME	 "ovlbox-hook"

/* The wrapper's own options (--ovlbox-*, first on the command line) and its settings file. */
struct rt_settings {
	const char *config; /* --ovlbox-config: NULL: DEFAULT_SETTINGS, which may be absent */
	char *runtime;	    /* the real runtime */
	char *hook;	    /* ovlbox-hook */
	char *layers_under; /* passed as --layers-under; NULL: not */
	char *hook_log;	    /* passed as --log; NULL: not */
	bool env;	    /* OVLBOX_WORKSPACE and OVLBOX_ON_EXIT in process.env are read */
	bool help, version; /* --ovlbox-help, --ovlbox-version */
};

/* Reads the leading --ovlbox-* options; *next is the index of the first argument that is not
 * one. Settings given there win over the file's (rt_settings_load). */
int rt_own_options(int argc, char **argv, struct rt_settings *s, int *next, ovl_error_t *err);
/* Loads the settings file under what the options set, then fills in the defaults and checks
 * them. */
int rt_settings_load(struct rt_settings *s, ovl_error_t *err);
void rt_settings_free(struct rt_settings *s);

/* What the runtime's command line says, as runc reads it. */
struct rt_call {
	const char *log;     /* --log FILE; NULL: none */
	bool log_json;	     /* --log-format json */
	bool creates;	     /* create or run: a container is made from a bundle */
	const char *bundle;  /* --bundle; NULL: the current directory */
	const char *command; /* NULL: none */
};

/* argv[0..argc) are the runtime's arguments (argv[0] is its first option or command). Fails
 * when it cannot tell for sure whether the command is create or run, or where the bundle is. */
int rt_parse_call(int argc, char **argv, struct rt_call *c, ovl_error_t *err);

/* What the container asks for, read from config.json. */
struct rt_request {
	const char *workspace; /* NULL: nothing asked, config.json stays as it is */
	bool set_workspace;    /* written as the annotation (from a variable or a per-name one) */
	const char *on_exit;   /* NULL: the hook's default */
	bool set_on_exit;      /* written as the annotation (from the variable) */
	size_t drop[2];	       /* indices into process.env of the variables acted on, ascending */
	size_t ndrop;
};

/* Decides from config.json's annotations, mounts, process.env (when s->env) and hooks. Returns 0
 * (r->workspace NULL when there is nothing to add), -1 on a malformed or bad request. */
int rt_request_read(const ovl_json *config, const struct rt_settings *s, struct rt_request *r,
		    ovl_error_t *err);

/* create/run: reads bundle/config.json and, when the container asks for a workspace, writes it
 * back with the hooks (and annotations taken from variables) atomically, with its mode and
 * owner. Changes nothing on failure. */
int rt_config_update(const char *bundle, const struct rt_settings *s, ovl_error_t *err);

#endif
