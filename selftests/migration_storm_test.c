// SPDX-License-Identifier: GPL-2.0-only
/*
 * migration_storm_test - guest state, time and interrupts survive a storm
 * of pCPU migrations with every pCPU overcommitted.
 *
 * More vCPUs than pCPUs (default 4 on all pCPUs), antagonist threads pinned
 * to every pCPU, and a migrator that every millisecond moves each vCPU
 * thread to its next pCPU with sched_setaffinity (alternating NUMA nodes
 * when /sys shows more than one; one node otherwise).  Each vCPU loops over
 * the checks of the other tests: a register round of every class KVM can run
 * here (interrupts masked, see sched_regs_test), then a timer round
 * (counters monotonic, one-shot timer fires exactly once, see
 * sched_time_test).  Meanwhile an injector thread, itself migrated too,
 * sends interrupts round robin to the vCPUs and waits for each to be counted
 * by the guest: none may be lost (timeout) nor duplicated.  The proof that
 * the storm happened is per vCPU thread, as in the other tests.
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

static uint32_t guest_nr_vcpus;
static uint32_t guest_mask;
static uint64_t guest_spins;
static bool guest_stop;
static uint64_t guest_rounds[TIME_MAX_VCPUS];

static void guest_code(uint32_t vcpu)
{
	uint64_t round;

	guest_events_init(vcpu, guest_nr_vcpus);
	for (round = 0; !READ_ONCE(guest_stop); round++) {
		/* Interrupt handlers do not save FP/SIMD state. */
		guest_irq_mask(true);
		guest_regs_round(guest_mask, vcpu, round, guest_spins);
		guest_irq_mask(false);
		guest_time_round(vcpu);
		WRITE_ONCE(guest_rounds[vcpu], round + 1);
	}
	GUEST_DONE();
}

struct opts {
	int nr_vcpus;
	double seconds;
	uint64_t spins;
	int ants_per_cpu;
	unsigned int migrate_us;
	unsigned int timeout_ms;
	struct sched_proof_min min;
	uint64_t min_rounds;
	uint64_t min_irqs;
};

struct injector {
	const struct opts *o;
	struct kvm_vm *vm;
	struct vcpu_runner *runners;
	struct preempt_env *env;
	uint64_t *recv[TIME_MAX_VCPUS];
	uint64_t sent[TIME_MAX_VCPUS];
	uint64_t dups[TIME_MAX_VCPUS];	/* taken beyond sent, so far */
	bool stop;
	pthread_t thread;
};

static void *injector_thread(void *arg)
{
	struct injector *inj = arg;
	const struct opts *o = inj->o;
	uint64_t recv;
	double t0;
	int i;

	preempt_add_tid(inj->env, vsched_gettid());
	while (!__atomic_load_n(&inj->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < o->nr_vcpus; i++) {
			events_inject(inj->vm, inj->runners[i].vcpu);
			inj->sent[i]++;
			t0 = vsched_now();
			while ((recv = READ_ONCE(*inj->recv[i])) < inj->sent[i] + inj->dups[i]) {
				TEST_ASSERT((vsched_now() - t0) * 1000 < o->timeout_ms,
					    "vcpu%d: interrupt %lu lost: the guest took %lu (%lu of them duplicates) in %u ms",
					    i, inj->sent[i], recv, inj->dups[i], o->timeout_ms);
				usleep(200);
			}
			/* Judged at the end, with irq_dups_check(). */
			if (recv > inj->sent[i] + inj->dups[i])
				inj->dups[i] = recv - inj->sent[i];
		}
	}
	return NULL;
}

