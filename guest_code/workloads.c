// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of the overcommit benchmark workloads (see workloads.h): the
 * parts every architecture shares.  The interrupt controller is in
 * <arch>/workloads.c.
 */
#include "kvm_util.h"
#include "ucall_common.h"
#include "workloads.h"

struct wl_cfg wl_cfg;
struct wl_shared wl_shared;
struct wl_vcpu wl_vcpu[WL_MAX_VCPUS];

/*
 * Spins with @s until @cond holds; false if the host asked to stop first.
 * Every wait of every workload goes through here.
 */
#define wl_wait(v, s, cond)						\
({									\
	bool __ok = true;						\
									\
	while (!(cond)) {						\
		if (READ_ONCE(wl_shared.stop)) {			\
			__ok = false;					\
			break;						\
		}							\
		WRITE_ONCE((v)->spins, (v)->spins + 1);			\
		guest_spin_relax(s);					\
	}								\
	__ok;								\
})

/* Integer-only busy work (no SSE: some hosts emulate guest code). */
static uint64_t wl_compute(uint64_t iters, uint64_t x)
{
	uint64_t i;

	x |= 1;
	for (i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		asm volatile("" : "+r"(x));
	}
	return x;
}

static void wl_unit_done(struct wl_vcpu *v)
{
	WRITE_ONCE(v->units, v->units + 1);
}

static void wl_send(struct wl_vcpu *v, uint32_t dest)
{
	wl_arch_send_ipi(dest);
	WRITE_ONCE(v->ipis_sent, v->ipis_sent + 1);
}

void wl_ipi_received(uint32_t me)
{
	struct wl_vcpu *v = &wl_vcpu[me];

	WRITE_ONCE(v->ipis_received, v->ipis_received + 1);
	switch (wl_cfg.kind) {
	case WL_PIPELINE:
		/* Queue first: a sender that sees the ack also sees the item. */
		__atomic_add_fetch(&v->inbox, 1, __ATOMIC_SEQ_CST);
		WRITE_ONCE(v->ack, READ_ONCE(v->post));
		break;
	case WL_BARRIER:
		WRITE_ONCE(v->released, READ_ONCE(wl_shared.barrier_gen));
		break;
	default:
		break;
	}
}

static void wl_pipeline(uint32_t me, struct guest_spin *s)
{
	struct wl_vcpu *v = &wl_vcpu[me];
	struct wl_vcpu *next = me + 1 < wl_cfg.nr_vcpus ? &wl_vcpu[me + 1] : NULL;
	uint64_t seq = 0;

	while (!READ_ONCE(wl_shared.stop)) {
		if (me) {
			if (!wl_wait(v, s, READ_ONCE(v->inbox)))
				return;
			__atomic_sub_fetch(&v->inbox, 1, __ATOMIC_SEQ_CST);
		}
		v->sink ^= wl_compute(wl_cfg.work, v->sink + me);
		if (!next) {
			wl_unit_done(v);
			continue;
		}
		/* Back-pressure, then hand the item on and wait for the ack. */
		if (!wl_wait(v, s, READ_ONCE(next->inbox) < WL_PIPE_DEPTH))
			return;
		WRITE_ONCE(next->post, ++seq);
		wl_send(v, me + 1);
		if (!wl_wait(v, s, READ_ONCE(next->ack) == seq))
			return;
	}
}

static void wl_barrier(uint32_t me, struct guest_spin *s)
{
	struct wl_vcpu *v = &wl_vcpu[me];
	uint32_t n = wl_cfg.nr_vcpus, j;
	uint64_t gen = 0;

	while (!READ_ONCE(wl_shared.stop)) {
		v->sink ^= wl_compute(wl_cfg.work, v->sink + me);
		if (__atomic_add_fetch(&wl_shared.arrived, 1, __ATOMIC_SEQ_CST) == n) {
			/* Last one in: reset, release everyone, wait for each ack. */
			WRITE_ONCE(wl_shared.arrived, 0);
			WRITE_ONCE(wl_shared.barrier_gen, gen + 1);
			wl_unit_done(v);
			for (j = 0; j < n; j++)
				if (j != me)
					wl_send(v, j);
			for (j = 0; j < n; j++)
				if (j != me &&
				    !wl_wait(v, s, READ_ONCE(wl_vcpu[j].released) == gen + 1))
					return;
		} else if (!wl_wait(v, s, READ_ONCE(v->released) == gen + 1)) {
			return;
		}
		gen++;
	}
}

static void wl_ticketlock(uint32_t me, struct guest_spin *s)
{
	struct wl_vcpu *v = &wl_vcpu[me];
	uint32_t ticket;

	while (!READ_ONCE(wl_shared.stop)) {
		ticket = __atomic_fetch_add(&wl_shared.next_ticket, 1, __ATOMIC_SEQ_CST);
		if (!wl_wait(v, s, __atomic_load_n(&wl_shared.serving, __ATOMIC_ACQUIRE) == ticket))
			return;
		/* Critical section: a quarter of a unit's work. */
		v->sink ^= wl_compute(wl_cfg.work / 4, v->sink + me);
		WRITE_ONCE(wl_shared.locked_units, wl_shared.locked_units + 1);
		__atomic_store_n(&wl_shared.serving, ticket + 1, __ATOMIC_RELEASE);
		wl_unit_done(v);
		v->sink ^= wl_compute(wl_cfg.work, v->sink + me);
	}
}

static void wl_compute_only(uint32_t me)
{
	struct wl_vcpu *v = &wl_vcpu[me];

	while (!READ_ONCE(wl_shared.stop)) {
		v->sink ^= wl_compute(wl_cfg.work, v->sink + me);
		wl_unit_done(v);
	}
}

void wl_guest_main(uint32_t idx)
{
	struct guest_spin s;

	GUEST_ASSERT(idx < wl_cfg.nr_vcpus && wl_cfg.nr_vcpus <= WL_MAX_VCPUS);
	wl_vcpu[idx].idx = idx;
	guest_spin_init(&s, wl_cfg.spin);
	if (wl_kind_uses_ipis(wl_cfg.kind))
		wl_arch_guest_init(idx);

	/*
	 * Nobody starts before every vCPU can take an IPI: an IPI to a vCPU
	 * whose APIC is still off would be lost, and its sender wait forever.
	 */
	__atomic_add_fetch(&wl_shared.started, 1, __ATOMIC_SEQ_CST);
	if (!wl_wait(&wl_vcpu[idx], &s, READ_ONCE(wl_shared.started) == wl_cfg.nr_vcpus))
		GUEST_DONE();

	switch (wl_cfg.kind) {
	case WL_PIPELINE:
		wl_pipeline(idx, &s);
		break;
	case WL_BARRIER:
		wl_barrier(idx, &s);
		break;
	case WL_TICKETLOCK:
		wl_ticketlock(idx, &s);
		break;
	case WL_COMPUTE:
		wl_compute_only(idx);
		break;
	default:
		GUEST_FAIL("unknown workload %u", wl_cfg.kind);
	}
	GUEST_DONE();
}
