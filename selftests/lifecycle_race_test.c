// SPDX-License-Identifier: GPL-2.0-only
/*
 * lifecycle_race_test - signals, immediate_exit, vCPU ioctls from other
 * threads and VM teardown, all while vCPU threads are preempted, neither
 * hang nor corrupt the guest (and the harness fails the run on any kernel
 * WARNING or lockdep splat).
 *
 * kicks: vCPUs loop over the register rounds of sched_regs_test while the
 * migrator and antagonists preempt and move their threads; a kicker thread
 * sends them signals, half of the time with kvm_run->immediate_exit set
 * first (KVM_RUN must then return -EINTR: a signal gives KVM_EXIT_INTR, while
 * immediate_exit promises only -EINTR, so there KVM may also leave the exit
 * reason as userspace wrote it, which shows the guest was not entered; with the
 * flag still set the next KVM_RUN must return -EINTR at once); an ioctl
 * thread reads and writes back their registers (x86 KVM_GET/SET_REGS;
 * arm64 KVM_GET/SET_ONE_REG of X1 and TPIDR_EL0) and KVM_GET/SET_MP_STATE
 * (which must read RUNNABLE).  The guest's patterns must survive all of it.
 *
 * teardown: a child process runs a VM whose vCPU threads share pCPUs with
 * antagonists; its main thread, pinned with SCHED_FIFO to vCPU 0's pCPU
 * (so that vCPU 0 is scheduled out inside KVM_RUN), either exits the
 * process or spins until the parent SIGKILLs it.  The child must be gone
 * within a timeout, with the expected status.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "preempt.h"
#include "sched_guest.h"
#include "vsched.h"

#define MAX_VCPUS	8
/* Not an exit reason: shows that a KVM_RUN wrote none. */
#define EXIT_REASON_UNSET	0xfffffff0u

static uint32_t guest_mask;
static uint64_t guest_spins;
static bool guest_stop;

static void guest_code(uint32_t vcpu)
{
	uint64_t round;

	for (round = 0; !READ_ONCE(guest_stop); round++)
		guest_regs_round(guest_mask, vcpu, round, guest_spins);
	GUEST_DONE();
}

static void guest_spin(void)
{
	for (;;)
		;
}

struct opts {
	int nr_vcpus;
	double seconds;
	uint64_t spins;
	unsigned int kick_us;
	unsigned int migrate_us;
	int ants_per_cpu;
	int teardowns;
	struct sched_proof_min min;
	uint64_t min_events;
};

struct lc_vcpu {
	struct kvm_vcpu *vcpu;
	struct preempt_env *env;
	struct sched_proof proof;
	pthread_t thread;
	bool started;
	bool park_req;		/* the ioctl thread wants the vCPU out of KVM_RUN */
	bool parked;
	uint64_t eintr;		/* KVM_RUN returned -EINTR (signal) */
	uint64_t immediate;	/* ... at once, because of immediate_exit */
	uint64_t unset;		/* -EINTR with no exit reason written (immediate_exit) */
};

static void sigusr1(int sig)
{
}

