// SPDX-License-Identifier: GPL-2.0-only
/*
 * pv_sched_yield_test - the PV sched-yield hypercall still yields to the
 * preempted IPI target it names, and is counted in the x86 vCPU stats
 * directed_yield_attempted / directed_yield_successful, with the series'
 * ipi_aware_yield on and off.
 *
 * Overcommit: the sender S (vCPU 0) shares pCPU A with an antagonist (so
 * that KVM does not skip the yield because S runs alone there); the
 * receiver R (vCPU 1) and a bystander B (vCPU 2) share pCPU B with another
 * antagonist.  S sends R a fixed IPI and, until R's handler acked it,
 * calls KVM_HC_SCHED_YIELD with R's APIC ID after every few PAUSEs, the
 * way a PV guest waits in smp_call_function.  It proves, for each setting:
 *  - every hypercall is counted once in directed_yield_attempted and
 *    returns 0; some yields succeed (directed_yield_successful > 0, R was
 *    preempted and ready), never more than were attempted;
 *  - every IPI was acked (the waits end);
 *  - with the series: the hypercall is a directed yield to the named vCPU,
 *    not the candidate selection: S's spin_entries and tier counters stay
 *    still, while its tracked-IPI count moves once per IPI.
 * The IPI round trip median (guest TSC cycles) is printed per setting.
 * Skips where KVM offers no PV sched yield, or where a hypercall never
 * completes (an instruction emulator behind /dev/kvm).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "test_util.h"
#include "vsched.h"
#include "yield_util.h"
#include "x86/ipi.h"

#define S		0
#define R		1
#define B		2
#define NR_VCPUS	3
#define TIMEOUT_MS	10000

static int opt_rounds = 200;
static int opt_ms = 3000;

struct run {
	uint64_t rounds, hypercalls, bad;
	uint64_t rtt_median;
};

static struct kvm_vm *vm;
static struct ipi_shared *sh;
static struct yvcpu y[NR_VCPUS];
static struct yants ants;
static struct ysnap before[NR_VCPUS], after[NR_VCPUS];

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * One YIELD_WAIT of S: false if it did not end in @timeout_ms (the vCPU
 * may be stuck in a hypercall that never completes).
 */
static bool yield_wait(int timeout_ms, uint64_t *rtt)
{
	struct ipi_vcpu t = { .cmd = IPI_CMD_YIELD_WAIT, .target = R };
	uint64_t seq = ipi_post(sh, S, &t);
	double end = vsched_now_ms() + timeout_ms;

	while (READ_ONCE(sh->vcpu[S].done) < seq) {
		if (vsched_now_ms() > end)
			return false;
		usleep(100);
	}
	*rtt = READ_ONCE(sh->nr_rtt) ? sh->rtt[0] : 0;
	return true;
}

static void run_setting(const char *name, struct run *r)
{
	uint64_t *rtts = calloc(opt_rounds, sizeof(*rtts));
	double end = vsched_now_ms() + opt_ms;
	int i;

	TEST_ASSERT(rtts, "out of memory");
	memset(r, 0, sizeof(*r));
	for (i = 0; i < NR_VCPUS; i++)
		ysnap_read(&y[i], &before[i]);
	while (r->rounds < opt_rounds && vsched_now_ms() < end) {
		TEST_ASSERT(yield_wait(TIMEOUT_MS, &rtts[r->rounds]),
			    "%s: S's IPI to R was not acked in %d ms (%lu yield hypercalls so far)",
			    name, TIMEOUT_MS, READ_ONCE(sh->vcpu[S].hypercalls));
		TEST_ASSERT(READ_ONCE(sh->vcpu[S].acked) == 1, "%s: round %lu not acked",
			    name, r->rounds);
		r->hypercalls += READ_ONCE(sh->vcpu[S].hypercalls);
		r->bad += READ_ONCE(sh->vcpu[S].hc_ret_bad);
		r->rounds++;
	}
	for (i = 0; i < NR_VCPUS; i++)
		ysnap_read(&y[i], &after[i]);
	qsort(rtts, r->rounds, sizeof(*rtts), cmp_u64);
	r->rtt_median = r->rounds ? rtts[r->rounds / 2] : 0;
	free(rtts);
}

static void check_setting(const char *name, const struct run *r, bool series)
{
	uint64_t att = ysnap_delta(&before[S], &after[S], YS_DY_ATT);
	uint64_t ok = ysnap_delta(&before[S], &after[S], YS_DY_OK);
	char title[160];
	int i;

	snprintf(title, sizeof(title),
		 "%s: %lu IPIs, %lu KVM_HC_SCHED_YIELD calls, IPI round trip median %lu cycles",
		 name, r->rounds, r->hypercalls, r->rtt_median);
	ysnap_print(title, y, NR_VCPUS, before, after);

	TEST_ASSERT(after[S].v[YS_DY_ATT] != YSTAT_ABSENT,
		    "the kernel has no directed_yield_attempted stat");
	TEST_ASSERT(r->rounds > 0, "%s: no round completed", name);
	TEST_ASSERT(r->bad == 0, "%s: %lu of %lu hypercalls returned non-zero",
		    name, r->bad, r->hypercalls);
	TEST_ASSERT(att == r->hypercalls,
		    "%s: %lu KVM_HC_SCHED_YIELD calls, directed_yield_attempted moved by %lu",
		    name, r->hypercalls, att);
	TEST_ASSERT(ok > 0 && ok <= att,
		    "%s: directed_yield_successful moved by %lu of %lu attempts (R preempted %lu times)",
		    name, ok, att, ysnap_delta(&before[R], &after[R], YS_PREEMPTED));
	if (!series)
		return;
	for (i = YS_SPIN; i <= YS_OK; i++)
		TEST_ASSERT(ysnap_delta(&before[S], &after[S], i) == 0,
			    "%s: the PV yield moved S's %s by %lu: it is not kvm_vcpu_on_spin()",
			    name, ystat_names[i], ysnap_delta(&before[S], &after[S], i));
	TEST_ASSERT(ysnap_delta(&before[S], &after[S], YS_SENT) == r->rounds,
		    "%s: %lu IPIs to R, ipi_sent_tracked moved by %lu", name, r->rounds,
		    ysnap_delta(&before[S], &after[S], YS_SENT));
}

