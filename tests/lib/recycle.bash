# shellcheck shell=bash
# Variables here are used by the suites that load this file; status/output come from bats run.
# sh scripts are single-quoted on purpose (they run inside the container).
# shellcheck disable=SC2034,SC2154,SC2016,SC2317
# Recycled runners (tests/recycle*.bats): one container started once, many actions through exec,
# `ovlbox-hook unmount` and `mount` between them. A suite defines, for its runtime:
#   rt_start            start the container $ID (init `sleep`, cwd /) with the hook
#   rt_exec ARGS...     exec ARGS in it (rt_exec -d: detached)
#   rt_state            print its OCI state (status, pid, bundle, id)
#   rt_stop             stop and remove it (its poststop runs)
#   rt_ids              (optional) "UID GID": the host ids of the container's root
# and may set OVL_HOOK_AS (a command prefix for the stages: the executor's user).
# Needs lib/bundle.

# recycle_case_setup: ovl_case_setup and recycle_inputs.
recycle_case_setup() {
	ovl_case_setup
	recycle_inputs ""
}

# recycle_inputs [OWNER]: cache objects obj1..obj12 (mode 0444, old mtime) for inputs staged
# between actions, obj1 staged already (files chowned to OWNER if given); the snapshots again.
recycle_inputs() {
	local i
	for ((i = 1; i <= 12; i++)); do
		printf 'cached input %s\n' "$i" >"$CACHE/obj$i"
		chmod 0444 "$CACHE/obj$i"
		touch -d '2020-01-02 03:04:05' "$CACHE/obj$i"
	done
	ln "$CACHE/obj1" "$WS/in/obj1"
	touch -d '2021-01-01 00:00:00' "$WS/in"
	[[ -z ${1:-} ]] || chown -R "$1" "$C"
	ovl_snapshot "$WS" >"$C/before.txt"
	ovl_cache_snapshot "$CACHE" >"$C/cache-before.txt"
}

# The bundle's hooks and command for a runner: createRuntime + poststop, init `sleep`.
OVL_RUNNER_CMD='["sleep", "100000"]'

# stage STAGE [ARGS...]: runs the hook's STAGE on the container's current state (bats run).
stage() {
	rt_state >"$C/state.json" || fail "no state for $ID"
	run "${OVL_HOOK_AS[@]}" "$OVLBOX_HOOK" "$@" --log "$LOG" <"$C/state.json"
}

# The command prefix the executor runs the stages with (rootless: as the user).
OVL_HOOK_AS=()

# stage_ok STAGE [ARGS...]: stage, which must succeed.
stage_ok() {
	stage "$@"
	[[ $status -eq 0 ]] || fail "ovlbox-hook $*: exit $status: $output"
}

# The action N: reads the input staged for it, writes through that cache link, adds, appends,
# deletes the previous action's output, then snapshots the workspace into /out/insideN.txt.
OVL_RECYCLE_ACTION='set -e
n=$1
cd /workspace
cat in/obj$n >seen$n
chmod 0644 in/obj$n
echo "written by action $n" >>in/obj$n
echo "output $n" >out$n
echo "line $n" >>log.txt
rm -f out$((n - 1))
sh -c "$SNAP" sh /workspace >/out/inside$n.txt'

# action N: runs action N in the container.
action() {
	run rt_exec sh -c "SNAP=$(printf '%q' "$OVL_SNAPSHOT_SH")"$'\n'"$OVL_RECYCLE_ACTION" sh "$1"
	[[ $status -eq 0 ]] || fail "action $1: $output"
}

# inside_as_host N: the container's snapshot of action N with its root as the host's ids.
inside_as_host() {
	if declare -F rt_ids >/dev/null; then
		local ids
		read -r -a ids <<<"$(rt_ids)"
		awk -F'|' -v OFS='|' -v u="${ids[0]}" -v g="${ids[1]}" \
			'$4 == 0 { $4 = u } $5 == 0 { $5 = g } 1' "$OUT/inside$1.txt"
	else
		cat "$OUT/inside$1.txt"
	fi
}

# assert_no_host_overlay: no overlay of this workspace's layers is mounted on the host.
assert_no_host_overlay() {
	if grep -F "upperdir=$WS.upper," /proc/self/mountinfo; then
		fail "an overlay of $WS is mounted on the host"
	fi
}

# assert_stats N FILE: FILE holds the counts action N changed (run after the apply):
# added seenN, outN (and log.txt first), modified in/objN (and log.txt later), deleted out(N-1).
assert_stats() {
	local n=$1 file=$2 added=2 modified=1 deleted=1 bytes
	if [[ $n -eq 1 ]]; then
		added=3 deleted=0
	else
		modified=2
	fi
	bytes=$(stat -c %s "$WS/seen$n" "$WS/out$n" "$WS/log.txt" "$WS/in/obj$n" | awk '{ s += $1 } END { print s }')
	local want
	want=$(jq -cn --argjson a "$added" --argjson m "$modified" --argjson d "$deleted" \
		--argjson b "$bytes" '{changes: {added: $a, modified: $m, deleted: $d, bytes: $b}, applied: true}')
	[[ $(jq -c . "$file") == "$want" ]] || fail "stats of action $n: $(cat "$file"), expected $want"
}

