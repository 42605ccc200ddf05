# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Kernel trees and kernel builds, shared by run.sh and harness/patches-check.sh.
#
# Expects: TOP, CACHE, KDIR (prepared), JOBS, HEAVY_LOCK, HEAVY_LOCK_WAIT, and
# the functions die and progress.

host_arch() {
	local m
	m=$(uname -m)
	echo "${m/aarch64/arm64}"
}

# Host tools --------------------------------------------------------------

# host_tool SRC OUT [GCC ARGS...]: build harness/SRC into OUT unless OUT is
# newer; under a temporary name first, so that a run beside this one never
# sees half a file.
host_tool() {
	local src=$TOP/harness/$1 out=$2
	shift 2
	[[ -f $out && ! $src -nt $out ]] && return 0
	mkdir -p "$(dirname "$out")"
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror "$@" -o "$out.$BASHPID" "$src" ||
		die "cannot build $out from harness/$(basename "$src")"
	mv -f "$out.$BASHPID" "$out"
}

# with_build_env COMMAND...: run a kernel or suite build with gcc's heap
# advised onto transparent huge pages (harness/hugepage_advise.c: a quarter
# less CPU on a VM), unless VSCHED_HUGEPAGES=0.  No preload under a path that
# LD_PRELOAD would split (a space or a colon).
with_build_env() {
	local preload=$TOP/build/host/hugepage_advise.so
	if [[ ${VSCHED_HUGEPAGES:-1} == 0 || $preload == *[:\ ]* ]]; then
		"$@"
		return
	fi
	host_tool hugepage_advise.c "$preload" -shared -fPIC || return
	LD_PRELOAD="$preload${LD_PRELOAD:+ $LD_PRELOAD}" \
		GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" "$@"
}

# Kernel tree -------------------------------------------------------------

# Debian's linux-source-6.12, extracted once into the cache, never edited.
extract_default_kdir() {
	local tarball=/usr/src/linux-source-6.12.tar.xz tmp
	[[ -f $DEFAULT_KDIR/Makefile ]] && return
	[[ -f $tarball ]] || die "$tarball missing: apt-get install linux-source-6.12"
	progress "extracting $tarball into $CACHE"
	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/extract.XXXXXX")
	# The tarball is in 62 xz blocks, which xz 5.4 unpacks on every core.
	tar -C "$tmp" -I "xz -T0" -xf "$tarball"
	mv "$tmp/linux-source-6.12" "$DEFAULT_KDIR"
	rmdir "$tmp"
}

# KDIR: the user's tree, or the default one.
prepare_kdir() {
	if [[ -n $KDIR ]]; then
		[[ -f $KDIR/Makefile && -d $KDIR/virt/kvm ]] ||
			die "KDIR=$KDIR is not a kernel tree (no Makefile or virt/kvm)"
		KDIR=$(realpath "$KDIR")
		return
	fi
	extract_default_kdir
	KDIR=$DEFAULT_KDIR
}

kernel_version() {
	make -s -C "$KDIR" kernelversion 2>/dev/null
}

