# shellcheck shell=bash
# Test helpers for ovlbox-hook: busybox-static rootfs and OCI bundles, runtimes (runc, crun with the
# hybrid-cgroup workaround, podman with test-private storage), and workspace snapshots.
#
# Everything lives under $OVL_T (a private temporary directory); nothing on the host is changed.

OVL_BUSYBOX=${OVL_BUSYBOX:-/bin/busybox}

# ovl_rootfs DIR: a minimal rootfs with busybox-static and its applets.
ovl_rootfs() {
	local root=$1 a
	mkdir -p "$root"/{bin,proc,sys,dev,tmp,etc,root,workspace,out}
	cp "$OVL_BUSYBOX" "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list); do
		# busybox --list names busybox itself: a link would replace the binary.
		[[ $a == busybox ]] && continue
		ln -s busybox "$root/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
	chmod 1777 "$root/tmp"
}

# ovl_spec_template FILE: runc's default spec, made non-interactive and writable.
ovl_spec_template() {
	local dir
	dir=$(mktemp -d "$OVL_T/spec.XXXXXX")
	(cd "$dir" && runc spec)
	jq '.process.terminal = false | .root.readonly = false | .hostname = "ovlbox-test"' \
		"$dir/config.json" >"$1"
	rm -rf "$dir"
}

# ovl_bundle BUNDLE ROOTFS JQ_FILTER [jq args...]: writes BUNDLE/config.json from the template
# ($OVL_T/spec.json), with root.path = ROOTFS, then applies JQ_FILTER.
ovl_bundle() {
	local bundle=$1 rootfs=$2 filter=$3
	shift 3
	mkdir -p "$bundle"
	jq --arg rootfs "$rootfs" "$@" ".root.path = \$rootfs | $filter" "$OVL_T/spec.json" \
		>"$bundle/config.json"
}

# jq filter pieces used with ovl_bundle.
# Bind mount: --arg src --arg dst.
OVL_JQ_BIND='.mounts += [{"destination": $dst, "type": "bind", "source": $src, "options": ["rbind", "rw"]}]'
# Command: --argjson cmd '["sh","-c","..."]'.
OVL_JQ_CMD='.process.args = $cmd'

# ovl_hooks_json STAGE HOOK LOG: a config.json "hooks" object with the mount STAGE and poststop.
ovl_hooks_json() {
	local stage=$1 hook=$2 log=$3
	jq -n --arg stage "$stage" --arg hook "$hook" --arg log "$log" '{
		($stage): [{"path": $hook, "args": ["ovlbox-hook", $stage, "--log", $log], "timeout": 30}],
		"poststop": [{"path": $hook, "args": ["ovlbox-hook", "poststop", "--log", $log], "timeout": 60}]
	}'
}

# ovl_runc ARGS...: runc with a test-private state dir.
ovl_runc() {
	runc --root "$OVL_T/runc-state" "$@"
}

# ovl_crun ARGS...: crun 1.8.1 refuses hybrid cgroups; in a private mount namespace, hide the
# unified hierarchy's controllers file behind an empty one (DESIGN §5).
ovl_crun() {
	: >"$OVL_T/empty"
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /sys/fs/cgroup/unified/cgroup.controllers && exec crun "$@"' \
		"$OVL_T/empty" --root "$OVL_T/crun-state" "$@"
}

# ovl_podman ARGS...: podman as root with storage, state and config private to the test file.
ovl_podman() {
	podman --root "$OVL_PODMAN_DIR/root" --runroot "$OVL_PODMAN_DIR/runroot" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file \
		--tmpdir "$OVL_PODMAN_DIR/tmp" "$@"
}

# ovl_podman_import ROOTFS NAME: image from a rootfs (no registry is reachable).
ovl_podman_import() {
	tar -C "$1" -c . | ovl_podman import -q - "$2" >/dev/null
}

# The podman run flags this machine needs (no CAP_SYS_RESOURCE for root, no systemd, no network).
OVL_PODMAN_RUN_FLAGS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network none)

