#!/usr/bin/env bats
# Layer sets are resolved once and used through their fds, and identified across stages: a
# RENAME_EXCHANGE flipper racing ovlbox-hook's stages or `ovlbox apply|discard` never leads them
# outside, a layer replaced under the same name is refused, layers are never shared between
# running containers, live layers are not applied under a mount, and a container that is gone
# without its poststop is recovered by the next mount stage or `ovlbox apply`.

# Variables set inside a test stay in it on purpose; sh -c scripts are single-quoted on purpose.
# shellcheck disable=SC2030,SC2031,SC2016

load lib/bundle

# Rounds of each race (each one a container start, or a command); OVLBOX_RACE_ROUNDS overrides.
ROUNDS=${OVLBOX_RACE_ROUNDS:-150}

setup_file() {
	ovl_suite_setup
}

setup() {
	ovl_case_setup
	FLIP=
}

teardown() {
	stop_flipper
	local i
	for i in "$ID" "$ID-b" "$ID-2"; do
		ovl_runc delete -f "$i" >/dev/null 2>&1 || true
	done
}

# start_flipper DIR A B: exchanges DIR/A and DIR/B in a loop until stop_flipper.
start_flipper() {
	"$OVLBOX_HELPERS/flipper" "$@" >"$C/flip.out" 2>&1 &
	FLIP=$!
	# up to a minute by the clock: on a loaded machine the flipper can take seconds to start
	local end=$((SECONDS + 60))
	while [[ ! -s $C/flip.out ]] && ((SECONDS < end)); do
		sleep 0.01
	done
	[[ $(cat "$C/flip.out") == ready ]] || fail "flipper not ready in 60 s: $(cat "$C/flip.out")"
}

stop_flipper() {
	[[ -n ${FLIP:-} ]] || return 0
	kill "$FLIP" 2>/dev/null || true
	wait "$FLIP" 2>/dev/null || true
	FLIP=
}

# hook_args ARG...: appends ARGs to every hook's args in the bundle.
hook_args() {
	local add
	add=$(printf '%s\n' "$@" | jq -R . | jq -s .)
	jq --argjson add "$add" '.hooks[][].args += $add' "$B/config.json" >"$B/config.new"
	mv "$B/config.new" "$B/config.json"
}

# no_poststop: the bundle's hooks without poststop (a container whose poststop never runs).
no_poststop() {
	jq 'del(.hooks.poststop)' "$B/config.json" >"$B/config.new"
	mv "$B/config.new" "$B/config.json"
}

# tree DIR: every entry under DIR with its type, size and content digest.
tree() {
	(cd "$1" && find . -printf '%p %y %s\n' | sort && find . -type f -exec md5sum {} + | sort)
}

@test "race: the mount stage and poststop under --layers-under, a parent flipped with a symlink out: nothing outside is made, used or removed" {
	mkdir -p "$C/allowed/p" "$C/outside/up"
	echo precious >"$C/outside/up/keep"
	ln -s "$C/outside" "$C/allowed/q"
	tree "$C/outside" >"$C/outside-before.txt"
	local onexit i
	for onexit in discard apply; do
		ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace \
			org.ovlbox.upperdir="$C/allowed/p/up" org.ovlbox.workdir="$C/allowed/p/wk" \
			org.ovlbox.on-exit=$onexit)" \
			'["sh", "-c", "ls /workspace > /out/seen; echo x > /workspace/written"]'
		hook_args --layers-under "$C/allowed"
		start_flipper "$C/allowed" p q
		for ((i = 0; i < ROUNDS; i++)); do
			ovl_runc run -b "$B" "$ID-$onexit-$i" </dev/null >/dev/null 2>&1 || true
			ovl_runc delete -f "$ID-$onexit-$i" >/dev/null 2>&1 || true
			if grep -qx keep "$OUT/seen" 2>/dev/null; then
				fail "round $i ($onexit): a container saw the outside dir as its workspace"
			fi
		done
		stop_flipper
	done
	diff -u "$C/outside-before.txt" <(tree "$C/outside") ||
		fail "the outside dir changed"
}

