// SPDX-License-Identifier: GPL-2.0-only
/*
 * sched_irq_test - an interrupt raised while its target vCPU is scheduled
 * out is delivered after the reload, exactly once.
 *
 * Each vCPU spins in the guest with interrupts enabled and counts, in its
 * handler, the interrupts the host sends it (arm64: an edge-triggered PPI
 * through KVM_IRQ_LINE; x86: a fixed MSI through KVM_SIGNAL_MSI).  For each
 * vCPU an injector thread runs pinned to the same single pCPU as the vCPU
 * thread, at SCHED_FIFO priority when allowed: whenever the injector runs,
 * the vCPU thread is off that pCPU, preempted inside KVM_RUN.  Each round
 * the injector raises one interrupt, then sleeps (letting the vCPU back in)
 * until the guest counted it; every few rounds it moves itself and the vCPU
 * thread to another pCPU, so the reload is also a migration.  A round whose
 * interrupt is not taken within a timeout is a lost interrupt, a count
 * above the number sent a duplicate; both fail the test.  The series' stats,
 * when present, also show at each injection whether KVM had the vCPU
 * scheduled out (sched_out_* > sched_in), and the test requires most were.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
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
static bool guest_stop;

static void guest_code(uint32_t vcpu)
{
	guest_events_init(vcpu, guest_nr_vcpus);
	while (!READ_ONCE(guest_stop))
		;
	GUEST_DONE();
}

struct opts {
	int nr_vcpus;
	double seconds;
	uint64_t rounds;
	unsigned int move_every;
	unsigned int timeout_ms;
	int ants_per_cpu;
	struct sched_proof_min min;
	uint64_t min_rounds;
};

struct injector {
	const struct opts *o;
	struct kvm_vm *vm;
	struct vcpu_runner *r;
	struct preempt_env *env;
	uint64_t *recv;			/* irq_recv[vcpu] in guest memory */
	pthread_t thread;
	bool fifo;
	uint64_t sent;
	uint64_t dups;			/* taken beyond sent, so far */
	uint64_t moves;
	uint64_t scheduled_out;		/* injections KVM saw scheduled out */
	uint64_t max_wait_us;
};

static bool vcpu_scheduled_out(struct vcpu_stats *stats)
{
	if (!stats)
		return false;
	return vcpu_stats_value(stats, "sched_out_preempted") +
	       vcpu_stats_value(stats, "sched_out_blocked") >
	       vcpu_stats_value(stats, "sched_in");
}

static void *injector_thread(void *arg)
{
	struct injector *inj = arg;
	const struct opts *o = inj->o;
	struct sched_param sp = { .sched_priority = 1 };
	uint32_t id = inj->r->vcpu->id;
	double end, t0, waited;
	uint64_t recv;
	int cpu;

	/* The vCPU thread registers itself with the migrator when it starts. */
	end = vsched_now() + 30;
	while (__atomic_load_n(&inj->r->proof.tid, __ATOMIC_ACQUIRE) == 0 ||
	       inj->r->proof.env_idx < 0) {
		TEST_ASSERT(vsched_now() < end, "vcpu%u thread did not start", id);
		usleep(1000);
	}
	inj->fifo = !sched_setscheduler(0, SCHED_FIFO, &sp);

	end = vsched_now() + o->seconds;
	for (inj->sent = 0; inj->sent < o->rounds && vsched_now() < end;) {
		if (inj->sent % o->move_every == 0) {
			cpu = preempt_move_tid(inj->env, inj->r->proof.env_idx);
			TEST_ASSERT(cpu >= 0, "pinning the vcpu%u thread", id);
			TEST_ASSERT(!vsched_pin_tid(0, cpu), "pinning the injector to CPU %d", cpu);
			inj->moves++;
		}
		/* Running on the vCPU thread's only pCPU: it is scheduled out. */
		if (vcpu_scheduled_out(inj->r->proof.stats))
			inj->scheduled_out++;
		events_inject(inj->vm, inj->r->vcpu);
		inj->sent++;

		t0 = vsched_now();
		while ((recv = READ_ONCE(*inj->recv)) < inj->sent + inj->dups) {
			waited = vsched_now() - t0;
			TEST_ASSERT(waited * 1000 < o->timeout_ms,
				    "vcpu%u: interrupt %lu lost: the guest took %lu (%lu of them duplicates) in %u ms",
				    id, inj->sent, recv, inj->dups, o->timeout_ms);
			/* Long enough for the vCPU to get somewhere under TCG. */
			usleep(1000);
		}
		waited = (vsched_now() - t0) * 1e6;
		if (waited > inj->max_wait_us)
			inj->max_wait_us = waited;
		/* Judged at the end, with irq_dups_check(). */
		if (recv > inj->sent + inj->dups)
			inj->dups = recv - inj->sent;
	}
	return NULL;
}

