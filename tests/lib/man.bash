# shellcheck shell=bash
# Checks of built man pages, shared by tests/docs.bats and tests/package.bats.

# man_renders PAGE: `man -l` renders PAGE (plain or gzipped) with a NAME section and nothing on
# stderr; fails naming the page and what man said.
man_renders() {
	local page=$1 err
	err=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
	[[ -z $err ]] || {
		echo "$page: $err" >&2
		return 1
	}
	MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q '^NAME$' || {
		echo "$page: no NAME section" >&2
		return 1
	}
}