static void *lc_vcpu_thread(void *arg)
{
	struct lc_vcpu *c = arg;
	struct kvm_vcpu *vcpu = c->vcpu;
	struct kvm_run *run = vcpu->run;
	struct ucall uc;
	int ret;

	c->proof.env_idx = preempt_add_tid(c->env, vsched_gettid());
	sched_proof_begin(&c->proof);
	__atomic_store_n(&c->started, true, __ATOMIC_RELEASE);
	for (;;) {
		if (__atomic_load_n(&c->park_req, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&c->parked, true, __ATOMIC_RELEASE);
			while (__atomic_load_n(&c->park_req, __ATOMIC_ACQUIRE))
				usleep(50);
			__atomic_store_n(&c->parked, false, __ATOMIC_RELEASE);
		}
		run->exit_reason = EXIT_REASON_UNSET;
		ret = __vcpu_run(vcpu);
		if (ret < 0) {
			TEST_ASSERT(errno == EINTR, "vcpu%u: KVM_RUN: %s", vcpu->id,
				    strerror(errno));
			TEST_ASSERT(run->exit_reason == KVM_EXIT_INTR ||
				    (READ_ONCE(run->immediate_exit) &&
				     run->exit_reason == EXIT_REASON_UNSET),
				    "vcpu%u: -EINTR with exit reason %s (%u), immediate_exit %u",
				    vcpu->id, exit_reason_str(run->exit_reason),
				    run->exit_reason, READ_ONCE(run->immediate_exit));
			c->eintr++;
			c->unset += run->exit_reason == EXIT_REASON_UNSET;
			if (!READ_ONCE(run->immediate_exit))
				continue;
			/* Still set: KVM must not enter the guest at all. */
			run->exit_reason = EXIT_REASON_UNSET;
			ret = __vcpu_run(vcpu);
			TEST_ASSERT(ret < 0 && errno == EINTR &&
				    (run->exit_reason == EXIT_REASON_UNSET ||
				     run->exit_reason == KVM_EXIT_INTR),
				    "vcpu%u: KVM_RUN with immediate_exit returned %d errno %d exit %s",
				    vcpu->id, ret, errno, exit_reason_str(run->exit_reason));
			c->immediate++;
			WRITE_ONCE(run->immediate_exit, 0);
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_DONE:
			sched_proof_end(&c->proof);
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("vcpu%u: unexpected exit %s, ucall %lu", vcpu->id,
				  exit_reason_str(run->exit_reason), uc.cmd);
		}
	}
}

struct helpers {
	const struct opts *o;
	struct lc_vcpu *c;
	bool stop;		/* the ioctl thread */
	bool stop_kicks;	/* the kicker, last: the ioctl thread needs kicks */
	uint64_t kicks;
	uint64_t ioctls;
	pthread_t kicker, ioctler;
};

static void *kicker_thread(void *arg)
{
	struct helpers *h = arg;
	uint64_t n;
	int i, r;

	for (n = 0; !__atomic_load_n(&h->stop_kicks, __ATOMIC_RELAXED); n++) {
		for (i = 0; i < h->o->nr_vcpus; i++) {
			if (n % 2)
				WRITE_ONCE(h->c[i].vcpu->run->immediate_exit, 1);
			r = pthread_kill(h->c[i].thread, SIGUSR1);
			TEST_ASSERT(!r, "pthread_kill(vcpu%d): %s", i, strerror(r));
			h->kicks++;
		}
		usleep(h->o->kick_us);
	}
	return NULL;
}

static void regs_roundtrip(struct kvm_vcpu *vcpu)
{
#ifdef __x86_64__
	struct kvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
	vcpu_regs_set(vcpu, &regs);
#else
	uint64_t x1, tpidr;

	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.regs[1]), &x1);
	vcpu_set_reg(vcpu, ARM64_CORE_REG(regs.regs[1]), x1);
	vcpu_get_reg(vcpu, KVM_ARM64_SYS_REG(SYS_TPIDR_EL0), &tpidr);
	vcpu_set_reg(vcpu, KVM_ARM64_SYS_REG(SYS_TPIDR_EL0), tpidr);
#endif
}

static void regs_read(struct kvm_vcpu *vcpu)
{
#ifdef __x86_64__
	struct kvm_regs regs;

	vcpu_regs_get(vcpu, &regs);
#else
	uint64_t x1;

	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.regs[1]), &x1);
#endif
}

/*
 * A get-then-set round trip is only idempotent if the guest does not run in
 * between: park the vCPU thread outside KVM_RUN for it.
 */