static void run(const struct opts *o, uint32_t mask)
{
	char who[64];
	struct vcpu_runner runners[TIME_MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[TIME_MAX_VCPUS];
	struct preempt_env env;
	struct injector inj = {};
	struct kvm_vm *vm;
	uint64_t recv;
	double end;
	int i, ret;

	irq_watch_start();
	vm = vm_create_with_vcpus(o->nr_vcpus, guest_code, vcpus);
	events_vm_setup(vm, vcpus, o->nr_vcpus);
	guest_nr_vcpus = o->nr_vcpus;
	guest_mask = mask;
	guest_spins = o->spins;
	sync_global_to_guest(vm, guest_nr_vcpus);
	sync_global_to_guest(vm, guest_mask);
	sync_global_to_guest(vm, guest_spins);
	sync_global_to_guest(vm, time_cfg);
	sync_global_to_guest(vm, guest_stop);

	preempt_env_init(&env);
	ksft_print_msg("%d pCPUs on %d node(s), %d vCPUs, %d antagonist(s) per pCPU, %s %u us, %.1f s\n",
		       env.nr_cpus, env.nr_nodes, o->nr_vcpus, o->ants_per_cpu,
		       "migration every", o->migrate_us, o->seconds);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < o->nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		runners[i].vcpu = vcpus[i];
		runners[i].env = &env;
		vcpu_runner_start(&runners[i]);
	}
	ksft_print_msg("the series' sched stats: %s\n", runners[0].proof.stats ?
		       "present, checked too" : "absent, /proc counters only");
	preempt_start_migrator(&env, o->migrate_us);
	usleep(200000);

	inj.o = o;
	inj.vm = vm;
	inj.runners = runners;
	inj.env = &env;
	for (i = 0; i < o->nr_vcpus; i++)
		inj.recv[i] = addr_gva2hva(vm, (vm_vaddr_t)&irq_recv[i]);
	ret = pthread_create(&inj.thread, NULL, injector_thread, &inj);
	TEST_ASSERT(!ret, "pthread_create(injector): %s", strerror(ret));

	end = vsched_now() + o->seconds;
	while (vsched_now() < end)
		usleep(100000);
	__atomic_store_n(&inj.stop, true, __ATOMIC_RELAXED);
	preempt_join_timeout(inj.thread, o->timeout_ms / 1000 + 60, "the injector");
	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;
	for (i = 0; i < o->nr_vcpus; i++)
		vcpu_runner_join(&runners[i], 60 + time_cfg.timeout_us / 1000000);
	preempt_stop(&env);

	sync_global_from_guest(vm, guest_rounds);
	sync_global_from_guest(vm, time_stats);
	for (i = 0; i < o->nr_vcpus; i++) {
		recv = READ_ONCE(*inj.recv[i]);
		ksft_print_msg("vcpu%d: %lu rounds (registers + timer), %lu timer rounds across a gap, %lu interrupts sent, %lu taken\n",
			       i, guest_rounds[i], time_stats[i].preempted_rounds,
			       inj.sent[i], recv);
		TEST_ASSERT(recv >= inj.sent[i] + inj.dups[i],
			    "vcpu%d took %lu interrupts, %lu were sent and %lu duplicates seen",
			    i, recv, inj.sent[i], inj.dups[i]);
		snprintf(who, sizeof(who), "vcpu%d interrupts", i);
		irq_dups_check(who, runners[i].proof.tid, EVENTS_X86_INJECT_VECTOR, inj.sent[i], recv);
		snprintf(who, sizeof(who), "vcpu%d timer", i);
		irq_dups_check(who, runners[i].proof.tid, EVENTS_X86_TIMER_VECTOR,
			       time_stats[i].rounds, time_stats[i].rounds + time_stats[i].timer_dups);
		TEST_ASSERT(guest_rounds[i] >= o->min_rounds,
			    "vcpu%d: only %lu rounds, want >= %lu", i, guest_rounds[i],
			    o->min_rounds);
		TEST_ASSERT(inj.sent[i] >= o->min_irqs,
			    "vcpu%d: only %lu interrupts, want >= %lu", i, inj.sent[i],
			    o->min_irqs);
		sched_proof_check(&runners[i].proof, &env, &o->min);
		sched_proof_free(&runners[i].proof);
	}
	kvm_vm_free(vm);
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-d seconds] [-s spins] [-a antagonists per pCPU]\n"
	       "       [-m migrate interval us] [-t timer delay us] [-T timeout ms]\n"
	       "       [-i min involuntary] [-n min pCPU changes] [-r min rounds]\n"
	       "       [-q min interrupts per vCPU]\n", name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	struct opts o = {
		.nr_vcpus = 4, .seconds = 5, .spins = 20000, .ants_per_cpu = 1,
		.migrate_us = 1000, .timeout_ms = 10000,
		.min = { .involuntary = 50, .moves = 50 }, .min_rounds = 10,
		.min_irqs = 20,
	};
	uint32_t classes = regs_arch_classes(), mask;
	char why[REGS_NR_CLASSES][REGS_WHY_LEN];
	unsigned int bit;
	int opt;

	time_cfg.delay_us = 2000;
	time_cfg.timeout_us = 5000000;
	time_cfg.gap_us = 1000;
	time_cfg.slack_ns = 1000000;
	while ((opt = getopt(argc, argv, "v:d:s:a:m:t:T:i:n:r:q:h")) != -1) {
		switch (opt) {
		case 'v':
			o.nr_vcpus = atoi_positive("vCPUs", optarg);
			TEST_ASSERT(o.nr_vcpus <= TIME_MAX_VCPUS, "at most %d vCPUs",
				    TIME_MAX_VCPUS);
			break;
		case 'd':
			o.seconds = atof(optarg);
			break;
		case 's':
			o.spins = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			o.ants_per_cpu = atoi_non_negative("antagonists", optarg);
			break;
		case 'm':
			o.migrate_us = atoi_positive("migrate interval", optarg);
			break;
		case 't':
			time_cfg.delay_us = atoi_positive("timer delay", optarg);
			break;
		case 'T':
			o.timeout_ms = atoi_positive("timeout", optarg);
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
		case 'q':
			o.min_irqs = strtoull(optarg, NULL, 0);
			break;
		default:
			help(argv[0]);
		}
	}

	ksft_print_header();
	TEST_REQUIRE(vsched_nr_cpus() >= 2);
	ksft_set_plan(__builtin_popcount(classes) + 2);
	mask = regs_probe_all(why);

	run(&o, mask);

	for (bit = 0; bit < REGS_NR_CLASSES; bit++) {
		if (!(classes & (1u << bit)))
			continue;
		if (mask & (1u << bit))
			ksft_test_result_pass("registers_%s\n", regs_class_name(bit));
		else
			ksft_test_result_skip("registers_%s: %s\n", regs_class_name(bit), why[bit]);
	}
	ksft_test_result_pass("time_and_timers\n");
	ksft_test_result_pass("interrupts_exactly_once\n");
	ksft_finished();
}
