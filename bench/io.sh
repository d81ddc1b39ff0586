#!/usr/bin/env bash
# The seed's I/O matrix (DESIGN §6) with bench/io: read / write (new file) / copy-up (first
# write to an existing lower file) × 1 B .. 100 KiB × bare dir, overlay as ovlbox mounts it,
# overlay with kernel default options. Per cell one bench/timeit run (-m stdout: io measures
# ns/op itself), the three mounts interleaved, `sync` before each run (the previous run's
# removals are then written out and discarded, not in the next run's way). Every io process
# mounts in a private mount namespace of its own; nothing is mounted on the host.
#
# Copy-up also runs with a fourth mount, ovlbox's options without `volatile` (hand-mounted):
# overlayfs fsyncs every file it copies up unless mounted volatile.
#
# Env: OVLBOX_BUILD, OUT (appends to $OUT/summary.tsv), ROUNDS (default 7), IO_FILES (files per
# size for read, default 1000), IO_WRITE_FILES (default 200: creating a file costs up to 1 ms on
# this shared disk), IO_COPYUP_FILES (default 50: a copy-up up to 2 ms), IO_SIZES (default
# "1 1024 4096 8192 51200 102400").
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OVLBOX_BUILD:-$PWD/build/rel}
out=${OUT:-}
rounds=${ROUNDS:-7}
n=${IO_FILES:-1000}
nw=${IO_WRITE_FILES:-200}
ncu=${IO_COPYUP_FILES:-50}
read -r -a sizes <<<"${IO_SIZES:-1 1024 4096 8192 51200 102400}"
io=$build/bench/io
timeit=$build/bench/timeit

base=$(mktemp -d /var/tmp/ovlbox-bench-io.XXXXXX)
trap 'rm -rf "$base"' EXIT
tsv=$base/io.tsv
"$io" setup "$base" "$n"
sync

for op in read write copyup; do
	for s in "${sizes[@]}"; do
		k=$n extra=()
		[[ $op != write ]] || k=$nw
		if [[ $op == copyup ]]; then
			k=$ncu
			extra=(synced "$io synced $op $s $k $base")
		fi
		"$timeit" -m stdout -u ns -r "$rounds" -w 1 -p sync -t "io $op $s" -o "$tsv" \
			bare "$io bare $op $s $k $base" \
			ovlbox "$io ovlbox $op $s $k $base" \
			default "$io default $op $s $k $base" "${extra[@]}" >/dev/null
	done
done

# Seed ratios (overlay / bare, DESIGN §6; no copy-up figures there).
echo "### I/O matrix: ns per op (median of $rounds interleaved rounds; $n files per run for read, $nw for write, $ncu for copy-up)"
echo
echo "| op | size | bare | ovlbox overlay | default-options overlay | ovlbox / bare | default / bare | seed overlay / bare | ovlbox without volatile |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' '
	BEGIN {
		seed["read", 1] = 7824 / 6671; seed["read", 1024] = 7982 / 6887
		seed["read", 4096] = 8929 / 7860; seed["read", 8192] = 10076 / 9157
		seed["read", 51200] = 23179 / 22065; seed["read", 102400] = 35225 / 33563
		seed["write", 1] = 29462 / 21583; seed["write", 1024] = 29479 / 21704
		seed["write", 4096] = 29495 / 21603; seed["write", 8192] = 32434 / 24317
		seed["write", 51200] = 57340 / 49096; seed["write", 102400] = 84356 / 74746
	}
	{ split($1, t, " "); op = t[2]; s = t[3]; v[op, s, $2] = $3
	  if (!((op, s) in seen)) { seen[op, s] = 1; key[++n] = op SUBSEP s } }
	END {
		for (i = 1; i <= n; i++) {
			split(key[i], k, SUBSEP); op = k[1]; s = k[2]
			b = v[op, s, "bare"]
			sr = ((op, s) in seed) ? sprintf("%.3f", seed[op, s]) : "–"
			vol = ((op, s, "synced") in v) ? sprintf("%.0f", v[op, s, "synced"]) : "–"
			printf "| %s | %s | %.0f | %.0f | %.0f | %.3f | %.3f | %s | %s |\n", op, s, b,
				v[op, s, "ovlbox"], v[op, s, "default"], v[op, s, "ovlbox"] / b,
				v[op, s, "default"] / b, sr, vol
		}
	}' "$tsv"
echo
echo "read: open, read the whole file, close (warm: one untimed pass first); write: create a new file, write, close;"
echo "copyup: open an existing file O_WRONLY, write 1 byte at offset 0, close (bare: in place; overlay: copies the file up first)."
echo "ovlbox overlay: mounted by libovlbox as \`ovlbox run\` does (since 8eae7a7 with \`volatile\`); without volatile: the same options minus \`volatile\`, hand-mounted: overlayfs then fsyncs every file it copies up."
[[ -z $out ]] || cat "$tsv" >>"$out/summary.tsv"
