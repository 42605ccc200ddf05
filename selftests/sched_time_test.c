// SPDX-License-Identifier: GPL-2.0-only
/*
 * sched_time_test - guest time survives the vCPU being scheduled out, moved
 * to another pCPU and loaded again.
 *
 * Each vCPU loops: arm a one-shot guest timer (arm64: the virtual timer,
 * CNTV_CVAL_EL0; x86: the LAPIC timer), spin reading the guest counters
 * until it fires, then spin a quiet window as long again.  The guest asserts
 * that every counter read is >= the one before, across the whole run
 * (arm64 CNTVCT_EL0; x86 the TSC and kvmclock, which may step back by a
 * bounded slack only when KVM does not set PVCLOCK_TSC_STABLE), that each
 * timer fires within a timeout (not lost), exactly once (no duplicate in the
 * quiet window), and on arm64 never before its deadline.  Antagonists on
 * every pCPU and a migrator preempt and move the vCPU threads meanwhile.
 * The race is proven from both sides: the host checks each vCPU thread's
 * involuntary switches and pCPU changes (and the series' sched stats when
 * present), the guest counts rounds in which its counter jumped by more
 * than a descheduling gap between arming the timer and its interrupt; the
 * run goes on past -d (up to six times as long) until enough rounds did.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "preempt.h"
#include "sched_guest.h"
#include "trace.h"
#include "vsched.h"

/* Run on past -d, up to this many times as long, while the race is unproven. */
#define EXTRA_FACTOR	5

static uint32_t guest_nr_vcpus;
static bool guest_stop;

static void guest_code(uint32_t vcpu)
{
	guest_events_init(vcpu, guest_nr_vcpus);
	while (!READ_ONCE(guest_stop))
		guest_time_round(vcpu);
	GUEST_DONE();
}

struct opts {
	int nr_vcpus;
	double seconds;
	int ants_per_cpu;
	unsigned int migrate_us;
	struct sched_proof_min min;
	uint64_t min_rounds;
	uint64_t min_preempted_rounds;
};

/* The guest's counters, read while it runs: only to decide when to stop. */
static uint64_t gap_rounds_so_far(struct kvm_vm *vm, int nr_vcpus)
{
	uint64_t sum = 0;
	int i;

	sync_global_from_guest(vm, time_stats);
	for (i = 0; i < nr_vcpus; i++)
		sum += time_stats[i].preempted_rounds;
	return sum;
}

