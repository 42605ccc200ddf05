/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VSCHED_TRACE_H
#define VSCHED_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Starts (or restarts) recording KVM's interrupt injections (kvm_inj_virq)
 * when this is an x86 L1 under QEMU TCG; false elsewhere.
 */
bool irq_watch_start(void);
/*
 * The vCPU run by @tid took @taken interrupts of @vector for @raised that
 * the test raised.  Fewer fails; more fails too, unless this is QEMU TCG
 * and KVM's record shows it injected each raised interrupt exactly once (the
 * extra deliveries are then the emulated CPU's, and are printed).
 */
void irq_dups_check(const char *who, pid_t tid, uint32_t vector, uint64_t raised,
		    uint64_t taken);

#endif /* VSCHED_TRACE_H */
