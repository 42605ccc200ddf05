// SPDX-License-Identifier: GPL-2.0-only
/*
 * Antagonists, migrator and preemption proof for the scheduling-out/reload
 * tests.  Node placement reads /sys/devices/system/node/ directly (no
 * libnuma, so the same code builds for arm64 without it); without that
 * directory every CPU counts as node 0.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "test_util.h"
#include "preempt.h"

#define NODE_DIR	"/sys/devices/system/node"

static const char * const proof_stats[4] = {
	"sched_out_preempted", "sched_out_blocked", "sched_in", "sched_in_migrated",
};

/* Marks the CPUs of a cpulist ("0-3,8") as being on @node. */
static void parse_cpulist(const char *list, int node, int *cpu_node)
{
	const char *p = list;
	char *end;
	long a, b;

	while (*p && *p != '\n') {
		a = strtol(p, &end, 10);
		if (end == p)
			return;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			p = end;
		}
		for (; a <= b; a++)
			if (a >= 0 && a < CPU_SETSIZE)
				cpu_node[a] = node;
		if (*p == ',')
			p++;
	}
}

static void read_nodes(int *cpu_node)
{
	char path[300], buf[1024];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int node;

	d = opendir(NODE_DIR);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "node%d", &node) != 1)
			continue;
		snprintf(path, sizeof(path), NODE_DIR "/%s/cpulist", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f))
			parse_cpulist(buf, node, cpu_node);
		fclose(f);
	}
	closedir(d);
}

void preempt_env_init(struct preempt_env *env)
{
	static int cpu_node[CPU_SETSIZE];
	int nodes[PREEMPT_MAX_CPUS], nr_nodes = 0;
	bool used[PREEMPT_MAX_CPUS] = {};
	int i, j, n, k, cpu;
	cpu_set_t set;

	memset(env, 0, sizeof(*env));
	pthread_mutex_init(&env->lock, NULL);
	TEST_ASSERT(!sched_getaffinity(0, sizeof(set), &set), "sched_getaffinity");
	for (cpu = 0; cpu < CPU_SETSIZE && env->nr_cpus < PREEMPT_MAX_CPUS; cpu++)
		if (CPU_ISSET(cpu, &set))
			env->cpus[env->nr_cpus++] = cpu;

	memset(cpu_node, 0, sizeof(cpu_node));
	read_nodes(cpu_node);
	for (i = 0; i < env->nr_cpus; i++) {
		for (j = 0; j < nr_nodes; j++)
			if (nodes[j] == cpu_node[env->cpus[i]])
				break;
		if (j == nr_nodes)
			nodes[nr_nodes++] = cpu_node[env->cpus[i]];
	}
	env->nr_nodes = nr_nodes;

	/* Round robin over the nodes, so that each move changes node. */
	for (n = 0, k = 0; n < env->nr_cpus; k++) {
		for (i = 0; i < env->nr_cpus; i++) {
			if (used[i] || cpu_node[env->cpus[i]] != nodes[k % nr_nodes])
				continue;
			used[i] = true;
			env->order[n++] = env->cpus[i];
			break;
		}
	}
}

static void *antagonist(void *arg)
{
	struct preempt_env *env = arg;

	while (!__atomic_load_n(&env->stop, __ATOMIC_RELAXED))
		asm volatile("" ::: "memory");
	return NULL;
}

void preempt_start_antagonists(struct preempt_env *env, int per_cpu)
{
	cpu_set_t set;
	int i, j, r;

	for (i = 0; i < env->nr_cpus; i++) {
		for (j = 0; j < per_cpu; j++) {
			pthread_attr_t attr;

			TEST_ASSERT(env->nr_ants < PREEMPT_MAX_ANTS,
				    "more than %d antagonists", PREEMPT_MAX_ANTS);
			CPU_ZERO(&set);
			CPU_SET(env->cpus[i], &set);
			pthread_attr_init(&attr);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
			r = pthread_create(&env->ants[env->nr_ants], &attr,
					   antagonist, env);
			TEST_ASSERT(!r, "pthread_create(antagonist): %s", strerror(r));
			pthread_attr_destroy(&attr);
			env->nr_ants++;
		}
	}
}

