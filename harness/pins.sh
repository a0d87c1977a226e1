#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's harness: fetch Debian's linux-source-6.12, put our files and
# patch series on it, build it with LLVM and Debian's rustc, boot it in QEMU
# and run the tests there. `make run` and `make check` call this; see
# README.md for the knobs.
#
#   harness/pins.sh run        build, boot, show the controller at work
#   harness/pins.sh check      host tests + build + boot + guest selftests
#   harness/pins.sh shell      build, boot to an interactive guest shell
#   harness/pins.sh prepare    only fetch, patch and configure
#   harness/pins.sh build      only build the kernel
#   harness/pins.sh lint       rustfmt and checkpatch --strict on our code
#   harness/pins.sh cross      compile what the guest's kernel does not build
#   harness/pins.sh bench      instructions per charge path: vanilla, PINS=n, PINS=y
#   harness/pins.sh stress     the stress test alone, long, on the debug kernel
#
# Environment: PINS=y|n (build with CONFIG_CGROUP_PINS=n when n), PINS_DEBUG=1
# (only the debug kernel: PINS=y with KASAN, lockdep and kmemleak,
# harness/config/debug.config; check with PINS=y runs it after the plain
# one unless PINS_DEBUG=0), PINS_STRESS_OPS and PINS_STRESS_SECS (bounds of
# the stress test), CMD='...'
# (run: a command to run in the guest instead of the demo), PINS_CACHE (where
# the kernel package and tools are kept, default ~/.cache/pins), PINS_BUILD
# (build tree, default build/ in the clone), PINS_TIMEOUT (guest timeout in
# seconds), PINS_ACCEL=tcg|kvm|auto (default tcg), JOBS; for cross,
# PINS_CROSS_ARCH (default: all) and PINS_CROSS_SRC (see "cross" below); for
# bench, PINS_BENCH_KERNELS, PINS_BENCH_HEADERS and PINS_BENCH_ARGS (see
# "bench" below).

set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HARNESS/.." && pwd)
CACHE=${PINS_CACHE:-${HOME:-/root}/.cache/pins}
BUILD=${PINS_BUILD:-$ROOT/build}
PINS=${PINS:-y}
case "$PINS" in
y) VARIANT=pins ;;
n) VARIANT=nopins ;;
*) echo "PINS must be y or n, not '$PINS'" >&2; exit 2 ;;
esac
case "${PINS_DEBUG:-}" in
'' | 0) ;;
1)
	[ "$PINS" = y ] || { echo "PINS_DEBUG=1 is a variant of PINS=y" >&2; exit 2; }
	VARIANT=debug
	;;
*) echo "PINS_DEBUG must be 1 (only the debug kernel), 0 (not it) or empty, not '$PINS_DEBUG'" >&2; exit 2 ;;
esac
SRC=$BUILD/src
LOGS=$BUILD/logs
JOBS=${JOBS:-$(nproc)}
TOOLS=$CACHE/tools
PKG=linux-source-6.12

mkdir -p "$CACHE" "$BUILD" "$LOGS"

# One harness run per build tree at a time: two would patch and build the
# same source tree under each other.
exec 9>"$BUILD/.lock"
if ! flock -n 9; then
	echo "waiting for another harness run on $BUILD to finish..."
	flock 9
fi
export PATH="/usr/lib/llvm-14/bin:$TOOLS/bin:$PATH"
# bindgen loads the newest libclang it finds; the s390 cross build installs
# LLVM 19, whose clang rejects flags the LLVM 14 build passes.
export LIBCLANG_PATH=/usr/lib/llvm-14/lib

# use_variant pins|nopins|debug|vanilla: the kernel the stages below
# configure, build and boot. pins, nopins and debug (PINS=y, PINS=n and
# PINS_DEBUG=1) are built from our tree,
# $SRC; vanilla (make bench only) from the pristine tree, which do_fetch
# must have named first, and which the build, with O=, only reads.
use_variant() {
	VARIANT=$1
	case "$VARIANT" in
	pins) PINS=y KSRC=$SRC ;;
	nopins) PINS=n KSRC=$SRC ;;
	debug) PINS=y KSRC=$SRC ;;
	vanilla) PINS=n KSRC=$(cat "$BUILD/pristine") ;;
	esac
	OBJ=$BUILD/obj-$VARIANT
	GUEST=$BUILD/guest-$VARIANT
	# Kbuild must use Debian's Rust toolchain (rustup's comes first in
	# PATH on some machines and does not match the library source Debian
	# ships).
	KMAKE=(make -C "$KSRC" O="$OBJ" LLVM=1 RUSTC=/usr/bin/rustc
		RUSTDOC=/usr/bin/rustdoc RUSTFMT=/usr/bin/rustfmt
		CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver BINDGEN="$TOOLS/bin/bindgen")
}
use_variant "$VARIANT"

# shellcheck source=harness/series.sh
. "$HARNESS/series.sh"

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# stage NAME CMD...: run CMD with its output in $LOGS/NAME.log; on failure
# name the stage and the log, and show the end of it.
stage() {
	local name=$1 log=$LOGS/$1.log start rc=0
	shift
	start=$(date +%s)
	printf '==> %-12s ' "$name"
	# In the background so that `set -e` holds inside the stage: bash
	# ignores it in a function called from an `||` list.
	"$@" >"$log" 2>&1 &
	wait $! || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf 'FAILED (exit %d)\n' "$rc"
		echo "---- last lines of $log ----"
		tail -n 40 "$log"
		echo "---- stage '$name' failed; full log: $log ----"
		exit 1
	fi
	printf 'ok (%ss, log: %s)\n' "$(($(date +%s) - start))" "$log"
}

# ---------------------------------------------------------------- deps

APT_PKGS=(make gcc libc6-dev git xz-utils cpio gzip bc flex bison
	libelf-dev libssl-dev python3 rsync kmod
	clang-14 lld-14 llvm-14 libclang-14-dev
	rustc-web rust-web-src rust-web-clippy rustfmt-web cargo-web
	busybox-static qemu-system-x86 libcap-dev liburing-dev
	libibverbs-dev ibverbs-providers ibverbs-utils crun
	clang-19 lld-19 llvm-19)

do_deps() {
	local missing=() p
	for p in "${APT_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "installing: ${missing[*]}"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends "${missing[@]}"
	fi
	if ! [ -x "$TOOLS/bin/bindgen" ]; then
		# Debian's cargo, so that a machine without rustup works too.
		/usr/bin/cargo install --locked --root "$TOOLS" bindgen-cli@0.73.0
	fi
	"$TOOLS/bin/bindgen" --version
	/usr/bin/rustc --version
}

# ---------------------------------------------------------------- fetch

# The pristine tree of the package version this machine's apt offers (or of
# the newest one in the cache when apt cannot be asked).
do_fetch() {
	local ver deb dir
	ver=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		apt-get update
		ver=$(apt-cache policy "$PKG" | awk '/Candidate:/ { print $2 }')
	fi
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "apt offers no $PKG"
	dir=$CACHE/$PKG-$ver
	if ! [ -f "$dir/.complete" ]; then
		deb=$(ls "$CACHE"/"${PKG}_${ver//:/%3a}"_all.deb 2>/dev/null || true)
		if [ -z "$deb" ]; then
			(cd "$CACHE" && apt-get download "$PKG=$ver")
			deb=$(ls "$CACHE"/"${PKG}"_*_all.deb | grep -F "${ver//:/%3a}" | head -n 1)
		fi
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xO "./usr/src/$PKG.tar.xz" | tar -xJ -C "$dir.tmp"
		mv "$dir.tmp/$PKG" "$dir"
		rm -rf "$dir.tmp"
		touch "$dir/.complete"
	fi
	echo "$ver" >"$BUILD/package-version"
	echo "$dir" >"$BUILD/pristine"
}

