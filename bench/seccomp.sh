#!/usr/bin/env bash
# Per-system-call cost of the seccomp filters `ovlbox run` can install: ns per getppid() with no
# filter, with a filter that allows everything (the cost of having any filter), with the built-in
# default profile and with containers-common's seccomp.json.
# Runs are interleaved (one run of each filter per round, after a warm-up round) by the shared
# helper bench/timeit, so that machine drift hits every filter alike; prints a markdown table of
# the median, min and max over the rounds.
#
# Env: OVLBOX_BUILD  build dir with tests/helpers/{seccomp_exec,syscall_probe} and bench/timeit
#                    (default build/rel)
#      OUT           if set, the medians are appended to $OUT/summary.tsv
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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The floor of any filter: with one installed, every system call takes the kernel's slow entry
# path, even where its action cache answers without running the program (as it does for every
# system call a profile allows whatever the arguments).
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' >"$tmp/allow-all.json"
filters=(none "$tmp/allow-all.json" default)
labels=("no filter" "allow everything (reference: the cost of any filter)" "default (built-in)")
if [[ -r $cc_profile ]]; then
	filters+=("$cc_profile")
	labels+=("containers-common seccomp.json")
else
	echo "bench/seccomp.sh: $cc_profile not readable, skipping it" >&2
fi

timeit=$build/bench/timeit
[[ -x $timeit ]] || {
	echo "bench/seccomp.sh: $timeit missing (make ${timeit#"$PWD"/})" >&2
	exit 1
}

# One bench/timeit run: the filters interleaved, one warm-up round; the probe prints ns/call.
cases=()
for i in "${!filters[@]}"; do
	cases+=("${labels[i]}" "$exec_helper ${filters[i]} -- $probe --bench $iters")
done
"$timeit" -m stdout -u ns -r "$rounds" -w 1 -t seccomp -o "$tmp/summary.tsv" "${cases[@]}" >/dev/null

echo "ns per getppid() ($rounds interleaved rounds of $iters calls after 1 warm-up; $(uname -r), $(nproc) CPUs)"
echo
echo "| filter | BPF instructions | median ns | min ns | max ns | median overhead |"
echo "|---|---:|---:|---:|---:|---:|"
base=
i=0
while IFS=$'\t' read -r _ _ med min max _ _; do
	if [[ ${filters[i]} == none ]]; then
		insns=0
		base=$med
	else
		insns=$("$exec_helper" --insns "${filters[i]}")
	fi
	over=$(awk -v m="$med" -v b="$base" 'BEGIN { printf "%+.1f ns", m - b }')
	echo "| ${labels[i]} | $insns | $med | $min | $max | $over |"
	i=$((i + 1))
done <"$tmp/summary.tsv"
[[ -z ${OUT:-} ]] || cat "$tmp/summary.tsv" >>"$OUT/summary.tsv"
