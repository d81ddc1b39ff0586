#!/usr/bin/env bats
# ovlbox-runtime in front of runc: what it adds to config.json and when, its settings, its
# errors (one line on stderr and runc's log entry), and how it passes every other command on.
# Most cases use a recording runtime (a script that prints its arguments) to see exactly what
# the real one would get; the workspace cases run runc itself.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle
load lib/runtime

setup_file() {
	ovl_suite_setup
}

setup() {
	rt_case_setup
	# A runtime that records its argv (one per line) and exits 0.
	ECHO_RT=$C/echo-runtime
	printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s"\n' "$C/argv" >"$ECHO_RT"
	chmod +x "$ECHO_RT"
}

teardown() {
	runc --root "$OVL_T/runc-state" delete -f "$ID" >/dev/null 2>&1 || true
	runc --root "$OVL_T/runc-state" delete -f "$ID-b" >/dev/null 2>&1 || true
}

# rec ARGS...: the wrapper with the recording runtime.
rec() {
	"$OVLBOX_RUNTIME" --ovlbox-runtime "$ECHO_RT" "$@"
}

@test "runtime: runc run with the annotation: the workspace ends as the container saw it" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run rt_runc run -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "run: $output"
	ovl_assert_applied
	grep -q 'mounted the overlay of .* on /workspace' "$LOG"
	grep -q 'applied .* 9 added, 5 modified, 8 deleted' "$LOG"
	rt_assert_hooks_added --log "$LOG"
}

@test "runtime: runc create + start + delete (Docker's sequence) applies at delete" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=apply)"
	# (the container keeps the stdio it is created with: files, as Docker's fifos)
	rt_runc --log "$RTLOG" --log-format json create --bundle "$B" --pid-file "$C/init.pid" "$ID" \
		</dev/null >"$C/create.out" 2>&1 || fail "create: $(cat "$C/create.out")"
	run rt_runc --log "$RTLOG" --log-format json start "$ID"
	[[ $status -eq 0 ]] || fail "start: $output"
	for _ in $(seq 100); do
		[[ $(runc --root "$OVL_T/runc-state" state "$ID" | jq -r .status) == stopped ]] && break
		sleep 0.1
	done
	run rt_runc --log "$RTLOG" --log-format json delete "$ID"
	[[ $status -eq 0 ]] || fail "delete: $output"
	ovl_assert_applied
}

@test "runtime: without the annotation config.json stays byte for byte, the action writes through" {
	rt_bundle '{}' '["PATH=/bin","OVLBOX_WORKSPACE=/workspace"]'
	run rt_runc run -b "$B" "$ID"
	rt_assert_unchanged
	[[ $(cat "$WS/mod.txt") == modified ]]
	[[ ! -e $LOG ]]
}

@test "runtime: process.env null, a workspace asked: the hooks are added, the overlay is there" {
	# (an early reference wrapper crashed on a null env and ran the container without overlay)
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)" 'null'
	# no PATH: runc looks the command up in the container's env (busybox sh has its default)
	jq -c '.process.args[0] = "/bin/sh"' "$CFG" >"$CFG.new" && mv "$CFG.new" "$CFG"
	cp "$CFG" "$C/config.orig"
	run rt_runc run -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "run: $output"
	ovl_assert_applied
	[[ $(jq -c .process.env "$CFG") == null ]]
}

@test "runtime: every other field keeps its value, type and number text" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace a.b='x"y\z')"
	jq -c '.process.rlimits = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
		| .linux.resources = {"memory": {"limit": 1234}}' "$CFG" |
		sed -e 's/"hard":1024/"hard":1.0e3/' -e 's/"soft":1024/"soft":1024.50/' \
			-e 's/"limit":1234/"limit":123456789012345678/' \
			-e 's/"ociVersion"/"x-empty":{},"x-arr":[[],{}],"x-neg":-0.0,"x-nul":"a\\u0000b","ociVersion"/' \
			>"$CFG.new"
	mv "$CFG.new" "$CFG"
	cp "$CFG" "$C/config.orig"
	run rec create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_hooks_added
	# jq (above) compares values; the raw text keeps the numbers as written, the NUL escape too
	grep -qF '"hard":1.0e3,"soft":1024.50' "$CFG"
	grep -qF '"limit":123456789012345678' "$CFG"
	grep -qF '"x-empty":{},"x-arr":[[],{}],"x-neg":-0.0,"x-nul":"a\u0000b"' "$CFG"
	# members in their order, the hooks appended inside hooks
	diff <(jq -r 'keys_unsorted[]' "$C/config.orig") <(jq -r 'keys_unsorted[]' "$CFG")
}

