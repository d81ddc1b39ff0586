#!/usr/bin/env bats
# Paths: names with spaces, commas, colons, backslashes, newlines and non-UTF-8 bytes; workspace
# paths with the characters mount options must escape; trees 200 levels deep (and deeper than
# PATH_MAX); a workspace of 100,000 files.

# Action scripts are single-quoted on purpose: they run inside the sandbox.
# shellcheck disable=SC2016,SC2030,SC2031

load lib/common

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# Adds inputs with awkward names to the fixture and re-takes the "before" snapshots.
add_weird_inputs() {
	local d=$WS/odd
	mkdir -p "$d/dir with space" "$d/"$'nl\ndir' "$d/"$'\xff\xfe dir'
	printf 'space\n' >"$d/with space"
	printf 'comma\n' >"$d/comma,name"
	printf 'colon\n' >"$d/colon:name"
	printf 'bs\n' >"$d/back\\slash"
	printf 'nl\n' >"$d/"$'new\nline'
	printf 'ff\n' >"$d/"$'\xff\xfe'
	printf 'utf8\n' >"$d/"$'caf\xc3\xa9'
	printf 'tab\n' >"$d/"$'tab\there'
	printf 'inner\n' >"$d/dir with space/inner,x:y"
	printf 'nl inner\n' >"$d/"$'nl\ndir/f\\1'
	printf 'ff inner\n' >"$d/"$'\xff\xfe dir/g'
	ln -s $'target\nwith newline and \xff' "$d/"$'weird\x01link'
	ln "$(cache_put $'cached odd\n' 0644 '2012-12-12 12:12:12')" "$d/cached, linked:\\"
	setfattr -n user.odd -v $'value\nwith newline' "$d/comma,name"
	touch -d '2010-10-10 10:10:10' "$d/dir with space" "$d/"$'nl\ndir' "$d/"$'\xff\xfe dir' "$d"
	touch -d '2021-12-12 12:12:12.121212121' "$WS"
	if [[ $MODE == user ]]; then
		chown -R "$TEST_UID:$TEST_GID" "$WS" "$CACHE"
	fi
	snapshot_cache
	snap "$WS" >"$T/ws.before"
}

ODD_ACTION='cd odd
	nl=$(printf "x\ny"); ff=$(printf "\377\376"); bs=$(printf "back\\\\slash")
	echo more >> "with space"
	rm "comma,name"
	mv "colon:name" "colon:renamed"
	echo created > "$(printf "created\nnewline")"
	echo ff > "new$ff"
	rm -rf "dir with space" && mkdir "dir with space" && echo again > "dir with space/,:"
	rm -rf "$(printf "nl\ndir")"
	mv "$(printf "\377\376 dir")" "moved $nl dir"
	chmod 0600 "$bs"
	setfattr -n user.x -v 1 "$(printf "new\nline")"
	mkdir -p "deep$nl/$ff/a,b:c"
	echo d > "deep$nl/$ff/a,b:c/$(printf "f\001\002\033")"
	ln -s "$(printf "t\nt")" "$(printf "l\nl")"
	mkfifo "fi fo,:"
	echo changed >> "cached, linked:\\"
	ln "$(printf "caf\303\251")" "$(printf "hard\nlink")"
	touch -d "2001-01-01 01:01:01" "$(printf "tab\there")"'

@test "names with spaces, commas, colons, backslashes, newlines, non-UTF-8 (root)" {
	make_fixture
	add_weird_inputs
	run_action "$ODD_ACTION"
	assert_ws_changed
	[[ $(cat "$WS/odd/"$'created\nnewline') == created ]]
	[[ $(cat "$WS/odd/new"$'\xff\xfe') == ff ]]
	[[ $(cat "$WS/odd/dir with space/,:") == again ]]
	[[ ! -e $WS/odd/$'nl\ndir' && ! -e $WS/odd/comma,name ]]
	[[ $(cat "$WS/odd/moved "$'x\ny'" dir/g") == 'ff inner' ]]
	[[ -p "$WS/odd/fi fo,:" ]]
	[[ $(cat "$WS/odd/cached, linked:\\") == $'cached odd\nchanged' ]]
}

@test "names with spaces, commas, colons, backslashes, newlines, non-UTF-8 (user)" {
	use_mode user
	make_fixture
	add_weird_inputs
	run_action "$ODD_ACTION"
	assert_ws_changed
	[[ $(cat "$WS/odd/"$'created\nnewline') == created ]]
	[[ ! -e $WS/odd/$'nl\ndir' ]]
}

