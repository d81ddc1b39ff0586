#!/usr/bin/env bash
# Apply scaling and output discovery.
#
# Workspaces of {1,000, 10,000, 100,000} files (tests/helpers/mkfiles: 100 files per dir) get
# {100, 1,000, 10,000} changes each (bench/mkchanges: new files, modified inputs, deletions,
# new dirs), made once per workspace and change set by `ovlbox run --on-exit keep`. Then, per
# workspace and change set, interleaved (bench/timeit):
#   ovlbox apply    on a fresh copy of the layers, `sync` before every timed run: the workspace
#                   as hardlinks to the master (`cp -al`, as an executor stages inputs; apply never
#                   writes into an existing workspace inode; see $prep for how the copy is kept
#                   fresh between runs), the work dir by `cp -a`, and the
#                   upper by `cp -al` too, with the one thing apply changes in an upper inode put
#                   back after each run: it strips `trusted.overlay.origin` from the files it
#                   moves, so the master upper's xattrs are restored (`setfattr --restore`) from a
#                   dump taken when it was made. (`cp -a` of a 10,000-change upper took 6 s here,
#                   the apply 0.5 s. Without the restore, an apply on a `cp -al` upper was 4%
#                   faster than on a `cp -a` one: it had no xattrs left to strip.)
#   syscall floor   bench/floor: the same renames/unlinks and one syncfs, nothing else
#   cp -a           the copy the overlay replaces: the whole workspace (with 1,000 changes only:
#                   it does not depend on the change set), onto a tmpfs mounted in a private mount
#                   namespace: a lower bound of a copy on disk. (On this host's ext4, mounted with
#                   `discard`, a 100,000-file `cp -a` took 9-40 s and removing the copy 17-27 s:
#                   five rounds of that alone would not fit in the 15-minute budget.)
# Nothing is dropped from the page cache: every run reads a warm tree.
#
# Output discovery: `ovlbox diff --json` over the upper of 100 changes vs `find DIR -newer REF`
# over the same workspace with those changes applied, for each workspace size.
#
# Env: OVLBOX_BUILD, OUT (appends to $OUT/summary.tsv), APPLY_WS (default "1000 10000 100000"),
# APPLY_CHANGES (default "100 1000 10000"), ROUNDS (default 5), DIFF_ROUNDS (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OVLBOX_BUILD:-$PWD/build/rel}
out=${OUT:-}
rounds=${ROUNDS:-5}
diff_rounds=${DIFF_ROUNDS:-15}
read -r -a wsizes <<<"${APPLY_WS:-1000 10000 100000}"
read -r -a changes <<<"${APPLY_CHANGES:-100 1000 10000}"
timeit=$build/bench/timeit
ovlbox=$build/bin/ovlbox
mkfiles=$build/tests/helpers/mkfiles
for b in "$timeit" "$ovlbox" "$mkfiles" "$build/bench/mkchanges" "$build/bench/floor"; do
	[[ -x $b ]] || {
		echo "bench/apply.sh: $b not built" >&2
		exit 1
	}
done

base=$(mktemp -d /var/tmp/ovlbox-bench-apply.XXXXXX)
trap 'rm -rf "$base"' EXIT
tsv=$base/summary.tsv
: >"$tsv"

# Per-run preparation, by case (timeit sets TIMEIT_CASE); BENCH_* are exported below. The first
# run of a change set copies the whole workspace (`cp -al`); later runs put back only the
# top-level dirs the change set touches (the upper's top-level entries: apply and the floor go
# nowhere else), again by `cp -al` from the master. That leaves the same tree as a full copy and
# saves ~4 s of copying and removing 100,000 links per run.
# shellcheck disable=SC2016 # expanded by timeit's sh
prep='set -e
mkdir -p "$BENCH_RUN"
if [ "$TIMEIT_CASE" != "cp -a" ]; then
	if [ -d "$BENCH_RUN/ws" ]; then
		for d in $(ls -A "$BENCH_SET/upper"); do
			rm -rf "$BENCH_RUN/ws/$d"
			cp -al "$BENCH_WS/$d" "$BENCH_RUN/ws/$d"
		done
	else
		cp -al "$BENCH_WS" "$BENCH_RUN/ws"
	fi
	rm -rf "$BENCH_RUN/upper" "$BENCH_RUN/work"
	cp -al "$BENCH_SET/upper" "$BENCH_RUN/upper"
	cp -a "$BENCH_SET/work" "$BENCH_RUN/work"
