#!/usr/bin/env bats
# Every operation an action can make, as root and as an unprivileged user (user namespace,
# userxattr): the workspace after `ovlbox run` (apply) equals what the action saw from inside
# (type, mode, owner, size, bytes, symlink target, mtime including dirs, xattrs, hardlink groups),
# upper and work are gone, and the cache files hardlinked into the workspace are intact.

# Action scripts are single-quoted on purpose: they run inside the sandbox. Each @test runs in
# its own subshell (SC2030/SC2031); ORUN_WRAP is read by orun in lib/common.bash (SC2034).
# shellcheck disable=SC2016,SC2030,SC2031,SC2034

load lib/common
load lib/kernel

setup_file() {
	ensure_test_user
}

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# content of a workspace file
wsc() {
	cat "$WS/$1"
}

ino() {
	stat -c %i "$1"
}

# do_op OP MODE: fixture for MODE, then op_OP (which runs the action and checks specifics).
do_op() {
	use_mode "$2"
	make_fixture
	"op_$1"
}

# ---------------------------------------------------------------------------------------------

op_create() {
	run_action '
		echo new > new.txt
		: > empty.file
		mkdir -p newdir/sub/leaf
		printf "deep\n" > newdir/sub/f
		printf "in old dir\n" > dir/sub/added
		printf "\000\001\377" > bin.dat
		chmod 0640 new.txt'
	assert_ws_changed
	[[ $(wsc new.txt) == new ]]
	[[ $(wsc newdir/sub/f) == deep ]]
	[[ $(wsc dir/sub/added) == "in old dir" ]]
	[[ $(od -An -tx1 "$WS/bin.dat" | tr -d ' ') == 0001ff ]]
	assert_snap_line new.txt '^new.txt file 0640 0:0 size=4 '
	assert_snap_line newdir/sub/leaf '^newdir/sub/leaf dir '
	# the untouched cache-linked input is still the cache's inode
	[[ $(ino "$WS/in/b.sh") == $(ino "$CACHE/$(sha256sum <"$WS/in/b.sh" | cut -d' ' -f1)") ]]
}

op_overwrite() {
	local cino
	cino=$(ino "$WS/in/a.txt")
	run_action '
		echo replaced > in/a.txt
		printf X | dd of=in/b.sh conv=notrunc status=none
		echo "rw" > in/ro.txt'
	assert_ws_changed
	[[ $(wsc in/a.txt) == replaced ]]
	[[ $(head -c 3 "$WS/in/b.sh") == 'X!/' ]]
	[[ $(wsc in/ro.txt) == rw ]]
	[[ $(ino "$WS/in/a.txt") != "$cino" ]]
	# copy-up keeps the xattrs and mode of the original
	assert_snap_line in/a.txt '^in/a.txt file 0644 0:0 size=9 .* x:user.origin=63616368652d61'
	assert_snap_line in/ro.txt '^in/ro.txt file 0444 '
}

op_append() {
	run_action '
		echo more >> in/a.txt
		echo more >> in/dup1
		echo tail >> plain.txt'
	assert_ws_changed
	[[ $(wsc in/a.txt) == $'alpha\nmore' ]]
	[[ $(wsc in/dup1) == $'shared twice\nmore' ]]
	# the other name of the shared cache file is untouched and still linked to the cache
	[[ $(wsc in/dup2) == 'shared twice' ]]
	[[ $(stat -c %h "$WS/in/dup2") -eq 2 ]]
	[[ $(stat -c %h "$WS/in/dup1") -eq 1 ]]
	[[ $(wsc plain.txt) == $'plain\ntail' ]]
}

op_truncate() {
	run_action '
		truncate -s 3 in/a.txt
		truncate -s 0 in/ro.txt
		truncate -s 100 in/b.sh
		truncate -s 2 plain.txt'
	assert_ws_changed
	[[ $(wsc in/a.txt) == alp ]]
	[[ $(stat -c %s "$WS/in/ro.txt") -eq 0 ]]
	[[ $(stat -c %s "$WS/in/b.sh") -eq 100 ]]
	[[ $(wsc plain.txt) == pl ]]
}