@test "diff and diff --json list awkward names one per line / entry" {
	make_fixture
	add_weird_inputs
	run_keep "$ODD_ACTION"
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	# no raw newline inside an entry: every line starts with a change letter
	if printf '%s\n' "$output" | grep -vqE '^[AMD] '; then
		fail_output "a line does not start with A/M/D (an unescaped newline?)"
	fi
	[[ $output == *$'\nA odd/created\\x0anewline\n'* ]] || fail_output "created\\nnewline missing"
	[[ $output == *$'\nD odd/nl\\x0adir\n'* ]] || fail_output "nl\\ndir missing"
	"$OVLBOX" diff --json "$WS" >"$T/diff.json"
	jq -e 'type == "array"' "$T/diff.json" >/dev/null || fail "invalid JSON: $(cat "$T/diff.json")"
	[[ $(jq length "$T/diff.json") -eq $(printf '%s\n' "$output" | wc -l) ]] ||
		fail "JSON and text diff differ in length"
	jq -e 'any(.[]; .path == "odd/created\nnewline" and .change == "A") and
		any(.[]; .path == "odd/fi fo,:" and .type == "fifo")' "$T/diff.json" >/dev/null ||
		fail "paths not in the JSON: $(cat "$T/diff.json")"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/snap.out"
	assert_same_snap "$T/snap.in" "$T/snap.out"
}

# ---------------------------------------------------------------------------------------------
# workspace paths that mount options must escape

@test "a workspace path with space, comma, colon and backslash (root)" {
	FX_NAME='fx dir,with:odd\chars' WS_NAME='ws ,:\ x' make_fixture
	[[ $WS == *' '* && $WS == *,* && $WS == *:* && $WS == *\\* ]]
	run_action 'echo a >> in/a.txt; rm -rf dir && mkdir dir; echo new > "new file"; chmod 0700 src'
	assert_ws_changed
	[[ $(cat "$WS/new file") == new ]]
	[[ ! -e $WS/dir/f1 ]]
}

@test "a workspace path with space, comma, colon and backslash (user)" {
	use_mode user
	FX_NAME='fx dir,with:odd\chars' WS_NAME='ws ,:\ x' make_fixture
	run_action 'echo a >> in/a.txt; rm -rf dir && mkdir dir; echo new > "new file"'
	assert_ws_changed
	[[ ! -e $WS/dir/f1 ]]
}

@test "--upper and --work paths with space, comma, colon and backslash" {
	make_fixture
	mkdir -p "$T/la,y:e\\rs dir"
	local up="$T/la,y:e\\rs dir/up,:\\ u" wk="$T/la,y:e\\rs dir/wk,:\\ w"
	run_action --upper "$up" --work "$wk" --on-exit keep 'echo new > new; rm -rf dir'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ -f $up/new ]]
	run "$OVLBOX" diff --upper "$up" "$WS"
	[[ $status -eq 0 && $output == *'A new'* ]] || fail_output "diff failed"
	run "$OVLBOX" apply --upper "$up" --work "$wk" "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	snap "$WS" >"$T/snap.out"
	assert_same_snap "$T/snap.in" "$T/snap.out"
	[[ ! -e $up && ! -e $wk ]]
}

@test "a workspace path with a newline and a non-UTF-8 byte" {
	WS_NAME=$'ws\nnl\xff' make_fixture
	run_action 'echo a >> in/a.txt; rm -rf dir; echo new > new'
	assert_ws_changed
	[[ $(cat "$WS/new") == new ]]
}

# ---------------------------------------------------------------------------------------------
# depth

# deep_path N NAME: NAME/NAME/... N times
deep_path() {
	local p=$2 i
	for ((i = 1; i < $1; i++)); do
		p+=/$2
	done
	printf '%s' "$p"
}

@test "an input tree 200 levels deep, changed at several depths (root)" {
	make_fixture
	local p
	p=$(deep_path 200 d)
	mkdir -p "$WS/$p"
	printf 'bottom\n' >"$WS/$p/bottom"
	printf 'mid\n' >"$WS/$(deep_path 100 d)/mid"
	printf 'gone\n' >"$WS/$(deep_path 150 d)/gone"
	snap "$WS" >"$T/ws.before"
	run_action "
		echo more >> $p/bottom
		echo new > $(deep_path 100 d)/new
		rm $(deep_path 150 d)/gone
		rm -rf $(deep_path 180 d) && mkdir $(deep_path 180 d) && echo op > $(deep_path 180 d)/opaque
		chmod 0700 $(deep_path 120 d)
		touch -d @1000000000 $(deep_path 179 d)"
	assert_ws_changed
	[[ $(cat "$WS/$(deep_path 100 d)/new") == new ]]
	[[ $(cat "$WS/$(deep_path 180 d)/opaque") == op ]]
	[[ ! -e $WS/$(deep_path 181 d) ]]
	[[ ! -e $WS/$(deep_path 150 d)/gone ]]
}

