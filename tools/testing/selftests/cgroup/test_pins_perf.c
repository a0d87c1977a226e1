// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for perf ring buffers charged to the "pins" cgroup v2 controller.
 *
 * The pages of a perf event's ring buffer stay pinned for as long as the
 * buffer is mapped. The first mmap() of the buffer, of 1 + 2^n pages (the
 * user page and the data), charges all of them to the pins cgroup of the
 * task that makes it, for the source "perf" of pins.stat, and the charge
 * goes back there when the last mapping of the buffer goes: more mappings
 * of the same buffer, by this or another process, in this or another
 * cgroup, charge nothing more, and moving the task or passing the event's
 * fd moves nothing. A buffer that would take the cgroup or an ancestor
 * above pins.max is refused with EPERM, as RLIMIT_MEMLOCK refuses it, and
 * charges nothing anywhere.
 *
 * RLIMIT_MEMLOCK is perf's own business and must behave as on vanilla
 * 6.12: a user's buffers are free up to kernel.perf_event_mlock_kb per
 * online CPU; the pages above that count in mm->pinned_vm ("VmPin:" in
 * /proc/<pid>/status) and are refused with EPERM past RLIMIT_MEMLOCK,
 * unless the task has CAP_IPC_LOCK or kernel.perf_event_paranoid is -1.
 * The pins cgroup is charged with the whole buffer, free pages included,
 * and CAP_IPC_LOCK does not lift pins.max.
 *
 * The events are software events of the test's own task, with
 * exclude_kernel set, which an unprivileged user may open while
 * kernel.perf_event_paranoid is at most 2. Every test starts with
 * perf_event_mlock_kb at its default; the tests set the sysctls they need
 * and the teardown puts them all back. AUX areas are charged like the ring buffer but
 * need a PMU with AUX support, which software events lack: only the
 * refusal of one is tested.
 *
 * Without the pins controller the RLIMIT_MEMLOCK tests still run, as they
 * must pass on a kernel without it, and the cgroup tests report SKIP.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

#define SYSCTL_MLOCK_KB		"/proc/sys/kernel/perf_event_mlock_kb"
#define SYSCTL_PARANOID		"/proc/sys/kernel/perf_event_paranoid"

/* The default of kernel.perf_event_mlock_kb: 512 KiB and the user page. */
#define DEFAULT_MLOCK_KB	516

/* Why a test that needs the pins controller skips. */
#define NO_PINS			"pins controller not available"

/* klogctl() actions, from include/linux/syslog.h. */
#define SYSLOG_READ_ALL		3
#define SYSLOG_SIZE_BUFFER	10

/* Read the whole of @path into a new NUL-terminated buffer, or NULL. */
static char *read_all(const char *path)
{
	size_t size = 4096, len = 0;
	char *buf = NULL, *tmp;
	ssize_t ret;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
		return NULL;
	}

	for (;;) {
		if (!buf || len + 1 >= size) {
			if (buf)
				size *= 2;
			tmp = realloc(buf, size);
			if (!tmp)
				goto fail;
			buf = tmp;
		}
		ret = read(fd, buf + len, size - len - 1);
		if (ret < 0) {
			ksft_print_msg("read %s: %s\n", path, strerror(errno));
			goto fail;
		}
		if (!ret)
			break;
		len += ret;
	}
	buf[len] = '\0';
	close(fd);

	return buf;

fail:
	free(buf);
	close(fd);
	return NULL;
}

/* Read the integer in @path into @val. Returns 0 or -1. */
static int read_long(const char *path, long *val)
{
	char *buf = read_all(path), *end;
	int ret = -1;

	if (!buf)
		return -1;
	errno = 0;
	*val = strtol(buf, &end, 10);
	if (!errno && end != buf && (*end == '\n' || !*end))
		ret = 0;
	else
		ksft_print_msg("can't parse %s\n", path);
	free(buf);

	return ret;
}

static int write_long(const char *path, long val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", val);
	return pins_write_file(path, buf, 0);
}

/*
 * Returns 0 if @cgroup (none if NULL) holds exactly @pages pages, all for
 * perf: pins.current and every line of pins.stat.
 */
static int cg_perf_expect(const char *cgroup, long pages)
{
	if (!cgroup)
		return 0;
	if (pins_expect(cgroup, "pins.current", pages))
		return -1;

	return pins_stat_check(cgroup, "perf", pages, true);
}

/* Returns 0 if the VmPin of @pid (0 for this process) is @pages pages. */
static int vmpin_expect(pid_t pid, long pages)
{
	return pins_status_expect(pid, "VmPin", pages);
}

/* pins_perf_open(), saying why it failed. Returns the fd, or -1. */
static int perf_open(void)
{
	int fd = pins_perf_open();

	if (fd < 0)
		ksft_print_msg("perf_event_open: %s\n", strerror(errno));

	return fd;
}

/*
 * Map @npages pages (the user page and the data) of the ring buffer of the
 * event @fd, at offset @pgoff pages. Returns 0 if that ends with errno
 * @expected (0 for success); the mapping is then stored in @addr.
 */
