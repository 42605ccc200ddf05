// SPDX-License-Identifier: GPL-2.0-only
/*
 * suspend_signal_race_test - a signal racing with a SUSPENDED vCPU's wait.
 *
 * The review of "KVM: arm64: Add support for userspace to suspend a vCPU"
 * (2022) found that a signal which ends the in-kernel wait of a SUSPENDED
 * vCPU was reported as a KVM_SYSTEM_EVENT_WAKEUP exit, while the same signal
 * arriving a moment earlier gave -EINTR.  The fix reports WAKEUP only when
 * the vCPU really is runnable (kvm_arch_vcpu_runnable()).  This test proves
 * that rule over thousands of rounds with random timing:
 *
 *  - each round, a second thread sends the vCPU thread one signal after a
 *    random delay (before KVM_RUN, during its entry, or while it waits in
 *    kvm_vcpu_block()), and in some rounds also raises an SPI or PPI with
 *    KVM_IRQ_LINE at an independent random moment;
 *  - without an interrupt, KVM_RUN must end with -EINTR / KVM_EXIT_INTR,
 *    never with a WAKEUP exit (the 2022 bug);
 *  - with an interrupt, both -EINTR and WAKEUP are legal, a WAKEUP only
 *    once the interrupt was raised, and after -EINTR the next KVM_RUN
 *    exits with WAKEUP at once (the wakeup is not lost);
 *  - every round the vCPU stays SUSPENDED, the one signal is still pending
 *    afterwards (KVM does not consume it), and the guest runs no code.
 *  - the rounds must actually hit the window: the test counts the signals
 *    sent while the vCPU's "blocking" stat showed it inside kvm_vcpu_block().
 *
 * The signal is blocked outside KVM_RUN and unblocked inside it with
 * KVM_SET_SIGNAL_MASK, so a signal sent early stays pending and is seen by
 * KVM_RUN, as with a VMM that kicks vCPU threads this way.  A watchdog
 * re-sends the signal if a KVM_RUN does not return in time, so a lost
 * wakeup fails the test instead of hanging it.
 *
 * Options: -n ROUNDS (default 2000), -t SECONDS time budget for the rounds
 * (default 30), -d MAX_DELAY_US (default 2000), -s SEED.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "gic.h"
#include "kselftest.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vgic.h"
#include "vsched.h"

#define RACE_SPI		(MIN_SPI + 9)
#define RACE_PPI		(MIN_PPI + 6)
#define NR_IRQS			64
#define SIG_KICK		SIGUSR1
#define WATCHDOG_MS		10000
#define MIN_WINDOW_HITS		50
#define MAX_REPORTED		5
#define NR_SNAP_REGS		34

enum { STAGE_READY = 1 };

static u64 spin_counter;
static bool spin_stop;

static void guest_code(void)
{
	gic_init(GIC_V3, 1);
	/* KVM resets SPIs edge-triggered: make the host line a level one. */
	gic_irq_set_config(RACE_SPI, false);
	gic_irq_enable(RACE_SPI);
	gic_irq_enable(RACE_PPI);
	GUEST_SYNC(STAGE_READY);

	/* Runs only once the host makes the vCPU RUNNABLE at the very end. */
	while (!READ_ONCE(spin_stop))
		WRITE_ONCE(spin_counter, READ_ONCE(spin_counter) + 1);
	GUEST_DONE();
}

struct plan {
	bool signal;		/* send one SIG_KICK ... */
	u64 sig_delay_ns;	/* ... this long after the round started */
	u32 irq;		/* raise this interrupt (0: none) ... */
	u64 irq_delay_ns;	/* ... this long after the round started */
};

/* Shared between the vCPU (main) thread and the kicker thread. */
static struct {
	struct kvm_vm *vm;
	struct vcpu_stats *stats;
	pthread_t vcpu_thread;
	struct plan plan;
	sem_t go, returned, finished;
	bool quit;
	int irq_started;	/* the KVM_IRQ_LINE ioctl has begun */
	bool saw_blocking;	/* "blocking" was 1 just before the signal */
	bool stuck;		/* KVM_RUN outlived the watchdog */
} race;

