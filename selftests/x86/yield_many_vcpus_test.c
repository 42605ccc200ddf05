// SPDX-License-Identifier: GPL-2.0-only
/*
 * yield_many_vcpus_test - IPI tracking and tier-1 selection name exactly the
 * right vCPU in a VM with as many vCPUs as KVM allows, are private to each
 * VM, and ignore the IPIs the series does not track.
 *
 * VM A has the most vCPUs KVM allows (at most 1024, -n to lower it), all in
 * x2APIC mode; the sender S is vCPU 1, the receivers are the vCPUs with
 * index 0, 31, 32, 63, 64 and the highest one (32/64 are where a "1 << idx"
 * bitmap breaks).  Only S and the receivers run: S alone on pCPU A, the
 * receivers on pCPU B with an antagonist, so they are really preempted.
 * VM B, beside it, has 3 vCPUs and its own traffic all along: its vCPU 0
 * sends fixed IPIs to its vCPU 2 and spins until they are acked.
 * It proves:
 *  4a. for each receiver, S's IPI round trips complete; with the series,
 *      S's ipi_context names exactly that receiver, every IPI is counted on
 *      S, only that receiver's ipi_eoi_cleared moves, and S takes tier 1
 *      while it spins;
 *  4b. VM A's contexts never name VM B's pattern (A's vCPU 0 never has
 *      receiver 2, A's vCPU 2 never has sender 0), and while VM A sends no
 *      IPI at all its tier-1 count stays 0 though VM B's moves;
 *  5.  broadcast (all-including, all-but-self, x2APIC ID 0xffffffff),
 *      multicast (x2APIC logical, two vCPUs of a cluster) and self-IPIs
 *      (shorthand and own ID) are all delivered but not tracked:
 *      ipi_sent_tracked stays still, ipi_context shows no receiver and no
 *      sender, and spinning after them takes no tier 1.
 * Without the series only the round trips of 4a run (delivery to every
 * receiver); the rest skips with "series not applied".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "test_util.h"
#include "vsched.h"
#include "yield_util.h"
#include "x86/ipi.h"

#define S		1
#define NR_RECV		6
#define TIMEOUT_MS	10000
#define BS		0	/* VM B: sender */
#define BR		2	/* VM B: receiver */
#define NR_B		3

static int opt_max;		/* 0: what KVM allows */
static int opt_ms = 1000;
static int opt_rounds = 20;
static enum spin_kind opt_kind = SPIN_HV;

static bool series;
static const char *no_series = "series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)";
static int cpu_a, cpu_b;

struct vmx {
	struct kvm_vm *vm;
	struct ipi_shared *sh;
	int nr_run;
	struct yvcpu y[NR_RECV + 1];
	int idx[NR_RECV + 1];		/* vCPU index of y[i] */
	struct ysnap b[NR_RECV + 1], a[NR_RECV + 1];
};

static struct vmx va, vb;
static struct yants ants;

static uint64_t d(struct vmx *v, int i, int stat)
{
	return ysnap_delta(&v->b[i], &v->a[i], stat);
}

static void snap(struct vmx *v, struct ysnap *s)
{
	int i;

	for (i = 0; i < v->nr_run; i++)
		ysnap_read(&v->y[i], &s[i]);
}

static void ctx(struct vmx *v, int id, struct ipi_context *c)
{
	int ret = vcpu_ipi_context(v->vm, id, c);

	TEST_ASSERT(!ret, "read vcpu%d/ipi_context: %s", id, strerror(-ret));
}

static void x2apic_mode(struct kvm_vcpu *vcpu)
{
	uint64_t base = vcpu_get_msr(vcpu, MSR_IA32_APICBASE);

	vcpu_set_msr(vcpu, MSR_IA32_APICBASE,
		     base | MSR_IA32_APICBASE_ENABLE | X2APIC_ENABLE);
}

