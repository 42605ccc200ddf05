/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host-side pressure for the scheduling-out/reload tests: antagonist threads
 * pinned to every pCPU, a migrator that moves vCPU threads between pCPUs
 * (alternating NUMA nodes when there is more than one), and the proof that a
 * vCPU thread was really preempted and moved while the guest ran.
 */
#ifndef VSCHED_PREEMPT_H
#define VSCHED_PREEMPT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvm_util.h"
#include "ucall_common.h"
#include "vsched.h"

#define PREEMPT_MAX_CPUS	64
#define PREEMPT_MAX_ANTS	128
#define PREEMPT_MAX_TIDS	16

struct preempt_env {
	int nr_cpus;
	int nr_nodes;
	/* The CPUs in migration order: consecutive entries alternate nodes. */
	int order[PREEMPT_MAX_CPUS];
	int cpus[PREEMPT_MAX_CPUS];

	int nr_ants;
	pthread_t ants[PREEMPT_MAX_ANTS];
	bool migrator_running;
	pthread_t migrator;
	unsigned int migrate_us;
	uint64_t migrator_passes;

	pthread_mutex_t lock;
	int nr_tids;
	pid_t tids[PREEMPT_MAX_TIDS];
	int pos[PREEMPT_MAX_TIDS];
	int cur_cpu[PREEMPT_MAX_TIDS];
	uint64_t moves[PREEMPT_MAX_TIDS];

	bool stop;
};

/* Finds the usable CPUs and their nodes (from /sys, one node without it). */
void preempt_env_init(struct preempt_env *env);
/* @per_cpu busy threads pinned to each usable CPU. */
void preempt_start_antagonists(struct preempt_env *env, int per_cpu);
/* Registers a thread for the migrator; returns its index. */
int preempt_add_tid(struct preempt_env *env, pid_t tid);
/* Every @interval_us, moves each registered thread to its next CPU. */
void preempt_start_migrator(struct preempt_env *env, unsigned int interval_us);
/* Moves registered thread @idx to its next CPU now; returns the CPU. */
int preempt_move_tid(struct preempt_env *env, int idx);
uint64_t preempt_moves(struct preempt_env *env, int idx);
/* Stops and joins every helper thread, failing after a bounded wait. */
void preempt_stop(struct preempt_env *env);

/* Joins @thread, failing the test after @timeout_s seconds. */
void preempt_join_timeout(pthread_t thread, unsigned int timeout_s,
			  const char *what);

/* Counters of one vCPU thread over a run. */
struct sched_proof {
	char name[32];
	struct vcpu_stats *stats;	/* NULL without the series' stats */
	pid_t tid;
	int env_idx;			/* in the migrator, or -1 */
	struct thread_sched t0, t1;
	uint64_t s0[4], s1[4];
};

struct sched_proof_min {
	uint64_t involuntary;		/* involuntary context switches */
	uint64_t moves;			/* pCPU changes */
};

/* In the main thread, before the vCPU runs (opens the stats fd). */
void sched_proof_init(struct sched_proof *p, struct kvm_vcpu *vcpu);
/* In the vCPU thread, before its first and after its last KVM_RUN. */
void sched_proof_begin(struct sched_proof *p);
void sched_proof_end(struct sched_proof *p);
/*
 * Prints the counters and fails the test when the thread was preempted or
 * moved fewer times than @min says; @env may be NULL (no migrator).
 */
void sched_proof_check(struct sched_proof *p, struct preempt_env *env,
		       const struct sched_proof_min *min);
void sched_proof_free(struct sched_proof *p);

/* One vCPU thread that runs its vCPU until UCALL_DONE. */
struct vcpu_runner;
/* Handles a ucall other than DONE, ABORT and PRINTF; false stops the run. */
typedef bool (*vcpu_ucall_fn)(struct vcpu_runner *r, struct ucall *uc);

struct vcpu_runner {
	struct kvm_vcpu *vcpu;
	struct preempt_env *env;	/* the migrator moves the thread, or NULL */
	vcpu_ucall_fn on_ucall;		/* may be NULL */
	void *data;
	struct sched_proof proof;
	pthread_t thread;
	uint64_t exits;			/* KVM_RUN returns */
};

/* From the main thread: opens the proof's stats fd and starts the thread. */
void vcpu_runner_start(struct vcpu_runner *r);
void vcpu_runner_join(struct vcpu_runner *r, unsigned int timeout_s);

#endif /* VSCHED_PREEMPT_H */
