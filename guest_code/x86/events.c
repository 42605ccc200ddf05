// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86 time across reloads: the TSC and kvmclock read back to back never go
 * back (kvmclock may step back by a bounded slack only when KVM does not
 * set TSC_STABLE), and a one-shot LAPIC timer fires however the vCPU was
 * scheduled out in between; extra deliveries are counted for the host to
 * judge (time_stats[].timer_dups).
 */
#include <asm/kvm_para.h>

#include "apic.h"
#include "processor.h"
#include "ucall_common.h"
#include "sched_guest.h"

#define TIMER_VECTOR		EVENTS_X86_TIMER_VECTOR
#define INJECT_VECTOR		EVENTS_X86_INJECT_VECTOR
#define APIC_TDCR_DIV_1		0xb
#define PVCLOCK_STABLE		(1u << 0)

/* The kvmclock page, written by KVM (the ABI's layout). */
struct kvmclock_page {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __packed;

struct clocks {
	uint64_t tsc;
	uint64_t ns;
	bool stable;
};

struct guest_time_cfg time_cfg;
struct guest_time_stats time_stats[TIME_MAX_VCPUS];

uint64_t irq_recv[TIME_MAX_VCPUS];

static uint64_t fires[TIME_MAX_VCPUS];
/* The last reads, so that monotonicity also spans rounds. */
static struct clocks last_clocks[TIME_MAX_VCPUS];

static void timer_irq_handler(struct ex_regs *regs)
{
	uint32_t cpu = x2apic_read_reg(APIC_ID);

	WRITE_ONCE(fires[cpu], fires[cpu] + 1);
	x2apic_write_reg(APIC_EOI, 0);
}

static void inject_irq_handler(struct ex_regs *regs)
{
	uint32_t cpu = x2apic_read_reg(APIC_ID);

	WRITE_ONCE(irq_recv[cpu], irq_recv[cpu] + 1);
	x2apic_write_reg(APIC_EOI, 0);
}

void events_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, int nr_vcpus)
{
	vm_vaddr_t gva;
	int i, khz;

	/* 6.12 sets the IDT up for every x86 VM and vCPU. */
	for (i = 0; i < nr_vcpus; i++) {
		gva = vm_vaddr_alloc_page(vm);
		time_cfg.kvmclock_gva[i] = gva;
		time_cfg.kvmclock_gpa[i] = addr_gva2gpa(vm, gva);
	}
	vm_install_exception_handler(vm, TIMER_VECTOR, timer_irq_handler);
	vm_install_exception_handler(vm, INJECT_VECTOR, inject_irq_handler);
	khz = __vcpu_ioctl(vcpus[0], KVM_GET_TSC_KHZ, NULL);
	TEST_ASSERT(khz > 0, "KVM_GET_TSC_KHZ returned %d", khz);
	time_cfg.tsc_khz = khz;
}

void events_inject(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	/* A fixed, edge-triggered MSI to the vCPU's APIC ID (its index). */
	struct kvm_msi msi = {
		.address_lo = 0xfee00000 | vcpu->id << 12,
		.data = INJECT_VECTOR,
	};
	int ret = __vm_ioctl(vm, KVM_SIGNAL_MSI, &msi);

	TEST_ASSERT(ret == 1, "KVM_SIGNAL_MSI(vcpu%u, vector 0x%x) returned %d errno %d",
		    vcpu->id, INJECT_VECTOR, ret, errno);
}

