// SPDX-License-Identifier: GPL-2.0-only
/*
 * sgi_tracking_test - the series records arm64 SGIs for directed yield.
 *
 * Two vCPUs, A (0) and B (1), on a vGICv3, stepped one at a time from one
 * host thread so that every state is observed at a known point.  Proves:
 *  - an SGI that A writes to ICC_SGI1R_EL1 with B as its only target makes
 *    B A's receiver: A's ipi_context reads receiver=1 pending=1 with a small
 *    age, B's reads sender=0, and ipi_sent_tracked moved on A;
 *  - B stays A's receiver while the SGI sits pending in its list register
 *    (B runs with IRQs masked), and stops being it once B has acknowledged
 *    and deactivated the SGI and exited: A's pending=0, B's sender=-1,
 *    ipi_eoi_cleared moved on B;
 *  - with ipi_window_ns at 1 ms, an SGI that B holds for longer ages past the
 *    window, and B's late deactivation clears B's side only;
 *  - a self-SGI and a broadcast ("all but self") SGI are not recorded, and
 *    nothing is recorded with ipi_tracking=N.
 * On a kernel without the series it skips ("series not applied").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "gic.h"
#include "gic_v3.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vgic.h"
#include "vsched.h"

#define SGI_ID		5
#define OTHER_SGI	6
#define SENDER		0
#define RECEIVER	1
#define NR_VCPUS	2
#define SHORT_WINDOW_NS	1000000		/* 1 ms */
#define HOLD_US		20000		/* B holds the SGI for 20 ms */
#define ACCEPT_TRIES	1000000

enum cmd { CMD_NONE, CMD_SEND, CMD_SEND_UNTRACKED };

static int guest_cmd;
static uint64_t guest_received[16];

static void guest_irq_handler(struct ex_regs *regs)
{
	unsigned int intid = gic_get_and_ack_irq();

	GUEST_ASSERT(intid < 16);
	guest_received[intid]++;
	gic_set_eoi(intid);
}

static void guest_sgi(uint64_t target_list, uint32_t sgi, bool broadcast)
{
	uint64_t val = ((uint64_t)sgi << ICC_SGI1R_SGI_ID_SHIFT) |
		       (target_list & ICC_SGI1R_TARGET_LIST_MASK);

	if (broadcast)
		val |= BIT_ULL(ICC_SGI1R_IRQ_ROUTING_MODE_BIT);
	write_sysreg_s(val, SYS_ICC_SGI1R_EL1);
	isb();
}

static void guest_init(void)
{
	gic_init(GIC_V3, NR_VCPUS);
	gic_irq_enable(SGI_ID);
	gic_irq_enable(OTHER_SGI);
}

/* A: runs one command per step, with IRQs masked throughout. */
static void sender_code(void)
{
	guest_init();
	for (;;) {
		GUEST_SYNC(0);
		switch (READ_ONCE(guest_cmd)) {
		case CMD_SEND:
			guest_sgi(BIT(RECEIVER), SGI_ID, false);
			break;
		case CMD_SEND_UNTRACKED:
			guest_sgi(BIT(SENDER), OTHER_SGI, false);
			guest_sgi(0, OTHER_SGI, true);
			break;
		default:
			break;
		}
	}
}

/* B: holds IRQs masked; each step accepts whatever is pending. */
static void receiver_code(void)
{
	uint64_t before;
	int i;

	guest_init();
	for (;;) {
		GUEST_SYNC(0);
		before = READ_ONCE(guest_received[SGI_ID]) +
			 READ_ONCE(guest_received[OTHER_SGI]);
		for (i = 0; i < ACCEPT_TRIES; i++) {
			local_irq_enable();
			asm volatile("nop" ::: "memory");
			local_irq_disable();
			if (READ_ONCE(guest_received[SGI_ID]) +
			    READ_ONCE(guest_received[OTHER_SGI]) != before)
				break;
		}
		GUEST_SYNC(1);
	}
}

/* Runs @vcpu to its next GUEST_SYNC. */
static void step(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("vCPU %u: unexpected exit %s, ucall %lu", vcpu->id,
			  exit_reason_str(vcpu->run->exit_reason), uc.cmd);
	}
}

/* B accepts what is pending and parks at its next GUEST_SYNC(0). */
static void receiver_accept(struct kvm_vcpu *b)
{
	step(b);
	step(b);
}

static void sender_do(struct kvm_vm *vm, struct kvm_vcpu *a, int cmd)
{
	guest_cmd = cmd;
	sync_global_to_guest(vm, guest_cmd);
	step(a);
}

static void read_ctx(struct kvm_vm *vm, int id, struct ipi_context *ctx)
{
	int ret = vcpu_ipi_context(vm, id, ctx);

	TEST_ASSERT(!ret, "read vcpu%d/ipi_context: %s", id, strerror(-ret));
}