static void parked_roundtrip(struct lc_vcpu *c)
{
	double end = vsched_now() + 30;
	int r;

	__atomic_store_n(&c->park_req, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&c->parked, __ATOMIC_ACQUIRE)) {
		r = pthread_kill(c->thread, SIGUSR1);
		TEST_ASSERT(!r, "pthread_kill(vcpu%u): %s", c->vcpu->id, strerror(r));
		TEST_ASSERT(vsched_now() < end, "vcpu%u did not leave KVM_RUN in 30 s",
			    c->vcpu->id);
		usleep(100);
	}
	regs_roundtrip(c->vcpu);
	__atomic_store_n(&c->park_req, false, __ATOMIC_RELEASE);
}

static void *ioctl_thread(void *arg)
{
	struct helpers *h = arg;
	struct kvm_mp_state mp;
	int i;

	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < h->o->nr_vcpus; i++) {
			/* Unsynchronized: wait for the vCPU mutex like any VMM. */
			regs_read(h->c[i].vcpu);
			if (h->ioctls % 8 == 0)
				parked_roundtrip(&h->c[i]);
			vcpu_mp_state_get(h->c[i].vcpu, &mp);
			TEST_ASSERT(mp.mp_state == KVM_MP_STATE_RUNNABLE,
				    "vcpu%d: mp_state %u, want RUNNABLE", i, mp.mp_state);
			vcpu_mp_state_set(h->c[i].vcpu, &mp);
			h->ioctls++;
		}
		usleep(h->o->kick_us);
	}
	return NULL;
}

static void test_kicks(const struct opts *o, uint32_t mask)
{
	struct lc_vcpu c[MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct sigaction sa = { .sa_handler = sigusr1 };
	struct helpers h = { .o = o, .c = c };
	struct preempt_env env;
	struct kvm_vm *vm;
	double end;
	int i, r;

	TEST_ASSERT(!sigaction(SIGUSR1, &sa, NULL), "sigaction");
	vm = vm_create_with_vcpus(o->nr_vcpus, guest_code, vcpus);
	guest_mask = mask;
	guest_spins = o->spins;
	sync_global_to_guest(vm, guest_mask);
	sync_global_to_guest(vm, guest_spins);
	sync_global_to_guest(vm, guest_stop);

	preempt_env_init(&env);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < o->nr_vcpus; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		c[i].vcpu = vcpus[i];
		c[i].env = &env;
		sched_proof_init(&c[i].proof, vcpus[i]);
		r = pthread_create(&c[i].thread, NULL, lc_vcpu_thread, &c[i]);
		TEST_ASSERT(!r, "pthread_create(vcpu%d): %s", i, strerror(r));
	}
	for (i = 0; i < o->nr_vcpus; i++)
		while (!__atomic_load_n(&c[i].started, __ATOMIC_ACQUIRE))
			usleep(1000);
	preempt_start_migrator(&env, o->migrate_us);
	r = pthread_create(&h.kicker, NULL, kicker_thread, &h);
	TEST_ASSERT(!r, "pthread_create(kicker): %s", strerror(r));
	r = pthread_create(&h.ioctler, NULL, ioctl_thread, &h);
	TEST_ASSERT(!r, "pthread_create(ioctl thread): %s", strerror(r));

	end = vsched_now() + o->seconds;
	while (vsched_now() < end)
		usleep(100000);
	__atomic_store_n(&h.stop, true, __ATOMIC_RELAXED);
	preempt_join_timeout(h.ioctler, 60, "the ioctl thread");
	__atomic_store_n(&h.stop_kicks, true, __ATOMIC_RELAXED);
	preempt_join_timeout(h.kicker, 60, "the kicker");
	*(bool *)addr_gva2hva(vm, (vm_vaddr_t)&guest_stop) = true;
	for (i = 0; i < o->nr_vcpus; i++)
		preempt_join_timeout(c[i].thread, 60, "a vCPU thread");
	preempt_stop(&env);

	ksft_print_msg("kicks: %lu signals sent, %lu register/MP-state ioctl rounds\n",
		       h.kicks, h.ioctls);
	TEST_ASSERT(h.ioctls >= o->min_events, "only %lu ioctl rounds, want >= %lu",
		    h.ioctls, o->min_events);
	for (i = 0; i < o->nr_vcpus; i++) {
		ksft_print_msg("vcpu%d: %lu KVM_RUN -EINTR, %lu of them with immediate_exit, %lu with no exit reason written\n",
			       i, c[i].eintr, c[i].immediate, c[i].unset);
		TEST_ASSERT(c[i].eintr >= o->min_events && c[i].immediate >= o->min_events / 2,
			    "vcpu%d: only %lu -EINTR and %lu immediate exits, want >= %lu and %lu",
			    i, c[i].eintr, c[i].immediate, o->min_events, o->min_events / 2);
		sched_proof_check(&c[i].proof, &env, &o->min);
		sched_proof_free(&c[i].proof);
	}
	kvm_vm_free(vm);
}

