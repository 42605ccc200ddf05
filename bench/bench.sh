# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# ./run.sh bench: sourced by run.sh, which calls cmd_bench with the arguments
# that follow "bench" (after installing packages and preparing KDIR).
#
# Boots the patched x86_64 kernel in QEMU with bench/vsched_bench as the only
# test (or runs it on this machine's /dev/kvm with --host), then writes into
# results/<date>-bench-<where>/: console.log, bench.csv (one row a window),
# bench-info.txt, bench-summary.tsv, the table (report.awk) and bench.png.
#
# Uses from run.sh / harness/kernel.sh: die, progress, build_suite,
# build_kernel, kernel_version, state_patches, tree_for_state, new_run_dir,
# make_initramfs, with_heavy_lock, boot_and_run_locked, summarize_run, print_results.

BENCH_WORKLOADS="pipeline barrier ticketlock compute"

bench_usage() {
	cat <<EOF
usage: ./run.sh bench [OPTIONS]

Overcommit throughput of guest workloads with the IPI-aware directed yield
series on and off (kvm.ipi_aware_yield Y/N, alternating in ABBA order in one boot).

Options:
  --workload W    all (default) or a comma list of $(echo "$BENCH_WORKLOADS" | tr ' ' ',')
  --vms LIST      VM counts to run, comma list of 1..4 (default 1,2,3)
  --vcpus N       vCPUs per VM, 2..16 (default 4, twice the 2 L1 CPUs)
  --pcpus N       pCPUs the vCPU threads may use (default: all)
  --pin MODE      set (default): every vCPU on the whole pCPU set; cpu: one pCPU each
  --duration S    seconds per measurement window (default 3)
  --pairs N       on/off pairs per workload and VM count (default 5)
  --spin KIND     hv (default), pause; wfe is arm64-only
  --work N        compute iterations of one work unit (default 20000, --host 500)
  --host          run on this machine's /dev/kvm instead of QEMU
  --baseline FILE compare with a stored bench-summary.tsv; exit 1 on a regression
  --smoke         short run: 1 pair, 1-2 VMs, 1 s windows, all workloads
  -h, --help      this text

Results: results/<date>-bench-<where>/ with bench.csv, bench-summary.tsv,
bench.png and console.log.  Under QEMU, ratios are within one boot, not
hardware numbers.
EOF
}

