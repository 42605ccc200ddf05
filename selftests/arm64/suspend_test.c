// SPDX-License-Identifier: GPL-2.0-only
/*
 * suspend_test - the arm64 KVM_MP_STATE_SUSPENDED / KVM_SYSTEM_EVENT_WAKEUP
 * contract of Documentation/virt/kvm/api.rst (KVM_SET_MP_STATE,
 * KVM_EXIT_SYSTEM_EVENT, KVM_CAP_ARM_SYSTEM_SUSPEND) and of the review of
 * "KVM: arm64: Add support for userspace to suspend a vCPU" (2022), which
 * made a signal end the wait with -EINTR instead of a WAKEUP exit.
 *
 * Each subtest proves one rule:
 *  - SET_MP_STATE(SUSPENDED) needs no capability and GET_MP_STATE reports it;
 *    values arm64 does not know give EINVAL and change nothing;
 *  - KVM_RUN on a SUSPENDED vCPU blocks (the vCPU sits in kvm_vcpu_block(),
 *    a guest that spins on a counter makes no progress) until a wakeup event;
 *  - wakeup events: a level interrupt raised with KVM_IRQ_LINE (SPI and PPI
 *    through the vGIC, the CPU IRQ line without a vGIC), an SGI sent by
 *    another vCPU, the guest's own virtual timer expiring; each ends KVM_RUN
 *    with KVM_EXIT_SYSTEM_EVENT / KVM_SYSTEM_EVENT_WAKEUP, the vCPU stays
 *    SUSPENDED and its registers are untouched;
 *  - the state is sticky: KVM_RUN again exits at once while the interrupt is
 *    pending, and blocks again once the host lowered or masked it;
 *  - a signal (arriving while blocked or pending before KVM_RUN) and
 *    immediate_exit end KVM_RUN with -EINTR, never with a WAKEUP exit, and
 *    the vCPU stays SUSPENDED (the randomized race is suspend_signal_race_test);
 *  - SET_MP_STATE(RUNNABLE) resumes the guest right after its suspend point
 *    with its registers intact; it takes the interrupt and reaches GUEST_DONE;
 *  - a VMM implementing PSCI SYSTEM_SUSPEND (KVM_CAP_ARM_SYSTEM_SUSPEND) with
 *    SUSPENDED; a STOPPED vCPU (which no interrupt wakes) turned SUSPENDED;
 *    several SUSPENDED vCPUs of one VM woken one at a time.
 *
 * The guest's suspend point is a store to an MMIO address with no memslot:
 * the exit lets the host suspend the vCPU exactly there, like a VMM that
 * emulates a power controller.  Every KVM_RUN of a vCPU happens on that
 * vCPU's own runner thread; a watchdog signals a KVM_RUN that does not
 * return in time, so a regression fails instead of hanging.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bitops.h>
#include <linux/psci.h>

#include "arch_timer.h"
#include "gic.h"
#include "gic_v3.h"
#include "kselftest.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vgic.h"
#include "vsched.h"

#define MAX_VCPUS		4
#define NR_IRQS			64
#define HOST_SPI		(MIN_SPI + 8)
#define HOST_PPI		(MIN_PPI + 5)
#define GUEST_SGI		5
#define VTIMER_PPI		27
#define NO_GIC_INTID		0xffffu		/* IRQ taken without a vGIC */
#define PSCI_CONTEXT_ID		0xc0ffee00c0ffeeull

#define SIG_KICK		SIGUSR1
#define BLOCK_CHECK_MS		300	/* "still blocked" means this long */
#define EXIT_TIMEOUT_MS		10000	/* an exit that is due must come by then */
#define IMMEDIATE_MS		5000	/* "exits at once", with TCG margin */
#define GUEST_IRQ_WAIT_MS	5000
#define TIMER_DEADLINE_MS	2500

enum {
	STAGE_READY = 1,	/* guest set up; the host may hold it here */
	STAGE_IRQ,		/* from the IRQ handler: (intid) */
	STAGE_RESUMED,		/* after the suspend point: (count, intid) */
	/* host-side pseudo stages of run_until() */
	STAGE_SUSPEND_POINT,
	STAGE_DONE,
};

/* Set by the host before the first KVM_RUN (sync_global_to_guest). */
struct guest_cfg {
	bool use_gic;
	bool spin;		/* guest_spin() instead of the suspend point */
	bool sgi_sender;	/* vCPU 0 sends GUEST_SGI to sgi_target_aff */
	bool psci_suspend;	/* suspend with PSCI SYSTEM_SUSPEND instead */
	u32 nr_vcpus;
	u32 timer_ms;		/* arm the virtual timer this far ahead */
	u64 sgi_target_aff;	/* MPIDR_EL1 affinity of the SGI target */
	u64 suspend_gva;	/* the suspend point's MMIO address */
};

static struct guest_cfg cfg;
/* Guest-written, host-read through addr_gva2hva(). */
static u32 irq_count[MAX_VCPUS];
static u32 last_intid[MAX_VCPUS];
static u64 spin_counter;
/* Host-written before a vCPU is made RUNNABLE. */
static bool expect_irq[MAX_VCPUS];
static bool spin_stop;

static inline u64 pattern(u64 n)
{
	return 0x5a5a000000000000ull | n << 8 | n;
}

static void guest_irq_handler(struct ex_regs *regs)
{
	u32 cpu = guest_get_vcpuid();
	u32 intid = NO_GIC_INTID;

	if (cfg.use_gic) {
		intid = gic_get_and_ack_irq();
		if (intid == IAR_SPURIOUS)
			return;
		if (intid == VTIMER_PPI)
			timer_set_ctl(VIRTUAL, CTL_IMASK);
	}
	WRITE_ONCE(last_intid[cpu], intid);
	WRITE_ONCE(irq_count[cpu], READ_ONCE(irq_count[cpu]) + 1);

	/* A level interrupt stays pending until its "device" drops the line. */
	if (intid != VTIMER_PPI && intid != GUEST_SGI)
		GUEST_SYNC_ARGS(STAGE_IRQ, intid, cpu, 0, 0);

	if (cfg.use_gic)
		gic_set_eoi(intid);
}

/*
 * The suspend point: x19..x28 hold known values across the exiting store,
 * and are checked once the host lets the vCPU run again.
 */