/* In the child: never returns. */
static void teardown_child(const struct opts *o, bool by_exit, int wfd)
{
	struct vcpu_runner runners[MAX_VCPUS] = {};
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct sched_param sp = { .sched_priority = 1 };
	struct preempt_env env;
	int i, out = 0, cpu0;
	struct sched_proof *p;
	uint64_t so, si;
	double end;

	vm_create_with_vcpus(o->nr_vcpus, guest_spin, vcpus);
	preempt_env_init(&env);
	preempt_start_antagonists(&env, o->ants_per_cpu);
	for (i = 0; i < o->nr_vcpus; i++) {
		runners[i].vcpu = vcpus[i];
		runners[i].env = &env;
		vcpu_runner_start(&runners[i]);
	}
	end = vsched_now() + 30;
	for (i = 0; i < o->nr_vcpus; i++)
		while (__atomic_load_n(&runners[i].proof.tid, __ATOMIC_ACQUIRE) == 0)
			TEST_ASSERT(vsched_now() < end, "vcpu%d thread did not start", i);
	for (i = 0; i < o->nr_vcpus; i++)
		preempt_move_tid(&env, runners[i].proof.env_idx);
	cpu0 = env.cur_cpu[runners[0].proof.env_idx];
	TEST_ASSERT(!vsched_pin_tid(0, cpu0), "pin to CPU %d", cpu0);
	sched_setscheduler(0, SCHED_FIFO, &sp);
	/* Let the vCPUs run, then take vCPU 0's pCPU away from it. */
	usleep(50000 + random() % 200000);

	for (i = 0; i < o->nr_vcpus; i++) {
		p = &runners[i].proof;
		if (!p->stats)
			continue;
		so = vcpu_stats_value(p->stats, "sched_out_preempted") +
		     vcpu_stats_value(p->stats, "sched_out_blocked");
		si = vcpu_stats_value(p->stats, "sched_in");
		out += so > si;
	}
	if (!runners[0].proof.stats)
		out = -1;
	TEST_ASSERT(write(wfd, &out, sizeof(out)) == sizeof(out), "write to the parent");
	if (by_exit)
		_exit(0);
	end = vsched_now() + 30;
	while (vsched_now() < end)
		;
	_exit(3);
}

