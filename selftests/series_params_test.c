// SPDX-License-Identifier: GPL-2.0-only
/*
 * series_params_test - the kernel series' knobs and counters are live.
 *
 * Proves, on a kernel with kernel-patches/ applied, that:
 *  - the four kvm module parameters exist, are writable at runtime, accept
 *    every value docs/INTERFACES.md allows and reject the others with
 *    -EINVAL (ipi_window_ns: 1000..1000000000);
 *  - every per-vCPU stat of the series is in the binary stats fd;
 *  - the scheduling stats move: a vCPU thread that shares its pCPU with a
 *    busy thread is preempted (sched_out_preempted, sched_in), one that is
 *    moved to another pCPU while it runs comes back there
 *    (sched_in_migrated), and one that halts in the guest blocks
 *    (sched_out_blocked);
 *  - a fresh vCPU's ipi_context debugfs file reads "nothing tracked".
 * On a kernel without the series it skips ("series not applied").
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "vsched.h"

#define SPIN_SECONDS	2
#define BLOCK_TIMEOUT_S	20

static const char * const series_stats[] = {
	"sched_out_preempted", "sched_out_blocked", "sched_in",
	"sched_in_migrated", "spin_entries", "yield_tier_ipi",
	"yield_tier_intr", "yield_tier_preempted", "yield_relaxed",
	"spin_yield_attempted", "spin_yield_successful", "ipi_sent_tracked",
	"ipi_eoi_cleared",
};

static const char * const bool_params[] = {
	"ipi_tracking", "ipi_aware_yield", "relaxed_boost",
};

static bool guest_stop;

static void guest_spin_code(void)
{
	while (!READ_ONCE(guest_stop))
		cpu_relax();
	GUEST_DONE();
}

static void guest_halt_code(void)
{
	for (;;) {
#ifdef __x86_64__
		asm volatile("cli; hlt" ::: "memory");
#else
		asm volatile("wfi" ::: "memory");
#endif
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void expect_param_write(const char *name, const char *value, int want)
{
	int ret = vsched_param_write(name, value);

	TEST_ASSERT(ret == want, "writing '%s' to kvm.%s returned %d (%s), expected %d",
		    value, name, ret, strerror(-ret), want);
}

static void test_params(void)
{
	char saved[64], buf[64];
	unsigned int i;
	int ret;

	ret = vsched_param_read("ipi_window_ns", saved, sizeof(saved));
	TEST_ASSERT(!ret, "read kvm.ipi_window_ns: %s", strerror(-ret));

	expect_param_write("ipi_window_ns", "999", -EINVAL);
	expect_param_write("ipi_window_ns", "0", -EINVAL);
	expect_param_write("ipi_window_ns", "1000000001", -EINVAL);
	expect_param_write("ipi_window_ns", "-1", -EINVAL);
	expect_param_write("ipi_window_ns", "fast", -EINVAL);
	ret = vsched_param_read("ipi_window_ns", buf, sizeof(buf));
	TEST_ASSERT(!ret && !strcmp(saved, buf),
		    "a rejected write changed kvm.ipi_window_ns from %s to %s", saved, buf);

	expect_param_write("ipi_window_ns", "1000", 0);
	TEST_ASSERT(vsched_param_u64("ipi_window_ns") == 1000,
		    "kvm.ipi_window_ns is %lu after writing 1000",
		    vsched_param_u64("ipi_window_ns"));
	expect_param_write("ipi_window_ns", "1000000000", 0);
	TEST_ASSERT(vsched_param_u64("ipi_window_ns") == 1000000000,
		    "kvm.ipi_window_ns is %lu after writing 1000000000",
		    vsched_param_u64("ipi_window_ns"));
	vsched_param_set("ipi_window_ns", saved);

	for (i = 0; i < ARRAY_SIZE(bool_params); i++) {
		bool orig = vsched_param_bool(bool_params[i]);

		expect_param_write(bool_params[i], "maybe", -EINVAL);
		vsched_param_set(bool_params[i], orig ? "N" : "Y");
		TEST_ASSERT(vsched_param_bool(bool_params[i]) == !orig,
			    "kvm.%s did not change", bool_params[i]);
		vsched_param_set(bool_params[i], orig ? "Y" : "N");
		TEST_ASSERT(vsched_param_bool(bool_params[i]) == orig,
			    "kvm.%s was not restored", bool_params[i]);
	}
}

static void test_stats_exist(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	unsigned int i;
	uint64_t v;

	vm = vm_create_with_one_vcpu(&vcpu, guest_spin_code);
	for (i = 0; i < ARRAY_SIZE(series_stats); i++)
		TEST_ASSERT(vcpu_stat_get(vcpu, series_stats[i], &v),
			    "vCPU stat %s is missing from the binary stats fd",
			    series_stats[i]);
	kvm_vm_free(vm);
}

static void test_ipi_context_fresh(void)
{
	struct ipi_context ctx;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int ret;

	vm = vm_create_with_one_vcpu(&vcpu, guest_spin_code);
	ret = vcpu_ipi_context(vm, 0, &ctx);
	if (ret == -ENOENT && access("/sys/kernel/debug/kvm", F_OK)) {
		kvm_vm_free(vm);
		ksft_test_result_skip("ipi_context: debugfs is not mounted\n");
		return;
	}
	TEST_ASSERT(!ret, "read vcpu0/ipi_context: %s", strerror(-ret));
	TEST_ASSERT(ctx.receiver == -1 && ctx.receiver_age_ns == -1 &&
		    !ctx.pending && ctx.sender == -1 && ctx.sender_age_ns == -1,
		    "fresh vCPU: receiver=%d receiver_age_ns=%ld pending=%d sender=%d sender_age_ns=%ld",
		    ctx.receiver, ctx.receiver_age_ns, ctx.pending, ctx.sender,
		    ctx.sender_age_ns);
	kvm_vm_free(vm);
	ksft_test_result_pass("ipi_context of a fresh vCPU is empty\n");
}

struct hog_args {
	struct kvm_vm *vm;
	pid_t vcpu_tid;
	int cpu, other_cpu;
	int moved;		/* 0: not yet, 1: moved, -errno: could not */
};

