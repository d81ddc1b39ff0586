#!/usr/bin/env bats
# The man pages cover the programs: every flag `--help` prints is in the page, every annotation
# key the sources use is in ovlbox-hook(8), and every page built from man/*.scd renders.

load lib/man

# The --flags a text names, one a line, sorted, each once.
flags_of() {
	grep -oE -- '--[a-z][a-z-]*' <<<"$1" | sed 's/-*$//' | LC_ALL=C sort -u
}

# in_page PAGE FLAG: FLAG appears in PAGE as a whole word (--work is not --workspace).
in_page() {
	grep -qE -- "(^|[^a-z-])$2([^a-z-]|\$)" "$1"
}

# check_flags PAGE TEXT: every flag of TEXT is in PAGE; names those missing.
check_flags() {
	local page=$1 f missing=()
	while read -r f; do
		[[ -z $f ]] || in_page "$page" "$f" || missing+=("$f")
	done < <(flags_of "$2")
	[[ ${#missing[@]} -eq 0 ]] || {
		echo "not in $(basename "$page"): ${missing[*]}" >&2
		return 1
	}
}

@test "docs: every flag of ovlbox --help and ovlbox COMMAND --help is in ovlbox(1)" {
	local page=$OVLBOX_SRC/man/ovlbox.1.scd cmd n=0
	run "$OVLBOX" --help
	[[ $status -eq 0 ]]
	check_flags "$page" "$output"
	for cmd in run apply diff discard; do
		run "$OVLBOX" "$cmd" --help
		[[ $status -eq 0 && -n $output ]] || {
			echo "ovlbox $cmd --help: status $status" >&2
			return 1
		}
		check_flags "$page" "$output"
		n=$((n + $(flags_of "$output" | wc -l)))
	done
	# the parse found the flags (run alone prints more than twenty)
	[[ $n -ge 25 ]]
}

@test "docs: every flag of ovlbox-hook --help is in ovlbox-hook(8)" {
	run "$OVLBOX_HOOK" --help
	[[ $status -eq 0 ]]
	check_flags "$OVLBOX_SRC/man/ovlbox-hook.8.scd" "$output"
	[[ $(flags_of "$output" | wc -l) -ge 3 ]]
}

@test "docs: every org.ovlbox.* annotation key of hook/, runtime/ and lib's headers is in ovlbox-hook(8)" {
	local dirs=() d keys k missing=()
	for d in hook runtime include/ovlbox; do
		[[ -d $OVLBOX_SRC/$d ]] && dirs+=("$OVLBOX_SRC/$d")
	done
	# keys are lower case; a prefix such as "org.ovlbox.workspace." (of workspace.NAME) is the key
	# it extends
	keys=$(grep -rhoE --include='*.[ch]' 'org\.ovlbox\.[a-z0-9-]+(\.[a-z0-9-]+)*' "${dirs[@]}" |
		LC_ALL=C sort -u)
	[[ $(wc -l <<<"$keys") -ge 4 ]]
	for k in $keys; do
		grep -qF -- "$k" "$OVLBOX_SRC/man/ovlbox-hook.8.scd" || missing+=("$k")
	done
	[[ ${#missing[@]} -eq 0 ]] || {
		echo "not in ovlbox-hook.8.scd: ${missing[*]}" >&2
		return 1
	}
}

@test "docs: man -l renders every page built from man/*.scd, without a warning" {
	local src page err n=0
	for src in "$OVLBOX_SRC"/man/*.scd; do
		page=$OVLBOX_BUILD/man/$(basename "$src" .scd)
		[[ -f $page ]] || {
			echo "not built: $page" >&2
			return 1
		}
		man_renders "$page"
		err=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
		[[ -z $err ]] || {
			echo "$page (groff -ww): $err" >&2
			return 1
		}
		n=$((n + 1))
	done
	[[ $n -ge 3 ]]
}
