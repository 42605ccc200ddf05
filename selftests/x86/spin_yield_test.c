// SPDX-License-Identifier: GPL-2.0-only
/*
 * spin_yield_test - IPI-aware candidate selection in kvm_vcpu_on_spin() is
 * live, and ipi_aware_yield=N turns it off.
 *
 * vCPU A sends a fixed IPI to vCPU B, which never takes it (interrupts
 * stay disabled), so B remains A's recent IPI receiver; A then spins with
 * the Hyper-V HVCALL_NOTIFY_LONG_SPIN_WAIT hypercall, which enters
 * kvm_vcpu_on_spin() (a PAUSE loop never exits under TCG).  B's thread
 * shares its pCPU with a busy thread, so B is often preempted and thus a
 * directed yield candidate.  Proves:
 *  - with ipi_aware_yield=Y: spin_entries moves on A, A takes B as a tier-1
 *    candidate (yield_tier_ipi >= 1), and every yield attempt is counted in
 *    exactly one tier (yield_tier_* + yield_relaxed == spin_yield_attempted);
 *  - with ipi_aware_yield=N: spin_entries still moves, but only
 *    yield_tier_preempted counts candidates (the stock rule): yield_tier_ipi,
 *    yield_tier_intr and yield_relaxed stay still.
 * On a kernel without the series it skips ("series not applied").
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "apic.h"
#include "hyperv.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "preempt.h"
#include "vsched.h"

#define IPI_VECTOR	0xe0
#define A_ID		0
#define B_ID		1
#define PHASE_SECONDS	2
#define SPINS_PER_IPI	64

static bool guest_stop_a;
static bool guest_stop_b;

static const char * const tier_stats[] = {
	"yield_tier_ipi", "yield_tier_intr", "yield_tier_preempted", "yield_relaxed",
};

/* A: keeps B its receiver and spins through the long-spin-wait hypercall. */
static void a_code(vm_vaddr_t hcall_page)
{
	uint64_t i;

	x2apic_enable();
	wrmsr(HV_X64_MSR_GUEST_OS_ID, HYPERV_LINUX_OS_ID);
	wrmsr(HV_X64_MSR_HYPERCALL, hcall_page);
	for (;;) {
		GUEST_SYNC(0);
		for (i = 0; !READ_ONCE(guest_stop_a); i++) {
			if (!(i % SPINS_PER_IPI))
				x2apic_write_reg(APIC_ICR, ((uint64_t)B_ID << 32) |
						 APIC_DEST_PHYSICAL | APIC_DM_FIXED |
						 IPI_VECTOR);
			hyperv_hypercall(HVCALL_NOTIFY_LONG_SPIN_WAIT, 0, 0);
		}
		GUEST_SYNC(1);
	}
}

/* B: interrupts stay disabled, so the IPI stays pending, never EOIed. */
static void b_code(void)
{
	x2apic_enable();
	GUEST_SYNC(0);
	while (!READ_ONCE(guest_stop_b))
		cpu_relax();
	GUEST_DONE();
}

struct thread_args {
	struct kvm_vcpu *vcpu;
	int cpu;
	bool stop;		/* hog only */
};

static void run_to_done(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_DONE:
		return;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("vCPU %u: unexpected exit %s, ucall %lu", vcpu->id,
			  exit_reason_str(vcpu->run->exit_reason), uc.cmd);
	}
}

static void *b_thread(void *arg)
{
	struct thread_args *t = arg;

	TEST_ASSERT(!vsched_pin_tid(vsched_gettid(), t->cpu), "pin B's thread");
	run_to_done(t->vcpu);
	return NULL;
}

static void *hog_thread(void *arg)
{
	struct thread_args *t = arg;

	TEST_ASSERT(!vsched_pin_tid(vsched_gettid(), t->cpu), "pin the hog thread");
	while (!READ_ONCE(t->stop))
		;
	return NULL;
}

