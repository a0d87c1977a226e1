// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the pins controller selftests (test_pins*.c,
 * test_vm_account.c).
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"

long page_size;
const char *skip_reason;

/* Sets page_size; call first. */
void pins_util_init(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	if (page_size <= 0)
		page_size = PAGE_SIZE;
}

/* Copy @src into @dst with control characters escaped, for messages. */
const char *pins_escape(char *dst, size_t size, const char *src)
{
	static const char ctl[] = "\n\t\v\f\r", esc[] = "ntvfr";
	unsigned char c;
	size_t i = 0;

	for (; *src && i + 5 < size; src++) {
		c = *src;
		if (strchr(ctl, c)) {
			dst[i++] = '\\';
			dst[i++] = esc[strchr(ctl, c) - ctl];
		} else if (c < 0x20 || c == 0x7f) {
			i += sprintf(dst + i, "\\x%02x", c);
		} else {
			dst[i++] = c;
		}
	}
	dst[i] = '\0';

	return dst;
}

/*
 * Returns 1 if @word is one of the space separated words of
 * @cgroup/@control, 0 if it is not and -1 if the file can't be read.
 */
int pins_cg_has_word(const char *cgroup, const char *control,
		     const char *word)
{
	char buf[PAGE_SIZE];
	char *tok, *save;

	if (cg_read(cgroup, control, buf, sizeof(buf)))
		return -1;

	for (tok = strtok_r(buf, "\n ", &save); tok;
	     tok = strtok_r(NULL, "\n ", &save))
		if (!strcmp(tok, word))
			return 1;

	return 0;
}

/*
 * Every test starts here: skip if the controller isn't built in,
 * otherwise make sure it is enabled for the children of the root.
 */
int pins_prepare(const char *root)
{
	if (pins_cg_has_word(root, "cgroup.controllers", "pins") != 1) {
		skip_reason = "pins controller not available";
		return KSFT_SKIP;
	}

	if (cg_write(root, "cgroup.subtree_control", "+pins")) {
		ksft_print_msg("can't enable pins in %s\n", root);
		return KSFT_FAIL;
	}

	return KSFT_PASS;
}

/**
 * pins_setup_root() - find the cgroup v2 root and pins_prepare() it
 * @root: where the root's path goes, "" if cgroup v2 isn't mounted
 * @size: @root's size
 *
 * Return: as pins_prepare(); KSFT_SKIP (with skip_reason) also if cgroup
 * v2 isn't mounted.
 */
int pins_setup_root(char *root, size_t size)
{
	if (cg_find_unified_root(root, size, NULL)) {
		*root = '\0';
		skip_reason = "cgroup v2 isn't mounted";
		return KSFT_SKIP;
	}

	return pins_prepare(root);
}

/* Create @cgroup and, if @enable, enable pins for its children. */
int pins_create(const char *cgroup, bool enable)
{
	if (cg_create(cgroup)) {
		ksft_print_msg("mkdir %s: %s\n", cgroup, strerror(errno));
		return -1;
	}

	if (enable && cg_write(cgroup, "cgroup.subtree_control", "+pins")) {
		ksft_print_msg("can't enable pins in %s\n", cgroup);
		return -1;
	}

	return 0;
}

/* Returns 0 if @cgroup/@control reads back exactly @expected. */
int pins_expect_str(const char *cgroup, const char *control,
		    const char *expected)
{
	char buf[128], got[256], want[256];
	int ret;

	ret = cg_read(cgroup, control, buf, sizeof(buf));
	if (ret) {
		ksft_print_msg("read %s/%s: %s\n", cgroup, control,
			       strerror(-ret));
		return -1;
	}

	if (strcmp(buf, expected)) {
		ksft_print_msg("%s/%s: got \"%s\", expected \"%s\"\n",
			       cgroup, control,
			       pins_escape(got, sizeof(got), buf),
			       pins_escape(want, sizeof(want), expected));
		return -1;
	}

	return 0;
}

/* Format @pages (or PINS_MAX) the way pins.max and pins.current show it. */
void pins_format(char *buf, size_t size, long long pages)
{
	if (pages == PINS_MAX)
		snprintf(buf, size, "max\n");
	else
		snprintf(buf, size, "%llu\n",
			 (unsigned long long)pages * page_size);
}

/* Returns 0 if @cgroup/@control shows exactly @pages pages. */
int pins_expect(const char *cgroup, const char *control, long long pages)
{
	char want[64];

	pins_format(want, sizeof(want), pages);

	return pins_expect_str(cgroup, control, want);
}

/*
 * Write the exact bytes of @buf to @cgroup/@control with one write(2).
 * Returns 0 if all of them were taken, -errno if the open or the write
 * failed and -EIO on a short write.
 */
int pins_write(const char *cgroup, const char *control, const char *buf)
{
	size_t len = strlen(buf);
	ssize_t ret;
	int fd, err;

	fd = cg_open(cgroup, control, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	ret = write(fd, buf, len);
	err = errno;
	close(fd);

	if (ret < 0)
		return -err;

	return (size_t)ret == len ? 0 : -EIO;
}

/* Set pins.max of @cgroup to @pages pages (or PINS_MAX) and check it. */
int pins_set_max(const char *cgroup, long long pages)
{
	char buf[64];
	int ret;

	if (pages == PINS_MAX)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)pages * page_size);

	ret = pins_write(cgroup, "pins.max", buf);
	if (ret) {
		ksft_print_msg("write \"%s\" to %s/pins.max: %s\n", buf,
			       cgroup, strerror(-ret));
		return -1;
	}

	return pins_expect(cgroup, "pins.max", pages);
}

/*
 * Create @root/@name with pins enabled for its children, and its child
 * "child". The names go to @parent and @child, for pins_destroy_pair(),
 * which must be called whatever this returns.
 */
int pins_create_pair(const char *root, const char *name, char **parent,
		     char **child)
{
	*parent = cg_name(root, name);
	*child = *parent ? cg_name(*parent, "child") : NULL;
	if (!*child)
		return -1;

	if (pins_create(*parent, true) || pins_create(*child, false))
		return -1;

	return 0;
}

