#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Check kernel-patches/ the way a maintainer would before taking it: the
# series file and the patch files agree, every patch applies in order with
# --fuzz=0, passes scripts/checkpatch.pl --strict with no error or warning,
# and every prefix of the series builds for arm64 and x86_64 with the
# project's configs without a compiler warning (the series bisects).
# Output is in the runner's console format.
#
# Run through ./run.sh patches-check, which prepares KDIR.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VSCHED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-vsched}
KDIR=${KDIR:?run through ./run.sh patches-check}
JOBS=${JOBS:?run through ./run.sh patches-check}
HEAVY_LOCK=$CACHE/heavy.lock
HEAVY_LOCK_WAIT=${VSCHED_LOCK_WAIT:-5400}
PATCHES=$TOP/kernel-patches

die() {
	echo "patches-check: $*" >&2
	exit 2
}

progress() {
	local line
	line=$(printf "[%s] %s" "$(date +%H:%M:%S)" "$*")
	echo "$line" >&2
	# run.sh passes its terminal on this fd: a cold check builds for half an hour.
	if [[ -n ${VSCHED_PROGRESS_FD:-} ]]; then
		echo "$line" >&"$VSCHED_PROGRESS_FD"
	fi
}

# shellcheck source=harness/kernel.sh
. "$TOP/harness/kernel.sh"
# shellcheck source=harness/steps.sh
. "$TOP/harness/steps.sh"

series_matches_files() {
	local listed on_disk
	listed=$(series_patches | xargs -r -n1 basename | sort)
	on_disk=$(find "$PATCHES" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' -printf '%f\n' | sort)
	echo "series: $(echo "$listed" | grep -c . || true) patches"
	diff -u <(echo "$on_disk") <(echo "$listed")
}

checkpatch_one() {
	local patch=$1 out
	# checkpatch exits non-zero on any finding; the verdict is taken below.
	out=$(perl "$KDIR/scripts/checkpatch.pl" --strict --no-tree --terse "$patch" 2>&1) || true
	echo "$out"
	# --strict adds CHECKs; the bar is no ERROR and no WARNING.
	! grep -qE ': (ERROR|WARNING):' <<<"$out"
}

build_prefix() {
	local arch=$1 n=$2 log
	build_kernel "$arch" prefix "$n"
	log=$CACHE/trees/prefix/out-$arch/build.log
	echo "built the first $n patches for $arch"
	if grep -E 'warning:' "$log"; then
		echo "compiler warnings with the first $n patches ($arch)"
		return 1
	fi
}

no_patches() {
	echo "SKIP - kernel-patches/series is empty"
	return 4
}

STEP_SELF=$TOP/harness/patches-check.sh
step_dispatch "$@"

main() {
	step series_matches_patch_files 30 series_matches_files
	mapfile -t all < <(series_patches)
	if [[ ${#all[@]} -eq 0 ]]; then
		step series_not_empty 10 no_patches
	fi
	for i in "${!all[@]}"; do
		p=${all[$i]}
		name=$(basename "$p" .patch)
		step "checkpatch/$name" 120 checkpatch_one "$p"
	done
	# Build every prefix, oldest first, in one tree: each step is incremental.
	for i in "${!all[@]}"; do
		name=$(basename "${all[$i]}" .patch)
		for arch in arm64 x86_64; do
			step "build/$arch/${name%%-*}" 3600 build_prefix "$arch" $((i + 1))
		done
	done
	echo "kvm-vsched: done tainted=-1"
}

# One line: bash reads scripts as it runs them, and this file may be edited meanwhile.
main "$@"; exit