static void step_sync(struct kvm_vcpu *vcpu, uint64_t stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	if (get_ucall(vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT(uc.cmd == UCALL_SYNC && uc.args[1] == stage,
		    "vCPU %u: expected GUEST_SYNC(%lu), got ucall %lu (%lu)",
		    vcpu->id, stage, uc.cmd, uc.args[1]);
}

struct spin_stats {
	uint64_t entries, attempted, successful, tier[4];
};

static void read_spin_stats(struct kvm_vcpu *vcpu, struct spin_stats *s)
{
	unsigned int i;

	s->entries = vcpu_stat(vcpu, "spin_entries");
	s->attempted = vcpu_stat(vcpu, "spin_yield_attempted");
	s->successful = vcpu_stat(vcpu, "spin_yield_successful");
	for (i = 0; i < ARRAY_SIZE(tier_stats); i++)
		s->tier[i] = vcpu_stat(vcpu, tier_stats[i]);
}

struct phase_args {
	struct kvm_vm *vm;
	unsigned int seconds;
};

static void *stopper_thread(void *arg)
{
	struct phase_args *p = arg;

	sleep(p->seconds);
	WRITE_ONCE(guest_stop_a, true);
	sync_global_to_guest(p->vm, guest_stop_a);
	return NULL;
}

/* Runs A for @seconds, from a fresh GUEST_SYNC(0) each time. */
static void spin_phase(struct kvm_vm *vm, struct kvm_vcpu *a, unsigned int seconds,
		       struct spin_stats *delta)
{
	struct phase_args p = { .vm = vm, .seconds = seconds };
	struct spin_stats s0, s1;
	pthread_t stopper;
	unsigned int i;

	guest_stop_a = false;
	sync_global_to_guest(vm, guest_stop_a);
	read_spin_stats(a, &s0);
	pthread_create(&stopper, NULL, stopper_thread, &p);
	step_sync(a, 1);
	preempt_join_timeout(stopper, seconds + 30, "stopper");
	step_sync(a, 0);
	read_spin_stats(a, &s1);

	delta->entries = s1.entries - s0.entries;
	delta->attempted = s1.attempted - s0.attempted;
	delta->successful = s1.successful - s0.successful;
	for (i = 0; i < ARRAY_SIZE(tier_stats); i++)
		delta->tier[i] = s1.tier[i] - s0.tier[i];
	pr_info("%u s: spin_entries=%lu attempted=%lu successful=%lu ipi=%lu intr=%lu preempted=%lu relaxed=%lu\n",
		seconds, delta->entries, delta->attempted, delta->successful,
		delta->tier[0], delta->tier[1], delta->tier[2], delta->tier[3]);
}

int main(int argc, char *argv[])
{
	struct thread_args tb = { 0 }, th = { 0 };
	struct spin_stats on, off;
	pthread_t bt, hog;
	struct kvm_vcpu *a, *b;
	vm_vaddr_t hcall_page;
	char saved_window[32];
	struct kvm_vm *vm;
	bool saved_aware;

	ksft_print_header();
	if (!vsched_series_applied())
		ksft_exit_skip("series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_HYPERV_CPUID));
	if (vsched_nr_cpus() < 2)
		ksft_exit_skip("needs 2 CPUs: B and a busy thread on one, A on the other\n");

	ksft_set_plan(2);
	saved_aware = vsched_param_bool("ipi_aware_yield");
	TEST_ASSERT(!vsched_param_read("ipi_window_ns", saved_window, sizeof(saved_window)),
		    "read kvm.ipi_window_ns");
	vsched_param_set("ipi_tracking", "Y");
	vsched_param_set("ipi_window_ns", "1000000000");

	vm = vm_create(2);
	a = vm_vcpu_add(vm, A_ID, a_code);
	b = vm_vcpu_add(vm, B_ID, b_code);
	vcpu_set_hv_cpuid(a);
	vcpu_set_hv_cpuid(b);
	hcall_page = vm_vaddr_alloc_pages(vm, 1);
	vcpu_args_set(a, 1, addr_gva2gpa(vm, hcall_page));

	TEST_ASSERT(!vsched_pin_tid(vsched_gettid(), 1), "pin A's thread to CPU 1");
	step_sync(a, 0);
	step_sync(b, 0);

	tb.vcpu = b;
	tb.cpu = 0;
	th.cpu = 0;
	pthread_create(&bt, NULL, b_thread, &tb);
	pthread_create(&hog, NULL, hog_thread, &th);

	vsched_param_set("ipi_aware_yield", "Y");
	spin_phase(vm, a, PHASE_SECONDS, &on);
	TEST_ASSERT(on.entries > 0, "A spun for %d s but spin_entries did not move",
		    PHASE_SECONDS);
	TEST_ASSERT(on.tier[0] + on.tier[1] + on.tier[2] + on.tier[3] == on.attempted,
		    "tier counters ipi=%lu intr=%lu preempted=%lu relaxed=%lu do not add up to spin_yield_attempted=%lu",
		    on.tier[0], on.tier[1], on.tier[2], on.tier[3], on.attempted);
	TEST_ASSERT(on.successful <= on.attempted, "successful=%lu > attempted=%lu",
		    on.successful, on.attempted);
	TEST_ASSERT(on.tier[0] >= 1,
		    "B is A's pending IPI receiver and often preempted, but yield_tier_ipi=%lu (spin_entries=%lu, attempted=%lu)",
		    on.tier[0], on.entries, on.attempted);
	ksft_test_result_pass("ipi_aware_yield=Y: A yields to its IPI receiver (tier 1: %lu of %lu attempts)\n",
			      on.tier[0], on.attempted);

	vsched_param_set("ipi_aware_yield", "N");
	spin_phase(vm, a, PHASE_SECONDS, &off);
	TEST_ASSERT(off.entries > 0, "ipi_aware_yield=N: spin_entries did not move");
	TEST_ASSERT(!off.tier[0] && !off.tier[1] && !off.tier[3],
		    "ipi_aware_yield=N, but ipi=%lu intr=%lu relaxed=%lu moved",
		    off.tier[0], off.tier[1], off.tier[3]);
	TEST_ASSERT(off.tier[2] == off.attempted,
		    "ipi_aware_yield=N: yield_tier_preempted=%lu != spin_yield_attempted=%lu",
		    off.tier[2], off.attempted);
	ksft_test_result_pass("ipi_aware_yield=N: only the stock rule picks (%lu attempts)\n",
			      off.attempted);

	WRITE_ONCE(guest_stop_b, true);
	sync_global_to_guest(vm, guest_stop_b);
	preempt_join_timeout(bt, 30, "B's vCPU thread");
	WRITE_ONCE(th.stop, true);
	preempt_join_timeout(hog, 30, "hog thread");

	vsched_param_set("ipi_aware_yield", saved_aware ? "Y" : "N");
	vsched_param_set("ipi_window_ns", saved_window);
	kvm_vm_free(vm);
	ksft_finished();
}