static void test_teardown(const struct opts *o)
{
	int i, fds[2], out, status, with_stats = 0, sched_out = 0;
	struct pollfd pfd;
	double t0, worst = 0;
	bool by_exit;
	pid_t pid;

	for (i = 0; i < o->teardowns; i++) {
		by_exit = i % 2 == 0;
		TEST_ASSERT(!pipe(fds), "pipe");
		pid = fork();
		TEST_ASSERT(pid >= 0, "fork");
		if (!pid) {
			close(fds[0]);
			srandom(getpid());
			teardown_child(o, by_exit, fds[1]);
		}
		close(fds[1]);
		pfd.fd = fds[0];
		pfd.events = POLLIN;
		TEST_ASSERT(poll(&pfd, 1, 60000) == 1, "teardown %d: the child did not get ready in 60 s",
			    i);
		if (read(fds[0], &out, sizeof(out)) != sizeof(out)) {
			waitpid(pid, &status, 0);
			TEST_FAIL("teardown %d: the child failed before teardown (status 0x%x)",
				  i, status);
		}
		close(fds[0]);
		t0 = vsched_now();
		if (!by_exit)
			kill(pid, SIGKILL);
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (vsched_now() - t0 > 30) {
				kill(pid, SIGKILL);
				TEST_FAIL("teardown %d: the process still exists 30 s after %s",
					  i, by_exit ? "exit" : "SIGKILL");
			}
			usleep(1000);
		}
		if (by_exit)
			TEST_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				    "teardown %d: the child's status is 0x%x, want exit 0", i, status);
		else
			TEST_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
				    "teardown %d: the child's status is 0x%x, want SIGKILL", i, status);
		if (vsched_now() - t0 > worst)
			worst = vsched_now() - t0;
		if (out >= 0) {
			with_stats++;
			sched_out += out > 0;
		}
	}
	ksft_print_msg("teardown: %d VMs torn down (half exit, half SIGKILL), slowest %.3f s\n",
		       o->teardowns, worst);
	if (with_stats) {
		ksft_print_msg("teardown: a vCPU was scheduled out inside KVM_RUN at %d of %d teardowns\n",
			       sched_out, with_stats);
		TEST_ASSERT(sched_out * 2 >= with_stats,
			    "a vCPU was scheduled out at only %d of %d teardowns",
			    sched_out, with_stats);
	}
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-d seconds] [-s spins] [-k kick interval us]\n"
	       "       [-m migrate interval us] [-a antagonists per pCPU] [-t teardowns]\n"
	       "       [-i min involuntary] [-n min pCPU changes] [-e min events]\n", name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	struct opts o = {
		.nr_vcpus = 2, .seconds = 4, .spins = 20000, .kick_us = 2000,
		.migrate_us = 5000, .ants_per_cpu = 1, .teardowns = 10,
		.min = { .involuntary = 30, .moves = 20 }, .min_events = 20,
	};
	char why[REGS_NR_CLASSES][REGS_WHY_LEN];
	uint32_t mask;
	int opt;

	while ((opt = getopt(argc, argv, "v:d:s:k:m:a:t:i:n:e:h")) != -1) {
		switch (opt) {
		case 'v':
			o.nr_vcpus = atoi_positive("vCPUs", optarg);
			TEST_ASSERT(o.nr_vcpus <= MAX_VCPUS, "at most %d vCPUs", MAX_VCPUS);
			break;
		case 'd':
			o.seconds = atof(optarg);
			break;
		case 's':
			o.spins = strtoull(optarg, NULL, 0);
			break;
		case 'k':
			o.kick_us = atoi_positive("kick interval", optarg);
			break;
		case 'm':
			o.migrate_us = atoi_positive("migrate interval", optarg);
			break;
		case 'a':
			o.ants_per_cpu = atoi_non_negative("antagonists", optarg);
			break;
		case 't':
			o.teardowns = atoi_non_negative("teardowns", optarg);
			break;
		case 'i':
			o.min.involuntary = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.min.moves = strtoull(optarg, NULL, 0);
			break;
		case 'e':
			o.min_events = strtoull(optarg, NULL, 0);
			break;
		default:
			help(argv[0]);
		}
	}

	ksft_print_header();
	TEST_REQUIRE(vsched_nr_cpus() >= 2);
	ksft_set_plan(2);
	mask = regs_probe_all(why);

	test_kicks(&o, mask);
	ksft_test_result_pass("signals_immediate_exit_ioctls_while_preempted\n");
	test_teardown(&o);
	ksft_test_result_pass("teardown_while_preempted\n");
	ksft_finished();
}