op_chmod() {
	run_action '
		chmod 0600 in/a.txt
		chmod 0755 plain.txt
		chmod 0000 in/dup2
		chmod 0444 in/b.sh'
	assert_ws_changed
	assert_snap_line in/a.txt '^in/a.txt file 0600 '
	assert_snap_line plain.txt '^plain.txt file 0755 '
	assert_snap_line in/dup2 '^in/dup2 file 0000 '
	assert_snap_line in/dup1 '^in/dup1 file 0600 '
	assert_snap_line in/b.sh '^in/b.sh file 0444 '
}

op_chown() {
	if [[ $MODE == root ]]; then
		run_action '
			chown 4242:4343 in/a.txt
			chown 0:4343 plain.txt
			chown -h 7:8 link
			chown 0:0 in/owned.dat'
		assert_ws_changed
		assert_snap_line in/a.txt '^in/a.txt file 0644 4242:4343 '
		assert_snap_line plain.txt '^plain.txt file 0644 0:4343 '
		assert_snap_line link '^link symlink 0777 7:8 target=in/a.txt '
		assert_snap_line in/owned.dat '^in/owned.dat file 0644 0:0 '
	else
		# Only the caller's own ids are mapped (to 0:0) in the user namespace: a chown to them
		# still copies the file up; the apply must leave it owned by the user.
		run_action '
			chown 0:0 in/a.txt plain.txt
			chown -h 0:0 link'
		[[ $(stat -c %u:%g "$WS/in/a.txt") == "$TEST_UID:$TEST_GID" ]]
		[[ $(stat -c %u:%g "$WS/plain.txt") == "$TEST_UID:$TEST_GID" ]]
		assert_ws_unchanged
	fi
}

op_utime() {
	run_action '
		touch -d "2001-02-03 04:05:06.789" in/a.txt
		touch -m -d @0 plain.txt
		touch -h -d "2002-03-04 05:06:07.000000009" link
		touch -d "2030-01-01 00:00:00.999999999" in/ro.txt'
	assert_ws_changed
	assert_snap_line in/a.txt ' mtime=981173106.789000000( |$)'
	assert_snap_line plain.txt ' mtime=0.000000000( |$)'
	assert_snap_line in/ro.txt ' mtime=1893456000.999999999( |$)'
	[[ $(wsc in/a.txt) == alpha ]]
}

op_setxattr() {
	local t=
	[[ $MODE == root ]] && t='
		setfattr -n trusted.new -v tval plain.txt
		setfattr -n trusted.cache -v changed in/a.txt
		setfattr -h -n trusted.onlink -v sl link'
	run_action "
		setfattr -n user.new -v value in/a.txt
		setfattr -n user.origin -v changed in/a.txt
		setfattr -n user.bin -v 0x00ff10 plain.txt
		setfattr -n user.empty plain.txt
		setfattr -n user.dirx -v 1 dir/sub
		setfattr -n user.root -v changed .
		setfattr -n user.big -v \"\$(printf '%03000d' 7)\" in/b.sh
		$t"
	assert_ws_changed
	assert_snap_line in/a.txt ' x:user.new=76616c7565( |$)'
	assert_snap_line in/a.txt ' x:user.origin=6368616e676564( |$)'
	assert_snap_line plain.txt ' x:user.bin=00ff10 x:user.empty=( |$)'
	assert_snap_line dir/sub ' x:user.dirx=31( |$)'
	[[ $(getfattr --only-values -n user.big "$WS/in/b.sh") == "$(printf '%03000d' 7)" ]]
	assert_snap_line . ' x:user.root=6368616e676564( |$)'
	if [[ $MODE == root ]]; then
		assert_snap_line plain.txt ' x:trusted.new=7476616c'
		assert_snap_line link ' x:trusted.onlink=736c'
	fi
}

op_rmxattr() {
	local t=
	[[ $MODE == root ]] && t='setfattr -x trusted.cache in/ro.txt'
	run_action "
		setfattr -x user.origin in/a.txt
		setfattr -x user.plain dir/f1
		setfattr -x user.d dir
		setfattr -x user.root .
		$t"
	assert_ws_changed
	assert_snap_line in/a.txt '^in/a.txt file 0644 0:0 size=6 '
	[[ ! $(snap_line in/a.txt) =~ user.origin ]]
	assert_snap_line dir/f1 '^dir/f1 file [0-7]+ 0:0 size=8 hash=[0-9a-f]+ mtime=[0-9.]+$'
	assert_snap_line dir '^dir dir 0750 0:0 mtime=[0-9.]+$'
	assert_snap_line . '^\. dir 0755 0:0 mtime=[0-9.]+$'
	if [[ $MODE == root ]]; then
		assert_snap_line in/ro.txt '^in/ro.txt file 0444 0:0 size=10 hash=[0-9a-f]+ mtime=[0-9.]+$'
	fi
}

