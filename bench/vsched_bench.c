// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsched_bench - overcommit throughput of guest workloads with the
 * IPI-aware directed yield series on and off, A/B in one boot.
 *
 * For each workload (guest_code/workloads.h) and each VM count, it starts
 * that many VMs of --vcpus vCPUs each, all vCPU threads restricted to the
 * same --pcpus CPUs, lets them warm up, then measures --pairs pairs of
 * fixed wall-clock windows, kvm.ipi_aware_yield on and off (ABBA: odd pairs
 * on then off, even pairs off then on, so that a drift over the run
 * cancels out of the median ratio instead of favouring one side), with
 * the VMs running throughout.  A window counts the work units every VM
 * finished (read live from guest memory), the system-wide tracepoint
 * counts kvm:kvm_exit, kvm:kvm_hypercall, kvm:kvm_hv_hypercall and
 * sched:sched_switch (perf_event_open, one counter per CPU), and the
 * series' per-vCPU stats (yield tiers and outcomes, sched_out_preempted)
 * summed over every vCPU; what the kernel lacks is printed as NA.
 *
 * Without the series (no kvm.ipi_aware_yield) both windows of a pair run
 * the stock kernel and are labelled "stock": their ratio is the noise.
 *
 * Output, on stdout: "BENCHINFO,<key>,<value>" lines, one header line
 * "BENCH,workload,..." and one "BENCH,..." row per window.  The report
 * (bench/report.awk) turns them into ratios and efficiencies.
 * Exit: 0 done, 2 bad arguments, 4 (skip) when the host cannot run it.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"
#include "spin.h"
#include "vsched.h"
#include "workloads.h"

#define MAX_VMS		4
#define MAX_CPUS	1024
#define JOIN_TIMEOUT_S	60
#define AB_PARAM	"ipi_aware_yield"

struct opts {
	bool workload[NR_WL_KINDS];
	int vms[MAX_VMS];
	int nr_vms;
	int vcpus;
	int pcpus;
	bool pin_each;		/* each vCPU on one pCPU, not the whole set */
	int duration_ms;
	int pairs;
	int spin;
	uint64_t work;
	int settle_ms;
	int warmup_ms;
	bool force_stock;
};

static struct opts o = {
	.vcpus = 4,
	.duration_ms = 3000,
	.pairs = 5,
	.work = 20000,
	.settle_ms = 200,
	.warmup_ms = 500,
};

static int cpus[MAX_CPUS];	/* the pCPUs in use */

struct bench_vm;

struct bench_vcpu {
	struct bench_vm *bvm;
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	int cpu;		/* -1: the whole set */
};

struct bench_vm {
	struct kvm_vm *vm;
	struct bench_vcpu v[WL_MAX_VCPUS];
	struct vcpu_stats *stats[WL_MAX_VCPUS];
	struct wl_vcpu *gv;		/* the guest's wl_vcpu[], live */
	struct wl_shared *gs;		/* the guest's wl_shared, live */
	int arch_fd;
};

/* --- Tracepoint counters ------------------------------------------------ */

static const struct {
	const char *sys, *name;
} events[] = {
	{ "kvm", "kvm_exit" },
	{ "kvm", "kvm_hypercall" },
	{ "kvm", "kvm_hv_hypercall" },
	{ "sched", "sched_switch" },
};

#define NR_EVENTS	ARRAY_SIZE(events)

static int *event_fds[NR_EVENTS];	/* per CPU, -1 where not opened */
static bool event_ok[NR_EVENTS];
static int nr_cpu_ids;

/* The series' per-vCPU stats (docs/INTERFACES.md), summed over vCPUs. */
static const char * const stat_names[] = {
	"spin_entries", "yield_tier_ipi", "yield_tier_intr",
	"yield_tier_preempted", "yield_relaxed", "spin_yield_attempted",
	"spin_yield_successful", "ipi_sent_tracked", "sched_out_preempted",
};

#define NR_STATS	ARRAY_SIZE(stat_names)

struct snap {
	struct timespec t;
	uint64_t units[MAX_VMS];
	uint64_t ipis, spins;
	uint64_t ev[NR_EVENTS];
	uint64_t st[NR_STATS];
	bool st_ok[NR_STATS];
};

