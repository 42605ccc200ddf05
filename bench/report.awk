#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0-only
#
# Report of vsched_bench: reads bench.csv (a header line, then one row per
# measurement window, in the order they ran) and prints one table line per
# workload and VM count; writes the same as TSV to the file named by -v out=.
#
# The two windows of a pair are A and B: with the series, A is the window
# with ipi_aware_yield on and B the one with it off, whichever ran first (the
# bench alternates the order, ABBA); on a stock kernel both are "stock", A
# is the first, and A/B is an A/A ratio, i.e. the noise.  Per pair: ratio = A/B of the work
# units per second per VM.  Per workload and VM count: the median of the
# ratios and their min..max (the spread), the median units/s/VM of each
# setting, and the overcommit efficiency: the total work of k VMs on the
# same pCPUs divided by the work of 1 VM (k * units/s/VM(k) / units/s/VM(1)).
#
# Variables: out (TSV path, required), qemu (1: the QEMU TCG note).
# mawk-compatible: no gawk functions.

function median(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	if (n == 0)
		return "NA"
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2)
		return a[(n + 1) / 2] + 0
	return (a[n / 2] + a[n / 2 + 1]) / 2
}

function minmax(list, want_max,    n, a, i, m) {
	n = split(list, a, " ")
	if (n == 0)
		return "NA"
	m = a[1] + 0
	for (i = 2; i <= n; i++)
		if ((want_max && a[i] + 0 > m) || (!want_max && a[i] + 0 < m))
			m = a[i] + 0
	return m
}

# Sum of a stat over the windows of one side; NA if any window lacks it.
function add(arr, k, v) {
	if (v == "NA" || arr[k] == "NA")
		arr[k] = "NA"
	else
		arr[k] += v
}

function fmt(v, f) {
	return v == "NA" ? "NA" : sprintf(f, v)
}

function per(a, b, f) {
	if (a == "NA" || b == "NA" || b + 0 == 0)
		return "NA"
	return sprintf(f, a / b)
}

BEGIN {
	FS = ","
	if (out == "") {
		print "report.awk: -v out=FILE is required" > "/dev/stderr"
		exit 2
	}
	nkeys = 0
}

NR == 1 {
	for (i = 1; i <= NF; i++)
		col[$i] = i
	ncol = NF
	split("workload vms pair setting units_per_s_vm window_ms units kvm_exit sched_switch spin_entries spin_yield_successful yield_tier_ipi yield_tier_intr yield_tier_preempted yield_relaxed", need, " ")
	for (i in need)
		if (!(need[i] in col)) {
			printf "report.awk: bench.csv has no column %s\n", need[i] > "/dev/stderr"
			bad = 1
			exit 2
		}
	next
}

NF != ncol { skipped++; next }

{
	k = $col["workload"] SUBSEP $col["vms"]
	if (!(k in seen)) {
		seen[k] = 1
		keys[++nkeys] = k
	}
	p = k SUBSEP $col["pair"]
	if ($col["setting"] == "on")
		side = "A"
	else if ($col["setting"] == "off")
		side = "B"
	else
		side = (p in pair_rate) ? "B" : "A"
	if (p in pair_rate) {
		ra = side == "A" ? $col["units_per_s_vm"] : pair_rate[p]
		rb = side == "B" ? $col["units_per_s_vm"] : pair_rate[p]
		if (ra + 0 > 0 && rb + 0 > 0)
			ratios[k] = ratios[k] " " ra / rb
	} else {
		pair_rate[p] = $col["units_per_s_vm"]
	}
	ks = k SUBSEP side
	label[ks] = $col["setting"]
	rate[ks] = rate[ks] " " $col["units_per_s_vm"]
	secs[ks] += $col["window_ms"] / 1000
	add(units, ks, $col["units"])
	add(exits, ks, $col["kvm_exit"])
	add(switches, ks, $col["sched_switch"])
	add(spins, ks, $col["spin_entries"])
	add(yields, ks, $col["spin_yield_successful"])
	add(tipi, ks, $col["yield_tier_ipi"])
	add(tintr, ks, $col["yield_tier_intr"])
	add(tpre, ks, $col["yield_tier_preempted"])
	add(relax, ks, $col["yield_relaxed"])
	add(hvc, ks, ("kvm_hv_hypercall" in col) ? $col["kvm_hv_hypercall"] : "NA")
	add(preempt, ks, ("sched_out_preempted" in col) ? $col["sched_out_preempted"] : "NA")
}

