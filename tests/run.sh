#!/usr/bin/env bash
# Runs the C unit tests and every bats suite (but tests/package.bats: make check-deb); ends with
# "N passed, N failed[, N skipped]".
# Env: OVLBOX_BUILD (build dir with bin/, tests/unit/, tests/helpers/). Optional: TESTS="a.bats b.bats";
# OVLBOX_NO_UNITS=1 (bats suites only); OVLBOX_COUNTS=FILE (write "PASSED FAILED SKIPPED" there
# and print the counts as a subtotal, for a caller that prints one summary of several runs).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
: "${OVLBOX_BUILD:?set OVLBOX_BUILD}"
helpers=${OVLBOX_HELPERS:-$OVLBOX_BUILD/tests/helpers}
export OVLBOX_SRC="$PWD"

passed=0 failed=0 skipped=0
log=$(mktemp)
# The binaries, copied where the tests' unprivileged users can reach them whatever the clone's
# location (CI may clone under /root, mode 0700); /var/tmp, not /tmp, because sandboxes get a
# private /tmp but see the host's /var/tmp (read-only).
bin=$(mktemp -d /var/tmp/ovlbox-test-bin.XXXXXX)
trap 'rm -rf "$log" "$bin"' EXIT
mkdir "$bin/helpers"
cp "$OVLBOX_BUILD"/bin/* "$bin/"
for h in "$helpers"/*; do
	[[ -f $h && -x $h ]] && cp "$h" "$bin/helpers/"
done
chmod -R a+rX "$bin"
export OVLBOX="$bin/ovlbox" OVLBOX_HOOK="$bin/ovlbox-hook" OVLBOX_RUNTIME="$bin/ovlbox-runtime" OVLBOX_HELPERS="$bin/helpers"

for t in "$OVLBOX_BUILD"/tests/unit/*; do
	[[ -x $t && -z ${OVLBOX_NO_UNITS:-} ]] || continue
	if out=$("$t" 2>&1); then
		echo "ok unit/$(basename "$t")"
		passed=$((passed + 1))
	else
		echo "not ok unit/$(basename "$t")"
		printf '%s\n' "$out" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done

if [[ -n ${TESTS:-} ]]; then
	# word-split and glob-expand, so TESTS="tests/hook*.bats" works
	# shellcheck disable=SC2206
	suites=($TESTS)
else
	suites=()
	for s in tests/*.bats; do
		# the package's suite needs the package built: make check-deb runs it
		[[ $s == tests/package.bats ]] || suites+=("$s")
	done
fi
if [[ -e ${suites[0]} ]]; then
	bats --tap "${suites[@]}" 2>&1 | tee "$log"
	passed=$((passed + $(grep -cE '^ok [0-9]+' "$log" | tr -d ' ') - $(grep -cE '^ok [0-9]+ .*# skip' "$log")))
	skipped=$((skipped + $(grep -cE '^ok [0-9]+ .*# skip' "$log")))
	failed=$((failed + $(grep -cE '^not ok [0-9]+' "$log")))
	# A suite that failed to load (syntax error) prints no "not ok" lines: count it.
	planned=$(grep -m1 -oE '^1\.\.[0-9]+' "$log" | cut -d. -f3)
	ran=$(grep -cE '^(not )?ok [0-9]+' "$log")
	if [[ -n $planned && $ran -lt $planned ]]; then
		failed=$((failed + planned - ran))
	fi
fi

if [[ -n ${OVLBOX_COUNTS:-} ]]; then
	echo "$passed $failed $skipped" >"$OVLBOX_COUNTS"
	echo "subtotal: passed $passed, failed $failed, skipped $skipped"
else
	summary="$passed passed, $failed failed"
	[[ $skipped -gt 0 ]] && summary+=", $skipped skipped"
	echo "$summary"
fi
[[ $failed -eq 0 ]]