/* Move back to @root and remove what pins_create_pair() made. */
void pins_destroy_pair(const char *root, char **parent, char **child)
{
	cg_enter_current(root);
	if (*child)
		cg_destroy(*child);
	if (*parent)
		cg_destroy(*parent);
	free(*child);
	free(*parent);
	*child = NULL;
	*parent = NULL;
}

/**
 * pins_create_pair_at() - pins_create_pair() with the paths in buffers
 * @root: the root cgroup
 * @name: the name of the parent cgroup to make in @root
 * @parent: where the path of @root/@name goes (PATH_MAX)
 * @child: where the path of its child "child" goes (PATH_MAX)
 *
 * For a fixture, whose teardown removes the cgroups with
 * pins_destroy_pair_at() only after a setup that succeeded.
 *
 * Return: 0, or -1 with nothing left made and @parent and @child "".
 */
int pins_create_pair_at(const char *root, const char *name, char *parent,
			char *child)
{
	char *p = NULL, *c = NULL;
	int ret;

	ret = pins_create_pair(root, name, &p, &c);
	if (!ret)
		ret = pins_path_of(parent, root, name);
	if (!ret)
		ret = pins_path_of(child, parent, "child");
	if (ret) {
		pins_destroy_pair(root, &p, &c);
		*parent = '\0';
		*child = '\0';
	}
	free(p);
	free(c);

	return ret;
}

/**
 * pins_destroy_pair_at() - remove what pins_create_pair_at() made
 * @root: the root cgroup, which this process moves back to first
 * @parent: the parent cgroup
 * @child: its child
 * @sibling: another child of @parent to remove first, unless ""
 */
void pins_destroy_pair_at(const char *root, const char *parent,
			  const char *child, const char *sibling)
{
	/* cg_destroy() kills what is inside: that mustn't be us. */
	cg_enter_current(root);
	if (*sibling)
		cg_destroy(sibling);
	cg_destroy(child);
	cg_destroy(parent);
}

/*
 * Run @tests as one kselftest program: every test is reported, as skipped
 * if cgroup v2 is not mounted.
 */
int pins_run_tests(const struct pins_test *tests, size_t n)
{
	char root[PATH_MAX];
	bool have_root;
	size_t i;

	have_root = !cg_find_unified_root(root, sizeof(root), NULL);

	ksft_print_header();
	ksft_set_plan(n);

	pins_util_init();

	for (i = 0; i < n; i++) {
		/* Report every test, so a partial run is never mistaken. */
		if (!have_root) {
			ksft_test_result_skip("%s: cgroup v2 isn't mounted\n",
					      tests[i].name);
			continue;
		}

		skip_reason = NULL;
		switch (tests[i].fn(root)) {
		case KSFT_PASS:
			ksft_test_result_pass("%s\n", tests[i].name);
			break;
		case KSFT_SKIP:
			ksft_test_result_skip("%s: %s\n", tests[i].name,
					      skip_reason ? skip_reason :
					      "skipped");
			break;
		default:
			ksft_test_result_fail("%s\n", tests[i].name);
			break;
		}
	}

	ksft_finished();
}

/* Returns 1 if CAP_IPC_LOCK is in the effective set, 0 if not, -1. */
int pins_cap_ipc_lock_effective(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data)) {
		ksft_print_msg("capget: %s\n", strerror(errno));
		return -1;
	}

	return !!(data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &
		  CAP_TO_MASK(CAP_IPC_LOCK));
}