# assert_read_only LINK: between actions the container cannot write into the workspace, nor
# change LINK (a cache hardlink in it, relative to the workspace).
assert_read_only() {
	run rt_exec sh -c 'echo x >/workspace/evil'
	[[ $status -ne 0 && $output == *"Read-only file system"* ]] ||
		fail "a write into the workspace between actions: exit $status: $output"
	run rt_exec chmod 0666 "/workspace/$1"
	[[ $status -ne 0 && $output == *"Read-only file system"* ]] ||
		fail "a chmod of cache link $1 between actions: exit $status: $output"
	[[ ! -e $WS/evil ]]
}

# recycle_actions N: N actions in the running container, each followed by unmount --stats, the
# next input staged on the host as a cache hardlink, and mount; then one more action that the
# container's stop applies at poststop.
recycle_actions() {
	local n=$1 i
	for ((i = 1; i <= n; i++)); do
		action "$i"
		stage_ok unmount --stats "$C/stats$i.json"
		assert_no_host_overlay
		diff -u <(inside_as_host "$i") <(ovl_snapshot "$WS") || fail "action $i not applied as seen"
		[[ ! -e $WS/out$((i - 1)) || $i -eq 1 ]] || fail "out$((i - 1)) not deleted"
		[[ $(cat "$WS/seen$i") == "cached input $i" ]] || fail "action $i saw: $(cat "$WS/seen$i")"
		ovl_assert_cache_intact
		assert_stats "$i" "$C/stats$i.json"
		ln "$CACHE/obj$((i + 1))" "$WS/in/obj$((i + 1))"
		assert_read_only "in/obj$((i + 1))"
		ovl_assert_cache_intact
		stage_ok mount
		assert_no_host_overlay
	done
	action $((n + 1))
	rt_stop
	assert_no_host_overlay
	diff -u <(inside_as_host $((n + 1))) <(ovl_snapshot "$WS") || fail "the last action not applied at poststop"
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

# one_line: $output (stderr of a failed stage) is a single line.
one_line() {
	[[ $(printf '%s\n' "$output" | wc -l) -eq 1 ]] || fail "not one line: $output"
}

# recycle_use_podman PODMAN [RUN_FLAGS...]: the rt_* functions for podman run through the
# function PODMAN (a wrapper with the suite's storage), with the suite's hooks dir ($C/hooks.d),
# $RUNTIME and $IMAGE.
recycle_use_podman() {
	RT_PODMAN=$1
	shift
	RT_PODMAN_FLAGS=("$@")
	rt_start() {
		"$RT_PODMAN" --hooks-dir "$C/hooks.d" run -d --name "$ID" --runtime "$RUNTIME" \
			"${RT_PODMAN_FLAGS[@]}" -v "$WS:/workspace" -v "$OUT:/out" \
			--annotation org.ovlbox.workspace=/workspace "$IMAGE" sleep 100000 >/dev/null ||
			fail "podman run -d failed"
	}
	rt_exec() {
		local opts=()
		while [[ $1 == -* ]]; do
			opts+=("$1")
			shift
		done
		"$RT_PODMAN" exec "${opts[@]}" "$ID" "$@" </dev/null
	}
	# the OCI state of the running container, as the README's one-liner makes it
	rt_state() {
		"$RT_PODMAN" inspect "$ID" | jq -c '.[0] | {ociVersion: "1.0.2", id: .Id,
			status: .State.Status, pid: .State.Pid, bundle: (.OCIConfigPath | rtrimstr("/config.json"))}'
	}
	rt_stop() {
		"$RT_PODMAN" rm -f -t 0 "$ID" >/dev/null || fail "podman rm $ID"
	}
}

# recycle_straggler: a straggler with its cwd in the workspace makes unmount exit 3 naming it,
# nothing is applied; --kill then unmounts and applies.
recycle_straggler() {
	rt_start
	action 1
	rt_exec -d sh -c 'cd /workspace; exec sleep 300'
	sleep 0.5
	stage unmount
	[[ $status -eq 3 ]] || fail "exit $status: $output"
	one_line
	[[ $output =~ pid\ [0-9]+\ \(sleep\):\ cwd ]] || fail "$output"
	ovl_assert_untouched
	stage_ok unmount --kill
	diff -u <(inside_as_host 1) <(ovl_snapshot "$WS")
	rt_stop
}