static void run(const struct opts *o)
{
	char who[64];
	struct injector injs[TIME_MAX_VCPUS] = {};
	struct vcpu_runner runners[TIME_MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[TIME_MAX_VCPUS];
	struct preempt_env env;
	struct kvm_vm *vm;
	uint64_t recv;
	int i, ret;

	irq_watch_start();
	vm = vm_create_with_vcpus(o->nr_vcpus, guest_code, vcpus);
	events_vm_setup(vm, vcpus, o->nr_vcpus);
	guest_nr_vcpus = o->nr_vcpus;
	sync_global_to_guest(vm, guest_nr_vcpus);
	sync_global_to_guest(vm, time_cfg);
	sync_global_to_guest(vm, guest_stop);

	preempt_env_init(&env);
	ksft_print_msg("%d pCPUs on %d node(s), %d vCPUs, %d antagonist(s) per pCPU, up to %lu rounds or %.1f s, move every %u rounds\n",
		       env.nr_cpus, env.nr_nodes, o->nr_vcpus, o->ants_per_cpu,
		       o->rounds, o->seconds, o->move_every);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < o->nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		runners[i].vcpu = vcpus[i];
		runners[i].env = &env;
		vcpu_runner_start(&runners[i]);
	}
	ksft_print_msg("the series' sched stats: %s\n", runners[0].proof.stats ?
		       "present, checked too" : "absent, /proc counters only");
	/* Let every vCPU enable its interrupts before the first one comes. */
	usleep(200000);
	for (i = 0; i < o->nr_vcpus; i++) {
		injs[i].o = o;
		injs[i].vm = vm;
		injs[i].r = &runners[i];
		injs[i].env = &env;
		injs[i].recv = addr_gva2hva(vm, (vm_vaddr_t)&irq_recv[i]);
		ret = pthread_create(&injs[i].thread, NULL, injector_thread, &injs[i]);
		TEST_ASSERT(!ret, "pthread_create(injector): %s", strerror(ret));
	}
	for (i = 0; i < o->nr_vcpus; i++)
		preempt_join_timeout(injs[i].thread, o->seconds + 60, "an injector");

	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;
	for (i = 0; i < o->nr_vcpus; i++)
		vcpu_runner_join(&runners[i], 60);
	preempt_stop(&env);

	for (i = 0; i < o->nr_vcpus; i++) {
		struct injector *inj = &injs[i];

		recv = READ_ONCE(*inj->recv);
		ksft_print_msg("vcpu%d: %lu interrupts sent, %lu taken, %lu pCPU moves, longest wait %lu us, injector %s\n",
			       i, inj->sent, recv, inj->moves, inj->max_wait_us,
			       inj->fifo ? "SCHED_FIFO" : "SCHED_OTHER");
		TEST_ASSERT(recv >= inj->sent + inj->dups,
			    "vcpu%d took %lu interrupts, %lu were sent and %lu duplicates seen",
			    i, recv, inj->sent, inj->dups);
		snprintf(who, sizeof(who), "vcpu%d interrupts", i);
		irq_dups_check(who, runners[i].proof.tid, EVENTS_X86_INJECT_VECTOR, inj->sent, recv);
		TEST_ASSERT(inj->sent >= o->min_rounds, "vcpu%d: only %lu rounds, want >= %lu",
			    i, inj->sent, o->min_rounds);
		if (runners[i].proof.stats) {
			ksft_print_msg("vcpu%d: KVM had the vCPU scheduled out at %lu of %lu injections\n",
				       i, inj->scheduled_out, inj->sent);
			TEST_ASSERT(inj->scheduled_out * 2 >= inj->sent,
				    "vcpu%d: scheduled out at only %lu of %lu injections",
				    i, inj->scheduled_out, inj->sent);
		}
		sched_proof_check(&runners[i].proof, &env, &o->min);
		sched_proof_free(&runners[i].proof);
	}
	kvm_vm_free(vm);
}

/* --- IPIs from another vCPU ------------------------------------------------ */

static uint64_t ipi_window;	/* host: window n is open */
static uint64_t ipi_sent;	/* vCPU 1: IPI n is sent */

