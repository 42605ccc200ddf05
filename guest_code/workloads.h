/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest workloads of the overcommit benchmarks (bench/vsched_bench.c).
 *
 * Every vCPU of a VM runs wl_guest_main(idx) until the host sets
 * wl_shared.stop; each counts the work units it finished in
 * wl_vcpu[idx].units, which the host reads live (guest memory, no exit)
 * at both ends of a fixed wall-clock window.
 *
 *  - WL_PIPELINE (dedup-like): vCPU i is stage i.  A stage computes one
 *    item, posts it to stage i+1, sends it an IPI and spins until the
 *    receiver's IPI handler acknowledges it.  A unit is an item through
 *    the last stage.
 *  - WL_BARRIER (vips-like): every vCPU computes a slice, then meets the
 *    others at a barrier; the last to arrive releases each waiter with an
 *    IPI and spins until every waiter's handler has acknowledged it (the
 *    way smp_call_function_many() waits).  A unit is one barrier round.
 *  - WL_TICKETLOCK: a ticket spinlock in guest memory, contended by every
 *    vCPU: lock, short critical section, unlock, longer private work.
 *    A unit is one critical section; the host checks mutual exclusion.
 *  - WL_COMPUTE: the control, compute only, no synchronisation at all.
 *
 * Every wait spins with the chosen primitive (spin.h) and gives up once
 * the host sets the stop flag, so a VM always ends.
 */
#ifndef VSCHED_WORKLOADS_H
#define VSCHED_WORKLOADS_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/compiler.h>

#include "spin.h"

#define WL_MAX_VCPUS		16
/* Items a pipeline stage may have queued before its sender waits. */
#define WL_PIPE_DEPTH		2

enum wl_kind {
	WL_PIPELINE,
	WL_BARRIER,
	WL_TICKETLOCK,
	WL_COMPUTE,
	NR_WL_KINDS,
};

/* Set by the host before any vCPU runs. */
struct wl_cfg {
	uint32_t kind;			/* enum wl_kind */
	uint32_t nr_vcpus;
	uint32_t spin;			/* enum spin_kind */
	uint64_t work;			/* compute iterations of one unit */
};

/* One per vCPU, a cache line each; counters only grow. */
struct wl_vcpu {
	uint32_t idx;			/* first: the IPI handler reads it via %gs */
	uint32_t pad;
	uint64_t units;			/* work units finished */
	uint64_t ipis_sent;
	uint64_t ipis_received;
	uint64_t spins;			/* spin-wait iterations */
	uint64_t sink;			/* compute results, so they are kept */
	/* pipeline: items queued for this stage, last posted and acked item */
	uint32_t inbox;
	uint32_t pad2;
	uint64_t post;
	uint64_t ack;
	/* barrier: the generation this vCPU was released into */
	uint64_t released;
} __aligned(64);

struct wl_shared {
	uint32_t stop;
	uint32_t started;		/* vCPUs past their set-up */
	uint32_t arrived;		/* barrier */
	uint64_t barrier_gen;

	/* The ticket lock: each word on a cache line of its own. */
	uint32_t next_ticket __aligned(64);
	uint32_t serving __aligned(64);
	uint64_t locked_units;		/* incremented inside the ticket lock */
};

extern struct wl_cfg wl_cfg;
extern struct wl_shared wl_shared;
extern struct wl_vcpu wl_vcpu[WL_MAX_VCPUS];

static inline const char *wl_kind_name(unsigned int kind)
{
	static const char * const names[NR_WL_KINDS] = {
		[WL_PIPELINE] = "pipeline",
		[WL_BARRIER] = "barrier",
		[WL_TICKETLOCK] = "ticketlock",
		[WL_COMPUTE] = "compute",
	};

	return kind < NR_WL_KINDS ? names[kind] : "?";
}

static inline bool wl_kind_uses_ipis(unsigned int kind)
{
	return kind == WL_PIPELINE || kind == WL_BARRIER;
}

/* Guest entry point of every vCPU: vcpu_args_set(vcpu, 1, idx). */
void wl_guest_main(uint32_t idx);

/* Guest, common part: what an IPI means to the workload of vCPU @me. */
void wl_ipi_received(uint32_t me);

/*
 * Arch part, guest side: per-vCPU set-up (interrupt controller, interrupts
 * on), sending the workload IPI to vCPU @dest.
 */
void wl_arch_guest_init(uint32_t idx);
void wl_arch_send_ipi(uint32_t dest);

/*
 * Arch part, host side.  wl_arch_ipis_supported() tells whether this
 * architecture has the IPI workloads; wl_arch_vm_setup() runs once every
 * vCPU of @vm exists, before any of them runs, and returns a file
 * descriptor to close once the VM is freed, or -1.
 */
struct kvm_vm;
struct kvm_vcpu;
bool wl_arch_ipis_supported(void);
int wl_arch_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, uint32_t nr_vcpus);

#endif /* VSCHED_WORKLOADS_H */
