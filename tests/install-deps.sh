#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those missing. Usage: install-deps.sh build|check|bench|fuzz|deb
set -euo pipefail

build=(gcc make pkg-config libc6-dev libseccomp-dev libyajl-dev libcap-dev scdoc)
check=("${build[@]}" bats attr e2fsprogs jq strace busybox-static runc crun podman uidmap
	iproute2 util-linux procps golang-github-containers-common passwd libcap2-bin
	docker.io containerd scdoc)
bench=("${check[@]}" bubblewrap gnuplot-nox dpkg-dev linux-perf)
fuzz=("${build[@]}" clang) # clang's libFuzzer and sanitizer runtimes come with it
check+=(man-db) # tests/docs.bats renders the man pages
deb=("${build[@]}" dpkg-dev debhelper fakeroot lintian)

case "${1:-}" in
build) want=("${build[@]}") ;;
check) want=("${check[@]}") ;;
bench) want=("${bench[@]}") ;;
fuzz) want=("${fuzz[@]}") ;;
deb) want=("${deb[@]}") ;;
*) echo "usage: $0 build|check|bench|fuzz|deb" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