# ---------------------------------------------------------------- prepare

# Our new files: everything tracked in the repo outside the project's own
# folders. Listed from git when possible so stray build output never leaks in.
overlay_files() {
	(cd "$ROOT" && {
		git ls-files --cached --others --exclude-standard 2>/dev/null ||
			find . -type f | sed 's|^\./||'
	} | grep -Ev '^(harness/|patches/|build/|\.ci/|\.github/|README\.md$|Makefile$|\.gitignore$)' |
		sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
}

patched_files() {
	local p
	while read -r p; do
		sed -n 's|^+++ b/||p' "$ROOT/patches/$p"
	done < <(series_patches)
}

# Builds the final content of every file we add or change in a scratch tree,
# then copies into the build's source tree only what differs, so make
# rebuilds only what changed. A kernel version change starts a fresh tree.
do_prepare() {
	local pristine ver stage_dir f list prev
	pristine=$(cat "$BUILD/pristine")
	ver=$(cat "$BUILD/package-version")
	if [ "$(cat "$BUILD/src-version" 2>/dev/null)" != "$ver" ]; then
		echo "new source tree for $PKG $ver"
		rm -rf "$SRC" "$BUILD"/obj-* "$BUILD/touched"
		cp -a "$pristine" "$SRC.tmp"
		rm -f "$SRC.tmp/.complete"
		mv "$SRC.tmp" "$SRC"
		echo "$ver" >"$BUILD/src-version"
	fi

	stage_dir=$BUILD/stage
	rm -rf "$stage_dir"
	mkdir -p "$stage_dir"
	list=$BUILD/touched.new
	{ overlay_files; patched_files; } | sort -u >"$list"
	while read -r f; do
		if [ -f "$pristine/$f" ]; then
			mkdir -p "$stage_dir/$(dirname "$f")"
			cp -p "$pristine/$f" "$stage_dir/$f"
		fi
	done <"$list"
	stage_series "$stage_dir"

	# Sync: changed files are copied (new mtime), unchanged ones left alone;
	# files we used to add or change and no longer do go back to pristine.
	prev=$BUILD/touched
	[ -f "$prev" ] || : >"$prev"
	sort -u "$list" "$prev" | while read -r f; do
		if [ -f "$stage_dir/$f" ]; then
			if ! cmp -s "$stage_dir/$f" "$SRC/$f"; then
				mkdir -p "$SRC/$(dirname "$f")"
				cp "$stage_dir/$f" "$SRC/$f"
				echo "updated $f"
			fi
		elif [ -f "$pristine/$f" ]; then
			cmp -s "$pristine/$f" "$SRC/$f" || { cp "$pristine/$f" "$SRC/$f"; echo "restored $f"; }
		else
			[ -e "$SRC/$f" ] && { rm -f "$SRC/$f"; echo "removed $f"; }
		fi
	done
	mv "$list" "$prev"
}

# ---------------------------------------------------------------- config

# The Kconfig symbols only our series defines: vanilla's config is ours
# without them.
our_kconfig_symbols() {
	local p
	{
		while read -r p; do
			sed -n 's/^+\(menu\)\{0,1\}config \([A-Za-z0-9_]*\)$/\2/p' "$ROOT/patches/$p"
		done < <(series_patches)
		(cd "$ROOT" && overlay_files | grep -E '(^|/)Kconfig[^/]*$' |
			xargs -r sed -n 's/^\(menu\)\{0,1\}config \([A-Za-z0-9_]*\)$/\2/p')
	} | sort -u
}

do_config() {
	local frag=$HARNESS/config/pins.config want sum k
	local variant_frag=$BUILD/variant-$VARIANT.config ver=$BUILD/src-version
	case "$VARIANT" in
	nopins)
		printf '# CONFIG_CGROUP_PINS is not set\n# CONFIG_CGROUP_PINS_TEST_HOOK is not set\n' >"$variant_frag" ;;
	debug) cp "$HARNESS/config/debug.config" "$variant_frag" ;;
	vanilla)
		# The pristine tree does not know these: olddefconfig drops
		# them, and the check below expects them absent.
		ver=$BUILD/package-version
		for k in $(our_kconfig_symbols); do
			echo "# CONFIG_$k is not set"
		done >"$variant_frag"
		[ -s "$variant_frag" ] || { echo "found no Kconfig symbol of ours in patches/"; return 1; }
		;;
	*) : >"$variant_frag" ;;
	esac
	sum=$(cat "$frag" "$variant_frag" "$ver" | sha256sum | cut -d' ' -f1)
	if [ -f "$OBJ/.config" ] && [ "$(cat "$OBJ/.config-input" 2>/dev/null)" = "$sum" ]; then
		echo "config unchanged"
	else
		mkdir -p "$OBJ"
		"${KMAKE[@]}" tinyconfig
		"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$OBJ" \
			"$OBJ/.config" "$frag" "$variant_frag"
		"${KMAKE[@]}" olddefconfig
		echo "$sum" >"$OBJ/.config-input"
	fi
	"${KMAKE[@]}" rustavailable
	# Every option the fragments ask for must have survived olddefconfig:
	# a dependency that silently drops one (RUST above all) is an error.
	grep -h '^CONFIG_\|^# CONFIG_.* is not set' "$frag" "$variant_frag" |
		sed 's/^# \(CONFIG_[A-Z0-9_]*\) is not set/\1=n/' |
		awk -F= '{ want[$1] = $2 } END { for (k in want) print k "=" want[k] }' |
		sort >"$BUILD/config-want"
	while IFS== read -r k want; do
		got=$(grep -E "^$k=" "$OBJ/.config" | cut -d= -f2- || true)
		[ -n "$got" ] || got=n
		if [ "$want" != "$got" ]; then
			# The variant fragment overrides the base one.
			if grep -q "$k" "$variant_frag" && [ "$got" = n ]; then continue; fi
			echo "config: $k=$want requested, got $k=$got"
			return 1
		fi
	done <"$BUILD/config-want"
}

# ---------------------------------------------------------------- build

do_build() {
	local ours warned
	"${KMAKE[@]}" -j"$JOBS" bzImage 2>&1 | tee "$LOGS/kbuild-$VARIANT.log"
	# Compiler and clippy warnings in our files fail the build (the rest of
	# the kernel has a few of its own with this toolchain).
	ours=$(overlay_files | grep -E '\.(c|h|rs)$' | paste -sd'|' | sed 's/\./\\./g')
	warned=$(grep -E -A3 'warning|error' "$LOGS/kbuild-$VARIANT.log" |
		grep -E "$ours" | grep -vE '^ *(CC|AR|LD|RUSTC)' || true)
	if [ -n "$warned" ]; then
		echo "warnings in our files:"
		echo "$warned"
		return 1
	fi
	cp "$OBJ/arch/x86/boot/bzImage" "$BUILD/bzImage-$VARIANT"
	"${KMAKE[@]}" -s kernelrelease >"$BUILD/kernelrelease-$VARIANT"
}

# The vanilla kernel of make bench: do_build on the pristine tree, which
# must come out of it as it went in (it is shared by every clone).
do_build_vanilla() {
	local stamp=$OBJ/.build-start changed
	mkdir -p "$OBJ"
	touch "$stamp"
	do_build
	changed=$(find "$KSRC" -newer "$stamp" -print -quit)
	if [ -n "$changed" ]; then
		echo "the build wrote into the pristine tree $KSRC: $changed"
		return 1
	fi
}