/* Creates @nr vCPUs; runs those listed in @run (y[i] is vCPU run[i]). */
static void vm_make(struct vmx *v, int nr, const int *run, int nr_run,
		    const int *cpu, const char * const *role)
{
	struct kvm_vcpu *vcpu;
	int i, j;

	memset(v, 0, sizeof(*v));
	v->vm = vm_create(nr);
	v->nr_run = nr_run;
	for (i = 0; i < nr; i++) {
		vcpu = vm_vcpu_add(v->vm, i, ipi_guest_main);
		/* All in x2APIC mode, run or not: one consistent APIC map. */
		x2apic_mode(vcpu);
		for (j = 0; j < nr_run; j++) {
			if (run[j] != i)
				continue;
			vcpu_spin_setup(vcpu, opt_kind);
			v->y[j].vcpu = vcpu;
			v->y[j].cpu = cpu[j];
			v->y[j].role = role[j];
			v->idx[j] = i;
		}
	}
	ipi_vm_setup(v->vm, opt_kind);
	v->sh = ipi_shared_hva(v->vm);
}

static void vm_start(struct vmx *v)
{
	int i;

	for (i = 0; i < v->nr_run; i++)
		yvcpu_start(&v->y[i]);
	for (i = 0; i < v->nr_run; i++)
		ipi_wait_ready(v->sh, v->idx[i], TIMEOUT_MS * 3);
}

static void vm_end(struct vmx *v)
{
	int i;

	for (i = 0; i < v->nr_run; i++)
		ipi_post(v->sh, v->idx[i], &(struct ipi_vcpu){ .cmd = IPI_CMD_EXIT });
	for (i = 0; i < v->nr_run; i++)
		yvcpu_join(&v->y[i], 30);
	kvm_vm_free(v->vm);
}

/* VM A's contexts never show VM B's pattern (B: vCPU 0 -> vCPU 2). */
static void check_isolation(const char *when)
{
	struct ipi_context c0, c2;

	ctx(&va, BS, &c0);
	ctx(&va, BR, &c2);
	TEST_ASSERT(c0.receiver != BR && c2.sender != BS,
		    "%s: VM A's vcpu%d has receiver=%d, vcpu%d sender=%d: VM B's pattern %d->%d leaked",
		    when, BS, c0.receiver, BR, c2.sender, BS, BR);
}

/* S spins with no IPI of its own for one phase. */
static void spin_phase(void)
{
	uint64_t seq;

	snap(&va, va.b);
	snap(&vb, vb.b);
	seq = ipi_post(va.sh, S, &(struct ipi_vcpu){ .cmd = IPI_CMD_SPIN });
	ipi_wait_started(va.sh, S, seq, TIMEOUT_MS);
	usleep(opt_ms * 1000);
	ipi_stop(va.sh, S, seq, TIMEOUT_MS);
	snap(&va, va.a);
	snap(&vb, vb.a);
}

/* 4b, first part: VM A sends nothing, VM B has its traffic. */
static void scenario_quiet_vm(void)
{
	struct ipi_context c;
	int i;

	spin_phase();
	ysnap_print("4b. VM A sends no IPI, S spins (VM A)", va.y, va.nr_run, va.b, va.a);
	ysnap_print("    ... meanwhile VM B (vCPU 0 -> 2 round trips)", vb.y, vb.nr_run, vb.b, vb.a);
	TEST_ASSERT(d(&va, 0, YS_SPIN) > 0, "VM A's S never entered kvm_vcpu_on_spin()");
	TEST_ASSERT(d(&va, 0, YS_T1) == 0, "VM A sent no IPI, but its S took tier 1 %lu times",
		    d(&va, 0, YS_T1));
	TEST_ASSERT(d(&vb, 0, YS_T1) > 0, "VM B's sender never took tier 1: its traffic is not live");
	for (i = 0; i < va.nr_run; i++) {
		ctx(&va, va.idx[i], &c);
		TEST_ASSERT(c.receiver == -1 && c.sender == -1,
			    "VM A sent no IPI, but its vcpu%d has receiver=%d sender=%d",
			    va.idx[i], c.receiver, c.sender);
		TEST_ASSERT(d(&va, i, YS_SENT) == 0 && d(&va, i, YS_EOI) == 0,
			    "VM A's vcpu%d: ipi_sent_tracked +%lu, ipi_eoi_cleared +%lu",
			    va.idx[i], d(&va, i, YS_SENT), d(&va, i, YS_EOI));
	}
	check_isolation("VM A quiet");
}

