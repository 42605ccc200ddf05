/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host-side helpers of the directed-yield scenario tests: vCPU threads
 * pinned to one pCPU, antagonist threads that preempt them there, and
 * snapshots of the series' per-vCPU yield and IPI stats, printed as tables.
 */
#ifndef VSCHED_YIELD_UTIL_H
#define VSCHED_YIELD_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "vsched.h"

/* --- vCPU threads ---------------------------------------------------------- */

struct yvcpu {
	struct kvm_vcpu *vcpu;
	int cpu;			/* pinned there, or -1 */
	const char *role;		/* for the tables: "S", "R", "B"... */
	pthread_t thread;
	bool started;
	bool signal_stop;		/* never returns by itself: stop with a signal */
	bool stop;
	bool exited;
	struct vcpu_stats *stats;	/* binary stats fd, opened at start */
};

/* Runs @y->vcpu in a new thread until GUEST_DONE (or a signal stop). */
void yvcpu_start(struct yvcpu *y);
/* Joins the thread (signalling it first if signal_stop), fails after @timeout_s. */
void yvcpu_join(struct yvcpu *y, unsigned int timeout_s);

/* --- Antagonists ----------------------------------------------------------- */

#define YANT_MAX	16

struct yants {
	int nr;
	pthread_t thread[YANT_MAX];
	int cpu[YANT_MAX];
	bool stop;
};

/* @nr busy threads pinned to @cpu (added to @a; call again for more CPUs). */
void yants_start(struct yants *a, int cpu, int nr);
void yants_stop(struct yants *a);

/* --- Stats ----------------------------------------------------------------- */

enum ystat {
	YS_SPIN,		/* spin_entries */
	YS_T1,			/* yield_tier_ipi */
	YS_T2,			/* yield_tier_intr */
	YS_T3,			/* yield_tier_preempted */
	YS_RELAXED,		/* yield_relaxed */
	YS_ATT,			/* spin_yield_attempted */
	YS_OK,			/* spin_yield_successful */
	YS_SENT,		/* ipi_sent_tracked */
	YS_EOI,			/* ipi_eoi_cleared */
	YS_SCHED_IN,		/* sched_in */
	YS_PREEMPTED,		/* sched_out_preempted */
	YS_DY_ATT,		/* x86: directed_yield_attempted */
	YS_DY_OK,		/* x86: directed_yield_successful */
	NR_YSTATS,
};

#define YSTAT_ABSENT	UINT64_MAX

struct ysnap {
	uint64_t v[NR_YSTATS];		/* YSTAT_ABSENT when the kernel has none */
};

extern const char * const ystat_names[NR_YSTATS];

/* Reads every stat of @y's vCPU. */
void ysnap_read(struct yvcpu *y, struct ysnap *s);
/* @after - @before of stat @i (0 when absent). */
uint64_t ysnap_delta(const struct ysnap *before, const struct ysnap *after, int i);

/*
 * Prints one table: a row per vCPU (@nr of them) with the deltas of every
 * stat the kernel has, headed by @title.
 */
void ysnap_print(const char *title, struct yvcpu *ys, int nr,
		 const struct ysnap *before, const struct ysnap *after);

/* The pCPUs this process may run on: fills @cpus, returns how many. */
int ycpus(int *cpus, int max);

/* Sets a kvm bool parameter to Y/N. */
void yparam_bool(const char *name, bool on);

#endif /* VSCHED_YIELD_UTIL_H */