static int ring_map_at(int fd, long npages, long pgoff, int expected,
		       void **addr)
{
	void *p;
	int err = 0;

	p = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, pgoff * page_size);
	if (p == MAP_FAILED)
		err = errno;

	if (err != expected) {
		ksft_print_msg("mmap %ld pages at %ld of perf fd: got %d (%s), expected %d (%s)\n",
			       npages, pgoff, err, strerror(err), expected,
			       strerror(expected));
		if (!err)
			munmap(p, npages * page_size);
		return -1;
	}

	if (!err && addr)
		*addr = p;

	return 0;
}

static int ring_map(int fd, long npages, int expected, void **addr)
{
	return ring_map_at(fd, npages, 0, expected, addr);
}

/* Unmap the @npages pages at *@addr, if mapped, and forget them. */
static int ring_unmap(void **addr, long npages)
{
	int ret = 0;

	if (*addr && munmap(*addr, npages * page_size)) {
		ksft_print_msg("munmap: %s\n", strerror(errno));
		ret = -1;
	}
	*addr = NULL;

	return ret;
}

/* The number of online CPUs, which perf_event_mlock_kb is multiplied by. */
static long online_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/*
 * Run @fn(@cgroup, @arg) in a child process, in @cgroup unless it is NULL.
 * Returns 0 if the child exited with EXIT_SUCCESS.
 */
static int run_child(const char *cgroup,
		     int (*fn)(const char *cgroup, void *arg), void *arg)
{
	pid_t pid = pins_fork(cgroup);

	if (!pid)
		pins_child_exit(fn(cgroup, arg));

	return pid < 0 ? -1 : pins_reap(&pid);
}

/*
 * Fork a child that runs @fn with its end of a new socketpair and @arg,
 * and exits with what @fn returns. In the parent, returns 0 with the
 * child's pid in @pid and the parent's end of the socketpair in @sock.
 */
static int fork_peer(int *sock, pid_t *pid, int (*fn)(int sock, void *arg),
		     void *arg)
{
	*pid = pins_fork_peer(NULL, sock);
	if (*pid == 0)
		pins_child_exit(fn(*sock, arg));
	if (*pid > 0)
		return 0;

	*pid = 0;
	return -1;
}

/*
 * How many times @line (a whole line, its newline included) is in the
 * kernel log, or -1 if the log can't be read.
 */
static int kmsg_count(const char *line)
{
	int size, len, n = 0;
	char *buf, *p;

	size = klogctl(SYSLOG_SIZE_BUFFER, NULL, 0);
	if (size <= 0) {
		ksft_print_msg("klogctl: %s\n", strerror(errno));
		return -1;
	}
	buf = malloc(size + 1);
	if (!buf)
		return -1;
	len = klogctl(SYSLOG_READ_ALL, buf, size);
	if (len < 0) {
		ksft_print_msg("klogctl: %s\n", strerror(errno));
		free(buf);
		return -1;
	}
	buf[len] = '\0';

	for (p = strstr(buf, line); p; p = strstr(p + 1, line))
		n++;
	free(buf);

	return n;
}

/* The line logged when @cgroup (below @root) first refuses a perf pin. */
static void refusal_line(char *buf, size_t size, const char *root,
			 const char *cgroup)
{
	pins_refusal_text(buf, size - 1, "perf", root, cgroup);
	strcat(buf, "\n");
}

FIXTURE(perf) {
	char root[PATH_MAX];	/* empty without cgroup v2 */
	bool pins;		/* the pins controller is there */
	char parent[PATH_MAX];	/* pins enabled for its children */
	char cg[PATH_MAX];	/* the test's cgroup, a child of parent */
	char sibling[PATH_MAX];	/* a second child of parent */
	long long root_perf;	/* the root's perf bytes at setup */
	char tracing[64];	/* tracefs, once the tracepoint is on */
	long mlock_kb;		/* perf_event_mlock_kb to restore, or -1 */
	long paranoid;		/* perf_event_paranoid to restore, or LONG_MIN */
};

/* Set the sysctl perf_event_mlock_kb to @kb; teardown puts it back. */
static int set_mlock_kb(struct _test_data_perf *self, long kb)
{
	long old;

	if (self->mlock_kb < 0) {
		if (read_long(SYSCTL_MLOCK_KB, &old))
			return -1;
		self->mlock_kb = old;
	}

	return write_long(SYSCTL_MLOCK_KB, kb);
}

/*
 * Make perf_event_paranoid let an unprivileged user open its own events
 * (at most 2) and keep RLIMIT_MEMLOCK in force (not -1); teardown puts it
 * back.
 */
static int set_paranoid(struct _test_data_perf *self)
{
	long old;

	if (read_long(SYSCTL_PARANOID, &old))
		return -1;
	if (old >= 0 && old <= 2)
		return 0;
	if (self->paranoid == LONG_MIN)
		self->paranoid = old;

	return write_long(SYSCTL_PARANOID, 2);
}