@test "runtime: config.json keeps its mode and owner; the rename leaves no temporary file" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	chown 4242:4343 "$CFG"
	chmod 0604 "$CFG"
	run rec create --bundle "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	[[ $(stat -c '%u:%g %a' "$CFG") == '4242:4343 604' ]]
	[[ $(ls -A "$B") == config.json ]]
	rt_assert_hooks_added
}

@test "runtime: the real runtime gets the same arguments, minus --ovlbox-*, in this process" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run "$OVLBOX_RUNTIME" --ovlbox-runtime "$ECHO_RT" --ovlbox-env --ovlbox-hook-log=/x.log \
		--root /r --log "$RTLOG" --log-format json create --bundle "$B" --pid-file /p "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	diff <(printf '%s\n' --root /r --log "$RTLOG" --log-format json create --bundle "$B" --pid-file /p "$ID") "$C/argv"
	rt_assert_hooks_added --log /x.log
	# execve: the runtime runs as the wrapper's process (same pid), nothing left behind
	printf '#!/bin/sh\necho $$\n' >"$C/pid-rt"
	chmod +x "$C/pid-rt"
	run sh -c 'echo $$; exec "$0" --ovlbox-runtime "$1" state x' "$OVLBOX_RUNTIME" "$C/pid-rt"
	[[ ${lines[0]} == "${lines[1]}" ]] || fail "different processes: $output"
}

@test "runtime: the bundle in every spelling runc accepts, options after the id, the cwd" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	local spelling
	for spelling in "-b $B" "--bundle $B" "-b=$B" "--bundle=$B" "-bundle $B" "-bundle=$B" "--b $B" "--b=$B"; do
		cp "$C/config.orig" "$CFG"
		# shellcheck disable=SC2086
		run rec create $spelling "$ID"
		[[ $status -eq 0 ]] || fail "$spelling: $output"
		rt_assert_hooks_added
		cp "$C/config.orig" "$CFG"
		# shellcheck disable=SC2086
		run rec --root /r run "$ID" $spelling --detach
		[[ $status -eq 0 ]] || fail "$ID $spelling: $output"
		rt_assert_hooks_added
	done
	cp "$C/config.orig" "$CFG"
	run sh -c 'cd "$1" && shift && exec "$@"' sh "$B" "$OVLBOX_RUNTIME" --ovlbox-runtime "$ECHO_RT" create --pid-file /p "$ID"
	[[ $status -eq 0 ]] || fail "cwd: $output"
	rt_assert_hooks_added
	# the last --bundle counts (as in runc); an empty one is the cwd
	cp "$C/config.orig" "$CFG"
	run sh -c 'cd "$1" && shift && exec "$@"' sh "$B" "$OVLBOX_RUNTIME" --ovlbox-runtime "$ECHO_RT" create -b /nonexistent --bundle= "$ID"
	[[ $status -eq 0 ]] || fail "empty bundle: $output"
	rt_assert_hooks_added
}

@test "runtime: a command line it cannot read for sure: exit 1, nothing changed, nothing run" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run rec --frobnicate x create --bundle "$B" "$ID"
	[[ $status -eq 1 && $output == 'ovlbox-runtime: unknown runtime option --frobnicate before the command: cannot tell whether it takes a value, so which command follows' ]] || fail "$output"
	run rec create --bundle "$B" --frobnicate "$ID"
	[[ $status -eq 1 && $output == 'ovlbox-runtime: create: unknown option --frobnicate: cannot tell where the bundle is' ]] || fail "$output"
	run rec create --bundle -x "$ID"
	[[ $status -eq 1 && $output == 'ovlbox-runtime: create: option --bundle: its value -x begins with "-": cannot tell whether it is an option' ]] || fail "$output"
	run rec run "$ID" -b
	[[ $status -eq 1 && $output == 'ovlbox-runtime: run: option -b: needs a value' ]] || fail "$output"
	run rec --ovlbox-frob create -b "$B" "$ID"
	[[ $status -eq 1 && $output == 'ovlbox-runtime: unknown option --ovlbox-frob' ]] || fail "$output"
	run rec create -b"$B" "$ID"
	[[ $status -eq 1 ]] || fail "$output"
	[[ ! -e $C/argv ]] || fail "the runtime ran: $(cat "$C/argv")"
	rt_assert_unchanged
	# no create or run anywhere: passed on whatever it means
	run rec --frobnicate x state "$ID"
	[[ $status -eq 0 ]] && diff <(printf '%s\n' --frobnicate x state "$ID") "$C/argv"
	# create's own help, too many ids: the runtime answers, config.json is not read
	run rec create --help
	[[ $status -eq 0 ]] && diff <(printf '%s\n' create --help) "$C/argv"
	run rec create -b "$B" a b
	[[ $status -eq 0 ]]
	rt_assert_unchanged
}