/* Shares the vCPU's pCPU for a while, moves the vCPU, then stops the guest. */
static void *hog_thread(void *arg)
{
	struct hog_args *h = arg;
	double start = now_s();
	bool moved = false;

	TEST_ASSERT(!vsched_pin_tid(vsched_gettid(), h->cpu), "pin the hog thread");
	while (now_s() - start < SPIN_SECONDS) {
		if (!moved && h->other_cpu >= 0 && now_s() - start > SPIN_SECONDS / 2.0) {
			int ret = vsched_pin_tid(h->vcpu_tid, h->other_cpu);

			WRITE_ONCE(h->moved, ret ? ret : 1);
			moved = true;
		}
	}
	WRITE_ONCE(guest_stop, true);
	sync_global_to_guest(h->vm, guest_stop);
	return NULL;
}

static void test_sched_stats_preempted(void)
{
	uint64_t preempted, in, migrated;
	struct hog_args h = { 0 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	pthread_t hog;
	struct ucall uc;

	vm = vm_create_with_one_vcpu(&vcpu, guest_spin_code);
	h.vm = vm;
	h.vcpu_tid = vsched_gettid();
	h.cpu = 0;
	h.other_cpu = vsched_nr_cpus() > 1 ? 1 : -1;
	TEST_ASSERT(!vsched_pin_tid(h.vcpu_tid, h.cpu), "pin the vCPU thread to CPU 0");

	pthread_create(&hog, NULL, hog_thread, &h);
	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE,
		    "guest exited with ucall %lu, exit reason %s", uc.cmd,
		    exit_reason_str(vcpu->run->exit_reason));
	pthread_join(hog, NULL);

	preempted = vcpu_stat(vcpu, "sched_out_preempted");
	in = vcpu_stat(vcpu, "sched_in");
	migrated = vcpu_stat(vcpu, "sched_in_migrated");
	pr_info("shared pCPU for %d s: sched_out_preempted=%lu sched_in=%lu sched_in_migrated=%lu moved=%d\n",
		SPIN_SECONDS, preempted, in, migrated, h.moved);

	TEST_ASSERT(preempted >= 1 && in >= 1,
		    "vCPU thread sharing its pCPU with a busy thread: sched_out_preempted=%lu sched_in=%lu, expected >= 1 each",
		    preempted, in);
	TEST_ASSERT(in >= preempted,
		    "every preemption inside KVM_RUN is followed by a sched-in: sched_in=%lu < sched_out_preempted=%lu",
		    in, preempted);
	if (h.moved == 1)
		TEST_ASSERT(migrated >= 1,
			    "vCPU thread moved to CPU %d while running, but sched_in_migrated=%lu",
			    h.other_cpu, migrated);
	TEST_ASSERT(migrated <= in, "sched_in_migrated=%lu > sched_in=%lu", migrated, in);

	vsched_pin_tid(h.vcpu_tid, h.cpu);
	kvm_vm_free(vm);
	if (h.moved == 1)
		ksft_test_result_pass("sched_out_preempted, sched_in, sched_in_migrated move\n");
	else
		ksft_test_result_pass("sched_out_preempted, sched_in move (one pCPU: migration not checked)\n");
}