static void guest_suspend_point(void)
{
	register u64 x19 asm("x19") = pattern(19);
	register u64 x20 asm("x20") = pattern(20);
	register u64 x21 asm("x21") = pattern(21);
	register u64 x22 asm("x22") = pattern(22);
	register u64 x23 asm("x23") = pattern(23);
	register u64 x24 asm("x24") = pattern(24);
	register u64 x25 asm("x25") = pattern(25);
	register u64 x26 asm("x26") = pattern(26);
	register u64 x27 asm("x27") = pattern(27);
	register u64 x28 asm("x28") = pattern(28);
	u64 got[10];
	int i;

	asm volatile("str xzr, [%[addr]]"
		     : "+r" (x19), "+r" (x20), "+r" (x21), "+r" (x22),
		       "+r" (x23), "+r" (x24), "+r" (x25), "+r" (x26),
		       "+r" (x27), "+r" (x28)
		     : [addr] "r" (cfg.suspend_gva)
		     : "memory");

	got[0] = x19;
	got[1] = x20;
	got[2] = x21;
	got[3] = x22;
	got[4] = x23;
	got[5] = x24;
	got[6] = x25;
	got[7] = x26;
	got[8] = x27;
	got[9] = x28;
	for (i = 0; i < 10; i++)
		__GUEST_ASSERT(got[i] == pattern(19 + i),
			       "x%d is 0x%lx after the suspend point, want 0x%lx",
			       19 + i, (unsigned long)got[i],
			       (unsigned long)pattern(19 + i));
}

static void guest_after_resume(u32 cpu)
{
	u64 deadline;

	if (READ_ONCE(expect_irq[cpu])) {
		deadline = timer_get_cntct(VIRTUAL) +
			   msec_to_cycles(GUEST_IRQ_WAIT_MS);
		while (!READ_ONCE(irq_count[cpu]))
			__GUEST_ASSERT(timer_get_cntct(VIRTUAL) < deadline,
				       "vCPU %u took no interrupt within %u ms of resuming",
				       cpu, GUEST_IRQ_WAIT_MS);
	}
	GUEST_SYNC_ARGS(STAGE_RESUMED, READ_ONCE(irq_count[cpu]),
			READ_ONCE(last_intid[cpu]), 0, 0);
	GUEST_DONE();
}

/* Where the VMM resumes a vCPU after PSCI SYSTEM_SUSPEND: x0 = context id. */
static void guest_psci_resume(u64 context_id)
{
	__GUEST_ASSERT(context_id == PSCI_CONTEXT_ID,
		       "resumed with x0 = 0x%lx, want the context id 0x%lx",
		       (unsigned long)context_id, (unsigned long)PSCI_CONTEXT_ID);
	guest_after_resume(guest_get_vcpuid());
}

static void guest_send_sgi(void)
{
	u64 aff = cfg.sgi_target_aff;
	u64 val;

	val = (u64)GUEST_SGI << ICC_SGI1R_SGI_ID_SHIFT;
	val |= BIT(aff & 0xf) << ICC_SGI1R_TARGET_LIST_SHIFT;
	val |= ((aff >> 8) & 0xff) << ICC_SGI1R_AFFINITY_1_SHIFT;
	val |= ((aff >> 16) & 0xff) << ICC_SGI1R_AFFINITY_2_SHIFT;
	write_sysreg_s(val, SYS_ICC_SGI1R_EL1);
	isb();
}

static void guest_spin(void)
{
	while (!READ_ONCE(spin_stop))
		WRITE_ONCE(spin_counter, READ_ONCE(spin_counter) + 1);
	GUEST_DONE();
}

static void guest_code(void)
{
	u32 cpu = guest_get_vcpuid();
	struct arm_smccc_res res;

	if (cfg.use_gic) {
		gic_init(GIC_V3, cfg.nr_vcpus);
		/* KVM resets SPIs edge-triggered: make the host line a level one. */
		if (cpu == 0) {
			gic_irq_set_config(HOST_SPI, false);
			gic_irq_enable(HOST_SPI);
		}
		gic_irq_enable(HOST_PPI);
		gic_irq_enable(GUEST_SGI);
		gic_irq_enable(VTIMER_PPI);
	}
	/* The spinning guest keeps PSTATE.I set: WFI wakes up regardless. */
	if (!cfg.spin)
		local_irq_enable();
	GUEST_SYNC(STAGE_READY);

	if (cfg.spin)
		guest_spin();
	if (cfg.sgi_sender && cpu == 0) {
		guest_send_sgi();
		GUEST_DONE();
	}
	if (cfg.timer_ms) {
		timer_set_next_cval_ms(VIRTUAL, cfg.timer_ms);
		timer_set_ctl(VIRTUAL, CTL_ENABLE);
	}
	if (cfg.psci_suspend) {
		smccc_hvc(PSCI_1_0_FN64_SYSTEM_SUSPEND, (u64)guest_psci_resume,
			  PSCI_CONTEXT_ID, 0, 0, 0, 0, 0, &res);
		GUEST_FAIL("SYSTEM_SUSPEND returned 0x%lx instead of suspending",
			   res.a0);
	}
	guest_suspend_point();
	guest_after_resume(cpu);
}

/* ---- host side ---- */

struct runner {
	struct kvm_vcpu *vcpu;
	u64 suspend_gpa;
	pthread_t thread;
	sem_t go, done;
	bool quit;
	bool pre_signal;	/* make SIG_KICK pending before KVM_RUN */
	/* the last KVM_RUN */
	int ret, err;
	u32 exit_reason, event_type;
	u64 mmio_addr;
	u64 ucall_cmd;
	struct ucall uc;
	int sigs;		/* SIG_KICKs pending after it (consumed) */
	u64 ms;
	struct vcpu_stats *stats;
};

struct test_vm {
	struct kvm_vm *vm;
	int nr_vcpus;
	int gic_fd;		/* -1: no vGIC */
	u64 suspend_gpa;
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct runner runners[MAX_VCPUS];
	u64 regs[MAX_VCPUS][36];	/* core registers at the suspend point */
};

