// SPDX-License-Identifier: GPL-2.0-only
/*
 * arm64 time across reloads: CNTVCT_EL0 read back to back never goes back,
 * and the virtual timer armed through CNTV_CVAL_EL0 fires once, not before
 * its deadline, however the vCPU was scheduled out in between.
 */
#include <linux/sizes.h>

#include "arch_timer.h"
#include "gic.h"
#include "gic_v3.h"
#include "processor.h"
#include "ucall_common.h"
#include "vgic.h"
#include "sched_guest.h"

#define VTIMER_INTID	27
#define INJECT_SPI_BASE	32	/* vCPU n gets SPI 32 + n, edge-triggered */
#define IPI_INTID	1	/* the SGI one vCPU sends another */

struct guest_time_cfg time_cfg;
struct guest_time_stats time_stats[TIME_MAX_VCPUS];

uint64_t irq_recv[TIME_MAX_VCPUS];

static uint64_t fires[TIME_MAX_VCPUS];
static uint64_t fired_at[TIME_MAX_VCPUS];
/* The last read, so that monotonicity also spans rounds. */
static uint64_t last_cnt[TIME_MAX_VCPUS];

static void events_irq_handler(struct ex_regs *regs)
{
	uint32_t intid = gic_get_and_ack_irq();
	uint32_t cpu = guest_get_vcpuid();

	if (intid == IAR_SPURIOUS)
		return;
	if (intid == INJECT_SPI_BASE + cpu || intid == IPI_INTID) {
		WRITE_ONCE(irq_recv[cpu], irq_recv[cpu] + 1);
		gic_set_eoi(intid);
		return;
	}
	__GUEST_ASSERT(intid == VTIMER_INTID, "vcpu%u: unexpected interrupt %u",
		       cpu, intid);
	WRITE_ONCE(fired_at[cpu], timer_get_cntct(VIRTUAL));
	timer_set_ctl(VIRTUAL, CTL_IMASK);
	WRITE_ONCE(fires[cpu], fires[cpu] + 1);
	gic_set_eoi(intid);
}

void events_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, int nr_vcpus)
{
	int i, gic_fd;

	vm_init_descriptor_tables(vm);
	for (i = 0; i < nr_vcpus; i++)
		vcpu_init_descriptor_tables(vcpus[i]);
	vm_install_exception_handler(vm, VECTOR_IRQ_CURRENT, events_irq_handler);
	gic_fd = vgic_v3_setup(vm, nr_vcpus, 64);
	__TEST_REQUIRE(gic_fd >= 0, "no vGICv3: %d", gic_fd);
}

void events_inject(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	uint32_t irq = (INJECT_SPI_BASE + vcpu->id) |
		       KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT;
	int ret;

	/* An edge: the line goes up, then down. */
	ret = _kvm_irq_line(vm, irq, 1);
	TEST_ASSERT(!ret, "KVM_IRQ_LINE(vcpu%u, SPI %u, 1): %d errno %d", vcpu->id,
		    INJECT_SPI_BASE + vcpu->id, ret, errno);
	ret = _kvm_irq_line(vm, irq, 0);
	TEST_ASSERT(!ret, "KVM_IRQ_LINE(vcpu%u, SPI %u, 0): %d errno %d", vcpu->id,
		    INJECT_SPI_BASE + vcpu->id, ret, errno);
}

/* GICD_IROUTER<n> = the affinity of @mpidr, in two 32-bit halves. */
static void route_spi(uint32_t intid, uint64_t mpidr)
{
	writel(mpidr & 0xffffff, GICD_BASE_GVA + GICD_IROUTER + 8 * intid);
	writel(mpidr >> 32 & 0xff, GICD_BASE_GVA + GICD_IROUTER + 8 * intid + 4);
}

