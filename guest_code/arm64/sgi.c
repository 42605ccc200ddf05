// SPDX-License-Identifier: GPL-2.0-only
/*
 * arm64 SGI scenarios for the directed-yield tests: the guest command loop
 * and the host side that drives it (see sgi.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "arch_timer.h"
#include "gic.h"
#include "gic_v3.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "arm64/sgi.h"
#include "vsched.h"

struct sgi_shared sgi_shared;

uint64_t sgi1r_to(uint32_t idx)
{
	return ((uint64_t)SGI_INTID << ICC_SGI1R_SGI_ID_SHIFT) |
	       ((uint64_t)(idx >> 4) << ICC_SGI1R_AFFINITY_1_SHIFT) |
	       (1ull << (idx & 0xf));
}

/* --- Guest side ------------------------------------------------------------ */

static uint32_t guest_idx(void)
{
	uint64_t mpidr = read_sysreg(mpidr_el1);

	return (mpidr & 0xf) | (((mpidr >> 8) & 0xff) << 4);
}

static void sgi_handler(struct ex_regs *regs)
{
	unsigned int intid = gic_get_and_ack_irq();
	struct sgi_vcpu *v = &sgi_shared.vcpu[guest_idx()];

	if (intid == 1023)	/* spurious */
		return;
	GUEST_ASSERT_EQ(intid, SGI_INTID);
	/* EOI (and deactivate) first: the sender may send the next SGI at once. */
	gic_set_eoi(intid);
	WRITE_ONCE(v->irqs, READ_ONCE(v->irqs) + 1);
	asm volatile("dsb ish; sev" ::: "memory");
}

static void guest_send(uint64_t sgi1r)
{
	write_sysreg_s(sgi1r, SYS_ICC_SGI1R_EL1);
	isb();
}

static bool guest_stopped(struct sgi_vcpu *v, uint64_t seq)
{
	return READ_ONCE(v->stop) == seq;
}

static void guest_send_wait(struct sgi_vcpu *v, uint64_t seq)
{
	struct sgi_vcpu *r = &sgi_shared.vcpu[READ_ONCE(v->target)];
	uint64_t rounds = READ_ONCE(v->rounds), before, t0, relax = 0;
	struct guest_spin s;
	uint32_t n = 0;

	WRITE_ONCE(sgi_shared.nr_rtt, 0);
	guest_spin_init(&s, READ_ONCE(sgi_shared.spin_kind));
	while (n < rounds && !guest_stopped(v, seq)) {
		before = READ_ONCE(r->irqs);
		t0 = timer_get_cntct(VIRTUAL);
		guest_send(sgi1r_to(READ_ONCE(v->target)));
		WRITE_ONCE(v->sent, READ_ONCE(v->sent) + 1);
		while (READ_ONCE(r->irqs) == before && !guest_stopped(v, seq)) {
			guest_spin_relax(&s);
			relax++;
		}
		if (READ_ONCE(r->irqs) == before)
			break;
		if (n < SGI_RTT_MAX)
			sgi_shared.rtt[n] = timer_get_cntct(VIRTUAL) - t0;
		n++;
		WRITE_ONCE(v->acked, n);
		WRITE_ONCE(sgi_shared.nr_rtt, n < SGI_RTT_MAX ? n : SGI_RTT_MAX);
	}
	WRITE_ONCE(v->relax, relax);
}

static void guest_spin(struct sgi_vcpu *v, uint64_t seq)
{
	struct guest_spin s;
	uint64_t relax = 0;

	guest_spin_init(&s, READ_ONCE(sgi_shared.spin_kind));
	while (!guest_stopped(v, seq)) {
		guest_spin_relax(&s);
		relax++;
	}
	WRITE_ONCE(v->relax, relax);
}

