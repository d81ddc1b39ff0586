#!/usr/bin/env bats
# Crafted uppers and lowers: apply never writes outside the workspace, refuses device nodes,
# overlay xattrs of features ovlbox never enables and immutable targets (before changing
# anything: the workspace is unchanged and the upper kept), and drops setuid/setgid bits,
# each with its explicit opt-in where there is one.
#
# The uppers are made by a real action with --on-exit keep, then edited by hand as root.

# Action scripts are single-quoted on purpose: they run inside the sandbox. status/output are
# bats' (set by run in helpers).
# shellcheck disable=SC2016,SC2030,SC2031

load lib/common

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
	OUT=$T/outside
	mkdir -p "$OUT/sub"
	printf 'outside\n' >"$OUT/file"
	printf 'victim\n' >"$OUT/victim"
	printf 'deep\n' >"$OUT/sub/deep"
	chmod 0751 "$OUT"
	touch -d '2011-11-11 11:11:11' "$OUT/sub" "$OUT"
	"$TREESNAP" "$OUT" >"$T/outside.before"
}

teardown() {
	common_teardown
}

assert_outside_intact() {
	"$TREESNAP" "$OUT" >"$T/outside.after"
	assert_same_snap "$T/outside.before" "$T/outside.after"
}

# `ovlbox apply` fails with one line, changes nothing in the workspace, keeps the upper as it
# was (nothing lost) and leaves no journal.
assert_apply_refused() {
	snap "$WS" >"$T/ws.pre"
	"$TREESNAP" "$WS.upper" >"$T/upper.pre"
	run "$OVLBOX" apply "$WS"
	[[ $status -ne 0 ]] || fail_output "apply succeeded"
	[[ $(printf '%s\n' "$output" | wc -l) -eq 1 ]] || fail_output "expected a one-line error"
	snap "$WS" >"$T/ws.post"
	assert_same_snap "$T/ws.pre" "$T/ws.post"
	[[ -d $WS.upper ]] || fail "the upper was removed"
	"$TREESNAP" "$WS.upper" >"$T/upper.post"
	assert_same_snap "$T/upper.pre" "$T/upper.post"
	[[ ! -e $WS.work/ovlbox-journal ]] || fail "a refused apply left a journal"
	assert_cache_intact
}

# ---------------------------------------------------------------------------------------------
# symlinks in lower

@test "a lower symlink to an outside dir that the action replaces with a dir" {
	make_fixture
	ln -s "$OUT" "$WS/out"
	ln -s "../../outside" "$WS/dir/rel"
	snap "$WS" >"$T/ws.before"
	run_action 'rm out && mkdir out && echo mine > out/file && echo x > out/victim
		rm dir/rel && mkdir dir/rel && echo y > dir/rel/file'
	[[ -d $WS/out && ! -L $WS/out ]]
	[[ $(cat "$WS/out/file") == mine ]]
	[[ $(cat "$WS/dir/rel/file") == y ]]
	assert_outside_intact
}

@test "a crafted upper dir over a lower symlink to an outside dir: nothing outside is written" {
	make_fixture
	ln -s "$OUT" "$WS/out"
	mkdir -p "$WS/d"
	ln -s "$OUT" "$WS/d/inner"
	snap "$WS" >"$T/ws.before"
	run_keep 'echo a > aaa.txt'
	# upper: out/ and d/inner/ as plain (merge-looking) dirs, with a new file, a file named like
	# an outside one, a whiteout of an outside file, a subdir; other mode and times
	local up=$WS.upper
	mkdir -p "$up/out/sub" "$up/d/inner"
	printf 'evil\n' >"$up/out/file"
	printf 'new\n' >"$up/out/new"
	mknod "$up/out/victim" c 0 0
	printf 'evil deep\n' >"$up/out/sub/deep"
	mknod "$up/d/inner/victim" c 0 0
	printf 'evil\n' >"$up/d/inner/file"
	chmod 0700 "$up/out" "$up/d/inner"
	setfattr -n user.evil -v 1 "$up/out"
	touch -d @0 "$up/out" "$up/d/inner"
	touch -r "$WS/d" "$up/d"
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	[[ $output != *victim* ]] || fail_output "diff looked through the symlink"
	assert_outside_intact
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	assert_outside_intact
	# the symlinks were replaced by the upper dirs (their stray whiteouts dropped)
	[[ -d $WS/out && ! -L $WS/out && -d $WS/d/inner && ! -L $WS/d/inner ]]
	[[ $(cat "$WS/out/file") == evil && $(cat "$WS/out/new") == new ]]
	[[ ! -e $WS/out/victim && ! -e $WS/d/inner/victim ]]
	[[ $(stat -c %a "$WS/out") == 700 ]]
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "a crafted upper symlink to an outside dir over a lower dir: the dir goes, outside stays" {
	make_fixture
	run_keep 'echo a > aaa.txt'
	ln -s "$OUT" "$WS.upper/dir"
	mkdir "$WS.upper/src"
	ln -s "$OUT" "$WS.upper/src/sub"
	touch -r "$WS/src" "$WS.upper/src"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ -L $WS/dir && $(readlink "$WS/dir") == "$OUT" ]]
	[[ -L $WS/src/sub ]]
	assert_outside_intact
	assert_cache_intact
}