static void *runner_thread(void *arg)
{
	struct runner *r = arg;
	struct kvm_run *run = r->vcpu->run;
	struct timespec zero = {};
	sigset_t kick;
	double start;

	sigemptyset(&kick);
	sigaddset(&kick, SIG_KICK);
	for (;;) {
		sem_wait(&r->go);
		if (r->quit)
			break;
		if (r->pre_signal)
			pthread_kill(pthread_self(), SIG_KICK);

		start = vsched_now_ms();
		r->ret = __vcpu_run(r->vcpu);
		r->err = r->ret ? errno : 0;
		r->ms = vsched_now_ms() - start;
		r->exit_reason = run->exit_reason;
		r->event_type = run->system_event.type;
		r->mmio_addr = run->exit_reason == KVM_EXIT_MMIO ? run->mmio.phys_addr : 0;

		/* SIG_KICK is blocked outside KVM_RUN: consume what is pending. */
		r->sigs = 0;
		while (sigtimedwait(&kick, NULL, &zero) == SIG_KICK)
			r->sigs++;

		/* get_ucall() completes the MMIO with another KVM_RUN: do it here. */
		r->ucall_cmd = UCALL_NONE;
		if (!r->ret && r->exit_reason == KVM_EXIT_MMIO &&
		    r->mmio_addr == r->vcpu->vm->ucall_mmio_addr)
			r->ucall_cmd = get_ucall(r->vcpu, &r->uc);
		sem_post(&r->done);
	}
	return NULL;
}

static void runner_start(struct runner *r)
{
	sem_post(&r->go);
}

static bool runner_done_within(struct runner *r, u64 ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (sem_clockwait(&r->done, CLOCK_MONOTONIC, &ts)) {
		if (errno == ETIMEDOUT)
			return false;
		TEST_ASSERT(errno == EINTR, "sem_clockwait: %s", strerror(errno));
	}
	return true;
}

/* Wait for a KVM_RUN that must end; the watchdog signals it if it does not. */
static void runner_wait(struct runner *r, const char *what)
{
	if (runner_done_within(r, EXIT_TIMEOUT_MS))
		return;
	pthread_kill(r->thread, SIG_KICK);
	runner_done_within(r, EXIT_TIMEOUT_MS);
	TEST_FAIL("%s: vCPU %u's KVM_RUN did not return within %d ms (watchdog: %d, errno %d, %s)",
		  what, r->vcpu->id, EXIT_TIMEOUT_MS, r->ret, r->err,
		  exit_reason_str(r->exit_reason));
}

static void runner_run(struct runner *r, const char *what)
{
	runner_start(r);
	runner_wait(r, what);
}

static void describe_run(struct runner *r, char *buf, size_t len)
{
	snprintf(buf, len, "KVM_RUN %d (errno %d %s), exit_reason %u (%s), event %u, %lu ms",
		 r->ret, r->err, r->err ? strerror(r->err) : "", r->exit_reason,
		 exit_reason_str(r->exit_reason), r->event_type, r->ms);
}

static void assert_wakeup(struct runner *r, const char *what)
{
	char buf[256];

	describe_run(r, buf, sizeof(buf));
	TEST_ASSERT(!r->ret && r->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
		    r->event_type == KVM_SYSTEM_EVENT_WAKEUP,
		    "%s: vCPU %u: %s; want 0, KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_WAKEUP (%d)",
		    what, r->vcpu->id, buf, KVM_SYSTEM_EVENT_WAKEUP);
}

static void assert_eintr(struct runner *r, int sigs, const char *what)
{
	char buf[256];

	describe_run(r, buf, sizeof(buf));
	TEST_ASSERT(r->ret == -1 && r->err == EINTR &&
		    r->exit_reason == KVM_EXIT_INTR,
		    "%s: vCPU %u: %s; want -1/EINTR and KVM_EXIT_INTR, never a WAKEUP exit",
		    what, r->vcpu->id, buf);
	TEST_ASSERT(r->sigs == sigs, "%s: %d kick signals pending after KVM_RUN, want %d",
		    what, r->sigs, sigs);
}

/*
 * The vCPU's KVM_RUN has not returned for BLOCK_CHECK_MS; with @in_block,
 * the vCPU is also waiting in kvm_vcpu_block() (the "blocking" stat).
 */
static void assert_blocked(struct runner *r, bool in_block, const char *what)
{
	double deadline = vsched_now_ms() + EXIT_TIMEOUT_MS;
	bool returned;
	char buf[256];

	returned = runner_done_within(r, BLOCK_CHECK_MS);
	/* A loaded TCG host may take a while to get the thread into the wait. */
	while (!returned && in_block && vcpu_stats_value(r->stats, "blocking") != 1) {
		TEST_ASSERT(vsched_now_ms() < deadline,
			    "%s: vCPU %u's KVM_RUN has not returned, but its 'blocking' stat stays 0",
			    what, r->vcpu->id);
		returned = runner_done_within(r, 10);
	}
	if (returned) {
		describe_run(r, buf, sizeof(buf));
		TEST_FAIL("%s: vCPU %u should block, but %s", what, r->vcpu->id, buf);
	}
}

static void kick(struct runner *r)
{
	pthread_kill(r->thread, SIG_KICK);
}

static u32 get_mp(struct kvm_vcpu *vcpu)
{
	struct kvm_mp_state mp;

	vcpu_mp_state_get(vcpu, &mp);
	return mp.mp_state;
}

static int __set_mp(struct kvm_vcpu *vcpu, u32 state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	return __vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
}

static void set_mp(struct kvm_vcpu *vcpu, u32 state)
{
	int ret = __set_mp(vcpu, state);

	TEST_ASSERT(!ret, "KVM_SET_MP_STATE(%u) on vCPU %u: ret %d errno %d (%s)",
		    state, vcpu->id, ret, errno, strerror(errno));
}

static void assert_mp(struct kvm_vcpu *vcpu, u32 want, const char *what)
{
	u32 got = get_mp(vcpu);

	TEST_ASSERT(got == want, "%s: KVM_GET_MP_STATE of vCPU %u is %u, want %u",
		    what, vcpu->id, got, want);
}

#define NR_SNAP_REGS	36

static const char *snap_name(int i, char *buf, size_t len)
{
	static const char * const names[] = { "sp", "pc", "pstate", "sp_el1", "elr_el1" };

	if (i < 31)
		snprintf(buf, len, "x%d", i);
	else
		snprintf(buf, len, "%s", names[i - 31]);
	return buf;
}

static void snap_regs(struct kvm_vcpu *vcpu, u64 *regs)
{
	int i;

	for (i = 0; i < 31; i++)
		vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.regs[i]), &regs[i]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.sp), &regs[31]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.pc), &regs[32]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.pstate), &regs[33]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(sp_el1), &regs[34]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(elr_el1), &regs[35]);
}