int main(int argc, char *argv[])
{
	static const char * const roles[] = { "S", "R", "B" };
	int cpus[8], nr_cpus, c, i, nr_settings;
	struct run runs[2];
	uint64_t rtt;
	bool series;

	while ((c = getopt(argc, argv, "r:t:h")) != -1) {
		switch (c) {
		case 'r':
			opt_rounds = atoi_positive("rounds", optarg);
			break;
		case 't':
			opt_ms = atoi_positive("ms", optarg);
			break;
		default:
			printf("usage: %s [-r rounds (%d)] [-t ms per setting (%d)]\n",
			       argv[0], opt_rounds, opt_ms);
			exit(KSFT_FAIL);
		}
	}

	ksft_print_header();
	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_KVM_PV_SCHED_YIELD));
	nr_cpus = ycpus(cpus, 8);
	if (nr_cpus < 2)
		ksft_exit_skip("needs 2 pCPUs to overcommit one of them (have %d)\n", nr_cpus);
	series = vsched_series_applied() && !ipi_apicv_enabled();
	nr_settings = series ? 2 : 1;
	if (series)	/* a test killed earlier in this boot may have left it off */
		vsched_param_set("ipi_tracking", "Y");

	vm = vm_create(NR_VCPUS);
	for (i = 0; i < NR_VCPUS; i++) {
		y[i].vcpu = vm_vcpu_add(vm, i, ipi_guest_main);
		y[i].cpu = i == S ? cpus[0] : cpus[nr_cpus - 1];
		y[i].role = roles[i];
	}
	ipi_vm_setup(vm, SPIN_PAUSE);
	sh = ipi_shared_hva(vm);
	yants_start(&ants, cpus[0], 1);
	yants_start(&ants, cpus[nr_cpus - 1], 1);
	for (i = 0; i < NR_VCPUS; i++)
		yvcpu_start(&y[i]);
	for (i = 0; i < NR_VCPUS; i++)
		ipi_wait_ready(sh, i, TIMEOUT_MS);

	/* Probe: does the hypercall complete at all here? */
	if (!yield_wait(3000, &rtt) && !READ_ONCE(sh->vcpu[S].hypercalls)) {
		for (i = 0; i < NR_VCPUS; i++)
			y[i].signal_stop = true;
		for (i = 0; i < NR_VCPUS; i++)
			yvcpu_join(&y[i], 20);
		yants_stop(&ants);
		ksft_exit_skip("KVM_HC_SCHED_YIELD did not return in 3 s (%lu completed): %s\n",
			       READ_ONCE(sh->vcpu[S].hypercalls),
			       "hypercalls never complete here (an instruction emulator behind /dev/kvm?)");
	}
	/* They do: the IPI must be acked, a wait that does not end is a failure. */
	for (i = 0; READ_ONCE(sh->vcpu[S].done) < READ_ONCE(sh->vcpu[S].seq); i++) {
		TEST_ASSERT(i < TIMEOUT_MS, "R never acked the first IPI: %lu yield hypercalls, R took %lu IPIs",
			    READ_ONCE(sh->vcpu[S].hypercalls), READ_ONCE(sh->vcpu[R].irqs));
		usleep(1000);
	}

	ksft_set_plan(nr_settings);
	for (i = 0; i < nr_settings; i++) {
		const char *name = !series ? "stock kernel" :
				   !i ? "ipi_aware_yield=Y" : "ipi_aware_yield=N";

		if (series)
			vsched_param_set("ipi_aware_yield", i ? "N" : "Y");
		run_setting(name, &runs[i]);
		check_setting(name, &runs[i], series);
		ksft_test_result_pass("%s: PV sched yield to the preempted IPI target: %lu of %lu yields succeeded\n",
				      name, ysnap_delta(&before[S], &after[S], YS_DY_OK),
				      ysnap_delta(&before[S], &after[S], YS_DY_ATT));
	}
	if (series) {
		vsched_param_set("ipi_aware_yield", "Y");
		ksft_print_msg("IPI round trip median (guest TSC): ipi_aware_yield=Y %lu cycles, =N %lu cycles\n",
			       runs[0].rtt_median, runs[1].rtt_median);
	}

	for (i = 0; i < NR_VCPUS; i++)
		ipi_post(sh, i, &(struct ipi_vcpu){ .cmd = IPI_CMD_EXIT });
	for (i = 0; i < NR_VCPUS; i++)
		yvcpu_join(&y[i], 20);
	yants_stop(&ants);
	kvm_vm_free(vm);
	ksft_finished();
}