/* 5. Untracked kinds: delivered, not recorded. */
static void scenario_untracked(void)
{
	struct {
		const char *name;
		uint64_t icr;
		int to;			/* a running vCPU (y index) that gets it */
	} kinds[] = {
		{ "broadcast, all including self", APIC_DEST_ALLINC | IPI_VECTOR, 0 },
		{ "broadcast, all but self", APIC_DEST_ALLBUT | IPI_VECTOR, 1 },
		{ "broadcast, x2APIC ID 0xffffffff", (0xffffffffull << 32) | IPI_VECTOR, 1 },
		{ "multicast, logical cluster 4: vCPUs 64 and 65",
		  ((4ull << 16 | 3) << 32) | APIC_DEST_LOGICAL | IPI_VECTOR, 5 },
		{ "self, shorthand", APIC_DEST_SELF | IPI_VECTOR, 0 },
		{ "self, own x2APIC ID", ((uint64_t)S << 32) | IPI_VECTOR, 0 },
	};
	uint64_t irqs0, seq;
	struct ipi_context c;
	double end;
	int k, i;

	for (k = 0; k < ARRAY_SIZE(kinds); k++) {
		int to = kinds[k].to;

		snap(&va, va.b);
		irqs0 = READ_ONCE(va.sh->vcpu[va.idx[to]].irqs);
		seq = ipi_post(va.sh, S, &(struct ipi_vcpu){ .cmd = IPI_CMD_SEND,
							      .icr = kinds[k].icr });
		ipi_wait_done(va.sh, S, seq, TIMEOUT_MS);
		end = vsched_now_ms() + TIMEOUT_MS;
		while (READ_ONCE(va.sh->vcpu[va.idx[to]].irqs) == irqs0) {
			TEST_ASSERT(vsched_now_ms() < end, "%s: vcpu%d never took the IPI",
				    kinds[k].name, va.idx[to]);
			usleep(1000);
		}
		usleep(20000);
		snap(&va, va.a);
		ksft_print_msg("5. %s (icr %#lx): delivered to vcpu%d; ipi_sent_tracked +%lu\n",
			       kinds[k].name, kinds[k].icr, va.idx[to], d(&va, 0, YS_SENT));
		TEST_ASSERT(d(&va, 0, YS_SENT) == 0, "%s: ipi_sent_tracked moved by %lu",
			    kinds[k].name, d(&va, 0, YS_SENT));
		for (i = 0; i < va.nr_run; i++) {
			ctx(&va, va.idx[i], &c);
			TEST_ASSERT(c.receiver == -1 && c.sender == -1 &&
				    d(&va, i, YS_EOI) == 0,
				    "%s: vcpu%d has receiver=%d sender=%d, ipi_eoi_cleared +%lu",
				    kinds[k].name, va.idx[i], c.receiver, c.sender,
				    d(&va, i, YS_EOI));
		}
	}
	spin_phase();
	ysnap_print("5. S spins after the untracked IPIs", va.y, va.nr_run, va.b, va.a);
	TEST_ASSERT(d(&va, 0, YS_T1) == 0, "untracked IPIs only, but S took tier 1 %lu times",
		    d(&va, 0, YS_T1));
	check_isolation("after untracked IPIs");
}

