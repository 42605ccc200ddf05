// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipi_tracking_test - the series records x86 IPIs for directed yield.
 *
 * Two vCPUs, A (0) and B (1), stepped one at a time from one host thread so
 * that every state is observed at a known point.  For each way of sending an
 * IPI (xAPIC ICR, x2APIC ICR MSR, the PV send-IPI hypercall) it proves:
 *  - a fixed-mode IPI from A to B only makes B A's receiver: A's ipi_context
 *    reads receiver=1 pending=1 with a small age, B's reads sender=0, and
 *    ipi_sent_tracked moved on A;
 *  - B stays A's receiver while it holds the IPI with interrupts disabled,
 *    and stops being it once it EOIs: A's pending=0, B's sender=-1,
 *    ipi_eoi_cleared moved on B;
 *  - with ipi_window_ns at 1 ms, an IPI that B holds for longer ages past the
 *    window; B's late EOI clears B's side only (A's pending state is only
 *    cleared inside the window);
 *  - with ipi_tracking=N nothing is recorded.
 * With the APIC (xAPIC/x2APIC) it also proves that self-IPIs (shorthand and
 * own APIC ID), the all-but-self shorthand and an NMI are not recorded.
 * On a kernel without the series it skips ("series not applied").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vsched.h"

#define IPI_VECTOR	0xe0
#define OTHER_VECTOR	0xe1
#define SENDER		0
#define RECEIVER	1
#define SHORT_WINDOW_NS	1000000		/* 1 ms */
#define HOLD_US		20000		/* B holds the IPI for 20 ms */
#define ACCEPT_TRIES	1000000

enum mode { MODE_XAPIC, MODE_X2APIC, MODE_PV, NR_MODES };

static const char * const mode_name[] = { "xAPIC", "x2APIC", "PV send-IPI" };

/* Sender commands, set by the host before each step of A. */
enum cmd { CMD_NONE, CMD_SEND, CMD_SEND_UNTRACKED };

static int guest_mode;
static int guest_cmd;
static uint64_t guest_received[256];

static void guest_apic_enable(void)
{
	if (guest_mode == MODE_XAPIC)
		xapic_enable();
	else
		x2apic_enable();
}

static void guest_eoi(void)
{
	if (guest_mode == MODE_XAPIC)
		xapic_write_reg(APIC_EOI, 0);
	else
		x2apic_write_reg(APIC_EOI, 0);
}

static void guest_ipi_handler(struct ex_regs *regs)
{
	guest_received[regs->vector & 0xff]++;
	guest_eoi();
}

static void guest_icr(uint32_t dest, uint32_t low)
{
	if (guest_mode == MODE_XAPIC) {
		xapic_write_reg(APIC_ICR2, SET_APIC_DEST_FIELD(dest));
		xapic_write_reg(APIC_ICR, low);
	} else {
		x2apic_write_reg(APIC_ICR, ((uint64_t)dest << 32) | low);
	}
}

static void guest_send(uint32_t dest, uint8_t vector)
{
	uint64_t ret;

	if (guest_mode == MODE_PV) {
		ret = kvm_hypercall(KVM_HC_SEND_IPI, 1ul << dest, 0, 0,
				    APIC_DM_FIXED | vector);
		GUEST_ASSERT_EQ(ret, 1);
	} else {
		guest_icr(dest, APIC_DEST_PHYSICAL | APIC_DM_FIXED | vector);
	}
}

/* IPIs that name no single receiver, or the sender itself. */
static void guest_send_untracked(void)
{
	if (guest_mode == MODE_PV) {
		uint64_t ret;

		/* Two destinations: A and B. */
		ret = kvm_hypercall(KVM_HC_SEND_IPI, (1ul << SENDER) | (1ul << RECEIVER),
				    0, 0, APIC_DM_FIXED | OTHER_VECTOR);
		GUEST_ASSERT_EQ(ret, 2);
		return;
	}
	guest_icr(0, APIC_DEST_SELF | APIC_DM_FIXED | OTHER_VECTOR);
	guest_icr(SENDER, APIC_DEST_PHYSICAL | APIC_DM_FIXED | OTHER_VECTOR);
	guest_icr(0, APIC_DEST_ALLBUT | APIC_DM_FIXED | OTHER_VECTOR);
	guest_icr(RECEIVER, APIC_DEST_PHYSICAL | APIC_DM_NMI);
}

/* A: runs one command per step, with interrupts disabled throughout. */
static void sender_code(void)
{
	guest_apic_enable();
	for (;;) {
		GUEST_SYNC(0);
		switch (READ_ONCE(guest_cmd)) {
		case CMD_SEND:
			guest_send(RECEIVER, IPI_VECTOR);
			break;
		case CMD_SEND_UNTRACKED:
			guest_send_untracked();
			break;
		default:
			break;
		}
	}
}

/* B: holds interrupts off; each step accepts whatever is pending. */
static void receiver_code(void)
{
	uint64_t before;
	int i;

	guest_apic_enable();
	for (;;) {
		GUEST_SYNC(0);
		before = READ_ONCE(guest_received[IPI_VECTOR]) +
			 READ_ONCE(guest_received[OTHER_VECTOR]);
		for (i = 0; i < ACCEPT_TRIES; i++) {
			asm volatile("sti; nop; cli" ::: "memory");
			if (READ_ONCE(guest_received[IPI_VECTOR]) +
			    READ_ONCE(guest_received[OTHER_VECTOR]) != before)
				break;
		}
		GUEST_SYNC(1);
	}
}