int preempt_add_tid(struct preempt_env *env, pid_t tid)
{
	int idx;

	pthread_mutex_lock(&env->lock);
	TEST_ASSERT(env->nr_tids < PREEMPT_MAX_TIDS, "more than %d migrated threads",
		    PREEMPT_MAX_TIDS);
	idx = env->nr_tids;
	env->tids[idx] = tid;
	env->pos[idx] = idx;
	env->cur_cpu[idx] = -1;
	env->moves[idx] = 0;
	env->nr_tids++;
	pthread_mutex_unlock(&env->lock);
	return idx;
}

/* Called with env->lock held. */
static int move_locked(struct preempt_env *env, int idx)
{
	int cpu = env->order[env->pos[idx] % env->nr_cpus];

	env->pos[idx]++;
	/* The thread may have finished already: ESRCH is fine. */
	if (vsched_pin_tid(env->tids[idx], cpu))
		return -1;
	if (env->cur_cpu[idx] >= 0 && env->cur_cpu[idx] != cpu)
		env->moves[idx]++;
	env->cur_cpu[idx] = cpu;
	return cpu;
}

int preempt_move_tid(struct preempt_env *env, int idx)
{
	int cpu;

	pthread_mutex_lock(&env->lock);
	cpu = move_locked(env, idx);
	pthread_mutex_unlock(&env->lock);
	return cpu;
}

uint64_t preempt_moves(struct preempt_env *env, int idx)
{
	uint64_t moves;

	pthread_mutex_lock(&env->lock);
	moves = env->moves[idx];
	pthread_mutex_unlock(&env->lock);
	return moves;
}

static void *migrator(void *arg)
{
	struct preempt_env *env = arg;
	struct timespec ts;
	int i;

	ts.tv_sec = env->migrate_us / 1000000;
	ts.tv_nsec = (env->migrate_us % 1000000) * 1000L;
	while (!__atomic_load_n(&env->stop, __ATOMIC_RELAXED)) {
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&env->lock);
		for (i = 0; i < env->nr_tids; i++)
			move_locked(env, i);
		env->migrator_passes++;
		pthread_mutex_unlock(&env->lock);
	}
	return NULL;
}

void preempt_start_migrator(struct preempt_env *env, unsigned int interval_us)
{
	int r;

	env->migrate_us = interval_us;
	r = pthread_create(&env->migrator, NULL, migrator, env);
	TEST_ASSERT(!r, "pthread_create(migrator): %s", strerror(r));
	env->migrator_running = true;
}

void preempt_join_timeout(pthread_t thread, unsigned int timeout_s,
			  const char *what)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	r = pthread_timedjoin_np(thread, NULL, &ts);
	TEST_ASSERT(!r, "%s did not finish within %u s: %s", what, timeout_s,
		    strerror(r));
}

void preempt_stop(struct preempt_env *env)
{
	int i;

	__atomic_store_n(&env->stop, true, __ATOMIC_RELAXED);
	if (env->migrator_running)
		preempt_join_timeout(env->migrator, 30, "the migrator thread");
	env->migrator_running = false;
	for (i = 0; i < env->nr_ants; i++)
		preempt_join_timeout(env->ants[i], 30, "an antagonist thread");
	env->nr_ants = 0;
}

void sched_proof_init(struct sched_proof *p, struct kvm_vcpu *vcpu)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "vcpu%u", vcpu->id);
	p->env_idx = -1;
	if (vsched_sched_stats_present(vcpu))
		p->stats = vcpu_stats_open(vcpu);
}

static void read_stats(struct sched_proof *p, uint64_t *v)
{
	int i;

	for (i = 0; p->stats && i < 4; i++)
		v[i] = vcpu_stats_value(p->stats, proof_stats[i]);
}

void sched_proof_begin(struct sched_proof *p)
{
	p->tid = vsched_gettid();
	thread_sched_read(p->tid, &p->t0);
	read_stats(p, p->s0);
}

void sched_proof_end(struct sched_proof *p)
{
	thread_sched_read(p->tid, &p->t1);
	read_stats(p, p->s1);
}

