#!/bin/sh
# podman with ovlbox-runtime as its OCI runtime (no hooks.d file needed); podman passes each
# --runtime-flag X to the runtime as --X, before its own arguments:
#   examples/runtime/podman.sh WORKSPACE_DIR IMAGE CMD...
set -eu
ws=$1
image=$2
shift 2
exec podman run --rm --runtime /usr/local/bin/ovlbox-runtime \
	--runtime-flag ovlbox-hook-log=/var/log/ovlbox-hook.log \
	-v "$ws:/workspace" --annotation org.ovlbox.workspace=/workspace \
	"$image" "$@"
