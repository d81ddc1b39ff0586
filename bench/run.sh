#!/usr/bin/env bash
# `make bench`: every benchmark of issue 5, in one go, on the shared timing helper bench/timeit.
# Prints the tables as they come, then writes bench/results.md (machine, tables, goals, profile
# evidence) and gnuplot PNG plots beside it. Needs root (mounts in private namespaces, runtimes).
#
# Env: OVLBOX_BUILD (set by make), QUICK=1 for a fast smoke run with few rounds (not a result),
# ONLY="io startup hook recycle runtime seccomp apply build profile" to run a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
only=${ONLY:-io startup hook recycle runtime seccomp apply build profile}
results=bench/results.md
work=$(mktemp -d /var/tmp/ovlbox-bench-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The binaries under test, copied once: the build dir is shared with whoever runs `make` in this
# tree meanwhile, and one run must measure one build.
src_build=${OVLBOX_BUILD:-$PWD/build/rel}
mkdir -p "$work/build/tests"
cp -a "$src_build/bin" "$src_build/bench" "$work/build/"
cp -a "$src_build/tests/helpers" "$work/build/tests/"
export OVLBOX_BUILD=$work/build
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- lib sandbox hook include 2>/dev/null || echo ' + uncommitted changes in lib/ sandbox/ hook/')"
export OUT=$work
: >"$OUT/summary.tsv"
t_start=$(date +%s)

if [[ ${QUICK:-} == 1 ]]; then
	q_io=(ROUNDS=2 IO_FILES=200) q_start=(ROUNDS=3 WARMUP=1 HOOK_ROUNDS=3) q_sec=(ROUNDS=5 ITERS=200000)
	q_apply=(ROUNDS=1 APPLY_WS="1000 10000" APPLY_CHANGES="100 1000" DIFF_ROUNDS=2)
	q_build=(ROUNDS=1 BUILD_CFLAGS=-O0 PER_CC_FILES="lib/common/debug.c lib/common/xxhash.c")
	q_hook=5 q_rec=(ROUNDS=3 WARMUP=1) q_runtime=5
else
	q_io=() q_start=() q_sec=(ROUNDS=9) q_apply=() q_build=() q_hook=300 q_rec=(ROUNDS=15) q_runtime=30
fi

# section NAME TITLE CMD...: runs one benchmark, its output to the terminal and to a part file.
section() {
	local name=$1 title=$2 t0 rc=0
	shift 2
	[[ " $only " == *" $name "* ]] || return 0
	t0=$(date +%s)
	echo
	echo "## $title"
	echo
	{
		echo "## $title"
		echo
	} >"$work/part.$name"
	"$@" 2>"$work/err.$name" | tee -a "$work/part.$name" || rc=$?
	if [[ $rc -ne 0 ]]; then
		{
			echo
			echo "**FAILED** (exit $rc):"
			echo
			echo '```'
			tail -20 "$work/err.$name"
			echo '```'
		} | tee -a "$work/part.$name"
	fi
	printf '\n_(%s: %d s)_\n' "$name" $(($(date +%s) - t0)) | tee -a "$work/part.$name"
}

hook_section() {
	if [[ -f bench/hook.sh ]]; then
		OVLBOX_HOOK=$OVLBOX_BUILD/bin/ovlbox-hook bash bench/hook.sh "$q_hook"
	else
		echo "NOT RUN: bench/hook.sh (runc ± hook, by the hook's author) is not in this tree; start-up above has runc ± hook."
	fi
}

