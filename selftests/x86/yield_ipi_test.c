// SPDX-License-Identifier: GPL-2.0-only
/*
 * yield_ipi_test - kvm_vcpu_on_spin() hands the pCPU of a vCPU that spins
 * waiting for an IPI response to the vCPU it sent the IPI to, and to no one
 * else without a reason.
 *
 * Overcommit: the sender S (vCPU 0) has pCPU A to itself; the receiver R
 * (vCPU 1), a bystander B (vCPU 2, busy in guest kernel mode) and an
 * antagonist thread share pCPU B, so R and B are really preempted there.
 * S spins with the spin primitive (-k; on x86 under TCG only the Hyper-V
 * long-spin-wait hypercall reaches kvm_vcpu_on_spin()); a primitive the
 * host never exits on (spin_entries stays 0 over a probe) is skipped.
 * With the series applied it proves, on the per-tier stats of S:
 *  1. single IPI wait: S sends R fixed IPIs and spins until R's handler
 *     acked each.  ipi_aware_yield=Y: S's tier-1 count rises, tier 1 is
 *     most of S's picks (a tier-1 pick is S's ipi_context receiver, R, so
 *     most boosts went to R), every tracked IPI is counted once on S and
 *     cleared once by R's EOI.  ipi_aware_yield=N in the same boot: tier 1,
 *     tier 2 and the relaxed pass stay at 0, every pick is the stock rule's.
 *     The median IPI round trip (guest TSC cycles) is printed for both.
 *  2. window: R holds an IPI with interrupts off: tier 1 while it is
 *     inside ipi_window_ns; once R EOIs, S's pending=0 and no tier 1; a
 *     fresh IPI older than a 2 ms window (set at runtime) is not tier 1,
 *     and R's late EOI clears R's side only.
 *  3. no over-boost: spinning with no IPI outstanding, with an IPI sent
 *     long ago (outside the window), and with R halted after it acked,
 *     never takes tier 1; the runnable bystander gets the stock picks.
 *  7. knobs: ipi_tracking=N records nothing and empties tier 1; with a
 *     preempted vCPU in guest user mode as the only candidate (the stock
 *     rule wants kernel mode), relaxed_boost=Y boosts it through the
 *     relaxed pass only (yield_relaxed), relaxed_boost=N and
 *     ipi_aware_yield=N never boost it (a pick that races with its
 *     sched-in fails; at most one in 100 spins is allowed).
 * Without the series only the baseline of 1 runs (round trips, stock
 * kernel) and the rest skips with "series not applied".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "test_util.h"
#include "vsched.h"
#include "yield_util.h"
#include "x86/ipi.h"

#define S	0
#define R	1
#define B	2
#define NR_VCPUS	3
#define U	1		/* the user-mode vCPU of the relaxed VM */

#define WINDOW_LONG_NS	1000000000ul
#define WINDOW_SHORT_NS	2000000ul
#define TIMEOUT_MS	10000

struct opts {
	int phase_ms;		/* one spin phase */
	uint64_t rounds;	/* at most, per round-trip phase */
	int ants;		/* antagonists on pCPU B */
	int kinds;		/* mask of enum spin_kind */
};

static struct opts opt = {
	.phase_ms = 500,
	.rounds = 2000,
	.ants = 1,
	.kinds = (1 << SPIN_HV) | (1 << SPIN_PAUSE),
};

struct scene {
	struct kvm_vm *vm;
	struct ipi_shared *sh;
	struct yvcpu y[NR_VCPUS];
	int nr;
	struct yants ants;
	enum spin_kind kind;
	struct ysnap b[NR_VCPUS], a[NR_VCPUS];
};

static bool series;
static const char *no_series = "series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)";
static int cpu_a, cpu_b;
/* INTERFACES.md's default; not read back: a killed test may have left another value. */
static const char default_window[] = "50000000";

static void snap_all(struct scene *sc, struct ysnap *s)
{
	int i;

	for (i = 0; i < sc->nr; i++)
		ysnap_read(&sc->y[i], &s[i]);
}