/* Sets RLIMIT_MEMLOCK, soft and hard, to @pages pages (PINS_MAX: none). */
int pins_set_memlock(long long pages)
{
	struct rlimit rl = {
		.rlim_cur = pages == PINS_MAX ? RLIM_INFINITY :
			    (rlim_t)pages * page_size,
	};

	rl.rlim_max = rl.rlim_cur;
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		ksft_print_msg("setrlimit: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Runs @fn in a child process that first moves into @cgroup. Returns 0 if
 * the child exited with EXIT_SUCCESS.
 */
int pins_run_child(const char *cgroup,
		   int (*fn)(const char *cgroup, void *arg), void *arg)
{
	int ret;

	fflush(stdout);
	ret = cg_run(cgroup, fn, arg);
	if (ret != EXIT_SUCCESS) {
		ksft_print_msg("child in %s failed (%d)\n", cgroup, ret);
		return -1;
	}

	return 0;
}

/*
 * Like pins_expect(), but gives the kernel up to two seconds to get there,
 * for charges returned when a process or file goes away.
 */
int pins_expect_wait(const char *cgroup, const char *control,
		     long long pages)
{
	char want[64], buf[128];
	int i;

	pins_format(want, sizeof(want), pages);
	for (i = 0; i < 200; i++) {
		if (!cg_read(cgroup, control, buf, sizeof(buf)) &&
		    !strcmp(buf, want))
			return 0;
		usleep(10000);
	}

	return pins_expect(cgroup, control, pages);
}

/*
 * Runs @fn in a child process in a new cgroup @name below @root whose
 * pins.max is @max pages, then checks that nothing stayed charged. The
 * caller has checked that the test can run (pins_prepare()).
 */
int pins_run_in_new_cgroup(const char *root, const char *name,
			   long long max,
			   int (*fn)(const char *cgroup, void *arg), void *arg)
{
	int ret = KSFT_FAIL;
	char *cg;

	cg = cg_name(root, name);
	if (!cg || pins_create(cg, false) || pins_set_max(cg, max))
		goto cleanup;
	if (pins_run_child(cg, fn, arg) ||
	    pins_expect_wait(cg, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	cg_enter_current(root);
	cg_destroy(cg);
	free(cg);

	return ret;
}

/*
 * The value of the @key line (such as "VmLck") of /proc/@pid/status, of
 * this process if @pid is 0, in pages; -1 if it can't be read.
 */
long pins_status_pages(pid_t pid, const char *key)
{
	char buf[4 * PAGE_SIZE], tag[32];
	char *line, *end;
	long long kb;

	if (!pid)
		pid = getpid();

	if (proc_read_text(pid, false, "status", buf, sizeof(buf)) < 0) {
		ksft_print_msg("can't read /proc/%d/status\n", pid);
		return -1;
	}

	snprintf(tag, sizeof(tag), "\n%s:", key);
	line = strstr(buf, tag);
	if (!line) {
		ksft_print_msg("no %s in /proc/%d/status\n", key, pid);
		return -1;
	}

	line += strlen(tag);
	kb = strtoll(line, &end, 10);
	if (end == line || strncmp(end, " kB\n", 4)) {
		ksft_print_msg("can't parse %s of /proc/%d/status\n", key, pid);
		return -1;
	}

	return kb * 1024 / page_size;
}

/**
 * pins_status_check() - check a line of /proc/PID/status
 * @pid: the process, 0 for this one
 * @key: the line, such as "VmPin"
 * @pages: the value expected, in pages
 * @verbose: report a value that isn't @pages
 *
 * Return: 0 if it is @pages, -1 if not or if it can't be read (which is
 * reported).
 */
int pins_status_check(pid_t pid, const char *key, long pages, bool verbose)
{
	long got = pins_status_pages(pid, key);

	if (got == pages)
		return 0;

	if (verbose && got >= 0)
		ksft_print_msg("%s of %d: got %ld pages, expected %ld\n", key,
			       pid ? pid : getpid(), got, pages);

	return -1;
}

/**
 * pins_status_expect() - check a line of /proc/PID/status
 * @pid: the process, 0 for this one
 * @key: the line, such as "VmPin"
 * @pages: the value expected, in pages
 *
 * Return: 0 if it is @pages, -1 (reported) if not or if it can't be read.
 */
int pins_status_expect(pid_t pid, const char *key, long pages)
{
	return pins_status_check(pid, key, pages, true);
}

/*
 * Become TEST_UID, with its group and no supplementary groups, which
 * leaves no capability at all, CAP_IPC_LOCK in particular. Only for a
 * child process. Returns 0 or -1.
 */
int pins_become_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(TEST_UID, TEST_UID, TEST_UID) ||
	    setresuid(TEST_UID, TEST_UID, TEST_UID)) {
		ksft_print_msg("can't become uid %d: %s\n", TEST_UID,
			       strerror(errno));
		return -1;
	}

	if (pins_cap_ipc_lock_effective() != 0) {
		ksft_print_msg("CAP_IPC_LOCK still effective as uid %d\n",
			       TEST_UID);
		return -1;
	}

	return 0;
}

/*
 * Wait for the child *@pid and forget it. Returns 0 if it exited with
 * EXIT_SUCCESS.
 */
int pins_reap(pid_t *pid)
{
	int status;

	if (waitpid(*pid, &status, 0) != *pid) {
		ksft_print_msg("waitpid %d: %s\n", *pid, strerror(errno));
		*pid = 0;
		return -1;
	}
	*pid = 0;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS) {
		ksft_print_msg("child failed (status %#x)\n", status);
		return -1;
	}

	return 0;
}

/* Kill and reap the child *@pid, if there is one, and forget it. */
void pins_kill(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

const char * const pins_stat_keys[PINS_NR_STAT_KEYS] = {
	"mlock", "shm", "secretmem", "io_uring", "zerocopy", "xdp", "perf",
	"vfio", "iommufd", "vdpa", "rdma", "other",
};

/*
 * Parses the byte count at @s, which must be whole pages, into *@pages
 * and sets *@end past it. Returns 0 or -1.
 */
static int parse_pages(const char *s, char **end, long long *pages)
{
	unsigned long long bytes;

	if (*s < '0' || *s > '9')
		return -1;

	errno = 0;
	bytes = strtoull(s, end, 10);
	if (errno || bytes % page_size || bytes / page_size > LLONG_MAX)
		return -1;

	*pages = bytes / page_size;

	return 0;
}

/**
 * pins_usage_read() - read pins.stat and pins.current of a cgroup
 * @cgroup: the cgroup's path
 * @u: where the counts go, in pages
 *
 * pins.stat must be exactly one "<key> <bytes>" line for each of
 * pins_stat_keys, in that order, and every count whole pages; what is
 * wrong is reported.
 *
 * Return: 0 or -1.
 */
int pins_usage_read(const char *cgroup, struct pins_usage *u)
{
	char buf[1024], esc[1024], *p, *end;
	size_t i, len;
	int ret;

	ret = cg_read(cgroup, "pins.stat", buf, sizeof(buf));
	if (ret) {
		ksft_print_msg("read %s/pins.stat: %s\n", cgroup,
			       strerror(-ret));
		return -1;
	}

	p = buf;
	for (i = 0; i < PINS_NR_STAT_KEYS; i++) {
		len = strlen(pins_stat_keys[i]);
		if (strncmp(p, pins_stat_keys[i], len) || p[len] != ' ' ||
		    parse_pages(p + len + 1, &end, &u->stat[i]) ||
		    *end != '\n') {
			ksft_print_msg("%s/pins.stat: line %zu isn't \"%s <bytes>\" in \"%s\"\n",
				       cgroup, i + 1, pins_stat_keys[i],
				       pins_escape(esc, sizeof(esc), buf));
			return -1;
		}
		p = end + 1;
	}
	if (*p) {
		ksft_print_msg("%s/pins.stat: more than %d lines in \"%s\"\n",
			       cgroup, PINS_NR_STAT_KEYS,
			       pins_escape(esc, sizeof(esc), buf));
		return -1;
	}

	ret = cg_read(cgroup, "pins.current", buf, sizeof(buf));
	if (ret || parse_pages(buf, &end, &u->current) || strcmp(end, "\n")) {
		ksft_print_msg("can't read %s/pins.current\n", cgroup);
		return -1;
	}

	return 0;
}

/**
 * pins_usage_expect() - check a cgroup's pins.stat and pins.current
 * @cgroup: the cgroup
 * @base: what they read before, or NULL for all 0
 * @delta: how much more each key of pins.stat and pins.current must show
 *
 * Return: 0 if every key of @cgroup's pins.stat and its pins.current are
 * @base plus @delta and pins.stat adds up to pins.current; -1 (each
 * difference reported) if not.
 */
int pins_usage_expect(const char *cgroup, const struct pins_usage *base,
		      const struct pins_usage *delta)
{
	struct pins_usage now;
	long long want, sum = 0;
	int ret = 0;
	size_t i;

	if (pins_usage_read(cgroup, &now))
		return -1;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++) {
		want = (base ? base->stat[i] : 0) + delta->stat[i];
		sum += now.stat[i];
		if (now.stat[i] != want) {
			ksft_print_msg("%s/pins.stat: %s is %lld pages, expected %lld\n",
				       cgroup, pins_stat_keys[i], now.stat[i],
				       want);
			ret = -1;
		}
	}

	want = (base ? base->current : 0) + delta->current;
	if (now.current != want) {
		ksft_print_msg("%s/pins.current: %lld pages, expected %lld\n",
			       cgroup, now.current, want);
		ret = -1;
	}

	if (sum != now.current) {
		ksft_print_msg("%s: pins.stat adds up to %lld pages, pins.current is %lld\n",
			       cgroup, sum, now.current);
		ret = -1;
	}

	return ret;
}

/**
 * pins_stat_bytes() - read one line of a cgroup's pins.stat
 * @cgroup: the cgroup's path
 * @key: the line's key, such as "perf"
 *
 * Return: the bytes of the "@key <bytes>" line of @cgroup/pins.stat, or
 * -1 (reported) if it can't be read or there is no such line.
 */
long long pins_stat_bytes(const char *cgroup, const char *key)
{
	char buf[1024], *line;
	size_t len = strlen(key);

	if (cg_read(cgroup, "pins.stat", buf, sizeof(buf))) {
		ksft_print_msg("can't read %s/pins.stat\n", cgroup);
		return -1;
	}

	for (line = buf; line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, key, len) && line[len] == ' ')
			return strtoll(line + len + 1, NULL, 10);
	}

	ksft_print_msg("no %s in %s/pins.stat\n", key, cgroup);
	return -1;
}