/*
 * Every test runs in a child process of its own, which may end anywhere
 * (a failed ASSERT, a signal). FIXTURE_TEARDOWN_PARENT() runs the teardown
 * in the parent instead, in every case, and shares the fixture with it:
 * the sysctls get their old values back and the cgroups, with whatever
 * peer processes are left in them, go away however the test ended. That
 * is why the fixture holds paths, not pointers to the child's memory.
 * Teardown only follows a complete setup: the setup undoes a partial one.
 */
static void perf_cleanup(struct _test_data_perf *self)
{
	char path[PATH_MAX];

	if (self->tracing[0]) {
		snprintf(path, sizeof(path),
			 "%s/events/pins/charge_refused/enable", self->tracing);
		pins_write_file(path, "0", 0);
		self->tracing[0] = '\0';
	}
	if (self->mlock_kb >= 0)
		write_long(SYSCTL_MLOCK_KB, self->mlock_kb);
	self->mlock_kb = -1;
	if (self->paranoid != LONG_MIN)
		write_long(SYSCTL_PARANOID, self->paranoid);
	self->paranoid = LONG_MIN;

	if (self->sibling[0])
		cg_destroy(self->sibling);
	if (self->cg[0])
		cg_destroy(self->cg);
	if (self->parent[0])
		cg_destroy(self->parent);
	self->sibling[0] = '\0';
	self->cg[0] = '\0';
	self->parent[0] = '\0';
}

/*
 * Store @dir/@prefix@name in @buf, of PATH_MAX bytes. Returns 0, or -1
 * with @buf empty if it doesn't fit.
 */
static int cg_path(char *buf, const char *prefix, const char *dir,
		   const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s%s", dir, prefix, name) >=
	    PATH_MAX) {
		buf[0] = '\0';
		return -1;
	}

	return 0;
}

/*
 * Create the fixture's cgroups if the pins controller is there. Returns 0
 * if they are there or not needed, -1 on failure.
 */
static int perf_setup_cgroups(struct _test_data_perf *self, const char *test)
{
	int ret;

	ret = pins_setup_root(self->root, sizeof(self->root));
	if (ret == KSFT_SKIP)
		return 0;
	if (ret != KSFT_PASS)
		return -1;
	self->pins = true;

	self->root_perf = pins_stat_bytes(self->root, "perf");
	if (self->root_perf < 0)
		return -1;

	if (cg_path(self->parent, "pins_perf_", self->root, test) ||
	    pins_create(self->parent, true) ||
	    cg_path(self->cg, "", self->parent, "child") ||
	    pins_create(self->cg, false) ||
	    cg_path(self->sibling, "", self->parent, "b") ||
	    pins_create(self->sibling, false))
		return -1;

	return 0;
}

FIXTURE_SETUP(perf)
{
	int ret, fd;

	pins_util_init();
	self->mlock_kb = -1;
	self->paranoid = LONG_MIN;

	if (access(SYSCTL_PARANOID, F_OK))
		SKIP(return, "no perf events (CONFIG_PERF_EVENTS=n)");
	/* As root perf_event_open() is allowed at any paranoia level. */
	fd = perf_open();
	ASSERT_LE(0, fd);
	close(fd);

	/* Every test starts with the default allowance. */
	ret = set_mlock_kb(self, DEFAULT_MLOCK_KB);
	if (!ret)
		ret = perf_setup_cgroups(self, _metadata->name);
	if (ret)
		perf_cleanup(self);
	ASSERT_EQ(0, ret);
}

FIXTURE_TEARDOWN_PARENT(perf)
{
	perf_cleanup(self);
}

/* Returns 0 if the root's perf line is @pages pages above the start's. */
static int root_perf_expect(struct _test_data_perf *self, long pages)
{
	long long got = pins_stat_bytes(self->root, "perf");
	long long want = self->root_perf + (long long)pages * page_size;

	if (got != want) {
		ksft_print_msg("root perf: got %lld bytes, expected %lld\n",
			       got, want);
		return -1;
	}

	return 0;
}

/*
 * Returns 0 if the test's cgroup and its parent hold @cg pages and
 * @parent pages, the root @root pages more than at the start; always
 * without the pins controller.
 */
static int charged(struct _test_data_perf *self, long cg, long parent,
		   long root)
{
	if (!self->pins)
		return 0;
	if (cg_perf_expect(self->cg, cg) ||
	    cg_perf_expect(self->parent, parent))
		return -1;

	return root_perf_expect(self, root);
}

/* Empty the trace. Returns 0 or -1. */
static int trace_clear(struct _test_data_perf *self)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/trace", self->tracing);

	return pins_write_file(path, "", O_TRUNC);
}

/*
 * Turn the pins:charge_refused tracepoint on and empty the trace; teardown
 * turns it off. Returns 0, or -1 if there is no such tracepoint.
 */
