/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Spin-wait primitives shared by tests and benchmarks, guest and host side.
 *
 * Each is how a real guest waits for another vCPU, and each reaches
 * kvm_vcpu_on_spin() on a host that exits on it:
 *  - SPIN_PAUSE: x86 PAUSE (PLE / SVM pause filter) or arm64 YIELD;
 *  - SPIN_WFE: arm64 WFE (trapped when KVM sets HCR_EL2.TWE);
 *  - SPIN_HV: x86 PAUSE, and every SPIN_HV_PAUSES PAUSEs the Hyper-V
 *    hypercall HVCALL_NOTIFY_LONG_SPIN_WAIT, as an enlightened guest does
 *    once its spin-wait retry count runs out.
 * Whether the host really exits on a primitive is for the caller to check
 * (the series' spin_entries stat), not to assume.
 */
#ifndef VSCHED_SPIN_H
#define VSCHED_SPIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#ifdef __x86_64__
#include "hyperv.h"
#endif

enum spin_kind {
	SPIN_PAUSE,
	SPIN_WFE,
	SPIN_HV,
	NR_SPIN_KINDS,
};

/*
 * Hyper-V's default retry count is 0xfff; a smaller one keeps the hypercall
 * frequent enough to matter under TCG, where PAUSE is slow.
 */
#define SPIN_HV_PAUSES	64

struct guest_spin {
	enum spin_kind kind;
	uint32_t pauses;
};

static inline const char *spin_kind_name(enum spin_kind kind)
{
	static const char * const names[NR_SPIN_KINDS] = {
		[SPIN_PAUSE] = "pause",
		[SPIN_WFE] = "wfe",
		[SPIN_HV] = "hv",
	};

	return kind < NR_SPIN_KINDS ? names[kind] : "?";
}

/* Host side: the kind named @name, or -1. */
static inline int spin_kind_parse(const char *name)
{
	int k;

	for (k = 0; k < NR_SPIN_KINDS; k++)
		if (!strcmp(name, spin_kind_name(k)))
			return k;
	return -1;
}

/* Host side: whether @kind exists on this architecture at all. */
static inline bool spin_kind_supported(enum spin_kind kind)
{
#ifdef __x86_64__
	return kind == SPIN_PAUSE || kind == SPIN_HV;
#else
	return kind == SPIN_PAUSE || kind == SPIN_WFE;
#endif
}

/*
 * Host side: whether this KVM can set up @kind (SPIN_HV needs KVM's
 * Hyper-V emulation, which vcpu_spin_setup() would otherwise assert on);
 * if not, *why says so.  Whether the host exits on it is another matter.
 */
static inline bool spin_kind_usable(enum spin_kind kind, const char **why)
{
#ifdef __x86_64__
	struct kvm_cpuid2 *cpuid;
	int fd, ret;

	if (kind != SPIN_HV)
		return spin_kind_supported(kind);
	cpuid = allocate_kvm_cpuid2(MAX_NR_CPUID_ENTRIES);
	fd = open_kvm_dev_path_or_exit();
	ret = ioctl(fd, KVM_GET_SUPPORTED_HV_CPUID, cpuid);
	close(fd);
	free(cpuid);
	if (ret) {
		*why = "KVM has no Hyper-V emulation (KVM_GET_SUPPORTED_HV_CPUID fails)";
		return false;
	}
	return true;
#else
	if (!spin_kind_supported(kind))
		*why = "not an arm64 spin primitive";
	return spin_kind_supported(kind);
#endif
}

/* Host side, per vCPU, before it runs: what the guest needs for @kind. */
static inline void vcpu_spin_setup(struct kvm_vcpu *vcpu, enum spin_kind kind)
{
#ifdef __x86_64__
	if (kind == SPIN_HV)
		vcpu_set_hv_cpuid(vcpu);
#endif
}

/* Guest side, once per vCPU before spinning. */
static inline void guest_spin_init(struct guest_spin *s, enum spin_kind kind)
{
	s->kind = kind;
	s->pauses = 0;
#ifdef __x86_64__
	/* KVM takes hypercalls as Hyper-V ones once the guest OS ID is set. */
	if (kind == SPIN_HV)
		wrmsr(HV_X64_MSR_GUEST_OS_ID, HYPERV_LINUX_OS_ID);
#endif
}

#ifdef __x86_64__
static inline void guest_hv_long_spin_wait(void)
{
	register uint64_t output_gpa asm("r8") = 0;
	uint64_t control = HVCALL_NOTIFY_LONG_SPIN_WAIT;
	uint64_t status;

	/* AMD decodes only VMMCALL, Intel only VMCALL. */
	if (host_cpu_is_amd)
		asm volatile("vmmcall" : "=a"(status), "+c"(control)
			     : "d"(0), "r"(output_gpa) : "memory");
	else
		asm volatile("vmcall" : "=a"(status), "+c"(control)
			     : "d"(0), "r"(output_gpa) : "memory");
	GUEST_ASSERT_EQ(status & 0xffff, 0);
}
#endif

/* Guest side: one step of a spin-wait loop. */
static inline void guest_spin_relax(struct guest_spin *s)
{
#ifdef __x86_64__
	asm volatile("pause" ::: "memory");
	if (s->kind == SPIN_HV && ++s->pauses % SPIN_HV_PAUSES == 0)
		guest_hv_long_spin_wait();
#else
	if (s->kind == SPIN_WFE)
		asm volatile("wfe" ::: "memory");
	else
		asm volatile("yield" ::: "memory");
#endif
}

#endif /* VSCHED_SPIN_H */