void sched_proof_check(struct sched_proof *p, struct preempt_env *env,
		       const struct sched_proof_min *min)
{
	uint64_t forced = 0, s[4] = {}, moved;
	struct thread_sched d;
	char mig[32] = "n/a";
	int i;

	thread_sched_delta(&p->t0, &p->t1, &d);
	if (env && p->env_idx >= 0)
		forced = preempt_moves(env, p->env_idx);
	if (d.have_migrations)
		snprintf(mig, sizeof(mig), "%" PRIu64, d.migrations);
	ksft_print_msg("%s (tid %d): involuntary %" PRIu64 " voluntary %" PRIu64
		       " migrations %s forced-moves %" PRIu64 "\n", p->name, p->tid,
		       d.involuntary, d.voluntary, mig, forced);

	TEST_ASSERT(d.involuntary >= min->involuntary,
		    "%s: only %" PRIu64 " involuntary context switches, want >= %" PRIu64
		    ": the vCPU was not preempted enough for the test to mean anything",
		    p->name, d.involuntary, min->involuntary);
	/* se.nr_migrations needs CONFIG_SCHED_DEBUG; the migrator's count otherwise. */
	moved = d.have_migrations ? d.migrations : forced;
	TEST_ASSERT(moved >= min->moves,
		    "%s: only %" PRIu64 " pCPU changes (%s), want >= %" PRIu64,
		    p->name, moved, d.have_migrations ? "se.nr_migrations" :
		    "moves by the migrator", min->moves);

	if (!p->stats)
		return;
	for (i = 0; i < 4; i++)
		s[i] = p->s1[i] - p->s0[i];
	ksft_print_msg("%s: sched_out_preempted %" PRIu64 " sched_out_blocked %" PRIu64
		       " sched_in %" PRIu64 " sched_in_migrated %" PRIu64 "\n",
		       p->name, s[0], s[1], s[2], s[3]);
	/* Read outside KVM_RUN: every sched-out was followed by a sched-in. */
	TEST_ASSERT(s[0] + s[1] == s[2],
		    "%s: sched_out_preempted %" PRIu64 " + sched_out_blocked %" PRIu64
		    " != sched_in %" PRIu64, p->name, s[0], s[1], s[2]);
	TEST_ASSERT(s[3] <= s[2], "%s: sched_in_migrated %" PRIu64 " > sched_in %" PRIu64,
		    p->name, s[3], s[2]);
	/* Some preemptions hit the thread outside KVM_RUN: half is the floor. */
	TEST_ASSERT(s[0] >= min->involuntary / 2,
		    "%s: sched_out_preempted %" PRIu64 ", want >= %" PRIu64,
		    p->name, s[0], min->involuntary / 2);
	TEST_ASSERT(s[3] >= min->moves / 2,
		    "%s: sched_in_migrated %" PRIu64 ", want >= %" PRIu64,
		    p->name, s[3], min->moves / 2);
}

void sched_proof_free(struct sched_proof *p)
{
	vcpu_stats_close(p->stats);
	p->stats = NULL;
}

static void *vcpu_runner_thread(void *arg)
{
	struct vcpu_runner *r = arg;
	struct kvm_vcpu *vcpu = r->vcpu;
	struct ucall uc;
	bool more = true;

	if (r->env)
		r->proof.env_idx = preempt_add_tid(r->env, vsched_gettid());
	sched_proof_begin(&r->proof);
	while (more) {
		vcpu_run(vcpu);
		r->exits++;
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_DONE:
			more = false;
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		case UCALL_PRINTF:
			ksft_print_msg("vcpu%u: %s", vcpu->id, uc.buffer);
			break;
		case UCALL_NONE:
			TEST_FAIL("vcpu%u: unexpected exit %s (%u)", vcpu->id,
				  exit_reason_str(vcpu->run->exit_reason),
				  vcpu->run->exit_reason);
			break;
		default:
			TEST_ASSERT(r->on_ucall, "vcpu%u: unexpected ucall %lu",
				    vcpu->id, uc.cmd);
			more = r->on_ucall(r, &uc);
			break;
		}
	}
	sched_proof_end(&r->proof);
	return NULL;
}

void vcpu_runner_start(struct vcpu_runner *r)
{
	int ret;

	sched_proof_init(&r->proof, r->vcpu);
	ret = pthread_create(&r->thread, NULL, vcpu_runner_thread, r);
	TEST_ASSERT(!ret, "pthread_create(vcpu%u): %s", r->vcpu->id, strerror(ret));
}

void vcpu_runner_join(struct vcpu_runner *r, unsigned int timeout_s)
{
	char what[32];

	snprintf(what, sizeof(what), "the vcpu%u thread", r->vcpu->id);
	preempt_join_timeout(r->thread, timeout_s, what);
}