fi
sync'
# shellcheck disable=SC2016
clean='rm -rf "$BENCH_RUN/upper" "$BENCH_RUN/work" "$BENCH_TMPFS/copy"
cd "$BENCH_SET/upper" && setfattr --restore="$BENCH_SET/xattrs"'
export BENCH_RUN=$base/run BENCH_TMPFS=$base/tmpfs
mkdir -p "$BENCH_TMPFS"

echo "Apply scaling ($rounds interleaved rounds after 1 warm-up run of apply; page cache warm, sync before each run)"
for w in "${wsizes[@]}"; do
	dir=$base/w$w
	ndirs=$((w / 100))
	t0=$SECONDS
	mkdir -p "$dir/ws"
	"$mkfiles" "$dir/ws" "$ndirs" 100
	sleep 0.01
	touch "$dir/ref" # older than every change, newer than every input
	sleep 0.01
	for c in "${changes[@]}" 100; do
		[[ -d $dir/c$c ]] && continue
		mkdir -p "$dir/c$c"
		"$ovlbox" run --on-exit keep --workspace "$dir/ws" --upper "$dir/c$c/upper" \
			--work "$dir/c$c/work" -- "$build/bench/mkchanges" "$c" "$ndirs" 100 \
			>"$dir/c$c/made"
		(cd "$dir/c$c/upper" && getfattr -R -P -d -m - -e hex . >"$dir/c$c/xattrs" 2>/dev/null)
	done
	sync
	echo
	echo "($w files: workspace and change sets made in $((SECONDS - t0)) s)"
	export BENCH_WS=$dir/ws
	for c in "${changes[@]}"; do
		export BENCH_SET=$dir/c$c
		cases=("ovlbox apply" "$ovlbox apply --upper $BENCH_RUN/upper --work $BENCH_RUN/work $BENCH_RUN/ws")
		cases+=("syscall floor" "$build/bench/floor $BENCH_RUN/upper $BENCH_RUN/ws")
		[[ $c != 1000 ]] || cases+=("cp -a" "cp -a $BENCH_WS $BENCH_TMPFS/copy")
		echo
		echo "$w files, $c changes: $(cat "$dir/c$c/made") (previous step: $((SECONDS - t0)) s)"
		t0=$SECONDS
		# shellcheck disable=SC2016 # expanded by the inner sh
		unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs "$0" && shift && exec "$@"' \
			"$BENCH_TMPFS" -- "$timeit" -r "$rounds" -w 1 -1 -u ms -H -p "$prep" -c "$clean" \
			-t "apply $w $c" -o "$tsv" "${cases[@]}" | tail -n +2
		rm -rf "$BENCH_RUN"
	done
done

# The summary table: one row per workspace size and change count.
echo
echo "### Apply: time and peak RSS of \`ovlbox apply\`, against the syscall floor and \`cp -a\`"
echo
echo "| workspace files | changes | apply median ms | min | max | peak RSS KiB | floor median ms | apply / floor | cp -a to tmpfs, median ms | apply / cp -a |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
	{ split($1, t, " "); w = t[2]; c = t[3] }
	$2 == "ovlbox apply" { am[w, c] = $3; amin[w, c] = $4; amax[w, c] = $5; rss[w, c] = $7; key[++n] = w SUBSEP c }
	$2 == "syscall floor" { fl[w, c] = $3 }
	$2 == "cp -a" { cp[w] = $3 }
	END {
		for (i = 1; i <= n; i++) {
			split(key[i], k, SUBSEP); w = k[1]; c = k[2]
			printf "| %d | %d | %.1f | %.1f | %.1f | %d | %.1f | %.2f | %.1f | %.3f |\n",
				w, c, am[w, c], amin[w, c], amax[w, c], rss[w, c], fl[w, c],
				am[w, c] / fl[w, c], cp[w], (cp[w] > 0 ? am[w, c] / cp[w] : 0)
		}
		if ((100000 SUBSEP 1000) in am && (1000 SUBSEP 1000) in am)
			printf "\n1,000 changes at 100,000 vs 1,000 files: **%.2f×** (goal ≤ 1.2×); vs the syscall floor at 100,000 files: **%.2f×** (goal ≤ 3×).\n",
				am[100000, 1000] / am[1000, 1000], am[100000, 1000] / fl[100000, 1000]
	}' "$tsv"

