#!/usr/bin/env bash
# Evidence for where the time goes when a goal is missed (results.md "Profiles" section):
#   1. start-up ablation: `ovlbox run true` with parts of its isolation switched off, next to
#      unshare and bwrap (bench/timeit, interleaved);
#   2. `perf trace -s` over 10 `ovlbox run true`: kernel time per system call, all threads summed
#      (read/wait4 are the parent and the sandbox init waiting for each other, not work);
#   3. one compile: the system calls it makes (`strace -f -c`), `ovlbox run` of it next to
#      `--seccomp none` and `--on-exit discard` (bench/timeit), and the time the ovlbox process
#      itself (the apply, after the action) spends in fsync/syncfs (`strace -T`, no -f).
# perf's hardware counters may be missing in a VM (`perf stat -e instructions` is "not
# supported"); perf trace and software events work there too.
#
# Env: OVLBOX_BUILD, ROUNDS (default 20), BUILD_CACHE (as bench/build.sh: the zstd source).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OVLBOX_BUILD:-$PWD/build/rel}
rounds=${ROUNDS:-15}
timeit=$build/bench/timeit
ovlbox=$build/bin/ovlbox
cache=${BUILD_CACHE:-/var/tmp/ovlbox-bench-cache}

top=$(mktemp -d /var/tmp/ovlbox-bench-profile.XXXXXX)
trap 'rm -rf "$top"' EXIT
# As in bench/startup.sh: the workspaces in an ordinary dir that ext4 placed in its least-used
# block group, away from the files the benchmarks before this one removed under /var/tmp.
chattr +T "$top" 2>/dev/null || true
base=$(mktemp -d "$top/t.XXXXXX") # a random name: not the group the previous run churned
for i in 1 2 3 4 5 6; do mkdir -p "$base/ws$i"; done

echo "### 1. Start-up ablation: what each part of \`ovlbox run true\` costs"
echo
"$timeit" -r "$rounds" -w 3 -u ms -H \
	"unshare -mpinu --fork" "unshare -mpinu --fork true" \
	"unshare -mpiu --fork (no net ns)" "unshare -mpiu --fork true" \
	"ovlbox run (defaults)" "$ovlbox run --workspace $base/ws1 -- true" \
	"ovlbox run --net host" "$ovlbox run --net host --workspace $base/ws2 -- true" \
	"ovlbox run --seccomp none" "$ovlbox run --seccomp none --workspace $base/ws3 -- true" \
	"ovlbox run --cap-add ALL" "$ovlbox run --cap-add ALL --workspace $base/ws4 -- true" \
	"ovlbox run --net host --seccomp none --cap-add ALL" "$ovlbox run --net host --seccomp none --cap-add ALL --workspace $base/ws5 -- true" \
	"bwrap --unshare-all (pivot_root too)" "bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --unshare-all --die-with-parent true"

echo
if perf trace -s -o /dev/null -- true >/dev/null 2>&1; then
	echo "### 2. \`perf trace -s\`: kernel time per system call in \`ovlbox run true\` (mean of 10 runs, all its threads)"
	echo
	for i in $(seq 1 10); do
		perf trace -s -o "$base/trace.$i" -- "$ovlbox" run --workspace "$base/ws6" -- true
	done
	echo "| system call | calls per run | ms per run |"
	echo "|---|---:|---:|"
	cat "$base"/trace.* | awk '
		$1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ && $4 ~ /^[0-9.]+$/ { c[$1] += $2; t[$1] += $4 }
		END { for (s in t) printf "%s %.1f %.3f\n", s, c[s] / 10, t[s] / 10 }' |
		sort -k3,3 -g -r | head -12 | awk '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
	echo
	echo "The sandbox side, one run, every system call over 0.3 ms (perf trace --duration 0.3):"
	echo
	echo '```'
	perf trace --duration 0.3 -- "$ovlbox" run --workspace "$base/ws6" -- true 2>&1 |
		sed -E 's/^ *([0-9.]+) \( *([0-9.]+) ms\): ([^ ]+) ([a-z0-9_]+)\(.*/\2 ms  \3 \4/' | head -20
	echo '```'
else
	echo "### 2. perf trace: not available here"
fi

src=$( (find "$cache/src" -maxdepth 1 -type d -name 'libzstd-*' 2>/dev/null || true) | sort | tail -1)
if [[ -n $src ]]; then
	echo
	echo "### 3. One compile: system calls and sandbox parts"
	echo
	cp -a "$src" "$base/z"
	f=lib/compress/huf_compress.c
	(cd "$base/z" && strace -f -c -o "$base/strace.txt" cc -O1 -c "$f" -o /tmp/ovlbox-profile.$$.o)
	rm -f /tmp/ovlbox-profile.$$.o
	calls=$(awk '$NF == "total" { print $(NF - 2) }' "$base/strace.txt")
	echo "\`cc -O1 -c $f\` makes $calls system calls (strace -f -c); top 8:"
	echo
	echo '```'
	sed -n '1,2p;3,11p' "$base/strace.txt"
	echo '```'
	echo
	"$timeit" -r 5 -w 1 -1 -u ms -H -c "rm -f $base/z/lib/compress/huf_compress.o" \
		"bare cc -c" "sh -c 'cd $base/z && cc -O1 -c $f -o ${f%.c}.o'" \
		"ovlbox run" "$ovlbox run --workspace $base/z -- cc -O1 -c $f -o ${f%.c}.o" \
		"ovlbox run --seccomp none" "$ovlbox run --seccomp none --workspace $base/z -- cc -O1 -c $f -o ${f%.c}.o" \
		"ovlbox run --on-exit discard" "$ovlbox run --on-exit discard --workspace $base/z -- cc -O1 -c $f -o ${f%.c}.o"
	echo
	echo "The ovlbox process itself (not the action; \`strace -T\` without -f) in one \`ovlbox run\` of that compile, 5 runs:"
	echo
	echo "| run | wall ms | fsync/fdatasync/syncfs calls | ms in them | renames | ms in them |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for i in 1 2 3 4 5; do
		rm -f "$base/z/${f%.c}.o"
		t0=$(date +%s%N)
		strace -T -e trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2 -o "$base/st.$i" \
			"$ovlbox" run --workspace "$base/z" -- cc -O1 -c "$f" -o "${f%.c}.o"
		t1=$(date +%s%N)
		awk -v i="$i" -v w="$(((t1 - t0) / 1000))" -F'<' '
			/^(fsync|fdatasync|syncfs|sync)\(/ { n++; t += $NF + 0 }
			/^rename/ { rn++; rt += $NF + 0 }
			END { printf "| %d | %.1f | %d | %.1f | %d | %.2f |\n", i, w / 1000, n, t * 1000, rn, rt * 1000 }' "$base/st.$i"
	done
fi