static void run(const struct opts *o)
{
	struct vcpu_runner runners[TIME_MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[TIME_MAX_VCPUS];
	uint64_t preempted = 0;
	char who[64];
	struct preempt_env env;
	struct kvm_vm *vm;
	double end, ran;
	int i;

	irq_watch_start();
	vm = vm_create_with_vcpus(o->nr_vcpus, guest_code, vcpus);
	events_vm_setup(vm, vcpus, o->nr_vcpus);
	guest_nr_vcpus = o->nr_vcpus;
	sync_global_to_guest(vm, guest_nr_vcpus);
	sync_global_to_guest(vm, time_cfg);
	sync_global_to_guest(vm, guest_stop);

	preempt_env_init(&env);
	ksft_print_msg("%d pCPUs on %d node(s), %d vCPUs, %d antagonist(s) per pCPU, %s %u us, %.1f s\n",
		       env.nr_cpus, env.nr_nodes, o->nr_vcpus, o->ants_per_cpu,
		       "migration every", o->migrate_us, o->seconds);
	ksft_print_msg("timer delay %lu us, timeout %lu us, gap %lu us\n",
		       time_cfg.delay_us, time_cfg.timeout_us, time_cfg.gap_us);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < o->nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		runners[i].vcpu = vcpus[i];
		runners[i].env = &env;
		vcpu_runner_start(&runners[i]);
	}
	preempt_start_migrator(&env, o->migrate_us);
	ksft_print_msg("the series' sched stats: %s\n", runners[0].proof.stats ?
		       "present, checked too" : "absent, /proc counters only");

	end = vsched_now() + o->seconds;
	while (vsched_now() < end)
		usleep(100000);
	/*
	 * How often a timer round straddles a scheduling gap depends on how the
	 * host interleaves the threads: under TCG it varied tenfold from boot
	 * to boot.  Too few such rounds prove nothing, so run on until there
	 * are enough.
	 */
	while (gap_rounds_so_far(vm, o->nr_vcpus) < o->min_preempted_rounds &&
	       vsched_now() < end + EXTRA_FACTOR * o->seconds)
		usleep(100000);
	ran = vsched_now() - end + o->seconds;
	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;

	for (i = 0; i < o->nr_vcpus; i++)
		vcpu_runner_join(&runners[i], 60 + time_cfg.timeout_us / 1000000);
	preempt_stop(&env);

	sync_global_from_guest(vm, time_stats);
	ksft_print_msg("ran %.1f s (-d %.1f, longer only while fewer than %lu rounds saw a gap)\n",
		       ran, o->seconds, o->min_preempted_rounds);
	for (i = 0; i < o->nr_vcpus; i++) {
		struct guest_time_stats *st = &time_stats[i];

		ksft_print_msg("vcpu%d: %lu timers fired, %lu of them across a gap >= %lu us, %lu counter reads, longest gap %lu us\n",
			       i, st->rounds, st->preempted_rounds, time_cfg.gap_us,
			       st->reads, st->max_gap_us);
#ifdef __aarch64__
		ksft_print_msg("vcpu%d: no timer fired early, the latest %lu us after its deadline\n",
			       i, st->max_late_us);
#endif
#ifdef __x86_64__
		ksft_print_msg("vcpu%d: kvmclock %s, %lu steps back within %lu ns\n", i,
			       st->kvmclock_stable ? "TSC_STABLE" : "not TSC_STABLE",
			       st->kvmclock_back, time_cfg.slack_ns);
#endif
		snprintf(who, sizeof(who), "vcpu%d timer", i);
		irq_dups_check(who, runners[i].proof.tid, EVENTS_X86_TIMER_VECTOR, st->rounds,
			       st->rounds + st->timer_dups);
		TEST_ASSERT(st->rounds >= o->min_rounds,
			    "vcpu%d completed only %lu timer rounds, want >= %lu",
			    i, st->rounds, o->min_rounds);
		preempted += st->preempted_rounds;
		sched_proof_check(&runners[i].proof, &env, &o->min);
		sched_proof_free(&runners[i].proof);
	}
	TEST_ASSERT(preempted >= o->min_preempted_rounds,
		    "only %lu rounds saw a gap >= %lu us between arming and firing, want >= %lu",
		    preempted, time_cfg.gap_us, o->min_preempted_rounds);
	kvm_vm_free(vm);
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-d seconds] [-t timer delay us] [-T timeout us]\n"
	       "       [-g gap us] [-S kvmclock slack ns] [-a antagonists per pCPU]\n"
	       "       [-m migrate interval us] [-i min involuntary] [-n min pCPU changes]\n"
	       "       [-r min rounds per vCPU] [-p min preempted rounds]\n", name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	struct opts o = {
		.nr_vcpus = 2, .seconds = 5, .ants_per_cpu = 1, .migrate_us = 10000,
		.min = { .involuntary = 50, .moves = 20 }, .min_rounds = 10,
		.min_preempted_rounds = 5,
	};
	int opt;

	time_cfg.delay_us = 2000;
	time_cfg.timeout_us = 5000000;
	time_cfg.gap_us = 1000;
	time_cfg.slack_ns = 1000000;
	while ((opt = getopt(argc, argv, "v:d:t:T:g:S:a:m:i:n:r:p:h")) != -1) {
		switch (opt) {
		case 'v':
			o.nr_vcpus = atoi_positive("vCPUs", optarg);
			TEST_ASSERT(o.nr_vcpus <= TIME_MAX_VCPUS, "at most %d vCPUs",
				    TIME_MAX_VCPUS);
			break;
		case 'd':
			o.seconds = atof(optarg);
			break;
		case 't':
			time_cfg.delay_us = atoi_positive("timer delay", optarg);
			break;
		case 'T':
			time_cfg.timeout_us = atoi_positive("timeout", optarg);
			break;
		case 'g':
			time_cfg.gap_us = atoi_positive("gap", optarg);
			break;
		case 'S':
			time_cfg.slack_ns = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			o.ants_per_cpu = atoi_non_negative("antagonists", optarg);
			break;
		case 'm':
			o.migrate_us = atoi_positive("migrate interval", optarg);
			break;
		case 'i':
			o.min.involuntary = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.min.moves = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o.min_rounds = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			o.min_preempted_rounds = strtoull(optarg, NULL, 0);
			break;
		default:
			help(argv[0]);
		}
	}

	ksft_print_header();
	TEST_REQUIRE(vsched_nr_cpus() >= 2);
	ksft_set_plan(1);
	run(&o);
	ksft_test_result_pass("counters_monotonic_timers_fire_once\n");
	ksft_finished();
}
