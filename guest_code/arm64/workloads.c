// SPDX-License-Identifier: GPL-2.0-only
/*
 * arm64 part of the benchmark workloads: IPIs are GICv3 SGIs written to
 * ICC_SGI1R_EL1 with a single target.  The handler finds its vCPU's index
 * in TPIDR_EL1, set once per vCPU.
 */
#include "kvm_util.h"
#include "gic.h"
#include "gic_v3.h"
#include "processor.h"
#include "vgic.h"
#include "workloads.h"

#define WL_SGI		5

static void wl_arm64_irq_handler(struct ex_regs *regs)
{
	unsigned int intid = gic_get_and_ack_irq();

	if (intid == WL_SGI)
		wl_ipi_received(read_sysreg(tpidr_el1));
	gic_set_eoi(intid);
}

void wl_arch_guest_init(uint32_t idx)
{
	local_irq_disable();
	write_sysreg(idx, tpidr_el1);
	gic_init(GIC_V3, wl_cfg.nr_vcpus);
	gic_irq_enable(WL_SGI);
	local_irq_enable();
}

/* KVM gives vCPU n the MPIDR Aff0 = n[3:0], Aff1 = n[11:4]. */
void wl_arch_send_ipi(uint32_t dest)
{
	uint64_t sgi1r = ((uint64_t)WL_SGI << 24) |
			 ((uint64_t)((dest >> 4) & 0xff) << 16) | (1u << (dest & 0xf));

	write_sysreg_s(sgi1r, SYS_ICC_SGI1R_EL1);
	isb();
}

bool wl_arch_ipis_supported(void)
{
	return true;
}

int wl_arch_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, uint32_t nr_vcpus)
{
	uint32_t i;
	int fd;

	vm_init_descriptor_tables(vm);
	vm_install_exception_handler(vm, VECTOR_IRQ_CURRENT, wl_arm64_irq_handler);
	for (i = 0; i < nr_vcpus; i++)
		vcpu_init_descriptor_tables(vcpus[i]);
	fd = vgic_v3_setup(vm, nr_vcpus, 64);
	__TEST_REQUIRE(fd >= 0, "cannot create a vGICv3 (%d)", fd);
	return fd;
}
