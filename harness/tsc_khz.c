// SPDX-License-Identifier: GPL-2.0-only
/*
 * tsc_khz: print the frequency, in kHz, at which an x86_64 guest's TSC counts
 * under QEMU TCG, where rdtsc reads the host's own TSC.
 *
 * The x86_64 test kernel has no ACPI, so it has no HPET or PM timer to
 * calibrate its TSC against, and under a busy TCG the PIT alone fails.
 * Without a TSC frequency the kernel marks the TSC unstable and KVM cannot
 * run a vCPU, so run.sh passes this value as tsc_early_khz=.
 *
 * Each reading of CLOCK_MONOTONIC (QEMU's virtual clock runs on it) is
 * bracketed by two TSC reads, and the tightest of a few brackets is kept, so
 * that a preemption between the reads does not skew the result.
 *
 * Exit status: 0 with the frequency on stdout, 1 when this host has no TSC
 * to measure (not x86_64) or the clock is unusable.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MEASURE_NS	200000000L
#define BRACKET_TRIES	32

#if defined(__x86_64__)
#include <x86intrin.h>

struct clock_pair {
	uint64_t tsc;
	uint64_t ns;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static struct clock_pair read_pair(void)
{
	struct clock_pair best = { 0, 0 };
	uint64_t width = UINT64_MAX, before, after, ns;
	int i;

	for (i = 0; i < BRACKET_TRIES; i++) {
		before = __rdtsc();
		ns = monotonic_ns();
		after = __rdtsc();
		if (after > before && after - before < width) {
			width = after - before;
			best.tsc = before + width / 2;
			best.ns = ns;
		}
	}
	return best;
}

int main(void)
{
	struct timespec pause = { 0, MEASURE_NS };
	struct clock_pair start, end;

	start = read_pair();
	nanosleep(&pause, NULL);
	end = read_pair();
	if (!start.ns || end.ns <= start.ns || end.tsc <= start.tsc) {
		fprintf(stderr, "tsc_khz: TSC or CLOCK_MONOTONIC did not advance\n");
		return 1;
	}
	printf("%llu\n", (unsigned long long)
	       ((end.tsc - start.tsc) * 1000000ULL / (end.ns - start.ns)));
	return 0;
}
#else
int main(void)
{
	fprintf(stderr, "tsc_khz: only an x86_64 host has a TSC to measure\n");
	return 1;
}
#endif