/*
 * A batch of round trips from S to vCPU @id, with the stats around it.  A
 * receiver that acks before S's spin reaches the hypercall leaves nothing for
 * tier 1 to judge, and so does one that is running when S spins (it is no
 * candidate then, and S may yield to another vCPU through tier 3: one batch
 * had a single spin, taken so).  So with the feature on a batch is repeated
 * (up to BATCHES times) until S has taken tier 1 at least once.
 */
#define BATCHES		5

static int receiver_batch(int id, bool want_tier1)
{
	int batch;

	for (batch = 1; batch <= BATCHES; batch++) {
		snap(&va, va.b);
		ipi_round_trips(va.sh, S, id, opt_rounds, opt_ms, TIMEOUT_MS);
		snap(&va, va.a);
		if (!want_tier1 || d(&va, 0, YS_T1) > 0)
			break;
	}
	return batch > BATCHES ? BATCHES : batch;
}

/* 4a. Round trips to each receiver. */
static void scenario_receivers(bool feature)
{
	struct ipi_context c;
	uint64_t sent, acked;
	char title[160];
	int r, i, batches;

	for (r = 1; r <= NR_RECV; r++) {
		int id = va.idx[r];

		batches = receiver_batch(id, series && feature);
		sent = READ_ONCE(va.sh->vcpu[S].sent);
		acked = READ_ONCE(va.sh->vcpu[S].acked);
		snprintf(title, sizeof(title), "4a. receiver vcpu%d: %lu of %lu IPIs acked, median %lu cycles",
			 id, acked, sent, ipi_rtt_median(va.sh));
		ysnap_print(title, va.y, va.nr_run, va.b, va.a);
		TEST_ASSERT(acked > 0, "receiver vcpu%d: no IPI round trip completed in %d ms",
			    id, opt_ms);
		if (!series)
			continue;
		ctx(&va, S, &c);
		TEST_ASSERT(c.receiver == id, "S sent to vcpu%d, its ipi_context names %d",
			    id, c.receiver);
		TEST_ASSERT(d(&va, 0, YS_SENT) == sent,
			    "receiver vcpu%d: %lu IPIs sent, ipi_sent_tracked +%lu",
			    id, sent, d(&va, 0, YS_SENT));
		for (i = 1; i <= NR_RECV; i++) {
			uint64_t e = d(&va, i, YS_EOI);

			if (i == r)
				TEST_ASSERT(e >= acked - 1 && e <= sent,
					    "receiver vcpu%d acked %lu of %lu, ipi_eoi_cleared +%lu",
					    id, acked, sent, e);
			else
				TEST_ASSERT(e == 0,
					    "S sent to vcpu%d only, but vcpu%d's ipi_eoi_cleared +%lu",
					    id, va.idx[i], e);
		}
		if (feature) {
			TEST_ASSERT(d(&va, 0, YS_SPIN) > 0,
				    "receiver vcpu%d: S never entered kvm_vcpu_on_spin() in the last of %d batches of %d round trips",
				    id, batches, opt_rounds);
			TEST_ASSERT(d(&va, 0, YS_T1) > 0,
				    "receiver vcpu%d: S spun (%lu spin_entries in the last of %d batches) but never took tier 1",
				    id, d(&va, 0, YS_SPIN), batches);
		}
		check_isolation(title);
	}
}

/*
 * Every vCPU is a file: raise RLIMIT_NOFILE for @want of them (plus the
 * other VMs and stats fds), or lower @want to what the limit allows.
 */
