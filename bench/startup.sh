#!/usr/bin/env bash
# Start-up cost: wall time of running `true` bare, under unshare, `ovlbox run` (defaults: overlay,
# every namespace, no caps, seccomp default), bwrap, runc and crun, interleaved in one
# bench/timeit run; then runc and crun each with and without ovlbox-hook, interleaved in a second
# one; podman with and without the hook in a third. Then the peak RSS of `ovlbox run` (from the
# first run) and of ovlbox-hook (wrapped in `timeit --rss-exec` under runc).
#
# Why the hook has its own run: ovlbox run and the hook each create and remove about ten inodes
# per run, in the same block group of the same disk. On an ext4 without a journal (this
# machine's), allocating an inode steps over every inode freed in the last minute or more
# (recently_deleted()), so interleaved, each slows the other by the other's churn: ovlbox run
# went from 5-6 ms to 6-6.5 ms next to runc + hook and crun + hook. Each comparison stays side by
# side within its own run.
#
# The whole timeit run happens inside one private mount namespace where an empty file hides
# /sys/fs/cgroup/unified/cgroup.controllers: crun 1.8.1 refuses hybrid cgroups otherwise
# (DESIGN §5). runc and podman do not read that file on this host; nothing on the host changes.
# There too, runc and crun keep their state (--root) on a tmpfs, as under /run on a standard
# systemd host: here /run is on the disk, an ext4 that discards freed blocks synchronously, and
# the state files each container run writes and deletes left the disk busy for seconds, slowing
# whatever ran next and touched it (ovlbox run's upper and work dirs: 5-6 ms became 8-11 ms).
#
# podman (~0.3-0.9 s a run here) gets a timeit run of its own with fewer rounds, interleaved with
# and without the hook.
#
# Rootless `ovlbox run` gets a run of its own too: as the unprivileged user ovlboxtest (the test
# suites' user, created when missing) on a 100-file and a 100,000-file workspace (made by
# tests/helpers/mkfiles), with the user switch alone (setpriv) as the baseline. Its start-up
# must not grow with the workspace (no walk before the run). In a world-readable dir of its
# own under /var/tmp, with a copy of ovlbox, so the user reaches both whatever the build dir.
#
# Every timeit run alternates the order of its cases (A B C, C B A, ...): a case's removals leave
# the disk busy for the next (this disk discards freed blocks), and each case should follow each
# other one as often as it precedes it. The runc ± hook run has a reference
# case, runc running a static no-op hook (bench/noophook) at the hook's two stages: what runc
# itself spends on running hooks.
#
# Env: OVLBOX_BUILD (build dir), OVLBOX_HELPERS (mkfiles; default build/rel/tests/helpers),
# ROUNDS (default 100), WARMUP (default 3), HOOK_ROUNDS (the runc
# and crun ± hook run, default 300), PODMAN_ROUNDS (default 10), OUT (results dir: appends to
# $OUT/summary.tsv), SKIP_PODMAN=1 to leave podman out. 100 rounds, not 30: runc alone moves
# 25-65 ms from run to run here, and the sandbox's own figure 0.4 ms between runs of 30 rounds;
# 300 for the hook, whose goal (1.10x) is within two standard errors of a 100-round median of
# runc's 30-60 ms spread.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${OVLBOX_BUILD:-$src/build/rel}
rounds=${ROUNDS:-100}
warmup=${WARMUP:-3}
out=${OUT:-}
timeit=$build/bench/timeit
ovlbox=$build/bin/ovlbox
hook=$build/bin/ovlbox-hook
export OVLBOX_HOOK=$hook