# ovl_snapshot DIR: every entry under DIR with type, mode, owner, size (files), mtime and content
# hash, one per line, sorted; the same busybox makes it inside containers and on the host.
# shellcheck disable=SC2016
OVL_SNAPSHOT_SH='cd "$1" || exit 1
find . | LC_ALL=C sort | while IFS= read -r p; do
	if [ -d "$p" ] && [ ! -L "$p" ]; then
		stat -c "%n|%F|%a|%u|%g|-|%Y" "$p"
	elif [ -L "$p" ]; then
		printf "%s|%s|%s\n" "$(stat -c "%n|%F|%a|%u|%g" "$p")" "$(readlink "$p")" "-"
	else
		printf "%s|%s\n" "$(stat -c "%n|%F|%a|%u|%g|%h|%s|%Y" "$p")" "$(md5sum <"$p" | cut -d" " -f1)"
	fi
done'
ovl_snapshot() {
	"$OVL_BUSYBOX" sh -c "$OVL_SNAPSHOT_SH" sh "$1"
}

# ovl_cache_snapshot DIR: what a cache entry must keep: mode, owner, size, mtime, inode, content.
ovl_cache_snapshot() {
	local f
	for f in "$1"/*; do
		printf '%s %s\n' "$(stat -c '%n %a %u %g %s %Y %i' "$f")" "$(md5sum <"$f" | cut -d' ' -f1)"
	done
}

# ovl_workspace WS CACHE: a workspace with files to modify, append to, delete, rename, chmod, and
# inputs hardlinked from a cache directory (as remote executors stage them).
ovl_workspace() {
	local ws=$1 cache=$2
	mkdir -p "$ws/deldir/sub" "$ws/rendir/sub" "$ws/keepdir" "$cache"
	echo original >"$ws/mod.txt"
	echo line1 >"$ws/app.txt"
	echo gone >"$ws/del.txt"
	echo gone >"$ws/deldir/sub/f"
	echo renamed >"$ws/ren-old.txt"
	echo inner >"$ws/rendir/sub/f"
	echo mode >"$ws/chmod.txt"
	echo untouched >"$ws/keepdir/same.txt"
	echo 'cached input A' >"$cache/objA"
	echo 'cached input B' >"$cache/objB"
	chmod 0444 "$cache/objA" "$cache/objB"
	touch -d '2020-01-02 03:04:05' "$cache/objA" "$cache/objB" "$ws/keepdir/same.txt"
	ln "$cache/objA" "$ws/inputA"
	mkdir -p "$ws/in"
	ln "$cache/objB" "$ws/in/inputB"
	# Directory mtimes last, so the snapshot before the run is stable.
	touch -d '2021-01-01 00:00:00' "$ws/deldir/sub" "$ws/deldir" "$ws/rendir/sub" "$ws/rendir" \
		"$ws/keepdir" "$ws/in" "$ws"
}

# The action: modifies, appends, deletes, renames, creates, chmods, links, writes through a
# cache-hardlinked input (which the overlay must keep away from the cache), then snapshots the
# workspace as the container sees it into /out/inside.txt.
# shellcheck disable=SC2016
OVL_ACTION_SH='set -e
cd /workspace
echo modified >mod.txt
echo line2 >>app.txt
rm del.txt
rm -r deldir
mv ren-old.txt ren-new.txt
mv rendir rendir2
mkdir -p new/sub
echo created >new/sub/file
ln new/sub/file new/hardlink
ln -s new/sub/file newlink
chmod 0600 chmod.txt
chmod 0644 inputA
echo "written through the cache link" >>inputA
rm in/inputB
echo replaced >in/inputB
sleep 0.01
sh -c "$SNAP" sh /workspace >/out/inside.txt'

# ovl_action_cmd: the action as a JSON argv for config.json.
ovl_action_cmd() {
	jq -cn --arg a "$OVL_ACTION_SH" --arg snap "$OVL_SNAPSHOT_SH" \
		'["sh", "-c", ("SNAP=" + ($snap | @sh) + "\n" + $a)]'
}
