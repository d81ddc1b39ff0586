#!/usr/bin/env bats
# The Debian package (make deb): what it installs, its control fields, lintian, and that the
# binaries it ships run. make check-deb builds it and runs this suite with OVLBOX_DEB set.

load lib/man

setup_file() {
	: "${OVLBOX_DEB:?set OVLBOX_DEB (make check-deb builds the package and sets it)}"
	[[ -f $OVLBOX_DEB ]] || {
		echo "no package at $OVLBOX_DEB" >&2
		return 1
	}
	export PKG_ROOT
	PKG_ROOT=$(mktemp -d /var/tmp/ovlbox-package.XXXXXX)
	dpkg-deb -x "$OVLBOX_DEB" "$PKG_ROOT"
	chmod 0755 "$PKG_ROOT"
}

teardown_file() {
	rm -rf "$PKG_ROOT"
}

version() {
	sed -n 's/^VERSION *:= *//p' "$OVLBOX_SRC/Makefile"
}

has_runtime() {
	[[ -d $OVLBOX_SRC/runtime ]]
}

# The files (not directories) the package must hold, sorted; docs without a .gz suffix
# (dh_compress compresses only those over 4 KiB).
expected_files() {
	local m s f
	echo usr/bin/ovlbox
	echo usr/bin/ovlbox-hook
	has_runtime && echo usr/bin/ovlbox-runtime && echo etc/ovlbox/runtime.json
	for m in "$OVLBOX_SRC"/man/*.scd; do
		m=$(basename "$m" .scd)
		s=${m##*.}
		echo "usr/share/man/man$s/$m.gz"
	done
	echo usr/share/bash-completion/completions/ovlbox
	echo usr/share/ovlbox/hooks.d/ovlbox.json
	echo usr/share/doc/ovlbox/README.md
	echo usr/share/doc/ovlbox/changelog
	echo usr/share/doc/ovlbox/copyright
	[[ -f $OVLBOX_SRC/NEWS.md ]] && echo usr/share/doc/ovlbox/NEWS.md
	for f in "$OVLBOX_SRC"/docs/*.md; do
		[[ -f $f ]] && echo "usr/share/doc/ovlbox/$(basename "$f")"
	done
	echo usr/share/lintian/overrides/ovlbox
	(cd "$OVLBOX_SRC/examples" && find demo.sh oci -type f) | sed 's|^|usr/share/doc/ovlbox/examples/|'
}

@test "package: named ovlbox_VERSION_ARCH.deb, version and control fields" {
	[[ $(basename "$OVLBOX_DEB") == "ovlbox_$(version)_$(dpkg --print-architecture).deb" ]]
	run dpkg-deb -f "$OVLBOX_DEB" Package Version Architecture Recommends
	[[ $status -eq 0 ]]
	[[ $output == "Package: ovlbox
Version: $(version)
Architecture: $(dpkg --print-architecture)
Recommends: runc | crun" ]] || {
		echo "$output" >&2
		false
	}
	grep -q "^ovlbox ($(version))" "$OVLBOX_SRC/debian/changelog"
}

@test "package: Built-Using names the static archives' source packages, as installed" {
	local want
	want=$(dpkg-query -f '${source:Package} (= ${source:Version})\n' \
		-W libseccomp-dev libyajl-dev libcap-dev libc6-dev | sort -u | paste -sd, | sed 's/,/, /g')
	run dpkg-deb -f "$OVLBOX_DEB" Built-Using
	[[ $output == "$want" ]] || {
		echo "Built-Using: $output, want $want" >&2
		false
	}
	[[ $output == *"glibc (= "* && $output == *"libcap2 (= "* && $output == *"libseccomp (= "* &&
		$output == *"yajl (= "* ]]
}

@test "package: dpkg-deb -c lists exactly the binaries, man pages, completion, docs, hooks.d file" {
	local got want
	got=$(dpkg-deb -c "$OVLBOX_DEB" | awk '$1 !~ /^d/ {print $6}' | sed -e 's|^\./||' \
		-e 's|^\(usr/share/doc/.*\)\.gz$|\1|' | LC_ALL=C sort)
	want=$(expected_files | LC_ALL=C sort)
	[[ $got == "$want" ]] || {
		diff <(echo "$want") <(echo "$got") >&2
		false
	}
	# the binaries: mode 0755, root's
	dpkg-deb -c "$OVLBOX_DEB" | awk '$6 ~ /^\.\/usr\/bin\/./ && ($1 != "-rwxr-xr-x" || $2 != "root/root") {exit 1}'
}

@test "package: the hooks.d file is inactive (no engine's hooks.d dir) and names /usr/bin" {
	[[ ! -e $PKG_ROOT/usr/share/containers && ! -e $PKG_ROOT/etc/containers ]]
	run jq -r '.hook.path, .stages[]' "$PKG_ROOT/usr/share/ovlbox/hooks.d/ovlbox.json"
	[[ $output == $'/usr/bin/ovlbox-hook\ncreateRuntime\npoststop' ]]
	cmp "$PKG_ROOT/usr/share/bash-completion/completions/ovlbox" "$OVLBOX_SRC/completions/ovlbox"
}

@test "package: /etc/ovlbox/runtime.json is a conffile holding {} (with ovlbox-runtime)" {
	local ctl
	ctl=$(mktemp -d)
	dpkg-deb -e "$OVLBOX_DEB" "$ctl"
	if has_runtime; then
		[[ $(cat "$ctl/conffiles") == /etc/ovlbox/runtime.json ]]
		[[ $(jq -c . "$PKG_ROOT/etc/ovlbox/runtime.json") == "{}" ]]
	else
		[[ ! -e $ctl/conffiles && ! -e $PKG_ROOT/etc ]]
	fi
	rm -rf "$ctl"
}

@test "package: lintian reports no error and no warning" {
	local changes
	changes=$(dirname "$OVLBOX_DEB")/deb/ovlbox_$(version)_$(dpkg --print-architecture).changes
	[[ -f $changes ]]
	run lintian --fail-on error,warning "$changes"
	# lintian says so when run as root; it is not a finding
	output=$(grep -v '^running with root privileges is not recommended!$' <<<"$output" || true)
	[[ $status -eq 0 && -z $output ]] || {
		echo "$output" >&2
		false
	}
}

@test "package: its binaries run --version" {
	run "$PKG_ROOT/usr/bin/ovlbox" --version
	[[ $status -eq 0 && $output == "ovlbox $(version)" ]]
	run "$PKG_ROOT/usr/bin/ovlbox-hook" --version
	[[ $status -eq 0 && $output == "ovlbox-hook $(version)" ]]
	if has_runtime; then
		run "$PKG_ROOT/usr/bin/ovlbox-runtime" --ovlbox-version
		[[ $status -eq 0 && $output == *"$(version)"* ]]
	fi
}

@test "package: its ovlbox plays the demo (examples/demo.sh)" {
	OVLBOX=$PKG_ROOT/usr/bin/ovlbox run "$PKG_ROOT/usr/share/doc/ovlbox/examples/demo.sh"
	[[ $status -eq 0 ]] || {
		echo "$output" >&2
		false
	}
	[[ $output == *$'D Makefile\nA out\nA out/main\nA out/status\nM src/version.h'* ]]
	[[ $output == *"cache file unchanged: the action's append went into a new inode"* ]]
}

@test "package: man -l renders each of its man pages without a warning" {
	local page n=0
	for page in "$PKG_ROOT"/usr/share/man/man*/*.gz; do
		man_renders "$page"
		n=$((n + 1))
	done
	[[ $n -eq $(find "$OVLBOX_SRC/man" -name '*.scd' | wc -l) ]]
}
