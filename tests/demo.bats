#!/usr/bin/env bats
# `make demo` is one of the README's two set-up commands: its script must keep telling the story.

@test "make demo's script: the diff, the applied workspace, and an intact cache" {
	run "$OVLBOX_SRC/examples/demo.sh"
	[[ $status -eq 0 ]] || { echo "$output"; false; }
	[[ $output == *$'D Makefile\nA out\nA out/main\nA out/status\nM src/version.h'* ]]
	[[ $output == *"ws/src/version.h now ends with: /* patched by the action */"* ]]
	[[ $output == *"cache file unchanged: the action's append went into a new inode"* ]]
	[[ $output != *CORRUPTED* ]]
}