# The guest's tests, built and installed the way kselftest builds and
# installs them: the kernel's `make headers`, then the selftests Makefile
# for the cgroup target (our tests and upstream's), statically linked for
# the busybox guest and with warnings as errors (upstream's cgroup tests
# have none with this gcc either); all from the command line, as lib.mk's
# USERCFLAGS/USERLDFLAGS are meant for. The
# result is an installed kselftest tree ($GUEST/kselftest) with
# run_kselftest.sh and kselftest-list.txt, which the guest runs.
do_selftests() {
	local st=$SRC/tools/testing/selftests ksft=$GUEST/kselftest out=$GUEST/tests
	local mm=$OBJ/kselftest/mm t
	rm -rf "$ksft" "$out"
	mkdir -p "$out" "$mm"
	"${KMAKE[@]}" headers
	make -C "$st" O="$OBJ" TARGETS=cgroup FORCE_TARGETS=1 -j"$JOBS" \
		USERCFLAGS="-O2 -Werror" USERLDFLAGS=-static \
		KSFT_INSTALL_PATH="$ksft" install
	# Upstream mm tests of the code we change, built and installed by mm's
	# own Makefile with its list narrowed to them (building all of mm needs
	# libraries the guest has no use for). run_vmtests.sh, which runs them
	# upstream, needs bash and sudo: mlock2-tests and mlock-random-test
	# are listed to run as they are, on-fault-limit runs as nobody through
	# the guest collection below, as run_vmtests.sh runs it.
	make -C "$st/mm" OUTPUT="$mm" KHDR_INCLUDES="-isystem $OBJ/usr/include" \
		USERLDFLAGS=-static -j"$JOBS" \
		TEST_GEN_PROGS="$mm/mlock2-tests $mm/mlock-random-test" \
		TEST_GEN_FILES="$mm/on-fault-limit" TEST_PROGS= TEST_FILES= \
		INSTALL_PATH="$ksft/mm" install
	make -s --no-print-directory -C "$st/mm" OUTPUT="$mm" COLLECTION=mm \
		TEST_GEN_PROGS="$mm/mlock2-tests $mm/mlock-random-test" \
		TEST_PROGS= emit_tests >>"$ksft/kselftest-list.txt"
	# Upstream's MSG_ZEROCOPY tool, built unchanged; guest:msg_zerocopy
	# runs it over loopback as net/msg_zerocopy.sh would.
	mkdir -p "$ksft/net"
	gcc -static -O2 -Wall -Werror -isystem "$OBJ/usr/include" -I"$st" \
		-o "$ksft/net/msg_zerocopy" "$st/net/msg_zerocopy.c"
	# The harness's own checks, a collection of their own.
	mkdir -p "$ksft/guest"
	for t in "$HARNESS"/guest/kselftest/*; do
		install -m 755 "$t" "$ksft/guest/"
		echo "guest:$(basename "$t")" >>"$ksft/kselftest-list.txt"
	done
	gcc -static -O2 -Wall -Werror -o "$out/runas" "$HARNESS/guest/runas.c"
	gcc -static -O2 -Wall -Werror -o "$out/lockmem" "$HARNESS/guest/lockmem.c"
	gcc -static -O2 -Wall -Werror -o "$out/uringbuf" "$HARNESS/guest/uringbuf.c" \
		-luring
	gcc -static -O2 -Wall -Werror -o "$out/tenant" "$HARNESS/guest/tenant.c" \
		-luring
	check_selftest_config
}

# The kernel the guest boots must have every option our selftest patches
# add to the cgroup selftests' config file (upstream's lines there are for
# cgroup tests the guest doesn't run), but those the variant turns off.
check_selftest_config() {
	local cfg=tools/testing/selftests/cgroup/config opt missing=""
	while read -r opt; do
		grep -q "^# ${opt%%=*} is not set" "$BUILD/variant-$VARIANT.config" && continue
		grep -qx "$opt" "$OBJ/.config" || missing="$missing $opt"
	done < <(comm -13 <(sort "$(cat "$BUILD/pristine")/$cfg") <(sort "$SRC/$cfg"))
	if [ -n "$missing" ]; then
		echo "the kernel lacks what $cfg asks for:$missing"
		echo "(add it to harness/config/pins.config)"
		return 1
	fi
}

# A real RDMA client in the guest: Debian's ibv_rc_pingpong, dynamically
# linked as shipped, with the shared objects it loads (ldd's list), the
# soft RDMA providers libibverbs dlopen()s and the files that name them.
RDMA_PROVIDERS=(rxe siw)
add_rdma_userland() {
	local root=$1 libdir=/usr/lib/x86_64-linux-gnu f p
	local files=(/usr/bin/ibv_rc_pingpong)
	for p in "${RDMA_PROVIDERS[@]}"; do
		files+=("$libdir/libibverbs/lib$p-rdmav34.so" "/etc/libibverbs.d/$p.driver")
	done
	mapfile -t -O "${#files[@]}" files < <(
		for f in "${files[@]}"; do
			[ "${f%.driver}" = "$f" ] && ldd "$f"
		done | grep -o '/[^ ]*' | sort -u)
	for f in "${files[@]}"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	# The guest's PATH is /bin:/sbin:/tests.
	ln -s /usr/bin/ibv_rc_pingpong "$root/bin/ibv_rc_pingpong"
}

# A real container runtime in the guest: Debian's crun, dynamically linked
# as shipped, with the shared objects ldd lists. With --cgroup-manager=
# cgroupfs it contacts no systemd; it keeps its state in /run/crun.
add_crun_userland() {
	local root=$1 f
	for f in /usr/bin/crun $(ldd /usr/bin/crun | grep -o '/[^ ]*' | sort -u); do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	ln -s /usr/bin/crun "$root/bin/crun"
}

# guest_root ROOT: the guest's busybox userland, its /init and scripts, and
# an empty /tests, in ROOT (new). The guest's /init runs /cmd in
# pins.mode=cmd.
guest_root() {
	local root=$1
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,tests,etc}
	cp /bin/busybox "$root/bin/busybox"
	"$root/bin/busybox" --list | while read -r a; do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	cp "$HARNESS/guest/init" "$root/init"
	cp "$HARNESS/guest/"*.sh "$root/"
	chmod +x "$root/init" "$root/"*.sh
}

do_initramfs() {
	local root=$GUEST/root
	guest_root "$root"
	cp "$GUEST/tests/"* "$root/tests/"
	cp -a "$GUEST/kselftest" "$root/kselftest"
	# The installed test programs stay runnable from /tests by name too
	# (make run CMD='/tests/test_pins').
	local f
	for f in "$root"/kselftest/cgroup/* "$root"/kselftest/mm/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		ln -s "${f#"$root"}" "$root/tests/$(basename "$f")"
	done
	add_rdma_userland "$root"
	add_crun_userland "$root"
	printf '%s\n' "${CMD:-}" >"$root/cmd"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$GUEST/initramfs.cpio.gz"
}

# rustfmt (the kernel's settings) and checkpatch --strict over our new files
# and every patch of the series.
do_lint() {
	local files=() rs=() trace=() f p rc=0
	while read -r f; do
		case "$f" in
		*.rs) rs+=("$f"); files+=("$f") ;;
		include/trace/events/*.h) trace+=("$f") ;;
		*.c | *.h | */Makefile) files+=("$f") ;;
		esac
	done < <(overlay_files)
	cd "$ROOT"
	/usr/bin/rustfmt --check --edition 2021 --config-path "$SRC/.rustfmt.toml" "${rs[@]}" || rc=1
	"$SRC/scripts/checkpatch.pl" --strict --no-tree -q -f "${files[@]}" || rc=1
	# Trace event headers are laid out as every one in the kernel is
	# (TRACE_EVENT(name, with TP_*( blocks below it), which checkpatch
	# reads as open-ended lines and misaligned arguments.
	"$SRC/scripts/checkpatch.pl" --strict --no-tree -q \
		--ignore OPEN_ENDED_LINE,PARENTHESIS_ALIGNMENT -f "${trace[@]}" || rc=1
	# From the kernel tree: inside our git checkout checkpatch misreads a
	# tracked .patch file as a file to check line by line.
	while read -r p; do
		[ -n "$p" ] || continue
		(cd "$SRC" && ./scripts/checkpatch.pl --strict --no-tree -q "$ROOT/patches/$p") ||
			{ echo "^ $p"; rc=1; }
	done <patches/series
	(cd harness/host-tests && cargo fmt --check) || rc=1
	check_memlock_sites || rc=1
	return "$rc"
}