# shellcheck source=tests/lib/bundle.bash
source tests/lib/bundle.bash
OVL_TOP=$(mktemp -d /var/tmp/ovlbox-bench-startup.XXXXXX)
# The workspaces' block group: on an ext4 without a journal every inode allocation steps over the
# inodes of its group freed in the last minutes (see below), and /var/tmp's group is where every
# test suite and benchmark creates and removes its files. With the "top directory" attribute on
# OVL_TOP, ext4 places each subdirectory in one of its least-used groups, the tie broken by a hash
# of the name: OVL_T (ovlbox run's workspaces) and OVL_H (the hook's) have random names, so
# that each lands in a group of its own, and not in the one the previous benchmark churned (with
# a fixed name every run of every benchmark got the same group: after one hook benchmark a mkdir
# there took 0.58 ms instead of 0.03-0.05 for minutes). OVL_T and OVL_H themselves are ordinary
# dirs, so what is created under them (the workspaces, upper, work) stays in their group and
# costs what it costs anywhere. (The spread search over every group happens once, here: with +T
# on OVL_T itself each mkdir of upper and work did it, +0.35 ms a run.) So the figures do not
# depend on what other programs removed just before; each case's own removals, run after run,
# still count. No-op elsewhere.
chattr +T "$OVL_TOP" 2>/dev/null || true
OVL_T=$(mktemp -d "$OVL_TOP/t.XXXXXX")
OVL_H=$(mktemp -d "$OVL_TOP/h.XXXXXX")
# crun + hook's workspace too: with runc + hook's, each of them saw the other's 300 containers'
# inodes freed in its group as well as its own.
OVL_C=$(mktemp -d "$OVL_TOP/c.XXXXXX")
# podman refuses a runroot path longer than 50 characters.
OVL_PODMAN_DIR=$(mktemp -d /tmp/obp.XXXXXX)
cleanup() {
	for id in sa sb sc sd ca cb rss; do
		runc --root "$OVL_T/state/runc" delete -f "bench-$id" >/dev/null 2>&1 || true
	done
	if [[ -d $OVL_PODMAN_DIR/root ]]; then
		ovl_podman rm -af >/dev/null 2>&1 || true
	fi
	rm -rf "$OVL_TOP" "$OVL_PODMAN_DIR" ${OVL_R:+"$OVL_R"}
}
trap cleanup EXIT

missing=()
have() { command -v "$1" >/dev/null 2>&1 || { missing+=("$1"); return 1; }; }

# Workspace: a few files, as in bench/hook.sh. One for each runner so that none trips over
# another's lock or layers.
WS=$OVL_H/ws
mkdir -p "$WS" "$OVL_C/ws" "$OVL_T/ws-ovlbox" "$OVL_T/out" "$OVL_T/state"
for i in $(seq 1 100); do
	echo "$i" >"$WS/f$i"
	echo "$i" >"$OVL_C/ws/f$i"
	echo "$i" >"$OVL_T/ws-ovlbox/f$i"
done
OUT=$OVL_T/out

cases=(true true)
pcases=()
cases+=("unshare -m --fork" "unshare -m --fork true")
cases+=("unshare -mpinu --fork" "unshare -mpinu --fork true")
cases+=("ovlbox run" "$ovlbox run --workspace $OVL_T/ws-ovlbox -- true")
# The same on a standard ext4 (a journal, no `discard` mount option), in a loop-mounted image on
# the same disk: what ovlbox run costs where neither quirk of this machine's root ext4 applies
# (no journal: recently_deleted() scans, see above; `discard`: every freed directory block is a
# synchronous discard). Mounted only inside in_ns's private mount namespace.
LOOP_IMG='' LOOP_MNT=''
if have mkfs.ext4 && losetup -f >/dev/null 2>&1; then
	LOOP_IMG=$OVL_T/ext4.img
	LOOP_MNT=$OVL_T/ext4
	mkdir -p "$LOOP_MNT" "$OVL_T/ext4-root/ws" "$OVL_T/ext4-root/wsh"
	cp -a "$OVL_T/ws-ovlbox/." "$OVL_T/ext4-root/ws/"
	cp -a "$WS/." "$OVL_T/ext4-root/wsh/"
	truncate -s 256M "$LOOP_IMG"
	mkfs.ext4 -q -F -d "$OVL_T/ext4-root" "$LOOP_IMG"
	cases+=("ovlbox run (journaled ext4)" "$ovlbox run --workspace $LOOP_MNT/ws -- true")
else
	missing+=("a loop device (for the journaled ext4 row)")
fi
if have bwrap; then
	cases+=("bwrap" "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent true")
fi