static uint64_t d(struct scene *sc, int v, int stat)
{
	return ysnap_delta(&sc->b[v], &sc->a[v], stat);
}

static void read_ctx(struct scene *sc, int id, struct ipi_context *ctx)
{
	int ret = vcpu_ipi_context(sc->vm, id, ctx);

	TEST_ASSERT(!ret, "read vcpu%d/ipi_context: %s", id, strerror(-ret));
}

static void print_ctx(struct scene *sc, int id)
{
	struct ipi_context c;

	read_ctx(sc, id, &c);
	ksft_print_msg("  vcpu%d ipi_context: receiver=%d receiver_age_ns=%ld pending=%d sender=%d sender_age_ns=%ld\n",
		       id, c.receiver, c.receiver_age_ns, c.pending, c.sender,
		       c.sender_age_ns);
}

static void scene_create(struct scene *sc, enum spin_kind kind, bool user_vm)
{
	static const char * const roles[] = { "S", "R", "B" };
	static const char * const uroles[] = { "S", "U" };
	int i;

	memset(sc, 0, sizeof(*sc));
	sc->kind = kind;
	sc->nr = user_vm ? 2 : NR_VCPUS;
	sc->vm = vm_create(sc->nr);
	for (i = 0; i < sc->nr; i++) {
		sc->y[i].vcpu = vm_vcpu_add(sc->vm, i, ipi_guest_main);
		vcpu_spin_setup(sc->y[i].vcpu, kind);
		sc->y[i].cpu = i == S ? cpu_a : cpu_b;
		sc->y[i].role = user_vm ? uroles[i] : roles[i];
	}
	ipi_vm_setup(sc->vm, kind);
	sc->sh = ipi_shared_hva(sc->vm);
	if (user_vm) {
		ipi_vcpu_set_user_loop(sc->vm, sc->y[U].vcpu);
		sc->y[U].signal_stop = true;
	}
	yants_start(&sc->ants, cpu_b, opt.ants);
	for (i = 0; i < sc->nr; i++)
		yvcpu_start(&sc->y[i]);
	for (i = 0; i < sc->nr; i++)
		if (!sc->y[i].signal_stop)
			ipi_wait_ready(sc->sh, i, TIMEOUT_MS);
}

static void scene_destroy(struct scene *sc)
{
	struct ipi_vcpu t = { .cmd = IPI_CMD_EXIT };
	int i;

	for (i = 0; i < sc->nr; i++)
		if (!sc->y[i].signal_stop)
			ipi_post(sc->sh, i, &t);
	for (i = 0; i < sc->nr; i++)
		yvcpu_join(&sc->y[i], 20);
	yants_stop(&sc->ants);
	kvm_vm_free(sc->vm);
}

/* S spins for one phase with no IPI of its own; stats around it. */
static uint64_t spin_phase_ms(struct scene *sc, int ms)
{
	struct ipi_vcpu t = { .cmd = IPI_CMD_SPIN };
	uint64_t seq;

	snap_all(sc, sc->b);
	seq = ipi_post(sc->sh, S, &t);
	ipi_wait_started(sc->sh, S, seq, TIMEOUT_MS);
	usleep(ms * 1000);
	ipi_stop(sc->sh, S, seq, TIMEOUT_MS);
	snap_all(sc, sc->a);
	return READ_ONCE(sc->sh->vcpu[S].relax);
}

static uint64_t spin_phase(struct scene *sc)
{
	return spin_phase_ms(sc, opt.phase_ms);
}

/* S sends R an IPI now (R's state decides when it is taken). */
static void send_one(struct scene *sc)
{
	struct ipi_vcpu t = {
		.cmd = IPI_CMD_SEND,
		.icr = ((uint64_t)R << 32) | APIC_DEST_PHYSICAL | APIC_DM_FIXED | IPI_VECTOR,
	};

	ipi_wait_done(sc->sh, S, ipi_post(sc->sh, S, &t), TIMEOUT_MS);
}