static int trace_start(struct _test_data_perf *self)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path),
			 "%s/events/pins/charge_refused/enable", dirs[i]);
		if (!access(path, W_OK))
			break;
	}
	if (i == ARRAY_SIZE(dirs))
		return -1;

	snprintf(self->tracing, sizeof(self->tracing), "%s", dirs[i]);
	if (pins_write_file(path, "1", 0))
		return -1;

	return trace_clear(self);
}

/*
 * Returns 0 if the trace holds one pins:charge_refused event for perf, and
 * exactly this one: fired by this process, for a charge of @pages pages to
 * @cgroup refused by the limit of @limiter at @limit pages with @usage
 * pages charged.
 */
static int trace_expect(struct _test_data_perf *self, const char *cgroup,
			const char *limiter, long pages, long limit,
			long usage)
{
	char path[PATH_MAX], want[512], comm[32] = "";
	char *buf, *p, *end;
	int all = 0, same = 0;

	if (proc_read_text(getpid(), false, "comm", comm, sizeof(comm)) < 0)
		return -1;
	comm[strcspn(comm, "\n")] = '\0';

	snprintf(want, sizeof(want),
		 "charge_refused: pid=%d comm=%s cgroup=%llu limiter=%llu source=perf pages=%ld limit=%ld usage=%ld",
		 getpid(), comm, pins_cg_id(cgroup), pins_cg_id(limiter), pages, limit,
		 usage);

	snprintf(path, sizeof(path), "%s/trace", self->tracing);
	buf = read_all(path);
	if (!buf)
		return -1;

	for (p = buf; p && *p; p = end ? end + 1 : NULL) {
		end = strchr(p, '\n');
		if (end)
			*end = '\0';
		if (*p != '#' && strstr(p, "source=perf ")) {
			all++;
			/* Ours ends the line. */
			if (strlen(p) >= strlen(want) &&
			    !strcmp(p + strlen(p) - strlen(want), want))
				same++;
			else
				ksft_print_msg("trace: %s\n", p);
		}
	}
	free(buf);

	if (all != 1 || same != 1) {
		ksft_print_msg("%d perf refusals traced, %d as expected, not one \"%s\"\n",
			       all, same, want);
		return -1;
	}

	return 0;
}

/*
 * The first mmap() of a ring buffer charges its pages, the user page
 * included, to the mapper's cgroup, its ancestors and the root's perf
 * line, not to VmPin within the default perf_event_mlock_kb; more mappings
 * of the buffer charge nothing more; the last munmap() gives it all back,
 * closing the event doesn't. Mappings perf refuses charge nothing, and a
 * task in the root cgroup is charged there.
 */
TEST_F(perf, charge_and_return)
{
	void *ring = NULL, *ring2 = NULL;
	int fd;

	if (!self->pins)
		SKIP(return, NO_PINS);
	ASSERT_EQ(0, cg_enter_current(self->cg));

	fd = perf_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, charged(self, 0, 0, 0));

	/* Not 1 + 2^n pages: refused before anything is charged. */
	ASSERT_EQ(0, ring_map(fd, 4, EINVAL, NULL));
	ASSERT_EQ(0, charged(self, 0, 0, 0));

	ASSERT_EQ(0, ring_map(fd, 3, 0, &ring));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, vmpin_expect(0, 0));

	/* The same buffer again: one more mapping, no more charge. */
	ASSERT_EQ(0, ring_map(fd, 3, 0, &ring2));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));

	/* Another size while the buffer is mapped: refused. */
	ASSERT_EQ(0, ring_map(fd, 5, EINVAL, NULL));
	ASSERT_EQ(0, charged(self, 3, 3, 3));

	ASSERT_EQ(0, ring_unmap(&ring, 3));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, ring_unmap(&ring2, 3));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, vmpin_expect(0, 0));

	/* A new buffer, then the event closed while it is mapped. */
	ASSERT_EQ(0, ring_map(fd, 9, 0, &ring));
	ASSERT_EQ(0, charged(self, 9, 9, 9));
	pins_close_fd(&fd);
	ASSERT_EQ(0, charged(self, 9, 9, 9));
	ASSERT_EQ(0, ring_unmap(&ring, 9));
	ASSERT_EQ(0, charged(self, 0, 0, 0));

	/* From the root cgroup, the root's perf line alone. */
	ASSERT_EQ(0, cg_enter_current(self->root));
	fd = perf_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ring_map(fd, 2, 0, &ring));
	ASSERT_EQ(0, charged(self, 0, 0, 2));
	ASSERT_EQ(0, ring_unmap(&ring, 2));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	pins_close_fd(&fd);
}

/*
 * A buffer over the cgroup's pins.max is refused with EPERM and changes
 * nothing but the refusal's record: pins.events and pins.events.local, one
 * kernel log line for the cgroup's first refusal and a pins:charge_refused
 * event for each. A buffer exactly at the limit fits.
 */
