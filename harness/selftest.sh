#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The harness's own tests: the console parser against fixture logs, the
# runner against fixture tests (pass, broken, hung, skip), the host TSC
# measurement the x86_64 boots are given, the huge page advice the builds
# run with, run.sh's handling of bad input, host runs without /dev/kvm,
# results that are never overwritten, and make install.  Output is in the
# runner's console format.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIX=$TOP/harness/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=harness/steps.sh
. "$TOP/harness/steps.sh"

HOST_ARCH=$(uname -m)
HOST_ARCH=${HOST_ARCH/aarch64/arm64}

# Compare the parser's rows (minus the run column) with the expected ones.
parse_fixture() {
	local name=$1 list=""
	[[ -f $FIX/$name.list ]] && list=$FIX/$name.list
	awk -v run=fixture -v list="$list" -v kernel=1 -f "$TOP/harness/summarize.awk" \
		"$FIX/$name.log" | cut -f2- >"$WORK/$name.got"
	diff -u "$FIX/$name.expected" "$WORK/$name.got"
}

runner_fixtures() {
	local runner=$WORK/vsched-runner
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$runner" "$TOP/harness/runner.c"
	cp "$FIX"/*.sh "$FIX/runner.list" "$WORK/"
	"$runner" "$WORK/runner.list" >"$WORK/runner.log" 2>&1 || true
	cat "$WORK/runner.log"
	awk -v run=fixture -v list="$WORK/runner.list" -f "$TOP/harness/summarize.awk" \
		"$WORK/runner.log" | cut -f2,3 >"$WORK/runner.got"
	diff -u "$FIX/runner.expected" "$WORK/runner.got"
	# The broken test's log is kept under its name.
	grep -q '^# ==== Test Assertion Failure ====' "$WORK/runner.log"
	grep -q '^not ok 3 hung_test # TIMEOUT 2s$' "$WORK/runner.log"
}

table_totals() {
	local out
	out=$(printf 'r\ta\tPASS\t1\t\nr\tb\tFAIL\t1\tx\nr\tc\tTIMEOUT\t1\t\nr\td\tSKIP\t-\twhy\n' |
		awk -f "$TOP/harness/table.awk" || true)
	echo "$out"
	[[ $(tail -n 1 <<<"$out") == "1 passed, 2 failed, 1 skipped" ]]
	# The failures are named again right above the totals.
	[[ $(tail -n 3 <<<"$out" | head -n 2) == $'FAIL: r b: x\nTIMEOUT: r c' ]]
}

# The x86_64 test kernel is told its TSC frequency (harness/tsc_khz.c): a
# plausible one, the same in two measurements to 0.1%.
tsc_khz_measured() {
	local a b
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$WORK/tsc_khz" "$TOP/harness/tsc_khz.c"
	if [[ $HOST_ARCH != x86_64 ]]; then
		echo "SKIP - a $HOST_ARCH host has no TSC to measure"
		return 4
	fi
	a=$("$WORK/tsc_khz")
	b=$("$WORK/tsc_khz")
	echo "TSC: $a kHz, then $b kHz"
	[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]
	((a > 100000 && a < 10000000 && (a > b ? a - b : b - a) * 1000 <= a))
}

# Kernel and suite builds run with harness/hugepage_advise.c preloaded: under
# it a large anonymous mapping is advised onto huge pages, and not without
# it; the build environment carries it unless VSCHED_HUGEPAGES=0.
hugepage_advice() {
	local top=$WORK/hugepage-top probe=$WORK/hugepage_probe flags envs
	mkdir -p "$top/harness"
	cp "$TOP/harness/hugepage_advise.c" "$top/harness/"
	envs=$(
		die() {
			echo "die: $*" >&2
			exit 1
		}
		# shellcheck source=harness/kernel.sh
		. "$TOP/harness/kernel.sh"
		TOP=$top with_build_env env
		TOP=$top VSCHED_HUGEPAGES=0 with_build_env env | sed 's/^/off: /'
	)
	grep -x "LD_PRELOAD=$top/build/host/hugepage_advise.so" <<<"$envs"
	grep '^GLIBC_TUNABLES=\(.*:\)\?glibc.malloc.hugetlb=1$' <<<"$envs"
	if grep '^off: \(LD_PRELOAD\|GLIBC_TUNABLES\)=.*\(hugepage_advise\|hugetlb\)' <<<"$envs"; then
		echo "VSCHED_HUGEPAGES=0 still advises"
		return 1
	fi
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$probe" "$FIX/hugepage_probe.c"
	flags=$("$probe")
	echo "without the preload: $flags"
	[[ " $flags " != *" hg "* ]]
	if [[ ! -d /sys/kernel/mm/transparent_hugepage ]]; then
		echo "SKIP - this kernel has no transparent huge pages to advise"
		return 4
	fi
	if grep -qx 'THP_enabled:\s*0' /proc/self/status; then
		echo "SKIP - transparent huge pages are disabled for this process (prctl PR_SET_THP_DISABLE)"
		return 4
	fi
	flags=$(LD_PRELOAD=$top/build/host/hugepage_advise.so "$probe")
	echo "with it: $flags"
	[[ " $flags " == *" hg "* ]]
}

# A new tree starts from the last built tree of another state: sources as
# hard links, build output as a copy without its stamps, and build commands
# naming the old tree renamed to the new one.
tree_seeding() {
	local CACHE=$WORK/seed-cache from to built
	from=$CACHE/trees/patched
	to=$CACHE/trees/unpatched
	# shellcheck source=harness/kernel.sh
	. "$TOP/harness/kernel.sh"
	progress() { echo "$*"; }
	mkdir -p "$from/virt/kvm" "$from/out-x86_64/tools/objtool" "$to"
	echo source >"$from/virt/kvm/kvm_main.c"
	echo id1 >"$from/.vsched-tree"
	echo CONFIG_KVM=y >"$from/out-x86_64/fragment.config"
	echo stamp >"$from/out-x86_64/.vsched-built"
	echo "savedcmd_check.o := gcc -I$from/tools/include -c $from/tools/objtool/check.c" \
		>"$from/out-x86_64/tools/objtool/.check.o.cmd"
	: >"$from/out-x86_64/vmlinux.o"
	touch -d '2 minutes ago' "$from/out-x86_64/vmlinux.o"
	seed_tree "$to"
	[[ $(stat -c %i "$to/virt/kvm/kvm_main.c") == $(stat -c %i "$from/virt/kvm/kvm_main.c") ]]
	[[ $(stat -c %i "$to/out-x86_64/vmlinux.o") != $(stat -c %i "$from/out-x86_64/vmlinux.o") ]]
	[[ ! $to/out-x86_64/vmlinux.o -nt $from/out-x86_64/vmlinux.o ]]
	[[ ! -e $to/.vsched-tree && ! -e $to/out-x86_64/fragment.config && ! -e $to/out-x86_64/.vsched-built ]]
	built=$(cat "$to/out-x86_64/tools/objtool/.check.o.cmd")
	echo "$built"
	[[ $built == "savedcmd_check.o := gcc -I$to/tools/include -c $to/tools/objtool/check.c" ]]
	# Nothing built to start from: no seed.
	rm "$from/out-x86_64/.vsched-built"
	mkdir "$CACHE/trees/other"
	if seed_tree "$CACHE/trees/other"; then
		echo "seeded from a tree that has no build"
		return 1
	fi
}

# A built kernel is up to date only when it was made from the same tree
# identity, fragment and compiler, and nothing in the tree is newer than it.
kernel_stamp() {
	local tree=$WORK/stamp-tree out=$WORK/stamp-tree/out-x86_64 later
	later=@$(($(date +%s) + 60))
	# shellcheck source=harness/kernel.sh
	. "$TOP/harness/kernel.sh"
	expect_built() {
		local want=$1 what=$2 got=stale
		kernel_up_to_date x86_64 "$tree" && got=fresh
		echo "$what: $got"
		[[ $got == "$want" ]]
	}
	mkdir -p "$out/arch/x86/boot" "$tree/virt/kvm"
	echo id1 >"$tree/.vsched-tree"
	echo CONFIG_KVM=y >"$out/fragment.config"
	echo source >"$tree/virt/kvm/kvm_main.c"
	: >"$out/arch/x86/boot/bzImage"
	find "$tree" -exec touch -d '2 minutes ago' {} +
	expect_built stale "no stamp"
	build_stamp x86_64 "$tree" >"$out/.vsched-built"
	expect_built fresh "stamp just written"
	touch -d "$later" "$out/vmlinux.o"
	expect_built fresh "build output newer"
	echo CONFIG_KVM_AMD=y >>"$out/fragment.config"
	expect_built stale "fragment changed"
	build_stamp x86_64 "$tree" >"$out/.vsched-built"
	echo id2 >"$tree/.vsched-tree"
	touch -d '2 minutes ago' "$tree/.vsched-tree" "$tree"
	expect_built stale "tree identity changed"
	echo id1 >"$tree/.vsched-tree"
	touch -d '2 minutes ago' "$tree/.vsched-tree" "$tree"
	expect_built fresh "tree identity back"
	touch -d "$later" "$tree/virt/kvm/kvm_main.c"
	expect_built stale "a source edited by hand"
}

# The bench report pairs the "on" window with the "off" one whichever ran
# first (the bench alternates the order, ABBA), and stock windows by position.
bench_report_pairs() {
	awk -v out="$WORK/bench-summary.tsv" -f "$TOP/bench/report.awk" "$FIX/bench-abba.csv"
	tail -n +2 "$WORK/bench-summary.tsv" | cut -f1-9 >"$WORK/bench.got"
	diff -u "$FIX/bench-abba.expected" "$WORK/bench.got"
}

# run.sh must reject bad input with exit 2 (128 under bisect) and exactly one line.
expect_usage_error() {
	local rc=0 err want=${WANT_RC:-2}
	err=$("$TOP/run.sh" "$@" 2>&1 >/dev/null) || rc=$?
	echo "run.sh $*: rc=$rc: $err"
	[[ $rc -eq $want && $(wc -l <<<"$err") -eq 1 && $err == run.sh:* ]]
}

bad_flags() {
	expect_usage_error --bogus
	expect_usage_error --arch mips
	expect_usage_error --arch
	expect_usage_error frobnicate
	expect_usage_error --kernel /nonexistent/Image --arch arm64
	expect_usage_error --arm64-mode el3
	expect_usage_error --repeat 0
	expect_usage_error --repeat many
	expect_usage_error --repeat
	VSCHED_BOOT_SLOTS=0 expect_usage_error --list
	VSCHED_HUGEPAGES=yes expect_usage_error --list
	"$TOP/run.sh" --help | grep -q '^usage: ./run.sh'
}

# Under "git bisect run", exit 2 would mark a commit bad: usage errors abort instead.
bisect_usage() {
	WANT_RC=128 expect_usage_error bisect --arch x86_64
	WANT_RC=128 expect_usage_error bisect --test kvm_env_test
	WANT_RC=128 expect_usage_error bisect --bogus
	WANT_RC=128 KDIR=/nonexistent expect_usage_error bisect --arch x86_64 --test kvm_env_test
}

missing_kdir() {
	KDIR=/nonexistent/linux expect_usage_error prepare
	KDIR=$WORK expect_usage_error prepare
}

# Without /dev/kvm a host run reports a skip with the reason, not a failure.
no_dev_kvm() {
	local out rc=0
	out=$(VSCHED_DEV_KVM=/nonexistent/kvm VSCHED_RESULTS=$WORK/results \
		"$TOP/run.sh" --host --test kvm_env_test 2>/dev/null) || rc=$?
	echo "$out"
	[[ $rc -eq 0 ]]
	grep -q 'SKIP.*no usable /nonexistent/kvm' <<<"$out"
	[[ $(tail -n 1 <<<"$out") == "0 passed, 0 failed, 1 skipped" ]]
}

# Two runs in the same second get two directories.
results_kept() {

	for _ in 1 2; do
		VSCHED_DEV_KVM=/nonexistent/kvm VSCHED_RESULTS=$WORK/kept \
			"$TOP/run.sh" --host --test kvm_env_test >/dev/null 2>&1
	done
	ls "$WORK/kept"
	[[ $(find "$WORK/kept" -mindepth 1 -maxdepth 1 -type d | wc -l) -eq 2 ]]
}

unknown_test() {
	VSCHED_RESULTS=$WORK/results expect_usage_error --host --test no_such_test
}

make_install() {
	flock -w 900 "${VSCHED_CACHE:-$HOME/.cache/kvm-vsched}/suite-$HOST_ARCH.lock" \
		make -s -C "$TOP" install INSTALL_PATH="$WORK/inst"
	test -x "$WORK/inst/run_kselftest.sh"
	test -x "$WORK/inst/vsched-runner"
	grep -q '^timeout=[0-9]' "$WORK/inst/settings"
	grep -q '^kvm_env_test ' "$WORK/inst/tests.list"
}

# Every C source of the suite: no checkpatch ERROR or WARNING (CHECKs about
# uint64_t and friends are the selftests' own style).
checkpatch_sources() {
	local kdir=${KDIR:-${VSCHED_CACHE:-$HOME/.cache/kvm-vsched}/linux-source-6.12} out
	if [[ ! -f $kdir/scripts/checkpatch.pl ]]; then
		echo "SKIP - no scripts/checkpatch.pl in KDIR=$kdir"
		return 4
	fi
	out=$(cd "$TOP" && find selftests lib guest_code bench harness -name '*.[ch]' -print0 |
		xargs -0 -r -n1 perl "$kdir/scripts/checkpatch.pl" --no-tree --strict --terse -f 2>&1) || true
	echo "$out" | grep -E ': (ERROR|WARNING):' || true
	! grep -qE ': (ERROR|WARNING):' <<<"$out"
}

shellcheck_scripts() {
	if ! command -v shellcheck >/dev/null; then
		echo "SKIP - shellcheck is not installed"
		return 4
	fi
	shellcheck -x "$TOP/run.sh" "$TOP"/harness/*.sh "$TOP"/.ci/run
}

STEP_SELF=$TOP/harness/selftest.sh
step_dispatch "$@"

main() {
	step parse_pass_and_skip 30 parse_fixture pass
	step parse_fail_and_timeout 30 parse_fixture fail-timeout
	step parse_kernel_warn_mid_test 30 parse_fixture kernel-warn
	step parse_truncated_log 30 parse_fixture truncated
	step runner_fixture_outcomes 60 runner_fixtures
	step table_counts_timeout_as_failed 30 table_totals
	step bench_report_pairs_on_with_off 30 bench_report_pairs
	step kernel_build_up_to_date 30 kernel_stamp
	step kernel_tree_seeded_from_a_built_one 30 tree_seeding
	step x86_tsc_khz_measured 30 tsc_khz_measured
	step build_hugepage_advice 60 hugepage_advice
	step run_sh_rejects_bad_flags 60 bad_flags
	step run_sh_rejects_missing_kdir 120 missing_kdir
	step bisect_usage_errors_abort 120 bisect_usage
	step host_run_without_dev_kvm_skips 900 no_dev_kvm
	step results_never_overwritten 300 results_kept
	step run_sh_rejects_unknown_test 300 unknown_test
	step make_install_layout 300 make_install
	step shellcheck 120 shellcheck_scripts
	step checkpatch_c_sources 300 checkpatch_sources
	echo "kvm-vsched: done tainted=-1"
}

# One line: bash reads scripts as it runs them, and this file may be edited meanwhile.
main "$@"; exit