/**
 * pins_stat_pages() - read one line of a cgroup's pins.stat, in pages
 * @cgroup: the cgroup's path
 * @key: the line's key, such as "perf"
 *
 * Return: the pages of the "@key <bytes>" line of @cgroup/pins.stat, or -1
 * (reported) if it can't be read or there is no such line.
 */
long pins_stat_pages(const char *cgroup, const char *key)
{
	long long bytes = pins_stat_bytes(cgroup, key);

	return bytes < 0 ? -1 : bytes / page_size;
}

/*
 * Fill @pages, one count for each of pins_stat_keys, with @npages for
 * @key and 0 for every other source.
 */
static void stat_of_one(long long pages[PINS_NR_STAT_KEYS], const char *key,
			long npages)
{
	size_t i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		pages[i] = strcmp(pins_stat_keys[i], key) ? 0 : npages;
}

/**
 * pins_stat_match() - compare a cgroup's whole pins.stat
 * @cgroup: the cgroup's path
 * @pages: what each key of pins_stat_keys must show, in pages, in order
 * @verbose: report a mismatch
 *
 * Return: 0 if @cgroup/pins.stat reads exactly @pages, -1 if not.
 */
int pins_stat_match(const char *cgroup,
		    const long long pages[PINS_NR_STAT_KEYS], bool verbose)
{
	char want[1024], got[1024], esc_got[2048], esc_want[2048];
	size_t i, len = 0;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		len += snprintf(want + len, sizeof(want) - len, "%s %lld\n",
				pins_stat_keys[i], pages[i] * page_size);

	if (cg_read(cgroup, "pins.stat", got, sizeof(got))) {
		if (verbose)
			ksft_print_msg("can't read %s/pins.stat\n", cgroup);
		return -1;
	}
	if (strcmp(got, want)) {
		if (verbose)
			ksft_print_msg("%s/pins.stat: got \"%s\", expected \"%s\"\n",
				       cgroup,
				       pins_escape(esc_got, sizeof(esc_got),
						   got),
				       pins_escape(esc_want, sizeof(esc_want),
						   want));
		return -1;
	}

	return 0;
}

/**
 * pins_stat_check() - compare a cgroup's whole pins.stat
 * @cgroup: the cgroup's path
 * @key: the source that holds everything
 * @pages: what @key must show, in pages
 * @verbose: report a mismatch
 *
 * Return: 0 if @cgroup/pins.stat reads exactly @pages pages for @key and
 * nothing for every other source, -1 if not.
 */
int pins_stat_check(const char *cgroup, const char *key, long pages,
		    bool verbose)
{
	long long stat[PINS_NR_STAT_KEYS];

	stat_of_one(stat, key, pages);

	return pins_stat_match(cgroup, stat, verbose);
}

/**
 * pins_cg_match() - compare a cgroup's pins.current and pins.stat
 * @cgroup: the cgroup's path
 * @pages: what each key of pins_stat_keys must show, in pages, in order
 * @verbose: report a mismatch
 *
 * Return: 0 if @cgroup/pins.current shows the sum of @pages and
 * @cgroup/pins.stat reads exactly @pages, -1 if not.
 */
int pins_cg_match(const char *cgroup,
		  const long long pages[PINS_NR_STAT_KEYS], bool verbose)
{
	char buf[1024], want[1024];
	long long sum = 0;
	size_t i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		sum += pages[i];
	pins_format(want, sizeof(want), sum);
	if (cg_read(cgroup, "pins.current", buf, sizeof(buf)) ||
	    strcmp(buf, want)) {
		if (verbose)
			return pins_expect(cgroup, "pins.current", sum);
		return -1;
	}

	return pins_stat_match(cgroup, pages, verbose);
}