TEST_F(perf, refused_by_max)
{
	void *ring = NULL;
	char line[PATH_MAX + 64];
	int fd, fd2, logged;

	if (!self->pins)
		SKIP(return, NO_PINS);
	ASSERT_EQ(0, pins_set_max(self->cg, 2));
	if (trace_start(self))
		SKIP(return, "no pins:charge_refused tracepoint");
	refusal_line(line, sizeof(line), self->root, self->cg);
	logged = kmsg_count(line);
	ASSERT_LE(0, logged);

	ASSERT_EQ(0, cg_enter_current(self->cg));
	fd = perf_open();
	ASSERT_LE(0, fd);
	fd2 = perf_open();
	ASSERT_LE(0, fd2);

	ASSERT_EQ(0, ring_map(fd, 3, EPERM, NULL));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, vmpin_expect(0, 0));
	ASSERT_EQ(0, pins_events_expect(self->cg, 1, 1));
	ASSERT_EQ(0, pins_events_expect(self->parent, 1, 0));
	ASSERT_EQ(0, trace_expect(self, self->cg, self->cg, 3, 2, 0));
	ASSERT_EQ(logged + 1, kmsg_count(line));

	/* The refused buffer left nothing behind: one at the limit fits. */
	ASSERT_EQ(0, ring_map(fd, 2, 0, &ring));
	ASSERT_EQ(0, charged(self, 2, 2, 2));
	ASSERT_EQ(0, vmpin_expect(0, 0));

	/* The smallest buffer, the user page alone, is one too many. */
	ASSERT_EQ(0, trace_clear(self));
	ASSERT_EQ(0, ring_map(fd2, 1, EPERM, NULL));
	ASSERT_EQ(0, charged(self, 2, 2, 2));
	ASSERT_EQ(0, vmpin_expect(0, 0));
	ASSERT_EQ(0, pins_events_expect(self->cg, 2, 2));
	ASSERT_EQ(0, pins_events_expect(self->parent, 2, 0));
	ASSERT_EQ(0, trace_expect(self, self->cg, self->cg, 1, 2, 2));
	/* Logged once per cgroup. */
	ASSERT_EQ(logged + 1, kmsg_count(line));

	ASSERT_EQ(0, ring_unmap(&ring, 2));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
}

/*
 * An unlimited cgroup is bound by its parent's pins.max: a buffer over it
 * is refused with EPERM, charges nothing, and is recorded at the parent.
 */
TEST_F(perf, refused_by_parent_max)
{
	void *ring = NULL, *ring2 = NULL;
	char line[PATH_MAX + 64];
	int fd, fd2, logged;

	if (!self->pins)
		SKIP(return, NO_PINS);
	ASSERT_EQ(0, pins_set_max(self->parent, 4));
	ASSERT_EQ(0, pins_expect(self->cg, "pins.max", PINS_MAX));
	if (trace_start(self))
		SKIP(return, "no pins:charge_refused tracepoint");
	refusal_line(line, sizeof(line), self->root, self->parent);
	logged = kmsg_count(line);
	ASSERT_LE(0, logged);

	ASSERT_EQ(0, cg_enter_current(self->cg));
	fd = perf_open();
	ASSERT_LE(0, fd);
	fd2 = perf_open();
	ASSERT_LE(0, fd2);

	ASSERT_EQ(0, ring_map(fd, 3, 0, &ring));
	ASSERT_EQ(0, charged(self, 3, 3, 3));

	ASSERT_EQ(0, ring_map(fd2, 3, EPERM, NULL));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, vmpin_expect(0, 0));
	ASSERT_EQ(0, pins_events_expect(self->cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->parent, 1, 1));
	ASSERT_EQ(0, trace_expect(self, self->cg, self->parent, 3, 4, 3));
	ASSERT_EQ(logged + 1, kmsg_count(line));

	/* Up to the parent's limit is fine. */
	ASSERT_EQ(0, ring_map(fd2, 1, 0, &ring2));
	ASSERT_EQ(0, charged(self, 4, 4, 4));

	ASSERT_EQ(0, ring_unmap(&ring, 3));
	ASSERT_EQ(0, ring_unmap(&ring2, 1));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->parent, 1, 1));
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
}

/*
 * Child of rlimit_as_vanilla with perf_event_mlock_kb at 0, as TEST_UID
 * with RLIMIT_MEMLOCK at 3 pages: every page of a buffer counts in VmPin,
 * so a 3-page buffer fits and no more does; the cgroup, if any, holds
 * what is mapped.
 */
static int child_no_allowance(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd = -1, fd2 = -1;
	void *ring = NULL;

	if (pins_drop_privileges(3))
		return EXIT_FAILURE;

	fd = perf_open();
	fd2 = perf_open();
	if (fd < 0 || fd2 < 0)
		goto out;

	if (ring_map(fd, 3, 0, &ring) || vmpin_expect(0, 3) ||
	    cg_perf_expect(cgroup, 3))
		goto out;

	/* Refused ones change nothing. */
	if (ring_map(fd2, 2, EPERM, NULL) || ring_map(fd2, 5, EPERM, NULL) ||
	    vmpin_expect(0, 3) || cg_perf_expect(cgroup, 3))
		goto out;

	if (ring_unmap(&ring, 3) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 0))
		goto out;

	/* 5 pages are over the limit on their own too. */
	if (ring_map(fd2, 5, EPERM, NULL) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 0))
		goto out;

	if (ring_map(fd2, 3, 0, &ring) || vmpin_expect(0, 3) ||
	    cg_perf_expect(cgroup, 3))
		goto out;
	if (ring_unmap(&ring, 3) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, 3);
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
	return ret;
}

