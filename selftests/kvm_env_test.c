// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvm_env_test - the KVM this run talks to is usable at all.
 *
 * Every run starts with it, so that a broken environment shows up as one
 * clear failure instead of every later test failing in its own way:
 *  - /dev/kvm answers KVM_GET_API_VERSION with 12;
 *  - a VM with one vCPU runs guest code that reports through ucall and
 *    reaches GUEST_DONE;
 *  - inside the suite's x86_64 QEMU boot (where this test runs under the
 *    suite's init), the L1 CPU shows SVM, which kvm_amd needs.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define GUEST_MAGIC	0x5eedf00dull

static void guest_code(void)
{
	GUEST_SYNC(GUEST_MAGIC);
	GUEST_DONE();
}

static void test_api_version(void)
{
	int kvm_fd = open_kvm_dev_path_or_exit();
	int version = ioctl(kvm_fd, KVM_GET_API_VERSION, NULL);

	close(kvm_fd);
	TEST_ASSERT(version == KVM_API_VERSION,
		    "KVM_GET_API_VERSION returned %d, want %d", version,
		    KVM_API_VERSION);
	ksft_test_result_pass("api_version_is_%d\n", KVM_API_VERSION);
}

static void test_guest_runs(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC,
		    "first ucall is %lu, want UCALL_SYNC", uc.cmd);
	TEST_ASSERT(uc.args[1] == GUEST_MAGIC,
		    "guest sent 0x%lx, want 0x%llx", uc.args[1], GUEST_MAGIC);

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_DONE,
		    "second ucall is %lu, want UCALL_DONE", uc.cmd);

	kvm_vm_free(vm);
	ksft_test_result_pass("guest_runs_to_done\n");
}

/* PID 1 is the suite's runner only inside the suite's own QEMU boots. */
static bool in_suite_boot(void)
{
	char exe[64] = "";

	if (readlink("/proc/1/exe", exe, sizeof(exe) - 1) < 0)
		return false;
	return !strcmp(exe, "/init");
}

static void test_l1_has_svm(void)
{
	char line[4096];
	bool svm = false;
	FILE *f;

#ifndef __x86_64__
	ksft_test_result_skip("l1_cpu_has_svm: x86_64 only\n");
	return;
#endif
	if (!in_suite_boot()) {
		ksft_test_result_skip("l1_cpu_has_svm: checked only in the QEMU boot\n");
		return;
	}
	f = fopen("/proc/cpuinfo", "r");
	TEST_ASSERT(f, "open /proc/cpuinfo");
	while (!svm && fgets(line, sizeof(line), f))
		svm = !strncmp(line, "flags", 5) && strstr(line, " svm");
	fclose(f);
	TEST_ASSERT(svm, "no 'svm' in the /proc/cpuinfo flags: QEMU is not emulating SVM");
	ksft_test_result_pass("l1_cpu_has_svm\n");
}

int main(int argc, char *argv[])
{
	struct utsname u;

	uname(&u);
	ksft_print_header();
	ksft_print_msg("kernel %s %s\n", u.release, u.machine);
	ksft_set_plan(3);

	test_api_version();
	test_guest_runs();
	test_l1_has_svm();

	ksft_finished();
}