/* While suspended the guest executes nothing: its registers do not change. */
static void assert_regs_frozen(struct test_vm *t, int idx, const char *what)
{
	u64 now[NR_SNAP_REGS];
	char name[16];
	int i;

	snap_regs(t->vcpus[idx], now);
	for (i = 0; i < NR_SNAP_REGS; i++)
		TEST_ASSERT(now[i] == t->regs[idx][i],
			    "%s: vCPU %d's %s is 0x%lx, was 0x%lx at the suspend point (+4 for pc): guest code ran",
			    what, idx, snap_name(i, name, sizeof(name)), now[i],
			    t->regs[idx][i]);
}

static void host_line(struct test_vm *t, u32 intid, int idx, int level)
{
	u32 irq;

	if (t->gic_fd < 0)
		irq = KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT |
		      idx << KVM_ARM_IRQ_VCPU_SHIFT | KVM_ARM_IRQ_CPU_IRQ;
	else if (INTID_IS_PPI(intid))
		irq = KVM_ARM_IRQ_TYPE_PPI << KVM_ARM_IRQ_TYPE_SHIFT |
		      idx << KVM_ARM_IRQ_VCPU_SHIFT | intid;
	else
		irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | intid;
	kvm_irq_line(t->vm, irq, level);
}

/* Mask/unmask an SPI in the distributor, as a VMM would (no vCPU may run). */
static void host_spi_enable(struct test_vm *t, u32 intid, bool enable)
{
	u32 val = BIT(intid % 32);
	u64 reg = (enable ? GICD_ISENABLER : GICD_ICENABLER) + intid / 32 * 4;

	kvm_device_attr_set(t->gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, reg, &val);
}

/* The host address of a guest variable. */
static void *guest_ptr(struct test_vm *t, void *var)
{
	return addr_gva2hva(t->vm, (vm_vaddr_t)var);
}

static void test_vm_create(struct test_vm *t, int nr_vcpus, bool use_gic,
			   struct guest_cfg *c)
{
	struct kvm_vcpu_init init;
	u64 gva;
	int i;

	memset(t, 0, sizeof(*t));
	t->nr_vcpus = nr_vcpus;
	t->vm = vm_create(nr_vcpus);
	vm_ioctl(t->vm, KVM_ARM_PREFERRED_TARGET, &init);
	init.features[0] |= BIT(KVM_ARM_VCPU_PSCI_0_2);
	for (i = 0; i < nr_vcpus; i++)
		t->vcpus[i] = aarch64_vcpu_add(t->vm, i, &init, guest_code);

	vm_init_descriptor_tables(t->vm);
	for (i = 0; i < nr_vcpus; i++)
		vcpu_init_descriptor_tables(t->vcpus[i]);
	vm_install_exception_handler(t->vm, VECTOR_IRQ_CURRENT, guest_irq_handler);

	t->gic_fd = -1;
	if (use_gic) {
		t->gic_fd = vgic_v3_setup(t->vm, nr_vcpus, NR_IRQS);
		__TEST_REQUIRE(t->gic_fd >= 0, "no in-kernel GICv3 (KVM_CREATE_DEVICE failed)");
	}

	/* An unbacked page next to the ucall page: stores to it exit to us. */
	t->suspend_gpa = t->vm->ucall_mmio_addr + t->vm->page_size;
	TEST_ASSERT(t->suspend_gpa < GITS_BASE_GPA, "suspend page 0x%lx overlaps the GIC",
		    t->suspend_gpa);
	gva = vm_vaddr_unused_gap(t->vm, t->vm->page_size, KVM_UTIL_MIN_VADDR);
	virt_map(t->vm, gva, t->suspend_gpa, 1);

	cfg = *c;
	cfg.use_gic = use_gic;
	cfg.nr_vcpus = nr_vcpus;
	cfg.suspend_gva = gva;
	sync_global_to_guest(t->vm, cfg);

	for (i = 0; i < nr_vcpus; i++) {
		struct runner *r = &t->runners[i];
		struct kvm_signal_mask *mask;
		sigset_t set;

		r->vcpu = t->vcpus[i];
		r->suspend_gpa = t->suspend_gpa;
		r->stats = vcpu_stats_open(r->vcpu);

		/* SIG_KICK is blocked in every thread, unblocked in KVM_RUN. */
		mask = calloc(1, sizeof(*mask) + 8);
		TEST_ASSERT(mask, "calloc");
		mask->len = 8;
		sigemptyset(&set);
		memcpy(mask->sigset, &set, 8);
		vcpu_ioctl(r->vcpu, KVM_SET_SIGNAL_MASK, mask);
		free(mask);

		sem_init(&r->go, 0, 0);
		sem_init(&r->done, 0, 0);
		pthread_create(&r->thread, NULL, runner_thread, r);
	}
}

static void test_vm_destroy(struct test_vm *t)
{
	int i;

	for (i = 0; i < t->nr_vcpus; i++) {
		struct runner *r = &t->runners[i];

		r->quit = true;
		sem_post(&r->go);
		pthread_join(r->thread, NULL);
		sem_destroy(&r->go);
		sem_destroy(&r->done);
		vcpu_stats_close(r->stats);
	}
	if (t->gic_fd >= 0)
		close(t->gic_fd);
	kvm_vm_free(t->vm);
}

/*
 * Run vCPU @idx until it reaches @stage.  STAGE_IRQ syncs from the guest's
 * IRQ handler are served on the way: the host drops that level interrupt
 * (and counts it in *@irqs if given).
 */
static void run_until(struct test_vm *t, int idx, int stage, struct ucall *out)
{
	struct runner *r = &t->runners[idx];
	char buf[256];

	for (;;) {
		runner_run(r, "run_until");
		describe_run(r, buf, sizeof(buf));
		TEST_ASSERT(!r->ret, "vCPU %d: %s", idx, buf);

		if (r->exit_reason == KVM_EXIT_MMIO && r->mmio_addr == t->suspend_gpa) {
			TEST_ASSERT(stage == STAGE_SUSPEND_POINT,
				    "vCPU %d reached its suspend point while waiting for stage %d",
				    idx, stage);
			snap_regs(r->vcpu, t->regs[idx]);
			t->regs[idx][32] += 4;	/* KVM completes the store first */
			return;
		}
		switch (r->ucall_cmd) {
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(r->uc);
			break;
		case UCALL_UNHANDLED:
			TEST_FAIL("vCPU %d: unexpected exception, vector %lu ec 0x%lx",
				  idx, r->uc.args[0], r->uc.args[1]);
			break;
		case UCALL_SYNC:
			if (r->uc.args[1] == STAGE_IRQ) {
				if (r->uc.args[2] != VTIMER_PPI && r->uc.args[2] != GUEST_SGI)
					host_line(t, t->gic_fd < 0 ? 0 : r->uc.args[2], idx, 0);
				continue;
			}
			TEST_ASSERT(r->uc.args[1] == stage,
				    "vCPU %d synced stage %lu, want %d", idx, r->uc.args[1], stage);
			if (out)
				*out = r->uc;
			return;
		case UCALL_DONE:
			TEST_ASSERT(stage == STAGE_DONE, "vCPU %d done early (want stage %d)",
				    idx, stage);
			return;
		default:
			TEST_FAIL("vCPU %d: unexpected exit while waiting for stage %d: %s",
				  idx, stage, buf);
		}
	}
}