# Every file of the tree that names RLIMIT_MEMLOCK accounting is listed in
# harness/memlock-sites, and each site there charges the pins cgroup.
check_memlock_sites() {
	local list=$HARNESS/memlock-sites found listed kind f why rc=0
	found=$(cd "$SRC" && grep -rlE --include='*.[ch]' \
		'RLIMIT_MEMLOCK|pinned_vm|locked_vm|account_locked_vm|can_do_mlock|user_shm_lock' \
		. | sed 's|^\./||' | grep -Ev '^(Documentation|tools|usr|scripts)/' | sort)
	listed=$(awk '$1 == "site" || $1 == "not" { print $2 }' "$list" | sort)
	if [ "$found" != "$listed" ]; then
		echo "RLIMIT_MEMLOCK accounting: files not as harness/memlock-sites lists them"
		echo "(< in the tree only, > listed only):"
		diff <(echo "$found") <(echo "$listed") | grep '^[<>]'
		rc=1
	fi
	while read -r kind f why; do
		[ "$kind" = site ] || continue
		grep -qE 'vm_account|mm_locked_|pins_cgroup_try_charge' "$SRC/$f" ||
			{ echo "$f: a site that does not charge the pins cgroup"; rc=1; }
	done <"$list"
	return "$rc"
}

# rustdoc of the kernel crate: our abstractions' docs must build without a
# warning (broken intra-doc links above all).
do_rustdoc() {
	local ours warned
	"${KMAKE[@]}" -j"$JOBS" rustdoc 2>&1 | tee "$LOGS/rustdoc-build.log"
	ours=$(overlay_files | grep -E '\.rs$' | paste -sd'|' | sed 's/\./\\./g')
	warned=$(grep -E -A3 '^(warning|error)' "$LOGS/rustdoc-build.log" | grep -E "$ours" || true)
	if [ -n "$warned" ]; then
		echo "rustdoc warnings in our files:"
		echo "$warned"
		return 1
	fi
}

# ---------------------------------------------------------------- cross

# `make cross`: compiles, with LLVM and warnings as errors, what our series
# changes that the guest's kernel does not build: the powerpc and s390
# users of RLIMIT_MEMLOCK accounting, and the x86 drivers for hardware the
# guest lacks (RDMA adapters, FPGA, AMD SEV), with vm_account and the other
# files of the series each architecture builds. It links nothing: `make
# prepare`, then the objects as single targets, in $BUILD/obj-cross-ARCH.
#
# PINS_CROSS_ARCH picks one architecture; without it every one of
# CROSS_ARCHES is built, as `make check` does. Adding one is a config
# fragment, harness/config/cross-ARCH.config, applied to
# CROSS_DEFCONFIG_ARCH, and a list of objects, CROSS_OBJS_ARCH, below
# (CROSS_LLVM_ARCH if LLVM=1 is not the toolchain, CROSS_FLAGS_ARCH for
# more make arguments); every object of the
# list must be one the config builds, which the fragment sees to. Asked
# for an object as a single target, Kbuild compiles it whether the config
# builds it or not, so the build first asks Kbuild (make -n on the
# objects' directories) whether the config's build would compile each
# one, and fails on one it would not, then checks that each was produced.
#
# PINS_CROSS_SRC=DIR builds the kernel tree DIR (with our series applied:
# a git checkout of it, say; it must not be configured in-tree) instead of
# $BUILD/src, and skips fetching and preparing that: for trying changes
# before they are in patches/.
CROSS_ARCHES=(powerpc s390 x86)
CROSS_SRC=${PINS_CROSS_SRC:-$SRC}

# cross_use ARCH: the architecture the cross functions below work on.
cross_use() {
	local -n llvm=CROSS_LLVM_$1 flags=CROSS_FLAGS_$1
	CROSS_ARCH=$1
	CROSS_OBJ=$BUILD/obj-cross-$1
	CROSS_KMAKE=(make -C "$CROSS_SRC" O="$CROSS_OBJ" ARCH="$1"
		${flags[@]+"${flags[@]}"} LLVM="${llvm:-1}")
}

CROSS_DEFCONFIG_powerpc=ppc64le_defconfig
CROSS_OBJS_powerpc=(
	# account_locked_vm() on powerpc: sPAPR TCE (VFIO), its
	# preregistered memory, KVM's TCE tables
	drivers/vfio/vfio_iommu_spapr_tce.o
	arch/powerpc/mm/book3s64/iommu_api.o
	arch/powerpc/kvm/book3s_64_vio.o
	# vm_account, locked memory
	mm/vm_account.o mm/util.o mm/mlock.o mm/mmap.o mm/mremap.o mm/vma.o
	kernel/fork.o kernel/cgroup/cgroup.o ipc/shm.o lib/test_vm_account.o
	# the other pinning sites
	io_uring/io_uring.o io_uring/notif.o io_uring/rsrc.o
	kernel/events/core.o net/core/skbuff.o net/xdp/xdp_umem.o
	net/rds/message.o
)

# Linux 6.12 wants LLVM 18.1 or later for LLVM=1 on s390 (LLVM 14, the
# harness's toolchain, is below its minimum clang too): Debian's LLVM 19.
# Its clang warns about the port I/O helpers of asm-generic/io.h, which
# do arithmetic on s390's NULL PCI_IOBASE, in every file that includes
# linux/io.h: that one warning is not ours to fail on.
CROSS_LLVM_s390=-19
CROSS_FLAGS_s390=(KCFLAGS=-Wno-null-pointer-arithmetic)
CROSS_DEFCONFIG_s390=defconfig
CROSS_OBJS_s390=(
	# KVM's zPCI interrupt forwarding, and the RDMA core
	arch/s390/kvm/pci.o drivers/infiniband/core/umem.o
	# the other sites s390 builds
	drivers/vfio/vfio_iommu_type1.o drivers/iommu/iommufd/pages.o
	drivers/vhost/vdpa.o drivers/vdpa/vdpa_user/vduse_dev.o
	# vm_account, locked memory
	mm/vm_account.o mm/util.o mm/mlock.o mm/mmap.o mm/mremap.o mm/vma.o
	mm/secretmem.o kernel/fork.o kernel/cgroup/cgroup.o ipc/shm.o
	lib/test_vm_account.o
	io_uring/io_uring.o io_uring/notif.o io_uring/rsrc.o
	kernel/events/core.o net/core/skbuff.o net/xdp/xdp_umem.o
	net/rds/message.o
)

CROSS_DEFCONFIG_x86=x86_64_defconfig
CROSS_OBJS_x86=(
	# RDMA adapters: usnic, hfi1, qib
	drivers/infiniband/hw/usnic/usnic_uiom.o
	drivers/infiniband/hw/hfi1/user_pages.o
	drivers/infiniband/hw/hfi1/user_exp_rcv.o
	drivers/infiniband/hw/hfi1/pin_system.o
	drivers/infiniband/hw/hfi1/user_sdma.o
	drivers/infiniband/hw/hfi1/file_ops.o
	drivers/infiniband/hw/qib/qib_user_pages.o
	drivers/infiniband/hw/qib/qib_file_ops.o
	drivers/infiniband/hw/qib/qib_init.o
	# DFL FPGA AFU, AMD SEV
	drivers/fpga/dfl-afu-dma-region.o drivers/fpga/dfl-afu-main.o
	arch/x86/kvm/svm/sev.o
)

