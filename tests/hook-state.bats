#!/usr/bin/env bats
# ovlbox-hook's input and poststop: malformed state and config.json give one line naming the
# field, exit 1 and no change; poststop works with an empty environment and without a pid, is
# harmless when run twice or for a container that never started, and never loses data (an apply
# that cannot finish leaves upper and journal for `ovlbox apply`; the next start finishes it).

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle

setup_file() {
	ovl_suite_setup
}

setup() {
	ovl_case_setup
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
}

teardown() {
	ovl_runc delete -f "$ID" >/dev/null 2>&1 || true
	ovl_runc delete -f "$ID-2" >/dev/null 2>&1 || true
}

# state STATUS [PID]: an OCI state for $B.
state() {
	local pid=${2:-}
	jq -cn --arg b "$B" --arg s "$1" --arg id "$ID" --arg pid "$pid" \
		'{"ociVersion": "1.0.2", "id": $id, "status": $s, "bundle": $b}
		 + (if $pid == "" then {} else {"pid": ($pid | tonumber)} end)'
}

# hook_with_state JSON STAGE...: runs the hook with JSON on stdin and an empty environment.
hook_with_state() {
	local json=$1
	shift
	run env -i "$OVLBOX_HOOK" "$@" <<<"$json"
}

# config FILTER: edits $B/config.json with jq.
config() {
	jq "$1" "$B/config.json" >"$B/config.new" && mv "$B/config.new" "$B/config.json"
}

