// SPDX-License-Identifier: GPL-2.0-only
/*
 * sgi_yield_stats_test - arm64 SGI tracking counts exactly, under vCPU
 * overcommit with every vCPU running concurrently, and names the right
 * vCPU also beyond the first affinity cluster.
 *
 * 18 vCPUs on a vGICv3; the sender S (vCPU 0) runs alone on pCPU A, the
 * receivers R1 (vCPU 1, Aff1=0) and R17 (vCPU 17, Aff1=1 Aff0=1) share
 * pCPU B with an antagonist, so they are preempted between the SGI and its
 * deactivation; the other vCPUs never run.  S writes ICC_SGI1R_EL1 with
 * one target and spins until the receiver's handler acked (EOImode 0, so
 * the EOI also deactivates).  With the series it proves:
 *  - per receiver: S's ipi_sent_tracked moves once per SGI, S's
 *    ipi_context names exactly that receiver and ends with pending=0, the
 *    receiver's ipi_eoi_cleared moves (at most once per SGI, possibly
 *    less: KVM sees deactivations when it folds the list registers at the
 *    receiver's exits, so SGIs completed between two exits clear once),
 *    the other receiver's stays still, and vcpu<N>/ipi_context exists;
 *  - a broadcast (IRM=1), a two-target SGI and a self-SGI are delivered
 *    but not tracked: no ipi_sent_tracked, no receiver, no sender;
 *  - each spin primitive (wfe, pause = YIELD) is tried: when the host exits
 *    on it (spin_entries moves) S takes tier 1 while it waits on an SGI;
 *    when it never does (WFE and YIELD under TCG), that part is skipped
 *    with the reason.
 * Without the series only the SGI round trips run ("series not applied").
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "gic_v3.h"
#include "processor.h"
#include "test_util.h"
#include "vgic.h"
#include "vsched.h"
#include "yield_util.h"
#include "arm64/sgi.h"

#define NR_VCPUS	18
#define S		0
#define NR_RUN		3
#define TIMEOUT_MS	10000

static const int run_idx[NR_RUN] = { 0, 1, 17 };
static const char * const roles[NR_RUN] = { "S", "R1", "R17" };

static int opt_ms = 1000;
static int opt_rounds = 50;

static struct kvm_vm *vm;
static struct sgi_shared *sh;
static struct yvcpu y[NR_RUN];
static struct ysnap b[NR_RUN], a[NR_RUN];
static bool series;

static uint64_t d(int i, int stat)
{
	return ysnap_delta(&b[i], &a[i], stat);
}

static void snap(struct ysnap *s)
{
	int i;

	for (i = 0; i < NR_RUN; i++)
		ysnap_read(&y[i], &s[i]);
}

static void ctx(int id, struct ipi_context *c)
{
	int ret = vcpu_ipi_context(vm, id, c);

	TEST_ASSERT(!ret, "read vcpu%d/ipi_context: %s", id, strerror(-ret));
}

/* Round trips S -> run_idx[r] for one phase; returns those acked. */
static uint64_t round_trips(int r, uint64_t *sent)
{
	struct sgi_vcpu t = { .cmd = SGI_CMD_SEND_WAIT, .target = run_idx[r],
			      .rounds = opt_rounds };
	uint64_t seq = sgi_post(sh, S, &t);
	double end = vsched_now_ms() + opt_ms;

	while (vsched_now_ms() < end && READ_ONCE(sh->vcpu[S].done) != seq)
		usleep(10000);
	sgi_stop(sh, S, seq, TIMEOUT_MS);
	*sent = READ_ONCE(sh->vcpu[S].sent);
	return READ_ONCE(sh->vcpu[S].acked);
}