op_unlink() {
	run_action '
		rm in/a.txt in/dup1 plain.txt link dangling rodir/file'
	assert_ws_changed
	local p
	for p in in/a.txt in/dup1 plain.txt link dangling rodir/file; do
		assert_no_snap_line "$p"
		[[ ! -e $WS/$p && ! -L $WS/$p ]]
	done
	[[ $(wsc in/dup2) == 'shared twice' ]]
}

op_rmrf() {
	run_action '
		rm -rf src dir rodir empty'
	assert_ws_changed
	[[ ! -e $WS/src && ! -e $WS/dir && ! -e $WS/rodir && ! -e $WS/empty ]]
	if grep -E '^(src|dir|rodir|empty)(/| )' "$T/snap.out"; then
		fail "removed entries are in the snapshot"
	fi
}

op_rmrecreate() {
	run_action '
		rm -rf dir && mkdir dir && echo again > dir/f1
		rm -rf src/sub && mkdir src/sub
		rm -rf rodir && mkdir rodir && : > rodir/other'
	assert_ws_changed
	# opaque: nothing of the old dirs comes back
	[[ $(ls -A "$WS/dir") == f1 ]]
	[[ $(wsc dir/f1) == again ]]
	[[ -z $(ls -A "$WS/src/sub") ]]
	[[ $(ls -A "$WS/rodir") == other ]]
	assert_snap_line dir '^dir dir 0[0-7]+ 0:0 mtime=[0-9.]+$'
}

op_rename() {
	run_action '
		mv in/a.txt in/renamed.txt
		mv plain.txt dir/moved.txt
		mv in/b.sh in/ro.txt
		mv link link2'
	assert_ws_changed
	assert_no_snap_line in/a.txt
	assert_no_snap_line in/b.sh
	[[ $(wsc in/ro.txt) == $'#!/bin/sh\necho b' ]]
	[[ $(wsc in/renamed.txt) == alpha ]]
	[[ $(wsc dir/moved.txt) == plain ]]
	[[ $(readlink "$WS/link2") == in/a.txt ]]
}

op_mvdir() {
	run_action '
		mv src moved_src
		mv dir empty/inside
		mv rodir rodir2'
	assert_ws_changed
	[[ ! -e $WS/src && ! -e $WS/dir ]]
	[[ $(wsc moved_src/sub/deep.c) == 'int deep;' ]]
	[[ $(wsc empty/inside/sub/f2) == 'in dir/sub' ]]
	[[ $(wsc moved_src/x/y/z/leaf) == leaf ]]
}

op_symlink() {
	run_action '
		ln -s in/a.txt newlink
		ln -sfn dir link
		ln -s "/abs/target with space" abs
		ln -s "$(printf "nl\nand\377")" weird
		ln -s newdir/none dir/sub/rel'
	assert_ws_changed
	[[ $(readlink "$WS/newlink") == in/a.txt ]]
	[[ $(readlink "$WS/link") == dir ]]
	assert_snap_line abs '^abs symlink 0777 0:0 target=/abs/target\\x20with\\x20space '
	assert_snap_line weird '^weird symlink 0777 0:0 target=nl\\x0aand\\xff '
}

op_file2dir() {
	run_action '
		rm in/a.txt && mkdir in/a.txt && echo x > in/a.txt/inner
		rm plain.txt && mkdir plain.txt
		rm link && mkdir link && echo y > link/z'
	assert_ws_changed
	[[ -d $WS/in/a.txt && ! -L $WS/link && -d $WS/link ]]
	[[ $(wsc in/a.txt/inner) == x ]]
	[[ $(wsc link/z) == y ]]
	# the cache file the name pointed to is still there, unchanged (cache check)
}

op_dir2file() {
	run_action '
		rm -rf dir && echo "now a file" > dir
		rm -rf empty && ln -s somewhere empty
		rm -rf src/x && mkfifo src/x'
	assert_ws_changed
	[[ -f $WS/dir ]] && [[ $(wsc dir) == "now a file" ]]
	[[ -L $WS/empty ]]
	[[ -p $WS/src/x ]]
}