# Options, with their defaults.
bench_parse_args() {
	B_WORKLOAD=all
	B_VMS=1,2,3
	B_VCPUS=4
	B_PCPUS=""
	B_PIN="set"
	B_DURATION=3
	B_PAIRS=5
	B_SPIN=hv
	B_WORK=""
	B_HOST=0
	B_BASELINE=""
	B_SMOKE=0
	local w v
	while [[ $# -gt 0 ]]; do
		case $1 in
		--workload | --vms | --vcpus | --pcpus | --pin | --duration | --pairs | --spin | --work | --baseline)
			[[ $# -ge 2 ]] || die "bench: $1 needs a value (see ./run.sh bench --help)"
			case $1 in
			--workload) B_WORKLOAD=$2 ;;
			--vms) B_VMS=$2 ;;
			--vcpus) B_VCPUS=$2 ;;
			--pcpus) B_PCPUS=$2 ;;
			--pin) B_PIN=$2 ;;
			--duration) B_DURATION=$2 ;;
			--pairs) B_PAIRS=$2 ;;
			--spin) B_SPIN=$2 ;;
			--work) B_WORK=$2 ;;
			--baseline) B_BASELINE=$2 ;;
			esac
			shift
			;;
		--host) B_HOST=1 ;;
		--smoke) B_SMOKE=1 ;;
		-h | --help)
			bench_usage
			exit 0
			;;
		*) die "bench: unknown option '$1' (see ./run.sh bench --help)" ;;
		esac
		shift
	done
	if [[ $B_SMOKE -eq 1 ]]; then
		B_PAIRS=1
		B_VMS=1,2
		B_DURATION=1
		B_WORKLOAD=all
	fi

	[[ $B_WORKLOAD =~ ^[a-z]+(,[a-z]+)*$ ]] || die "bench: --workload '$B_WORKLOAD': use all or a comma list of $BENCH_WORKLOADS"
	for w in ${B_WORKLOAD//,/ }; do
		[[ $w == all || " $BENCH_WORKLOADS " == *" $w "* ]] ||
			die "bench: unknown workload '$w' (use all or $BENCH_WORKLOADS)"
	done
	[[ $B_VMS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "bench: --vms '$B_VMS': want a comma list of 1..4"
	for v in ${B_VMS//,/ }; do
		[[ $v -ge 1 && $v -le 4 ]] || die "bench: --vms $v: want 1..4 VMs"
	done
	[[ $B_VCPUS =~ ^[0-9]+$ && $B_VCPUS -ge 2 && $B_VCPUS -le 16 ]] || die "bench: --vcpus '$B_VCPUS': want 2..16"
	[[ -z $B_PCPUS || ($B_PCPUS =~ ^[0-9]+$ && $B_PCPUS -ge 1) ]] || die "bench: --pcpus '$B_PCPUS': want a number >= 1"
	[[ $B_PIN == set || $B_PIN == cpu ]] || die "bench: --pin '$B_PIN': use set or cpu"
	if ! [[ $B_DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
		! awk -v d="$B_DURATION" 'BEGIN { exit !(d >= 0.1 && d <= 600) }'; then
		die "bench: --duration '$B_DURATION': want 0.1..600 seconds"
	fi
	[[ $B_PAIRS =~ ^[0-9]+$ && $B_PAIRS -ge 1 && $B_PAIRS -le 100 ]] || die "bench: --pairs '$B_PAIRS': want 1..100"
	if [[ -z $B_WORK ]]; then
		# This host runs guest code in an instruction emulator, ~100x slower.
		B_WORK=20000
		[[ $B_HOST -eq 1 ]] && B_WORK=500
	fi
	[[ $B_WORK =~ ^[0-9]+$ && $B_WORK -ge 1 ]] || die "bench: --work '$B_WORK': want a number >= 1"
	case $B_SPIN in
	hv | pause) ;;
	wfe) die "bench: --spin wfe is arm64-only; ./run.sh bench runs x86_64 (use hv or pause)" ;;
	*) die "bench: --spin '$B_SPIN': use hv or pause (wfe on arm64)" ;;
	esac
	if [[ -n $B_BASELINE ]]; then
		[[ -f $B_BASELINE && -r $B_BASELINE ]] || die "bench: --baseline $B_BASELINE: no such file"
		head -n1 "$B_BASELINE" | grep -q '^workload	vms	mode	' ||
			die "bench: --baseline $B_BASELINE: not a bench-summary.tsv"
		B_BASELINE=$(realpath "$B_BASELINE")
	fi
	if [[ $B_HOST -eq 1 && $B_SPIN == hv ]]; then
		progress "bench --host: hypercalls hang in this host's KVM (guest code runs in its instruction emulator), so --spin pause"
		B_SPIN=pause
	fi
}

# The bench's own arguments (vsched_bench --help).
bench_program_args() {
	local ms
	ms=$(awk -v d="$B_DURATION" 'BEGIN { printf "%d", d * 1000 }')
	printf '%s\n' --workload "$B_WORKLOAD" --vms "$B_VMS" --vcpus "$B_VCPUS" --pin "$B_PIN" \
		--duration "$ms" --pairs "$B_PAIRS" --spin "$B_SPIN" --work "$B_WORK"
	[[ -n $B_PCPUS ]] && printf '%s\n' --pcpus "$B_PCPUS"
	return 0
}

# A bound on the bench's run time, in seconds: per workload and VM count, the
# windows plus settling (0.2 s each) and warm-up (0.5 s), plus VM set-up and
# teardown (measured: well under 1 s a VM under TCG; 2 s allowed), with 25%
# and 30 s to spare.  Under QEMU the boot is bounded separately.
bench_timeout() {
	local nw nv sumv
	nw=$(echo "${B_WORKLOAD//,/ }" | awk '{ for (i = 1; i <= NF; i++) if ($i == "all") { print 4; exit } print NF }')
	nv=$(echo "${B_VMS//,/ }" | wc -w)
	sumv=$(echo "${B_VMS//,/ }" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }')
	awk -v nw="$nw" -v nv="$nv" -v sumv="$sumv" -v p="$B_PAIRS" -v d="$B_DURATION" \
		'BEGIN { printf "%d", nw * (nv * (2 * p * (d + 0.2) + 0.5) + 2 * sumv) * 1.25 + 30 }'
}

bench_run_qemu() {
	local dir=$1 label=$2 image limit t
	image=$dir/kernel.img
	build_kernel x86_64 "$(tree_for_state patched)" "$(state_patches patched)" "$image"
	t=$(bench_timeout)
	{
		printf 'vsched_bench %s bench/vsched_bench' "$t"
		bench_program_args | awk '{ printf " %s", $0 } END { print "" }'
	} >"$dir/tests.list"
	make_initramfs x86_64 "$dir/tests.list" "$dir/initramfs.cpio"
	limit=$((t + BOOT_MARGIN))
	progress "bench: about $(((t - 30) * 4 / 5))s of guest time expected, limit ${limit}s"
	with_heavy_lock boot_and_run_locked x86_64 "$image" "$dir/initramfs.cpio" "" "$dir" "$limit"
	rm -f "$dir/initramfs.cpio" "$image"
	summarize_run "$dir" "$label" "$dir/tests.list" 1
}

bench_run_host_locked() {
	local dir=$1 t=$2 args
	mapfile -t args < <(bench_program_args)
	timeout --kill-after=10 "$t" "$TOP/build/x86_64/bench/vsched_bench" "${args[@]}" \
		</dev/null >"$dir/console.log" 2>&1 || echo "bench: vsched_bench exited with $?" >>"$dir/console.log"
}

bench_run_host() {
	local dir=$1 t
	[[ -r $DEV_KVM && -w $DEV_KVM ]] || die "bench --host: no usable $DEV_KVM"
	[[ $(host_arch) == x86_64 ]] || die "bench --host: the bench is built for x86_64 here"
	progress "bench --host: this host's KVM never exits on PAUSE, so kvm_vcpu_on_spin() is not reached and the series (not in this kernel anyway) cannot act; the numbers only show the workloads run"
	t=$(bench_timeout)
	with_heavy_lock bench_run_host_locked "$dir" "$t"
}

# bench.csv from the console: the "BENCH," rows (behind the runner's "# "),
# the header first; rows cut by kernel messages are dropped (report.awk
# counts short rows too).
bench_extract() {
	local dir=$1
	awk '{ sub(/\r$/, ""); sub(/^# /, "") }
		/^BENCH,/ { sub(/^BENCH,/, ""); print }' "$dir/console.log" >"$dir/bench.csv"
	awk '{ sub(/\r$/, ""); sub(/^# /, "") }
		/^BENCHINFO,/ { sub(/^BENCHINFO,/, ""); sub(/,/, ": "); print }' "$dir/console.log" >"$dir/bench-info.txt"
}

bench_plot() {
	local dir=$1 names term
	command -v gnuplot >/dev/null || {
		progress "bench: no gnuplot, no bench.png (apt-get install gnuplot-nox)"
		return 0
	}
	# One block per workload: vms ratio min max eff_on eff_off.
	awk -F'\t' 'NR > 1 {
			if (!($1 in blk)) { blk[$1] = ++n; name[n] = $1 }
			rows[blk[$1]] = rows[blk[$1]] $2 " " $7 " " $8 " " $9 " " $10 " " $11 "\n"
		}
		END { for (i = 1; i <= n; i++) { if (i > 1) printf "\n\n"; printf "%s", rows[i] } }' \
		"$dir/bench-summary.tsv" >"$dir/bench-plot.dat"
	names=$(awk -F'\t' 'NR > 1 && !seen[$1]++ { printf "%s ", $1 }' "$dir/bench-summary.tsv")
	[[ -n $names ]] || return 0
	term="pngcairo size 1100,480"
	gnuplot -e "set terminal pngcairo" >/dev/null 2>&1 || term="png size 1100,480"
	gnuplot >"$dir/gnuplot.log" 2>&1 <<EOF || progress "bench: gnuplot failed, see $dir/gnuplot.log"
set terminal $term
set output "$dir/bench.png"
set datafile missing "NA"
names = "$names"
set multiplot layout 1,2 title "$(head -n1 "$dir/bench-table.txt" | grep QEMU || echo "on this host's /dev/kvm")$(grep -q "^stock kernel" "$dir/bench-table.txt" && echo " -- stock kernel: on = off, A/A noise")"
set key below maxcols 4
set xlabel "VMs"
set xtics 1
set xrange [0.5:4.5]
set title "ratio on/off (median, min-max over pairs)"
set ylabel "units/s per VM, on / off"
plot for [i=1:words(names)] "$dir/bench-plot.dat" index (i-1) using (\$1+(i-2.5)*0.06):2:3:4 with yerrorlines lc i title word(names, i), 1 with lines dt 2 lc rgb "gray" notitle
set title "overcommit efficiency (total work / work at 1 VM)"
set ylabel "efficiency"
plot for [i=1:words(names)] "$dir/bench-plot.dat" index (i-1) using 1:5 with linespoints lc i title word(names, i)." on", \
     for [i=1:words(names)] "$dir/bench-plot.dat" index (i-1) using 1:6 with linespoints lc i dt 2 title word(names, i)." off"
unset multiplot
EOF
}

# Regression check against a stored bench-summary.tsv.  Only the on/off ratio
# is compared: it is measured within one boot, while absolute units/s of two
# boots (or two TCG hosts) are not comparable.  The noise of one run's median
# ratio is bounded by half its min..max spread over the pairs; two runs add
# up, so a drop counts as a regression when
#   ratio_now < ratio_base - max(0.05, (spread_base + spread_now) / 2)
# (spread = max - min), and for the compute control also a rise beyond it.
# The 5% floor keeps a run whose pairs happened to agree closely from failing
# on a 1-2% drift (5 A/A pairs of 3 s under QEMU TCG gave medians within 1% of
# 1 and spreads of 2-13%).  Runs of fewer than 3 pairs (--smoke) have no spread
# to speak of and are not compared: a single 1 s A/A pair was seen 17% off.
bench_compare() {
	local dir=$1 base=$2
	awk -F'\t' -v out="$dir/baseline-compare.tsv" '
		FNR == 1 { next }
		NR == FNR { r[$1 SUBSEP $2] = $7; lo[$1 SUBSEP $2] = $8; hi[$1 SUBSEP $2] = $9; np[$1 SUBSEP $2] = $4; next }
		{
			k = $1 SUBSEP $2
			if (!(k in r) || r[k] == "NA" || $7 == "NA") {
				printf "%-10s %d VMs: no baseline to compare\n", $1, $2
				print $1 "\t" $2 "\tNA\t" $7 "\tNA\tnew" > out
				next
			}
			if ($4 < 3 || np[k] < 3) {
				printf "%-10s %d VMs: not compared: %d and %d pairs, a spread needs 3\n", $1, $2, $4, np[k]
				print $1 "\t" $2 "\t" r[k] "\t" $7 "\tNA\tfew-pairs" > out
				next
			}
			thr = ((hi[k] - lo[k]) + ($9 - $8)) / 2
			if (thr < 0.05)
				thr = 0.05
			# The control must not move either way.
			verdict = ($7 < r[k] - thr || ($1 == "compute" && $7 > r[k] + thr)) ? "REGRESSION" : "ok"
			if (verdict != "ok")
				bad++
			printf "%-10s %d VMs: ratio %.3f, baseline %.3f, threshold -%.3f: %s\n", $1, $2, $7, r[k], thr, verdict
			print $1 "\t" $2 "\t" r[k] "\t" $7 "\t" thr "\t" verdict > out
		}
		END { exit bad ? 1 : 0 }' "$base" "$dir/bench-summary.tsv"
}

cmd_bench() {
	local start dir label kver status=0 qemu=1 rows
	start=$(date +%s)
	bench_parse_args "$@"
	build_suite x86_64
	if [[ $B_HOST -eq 1 ]]; then
		qemu=0
		label=bench-host-x86_64-$(uname -r)
		dir=$(new_run_dir "$label")
		bench_run_host "$dir"
	else
		kver=$(kernel_version)
		label=bench-x86_64-$kver-patched
		dir=$(new_run_dir "$label")
		bench_run_qemu "$dir" "$label"
		print_results || status=1
	fi
	bench_extract "$dir"
	sed 's/^/bench: /' "$dir/bench-info.txt" >&2
	rows=$(($(wc -l <"$dir/bench.csv") - 1))
	if [[ $rows -lt 1 ]]; then
		progress "bench: no result rows in $dir/console.log"
		tail -n 20 "$dir/console.log" >&2
		return 1
	fi
	awk -v out="$dir/bench-summary.tsv" -v qemu="$qemu" -f "$TOP/bench/report.awk" \
		"$dir/bench.csv" >"$dir/bench-table.txt" || die "bench: report.awk failed on $dir/bench.csv"
	bench_plot "$dir"
	echo
	cat "$dir/bench-table.txt"
	if ! grep -q '^BENCHINFO,done,ok' <(sed 's/^# //' "$dir/console.log"); then
		progress "bench: the bench did not finish (see $dir/console.log)"
		status=1
	fi
	if [[ -n $B_BASELINE ]]; then
		echo
		echo "against baseline $B_BASELINE:"
		bench_compare "$dir" "$B_BASELINE" || status=1
	fi
	progress "bench: finished in $(($(date +%s) - start))s; $rows rows; results in $dir"
	return "$status"
}