/**
 * pins_cg_check() - check a cgroup's pins.current and pins.stat
 * @cgroup: the cgroup's path
 * @key: the source that holds everything
 * @pages: what pins.current and @key must show, in pages
 * @verbose: report a mismatch
 *
 * Return: 0 if @cgroup/pins.current shows @pages pages and its pins.stat
 * shows all of them under @key and nothing for any other source, -1 if
 * not.
 */
int pins_cg_check(const char *cgroup, const char *key, long pages,
		  bool verbose)
{
	long long stat[PINS_NR_STAT_KEYS];

	stat_of_one(stat, key, pages);

	return pins_cg_match(cgroup, stat, verbose);
}

/**
 * pins_events_expect() - check pins.events and pins.events.local
 * @cgroup: the cgroup's path
 * @events: the count pins.events must show
 * @local: the count pins.events.local must show
 *
 * Return: 0 if both show exactly "max <count>", -1 (reported) if not.
 */
int pins_events_expect(const char *cgroup, long events, long local)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "max %ld\n", events);
	if (pins_expect_str(cgroup, "pins.events", buf))
		return -1;

	snprintf(buf, sizeof(buf), "max %ld\n", local);
	return pins_expect_str(cgroup, "pins.events.local", buf);
}

/**
 * pins_cg_id() - the id of a cgroup
 * @cgroup: the cgroup's path
 *
 * Return: the inode number of @cgroup's directory, which is its cgroup id
 * (as the pins:charge_refused tracepoint shows it), or 0 (reported).
 */
unsigned long long pins_cg_id(const char *cgroup)
{
	struct stat st;

	if (stat(cgroup, &st)) {
		ksft_print_msg("stat %s: %s\n", cgroup, strerror(errno));
		return 0;
	}

	return st.st_ino;
}

/**
 * pins_write_file() - write a string to a file with one write(2)
 * @path: the file
 * @str: what to write
 * @flags: open(2) flags besides O_WRONLY | O_CLOEXEC, such as O_TRUNC
 *
 * Return: 0, or -1 (reported) if the open or the write failed or was
 * short.
 */
int pins_write_file(const char *path, const char *str, int flags)
{
	ssize_t len = strlen(str), ret;
	int fd, err;

	fd = open(path, O_WRONLY | O_CLOEXEC | flags);
	if (fd < 0) {
		ksft_print_msg("open %s: %s\n", path, strerror(errno));
		return -1;
	}
	ret = write(fd, str, len);
	err = errno;
	close(fd);
	if (ret != len) {
		ksft_print_msg("write \"%s\" to %s: %s\n", str, path,
			       ret < 0 ? strerror(err) : "short write");
		return -1;
	}

	return 0;
}

/**
 * pins_tracefs() - where tracefs is mounted
 *
 * Return: /sys/kernel/tracing or /sys/kernel/debug/tracing, whichever
 * has a trace file, or NULL if tracefs isn't mounted.
 */
const char *pins_tracefs(void)
{
	if (!access("/sys/kernel/tracing/trace", F_OK))
		return "/sys/kernel/tracing";
	if (!access("/sys/kernel/debug/tracing/trace", F_OK))
		return "/sys/kernel/debug/tracing";

	return NULL;
}

/**
 * pins_kmsg_open() - open /dev/kmsg at its end
 *
 * Reads of the fd return what is logged from now on, and fail with EAGAIN
 * when there is no more.
 *
 * Return: the fd, or -1 (reported).
 */
int pins_kmsg_open(void)
{
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open /dev/kmsg: %s\n", strerror(errno));
		return -1;
	}
	if (lseek(fd, 0, SEEK_END) < 0) {
		ksft_print_msg("seek /dev/kmsg: %s\n", strerror(errno));
		close(fd);
		return -1;
	}

	return fd;
}

/**
 * pins_buf_alloc() - map anonymous memory and touch every page
 * @npages: how many pages
 * @no_thp: keep transparent huge pages out (a huge page is charged whole)
 *
 * Return: the read-write private mapping, or NULL (reported).
 */
char *pins_buf_alloc(long npages, bool no_thp)
{
	char *buf;

	buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		ksft_print_msg("mmap %ld pages: %s\n", npages,
			       strerror(errno));
		return NULL;
	}
	/* Fails without THP: no matter. */
	if (no_thp)
		madvise(buf, npages * page_size, MADV_NOHUGEPAGE);
	memset(buf, 0x5a, npages * page_size);

	return buf;
}

/**
 * pins_buf_free() - unmap what pins_buf_alloc() mapped
 * @buf: the mapping, or NULL
 * @npages: its size in pages
 */
void pins_buf_free(char *buf, long npages)
{
	if (buf)
		munmap(buf, npages * page_size);
}

/**
 * pins_page_at() - a page of a buffer
 * @buf: the buffer
 * @i: the page's index
 *
 * Return: the address of page @i of @buf.
 */
char *pins_page_at(char *buf, long i)
{
	return buf + i * page_size;
}

/**
 * pins_close_fd() - close an fd if it is open and forget it
 * @fd: the fd, -1 if none; -1 afterwards
 */
void pins_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/**
 * pins_path_of() - join a directory and a name
 * @buf: where the path goes, PATH_MAX bytes
 * @dir: the directory
 * @name: the name in it
 *
 * Return: 0, or -1 (reported) if "@dir/@name" doesn't fit.
 */
int pins_path_of(char *buf, const char *dir, const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
		ksft_print_msg("path too long: %s/%s\n", dir, name);
		return -1;
	}

	return 0;
}

/**
 * pins_drop_privileges() - become nobody with an RLIMIT_MEMLOCK
 * @pages: RLIMIT_MEMLOCK, soft and hard, in pages (PINS_MAX: none)
 *
 * Become TEST_UID with RLIMIT_MEMLOCK at @pages pages and no capabilities
 * left, CAP_IPC_LOCK in particular. Only for a child process.
 *
 * Return: 0 or -1 (reported).
 */