static int read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

static const char *tracefs_dir(void)
{
	static const char * const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/events", dirs[i]);
		if (!access(path, F_OK))
			return dirs[i];
	}
	/* As perf does: mount tracefs where the kernel expects it. */
	if (!mount("tracefs", dirs[0], "tracefs", 0, NULL))
		return dirs[0];
	return NULL;
}

static void events_open(void)
{
	struct perf_event_attr attr;
	const char *dir = tracefs_dir();
	char path[256], buf[32];
	size_t e;
	int cpu, opened, err;

	nr_cpu_ids = sysconf(_SC_NPROCESSORS_CONF);
	for (e = 0; e < NR_EVENTS; e++) {
		event_fds[e] = malloc(sizeof(int) * nr_cpu_ids);
		TEST_ASSERT(event_fds[e], "out of memory");
		for (cpu = 0; cpu < nr_cpu_ids; cpu++)
			event_fds[e][cpu] = -1;
		if (!dir) {
			printf("BENCHINFO,event,%s:%s unavailable: no tracefs (mount: %s)\n",
			       events[e].sys, events[e].name, strerror(errno));
			continue;
		}
		snprintf(path, sizeof(path), "%s/events/%s/%s/id", dir,
			 events[e].sys, events[e].name);
		err = read_file(path, buf, sizeof(buf));
		if (err) {
			printf("BENCHINFO,event,%s:%s unavailable: %s: %s\n",
			       events[e].sys, events[e].name, path, strerror(-err));
			continue;
		}
		memset(&attr, 0, sizeof(attr));
		attr.type = PERF_TYPE_TRACEPOINT;
		attr.size = sizeof(attr);
		attr.config = strtoull(buf, NULL, 10);
		opened = 0;
		err = 0;
		for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
			int fd = syscall(__NR_perf_event_open, &attr, -1, cpu, -1,
					 PERF_FLAG_FD_CLOEXEC);

			if (fd >= 0) {
				event_fds[e][cpu] = fd;
				opened++;
			} else if (errno != ENODEV) {
				err = errno;	/* not just an offline CPU */
				break;
			}
		}
		if (err || !opened) {
			printf("BENCHINFO,event,%s:%s unavailable: perf_event_open: %s\n",
			       events[e].sys, events[e].name,
			       strerror(err ? err : ENODEV));
			for (cpu = 0; cpu < nr_cpu_ids; cpu++)
				if (event_fds[e][cpu] >= 0)
					close(event_fds[e][cpu]);
			continue;
		}
		event_ok[e] = true;
		printf("BENCHINFO,event,%s:%s counted on %d CPUs\n",
		       events[e].sys, events[e].name, opened);
	}
}

static uint64_t event_read(size_t e)
{
	uint64_t sum = 0, v;
	int cpu;

	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		if (event_fds[e][cpu] < 0)
			continue;
		TEST_ASSERT(read(event_fds[e][cpu], &v, sizeof(v)) == sizeof(v),
			    "read %s:%s counter", events[e].sys, events[e].name);
		sum += v;
	}
	return sum;
}

/* --- pCPUs ---------------------------------------------------------------- */

/* CPUs of a "0-3,8,10-11" list that are also in @allowed, in order. */
static int cpulist_take(const char *list, cpu_set_t *allowed, int *out, int max)
{
	const char *p = list;
	int n = 0, a, b, c;
	char *end;

	while (*p && n < max) {
		a = strtol(p, &end, 10);
		if (end == p)
			break;
		b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (c = a; c <= b && n < max; c++) {
			if (c < CPU_SETSIZE && CPU_ISSET(c, allowed)) {
				out[n++] = c;
				CPU_CLR(c, allowed);
			}
		}
		p = *end == ',' ? end + 1 : end;
		if (*p == '\n')
			break;
	}
	return n;
}

/*
 * Picks the pCPUs: all CPUs this process may use, or the first --pcpus of
 * them, taken node by node (/sys/devices/system/node) so that a set that
 * fits in one NUMA node stays in it.  Returns how many.
 */
