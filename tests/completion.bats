#!/usr/bin/env bats
# The bash completion (completions/ovlbox): registered for ovlbox, and what it offers for each
# kind of word, exactly.

setup() {
	# shellcheck source=completions/ovlbox
	source "$OVLBOX_SRC/completions/ovlbox"
	scratch=$(mktemp -d)
	cd "$scratch" || return 1
}

teardown() {
	cd / && rm -rf "$scratch"
}

# complete LINE: completes the last word of LINE (a trailing space: a new, empty word), as
# readline would, into COMPREPLY.
complete_line() {
	local line=$1
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_ovlbox ovlbox "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}

# expect WORD...: COMPREPLY is exactly these words, in this order.
expect() {
	local want got
	want=$(printf '%s\n' "$@")
	got=$(printf '%s\n' "${COMPREPLY[@]}")
	[[ $got == "$want" ]] || {
		printf 'completion of %q\n--- want\n%s\n--- got\n%s\n' "$COMP_LINE" "$want" "$got" >&2
		return 1
	}
}

# expect_sorted WORD...: the same, whatever the order (file names come in directory order).
expect_sorted() {
	mapfile -t COMPREPLY < <(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort)
	expect "$@"
}

@test "completion: registered for ovlbox with complete -F _ovlbox" {
	run bash -c "source $OVLBOX_SRC/completions/ovlbox && complete -p ovlbox"
	[[ $status -eq 0 ]]
	[[ $output == "complete -F _ovlbox ovlbox" ]]
}

@test "completion: the commands" {
	complete_line "ovlbox "
	expect run apply diff discard help --help --version
	complete_line "ovlbox di"
	expect diff discard
	complete_line "ovlbox --v"
	expect --version
}

@test "completion: run's flags" {
	complete_line "ovlbox run --"
	expect --workspace --upper --work --on-exit --check-owners --upper-size --hostname --net \
		--bind --ro-bind --tmpfs --writable --cap-add --seccomp --timeout --kill-after --env \
		--clear-env --cwd --rlimit --stats --keep-setuid --allow-devices --help --
	complete_line "ovlbox run --workspace ws --c"
	expect --check-owners --cap-add --clear-env --cwd
	complete_line "ovlbox run --clear-env --k"
	expect --kill-after --keep-setuid
}

@test "completion: --seccomp default|none|FILE, as --seccomp VALUE and --seccomp=VALUE" {
	touch profile.json
	mkdir profiles
	complete_line "ovlbox run --seccomp "
	expect_sorted default none profile.json profiles
	complete_line "ovlbox run --seccomp d"
	expect default
	complete_line "ovlbox run --seccomp pro"
	expect_sorted profile.json profiles
	complete_line "ovlbox run --seccomp ="
	expect_sorted default none profile.json profiles
	complete_line "ovlbox run --seccomp = n"
	expect none
}

@test "completion: --on-exit apply|discard|keep, --net private|host" {
	complete_line "ovlbox run --on-exit "
	expect apply discard keep
	complete_line "ovlbox run --on-exit d"
	expect discard
	complete_line "ovlbox run --net "
	expect private host
	complete_line "ovlbox run --net = h"
	expect host
}

@test "completion: --cap-add names, in the case typed, with or without CAP_" {
	complete_line "ovlbox run --cap-add NET_"
	expect NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW
	complete_line "ovlbox run --cap-add cap_sys_p"
	expect cap_sys_ptrace cap_sys_pacct
	complete_line "ovlbox run --cap-add CAP_SYS_A"
	expect CAP_SYS_ADMIN
	complete_line "ovlbox run --cap-add al"
	expect all
	complete_line "ovlbox run --cap-add "
	[[ ${#COMPREPLY[@]} -eq 42 && ${COMPREPLY[0]} == ALL && ${COMPREPLY[1]} == CAP_CHOWN &&
		${COMPREPLY[41]} == CAP_CHECKPOINT_RESTORE ]]
}

@test "completion: --cap-add offers every capability libcap names on this kernel" {
	command -v capsh >/dev/null || skip "capsh (libcap2-bin) is not installed"
	local last mask names c
	last=$(cat /proc/sys/kernel/cap_last_cap)
	mask=$(printf '0x%x' $(((1 << (last + 1)) - 1)))
	names=$(capsh --decode="$mask")
	names=${names#*=}
	complete_line "ovlbox run --cap-add cap_"
	local offered=" ${COMPREPLY[*]} "
	for c in ${names//,/ }; do
		# a capability newer than libcap is named by its number: --cap-add refuses numbers
		[[ $c == cap_* ]] || continue
		[[ $offered == *" $c "* ]] || { echo "not offered: $c" >&2; return 1; }
	done
}

@test "completion: --rlimit NAME=, and options whose value is free text offer nothing" {
	complete_line "ovlbox run --rlimit no"
	expect nofile=
	complete_line "ovlbox run --rlimit s"
	expect sigpending= stack=
	complete_line "ovlbox run --timeout "
	expect
	complete_line "ovlbox run --env "
	expect
}

@test "completion: directories for the layer options, files for --stats and --bind" {
	mkdir ws ws.upper
	touch notes
	complete_line "ovlbox run --workspace "
	expect_sorted ws ws.upper
	complete_line "ovlbox run --stats "
	expect_sorted notes ws ws.upper
	complete_line "ovlbox run --bind n"
	expect notes
}

@test "completion: after run's --, the command, then files" {
	mkdir bin
	printf '#!/bin/sh\n' >bin/ovlbox-completion-probe
	chmod +x bin/ovlbox-completion-probe
	touch input.txt
	PATH=$scratch/bin:$PATH complete_line "ovlbox run --workspace ws -- ovlbox-completion-pr"
	expect ovlbox-completion-probe
	complete_line "ovlbox run --workspace ws -- ovlbox-completion-probe in"
	expect input.txt
}

@test "completion: apply, diff and discard: their flags, and workspace directories" {
	mkdir ws
	touch file
	complete_line "ovlbox apply --"
	expect --upper --work --keep-setuid --allow-devices --userxattr --no-userxattr --help
	complete_line "ovlbox diff --"
	expect --upper --work --json --userxattr --no-userxattr --help
	complete_line "ovlbox discard --"
	expect --upper --work --userxattr --no-userxattr --help
	complete_line "ovlbox diff --json "
	expect ws
	complete_line "ovlbox apply --upper "
	expect ws
}