/* Round trips S -> R for one phase (or @rounds); returns the ones acked. */
static uint64_t round_trips(struct scene *sc, uint64_t rounds, int ms)
{
	uint64_t acked;

	snap_all(sc, sc->b);
	acked = ipi_round_trips(sc->sh, S, R, rounds, ms, TIMEOUT_MS);
	snap_all(sc, sc->a);
	return acked;
}

static void set_defaults(void)
{
	yparam_bool("ipi_aware_yield", true);
	yparam_bool("ipi_tracking", true);
	yparam_bool("relaxed_boost", true);
	vsched_param_set("ipi_window_ns", default_window);
}

static void set_window(uint64_t ns)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lu", ns);
	vsched_param_set("ipi_window_ns", buf);
}

/* Every pick of S was by exactly one rule and led to one yield attempt. */
static void assert_picks_add_up(struct scene *sc, const char *what)
{
	uint64_t picks = d(sc, S, YS_T1) + d(sc, S, YS_T2) + d(sc, S, YS_T3) +
			 d(sc, S, YS_RELAXED);

	TEST_ASSERT(picks == d(sc, S, YS_ATT),
		    "%s: S's picks t1 %lu + t2 %lu + t3 %lu + relaxed %lu = %lu, but spin_yield_attempted %lu",
		    what, d(sc, S, YS_T1), d(sc, S, YS_T2), d(sc, S, YS_T3),
		    d(sc, S, YS_RELAXED), picks, d(sc, S, YS_ATT));
}

/* S spun with no tier-1 candidate: no tier 1, and the bystander got picks. */
static void assert_no_tier1(struct scene *sc, const char *what)
{
	TEST_ASSERT(d(sc, S, YS_SPIN) > 0, "%s: S never entered kvm_vcpu_on_spin()", what);
	TEST_ASSERT(d(sc, S, YS_T1) == 0, "%s: S took tier 1 %lu times (t3 %lu)",
		    what, d(sc, S, YS_T1), d(sc, S, YS_T3));
	TEST_ASSERT(d(sc, S, YS_T3) > 0,
		    "%s: no stock (tier 3) pick of the preempted vCPUs in %lu spins",
		    what, d(sc, S, YS_SPIN));
	assert_picks_add_up(sc, what);
}

/*
 * Probes whether S's spin primitive works here: NULL if so, else why not.
 * *exits is set when the host is seen to exit on it (spin_entries moved).
 */
static const char *probe(struct scene *sc, bool *exits, char *why, size_t len)
{
	struct ipi_vcpu t = { .cmd = IPI_CMD_SPIN };
	double end;
	uint64_t seq;

	*exits = false;
	snap_all(sc, sc->b);
	seq = ipi_post(sc->sh, S, &t);
	usleep(200000);
	WRITE_ONCE(sc->sh->vcpu[S].stop, seq);
	end = vsched_now_ms() + 3000;
	while (READ_ONCE(sc->sh->vcpu[S].done) < seq) {
		if (vsched_now_ms() > end) {
			snprintf(why, len, "a guest spin with '%s' did not return in 3 s (started %lu): %s",
				 spin_kind_name(sc->kind), READ_ONCE(sc->sh->vcpu[S].started),
				 "the hypercall never completes (an instruction emulator behind /dev/kvm?)");
			return why;
		}
		usleep(1000);
	}
	snap_all(sc, sc->a);
	if (!series)
		return NULL;
	*exits = d(sc, S, YS_SPIN) > 0;
	if (!*exits)
		snprintf(why, len, "the host never exits on '%s': spin_entries stayed 0 over %lu spin steps",
			 spin_kind_name(sc->kind), READ_ONCE(sc->sh->vcpu[S].relax));
	return NULL;
}