series_patches() {
	local p
	[[ -f $TOP/kernel-patches/series ]] || return 0
	while read -r p; do
		p=${p%%#*}
		p=${p// /}
		[[ -n $p ]] || continue
		[[ -f $TOP/kernel-patches/$p ]] || die "kernel-patches/series names $p, which does not exist"
		echo "$TOP/kernel-patches/$p"
	done <"$TOP/kernel-patches/series"
}

# What a tree was made from: the source, and the patches applied to it.  One
# identity per line, for the first 0, 1, ... N patches of the series: the
# source is read once, however many prefixes are asked for.
tree_identities() {
	local n=$1 source k patches
	patches=$(series_patches)
	if [[ -n $patches ]]; then
		mapfile -t patches <<<"$patches"
	else
		patches=()
	fi
	source=$(
		echo "$KDIR"
		kernel_version
		# A git tree (a bisection) changes under the same path.
		if [[ -e $KDIR/.git ]]; then
			git -C "$KDIR" rev-parse HEAD
			git -C "$KDIR" diff HEAD
		fi
	)
	for ((k = 0; k <= n; k++)); do
		{
			printf '%s\n' "$source"
			cat "${patches[@]:0:k}" </dev/null
		} | sha256sum | cut -c1-16
	done
}

apply_patches() {
	local tree=$1 from=$2 to=$3 p
	while read -r p; do
		[[ -n $p ]] || continue
		patch -s -p1 --fuzz=0 --no-backup-if-mismatch -d "$tree" <"$p" >&2 ||
			die "$(basename "$p") does not apply to $(kernel_version) with --fuzz=0"
	done < <(series_patches | head -n "$to" | tail -n +"$((from + 1))")
}

# A fresh tree (nothing built in it yet) starts as hard links to KDIR: 2 s
# instead of 17 s for a copy.  Nothing writes into a tree in place: builds go
# to out-<arch>/, and patch(1) writes a patched file anew, which unlinks it
# from KDIR's.  Fails (and the caller copies) across file systems, or when
# the tree is not fresh.
link_fresh_tree() {
	local tree=$1
	[[ -z $(ls -A "$tree") ]] || return 1
	find "$KDIR" -mindepth 1 -maxdepth 1 ! -name .git ! -name 'out-*' ! -name .vsched-tree \
		-exec cp -al -t "$tree" {} + 2>/dev/null && return 0
	find "$tree" -mindepth 1 -delete
	return 1
}

# A new tree can start as a copy of the last built tree of another state:
# prepare_tree then turns its sources into this state's, and kbuild rebuilds
# only what the difference touches.  The stock and patched configs differ by
# the series' KUnit symbol, which is in the autoconf.h every object includes,
# so ccache shares no object between the two states: a first --unpatched build
# from nothing recompiled all ~620 objects an arch, this recompiled 136 for
# arm64 and 45 for x86_64.
# Sources are hard links (prepare_tree's rsync and patch(1) replace a file,
# never write into it), build output a real copy.  The fragment stamp is
# dropped so that configure_kernel makes this state's .config anew.  Fails
# when there is no built tree to start from.
seed_tree() {
	local tree=$1 stamp built="" from out old new
	for stamp in "$CACHE"/trees/*/out-*/.vsched-built; do
		if [[ -f $stamp && $stamp != "$tree"/* && ( -z $built || $stamp -nt $built ) ]]; then
			built=$stamp
		fi
	done
	[[ -n $built ]] || return 1
	from=$(dirname "$(dirname "$built")")
	progress "starting kernel tree $(basename "$tree") from $(basename "$from")'s build"
	if ! find "$from" -mindepth 1 -maxdepth 1 ! -name .git ! -name 'out-*' ! -name .vsched-tree \
		-exec cp -al -t "$tree" {} + || ! cp -a "$from"/out-* "$tree/"; then
		find "$tree" -mindepth 1 -delete
		return 1
	fi
	for out in "$tree"/out-*; do
		rm -f "$out/fragment.config" "$out/.vsched-built"
	done
	# The commands of objtool's and the vDSO's objects name the tree by its
	# absolute path: left as they are, the new tree would rebuild objtool, and
	# a new objtool makes every x86 object stale.
	old=$(realpath "$from")/
	new=$(realpath "$tree")/
	case $old$new in
	*[\\\|\&]*) ;; # not in a sed replacement: objtool is rebuilt
	*) { grep -rlZF --include='.*.cmd' "$old" "$tree"/out-* || true; } | xargs -0 -r sed -i "s|$old|$new|g" ;;
	esac
}

# A copy of KDIR with the first $2 patches of the series applied, in
# $CACHE/trees/$1.  Build output lives in out-<arch>/ inside it, so the
# compiler sees the same relative paths in every tree and ccache hits across
# them.  Files that change are given a fresh mtime so that make rebuilds them.
# A tree that holds a shorter prefix only gets the missing patches, so that
# patches-check rebuilds just what each patch touches.
# A new tree starts from another state's built tree when there is one
# (seed_tree), else as hard links to KDIR (link_fresh_tree).
prepare_tree() {
	local name=$1 npatches=$2 tree=$CACHE/trees/$1 ids have="" k current changed
	ids=$(tree_identities "$npatches")
	mapfile -t ids <<<"$ids"
	if [[ -f $tree/.vsched-tree ]]; then
		current=$(cat "$tree/.vsched-tree")
		for ((k = npatches; k >= 0; k--)); do
			if [[ ${ids[k]} == "$current" ]]; then
				have=$k
				break
			fi
		done
	fi
	if [[ $have == "$npatches" ]]; then
		echo "$tree"
		return
	fi
	progress "preparing kernel tree $name ($npatches patches)"
	mkdir -p "$tree"
	rm -f "$tree/.vsched-tree"
	if [[ -z $have ]]; then
		if [[ -n $(ls -A "$tree") ]] || seed_tree "$tree" || ! link_fresh_tree "$tree"; then
			changed=$(rsync -a --delete --exclude='/out-*' --exclude=/.git --exclude=/.vsched-tree \
				--out-format='%n' "$KDIR/" "$tree/")
			(cd "$tree" && printf '%s\n' "$changed" | grep -v '/$' | xargs -r -d '\n' touch --no-create)
		fi
		have=0
	fi
	apply_patches "$tree" "$have" "$npatches"
	echo "${ids[npatches]}" >"$tree/.vsched-tree"
	echo "$tree"
}

# with_lock FILE COMMAND...: run COMMAND holding FILE (flock), waiting at most
# HEAVY_LOCK_WAIT seconds for it.
with_lock() {
	local lock=$1
	shift
	mkdir -p "$(dirname "$lock")"
	(
		flock -w "$HEAVY_LOCK_WAIT" 9 || die "waited ${HEAVY_LOCK_WAIT}s for $lock"
		"$@"
	) 9>"$lock"
}

# Kernel builds and QEMU runs: one at a time on the machine.  Waiters first
# take the queue lock, so at most one of them contends for the heavy lock when
# it is released: a run that needs it many times in a row (patches-check) is
# not starved by newcomers grabbing it between its steps.
with_heavy_lock() {
	mkdir -p "$(dirname "$HEAVY_LOCK")"
	(
		flock -w "$HEAVY_LOCK_WAIT" 8 || die "waited ${HEAVY_LOCK_WAIT}s in the queue for $HEAVY_LOCK"
		flock -w "$HEAVY_LOCK_WAIT" 9 || die "waited ${HEAVY_LOCK_WAIT}s for $HEAVY_LOCK"
		flock -u 8
		exec 8>&-
		"$@"
	) 8>"$HEAVY_LOCK.queue" 9>"$HEAVY_LOCK"
}

kernel_image_path() {
	case $1 in
	arm64) echo arch/arm64/boot/Image ;;
	x86_64) echo arch/x86/boot/bzImage ;;
	esac
}

cross_prefix() {
	if [[ $1 == arm64 && $(host_arch) != arm64 ]]; then
		echo aarch64-linux-gnu-
	fi
}

kbuild() {
	local arch=$1 tree=$2
	shift 2
	local karch=$arch cross
	cross=$(cross_prefix "$arch")
	# Depend mode: on a miss ccache does not run the preprocessor first (it
	# hashes the files that the compiler's -MMD output names). A cold build of
	# drivers/acpi took 95 s through plain ccache, 62 s in depend mode, 49 s
	# without ccache; hits are as before.
	CCACHE_DEPEND=1 CCACHE_DIR=$CACHE/ccache CCACHE_BASEDIR=$CACHE/trees CCACHE_NOHASHDIR=1 \
		with_build_env make -C "$tree" O="out-$arch" ARCH="$karch" CROSS_COMPILE="$cross" \
		CC="ccache ${cross}gcc" HOSTCC="ccache gcc" "$@"
}

configure_kernel() {
	local arch=$1 tree=$2 out=$2/out-$1 want name unknown missing=""
	mkdir -p "$out"
	cat "$TOP/kernel-patches/config/common.config" \
		"$TOP/kernel-patches/config/$arch.config" >"$out/fragment.new"
	if [[ -f $out/.config ]] && cmp -s "$out/fragment.new" "$out/fragment.config"; then
		rm "$out/fragment.new"
		return
	fi
	KCONFIG_WARN_UNKNOWN_SYMBOLS=1 kbuild "$arch" "$tree" -s KCONFIG_ALLCONFIG="out-$arch/fragment.new" \
		allnoconfig >"$out/config.log" 2>&1 || die "allnoconfig for $arch failed: see $out/config.log"
	# A symbol the tree does not define (the series' own, in the stock tree or
	# an early prefix of the series) is not asked of it.
	unknown=$(sed -n 's/.*warning: unknown symbol: //p' "$out/config.log")
	while read -r want; do
		name=${want%%=*}
		grep -qxF "${name#CONFIG_}" <<<"$unknown" && continue
		grep -qx "$want" "$out/.config" || missing+=" $want"
	done < <(grep -o '^CONFIG_[A-Za-z0-9_]*=[^ #]*' "$out/fragment.new")
	[[ -z $missing ]] || die "kernel-patches/config: not set in the $arch .config (unmet dependency?):$missing"
	# Only now: a fragment that failed is tried again by the next run.
	mv "$out/fragment.new" "$out/fragment.config"
}

# What a build in out-<arch> was made from: the tree's identity, the config
# fragment and the compiler.
build_stamp() {
	local arch=$1 tree=$2
	cat "$tree/.vsched-tree" "$tree/out-$arch/fragment.config"
	"$(cross_prefix "$arch")gcc" --version | head -n 1
}

# A make with nothing to do still walks the whole tree (6-8 s a kernel). The
# build is up to date when it was made from the same tree, fragment and
# compiler, and nothing in the tree (a hand edit, say) is newer than it. The
# top directory is left out: making the other arch's out-<arch> changes it.
kernel_up_to_date() {
	local arch=$1 tree=$2 out=$2/out-$1
	[[ -f $out/.vsched-built && -f $out/$(kernel_image_path "$arch") ]] || return 1
	cmp -s "$out/.vsched-built" <(build_stamp "$arch" "$tree") || return 1
	[[ -z $(find "$tree" -mindepth 1 -path "$tree/out-*" -prune -o -newer "$out/.vsched-built" -print -quit) ]]
}

build_kernel_locked() {
	local arch=$1 tree out start
	tree=$(prepare_tree "$2" "$3")
	out=$tree/out-$arch
	start=$(date +%s)
	configure_kernel "$arch" "$tree"
	if kernel_up_to_date "$arch" "$tree"; then
		progress "$arch kernel in $out is up to date"
	else
		progress "building $arch kernel in $out"
		rm -f "$out/.vsched-built"
		if ! kbuild "$arch" "$tree" -j"$JOBS" "$(basename "$(kernel_image_path "$arch")")" >"$out/build.log" 2>&1; then
			tail -n 30 "$out/build.log" >&2
			die "$arch kernel build failed: see $out/build.log"
		fi
		build_stamp "$arch" "$tree" >"$out/.vsched-built"
		progress "built $arch kernel in $(($(date +%s) - start))s"
	fi
	if [[ -n ${4:-} ]]; then
		cp "$out/$(kernel_image_path "$arch")" "$4"
	fi
}

# build_kernel ARCH TREE_NAME NPATCHES [DEST]: build the kernel of tree TREE_NAME
# (KDIR plus the first NPATCHES patches of the series) and copy its image to
# DEST, so that a later rebuild of the tree by another run cannot change it.
build_kernel() {
	# The tree is prepared under the lock too: another run may be building in it.
	with_heavy_lock build_kernel_locked "$@" >&2
}