cmd='["true"]'
ann=$(ovl_ann org.ovlbox.workspace=/workspace)
if have runc || have crun; then
	ovl_rootfs "$OVL_T/rootfs"
	ovl_spec_template "$OVL_T/spec.json"
	B=$OVL_T/plain LOG=/dev/null ovl_make_bundle none '{}' "$cmd"
	B=$OVL_T/hook LOG=/dev/null ovl_make_bundle createRuntime "$ann" "$cmd"
	# The hook as installed: no --log.
	jq '.hooks[][].args |= [.[0], .[1]]' "$OVL_T/hook/config.json" >"$OVL_T/hook/c.json"
	mv "$OVL_T/hook/c.json" "$OVL_T/hook/config.json"
	# Reference: runc's own cost of running hooks, a static no-op at the same two stages.
	mkdir -p "$OVL_T/noop"
	jq --arg p "$build/bench/noophook" '.hooks[][].path = $p' "$OVL_T/hook/config.json" \
		>"$OVL_T/noop/config.json"
	mkdir -p "$OVL_T/hook-crun"
	jq --arg ws "$OVL_C/ws" '.mounts |= map(if .destination == "/workspace"
		then .source = $ws else . end)' "$OVL_T/hook/config.json" \
		>"$OVL_T/hook-crun/config.json"
	if [[ -n $LOOP_IMG ]]; then # the hook's workspace on the journaled ext4
		mkdir -p "$OVL_T/hook-ext4"
		jq --arg ws "$LOOP_MNT/wsh" '.mounts |= map(if .destination == "/workspace"
			then .source = $ws else . end)' "$OVL_T/hook/config.json" \
			>"$OVL_T/hook-ext4/config.json"
	fi
fi
hcases=()
if have runc; then
	cases+=("runc run" "runc --root $OVL_T/state/runc run -b $OVL_T/plain bench-sa")
	hcases+=("runc run" "runc --root $OVL_T/state/runc run -b $OVL_T/plain bench-sa")
	hcases+=("runc run + hook" "runc --root $OVL_T/state/runc run -b $OVL_T/hook bench-sb")
	[[ -z $LOOP_IMG ]] || hcases+=("runc run + hook (journaled ext4)"
		"runc --root $OVL_T/state/runc run -b $OVL_T/hook-ext4 bench-sc")
	hcases+=("runc run + no-op hook (reference)"
		"runc --root $OVL_T/state/runc run -b $OVL_T/noop bench-sd")
fi
if have crun; then
	cases+=("crun run" "crun --root $OVL_T/state/crun run -b $OVL_T/plain bench-ca")
	hcases+=("crun run" "crun --root $OVL_T/state/crun run -b $OVL_T/plain bench-ca")
	hcases+=("crun run + hook" "crun --root $OVL_T/state/crun run -b $OVL_T/hook-crun bench-cb")
fi
if [[ ${SKIP_PODMAN:-} != 1 ]] && have podman; then
	mkdir -p "$OVL_PODMAN_DIR/tmp" "$OVL_T/hooks.d"
	ovl_podman_import "$OVL_T/rootfs" localhost/ovlbox-bench
	sed "s|@BINDIR@|$build/bin|g" examples/hooks.d/ovlbox.json >"$OVL_T/hooks.d/ovlbox.json"
	p="podman --root $OVL_PODMAN_DIR/root --runroot $OVL_PODMAN_DIR/runroot --storage-driver vfs"
	p+=" --cgroup-manager cgroupfs --events-backend file --tmpdir $OVL_PODMAN_DIR/tmp"
	r="run --rm ${OVL_PODMAN_RUN_FLAGS[*]} -v $WS:/workspace"
	pcases=("podman run --rm" "$p $r localhost/ovlbox-bench true")
	pcases+=("podman run --rm + hook" "$p --hooks-dir $OVL_T/hooks.d $r --annotation org.ovlbox.workspace=/workspace localhost/ovlbox-bench true")
fi

: >"$OVL_T/empty"
# in_ns CMD...: CMD in a private mount namespace where crun (podman's runtime too) accepts the
# hybrid cgroup layout, and the journaled ext4 image (if any) is mounted.
in_ns() {
	# shellcheck disable=SC2016 # $0..$3 and $@ expand in the inner sh
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /sys/fs/cgroup/unified/cgroup.controllers &&
		mount -t tmpfs -o mode=0700 tmpfs "$1" &&
		{ [ -z "$2" ] || mount -o loop "$2" "$3"; } && shift 4 && exec "$@"' \
		"$OVL_T/empty" "$OVL_T/state" "$LOOP_IMG" "$LOOP_MNT" -- "$@"
}
in_ns "$timeit" -a -r "$rounds" -w "$warmup" -u ms \
	-t "Start-up: wall time of \`true\`" ${out:+-o "$out/summary.tsv"} "${cases[@]}"
if [[ -n ${hcases[*]:-} ]]; then
	echo
	in_ns "$timeit" -a -C -r "${HOOK_ROUNDS:-300}" -w "$warmup" -u ms \
		-t "Hook start-up: runtimes with and without ovlbox-hook, wall time of \`true\`" \
		${out:+-o "$out/summary.tsv"} "${hcases[@]}"
