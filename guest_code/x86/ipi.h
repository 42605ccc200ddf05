/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * x86 IPI scenarios for the directed-yield tests, guest and host side.
 *
 * Every vCPU of the VM runs ipi_guest_main(): x2APIC on, interrupts on, and
 * a loop that takes commands from the host through guest memory (struct
 * ipi_shared, reached by the host through ipi_shared_hva() while the vCPUs
 * run).  The host thread stays in charge of the timing: it posts a command,
 * lets it run while it reads stats, and stops it.  Every vCPU counts the
 * IPIs its handler took (and EOIed), so a sender can spin until its
 * receiver acked and time the round trip with the TSC.
 *
 * A vCPU can also be parked in guest user mode (CPL 3) with interrupts off,
 * as a preempted vCPU that the stock "preempted in kernel" rule rejects:
 * ipi_vcpu_set_user_loop(), before it first runs.
 */
#ifndef VSCHED_X86_IPI_H
#define VSCHED_X86_IPI_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "spin.h"

#define IPI_VECTOR		0xe0
#define IPI_MAX_VCPUS		1024
#define IPI_RTT_MAX		4096

enum ipi_cmd {
	IPI_CMD_IDLE,		/* busy-wait (CPL 0, IF=1) for the next command */
	IPI_CMD_SEND_WAIT,	/* rounds: IPI to @target, spin until it acked */
	IPI_CMD_SPIN,		/* spin with the spin primitive, no IPI sent */
	IPI_CMD_SEND,		/* write @icr once, then idle */
	IPI_CMD_CLI,		/* interrupts off, busy until the next command */
	IPI_CMD_HALT,		/* STI; HLT until the next command (and an IRQ) */
	IPI_CMD_YIELD_WAIT,	/* IPI to @target, KVM_HC_SCHED_YIELD until acked */
	IPI_CMD_EXIT,		/* GUEST_DONE */
};

struct ipi_vcpu {
	/* Written by the host. */
	uint64_t seq;		/* a new command when it changes */
	uint64_t stop;		/* == seq: end a SPIN/SEND_WAIT/YIELD_WAIT */
	uint32_t cmd;
	uint32_t target;	/* x2APIC ID (== vCPU ID) of the receiver */
	uint64_t icr;		/* IPI_CMD_SEND: the x2APIC ICR value */
	uint64_t rounds;	/* SEND_WAIT: at most this many rounds */
	/* Written by the guest. */
	uint64_t started;	/* seq of the command it is running */
	uint64_t done;		/* seq of the last command it finished */
	uint64_t ready;		/* x2APIC and interrupts on, in the command loop */
	uint64_t irqs;		/* IPI_VECTOR interrupts taken and EOIed */
	uint64_t sent;		/* IPIs sent by the last command */
	uint64_t acked;		/* ... and acked by their receiver */
	uint64_t relax;		/* spin steps of the last command */
	uint64_t hypercalls;	/* KVM_HC_SCHED_YIELD calls of the last command */
	uint64_t hc_ret_bad;	/* ... that returned something else than 0 */
};

struct ipi_shared {
	uint32_t spin_kind;	/* enum spin_kind of the spinning commands */
	uint32_t nr_rtt;	/* round trips recorded by the last SEND_WAIT */
	uint64_t rtt[IPI_RTT_MAX];	/* guest TSC cycles, send to ack seen */
	struct ipi_vcpu vcpu[IPI_MAX_VCPUS];
};

extern struct ipi_shared ipi_shared;

/* Guest entry point of every vCPU (vm_vcpu_add(vm, id, ipi_guest_main)). */
void ipi_guest_main(void);

/* --- Host side ------------------------------------------------------------ */

/* Once per VM, before any vCPU runs: the handler and the spin primitive. */
void ipi_vm_setup(struct kvm_vm *vm, enum spin_kind kind);
/* The guest's struct ipi_shared, live (the vCPUs may be running). */
struct ipi_shared *ipi_shared_hva(struct kvm_vm *vm);

/*
 * Posts a command to vCPU @id: fills the fields from @tmpl (cmd, target,
 * icr, rounds) and bumps seq.  Returns the new seq.
 */
uint64_t ipi_post(struct ipi_shared *sh, int id, const struct ipi_vcpu *tmpl);
/* Waits until vCPU @id runs its command loop; fails after @timeout_ms. */
void ipi_wait_ready(struct ipi_shared *sh, int id, int timeout_ms);
/* Waits until vCPU @id started command @seq; fails after @timeout_ms. */
void ipi_wait_started(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms);
/* Waits until vCPU @id finished command @seq; fails after @timeout_ms. */
void ipi_wait_done(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms);
/* Ends command @seq of vCPU @id (SPIN, SEND_WAIT, YIELD_WAIT) and waits. */
void ipi_stop(struct ipi_shared *sh, int id, uint64_t seq, int timeout_ms);
/*
 * Round trips from vCPU @from to vCPU @to (SEND_WAIT) until @rounds are acked
 * or @ms have passed; returns the ones acked. A phase the host stops may end
 * with one IPI sent and not yet taken by a preempted receiver: it waits until
 * @to has taken it, so that its EOI counts in this phase and not in the next;
 * an IPI not taken in @timeout_ms fails the test (a lost interrupt).
 */
uint64_t ipi_round_trips(struct ipi_shared *sh, int from, int to, uint64_t rounds, int ms,
			 int timeout_ms);
/* Posts @cmd with no arguments and waits until it started. */
uint64_t ipi_set_mode(struct ipi_shared *sh, int id, enum ipi_cmd cmd);

/*
 * True when KVM virtualizes IPIs/EOIs (APICv, AVIC): the series does not
 * track them then (by design), so its IPI assertions cannot hold.
 */
bool ipi_apicv_enabled(void);

/* The median of the last SEND_WAIT's round trips (0 when none). */
uint64_t ipi_rtt_median(struct ipi_shared *sh);

/*
 * Before vCPU @vcpu first runs: start it in guest user mode (CPL 3),
 * interrupts off, in a PAUSE loop that never exits to the host.  Such a
 * vCPU never finishes: the host stops its thread with a signal.
 */
void ipi_vcpu_set_user_loop(struct kvm_vm *vm, struct kvm_vcpu *vcpu);

/* Its guest code: PAUSE; JMP back, alone on a page, never touching memory. */
extern char ipi_user_loop[];

#endif /* VSCHED_X86_IPI_H */
