// SPDX-License-Identifier: GPL-2.0-only
/*
 * vsched-runner - run a list of test programs with per-test timeouts and
 * print the results as TAP 13.
 *
 * The same binary is the init (PID 1) of the test initramfs and the runner
 * of host-mode runs, so every run produces the same console format:
 *
 *   kvm-vsched: start <n> <name> timeout=<s>
 *   # <each line the test prints>
 *   kvm-vsched: end <n> <name> rc=<exit code|signal name|TIMEOUT> ms=<wall ms>
 *   ok <n> <name>                        (exit 0)
 *   ok <n> <name> # SKIP                 (exit 4, kselftest's skip)
 *   not ok <n> <name> # TIMEOUT <s>s     (killed at its timeout)
 *   not ok <n> <name>                    (any other exit or a signal)
 *   kvm-vsched: done tainted=<n>
 *
 * The list file has one test a line: "<name> <timeout seconds> <argv...>",
 * with paths relative to the directory of the list;
 * '#' starts a comment.  As PID 1 it reads /suite/tests.list, mounts the
 * pseudo filesystems the tests need and restarts the machine at the end
 * (QEMU runs with -no-reboot, so that ends it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <libgen.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_TESTS	256
#define MAX_ARGS	32
#define LINE_MAX_LEN	1024
#define KILL_GRACE_MS	2000
/* How long a killed test may take to be reaped before it counts as stuck. */
#define REAP_LIMIT_MS	10000
/* run_one(): the test survived SIGKILL, the remaining tests cannot run. */
#define RUN_STUCK	-2

struct test {
	char *name;
	unsigned int timeout_s;
	char *argv[MAX_ARGS + 1];
};

static struct test tests[MAX_TESTS];
static int nr_tests;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "vsched-runner: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void parse_line(char *line, const char *path, int lineno)
{
	struct test *t;
	char *tok, *save, *end;
	int argc = 0;

	line[strcspn(line, "#\n")] = '\0';
	tok = strtok_r(line, " \t", &save);
	if (!tok)
		return;
	if (nr_tests == MAX_TESTS)
		die("%s:%d: more than %d tests", path, lineno, MAX_TESTS);
	t = &tests[nr_tests];
	t->name = strdup(tok);

	tok = strtok_r(NULL, " \t", &save);
	if (!tok)
		die("%s:%d: '%s' has no timeout", path, lineno, t->name);
	errno = 0;
	t->timeout_s = strtoul(tok, &end, 10);
	if (errno || *end || !t->timeout_s)
		die("%s:%d: bad timeout '%s'", path, lineno, tok);

	while ((tok = strtok_r(NULL, " \t", &save))) {
		if (argc == MAX_ARGS)
			die("%s:%d: more than %d arguments", path, lineno, MAX_ARGS);
		t->argv[argc++] = strdup(tok);
	}
	if (!argc)
		die("%s:%d: '%s' has no command", path, lineno, t->name);
	t->argv[argc] = NULL;
	nr_tests++;
}

static void read_list(const char *path)
{
	char line[LINE_MAX_LEN];
	int lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		die("cannot open test list %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		parse_line(line, path, ++lineno);
	fclose(f);
}

static void mount_pseudo_filesystems(void)
{
	static const struct {
		const char *src, *dir, *type;
	} mounts[] = {
		{ "proc", "/proc", "proc" },
		{ "sysfs", "/sys", "sysfs" },
		{ "devtmpfs", "/dev", "devtmpfs" },
		{ "tmpfs", "/tmp", "tmpfs" },
		{ "debugfs", "/sys/kernel/debug", "debugfs" },
		{ "tracefs", "/sys/kernel/tracing", "tracefs" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mounts); i++) {
		mkdir(mounts[i].dir, 0755);
		if (mount(mounts[i].src, mounts[i].dir, mounts[i].type, 0, NULL) &&
		    errno != EBUSY)
			printf("kvm-vsched: mount %s: %s\n", mounts[i].dir,
			       strerror(errno));
	}
}

/* Copy the child's output to stdout, one "# "-prefixed line at a time. */
static void relay_output(int fd, char *buf, size_t *len, bool flush_all)
{
	ssize_t n;
	char *nl;

	n = read(fd, buf + *len, LINE_MAX_LEN - 1 - *len);
	if (n > 0)
		*len += n;
	while ((nl = memchr(buf, '\n', *len)) || *len == LINE_MAX_LEN - 1 ||
	       (flush_all && *len)) {
		size_t l = nl ? (size_t)(nl - buf) + 1 : *len;

		printf("# %.*s%s", (int)l, buf, nl ? "" : "\n");
		memmove(buf, buf + l, *len - l);
		*len -= l;
	}
	fflush(stdout);
}

static pid_t spawn(const struct test *t, int out_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid)
		return pid;

	/* Own process group, so a timeout kills the test's threads and children. */
	setpgid(0, 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	close(out_fd);
	execv(t->argv[0], t->argv);
	fprintf(stderr, "exec %s: %s\n", t->argv[0], strerror(errno));
	_exit(127);
}

/* Prints one line of a /proc file per output line, as "# hung: " comments. */
static void print_proc_file(const char *path, const char *indent)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# hung: %s%s%s", indent, line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
}

/*
 * Where a test hangs, before it is killed: per thread, its state, the system
 * call it is in (number, user SP and PC, to look up in the static binary)
 * and its kernel stack, so that a TIMEOUT says whether the test, KVM or the
 * guest was stuck.
 */