# Evidence: the system calls of one apply of 1,000 changes, smallest vs largest workspace.
wmin=${wsizes[0]} wmax=${wsizes[-1]}
if [[ " ${changes[*]} " == *" 1000 "* && $wmin != "$wmax" ]] && command -v strace >/dev/null; then
	for w in "$wmin" "$wmax"; do
		BENCH_WS=$base/w$w/ws BENCH_SET=$base/w$w/c1000 TIMEIT_CASE=strace sh -c "$prep"
		strace -f -c -o "$base/strace.$w" "$ovlbox" apply --upper "$BENCH_RUN/upper" \
			--work "$BENCH_RUN/work" "$BENCH_RUN/ws"
		BENCH_SET=$base/w$w/c1000 sh -c "$clean"
		rm -rf "$BENCH_RUN"
	done
	echo
	echo "System calls of one \`ovlbox apply\` of the 1,000 changes (\`strace -f -c\`; strace inflates the times):"
	echo
	echo "| system call | calls, $wmin files | calls, $wmax files | s, $wmin files | s, $wmax files |"
	echo "|---|---:|---:|---:|---:|"
	awk '
		FNR == 1 { f++ }
		NF >= 5 && $1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ {
			c[$NF, f] = $4; t[$NF, f] = $2; seen[$NF] = 1 }
		END { for (n in seen) printf "%s %d %d %s %s\n", n, c[n, 1], c[n, 2], t[n, 1], t[n, 2] }' \
		"$base/strace.$wmin" "$base/strace.$wmax" | sort -k3,3 -n -r | head -12 |
		awk '{ printf "| %s | %d | %d | %s | %s |\n", $1, $2, $3, $4, $5 }'
fi

# Output discovery.
echo
echo "### Output discovery: \`ovlbox diff --json\` (reads the upper) vs \`find DIR -newer REF\` (walks the workspace), 100 changes"
echo
echo "| workspace files | case | median ms | min ms | max ms | ratio to find | CPU s | CPU ratio | peak RSS KiB |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for w in "${wsizes[@]}"; do
	dir=$base/w$w
	# The workspace as it is after the action, applied: hardlinks to the inputs, changes in.
	rm -rf "$base/after" "$base/set"
	cp -al "$dir/ws" "$base/after"
	cp -a "$dir/c100/." "$base/set"
	"$ovlbox" apply --upper "$base/set/upper" --work "$base/set/work" "$base/after"
	n_find=$(find "$base/after" -newer "$dir/ref" | wc -l)
	n_diff=$("$ovlbox" diff --upper "$dir/c100/upper" "$dir/ws" | wc -l)
	"$timeit" -r "$diff_rounds" -w 2 -u ms -t "diff $w" -o "$tsv" \
		"find -newer" "find $base/after -newer $dir/ref" \
		"ovlbox diff --json" "$ovlbox diff --json --upper $dir/c100/upper $dir/ws" |
		tail -n +5 | sed "s/^| /| $w | /"
	echo "| $w | (paths reported: find $n_find, diff $n_diff) | | | | | | | |"
	rm -rf "$base/after" "$base/set"
done
[[ -z $out ]] || cat "$tsv" >>"$out/summary.tsv"