op_hardlink() {
	run_action '
		ln in/a.txt in/a.hard
		echo n > new
		ln new new2
		mkdir newdir
		ln new newdir/new3
		ln in/dup1 in/dup3
		ln plain.txt dir/plain.hard
		rm -rf src/x && mkdir src/x && echo h > src/x/h && ln src/x/h src/sub/h2 && ln src/x/h top.h'
	assert_ws_changed
	[[ $(ino "$WS/new") == $(ino "$WS/new2") && $(ino "$WS/new") == $(ino "$WS/newdir/new3") ]]
	[[ $(ino "$WS/in/a.txt") == $(ino "$WS/in/a.hard") ]]
	[[ $(ino "$WS/plain.txt") == $(ino "$WS/dir/plain.hard") ]]
	[[ $(wsc in/a.hard) == alpha ]]
	run link_groups
	local want=(
		'dir/plain.hard plain.txt'
		'in/a.hard in/a.txt'
		'in/dup1 in/dup3'
		'new new2 newdir/new3'
		'src/sub/h2 src/x/h top.h'
	)
	[[ $output == "$(printf '%s\n' "${want[@]}")" ]] || fail_output "wrong hardlink groups"
	[[ $(ino "$WS/in/dup2") != $(ino "$WS/in/dup1") ]]
}

op_mkfifo() {
	run_action '
		mkfifo fifo1 dir/fifo2
		mkfifo -m 0600 in/ff'
	assert_ws_changed
	[[ -p $WS/fifo1 && -p $WS/dir/fifo2 && -p $WS/in/ff ]]
	assert_snap_line in/ff '^in/ff fifo 0600 0:0 '
}

op_socket() {
	run_action "
		$(shq "$MKSOCK") sock1 dir/sock2
		rm plain.txt && $(shq "$MKSOCK") plain.txt"
	assert_ws_changed
	[[ -S $WS/sock1 && -S $WS/dir/sock2 && -S $WS/plain.txt ]]
	assert_snap_line sock1 '^sock1 socket '
}

op_chmoddir() {
	run_action '
		chmod 0700 dir
		chmod 0751 src/sub
		chmod 1777 empty
		chmod 0755 rodir
		chmod 0711 .'
	assert_ws_changed
	assert_snap_line dir '^dir dir 0700 '
	assert_snap_line src/sub '^src/sub dir 0751 '
	assert_snap_line empty '^empty dir 1777 '
	assert_snap_line rodir '^rodir dir 0755 '
	assert_snap_line . '^\. dir 0711 '
}

op_utimedir() {
	run_action '
		echo x > dir/newfile
		touch -d "2000-01-01 00:00:00.5" dir src/x/y empty
		touch -m -d @86400 rodir
		touch -d "1999-09-09 09:09:09.000000009" .'
	assert_ws_changed
	assert_snap_line dir ' mtime=946684800.500000000( |$)'
	assert_snap_line src/x/y ' mtime=946684800.500000000( |$)'
	assert_snap_line rodir ' mtime=86400.000000000( |$)'
	assert_snap_line . ' mtime=936868149.000000009( |$)'
}

# read-only dirs and files left by the action (and written into the read-only input dir):
# apply must still work, also as non-root.
op_readonly() {
	run_action '
		mkdir -p out/ro/deeper
		echo a > out/ro/deeper/f
		chmod 0444 out/ro/deeper/f
		chmod 0555 out/ro/deeper out/ro out
		echo new > rodir/new
		chmod 0444 rodir/new
		chmod 0555 dir src
		chmod 0444 in/a.txt plain.txt
		mkdir -p gone/inner && echo q > gone/inner/f
		chmod 0555 gone/inner gone
		mkdir -p locked/in && echo s > locked/in/secret && : > locked/empty
		chmod 0000 locked/in/secret locked/empty locked/in locked
		chmod 0000 in/b.sh'
	assert_ws_changed
	assert_snap_line out '^out dir 0555 '
	assert_snap_line out/ro/deeper/f '^out/ro/deeper/f file 0444 '
	assert_snap_line rodir/new '^rodir/new file 0444 '
	assert_snap_line dir '^dir dir 0555 '
	assert_snap_line locked/in/secret '^locked/in/secret file 0000 0:0 size=2 '
	assert_snap_line locked '^locked dir 0000 '
	[[ $(wsc rodir/new) == new ]]
}

