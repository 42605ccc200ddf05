#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - build the patched test kernels and the suite, boot them in QEMU,
# run every test inside and print one table of results.
#
# See ./run.sh --help, and README.md.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VSCHED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-vsched}
DEFAULT_KDIR=$CACHE/linux-source-6.12
KDIR=${KDIR:-}
RESULTS=${VSCHED_RESULTS:-$TOP/results}
DEV_KVM=${VSCHED_DEV_KVM:-/dev/kvm}
# Kernel and suite builds: one job more than there are cores, which kept both
# busy (a cold build of drivers/acpi: 61 s at -j2, 48 s at -j3 on 2 cores).
JOBS=${JOBS:-$(($(nproc) + 1))}
# A QEMU boot is single-threaded TCG: it keeps one core busy, so a run's boots
# go side by side, one a core.
BOOT_SLOTS=${VSCHED_BOOT_SLOTS:-$(nproc)}
# Builds and QEMU runs take this lock, so that concurrent runs on a small
# machine queue up instead of competing for its cores.
HEAVY_LOCK=$CACHE/heavy.lock
HEAVY_LOCK_WAIT=${VSCHED_LOCK_WAIT:-5400}
BOOT_MARGIN=180

ARCHES=()
TESTS=()
HOST=0
UNPATCHED=0
BISECT_SERIES=0
BENCH_ARGS=()
KERNEL_IMAGE=""
REPEAT=1
# arm64 boots: VHE only for ./run.sh, VHE and nVHE for make check (parse_args).
ARM64_MODES=""
COMMAND=run
RUN_DIRS=()

usage() {
	cat <<EOF
usage: ./run.sh [COMMAND] [OPTIONS]

Commands:
  run             (default) build the patched kernels and the suite, boot
                  each kernel in QEMU, run every test, print the results
  check           what 'make check' runs: harness tests, series checks,
                  host run, patched and unpatched QEMU runs
  harness-tests   the harness's own tests only
  patches-check   apply kernel-patches/ in order, checkpatch each patch,
                  build each prefix of the series (both arches)
  prepare         install packages and extract the kernel tree, nothing else
  list            list the tests (same as --list)
  bench [ARGS]    benchmarks (see ./run.sh bench --help): A/B of ipi_aware_yield
                  in one boot of the patched x86_64 kernel, CSV + table + plot
  bisect          for "git bisect run" in a kernel git tree (KDIR, default: the
                  current directory): build it (with the series if --series),
                  boot it, run the --test(s); exit 0 good, 1 bad, 125 cannot test
                  (build failure, series does not apply, all skipped), 128 on
                  bad usage (aborts the bisection)

Options:
  --arch ARCH     arm64 or x86_64; repeat for both (default: both)
  --host          run against this machine's $DEV_KVM instead of QEMU
  --kernel IMAGE  boot this kernel image instead of building one (one --arch)
  --test NAME     run only NAME (repeatable; see --list)
  --repeat N      run each selected test N times in the same boot, as
                  NAME, NAME@2, ... (for races that fail now and then)
  --list          list the tests for the chosen arches and exit
  --unpatched     build and boot the stock kernel, without kernel-patches/
  --arm64-mode M  vhe, nvhe or both (default: vhe; check: both)
  --series       (bisect) apply kernel-patches/ on top of each commit
  -h, --help      this text

Environment: KDIR (kernel tree; default: Debian's linux-source-6.12,
extracted into $CACHE), VSCHED_CACHE, VSCHED_RESULTS, JOBS (kernel and suite
builds), VSCHED_BOOT_SLOTS (boots side by side; default: the number of cores),
VSCHED_APPEND (extra kernel parameters for the QEMU boots, for example
VSCHED_APPEND=VSCHED_TRACE=kvm/kvm_inj_virq,kvm/kvm_exit to print the tail of
those trace events after each test; see lib/trace.c), VSCHED_HUGEPAGES=0
(builds without the huge page advice of harness/hugepage_advise.c).
Results go to results/<date>-<arch>-<kernel>/ (console.log, tap.log,
summary.tsv); nothing there is overwritten.
EOF
}

# Usage errors exit 2, but 128 under "git bisect run", where 2 would mean "bad".
DIE_CODE=2

die() {
	echo "run.sh: $*" >&2
	exit "$DIE_CODE"
}

progress() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

