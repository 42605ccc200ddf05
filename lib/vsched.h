/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host-side helpers of kvm-vsched, on top of the KVM selftest library:
 * the kernel series' knobs and counters (see docs/INTERFACES.md) and the
 * scheduler's per-thread counters that prove a race was really exercised.
 */
#ifndef VSCHED_H
#define VSCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvm_util.h"

/* --- The kernel series ------------------------------------------------ */

/* True when the IPI-aware directed yield series is in the running kernel. */
bool vsched_series_applied(void);

/* True when the per-vCPU scheduling stats (patch 1) are present. */
bool vsched_sched_stats_present(struct kvm_vcpu *vcpu);

/*
 * kvm module parameters, /sys/module/kvm/parameters/<name>.
 * vsched_param_read/write return 0 or -errno (a rejected value gives -EINVAL).
 */
int vsched_param_read(const char *name, char *buf, size_t size);
int vsched_param_write(const char *name, const char *value);
uint64_t vsched_param_u64(const char *name);
bool vsched_param_bool(const char *name);
void vsched_param_set(const char *name, const char *value);

/* --- Per-vCPU binary stats (KVM_GET_STATS_FD) -------------------------- */

struct vcpu_stats;

struct vcpu_stats *vcpu_stats_open(struct kvm_vcpu *vcpu);
void vcpu_stats_close(struct vcpu_stats *stats);
/* False when the kernel has no stat of that name. */
bool vcpu_stats_get(struct vcpu_stats *stats, const char *name, uint64_t *value);
/* The stat's value; the test fails if the kernel has no stat of that name. */
uint64_t vcpu_stats_value(struct vcpu_stats *stats, const char *name);

/*
 * One-shot forms, for a stat read now and then.  They open a stats fd, a vCPU
 * ioctl that waits for the vCPU mutex: only while the vCPU is not in KVM_RUN
 * (its thread would block until the guest exits to userspace, maybe never).
 */
bool vcpu_stat_get(struct kvm_vcpu *vcpu, const char *name, uint64_t *value);
uint64_t vcpu_stat(struct kvm_vcpu *vcpu, const char *name);

/* --- Per-vCPU debugfs ---------------------------------------------------- */

/* /sys/kernel/debug/kvm/<pid>-<vm fd>/vcpu<id>/<file>: 0 or -errno. */
int vcpu_debugfs_read(struct kvm_vm *vm, int vcpu_id, const char *file,
		      char *buf, size_t size);

struct ipi_context {
	int receiver;		/* last vCPU this one sent a tracked IPI to, or -1 */
	int64_t receiver_age_ns;
	int pending;		/* the receiver has not EOIed that IPI yet */
	int sender;		/* last vCPU that sent this one a tracked IPI, or -1 */
	int64_t sender_age_ns;
};

/* Parses the series' ipi_context file: 0, or -errno when it is missing. */
int vcpu_ipi_context(struct kvm_vm *vm, int vcpu_id, struct ipi_context *ctx);

/* --- Scheduler counters of one thread ------------------------------------ */

struct thread_sched {
	uint64_t voluntary;	/* context switches: the thread blocked */
	uint64_t involuntary;	/* context switches: the thread was preempted */
	uint64_t migrations;	/* CPU changes (se.nr_migrations) */
	bool have_migrations;	/* false without /proc/.../sched */
	int last_cpu;		/* the CPU it last ran on */
};

/* Reads the counters of thread @tid of this process. */
void thread_sched_read(pid_t tid, struct thread_sched *ts);
/* @after minus @before, field by field (last_cpu from @after). */
void thread_sched_delta(const struct thread_sched *before,
			const struct thread_sched *after,
			struct thread_sched *delta);

pid_t vsched_gettid(void);
int vsched_nr_cpus(void);
/* Pins thread @tid to CPU @cpu; returns 0 or -errno. */
int vsched_pin_tid(pid_t tid, int cpu);

/* CLOCK_MONOTONIC, in seconds and in milliseconds. */
double vsched_now(void);
double vsched_now_ms(void);

#endif /* VSCHED_H */