/* 1. Single IPI wait, ipi_aware_yield on and off. */
static void scenario_single(struct scene *sc, bool exits)
{
	const char *k = spin_kind_name(sc->kind);
	uint64_t acked[2], rtt[2], sent, t1, other;
	struct ipi_context c;
	char title[128];
	int on, i;

	for (i = 0; i < (series ? 2 : 1); i++) {
		on = series ? !i : -1;
		if (series) {
			set_defaults();
			yparam_bool("ipi_aware_yield", on);
		}
		acked[i] = round_trips(sc, opt.rounds, opt.phase_ms);
		rtt[i] = ipi_rtt_median(sc->sh);
		sent = READ_ONCE(sc->sh->vcpu[S].sent);
		TEST_ASSERT(acked[i] > 0, "%s: no IPI round trip completed in %d ms (sent %lu)",
			    k, opt.phase_ms, sent);
		snprintf(title, sizeof(title), "1. single IPI wait, %s, %s: %lu round trips, median %lu cycles",
			 k, on < 0 ? "stock kernel" : on ? "ipi_aware_yield=Y" : "ipi_aware_yield=N",
			 acked[i], rtt[i]);
		ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
		if (!series || !exits)
			continue;
		read_ctx(sc, S, &c);
		print_ctx(sc, S);
		TEST_ASSERT(c.receiver == R, "%s: S's ipi_context names receiver %d, not R (%d)",
			    k, c.receiver, R);
		TEST_ASSERT(d(sc, S, YS_SENT) == sent,
			    "%s: S sent %lu fixed IPIs to R, ipi_sent_tracked moved by %lu",
			    k, sent, d(sc, S, YS_SENT));
		TEST_ASSERT(d(sc, R, YS_EOI) >= acked[i] - 1 && d(sc, R, YS_EOI) <= sent,
			    "%s: R acked %lu of %lu IPIs, ipi_eoi_cleared moved by %lu",
			    k, acked[i], sent, d(sc, R, YS_EOI));
		assert_picks_add_up(sc, k);
		t1 = d(sc, S, YS_T1);
		other = d(sc, S, YS_T2) + d(sc, S, YS_T3) + d(sc, S, YS_RELAXED);
		if (on) {
			TEST_ASSERT(t1 > 0, "%s, on: S spun (%lu spin_entries) but never took tier 1",
				    k, d(sc, S, YS_SPIN));
			TEST_ASSERT(t1 > other,
				    "%s, on: tier 1 (R) is %lu of S's %lu picks: not most of them",
				    k, t1, t1 + other);
			TEST_ASSERT(d(sc, S, YS_OK) > 0, "%s, on: no yield of S succeeded", k);
		} else {
			TEST_ASSERT(t1 == 0 && d(sc, S, YS_T2) == 0 && d(sc, S, YS_RELAXED) == 0,
				    "%s, off: t1 %lu t2 %lu relaxed %lu, the stock kvm_vcpu_on_spin() has none",
				    k, t1, d(sc, S, YS_T2), d(sc, S, YS_RELAXED));
		}
		ksft_print_msg("  %s: tier 1 (to R) %lu of %lu picks; R sched_in %lu, B sched_in %lu\n",
			       on ? "on" : "off", t1, t1 + other, d(sc, R, YS_SCHED_IN),
			       d(sc, B, YS_SCHED_IN));
	}
	if (series)
		ksft_print_msg("1. %s: IPI round trip median: ipi_aware_yield=Y %lu cycles (%lu), =N %lu cycles (%lu)\n",
			       k, rtt[0], acked[0], rtt[1], acked[1]);
	else
		ksft_print_msg("1. %s: IPI round trip median (stock kernel): %lu cycles (%lu)\n",
			       k, rtt[0], acked[0]);
}