@test "lower symlinks to an outside or cache file, replaced by regular files: the targets stay" {
	make_fixture
	ln -s "$OUT/file" "$WS/outfile"
	snap "$WS" >"$T/ws.before"
	run_keep 'rm outfile && echo replaced > outfile'
	# and a crafted hardlink-looking regular file over a lower symlink
	printf 'evil\n' >"$WS.upper/link"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ ! -L $WS/outfile && $(cat "$WS/outfile") == replaced ]]
	[[ ! -L $WS/link && $(cat "$WS/link") == evil ]]
	[[ $(cat "$CACHE/$(printf 'alpha\n' | sha256sum | cut -d' ' -f1)") == alpha ]]
	assert_outside_intact
	assert_cache_intact
}

# ---------------------------------------------------------------------------------------------
# device nodes

@test "a planted device node is refused (workspace unchanged); --allow-devices applies it" {
	make_fixture
	run_keep 'echo a > aaa.txt; echo n > in/new'
	mknod "$WS.upper/zz-null" c 1 3
	mknod "$WS.upper/in/zz-loop" b 7 0
	touch -r "$WS/in" "$WS.upper/in"
	mkdir -p "$WS.upper/zz-new/deeper"
	mknod "$WS.upper/zz-new/deeper/zz-zero" c 1 5
	assert_apply_refused
	[[ $output == *device* ]] || fail_output "the message should say 'device'"
	[[ $output == *zz-null* || $output == *zz-loop* || $output == *zz-zero* ]] ||
		fail_output "the message should name it"
	run "$OVLBOX" apply --allow-devices "$WS"
	[[ $status -eq 0 ]] || fail_output "apply --allow-devices failed"
	[[ -c $WS/zz-null && $(stat -c '%t:%T' "$WS/zz-null") == 1:3 ]]
	[[ -b $WS/in/zz-loop && $(stat -c '%t:%T' "$WS/in/zz-loop") == 7:0 ]]
	[[ -c $WS/zz-new/deeper/zz-zero ]]
	[[ $(cat "$WS/aaa.txt") == a ]]
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "a device node made by the action: run exits 125, keeps the upper, changes nothing" {
	make_fixture
	run orun -- sh -c 'echo a > aaa.txt; mknod zz-null c 1 3'
	[[ $status -eq 125 ]] || fail_output "expected 125"
	[[ $output == *device* ]] || fail_output "the message should say 'device'"
	assert_ws_unchanged
	[[ -c $WS.upper/zz-null && -f $WS.upper/aaa.txt ]] || fail "the upper was not kept"
	run "$OVLBOX" apply --allow-devices "$WS"
	[[ $status -eq 0 ]] || fail_output "apply --allow-devices failed"
	[[ -c $WS/zz-null && $(cat "$WS/aaa.txt") == a ]]
}

@test "a whiteout (char 0/0) is not a device node: it is applied as a deletion" {
	make_fixture
	run_keep 'echo a > aaa.txt'
	mknod "$WS.upper/plain.txt" c 0 0
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ ! -e $WS/plain.txt ]]
}

# ---------------------------------------------------------------------------------------------
# setuid / setgid

SUID_ACTION='cp /bin/true suid && chmod 4755 suid
	cp /bin/true sgid && chmod 2755 sgid
	cp /bin/true both && chmod 6711 both
	chmod 4755 in/b.sh
	mkdir sdir && cp /bin/true sdir/t && chmod 4700 sdir/t'