/* Make a woken vCPU RUNNABLE and check that it resumes where it stopped. */
static void resume_and_finish(struct test_vm *t, int idx, u32 want_intid)
{
	bool *expect = guest_ptr(t, expect_irq);
	struct ucall uc;

	WRITE_ONCE(expect[idx], want_intid != 0);
	set_mp(t->vcpus[idx], KVM_MP_STATE_RUNNABLE);
	assert_mp(t->vcpus[idx], KVM_MP_STATE_RUNNABLE, "after SET_MP_STATE(RUNNABLE)");
	run_until(t, idx, STAGE_RESUMED, &uc);
	if (want_intid) {
		TEST_ASSERT(uc.args[2] == 1 && uc.args[3] == want_intid,
			    "vCPU %d resumed with %lu interrupts taken (last intid %lu), want 1 (intid %u)",
			    idx, uc.args[2], uc.args[3], want_intid);
	} else {
		TEST_ASSERT(uc.args[2] == 0, "vCPU %d took %lu interrupts, want none",
			    idx, uc.args[2]);
	}
	run_until(t, idx, STAGE_DONE, NULL);
}

/* Bring vCPU @idx to its suspend point and suspend it there. */
static void suspend_at_point(struct test_vm *t, int idx)
{
	run_until(t, idx, STAGE_READY, NULL);
	run_until(t, idx, STAGE_SUSPEND_POINT, NULL);
	set_mp(t->vcpus[idx], KVM_MP_STATE_SUSPENDED);
	assert_mp(t->vcpus[idx], KVM_MP_STATE_SUSPENDED, "after SET_MP_STATE(SUSPENDED)");
}

/* KVM_RUN blocks now; after @raise() the vCPU must exit with WAKEUP. */
static void block_then_wake(struct test_vm *t, int idx, u32 intid, const char *what)
{
	struct runner *r = &t->runners[idx];

	runner_start(r);
	assert_blocked(r, true, what);
	host_line(t, intid, idx, 1);
	runner_wait(r, what);
	assert_wakeup(r, what);
	assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, what);
	assert_regs_frozen(t, idx, what);
}

static struct guest_cfg no_cfg;

static void test_set_suspended_needs_no_cap(void)
{
	struct test_vm t;

	test_vm_create(&t, 1, true, &no_cfg);
	ksft_print_msg("KVM_CAP_ARM_SYSTEM_SUSPEND is %s; the VM does not enable it\n",
		       kvm_has_cap(KVM_CAP_ARM_SYSTEM_SUSPEND) ? "offered" : "absent");
	assert_mp(t.vcpus[0], KVM_MP_STATE_RUNNABLE, "new vCPU");
	set_mp(t.vcpus[0], KVM_MP_STATE_SUSPENDED);
	assert_mp(t.vcpus[0], KVM_MP_STATE_SUSPENDED, "after SET_MP_STATE(SUSPENDED)");
	set_mp(t.vcpus[0], KVM_MP_STATE_RUNNABLE);
	assert_mp(t.vcpus[0], KVM_MP_STATE_RUNNABLE, "after SET_MP_STATE(RUNNABLE)");
	test_vm_destroy(&t);
	ksft_test_result_pass("set_suspended_needs_no_cap_and_get_reports_it\n");
}

static void test_invalid_states(void)
{
	static const u32 bad[] = {
		KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
		KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED,
		KVM_MP_STATE_CHECK_STOP, KVM_MP_STATE_OPERATING,
		KVM_MP_STATE_LOAD, KVM_MP_STATE_AP_RESET_HOLD,
		KVM_MP_STATE_SUSPENDED + 1, 0x7fffffff, 0xffffffff,
	};
	static const u32 from[] = { KVM_MP_STATE_SUSPENDED, KVM_MP_STATE_RUNNABLE };
	struct test_vm t;
	int i, j, ret;

	test_vm_create(&t, 1, true, &no_cfg);
	for (j = 0; j < ARRAY_SIZE(from); j++) {
		set_mp(t.vcpus[0], from[j]);
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			ret = __set_mp(t.vcpus[0], bad[i]);
			TEST_ASSERT(ret == -1 && errno == EINVAL,
				    "KVM_SET_MP_STATE(%u) from state %u: ret %d errno %d, want EINVAL",
				    bad[i], from[j], ret, errno);
			assert_mp(t.vcpus[0], from[j], "after a rejected KVM_SET_MP_STATE");
		}
	}
	test_vm_destroy(&t);
	ksft_test_result_pass("invalid_mp_state_einval_and_state_unchanged\n");
}