/* 2. The receiver stops counting once it EOIs, and after ipi_window_ns. */
static void scenario_window(struct scene *sc)
{
	const char *k = spin_kind_name(sc->kind);
	struct ipi_context c, cr;
	char title[128];

	set_defaults();
	set_window(WINDOW_LONG_NS);

	/* Inside the window, not EOIed: tier 1. */
	ipi_set_mode(sc->sh, R, IPI_CMD_CLI);
	send_one(sc);
	/* Well inside the 1 s window, so that the age read after it is too. */
	spin_phase_ms(sc, opt.phase_ms < 400 ? opt.phase_ms : 400);
	snprintf(title, sizeof(title), "2. window, %s: R holds the IPI (IF=0), window %lu ns",
		 k, WINDOW_LONG_NS);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	read_ctx(sc, S, &c);
	print_ctx(sc, S);
	TEST_ASSERT(c.receiver == R && c.pending == 1 && c.receiver_age_ns < WINDOW_LONG_NS,
		    "%s: S's ipi_context receiver=%d pending=%d age %ld, expected %d 1 < %lu",
		    k, c.receiver, c.pending, c.receiver_age_ns, R, WINDOW_LONG_NS);
	TEST_ASSERT(d(sc, S, YS_T1) > 0, "%s: R is S's pending receiver inside the window, but no tier 1 in %lu spins",
		    k, d(sc, S, YS_SPIN));

	/* R takes and EOIs it: pending=0, no tier 1 any more. */
	snap_all(sc, sc->b);
	ipi_set_mode(sc->sh, R, IPI_CMD_IDLE);
	usleep(100000);
	snap_all(sc, sc->a);
	TEST_ASSERT(d(sc, R, YS_EOI) == 1, "%s: R's EOI moved ipi_eoi_cleared by %lu, not 1",
		    k, d(sc, R, YS_EOI));
	read_ctx(sc, S, &c);
	read_ctx(sc, R, &cr);
	TEST_ASSERT(c.receiver == R && c.pending == 0 && cr.sender == -1,
		    "%s: after R's EOI S has receiver=%d pending=%d, R sender=%d; expected %d 0 -1",
		    k, c.receiver, c.pending, cr.sender, R);
	spin_phase(sc);
	ysnap_print("   ... R has EOIed it", sc->y, sc->nr, sc->b, sc->a);
	assert_no_tier1(sc, "after R's EOI");

	/* A fresh IPI, older than a 2 ms window set at runtime. */
	ipi_set_mode(sc->sh, R, IPI_CMD_CLI);
	send_one(sc);
	set_window(WINDOW_SHORT_NS);
	usleep(20000);
	spin_phase(sc);
	snprintf(title, sizeof(title), "   ... a fresh IPI held by R, window now %lu ns", WINDOW_SHORT_NS);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	read_ctx(sc, S, &c);
	print_ctx(sc, S);
	TEST_ASSERT(c.receiver == R && c.pending == 1 && c.receiver_age_ns > WINDOW_SHORT_NS,
		    "%s: S's ipi_context receiver=%d pending=%d age %ld, expected %d 1 > %lu",
		    k, c.receiver, c.pending, c.receiver_age_ns, R, WINDOW_SHORT_NS);
	assert_no_tier1(sc, "IPI older than the window");

	/* R's late EOI clears R's side only. */
	ipi_set_mode(sc->sh, R, IPI_CMD_IDLE);
	usleep(100000);
	read_ctx(sc, S, &c);
	read_ctx(sc, R, &cr);
	TEST_ASSERT(c.pending == 1 && cr.sender == -1,
		    "%s: after a late EOI S has pending=%d (expected 1), R sender=%d (expected -1)",
		    k, c.pending, cr.sender);
	set_defaults();
}