@test "runtime: OVLBOX_WORKSPACE from an image's ENV is ignored without --ovlbox-env" {
	rt_bundle '{}' '["PATH=/bin","OVLBOX_WORKSPACE=/workspace"]'
	run rec create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_unchanged
	# and so is it with "env": false in the settings
	echo '{"env": false}' >"$C/settings.json"
	run rec --ovlbox-config "$C/settings.json" create -b "$B" "$ID"
	rt_assert_unchanged
}

@test "runtime: --ovlbox-env: the variables become annotations and leave process.env" {
	rt_bundle '{"keep":"me"}' '["PATH=/bin","OVLBOX_WORKSPACE=/workspace","HOME=/root","OVLBOX_ON_EXIT=discard","OVLBOX_UPPERDIR=/etc/evil"]'
	run "$OVLBOX_RUNTIME" --ovlbox-env --ovlbox-hook-log "$LOG" --root "$OVL_T/runc-state" run -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "run: $output"
	ovl_assert_discarded
	[[ $(jq -c .annotations "$CFG") == '{"keep":"me","org.ovlbox.workspace":"/workspace","org.ovlbox.on-exit":"discard"}' ]]
	# OVLBOX_UPPERDIR is never read: it stays, and names no layer
	[[ $(jq -c .process.env "$CFG") == '["PATH=/bin","HOME=/root","OVLBOX_UPPERDIR=/etc/evil"]' ]]
	[[ ! -e /etc/evil ]]
}

@test "runtime: \"env\": true in the settings; an annotation wins over its variable" {
	echo '{"env": true}' >"$C/settings.json"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=apply)" '["OVLBOX_WORKSPACE=/elsewhere","OVLBOX_ON_EXIT=keep"]'
	run rec --ovlbox-config "$C/settings.json" create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	[[ $(jq -c .annotations "$CFG") == '{"org.ovlbox.workspace":"/workspace","org.ovlbox.on-exit":"apply"}' ]]
	[[ $(jq -c .process.env "$CFG") == '[]' ]]
	[[ $(jq -c '.hooks.createRuntime | length' "$CFG") == 1 ]]
}

@test "runtime: Kubernetes: the sandbox container is never touched" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace io.kubernetes.cri.container-type=sandbox)" '["OVLBOX_WORKSPACE=/workspace"]'
	run rec --ovlbox-env create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_unchanged
}

@test "runtime: Kubernetes: org.ovlbox.workspace.NAME for container NAME, the plain one where mounted" {
	local pod=(io.kubernetes.cri.container-type=container org.ovlbox.workspace.builder=/workspace org.ovlbox.workspace=/other)
	# the named container: its workspace becomes org.ovlbox.workspace (the hook reads that)
	rt_bundle "$(ovl_ann "${pod[@]}" io.kubernetes.cri.container-name=builder)"
	run rt_runc run -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "run: $output"
	ovl_assert_applied
	[[ $(jq -r '.annotations["org.ovlbox.workspace"]' "$CFG") == /workspace ]]
	# another container of the pod that does not mount /other: left alone, not refused
	rt_bundle "$(ovl_ann "${pod[@]}" io.kubernetes.cri.container-name=sidecar)"
	run rec create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_unchanged
	# one that mounts the plain annotation's destination gets it
	rt_bundle "$(ovl_ann io.kubernetes.cri.container-type=container org.ovlbox.workspace=/workspace io.kubernetes.cri.container-name=sidecar)"
	run rec create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_hooks_added
}

@test "runtime: an ovlbox-hook entry already there (hooks.d) is not added twice" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	jq -c '.hooks = {"createRuntime": [{"path": "/usr/local/bin/ovlbox-hook", "args": ["ovlbox-hook"]}]}' "$CFG" >"$CFG.new"
	mv "$CFG.new" "$CFG"
	cp "$CFG" "$C/config.orig"
	run rec create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_unchanged
	# other hooks stay first: ovlbox's entries come after them
	jq -c '.hooks = {"createRuntime": [{"path": "/bin/true"}], "poststop": null}' "$C/config.orig" >"$CFG"
	cp "$CFG" "$C/config.orig"
	run rec create -b "$B" "$ID"
	[[ $(jq -c '[.hooks.createRuntime[].path, .hooks.poststop[].path]' "$CFG") == "[\"/bin/true\",\"$OVLBOX_HOOK\",\"$OVLBOX_HOOK\"]" ]]
}