@test "an input tree 200 levels deep, changed at several depths (user)" {
	use_mode user
	make_fixture
	local p
	p=$(deep_path 200 d)
	mkdir -p "$WS/$p"
	printf 'bottom\n' >"$WS/$p/bottom"
	chown -R "$TEST_UID:$TEST_GID" "$WS/d"
	snap "$WS" >"$T/ws.before"
	run_action "
		echo more >> $p/bottom
		echo new > $(deep_path 100 d)/new
		rm -rf $(deep_path 150 d)"
	assert_ws_changed
	[[ ! -e $WS/$(deep_path 150 d) ]]
}

@test "a tree 200 levels deep created by the action, and one removed whole" {
	make_fixture
	mkdir -p "$WS/$(deep_path 200 old)"
	printf 'x\n' >"$WS/$(deep_path 200 old)/x"
	snap "$WS" >"$T/ws.before"
	run_action "
		mkdir -p $(deep_path 200 n)
		echo deep > $(deep_path 200 n)/leaf
		ln -s ../leaf $(deep_path 200 n)/sl
		rm -rf old"
	assert_ws_changed
	[[ $(cat "$WS/$(deep_path 200 n)/leaf") == deep ]]
	[[ ! -e $WS/old ]]
}

@test "paths longer than PATH_MAX: 200 levels of 40-byte names, in input and created" {
	make_fixture
	local name=dddddddddddddddddddddddddddddddddddddddd
	# as input: built with relative mkdirs (the full path is ~8200 bytes; cd -P: a shell's
	# logical cd would chdir() to the whole path and fail with ENAMETOOLONG)
	(
		cd "$WS" || exit 1
		mkdir in_long && cd in_long || exit 1
		for _ in $(seq 200); do mkdir "$name" && cd -P "$name" || exit 1; done
		echo bottom >bottom
	)
	snap "$WS" >"$T/ws.before"
	run_action "
		cd in_long
		i=0; while [ \$i -lt 200 ]; do cd -P $name; i=\$((i + 1)); done
		echo more >> bottom
		echo new > new
		cd $(shq "$WS")
		mkdir created_long && cd created_long
		i=0; while [ \$i -lt 200 ]; do mkdir $name && cd -P $name; i=\$((i + 1)); done
		echo created > leaf
		cd $(shq "$WS")"
	assert_ws_changed
	[[ $(grep -c '/bottom file ' "$T/snap.out") -eq 1 ]]
	grep -q '/new file 0644 0:0 size=4 ' "$T/snap.out" || fail "the deep new file is missing"
	grep -q '/leaf file 0644 0:0 size=8 ' "$T/snap.out" || fail "the deep created file is missing"
}

# ---------------------------------------------------------------------------------------------
# size

@test "a workspace of 100,000 files with a few changes (diff, apply)" {
	make_fixture
	"$MKFILES" "$WS" 100 1000
	touch -d '2021-12-12 12:12:12.121212121' "$WS"
	[[ $(find "$WS" -type f | wc -l) -ge 100000 ]]
	run_keep '
		echo more >> d0050/f00500
		rm d0001/f00001
		chmod 0600 d0002/f00002
		echo new > d0099/new
		rm -rf d0098
		mkdir d0100 && echo x > d0100/x
		mv d0003/f00003 d0003/renamed'
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	local want
	want=$(
		printf '%s\n' 'D d0001/f00001' 'M d0002/f00002' 'D d0003/f00003' \
			'A d0003/renamed' 'M d0050/f00500' 'D d0098'
		printf 'D d0098/f%05d\n' $(seq 0 999)
		printf '%s\n' 'A d0099/new' 'A d0100' 'A d0100/x'
	)
	# (merged dirs whose only change is the mtime their listed children explain are not listed;
	# whether the workspace root's own change is listed is checked in core_cli.bats)
	[[ $(printf '%s\n' "$output" | grep -vE '^M \.?$') == "$want" ]] ||
		fail "unexpected diff: $(diff <(printf '%s\n' "$want") <(printf '%s\n' "$output") | head)"
	local t0=$SECONDS
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	echo "# apply of 1,008 changes in a 100,000-file workspace: $((SECONDS - t0)) s" >&3
	snap "$WS" >"$T/snap.out"
	assert_same_snap "$T/snap.in" "$T/snap.out"
	assert_no_layers "$WS"
	assert_cache_intact
}
