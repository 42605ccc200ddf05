// SPDX-License-Identifier: GPL-2.0-only
/*
 * x86 IPI scenarios for the directed-yield tests: the command loop every
 * vCPU runs in the guest, and the host side that drives it (see ipi.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "x86/ipi.h"
#include "vsched.h"

struct ipi_shared ipi_shared;

/* The CPL 3 loop of ipi_vcpu_set_user_loop() (ipi.h), alone on its page. */
asm(".pushsection .text.vsched_ipi_user, \"ax\"\n"
"	.balign 4096\n"
"	.global ipi_user_loop\n"
"ipi_user_loop:\n"
"1:	pause\n"
"	jmp	1b\n"
"	.balign 4096\n"
"	.popsection\n");

/* --- Guest side ------------------------------------------------------------ */

static uint32_t guest_apic_id(void)
{
	return (uint32_t)x2apic_read_reg(APIC_ID);
}

static void ipi_handler(struct ex_regs *regs)
{
	struct ipi_vcpu *v = &ipi_shared.vcpu[guest_apic_id()];

	/* EOI first: the sender may send the next IPI as soon as it sees the ack. */
	x2apic_write_reg(APIC_EOI, 0);
	WRITE_ONCE(v->irqs, READ_ONCE(v->irqs) + 1);
}

static bool guest_stopped(struct ipi_vcpu *v, uint64_t seq)
{
	return READ_ONCE(v->stop) == seq;
}

static void guest_send_ipi(uint32_t dest)
{
	x2apic_write_reg(APIC_ICR, ((uint64_t)dest << 32) | APIC_DEST_PHYSICAL |
			 APIC_DM_FIXED | IPI_VECTOR);
}

/* Rounds of: IPI to the target, spin until its handler ran, time it. */
static void guest_send_wait(struct ipi_vcpu *v, uint64_t seq)
{
	struct ipi_vcpu *r = &ipi_shared.vcpu[READ_ONCE(v->target)];
	uint64_t rounds = READ_ONCE(v->rounds);
	uint64_t before, t0, relax = 0;
	struct guest_spin s;
	uint32_t n = 0;

	WRITE_ONCE(ipi_shared.nr_rtt, 0);
	guest_spin_init(&s, READ_ONCE(ipi_shared.spin_kind));
	while (n < rounds && !guest_stopped(v, seq)) {
		before = READ_ONCE(r->irqs);
		t0 = rdtsc();
		guest_send_ipi(READ_ONCE(v->target));
		WRITE_ONCE(v->sent, READ_ONCE(v->sent) + 1);
		while (READ_ONCE(r->irqs) == before && !guest_stopped(v, seq)) {
			guest_spin_relax(&s);
			relax++;
		}
		if (READ_ONCE(r->irqs) == before)
			break;
		if (n < IPI_RTT_MAX)
			ipi_shared.rtt[n] = rdtsc() - t0;
		n++;
		WRITE_ONCE(v->acked, n);
		WRITE_ONCE(ipi_shared.nr_rtt, n < IPI_RTT_MAX ? n : IPI_RTT_MAX);
	}
	WRITE_ONCE(v->relax, relax);
}

static void guest_spin(struct ipi_vcpu *v, uint64_t seq)
{
	struct guest_spin s;
	uint64_t relax = 0;

	guest_spin_init(&s, READ_ONCE(ipi_shared.spin_kind));
	while (!guest_stopped(v, seq)) {
		guest_spin_relax(&s);
		relax++;
	}
	WRITE_ONCE(v->relax, relax);
}

/* PV directed yield: KVM_HC_SCHED_YIELD to the receiver until it acked. */
static void guest_yield_wait(struct ipi_vcpu *v, uint64_t seq)
{
	struct ipi_vcpu *r = &ipi_shared.vcpu[READ_ONCE(v->target)];
	uint64_t before = READ_ONCE(r->irqs);
	uint64_t t0 = rdtsc();
	uint64_t ret;
	int i;

	WRITE_ONCE(ipi_shared.nr_rtt, 0);
	guest_send_ipi(READ_ONCE(v->target));
	WRITE_ONCE(v->sent, 1);
	while (READ_ONCE(r->irqs) == before && !guest_stopped(v, seq)) {
		for (i = 0; i < SPIN_HV_PAUSES; i++)
			asm volatile("pause" ::: "memory");
		ret = kvm_hypercall(KVM_HC_SCHED_YIELD, READ_ONCE(v->target), 0, 0, 0);
		WRITE_ONCE(v->hypercalls, READ_ONCE(v->hypercalls) + 1);
		if (ret)
			WRITE_ONCE(v->hc_ret_bad, READ_ONCE(v->hc_ret_bad) + 1);
	}
	if (READ_ONCE(r->irqs) != before) {
		ipi_shared.rtt[0] = rdtsc() - t0;
		WRITE_ONCE(ipi_shared.nr_rtt, 1);
		WRITE_ONCE(v->acked, 1);
	}
}