END {
	if (bad)
		exit 2
	if (qemu)
		print "QEMU TCG: ratios within one boot, not hardware numbers"
	print "workload\tvms\tmode\tpairs\ton_units_per_s_vm\toff_units_per_s_vm\tratio_median\tratio_min\tratio_max\teff_on\teff_off\tspin_entries_on\tspin_entries_off\tyields_on\tyields_off\ttier_ipi_on\ttier_intr_on\ttier_preempted_on\ttier_preempted_off\trelaxed_on\texits_per_unit_on\texits_per_unit_off\tswitches_per_s_on\tswitches_per_s_off\thvcalls_per_s_on\thvcalls_per_s_off\tpreempts_per_s_on\tpreempts_per_s_off" > out
	printf "%-10s %3s %12s %12s %7s %15s %6s %6s %15s %8s\n", "workload", "VMs",
	       "on u/s/VM", "off u/s/VM", "ratio", "spread", "eff-on", "eff-off",
	       "yields on/off", "tier-ipi"
	mode_seen = ""
	for (i = 1; i <= nkeys; i++) {
		k = keys[i]
		split(k, kv, SUBSEP)
		a = k SUBSEP "A"
		b = k SUBSEP "B"
		mode = label[a] == "stock" ? "aa" : "ab"
		if (index(mode_seen, mode) == 0)
			mode_seen = mode_seen mode
		ma = median(rate[a])
		mb = median(rate[b])
		n = split(ratios[k], tmp, " ")
		rmed = median(ratios[k])
		rmin = minmax(ratios[k], 0)
		rmax = minmax(ratios[k], 1)
		one = kv[1] SUBSEP 1
		ea = eb = "NA"
		if ((one in seen) && median(rate[one SUBSEP "A"]) + 0 > 0)
			ea = kv[2] * ma / median(rate[one SUBSEP "A"])
		if ((one in seen) && median(rate[one SUBSEP "B"]) + 0 > 0)
			eb = kv[2] * mb / median(rate[one SUBSEP "B"])
		printf "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		       kv[1], kv[2], mode, n, fmt(ma, "%.2f"), fmt(mb, "%.2f"),
		       fmt(rmed, "%.4f"), fmt(rmin, "%.4f"), fmt(rmax, "%.4f"),
		       fmt(ea, "%.3f"), fmt(eb, "%.3f"), spins[a], spins[b],
		       yields[a], yields[b], tipi[a], tintr[a], tpre[a], tpre[b],
		       relax[a], per(exits[a], units[a], "%.2f"), per(exits[b], units[b], "%.2f"),
		       per(switches[a], secs[a], "%.0f"), per(switches[b], secs[b], "%.0f"),
		       per(hvc[a], secs[a], "%.0f"), per(hvc[b], secs[b], "%.0f"),
		       per(preempt[a], secs[a], "%.0f"), per(preempt[b], secs[b], "%.0f") > out
		printf "%-10s %3d %12s %12s %7s %15s %6s %6s %15s %8s\n", kv[1], kv[2],
		       fmt(ma, "%.1f"), fmt(mb, "%.1f"), fmt(rmed, "%.3f"),
		       rmin == "NA" ? "NA" : sprintf("%.3f..%.3f", rmin, rmax),
		       fmt(ea, "%.2f"), fmt(eb, "%.2f"), yields[a] "/" yields[b], tipi[a]
	}
	if (index(mode_seen, "aa"))
		print "stock kernel (series not applied): 'on' and 'off' are both stock, the ratio is A/A noise"
	print "ratio = on/off units per second per VM, per pair: median and min..max over pairs;"
	print "eff = total work at k VMs / work at 1 VM on the same pCPUs; yields = spin_yield_successful"
	if (skipped)
		printf "report.awk: %d malformed rows skipped\n", skipped
}