int pins_drop_privileges(long long pages)
{
	if (pins_set_memlock(pages))
		return -1;

	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)) {
		ksft_print_msg("PR_SET_KEEPCAPS: %s\n", strerror(errno));
		return -1;
	}

	return pins_become_nobody();
}

/**
 * pins_sock_send() - send one byte, and maybe an fd, over a socket
 * @sock: a connected socket
 * @c: the byte
 * @fd: an fd to pass with SCM_RIGHTS, or -1
 *
 * A peer that is gone fails the send (no SIGPIPE).
 *
 * Return: 0 or -1 (reported).
 */
int pins_sock_send(int sock, char c, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}

	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) {
		ksft_print_msg("sendmsg: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/**
 * pins_sock_recv() - receive one byte, and maybe an fd, from a socket
 * @sock: a connected socket
 * @c: the byte that must come
 * @fd: NULL if no fd may come, else where the fd that must come goes
 *
 * Return: 0, or -1 (reported) if anything else came.
 */
int pins_sock_recv(int sock, char c, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char got;
	struct iovec iov = { .iov_base = &got, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cmsg;
	ssize_t len;

	memset(&u, 0, sizeof(u));
	len = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (len != 1 || got != c) {
		ksft_print_msg("expected '%c' from the peer, got %zd bytes\n",
			       c, len);
		return -1;
	}

	cmsg = CMSG_FIRSTHDR(&msg);
	if (!fd) {
		if (cmsg) {
			ksft_print_msg("unexpected control message\n");
			return -1;
		}
		return 0;
	}

	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET ||
	    cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    (msg.msg_flags & MSG_CTRUNC)) {
		ksft_print_msg("no fd came with '%c'\n", c);
		return -1;
	}
	memcpy(fd, CMSG_DATA(cmsg), sizeof(int));

	return 0;
}

/**
 * pins_set_cap_ipc_lock() - raise or lower CAP_IPC_LOCK
 * @on: raise it in the effective set, else lower it there
 *
 * Return: 0, or -1 (reported) if it can't be changed.
 */
int pins_set_cap_ipc_lock(bool on)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	__u32 *eff = &data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective;

	if (syscall(SYS_capget, &hdr, data)) {
		ksft_print_msg("capget: %s\n", strerror(errno));
		return -1;
	}

	if (on)
		*eff |= CAP_TO_MASK(CAP_IPC_LOCK);
	else
		*eff &= ~CAP_TO_MASK(CAP_IPC_LOCK);

	if (syscall(SYS_capset, &hdr, data)) {
		ksft_print_msg("capset: %s\n", strerror(errno));
		return -1;
	}

	return pins_cap_ipc_lock_effective() == on ? 0 : -1;
}

/**
 * pins_fork() - fork a child that starts in a cgroup
 * @cgroup: the cgroup the child moves into first, NULL to stay
 *
 * stdout is flushed first. A child that can't move into @cgroup exits
 * with EXIT_FAILURE, and pins_child_exit() ends the others.
 *
 * Return: as fork(): the child's pid, or 0 in the child; -1 (reported).
 */
pid_t pins_fork(const char *cgroup)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		ksft_print_msg("fork: %s\n", strerror(errno));
		return -1;
	}
	if (!pid && cgroup && cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		pins_child_exit(EXIT_FAILURE);
	}

	return pid;
}

/**
 * pins_fork_peer() - fork a child connected to this process
 * @cgroup: the cgroup the child moves into first, NULL to stay
 * @sock: where each process's end of a new socketpair (SOCK_SEQPACKET)
 *	  to the other goes
 *
 * As pins_fork(), with the socketpair: pins_sock_send() and
 * pins_sock_recv() talk over it.
 *
 * Return: as fork(): the child's pid, or 0 in the child; -1 (reported).
 */
pid_t pins_fork_peer(const char *cgroup, int *sock)
{
	int sk[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk)) {
		ksft_print_msg("socketpair: %s\n", strerror(errno));
		return -1;
	}

	pid = pins_fork(cgroup);
	if (pid < 0) {
		close(sk[0]);
		close(sk[1]);
		return -1;
	}
	close(sk[pid ? 1 : 0]);
	*sock = sk[pid ? 0 : 1];

	return pid;
}

/**
 * pins_child_exit() - end a child of pins_fork()
 * @ret: its exit status
 *
 * stdout is flushed first; nothing else of the test runs in the child.
 */
__noreturn void pins_child_exit(int ret)
{
	fflush(stdout);
	_exit(ret);
}

/**
 * pins_trace_start() - make a tracefs instance for pins:charge_refused
 * @dir: where the instance's path goes (PATH_MAX), for rmdir() once done
 *	 ("" if it wasn't made)
 * @name: the instance's name
 *
 * A stale instance @name, of a run that was killed, is removed first.
 *
 * Return: 0 with pins:charge_refused enabled in the new instance, 1 if
 * tracefs isn't mounted, or -1 (reported).
 */
int pins_trace_start(char *dir, const char *name)
{
	const char *tracefs = pins_tracefs();
	char path[PATH_MAX + 64];

	if (!tracefs)
		return 1;

	snprintf(path, sizeof(path), "%s/instances", tracefs);
	if (pins_path_of(dir, path, name))
		return -1;
	rmdir(dir);
	if (mkdir(dir, 0755)) {
		ksft_print_msg("mkdir %s: %s\n", dir, strerror(errno));
		*dir = '\0';
		return -1;
	}

	snprintf(path, sizeof(path), "%s/events/pins/charge_refused/enable",
		 dir);

	return pins_write_file(path, "1", 0);
}

/**
 * pins_trace_open() - open a tracefs instance's trace
 * @dir: the instance, from pins_trace_start()
 *
 * Return: @dir/trace open for reading, or NULL (reported).
 */
FILE *pins_trace_open(const char *dir)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", dir);
	f = fopen(path, "re");
	if (!f)
		ksft_print_msg("open %s: %s\n", path, strerror(errno));

	return f;
}