fi
if [[ -n ${pcases[*]:-} ]]; then
	echo
	in_ns "$timeit" -a -r "${PODMAN_ROUNDS:-10}" -w 2 -u ms -t "Start-up (podman): wall time of \`true\`" \
		${out:+-o "$out/summary.tsv"} "${pcases[@]}"
fi

# Rootless: the user switch alone, then ovlbox run on 100 and on 100,000 files.
rootless_user=ovlboxtest
OVL_R=''
if [[ $(id -u) -ne 0 ]]; then
	missing+=("root (for the rootless rows, run as $rootless_user)")
elif ! id -u "$rootless_user" >/dev/null 2>&1 &&
	! useradd --user-group --no-create-home --shell /bin/sh "$rootless_user"; then
	missing+=("the user $rootless_user (for the rootless rows)")
else
	OVL_R=$(mktemp -d /var/tmp/ovlbox-bench-rootless.XXXXXX)
	chmod 0755 "$OVL_R"
	cp "$ovlbox" "$OVL_R/ovlbox"
	mkdir "$OVL_R/ws100" "$OVL_R/ws100000"
	chown -R "$rootless_user:" "$OVL_R"
	asu="setpriv --reuid=$rootless_user --regid=$rootless_user --clear-groups --"
	mkfiles=${OVLBOX_HELPERS:-$src/build/rel/tests/helpers}/mkfiles
	$asu "$mkfiles" "$OVL_R/ws100" 1 100
	$asu "$mkfiles" "$OVL_R/ws100000" 100 1000
	rcases=("setpriv (the user switch)" "$asu true")
	rcases+=("ovlbox run, rootless, 100 files" "$asu $OVL_R/ovlbox run --workspace $OVL_R/ws100 -- true")
	rcases+=("ovlbox run, rootless, 100,000 files"
		"$asu $OVL_R/ovlbox run --workspace $OVL_R/ws100000 -- true")
	echo
	"$timeit" -a -r "$rounds" -w "$warmup" -u ms \
		-t "Start-up, rootless: wall time of \`true\` as $rootless_user" \
		${out:+-o "$out/summary.tsv"} "${rcases[@]}"
fi

# The hook really mounted and cleaned up, and ovlbox run left nothing.
for d in "$WS" "$OVL_C/ws" "$OVL_T/ws-ovlbox" ${LOOP_IMG:+"$LOOP_MNT/ws" "$LOOP_MNT/wsh"} \
	${OVL_R:+"$OVL_R/ws100" "$OVL_R/ws100000"}; do
	[[ ! -e $d.upper && ! -e $d.work ]] || {
		echo "bench/startup.sh: layers left behind next to $d" >&2
		exit 1
	}
done

# Peak RSS of ovlbox-hook: its createRuntime and poststop runs under runc, wrapped.
if have runc >/dev/null; then
	jq --arg t "$timeit" --arg h "$hook" --arg f "$OVL_T/rss" '
		.hooks |= with_entries(.key as $k | .value |= map(.path = $t |
			.args = ["timeit", "--rss-exec", ($f + "." + $k), "--", $h, $k]))' \
		"$OVL_T/hook/config.json" >"$OVL_T/hook/c.json"
	mkdir -p "$OVL_T/hookrss"
	mv "$OVL_T/hook/c.json" "$OVL_T/hookrss/config.json"
	for _ in 1 2 3 4 5; do
		runc --root "$OVL_T/state/runc" run -b "$OVL_T/hookrss" bench-rss </dev/null >/dev/null
	done
	echo
	echo "Peak RSS of ovlbox-hook (5 runs under runc; KiB, max of the runs):"
	echo
	echo "| stage | peak RSS KiB |"
	echo "|---|---:|"
	for f in "$OVL_T"/rss.*; do
		stage=${f##*.}
		kb=$(sort -n "$f" | tail -1)
		echo "| $stage | $kb |"
		[[ -z $out ]] || printf 'hook RSS\t%s\t%s\t%s\t%s\t1\t%s\n' "$stage" "$kb" "$kb" "$kb" "$kb" \
			>>"$out/summary.tsv"
	done
fi

if [[ ${#missing[@]} -gt 0 ]]; then
	echo
	echo "Not run (not installed): ${missing[*]}"
fi
