#!/usr/bin/env bash
# Real builds: zstd from its Debian source package, staged as an executor stages inputs (every
# source file a hardlink into a content-addressed cache dir), built
#   (a) whole: `make -j2 -C lib libzstd.a` bare, inside one `ovlbox run` (outputs applied on
#       exit), and in a full `cp -a` copy of the workspace (copy included in the time); the
#       library without its dictionary builder, legacy formats and deprecated API (zstd's own
#       Makefile switches; BUILD_MAKEVARS) to fit the 15-minute budget: 26 objects;
#   (b) one action per compile: `cc -c` of each of a set of files, bare, each in its own
#       `ovlbox run`, and each in its own `runc run` with ovlbox-hook (createRuntime + poststop).
# Every case gets a freshly staged workspace (`cp -al` of the staged template, untimed).
#
# The source comes from `apt-get source` through a private apt configuration (its own
# sources.list with a deb-src line, its own lists and archives; the system's apt sources are
# not touched), into a cache dir that later runs reuse.
#
# Env: OVLBOX_BUILD, OUT (appends to $OUT/summary.tsv), ROUNDS (default 5),
#      BUILD_CACHE (default /var/tmp/ovlbox-bench-cache), BUILD_CFLAGS (default -O1),
#      BUILD_MAKEVARS (default "ZSTD_LIB_DICTBUILDER=0 ZSTD_LEGACY_SUPPORT=0 ZSTD_LIB_DEPRECATED=0"),
#      PER_CC_FILES (files for (b), relative to the source root; default: lib/common/*.c and
#      six small lib/compress and lib/decompress files), SKIP_RUNC=1.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OVLBOX_BUILD:-$PWD/build/rel}
out=${OUT:-}
rounds=${ROUNDS:-5}
cache=${BUILD_CACHE:-/var/tmp/ovlbox-bench-cache}
cflags=${BUILD_CFLAGS:--O1}
makevars=${BUILD_MAKEVARS-ZSTD_LIB_DICTBUILDER=0 ZSTD_LEGACY_SUPPORT=0 ZSTD_LIB_DEPRECATED=0}
timeit=$build/bench/timeit
ovlbox=$build/bin/ovlbox
export OVLBOX_HOOK=$build/bin/ovlbox-hook

# --- the source, once ------------------------------------------------------------------------
fetch() {
	local apt=$cache/apt codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$cache/src"
	echo "deb-src http://deb.debian.org/debian $codename main" >"$apt/sources.list"
	local o=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/none"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "APT::Sandbox::User=root")
	apt-get "${o[@]}" -qq update &&
		(cd "$cache/src" && apt-get "${o[@]}" -qq source zstd >/dev/null 2>&1)
}
zstd_src=$( (find "$cache/src" -maxdepth 1 -type d -name 'libzstd-*' 2>/dev/null || true) | sort | tail -1)
if [[ -z $zstd_src ]]; then
	if ! fetch >&2; then
		echo "Real builds: NOT RUN: \`apt-get source zstd\` failed (no Debian source mirror reachable?)"
		exit 0
	fi
	zstd_src=$(find "$cache/src" -maxdepth 1 -type d -name 'libzstd-*' | sort | tail -1)
fi

base=$(mktemp -d /var/tmp/ovlbox-bench-build.XXXXXX)
OVL_T=$base
cleanup() {
	runc --root "$base/runc-state" list -q 2>/dev/null | while read -r id; do
		runc --root "$base/runc-state" delete -f "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$base"
}
trap cleanup EXIT

# --- staging: content-addressed cache + a template workspace of hardlinks into it -------------
cas=$base/cas tmpl=$base/tmpl
mkdir -p "$cas"
cp -a "$zstd_src" "$tmpl"
(cd "$tmpl" && find . -type f -print0 | xargs -0 sha256sum) | while read -r sum path; do
	[[ -e $cas/$sum ]] || mv "$tmpl/$path" "$cas/$sum"
	ln -f "$cas/$sum" "$tmpl/$path"
done
nfiles=$(find "$tmpl" -type f | wc -l)
ncas=$(find "$cas" -type f | wc -l)

export BENCH_TMPL=$tmpl BENCH_RUN=$base/run
# shellcheck disable=SC2016 # expanded by timeit's sh
prep='set -e; rm -rf "$BENCH_RUN"; mkdir -p "$BENCH_RUN"; cp -al "$BENCH_TMPL" "$BENCH_RUN/ws"'
# shellcheck disable=SC2016
clean='rm -rf "$BENCH_RUN"'
ws=$BENCH_RUN/ws
log=$base/build.log