/* A guest that wants to run (it spins on a counter) makes no progress. */
static void test_blocks_and_runs_nothing(void)
{
	struct guest_cfg c = { .spin = true };
	struct test_vm t;
	struct runner *r;
	u64 *counter, before;
	double deadline;

	test_vm_create(&t, 1, true, &c);
	r = &t.runners[0];
	counter = guest_ptr(&t, &spin_counter);
	run_until(&t, 0, STAGE_READY, NULL);

	/* Let it spin, then take it out of the guest as a VMM would. */
	runner_start(r);
	deadline = vsched_now_ms() + EXIT_TIMEOUT_MS;
	while (!READ_ONCE(*counter) && vsched_now_ms() < deadline)
		usleep(1000);
	TEST_ASSERT(READ_ONCE(*counter), "the guest never started spinning");
	kick(r);
	runner_wait(r, "kick the spinning guest");
	assert_eintr(r, 1, "kick the spinning guest");

	set_mp(r->vcpu, KVM_MP_STATE_SUSPENDED);
	before = READ_ONCE(*counter);
	runner_start(r);
	assert_blocked(r, true, "suspended spinning guest");
	usleep(BLOCK_CHECK_MS * 1000);
	TEST_ASSERT(READ_ONCE(*counter) == before,
		    "guest counter moved from %lu to %lu while the vCPU was SUSPENDED",
		    before, READ_ONCE(*counter));

	/* An SPI wakes it although the guest has PSTATE.I set, as WFI does. */
	host_line(&t, HOST_SPI, 0, 1);
	runner_wait(r, "SPI while the spinning guest is suspended");
	assert_wakeup(r, "SPI while the spinning guest is suspended");
	TEST_ASSERT(READ_ONCE(*counter) == before,
		    "guest counter moved from %lu to %lu before the vCPU was RUNNABLE",
		    before, READ_ONCE(*counter));

	/* RUNNABLE again: the guest makes progress again. */
	set_mp(r->vcpu, KVM_MP_STATE_RUNNABLE);
	runner_start(r);
	deadline = vsched_now_ms() + EXIT_TIMEOUT_MS;
	while (READ_ONCE(*counter) == before && vsched_now_ms() < deadline)
		usleep(1000);
	TEST_ASSERT(READ_ONCE(*counter) != before, "the guest did not spin again once RUNNABLE");
	WRITE_ONCE(*(bool *)guest_ptr(&t, &spin_stop), true);
	runner_wait(r, "stop the spinning guest");
	TEST_ASSERT(r->ucall_cmd == UCALL_DONE, "spinning guest did not finish (ucall %lu)",
		    r->ucall_cmd);
	test_vm_destroy(&t);
	ksft_test_result_pass("suspended_run_blocks_and_guest_executes_nothing\n");
}

