// SPDX-License-Identifier: GPL-2.0-only
/*
 * suspend_rejected_test - KVM_MP_STATE_SUSPENDED is an arm64-only state.
 *
 * api.rst lists KVM_MP_STATE_SUSPENDED for arm64 only, and x86's
 * KVM_SET_MP_STATE accepts only the states it knows.  This test proves:
 *  - KVM_SET_MP_STATE(SUSPENDED) fails with EINVAL on x86, with the in-kernel
 *    irqchip (from RUNNABLE and from HALTED) and without it;
 *  - the rejected call changes nothing: KVM_GET_MP_STATE reports the state
 *    the vCPU had before;
 *  - KVM_CAP_ARM_SYSTEM_SUSPEND is not offered;
 *  - the vCPU still runs its guest to GUEST_DONE afterwards.
 */
#include <errno.h>
#include <string.h>

#include "kselftest.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

static void guest_code(void)
{
	GUEST_SYNC(1);
	GUEST_DONE();
}

static u32 get_mp(struct kvm_vcpu *vcpu)
{
	struct kvm_mp_state mp;

	vcpu_mp_state_get(vcpu, &mp);
	return mp.mp_state;
}

static void set_mp(struct kvm_vcpu *vcpu, u32 state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	vcpu_mp_state_set(vcpu, &mp);
}

/* SET(SUSPENDED) must fail with EINVAL and leave the state at @state. */
static void assert_suspend_rejected(struct kvm_vcpu *vcpu, u32 state, const char *what)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_SUSPENDED };
	int ret;

	TEST_ASSERT(get_mp(vcpu) == state, "%s: vCPU starts in state %u, want %u",
		    what, get_mp(vcpu), state);
	ret = __vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp);
	TEST_ASSERT(ret == -1 && errno == EINVAL,
		    "%s: KVM_SET_MP_STATE(SUSPENDED=%d) returned %d, errno %d (%s); want -1, EINVAL",
		    what, KVM_MP_STATE_SUSPENDED, ret, errno, strerror(errno));
	TEST_ASSERT(get_mp(vcpu) == state,
		    "%s: the rejected call changed the state from %u to %u",
		    what, state, get_mp(vcpu));
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpu, *bare_vcpu;
	struct kvm_vm *vm, *bare;
	struct ucall uc;

	ksft_print_header();
	ksft_set_plan(5);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);

	assert_suspend_rejected(vcpu, KVM_MP_STATE_RUNNABLE, "irqchip, RUNNABLE");
	ksft_test_result_pass("set_suspended_einval_state_stays_runnable\n");

	set_mp(vcpu, KVM_MP_STATE_HALTED);
	assert_suspend_rejected(vcpu, KVM_MP_STATE_HALTED, "irqchip, HALTED");
	set_mp(vcpu, KVM_MP_STATE_RUNNABLE);
	ksft_test_result_pass("set_suspended_einval_state_stays_halted\n");

	bare = vm_create_barebones();
	bare_vcpu = __vm_vcpu_add(bare, 0);
	assert_suspend_rejected(bare_vcpu, KVM_MP_STATE_RUNNABLE, "no irqchip");
	kvm_vm_free(bare);
	ksft_test_result_pass("set_suspended_einval_without_irqchip\n");

	TEST_ASSERT(!kvm_check_cap(KVM_CAP_ARM_SYSTEM_SUSPEND),
		    "KVM_CAP_ARM_SYSTEM_SUSPEND is offered on x86 (%d)",
		    kvm_check_cap(KVM_CAP_ARM_SYSTEM_SUSPEND));
	ksft_test_result_pass("arm_system_suspend_cap_not_offered\n");

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC,
		    "first exit: ucall %lu (exit %s), want UCALL_SYNC", uc.cmd,
		    exit_reason_str(vcpu->run->exit_reason));
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE,
		    "second exit: ucall %lu (exit %s), want UCALL_DONE", uc.cmd,
		    exit_reason_str(vcpu->run->exit_reason));
	ksft_test_result_pass("vcpu_runs_to_done_after_rejected_calls\n");

	kvm_vm_free(vm);
	ksft_finished();
}