void ipi_guest_main(void)
{
	struct ipi_vcpu *v;
	uint64_t seq, seen = 0;
	enum ipi_cmd cmd;

	x2apic_enable();
	v = &ipi_shared.vcpu[guest_apic_id()];
	asm volatile("sti" ::: "memory");
	WRITE_ONCE(v->ready, 1);
	for (;;) {
		while ((seq = READ_ONCE(v->seq)) == seen)
			asm volatile("pause" ::: "memory");
		seen = seq;
		WRITE_ONCE(v->sent, 0);
		WRITE_ONCE(v->acked, 0);
		WRITE_ONCE(v->relax, 0);
		WRITE_ONCE(v->hypercalls, 0);
		WRITE_ONCE(v->hc_ret_bad, 0);
		cmd = READ_ONCE(v->cmd);
		/*
		 * IF=0 before the host sees the command started: it sends the
		 * IPI that must stay pending as soon as it does.
		 */
		if (cmd == IPI_CMD_CLI)
			asm volatile("cli" ::: "memory");
		WRITE_ONCE(v->started, seq);
		switch (cmd) {
		case IPI_CMD_IDLE:
			break;
		case IPI_CMD_SEND_WAIT:
			guest_send_wait(v, seq);
			break;
		case IPI_CMD_SPIN:
			guest_spin(v, seq);
			break;
		case IPI_CMD_SEND:
			x2apic_write_reg(APIC_ICR, READ_ONCE(v->icr));
			WRITE_ONCE(v->sent, 1);
			break;
		case IPI_CMD_CLI:
			while (READ_ONCE(v->seq) == seq)
				asm volatile("pause" ::: "memory");
			asm volatile("sti; nop" ::: "memory");
			break;
		case IPI_CMD_HALT:
			while (READ_ONCE(v->seq) == seq)
				asm volatile("sti; hlt" ::: "memory");
			break;
		case IPI_CMD_YIELD_WAIT:
			guest_yield_wait(v, seq);
			break;
		case IPI_CMD_EXIT:
			WRITE_ONCE(v->done, seq);
			GUEST_DONE();
			break;
		default:
			GUEST_FAIL("vCPU %u: unknown command %u", guest_apic_id(), cmd);
		}
		WRITE_ONCE(v->done, seq);
	}
}

/* --- Host side ------------------------------------------------------------- */

void ipi_vm_setup(struct kvm_vm *vm, enum spin_kind kind)
{
	vm_install_exception_handler(vm, IPI_VECTOR, ipi_handler);
	ipi_shared_hva(vm)->spin_kind = kind;
}

struct ipi_shared *ipi_shared_hva(struct kvm_vm *vm)
{
	return addr_gva2hva(vm, (vm_vaddr_t)&ipi_shared);
}

uint64_t ipi_post(struct ipi_shared *sh, int id, const struct ipi_vcpu *tmpl)
{
	struct ipi_vcpu *v = &sh->vcpu[id];
	uint64_t seq = READ_ONCE(v->seq) + 1;

	TEST_ASSERT(id >= 0 && id < IPI_MAX_VCPUS, "vCPU %d out of range", id);
	WRITE_ONCE(v->cmd, tmpl->cmd);
	WRITE_ONCE(v->target, tmpl->target);
	WRITE_ONCE(v->icr, tmpl->icr);
	WRITE_ONCE(v->rounds, tmpl->rounds);
	__sync_synchronize();
	WRITE_ONCE(v->seq, seq);
	return seq;
}

static void wait_field(uint64_t *field, uint64_t seq, int id, int timeout_ms,
		       const char *what, struct ipi_vcpu *v)
{
	double end = vsched_now_ms() + timeout_ms;

	while (READ_ONCE(*field) < seq) {
		TEST_ASSERT(vsched_now_ms() < end,
			    "vCPU %d has not %s command %lu (cmd %u) after %d ms: started %lu, done %lu",
			    id, what, seq, READ_ONCE(v->cmd), timeout_ms,
			    READ_ONCE(v->started), READ_ONCE(v->done));
		usleep(200);
	}
}