# bad_request DESCRIPTION: the request in $CFG is refused with $1 (a regex), in stderr and in
# both log formats, before the runtime runs, with config.json and the workspace unchanged.
bad_request() {
	local fmt
	for fmt in json text; do
		rm -f "$RTLOG"
		run rec --ovlbox-env --log "$RTLOG" --log-format "$fmt" create -b "$B" "$ID"
		[[ $status -eq 1 ]] || fail "exit $status: $output"
		[[ $output =~ ^ovlbox-runtime:\ $1$ ]] || fail "stderr: $output"
		[[ ${#lines[@]} -eq 1 ]] || fail "not one line: $output"
		rt_assert_log_entry "$fmt" "$1"
		[[ ! -e $C/argv ]] || fail "the runtime ran"
		rt_assert_unchanged
		ovl_assert_untouched
	done
}

@test "runtime: bad requests: exit 1 before the runtime, one line on stderr and in runc's log" {
	local b
	rt_bundle "$(ovl_ann org.ovlbox.workspace=workspace)"
	b="bundle $B: config.json"
	bad_request "$b: annotation org.ovlbox.workspace: workspace: not an absolute path"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=later)"
	bad_request "$b: annotation org.ovlbox.on-exit: later is not one of apply, discard, keep"
	rt_bundle '{}' '["OVLBOX_WORKSPACE=/a/../etc"]'
	bad_request "$b: process.env OVLBOX_WORKSPACE: /a/../etc: \"\\.\" and \"\\.\\.\" components are not allowed"
	rt_bundle '{}' '["OVLBOX_WORKSPACE=/"]'
	bad_request "$b: process.env OVLBOX_WORKSPACE: the workspace cannot be the container's /"
	rt_bundle '{}' '["OVLBOX_WORKSPACE=/workspace","OVLBOX_WORKSPACE=/out"]'
	bad_request "$b: process.env: OVLBOX_WORKSPACE given twice"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.upperdir=up)"
	bad_request "$b: annotation org.ovlbox.upperdir: not an absolute path: up"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	jq -c '.hooks = {"poststop": {"path": "/bin/true"}}' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: hooks: poststop: expected an array, got an object"
	jq -c '.hooks = {"poststop": [7]}' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: hooks\\.poststop\\[0\\]: expected an object, got a number"
	echo 7 >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: expected an object, got a number"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	jq -c '.annotations["org.ovlbox.workspace"] = 7' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: annotations: org.ovlbox.workspace: expected a string, got a number"
	# readers that disagree: runc's Go decoder takes "Annotations" for annotations, crun does not
	rt_bundle '{}'
	jq -c '.Annotations = {"org.ovlbox.workspace": "/workspace"}' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: \"Annotations\": taken for \"annotations\" by Go's JSON decoder \(runc\), by no other reader"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	sed 's/"hooks":{}/"hoo\xe2\x84\xaas":{},"hooks":{}/' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	grep -q 'hoo' "$CFG"
	bad_request "$b: \"hoo\\\\xe2\\\\x84\\\\xaas\": taken for \"hooks\" by Go's JSON decoder \(runc\), by no other reader"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	sed 's/"annotations":{/"annotations":{"org.ovlbox.workspace":"\/out",/' "$C/config.orig" >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: annotations: org.ovlbox.workspace: given twice"
	printf '{"ociVersion": "1.0.2", "annotations": {"org.ovlbox.workspace": "/workspace"' >"$CFG" && cp "$CFG" "$C/config.orig"
	bad_request "$b: invalid JSON: .*"
	rm "$CFG" "$C/config.orig"
	run rec --log "$RTLOG" --log-format json create -b "$B" "$ID"
	[[ $status -eq 1 && $output == "ovlbox-runtime: bundle $B: open config.json: No such file or directory" ]] || fail "$output"
	rt_assert_log_entry json "bundle $B: open config.json: No such file or directory"
}

@test "runtime: a --log that cannot be written is said on stderr after the error" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=workspace)"
	run rec --log "$C/nodir/log.json" --log-format json create -b "$B" "$ID"
	[[ $status -eq 1 ]] || fail "exit $status: $output"
	[[ ${#lines[@]} -eq 2 ]] || fail "not two lines: $output"
	[[ ${lines[0]} == "ovlbox-runtime: bundle $B: config.json: annotation org.ovlbox.workspace: workspace: not an absolute path" ]] ||
		fail "stderr: $output"
	[[ ${lines[1]} == "ovlbox-runtime: open log $C/nodir/log.json: No such file or directory" ]] ||
		fail "stderr: $output"
	[[ ! -e $C/argv ]] || fail "the runtime ran"
	rt_assert_unchanged
}

@test "runtime: settings file: keys, defaults, options over the file, errors" {
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	jq -n --arg rt "$ECHO_RT" --arg hook /opt/ovlbox-hook '{"runtime": $rt, "hook": $hook,
		"layers_under": "/var/lib/layers", "hook_log": "/var/log/ovlbox.log", "env": false}' >"$C/settings.json"
	run "$OVLBOX_RUNTIME" --ovlbox-config "$C/settings.json" create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	OVLBOX_HOOK=/opt/ovlbox-hook rt_assert_hooks_added --log /var/log/ovlbox.log --layers-under /var/lib/layers
	# options before the runtime's own override the file
	cp "$C/config.orig" "$CFG"
	run "$OVLBOX_RUNTIME" --ovlbox-config="$C/settings.json" --ovlbox-hook "$OVLBOX_HOOK" \
		--ovlbox-layers-under /l --ovlbox-hook-log /h.log create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	rt_assert_hooks_added --log /h.log --layers-under /l
	# errors: exit 1, one line, the runtime never runs
	rm -f "$C/argv"
	local bad
	for bad in '{"runtime": "runc"}|runtime runc: not an absolute path' \
		'{"hooks": "/x"}|settings @: unknown key hooks (runtime, hook, layers_under, hook_log, env)' \
		'{"env": "yes"}|settings @: env: expected a boolean, got a string' \
		'{"env": true, "env": false}|settings @: env: given twice' \
		'[]|settings @: expected an object, got an array' \
		'{|settings @: invalid JSON: *'; do
		printf '%s\n' "${bad%%|*}" >"$C/bad.json"
		run "$OVLBOX_RUNTIME" --ovlbox-config "$C/bad.json" state x
		local want=${bad#*|}
		want=${want//@/$C/bad.json}
		# shellcheck disable=SC2053
		[[ $status -eq 1 && $output == "ovlbox-runtime: "$want ]] || fail "${bad%%|*}: $output"
	done
	run "$OVLBOX_RUNTIME" --ovlbox-config "$C/missing.json" state x
	[[ $status -eq 1 && $output == "ovlbox-runtime: settings $C/missing.json: open: No such file or directory" ]] || fail "$output"
	run "$OVLBOX_RUNTIME" --ovlbox-runtime "$OVLBOX_RUNTIME" state x
	[[ $status -eq 1 && $output == "ovlbox-runtime: runtime $OVLBOX_RUNTIME: is ovlbox-runtime itself" ]] || fail "$output"
	ln -s "$OVLBOX_RUNTIME" "$C/runc"
	run "$OVLBOX_RUNTIME" --ovlbox-runtime "$C/runc" state x
	[[ $status -eq 1 && $output == "ovlbox-runtime: runtime $C/runc: is ovlbox-runtime itself" ]] || fail "$output"
	run "$OVLBOX_RUNTIME" --ovlbox-runtime /nonexistent/runc --log "$RTLOG" state x
	[[ $status -eq 1 && $output == "ovlbox-runtime: exec /nonexistent/runc: No such file or directory" ]] || fail "$output"
	rt_assert_log_entry text 'exec /nonexistent/runc: No such file or directory'
	[[ ! -e $C/argv ]]
	# the default: /usr/sbin/runc, the hook beside the wrapper
	run "$OVLBOX_RUNTIME" --version
	[[ $status -eq 0 && $output == "$(/usr/sbin/runc --version)" ]] || fail "$output"
	run "$OVLBOX_RUNTIME" --ovlbox-version
	[[ $status -eq 0 && $output =~ ^ovlbox-runtime\ [0-9] ]] || fail "$output"
	run "$OVLBOX_RUNTIME" --ovlbox-help
	[[ $status -eq 0 && ${lines[0]} == 'usage: ovlbox-runtime [--ovlbox-OPTION...] RUNC-ARGS...' ]] || fail "$output"
}

# same_as_runc ARGS...: the wrapper's output and exit status equal runc's for the same arguments
# (the time of runc's log lines aside: the two runs may fall in different seconds).
same_as_runc() {
	local want want_status
	run runc --root "$OVL_T/runc-state" "$@"
	want=$(sed -E 's/^time="[^"]*" //' <<<"$output") want_status=$status
	run "$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" "$@"
	output=$(sed -E 's/^time="[^"]*" //' <<<"$output")
	[[ $status -eq $want_status ]] || fail "$*: exit $status, runc $want_status"
	[[ $output == "$want" ]] || fail "$*: output differs:" "$(diff <(echo "$want") <(echo "$output"))"
}

@test "runtime: start, state, kill, delete, exec, list, features, --version pass through as runc" {
	rt_bundle '{}' '["PATH=/bin"]'
	jq -c '.process.args = ["sleep", "60"]' "$CFG" >"$CFG.new" && mv "$CFG.new" "$CFG"
	# two containers: one driven by runc, one by the wrapper, step by step
	runc --root "$OVL_T/runc-state" create -b "$B" "$ID"
	"$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" create -b "$B" "$ID-b"
	local id
	for id in "$ID" "$ID-b"; do
		[[ $(runc --root "$OVL_T/runc-state" state "$id" | jq -r .status) == created ]]
	done
	same_as_runc state "$ID"
	same_as_runc list
	same_as_runc list -q
	same_as_runc list --format json
	same_as_runc features
	same_as_runc --version
	same_as_runc -v
	same_as_runc --help
	same_as_runc state nonexistent
	same_as_runc start nonexistent
	same_as_runc kill nonexistent KILL
	same_as_runc delete nonexistent
	same_as_runc exec nonexistent true
	same_as_runc nonexistent-command
	same_as_runc
	run runc --root "$OVL_T/runc-state" start "$ID"
	local a=$status
	run "$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" start "$ID-b"
	[[ $a -eq 0 && $status -eq 0 && -z $output ]] || fail "start: $a $status $output"
	run runc --root "$OVL_T/runc-state" exec "$ID" echo exec-out
	[[ $output == exec-out ]]
	run "$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" exec "$ID-b" sh -c 'echo exec-out; exit 3'
	[[ $status -eq 3 && $output == exec-out ]] || fail "exec: $status $output"
	run "$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" kill "$ID-b" KILL
	[[ $status -eq 0 ]] || fail "kill: $output"
	runc --root "$OVL_T/runc-state" kill "$ID" KILL
	for _ in $(seq 50); do
		[[ $(runc --root "$OVL_T/runc-state" state "$ID-b" | jq -r .status) == stopped ]] && break
		sleep 0.1
	done
	run "$OVLBOX_RUNTIME" --root "$OVL_T/runc-state" delete "$ID-b"
	[[ $status -eq 0 && -z $output ]] || fail "delete: $output"
	same_as_runc state "$ID-b"
	runc --root "$OVL_T/runc-state" delete -f "$ID"
	same_as_runc list
}

@test "runtime: the examples load: runtime.json, daemon.json, containerd's runtime entry, man page" {
	local ex=$OVLBOX_SRC/examples/runtime
	jq -e --arg rt /usr/local/bin/ovlbox-runtime '.runtimes.ovlbox.path == $rt and
		(.runtimes.ovlbox.runtimeArgs | index("--ovlbox-env")) != null' "$ex/daemon.json"
	rt_bundle "$(ovl_ann org.ovlbox.workspace=/workspace)"
	run "$OVLBOX_RUNTIME" --ovlbox-config "$ex/runtime.json" --ovlbox-runtime "$ECHO_RT" create -b "$B" "$ID"
	[[ $status -eq 0 ]] || fail "$output"
	OVLBOX_HOOK=/usr/local/bin/ovlbox-hook rt_assert_hooks_added --log /var/log/ovlbox-hook.log --layers-under /var/lib/executor
	run containerd --config "$ex/containerd-config.toml" config dump
	[[ $status -eq 0 ]] || fail "$output"
	[[ $output == *'BinaryName = "/usr/local/bin/ovlbox-runtime"'* ]] || fail "$output"
	[[ $output == *'pod_annotations = ["org.ovlbox.*"]'* ]] || fail "$output"
	[[ $output == *'runtime_type = "io.containerd.runc.v2"'* ]] || fail "$output"
	run scdoc <"$OVLBOX_SRC/man/ovlbox-runtime.8.scd"
	[[ $status -eq 0 && $output == *'.TH "ovlbox-runtime" "8"'* ]] || fail "scdoc: $output"
}
