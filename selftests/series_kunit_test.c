// SPDX-License-Identifier: GPL-2.0-only
/*
 * series_kunit_test - report the series' KUnit suite in the suite's TAP.
 *
 * The kernel series carries a KUnit suite, kvm_ipi_tracking, for the pure
 * rules of IPI-aware directed yield (context encoding for vCPU indices 0,
 * 63, 64, 511 and KVM_MAX_VCPUS - 1, window expiry, ipi_window_ns bounds,
 * tier order, stock equivalence with ipi_aware_yield=N).  When KUnit is
 * built in, it runs at boot; this test reads its results from
 * /sys/kernel/debug/kunit/kvm_ipi_tracking/results and passes only if every
 * case passed.  It skips when the series is not applied or the kernel has no
 * KUnit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest.h"
#include "vsched.h"

#define RESULTS		"/sys/kernel/debug/kunit/kvm_ipi_tracking/results"
#define MAX_RESULTS	16384

static char results[MAX_RESULTS];

static int count_lines(const char *text, const char *prefix)
{
	const char *p = text;
	int n = 0;

	while (p && *p) {
		p += strspn(p, " \t");
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

int main(int argc, char *argv[])
{
	int fd, ok, not_ok;
	ssize_t n;

	ksft_print_header();
	if (!vsched_series_applied())
		ksft_exit_skip("series not applied (no /sys/module/kvm/parameters/ipi_aware_yield)\n");

	fd = open(RESULTS, O_RDONLY);
	if (fd < 0)
		ksft_exit_skip("no %s (%s): kernel without KUnit (CONFIG_KUNIT=y, CONFIG_KUNIT_DEBUGFS=y)\n",
			       RESULTS, strerror(errno));
	n = read(fd, results, sizeof(results) - 1);
	close(fd);
	if (n < 0)
		ksft_exit_fail_msg("read %s: %s\n", RESULTS, strerror(errno));
	results[n] = '\0';

	ksft_set_plan(1);
	ok = count_lines(results, "ok ");
	not_ok = count_lines(results, "not ok ");
	if (not_ok || !ok) {
		printf("%s", results);
		ksft_test_result_fail("KUnit kvm_ipi_tracking: %d ok, %d not ok\n", ok, not_ok);
	} else {
		ksft_test_result_pass("KUnit kvm_ipi_tracking: %d ok lines, none failed\n", ok);
	}
	ksft_finished();
}