load_start=$(uptime)
# Start-up and hook first: each of their runs creates and removes a few inodes on the disk, and
# on this machine's ext4 (no journal) creating an inode steps over every inode freed in the last
# minute or more (recently_deleted() in the kernel, a block lookup each): after the other
# benchmarks have removed their many thousands of files, one mkdir costs up to a millisecond
# of CPU for minutes (`perf record`: recently_deleted, find_inode_bit, find_get_block_common).
section startup "Start-up (bench/startup.sh)" env "${q_start[@]}" bench/startup.sh
section hook "runc ± ovlbox-hook (bench/hook.sh, the hook author's script)" hook_section
section recycle "Recycled runners (bench/recycle.sh)" env "${q_rec[@]}" bench/recycle.sh
section runtime "ovlbox-runtime under Docker (bench/runtime.sh)" bash bench/runtime.sh "$q_runtime"
section io "I/O matrix (bench/io.c)" env "${q_io[@]}" bench/io.sh
section seccomp "seccomp overhead (bench/seccomp.sh)" env "${q_sec[@]}" bench/seccomp.sh
section apply "Apply scaling and output discovery (bench/apply.sh)" env "${q_apply[@]}" bench/apply.sh
section build "Real builds (bench/build.sh)" env "${q_build[@]}" bench/build.sh
section profile "Profiles of the missed goals (bench/profile.sh)" bench/profile.sh
load_end=$(uptime)
elapsed=$(($(date +%s) - t_start))

# --- goals ---------------------------------------------------------------------------------------
# med TITLE_PREFIX NAME: the median of that row of summary.tsv.
med() {
	awk -F'\t' -v t="$1" -v n="$2" 'index($1, t) == 1 && $2 == n { print $3; exit }' "$OUT/summary.tsv"
}
goal() { # goal LABEL NUM DEN LIMIT
	local label=$1 num=$2 den=$3 limit=$4
	if [[ -z $num || -z $den ]]; then
		echo "| $label | not measured | ≤ $limit | – |"
		return
	fi
	awk -v l="$label" -v a="$num" -v b="$den" -v g="$limit" 'BEGIN {
		r = a / b; printf "| %s | %.3f | ≤ %s | %s |\n", l, r, g, (r <= g ? "met" : "**missed**") }'
}
st="Start-up"
goals=$(
	echo "| goal | measured | target | verdict |"
	echo "|---|---:|---:|---|"
	goal "\`ovlbox run true\` / \`unshare -mpinu --fork true\`" "$(med "$st" "ovlbox run")" "$(med "$st" "unshare -mpinu --fork")" 1.5
	goal "the same, workspace on a journaled ext4 (loop image)" "$(med "$st" "ovlbox run (journaled ext4)")" "$(med "$st" "unshare -mpinu --fork")" 1.5
	goal "\`ovlbox run true\` / \`runc run\`" "$(med "$st" "ovlbox run")" "$(med "$st" "runc run")" 0.2
	goal "rootless \`ovlbox run true\`: 100,000 / 100 workspace files" "$(med "$st, rootless" "ovlbox run, rootless, 100,000 files")" "$(med "$st, rootless" "ovlbox run, rootless, 100 files")" 1.2
	goal "\`runc run\` + hook / \`runc run\`" "$(med "Hook start-up" "runc run + hook")" "$(med "Hook start-up" "runc run")" 1.10
	goal "the same, workspace on a journaled ext4 (loop image)" "$(med "Hook start-up" "runc run + hook (journaled ext4)")" "$(med "Hook start-up" "runc run")" 1.10
	goal "the same, bench/hook.sh" "$(med "ovlbox-hook cost" "runc run + ovlbox-hook (createRuntime + poststop, 0 changes)")" "$(med "ovlbox-hook cost" "runc run (workspace bind mount)")" 1.10
	rs="recycle stages (runc, 0 changes)"
	goal "\`ovlbox-hook unmount\` + \`mount\`, 0 changes, runc: ms over \`sh -c :\`" \
		"$(awk -v a="$(med "$rs" "unmount + mount")" -v b="$(med "$rs" "sh -c : (the shell alone)")" 'BEGIN { if (a != "" && b != "") print a - b }')" 1 3
	goal "recycled action / fresh podman container, 0 changes" "$(med "recycle podman 0" "podman exec + unmount + mount (recycled, 0 changes)")" "$(med "recycle podman 0" "podman run --rm + hook (fresh container, 0 changes)")" 0.333
	goal "recycled action / fresh podman container, 1,000 changes" "$(med "recycle podman 1k" "podman exec + unmount + mount (recycled, 1,000 changes)")" "$(med "recycle podman 1k" "podman run --rm + hook (fresh container, 1,000 changes)")" 0.333
	goal "apply 1,000 changes: 100,000 / 1,000 files" "$(med "apply 100000 1000" "ovlbox apply")" "$(med "apply 1000 1000" "ovlbox apply")" 1.2
	goal "apply 1,000 changes at 100,000 files / syscall floor" "$(med "apply 100000 1000" "ovlbox apply")" "$(med "apply 100000 1000" "syscall floor")" 3
	goal "whole build in one \`ovlbox run\` / bare" "$(med "(a)" "one ovlbox run")" "$(med "(a)" "bare")" 1.03
	goal "one \`ovlbox run\` per compile / bare compiles" "$(med "(b)" "ovlbox run per cc -c")" "$(med "(b)" "bare cc -c")" 1.05
)
echo
echo "## Goals"
echo
echo "$goals"