echo "zstd $(basename "$zstd_src") from \`apt-get source\`: $nfiles files staged as hardlinks into a content-addressed cache of $ncas objects; CFLAGS=$cflags; $rounds interleaved rounds after 1 warm-up run (bare: the cases share the page cache it warms)."
echo

# --- (a) the whole build ----------------------------------------------------------------------
mk="make -s -j2 -C lib libzstd.a CFLAGS=\"$cflags\" $makevars"
"$timeit" -r "$rounds" -w 1 -1 -u s -p "$prep" -c "$clean" ${out:+-o "$out/summary.tsv"} \
	-t "(a) whole build: \`make -j2 -C lib libzstd.a $makevars\`" \
	"bare" "sh -c 'cd $ws && $mk 2>>$log && test -f lib/libzstd.a'" \
	"one ovlbox run" "sh -c '$ovlbox run --workspace $ws -- $mk 2>>$log && test -f $ws/lib/libzstd.a'" \
	"full copy (cp -a + make)" "sh -c 'cp -a $ws $BENCH_RUN/copy && cd $BENCH_RUN/copy && $mk 2>>$log && test -f lib/libzstd.a'"
echo

# --- (b) one action per compile ---------------------------------------------------------------
if [[ -n ${PER_CC_FILES:-} ]]; then
	read -r -a files <<<"$PER_CC_FILES"
else
	files=()
	for f in "$tmpl"/lib/common/*.c; do files+=("lib/common/${f##*/}"); done
	files+=(lib/compress/hist.c lib/compress/fse_compress.c lib/compress/huf_compress.c
		lib/compress/zstd_compress_literals.c lib/compress/zstd_compress_sequences.c
		lib/decompress/zstd_ddict.c)
fi
bare_loop="cd $ws" ovl_loop=":" runc_loop=":"
for f in "${files[@]}"; do
	bare_loop+=" && cc $cflags -c $f -o ${f%.c}.o"
	ovl_loop+=" && $ovlbox run --workspace $ws -- cc $cflags -c $f -o ${f%.c}.o"
done
cases=("bare cc -c" "sh -c '$bare_loop && test -f ${files[-1]%.c}.o'")
cases+=("ovlbox run per cc -c" "sh -c '$ovl_loop && test -f $ws/${files[-1]%.c}.o'")

runc_note=
if [[ ${SKIP_RUNC:-} != 1 ]] && command -v runc >/dev/null && command -v jq >/dev/null; then
	# shellcheck source=tests/lib/bundle.bash
	source tests/lib/bundle.bash
	# A rootfs of mount points: the host's /usr and /etc bound read-only, merged-/usr symlinks.
	root=$base/rootfs
	mkdir -p "$root"/{usr,etc,tmp,proc,dev,sys,workspace}
	for l in bin sbin lib lib64; do
		if [[ -e /$l ]]; then ln -s "usr/$l" "$root/$l"; fi
	done
	ovl_spec_template "$OVL_T/spec.json"
	hooks=$(ovl_hooks_json createRuntime "$OVLBOX_HOOK" /dev/null |
		jq -c '.[][].args |= [.[0], .[1]]')
	ann=$(ovl_ann org.ovlbox.workspace=/workspace)
	i=0
	for f in "${files[@]}"; do
		i=$((i + 1))
		cmd=$(jq -cn --arg f "$f" --arg o "${f%.c}.o" --arg fl "$cflags" \
			'["cc"] + ($fl | split(" ")) + ["-c", $f, "-o", $o]')
		# shellcheck disable=SC2016 # jq variables
		ovl_bundle "$base/b$i" "$root" '
			.mounts += [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
				{"destination": "/etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]},
				{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}]
			| '"$OVL_JQ_BIND"' | .process.args = $cmd | .process.cwd = "/workspace"
			| .annotations = $ann | .hooks = $hooks' \
			--arg src "$ws" --arg dst /workspace --argjson cmd "$cmd" \
			--argjson ann "$ann" --argjson hooks "$hooks"
		runc_loop+=" && runc --root $base/runc-state run -b $base/b$i bench-cc$i </dev/null"
	done
	cases+=("runc run + hook per cc -c" "sh -c '$runc_loop && test -f $ws/${files[-1]%.c}.o'")
else
	runc_note="runc + hook per compile: NOT RUN (runc or jq missing, or SKIP_RUNC=1)"
fi

"$timeit" -r "$rounds" -w 1 -1 -u s -p "$prep" -c "$clean" ${out:+-o "$out/summary.tsv"} \
	-t "(b) one action per compile: ${#files[@]} files of lib/, one \`cc $cflags -c\` each" \
	"${cases[@]}"
[[ -z $runc_note ]] || printf '\n%s\n' "$runc_note"
echo
echo "Files compiled in (b): ${files[*]}"