/*
 * Child of rlimit_as_vanilla with the default perf_event_mlock_kb, as
 * TEST_UID with RLIMIT_MEMLOCK at 3 pages: buffers within the allowance
 * leave VmPin alone, whatever the rlimit, and the cgroup, if any, is
 * charged with all of them.
 */
static int child_allowance(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd = -1, fd2 = -1;
	void *ring = NULL, *ring2 = NULL;

	if (pins_drop_privileges(3))
		return EXIT_FAILURE;

	fd = perf_open();
	fd2 = perf_open();
	if (fd < 0 || fd2 < 0)
		goto out;

	if (ring_map(fd, 5, 0, &ring) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 5))
		goto out;
	if (ring_map(fd2, 9, 0, &ring2) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 14))
		goto out;

	if (ring_unmap(&ring, 5) || ring_unmap(&ring2, 9) ||
	    vmpin_expect(0, 0) || cg_perf_expect(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, 5);
	ring_unmap(&ring2, 9);
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
	return ret;
}

/*
 * Child of rlimit_as_vanilla with perf_event_mlock_kb at one page per CPU,
 * as TEST_UID: a buffer of *@arg pages, more than that allowance, counts
 * what is above it in VmPin, which RLIMIT_MEMLOCK allows exactly; a user
 * page more is refused; once the buffer is gone it fits in the allowance.
 */
static int child_part_allowance(const char *cgroup, void *arg)
{
	long npages = *(long *)arg, extra = npages - online_cpus();
	int ret = EXIT_FAILURE, fd = -1, fd2 = -1;
	void *ring = NULL, *ring2 = NULL;

	if (pins_drop_privileges(extra))
		return EXIT_FAILURE;

	fd = perf_open();
	fd2 = perf_open();
	if (fd < 0 || fd2 < 0)
		goto out;

	if (ring_map(fd, npages, 0, &ring) || vmpin_expect(0, extra) ||
	    cg_perf_expect(cgroup, npages))
		goto out;

	if (ring_map(fd2, 1, EPERM, NULL) || vmpin_expect(0, extra) ||
	    cg_perf_expect(cgroup, npages))
		goto out;

	if (ring_unmap(&ring, npages) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 0))
		goto out;

	if (ring_map(fd2, 1, 0, &ring2) || vmpin_expect(0, 0) ||
	    cg_perf_expect(cgroup, 1))
		goto out;
	if (ring_unmap(&ring2, 1) || cg_perf_expect(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, npages);
	ring_unmap(&ring2, 1);
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits what a buffer takes above
 * the user's perf_event_mlock_kb allowance, counted in VmPin, as vanilla
 * does. Runs without the pins controller too; with it, the cgroup is
 * charged with the whole buffer.
 */
TEST_F(perf, rlimit_as_vanilla)
{
	const char *cg = self->pins ? self->cg : NULL;
	long npages;

	ASSERT_EQ(0, set_paranoid(self));

	ASSERT_EQ(0, set_mlock_kb(self, 0));
	ASSERT_EQ(0, run_child(cg, child_no_allowance, NULL));

	ASSERT_EQ(0, set_mlock_kb(self, DEFAULT_MLOCK_KB));
	ASSERT_EQ(0, run_child(cg, child_allowance, NULL));

	/* 1 + 2^n pages, more than one page per CPU. */
	for (npages = 2; npages <= online_cpus(); npages = 2 * npages - 1)
		;
	ASSERT_EQ(0, set_mlock_kb(self, page_size / 1024));
	ASSERT_EQ(0, run_child(cg, child_part_allowance, &npages));

	if (self->pins)
		ASSERT_EQ(0, charged(self, 0, 0, 0));
}

/*
 * Child of cap_ipc_lock, as root with RLIMIT_MEMLOCK at 0 and
 * perf_event_mlock_kb at 0: CAP_IPC_LOCK lets the buffer past the rlimit,
 * still counted in VmPin, but not past pins.max (3 pages of 4), if
 * @cgroup isn't NULL.
 */
static int child_cap_ipc_lock(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd = -1, fd2 = -1;
	void *ring = NULL, *ring2 = NULL;

	if (pins_set_memlock(0))
		return EXIT_FAILURE;
	if (pins_cap_ipc_lock_effective() != 1) {
		ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
		return EXIT_FAILURE;
	}

	fd = perf_open();
	fd2 = perf_open();
	if (fd < 0 || fd2 < 0)
		goto out;

	if (ring_map(fd, 3, 0, &ring) || vmpin_expect(0, 3) ||
	    cg_perf_expect(cgroup, 3))
		goto out;

	if (cgroup) {
		if (ring_map(fd2, 3, EPERM, NULL) || vmpin_expect(0, 3) ||
		    cg_perf_expect(cgroup, 3))
			goto out;
	} else {
		if (ring_map(fd2, 3, 0, &ring2) || vmpin_expect(0, 6))
			goto out;
	}

	if (ring_unmap(&ring, 3) || ring_unmap(&ring2, 3) ||
	    vmpin_expect(0, 0) || cg_perf_expect(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, 3);
	ring_unmap(&ring2, 3);
	pins_close_fd(&fd);
	pins_close_fd(&fd2);
	return ret;
}

/*
 * CAP_IPC_LOCK lifts RLIMIT_MEMLOCK (with no perf_event_mlock_kb allowance
 * and an rlimit of 0) but not pins.max. Without the pins controller only
 * the rlimit part runs, and the test reports SKIP.
 */
TEST_F(perf, cap_ipc_lock)
{
	ASSERT_EQ(0, set_paranoid(self));
	ASSERT_EQ(0, set_mlock_kb(self, 0));

	if (!self->pins) {
		ASSERT_EQ(0, run_child(NULL, child_cap_ipc_lock, NULL));
		SKIP(return, NO_PINS ": rlimit part only");
	}

	ASSERT_EQ(0, pins_set_max(self->cg, 4));
	ASSERT_EQ(0, run_child(self->cg, child_cap_ipc_lock, NULL));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->cg, 1, 1));
}