@test "setuid/setgid bits made by the action are dropped by default" {
	make_fixture
	run orun -- sh -c "$SUID_ACTION"
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(stat -c %a "$WS/suid") == 755 ]] || fail "suid: $(stat -c %a "$WS/suid")"
	[[ $(stat -c %a "$WS/sgid") == 755 ]] || fail "sgid: $(stat -c %a "$WS/sgid")"
	[[ $(stat -c %a "$WS/both") == 711 ]] || fail "both: $(stat -c %a "$WS/both")"
	[[ $(stat -c %a "$WS/in/b.sh") == 755 ]] || fail "in/b.sh: $(stat -c %a "$WS/in/b.sh")"
	[[ $(stat -c %a "$WS/sdir/t") == 700 ]] || fail "sdir/t: $(stat -c %a "$WS/sdir/t")"
	cmp "$WS/suid" /bin/true
	assert_no_layers "$WS"
	assert_cache_intact
}

@test "setuid/setgid bits are kept with apply --keep-setuid" {
	make_fixture
	run orun --on-exit keep -- sh -c "$SUID_ACTION"
	[[ $status -eq 0 ]] || fail_output "run failed"
	run "$OVLBOX" apply --keep-setuid "$WS"
	[[ $status -eq 0 ]] || fail_output "apply --keep-setuid failed"
	[[ $(stat -c %a "$WS/suid") == 4755 ]] || fail "suid: $(stat -c %a "$WS/suid")"
	[[ $(stat -c %a "$WS/sgid") == 2755 ]] || fail "sgid: $(stat -c %a "$WS/sgid")"
	[[ $(stat -c %a "$WS/both") == 6711 ]] || fail "both: $(stat -c %a "$WS/both")"
	[[ $(stat -c %a "$WS/in/b.sh") == 4755 ]]
	[[ $(stat -c %a "$WS/sdir/t") == 4700 ]]
	assert_cache_intact
}

@test "a crafted setuid-root file in the upper is applied without the bit" {
	make_fixture
	run_keep 'echo a > aaa.txt'
	cp /bin/true "$WS.upper/rootshell"
	chown 0:0 "$WS.upper/rootshell"
	chmod 6755 "$WS.upper/rootshell"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ $(stat -c '%a %u' "$WS/rootshell") == '755 0' ]] || fail "$(stat -c '%a %u' "$WS/rootshell")"
}

@test "setuid bits are dropped for a rootless action too" {
	use_mode user
	make_fixture
	run orun -- sh -c 'cp /bin/true suid && chmod 4755 suid'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(stat -c '%a %u' "$WS/suid") == "755 $TEST_UID" ]] || fail "$(stat -c '%a %u' "$WS/suid")"
}

# A file capability (security.capability, here cap_net_raw+ep, VFS_CAP_REVISION_2) makes a binary
# as privileged as a setuid one: the same policy must apply (DESIGN §7: an action must not plant
# a privileged binary in a host directory).
FCAP=0x0100000200200000000000000000000000000000

@test "a file capability (security.capability) is dropped like setuid by default" {
	make_fixture
	run orun --on-exit keep -- sh -c "cp /bin/true fcap && setfattr -n security.capability -v $FCAP fcap"
	[[ $status -eq 0 ]] || fail_output "run failed"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ -f $WS/fcap ]]
	if getfattr -n security.capability "$WS/fcap" >/dev/null 2>&1; then
		fail "security.capability was applied: $(getfattr --absolute-names -d -m - -e hex "$WS/fcap")"
	fi
}

@test "a file capability is kept with apply --keep-setuid" {
	make_fixture
	run orun --on-exit keep -- sh -c "cp /bin/true fcap && setfattr -n security.capability -v $FCAP fcap"
	[[ $status -eq 0 ]] || fail_output "run failed"
	run "$OVLBOX" apply --keep-setuid "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ $(getfattr --absolute-names -e hex -n security.capability "$WS/fcap" 2>/dev/null |
		sed -n 's/^security.capability=//p') == "$FCAP" ]] ||
		fail "security.capability lost: $(getfattr --absolute-names -d -m - -e hex "$WS/fcap")"
}

# ---------------------------------------------------------------------------------------------
# overlay xattrs of features ovlbox never enables