/**
 * pins_trace_count() - count lines of a tracefs instance's trace
 * @dir: the instance, from pins_trace_start()
 * @text: what the lines counted contain
 *
 * Return: the number of lines of @dir/trace that contain @text, or -1
 * (reported) if it can't be read.
 */
int pins_trace_count(const char *dir, const char *text)
{
	FILE *f = pins_trace_open(dir);
	char *line = NULL;
	size_t size = 0;
	int count = 0;

	if (!f)
		return -1;
	while (getline(&line, &size, f) > 0)
		if (strstr(line, text))
			count++;
	free(line);
	fclose(f);

	return count;
}

/**
 * pins_trace_expect() - check the pins:charge_refused events traced
 * @dir: the tracefs instance, from pins_trace_start()
 * @total: how many pins:charge_refused events it must hold
 * @nr: how many of them must be exactly this one
 * @cgroup: the cgroup charged
 * @limiter: the cgroup whose pins.max refused
 * @source: the source charged, as pins.stat names it
 * @pages: the pages refused
 * @limit: @limiter's pins.max, in pages
 * @usage: @limiter's usage before the charge, in pages
 *
 * The events checked are fired by this process: its pid and comm.
 *
 * Return: 0 if @dir/trace holds @total events, @nr of them this one; -1
 * (reported) if not.
 */
int pins_trace_expect(const char *dir, int total, int nr, const char *cgroup,
		      const char *limiter, const char *source, long pages,
		      long limit, long usage)
{
	char comm[16] = "", want[512];
	int got;

	prctl(PR_GET_NAME, comm, 0, 0, 0);
	snprintf(want, sizeof(want),
		 "charge_refused: pid=%d comm=%s cgroup=%llu limiter=%llu source=%s pages=%ld limit=%ld usage=%ld\n",
		 getpid(), comm, pins_cg_id(cgroup), pins_cg_id(limiter),
		 source, pages, limit, usage);

	got = pins_trace_count(dir, "charge_refused: ");
	if (got != total) {
		ksft_print_msg("%d pins:charge_refused lines, expected %d\n",
			       got, total);
		return -1;
	}

	got = pins_trace_count(dir, want);
	if (got != nr) {
		ksft_print_msg("%d lines of \"%.*s\", expected %d\n", got,
			       (int)strlen(want) - 1, want, nr);
		return -1;
	}

	return 0;
}

/**
 * pins_refusal_text() - what the kernel logs for a cgroup's first refusal
 * @buf: where the line goes, without its newline
 * @size: @buf's size
 * @source: the source charged, as pins.stat names it
 * @root: the root of the cgroup hierarchy
 * @cgroup: the cgroup whose pins.max refused, below @root
 */
void pins_refusal_text(char *buf, size_t size, const char *source,
		       const char *root, const char *cgroup)
{
	snprintf(buf, size, "cgroup: %s pin rejected by pins controller in %s",
		 source, cgroup + strlen(root));
}

/**
 * pins_kmsg_read() - read the next record logged
 * @fd: /dev/kmsg, from pins_kmsg_open()
 * @buf: where the record's text goes, up to its first newline
 * @size: @buf's size: the record's, prefix included, must fit
 *
 * Records overwritten before they could be read are passed over.
 *
 * Return: 1 with the text in @buf, 0 if nothing more was logged, or -1
 * (reported) if the read failed.
 */
int pins_kmsg_read(int fd, char *buf, size_t size)
{
	ssize_t len;
	char *msg;

	for (;;) {
		len = read(fd, buf, size - 1);
		if (!len || (len < 0 && errno == EAGAIN))
			return 0;
		if (len < 0 && errno == EPIPE)
			continue;
		if (len < 0) {
			ksft_print_msg("read /dev/kmsg: %s\n", strerror(errno));
			return -1;
		}
		buf[len] = '\0';

		/* "<prio>,<seq>,<usec>,<flags>;<text>\n" and dictionary. */
		msg = strchr(buf, ';');
		if (!msg)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		memmove(buf, msg, strlen(msg) + 1);

		return 1;
	}
}

/*
 * The number of messages exactly @text logged since @fd was opened or
 * last read, or -1 (reported).
 */
static int kmsg_count(int fd, const char *text)
{
	char msg[8192];
	int count = 0, ret;

	while ((ret = pins_kmsg_read(fd, msg, sizeof(msg))) > 0)
		if (!strcmp(msg, text))
			count++;

	return ret < 0 ? -1 : count;
}

/**
 * pins_kmsg_expect() - check what was logged
 * @fd: /dev/kmsg, from pins_kmsg_open()
 * @text: a message
 * @nr: how many times it must have been logged
 *
 * Reads all that was logged since @fd was opened or last read.
 *
 * Return: 0 if @text was logged @nr times, -1 (reported) if not.
 */
int pins_kmsg_expect(int fd, const char *text, int nr)
{
	int got = kmsg_count(fd, text);

	if (got != nr) {
		ksft_print_msg("%d kernel messages \"%s\", expected %d\n", got,
			       text, nr);
		return -1;
	}

	return 0;
}

/**
 * pins_retry() - pace the tries of a check that waits for the kernel
 * @tries: the tries made so far, 0 before the first
 *
 * For a loop "while (pins_retry(&tries)) if (!check(quiet)) return 0;"
 * that gives the kernel up to two seconds, such as for charges returned
 * when a process or an fd goes, before a last, verbose check.
 *
 * Return: true for another try, after sleeping 10 ms unless it is the
 * first; false, after sleeping 10 ms, once 200 tries were made.
 */
bool pins_retry(int *tries)
{
	if (*tries)
		usleep(10000);

	return (*tries)++ < 200;
}