cross_known() {
	local -n defconfig=CROSS_DEFCONFIG_$1
	[ -n "${defconfig:-}" ] && [ -f "$HARNESS/config/cross-$1.config" ] ||
		die "no cross build for PINS_CROSS_ARCH=$1 (it needs harness/config/cross-$1.config and CROSS_DEFCONFIG_$1 and CROSS_OBJS_$1 in harness/pins.sh)"
	[ -z "${PINS_CROSS_SRC:-}" ] || [ -f "$CROSS_SRC/Makefile" ] ||
		die "PINS_CROSS_SRC: no kernel tree at $CROSS_SRC"
}

do_cross_config() {
	local frag=$HARNESS/config/cross-$CROSS_ARCH.config sum k want got bad=0
	local -n defconfig=CROSS_DEFCONFIG_$CROSS_ARCH
	sum=$({ echo "$defconfig ${CROSS_KMAKE[*]}"; cat "$frag"; cat "$BUILD/src-version" 2>/dev/null || true; } |
		sha256sum | cut -d' ' -f1)
	if [ -f "$CROSS_OBJ/.config" ] && [ "$(cat "$CROSS_OBJ/.config-input" 2>/dev/null)" = "$sum" ]; then
		echo "config unchanged"
	else
		mkdir -p "$CROSS_OBJ"
		"${CROSS_KMAKE[@]}" "$defconfig"
		"$CROSS_SRC/scripts/kconfig/merge_config.sh" -m -O "$CROSS_OBJ" \
			"$CROSS_OBJ/.config" "$frag"
		"${CROSS_KMAKE[@]}" olddefconfig
		echo "$sum" >"$CROSS_OBJ/.config-input"
	fi
	# Every option of the fragment must have survived olddefconfig.
	while IFS== read -r k want; do
		got=$(grep -E "^$k=" "$CROSS_OBJ/.config" | cut -d= -f2- || true)
		[ -n "$got" ] || got=n
		if [ "$want" != "$got" ]; then
			echo "config: $k=$want requested, got $k=$got"
			bad=1
		fi
	done < <(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*=.*\)$/\1/p' \
		-e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1=n/p' "$frag")
	return "$bad"
}