static int choose_pcpus(int want)
{
	char path[128], list[4096];
	cpu_set_t allowed;
	int n = 0, node, total;
	DIR *d;

	TEST_ASSERT(!sched_getaffinity(0, sizeof(allowed), &allowed), "sched_getaffinity");
	total = CPU_COUNT(&allowed);
	if (want <= 0 || want > total)
		want = total;
	d = opendir("/sys/devices/system/node");
	if (d) {
		closedir(d);
		for (node = 0; node < 1024 && n < want; node++) {
			snprintf(path, sizeof(path),
				 "/sys/devices/system/node/node%d/cpulist", node);
			if (read_file(path, list, sizeof(list)))
				continue;
			n += cpulist_take(list, &allowed, cpus + n, want - n);
			if (n)
				printf("BENCHINFO,node,%d\n", node);
		}
	}
	/* No node information: the allowed CPUs in order. */
	for (node = 0; node < CPU_SETSIZE && n < want; node++) {
		if (CPU_ISSET(node, &allowed)) {
			cpus[n++] = node;
			CPU_CLR(node, &allowed);
		}
	}
	return n;
}

static void pin_self(int cpu)
{
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
	} else {
		for (i = 0; i < o.pcpus; i++)
			CPU_SET(cpus[i], &set);
	}
	TEST_ASSERT(!pthread_setaffinity_np(pthread_self(), sizeof(set), &set),
		    "pin to CPU %d", cpu);
}

/* --- VMs ------------------------------------------------------------------ */

static void *vcpu_thread(void *arg)
{
	struct bench_vcpu *bv = arg;
	struct ucall uc;

	pin_self(bv->cpu);
	for (;;) {
		vcpu_run(bv->vcpu);
		switch (get_ucall(bv->vcpu, &uc)) {
		case UCALL_DONE:
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("vCPU %u: unexpected exit %s, ucall %lu",
				  bv->vcpu->id,
				  exit_reason_str(bv->vcpu->run->exit_reason), uc.cmd);
		}
	}
}

static void vm_start(struct bench_vm *b, int vm_idx, int kind)
{
	struct kvm_vcpu *vcpus[WL_MAX_VCPUS];
	int i;

	memset(b, 0, sizeof(*b));
	b->vm = vm_create(o.vcpus);
	for (i = 0; i < o.vcpus; i++) {
		vcpus[i] = vm_vcpu_add(b->vm, i, wl_guest_main);
		vcpu_args_set(vcpus[i], 1, i);
		vcpu_spin_setup(vcpus[i], o.spin);
	}
	b->arch_fd = wl_kind_uses_ipis(kind) ?
		     wl_arch_vm_setup(b->vm, vcpus, o.vcpus) : -1;

	wl_cfg.kind = kind;
	wl_cfg.nr_vcpus = o.vcpus;
	wl_cfg.spin = o.spin;
	wl_cfg.work = o.work;
	sync_global_to_guest(b->vm, wl_cfg);
	b->gv = addr_gva2hva(b->vm, (vm_vaddr_t)wl_vcpu);
	b->gs = addr_gva2hva(b->vm, (vm_vaddr_t)&wl_shared);

	for (i = 0; i < o.vcpus; i++) {
		struct bench_vcpu *bv = &b->v[i];

		bv->bvm = b;
		bv->vcpu = vcpus[i];
		bv->cpu = o.pin_each ? cpus[(vm_idx * o.vcpus + i) % o.pcpus] : -1;
		b->stats[i] = vcpu_stats_open(vcpus[i]);
	}
	for (i = 0; i < o.vcpus; i++)
		TEST_ASSERT(!pthread_create(&b->v[i].thread, NULL, vcpu_thread, &b->v[i]),
			    "pthread_create");
}