# crafted_xattr NAMESPACE ATTR WHERE: sets NAMESPACE.overlay.ATTR on an upper entry and expects
# the apply to be refused, naming the attribute, with nothing changed.
crafted_xattr() {
	local ns=$1 attr=$2 where=$3 value
	case $attr in
	redirect) value=/in ;;
	metacopy) value= ;;
	nlink) value=U+1 ;;
	upper) value=0x00fb21 ;;
	esac
	run_keep 'echo a > aaa.txt; echo n > src/new; echo m >> src/sub/deep.h
		mkdir -p zz/d && echo f > zz/d/f'
	if [[ -n $value ]]; then
		setfattr -h -n "$ns.overlay.$attr" -v "$value" "$WS.upper/$where"
	else
		setfattr -h -n "$ns.overlay.$attr" "$WS.upper/$where"
	fi
	assert_apply_refused
	[[ $output == *"$attr"* ]] || fail_output "the message should name the xattr ($attr)"
	# the upper is still usable once the attribute is gone
	setfattr -h -x "$ns.overlay.$attr" "$WS.upper/$where"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply after removing $attr failed"
	[[ $(cat "$WS/aaa.txt") == a && $(cat "$WS/zz/d/f") == f ]]
}

@test "trusted.overlay.redirect on an upper dir is refused, naming it" {
	make_fixture
	crafted_xattr trusted redirect zz/d
}

@test "trusted.overlay.redirect on a merged dir is refused, naming it" {
	make_fixture
	crafted_xattr trusted redirect src
}

@test "trusted.overlay.metacopy on an upper file is refused, naming it" {
	make_fixture
	crafted_xattr trusted metacopy src/sub/deep.h
}

@test "trusted.overlay.nlink on an upper file is refused, naming it" {
	make_fixture
	crafted_xattr trusted nlink zz/d/f
}

@test "trusted.overlay.upper on an upper file is refused, naming it" {
	make_fixture
	crafted_xattr trusted upper src/new
}

@test "user.overlay.redirect in a rootless upper is refused, naming it" {
	use_mode user
	make_fixture
	run_keep 'echo a > aaa.txt; mkdir -p zz/d && echo f > zz/d/f'
	setfattr -n user.overlay.redirect -v /in "$WS.upper/zz/d"
	snap "$WS" >"$T/ws.pre"
	run as_user "$OVLBOX" apply "$WS"
	[[ $status -ne 0 ]] || fail_output "apply succeeded"
	[[ $output == *redirect* ]] || fail_output "the message should name the xattr"
	snap "$WS" >"$T/ws.post"
	assert_same_snap "$T/ws.pre" "$T/ws.post"
	[[ -d $WS.upper/zz/d ]]
}

@test "an escaped overlay xattr (trusted.overlay.overlay.X) is user data: kept" {
	make_fixture
	run_keep 'echo a > aaa.txt'
	setfattr -n trusted.overlay.overlay.redirect -v kept "$WS.upper/aaa.txt"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ $(getfattr --only-values -n trusted.overlay.overlay.redirect "$WS/aaa.txt") == kept ]]
}

# ---------------------------------------------------------------------------------------------
# crafted entry kinds (DESIGN §3's table)

@test "crafted entry kinds: xattr whiteouts, opaque=x (merge), opaque=y (replace), dir over a file" {
	make_fixture
	run_keep 'echo a > aaa.txt'
	local up=$WS.upper
	# dir with opaque=x: NOT opaque, merged; a zero-size file with overlay.whiteout deletes
	mkdir "$up/dir"
	setfattr -n trusted.overlay.opaque -v x "$up/dir"
	: >"$up/dir/f1"
	setfattr -n trusted.overlay.whiteout -v y "$up/dir/f1"
	printf 'added\n' >"$up/dir/added"
	touch -d @1111111111 "$up/dir"
	# dir with opaque=y: replaces the lower dir
	mkdir "$up/src"
	setfattr -n trusted.overlay.opaque -v y "$up/src"
	printf 'only\n' >"$up/src/only"
	# a plain (non-opaque) dir over a lower regular file and over a lower symlink
	mkdir "$up/plain.txt" "$up/link"
	printf 'p\n' >"$up/plain.txt/p"
	printf 'l\n' >"$up/link/l"
	# an xattr whiteout at the top
	: >"$up/dangling"
	setfattr -n trusted.overlay.whiteout -v y "$up/dangling"
	run "$OVLBOX" diff "$WS"
	[[ $status -eq 0 ]] || fail_output "diff failed"
	[[ $output == *"D dir/f1"* && $output != *"D dir/sub"* && $output == *"D src/x"* ]] ||
		fail_output "diff does not match the entry kinds"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply failed"
	[[ ! -e $WS/dir/f1 && -f $WS/dir/sub/f2 && $(cat "$WS/dir/added") == added ]] ||
		fail "opaque=x dir was not merged: $(ls -A "$WS/dir")"
	[[ $(stat -c %Y "$WS/dir") == 1111111111 ]]
	[[ $(ls -A "$WS/src") == only ]] || fail "opaque=y dir was not a replacement: $(ls -A "$WS/src")"
	[[ $(cat "$WS/plain.txt/p") == p && $(cat "$WS/link/l") == l && ! -L $WS/link ]]
	[[ ! -e $WS/dangling && ! -L $WS/dangling ]]
	# no overlay xattr is left on anything
	if getfattr -R -h -d -m '^trusted\.overlay\.' "$WS" 2>/dev/null | grep -q overlay; then
		fail "overlay xattrs left: $(getfattr -R -h -d -m '^trusted\.overlay\.' "$WS")"
	fi
	assert_cache_intact
}