static struct {
	u64 rounds, irq_rounds;
	u64 eintr, wakeup;
	u64 hits;		/* no-irq rounds signalled while blocking */
	u64 hits_irq;		/* irq rounds signalled while blocking */
	u64 eintr_irq_raised;	/* -EINTR although the irq was already raised */
	u64 bad_noirq, bad_irq, bad_sticky, bad_state;
	char first_bad[MAX_REPORTED][256];
	int nr_bad_msgs;
} st;

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void wait_until(u64 deadline)
{
	struct timespec ts;
	u64 now = now_ns();

	/* Sleep most of a long wait, spin the last stretch for precision. */
	if (deadline > now + 200000) {
		u64 wake = deadline - 100000;

		ts.tv_sec = wake / 1000000000ull;
		ts.tv_nsec = wake % 1000000000ull;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	while (now_ns() < deadline)
		cpu_relax();
}

static bool sem_wait_ms(sem_t *sem, u64 ms)
{
	struct timespec ts;
	u64 t = now_ns() + ms * 1000000;

	ts.tv_sec = t / 1000000000ull;
	ts.tv_nsec = t % 1000000000ull;
	while (sem_clockwait(sem, CLOCK_MONOTONIC, &ts)) {
		if (errno == ETIMEDOUT)
			return false;
		TEST_ASSERT(errno == EINTR, "sem_clockwait: %s", strerror(errno));
	}
	return true;
}

static void raise_line(u32 intid, int level)
{
	u32 irq;

	if (INTID_IS_PPI(intid))
		irq = KVM_ARM_IRQ_TYPE_PPI << KVM_ARM_IRQ_TYPE_SHIFT | intid;
	else
		irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | intid;
	kvm_irq_line(race.vm, irq, level);
}

static void send_signal(void)
{
	race.saw_blocking = vcpu_stats_value(race.stats, "blocking") == 1;
	pthread_kill(race.vcpu_thread, SIG_KICK);
}

static void send_irq(void)
{
	__atomic_store_n(&race.irq_started, 1, __ATOMIC_SEQ_CST);
	raise_line(race.plan.irq, 1);
}

static void *kicker(void *arg)
{
	struct plan *p = &race.plan;
	u64 start;

	for (;;) {
		sem_wait(&race.go);
		if (race.quit)
			break;
		start = now_ns();
		if (p->signal && p->irq && p->irq_delay_ns < p->sig_delay_ns) {
			wait_until(start + p->irq_delay_ns);
			send_irq();
			wait_until(start + p->sig_delay_ns);
			send_signal();
		} else {
			if (p->signal) {
				wait_until(start + p->sig_delay_ns);
				send_signal();
			}
			if (p->irq) {
				wait_until(start + p->irq_delay_ns);
				send_irq();
			}
		}
		/* Watchdog: a KVM_RUN that should have ended gets kicked. */
		if (!sem_wait_ms(&race.returned, WATCHDOG_MS)) {
			race.stuck = true;
			do {
				pthread_kill(race.vcpu_thread, SIG_KICK);
			} while (!sem_wait_ms(&race.returned, 1000));
		}
		sem_post(&race.finished);
	}
	return NULL;
}

struct outcome {
	int ret, err;
	u32 exit_reason, type;
	bool irq_raised;	/* the irq ioctl had begun when KVM_RUN returned */
	int sigs;		/* SIG_KICKs pending after the round */
	bool stuck;
};

/* One KVM_RUN of the suspended vCPU, with the kicker running @plan. */
static void run_round(struct kvm_vcpu *vcpu, const struct plan *plan, struct outcome *o)
{
	struct timespec zero = {};
	sigset_t kick;

	race.plan = *plan;
	race.stuck = false;
	race.saw_blocking = false;
	__atomic_store_n(&race.irq_started, 0, __ATOMIC_SEQ_CST);
	sem_post(&race.go);

	o->ret = __vcpu_run(vcpu);
	o->err = o->ret ? errno : 0;
	o->irq_raised = __atomic_load_n(&race.irq_started, __ATOMIC_SEQ_CST);
	o->exit_reason = vcpu->run->exit_reason;
	o->type = vcpu->run->system_event.type;
	sem_post(&race.returned);
	sem_wait(&race.finished);
	o->stuck = race.stuck;

	sigemptyset(&kick);
	sigaddset(&kick, SIG_KICK);
	o->sigs = 0;
	while (sigtimedwait(&kick, NULL, &zero) == SIG_KICK)
		o->sigs++;
}

static bool is_eintr(const struct outcome *o)
{
	return o->ret == -1 && o->err == EINTR && o->exit_reason == KVM_EXIT_INTR;
}

static bool is_wakeup(const struct outcome *o)
{
	return !o->ret && o->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
	       o->type == KVM_SYSTEM_EVENT_WAKEUP;
}

static void bad(u64 *counter, u64 round, const struct plan *p,
		const struct outcome *o, const char *why)
{
	(*counter)++;
	if (st.nr_bad_msgs >= MAX_REPORTED)
		return;
	snprintf(st.first_bad[st.nr_bad_msgs++], sizeof(st.first_bad[0]),
		 "round %lu: %s: KVM_RUN %d errno %d exit %s type %u, signal at %lu us%s, irq %u%s, %d signals pending%s",
		 round, why, o->ret, o->err, exit_reason_str(o->exit_reason), o->type,
		 p->sig_delay_ns / 1000, race.saw_blocking ? " (vCPU blocking)" : "",
		 p->irq, o->irq_raised ? " raised" : "", o->sigs,
		 o->stuck ? ", watchdog fired" : "");
	ksft_print_msg("%s\n", st.first_bad[st.nr_bad_msgs - 1]);
}

static u64 rand_delay_ns(unsigned int *seed, u64 max_us)
{
	/* A quarter of the rounds aim at KVM_RUN's entry, the rest anywhere. */
	if (rand_r(seed) % 4 == 0)
		return (u64)(rand_r(seed) % 50000);
	return (u64)rand_r(seed) % (max_us * 1000 + 1);
}

static void one_round(struct kvm_vcpu *vcpu, u64 round, unsigned int *seed, u64 max_us)
{
	struct plan p = {}, sticky = {};
	struct outcome o, o2;
	struct kvm_mp_state mp;

	p.signal = true;
	p.sig_delay_ns = rand_delay_ns(seed, max_us);
	if (rand_r(seed) % 3 == 0) {
		p.irq = rand_r(seed) % 2 ? RACE_SPI : RACE_PPI;
		p.irq_delay_ns = rand_delay_ns(seed, max_us);
	}
	run_round(vcpu, &p, &o);

	st.rounds++;
	if (p.irq)
		st.irq_rounds++;
	if (race.saw_blocking)
		(*(p.irq ? &st.hits_irq : &st.hits))++;
	if (is_eintr(&o)) {
		st.eintr++;
		if (p.irq && o.irq_raised)
			st.eintr_irq_raised++;
	} else if (is_wakeup(&o)) {
		st.wakeup++;
	}

	if (!p.irq) {
		if (!is_eintr(&o))
			bad(&st.bad_noirq, round, &p, &o,
			    "no interrupt pending, want -EINTR/KVM_EXIT_INTR");
	} else if (!is_eintr(&o) && !(is_wakeup(&o) && o.irq_raised)) {
		bad(&st.bad_irq, round, &p, &o,
		    "want -EINTR, or WAKEUP once the interrupt was raised");
	}
	if (o.sigs != 1 || o.stuck)
		bad(&st.bad_state, round, &p, &o, "want exactly one pending signal, no watchdog");

	vcpu_mp_state_get(vcpu, &mp);
	if (mp.mp_state != KVM_MP_STATE_SUSPENDED)
		bad(&st.bad_state, round, &p, &o, "vCPU no longer SUSPENDED");

	if (!p.irq)
		return;
	/* The interrupt is still pending: the wakeup must not be lost. */
	if (!is_wakeup(&o)) {
		run_round(vcpu, &sticky, &o2);
		if (!is_wakeup(&o2) || o2.sigs || o2.stuck)
			bad(&st.bad_sticky, round, &p, &o2,
			    "interrupt pending after -EINTR, the next KVM_RUN must exit with WAKEUP");
	}
	raise_line(p.irq, 0);
}

static void snap_regs(struct kvm_vcpu *vcpu, u64 *regs)
{
	int i;

	for (i = 0; i < 31; i++)
		vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.regs[i]), &regs[i]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.sp), &regs[31]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.pc), &regs[32]);
	vcpu_get_reg(vcpu, ARM64_CORE_REG(regs.pstate), &regs[33]);
}

