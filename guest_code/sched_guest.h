/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest side of the scheduling-out/reload tests: register patterns that must
 * survive while the vCPU thread is preempted and moved between pCPUs.
 */
#ifndef VSCHED_SCHED_GUEST_H
#define VSCHED_SCHED_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Register classes, checked by guest_regs_round() when set in its mask. */
#define REGS_GPR	(1u << 0)	/* general registers */
#define REGS_FPSIMD	(1u << 1)	/* arm64: V0-V31 */
/* arm64: TPIDR*, SP_EL0, CONTEXTIDR_EL1; x86: KERNEL_GS_BASE, FS/GS base */
#define REGS_SYSREGS	(1u << 2)
#define REGS_DEBUG	(1u << 3)	/* x86: DR0-DR3 */
#define REGS_TSC_AUX	(1u << 4)	/* x86: MSR_TSC_AUX read by RDTSCP */
#define REGS_RDPID	(1u << 5)	/* x86: MSR_TSC_AUX read by RDPID */
#define REGS_NR_CLASSES	6

/* The classes this architecture has (host and guest). */
uint32_t regs_arch_classes(void);
/* "gpr", "fpsimd", ... for messages (host and guest). */
const char *regs_class_name(unsigned int bit);

/* The value register @reg holds in @round on vCPU @vcpu. */
static inline uint64_t regs_pattern(uint32_t vcpu, uint64_t round, unsigned int reg)
{
	uint64_t x = ((uint64_t)vcpu << 48) ^ (round << 8) ^ reg;

	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return x ^ ((uint64_t)(vcpu + 1) << 56) ^ reg;
}

/*
 * One round, in the guest: loads every class of @mask with this round's
 * pattern, holds it for @spins loop iterations (the window in which the
 * host preempts and migrates the vCPU thread), and GUEST_ASSERTs that each
 * register still holds its value.
 */
void guest_regs_round(uint32_t mask, uint32_t vcpu, uint64_t round, uint64_t spins);

/* Host side: can this KVM run class @bit (if not, @why says why)? */
#define REGS_WHY_LEN	160
bool regs_probe_class(unsigned int bit, char *why, size_t len);
/* All classes of this arch: the mask that runs, the reasons for the rest. */
uint32_t regs_probe_all(char why[][REGS_WHY_LEN]);

/*
 * Arch assembly: loads the registers from @in, spins @spins times, stores
 * them into @out (arm64: struct regs_buf; x86: RAX..R15 in order).
 */
void vsched_regs_hold(const void *in, void *out, uint64_t spins);

/* --- Time: counters and a one-shot timer across reloads ------------------- */

#define TIME_MAX_VCPUS	8

/* x86: the vectors of the one-shot LAPIC timer and of injected interrupts and IPIs */
#define EVENTS_X86_TIMER_VECTOR		0xec
#define EVENTS_X86_INJECT_VECTOR	0xed

/* Set by the host before the vCPUs run (sync_global_to_guest). */
struct guest_time_cfg {
	uint64_t delay_us;		/* the timer fires this long after arming */
	uint64_t timeout_us;		/* a timer not fired by then is lost */
	uint64_t gap_us;		/* a counter gap this long: descheduled */
	uint64_t slack_ns;		/* kvmclock without TSC_STABLE may step back */
	uint64_t tsc_khz;		/* x86: the guest TSC frequency */
	uint64_t kvmclock_gpa[TIME_MAX_VCPUS];	/* x86: 0 = no kvmclock */
	uint64_t kvmclock_gva[TIME_MAX_VCPUS];
};

/* Per vCPU, read back by the host (sync_global_from_guest). */
struct guest_time_stats {
	uint64_t rounds;		/* timers armed, fired once, verified */
	uint64_t preempted_rounds;	/* rounds with a gap between arm and fire */
	uint64_t max_gap_us;		/* the longest counter gap seen */
	uint64_t max_late_us;		/* fire time minus deadline, worst */
	uint64_t reads;			/* counter reads checked */
	uint64_t kvmclock_back;		/* kvmclock steps back (unstable only) */
	uint64_t kvmclock_stable;	/* TSC_STABLE was set */
	uint64_t timer_dups;		/* x86: extra timer deliveries, judged by the host */
};

extern struct guest_time_cfg time_cfg;
extern struct guest_time_stats time_stats[TIME_MAX_VCPUS];

/* Host side: the interrupt controller, handlers and per-vCPU setup. */
struct kvm_vm;
struct kvm_vcpu;
void events_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, int nr_vcpus);

/* Interrupts the host sent to each vCPU that its handler took. */
extern uint64_t irq_recv[TIME_MAX_VCPUS];
/* Host side: one edge-triggered interrupt to @vcpu (arm64 SPI 32 + n through
 * KVM_IRQ_LINE, x86 a fixed MSI through KVM_SIGNAL_MSI).
 */
void events_inject(struct kvm_vm *vm, struct kvm_vcpu *vcpu);

/* Guest side: per-vCPU setup, then one arm/wait/verify round. */
void guest_events_init(uint32_t vcpu, uint32_t nr_vcpus);
void guest_time_round(uint32_t vcpu);
/* Guest side: one fixed IPI (arm64 SGI 1) to vCPU @target; counted in irq_recv. */
void guest_ipi_send(uint32_t target);
/* Guest side: masks (true) or unmasks interrupts on this vCPU. */
void guest_irq_mask(bool masked);

#endif /* VSCHED_SCHED_GUEST_H */
