// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86 part of the benchmark workloads: IPIs through the x2APIC (fixed
 * mode, physical destination, one target: the kind the series tracks).
 * The handler finds its vCPU's wl_vcpu through GS, whose base each vCPU
 * points at its own entry, so taking an IPI costs no extra exit.
 */
#include <stddef.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "workloads.h"

#define WL_IPI_VECTOR	0xe2

static void wl_x86_ipi_handler(struct ex_regs *regs)
{
	uint32_t me;

	asm volatile("movl %%gs:%c1, %0"
		     : "=r"(me) : "i"(offsetof(struct wl_vcpu, idx)));
	wl_ipi_received(me);
	x2apic_write_reg(APIC_EOI, 0);
}

void wl_arch_guest_init(uint32_t idx)
{
	x2apic_enable();
	wrmsr(MSR_GS_BASE, (uint64_t)&wl_vcpu[idx]);
	asm volatile("sti" ::: "memory");
}

void wl_arch_send_ipi(uint32_t dest)
{
	x2apic_write_reg(APIC_ICR, ((uint64_t)dest << 32) | APIC_DEST_PHYSICAL |
			 APIC_DM_FIXED | WL_IPI_VECTOR);
}

bool wl_arch_ipis_supported(void)
{
	return true;
}

int wl_arch_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, uint32_t nr_vcpus)
{
	vm_install_exception_handler(vm, WL_IPI_VECTOR, wl_x86_ipi_handler);
	return -1;
}
