/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VSCHED_TRACE_H
#define VSCHED_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Starts (or restarts) counting KVM's interrupt re-injections (kvm_inj_virq
 * with reinjected=1) when this is an x86 L1 under QEMU TCG; false elsewhere.
 */
bool reinject_watch_start(void);
/* Re-injections of @vector by the vCPU thread @tid since the start. */
uint64_t reinject_count(pid_t tid, uint32_t vector);
/*
 * @dups extra deliveries of @vector were seen on the vCPU run by @tid: the
 * test fails unless each is matched by a re-injection under QEMU TCG.
 */
void irq_dups_check(const char *who, pid_t tid, uint32_t vector, uint64_t dups);

#endif /* VSCHED_TRACE_H */