# the workspace root itself read-only (0555), written by the action
op_rorootws() {
	chmod 0555 "$WS"
	touch -d '2021-12-12 12:12:12.121212121' "$WS"
	snap "$WS" >"$T/ws.before"
	run_action '
		echo top > top.txt
		rm plain.txt
		mkdir newdir
		rm -rf empty'
	assert_ws_changed
	assert_snap_line . '^\. dir 0555 '
	[[ $(wsc top.txt) == top && ! -e $WS/plain.txt && ! -e $WS/empty ]]
}

# all of the above in one action
op_everything() {
	local sock
	sock=$(shq "$MKSOCK")
	run_action "
		echo new > new.txt
		echo replaced > in/a.txt
		echo more >> in/dup1
		truncate -s 1 in/ro.txt
		chmod 0600 in/b.sh
		touch -d @1000000000 plain.txt
		setfattr -n user.x -v 1 src/sub/deep.c
		setfattr -x user.plain dir/f1
		rm dangling
		rm -rf src/x
		rm -rf dir/sub && mkdir dir/sub && : > dir/sub/only
		mv in/dup2 in/dup2.moved
		mv empty empty.moved
		ln -s new.txt newlink
		rm link && mkdir link
		mkdir -p d2f && rm -rf rodir && echo f > rodir
		ln new.txt new.hard
		mkfifo fifo
		$sock sock
		chmod 0700 src
		touch -d @1200000000 dir
		mkdir ro && : > ro/f && chmod 0444 ro/f && chmod 0555 ro"
	assert_ws_changed
	[[ $(wsc in/a.txt) == replaced ]]
	[[ $(ls -A "$WS/dir/sub") == only ]]
}

# ---------------------------------------------------------------------------------------------
# two tests per operation: as root and as the unprivileged user

@test "create (root)" { do_op create root; }
@test "create (user)" { do_op create user; }
@test "overwrite (root)" { do_op overwrite root; }
@test "overwrite (user)" { do_op overwrite user; }
@test "append (root)" { do_op append root; }
@test "append (user)" { do_op append user; }
@test "truncate (root)" { do_op truncate root; }
@test "truncate (user)" { do_op truncate user; }
@test "chmod (root)" { do_op chmod root; }
@test "chmod (user)" { do_op chmod user; }
@test "chown (root)" { do_op chown root; }
@test "chown within the mapped ids (user)" { do_op chown user; }
@test "utime (root)" { do_op utime root; }
@test "utime (user)" { do_op utime user; }
@test "set xattr (root)" { do_op setxattr root; }
@test "set xattr (user)" { do_op setxattr user; }
@test "remove xattr (root)" { do_op rmxattr root; }
@test "remove xattr (user)" { do_op rmxattr user; }
@test "unlink (root)" { do_op unlink root; }
@test "unlink (user)" { do_op unlink user; }
@test "rm -rf a dir (root)" { do_op rmrf root; }
@test "rm -rf a dir (user)" { do_op rmrf user; }
@test "rm + recreate a dir: opaque (root)" { do_op rmrecreate root; }
@test "rm + recreate a dir: opaque (user)" { do_op rmrecreate user; }
@test "rename a file (root)" { do_op rename root; }
@test "rename a file (user)" { do_op rename user; }
@test "mv a dir (root)" { do_op mvdir root; }
@test "mv a dir (user)" { do_op mvdir user; }
@test "symlink (root)" { do_op symlink root; }
@test "symlink (user)" { do_op symlink user; }
@test "file -> dir (root)" { do_op file2dir root; }
@test "file -> dir (user)" { do_op file2dir user; }
@test "dir -> file (root)" { do_op dir2file root; }
@test "dir -> file (user)" { do_op dir2file user; }
@test "hardlink (root)" { do_op hardlink root; }
@test "hardlink (user)" { do_op hardlink user; }
@test "mkfifo (root)" { do_op mkfifo root; }
@test "mkfifo (user)" { do_op mkfifo user; }
@test "unix socket (root)" { do_op socket root; }
@test "unix socket (user)" { do_op socket user; }
@test "chmod of dirs (root)" { do_op chmoddir root; }
@test "chmod of dirs (user)" { do_op chmoddir user; }
@test "utime of dirs (root)" { do_op utimedir root; }
@test "utime of dirs (user)" { do_op utimedir user; }
@test "read-only dirs and files left by the action (root)" { do_op readonly root; }
@test "read-only dirs and files left by the action (user)" { do_op readonly user; }
@test "a read-only (0555) workspace root written by the action (root)" { do_op rorootws root; }
@test "a read-only (0555) workspace root written by the action (user)" { do_op rorootws user; }
@test "every operation in one action (root)" { do_op everything root; }
@test "every operation in one action (user)" { do_op everything user; }