static void scenario_round_trips(void)
{
	uint64_t sent, acked, e;
	struct ipi_context c;
	char title[128];
	double end;
	int r;

	for (r = 1; r < NR_RUN; r++) {
		snap(b);
		acked = round_trips(r, &sent);
		TEST_ASSERT(acked > 0, "no SGI round trip to vCPU %d completed in %d ms",
			    run_idx[r], opt_ms);
		/* The deactivation is seen at the receiver's next exit. */
		end = vsched_now_ms() + 5000;
		do {
			usleep(20000);
			snap(a);
			if (!series)
				break;
			ctx(run_idx[r], &c);
		} while (c.sender != -1 && vsched_now_ms() < end);
		snprintf(title, sizeof(title), "SGIs to vCPU %d: %lu of %lu acked, median %lu ticks",
			 run_idx[r], acked, sent, sgi_rtt_median(sh));
		ysnap_print(title, y, NR_RUN, b, a);
		if (!series)
			continue;
		ctx(S, &c);
		ksft_print_msg("  vcpu0 ipi_context: receiver=%d receiver_age_ns=%ld pending=%d sender=%d\n",
			       c.receiver, c.receiver_age_ns, c.pending, c.sender);
		TEST_ASSERT(c.receiver == run_idx[r], "S sent to vCPU %d, ipi_context names %d",
			    run_idx[r], c.receiver);
		TEST_ASSERT(d(S, YS_SENT) == sent, "%lu SGIs to vCPU %d, ipi_sent_tracked +%lu",
			    sent, run_idx[r], d(S, YS_SENT));
		e = d(r, YS_EOI);
		/*
		 * KVM sees deactivations when it folds the list registers at the
		 * receiver's exits: SGIs completed between two exits of the
		 * receiver clear the context once.
		 */
		TEST_ASSERT(e >= 1 && e <= sent,
			    "vCPU %d acked %lu of %lu SGIs, ipi_eoi_cleared +%lu",
			    run_idx[r], acked, sent, e);
		TEST_ASSERT(c.pending == 0,
			    "every SGI to vCPU %d was acked, but S's ipi_context has pending=%d",
			    run_idx[r], c.pending);
		TEST_ASSERT(d(3 - r, YS_EOI) == 0, "SGIs to vCPU %d only, but vCPU %d's ipi_eoi_cleared +%lu",
			    run_idx[r], run_idx[3 - r], d(3 - r, YS_EOI));
	}
}

static void scenario_untracked(void)
{
	const struct { const char *name; uint64_t sgi1r; int to; } kinds[] = {
		{ "broadcast (IRM=1)", ((uint64_t)SGI_INTID << ICC_SGI1R_SGI_ID_SHIFT) |
			BIT_ULL(ICC_SGI1R_IRQ_ROUTING_MODE_BIT), 1 },
		{ "two targets (vCPUs 1, 2)", ((uint64_t)SGI_INTID << ICC_SGI1R_SGI_ID_SHIFT) |
			0x6, 1 },
		{ "self", sgi1r_to(S), 0 },
	};
	struct ipi_context c;
	uint64_t irqs0;
	double end;
	int k, i;

	for (k = 0; k < ARRAY_SIZE(kinds); k++) {
		int to = run_idx[kinds[k].to];

		snap(b);
		irqs0 = READ_ONCE(sh->vcpu[to].irqs);
		sgi_wait_done(sh, S, sgi_post(sh, S, &(struct sgi_vcpu){
			.cmd = SGI_CMD_SEND, .sgi1r = kinds[k].sgi1r }), TIMEOUT_MS);
		end = vsched_now_ms() + TIMEOUT_MS;
		while (READ_ONCE(sh->vcpu[to].irqs) == irqs0) {
			TEST_ASSERT(vsched_now_ms() < end, "%s: vCPU %d never took the SGI",
				    kinds[k].name, to);
			usleep(1000);
		}
		usleep(50000);
		snap(a);
		ksft_print_msg("%s SGI (%#lx): delivered to vCPU %d; ipi_sent_tracked +%lu\n",
			       kinds[k].name, kinds[k].sgi1r, to, d(S, YS_SENT));
		TEST_ASSERT(d(S, YS_SENT) == 0, "%s SGI moved ipi_sent_tracked by %lu",
			    kinds[k].name, d(S, YS_SENT));
		for (i = 0; i < NR_RUN; i++) {
			ctx(run_idx[i], &c);
			TEST_ASSERT(c.receiver == -1 && c.sender == -1 && d(i, YS_EOI) == 0,
				    "%s SGI: vCPU %d has receiver=%d sender=%d, ipi_eoi_cleared +%lu",
				    kinds[k].name, run_idx[i], c.receiver, c.sender, d(i, YS_EOI));
		}
	}
}

