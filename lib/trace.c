// SPDX-License-Identifier: GPL-2.0-only
/*
 * Opt-in kernel event tracing for any kvm-vsched test, to find out what KVM
 * did when a test fails in a way its own output cannot explain.
 *
 * VSCHED_TRACE=kvm/kvm_inj_virq,kvm/kvm_apic_accept_irq:vec==236,...  enables
 * those trace events (with a filter after the colon, no spaces)
 * before main() and prints the last VSCHED_TRACE_LINES (default 400) lines
 * of the trace, as "# trace: " comments, when the test exits, failing or not.
 * In the QEMU boots, ./run.sh passes it on the kernel command line, which the
 * kernel hands to init as environment: VSCHED_APPEND="VSCHED_TRACE=...".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest.h"
#include "test_util.h"
#include "trace.h"

#define TRACEFS		"/sys/kernel/tracing/"
#define MAX_LINE	512

static unsigned int trace_lines;

static int write_tracefs(const char *file, const char *value)
{
	char path[256];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), TRACEFS "%s", file);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fputs(value, f) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

static void print_trace_tail(void)
{
	char (*ring)[MAX_LINE];
	unsigned long n = 0, i;
	FILE *f;

	write_tracefs("tracing_on", "0");
	f = fopen(TRACEFS "trace", "r");
	ring = calloc(trace_lines, MAX_LINE);
	if (!f || !ring) {
		printf("# trace: cannot read " TRACEFS "trace: %s\n", strerror(errno));
		goto out;
	}
	while (fgets(ring[n % trace_lines], MAX_LINE, f))
		n++;
	printf("# trace: the last %lu of %lu lines\n", n < trace_lines ? n : trace_lines, n);
	for (i = n > trace_lines ? n - trace_lines : 0; i < n; i++)
		printf("# trace: %s", ring[i % trace_lines]);
out:
	free(ring);
	if (f)
		fclose(f);
	fflush(stdout);
}

static void __attribute__((constructor)) trace_from_environment(void)
{
	const char *events = getenv("VSCHED_TRACE");
	const char *lines = getenv("VSCHED_TRACE_LINES");
	char *list, *event, *filter, *save = NULL;
	char file[256];
	int ret;

	if (!events || !*events)
		return;
	trace_lines = lines ? strtoul(lines, NULL, 10) : 400;
	if (!trace_lines)
		trace_lines = 400;
	write_tracefs("tracing_on", "0");
	write_tracefs("trace", "");
	list = strdup(events);
	for (event = strtok_r(list, ",", &save); event; event = strtok_r(NULL, ",", &save)) {
		filter = strchr(event, ':');
		if (filter) {
			*filter++ = '\0';
			snprintf(file, sizeof(file), "events/%s/filter", event);
			ret = write_tracefs(file, filter);
			if (ret)
				printf("# trace: cannot filter %s by \"%s\": %s\n",
				       event, filter, strerror(-ret));
		}
		snprintf(file, sizeof(file), "events/%s/enable", event);
		ret = write_tracefs(file, "1");
		if (ret)
			printf("# trace: cannot enable %s: %s\n", event, strerror(-ret));
	}
	free(list);
	write_tracefs("tracing_on", "1");
	atexit(print_trace_tail);
}

/*
 * Interrupts delivered twice by an emulated CPU.
 *
 * Under QEMU TCG's nested SVM, the emulated CPU sometimes delivers an event
 * that KVM injected (EVENTINJ) and still reports it as not delivered in
 * EXITINTINFO on the next #VMEXIT; KVM then re-injects it, as it must, and
 * the guest takes it twice.  Seen with VSCHED_TRACE: one kvm_apic_accept_irq,
 * one kvm_inj_virq, then the same vector "[reinjected]" 29 us later, and the
 * guest counted two.  Only there, and only when each extra delivery a test
 * sees is matched by such a re-injection on that vCPU's thread, is the extra
 * delivery put down to the emulator; anywhere else, a duplicate fails.
 */
static bool reinject_watching;

static bool under_qemu_tcg(void)
{
#ifdef __x86_64__
	uint32_t eax = 0x40000000, ebx, ecx = 0, edx;
	char sig[13];

	asm volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
	memcpy(sig, &ebx, 4);
	memcpy(sig + 4, &ecx, 4);
	memcpy(sig + 8, &edx, 4);
	sig[12] = '\0';
	return !strcmp(sig, "TCGTCGTCGTCG");
#else
	return false;
#endif
}

static void reinject_watch_stop(void)
{
	write_tracefs("events/kvm/kvm_inj_virq/enable", "0");
	write_tracefs("events/kvm/kvm_inj_virq/filter", "0");
}

bool reinject_watch_start(void)
{
	if (!under_qemu_tcg())
		return false;
	if (!reinject_watching) {
		if (write_tracefs("events/kvm/kvm_inj_virq/filter", "reinjected==1") ||
		    write_tracefs("events/kvm/kvm_inj_virq/enable", "1") ||
		    write_tracefs("tracing_on", "1"))
			return false;
		reinject_watching = true;
		atexit(reinject_watch_stop);
	}
	/* Count from now on (unless VSCHED_TRACE wants the whole trace). */
	if (!trace_lines)
		write_tracefs("trace", "");
	return true;
}

uint64_t reinject_count(pid_t tid, uint32_t vector)
{
	char line[MAX_LINE], task[32], irq[32];
	uint64_t n = 0;
	FILE *f;

	if (!reinject_watching)
		return 0;
	f = fopen(TRACEFS "trace", "r");
	if (!f)
		return 0;
	snprintf(task, sizeof(task), "-%d ", tid);
	snprintf(irq, sizeof(irq), "IRQ 0x%x [reinjected]", vector);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, task) && strstr(line, irq))
			n++;
	fclose(f);
	return n;
}

void irq_dups_check(const char *who, pid_t tid, uint32_t vector, uint64_t dups)
{
	uint64_t reinjected;

	if (!dups)
		return;
	TEST_ASSERT(reinject_watching, "%s: %lu duplicate deliveries: KVM delivered an interrupt twice",
		    who, dups);
	reinjected = reinject_count(tid, vector);
	TEST_ASSERT(dups <= reinjected,
		    "%s: %lu duplicate deliveries of vector 0x%x, only %lu re-injections by KVM to explain them",
		    who, dups, vector, reinjected);
	ksft_print_msg("%s: %lu duplicate deliveries of vector 0x%x, each matched by one of KVM's %lu re-injections after the emulated CPU reported the event undelivered (QEMU TCG nested SVM): not counted against KVM\n",
		       who, dups, vector, reinjected);
}