static void print_usage(const char *name)
{
	printf("usage: %s [-n ROUNDS] [-t SECONDS] [-d MAX_DELAY_US] [-s SEED]\n"
	       "  -n  rounds to run (default 2000)\n"
	       "  -t  stop the rounds after this many seconds (default 30)\n"
	       "  -d  longest random delay of the signal and interrupt (default 2000)\n"
	       "  -s  random seed (default: from the clock, printed)\n", name);
}

int main(int argc, char *argv[])
{
	u64 rounds = 2000, budget_s = 30, max_us = 2000, start, end, i;
	unsigned int seed = (unsigned int)now_ns();
	u64 before[NR_SNAP_REGS], after[NR_SNAP_REGS];
	struct kvm_signal_mask *mask;
	struct kvm_mp_state mp = {};
	struct kvm_vcpu *vcpu;
	pthread_t kicker_thread;
	struct ucall uc;
	sigset_t set;
	int opt, gic_fd;

	while ((opt = getopt(argc, argv, "n:t:d:s:h")) != -1) {
		switch (opt) {
		case 'n':
			rounds = strtoull(optarg, NULL, 0);
			break;
		case 't':
			budget_s = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			max_us = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		default:
			print_usage(argv[0]);
			exit(opt == 'h' ? KSFT_PASS : KSFT_FAIL);
		}
	}

	/* SIG_KICK: blocked in every thread, unblocked inside KVM_RUN. */
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ksft_print_header();
	ksft_set_plan(4);
	ksft_print_msg("rounds %lu, budget %lu s, max delay %lu us, seed %u\n",
		       rounds, budget_s, max_us, seed);

	race.vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	gic_fd = vgic_v3_setup(race.vm, 1, NR_IRQS);
	__TEST_REQUIRE(gic_fd >= 0, "no in-kernel GICv3 (KVM_CREATE_DEVICE failed)");

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC && uc.args[1] == STAGE_READY,
		    "guest did not reach STAGE_READY (ucall %lu)", uc.cmd);

	mask = calloc(1, sizeof(*mask) + 8);
	TEST_ASSERT(mask, "calloc");
	mask->len = 8;
	sigemptyset(&set);
	memcpy(mask->sigset, &set, 8);
	vcpu_ioctl(vcpu, KVM_SET_SIGNAL_MASK, mask);
	free(mask);

	mp.mp_state = KVM_MP_STATE_SUSPENDED;
	vcpu_mp_state_set(vcpu, &mp);
	snap_regs(vcpu, before);

	race.stats = vcpu_stats_open(vcpu);
	race.vcpu_thread = pthread_self();
	sem_init(&race.go, 0, 0);
	sem_init(&race.returned, 0, 0);
	sem_init(&race.finished, 0, 0);
	pthread_create(&kicker_thread, NULL, kicker, NULL);

	start = now_ns();
	end = start + budget_s * 1000000000ull;
	for (i = 0; i < rounds && now_ns() < end; i++)
		one_round(vcpu, i, &seed, max_us);

	ksft_print_msg("%lu rounds in %lu ms, %lu with an interrupt: %lu -EINTR, %lu WAKEUP\n",
		       st.rounds, (now_ns() - start) / 1000000, st.irq_rounds, st.eintr, st.wakeup);
	ksft_print_msg("signal while the vCPU was blocking: %lu rounds without, %lu with an irq\n",
		       st.hits, st.hits_irq);
	ksft_print_msg("-EINTR with the interrupt already raised: %lu rounds\n",
		       st.eintr_irq_raised);

	ksft_test_result(!st.bad_noirq, "race_no_irq_signal_always_eintr_never_wakeup (%lu bad)\n",
			 st.bad_noirq);
	ksft_test_result(!st.bad_irq && !st.bad_sticky,
			 "race_with_irq_eintr_or_wakeup_and_wakeup_not_lost (%lu bad, %lu lost)\n",
			 st.bad_irq, st.bad_sticky);
	ksft_test_result(st.hits >= MIN_WINDOW_HITS,
			 "race_signal_landed_in_suspend_wait (%lu rounds, want >= %d)\n",
			 st.hits, MIN_WINDOW_HITS);

	/* The guest ran nothing in all those rounds, and still can run. */
	snap_regs(vcpu, after);
	for (i = 0; i < NR_SNAP_REGS; i++) {
		if (before[i] != after[i]) {
			ksft_print_msg("register %lu changed from 0x%lx to 0x%lx while SUSPENDED\n",
				       i, before[i], after[i]);
			st.bad_state++;
		}
	}
	if (READ_ONCE(*(u64 *)addr_gva2hva(race.vm, (vm_vaddr_t)&spin_counter))) {
		ksft_print_msg("the guest counter moved while SUSPENDED\n");
		st.bad_state++;
	}

	race.quit = true;
	sem_post(&race.go);
	pthread_join(kicker_thread, NULL);

	WRITE_ONCE(*(bool *)addr_gva2hva(race.vm, (vm_vaddr_t)&spin_stop), true);
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	vcpu_mp_state_set(vcpu, &mp);
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE,
		    "guest did not finish once RUNNABLE (ucall %lu)", uc.cmd);
	ksft_test_result(!st.bad_state,
			 "race_vcpu_stays_suspended_one_signal_per_round_guest_frozen (%lu bad)\n",
			 st.bad_state);

	vcpu_stats_close(race.stats);
	close(gic_fd);
	kvm_vm_free(race.vm);
	ksft_finished();
}
