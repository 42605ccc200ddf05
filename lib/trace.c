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
