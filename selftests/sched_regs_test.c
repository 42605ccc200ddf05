// SPDX-License-Identifier: GPL-2.0-only
/*
 * sched_regs_test - guest registers survive the vCPU being scheduled out,
 * moved to another pCPU and loaded again.
 *
 * Each vCPU loops: load a per-vCPU, per-round pattern into every register
 * class KVM loads and puts around a schedule (arm64: X1-X30, V0-V31,
 * TPIDR_EL0, TPIDRRO_EL0, TPIDR_EL1, SP_EL0, CONTEXTIDR_EL1; x86: the GPRs,
 * KERNEL_GS_BASE, FS/GS base, DR0-DR3, TSC_AUX through RDTSCP and RDPID),
 * spin with it loaded, and assert in the guest that every value is intact.
 * Meanwhile antagonist threads pinned to every pCPU preempt the vCPU threads
 * and a migrator moves them between pCPUs.  The test then proves that the
 * race ran: each vCPU thread has a minimum of involuntary context switches
 * and pCPU changes, and with the series' stats, of sched_out_preempted and
 * sched_in_migrated.  A class the host's KVM cannot run (an instruction
 * emulator behind /dev/kvm) is probed first and skipped with the reason.
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
#include "vsched.h"

#define MAX_VCPUS	8

static uint32_t guest_mask;
static uint64_t guest_spins;
static bool guest_stop;
static uint64_t guest_rounds[MAX_VCPUS];

static void guest_code(uint32_t vcpu)
{
	uint64_t round;

	for (round = 0; !READ_ONCE(guest_stop); round++) {
		guest_regs_round(guest_mask, vcpu, round, guest_spins);
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
	struct sched_proof_min min;
	uint64_t min_rounds;
};

static void run(const struct opts *o, uint32_t mask)
{
	struct vcpu_runner runners[MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct preempt_env env;
	struct kvm_vm *vm;
	double end;
	int i;

	vm = vm_create_with_vcpus(o->nr_vcpus, guest_code, vcpus);
	guest_mask = mask;
	guest_spins = o->spins;
	guest_stop = false;
	sync_global_to_guest(vm, guest_mask);
	sync_global_to_guest(vm, guest_spins);
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
	preempt_start_migrator(&env, o->migrate_us);
	ksft_print_msg("the series' sched stats: %s\n", runners[0].proof.stats ?
		       "present, checked too" : "absent, /proc counters only");

	end = vsched_now() + o->seconds;
	while (vsched_now() < end)
		usleep(100000);
	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;

	for (i = 0; i < o->nr_vcpus; i++)
		vcpu_runner_join(&runners[i], 120);
	preempt_stop(&env);

	sync_global_from_guest(vm, guest_rounds);
	for (i = 0; i < o->nr_vcpus; i++) {
		ksft_print_msg("vcpu%d: %lu rounds verified\n", i, guest_rounds[i]);
		TEST_ASSERT(guest_rounds[i] >= o->min_rounds,
			    "vcpu%d verified only %lu rounds, want >= %lu",
			    i, guest_rounds[i], o->min_rounds);
		sched_proof_check(&runners[i].proof, &env, &o->min);
		sched_proof_free(&runners[i].proof);
	}
	kvm_vm_free(vm);
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-d seconds] [-s spins] [-a antagonists per pCPU]\n"
	       "       [-m migrate interval us] [-i min involuntary] [-n min pCPU changes]\n"
	       "       [-r min rounds]\n", name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	struct opts o = {
		.nr_vcpus = 2, .seconds = 4, .spins = 20000, .ants_per_cpu = 1,
		.migrate_us = 10000, .min = { .involuntary = 50, .moves = 20 },
		.min_rounds = 10,
	};
	uint32_t classes = regs_arch_classes(), mask = 0;
	char why[REGS_NR_CLASSES][REGS_WHY_LEN];
	unsigned int bit;
	int opt;

	while ((opt = getopt(argc, argv, "v:d:s:a:m:i:n:r:h")) != -1) {
		switch (opt) {
		case 'v':
			o.nr_vcpus = atoi_positive("vCPUs", optarg);
			TEST_ASSERT(o.nr_vcpus <= MAX_VCPUS, "at most %d vCPUs", MAX_VCPUS);
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
		case 'i':
			o.min.involuntary = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.min.moves = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o.min_rounds = strtoull(optarg, NULL, 0);
			break;
		default:
			help(argv[0]);
		}
	}

	ksft_print_header();
	TEST_REQUIRE(vsched_nr_cpus() >= 2);
	ksft_set_plan(__builtin_popcount(classes) + 1);

	mask = regs_probe_all(why);

	run(&o, mask);

	for (bit = 0; bit < REGS_NR_CLASSES; bit++) {
		if (!(classes & (1u << bit)))
			continue;
		if (mask & (1u << bit))
			ksft_test_result_pass("%s\n", regs_class_name(bit));
		else
			ksft_test_result_skip("%s: %s\n", regs_class_name(bit), why[bit]);
	}
	ksft_test_result_pass("vcpus_preempted_and_migrated\n");
	ksft_finished();
}