void guest_events_init(uint32_t vcpu, uint32_t nr_vcpus)
{
	uint64_t mpidr = read_sysreg(mpidr_el1);

	local_irq_disable();
	gic_init(GIC_V3, nr_vcpus);
	timer_set_ctl(VIRTUAL, CTL_IMASK);
	gic_irq_enable(VTIMER_INTID);
	/* Route this vCPU's SPI to it; PPIs are level-only in KVM. */
	route_spi(INJECT_SPI_BASE + vcpu, mpidr);
	gic_irq_set_config(INJECT_SPI_BASE + vcpu, true);
	gic_irq_enable(INJECT_SPI_BASE + vcpu);
	gic_irq_enable(IPI_INTID);
	local_irq_enable();
}

static uint64_t cycles_us(uint64_t cycles, uint64_t freq)
{
	return cycles * 1000000 / freq;
}

/* One more counter read: never back; returns the gap since the last one. */
static uint64_t step(uint32_t cpu, uint64_t *last)
{
	uint64_t now = timer_get_cntct(VIRTUAL), gap;

	__GUEST_ASSERT(now >= *last, "vcpu%u: CNTVCT_EL0 went back from %lu to %lu",
		       cpu, *last, now);
	gap = now - *last;
	*last = now;
	time_stats[cpu].reads++;
	return gap;
}

void guest_time_round(uint32_t cpu)
{
	struct guest_time_stats *st = &time_stats[cpu];
	uint64_t freq = timer_get_cntfrq();
	uint64_t delay = freq * time_cfg.delay_us / 1000000;
	uint64_t timeout = freq * time_cfg.timeout_us / 1000000;
	uint64_t before = READ_ONCE(fires[cpu]);
	uint64_t start, cval, last, gap, max_gap = 0, end, late;

	last = last_cnt[cpu];
	step(cpu, &last);
	start = last;
	cval = start + delay;
	timer_set_cval(VIRTUAL, cval);
	timer_set_ctl(VIRTUAL, CTL_ENABLE);

	while (READ_ONCE(fires[cpu]) == before) {
		gap = step(cpu, &last);
		if (gap > max_gap)
			max_gap = gap;
		__GUEST_ASSERT(last - start < timeout,
			       "vcpu%u: the timer armed at %lu for %lu has not fired at %lu (CNTV_CTL 0x%lx)",
			       cpu, start, cval, last, read_sysreg(cntv_ctl_el0));
	}
	__GUEST_ASSERT(READ_ONCE(fired_at[cpu]) >= cval,
		       "vcpu%u: the timer for %lu fired early, at %lu",
		       cpu, cval, READ_ONCE(fired_at[cpu]));
	late = READ_ONCE(fired_at[cpu]) - cval;

	/* A quiet window as long as the delay: no second interrupt. */
	end = last + delay;
	while (last < end)
		step(cpu, &last);
	__GUEST_ASSERT(READ_ONCE(fires[cpu]) == before + 1,
		       "vcpu%u: one timer fired %lu times", cpu,
		       READ_ONCE(fires[cpu]) - before);
	last_cnt[cpu] = last;

	st->rounds++;
	if (max_gap >= freq * time_cfg.gap_us / 1000000)
		st->preempted_rounds++;
	if (cycles_us(max_gap, freq) > st->max_gap_us)
		st->max_gap_us = cycles_us(max_gap, freq);
	if (cycles_us(late, freq) > st->max_late_us)
		st->max_late_us = cycles_us(late, freq);
}

void guest_irq_mask(bool masked)
{
	if (masked)
		local_irq_disable();
	else
		local_irq_enable();
}

void guest_ipi_send(uint32_t target)
{
	/* Aff3.Aff2.Aff1 = 0, the target list bit of Aff0 (vCPUs 0-15). */
	uint64_t sgi1r = (uint64_t)IPI_INTID << 24 | 1u << (target & 0xf);

	write_sysreg_s(sgi1r, SYS_ICC_SGI1R_EL1);
	isb();
}