# ---------------------------------------------------------------------------------------------
# immutable targets

@test "an immutable lower target is refused before anything changes" {
	make_fixture
	if ! chattr +i "$WS/plain.txt" 2>/dev/null; then
		skip "the filesystem of $T does not support chattr +i"
	fi
	chattr -i "$WS/plain.txt"
	run_keep 'echo a > aaa.txt; echo new > in/new'
	printf 'replaced\n' >"$WS.upper/plain.txt"
	mkdir -p "$WS.upper/src/sub"
	touch -r "$WS/src" "$WS.upper/src"
	touch -r "$WS/src/sub" "$WS.upper/src/sub"
	printf 'x\n' >"$WS.upper/src/sub/deep.h"
	chattr +i "$WS/src/sub/deep.h"
	assert_apply_refused
	[[ $output == *immutable* || $output == *deep.h* ]] || fail_output "the message should say why"
	chattr -i "$WS/src/sub/deep.h"
	# an immutable lower dir whose entries change, an append-only one that loses an entry
	printf 'gone\n' >"$WS.upper/src/sub/deep.c"
	rm "$WS.upper/src/sub/deep.c"
	mknod "$WS.upper/src/sub/deep.c" c 0 0
	touch -r "$WS/src/sub" "$WS.upper/src/sub"
	chattr +i "$WS/src/sub"
	assert_apply_refused
	chattr -i "$WS/src/sub"
	chattr +a "$WS/src/sub"
	assert_apply_refused
	chattr -a "$WS/src/sub"
	run "$OVLBOX" apply "$WS"
	[[ $status -eq 0 ]] || fail_output "apply after chattr -i failed"
	[[ $(cat "$WS/src/sub/deep.h") == x && $(cat "$WS/plain.txt") == replaced ]]
	[[ ! -e $WS/src/sub/deep.c ]]
}

@test "chattr +i/+a made by the action (overlay protattr) become real flags, applied last" {
	make_fixture
	if ! chattr +i "$WS/plain.txt" 2>/dev/null; then
		skip "the filesystem of $T does not support chattr +i"
	fi
	chattr -i "$WS/plain.txt"
	run orun -- sh -c 'echo x > new && chattr +i new
		mkdir newdir && echo y > newdir/f && chattr +i newdir
		chattr +a plain.txt'
	[[ $status -eq 0 ]] || fail_output "run failed"
	[[ $(lsattr -d "$WS/new" | cut -c5) == i ]] || fail "new: $(lsattr -d "$WS/new")"
	[[ $(lsattr -d "$WS/newdir" | cut -c5) == i ]] || fail "newdir: $(lsattr -d "$WS/newdir")"
	[[ $(lsattr -d "$WS/plain.txt" | cut -c6) == a ]] || fail "plain.txt: $(lsattr -d "$WS/plain.txt")"
	[[ $(cat "$WS/newdir/f") == y && $(cat "$WS/new") == x ]]
	if getfattr -R -h -d -m '^trusted\.overlay\.' "$WS" 2>/dev/null | grep -q overlay; then
		fail "overlay xattrs left: $(getfattr -R -h -d -m '^trusted\.overlay\.' "$WS")"
	fi
	assert_no_layers "$WS"
	assert_cache_intact
}