struct kicker_args {
	pthread_t target;
	bool stop;
};

static void sigusr1_handler(int sig)
{
}

/* Interrupts the halted vCPU's KVM_RUN every 100 ms until told to stop. */
static void *kicker_thread(void *arg)
{
	struct kicker_args *k = arg;

	while (!READ_ONCE(k->stop)) {
		usleep(100 * 1000);
		pthread_kill(k->target, SIGUSR1);
	}
	return NULL;
}

static void test_sched_stats_blocked(void)
{
	struct kicker_args k = { .target = pthread_self() };
	struct sigaction sa = { .sa_handler = sigusr1_handler };
	uint64_t blocked = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	pthread_t kicker;
	double start;
	int ret;

	sigaction(SIGUSR1, &sa, NULL);
	vm = vm_create_with_one_vcpu(&vcpu, guest_halt_code);
	pthread_create(&kicker, NULL, kicker_thread, &k);

	/* The guest halts forever: each KVM_RUN ends with -EINTR. */
	start = now_s();
	while (!blocked && now_s() - start < BLOCK_TIMEOUT_S) {
		ret = __vcpu_run(vcpu);
		TEST_ASSERT(ret == -1 && errno == EINTR,
			    "KVM_RUN of a halted vCPU returned %d (errno %d), exit reason %s",
			    ret, errno, exit_reason_str(vcpu->run->exit_reason));
		blocked = vcpu_stat(vcpu, "sched_out_blocked");
	}
	WRITE_ONCE(k.stop, true);
	pthread_join(kicker, NULL);

	TEST_ASSERT(blocked >= 1,
		    "vCPU halted in the guest for %d s but sched_out_blocked=%lu",
		    BLOCK_TIMEOUT_S, blocked);
	pr_info("halted vCPU: sched_out_blocked=%lu halt_wakeup=%lu\n", blocked,
		vcpu_stat(vcpu, "halt_wakeup"));
	kvm_vm_free(vm);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
	ksft_test_result_pass("sched_out_blocked moves when the guest halts\n");
}

int main(int argc, char *argv[])
{
	ksft_print_header();
	if (!vsched_series_applied())
		ksft_exit_skip("series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");

	ksft_set_plan(5);

	test_params();
	ksft_test_result_pass("module parameters accept the allowed values and reject the others\n");

	test_stats_exist();
	ksft_test_result_pass("all %zu per-vCPU stats of the series exist\n",
			      ARRAY_SIZE(series_stats));

	test_ipi_context_fresh();
	test_sched_stats_preempted();
	test_sched_stats_blocked();

	ksft_finished();
}