static int fd_limit(int want)
{
	struct rlimit rl;
	rlim_t need = want + 128;

	TEST_ASSERT(!getrlimit(RLIMIT_NOFILE, &rl), "getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur >= need)
		return want;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (!setrlimit(RLIMIT_NOFILE, &rl))
		return want;
	TEST_ASSERT(!getrlimit(RLIMIT_NOFILE, &rl), "getrlimit(RLIMIT_NOFILE)");
	ksft_print_msg("RLIMIT_NOFILE %lu cannot be raised to %lu: %lu vCPUs only\n",
		       (unsigned long)rl.rlim_cur, (unsigned long)need,
		       (unsigned long)(rl.rlim_cur - 128));
	return rl.rlim_cur > 128 ? rl.rlim_cur - 128 : 0;
}

/* 0 works and exits, 1 works without (known) exits, -1 never returns. */
static int probe_kind(enum spin_kind kind)
{
	static const char * const role[] = { "S", "R" };
	static const int run[] = { 0, 1 };
	int cpu[] = { cpu_a, cpu_b };
	struct vmx p;
	double end;
	uint64_t seq;
	int ret = 1;

	vm_make(&p, 2, run, 2, cpu, role);
	vm_start(&p);
	snap(&p, p.b);
	seq = ipi_post(p.sh, 0, &(struct ipi_vcpu){ .cmd = IPI_CMD_SPIN });
	usleep(200000);
	WRITE_ONCE(p.sh->vcpu[0].stop, seq);
	end = vsched_now_ms() + 3000;
	while (READ_ONCE(p.sh->vcpu[0].done) < seq && vsched_now_ms() < end)
		usleep(1000);
	if (READ_ONCE(p.sh->vcpu[0].done) < seq) {
		p.y[0].signal_stop = true;
		p.y[1].signal_stop = true;
		yvcpu_join(&p.y[0], 20);
		yvcpu_join(&p.y[1], 20);
		kvm_vm_free(p.vm);
		return -1;
	}
	snap(&p, p.a);
	if (series && d(&p, 0, YS_SPIN) > 0)
		ret = 0;
	vm_end(&p);
	return ret;
}

int main(int argc, char *argv[])
{
	static const char * const roles[] = { "S", "R0", "R31", "R32", "R63", "R64", "Rtop" };
	static const char * const broles[] = { "bS", "bB", "bR" };
	int run[NR_RECV + 1] = { S, 0, 31, 32, 63, 64, 0 };
	int cpu[NR_RECV + 1], bcpu[NR_B], brun[NR_B] = { 0, 1, 2 };
	int cpus[8], nr_cpus, max, c, i, k, probe;
	char why[256] = "";
	const char *unusable;
	bool feature;
	uint64_t seq;

	while ((c = getopt(argc, argv, "n:t:r:k:h")) != -1) {
		switch (c) {
		case 'n':
			opt_max = atoi_positive("vCPUs", optarg);
			break;
		case 't':
			opt_ms = atoi_positive("ms", optarg);
			break;
		case 'r':
			opt_rounds = atoi_positive("rounds", optarg);
			break;
		case 'k':
			k = spin_kind_parse(optarg);
			if (k < 0 || !spin_kind_supported(k))
				goto usage;
			opt_kind = k;
			break;
		default:
			goto usage;
		}
	}

	ksft_print_header();
	nr_cpus = ycpus(cpus, 8);
	if (nr_cpus < 2)
		ksft_exit_skip("needs 2 pCPUs to overcommit one of them (have %d)\n", nr_cpus);
	cpu_a = cpus[0];
	cpu_b = cpus[nr_cpus - 1];
	series = vsched_series_applied();
	if (series && ipi_apicv_enabled()) {
		series = false;
		no_series = "APICv/AVIC is on: KVM does not see the guest's IPIs, the series tracks none (by design)";
	}
	if (series && access("/sys/kernel/debug/kvm", F_OK))
		ksft_exit_skip("no /sys/kernel/debug/kvm: debugfs is needed for ipi_context\n");
	if (series) {	/* a test killed earlier in this boot may have left others */
		vsched_param_set("ipi_tracking", "Y");
		vsched_param_set("ipi_aware_yield", "Y");
		vsched_param_set("ipi_window_ns", "50000000");
	}
	max = kvm_check_cap(KVM_CAP_MAX_VCPUS);
	if (max > IPI_MAX_VCPUS)
		max = IPI_MAX_VCPUS;
	if (opt_max && opt_max < max)
		max = opt_max;
	max = fd_limit(max);
	if (max < 66)
		ksft_exit_skip("needs at least 66 vCPUs per VM, KVM allows %d\n", max);
	if (max < 256)
		ksft_print_msg("KVM allows only %d vCPUs per VM (fewer than 256)\n", max);
	run[NR_RECV] = max - 1;

	ksft_set_plan(3);
	if (!spin_kind_usable(opt_kind, &unusable)) {
		probe = -1;
		snprintf(why, sizeof(why), "'%s': %s", spin_kind_name(opt_kind), unusable);
		opt_kind = SPIN_PAUSE;
	} else {
		probe = probe_kind(opt_kind);
	}
	if (probe < 0 && !why[0]) {
		snprintf(why, sizeof(why), "a guest spin with '%s' never returns here %s",
			 spin_kind_name(opt_kind), "(an instruction emulator behind /dev/kvm?)");
		opt_kind = SPIN_PAUSE;
	} else if (probe > 0 && series) {
		snprintf(why, sizeof(why), "the host never exits on '%s' (spin_entries stayed 0)",
			 spin_kind_name(opt_kind));
	}
	feature = series && probe == 0;
	ksft_print_msg("series %s; VM A: %d vCPUs, S = vcpu%d on pCPU %d, receivers on pCPU %d; spin '%s'%s%s\n",
		       series ? "applied" : "not applied", max, S, cpu_a, cpu_b,
		       spin_kind_name(opt_kind), why[0] ? ": " : "", why);

	for (i = 0; i <= NR_RECV; i++)
		cpu[i] = i ? cpu_b : cpu_a;
	vm_make(&va, max, run, NR_RECV + 1, cpu, roles);
	bcpu[0] = cpu_a;
	bcpu[1] = cpu_b;
	bcpu[2] = cpu_b;
	vm_make(&vb, NR_B, brun, NR_B, bcpu, broles);
	yants_start(&ants, cpu_b, 1);
	vm_start(&va);
	vm_start(&vb);
	/* VM B's traffic, all along. */
	seq = ipi_post(vb.sh, BS, &(struct ipi_vcpu){ .cmd = IPI_CMD_SEND_WAIT, .target = BR,
						      .rounds = ~0ull });
	ipi_wait_started(vb.sh, BS, seq, TIMEOUT_MS);

	if (feature) {
		scenario_quiet_vm();
		scenario_untracked();
	}
	scenario_receivers(feature);

	if (!series)
		ksft_test_result_pass("4a. IPI round trips to vCPUs 0, 31, 32, 63, 64, %d (per-vCPU checks: series not applied)\n",
				      max - 1);
	else
		ksft_test_result_pass("4a. receivers 0, 31, 32, 63, 64, %d named exactly%s\n", max - 1,
				      feature ? ", tier 1 taken for each" : "");
	if (feature) {
		ksft_test_result_pass("4b. VM B's IPIs never show in VM A, quiet VM A has no tier 1\n");
		ksft_test_result_pass("5. broadcast, multicast and self-IPIs are not tracked\n");
	} else {
		const char *reason = series ? why :
			no_series;

		ksft_test_result_skip("4b. %s\n", reason);
		ksft_test_result_skip("5. %s\n", reason);
	}

	ipi_stop(vb.sh, BS, seq, TIMEOUT_MS);
	vm_end(&vb);
	vm_end(&va);
	yants_stop(&ants);
	ksft_finished();

usage:
	printf("usage: %s [-n max vCPUs] [-t ms per phase (%d)] [-r rounds (%d)] [-k hv|pause]\n",
	       argv[0], opt_ms, opt_rounds);
	return KSFT_FAIL;
}