@test "race: ovlbox apply and discard with the workspace's parent flipped with a symlink to another tree: its layers stay" {
	mkdir -p "$C/a/p" "$C/victim/ws.upper/deep"
	mv "$WS" "$C/a/p/ws"
	WS=$C/a/p/ws
	echo precious >"$C/victim/ws.upper/deep/keep"
	ln -s "$C/victim" "$C/a/q"
	tree "$C/victim" >"$C/victim-before.txt"
	local i
	start_flipper "$C/a" p q
	for ((i = 0; i < ROUNDS; i++)); do
		"$OVLBOX" discard "$C/a/p/ws" >/dev/null 2>&1 || true
		"$OVLBOX" apply "$C/a/p/ws" >/dev/null 2>&1 || true
	done
	stop_flipper
	diff -u "$C/victim-before.txt" <(tree "$C/victim") || fail "the other tree changed"
}

@test "a layer replaced under the same name (another inode) is refused at poststop; nothing changes" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	no_poststop
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	mv "$WS.upper" "$C/upper.orig"
	mkdir "$WS.upper"
	tree "$C/upper.orig" >"$C/upper-before.txt"
	run env -i "$OVLBOX_HOOK" poststop <<<"{\"ociVersion\":\"1.0.2\",\"id\":\"$ID\",\"status\":\"stopped\",\"bundle\":\"$B\"}"
	[[ $status -eq 1 ]] || fail "status $status: $output"
	[[ $output == "ovlbox-hook: the layers of $WS are not the directories this container's mount stage marked (upper $WS.upper or work $WS.work was replaced): nothing changed" ]] ||
		fail "output: $output"
	ovl_assert_untouched
	diff -u "$C/upper-before.txt" <(tree "$C/upper.orig")
	[[ -d $WS.work && -d $WS.upper && -z $(ls -A "$WS.upper") ]] || fail "the layers changed"
}

# start_a: container A ($ID) detached on $WS with the default layers, waiting for /out/go.
start_a() {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" \
		'["sh", "-c", "while [ ! -e /out/go ]; do sleep 0.05; done; echo A > /workspace/a.txt"]'
	ovl_runc run -d -b "$B" "$ID" </dev/null >/dev/null 2>"$C/a.err" || fail "A: $(cat "$C/a.err")"
}

# finish_a: lets A write and stop, and deletes it (its poststop applies).
finish_a() {
	ovl_finish_detached "$ID"
	[[ $(cat "$WS/a.txt") == A ]] || fail "A's change was not applied"
	ovl_assert_no_layers
}

# b_refused MESSAGE ANNOTATION...: container B ($ID-b), on a workspace of its own ($C/ws2), does
# not start, with MESSAGE.
b_refused() {
	local want=$1
	shift
	mkdir -p "$C/ws2" "$C/b"
	local saved=$B
	B=$C/b
	WS=$C/ws2 ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace "$@")" \
		"$OVL_STARTED_CMD"
	B=$saved
	run ovl_runc run -b "$C/b" "$ID-b" </dev/null
	[[ $status -ne 0 && ! -e $OUT/started ]] || fail "B started: $output"
	ovl_assert_output "$want"
	ovl_runc delete -f "$ID-b" >/dev/null 2>&1 || true
}

@test "layers are not shared: another container's upper, a dir inside it, or its workspace as an upper is refused" {
	start_a
	b_refused "ovlbox-hook: the upper dir of $C/ws2 is the upper dir of running container $ID: containers do not share layers" \
		org.ovlbox.upperdir="$WS.upper" org.ovlbox.workdir="$C/wk2"
	b_refused "ovlbox-hook: the upper dir of $C/ws2 lies in the upper dir of running container $ID: containers do not share layers" \
		org.ovlbox.upperdir="$WS.upper/sub" org.ovlbox.workdir="$C/wk2"
	b_refused "ovlbox-hook: the upper dir of $C/ws2 lies in the workspace of running container $ID: containers do not share layers" \
		org.ovlbox.upperdir="$WS/up2" org.ovlbox.workdir="$C/wk2"
	[[ ! -e $WS.upper/sub && ! -e $C/wk2 ]] || fail "B made layers"
	finish_a
}

