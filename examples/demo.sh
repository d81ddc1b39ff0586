#!/usr/bin/env bash
# make demo: the story ovlbox exists for. A content-addressed cache, a workspace whose inputs are
# hardlinks into it, an action that appends to an input (the classic cache poisoning), deletes one
# and writes outputs -- run copy-on-write with `ovlbox run`, then the diff, the applied workspace,
# and the proof that the cache file is intact.
set -euo pipefail
OVLBOX=${OVLBOX:-ovlbox}
demo=$(mktemp -d /tmp/ovlbox-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
cd "$demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a content-addressed cache (files named by their sha256)"
mkdir cache
for content in 'int main(void) { return 0; }' '#define VERSION "1.0"' 'all: main'; do
	printf '%s\n' "$content" >tmp
	sum=$(sha256sum tmp | cut -c1-16)
	mv tmp "cache/$sum"
	chmod 0644 "cache/$sum" # writable, as in the executors where poisoning happens
done
ls -l cache

say "a workspace staged from it with hardlinks, as executors do"
mkdir -p ws/src
files=(cache/*)
ln "${files[0]}" ws/src/main.c
ln "${files[1]}" ws/src/version.h
ln "${files[2]}" ws/Makefile
find ws cache -type f -printf "  inode %i  links %n  %p\n" | sort

say "the action: appends to an input, deletes one, writes outputs"
cat >action.sh <<'ACTION'
set -e
echo '/* patched by the action */' >> src/version.h
rm Makefile
mkdir -p out
cc -x c -o out/main src/main.c 2>/dev/null || cp src/main.c out/main
echo ok > out/status
ACTION
cat action.sh
before=$(sha256sum "${files[1]}")
# inline: the sandbox has a private /tmp, so a script file beside the workspace is not visible
"$OVLBOX" run --workspace "$PWD/ws" --on-exit keep -- sh -c "$(cat action.sh)"

say "ovlbox diff ws (the changes, not yet applied)"
"$OVLBOX" diff ws

say "ovlbox apply ws"
"$OVLBOX" apply ws
find ws | sort | sed 's/^/  /'
echo "  ws/src/version.h now ends with: $(tail -n1 ws/src/version.h)"

say "the cache is intact"
after=$(sha256sum "${files[1]}")
echo "  before: $before"
echo "  after:  $after"
if [[ $before == "$after" ]]; then
	echo "  cache file unchanged: the action's append went into a new inode"
else
	echo "  CACHE CORRUPTED" >&2
	exit 1
fi