/* One spin primitive: 1 pass, 0 skipped (reason in @why). */
static int scenario_spin(enum spin_kind kind, char *why, size_t len)
{
	uint64_t sent, acked;
	char title[128];

	WRITE_ONCE(sh->spin_kind, kind);
	snap(b);
	acked = round_trips(1, &sent);
	snap(a);
	snprintf(title, sizeof(title), "spin '%s' waiting on SGIs to vCPU 1: %lu acked",
		 spin_kind_name(kind), acked);
	ysnap_print(title, y, NR_RUN, b, a);
	TEST_ASSERT(acked > 0, "'%s': no SGI round trip completed", spin_kind_name(kind));
	if (!series) {
		snprintf(why, len, "series not applied (no spin_entries to tell whether '%s' exits)",
			 spin_kind_name(kind));
		return 0;
	}
	if (!d(S, YS_SPIN)) {
		snprintf(why, len, "the host never exits on '%s': spin_entries stayed 0 over %lu spin steps",
			 spin_kind_name(kind), READ_ONCE(sh->vcpu[S].relax));
		return 0;
	}
	TEST_ASSERT(d(S, YS_T1) > 0, "'%s': S spun (%lu spin_entries) but never took tier 1",
		    spin_kind_name(kind), d(S, YS_SPIN));
	return 1;
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpus[NR_VCPUS];
	int cpus[8], nr_cpus, i, c, gic_fd;
	struct yants ants = {};
	static const enum spin_kind kinds[] = { SPIN_WFE, SPIN_PAUSE };
	char why[200];

	while ((c = getopt(argc, argv, "t:r:h")) != -1) {
		switch (c) {
		case 't':
			opt_ms = atoi_positive("ms", optarg);
			break;
		case 'r':
			opt_rounds = atoi_positive("rounds", optarg);
			break;
		default:
			printf("usage: %s [-t ms per phase (%d)] [-r rounds (%d)]\n",
			       argv[0], opt_ms, opt_rounds);
			exit(KSFT_FAIL);
		}
	}

	ksft_print_header();
	nr_cpus = ycpus(cpus, 8);
	if (nr_cpus < 2)
		ksft_exit_skip("needs 2 pCPUs to overcommit one of them (have %d)\n", nr_cpus);
	series = vsched_series_applied();
	if (series && access("/sys/kernel/debug/kvm", F_OK))
		ksft_exit_skip("no /sys/kernel/debug/kvm: debugfs is needed for ipi_context\n");

	vm = vm_create(NR_VCPUS);
	for (i = 0; i < NR_VCPUS; i++)
		vcpus[i] = vm_vcpu_add(vm, i, sgi_guest_main);
	sgi_vm_setup(vm, vcpus, NR_VCPUS, SPIN_PAUSE);
	gic_fd = vgic_v3_setup(vm, NR_VCPUS, 64);
	if (gic_fd < 0)
		ksft_exit_skip("cannot create a vGICv3: %s\n", strerror(-gic_fd));
	sh = sgi_shared_hva(vm);

	ksft_set_plan(2 + ARRAY_SIZE(kinds));
	ksft_print_msg("series %s; S on pCPU %d, R1 and R17 on pCPU %d with an antagonist\n",
		       series ? "applied" : "not applied", cpus[0], cpus[nr_cpus - 1]);
	yants_start(&ants, cpus[nr_cpus - 1], 1);
	for (i = 0; i < NR_RUN; i++) {
		y[i].vcpu = vcpus[run_idx[i]];
		y[i].cpu = i ? cpus[nr_cpus - 1] : cpus[0];
		y[i].role = roles[i];
		yvcpu_start(&y[i]);
	}
	for (i = 0; i < NR_RUN; i++)
		sgi_wait_ready(sh, run_idx[i], TIMEOUT_MS);

	if (series) {
		scenario_untracked();
		ksft_test_result_pass("broadcast, two-target and self SGIs are not tracked\n");
	}
	scenario_round_trips();
	if (series)
		ksft_test_result_pass("SGIs to vCPUs 1 and 17 (Aff1=1) counted exactly on both sides\n");
	else
		ksft_test_result_pass("SGI round trips to vCPUs 1 and 17 (stats: series not applied)\n");
	if (!series)
		ksft_test_result_skip("untracked SGIs: series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (scenario_spin(kinds[i], why, sizeof(why)))
			ksft_test_result_pass("spin '%s': tier 1 taken while waiting on an SGI\n",
					      spin_kind_name(kinds[i]));
		else
			ksft_test_result_skip("spin '%s': %s\n", spin_kind_name(kinds[i]), why);
	}

	for (i = 0; i < NR_RUN; i++)
		sgi_post(sh, run_idx[i], &(struct sgi_vcpu){ .cmd = SGI_CMD_EXIT });
	for (i = 0; i < NR_RUN; i++)
		yvcpu_join(&y[i], 30);
	yants_stop(&ants);
	kvm_vm_free(vm);
	ksft_finished();
}