void ipi_wait_ready(struct ipi_shared *sh, int id, int timeout_ms)
{
	wait_field(&sh->vcpu[id].ready, 1, id, timeout_ms, "entered the loop for",
		   &sh->vcpu[id]);
}

void ipi_wait_started(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms)
{
	wait_field(&sh->vcpu[id].started, seq, id, timeout_ms, "started",
		   &sh->vcpu[id]);
}

void ipi_wait_done(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms)
{
	wait_field(&sh->vcpu[id].done, seq, id, timeout_ms, "finished",
		   &sh->vcpu[id]);
}

void ipi_stop(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms)
{
	WRITE_ONCE(sh->vcpu[id].stop, seq);
	ipi_wait_done(sh, id, seq, timeout_ms);
}

/*
 * @to has taken every IPI that @from's last command sent it: its irqs moved
 * from @irqs0 by @from's sent.
 */
static void ipi_wait_taken(struct ipi_shared *sh, int from, int to, uint64_t irqs0, int timeout_ms)
{
	double end = vsched_now_ms() + timeout_ms;
	uint64_t sent = READ_ONCE(sh->vcpu[from].sent);

	while (READ_ONCE(sh->vcpu[to].irqs) - irqs0 < sent) {
		TEST_ASSERT(vsched_now_ms() < end,
			    "vCPU %d has taken %lu of the %lu IPIs vCPU %d sent it, after %d ms",
			    to, READ_ONCE(sh->vcpu[to].irqs) - irqs0, sent, from, timeout_ms);
		usleep(200);
	}
}

uint64_t ipi_round_trips(struct ipi_shared *sh, int from, int to, uint64_t rounds, int ms,
			 int timeout_ms)
{
	struct ipi_vcpu t = { .cmd = IPI_CMD_SEND_WAIT, .target = to, .rounds = rounds };
	uint64_t irqs0 = READ_ONCE(sh->vcpu[to].irqs);
	uint64_t seq = ipi_post(sh, from, &t);
	double end;

	ipi_wait_started(sh, from, seq, timeout_ms);
	end = vsched_now_ms() + ms;
	while (vsched_now_ms() < end && READ_ONCE(sh->vcpu[from].done) != seq)
		usleep(10000);
	ipi_stop(sh, from, seq, timeout_ms);
	ipi_wait_taken(sh, from, to, irqs0, timeout_ms);
	return READ_ONCE(sh->vcpu[from].acked);
}

uint64_t ipi_set_mode(struct ipi_shared *sh, int id, enum ipi_cmd cmd)
{
	struct ipi_vcpu t = { .cmd = cmd };
	uint64_t seq = ipi_post(sh, id, &t);

	ipi_wait_started(sh, id, seq, 10000);
	return seq;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t ipi_rtt_median(struct ipi_shared *sh)
{
	uint32_t n = READ_ONCE(sh->nr_rtt);
	uint64_t *v, m;

	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	TEST_ASSERT(v, "out of memory");
	memcpy(v, sh->rtt, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u64);
	m = v[n / 2];
	free(v);
	return m;
}

void ipi_vcpu_set_user_loop(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	vm_vaddr_t gva = (vm_vaddr_t)ipi_user_loop;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t *pte;
	int level, l;

	/* The loop's page, and every table above it, user-accessible. */
	for (level = PG_LEVEL_512G; level >= PG_LEVEL_4K; level--) {
		l = level;
		pte = __vm_get_page_table_entry(vm, gva, &l);
		*pte |= PTE_USER_MASK;
		if (l != level)
			break;
	}

	vcpu_sregs_get(vcpu, &sregs);
	sregs.cs.selector = 0x33;
	sregs.cs.dpl = 3;
	sregs.ss = sregs.ds;
	sregs.ss.selector = 0x2b;
	sregs.ss.dpl = 3;
	sregs.ss.db = 1;
	vcpu_sregs_set(vcpu, &sregs);

	vcpu_regs_get(vcpu, &regs);
	regs.rip = gva;
	regs.rflags = 0x2;	/* IF=0: nothing ever needs a CPL 0 stack */
	vcpu_regs_set(vcpu, &regs);
}

static bool param_on(const char *path)
{
	char buf[8] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] == 'Y' || buf[0] == '1';
}

bool ipi_apicv_enabled(void)
{
	return param_on("/sys/module/kvm_intel/parameters/enable_apicv") ||
	       param_on("/sys/module/kvm_amd/parameters/avic");
}