static void print_hung_threads(pid_t pid)
{
	char path[64], file[400];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		printf("# hung: thread %s\n", de->d_name);
		snprintf(file, sizeof(file), "%s/%s/stat", path, de->d_name);
		print_proc_file(file, "  stat: ");
		snprintf(file, sizeof(file), "%s/%s/syscall", path, de->d_name);
		print_proc_file(file, "  syscall: ");
		snprintf(file, sizeof(file), "%s/%s/stack", path, de->d_name);
		print_proc_file(file, "  ");
	}
	closedir(dir);
	fflush(stdout);
}

/*
 * Waits for  for at most REAP_LIMIT_MS.  A task that stays in the kernel
 * (in a guest, say) after SIGKILL never exits; waiting for it without a limit
 * would hang the boot until QEMU's own timeout.
 */
static bool reap_within_limit(pid_t pid, int *status)
{
	long long give_up = now_ms() + REAP_LIMIT_MS;
	const struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };

	do {
		if (waitpid(pid, status, WNOHANG) == pid)
			return true;
		nanosleep(&tick, NULL);
	} while (now_ms() < give_up);
	return false;
}

/*
 * Returns the wait status, -1 if the test had to be killed, or RUN_STUCK if
 * it could not even be killed.
 */
static int run_one(const struct test *t, int idx)
{
	long long start = now_ms(), deadline, kill_at = 0;
	char buf[LINE_MAX_LEN];
	bool timed_out = false;
	size_t len = 0;
	int pipefd[2], status = 0;
	pid_t pid;
	char rc[32];

	printf("kvm-vsched: start %d %s timeout=%u\n", idx, t->name, t->timeout_s);
	fflush(stdout);
	if (pipe(pipefd))
		die("pipe: %s", strerror(errno));
	pid = spawn(t, pipefd[1]);
	setpgid(pid, pid);
	close(pipefd[1]);

	deadline = start + t->timeout_s * 1000LL;
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		long long left = (kill_at ? kill_at : deadline) - now_ms();

		if (left <= 0) {
			if (kill_at)
				break;	/* output still open after SIGKILL: give up on it */
			timed_out = true;
			print_hung_threads(pid);
			kill(-pid, SIGKILL);
			kill_at = now_ms() + KILL_GRACE_MS;
			continue;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (pfd.revents & POLLIN) {
			relay_output(pipefd[0], buf, &len, false);
			continue;
		}
		break;	/* POLLHUP with nothing left: every writer is gone */
	}
	relay_output(pipefd[0], buf, &len, true);
	close(pipefd[0]);
	kill(-pid, SIGKILL);	/* stray background children of the test */
	if (!reap_within_limit(pid, &status)) {
		print_hung_threads(pid);
		printf("kvm-vsched: end %d %s rc=UNKILLABLE ms=%lld\n", idx, t->name,
		       now_ms() - start);
		printf("not ok %d %s # still alive %d ms after SIGKILL\n", idx,
		       t->name, REAP_LIMIT_MS);
		fflush(stdout);
		return RUN_STUCK;
	}

	if (timed_out)
		snprintf(rc, sizeof(rc), "TIMEOUT");
	else if (WIFSIGNALED(status))
		snprintf(rc, sizeof(rc), "SIG%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
	else
		snprintf(rc, sizeof(rc), "%d", WEXITSTATUS(status));
	printf("kvm-vsched: end %d %s rc=%s ms=%lld\n", idx, t->name, rc,
	       now_ms() - start);

	if (timed_out)
		printf("not ok %d %s # TIMEOUT %us\n", idx, t->name, t->timeout_s);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		printf("ok %d %s\n", idx, t->name);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
		printf("ok %d %s # SKIP\n", idx, t->name);
	else
		printf("not ok %d %s\n", idx, t->name);
	fflush(stdout);
	return timed_out ? -1 : status;
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int read_tainted(void)
{
	int tainted = -1;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (f) {
		if (fscanf(f, "%d", &tainted) != 1)
			tainted = -1;
		fclose(f);
	}
	return tainted;
}

int main(int argc, char **argv)
{
	bool as_init = getpid() == 1;
	const char *list = as_init ? "/suite/tests.list" : argv[1];
	char *dir;
	int i, failed = 0;

	if (!as_init && argc != 2) {
		fprintf(stderr, "usage: %s TEST_LIST\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (as_init)
		mount_pseudo_filesystems();

	read_list(list);
	/* Test paths in the list are relative to the list itself. */
	dir = strdup(list);
	if (chdir(dirname(dir)))
		die("cannot enter the directory of %s: %s", list, strerror(errno));
	free(dir);

	printf("TAP version 13\n1..%d\n", nr_tests);
	for (i = 0; i < nr_tests; i++) {
		int status = run_one(&tests[i], i + 1);

		if (status == RUN_STUCK) {
			printf("Bail out! %s survived SIGKILL; the tests after it are not run\n",
			       tests[i].name);
			failed++;
			break;
		}
		if (status == -1 || !WIFEXITED(status) ||
		    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 4))
			failed++;
		if (as_init)
			reap_orphans();
	}
	printf("kvm-vsched: done tainted=%d\n", as_init ? read_tainted() : -1);
	fflush(stdout);

	if (as_init) {
		sync();
		/*
		 * A restart rather than a power-off: QEMU runs with -no-reboot, so
		 * a reset ends it, and an x86 kernel built without ACPI has no
		 * power-off (it halts and QEMU would stay up).
		 */
		reboot(RB_AUTOBOOT);
		for (;;)
			pause();
	}
	return failed ? 1 : 0;
}