# --- plots ---------------------------------------------------------------------------------------
plots=()
if command -v gnuplot >/dev/null; then
	d=$work
	awk -F'\t' 'index($1, "Start-up") == 1 { printf "\"%s\" %s %s %s\n", $2, $3, $4, $5 }' "$OUT/summary.tsv" >"$d/startup.dat"
	for op in read write copyup; do
		awk -F'\t' -v op="$op" '{ split($1, t, " ") } t[1] == "io" && t[2] == op {
			v[t[3], $2] = $3; if (!(t[3] in s)) { s[t[3]] = 1; k[++n] = t[3] } }
			END { for (i = 1; i <= n; i++) print k[i], v[k[i], "bare"], v[k[i], "ovlbox"], v[k[i], "default"],
				((k[i], "synced") in v) ? v[k[i], "synced"] : "NaN" }' \
			"$OUT/summary.tsv" >"$d/io-$op.dat"
	done
	# One file per change count (apply-C.dat, floor-C.dat): W median.
	awk -F'\t' -v d="$d" '{ split($1, t, " ") } t[1] == "apply" && $2 == "ovlbox apply" { print t[2], $3 >(d "/apply-" t[3] ".dat") }
		t[1] == "apply" && $2 == "syscall floor" { print t[2], $3 >(d "/floor-" t[3] ".dat") }' "$OUT/summary.tsv"
	cat "$d"/apply-*.dat >"$d/apply.dat" 2>/dev/null || : >"$d/apply.dat"
	awk -F'\t' '$1 ~ /^\((a|b)\)/ { printf "\"%s %s\" %s\n", substr($1, 1, 3), $2, $6 }' "$OUT/summary.tsv" >"$d/build.dat"
	if [[ -s $d/startup.dat ]]; then
		gnuplot <<EOF && plots+=(startup.png)
set terminal png size 1000,500
set output "bench/startup.png"
set title "Start-up: wall time of 'true' (median, min-max bars; log scale)"
set ylabel "ms"
set logscale y
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by -30 left
set grid ytics
set bmargin 7
plot "$d/startup.dat" using 0:2:3:4:(0.6):xtic(1) with boxerrorbars notitle lc rgb "#4477aa"
EOF
	fi
	if [[ -s $d/io-read.dat ]]; then
		gnuplot <<EOF && plots+=(io.png)
set terminal png size 1200,420
set output "bench/io.png"
set multiplot layout 1,3 title "I/O matrix: ns per op (median)"
set logscale x
set logscale y
set xrange [0.5:200000]
set xtics ("1" 1, "1K" 1024, "8K" 8192, "100K" 102400)
set xlabel "file size (bytes)"
set grid
set key top left
do for [op in "read write copyup"] {
	set title op
	plot "$d/io-".op.".dat" using 1:2 with linespoints title "bare", \
	     "" using 1:3 with linespoints title "ovlbox overlay", \
	     "" using 1:4 with linespoints title "default overlay", \
	     "" using 1:5 with linespoints title "ovlbox without volatile"
}
unset multiplot
EOF
	fi
	if [[ -s $d/apply.dat ]]; then
		gnuplot <<EOF && plots+=(apply.png)
