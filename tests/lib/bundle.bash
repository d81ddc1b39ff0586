# shellcheck shell=bash
# Variables here are used by the suites that load this file; status/output come from bats run.
# jq filters and sh scripts are single-quoted on purpose (they expand elsewhere).
# shellcheck disable=SC2034,SC2154,SC2016
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

# ovl_snapshot DIR: every entry under DIR with type, mode, owner, link count and size (files),
# mtime (nanoseconds), symlink target and content hash, one per line, sorted; the same busybox
# makes it inside containers and on the host.
OVL_SNAPSHOT_SH='cd "$1" || exit 1
find . | LC_ALL=C sort | while IFS= read -r p; do
	if [ -L "$p" ]; then
		printf "%s|%s\n" "$(stat -c "%n|%F|-|%u|%g|-|-|%y" "$p")" "$(readlink "$p")"
	elif [ -d "$p" ]; then
		stat -c "%n|%F|%a|%u|%g|-|-|%y" "$p"
	else
		printf "%s|%s\n" "$(stat -c "%n|%F|%a|%u|%g|%h|%s|%y" "$p")" "$(md5sum <"$p" | cut -d" " -f1)"
	fi
done'
ovl_snapshot() {
	TZ=UTC "$OVL_BUSYBOX" sh -c "$OVL_SNAPSHOT_SH" sh "$1"
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

# ---------------------------------------------------------------------------------------------
# Suite and test set-up shared by tests/hook*.bats.

# ovl_suite_setup: the rootfs and spec template, once per file, in bats' per-file tmpdir.
ovl_suite_setup() {
	: "${OVLBOX_HOOK:?set OVLBOX_HOOK (tests/run.sh does)}" "${OVLBOX_SRC:?set OVLBOX_SRC (tests/run.sh does)}"
	export TZ=UTC
	OVL_T=$BATS_FILE_TMPDIR
	ovl_rootfs "$OVL_T/rootfs"
	ovl_spec_template "$OVL_T/spec.json"
}

# ovl_case_setup: per test: workspace $WS with cache $CACHE, $OUT (bound at /out), hook log $LOG,
# bundle dir $B, container id $ID; snapshots of the workspace and cache before anything runs.
ovl_case_setup() {
	OVL_T=$BATS_FILE_TMPDIR
	C=$BATS_TEST_TMPDIR
	WS=$C/ws
	CACHE=$C/cache
	OUT=$C/out
	LOG=$C/hook.log
	B=$C/bundle
	ID=ovlbox-test-$$-$BATS_SUITE_TEST_NUMBER
	mkdir -p "$OUT"
	ovl_workspace "$WS" "$CACHE"
	ovl_snapshot "$WS" >"$C/before.txt"
	ovl_cache_snapshot "$CACHE" >"$C/cache-before.txt"
}

# ovl_ann KEY=VALUE...: an annotations JSON object.
ovl_ann() {
	local kv json='{}'
	for kv in "$@"; do
		json=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '.[$k] = $v' <<<"$json")
	done
	printf '%s\n' "$json"
}