static void guest_ipi_code(uint32_t vcpu)
{
	uint64_t done = 0, w;

	guest_events_init(vcpu, guest_nr_vcpus);
	while (!READ_ONCE(guest_stop)) {
		w = READ_ONCE(ipi_window);
		if (vcpu != 1 || w == done)
			continue;
		guest_ipi_send(0);
		done = w;
		WRITE_ONCE(ipi_sent, w);
	}
	GUEST_DONE();
}

struct blocker {
	const struct opts *o;
	struct vcpu_runner *r;		/* [0] receives, [1] sends */
	struct preempt_env *env;
	uint64_t *window, *sent, *recv;
	bool fifo;
	uint64_t rounds, moves, scheduled_out;
	uint64_t dups;			/* taken beyond sent, so far */
	pthread_t thread;
};

static int other_cpu(struct preempt_env *env, int cpu)
{
	int i;

	for (i = 0; i < env->nr_cpus; i++)
		if (env->cpus[i] != cpu)
			return env->cpus[i];
	return cpu;
}

/*
 * Runs at SCHED_FIFO on the receiver's only pCPU, so the receiver's thread
 * stays scheduled out while the window is open and the sender sends.
 */
static void *blocker_thread(void *arg)
{
	struct blocker *b = arg;
	const struct opts *o = b->o;
	struct sched_param sp = { .sched_priority = 1 };
	double end, t0;
	uint64_t n;
	uint64_t recv;
	int cpu;

	b->fifo = !sched_setscheduler(0, SCHED_FIFO, &sp);
	if (!b->fifo)
		return NULL;
	end = vsched_now() + o->seconds;
	for (n = 1; n <= o->rounds && vsched_now() < end; n++) {
		if ((n - 1) % o->move_every == 0) {
			cpu = preempt_move_tid(b->env, b->r[0].proof.env_idx);
			TEST_ASSERT(cpu >= 0, "pinning the receiver's thread");
			TEST_ASSERT(!vsched_pin_tid(0, cpu), "pinning the blocker to CPU %d", cpu);
			TEST_ASSERT(!vsched_pin_tid(b->r[1].proof.tid, other_cpu(b->env, cpu)),
				    "pinning the sender's thread");
			b->moves++;
		}
		if (vcpu_scheduled_out(b->r[0].proof.stats))
			b->scheduled_out++;
		WRITE_ONCE(*b->window, n);
		t0 = vsched_now();
		while (READ_ONCE(*b->sent) < n)
			TEST_ASSERT(vsched_now() - t0 < o->timeout_ms / 1000.0,
				    "the sender vCPU did not send IPI %lu in %u ms", n,
				    o->timeout_ms);
		TEST_ASSERT(READ_ONCE(*b->recv) == n - 1 + b->dups,
			    "IPI %lu: the receiver counted %lu (%lu duplicates before) while its thread could not run",
			    n, READ_ONCE(*b->recv), b->dups);

		/* Give the pCPU back: the receiver reloads and takes the IPI. */
		t0 = vsched_now();
		while ((recv = READ_ONCE(*b->recv)) < n + b->dups) {
			TEST_ASSERT(vsched_now() - t0 < o->timeout_ms / 1000.0,
				    "IPI %lu lost: the receiver took %lu (%lu duplicates) in %u ms", n,
				    recv, b->dups, o->timeout_ms);
			usleep(1000);
		}
		/* Judged at the end, with irq_dups_check(). */
		if (recv > n + b->dups)
			b->dups = recv - n;
		b->rounds = n;
	}
	return NULL;
}