static void vm_stop(struct bench_vm *b, int kind)
{
	uint64_t units = 0;
	struct timespec ts;
	int i, ret;

	WRITE_ONCE(b->gs->stop, 1);
	for (i = 0; i < o.vcpus; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += JOIN_TIMEOUT_S;
		ret = pthread_timedjoin_np(b->v[i].thread, NULL, &ts);
		TEST_ASSERT(!ret, "vCPU %d did not stop within %d s of the stop flag",
			    i, JOIN_TIMEOUT_S);
		units += READ_ONCE(b->gv[i].units);
	}
	/* Every unit was counted once inside the lock: no lost update. */
	if (kind == WL_TICKETLOCK)
		TEST_ASSERT(b->gs->locked_units == units,
			    "ticket lock broken: %lu units, %lu counted under the lock",
			    units, b->gs->locked_units);
	for (i = 0; i < o.vcpus; i++)
		vcpu_stats_close(b->stats[i]);
	kvm_vm_free(b->vm);
	if (b->arch_fd >= 0)
		close(b->arch_fd);
}

static void take_snap(struct bench_vm *bvms, int nr, struct snap *s)
{
	size_t k;
	int v, i;

	memset(s, 0, sizeof(*s));
	for (k = 0; k < NR_STATS; k++)
		s->st_ok[k] = true;
	for (v = 0; v < nr; v++) {
		for (i = 0; i < o.vcpus; i++) {
			struct wl_vcpu *g = &bvms[v].gv[i];

			s->units[v] += READ_ONCE(g->units);
			s->ipis += READ_ONCE(g->ipis_sent);
			s->spins += READ_ONCE(g->spins);
			for (k = 0; k < NR_STATS; k++) {
				uint64_t val = 0;

				if (vcpu_stats_get(bvms[v].stats[i], stat_names[k], &val))
					s->st[k] += val;
				else
					s->st_ok[k] = false;
			}
		}
	}
	for (k = 0; k < NR_EVENTS; k++)
		if (event_ok[k])
			s->ev[k] = event_read(k);
	clock_gettime(CLOCK_MONOTONIC, &s->t);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void print_header(void)
{
	size_t k;

	printf("BENCH,workload,vms,vcpus,pcpus,pin,spin,pair,setting,window_ms,units,units_per_s_vm,min_vm_units_per_s,ipis,spins");
	for (k = 0; k < NR_EVENTS; k++)
		printf(",%s", events[k].name);
	for (k = 0; k < NR_STATS; k++)
		printf(",%s", stat_names[k]);
	printf("\n");
}

static void print_row(int kind, int nr, int pair, const char *setting,
		      const struct snap *a, const struct snap *b)
{
	double secs = (b->t.tv_sec - a->t.tv_sec) + (b->t.tv_nsec - a->t.tv_nsec) / 1e9;
	uint64_t units = 0, u;
	double min_rate = -1;
	size_t k;
	int v;

	for (v = 0; v < nr; v++) {
		u = b->units[v] - a->units[v];
		if (!u)
			printf("BENCHINFO,stall,%s %d VMs pair %d %s: VM %d finished no unit in the window\n",
			       wl_kind_name(kind), nr, pair, setting, v);
		units += u;
		if (min_rate < 0 || u / secs < min_rate)
			min_rate = u / secs;
	}
	printf("BENCH,%s,%d,%d,%d,%s,%s,%d,%s,%.0f,%lu,%.2f,%.2f,%lu,%lu",
	       wl_kind_name(kind), nr, o.vcpus, o.pcpus, o.pin_each ? "cpu" : "set",
	       spin_kind_name(o.spin), pair, setting, secs * 1000, units,
	       units / secs / nr, min_rate, b->ipis - a->ipis, b->spins - a->spins);
	for (k = 0; k < NR_EVENTS; k++) {
		if (event_ok[k])
			printf(",%lu", b->ev[k] - a->ev[k]);
		else
			printf(",NA");
	}
	for (k = 0; k < NR_STATS; k++) {
		if (a->st_ok[k] && b->st_ok[k])
			printf(",%lu", b->st[k] - a->st[k]);
		else
			printf(",NA");
	}
	printf("\n");
	fflush(stdout);
}

static void run_config(int kind, int nr, bool ab)
{
	struct bench_vm bvms[MAX_VMS];
	struct snap a, b;
	int v, pair, half;

	for (v = 0; v < nr; v++)
		vm_start(&bvms[v], v, kind);
	sleep_ms(o.warmup_ms);
	for (pair = 1; pair <= o.pairs; pair++) {
		for (half = 0; half < 2; half++) {
			const char *setting = "stock";

			if (ab) {
				bool on = half != pair % 2;

				setting = on ? "on" : "off";
				vsched_param_set(AB_PARAM, on ? "Y" : "N");
			}
			sleep_ms(o.settle_ms);
			take_snap(bvms, nr, &a);
			sleep_ms(o.duration_ms);
			take_snap(bvms, nr, &b);
			print_row(kind, nr, pair, setting, &a, &b);
		}
	}
	for (v = 0; v < nr; v++)
		vm_stop(&bvms[v], kind);
}

/* --- Arguments ------------------------------------------------------------- */

static void print_help(FILE *f)
{
	fprintf(f,
		"usage: vsched_bench [options]\n"
		"  -w, --workload LIST  all or a comma list of pipeline,barrier,ticketlock,compute (all)\n"
		"  -m, --vms LIST       VM counts, comma list of 1..%d (1,2,3)\n"
		"  -c, --vcpus N        vCPUs per VM, 2..%d (%d)\n"
		"  -p, --pcpus N        pCPUs to use, node by node (all allowed)\n"
		"  -P, --pin MODE       set: every vCPU on the whole pCPU set; cpu: one pCPU each (set)\n"
		"  -d, --duration MS    length of one measurement window (%d)\n"
		"  -n, --pairs N        on/off pairs per configuration (%d)\n"
		"  -s, --spin KIND      hv, pause (x86) or pause, wfe (arm64) (hv / wfe)\n"
		"  -W, --work N         compute iterations of one work unit (%lu)\n"
		"      --settle MS      after each switch, before the window (%d)\n"
		"      --warmup MS      after starting the VMs (%d)\n"
		"      --stock          never switch ipi_aware_yield (A/A)\n",
		MAX_VMS, WL_MAX_VCPUS, o.vcpus, o.duration_ms, o.pairs, o.work,
		o.settle_ms, o.warmup_ms);
}

static void bad_arg(const char *fmt, const char *arg)
{
	fprintf(stderr, "vsched_bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static int parse_int(const char *s, const char *what, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "vsched_bench: %s %s: want %d..%d\n", what, s, min, max);
		exit(2);
	}
	return v;
}

static void parse_workloads(char *arg)
{
	char *tok, *save;
	int k;

	memset(o.workload, 0, sizeof(o.workload));
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			for (k = 0; k < NR_WL_KINDS; k++)
				o.workload[k] = true;
			continue;
		}
		for (k = 0; k < NR_WL_KINDS; k++)
			if (!strcmp(tok, wl_kind_name(k)))
				break;
		if (k == NR_WL_KINDS)
			bad_arg("unknown workload '%s' (pipeline, barrier, ticketlock, compute, all)", tok);
		o.workload[k] = true;
	}
}

