#!/usr/bin/env bats
# ovlbox run --upper-size: the upper layer on a size-limited tmpfs, copied onto the workspace's
# filesystem and applied after the action.

setup() {
	T=$(mktemp -d /var/tmp/ovlbox-us.XXXXXX)
	chmod 755 "$T"
	WS=$T/ws
	mkdir -p "$WS/dir/sub" "$WS/gone"
	printf 'input\n' >"$WS/in.txt"
	printf 'keep\n' >"$WS/dir/keep"
	printf 'x\n' >"$WS/gone/f"
	mkdir "$T/cache"
	printf 'cached\n' >"$T/cache/c1"
	setfattr -n user.k -v v "$T/cache/c1"
	ln "$T/cache/c1" "$WS/dir/linked"
	TREESNAP=$OVLBOX_HELPERS/treesnap
	BIN=$T/bin
	mkdir "$BIN"
	cp "$OVLBOX" "$TREESNAP" "$BIN/"
	chmod 755 "$BIN" "$BIN"/*
}

teardown() {
	rm -rf "$T"
}

# The action: every kind of change, then a snapshot of what it sees, on stdout.
action='set -e
echo more >> in.txt
echo new > new.txt
mkdir -p made/deep && echo d > made/deep/f
ln new.txt made/hardlink
ln -s in.txt link
mkfifo fifo
chmod 600 dir/keep
setfattr -n user.a -v 1 new.txt
rm -rf gone
rm -rf dir/sub && mkdir dir/sub && echo opaque > dir/sub/o
echo appended >> dir/linked
touch -d @1000000000 dir
'

snap_inside() { # [TREESNAP-OPTION...]
	printf '%s\n%s %s . > %s\n' "$action" "$BIN/treesnap" "$*" "$T/out/snap.in"
}

run_upper_size() { # USER-OR-EMPTY ARGS...
	local who=$1
	shift
	if [[ -n $who ]]; then
		chown -R "$who:$who" "$T/ws" "$T/out"
		chown "$who:$who" "$T" # the layers are made beside the workspace
		run setpriv --reuid="$who" --regid="$who" --clear-groups "$BIN/ovlbox" run "$@"
	else
		run "$BIN/ovlbox" run "$@"
	fi
}

check_applied() {
	[[ $status -eq 0 ]] || { echo "$output"; return 1; }
	"$TREESNAP" "$WS" >"$T/snap.out"
	diff -u "$T/out/snap.in" "$T/snap.out"
	[[ ! -e $WS.upper && ! -e $WS.work && ! -e $WS.upper.tmp ]]
	[[ $(cat "$T/cache/c1") == cached ]]
	[[ $(getfattr --only-values -n user.k "$T/cache/c1") == v ]]
	[[ $(cat "$WS/dir/linked") == $'cached\nappended' ]]
	[[ $(stat -c %h "$WS/made/hardlink") == 2 ]]
}

@test "upper-size: every kind of change is applied exactly (root)" {
	mkdir "$T/out"
	run_upper_size "" --workspace "$WS" --upper-size 8m --bind "$T/out" -- sh -c "$(snap_inside)"
	check_applied
}

@test "upper-size: every kind of change is applied exactly (unprivileged user)" {
	id -u ovlboxus >/dev/null 2>&1 || useradd --user-group --no-create-home ovlboxus
	mkdir "$T/out"
	uid=$(id -u ovlboxus) gid=$(id -g ovlboxus)
	run_upper_size ovlboxus --workspace "$WS" --upper-size 8m --bind "$T/out" -- \
		sh -c "$(snap_inside --map-uid "0:$uid" --map-gid "0:$gid")"
	check_applied
	[[ $(stat -c %U "$WS/new.txt") == ovlboxus ]]
}

@test "upper-size: writing past the size fails with ENOSPC, and what fit is applied" {
	run "$BIN/ovlbox" run --workspace "$WS" --upper-size 1m -- sh -c \
		'set -e; echo small > small; head -c 3000000 /dev/zero > big; echo unreachable'
	[[ $status -eq 1 ]]
	[[ $output == *"No space left on device"* ]]
	[[ $output != *unreachable* ]]
	[[ $(cat "$WS/small") == small ]]
	size=$(stat -c %s "$WS/big")
	((size > 500000 && size <= 1048576))
	[[ ! -e $WS.upper && ! -e $WS.work ]]
}

@test "upper-size: --on-exit keep leaves the changes on disk for diff and apply" {
	run "$BIN/ovlbox" run --workspace "$WS" --upper-size 4m --on-exit keep -- sh -c \
		'echo new > new.txt; rm in.txt'
	[[ $status -eq 0 ]]
	[[ -d $WS.upper && $(getfattr --only-values -n user.ovlbox.mode "$WS.work") == trusted ]]
	[[ $(stat -f -c %T "$WS.upper") != tmpfs ]]
	[[ $(cat "$WS/in.txt") == input ]]
	run "$BIN/ovlbox" diff "$WS"
	[[ $output == $'D in.txt\nA new.txt' ]]
	run "$BIN/ovlbox" apply "$WS"
	[[ $status -eq 0 ]]
	[[ ! -e $WS/in.txt && $(cat "$WS/new.txt") == new && ! -e $WS.upper ]]
}

@test "upper-size: bad values and combinations are refused before anything runs" {
	run "$BIN/ovlbox" run --workspace "$WS" --upper-size 12q -- touch "$WS/ran"
	[[ $status -eq 125 ]]
	[[ $output == "ovlbox: run: --upper-size 12q: expected a size such as 65536, 512m or 2g" ]]
	run "$BIN/ovlbox" run --workspace "$WS" --upper-size 0 -- true
	[[ $status -eq 125 && $output == *"--upper-size 0"* ]]
	run "$BIN/ovlbox" run --workspace "$WS" --upper-size 1m --upper "$T/u" -- true
	[[ $status -eq 125 ]]
	[[ $output == *"--upper-size puts upper and work on a tmpfs"* ]]
	[[ ! -e $WS/ran && ! -e $WS.upper && ! -e $T/u ]]
}