# assert_bad_input LINE: exit 1, exactly one line LINE (a prefix when it ends in *), no change.
assert_bad_input() {
	[[ $status -eq 1 ]] || fail "status $status: $output"
	[[ ${#lines[@]} -eq 1 ]] || fail "not one line: $output"
	if [[ $1 == *'*' ]]; then
		[[ $output == "${1%'*'}"* ]] || fail "expected: $1" "got:      $output"
	else
		[[ $output == "$1" ]] || fail "expected: $1" "got:      $output"
	fi
	ovl_assert_untouched
	ovl_assert_no_layers
}

@test "state: invalid JSON" {
	hook_with_state '{"bundle": ' createRuntime
	assert_bad_input 'ovlbox-hook: state: invalid JSON: *'
}

@test "state: not an object" {
	hook_with_state '["x"]' createRuntime
	assert_bad_input 'ovlbox-hook: state: expected an object, got an array'
}

@test "state: no bundle" {
	hook_with_state '{"id": "x", "status": "creating", "pid": 5}'
	assert_bad_input 'ovlbox-hook: state: bundle: missing'
}

@test "state: bundle of the wrong type" {
	hook_with_state '{"bundle": 7, "pid": 5}' createRuntime
	assert_bad_input 'ovlbox-hook: state: bundle: expected a string, got a number'
}

@test "state: relative bundle" {
	hook_with_state '{"bundle": "bundle", "pid": 5}' createRuntime
	assert_bad_input 'ovlbox-hook: state: bundle: not an absolute path: bundle'
}

@test "state: pid of the wrong type" {
	hook_with_state "$(state creating | jq -c '.pid = "12"')" createRuntime
	assert_bad_input 'ovlbox-hook: state: pid: expected a number, got a string'
}

@test "state: negative pid" {
	hook_with_state "$(state creating -3)" createRuntime
	assert_bad_input 'ovlbox-hook: state: pid: out of range: -3'
}

@test "state: annotation of the wrong type" {
	hook_with_state "$(state creating 5 | jq -c '.annotations = {"org.ovlbox.workspace": ["x"]}')" \
		createRuntime
	assert_bad_input 'ovlbox-hook: state: annotations: org.ovlbox.workspace: expected a string, got an array'
}

@test "state: larger than 1 MiB" {
	{
		printf '{"bundle": "%s", "pid": 5, "pad": "' "$B"
		head -c 1100000 /dev/zero | tr '\0' x
		printf '"}'
	} >"$C/big.json"
	run env -i "$OVLBOX_HOOK" createRuntime <"$C/big.json"
	assert_bad_input 'ovlbox-hook: state: larger than 1048576 bytes'
}

@test "config.json: missing" {
	rm "$B/config.json"
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input "ovlbox-hook: open $B/config.json: No such file or directory"
}

@test "config.json: invalid JSON" {
	printf '{"root": {"path": "rootfs"}, "mounts": [' >"$B/config.json"
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input 'ovlbox-hook: config.json: invalid JSON: *'
}

@test "config.json: root.path of the wrong type" {
	config '.root.path = 5'
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input 'ovlbox-hook: config.json: root: path: expected a string, got a number'
}

@test "config.json: no root.path" {
	config 'del(.root)'
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input 'ovlbox-hook: config.json: root.path: missing'
}

@test "config.json: mounts of the wrong type" {
	config '.mounts = {"a": 1}'
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input 'ovlbox-hook: config.json: mounts: expected a*'
	# (json.c says "expected a array": a grammar slip outside the hook.)
	[[ $output == *' array, got an object' ]]
}

@test "config.json: the workspace mount's source of the wrong type" {
	config '(.mounts[] | select(.destination == "/workspace") | .source) = 42'
	local i
	i=$(jq '.mounts | map(.destination) | index("/workspace")' "$B/config.json")
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input "ovlbox-hook: config.json: mounts[$i]: source: expected a string, got a number"
}

@test "config.json: the workspace mount has a relative source" {
	config '(.mounts[] | select(.destination == "/workspace") | .source) = "ws"'
	local i
	i=$(jq '.mounts | map(.destination) | index("/workspace")' "$B/config.json")
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input "ovlbox-hook: config.json: mounts[$i] (/workspace): source: not an absolute path: ws"
}

@test "config.json: annotation of the wrong type" {
	config '.annotations["org.ovlbox.on-exit"] = true'
	hook_with_state "$(state creating 5)" createRuntime
	assert_bad_input 'ovlbox-hook: config.json: annotations: org.ovlbox.on-exit: expected a string, got a boolean'
}

@test "usage errors exit 2" {
	run "$OVLBOX_HOOK" startContainer </dev/null
	[[ $status -eq 2 ]]
	[[ $output == 'ovlbox-hook: unknown stage startContainer (prestart, createRuntime, createContainer, poststop, mount or unmount)' ]]
	run "$OVLBOX_HOOK" poststop --frobnicate </dev/null
	[[ $status -eq 2 ]]
	[[ ${lines[0]} == 'ovlbox-hook: unexpected argument --frobnicate' ]]
}

@test "state: no pid and not stopped, no STAGE argument: the stage is not guessed, nothing changes" {
	hook_with_state "$(state creating)"
	assert_bad_input 'ovlbox-hook: state: pid: missing (status creating): cannot tell the stage; pass STAGE'
	ovl_assert_no_layers
}

@test "state: an id of 256 bytes or more is refused at the mount stage (the layers' mark could not hold it)" {
	local id
	id=$(printf 'x%.0s' {1..256})
	hook_with_state "$(jq -cn --arg b "$B" --arg id "$id" \
		'{"ociVersion": "1.0.2", "id": $id, "status": "creating", "pid": 5, "bundle": $b}')" createRuntime
	assert_bad_input 'ovlbox-hook: state: id: longer than 255 bytes'
}

@test "no org.ovlbox.workspace annotation: exit 0, nothing read beyond config.json" {
	config 'del(.annotations)'
	hook_with_state "$(state creating 5)" createRuntime
	[[ $status -eq 0 && -z $output ]]
	hook_with_state "$(state stopped)"
	[[ $status -eq 0 && -z $output ]]
	ovl_assert_no_layers
}

# ---------------------------------------------------------------------------------------------
# poststop

# keep_run: a container whose changes are in the upper (PENDING), as its poststop finds them:
# kept by a run with on-exit keep, which gives the layers up, then marked as the container's
# again, as its mount stage marks them (user.ovlbox.container on the work dir); on-exit set back
# to apply.
keep_run() {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=keep)"
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	[[ -d $WS.upper ]]
	ovl_assert_untouched
	[[ -z $(getfattr --absolute-names --only-values -n user.ovlbox.container "$WS.work" 2>/dev/null) ]] ||
		fail "keep left the layers marked as the container's"
	setfattr -n user.ovlbox.container -v "$ID" "$WS.work"
	config '.annotations["org.ovlbox.on-exit"] = "apply"'
}

@test "poststop: empty environment, no pid (runc), then again: applied once, then a no-op" {
	keep_run
	hook_with_state "$(state stopped)" poststop
	[[ $status -eq 0 && -z $output ]] || fail "$output"
	ovl_assert_applied
	hook_with_state "$(state stopped)" poststop
	[[ $status -eq 0 && -z $output ]] || fail "$output"
	ovl_assert_applied
}

@test "poststop: pid 0 (crun), stage inferred from status stopped" {
	keep_run
	hook_with_state "$(state stopped 0)"
	[[ $status -eq 0 && -z $output ]] || fail "$output"
	ovl_assert_applied
}

@test "poststop: discard removes the upper, twice is harmless" {
	keep_run
	config '.annotations["org.ovlbox.on-exit"] = "discard"'
	hook_with_state "$(state stopped)" poststop
	[[ $status -eq 0 && -z $output ]] || fail "$output"
	ovl_assert_untouched
	ovl_assert_no_layers
	hook_with_state "$(state stopped)" poststop
	[[ $status -eq 0 && -z $output ]] || fail "$output"
}

@test "poststop for a container that never started (runc create, runc delete)" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	ovl_runc create -b "$B" "$ID" </dev/null >"$C/create.out" 2>&1 || fail "$(cat "$C/create.out")"
	# The overlay is mounted in the created container's namespace only.
	[[ -d $WS.upper ]]
	run ovl_runc delete "$ID"
	[[ $status -eq 0 ]] || fail "runc delete: $output"
	[[ ! -e $OUT/started ]]
	ovl_assert_untouched
	ovl_assert_no_layers
	hook_with_state "$(state stopped)" poststop
	[[ $status -eq 0 && -z $output ]] || fail "$output"
}

@test "poststop: a refused apply keeps the upper and names ovlbox apply; nothing is lost" {
	keep_run
	chattr +i "$WS/mod.txt"
	hook_with_state "$(state stopped)" poststop
	chattr -i "$WS/mod.txt"
	[[ $status -eq 1 ]]
	[[ ${#lines[@]} -eq 1 ]]
	ovl_assert_output "ovlbox-hook: changes to $WS not applied, kept in $WS.upper; run \`ovlbox apply $WS\`: " \
		"mod.txt: the workspace entry is immutable or append-only"
	ovl_assert_untouched
	[[ -d $WS.upper ]]
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "ovlbox apply: $output"
	ovl_assert_applied
}

@test "poststop: an apply cut short leaves its journal; the next start finishes it first" {
	keep_run
	# A mount point inside the workspace (in a private mount namespace) makes one rename fail
	# with EXDEV after the journal is written.
	run unshare -m --propagation private sh -c \
		'mount --bind "$1/in" "$1/in" && env -i "$2" poststop' sh "$WS" "$OVLBOX_HOOK" \
		<<<"$(state stopped)"
	[[ $status -eq 1 ]]
	ovl_assert_output "ovlbox-hook: changes to $WS not applied, kept in $WS.upper; run \`ovlbox apply $WS\`: " \
		"Invalid cross-device link"
	[[ -e $WS.work/ovlbox-journal ]]

	# The next container on this workspace finishes the apply before mounting.
	cp "$OUT/inside.txt" "$C/inside-1.txt"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" \
		"$(jq -cn --arg snap "$OVL_SNAPSHOT_SH" '["sh", "-c", $snap, "sh", "/workspace"]')"
	run ovl_runc run -b "$B" "$ID-2" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	grep -q 'finishing an interrupted apply' "$LOG"
	# It saw the applied workspace, and left it so (it changed nothing).
	diff -u "$C/inside-1.txt" <(printf '%s\n' "$output")
	cp "$C/inside-1.txt" "$OUT/inside.txt"
	ovl_assert_applied
}

@test "mount stage: an interrupted apply that still cannot finish refuses the container" {
	keep_run
	run unshare -m --propagation private sh -c \
		'mount --bind "$1/in" "$1/in" && env -i "$2" poststop' sh "$WS" "$OVLBOX_HOOK" \
		<<<"$(state stopped)"
	[[ -e $WS.work/ovlbox-journal ]]
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	rm -f "$OUT/started"
	run unshare -m --propagation private sh -c \
		'mount --bind "$1/in" "$1/in" && shift && exec "$@"' sh "$WS" \
		runc --root "$OVL_T/runc-state" run -b "$B" "$ID-2"
	[[ $status -ne 0 ]] || fail "the container started: $output"
	[[ ! -e $OUT/started ]]
	ovl_assert_output "finish the interrupted apply of $WS (the journal is kept; run \`ovlbox apply $WS\`)"
	[[ -e $WS.work/ovlbox-journal ]]
}

@test "poststop: the workspace locked by another ovlbox: nothing changes, exit 1" {
	keep_run
	run flock --nonblock "$WS" env -i "$OVLBOX_HOOK" poststop <<<"$(state stopped)"
	[[ $status -eq 1 ]]
	[[ $output == "ovlbox-hook: poststop (nothing was changed; run \`ovlbox apply $WS\` later): workspace $WS is in use by another ovlbox (lock held)" ]]
	[[ -d $WS.upper ]]
	ovl_assert_untouched
}

@test "poststop: a lock held for a moment (a concurrent second poststop) is waited for" {
	keep_run
	flock "$WS" sleep 0.5 &
	local holder=$!
	sleep 0.1
	hook_with_state "$(state stopped)" poststop
	wait "$holder"
	[[ $status -eq 0 && -z $output ]] || fail "$output"
	ovl_assert_applied
}

@test "--log appends every run's messages with a timestamp" {
	config '.annotations["org.ovlbox.on-exit"] = "bogus"'
	hook_with_state "$(state creating 5)" createRuntime --log "$C/l.log"
	hook_with_state "$(state creating 5)" createRuntime --log "$C/l.log"
	[[ $(grep -c 'ovlbox-hook: annotation org.ovlbox.on-exit: bogus is not one of apply, discard, keep' "$C/l.log") -eq 2 ]]
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z ovlbox-hook: ' "$C/l.log"
}

@test "--log that cannot be opened: a warning, and the hook still does its job" {
	keep_run
	hook_with_state "$(state stopped)" poststop --log "$C/no/such/dir/hook.log"
	[[ $status -eq 0 ]] || fail "$output"
	[[ $output == "ovlbox-hook: warning: open log $C/no/such/dir/hook.log: No such file or directory; logging to stderr only" ]]
	ovl_assert_applied
}