void sgi_guest_main(void)
{
	struct sgi_vcpu *v = &sgi_shared.vcpu[guest_idx()];
	uint64_t seq, seen = 0;

	gic_init(GIC_V3, READ_ONCE(sgi_shared.nr_vcpus));
	gic_irq_enable(SGI_INTID);
	local_irq_enable();
	WRITE_ONCE(v->ready, 1);
	for (;;) {
		while ((seq = READ_ONCE(v->seq)) == seen)
			cpu_relax();
		seen = seq;
		WRITE_ONCE(v->sent, 0);
		WRITE_ONCE(v->acked, 0);
		WRITE_ONCE(v->relax, 0);
		WRITE_ONCE(v->started, seq);
		switch (READ_ONCE(v->cmd)) {
		case SGI_CMD_IDLE:
			break;
		case SGI_CMD_SEND_WAIT:
			guest_send_wait(v, seq);
			break;
		case SGI_CMD_SPIN:
			guest_spin(v, seq);
			break;
		case SGI_CMD_SEND:
			guest_send(READ_ONCE(v->sgi1r));
			WRITE_ONCE(v->sent, 1);
			break;
		case SGI_CMD_EXIT:
			WRITE_ONCE(v->done, seq);
			GUEST_DONE();
			break;
		default:
			GUEST_FAIL("vCPU %u: unknown command %u", guest_idx(),
				   READ_ONCE(v->cmd));
		}
		WRITE_ONCE(v->done, seq);
	}
}

/* --- Host side ------------------------------------------------------------- */

void sgi_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, int nr_vcpus,
		  enum spin_kind kind)
{
	struct sgi_shared *sh = sgi_shared_hva(vm);
	int i;

	TEST_ASSERT(nr_vcpus <= SGI_MAX_VCPUS, "%d vCPUs, at most %d",
		    nr_vcpus, SGI_MAX_VCPUS);
	vm_init_descriptor_tables(vm);
	for (i = 0; i < nr_vcpus; i++)
		vcpu_init_descriptor_tables(vcpus[i]);
	vm_install_exception_handler(vm, VECTOR_IRQ_CURRENT, sgi_handler);
	sh->spin_kind = kind;
	sh->nr_vcpus = nr_vcpus;
}

struct sgi_shared *sgi_shared_hva(struct kvm_vm *vm)
{
	return addr_gva2hva(vm, (vm_vaddr_t)&sgi_shared);
}

uint64_t sgi_post(struct sgi_shared *sh, int id, const struct sgi_vcpu *tmpl)
{
	struct sgi_vcpu *v = &sh->vcpu[id];
	uint64_t seq = READ_ONCE(v->seq) + 1;

	WRITE_ONCE(v->cmd, tmpl->cmd);
	WRITE_ONCE(v->target, tmpl->target);
	WRITE_ONCE(v->sgi1r, tmpl->sgi1r);
	WRITE_ONCE(v->rounds, tmpl->rounds);
	__sync_synchronize();
	WRITE_ONCE(v->seq, seq);
	return seq;
}

void sgi_wait_done(struct sgi_shared *sh, int id, uint64_t seq, int timeout_ms)
{
	double end = vsched_now_ms() + timeout_ms;

	while (READ_ONCE(sh->vcpu[id].done) < seq) {
		TEST_ASSERT(vsched_now_ms() < end,
			    "vCPU %d has not finished command %lu (cmd %u) after %d ms: started %lu",
			    id, seq, READ_ONCE(sh->vcpu[id].cmd), timeout_ms,
			    READ_ONCE(sh->vcpu[id].started));
		usleep(200);
	}
}

void sgi_wait_ready(struct sgi_shared *sh, int id, int timeout_ms)
{
	double end = vsched_now_ms() + timeout_ms;

	while (!READ_ONCE(sh->vcpu[id].ready)) {
		TEST_ASSERT(vsched_now_ms() < end, "vCPU %d not in its command loop after %d ms",
			    id, timeout_ms);
		usleep(200);
	}
}

void sgi_stop(struct sgi_shared *sh, int id, uint64_t seq, int timeout_ms)
{
	WRITE_ONCE(sh->vcpu[id].stop, seq);
	sgi_wait_done(sh, id, seq, timeout_ms);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t sgi_rtt_median(struct sgi_shared *sh)
{
	uint32_t n = READ_ONCE(sh->nr_rtt);
	uint64_t v[SGI_RTT_MAX];

	if (!n)
		return 0;
	memcpy(v, sh->rtt, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}
