#!/usr/bin/env bats
# Randomized differential test of apply (DESIGN §3): for each seed, a random tree is added to the
# fixture's workspace (files, cache hardlinks, dirs, symlinks, fifos, hardlinks; random modes,
# xattrs and times), an action makes random changes to it in the overlay (tests/helpers/randfs:
# writes, truncation, chmod, times, xattrs, mkdir, rm -r, renames over files and empty dirs, dirs
# moved like mv does, exchanges, hardlinks, symlinks, fifos, file <-> dir, dirs removed and made
# again), and the workspace after apply must equal the action's view (tests/helpers/treesnap:
# type, mode, owner, bytes, targets, times of every entry, xattrs, hardlink groups), with upper and
# work gone and the cache intact.
#
# Seeds are fixed, so a failure reproduces: RANDFS_SEEDS=FIRST-LAST (default 1-30) and
# RANDFS_OPS (changes per action, default 40) choose others, e.g. a long run with
# RANDFS_SEEDS=1-2000 TESTS=tests/core_random.bats make check; RANDFS_CRASH_SEEDS (default 1-8)
# and RANDFS_CRASHES (crash points per seed, default 6) for the crash tests. A failing seed
# prints the changes the action made and the snapshot diff.

load lib/common
load lib/crash

RANDFS=$OVLBOX_HELPERS/randfs

# report SEED WHY: the reason, and the changes the action made, on fd 3.
report() {
	{
		echo "seed $1 ($MODE): $2"
		echo "the action's changes:"
		cat "$IO/ops.log" 2>/dev/null
	} | sed 's/^/# /' >&3
}

# seed_action SEED [RUN-OPTION...]: a fresh fixture with the seed's random tree, and the seed's
# action run on it, its view in $T/snap.in. 0, or 1 with the reason reported.
seed_action() {
	local seed=$1 flags=()
	shift
	[[ $MODE == root ]] && flags=(--root)
	FX_NAME=fx$seed make_fixture
	# built as root (the fixture has read-only parts), then given to the mode's user
	"$RANDFS" tree "$seed" "$WS" "$CACHE" 60 2>"$T/tree.log" || {
		echo "# seed $seed: randfs tree failed: $(cat "$T/tree.log")" >&3
		return 1
	}
	[[ $MODE == user ]] && chown -R -h "$TEST_UID:$TEST_GID" "$FX"
	snapshot_cache
	rm -f "$IO/snap.in" "$IO/ops.log"
	run orun "$@" -- sh -c "$(shq "$RANDFS") ops $seed . ${RANDFS_OPS:-40} ${flags[*]} \
		2>$(shq "$IO/ops.log") && $(shq "$TREESNAP") . >$(shq "$IO/snap.in")"
	if [[ $status -ne 0 || ! -s $IO/snap.in ]]; then
		report "$seed" "ovlbox run exited $status: $output"
		return 1
	fi
	cp "$IO/snap.in" "$T/snap.in"
}

# same_as_view SEED SNAPSHOT: 0 when SNAPSHOT (of a workspace after apply) is the action's view
# in $T/snap.in; otherwise 1, with the difference reported.
same_as_view() {
	cp "$T/snap.in" "$T/view"
	cp "$2" "$T/after"
	if [[ $MODE == user ]]; then
		# hardlink groups seen inside a userxattr overlay are unreliable (run_action)
		sed -i -E 's/ link=[0-9]+$//' "$T/view" "$T/after"
	fi
	if ! diff -u "$T/view" "$T/after" >"$T/snap.diff"; then
		report "$1" "the workspace after apply differs from the action's view (- inside, + after):
$(head -40 "$T/snap.diff")"
		return 1
	fi
}

# check_seed SEED: 0 when the workspace after apply is what the action saw, upper and work are
# gone and the cache is intact; otherwise 1, with the reason reported. Explicit checks (no
# `fail`), so that the caller can go on with the next seed.
check_seed() {
	seed_action "$1" || return 1
	snap "$WS" >"$T/snap.out"
	same_as_view "$1" "$T/snap.out" || return 1
	if [[ -e $WS.upper || -e $WS.work ]]; then
		report "$1" "upper or work left behind"
		return 1
	fi
	if ! "$TREESNAP" --no-links "$CACHE" | diff -u "$T/cache.before" - >"$T/cache.diff"; then
		report "$1" "the cache changed: $(cat "$T/cache.diff")"
		return 1
	fi
	rm -rf "$FX"
}

# check_crash_seed SEED: the seed's action with --on-exit keep; its apply, killed just before
# RANDFS_CRASHES (default 6) of its changing system calls drawn by the seed, one at a time, and
# applied again, must give what the uninterrupted apply gives, which must be the action's view
# (lib/crash.bash). 0, or 1 with the reasons reported.
check_crash_seed() {
	local seed=$1
	seed_action "$seed" --on-exit keep || return 1
	local scenario=$T/scenario$seed
	rm -rf "$scenario"
	cp -a "$FX" "$scenario"
	copy_scenario "$scenario" "$T/ref"
	traced_apply_points "$T/ref/ws" "$T/ref.trace" "$T/points" || {
		report "$seed" "the uninterrupted apply failed"
		return 1
	}
	snap "$T/ref/ws" >"$T/ref.snap"
	same_as_view "$seed" "$T/ref.snap" || return 1
	local sc n bad=0
	while read -r sc n; do
		crash_trial "$scenario" "$sc" "$n" "$T/ref.snap" || bad=1
	done < <(awk -v k="${RANDFS_CRASHES:-6}" -v s="$seed" '
		{ p[NR] = $0 }
		END { srand(s); for (i = 0; i < k && NR > 0; i++) print p[int(rand() * NR) + 1] }' \
		"$T/points")
	[[ $bad -eq 0 ]] || {
		report "$seed" "a resumed apply went wrong (above)"
		return 1
	}
	rm -rf "$FX" "$scenario"
}

# run_seeds CHECK MODE RANGE: CHECK for every seed of RANGE (FIRST-LAST); fails listing the
# seeds that went wrong.
run_seeds() {
	use_mode "$2"
	local range=$3 bad=() s
	[[ $range =~ ^([0-9]+)-([0-9]+)$ ]] || fail "seeds: want FIRST-LAST, got $range"
	for ((s = BASH_REMATCH[1]; s <= BASH_REMATCH[2]; s++)); do
		"$1" "$s" || bad+=("$s")
	done
	[[ ${#bad[@]} -eq 0 ]] || fail "seeds that went wrong ($2): ${bad[*]}"
}

@test "random trees and random changes: the workspace after apply is the action's view (root)" {
	run_seeds check_seed root "${RANDFS_SEEDS:-1-30}"
}

@test "random trees and random changes: the workspace after apply is the action's view (user)" {
	run_seeds check_seed user "${RANDFS_SEEDS:-1-30}"
}

@test "random changes: an apply killed at random points and resumed gives the action's view (root)" {
	run_seeds check_crash_seed root "${RANDFS_CRASH_SEEDS:-1-8}"
}

@test "random changes: an apply killed at random points and resumed gives the action's view (user)" {
	run_seeds check_crash_seed user "${RANDFS_CRASH_SEEDS:-1-8}"
}
