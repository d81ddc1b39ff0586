#!/usr/bin/env bats
# The fuzz corpora as regression tests: every file of tests/fuzz/corpus/NAME/ (the seeds and
# each input that once crashed, minimized) through the replay build of the harness
# tests/fuzz/NAME.c ($OVLBOX_BUILD/tests/fuzz/NAME, built by `make tests`, with ASan and UBSan
# under SANITIZE=1). A crash, sanitizer report or failed harness check exits non-zero.
#
# Env (set by tests/run.sh and the Makefile): OVLBOX_BUILD, OVLBOX_SRC.

: "${OVLBOX_BUILD:?set OVLBOX_BUILD (make check does)}"
: "${OVLBOX_SRC:?set OVLBOX_SRC (tests/run.sh does)}"

setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/ovlbox-fuzz-replay.XXXXXX")
}

teardown() {
	[[ -n ${T:-} ]] && rm -rf "$T"
}

# replay NAME: runs the whole corpus of NAME in one process.
replay() {
	local corpus=$OVLBOX_SRC/tests/fuzz/corpus/$1
	[[ -x $OVLBOX_BUILD/tests/fuzz/$1 ]] || {
		echo "$OVLBOX_BUILD/tests/fuzz/$1: not built (make tests)" >&2
		return 1
	}
	local files=("$corpus"/*)
	[[ -f ${files[0]} ]] || {
		echo "$corpus: no inputs" >&2
		return 1
	}
	# the harnesses' scratch dirs (config.json, the journal) go to $T
	run env TMPDIR="$T" "$OVLBOX_BUILD/tests/fuzz/$1" "${files[@]}"
	if [[ $status -ne 0 ]]; then
		printf '%s\n' "--- output ($status):" "$output" >&2
		return 1
	fi
}

@test "fuzz replay: every harness has a corpus and a test here" {
	local src name
	for src in "$OVLBOX_SRC"/tests/fuzz/*.c; do
		name=$(basename "$src" .c)
		[[ $name == replay ]] && continue
		[[ -d $OVLBOX_SRC/tests/fuzz/corpus/$name ]] || {
			echo "tests/fuzz/$name.c: no tests/fuzz/corpus/$name/" >&2
			return 1
		}
		grep -q "^@test \"fuzz replay: $name\"" "$BATS_TEST_FILENAME" || {
			echo "tests/fuzz/$name.c: no test in $BATS_TEST_FILENAME" >&2
			return 1
		}
	done
}

@test "fuzz replay: oci_state" {
	replay oci_state
}

@test "fuzz replay: oci_config" {
	replay oci_config
}

@test "fuzz replay: seccomp_profile" {
	replay seccomp_profile
}

@test "fuzz replay: journal" {
	replay journal
}

@test "fuzz replay: json" {
	replay json
}

@test "fuzz replay: mark" {
	replay mark
}

@test "fuzz replay: config_rewrite" {
	replay config_rewrite
}
