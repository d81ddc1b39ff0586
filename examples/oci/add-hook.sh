#!/bin/sh
# Adds the ovlbox-hook pieces to an OCI bundle's config.json (runc or crun):
#   examples/oci/add-hook.sh BUNDLE WORKSPACE_DIR [DEST] [ON_EXIT]
# binds WORKSPACE_DIR at DEST (default /workspace) and registers the hook at createRuntime and
# poststop. Then: runc run -b BUNDLE ID   (or crun run -b BUNDLE ID).
set -eu
bundle=$1 ws=$2 dest=${3:-/workspace} on_exit=${4:-apply}
hook=${OVLBOX_HOOK:-/usr/local/bin/ovlbox-hook}
jq --arg ws "$ws" --arg dest "$dest" --arg onexit "$on_exit" --arg hook "$hook" '
	.mounts += [{"destination": $dest, "type": "bind", "source": $ws, "options": ["rbind", "rw"]}]
	| .annotations["org.ovlbox.workspace"] = $dest
	| .annotations["org.ovlbox.on-exit"] = $onexit
	| .hooks.createRuntime += [{"path": $hook, "args": ["ovlbox-hook", "createRuntime"], "timeout": 30}]
	| .hooks.poststop += [{"path": $hook, "args": ["ovlbox-hook", "poststop"], "timeout": 300}]' \
	"$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