#define ASSERT_CTX(c, id, rcv, pend, snd)					\
	TEST_ASSERT((c).receiver == (rcv) && (c).pending == (pend) &&		\
		    (c).sender == (snd),					\
		    "vcpu%d ipi_context receiver=%d pending=%d sender=%d, expected %d %d %d", \
		    id, (c).receiver, (c).pending, (c).sender, rcv, pend, snd)

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpus[NR_VCPUS], *a, *b;
	uint64_t sent0, cleared0;
	struct ipi_context ca, cb;
	struct kvm_vm *vm;
	char window[32];
	int gic_fd;

	ksft_print_header();
	if (!vsched_series_applied())
		ksft_exit_skip("series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");
	if (access("/sys/kernel/debug/kvm", F_OK))
		ksft_exit_skip("no /sys/kernel/debug/kvm: debugfs is needed for ipi_context\n");

	vm = vm_create(NR_VCPUS);
	vcpus[SENDER] = vm_vcpu_add(vm, SENDER, sender_code);
	vcpus[RECEIVER] = vm_vcpu_add(vm, RECEIVER, receiver_code);
	a = vcpus[SENDER];
	b = vcpus[RECEIVER];
	vm_init_descriptor_tables(vm);
	vcpu_init_descriptor_tables(a);
	vcpu_init_descriptor_tables(b);
	vm_install_exception_handler(vm, VECTOR_IRQ_CURRENT, guest_irq_handler);
	gic_fd = vgic_v3_setup(vm, NR_VCPUS, 64);
	if (gic_fd < 0)
		ksft_exit_skip("cannot create a vGICv3: %s\n", strerror(-gic_fd));

	ksft_set_plan(5);
	vsched_param_set("ipi_tracking", "Y");
	TEST_ASSERT(!vsched_param_read("ipi_window_ns", window, sizeof(window)),
		    "read kvm.ipi_window_ns");

	step(a);
	step(b);

	/* Not tracked: a self-SGI and a broadcast. */
	sender_do(vm, a, CMD_SEND_UNTRACKED);
	receiver_accept(b);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, -1, 0, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == 0,
		    "untracked SGIs moved ipi_sent_tracked to %lu",
		    vcpu_stat(a, "ipi_sent_tracked"));
	ksft_test_result_pass("self and broadcast SGIs are not tracked\n");

	/* A -> B: B, parked with IRQs masked, holds the SGI: A's receiver. */
	sent0 = vcpu_stat(a, "ipi_sent_tracked");
	cleared0 = vcpu_stat(b, "ipi_eoi_cleared");
	sender_do(vm, a, CMD_SEND);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, SENDER);
	TEST_ASSERT(ca.receiver_age_ns >= 0 && ca.receiver_age_ns < 5000000000L,
		    "receiver_age_ns=%ld just after the SGI", ca.receiver_age_ns);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == sent0 + 1,
		    "ipi_sent_tracked %lu -> %lu, expected +1", sent0,
		    vcpu_stat(a, "ipi_sent_tracked"));
	ksft_test_result_pass("a single-target SGI makes B A's receiver\n");

	/* B takes the SGI, deactivates it and exits: no longer A's receiver. */
	step(b);
	sync_global_from_guest(vm, guest_received);
	TEST_ASSERT(guest_received[SGI_ID] >= 1, "B did not take SGI %d", SGI_ID);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 0, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(b, "ipi_eoi_cleared") == cleared0 + 1,
		    "ipi_eoi_cleared %lu -> %lu, expected +1", cleared0,
		    vcpu_stat(b, "ipi_eoi_cleared"));
	step(b);
	ksft_test_result_pass("B's deactivation of the SGI clears the context\n");

	/* A window shorter than B's hold: B's late EOI only clears B's side. */
	vsched_param_set("ipi_window_ns", "1000000");
	sender_do(vm, a, CMD_SEND);
	usleep(HOLD_US);
	read_ctx(vm, SENDER, &ca);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	TEST_ASSERT(ca.receiver_age_ns >= SHORT_WINDOW_NS,
		    "after %d us, receiver_age_ns=%ld is still inside a %d ns window",
		    HOLD_US, ca.receiver_age_ns, SHORT_WINDOW_NS);
	receiver_accept(b);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	vsched_param_set("ipi_window_ns", window);
	ksft_test_result_pass("the window expires; a late deactivation only clears B's side\n");

	/* ipi_tracking=N: nothing is recorded. */
	vsched_param_set("ipi_tracking", "N");
	sent0 = vcpu_stat(a, "ipi_sent_tracked");
	sender_do(vm, a, CMD_SEND);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == sent0,
		    "ipi_tracking=N, but ipi_sent_tracked moved");
	receiver_accept(b);
	vsched_param_set("ipi_tracking", "Y");
	ksft_test_result_pass("ipi_tracking=N records nothing\n");

	close(gic_fd);
	kvm_vm_free(vm);
	ksft_finished();
}