/* The cgroups of charge_stays_with_buffer. */
struct ab {
	const char *a, *b;
};

/*
 * Child of charge_stays_with_buffer, the creator: map a 3-page buffer in
 * cgroup A, move to B, fork a child that must not have the mapping, hand
 * the event over, then unmap and exit, each step when told over @sock.
 */
static int creator(int sock, void *arg)
{
	const struct ab *ab = arg;
	int ret = EXIT_FAILURE, fd = -1, status;
	unsigned char vec;
	void *ring = NULL;
	pid_t pid;

	if (cg_enter_current(ab->a)) {
		ksft_print_msg("can't move into %s\n", ab->a);
		return EXIT_FAILURE;
	}
	fd = perf_open();
	if (fd < 0 || ring_map(fd, 3, 0, &ring) || pins_sock_send(sock, 'M', -1))
		goto out;

	if (pins_sock_recv(sock, 'B', NULL))
		goto out;
	if (cg_enter_current(ab->b)) {
		ksft_print_msg("can't move into %s\n", ab->b);
		goto out;
	}
	if (pins_sock_send(sock, 'b', -1))
		goto out;

	/* A child gets no copy of the mapping (VM_DONTCOPY). */
	if (pins_sock_recv(sock, 'F', NULL))
		goto out;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		goto out;
	if (!pid) {
		if (!mincore(ring, page_size, &vec) || errno != ENOMEM) {
			ksft_print_msg("the buffer is mapped in the child\n");
			_exit(EXIT_FAILURE);
		}
		/* The parent checks the charges while we are here. */
		if (pins_sock_send(sock, 'C', -1) || pins_sock_recv(sock, 'c', NULL))
			_exit(EXIT_FAILURE);
		_exit(EXIT_SUCCESS);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != EXIT_SUCCESS) {
		ksft_print_msg("forked child failed\n");
		goto out;
	}
	if (pins_sock_send(sock, 'f', fd))
		goto out;

	if (pins_sock_recv(sock, 'X', NULL))
		goto out;
	if (ring_unmap(&ring, 3))
		goto out;
	pins_close_fd(&fd);
	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, 3);
	pins_close_fd(&fd);
	return ret;
}

/*
 * Child of charge_stays_with_buffer, the receiver: in cgroup B, get the
 * event over @sock, map its buffer, and unmap it when told.
 */
static int receiver(int sock, void *arg)
{
	const struct ab *ab = arg;
	int ret = EXIT_FAILURE, fd = -1;
	void *ring = NULL;

	if (cg_enter_current(ab->b)) {
		ksft_print_msg("can't move into %s\n", ab->b);
		return EXIT_FAILURE;
	}
	if (pins_sock_send(sock, 'R', -1) || pins_sock_recv(sock, 'F', &fd))
		goto out;
	if (ring_map(fd, 3, 0, &ring) || vmpin_expect(0, 0) ||
	    pins_sock_send(sock, 'M', -1))
		goto out;

	if (pins_sock_recv(sock, 'U', NULL) || ring_unmap(&ring, 3) ||
	    pins_sock_send(sock, 'D', -1))
		goto out;

	ret = EXIT_SUCCESS;
out:
	ring_unmap(&ring, 3);
	pins_close_fd(&fd);
	return ret;
}

/* Wait for the child @pid; returns 0 if it exited with EXIT_SUCCESS. */
static int reap(pid_t pid)
{
	pid_t tmp = pid;

	return pins_reap(&tmp);
}