@test "apply and discard under a running container's overlay are refused; its changes are applied at its end" {
	start_a
	ovl_snapshot "$WS.upper" >"$C/upper-before.txt"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 125 && $output == "ovlbox: workspace $WS is in use by running container $ID" ]] ||
		fail "apply: $status: $output"
	run "$OVLBOX" discard "$WS"
	[[ $status -eq 125 && $output == "ovlbox: workspace $WS is in use by running container $ID" ]] ||
		fail "discard: $status: $output"
	diff -u "$C/upper-before.txt" <(ovl_snapshot "$WS.upper")
	ovl_assert_untouched
	finish_a
}

@test "a container gone without its poststop: ovlbox apply carries out its on-exit apply and says so" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	no_poststop
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	ovl_assert_untouched
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail "apply: $status: $output"
	[[ $output == "ovlbox: warning: container $ID is gone without its poststop: carried out its on-exit apply on $WS" ]] ||
		fail "output: $output"
	ovl_assert_applied
	ovl_assert_no_layers
}

@test "a container gone without its poststop, a device node in its upper: each refusal names the command that applies it" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)"
	no_poststop
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	mknod "$WS.upper/zz-null" c 1 3
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 125 && $output == "ovlbox: carry out the on-exit apply of gone container $ID: apply $WS: zz-null: is a device node; refusing to apply it (use --allow-devices)" ]] ||
		fail "apply: $status: $output"
	ovl_assert_untouched
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	: >"$LOG"
	run ovl_runc run -b "$B" "$ID-2" </dev/null
	[[ $status -ne 0 && ! -e $OUT/started ]] || fail "B started: $output"
	grep -qF "ovlbox-hook: changes to $WS not applied, kept in $WS.upper; run \`ovlbox apply --allow-devices $WS\`: carry out the on-exit apply of gone container $ID: " "$LOG" ||
		fail "log: $(cat "$LOG")"
	ovl_runc delete -f "$ID-2" >/dev/null 2>&1 || true
	ovl_assert_untouched
	# the command each suggests applies the gone container's changes, device node and all
	run "$OVLBOX" apply --allow-devices "$WS"
	[[ $status -eq 0 && -c $WS/zz-null ]] || fail "apply --allow-devices: $status: $output"
	ovl_assert_no_layers
}

@test "a container gone without its poststop: the next mount stage carries out its on-exit discard, then mounts" {
	ls "$WS" >"$C/ls-before.txt"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace org.ovlbox.on-exit=discard)"
	no_poststop
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	[[ -d $WS.upper ]] || fail "no upper left"
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" \
		'["sh", "-c", "ls /workspace > /out/seen; echo B > /workspace/b.txt"]'
	run ovl_runc run -b "$B" "$ID-2" </dev/null
	[[ $status -eq 0 ]] || fail "B: $output"
	grep -q "warning: container $ID is gone without its poststop: carried out its on-exit discard on $WS" "$LOG" ||
		fail "log: $(cat "$LOG")"
	[[ $(cat "$WS/b.txt") == B ]] || fail "B's change was not applied"
	diff -u "$C/ls-before.txt" "$OUT/seen" || fail "B saw A's discarded changes"
	ovl_assert_cache_intact
	ovl_assert_no_layers
}

@test "a poststop drops the container's registry entry" {
	ovl_make_bundle createRuntime "$(ovl_ann org.ovlbox.workspace=/workspace)" "$OVL_STARTED_CMD"
	run ovl_runc run -b "$B" "$ID" </dev/null
	[[ $status -eq 0 ]] || fail "runc: $output"
	run grep -rl "^id $ID\$" /run/ovlbox/layers
	[[ $status -ne 0 ]] || fail "entry left: $output"
}