/* 3. No over-boost. */
static void scenario_no_overboost(struct scene *sc)
{
	const char *k = spin_kind_name(sc->kind);
	struct ipi_context c;
	char title[128];

	set_defaults();

	/* No IPI outstanding: one acked round trip, then spin. */
	TEST_ASSERT(round_trips(sc, 1, 5000) == 1, "%s: the round trip did not complete", k);
	usleep(50000);
	read_ctx(sc, S, &c);
	TEST_ASSERT(c.pending == 0, "%s: S's IPI was acked, but pending=%d", k, c.pending);
	spin_phase(sc);
	snprintf(title, sizeof(title), "3a. %s: spinning with no IPI outstanding", k);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	assert_no_tier1(sc, "no IPI outstanding");

	/* An IPI sent long ago (window 2 ms, 100 ms before the spin). */
	set_window(WINDOW_SHORT_NS);
	ipi_set_mode(sc->sh, R, IPI_CMD_CLI);
	send_one(sc);
	usleep(100000);
	spin_phase(sc);
	snprintf(title, sizeof(title), "3b. %s: R was sent an IPI 100 ms ago, window %lu ns", k,
		 WINDOW_SHORT_NS);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	print_ctx(sc, S);
	assert_no_tier1(sc, "IPI sent long ago");
	ipi_set_mode(sc->sh, R, IPI_CMD_IDLE);
	set_defaults();

	/* R acked and halted: it is not boosted ahead of the runnable B. */
	TEST_ASSERT(round_trips(sc, 1, 5000) == 1, "%s: the round trip did not complete", k);
	ipi_set_mode(sc->sh, R, IPI_CMD_HALT);
	usleep(50000);
	spin_phase(sc);
	snprintf(title, sizeof(title), "3c. %s: R acked and halted, B runnable", k);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	assert_no_tier1(sc, "R halted");
	ksft_print_msg("  R (halted) sched_in %lu, B sched_in %lu\n",
		       d(sc, R, YS_SCHED_IN), d(sc, B, YS_SCHED_IN));
	/* Wake R into idle: the next command, then an IPI to notice it. */
	ipi_post(sc->sh, R, &(struct ipi_vcpu){ .cmd = IPI_CMD_IDLE });
	send_one(sc);
}

/* 7a. ipi_tracking=N empties tier 1. */
static void scenario_tracking_off(struct scene *sc)
{
	const char *k = spin_kind_name(sc->kind);
	uint64_t sent0, sent1;
	char title[128];

	set_defaults();
	yparam_bool("ipi_tracking", false);
	ipi_set_mode(sc->sh, R, IPI_CMD_CLI);
	sent0 = vcpu_stats_value(sc->y[S].stats, "ipi_sent_tracked");
	send_one(sc);
	sent1 = vcpu_stats_value(sc->y[S].stats, "ipi_sent_tracked");
	spin_phase(sc);
	snprintf(title, sizeof(title), "7a. %s: ipi_tracking=N, R holds an IPI", k);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	TEST_ASSERT(sent1 == sent0, "%s: ipi_tracking=N, but ipi_sent_tracked %lu -> %lu",
		    k, sent0, sent1);
	assert_no_tier1(sc, "ipi_tracking=N");
	ipi_set_mode(sc->sh, R, IPI_CMD_IDLE);
	yparam_bool("ipi_tracking", true);
}

/*
 * 7b: up to this many spin phases for the relaxed pass's first pick.  S sees
 * U preempted only while an antagonist runs on U's pCPU, and single-threaded
 * TCG runs the L1 vCPUs in turns, not side by side: a 500 ms phase has few
 * such moments, and once in a while none (relaxed 0, U preempted 35 times, in
 * one of some 40 runs).
 */
#define RELAXED_PHASES	4