static void nmi_handler(struct ex_regs *regs)
{
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

/* B accepts what is pending; it reaches the second GUEST_SYNC of a round. */
static void receiver_accept(struct kvm_vcpu *b)
{
	step(b);	/* accepts, GUEST_SYNC(1) */
	step(b);	/* GUEST_SYNC(0) of the next round */
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
		    "%s: vcpu%d ipi_context receiver=%d pending=%d sender=%d, expected %d %d %d", \
		    mode_name[mode], id, (c).receiver, (c).pending, (c).sender,	\
		    rcv, pend, snd)

static void run_mode(int mode)
{
	uint64_t sent0, cleared0, received;
	struct ipi_context ca, cb;
	struct kvm_vcpu *a, *b;
	struct kvm_vm *vm;
	char window[32];

	vm = vm_create(2);
	a = vm_vcpu_add(vm, SENDER, sender_code);
	b = vm_vcpu_add(vm, RECEIVER, receiver_code);
	vm_install_exception_handler(vm, IPI_VECTOR, guest_ipi_handler);
	vm_install_exception_handler(vm, OTHER_VECTOR, guest_ipi_handler);
	vm_install_exception_handler(vm, NMI_VECTOR, nmi_handler);
	if (mode == MODE_XAPIC)
		virt_pg_map(vm, APIC_DEFAULT_GPA, APIC_DEFAULT_GPA);
	guest_mode = mode;
	sync_global_to_guest(vm, guest_mode);

	vsched_param_set("ipi_tracking", "Y");
	TEST_ASSERT(!vsched_param_read("ipi_window_ns", window, sizeof(window)),
		    "read kvm.ipi_window_ns");

	step(a);
	step(b);

	/* Not tracked: self, all-but-self, NMI (APIC) or two targets (PV). */
	sender_do(vm, a, CMD_SEND_UNTRACKED);
	receiver_accept(b);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, -1, 0, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == 0,
		    "%s: untracked IPIs moved ipi_sent_tracked to %lu",
		    mode_name[mode], vcpu_stat(a, "ipi_sent_tracked"));

	/* A -> B: B, parked with interrupts off, holds the IPI: A's receiver. */
	sent0 = vcpu_stat(a, "ipi_sent_tracked");
	cleared0 = vcpu_stat(b, "ipi_eoi_cleared");
	sender_do(vm, a, CMD_SEND);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, SENDER);
	TEST_ASSERT(ca.receiver_age_ns >= 0 && ca.receiver_age_ns < 5000000000L,
		    "%s: receiver_age_ns=%ld just after the IPI", mode_name[mode],
		    ca.receiver_age_ns);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == sent0 + 1,
		    "%s: ipi_sent_tracked %lu -> %lu, expected +1", mode_name[mode],
		    sent0, vcpu_stat(a, "ipi_sent_tracked"));

	/* B takes the IPI and EOIs it: no longer A's receiver. */
	step(b);	/* from GUEST_SYNC(0) through the accept loop to GUEST_SYNC(1) */
	sync_global_from_guest(vm, guest_received);
	received = guest_received[IPI_VECTOR];
	TEST_ASSERT(received >= 1, "%s: B did not take the IPI", mode_name[mode]);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 0, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(b, "ipi_eoi_cleared") == cleared0 + 1,
		    "%s: ipi_eoi_cleared %lu -> %lu, expected +1", mode_name[mode],
		    cleared0, vcpu_stat(b, "ipi_eoi_cleared"));
	step(b);	/* back to GUEST_SYNC(0) */

	/* A window shorter than B's hold: B's late EOI only clears B's side. */
	vsched_param_set("ipi_window_ns", "1000000");
	sender_do(vm, a, CMD_SEND);
	usleep(HOLD_US);
	read_ctx(vm, SENDER, &ca);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	TEST_ASSERT(ca.receiver_age_ns >= SHORT_WINDOW_NS,
		    "%s: after %d us, receiver_age_ns=%ld is still inside a %d ns window",
		    mode_name[mode], HOLD_US, ca.receiver_age_ns, SHORT_WINDOW_NS);
	receiver_accept(b);
	read_ctx(vm, SENDER, &ca);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(ca, SENDER, RECEIVER, 1, -1);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	vsched_param_set("ipi_window_ns", window);

	/* ipi_tracking=N: nothing is recorded. */
	vsched_param_set("ipi_tracking", "N");
	sent0 = vcpu_stat(a, "ipi_sent_tracked");
	sender_do(vm, a, CMD_SEND);
	read_ctx(vm, RECEIVER, &cb);
	ASSERT_CTX(cb, RECEIVER, -1, 0, -1);
	TEST_ASSERT(vcpu_stat(a, "ipi_sent_tracked") == sent0,
		    "%s: ipi_tracking=N, but ipi_sent_tracked moved", mode_name[mode]);
	receiver_accept(b);
	vsched_param_set("ipi_tracking", "Y");

	kvm_vm_free(vm);
}

int main(int argc, char *argv[])
{
	int mode;

	ksft_print_header();
	if (!vsched_series_applied())
		ksft_exit_skip("series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");
	if (access("/sys/kernel/debug/kvm", F_OK))
		ksft_exit_skip("no /sys/kernel/debug/kvm: debugfs is needed for ipi_context\n");

	ksft_set_plan(NR_MODES);
	for (mode = 0; mode < NR_MODES; mode++) {
		if (mode == MODE_PV && !kvm_cpu_has(X86_FEATURE_KVM_PV_SEND_IPI)) {
			ksft_test_result_skip("%s: KVM does not offer it\n", mode_name[mode]);
			continue;
		}
		run_mode(mode);
		ksft_test_result_pass("%s: A->B IPI tracked until B's EOI, window, off switch, untracked kinds\n",
				      mode_name[mode]);
	}
	ksft_finished();
}
