// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host-side helpers of the directed-yield scenario tests (yield_util.h).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vsched.h"
#include "yield_util.h"

static void pin_self(int cpu)
{
	int ret;

	if (cpu < 0)
		return;
	ret = vsched_pin_tid(vsched_gettid(), cpu);
	TEST_ASSERT(!ret, "pin thread %d to CPU %d: %s", vsched_gettid(), cpu,
		    strerror(-ret));
}

static void ysig_handler(int sig)
{
}

static void *yvcpu_thread(void *arg)
{
	struct yvcpu *y = arg;
	struct ucall uc;
	int ret;

	pin_self(y->cpu);
	while (!READ_ONCE(y->stop)) {
		ret = __vcpu_run(y->vcpu);
		if (ret && errno == EINTR)
			continue;
		TEST_ASSERT(!ret, KVM_IOCTL_ERROR(KVM_RUN, ret));
		switch (get_ucall(y->vcpu, &uc)) {
		case UCALL_DONE:
			WRITE_ONCE(y->exited, true);
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		case UCALL_SYNC:
		case UCALL_PRINTF:
			break;
		default:
			TEST_FAIL("vCPU %u (%s): unexpected exit %s",
				  y->vcpu->id, y->role,
				  exit_reason_str(y->vcpu->run->exit_reason));
		}
	}
	WRITE_ONCE(y->exited, true);
	return NULL;
}

void yvcpu_start(struct yvcpu *y)
{
	static bool sig_installed;
	struct sigaction sa = { .sa_handler = ysig_handler };
	int ret;

	if (!sig_installed) {
		sigaction(SIGUSR2, &sa, NULL);
		sig_installed = true;
	}
	if (!y->stats)
		y->stats = vcpu_stats_open(y->vcpu);
	y->stop = false;
	y->exited = false;
	ret = pthread_create(&y->thread, NULL, yvcpu_thread, y);
	TEST_ASSERT(!ret, "pthread_create: %s", strerror(ret));
	y->started = true;
}

void yvcpu_join(struct yvcpu *y, unsigned int timeout_s)
{
	double end = vsched_now_ms() + timeout_s * 1000.0;

	if (!y->started)
		return;
	if (y->signal_stop)
		WRITE_ONCE(y->stop, true);
	while (!READ_ONCE(y->exited)) {
		TEST_ASSERT(vsched_now_ms() < end, "vCPU %u (%s) thread still running after %u s",
			    y->vcpu->id, y->role, timeout_s);
		if (y->signal_stop)
			pthread_kill(y->thread, SIGUSR2);
		usleep(1000);
	}
	pthread_join(y->thread, NULL);
	y->started = false;
	vcpu_stats_close(y->stats);
	y->stats = NULL;
}

struct yant_arg {
	struct yants *a;
	int cpu;
};

static void *yant_thread(void *arg)
{
	struct yants *a = ((struct yant_arg *)arg)->a;
	int cpu = ((struct yant_arg *)arg)->cpu;
	uint64_t n = 0;

	free(arg);
	pin_self(cpu);
	while (!READ_ONCE(a->stop))
		WRITE_ONCE(n, n + 1);
	return NULL;
}

void yants_start(struct yants *a, int cpu, int nr)
{
	struct yant_arg *arg;
	int i, ret;

	for (i = 0; i < nr; i++) {
		TEST_ASSERT(a->nr < YANT_MAX, "more than %d antagonists", YANT_MAX);
		arg = malloc(sizeof(*arg));
		TEST_ASSERT(arg, "out of memory");
		arg->a = a;
		arg->cpu = cpu;
		a->cpu[a->nr] = cpu;
		ret = pthread_create(&a->thread[a->nr], NULL, yant_thread, arg);
		TEST_ASSERT(!ret, "pthread_create: %s", strerror(ret));
		a->nr++;
	}
}

void yants_stop(struct yants *a)
{
	int i;

	WRITE_ONCE(a->stop, true);
	for (i = 0; i < a->nr; i++)
		pthread_join(a->thread[i], NULL);
	a->nr = 0;
	a->stop = false;
}

const char * const ystat_names[NR_YSTATS] = {
	[YS_SPIN] = "spin_entries",
	[YS_T1] = "yield_tier_ipi",
	[YS_T2] = "yield_tier_intr",
	[YS_T3] = "yield_tier_preempted",
	[YS_RELAXED] = "yield_relaxed",
	[YS_ATT] = "spin_yield_attempted",
	[YS_OK] = "spin_yield_successful",
	[YS_SENT] = "ipi_sent_tracked",
	[YS_EOI] = "ipi_eoi_cleared",
	[YS_SCHED_IN] = "sched_in",
	[YS_PREEMPTED] = "sched_out_preempted",
	[YS_DY_ATT] = "directed_yield_attempted",
	[YS_DY_OK] = "directed_yield_successful",
};

/* Short column headers, same order. */
static const char * const ystat_cols[NR_YSTATS] = {
	"spin", "t1_ipi", "t2_intr", "t3_pre", "relax", "y_att", "y_ok",
	"ipi_sent", "eoi_clr", "sch_in", "pre_out", "dy_att", "dy_ok",
};

void ysnap_read(struct yvcpu *y, struct ysnap *s)
{
	struct vcpu_stats *st = y->stats ? y->stats : vcpu_stats_open(y->vcpu);
	int i;

	for (i = 0; i < NR_YSTATS; i++)
		if (!vcpu_stats_get(st, ystat_names[i], &s->v[i]))
			s->v[i] = YSTAT_ABSENT;
	if (st != y->stats)
		vcpu_stats_close(st);
}

uint64_t ysnap_delta(const struct ysnap *before, const struct ysnap *after, int i)
{
	if (before->v[i] == YSTAT_ABSENT || after->v[i] == YSTAT_ABSENT)
		return 0;
	return after->v[i] - before->v[i];
}

void ysnap_print(const char *title, struct yvcpu *ys, int nr,
		 const struct ysnap *before, const struct ysnap *after)
{
	char line[512];
	int i, j, n;

	ksft_print_msg("%s\n", title);
	n = snprintf(line, sizeof(line), "  %-5s %-4s", "vcpu", "role");
	for (j = 0; j < NR_YSTATS; j++)
		if (after[0].v[j] != YSTAT_ABSENT)
			n += snprintf(line + n, sizeof(line) - n, " %8s", ystat_cols[j]);
	ksft_print_msg("%s\n", line);
	for (i = 0; i < nr; i++) {
		n = snprintf(line, sizeof(line), "  %-5u %-4s", ys[i].vcpu->id,
			     ys[i].role ? ys[i].role : "");
		for (j = 0; j < NR_YSTATS; j++)
			if (after[0].v[j] != YSTAT_ABSENT)
				n += snprintf(line + n, sizeof(line) - n, " %8lu",
					      ysnap_delta(&before[i], &after[i], j));
		ksft_print_msg("%s\n", line);
	}
}

int ycpus(int *cpus, int max)
{
	cpu_set_t set;
	int i, n = 0;

	TEST_ASSERT(!sched_getaffinity(0, sizeof(set), &set), "sched_getaffinity");
	for (i = 0; i < CPU_SETSIZE && n < max; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}

void yparam_bool(const char *name, bool on)
{
	vsched_param_set(name, on ? "Y" : "N");
}