/* One 7b spin phase under the given knobs: no tier takes U. */
static void relaxed_phase(struct scene *sc, const char *k, const char *name, int phase)
{
	char title[160];

	spin_phase(sc);
	snprintf(title, sizeof(title), "7b. %s: U preempted in guest user mode, %s (phase %d)",
		 k, name, phase);
	ysnap_print(title, sc->y, sc->nr, sc->b, sc->a);
	TEST_ASSERT(d(sc, S, YS_SPIN) > 0, "%s: S never entered kvm_vcpu_on_spin()", name);
	/*
	 * kvm_vcpu_on_spin() reads U's ready and preempted flags one after the
	 * other, as the stock loop does.  When U is scheduled in between, it
	 * looks ready and not preempted, and is taken as a tier-3 candidate;
	 * yield_to() then fails, as U is running.  Such a pick boosts nothing
	 * and is rare.  A tier that took U while it was preempted would
	 * succeed: U is not running then.  So no tier-1 or tier-2 pick, tier 3
	 * at most once in 100 spins, and no successful yield but the relaxed
	 * pass's.
	 */
	TEST_ASSERT(d(sc, S, YS_T1) == 0 && d(sc, S, YS_T2) == 0 &&
		    d(sc, S, YS_T3) * 100 <= d(sc, S, YS_SPIN) &&
		    d(sc, S, YS_OK) <= d(sc, S, YS_RELAXED),
		    "%s: a vCPU preempted in user mode taken by a tier: t1 %lu t2 %lu t3 %lu in %lu spins, %lu yields succeeded, %lu relaxed picks",
		    name, d(sc, S, YS_T1), d(sc, S, YS_T2), d(sc, S, YS_T3),
		    d(sc, S, YS_SPIN), d(sc, S, YS_OK), d(sc, S, YS_RELAXED));
	assert_picks_add_up(sc, name);
}

/*
 * 7b. relaxed_boost: only the fallback count moves, and only with both
 * knobs on.
 */
static void scenario_relaxed(enum spin_kind kind)
{
	const char *k = spin_kind_name(kind);
	static const struct { bool aware, relaxed; const char *name; } cfg[] = {
		{ true, true, "ipi_aware_yield=Y relaxed_boost=Y" },
		{ true, false, "ipi_aware_yield=Y relaxed_boost=N" },
		{ false, true, "ipi_aware_yield=N relaxed_boost=Y" },
	};
	uint64_t preempted;
	struct scene sc;
	int i, phase;

	scene_create(&sc, kind, true);
	usleep(100000);
	for (i = 0; i < 3; i++) {
		set_defaults();
		yparam_bool("ipi_aware_yield", cfg[i].aware);
		yparam_bool("relaxed_boost", cfg[i].relaxed);
		if (!cfg[i].aware || !cfg[i].relaxed) {
			relaxed_phase(&sc, k, cfg[i].name, 1);
			TEST_ASSERT(d(&sc, S, YS_RELAXED) == 0, "%s: yield_relaxed moved by %lu",
				    cfg[i].name, d(&sc, S, YS_RELAXED));
			continue;
		}
		preempted = 0;
		for (phase = 1; phase <= RELAXED_PHASES; phase++) {
			relaxed_phase(&sc, k, cfg[i].name, phase);
			preempted += d(&sc, U, YS_PREEMPTED);
			if (d(&sc, S, YS_RELAXED) > 0)
				break;
		}
		TEST_ASSERT(phase <= RELAXED_PHASES,
			    "%s: U was preempted %lu times in %d phases, but the relaxed pass never took it",
			    cfg[i].name, preempted, RELAXED_PHASES);
	}
	set_defaults();
	scene_destroy(&sc);
}

static void help(const char *name)
{
	printf("usage: %s [-k hv|pause] [-t phase_ms] [-r rounds] [-a antagonists]\n"
	       " -k  spin primitive(s) to test (repeatable; default: every one of the arch)\n"
	       " -t  length of one spin phase, default %d ms\n"
	       " -r  at most this many round trips per phase, default %lu\n"
	       " -a  antagonist threads on the receiver's pCPU, default %d\n",
	       name, opt.phase_ms, opt.rounds, opt.ants);
	exit(KSFT_FAIL);
}

#define NR_SUBTESTS	5