do_cross_build() {
	local -n objs=CROSS_OBJS_$CROSS_ARCH
	local start=$CROSS_OBJ/.cross-start plan=$CROSS_OBJ/.cross-plan o d
	local dirs=() missing=()
	touch "$start"
	"${CROSS_KMAKE[@]}" -j"$JOBS" prepare
	# Every run compiles each object again (a rebuild costs the list), so
	# that the plan below sees them all and none is left from a run with
	# another config.
	(cd "$CROSS_OBJ" && rm -f "${objs[@]}")
	# What the config's build of the objects' directories would compile:
	# make -n runs only the sub-makes, and lists each compiler call. An
	# object in a directory without a Makefile (arch/x86/kvm/svm/) is
	# built by the nearest directory above it that has one.
	mapfile -t dirs < <(for o in "${objs[@]}"; do
		d=${o%/*}
		while [ "$d" != "${d%/*}" ] && [ ! -f "$CROSS_SRC/$d/Makefile" ] &&
			[ ! -f "$CROSS_SRC/$d/Kbuild" ]; do
			d=${d%/*}
		done
		echo "$d"
	done | sort -u)
	"${CROSS_KMAKE[@]}" -n "${dirs[@]/%//}" >"$plan"
	for o in "${objs[@]}"; do
		grep -qF -- "-c -o $o " "$plan" || missing+=("$o")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "the $CROSS_ARCH config does not build: ${missing[*]}"
		echo "(enable it in harness/config/cross-$CROSS_ARCH.config)"
		return 1
	fi
	"${CROSS_KMAKE[@]}" -j"$JOBS" "${objs[@]}"
	for o in "${objs[@]}"; do
		[ "$CROSS_OBJ/$o" -nt "$start" ] || missing+=("$o")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "not produced: ${missing[*]}"
		return 1
	fi
	echo "built for $CROSS_ARCH from $CROSS_SRC: ${objs[*]}"
}

# cross_all: every architecture of CROSS_ARCHES, or PINS_CROSS_ARCH's.
cross_all() {
	local arch
	for arch in ${PINS_CROSS_ARCH:-"${CROSS_ARCHES[@]}"}; do
		cross_use "$arch"
		stage "config-$arch" do_cross_config
		stage "cross-$arch" do_cross_build
		say "ARCH=$arch ${CROSS_KMAKE[-1]} -Werror: built in $CROSS_OBJ"
	done
}

cmd_cross() {
	local arch
	for arch in ${PINS_CROSS_ARCH:-"${CROSS_ARCHES[@]}"}; do
		cross_known "$arch"
	done
	stage deps do_deps
	if [ -z "${PINS_CROSS_SRC:-}" ]; then
		stage fetch do_fetch
		stage prepare do_prepare
	else
		say "source tree: $CROSS_SRC (PINS_CROSS_SRC), not $SRC"
	fi
	cross_all
}

# ---------------------------------------------------------------- boot

# The tests the second boot of `make check` runs (see cmd_check).
MOCK_TESTS=cgroup:test_pins_iommufd
# What guest:pins_stress asks of test_pins_stress: operations (-n) and
# seconds at most (-t). PINS_STRESS_OPS and PINS_STRESS_SECS override them.
stress_args() {
	local ops=200000 secs=60
	if [ "$VARIANT" = debug ]; then
		ops=1000000 secs=420
	fi
	echo "pins.stress_ops=${PINS_STRESS_OPS:-$ops} pins.stress_secs=${PINS_STRESS_SECS:-$secs}"
}

accel() {
	case "${PINS_ACCEL:-tcg}" in
	tcg) echo tcg ;;
	kvm) echo kvm ;;
	auto)
		# KVM only if a probe boot reaches user space quickly.
		if [ -w /dev/kvm ] && timeout 60 qemu-system-x86_64 -accel kvm \
			-m 256 -nographic -no-reboot -kernel "$BUILD/bzImage-$VARIANT" \
			-initrd "$GUEST/initramfs.cpio.gz" \
			-append "console=ttyS0 panic=-1 pins.mode=probe" 2>/dev/null |
			grep -q PINS-GUEST-END; then
			echo kvm
		else
			echo tcg
		fi
		;;
	*) die "PINS_ACCEL must be tcg, kvm or auto" ;;
	esac
}

# boot MODE LOG [OPTIONS]: boot the guest; MODE is check, demo, cmd or
# shell; OPTIONS replace the default extra kernel options.
boot() {
	local mode=$1 log=$2 opts=${3:-intel_iommu=on} acc rc=0 mem=1024
	local timeout=${PINS_TIMEOUT:-900}
	acc=$(accel)
	# KASAN's shadow takes an eighth of the memory, and every check and
	# lockdep's proofs slow the guest down several times.
	if [ "$VARIANT" = debug ]; then
		mem=1536
		timeout=${PINS_TIMEOUT:-3000}
	fi
	# A q35 machine with QEMU's emulated Intel IOMMU and its edu PCI
	# device, for the VFIO tests; the vDPA simulator pins guest memory
	# (use_va=0) as a hardware vDPA device does.
	local qemu=(qemu-system-x86_64 -accel "$acc" -m "$mem" -smp 2
		-machine q35 -device intel-iommu,intremap=off -device edu
		-nographic -no-reboot
		-kernel "$BUILD/bzImage-$VARIANT"
		-initrd "$GUEST/initramfs.cpio.gz"
		-append "console=ttyS0 panic=-1 pins.mode=$mode $opts vdpa_sim.use_va=0")
	if [ "$mode" = shell ]; then
		"${qemu[@]}"
		return
	fi
	# In check mode the host prints the TAP summary and keeps the console
	# in the log; the demo's and a command's console is the point.
	if [ "$mode" = check ]; then
		timeout --foreground "$timeout" "${qemu[@]}" </dev/null |
			tr -d '\r' >"$log" || rc=$?
	else
		timeout --foreground "$timeout" "${qemu[@]}" </dev/null |
			tr -d '\r' | tee "$log" || rc=$?
	fi
	if [ "$rc" -eq 124 ]; then
		echo "ERROR: guest hung: no end after ${timeout}s (log: $log)" >&2
		return 1
	fi
	if ! grep -q '^PINS-GUEST-END' "$log"; then
		echo "ERROR: guest stopped before its end marker (log: $log)" >&2
		return 1
	fi
}

# Fails if the guest kernel reported a panic, an oops, a BUG or a WARN.
check_guest_log() {
	local bad
	# kmemleak's report of the scan at the end of a debug run ("unreferenced
	# object ...") is a failure too.
	bad=$(grep -nE 'Kernel panic|Oops|BUG:|WARNING:|Call Trace:|general protection fault|UBSAN|KASAN|unreferenced object|PINS-KMEMLEAK-FAILED' "$1" || true)
	if [ -n "$bad" ]; then
		echo "ERROR: the guest kernel reported problems (log: $1):" >&2
		echo "$bad" >&2
		return 1
	fi
}

banner() {
	say "kernel: $PKG $(cat "$BUILD/package-version") ($(cat "$BUILD/kernelrelease-$VARIANT")), CONFIG_CGROUP_PINS=$PINS"
}

build_all() {
	stage deps do_deps
	stage fetch do_fetch
	stage prepare do_prepare
	stage config-$VARIANT do_config
	stage build-$VARIANT do_build
	stage selftests do_selftests
	stage initramfs do_initramfs
	banner
}

# ---------------------------------------------------------------- bench

# `make bench` (not part of `make check`): the instructions each charge
# path costs, on the kernel with the controller (pins), on the same tree
# without it (nopins) and on the pristine Debian tree built with the same
# config minus our options (vanilla). Each kernel boots BENCH_BOOTS times
# under QEMU TCG with -icount shift=0 on one vCPU, where one guest
# nanosecond is one executed guest instruction, and runs
# harness/bench/pins_bench, which prints the median instructions per
# operation of each op in each cgroup layout; the table of the first boot
# of each goes to the terminal and $LOGS/bench.txt, and the run fails if a
# boot fails or two boots of a kernel disagree by more than
# BENCH_AGREEMENT percent. The numbers are the output: no target is
# checked here.
#
# What makes two boots agree to the instruction (measured on the
# prototype; without any one of these they differ by up to 1 %):
# -icount sleep=off (with sleep=on, the default, virtual time runs at the
# host's pace while the guest idles, so the tick's phase differs from boot
# to boot) and align=off; the RTC on the virtual clock from a fixed date;
# nokaslr and, in the guest, no ASLR, so that every boot lays out kernel
# and benchmark the same way; waiting for the switch from tsc-early to the
# refined tsc clocksource before the first op; one vCPU; the median of
# the repetitions (pins_bench explains why not the minimum).
#
# PINS_BENCH_KERNELS='vanilla=PATH nopins=PATH pins=PATH' (any of them)
# boots those bzImages instead of building them; PINS_BENCH_HEADERS=DIR
# are the uapi headers pins_bench is built against when the pins kernel
# is not built here (the build's own otherwise; the system's if neither);
# PINS_BENCH_ARGS are more arguments to pins_bench (-o OP,... -l LAYOUT,...
# to run fewer, -r REPS).
BENCH=$BUILD/bench
BENCH_VARIANTS=(vanilla nopins pins)
BENCH_BOOTS=2
BENCH_AGREEMENT=0.01
BENCH_ICOUNT=shift=0,sleep=off,align=off
BENCH_RTC=base=2025-01-01T00:00:00,clock=vm

# bench_given VARIANT: the bzImage PINS_BENCH_KERNELS names for it, if any.
bench_given() {
	local kv
	for kv in ${PINS_BENCH_KERNELS:-}; do
		if [ "${kv%%=*}" = "$1" ]; then
			echo "${kv#*=}"
			return
		fi
	done
}

bench_check_knobs() {
	local kv
	for kv in ${PINS_BENCH_KERNELS:-}; do
		case "${kv%%=*}" in
		vanilla | nopins | pins) ;;
		*) die "PINS_BENCH_KERNELS: '$kv' is not vanilla=PATH, nopins=PATH or pins=PATH" ;;
		esac
		[ -f "${kv#*=}" ] || die "PINS_BENCH_KERNELS: no file ${kv#*=}"
	done
	[ -z "${PINS_BENCH_HEADERS:-}" ] || [ -f "$PINS_BENCH_HEADERS/linux/io_uring.h" ] ||
		die "PINS_BENCH_HEADERS: no uapi headers in $PINS_BENCH_HEADERS"
}

# The benchmark, static, and the initramfs it runs in: the guest's root
# (guest_root, without the test programs: pins_bench needs none of them)
# with pins_bench in /tests.
do_bench_prog() {
	local hdr=$1 inc=()
	if [ -n "$hdr" ]; then
		inc=(-isystem "$hdr")
		echo "uapi headers: $hdr"
	else
		echo "uapi headers: the system's (/usr/include)"
	fi
	mkdir -p "$BENCH"
	gcc -static -O2 -Wall -Werror ${inc[@]+"${inc[@]}"} \
		-o "$BENCH/pins_bench" "$HARNESS/bench/pins_bench.c" -luring
	guest_root "$BENCH/root"
	cp "$BENCH/pins_bench" "$BENCH/root/tests/"
	cat >"$BENCH/root/cmd" <<EOC
echo 0 >/proc/sys/kernel/randomize_va_space
# The kernel starts on tsc-early and switches to the refined tsc about a
# second after boot: no op may straddle the switch.
cs=/sys/devices/system/clocksource/clocksource0/current_clocksource
i=0
while [ "\$(cat \$cs)" != tsc ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
echo "# uname=\$(uname -r) clocksource=\$(cat \$cs)"
/tests/pins_bench ${PINS_BENCH_ARGS:-}
EOC
	# The same bytes every time (order, times, inode numbers): what the
	# kernel unpacks before the benchmark shifts the timeline the ops run
	# in, and with it some rows by up to 0.2 % (measured).
	find "$BENCH/root" -exec touch -h -d @0 {} +
	(cd "$BENCH/root" && find . | LC_ALL=C sort |
		cpio -o -H newc --reproducible --quiet | gzip -1 -n) >"$BENCH/initramfs.cpio.gz"
}

# bench_boot VARIANT BZIMAGE N: the Nth boot of a kernel; its console goes to
# $LOGS/guest-bench-VARIANT-N.log, its op lines to $BENCH/VARIANT.N.txt.
bench_boot() {
	local variant=$1 image=$2 n=$3 log=$LOGS/guest-bench-$1-$3.log rc=0
	echo "kernel: $image"
	timeout --foreground "${PINS_TIMEOUT:-900}" \
		qemu-system-x86_64 -accel tcg -icount "$BENCH_ICOUNT" \
		-smp 1 -m 1024 -machine q35 -nographic -no-reboot \
		-rtc "$BENCH_RTC" \
		-kernel "$image" -initrd "$BENCH/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 pins.mode=cmd nokaslr" \
		</dev/null | tr -d '\r' >"$log" || rc=$?
	if [ "$rc" -eq 124 ]; then
		echo "ERROR: guest hung: no end after ${PINS_TIMEOUT:-900}s (log: $log)"
		return 1
	fi
	if ! grep -q '^PINS-GUEST-END' "$log"; then
		echo "ERROR: guest stopped before its end marker (log: $log)"
		return 1
	fi
	check_guest_log "$log"
	grep -E '^(op=|# )' "$log" >"$BENCH/$variant.$n.txt" || true
	if ! grep -q '^op=' "$BENCH/$variant.$n.txt"; then
		echo "ERROR: pins_bench printed no op line (log: $log)"
		return 1
	fi
	grep -v '^op=' "$BENCH/$variant.$n.txt" || true
	echo "$(grep -c '^op=.*ns_per_op=' "$BENCH/$variant.$n.txt") ops measured," \
		"$(grep -c '^op=.*skipped=' "$BENCH/$variant.$n.txt") skipped"
}

# bench_table: the table of $BENCH/*.N.txt; fails if two boots of a kernel
# disagree by more than BENCH_AGREEMENT percent or on which ops ran.
bench_table() {
	python3 - "$BENCH" "$BENCH_BOOTS" "$BENCH_AGREEMENT" "${BENCH_VARIANTS[@]}" <<'EOP'
import sys

bench, boots, limit, variants = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
names = {"vanilla": "vanilla", "nopins": "PINS=n", "pins": "PINS=y"}
data = {}       # (variant, boot) -> {(op, layout): float or "skipped=..."}
ops, layouts = [], []
reps = None
for v in variants:
    for b in range(1, boots + 1):
        d = {}
        for line in open(f"{bench}/{v}.{b}.txt").read().splitlines():
            if line.startswith("# pins_bench "):
                kv = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
                reps = kv.get("reps", reps)
            if not line.startswith("op="):
                continue
            kv = dict(f.split("=", 1) for f in line.split())
            op, layout = kv["op"], kv["layout"]
            if op not in ops:
                ops.append(op)
            if layout not in layouts:
                layouts.append(layout)
            d[(op, layout)] = float(kv["ns_per_op"]) if "ns_per_op" in kv \
                else "skipped=" + kv.get("skipped", "?")
        data[(v, b)] = d

def cell(x):
    return f"{x:.1f}" if isinstance(x, float) else "skip" if x else "-"

base = variants[0]
print(f"Instructions per operation (guest ns under QEMU -icount shift=0, one vCPU),")
print(f"median of {reps} repetitions, first boot of each kernel; % against {names[base]}")
print(f"(* : {names[base]} cannot run it, % against {names[variants[1]]}).")
print()
w = 12
hdr = f"{'op':<18} {'layout':<9}" + "".join(f"{names[v]:>{w}}" for v in variants) \
    + "".join(f"{'%' + names[v]:>{w}}" for v in variants[1:])
print(hdr)
print("-" * len(hdr))
notes = set()
for op in ops:
    for layout in layouts:
        key = (op, layout)
        vals = [data[(v, 1)].get(key) for v in variants]
        if all(x is None for x in vals):
            continue
        row = f"{op:<18} {layout:<9}" + "".join(f"{cell(x):>{w}}" for x in vals)
        ref, mark = vals[0], " "
        if not isinstance(ref, float):
            ref, mark = vals[1], "*"
        for i, x in enumerate(vals[1:], 1):
            if isinstance(x, float) and isinstance(ref, float) and ref and \
                    not (mark == "*" and i == 1):
                row += f"{(x - ref) / ref * 100:>+{w - 2}.3f}%{mark}"
            else:
                row += f"{'-':>{w}}"
        print(row)
        for v, x in zip(variants, vals):
            if isinstance(x, str):
                notes.add(f"{names[v]}: {op}: {x}")
if notes:
    print()
    print("Skipped:")
    for n in sorted(notes):
        print(f"  {n}")

print()
print(f"Boot-to-boot agreement ({boots} boots of each kernel): max relative difference over all rows")
bad = False
for v in variants:
    worst, where, why = 0.0, None, ""
    for b in range(2, boots + 1):
        d1, db = data[(v, 1)], data[(v, b)]
        for key in set(d1) | set(db):
            x, y = d1.get(key), db.get(key)
            if isinstance(x, float) and isinstance(y, float):
                diff = abs(y - x) / x * 100 if x else (0.0 if x == y else float("inf"))
                if diff > worst:
                    worst, where = diff, key
            elif x != y:
                worst, where, why = float("inf"), key, f" ({x} / {y})"
    ok = worst <= limit
    bad |= not ok
    at = f"  (at {where[0]} {where[1]}{why})" if where else ""
    print(f"  {names[v]:<8} {worst:.4f} %{at}{'' if ok else f'  MORE THAN {limit} %'}")
sys.exit(1 if bad else 0)
EOP
}

cmd_bench() {
	local v image hdr=${PINS_BENCH_HEADERS:-} n rc=0
	local -A images=()
	bench_check_knobs
	stage deps do_deps
	# The two kernels of our tree, as make check builds them.
	for v in pins nopins; do
		images[$v]=$(bench_given "$v")
		[ -z "${images[$v]}" ] || continue
		use_variant "$v"
		build_all
		images[$v]=$BUILD/bzImage-$v
		[ "$v" = pins ] && hdr=$OBJ/usr/include
	done
	# The pristine tree, same config minus our options.
	images[vanilla]=$(bench_given vanilla)
	if [ -z "${images[vanilla]}" ]; then
		stage fetch do_fetch
		use_variant vanilla
		stage config-vanilla do_config
		stage build-vanilla do_build_vanilla
		say "vanilla: $PKG $(cat "$BUILD/package-version") ($(cat "$BUILD/kernelrelease-vanilla")), pristine, without our options"
		images[vanilla]=$BUILD/bzImage-vanilla
	fi
	for v in "${BENCH_VARIANTS[@]}"; do
		say "$v: ${images[$v]}"
	done
	stage bench-prog do_bench_prog "$hdr"
	rm -f "$BENCH"/*.[0-9]*.txt
	for v in "${BENCH_VARIANTS[@]}"; do
		for n in $(seq 1 "$BENCH_BOOTS"); do
			stage "bench-$v-$n" bench_boot "$v" "${images[$v]}" "$n"
		done
	done
	bench_table >"$LOGS/bench.txt" || rc=$?
	echo
	cat "$LOGS/bench.txt"
	echo
	say "table: $LOGS/bench.txt; consoles: $LOGS/guest-bench-*.log"
	return "$rc"
}

# tools/cgroup/pins_report.py, run on the host: its tests on made-up
# trees, and on the copy of the guest's cgroup tree and processes that
# guest:crun_container took while its containers held their pins (lines
# "PINS-SNAPSHOT <base64 of a tar.gz>" in GUEST_LOG). Prints the tests'
# output and ends with "REPORT-TESTS passed failed skipped". With the
# controller the copy must be there: without it, that counts as a failure.
report_tests() {
	local guest_log=$1 snap=$BUILD/snapshot-$VARIANT out p f s rc=0
	rm -rf "$snap"
	mkdir -p "$snap"
	if grep -q 'PINS-SNAPSHOT ' "$guest_log"; then
		sed -n 's/.*PINS-SNAPSHOT //p' "$guest_log" | tr -d '\r' | base64 -d |
			tar -xzf - -C "$snap" ||
			echo "the guest's snapshot does not unpack"
	fi
	out=$(cd "$HARNESS/tools-tests" &&
		PINS_REPORT=$SRC/tools/cgroup/pins_report.py \
		PINS_SNAPSHOT=$([ -d "$snap/snap" ] && echo "$snap/snap") \
		python3 -m unittest -v test_pins_report 2>&1) || rc=1
	echo "$out"
	p=$(grep -c ' \.\.\. ok$' <<<"$out" || true)
	f=$(grep -cE ' \.\.\. (FAIL|ERROR)$' <<<"$out" || true)
	s=$(grep -c ' \.\.\. skipped' <<<"$out" || true)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "python3 -m unittest failed without a failed test: counted as 1 failure"
		f=$((f + 1))
	fi
	if [ "$VARIANT" != nopins ] && ! [ -d "$snap/snap" ]; then
		echo "guest:crun_container left no snapshot of the cgroup tree: counted as 1 failure"
		f=$((f + 1))
	fi
	echo "REPORT-TESTS $p $f $s"
}

# ---------------------------------------------------------------- commands

cmd_run() {
	build_all
	local mode=demo
	[ -n "${CMD:-}" ] && mode=cmd
	say "booting ($mode); serial console follows"
	boot "$mode" "$LOGS/guest-$mode-$VARIANT.log"
}

cmd_shell() {
	build_all
	say "booting to a shell; leave it with 'exit' (or Ctrl-A x)"
	boot shell ""
}

# check_variant: every test on the kernel of $VARIANT; its summary in
# $LOGS/summary-$VARIANT.txt.
check_variant() {
	local host_log=$LOGS/host-tests.log guest_log=$LOGS/guest-check-$VARIANT.log
	local mock_log=$LOGS/guest-check-mock-$VARIANT.log
	local rc=0 hp=0 hf=0 hs=0
	say "host tests (cargo test)"
	if (cd "$HARNESS/host-tests" && cargo test --release 2>&1) | tee "$host_log"; then :; else rc=1; fi
	read -r hp hf hs < <(awk '/^test result:/ {
		for (i = 1; i <= NF; i++) {
			if ($(i) ~ /^passed;?$/) p += $(i - 1)
			if ($(i) ~ /^failed;?$/) f += $(i - 1)
			if ($(i) ~ /^ignored;?$/) s += $(i - 1)
		}
	} END { print p + 0, f + 0, s + 0 }' "$host_log")
	[ "$rc" -eq 0 ] || [ "$hf" -gt 0 ] || hf=$((hf + 1))

	build_all
	# Lint, rustdoc and the cross builds do not depend on the debug
	# options: the debug variant leaves them to the others.
	[ "$VARIANT" = debug ] || stage lint do_lint
	[ "$VARIANT" != pins ] || stage rustdoc do_rustdoc
	# What the guest's kernel does not build, compiled for each
	# architecture (once: it does not depend on PINS).
	[ "$VARIANT" != pins ] || cross_all
	say "booting the guest for the selftests"
	if ! boot check "$guest_log" "intel_iommu=on $(stress_args)"; then rc=1; fi
	if ! check_guest_log "$guest_log"; then rc=1; fi
	# iommufd's test mock cannot be used while an IOMMU driver is (6.12
	# probes the mock's devices with the first IOMMU driver registered),
	# and the VFIO tests need QEMU's IOMMU: the iommufd tests run again,
	# on the mock, in a second boot without the Intel IOMMU driver.
	say "booting again, without the IOMMU driver, for the iommufd mock"
	if ! boot check "$mock_log" "intel_iommu=off pins.tests=$MOCK_TESTS"; then rc=1; fi
	if ! check_guest_log "$mock_log"; then rc=1; fi
	say "tools/cgroup/pins_report.py on made-up trees and on the guest's"
	report_tests "$guest_log" | tee "$LOGS/report-tests-$VARIANT.log"
	local rp rf rs
	read -r rp rf rs < <(sed -n 's/^REPORT-TESTS //p' "$LOGS/report-tests-$VARIANT.log")
	hp=$((hp + rp)) hf=$((hf + rf)) hs=$((hs + rs))
	[ "$rf" -eq 0 ] || rc=1
	local must_skip=""
	[ "$VARIANT" = nopins ] && must_skip="cgroup:test_pins cgroup:test_vm_account cgroup:test_pins_mlock guest:crun_container"
	cat "$guest_log" "$mock_log" >"$LOGS/guest-check-all-$VARIANT.log"
	"$HARNESS/tap-summary.sh" "$LOGS/guest-check-all-$VARIANT.log" "$hp" "$hf" "$hs" "$must_skip" |
		tee "$LOGS/summary-$VARIANT.txt" || rc=1
	# For the cover letter of `make patches`: the result and the commit it
	# was taken at (none for a tree with uncommitted changes).
	printf '%s %s\n' "$(head_commit)" "$(tail -n 1 "$LOGS/summary-$VARIANT.txt")" \
		>"$LOGS/check-result-$VARIANT"
	return "$rc"
}

# make stress (not part of make check): test_pins_stress alone, for
# PINS_STRESS_OPS operations (1,000,000 by default) or PINS_STRESS_SECS
# seconds (4 hours) at most, on the debug kernel (PINS_DEBUG=0: the plain
# one), then kmemleak's scan and the kernel log's check as in make check.
# The run make check's time leaves out: the debug kernel makes a few
# hundred operations a second under TCG.
cmd_stress() {
	local log ops=${PINS_STRESS_OPS:-1000000} secs=${PINS_STRESS_SECS:-14400}
	local rc=0
	[ "$PINS" = y ] || die "make stress needs the controller (PINS=y)"
	[ "${PINS_DEBUG:-}" = 0 ] || use_variant debug
	log=$LOGS/guest-stress-$VARIANT.log
	build_all
	say "booting the guest for test_pins_stress: $ops operations or ${secs}s"
	# The guest's own watchdog is the test's; the host's gives the boot,
	# the settling and kmemleak's scan half an hour more.
	if ! PINS_TIMEOUT=${PINS_TIMEOUT:-$((secs + 1800))} boot check "$log" \
		"intel_iommu=on pins.tests=guest:pins_stress pins.stress_ops=$ops pins.stress_secs=$secs"; then
		rc=1
	fi
	if ! check_guest_log "$log"; then rc=1; fi
	grep -E '^# (seed|[0-9]+ operations|violations|children that died)' "$log" || true
	"$HARNESS/tap-summary.sh" "$log" 0 0 0 "" | tee "$LOGS/summary-stress-$VARIANT.txt" || rc=1
	return "$rc"
}

# make check: the variant PINS and PINS_DEBUG name; with the controller,
# unless PINS_DEBUG is set, the plain kernel and then the debug one, and a
# last line that adds the two up.
cmd_check() {
	local rc=0 v
	check_variant || rc=1
	if [ "$VARIANT" = pins ] && [ -z "${PINS_DEBUG:-}" ]; then
		say "every test again, on the debug kernel (KASAN, lockdep, kmemleak; PINS_DEBUG=0 skips it)"
		use_variant debug
		check_variant || rc=1
		for v in pins debug; do
			echo "# $v: $(tail -n 1 "$LOGS/summary-$v.txt")"
		done
		tail -q -n 1 "$LOGS/summary-pins.txt" "$LOGS/summary-debug.txt" |
			awk '{ p += $1; f += $3; s += $5 }
				END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
	fi
	return "$rc"
}

case "${1:-}" in
run) cmd_run ;;
check) cmd_check ;;
shell) cmd_shell ;;
deps) stage deps do_deps ;;
prepare) stage deps do_deps; stage fetch do_fetch; stage prepare do_prepare; stage config-$VARIANT do_config ;;
build) build_all ;;
lint) stage deps do_deps; stage fetch do_fetch; stage prepare do_prepare; stage lint do_lint ;;
cross) cmd_cross ;;
bench) cmd_bench ;;
stress) cmd_stress ;;
rustdoc) build_all; stage rustdoc do_rustdoc ;;
patches) stage deps do_deps; stage fetch do_fetch; stage patches do_patches; cat "$LOGS/patches.log" ;;
bisect-check)
	stage deps do_deps; stage fetch do_fetch; stage patches do_patches
	say "building every prefix of the series, CONFIG_CGROUP_PINS=y then =n"
	do_bisect_check ;;
*) sed -n '3,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