parse_args() {
	if [[ $# -gt 0 && $1 != -* ]]; then
		case $1 in
		run | check | harness-tests | patches-check | prepare | list) COMMAND=$1 ;;
		bench)
			# bench/bench.sh parses its own options.
			COMMAND=bench
			shift
			BENCH_ARGS=("$@")
			ARCHES=(x86_64)
			return
			;;
		bisect)
			COMMAND=bisect
			DIE_CODE=128
			;;
		*) die "unknown command '$1' (see --help)" ;;
		esac
		shift
	fi
	while [[ $# -gt 0 ]]; do
		case $1 in
		--arch)
			[[ $# -ge 2 ]] || die "--arch needs a value: arm64 or x86_64"
			case $2 in
			arm64 | x86_64) ARCHES+=("$2") ;;
			aarch64) ARCHES+=(arm64) ;;
			*) die "--arch $2: use arm64 or x86_64" ;;
			esac
			shift
			;;
		--host) HOST=1 ;;
		--kernel)
			[[ $# -ge 2 ]] || die "--kernel needs an image path"
			[[ -f $2 ]] || die "--kernel $2: no such file"
			KERNEL_IMAGE=$(realpath "$2")
			shift
			;;
		--test)
			[[ $# -ge 2 ]] || die "--test needs a test name (see --list)"
			TESTS+=("$2")
			shift
			;;
		--repeat)
			[[ $# -ge 2 ]] || die "--repeat needs a count"
			[[ $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 1000 ]] || die "--repeat $2: want 1..1000"
			REPEAT=$2
			shift
			;;
		--list) COMMAND=list ;;
		--unpatched) UNPATCHED=1 ;;
		--series) BISECT_SERIES=1 ;;
		--arm64-mode)
			[[ $# -ge 2 ]] || die "--arm64-mode needs vhe, nvhe or both"
			case $2 in
			vhe | nvhe) ARM64_MODES=$2 ;;
			both) ARM64_MODES="vhe nvhe" ;;
			*) die "--arm64-mode $2: use vhe, nvhe or both" ;;
			esac
			shift
			;;
		-h | --help)
			usage
			exit 0
			;;
		*) die "unknown option '$1' (see --help)" ;;
		esac
		shift
	done
	if [[ -z $ARM64_MODES ]]; then
		# Both world switches gate the series in make check; ./run.sh, the
		# quick look, boots the VHE one (--arm64-mode both for the two).
		ARM64_MODES=vhe
		[[ $COMMAND == check ]] && ARM64_MODES="vhe nvhe"
	fi
	if [[ ${#ARCHES[@]} -eq 0 ]]; then
		if [[ $HOST -eq 1 ]]; then
			ARCHES=("$(host_arch)")
		else
			ARCHES=(arm64 x86_64)
		fi
	fi
	[[ $BOOT_SLOTS =~ ^[1-9][0-9]*$ ]] || die "VSCHED_BOOT_SLOTS=$BOOT_SLOTS: want a number of boots, 1 or more"
	[[ ${VSCHED_HUGEPAGES:-1} =~ ^[01]$ ]] || die "VSCHED_HUGEPAGES=$VSCHED_HUGEPAGES: want 1 (the default) or 0"
	if [[ -n $KERNEL_IMAGE && ${#ARCHES[@]} -ne 1 ]]; then
		die "--kernel needs exactly one --arch"
	fi
	if [[ $HOST -eq 1 && ( ${#ARCHES[@]} -ne 1 || ${ARCHES[0]} != "$(host_arch)" ) ]]; then
		die "--host runs only this machine's arch ($(host_arch))"
	fi
}

# Packages ----------------------------------------------------------------

needed_packages() {
	echo make gcc libc6-dev libnuma-dev rsync
	# The suite is built from Debian's tree unless KDIR names another one.
	[[ -z $KDIR || $COMMAND == bisect ]] && echo linux-source-6.12
	[[ $HOST -eq 1 && $COMMAND == run ]] && return
	echo flex bison bc libelf-dev libssl-dev ccache
	echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	echo qemu-system-arm qemu-system-x86
	[[ $COMMAND == check || $COMMAND == harness-tests ]] && echo shellcheck
	[[ $COMMAND == check || $COMMAND == bench ]] && echo gnuplot-nox
	return 0
}

missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
			echo "$p"
	done
}

# Debian's archive may have moved past 6.12.117; take it when it is offered.
linux_source_version() {
	apt-cache madison linux-source-6.12 2>/dev/null | awk -F'|' '
		{ gsub(/ /, "", $2) }
		$2 == "6.12.117-1~deb12u1" { exact = $2 }
		END { if (exact) print "=" exact }'
}

ensure_packages() {
	local missing pin
	command -v dpkg-query >/dev/null || die "not a Debian system: install $(needed_packages | tr '\n' ' ')by hand"
	# shellcheck disable=SC2046
	missing=$(missing_packages $(needed_packages) | tr '\n' ' ')
	[[ -z ${missing// /} ]] && return 0
	[[ $(id -u) -eq 0 ]] || die "missing packages: ${missing}(install them as root: apt-get install ${missing% })"
	progress "installing packages: $missing"
	timeout 900 apt-get update -q >/dev/null || die "apt-get update failed"
	if [[ $missing == *linux-source-6.12* ]]; then
		pin=$(linux_source_version)
		missing=${missing/linux-source-6.12/linux-source-6.12$pin}
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -q $missing >/dev/null ||
		die "apt-get install $missing failed"
}

# shellcheck source=harness/kernel.sh
. "$TOP/harness/kernel.sh"
# shellcheck source=bench/bench.sh
[[ -f $TOP/bench/bench.sh ]] && . "$TOP/bench/bench.sh"

# The suite ---------------------------------------------------------------

build_suite() {
	local arch=$1
	progress "building the suite for $arch"
	# Its own lock: a quick build need not wait behind a QEMU run.
	with_lock "$CACHE/suite-$arch.lock" with_build_env make -s -j"$JOBS" -C "$TOP" ARCH="$arch" KDIR="${SUITE_KDIR:-$KDIR}" all >&2 ||
		die "suite build for $arch failed"
}

# The run's list: every test, or only those named with --test.
# Drops the tests selftests/WIP leaves out of default runs on WHERE (an arch,
# or host), and says which.
drop_wip_tests() {
	local list=$1 where=$2 dropped
	dropped=$(awk -v where="$where" '
		FNR == NR {
			sub(/#.*/, "")
			if (NF >= 2) {
				n = split($2, w, ",")
				for (i = 1; i <= n; i++)
					if (w[i] == "all" || w[i] == where)
						wip[$1] = 1
			}
			next
		}
		$1 in wip { print $1 }' "$TOP/selftests/WIP" "$list")
	[[ -n $dropped ]] || return 0
	progress "left out on $where (selftests/WIP; run with --test): $(echo "$dropped" | tr "\n" " ")"
	awk 'NR == FNR { skip[$1] = 1; next } !($1 in skip)' <(echo "$dropped") "$list" >"$list.tmp"
	mv "$list.tmp" "$list"
}

# Each test of the list $REPEAT times in a row, the copies named NAME@2, ...
repeat_tests() {
	local list=$1
	[[ $REPEAT -gt 1 ]] || return 0
	awk -v n="$REPEAT" '{ print; for (i = 2; i <= n; i++) { $1 = $1 "@" i; print; sub(/@[0-9]+$/, "", $1) } }' \
		"$list" >"$list.tmp"
	mv "$list.tmp" "$list"
}

write_run_list() {
	local arch=$1 out=$2 t
	local list=$TOP/build/$arch/tests.list
	if [[ $HOST -eq 1 ]]; then
		# The upstream gate is for the kernels this suite builds and boots.
		list=$TOP/build/$arch/host.list
		grep -v "^upstream/" "$TOP/build/$arch/tests.list" >"$list" || true
	fi
	if [[ ${#TESTS[@]} -eq 0 ]]; then
		cp "$list" "$out"
		drop_wip_tests "$out" "$([[ $HOST -eq 1 ]] && echo host || echo "$arch")"
	else
		: >"$out"
		for t in "${TESTS[@]}"; do
			awk -v t="$t" '$1 == t' "$list" >>"$out"
			grep -q "^$t " "$out" || die "--test $t: no such test for $arch (see --list)"
		done
	fi
	repeat_tests "$out"
}

gen_init_cpio() {
	local bin=$TOP/build/host/gen_init_cpio
	if [[ ! -x $bin || $KDIR/usr/gen_init_cpio.c -nt $bin ]]; then
		mkdir -p "$(dirname "$bin")"
		gcc -O2 -o "$bin" "$KDIR/usr/gen_init_cpio.c"
	fi
	echo "$bin"
}

# An initramfs (built without root) holding the runner as /init and the
# run's tests below /suite.
make_initramfs() {
	local arch=$1 list=$2 cpio=$3 b=$TOP/build/$1 spec f
	spec=$cpio.spec
	{
		echo "dir /dev 0755 0 0"
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "dir /proc 0755 0 0"
		echo "dir /sys 0755 0 0"
		echo "dir /tmp 1777 0 0"
		echo "dir /suite 0755 0 0"
		echo "file /init $b/vsched-runner 0755 0 0"
		echo "file /suite/tests.list $list 0644 0 0"
		awk '{ print $3 }' "$list" | sort -u | while read -r f; do
			dirname "/suite/$f" | awk -F/ '{ p = ""; for (i = 2; i <= NF; i++) { p = p "/" $i; print "dir " p " 0755 0 0" } }'
			echo "file /suite/$f $b/$f 0755 0 0"
		done | awk '!seen[$0]++'
	} >"$spec"
	"$(gen_init_cpio)" "$spec" >"$cpio"
}

# Sets QEMU_CMD for one boot.
qemu_command() {
	local arch=$1 image=$2 initrd=$3 mode=$4 append
	case $arch in
	arm64)
		append="console=ttyAMA0"
		[[ $mode == nvhe ]] && append+=" kvm-arm.mode=nvhe"
		# Under multi-threaded TCG a patched VHE vCPU thread came back from
		# KVM_RUN with the guest's TPIDR_EL0 in 2 of 25 suspend_test runs
		# (README, "How it works"); single-threaded passed 40 of 40.
		# shellcheck disable=SC2054 # commas belong to QEMU options
		QEMU_CMD=(qemu-system-aarch64 -accel tcg,thread=single -M virt,virtualization=on,gic-version=3
			-cpu max,pauth-impdef=on -smp 2 -m 3G)
		;;
	x86_64)
		# Multi-threaded TCG hangs and corrupts nested guests under vCPU
		# overcommit (../shared/notes/machine.md); single-threaded does not.
		# Our kernel has no ACPI (kernel-patches/config/x86_64.config). It
		# finds the CPUs in SeaBIOS' MP table, which lists one a socket. With
		# no HPET or PM timer to calibrate its TSC against, it is given the
		# frequency, and told that the TSC is reliable, which under TCG, where
		# every vCPU reads the host's one TSC, it is.
		measure_x86_tsc_khz
		append="console=ttyS0 tsc=reliable${X86_TSC_KHZ:+ tsc_early_khz=$X86_TSC_KHZ}"
		# shellcheck disable=SC2054 # commas belong to QEMU options
		QEMU_CMD=(qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp 2,sockets=2 -m 3G)
		;;
	esac
	# A panic restarts at once, which -no-reboot turns into the end of QEMU.
	append+=" panic=-1"
	# A test killed by SIGSEGV and the like leaves its registers (pc, lr) on
	# the console, to be looked up in its binary.
	append+=" print-fatal-signals=1"
	# Extra kernel parameters; unknown "NAME=value" ones reach the tests as
	# environment (VSCHED_TRACE, see lib/trace.c).
	append+=${VSCHED_APPEND:+ $VSCHED_APPEND}
	QEMU_CMD+=(-display none -monitor none -serial stdio -no-reboot
		-kernel "$image" -initrd "$initrd" -append "$append")
}

# results/<date>-<label>, never an existing directory.
new_run_dir() {
	local label=$1 base dir n=1
	base=$RESULTS/$(date +%Y%m%d-%H%M%S)-$label
	dir=$base
	while ! mkdir -p "$RESULTS" || ! mkdir "$dir" 2>/dev/null; do
		n=$((n + 1))
		dir=$base.$n
		[[ $n -lt 100 ]] || die "cannot create a results directory under $RESULTS"
	done
	echo "$dir"
}

list_timeout_sum() {
	awk '{ s += $2 } END { print s + 0 }' "$1"
}

# Prints one progress line a test while the console streams by.
progress_filter() {
	local label=$1 line ms
	# Not awk: mawk reads its input in large blocks, and the console must reach
	# console.log as it comes (stop_qemu_after_done watches it).
	while IFS= read -r line || [[ -n $line ]]; do
		printf '%s\n' "$line"
		if [[ $line =~ ^kvm-vsched:\ end\ [0-9]+\ ([^ ]+)\ rc=([^ ]+)\ ms=([0-9]+) ]]; then
			ms=${BASH_REMATCH[3]}
			printf '    %s: %s rc=%s %d.%ds\n' "$label" "${BASH_REMATCH[1]}" \
				"${BASH_REMATCH[2]}" $((ms / 1000)) $((ms % 1000 / 100)) >&2
		fi
	done
}

# The runner ends a boot with a restart, which ends QEMU (-no-reboot). Should a
# kernel hang on the way (or a user's --kernel halt instead), QEMU would stay up
# until its limit: once the runner has printed its done marker, give the
# kernel DONE_GRACE seconds to finish its own output, then end QEMU.
DONE_GRACE=5

stop_qemu_after_done() {
	local dir=$1 pipeline=$2
	while kill -0 "$pipeline" 2>/dev/null; do
		if grep -q '^kvm-vsched: done' "$dir/console.log" 2>/dev/null; then
			sleep "$DONE_GRACE"
			if [[ -s $dir/qemu.pid ]] && kill "$(cat "$dir/qemu.pid")" 2>/dev/null; then
				echo "kvm-vsched: host: ended QEMU ${DONE_GRACE}s after the done marker" >>"$dir/qemu.stderr"
			fi
			return 0
		fi
		sleep 1
	done
}

boot_and_run_locked() {
	local arch=$1 image=$2 initrd=$3 mode=$4 dir=$5 limit=$6 rc=0 pipeline
	qemu_command "$arch" "$image" "$initrd" "$mode"
	QEMU_CMD+=(-pidfile "$dir/qemu.pid")
	printf "%q " "${QEMU_CMD[@]}" >"$dir/qemu.cmd"
	echo >>"$dir/qemu.cmd"
	progress "booting $arch ${mode:-} $(basename "$image") (limit ${limit}s)"
	# QEMU's own status goes through a file: waiting for a background pipeline
	# gives the status of its last command, the filter.
	{
		local qemu_rc=0
		timeout --kill-after=10 "$limit" "${QEMU_CMD[@]}" </dev/null 2>"$dir/qemu.stderr" || qemu_rc=$?
		echo "$qemu_rc" >"$dir/qemu.rc"
	} | progress_filter "$arch${mode:+-$mode}" >"$dir/console.log" &
	pipeline=$!
	stop_qemu_after_done "$dir" "$pipeline"
	wait "$pipeline" || true
	rc=$(cat "$dir/qemu.rc" 2>/dev/null || echo 0)
	rm -f "$dir/qemu.pid" "$dir/qemu.rc"
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		echo "kvm-vsched: host: QEMU killed after ${limit}s" >>"$dir/console.log"
	fi
	return 0
}

summarize_run() {
	local dir=$1 run=$2 list=$3 kernel=$4
	awk -v run="$run" -v list="$list" -v kernel="$kernel" \
		-f "$TOP/harness/summarize.awk" "$dir/console.log" >"$dir/summary.tsv"
	grep -E '^(not )?ok |^TAP|^1\.\.' "$dir/console.log" >"$dir/tap.log" || true
	RUN_DIRS+=("$dir")
}

# How many patches of the series a kernel state carries.
state_patches() {
	if [[ $1 == unpatched ]]; then
		echo 0
	else
		series_patches | wc -l
	fi
}

# The kernel tree a state is built in: its own, so that ./run.sh and
# ./run.sh --unpatched each keep a built tree.  make check builds both states
# in the tree patches-check has just built every prefix in (VSCHED_STATE_TREE=
# prefix): the patched kernel is already there, and the stock one is a rebuild
# of what the series touches, not a third tree built from nothing.
tree_for_state() {
	echo "${VSCHED_STATE_TREE:-$1}"
}

# Kernel images built in this run, as <arch>-<state>.img, kept outside the
# tree (another run may rebuild it) until the run ends.
IMAGES_DIR=""

# The image of ARCH in STATE, built once a run: the arm64 VHE and nVHE boots
# share it, and even a make with nothing to do takes seconds. Sets STATE_IMAGE.
state_image() {
	local arch=$1 state=$2
	if [[ -z $IMAGES_DIR ]]; then
		mkdir -p "$CACHE"
		IMAGES_DIR=$(mktemp -d "$CACHE/images.XXXXXX")
		trap 'rm -rf "$IMAGES_DIR"' EXIT
	fi
	STATE_IMAGE=$IMAGES_DIR/$arch-$state.img
	[[ -f $STATE_IMAGE ]] ||
		build_kernel "$arch" "$(tree_for_state "$state")" "$(state_patches "$state")" "$STATE_IMAGE"
}

# Boots waiting to run, one "arch image mode dir limit label" entry each, the
# fields apart by US (mode may be empty); queue_boot adds, run_boots empties.
BOOT_QUEUE=()
US=$'\x1f'

# The frequency an x86_64 guest's TSC counts at under TCG: the host's (see
# harness/tsc_khz.c). Measured once a run: queue_boot measures it before the
# boots start side by side, and qemu_command for a boot that was not queued
# (the bench's). Left empty, with a warning, on a host that has no TSC.
X86_TSC_KHZ=""
X86_TSC_MEASURED=0

measure_x86_tsc_khz() {
	local tool=$TOP/build/host/tsc_khz
	[[ $X86_TSC_MEASURED == 0 ]] || return 0
	X86_TSC_MEASURED=1
	host_tool tsc_khz.c "$tool"
	if ! X86_TSC_KHZ=$("$tool"); then
		X86_TSC_KHZ=""
		echo "run.sh: warning: the x86_64 kernel must calibrate its TSC against the PIT, which can fail under a busy TCG" >&2
	fi
}

# Builds what one boot needs (kernel image, test list, initramfs) and queues it.
queue_boot() {
	local arch=$1 state=$2 mode=$3 image kver label dir limit
	[[ $arch != x86_64 ]] || measure_x86_tsc_khz
	kver=custom
	[[ -z $KERNEL_IMAGE ]] && kver=$(kernel_version)-$state
	label=$arch${mode:+-$mode}-$kver
	dir=$(new_run_dir "$label")
	if [[ -n $KERNEL_IMAGE ]]; then
		image=$KERNEL_IMAGE
	else
		state_image "$arch" "$state"
		image=$STATE_IMAGE
	fi
	write_run_list "$arch" "$dir/tests.list"
	make_initramfs "$arch" "$dir/tests.list" "$dir/initramfs.cpio"
	limit=$(($(list_timeout_sum "$dir/tests.list") + BOOT_MARGIN))
	BOOT_QUEUE+=("$arch$US$image$US$mode$US$dir$US$limit$US$label")
}

run_boots_locked() {
	local job arch image mode dir limit label running=0
	for job in "${BOOT_QUEUE[@]}"; do
		IFS=$'\x1f' read -r arch image mode dir limit label <<<"$job"
		if [[ $running -ge $BOOT_SLOTS ]]; then
			wait -n || true
			running=$((running - 1))
		fi
		: >"$dir/console.log"
		boot_and_run_locked "$arch" "$image" "$dir/initramfs.cpio" "$mode" "$dir" "$limit" &
		running=$((running + 1))
	done
	wait
}

# Runs the queued boots, at most BOOT_SLOTS at a time, and adds their results
# to the run in the order they were queued.
run_boots() {
	local job arch image mode dir limit label
	[[ ${#BOOT_QUEUE[@]} -gt 0 ]] || return 0
	with_heavy_lock run_boots_locked
	for job in "${BOOT_QUEUE[@]}"; do
		IFS=$'\x1f' read -r arch image mode dir limit label <<<"$job"
		rm -f "$dir/initramfs.cpio"
		summarize_run "$dir" "$label" "$dir/tests.list" 1
	done
	BOOT_QUEUE=()
}

run_on_host() {
	local arch=$1 dir label
	label=host-$arch-$(uname -r)
	dir=$(new_run_dir "$label")
	write_run_list "$arch" "$dir/tests.list"
	cp "$dir/tests.list" "$TOP/build/$arch/run.list"
	if [[ ! -r $DEV_KVM || ! -w $DEV_KVM ]]; then
		printf '%s\t%s\tSKIP\t-\t%s\n' "$label" "all-tests" "no usable $DEV_KVM on this host" >"$dir/summary.tsv"
		: >"$dir/console.log"
		RUN_DIRS+=("$dir")
		return
	fi
	progress "running on this host's $DEV_KVM"
	timeout --kill-after=10 $(($(list_timeout_sum "$dir/tests.list") + 60)) \
		"$TOP/build/$arch/vsched-runner" "$TOP/build/$arch/run.list" </dev/null 2>&1 |
		progress_filter "host" >"$dir/console.log" || true
	summarize_run "$dir" "$label" "$dir/tests.list" 0
}

# Results -------------------------------------------------------------------

print_results() {
	local d files=()
	for d in "${RUN_DIRS[@]}"; do
		files+=("$d/summary.tsv")
	done
	[[ ${#files[@]} -gt 0 ]] || die "no runs to report"
	awk -f "$TOP/harness/table.awk" "${files[@]}"
}

# Commands ------------------------------------------------------------------

# --test names are checked before anything is built, so a typo costs nothing.
check_test_names() {
	local arch t lists=""
	[[ ${#TESTS[@]} -gt 0 ]] || return 0
	for arch in "${ARCHES[@]}"; do
		lists+=$(awk -v arch="$arch" -v subdir="$([[ $arch == arm64 ]] && echo arm64 || echo x86)" \
			-f "$TOP/harness/mklist.awk" "$TOP/selftests/TESTS" "$TOP/selftests/upstream.$arch")$'\n'
	done
	for t in "${TESTS[@]}"; do
		awk -v t="$t" '$1 == t { found = 1 } END { exit !found }' <<<"$lists" ||
			die "--test $t: no such test for ${ARCHES[*]} (see --list)"
	done
}

cmd_list() {
	local arch
	for arch in "${ARCHES[@]}"; do
		make -s -C "$TOP" ARCH="$arch" KDIR="${KDIR:-$DEFAULT_KDIR}" list-tests 2>/dev/null |
			awk -v a="$arch" '{ printf "%-8s %-40s %5ss\n", a, $1, $2 }' ||
			die "cannot list the tests for $arch (is KDIR prepared? run ./run.sh prepare)"
	done
}

# The suites build at the lowest priority while the kernels build: a kernel
# build leaves one core idle in its serial steps (kconfig, link), and a cold
# suite build (mostly installing the uapi headers) fits in those gaps.
build_suites_in_background() {
	(
		renice -n 19 -p "$BASHPID" >/dev/null
		for arch in "$@"; do
			# Not after the run has failed (a kernel that did not build).
			kill -0 $$ 2>/dev/null || exit 0
			build_suite "$arch"
		done
	) &
	SUITES_PID=$!
}

cmd_run() {
	local arch mode state=patched
	[[ $UNPATCHED -eq 1 ]] && state=unpatched
	if [[ $HOST -eq 1 ]]; then
		build_suite "${ARCHES[0]}"
		run_on_host "${ARCHES[0]}"
		return
	fi
	build_suites_in_background "${ARCHES[@]}"
	if [[ -z $KERNEL_IMAGE ]]; then
		for arch in "${ARCHES[@]}"; do
			state_image "$arch" "$state"
		done
	fi
	# build_suite has said why it failed.
	wait "$SUITES_PID" || exit "$DIE_CODE"
	for arch in "${ARCHES[@]}"; do
		if [[ $arch == arm64 ]]; then
			for mode in $ARM64_MODES; do
				queue_boot "$arch" "$state" "$mode"
			done
		else
			queue_boot "$arch" "$state" ""
		fi
	done
	run_boots
}

cmd_harness_tests() {
	local dir
	dir=$(new_run_dir harness)
	progress "running the harness's own tests"
	KDIR=$KDIR bash "$TOP/harness/selftest.sh" >"$dir/console.log" 2>&1 || true
	summarize_run "$dir" harness "" 0
}

cmd_patches_check() {
	local dir
	dir=$(new_run_dir patches-check)
	progress "checking kernel-patches/"
	# Its kernel builds print their progress lines on the terminal too (fd 3).
	KDIR=$KDIR VSCHED_CACHE=$CACHE JOBS=$JOBS VSCHED_PROGRESS_FD=3 bash "$TOP/harness/patches-check.sh" \
		3>&2 >"$dir/console.log" 2>&1 || true
	summarize_run "$dir" patches-check "" 0
}

# The benchmark's smoke run: not a timed test, it checks that the bench runs
# and writes its CSV, summary and table. Its own output goes to bench.log.
cmd_bench_smoke() {
	local dir rc=0 result=PASS
	dir=$(new_run_dir bench-smoke)
	progress "bench smoke (checks that it runs and reports; no number is judged)"
	# A process of its own: inside "( ... ) || rc=$?" bash would ignore set -e.
	"$TOP/run.sh" bench --smoke >"$dir/bench.log" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || result=FAIL
	printf '%s\t%s\t%s\t-\t%s\n' bench-smoke "vsched_bench --smoke" "$result" \
		"rc=$rc; $(grep -m1 'results in' "$dir/bench.log" | sed 's/.*results in //')" >"$dir/summary.tsv"
	RUN_DIRS+=("$dir")
}

check_boots() {
	local state=$1 mode
	# The longest boot first: the arm64 ones share the other core.
	queue_boot x86_64 "$state" ""
	for mode in $ARM64_MODES; do
		queue_boot arm64 "$state" "$mode"
	done
	run_boots
}

cmd_check() {
	cmd_harness_tests
	cmd_patches_check
	HOST=1
	build_suite "$(host_arch)"
	run_on_host "$(host_arch)"
	HOST=0
	build_suite arm64
	build_suite x86_64
	export VSCHED_STATE_TREE=prefix
	# The bench boots the patched kernel too: it runs before the tree goes back
	# to the stock kernel.
	check_boots patched
	cmd_bench_smoke
	check_boots unpatched
}

# Under "git bisect run": the kernel comes from the tree being bisected, the
# suite from Debian's 6.12 tree, so the test binaries stay the same at every
# step and only the kernel moves.
cmd_bisect() {
	local arch dir results
	[[ ${#ARCHES[@]} -eq 1 ]] || die "bisect needs exactly one --arch"
	[[ ${#TESTS[@]} -gt 0 ]] || die "bisect needs at least one --test NAME"
	[[ $HOST -eq 0 && -z $KERNEL_IMAGE ]] || die "bisect builds and boots the tree: no --host or --kernel"
	arch=${ARCHES[0]}
	extract_default_kdir
	SUITE_KDIR=$DEFAULT_KDIR
	build_suite "$arch"
	progress "bisect: $(git -C "$KDIR" log -1 --format='%h %s' 2>/dev/null || echo "$KDIR")"
	if ! build_kernel "$arch" bisect "$([[ $BISECT_SERIES -eq 1 ]] && series_patches | wc -l || echo 0)" \
		"$CACHE/bisect-$arch.img"; then
		progress "bisect: cannot build this commit: skip (125)"
		return 125
	fi
	KERNEL_IMAGE=$CACHE/bisect-$arch.img
	queue_boot "$arch" bisect "$([[ $arch == arm64 ]] && echo "${ARM64_MODES%% *}")"
	run_boots
	dir=${RUN_DIRS[-1]}
	print_results || true
	results=$(cut -f3 "$dir/summary.tsv" | sort -u | tr '\n' ' ')
	case $results in
	*FAIL* | *TIMEOUT*) progress "bisect: bad (1)"; return 1 ;;
	*PASS*) progress "bisect: good (0)"; return 0 ;;
	*) progress "bisect: nothing ran, all skipped: skip (125)"; return 125 ;;
	esac
}

main() {
	local start status
	start=$(date +%s)
	parse_args "$@"
	check_test_names
	case $COMMAND in
	list)
		cmd_list
		return
		;;
	esac
	if [[ $COMMAND == bisect && -z $KDIR ]]; then
		KDIR=$PWD
	fi
	ensure_packages
	prepare_kdir
	case $COMMAND in
	prepare)
		progress "ready: KDIR=$KDIR"
		return
		;;
	harness-tests) cmd_harness_tests ;;
	patches-check) cmd_patches_check ;;
	check) cmd_check ;;
	bisect)
		cmd_bisect
		return
		;;
	bench)
		cmd_bench "${BENCH_ARGS[@]}"
		return
		;;
	run) cmd_run ;;
	esac
	progress "finished in $(($(date +%s) - start))s; results in ${RUN_DIRS[*]}"
	# The table ends with the "N passed, N failed, N skipped" line: print it last.
	status=0
	print_results || status=$?
	return "$status"
}

# One line: bash reads scripts as it runs them, and this file may be edited meanwhile.
main "$@"; exit