# Older kernels, played on this one by refusing the newer calls with seccomp
# (tests/helpers/seccomp_exec around `ovlbox run`, profiles of tests/lib/kernel.bash). An
# overlayfs that takes no layer by fd (before Linux 6.13; O_PATH fds before 6.15) gets the layers
# as /proc/self/fd paths: the same action, the same result; so without openat2 (before 5.6).
# Without fsopen (before 5.2, where the rest of the new mount API that `ovlbox run` needs is
# missing too) it refuses with the reason and changes nothing.

# under_kernel MODE NAME [CMD...]: MODE's fixture; ovlbox run then runs under the profile NAME
# (written to $IO, readable by the user mode too), behind CMD if given (e.g. env VAR=VALUE).
under_kernel() {
	use_mode "$1"
	make_fixture
	local profile
	profile=$(kernel_profile "$IO" "$2")
	ORUN_WRAP=("${@:3}" "$OVLBOX_HELPERS/seccomp_exec" "$profile" --)
}

# everything_without_layer_fds MODE: every operation in one action; ovlbox run's info lines
# (OVLBOX_DEBUG) show that the layers went as paths.
everything_without_layer_fds() {
	local line="ovlbox: overlayfs takes no layer by fd here (lowerdir+: Invalid argument): passing the layers as /proc/self/fd paths"
	under_kernel "$1" no-layer-fd-22 env OVLBOX_DEBUG=1
	op_everything
	grep -qxF "$line" <<<"$output" || fail_output "no line: $line"
}

@test "no layer by fd (FSCONFIG_SET_FD refused with EINVAL): paths, every operation applied (root)" {
	everything_without_layer_fds root
}
@test "no layer by fd (FSCONFIG_SET_FD refused with EINVAL): paths, every operation applied (user)" {
	everything_without_layer_fds user
}

# Before Linux 5.6: no openat2; every walk below the workspace, the upper and the sandbox's
# mount points is an O_NOFOLLOW walk instead of RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS.
everything_without_openat2() {
	under_kernel "$1" no-openat2
	op_everything
}

@test "no openat2 (refused with ENOSYS): every operation applied (root)" {
	everything_without_openat2 root
}
@test "no openat2 (refused with ENOSYS): every operation applied (user)" {
	everything_without_openat2 user
}

no_fsopen_refused() {
	under_kernel "$1" no-fsopen
	run orun -- sh -c 'echo new > new.txt'
	[[ $status -eq 125 ]] || fail_output "exit status"
	[[ $output == "ovlbox: workspace $WS: overlay mount: fsopen (the new mount API): Function not implemented" ]] ||
		fail_output "message"
	assert_ws_unchanged
	assert_no_layers "$WS"
}

@test "no fsopen (refused with ENOSYS): one line naming it, nothing changed (root)" {
	no_fsopen_refused root
}
@test "no fsopen (refused with ENOSYS): one line naming it, nothing changed (user)" {
	no_fsopen_refused user
}

@test "an action that changes nothing leaves the workspace and cache as they were (root)" {
	use_mode root
	make_fixture
	run_action 'cat in/a.txt >/dev/null; ls -R >/dev/null'
	assert_ws_unchanged
	[[ $(stat -c %h "$WS/in/a.txt") -eq 2 ]]
}

@test "an action that changes nothing leaves the workspace and cache as they were (user)" {
	use_mode user
	make_fixture
	run_action 'cat in/a.txt >/dev/null; ls -R >/dev/null'
	assert_ws_unchanged
	[[ $(stat -c %h "$WS/in/a.txt") -eq 2 ]]
}
