/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * arm64 SGI scenarios for the directed-yield tests, guest and host side.
 *
 * Every vCPU runs sgi_guest_main(): vGICv3 CPU interface on, the SGI
 * enabled, IRQs unmasked, and a loop that takes commands from the host
 * through guest memory (struct sgi_shared, live through sgi_shared_hva()).
 * The IRQ handler acknowledges, counts and EOIs (EOImode 0: also
 * deactivates) each SGI, then SEVs so that a WFE spinner notices.
 */
#ifndef VSCHED_ARM64_SGI_H
#define VSCHED_ARM64_SGI_H

#include <stdint.h>

#include "kvm_util.h"
#include "spin.h"

#define SGI_INTID	5
#define SGI_MAX_VCPUS	64
#define SGI_RTT_MAX	2048

enum sgi_cmd {
	SGI_CMD_IDLE,		/* busy-wait (IRQs on) for the next command */
	SGI_CMD_SEND_WAIT,	/* rounds: SGI to @target, spin until it acked */
	SGI_CMD_SPIN,		/* spin with the spin primitive, no SGI */
	SGI_CMD_SEND,		/* write @sgi1r to ICC_SGI1R_EL1 once */
	SGI_CMD_EXIT,		/* GUEST_DONE */
};

struct sgi_vcpu {
	/* Written by the host. */
	uint64_t seq;
	uint64_t stop;		/* == seq: end a SPIN/SEND_WAIT */
	uint32_t cmd;
	uint32_t target;	/* vCPU index (Aff1 = idx / 16, Aff0 = idx % 16) */
	uint64_t sgi1r;
	uint64_t rounds;
	/* Written by the guest. */
	uint64_t started;
	uint64_t done;
	uint64_t ready;		/* GIC and IRQs on, in the command loop */
	uint64_t irqs;		/* SGI_INTID taken and EOIed */
	uint64_t sent;
	uint64_t acked;
	uint64_t relax;
};

struct sgi_shared {
	uint32_t spin_kind;
	uint32_t nr_vcpus;	/* for gic_init() */
	uint32_t nr_rtt;
	uint64_t rtt[SGI_RTT_MAX];	/* CNTVCT ticks, send to ack seen */
	struct sgi_vcpu vcpu[SGI_MAX_VCPUS];
};

extern struct sgi_shared sgi_shared;

/* The ICC_SGI1R_EL1 value of SGI_INTID to the one vCPU @idx. */
uint64_t sgi1r_to(uint32_t idx);

void sgi_guest_main(void);

/* Host: after every vCPU is added, before the vGIC is set up. */
void sgi_vm_setup(struct kvm_vm *vm, struct kvm_vcpu **vcpus, int nr_vcpus,
		  enum spin_kind kind);
struct sgi_shared *sgi_shared_hva(struct kvm_vm *vm);
uint64_t sgi_post(struct sgi_shared *sh, int id, const struct sgi_vcpu *tmpl);
void sgi_wait_done(struct sgi_shared *sh, int id, uint64_t seq, int timeout_ms);
void sgi_wait_ready(struct sgi_shared *sh, int id, int timeout_ms);
void sgi_stop(struct sgi_shared *sh, int id, uint64_t seq, int timeout_ms);
uint64_t sgi_rtt_median(struct sgi_shared *sh);

#endif /* VSCHED_ARM64_SGI_H */