set terminal png size 900,500
set output "bench/apply.png"
set title "ovlbox apply vs workspace size (median; dashed: syscall floor)"
set xlabel "workspace files"
set ylabel "ms"
set logscale xy
set grid
set key top left
set xrange [500:200000]
plot for [c in "100 1000 10000"] "$d/apply-".c.".dat" using 1:2 with linespoints lw 2 title c." changes", \
     for [c in "100 1000 10000"] "$d/floor-".c.".dat" using 1:2 with lines dt 2 lc rgb "gray" notitle
EOF
	fi
	if [[ -s $d/build.dat ]]; then
		gnuplot <<EOF && plots+=(build.png)
set terminal png size 900,450
set output "bench/build.png"
set title "Real build (zstd): time relative to bare (median)"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set xtics rotate by -25 left
set bmargin 7
set grid ytics
plot "$d/build.dat" using 0:2:xtic(1) with boxes notitle lc rgb "#228833", 1.0 notitle dt 2 lc rgb "black"
EOF
	fi
fi

# The raw medians, for anyone who wants to plot or compare runs (timeit -o format, see bench/timeit.c).
cp "$OUT/summary.tsv" bench/results.tsv

# --- results.md ---------------------------------------------------------------------------------
fs_line=$(df -T /var/tmp | awk 'NR == 2 { print $2 " on " $1 }')
fs_opts=$(awk '$2 == "/" { print $4 }' /proc/mounts)
{
	echo "# ovlbox benchmark results"
	echo
	echo "Generated by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'); the whole run took $((elapsed / 60)) min $((elapsed % 60)) s."
	[[ ${QUICK:-} != 1 ]] || echo "**QUICK=1 smoke run: too few rounds to be a result.**"
	echo
	echo "| machine | |"
	echo "|---|---|"
	echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPUs ($(lscpu | sed -n 's/^Hypervisor vendor: *//p') guest) |"
	echo "| memory | $(free -g | awk '/^Mem:/ { print $2 }') GiB |"
	echo "| kernel | $(uname -r) |"
	echo "| filesystem | $fs_line ($fs_opts); benchmarks run under /var/tmp |"
	echo "| overlay module defaults | $(for p in index redirect_dir metacopy xino_auto; do printf '%s=%s ' "$p" "$(cat /sys/module/overlay/parameters/$p 2>/dev/null)"; done)|"
	echo "| ovlbox | $revision; binaries copied at the start of the run |"
	echo "| tools | $(runc --version 2>/dev/null | head -1), crun $(crun --version 2>/dev/null | sed -n 's/^crun version //p'), podman $(podman --version 2>/dev/null | awk '{ print $3 }'), bubblewrap $(bwrap --version 2>/dev/null | awk '{ print $2 }'), $(cc --version | head -1) |"
	echo "| load at start | $load_start |"
	echo "| load at end | $load_end |"
	echo
	echo "The machine may be shared: other test suites may run at the same time (see the load"
	echo "averages above; a load near or above 2 on 2 vCPUs means the numbers are noisy). Every comparison"
	echo "runs interleaved (A B C, A B C, ...) after warm-up rounds, so drift hits every case alike;"
	echo "medians with min and max. The page cache is never dropped: every run reads warm trees."
	echo
	echo "## Goals"
	echo
	echo "$goals"
	echo
	for p in "${plots[@]}"; do echo "![$p]($p)"; done
	echo
	echo "Raw medians of this run: [results.tsv](results.tsv) (title, case, median, min, max, ratio, peak RSS KiB, CPU s, CPU ratio)."
	echo
	for name in $only; do
		[[ -f $work/part.$name ]] && cat "$work/part.$name" && echo
	done
	echo "What the time goes to, per benchmark: [bench/analysis.md](analysis.md)."
} >"$results"
echo
echo "bench/run.sh: wrote $results and ${plots[*]:-no plots} in $((elapsed / 60)) min $((elapsed % 60)) s"