/* One wakeup source raised by the host: SPI, PPI, or the CPU line without a vGIC. */
static void test_wakeup_host_line(bool use_gic, u32 intid, const char *name)
{
	struct test_vm t;

	test_vm_create(&t, 1, use_gic, &no_cfg);
	suspend_at_point(&t, 0);
	block_then_wake(&t, 0, intid, name);
	resume_and_finish(&t, 0, use_gic ? intid : NO_GIC_INTID);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_wakeup_sgi(void)
{
	struct guest_cfg *gcfg;
	const char *name = "wakeup_on_sgi_from_other_vcpu";
	struct guest_cfg c = { .sgi_sender = true };
	struct test_vm t;
	struct runner *target;
	u64 mpidr;

	test_vm_create(&t, 2, true, &c);
	vcpu_get_reg(t.vcpus[1], KVM_ARM64_SYS_REG(SYS_MPIDR_EL1), &mpidr);
	gcfg = guest_ptr(&t, &cfg);
	WRITE_ONCE(gcfg->sgi_target_aff, mpidr & 0xffffff);
	target = &t.runners[1];

	run_until(&t, 0, STAGE_READY, NULL);
	suspend_at_point(&t, 1);
	runner_start(target);
	assert_blocked(target, true, name);

	run_until(&t, 0, STAGE_DONE, NULL);	/* vCPU 0 sends the SGI */
	runner_wait(target, name);
	assert_wakeup(target, name);
	assert_mp(target->vcpu, KVM_MP_STATE_SUSPENDED, name);
	assert_regs_frozen(&t, 1, name);
	resume_and_finish(&t, 1, GUEST_SGI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_wakeup_vtimer(void)
{
	const char *name = "wakeup_on_guest_vtimer_expiry";
	struct guest_cfg c = { .timer_ms = TIMER_DEADLINE_MS };
	struct test_vm t;
	struct runner *r;
	u64 cnt, cval;

	test_vm_create(&t, 1, true, &c);
	r = &t.runners[0];
	suspend_at_point(&t, 0);
	runner_start(r);
	assert_blocked(r, true, name);
	runner_wait(r, name);
	assert_wakeup(r, name);
	assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, name);
	assert_regs_frozen(&t, 0, name);

	vcpu_get_reg(r->vcpu, KVM_REG_ARM_TIMER_CNT, &cnt);
	vcpu_get_reg(r->vcpu, KVM_REG_ARM_TIMER_CVAL, &cval);
	TEST_ASSERT(cnt >= cval,
		    "woken before the virtual timer expired: CNTVCT 0x%lx < CVAL 0x%lx",
		    cnt, cval);
	ksft_print_msg("%s: woke after %lu ms (timer %u ms after the guest armed it)\n",
		       name, r->ms, TIMER_DEADLINE_MS);
	resume_and_finish(&t, 0, VTIMER_PPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void assert_immediate_wakeup(struct test_vm *t, int idx, const char *what)
{
	struct runner *r = &t->runners[idx];
	u64 waited = vcpu_stats_value(r->stats, "halt_wait_ns");

	runner_start(r);
	TEST_ASSERT(runner_done_within(r, IMMEDIATE_MS),
		    "%s: KVM_RUN did not exit within %d ms although the interrupt is pending",
		    what, IMMEDIATE_MS);
	assert_wakeup(r, what);
	TEST_ASSERT(vcpu_stats_value(r->stats, "halt_wait_ns") == waited,
		    "%s: the vCPU slept (halt_wait_ns moved) although a wakeup was pending",
		    what);
	assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, what);
	assert_regs_frozen(t, idx, what);
}

static void test_sticky_pending(void)
{
	const char *name = "wakeup_sticky_while_irq_pending";
	struct test_vm t;
	int i;

	test_vm_create(&t, 1, true, &no_cfg);
	suspend_at_point(&t, 0);
	host_line(&t, HOST_SPI, 0, 1);
	for (i = 0; i < 5; i++)
		assert_immediate_wakeup(&t, 0, name);
	resume_and_finish(&t, 0, HOST_SPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_sticky_lowered(bool use_gic, const char *name)
{
	u32 intid = use_gic ? HOST_SPI : 0;
	struct test_vm t;

	test_vm_create(&t, 1, use_gic, &no_cfg);
	suspend_at_point(&t, 0);
	block_then_wake(&t, 0, intid, name);
	assert_immediate_wakeup(&t, 0, name);
	host_line(&t, intid, 0, 0);
	block_then_wake(&t, 0, intid, name);
	resume_and_finish(&t, 0, use_gic ? intid : NO_GIC_INTID);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_sticky_masked(void)
{
	const char *name = "wakeup_blocks_again_after_host_masks_irq";
	struct test_vm t;

	test_vm_create(&t, 1, true, &no_cfg);
	suspend_at_point(&t, 0);
	block_then_wake(&t, 0, HOST_SPI, name);

	/*
	 * Masked in the distributor, the pending SPI is no wakeup event: the
	 * vCPU blocks until another interrupt (a PPI) arrives.
	 */
	host_spi_enable(&t, HOST_SPI, false);
	block_then_wake(&t, 0, HOST_PPI, name);
	host_line(&t, HOST_PPI, 0, 0);

	/* Unmasked (as api.rst asks before RUNNABLE), it wakes at once. */
	host_spi_enable(&t, HOST_SPI, true);
	assert_immediate_wakeup(&t, 0, name);
	resume_and_finish(&t, 0, HOST_SPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_signal_while_blocked(void)
{
	const char *name = "signal_while_blocked_gives_eintr_not_wakeup";
	struct test_vm t;
	struct runner *r;
	int i;

	test_vm_create(&t, 1, true, &no_cfg);
	r = &t.runners[0];
	suspend_at_point(&t, 0);
	for (i = 0; i < 5; i++) {
		runner_start(r);
		assert_blocked(r, true, name);
		kick(r);
		runner_wait(r, name);
		assert_eintr(r, 1, name);
		assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, name);
		assert_regs_frozen(&t, 0, name);
	}
	block_then_wake(&t, 0, HOST_SPI, name);
	resume_and_finish(&t, 0, HOST_SPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_signal_pending(void)
{
	const char *name = "signal_pending_before_run_gives_eintr_not_wakeup";
	struct test_vm t;
	struct runner *r;
	int i;

	test_vm_create(&t, 1, true, &no_cfg);
	r = &t.runners[0];
	suspend_at_point(&t, 0);
	for (i = 0; i < 5; i++) {
		r->pre_signal = true;
		runner_start(r);
		TEST_ASSERT(runner_done_within(r, IMMEDIATE_MS),
			    "%s: KVM_RUN did not return within %d ms with a signal pending",
			    name, IMMEDIATE_MS);
		r->pre_signal = false;
		assert_eintr(r, 1, name);
		assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, name);
		assert_regs_frozen(&t, 0, name);
	}
	block_then_wake(&t, 0, HOST_SPI, name);
	resume_and_finish(&t, 0, HOST_SPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

/*
 * immediate_exit: -EINTR even with a wakeup pending.  api.rst promises only
 * -EINTR; arm64 leaves exit_reason as it was, x86 sets KVM_EXIT_INTR, so
 * either is accepted, but never a fresh WAKEUP exit.
 */
static void test_immediate_exit(void)
{
	const char *name = "immediate_exit_gives_eintr_not_wakeup";
	struct test_vm t;
	struct kvm_run *run;
	struct runner *r;
	int i;

	test_vm_create(&t, 1, true, &no_cfg);
	r = &t.runners[0];
	run = r->vcpu->run;
	suspend_at_point(&t, 0);

	/*
	 * KVM completes the suspend point's store only while exit_reason still
	 * says KVM_EXIT_MMIO: let a signalled KVM_RUN do that before the
	 * exit_reason is poisoned below.
	 */
	r->pre_signal = true;
	runner_run(r, name);
	r->pre_signal = false;
	assert_eintr(r, 1, name);

	for (i = 0; i < 2; i++) {
		if (i)
			host_line(&t, HOST_SPI, 0, 1);
		run->exit_reason = KVM_EXIT_UNKNOWN;
		run->system_event.type = 0;
		run->immediate_exit = 1;
		runner_start(r);
		TEST_ASSERT(runner_done_within(r, IMMEDIATE_MS),
			    "%s: KVM_RUN with immediate_exit did not return within %d ms",
			    name, IMMEDIATE_MS);
		run->immediate_exit = 0;
		TEST_ASSERT(r->ret == -1 && r->err == EINTR &&
			    (r->exit_reason == KVM_EXIT_INTR ||
			     r->exit_reason == KVM_EXIT_UNKNOWN) &&
			    r->event_type != KVM_SYSTEM_EVENT_WAKEUP,
			    "%s (%s): KVM_RUN returned %d errno %d exit_reason %u (%s) type %u; want -1/EINTR, no WAKEUP",
			    name, i ? "interrupt pending" : "no interrupt", r->ret, r->err,
			    r->exit_reason, exit_reason_str(r->exit_reason), r->event_type);
		ksft_print_msg("%s: %s: -EINTR, exit_reason %s\n", name,
			       i ? "interrupt pending" : "no interrupt",
			       exit_reason_str(r->exit_reason));
		assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, name);
		assert_regs_frozen(&t, 0, name);
	}
	/* Without immediate_exit the pending interrupt wakes it at once. */
	assert_immediate_wakeup(&t, 0, name);
	resume_and_finish(&t, 0, HOST_SPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

/*
 * Resume: run the full suspend/wake cycle twice in one VM, so that the
 * second suspend starts from a guest that has resumed once already.
 */
static void test_resume(void)
{
	const char *name = "runnable_resumes_after_suspend_point_regs_intact_irq_taken";
	struct test_vm t;

	test_vm_create(&t, 1, true, &no_cfg);
	suspend_at_point(&t, 0);
	block_then_wake(&t, 0, HOST_PPI, name);
	resume_and_finish(&t, 0, HOST_PPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_psci_system_suspend(void)
{
	const char *name = "psci_system_suspend_forwarded_then_vmm_suspends_vcpu";
	struct guest_cfg c = { .psci_suspend = true };
	struct test_vm t;
	struct runner *r;
	u64 x0, x1, x2;
	struct ucall uc;

	if (!kvm_has_cap(KVM_CAP_ARM_SYSTEM_SUSPEND)) {
		ksft_test_result_skip("%s: KVM_CAP_ARM_SYSTEM_SUSPEND not offered\n", name);
		return;
	}
	test_vm_create(&t, 1, true, &c);
	vm_enable_cap(t.vm, KVM_CAP_ARM_SYSTEM_SUSPEND, 0);
	r = &t.runners[0];
	run_until(&t, 0, STAGE_READY, NULL);

	runner_run(r, name);
	TEST_ASSERT(!r->ret && r->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
		    r->event_type == KVM_SYSTEM_EVENT_SUSPEND,
		    "PSCI SYSTEM_SUSPEND: KVM_RUN returned %d, exit %s, type %u; want KVM_SYSTEM_EVENT_SUSPEND",
		    r->ret, exit_reason_str(r->exit_reason), r->event_type);
	vcpu_get_reg(r->vcpu, ARM64_CORE_REG(regs.regs[0]), &x0);
	vcpu_get_reg(r->vcpu, ARM64_CORE_REG(regs.regs[1]), &x1);
	vcpu_get_reg(r->vcpu, ARM64_CORE_REG(regs.regs[2]), &x2);
	TEST_ASSERT(x0 == PSCI_1_0_FN64_SYSTEM_SUSPEND && x1 == (u64)guest_psci_resume &&
		    x2 == PSCI_CONTEXT_ID,
		    "SYSTEM_SUSPEND exit with x0..x2 = 0x%lx 0x%lx 0x%lx, want the call's arguments",
		    x0, x1, x2);
	assert_mp(r->vcpu, KVM_MP_STATE_RUNNABLE, "KVM leaves the state to the VMM");

	/* The VMM honours the request by suspending the vCPU in KVM. */
	set_mp(r->vcpu, KVM_MP_STATE_SUSPENDED);
	snap_regs(r->vcpu, t.regs[0]);
	block_then_wake(&t, 0, HOST_SPI, name);

	/* DEN0022D 5.19: resume at the entry point with x0 = context id. */
	vcpu_set_reg(r->vcpu, ARM64_CORE_REG(regs.pc), x1);
	vcpu_set_reg(r->vcpu, ARM64_CORE_REG(regs.regs[0]), x2);
	WRITE_ONCE(((bool *)guest_ptr(&t, expect_irq))[0], true);
	set_mp(r->vcpu, KVM_MP_STATE_RUNNABLE);
	run_until(&t, 0, STAGE_RESUMED, &uc);
	TEST_ASSERT(uc.args[2] == 1 && uc.args[3] == HOST_SPI,
		    "resumed guest took %lu interrupts (last %lu), want the SPI %u",
		    uc.args[2], uc.args[3], HOST_SPI);
	run_until(&t, 0, STAGE_DONE, NULL);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_stopped_to_suspended(void)
{
	const char *name = "stopped_vcpu_ignores_irq_then_turned_suspended_wakes";
	struct test_vm t;
	struct runner *r;

	test_vm_create(&t, 1, true, &no_cfg);
	r = &t.runners[0];
	run_until(&t, 0, STAGE_READY, NULL);
	run_until(&t, 0, STAGE_SUSPEND_POINT, NULL);
	set_mp(r->vcpu, KVM_MP_STATE_STOPPED);
	assert_mp(r->vcpu, KVM_MP_STATE_STOPPED, name);

	/* No interrupt wakes a STOPPED vCPU; only the signal ends KVM_RUN. */
	host_line(&t, HOST_PPI, 0, 1);
	runner_start(r);
	assert_blocked(r, false, "STOPPED vCPU with an interrupt pending");
	kick(r);
	runner_wait(r, name);
	assert_eintr(r, 1, "STOPPED vCPU with an interrupt pending");
	assert_mp(r->vcpu, KVM_MP_STATE_STOPPED, name);
	assert_regs_frozen(&t, 0, name);
	host_line(&t, HOST_PPI, 0, 0);

	/* STOPPED -> SUSPENDED: now it waits for, and wakes on, the interrupt. */
	set_mp(r->vcpu, KVM_MP_STATE_SUSPENDED);
	assert_mp(r->vcpu, KVM_MP_STATE_SUSPENDED, name);
	block_then_wake(&t, 0, HOST_PPI, name);
	resume_and_finish(&t, 0, HOST_PPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

static void test_several_vcpus(void)
{
	static const int order[MAX_VCPUS] = { 2, 0, 3, 1 };
	const char *name = "several_suspended_vcpus_woken_individually";
	bool woken[MAX_VCPUS] = {};
	struct test_vm t;
	char what[64];
	int i, j, v;

	test_vm_create(&t, MAX_VCPUS, true, &no_cfg);
	for (i = 0; i < MAX_VCPUS; i++)
		suspend_at_point(&t, i);
	for (i = 0; i < MAX_VCPUS; i++)
		runner_start(&t.runners[i]);
	for (i = 0; i < MAX_VCPUS; i++)
		assert_blocked(&t.runners[i], true, "all suspended");

	for (i = 0; i < MAX_VCPUS; i++) {
		v = order[i];
		snprintf(what, sizeof(what), "PPI for vCPU %d", v);
		host_line(&t, HOST_PPI, v, 1);
		runner_wait(&t.runners[v], what);
		assert_wakeup(&t.runners[v], what);
		woken[v] = true;
		for (j = 0; j < MAX_VCPUS; j++) {
			if (!woken[j])
				assert_blocked(&t.runners[j], true, what);
		}
		assert_mp(t.vcpus[v], KVM_MP_STATE_SUSPENDED, what);
		assert_regs_frozen(&t, v, what);
	}
	for (i = 0; i < MAX_VCPUS; i++)
		resume_and_finish(&t, i, HOST_PPI);
	test_vm_destroy(&t);
	ksft_test_result_pass("%s\n", name);
}

int main(int argc, char *argv[])
{
	sigset_t set;

	/* Blocked everywhere; each vCPU's KVM_SET_SIGNAL_MASK unblocks it in KVM_RUN. */
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ksft_print_header();
	ksft_set_plan(19);

	test_set_suspended_needs_no_cap();
	test_invalid_states();
	test_blocks_and_runs_nothing();
	test_wakeup_host_line(true, HOST_SPI, "wakeup_on_spi_irq_line_via_vgic");
	test_wakeup_host_line(true, HOST_PPI, "wakeup_on_ppi_irq_line_via_vgic");
	test_wakeup_host_line(false, 0, "wakeup_on_irq_line_without_vgic");
	test_wakeup_sgi();
	test_wakeup_vtimer();
	test_sticky_pending();
	test_sticky_lowered(true, "wakeup_blocks_again_after_host_lowers_spi");
	test_sticky_lowered(false, "wakeup_blocks_again_after_host_lowers_line_without_vgic");
	test_sticky_masked();
	test_signal_while_blocked();
	test_signal_pending();
	test_immediate_exit();
	test_resume();
	test_psci_system_suspend();
	test_stopped_to_suspended();
	test_several_vcpus();

	ksft_finished();
}
