#!/bin/sh
# podman with ovlbox-hook: install the hooks.d file (make install puts it in
# $(PREFIX)/share/containers/oci/hooks.d; podman reads /usr/share/containers/oci/hooks.d and
# /etc/containers/oci/hooks.d by default, or the dirs given with --hooks-dir), then ask for a
# copy-on-write workspace with an annotation on a bind mount's destination:
#   examples/oci/podman.sh WORKSPACE_DIR IMAGE CMD...
set -eu
ws=$1
image=$2
shift 2
exec podman --hooks-dir "${OVLBOX_HOOKS_DIR:-/usr/local/share/containers/oci/hooks.d}" run --rm \
	-v "$ws:/workspace" \
	--annotation org.ovlbox.workspace=/workspace \
	--annotation org.ovlbox.on-exit="${OVLBOX_ON_EXIT:-apply}" \
	"$image" "$@"
