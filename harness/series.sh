# SPDX-License-Identifier: GPL-2.0
#
# The series as it is mailed: sourced by pins.sh for `make patches` and
# `make bisect-check`.
#
# In the repo our new files live at their kernel paths in their final form
# and patches/ holds the edits to existing files; patches/new-files names
# the patch that adds each new file. A patch may also change a file an
# earlier patch added (a hook added with the code that calls it): such a
# hunk lives in the later patch and the file in the repo is the result.
#
# From that, do_patches() recovers every file at every step of the series:
# starting from the final tree, it undoes the patches from the last to the
# first (patch -R -F0), removing each patch's new files after undoing it,
# and must end on the pristine tree. The states are then committed one by
# one on the pristine tree in a git repository under build/series/, and
# `git format-patch --cover-letter` writes the series to build/patches/.
# Finally `git am` applies that output to the pristine tree and must give
# the same tree.

SERIES=$BUILD/series
REPO=$SERIES/repo
MANIFEST=$ROOT/patches/new-files

series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/patches/series"
}

# "FILE PATCH" for each of our new files.
manifest() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$MANIFEST" |
		awk '{ print $1, $2 }'
}

# Only the parts of a patch that touch files for which FILTER (a file
# with one path per line) says yes (mode keep) or no (mode drop).
patch_filter() {
	local mode=$1 filter=$2 patch=$3
	awk -v mode="$mode" -v filter="$filter" '
	BEGIN { while ((getline f < filter) > 0) listed[f] = 1; on = 1 }
	/^diff --git / {
		f = $3; sub(/^a\//, "", f)
		on = (mode == "keep") == (f in listed)
	}
	on { print }' "$patch"
}

check_manifest() {
	local bad=0 f p
	while read -r f p; do
		[ -f "$ROOT/$f" ] || { echo "new-files: $f does not exist"; bad=1; }
		series_patches | grep -xF "$p" >/dev/null ||
			{ echo "new-files: $f: $p is not in patches/series"; bad=1; }
	done < <(manifest)
	while read -r f; do
		manifest | awk '{ print $1 }' | grep -xF "$f" >/dev/null ||
			{ echo "new-files: no patch adds $f"; bad=1; }
	done < <(overlay_files)
	manifest | awk '{ print $1 }' | sort | uniq -d |
		sed 's/^/new-files: listed twice: /' | grep . && bad=1
	return "$bad"
}

# The pristine tree in git, committed once per package version.
series_base() {
	local pristine=$1 ver=$2 tag
	tag=base-$(echo "$ver" | tr -c 'A-Za-z0-9.\n' '-')
	if ! git -C "$REPO" rev-parse -q --verify "refs/tags/$tag" >/dev/null 2>&1; then
		rm -rf "$REPO"
		mkdir -p "$REPO"
		git -C "$REPO" init -q
		git -C "$REPO" config user.name Pins-Developers
		git -C "$REPO" config user.email pins@localhost
		git -C "$REPO" config gc.auto 0
		git -C "$REPO" config core.autocrlf false
		(cd "$pristine" && tar --exclude=./.complete -cf - .) | tar -xf - -C "$REPO"
		git -C "$REPO" add -A -f .
		GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" git -C "$REPO" commit -q \
			-m "Debian linux-source-6.12 $ver (pristine)"
		git -C "$REPO" tag "$tag"
	fi
	echo "$tag"
}

do_patches() {
	local pristine ver base stage snap n i p f out date touched
	pristine=$(cat "$BUILD/pristine")
	ver=$(cat "$BUILD/package-version")
	check_manifest
	mkdir -p "$SERIES"
	touched=$SERIES/touched
	{ overlay_files; patched_files; } | sort -u >"$touched"

	# The final tree of every file we touch, as do_prepare() makes it.
	stage=$SERIES/stage
	rm -rf "$stage" "$SERIES"/state-*
	mkdir -p "$stage"
	while read -r f; do
		if [ -f "$pristine/$f" ]; then
			mkdir -p "$stage/$(dirname "$f")"
			cp -p "$pristine/$f" "$stage/$f"
		fi
	done <"$touched"
	stage_series "$stage" >/dev/null

	# Backwards: state-i is the tree after patch i.
	mapfile -t patches < <(series_patches)
	n=${#patches[@]}
	for ((i = n; i >= 1; i--)); do
		p=${patches[i - 1]}
		snap=$SERIES/state-$i
		cp -a "$stage" "$snap"
		if ! patch -d "$stage" -p1 -R -F0 -s --no-backup-if-mismatch \
			<"$ROOT/patches/$p" >"$SERIES/undo.log" 2>&1; then
			cat "$SERIES/undo.log"
			die "$p does not undo from the tree after it: a hunk of it on a new file no longer matches that file"
		fi
		while read -r f; do
			[ -f "$stage/$f" ] || die "$p adds $f, but an earlier patch changes it"
			rm -f "$stage/$f"
		done < <(manifest | awk -v p="$p" '$2 == p { print $1 }')
	done
	# Undoing every patch must give the pristine tree back.
	while read -r f; do
		if [ -f "$pristine/$f" ]; then
			cmp -s "$pristine/$f" "$stage/$f" || die "undoing the series leaves $f different from pristine"
		else
			[ ! -e "$stage/$f" ] || die "undoing the series leaves $f, which no patch adds"
		fi
	done <"$touched"

	# Forwards, in git: one commit per patch, with its message and author.
	base=$(series_base "$pristine" "$ver")
	date=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || date -R)
	git -C "$REPO" checkout -q -f -B series "$base"
	git -C "$REPO" clean -q -f -d
	for ((i = 1; i <= n; i++)); do
		p=${patches[i - 1]}
		snap=$SERIES/state-$i
		while read -r f; do
			if [ -f "$snap/$f" ]; then
				mkdir -p "$REPO/$(dirname "$f")"
				cp "$snap/$f" "$REPO/$f"
			else
				rm -f "$REPO/$f"
			fi
		done <"$touched"
		git -C "$REPO" add -A -f .
		git mailinfo -b "$SERIES/msg" "$SERIES/body" <"$ROOT/patches/$p" >"$SERIES/info"
		local author email subject
		author=$(sed -n 's/^Author: //p' "$SERIES/info")
		email=$(sed -n 's/^Email: //p' "$SERIES/info")
		subject=$(sed -n 's/^Subject: //p' "$SERIES/info")
		{ echo "$subject"; echo; cat "$SERIES/msg"; } >"$SERIES/commit-msg"
		GIT_AUTHOR_NAME=$author GIT_AUTHOR_EMAIL=$email GIT_AUTHOR_DATE=$date \
			GIT_COMMITTER_DATE=$date git -C "$REPO" commit -q --allow-empty \
			-F "$SERIES/commit-msg" ||
			die "$p: commit failed"
		echo "$(git -C "$REPO" rev-parse --short HEAD) $subject"
	done

	# The mail: cover letter from patches/cover-letter, with the results
	# of the last `make check` if they were taken at this commit.
	out=$BUILD/patches
	rm -rf "$out"
	git -C "$REPO" format-patch -q --cover-letter --thread=shallow \
		-o "$out" "$base..series"
	cover_letter "$out"/0000-cover-letter.patch
	(cd "$ROOT" && printf '%s\n' "$out"/*.patch) >"$SERIES/files"

	# The output must apply to the pristine tree with git am and give
	# exactly the tree the series was made from.
	if [ ! -d "$SERIES/am" ]; then
		git -C "$REPO" worktree prune
		git -C "$REPO" worktree add -q --detach "$SERIES/am" "$base"
	fi
	git -C "$SERIES/am" am --abort >/dev/null 2>&1 || true
	git -C "$SERIES/am" checkout -q -f --detach "$base"
	git -C "$SERIES/am" clean -q -f -d
	ls "$out"/*.patch | grep -v /0000-cover-letter.patch | xargs \
		git -C "$SERIES/am" -c user.name=am -c user.email=am@localhost am -q ||
		die "git am of $out onto $PKG $ver failed"
	[ "$(git -C "$SERIES/am" rev-parse 'HEAD^{tree}')" = "$(git -C "$REPO" rev-parse 'series^{tree}')" ] ||
		die "git am of $out gives a different tree"
	echo "$out: $n patches and a cover letter; git am on $PKG $ver gives the tree the series was made from"
}

# Applies the series to STAGE (final new files in place), skipping the
# hunks on our new files, which are already in their final form.
stage_series() {
	local stage=$1 p ours
	ours=$(mktemp)
	overlay_files >"$ours"
	overlay_files | while read -r f; do
		mkdir -p "$stage/$(dirname "$f")"
		cp "$ROOT/$f" "$stage/$f"
	done
	while read -r p; do
		patch_filter drop "$ours" "$ROOT/patches/$p" >"$ours.patch"
		# A patch that only changes our new files leaves nothing here.
		grep -q '^diff --git ' "$ours.patch" || { echo "applied $p (new files only)"; continue; }
		if ! patch -d "$stage" -p1 --dry-run -F0 -s <"$ours.patch" >"$LOGS/patch-check.log" 2>&1; then
			cat "$LOGS/patch-check.log"
			rm -f "$ours" "$ours.patch"
			die "patch '$p' does not apply to $PKG $(cat "$BUILD/package-version") (see above)"
		fi
		patch -d "$stage" -p1 -F0 -s --no-backup-if-mismatch <"$ours.patch"
		echo "applied $p"
	done < <(series_patches)
	rm -f "$ours" "$ours.patch"
}

# The commit the repo is at, with -dirty if it has uncommitted changes.
head_commit() {
	local c
	c=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
	[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] || c=$c-dirty
	echo "$c"
}

cover_letter() {
	local cl=$1 head summary v subject
	head=$(head_commit)
	subject=$(sed -n '1p' "$ROOT/patches/cover-letter")
	{
		sed -n '3,$p' "$ROOT/patches/cover-letter"
		echo
		echo "Test results at $head (make check, in QEMU):"
		for v in nopins pins; do
			summary=$BUILD/logs/check-result-$v
			if [ -f "$summary" ] && [ "$(cut -d' ' -f1 "$summary")" = "$head" ]; then
				echo "  CONFIG_CGROUP_PINS=$([ $v = pins ] && echo y || echo n): $(cut -d' ' -f2- "$summary")"
			else
				echo "  CONFIG_CGROUP_PINS=$([ $v = pins ] && echo y || echo n): not run at this commit"
			fi
		done
	} >"$SERIES/blurb"
	python3 - "$cl" "$subject" "$SERIES/blurb" <<-'EOF'
		import sys
		path, subject, blurb = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
		text = open(path).read()
		text = text.replace("*** SUBJECT HERE ***", subject, 1)
		text = text.replace("*** BLURB HERE ***", blurb.rstrip("\n"), 1)
		open(path, "w").write(text)
	EOF
}

# Builds every prefix of the series, with CONFIG_CGROUP_PINS=y and =n, and
# names the first patch that does not build (or warns in our files).
do_bisect_check() {
	local n i p v obj wt log start rc=0 frag=$HARNESS/config/pins.config
	local -a km
	mapfile -t patches < <(series_patches)
	n=${#patches[@]}
	wt=$SERIES/bisect-src
	if [ ! -d "$wt" ]; then
		git -C "$REPO" worktree prune
		git -C "$REPO" worktree add -q --detach "$wt" series
	fi
	for v in pins nopins; do
		obj=$SERIES/obj-$v
		mkdir -p "$obj"
		if [ "$v" = nopins ]; then
			printf '# CONFIG_CGROUP_PINS is not set\n# CONFIG_CGROUP_PINS_TEST_HOOK is not set\n' >"$SERIES/variant-$v.config"
		else
			: >"$SERIES/variant-$v.config"
		fi
		km=(make -C "$wt" O="$obj" LLVM=1 RUSTC=/usr/bin/rustc
			RUSTDOC=/usr/bin/rustdoc RUSTFMT=/usr/bin/rustfmt
			CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver BINDGEN="$TOOLS/bin/bindgen")
		for ((i = ${PINS_BISECT_FROM:-1}; i <= n; i++)); do
			p=${patches[i - 1]}
			log=$LOGS/bisect-$v-$(printf %02d "$i").log
			start=$(date +%s)
			git -C "$wt" checkout -q -f --detach "series~$((n - i))"
			if ! {
				"${km[@]}" tinyconfig &&
					"$wt/scripts/kconfig/merge_config.sh" -m -O "$obj" \
						"$obj/.config" "$frag" "$SERIES/variant-$v.config" &&
					"${km[@]}" olddefconfig &&
					"${km[@]}" -j"$JOBS" bzImage &&
					bisect_selftests "$wt" "$obj" "${km[@]}"
			} >"$log" 2>&1; then
				printf '%-8s %2d/%d %-60s FAILED to build (log: %s)\n' "$v" "$i" "$n" "$p" "$log"
				tail -n 30 "$log"
				rc=1
				break
			fi
			if bisect_warned "$log" "$i"; then
				printf '%-8s %2d/%d %-60s FAILED: warnings in our files (log: %s)\n' "$v" "$i" "$n" "$p" "$log"
				rc=1
				break
			fi
			printf '%-8s %2d/%d %-60s ok (%ss)\n' "$v" "$i" "$n" "$p" "$(($(date +%s) - start))"
		done
	done
	return "$rc"
}

# The cgroup selftests as kselftest builds them, warnings as errors: the
# series' selftest patches must build where they are too.
bisect_selftests() {
	local wt=$1 obj=$2
	shift 2
	"$@" headers &&
		make -C "$wt/tools/testing/selftests" O="$obj" TARGETS=cgroup \
			FORCE_TARGETS=1 USERCFLAGS="-O2 -Werror" -j"$JOBS" all
}

# Compiler or clippy warnings in a file the series has added or changed
# by patch I.
bisect_warned() {
	local log=$1 i=$2 files
	files=$(cat "$SERIES"/state-"$i"/../touched | paste -sd'|' | sed 's/\./\\./g')
	grep -E -A3 '(warning|error)(\[[A-Za-z0-9_:]+\])?:' "$log" | grep -E "$files" |
		grep -vE '^ *(CC|AR|LD|RUSTC)' | grep . && return 0
	return 1
}