static void test_ipi(const struct opts *o)
{
	struct vcpu_runner runners[2] = {};
	struct kvm_vcpu *vcpus[2];
	struct preempt_env env;
	struct blocker b = {};
	struct kvm_vm *vm;
	uint64_t recv;
	double end;
	int i, ret;

	irq_watch_start();
	vm = vm_create_with_vcpus(2, guest_ipi_code, vcpus);
	events_vm_setup(vm, vcpus, 2);
	guest_nr_vcpus = 2;
	guest_stop = false;
	sync_global_to_guest(vm, guest_nr_vcpus);
	sync_global_to_guest(vm, time_cfg);
	sync_global_to_guest(vm, guest_stop);

	preempt_env_init(&env);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < 2; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		runners[i].vcpu = vcpus[i];
		runners[i].env = &env;
		vcpu_runner_start(&runners[i]);
	}
	end = vsched_now() + 30;
	for (i = 0; i < 2; i++)
		while (!__atomic_load_n(&runners[i].proof.tid, __ATOMIC_ACQUIRE) ||
		       runners[i].proof.env_idx < 0)
			TEST_ASSERT(vsched_now() < end, "vcpu%d thread did not start", i);
	usleep(200000);

	b.o = o;
	b.r = runners;
	b.env = &env;
	b.window = addr_gva2hva(vm, (vm_vaddr_t)&ipi_window);
	b.sent = addr_gva2hva(vm, (vm_vaddr_t)&ipi_sent);
	b.recv = addr_gva2hva(vm, (vm_vaddr_t)&irq_recv[0]);
	ret = pthread_create(&b.thread, NULL, blocker_thread, &b);
	TEST_ASSERT(!ret, "pthread_create(blocker): %s", strerror(ret));
	preempt_join_timeout(b.thread, o->seconds + 60, "the blocker");

	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;
	for (i = 0; i < 2; i++)
		vcpu_runner_join(&runners[i], 60);
	preempt_stop(&env);

	if (!b.fifo) {
		ksft_test_result_skip("ipi_to_scheduled_out_vcpu: SCHED_FIFO not allowed, so the receiver cannot be kept off its pCPU\n");
		kvm_vm_free(vm);
		return;
	}
	ksft_print_msg("ipi: %lu IPIs from vcpu1 to vcpu0, each pending while vcpu0's thread was held off its pCPU; %lu moves\n",
		       b.rounds, b.moves);
	recv = READ_ONCE(*b.recv);
	TEST_ASSERT(recv >= b.rounds + b.dups, "vcpu0 took %lu IPIs, %lu were sent and %lu duplicates seen",
		    recv, b.rounds, b.dups);
	irq_dups_check("vcpu0 IPIs", runners[0].proof.tid, EVENTS_X86_INJECT_VECTOR, b.rounds, recv);
	TEST_ASSERT(b.rounds >= o->min_rounds, "only %lu IPI rounds, want >= %lu",
		    b.rounds, o->min_rounds);
	if (runners[0].proof.stats) {
		ksft_print_msg("ipi: KVM had vcpu0 scheduled out at %lu of %lu IPIs\n",
			       b.scheduled_out, b.rounds);
		TEST_ASSERT(b.scheduled_out * 2 >= b.rounds,
			    "vcpu0 scheduled out at only %lu of %lu IPIs", b.scheduled_out,
			    b.rounds);
	}
	/* The receiver is the one preempted and moved. */
	sched_proof_check(&runners[0].proof, &env, &o->min);
	for (i = 0; i < 2; i++)
		sched_proof_free(&runners[i].proof);
	kvm_vm_free(vm);
	ksft_test_result_pass("ipi_to_scheduled_out_vcpu\n");
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-d max seconds] [-R max rounds per vCPU]\n"
	       "       [-M move every N rounds] [-T lost-interrupt timeout ms]\n"
	       "       [-a antagonists per pCPU] [-i min involuntary] [-n min pCPU changes]\n"
	       "       [-r min rounds per vCPU]\n", name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	struct opts o = {
		.nr_vcpus = 2, .seconds = 8, .rounds = 3000, .move_every = 4,
		.timeout_ms = 10000, .ants_per_cpu = 1,
		.min = { .involuntary = 50, .moves = 20 }, .min_rounds = 100,
	};
	int opt;

	while ((opt = getopt(argc, argv, "v:d:R:M:T:a:i:n:r:h")) != -1) {
		switch (opt) {
		case 'v':
			o.nr_vcpus = atoi_positive("vCPUs", optarg);
			TEST_ASSERT(o.nr_vcpus <= TIME_MAX_VCPUS, "at most %d vCPUs",
				    TIME_MAX_VCPUS);
			break;
		case 'd':
			o.seconds = atof(optarg);
			break;
		case 'R':
			o.rounds = strtoull(optarg, NULL, 0);
			break;
		case 'M':
			o.move_every = atoi_positive("move interval", optarg);
			break;
		case 'T':
			o.timeout_ms = atoi_positive("timeout", optarg);
			break;
		case 'a':
			o.ants_per_cpu = atoi_non_negative("antagonists", optarg);
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
	ksft_set_plan(2);
	run(&o);
	ksft_test_result_pass("host_interrupts_to_scheduled_out_vcpus_delivered_once\n");
	test_ipi(&o);
	ksft_finished();
}