static void parse_vms(char *arg)
{
	char *tok, *save;

	o.nr_vms = 0;
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o.nr_vms == MAX_VMS)
			bad_arg("--vms %s: at most 4 VM counts", arg);
		o.vms[o.nr_vms++] = parse_int(tok, "--vms", 1, MAX_VMS);
	}
	if (!o.nr_vms)
		bad_arg("--vms '%s': no VM count", arg);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "vms", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "pcpus", required_argument, NULL, 'p' },
		{ "pin", required_argument, NULL, 'P' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pairs", required_argument, NULL, 'n' },
		{ "spin", required_argument, NULL, 's' },
		{ "work", required_argument, NULL, 'W' },
		{ "settle", required_argument, NULL, 'S' },
		{ "warmup", required_argument, NULL, 'U' },
		{ "stock", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ },
	};
	char wl_all[] = "all", vms_default[] = "1,2,3";
	int c;

	parse_workloads(wl_all);
	parse_vms(vms_default);
#ifdef __x86_64__
	o.spin = SPIN_HV;
#else
	o.spin = SPIN_WFE;
#endif
	while ((c = getopt_long(argc, argv, "w:m:c:p:P:d:n:s:W:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			parse_workloads(optarg);
			break;
		case 'm':
			parse_vms(optarg);
			break;
		case 'c':
			o.vcpus = parse_int(optarg, "--vcpus", 2, WL_MAX_VCPUS);
			break;
		case 'p':
			o.pcpus = parse_int(optarg, "--pcpus", 1, MAX_CPUS);
			break;
		case 'P':
			if (strcmp(optarg, "cpu") && strcmp(optarg, "set"))
				bad_arg("--pin %s: use cpu or set", optarg);
			o.pin_each = !strcmp(optarg, "cpu");
			break;
		case 'd':
			o.duration_ms = parse_int(optarg, "--duration (ms)", 100, 600000);
			break;
		case 'n':
			o.pairs = parse_int(optarg, "--pairs", 1, 1000);
			break;
		case 's':
			o.spin = spin_kind_parse(optarg);
			if (o.spin < 0)
				bad_arg("--spin %s: use hv, pause or wfe", optarg);
			if (!spin_kind_supported(o.spin))
				bad_arg("--spin %s: not on this architecture", optarg);
			break;
		case 'W':
			o.work = parse_int(optarg, "--work", 1, 1000000000);
			break;
		case 'S':
			o.settle_ms = parse_int(optarg, "--settle (ms)", 0, 60000);
			break;
		case 'U':
			o.warmup_ms = parse_int(optarg, "--warmup (ms)", 0, 60000);
			break;
		case 'A':
			o.force_stock = true;
			break;
		case 'h':
			print_help(stdout);
			exit(0);
		default:
			print_help(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_arg("unexpected argument '%s'", argv[optind]);
}

/* --- main ------------------------------------------------------------------ */

static char saved_ab[16];

static void restore_ab(void)
{
	if (saved_ab[0])
		vsched_param_write(AB_PARAM, saved_ab);
}

int main(int argc, char *argv[])
{
	struct utsname u;
	const char *why = "";
	bool ab;
	int k, i;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("BENCHINFO,skip,no usable /dev/kvm\n");
		return KSFT_SKIP;
	}
	if (!spin_kind_usable(o.spin, &why)) {
		printf("BENCHINFO,skip,--spin %s: %s\n", spin_kind_name(o.spin), why);
		return KSFT_SKIP;
	}

	o.pcpus = choose_pcpus(o.pcpus);
	/* The main thread too, so that guest memory is first touched there. */
	pin_self(-1);

	ab = vsched_series_applied() && !o.force_stock;
	if (ab) {
		TEST_ASSERT(!vsched_param_read(AB_PARAM, saved_ab, sizeof(saved_ab)),
			    "read kvm.%s", AB_PARAM);
		atexit(restore_ab);
	}

	uname(&u);
	printf("BENCHINFO,kernel,%s %s\n", u.release, u.machine);
	printf("BENCHINFO,series,%s\n", vsched_series_applied() ?
	       (ab ? "applied: A/B of kvm.ipi_aware_yield, on and off in each pair, ABBA order" :
		     "applied, but --stock: A/A, no switching") :
	       "not applied (no kvm.ipi_aware_yield): stock kernel, A/A pairs measure the noise");
	printf("BENCHINFO,pcpus,");
	for (i = 0; i < o.pcpus; i++)
		printf("%s%d", i ? " " : "", cpus[i]);
	printf("\n");
	printf("BENCHINFO,config,vcpus=%d pin=%s spin=%s duration_ms=%d pairs=%d work=%lu settle_ms=%d warmup_ms=%d\n",
	       o.vcpus, o.pin_each ? "cpu" : "set", spin_kind_name(o.spin), o.duration_ms,
	       o.pairs, o.work, o.settle_ms, o.warmup_ms);
	events_open();
	print_header();

	for (k = 0; k < NR_WL_KINDS; k++) {
		if (!o.workload[k])
			continue;
		if (wl_kind_uses_ipis(k) && !wl_arch_ipis_supported()) {
			printf("BENCHINFO,skip,%s: no IPIs on this architecture\n", wl_kind_name(k));
			continue;
		}
		for (i = 0; i < o.nr_vms; i++)
			run_config(k, o.vms[i], ab);
	}
	printf("BENCHINFO,done,ok\n");
	return 0;
}