/*
 * The charge belongs to the buffer: it stays in the cgroup of the task
 * that mapped it first (A) when that task moves to B, forks, passes the
 * event to a process in B that maps the buffer too (charging nothing
 * more), unmaps and exits; it goes when the last mapping does.
 */
TEST_F(perf, charge_stays_with_buffer)
{
	struct ab ab = { .a = self->cg, .b = self->sibling };
	int sk_c = -1, sk_r = -1, fd = -1;
	pid_t pid_c, pid_r;

	if (!self->pins)
		SKIP(return, NO_PINS);

	/*
	 * Peers left behind by a failed assertion are killed with their
	 * cgroups by the teardown.
	 */
	ASSERT_EQ(0, fork_peer(&sk_r, &pid_r, receiver, &ab));
	ASSERT_EQ(0, pins_sock_recv(sk_r, 'R', NULL));
	ASSERT_EQ(0, fork_peer(&sk_c, &pid_c, creator, &ab));

	ASSERT_EQ(0, pins_sock_recv(sk_c, 'M', NULL));
	ASSERT_EQ(0, cg_perf_expect(self->cg, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, root_perf_expect(self, 3));

	/* The creator moves to B. */
	ASSERT_EQ(0, pins_sock_send(sk_c, 'B', -1));
	ASSERT_EQ(0, pins_sock_recv(sk_c, 'b', NULL));
	ASSERT_EQ(0, cg_perf_expect(self->cg, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, cg_perf_expect(self->parent, 3));

	/* ... and forks: its child has no mapping, nothing is charged. */
	ASSERT_EQ(0, pins_sock_send(sk_c, 'F', -1));
	ASSERT_EQ(0, pins_sock_recv(sk_c, 'C', NULL));
	ASSERT_EQ(0, cg_perf_expect(self->cg, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, root_perf_expect(self, 3));
	ASSERT_EQ(0, pins_sock_send(sk_c, 'c', -1));

	/* The event goes to the receiver in B, which maps the buffer. */
	ASSERT_EQ(0, pins_sock_recv(sk_c, 'f', &fd));
	ASSERT_EQ(0, pins_sock_send(sk_r, 'F', fd));
	pins_close_fd(&fd);
	ASSERT_EQ(0, pins_sock_recv(sk_r, 'M', NULL));
	ASSERT_EQ(0, cg_perf_expect(self->cg, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, cg_perf_expect(self->parent, 3));
	ASSERT_EQ(0, root_perf_expect(self, 3));

	/* The creator unmaps and exits: the receiver's mapping holds it. */
	ASSERT_EQ(0, pins_sock_send(sk_c, 'X', -1));
	ASSERT_EQ(0, reap(pid_c));
	pins_close_fd(&sk_c);
	ASSERT_EQ(0, cg_perf_expect(self->cg, 3));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, root_perf_expect(self, 3));

	/* The last mapping goes: so does the charge, from A. */
	ASSERT_EQ(0, pins_sock_send(sk_r, 'U', -1));
	ASSERT_EQ(0, pins_sock_recv(sk_r, 'D', NULL));
	ASSERT_EQ(0, cg_perf_expect(self->cg, 0));
	ASSERT_EQ(0, cg_perf_expect(self->sibling, 0));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, reap(pid_r));
	pins_close_fd(&sk_r);
}

/*
 * An AUX area on an event whose PMU has none is refused as on vanilla,
 * with EOPNOTSUPP, and its charge is undone: the cgroup holds the ring
 * buffer alone, and no refusal is counted. Runs without the pins
 * controller too, for the errno and VmPin.
 */
TEST_F(perf, aux_unsupported)
{
	struct perf_event_mmap_page *up;
	void *ring = NULL;
	int fd;

	/* No allowance: VmPin shows whatever perf accounts. */
	ASSERT_EQ(0, set_mlock_kb(self, 0));
	if (self->pins)
		ASSERT_EQ(0, cg_enter_current(self->cg));
	fd = perf_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ring_map(fd, 3, 0, &ring));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, vmpin_expect(0, 3));

	up = ring;
	up->aux_offset = 3 * page_size;
	up->aux_size = 2 * page_size;
	ASSERT_EQ(0, ring_map_at(fd, 2, 3, EOPNOTSUPP, NULL));
	ASSERT_EQ(0, charged(self, 3, 3, 3));
	ASSERT_EQ(0, vmpin_expect(0, 3));
	if (self->pins)
		ASSERT_EQ(0, pins_events_expect(self->cg, 0, 0));

	ASSERT_EQ(0, ring_unmap(&ring, 3));
	ASSERT_EQ(0, charged(self, 0, 0, 0));
	ASSERT_EQ(0, vmpin_expect(0, 0));
	pins_close_fd(&fd);
}

/* The charge of an AUX area needs a PMU that has them. */
TEST_F(perf, aux_charge)
{
	SKIP(return,
	     "AUX areas need a PMU with AUX support (intel_pt, arm_spe, cs_etm ...), software events have none");
}

TEST_HARNESS_MAIN