void guest_events_init(uint32_t vcpu, uint32_t nr_vcpus)
{
	x2apic_enable();
	x2apic_write_reg(APIC_TDCR, APIC_TDCR_DIV_1);
	x2apic_write_reg(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	if (time_cfg.kvmclock_gpa[vcpu])
		wrmsr(MSR_KVM_SYSTEM_TIME_NEW, time_cfg.kvmclock_gpa[vcpu] | 1);
	asm volatile("sti" ::: "memory");
}

static uint64_t kvmclock_ns(struct kvmclock_page *p, bool *stable)
{
	uint64_t delta, ns;
	uint32_t version;
	int8_t shift;

	do {
		version = READ_ONCE(p->version);
		barrier();
		delta = rdtsc() - READ_ONCE(p->tsc_timestamp);
		shift = READ_ONCE(p->tsc_shift);
		if (shift < 0)
			delta >>= -shift;
		else
			delta <<= shift;
		ns = READ_ONCE(p->system_time) +
		     (uint64_t)(((__uint128_t)delta * READ_ONCE(p->tsc_to_system_mul)) >> 32);
		*stable = READ_ONCE(p->flags) & PVCLOCK_STABLE;
		barrier();
	} while ((version & 1) || version != READ_ONCE(p->version));
	return ns;
}

/* One more read of both clocks; returns the TSC gap since the last one. */
static uint64_t step(uint32_t cpu, struct clocks *last)
{
	struct kvmclock_page *p = (void *)time_cfg.kvmclock_gva[cpu];
	struct clocks now;
	uint64_t gap;

	now.tsc = rdtsc();
	__GUEST_ASSERT(now.tsc >= last->tsc, "vcpu%u: the TSC went back from %lu to %lu",
		       cpu, last->tsc, now.tsc);
	gap = now.tsc - last->tsc;
	if (p) {
		now.ns = kvmclock_ns(p, &now.stable);
		if (now.ns < last->ns) {
			__GUEST_ASSERT(!(now.stable && last->stable),
				       "vcpu%u: kvmclock (TSC_STABLE) went back from %lu to %lu ns",
				       cpu, last->ns, now.ns);
			__GUEST_ASSERT(last->ns - now.ns <= time_cfg.slack_ns,
				       "vcpu%u: kvmclock went back %lu ns, from %lu to %lu (slack %lu)",
				       cpu, last->ns - now.ns, last->ns, now.ns,
				       time_cfg.slack_ns);
			time_stats[cpu].kvmclock_back++;
		}
		if (now.stable)
			time_stats[cpu].kvmclock_stable = 1;
	}
	*last = now;
	time_stats[cpu].reads++;
	return gap;
}

void guest_time_round(uint32_t cpu)
{
	struct guest_time_stats *st = &time_stats[cpu];
	uint64_t per_us = time_cfg.tsc_khz / 1000;
	uint64_t delay = per_us * time_cfg.delay_us;
	uint64_t timeout = per_us * time_cfg.timeout_us;
	uint64_t before = READ_ONCE(fires[cpu]);
	uint64_t start, gap, max_gap = 0, end;
	struct clocks last = last_clocks[cpu];

	step(cpu, &last);
	start = last.tsc;
	x2apic_write_reg(APIC_TMICT, time_cfg.delay_us * 1000);

	while (READ_ONCE(fires[cpu]) == before) {
		gap = step(cpu, &last);
		if (gap > max_gap)
			max_gap = gap;
		__GUEST_ASSERT(last.tsc - start < timeout,
			       "vcpu%u: the LAPIC timer armed at TSC %lu for %lu us has not fired at %lu (TMCCT %lu)",
			       cpu, start, time_cfg.delay_us, last.tsc,
			       x2apic_read_reg(APIC_TMCCT));
	}
	/* A quiet window as long as the delay: no second interrupt. */
	end = last.tsc + delay;
	while (last.tsc < end)
		step(cpu, &last);
	/*
	 * More than one: the host decides whether an emulated CPU re-delivered
	 * it (see irq_dups_check()) or KVM did; the guest only counts.
	 */
	st->timer_dups += READ_ONCE(fires[cpu]) - before - 1;
	last_clocks[cpu] = last;

	st->rounds++;
	if (max_gap >= per_us * time_cfg.gap_us)
		st->preempted_rounds++;
	if (max_gap / per_us > st->max_gap_us)
		st->max_gap_us = max_gap / per_us;
}

void guest_irq_mask(bool masked)
{
	if (masked)
		asm volatile("cli" ::: "memory");
	else
		asm volatile("sti" ::: "memory");
}

void guest_ipi_send(uint32_t target)
{
	x2apic_write_reg(APIC_ICR, (uint64_t)target << 32 | APIC_DEST_PHYSICAL |
			 APIC_DM_FIXED | INJECT_VECTOR);
}
