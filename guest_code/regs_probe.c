// SPDX-License-Identifier: GPL-2.0-only
/*
 * Which register classes the KVM behind /dev/kvm can run at all: an
 * instruction emulator (this machine's own /dev/kvm) cannot run some of the
 * guest's accesses.  One short VM per class.
 */
#include <stdio.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "sched_guest.h"

static uint32_t probe_mask;

static void probe_code(void)
{
	guest_regs_round(probe_mask, 0, 0, 16);
	GUEST_DONE();
}

bool regs_probe_class(unsigned int bit, char *why, size_t len)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	bool ok = false;

#ifdef __x86_64__
	if ((1u << bit) == REGS_TSC_AUX && !kvm_cpu_has(X86_FEATURE_RDTSCP)) {
		snprintf(why, len, "KVM does not expose RDTSCP");
		return false;
	}
	if ((1u << bit) == REGS_RDPID && !kvm_cpu_has(X86_FEATURE_RDPID)) {
		snprintf(why, len, "KVM does not expose RDPID");
		return false;
	}
#endif
	vm = vm_create_with_one_vcpu(&vcpu, probe_code);
	probe_mask = 1u << bit;
	sync_global_to_guest(vm, probe_mask);
	_vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_DONE:
		ok = true;
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		snprintf(why, len,
			 "KVM could not run the guest's %s accesses (exit %s): %s",
			 regs_class_name(bit), exit_reason_str(vcpu->run->exit_reason),
			 "an instruction emulator behind /dev/kvm?");
		break;
	}
	kvm_vm_free(vm);
	return ok;
}

uint32_t regs_probe_all(char why[][REGS_WHY_LEN])
{
	uint32_t classes = regs_arch_classes(), mask = 0;
	unsigned int bit;

	for (bit = 0; bit < REGS_NR_CLASSES; bit++) {
		why[bit][0] = '\0';
		if ((classes & (1u << bit)) && regs_probe_class(bit, why[bit], REGS_WHY_LEN))
			mask |= 1u << bit;
	}
	TEST_ASSERT(mask & REGS_GPR, "even the GPR class cannot run: %s", why[0]);
	return mask;
}