/**
 * pins_tree_setup() - set up the cgroups of a site's fixture
 * @tree: the fixture's tree, zeroed
 * @site: the site, for the name of the parent cgroup
 * @test: the test's name, for the name of the parent cgroup
 * @source: the site's line of pins.stat, such as "vfio"
 *
 * Find the root and pins_prepare() it, make "pins_<@site>_<@test>" below
 * it and its child "child", give what the root has under @source up to
 * two seconds to drain to 0 (the charges of a test that failed before
 * may still be going) and note what it has then in @tree->root_base.
 *
 * Return: KSFT_PASS with @tree->have_pins set; KSFT_SKIP (with
 * skip_reason) without cgroup v2 or the pins controller, for a fixture
 * whose tests without cgroups then run; KSFT_FAIL (reported) with
 * nothing left made, as a teardown only follows a complete setup.
 */
int pins_tree_setup(struct pins_tree *tree, const char *site,
		    const char *test, const char *source)
{
	char name[NAME_MAX];
	int ret, tries = 0;

	ret = pins_setup_root(tree->root, sizeof(tree->root));
	if (ret != KSFT_PASS)
		return ret;

	snprintf(name, sizeof(name), "pins_%s_%s", site, test);
	if (pins_create_pair_at(tree->root, name, tree->parent, tree->cg))
		return KSFT_FAIL;
	tree->have_pins = true;

	while (pins_retry(&tries) && pins_stat_pages(tree->root, source) > 0)
		;
	tree->root_base = pins_stat_pages(tree->root, source);
	if (tree->root_base < 0) {
		pins_tree_teardown(tree);
		return KSFT_FAIL;
	}

	return KSFT_PASS;
}

/**
 * pins_tree_stop() - the first part of pins_tree_teardown()
 * @tree: the fixture's tree
 *
 * Kill the test's children, if they are still there, and remove its
 * tracefs instance, if it made one: for a teardown that has to release
 * something they may hold before the cgroups are removed.
 */
void pins_tree_stop(struct pins_tree *tree)
{
	pins_kill(&tree->pid2);
	pins_kill(&tree->pid);
	if (*tree->instance)
		rmdir(tree->instance);
	*tree->instance = '\0';
}

/**
 * pins_tree_teardown() - undo pins_tree_setup() and what the test made
 * @tree: the fixture's tree
 *
 * pins_tree_stop(), then move this process back to the root and remove
 * the cgroups, if there are any. Doing it again does nothing.
 */
void pins_tree_teardown(struct pins_tree *tree)
{
	pins_tree_stop(tree);
	if (tree->have_pins)
		pins_destroy_pair_at(tree->root, tree->parent, tree->cg,
				     tree->sibling);
	tree->have_pins = false;
}

/**
 * pins_tree_sibling() - make a second child of the fixture's parent
 * @tree: the fixture's tree, with cgroups
 *
 * Create @tree->parent's child "b", which pins_tree_teardown() removes.
 *
 * Return: 0, or -1 (reported).
 */
int pins_tree_sibling(struct pins_tree *tree)
{
	if (pins_path_of(tree->sibling, tree->parent, "b"))
		return -1;

	return pins_create(tree->sibling, false);
}

/* Add @npages to what @pages has for @key, one of pins_stat_keys. */
static void stat_add(long long pages[PINS_NR_STAT_KEYS], const char *key,
		     long npages)
{
	size_t i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		if (!strcmp(pins_stat_keys[i], key))
			pages[i] += npages;
}

/**
 * pins_tree_check_other() - check what the fixture's cgroups hold
 * @tree: the fixture's tree
 * @source: the site's line of pins.stat
 * @cg: the pages the test's cgroup must hold under @source
 * @sib: the pages the sibling, if there is one, must hold under @source
 * @other: another line of pins.stat, or NULL
 * @other_cg: the pages the test's cgroup must hold under @other
 * @verbose: report every difference
 *
 * Return: 0 if there are no cgroups, or if the test's cgroup holds @cg
 * pages under @source and @other_cg under @other, the sibling (if there
 * is one) @sib under @source, their parent the sum of both and each of
 * them nothing else (in pins.stat and pins.current), and if the root has
 * @cg + @sib pages under @source on top of @tree->root_base; -1 if not.
 */
int pins_tree_check_other(const struct pins_tree *tree, const char *source,
			  long cg, long sib, const char *other, long other_cg,
			  bool verbose)
{
	long long pages[PINS_NR_STAT_KEYS];
	int ret = 0;
	long root;
	size_t i;

	if (!tree->have_pins)
		return 0;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		pages[i] = other && !strcmp(pins_stat_keys[i], other) ?
			   other_cg : 0;
	stat_add(pages, source, cg);
	if (pins_cg_match(tree->cg, pages, verbose))
		ret = -1;
	stat_add(pages, source, sib);
	if (pins_cg_match(tree->parent, pages, verbose))
		ret = -1;
	if (*tree->sibling &&
	    pins_cg_check(tree->sibling, source, sib, verbose))
		ret = -1;

	root = pins_stat_pages(tree->root, source);
	if (root != tree->root_base + cg + sib) {
		if (verbose)
			ksft_print_msg("%s of %s/pins.stat: got %ld pages, expected %ld\n",
				       source, tree->root, root,
				       tree->root_base + cg + sib);
		ret = -1;
	}

	return ret;
}

/**
 * pins_tree_check() - check what the fixture's cgroups hold of a source
 * @tree: the fixture's tree
 * @source: the site's line of pins.stat
 * @cg: the pages the test's cgroup must hold under @source
 * @sib: the pages the sibling, if there is one, must hold under @source
 * @verbose: report every difference
 *
 * Return: as pins_tree_check_other() with no other source.
 */
int pins_tree_check(const struct pins_tree *tree, const char *source,
		    long cg, long sib, bool verbose)
{
	return pins_tree_check_other(tree, source, cg, sib, NULL, 0, verbose);
}

/*
 * Open a disabled software event counting nothing (PERF_COUNT_SW_DUMMY)
 * of this task, user space only, for its ring buffer: it needs no
 * privilege while kernel.perf_event_paranoid is at most 2. Returns the fd,
 * or -1 with errno set.
 */
int pins_perf_open(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};

	return syscall(__NR_perf_event_open, &attr, 0, -1, -1,
		       PERF_FLAG_FD_CLOEXEC);
}