# ovl_hooks_json STAGE HOOK LOG: a config.json "hooks" object with the mount STAGE and poststop.
# STAGE "infer:NAME" registers the hook at NAME without a STAGE argument (as hooks.d does).
ovl_hooks_json() {
	local stage=$1 hook=$2 log=$3 infer=false
	if [[ $stage == infer:* ]]; then
		stage=${stage#infer:}
		infer=true
	fi
	jq -n --arg stage "$stage" --arg hook "$hook" --arg log "$log" --argjson infer "$infer" '
		def args(s): if $infer then ["ovlbox-hook", "--log", $log]
			else ["ovlbox-hook", s, "--log", $log] end;
		{($stage): [{"path": $hook, "args": args($stage), "timeout": 30}],
		 "poststop": [{"path": $hook, "args": args("poststop"), "timeout": 60}]}'
}

# ovl_make_bundle STAGE ANNOTATIONS [CMD_JSON [ROOTFS [DEST]]]: $B/config.json binding $WS at DEST
# (default /workspace) and $OUT at /out, with the hooks for STAGE ("none": no hooks).
ovl_make_bundle() {
	local stage=$1 ann=$2 cmd=${3:-} rootfs=${4:-$OVL_T/rootfs} dest=${5:-/workspace}
	local hooks='{}'
	[[ -n $cmd ]] || cmd=$(ovl_action_cmd)
	[[ $stage == none ]] || hooks=$(ovl_hooks_json "$stage" "$OVLBOX_HOOK" "$LOG")
	ovl_bundle "$B" "$rootfs" "$OVL_JQ_BIND | $OVL_JQ_OUT | $OVL_JQ_CMD | .annotations = \$ann | .hooks = \$hooks" \
		--arg src "$WS" --arg dst "$dest" --arg out "$OUT" --argjson cmd "$cmd" \
		--argjson ann "$ann" --argjson hooks "$hooks"
}
OVL_JQ_OUT='.mounts += [{"destination": "/out", "type": "bind", "source": $out, "options": ["rbind"]}]'

# The paths the action leaves, in snapshot order.
OVL_EXPECTED_PATHS='.
./app.txt
./chmod.txt
./in
./in/inputB
./inputA
./keepdir
./keepdir/same.txt
./mod.txt
./new
./new/hardlink
./new/sub
./new/sub/file
./newlink
./ren-new.txt
./rendir2
./rendir2/sub
./rendir2/sub/f'

# ovl_assert_action_seen: the action ran on the merged view and saw its own changes.
ovl_assert_action_seen() {
	[[ -s $OUT/inside.txt ]] || fail "the action left no snapshot ($OUT/inside.txt)"
	diff -u <(printf '%s\n' "$OVL_EXPECTED_PATHS") <(cut -d'|' -f1 "$OUT/inside.txt")
	grep -qF './mod.txt|regular file|644|0|0|1|9|' "$OUT/inside.txt"
	grep -qF './chmod.txt|regular file|600|' "$OUT/inside.txt"
	grep -qF './new/hardlink|regular file|644|0|0|2|8|' "$OUT/inside.txt"
	grep -qF './newlink|symbolic link|-|0|0|-|-|' "$OUT/inside.txt"
}

# ovl_assert_cache_intact: cache entries keep mode, owner, size, mtime, inode and bytes.
ovl_assert_cache_intact() {
	diff -u "$C/cache-before.txt" <(ovl_cache_snapshot "$CACHE")
}

# ovl_assert_no_layers: no upper or work dir left next to the workspace.
ovl_assert_no_layers() {
	[[ ! -e $WS.upper ]] || fail "$WS.upper left behind: $(ls -la "$WS.upper")"
	[[ ! -e $WS.work ]] || fail "$WS.work left behind: $(ls -la "$WS.work")"
}

# ovl_assert_applied: the host workspace is exactly what the container saw at its end.
ovl_assert_applied() {
	ovl_assert_action_seen
	diff -u "$OUT/inside.txt" <(ovl_snapshot "$WS")
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

# ovl_inside_as_host UID GID: the container's snapshot with its root shown as host ids UID:GID
# (for containers in a user namespace).
ovl_inside_as_host() {
	awk -F'|' -v OFS='|' -v u="$1" -v g="$2" '$4 == 0 { $4 = u } $5 == 0 { $5 = g } 1' \
		"$OUT/inside.txt"
}

# ovl_assert_untouched: the workspace and cache are as before the run.
ovl_assert_untouched() {
	diff -u "$C/before.txt" <(ovl_snapshot "$WS")
	ovl_assert_cache_intact
}

# ovl_assert_discarded: on-exit discard: the action saw its changes, the workspace and cache are as
# before, and no upper or work dir is left.
ovl_assert_discarded() {
	ovl_assert_action_seen
	ovl_assert_untouched
	ovl_assert_no_layers
}

# ovl_assert_kept: on-exit keep: the action saw its changes, the workspace and cache are as before,
# and upper and work hold the changes for a later `ovlbox apply`.
ovl_assert_kept() {
	ovl_assert_action_seen
	ovl_assert_untouched
	[[ -d $WS.upper && -d $WS.work ]] || fail "upper or work missing after on-exit keep"
}

# ovl_assert_output FRAGMENT...: each fragment occurs in $output (from bats' run).
ovl_assert_output() {
	local f
	for f in "$@"; do
		[[ $output == *"$f"* ]] || fail "expected in output: $f" $'\n'"--- output ($status):"$'\n'"$output"
	done
}

# ovl_assert_refused FRAGMENT...: the container did not start ($status non-zero, the action never
# ran), the hook's error is in the runtime's output, nothing changed, nothing was created.
ovl_assert_refused() {
	[[ $status -ne 0 ]] || fail "the runtime succeeded: $output"
	[[ ! -e $OUT/started ]] || fail "the container started"
	ovl_assert_output "$@"
	ovl_assert_untouched
	ovl_assert_no_layers
}

# ovl_wait_stopped RUNTIME ID: waits (10 s at most) until RUNTIME state ID says stopped.
ovl_wait_stopped() {
	local i
	for ((i = 0; i < 200; i++)); do
		[[ $("$1" state "$2" | jq -r .status) == stopped ]] && break
		sleep 0.05
	done
}

# ovl_finish_detached ID: lets the detached container ID, which waits for /out/go, go on; waits
# until it has stopped and deletes it (its poststop runs then).
ovl_finish_detached() {
	touch "$OUT/go"
	ovl_wait_stopped ovl_runc "$1"
	ovl_runc delete "$1" || fail "runc delete $1"
}

# ovl_podman_suite_setup IMAGE: the suite's set-up, podman's storage private to the test file
# and IMAGE imported from the busybox rootfs.
ovl_podman_suite_setup() {
	ovl_suite_setup
	export OVL_PODMAN_DIR=$BATS_FILE_TMPDIR/podman
	mkdir -p "$OVL_PODMAN_DIR/tmp"
	ovl_podman_import "$OVL_T/rootfs" "$1"
}

# A command that only shows whether the container started.
OVL_STARTED_CMD='["sh", "-c", "touch /out/started"]'

fail() {
	printf '%s\n' "$*" >&2
	return 1
}
