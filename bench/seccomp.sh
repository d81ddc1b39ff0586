#!/usr/bin/env bash
# Per-system-call cost of the seccomp filters `ovlbox run` can install: ns per getppid() with no
# filter, with the built-in default profile and with containers-common's seccomp.json.
# Runs are interleaved (one run of each filter per round) so that machine drift hits every
# filter alike; prints a markdown table of the median, min and max over the rounds.
#
# Env: OVLBOX_BUILD  build dir with tests/helpers/{seccomp_exec,syscall_probe} (default build/rel)
#      ROUNDS        rounds, at least 5 (default 9)
#      ITERS         getppid() calls per run (default 1000000)
#      CC_PROFILE    containers-common profile (default /usr/share/containers/seccomp.json)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${OVLBOX_BUILD:-$PWD/build/rel}
rounds=${ROUNDS:-9}
iters=${ITERS:-1000000}
cc_profile=${CC_PROFILE:-/usr/share/containers/seccomp.json}
exec_helper=$build/tests/helpers/seccomp_exec
probe=$build/tests/helpers/syscall_probe

for h in "$exec_helper" "$probe"; do
	if [[ ! -x $h ]]; then
		echo "bench/seccomp.sh: $h missing (make ${h#"$PWD"/})" >&2
		exit 1
	fi
done
if [[ ! $rounds =~ ^[0-9]+$ || $rounds -lt 5 ]]; then
	echo "bench/seccomp.sh: ROUNDS must be a number >= 5" >&2
	exit 1
fi

filters=(none default)
labels=("no filter" "default (built-in)")
if [[ -r $cc_profile ]]; then
	filters+=("$cc_profile")
	labels+=("containers-common seccomp.json")
else
	echo "bench/seccomp.sh: $cc_profile not readable, skipping it" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for ((r = 1; r <= rounds; r++)); do
	for i in "${!filters[@]}"; do
		"$exec_helper" "${filters[i]}" -- "$probe" --bench "$iters" >>"$tmp/$i"
	done
done

# stats FILE: "median min max" of the numbers in FILE.
stats() {
	sort -g "$1" | awk '{ v[NR] = $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}

echo "ns per getppid() ($rounds interleaved rounds of $iters calls; $(uname -r), $(nproc) CPUs)"
echo
echo "| filter | BPF instructions | median ns | min ns | max ns | median overhead |"
echo "|---|---:|---:|---:|---:|---:|"
base=
for i in "${!filters[@]}"; do
	read -r med min max < <(stats "$tmp/$i")
	if [[ ${filters[i]} == none ]]; then
		insns=0
		base=$med
	else
		insns=$("$exec_helper" --insns "${filters[i]}")
	fi
	over=$(awk -v m="$med" -v b="$base" 'BEGIN { printf "%+.1f ns", m - b }')
	echo "| ${labels[i]} | $insns | $med | $min | $max | $over |"
done
