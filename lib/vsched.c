// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host-side helpers of kvm-vsched: module parameters, per-vCPU binary stats
 * and debugfs files of the kernel series, and per-thread scheduler counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "test_util.h"
#include "vsched.h"

#define PARAM_DIR	"/sys/module/kvm/parameters/"
#define DEBUGFS_KVM	"/sys/kernel/debug/kvm/"

/* Reads a small (sysfs, debugfs, proc) file whole: 0 or -errno. */
static int read_small_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

bool vsched_series_applied(void)
{
	return !access(PARAM_DIR "ipi_aware_yield", F_OK);
}

bool vsched_sched_stats_present(struct kvm_vcpu *vcpu)
{
	uint64_t v;

	return vcpu_stat_get(vcpu, "sched_in", &v);
}

int vsched_param_read(const char *name, char *buf, size_t size)
{
	char path[256];
	int ret;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	ret = read_small_file(path, buf, size);
	if (!ret)
		buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

int vsched_param_write(const char *name, const char *value)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

uint64_t vsched_param_u64(const char *name)
{
	char buf[64], *end;
	uint64_t v;
	int ret;

	ret = vsched_param_read(name, buf, sizeof(buf));
	TEST_ASSERT(!ret, "read kvm parameter %s: %s", name, strerror(-ret));
	v = strtoull(buf, &end, 0);
	TEST_ASSERT(end != buf && !*end, "kvm parameter %s is '%s', not a number",
		    name, buf);
	return v;
}

bool vsched_param_bool(const char *name)
{
	char buf[16];
	int ret;

	ret = vsched_param_read(name, buf, sizeof(buf));
	TEST_ASSERT(!ret, "read kvm parameter %s: %s", name, strerror(-ret));
	TEST_ASSERT(!strcmp(buf, "Y") || !strcmp(buf, "N"),
		    "kvm parameter %s is '%s', not Y or N", name, buf);
	return buf[0] == 'Y';
}

void vsched_param_set(const char *name, const char *value)
{
	int ret = vsched_param_write(name, value);

	TEST_ASSERT(!ret, "write '%s' to kvm parameter %s: %s", value, name,
		    strerror(-ret));
}

struct vcpu_stats {
	int fd;
	struct kvm_stats_header header;
	struct kvm_stats_desc *desc;
};

struct vcpu_stats *vcpu_stats_open(struct kvm_vcpu *vcpu)
{
	struct vcpu_stats *stats = calloc(1, sizeof(*stats));

	TEST_ASSERT(stats, "out of memory");
	stats->fd = vcpu_get_stats_fd(vcpu);
	read_stats_header(stats->fd, &stats->header);
	stats->desc = read_stats_descriptors(stats->fd, &stats->header);
	return stats;
}

void vcpu_stats_close(struct vcpu_stats *stats)
{
	if (!stats)
		return;
	close(stats->fd);
	free(stats->desc);
	free(stats);
}

bool vcpu_stats_get(struct vcpu_stats *stats, const char *name, uint64_t *value)
{
	struct kvm_stats_desc *desc;
	uint32_t i;

	for (i = 0; i < stats->header.num_desc; i++) {
		desc = get_stats_descriptor(stats->desc, i, &stats->header);
		if (strcmp(desc->name, name))
			continue;
		read_stat_data(stats->fd, &stats->header, desc, value, 1);
		return true;
	}
	return false;
}

uint64_t vcpu_stats_value(struct vcpu_stats *stats, const char *name)
{
	uint64_t v = 0;

	TEST_ASSERT(vcpu_stats_get(stats, name, &v),
		    "the kernel has no vCPU stat '%s'", name);
	return v;
}

bool vcpu_stat_get(struct kvm_vcpu *vcpu, const char *name, uint64_t *value)
{
	struct vcpu_stats *stats = vcpu_stats_open(vcpu);
	bool found = vcpu_stats_get(stats, name, value);

	vcpu_stats_close(stats);
	return found;
}

uint64_t vcpu_stat(struct kvm_vcpu *vcpu, const char *name)
{
	struct vcpu_stats *stats = vcpu_stats_open(vcpu);
	uint64_t v = vcpu_stats_value(stats, name);

	vcpu_stats_close(stats);
	return v;
}

int vcpu_debugfs_read(struct kvm_vm *vm, int vcpu_id, const char *file,
		      char *buf, size_t size)
{
	char path[256];

	snprintf(path, sizeof(path), DEBUGFS_KVM "%d-%d/vcpu%d/%s", getpid(),
		 vm->fd, vcpu_id, file);
	return read_small_file(path, buf, size);
}

int vcpu_ipi_context(struct kvm_vm *vm, int vcpu_id, struct ipi_context *ctx)
{
	char buf[256];
	int ret;

	ret = vcpu_debugfs_read(vm, vcpu_id, "ipi_context", buf, sizeof(buf));
	if (ret)
		return ret;
	ret = sscanf(buf, "receiver=%d receiver_age_ns=%" SCNd64
		     " pending=%d sender=%d sender_age_ns=%" SCNd64,
		     &ctx->receiver, &ctx->receiver_age_ns, &ctx->pending,
		     &ctx->sender, &ctx->sender_age_ns);
	TEST_ASSERT(ret == 5, "vcpu%d ipi_context is '%s': %d of 5 fields parsed",
		    vcpu_id, buf, ret);
	return 0;
}

/* "key : value" lines of /proc/<pid>/task/<tid>/sched. */
static bool sched_field(const char *text, const char *key, uint64_t *value)
{
	const char *p = text;
	size_t len = strlen(key);

	while ((p = strstr(p, key))) {
		bool at_line_start = p == text || p[-1] == '\n';
		const char *q = p + len;

		p = q;
		if (!at_line_start || (*q != ' ' && *q != ':'))
			continue;
		q += strspn(q, " :");
		*value = strtoull(q, NULL, 10);
		return true;
	}
	return false;
}

void thread_sched_read(pid_t tid, struct thread_sched *ts)
{
	char path[128], buf[8192], *p;
	int i;

	memset(ts, 0, sizeof(*ts));

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	TEST_ASSERT(!read_small_file(path, buf, sizeof(buf)), "read %s", path);
	TEST_ASSERT(sched_field(buf, "voluntary_ctxt_switches", &ts->voluntary) &&
		    sched_field(buf, "nonvoluntary_ctxt_switches", &ts->involuntary),
		    "no context switch counts in %s", path);

	snprintf(path, sizeof(path), "/proc/self/task/%d/sched", tid);
	if (!read_small_file(path, buf, sizeof(buf)))
		ts->have_migrations = sched_field(buf, "se.nr_migrations",
						  &ts->migrations);

	/* Field 39 of stat; the command name (field 2) may hold spaces. */
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	TEST_ASSERT(!read_small_file(path, buf, sizeof(buf)), "read %s", path);
	p = strrchr(buf, ')');
	TEST_ASSERT(p, "cannot parse %s", path);
	for (i = 2; p && i < 39; i++)
		p = strchr(p + 1, ' ');
	TEST_ASSERT(p, "cannot parse %s", path);
	ts->last_cpu = atoi(p + 1);
}

void thread_sched_delta(const struct thread_sched *before,
			const struct thread_sched *after,
			struct thread_sched *delta)
{
	delta->voluntary = after->voluntary - before->voluntary;
	delta->involuntary = after->involuntary - before->involuntary;
	delta->migrations = after->migrations - before->migrations;
	delta->have_migrations = before->have_migrations && after->have_migrations;
	delta->last_cpu = after->last_cpu;
}

pid_t vsched_gettid(void)
{
	return syscall(SYS_gettid);
}

int vsched_nr_cpus(void)
{
	cpu_set_t set;

	TEST_ASSERT(!sched_getaffinity(0, sizeof(set), &set), "sched_getaffinity");
	return CPU_COUNT(&set);
}

int vsched_pin_tid(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) ? -errno : 0;
}

double vsched_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double vsched_now_ms(void)
{
	return vsched_now() * 1e3;
}