int main(int argc, char *argv[])
{
	int cpus[8], nr_cpus, kind, c, i, kinds = 0;
	char why[256];
	struct scene sc;
	bool exits;

	while ((c = getopt(argc, argv, "k:t:r:a:h")) != -1) {
		switch (c) {
		case 'k':
			kind = spin_kind_parse(optarg);
			if (kind < 0 || !spin_kind_supported(kind))
				help(argv[0]);
			kinds |= 1 << kind;
			break;
		case 't':
			opt.phase_ms = atoi_positive("phase ms", optarg);
			break;
		case 'r':
			opt.rounds = atoi_positive("rounds", optarg);
			break;
		case 'a':
			opt.ants = atoi_non_negative("antagonists", optarg);
			break;
		default:
			help(argv[0]);
		}
	}
	if (kinds)
		opt.kinds = kinds;

	ksft_print_header();
	nr_cpus = ycpus(cpus, 8);
	if (nr_cpus < 2)
		ksft_exit_skip("needs 2 pCPUs to overcommit one of them (have %d)\n", nr_cpus);
	cpu_a = cpus[0];
	cpu_b = cpus[nr_cpus - 1];
	series = vsched_series_applied();
	if (series && ipi_apicv_enabled()) {
		series = false;
		no_series = "APICv/AVIC is on: KVM does not see the guest's IPIs, the series tracks none (by design)";
	}
	if (series) {
		set_defaults();
		if (access("/sys/kernel/debug/kvm", F_OK))
			ksft_exit_skip("no /sys/kernel/debug/kvm: debugfs is needed for ipi_context\n");
	}
	ksft_print_msg("series %s; S on pCPU %d, R and B on pCPU %d with %d antagonist(s)\n",
		       series ? "applied" : "not applied", cpu_a, cpu_b, opt.ants);

	ksft_set_plan(NR_SUBTESTS * __builtin_popcount(opt.kinds));
	for (kind = 0; kind < NR_SPIN_KINDS; kind++) {
		const char *k = spin_kind_name(kind);
		const char *broken;

		if (!(opt.kinds & (1 << kind)))
			continue;
		if (!spin_kind_usable(kind, &broken)) {
			for (i = 0; i < NR_SUBTESTS; i++)
				ksft_test_result_skip("%s: %s\n", k, broken);
			continue;
		}
		scene_create(&sc, kind, false);
		usleep(100000);
		broken = probe(&sc, &exits, why, sizeof(why));
		if (broken) {
			for (i = 0; i < NR_SUBTESTS; i++)
				ksft_test_result_skip("%s: %s\n", k, broken);
			for (i = 0; i < sc.nr; i++)
				sc.y[i].signal_stop = true;
			for (i = 0; i < sc.nr; i++)
				yvcpu_join(&sc.y[i], 20);
			yants_stop(&sc.ants);
			kvm_vm_free(sc.vm);
			continue;
		}

		scenario_single(&sc, exits);
		if (!series)
			ksft_test_result_pass("%s: 1. single IPI wait: round trips on the stock kernel (per-tier checks: series not applied)\n", k);
		else if (!exits)
			ksft_test_result_pass("%s: 1. single IPI wait: round trips only (per-tier checks skipped: %s)\n", k, why);
		else
			ksft_test_result_pass("%s: 1. single IPI wait: tier 1 to R when on, none when off\n", k);

		if (!series || !exits) {
			for (i = 1; i < NR_SUBTESTS; i++)
				ksft_test_result_skip("%s: %s\n", k, !series ?
						      no_series :
						      why);
			scene_destroy(&sc);
			continue;
		}
		scenario_window(&sc);
		ksft_test_result_pass("%s: 2. window: tier 1 until R's EOI and inside ipi_window_ns only\n", k);
		scenario_no_overboost(&sc);
		ksft_test_result_pass("%s: 3. no over-boost: no tier 1 without a pending recent IPI, halted R not boosted\n", k);
		scenario_tracking_off(&sc);
		ksft_test_result_pass("%s: 7a. ipi_tracking=N: nothing recorded, no tier 1\n", k);
		scene_destroy(&sc);
		scenario_relaxed(kind);
		ksft_test_result_pass("%s: 7b. relaxed_boost only moves yield_relaxed\n", k);
	}
	ksft_finished();
}
