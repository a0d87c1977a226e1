// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for the "pins" cgroup v2 controller, which limits how much memory
 * the tasks of a cgroup may pin or lock.
 *
 * The interface files are pins.max and pins.peak (rw), pins.current,
 * pins.stat, pins.events and pins.events.local (ro). The root cgroup has
 * only pins.current and pins.stat, which count the whole host, the charges
 * of tasks in the root cgroup included. pins.max takes "max" or a decimal
 * byte count with an optional K/M/G/T/P/E suffix and is stored in whole
 * pages. pins.stat is one "<source> <bytes>" line for each source, in a
 * fixed order, and adds up to pins.current.
 *
 * If the kernel was built with the test-only charge hook, the debugfs file
 * /sys/kernel/debug/pins_test is used to drive the charge path: each open()
 * binds the fd to the pins cgroup of the opening task, "charge N" and
 * "uncharge N" move N pages in and out of that cgroup and its ancestors,
 * a read returns what the fd holds and close() gives it all back. It
 * charges the source "other".
 *
 * A charge that a pins.max refuses is reported: the first refusal by each
 * cgroup's limit logs "cgroup: <source> pin rejected by pins controller in
 * <path>", and every refusal fires the tracepoint pins:charge_refused. The
 * tests of that read /dev/kmsg and tracefs.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on one of
 * two fixtures: "pins" for the interface files and "hook" for the charge
 * path. Both give the test a cgroup with pins enabled for its children and
 * a child of it, and clean up whatever the test leaves behind, so that a
 * failed assertion can just end the test. Without cgroup v2 or the pins
 * controller every test reports SKIP, and so does every "hook" test
 * without the charge hook.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

#define PINS_DEBUGFS	"/sys/kernel/debug"
#define PINS_HOOK	PINS_DEBUGFS "/pins_test"

/*
 * Returns true if the test-only charge hook exists. debugfs is mounted
 * first if needed.
 */
static bool hook_available(void)
{
	if (!access(PINS_HOOK, F_OK))
		return true;

	if (proc_mount_contains(" " PINS_DEBUGFS " debugfs ") <= 0 &&
	    mount("debugfs", PINS_DEBUGFS, "debugfs", 0, NULL) &&
	    errno != EBUSY)
		ksft_print_msg("mount debugfs: %s\n", strerror(errno));

	return !access(PINS_HOOK, F_OK);
}

/*
 * Open the charge hook from inside @cgroup, so that the fd charges
 * @cgroup, then move back to @root. Returns the fd or -1.
 */
static int hook_open(const char *root, const char *cgroup)
{
	int fd, err;

	if (cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		return -1;
	}

	fd = open(PINS_HOOK, O_RDWR | O_CLOEXEC);
	err = errno;

	if (cg_enter_current(root)) {
		ksft_print_msg("can't move back into %s\n", root);
		if (fd >= 0)
			close(fd);
		return -1;
	}

	if (fd < 0)
		ksft_print_msg("open %s: %s\n", PINS_HOOK, strerror(err));

	return fd;
}

/*
 * Write "@cmd @pages" to the hook @fd. Returns 0 if the whole command
 * was taken, -errno if the write failed and -EIO on a short write.
 */
static int hook_write(int fd, const char *cmd, long pages)
{
	char buf[64];
	ssize_t ret;
	int len;

	len = snprintf(buf, sizeof(buf), "%s %ld\n", cmd, pages);

	/*
	 * Each command is a message of its own: write it at offset 0 so it
	 * doesn't matter what the hook does with the file position, unless
	 * the file can't do positional I/O at all.
	 */
	ret = pwrite(fd, buf, len, 0);
	if (ret < 0 && errno == ESPIPE)
		ret = write(fd, buf, len);
	if (ret < 0)
		return -errno;

	return ret == len ? 0 : -EIO;
}

/* Returns 0 if "@cmd @pages" on @fd ends with @expected (0 or -errno). */
static int hook_cmd(int fd, const char *cmd, long pages, int expected)
{
	int ret;

	ret = hook_write(fd, cmd, pages);
	if (ret != expected) {
		ksft_print_msg("\"%s %ld\": got %d (%s), expected %d (%s)\n",
			       cmd, pages, ret, strerror(-ret),
			       expected, strerror(-expected));
		return -1;
	}

	return 0;
}

/* Returns 0 if a read of the hook @fd reports @pages held pages. */
static int hook_expect(int fd, long pages)
{
	char buf[64], got[128], want[64];
	ssize_t len;

	len = pread(fd, buf, sizeof(buf) - 1, 0);
	if (len < 0 && errno == ESPIPE)
		len = read(fd, buf, sizeof(buf) - 1);
	if (len < 0) {
		ksft_print_msg("read %s: %s\n", PINS_HOOK, strerror(errno));
		return -1;
	}
	buf[len] = '\0';

	snprintf(want, sizeof(want), "%ld\n", pages);
	if (strcmp(buf, want)) {
		ksft_print_msg("%s: got \"%s\", expected %ld pages\n",
			       PINS_HOOK, pins_escape(got, sizeof(got), buf), pages);
		return -1;
	}

	return 0;
}

/*
 * Setup of both fixtures: skip without cgroup v2 or the pins controller,
 * and without the charge hook if @hook; otherwise make a cgroup named
 * after the test below @root with pins enabled for its children, @parent,
 * and its child "child", @cg (all three PATH_MAX bytes, filled in here).
 * Teardown only follows a complete setup: a partial one is undone here.
 */
static void cgroups_setup(struct __test_metadata *_metadata, char *root,
			  char *parent, char *cg, bool hook)
{
	char name[NAME_MAX];
	int ret;

	pins_util_init();

	ret = pins_setup_root(root, PATH_MAX);
	if (ret == KSFT_SKIP)
		SKIP(return, "%s", skip_reason);
	ASSERT_EQ(KSFT_PASS, ret);

	if (hook && !hook_available())
		SKIP(return, "pins test hook not built");

	snprintf(name, sizeof(name), "pins_test_%s", _metadata->name);
	ASSERT_EQ(0, pins_path_of(parent, root, name));
	ASSERT_EQ(0, pins_path_of(cg, parent, "child"));
	ret = pins_create(parent, true);
	if (!ret)
		ret = pins_create(cg, false);
	if (ret) {
		cg_destroy(cg);
		cg_destroy(parent);
	}
	ASSERT_EQ(0, ret);
}

/*
 * Teardown of both fixtures: remove @extra, if the test made it, and the
 * cgroups cgroups_setup() made.
 *
 * It is a FIXTURE_TEARDOWN_PARENT(): with this kselftest_harness.h, a
 * FIXTURE_TEARDOWN() is skipped after a failed ASSERT_*() when the
 * compiler keeps the harness's pid of the test process in a register,
 * which longjmp() resets, and it is at -O2. Teardown then runs once, in
 * the test's process after a failed assertion or in its parent after the
 * test's process has exited, so it uses nothing of the test's process:
 * the fixture holds the cgroups' paths, not pointers to them, and no fd,
 * since the test's fds close when its process exits. The fixture is then
 * shared memory, shared with a child the test forks too.
 */
static void cgroups_teardown(const char *root, const char *parent,
			     const char *cg, const char *extra)
{
	/* cg_destroy() kills what is inside: that mustn't be us. */
	cg_enter_current(root);
	if (*extra)
		cg_destroy(extra);
	cg_destroy(cg);
	cg_destroy(parent);
}

/* Make @name below @cgroup, without enabling pins in it, as @extra. */
static int make_extra(const char *cgroup, const char *name, char *extra)
{
	if (pins_path_of(extra, cgroup, name))
		return -1;

	return pins_create(extra, false);
}

/* The interface files, on a parent and child pins is enabled in. */
FIXTURE(pins) {
	char root[PATH_MAX];
	char parent[PATH_MAX];	/* pins enabled for its children */
	char cg[PATH_MAX];	/* the test's cgroup, a child of parent */
	char extra[PATH_MAX];	/* one more cgroup, if the test made one */
};

FIXTURE_SETUP(pins)
{
	cgroups_setup(_metadata, self->root, self->parent, self->cg, false);
}

FIXTURE_TEARDOWN_PARENT(pins)
{
	cgroups_teardown(self->root, self->parent, self->cg, self->extra);
}

/* The charge path, driven through the hook, on the same cgroups. */
FIXTURE(hook) {
	char root[PATH_MAX];
	char parent[PATH_MAX];	/* pins enabled for its children */
	char cg[PATH_MAX];	/* the test's cgroup, a child of parent */
	char extra[PATH_MAX];	/* one more cgroup, if the test made one */
	pid_t pid;		/* a child of the test, or 0 */
	bool tracing;		/* the test enabled pins:charge_refused */
};

FIXTURE_SETUP(hook)
{
	cgroups_setup(_metadata, self->root, self->parent, self->cg, true);
}

static void trace_stop(void);

FIXTURE_TEARDOWN_PARENT(hook)
{
	if (self->tracing)
		trace_stop();
	pins_kill(&self->pid);
	cgroups_teardown(self->root, self->parent, self->cg, self->extra);
}

/*
 * pins is listed in the root's cgroup.controllers, can be enabled in the
 * root's cgroup.subtree_control and then shows up in the controllers of
 * a new child, and of its child once that child enables it.
 */
TEST_F(pins, listed_and_enabled)
{
	ASSERT_EQ(1, pins_cg_has_word(self->root, "cgroup.subtree_control",
				      "pins"));
	ASSERT_EQ(1, pins_cg_has_word(self->parent, "cgroup.controllers",
				      "pins"));
	ASSERT_EQ(1, pins_cg_has_word(self->cg, "cgroup.controllers", "pins"));

	/* Nothing is enabled below the child until it is asked for. */
	ASSERT_EQ(0, pins_cg_has_word(self->cg, "cgroup.subtree_control",
				      "pins"));
}

/* The files of a cgroup below the root, and whether each is read-only. */
static const struct {
	const char *name;
	bool ro;
} child_files[] = {
	{ "pins.max",		false },
	{ "pins.peak",		false },
	{ "pins.current",	true },
	{ "pins.stat",		true },
	{ "pins.events",	true },
	{ "pins.events.local",	true },
};

/* The files of the root cgroup, both read-only. */
static const char * const root_files[] = { "pins.current", "pins.stat" };

/* Returns true if @name is one of the @n @names. */
static bool name_in(const char *name, const char * const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return true;

	return false;
}

/*
 * Returns 0 if the entries of @cgroup whose names begin with "pins." are
 * exactly the @n @names.
 */
static int pins_files_exactly(const char *cgroup, const char * const *names,
			      size_t n)
{
	struct dirent *de;
	size_t found = 0;
	int ret = 0;
	DIR *dir;

	dir = opendir(cgroup);
	if (!dir) {
		ksft_print_msg("opendir %s: %s\n", cgroup, strerror(errno));
		return -1;
	}

	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "pins.", strlen("pins.")))
			continue;
		if (name_in(de->d_name, names, n)) {
			found++;
			continue;
		}
		ksft_print_msg("%s/%s: unexpectedly present\n", cgroup,
			       de->d_name);
		ret = -1;
	}
	closedir(dir);

	if (found != n) {
		ksft_print_msg("%s: %zu of the %zu pins files expected\n",
			       cgroup, found, n);
		ret = -1;
	}

	return ret;
}

/* Returns 0 if @cgroup/@name is a regular file, read-only if @ro, or rw. */
static int pins_file_mode(const char *cgroup, const char *name, bool ro)
{
	char path[PATH_MAX];
	struct stat st;

	if (pins_path_of(path, cgroup, name))
		return -1;

	if (stat(path, &st) || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & 0400) ||
	    (ro ? (st.st_mode & 0222) : !(st.st_mode & 0200))) {
		ksft_print_msg("%s: missing or not %s\n", path,
			       ro ? "ro" : "rw");
		return -1;
	}

	return 0;
}

/* Returns 0 if @cgroup has no pins file at all. */
static int pins_files_absent(const char *cgroup)
{
	return pins_files_exactly(cgroup, NULL, 0);
}

/*
 * Returns 0 if @cgroup has exactly the files of a cgroup below the root,
 * pins.max and pins.peak writable, the others read-only.
 */
static int pins_files_present(const char *cgroup)
{
	const char *names[ARRAY_SIZE(child_files)];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(child_files); i++) {
		names[i] = child_files[i].name;
		if (pins_file_mode(cgroup, names[i], child_files[i].ro))
			return -1;
	}

	return pins_files_exactly(cgroup, names, ARRAY_SIZE(names));
}

/*
 * Returns 0 if @root has exactly pins.current and pins.stat, read-only,
 * and none of the files that set or report on a limit.
 */
static int pins_root_files_present(const char *root)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(root_files); i++)
		if (pins_file_mode(root, root_files[i], true))
			return -1;

	for (i = 0; i < ARRAY_SIZE(child_files); i++) {
		if (name_in(child_files[i].name, root_files,
			    ARRAY_SIZE(root_files)))
			continue;
		if (pins_path_of(path, root, child_files[i].name))
			return -1;
		if (!access(path, F_OK) || errno != ENOENT) {
			ksft_print_msg("%s: unexpectedly present\n", path);
			return -1;
		}
	}

	return pins_files_exactly(root, root_files, ARRAY_SIZE(root_files));
}

/*
 * The root cgroup has exactly pins.current and pins.stat, read-only. A
 * child has pins.max and pins.peak (rw), pins.current, pins.stat,
 * pins.events and pins.events.local (ro), and so does a grandchild once
 * the child enables pins, but not before.
 */
TEST_F(pins, files)
{
	ASSERT_EQ(0, pins_root_files_present(self->root));
	ASSERT_EQ(0, pins_files_present(self->parent));
	ASSERT_EQ(0, pins_files_present(self->cg));

	ASSERT_EQ(0, make_extra(self->cg, "grandchild", self->extra));

	/* pins isn't enabled in the child's subtree_control yet. */
	ASSERT_EQ(0, pins_files_absent(self->extra));

	ASSERT_EQ(0, cg_write(self->cg, "cgroup.subtree_control", "+pins"));
	ASSERT_EQ(0, pins_files_present(self->extra));
}

/* The keys of pins.stat, in the order it shows them. */
/* The key of what the hook charges. */
#define STAT_OTHER	(PINS_NR_STAT_KEYS - 1)

/*
 * Returns 0 if @cgroup's pins.stat shows @other pages more than @base
 * (than 0 if @base is NULL) for "other" and as much for every other key,
 * its pins.current shows @other pages more too, and its pins.stat adds
 * up to its pins.current.
 */
static int usage_expect(const char *cgroup, const struct pins_usage *base,
			long long other)
{
	struct pins_usage delta = {
		.stat = { [STAT_OTHER] = other },
		.current = other,
	};

	return pins_usage_expect(cgroup, base, &delta);
}

/* Returns 0 if @cgroup's pins.stat reads exactly a 0 for every key. */
static int stat_expect_zero(const char *cgroup)
{
	char want[512], got[512], esc[512], wesc[512];
	size_t i, len = 0;
	int ret;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		len += snprintf(want + len, sizeof(want) - len, "%s 0\n",
				pins_stat_keys[i]);

	ret = cg_read(cgroup, "pins.stat", got, sizeof(got));
	if (ret) {
		ksft_print_msg("read %s/pins.stat: %s\n", cgroup,
			       strerror(-ret));
		return -1;
	}

	if (strcmp(got, want)) {
		ksft_print_msg("%s/pins.stat: got \"%s\", expected \"%s\"\n",
			       cgroup, pins_escape(esc, sizeof(esc), got),
			       pins_escape(wesc, sizeof(wesc), want));
		return -1;
	}

	return 0;
}

/*
 * pins.stat of a new cgroup and of its child is exactly the twelve keys,
 * in order, each 0 bytes. The root's has the same keys in the same order,
 * whole pages each, adding up to its pins.current. None can be written.
 */
TEST_F(pins, stat_format)
{
	static const char * const inputs[] = { "0", "other 4096", "max" };
	long long sum = 0;
	struct pins_usage u;
	size_t i;

	ASSERT_EQ(0, stat_expect_zero(self->parent));
	ASSERT_EQ(0, stat_expect_zero(self->cg));

	ASSERT_EQ(0, pins_usage_read(self->root, &u));
	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		sum += u.stat[i];
	ASSERT_EQ(u.current, sum) {
		TH_LOG("root pins.stat adds up to %lld pages, pins.current is %lld",
		       sum, u.current);
	}

	for (i = 0; i < ARRAY_SIZE(inputs); i++) {
		ASSERT_NE(0, pins_write(self->cg, "pins.stat", inputs[i])) {
			TH_LOG("write \"%s\" to pins.stat worked", inputs[i]);
		}
		ASSERT_NE(0, pins_write(self->root, "pins.stat", inputs[i])) {
			TH_LOG("write \"%s\" to the root's pins.stat worked",
			       inputs[i]);
		}
		ASSERT_NE(0, pins_write(self->root, "pins.current",
					inputs[i])) {
			TH_LOG("write \"%s\" to the root's pins.current worked",
			       inputs[i]);
		}
		ASSERT_EQ(0, stat_expect_zero(self->cg));
	}
}

/* A new child and grandchild start out unlimited and with nothing pinned. */
TEST_F(pins, defaults)
{
	ASSERT_EQ(0, pins_expect_str(self->parent, "pins.max", "max\n"));
	ASSERT_EQ(0, pins_expect_str(self->parent, "pins.current", "0\n"));

	ASSERT_EQ(0, pins_expect_str(self->cg, "pins.max", "max\n"));
	ASSERT_EQ(0, pins_expect_str(self->cg, "pins.current", "0\n"));
}

#define KIB	1024ULL
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)
#define TIB	(1024 * GIB)
#define PIB	(1024 * TIB)
#define EIB	(1024 * PIB)

/*
 * Valid pins.max input and the byte count it stands for. The value read
 * back is that count rounded down to whole pages; ULLONG_MAX means "max".
 */
static const struct {
	const char *input;
	unsigned long long bytes;
} max_good_inputs[] = {
	{ "4096",		4096 },
	{ "4097",		4097 },
	{ "8191",		8191 },
	{ "1000",		1000 },
	{ "0",			0 },
	{ "4k",			4 * KIB },
	{ "4K",			4 * KIB },
	{ "1M",			MIB },
	{ "3m",			3 * MIB },
	{ "2G",			2 * GIB },
	{ "5g",			5 * GIB },
	{ "1T",			TIB },
	{ "1p",			PIB },
	{ "1E",			EIB },
	{ "  8192 \040\n",	8192 },	/* two trailing blanks */
	{ "\t16384\n",		16384 },
	{ "\v32768\f\r\v",	32768 },	/* all of isspace() */
	{ "12288\n",		12288 },
	{ "max\n",		ULLONG_MAX },
	{ "max",		ULLONG_MAX },
	{ "  max\n",		ULLONG_MAX },
	{ "max\v",		ULLONG_MAX },
};

/* Every valid pins.max input is accepted and reads back as expected. */
TEST_F(pins, max_good)
{
	char want[64], esc[64];
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(max_good_inputs); i++) {
		unsigned long long bytes = max_good_inputs[i].bytes;
		const char *input = max_good_inputs[i].input;

		if (bytes == ULLONG_MAX)
			snprintf(want, sizeof(want), "max\n");
		else
			snprintf(want, sizeof(want), "%llu\n",
				 bytes / page_size * page_size);

		err = pins_write(self->cg, "pins.max", input);
		ASSERT_EQ(0, err) {
			TH_LOG("\"%s\" rejected: %s",
			       pins_escape(esc, sizeof(esc), input),
			       strerror(-err));
		}

		ASSERT_EQ(0, pins_expect_str(self->cg, "pins.max", want));

		/* And back to unlimited. */
		ASSERT_EQ(0, pins_set_max(self->cg, PINS_MAX));
	}

	ASSERT_EQ(0, pins_expect_str(self->cg, "pins.current", "0\n"));
}

/* Invalid pins.max input: every one must fail with EINVAL. */
static const char * const max_bad_inputs[] = {
	"-1",
	"-4096",
	"\n",
	" ",
	"\v\f",
	"4096\v4096",
	"abc",
	"4096abc",
	"4096 4096",
	"1KB",
	"1KK",
	"1Q",
	"K",
	"max1",
	"maxx",
	"MAX",
	"0x1000",
	"1.5G",
	"+4096",
	"4096-",
	"18446744073709551616",
	"99999999999999999999999",
	"16777216T",
	"20E",
	"4096\n5",
};

/*
 * Every invalid pins.max input is rejected with EINVAL and leaves the
 * previous limit in place.
 */
TEST_F(pins, max_bad)
{
	char esc[64];
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(max_bad_inputs); i++) {
		const char *input = max_bad_inputs[i];

		ASSERT_EQ(0, pins_set_max(self->cg, 2));

		err = pins_write(self->cg, "pins.max", input);
		ASSERT_EQ(-EINVAL, err) {
			TH_LOG("\"%s\": got %d (%s), expected EINVAL",
			       pins_escape(esc, sizeof(esc), input), err,
			       strerror(-err));
		}

		ASSERT_EQ(0, pins_expect(self->cg, "pins.max", 2));
	}
}

/* pins.current can't be written to. */
TEST_F(pins, current_readonly)
{
	static const char * const inputs[] = { "0", "4096", "max" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(inputs); i++) {
		ASSERT_NE(0, pins_write(self->cg, "pins.current", inputs[i])) {
			TH_LOG("write \"%s\" to pins.current worked",
			       inputs[i]);
		}

		ASSERT_EQ(0, pins_expect_str(self->cg, "pins.current", "0\n"));
	}
}

/*
 * Charges through the hook are limited by pins.max: a cgroup may reach
 * its limit but not go over it, and a failed charge changes nothing.
 */
TEST_F(hook, charge)
{
	const char *cg = self->cg;
	int fd;

	ASSERT_EQ(0, pins_set_max(cg, 8));

	fd = hook_open(self->root, cg);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, hook_expect(fd, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 0));

	ASSERT_EQ(0, hook_cmd(fd, "charge", 8, 0));
	ASSERT_EQ(0, hook_expect(fd, 8));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 8));

	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, hook_expect(fd, 8));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 8));

	/* Can't give back more than this fd holds. */
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 9, -EINVAL));
	ASSERT_EQ(0, hook_expect(fd, 8));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 8));

	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 8, 0));
	ASSERT_EQ(0, hook_expect(fd, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 0));

	/* The limit itself didn't move. */
	ASSERT_EQ(0, pins_expect(cg, "pins.max", 8));
}

/*
 * An unlimited child is still bound by its parent's limit, charges are
 * all or nothing across the hierarchy, and lowering a limit below the
 * current usage is allowed but stops further charges.
 */
TEST_F(hook, ancestor)
{
	const char *parent = self->parent, *child = self->cg;
	int fd;

	ASSERT_EQ(0, pins_set_max(parent, 10));
	ASSERT_EQ(0, pins_expect(child, "pins.max", PINS_MAX));

	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, hook_cmd(fd, "charge", 6, 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 6));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 6));

	/* The parent would go over: the child must not keep the 5 either. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, -ENOMEM));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 6));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 6));
	ASSERT_EQ(0, hook_expect(fd, 6));

	/* Exactly at the limit is fine. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 4, 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 10));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 10));
	ASSERT_EQ(0, hook_expect(fd, 10));

	/* A limit below the current usage is accepted, nothing is taken. */
	ASSERT_EQ(0, pins_set_max(parent, 2));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 10));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 10));

	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 10));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 10));

	ASSERT_EQ(0, pins_set_max(parent, PINS_MAX));

	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 11));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 11));
	ASSERT_EQ(0, hook_expect(fd, 11));

	pins_close_fd(&fd);
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 0));
}

/* A parent's pins.current is the sum of its children's. */
TEST_F(hook, hierarchy_sum)
{
	const char *parent = self->parent, *child_a = self->cg;
	const char *child_b = self->extra;
	int fd_a, fd_b;

	ASSERT_EQ(0, make_extra(parent, "child_b", self->extra));

	fd_a = hook_open(self->root, child_a);
	ASSERT_LE(0, fd_a);
	fd_b = hook_open(self->root, child_b);
	ASSERT_LE(0, fd_b);

	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 3, 0));
	ASSERT_EQ(0, hook_cmd(fd_b, "charge", 5, 0));

	ASSERT_EQ(0, pins_expect(child_a, "pins.current", 3));
	ASSERT_EQ(0, pins_expect(child_b, "pins.current", 5));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 8));
	ASSERT_EQ(0, hook_expect(fd_a, 3));
	ASSERT_EQ(0, hook_expect(fd_b, 5));

	ASSERT_EQ(0, hook_cmd(fd_a, "uncharge", 2, 0));
	ASSERT_EQ(0, pins_expect(child_a, "pins.current", 1));
	ASSERT_EQ(0, pins_expect(child_b, "pins.current", 5));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 6));

	pins_close_fd(&fd_b);
	ASSERT_EQ(0, pins_expect(child_a, "pins.current", 1));
	ASSERT_EQ(0, pins_expect(child_b, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 1));

	pins_close_fd(&fd_a);
	ASSERT_EQ(0, pins_expect(child_a, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
}

/*
 * Charges go to the cgroup the fd was opened in, wherever the task that
 * charges is by then, and even if the fd was handed to another process.
 */
TEST_F(hook, migrate)
{
	const char *cg_a = self->cg, *cg_b = self->extra;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, make_extra(self->parent, "b", self->extra));

	ASSERT_EQ(0, cg_enter_current(cg_a));

	fd = open(PINS_HOOK, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) {
		TH_LOG("open %s: %s", PINS_HOOK, strerror(errno));
	}

	ASSERT_EQ(0, hook_cmd(fd, "charge", 2, 0));

	ASSERT_EQ(0, cg_enter_current(cg_b));

	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, 0));
	ASSERT_EQ(0, pins_expect(cg_a, "pins.current", 3));
	ASSERT_EQ(0, pins_expect(cg_b, "pins.current", 0));

	/* A child in cg_b charging through the inherited fd charges cg_a. */
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid) {
		TH_LOG("fork: %s", strerror(errno));
	}
	if (pid == 0)
		_exit(hook_cmd(fd, "charge", 1, 0) ? EXIT_FAILURE :
		      EXIT_SUCCESS);
	/* The fixture is shared with the child: only we may store this. */
	self->pid = pid;

	ASSERT_EQ(0, pins_reap(&self->pid));

	ASSERT_EQ(0, pins_expect(cg_a, "pins.current", 4));
	ASSERT_EQ(0, pins_expect(cg_b, "pins.current", 0));
	ASSERT_EQ(0, hook_expect(fd, 4));

	ASSERT_EQ(0, cg_enter_current(self->root));

	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 4, 0));
	ASSERT_EQ(0, pins_expect(cg_a, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(cg_b, "pins.current", 0));
}

/*
 * A cgroup can be removed while an fd still holds charges in it. The
 * charges stay with the parent until the fd is closed.
 */
TEST_F(hook, rmdir)
{
	const char *parent = self->parent, *child = self->cg;
	int fd;

	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 5));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 5));

	ASSERT_EQ(0, rmdir(child)) {
		TH_LOG("rmdir %s: %s", child, strerror(errno));
	}
	ASSERT_NE(0, access(child, F_OK)) {
		TH_LOG("%s still visible after rmdir", child);
	}
	ASSERT_EQ(ENOENT, errno);

	ASSERT_EQ(0, pins_expect(parent, "pins.current", 5));
	ASSERT_EQ(0, hook_expect(fd, 5));

	pins_close_fd(&fd);
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
}

/* Closing an fd gives back what it holds, and only that. */
TEST_F(hook, close_uncharges)
{
	const char *cg = self->cg;
	int fd1, fd2;

	fd1 = hook_open(self->root, cg);
	ASSERT_LE(0, fd1);
	fd2 = hook_open(self->root, cg);
	ASSERT_LE(0, fd2);

	ASSERT_EQ(0, hook_cmd(fd1, "charge", 4, 0));
	ASSERT_EQ(0, hook_cmd(fd2, "charge", 2, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 6));
	ASSERT_EQ(0, hook_expect(fd1, 4));
	ASSERT_EQ(0, hook_expect(fd2, 2));

	pins_close_fd(&fd1);
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 2));
	ASSERT_EQ(0, hook_expect(fd2, 2));

	pins_close_fd(&fd2);
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 0));
}

/* Expects "max N\n" in @control of @cgroup. */
static int pins_expect_events(const char *cgroup, const char *control,
			      long events)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "max %ld\n", events);
	return pins_expect_str(cgroup, control, buf);
}

static int pins_expect_all_events(const char *cgroup, long events,
				  long local)
{
	if (pins_expect_events(cgroup, "pins.events", events) ||
	    pins_expect_events(cgroup, "pins.events.local", local))
		return -1;
	return 0;
}

/*
 * pins.events counts refusals by a cgroup's own limit or a descendant's;
 * pins.events.local only those by its own. Successful charges count nothing.
 */
TEST_F(hook, events)
{
	const char *parent = self->parent, *child = self->cg;
	int fd;

	ASSERT_EQ(0, pins_expect_all_events(parent, 0, 0));
	ASSERT_EQ(0, pins_expect_all_events(child, 0, 0));

	ASSERT_EQ(0, pins_set_max(parent, 4));
	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);

	/* Within the limits: no event. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 4, 0));
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 4, 0));
	ASSERT_EQ(0, pins_expect_all_events(parent, 0, 0));
	ASSERT_EQ(0, pins_expect_all_events(child, 0, 0));

	/* Refused by the parent's limit: counted at the parent only. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, -ENOMEM));
	ASSERT_EQ(0, pins_expect_all_events(parent, 1, 1));
	ASSERT_EQ(0, pins_expect_all_events(child, 0, 0));

	/* Refused by the child's limit: local to it, hierarchical above. */
	ASSERT_EQ(0, pins_set_max(child, 2));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 3, -ENOMEM));
	ASSERT_EQ(0, pins_expect_all_events(parent, 2, 1));
	ASSERT_EQ(0, pins_expect_all_events(child, 1, 1));

	/* Both limits would refuse: the child's, met first, is the one. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, -ENOMEM));
	ASSERT_EQ(0, pins_expect_all_events(parent, 3, 1));
	ASSERT_EQ(0, pins_expect_all_events(child, 2, 2));

	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
}

/* Waits up to @ms for an inotify event on @ifd; returns 1, 0 or -1. */
static int wait_inotify_event(int ifd, int ms)
{
	struct pollfd pfd = { .fd = ifd, .events = POLLIN };
	union {
		struct inotify_event ev;
		char buf[4096];
	} u;
	int n;

	n = poll(&pfd, 1, ms);
	if (n <= 0)
		return n;
	if (read(ifd, &u, sizeof(u)) <= 0)
		return -1;
	return 1;
}

/* A refusal raises a file-modified event on both events files. */
TEST_F(hook, events_notify)
{
	char events[PATH_MAX], local[PATH_MAX];
	const char *cg = self->cg;
	int fd, ifd, wd;

	ASSERT_EQ(0, pins_path_of(events, cg, "pins.events"));
	ASSERT_EQ(0, pins_path_of(local, cg, "pins.events.local"));
	ASSERT_EQ(0, pins_set_max(cg, 1));
	fd = hook_open(self->root, cg);
	ASSERT_LE(0, fd);

	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ASSERT_LE(0, ifd) {
		TH_LOG("inotify_init1: %s", strerror(errno));
	}
	wd = inotify_add_watch(ifd, events, IN_MODIFY);
	ASSERT_LE(0, wd) {
		TH_LOG("inotify_add_watch %s: %s", events, strerror(errno));
	}

	/* A successful charge is no event. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, 0));
	ASSERT_EQ(0, wait_inotify_event(ifd, 200)) {
		TH_LOG("event on %s without a refusal", events);
	}

	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(1, wait_inotify_event(ifd, 2000)) {
		TH_LOG("no modified event on %s", events);
	}

	inotify_rm_watch(ifd, wd);
	wd = inotify_add_watch(ifd, local, IN_MODIFY);
	ASSERT_LE(0, wd) {
		TH_LOG("inotify_add_watch %s: %s", local, strerror(errno));
	}
	/* The core rate-limits events per file: wait out its interval. */
	usleep(100 * 1000);
	while (wait_inotify_event(ifd, 0) == 1)
		;
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(1, wait_inotify_event(ifd, 2000)) {
		TH_LOG("no modified event on %s", local);
	}
	ASSERT_EQ(0, pins_expect_all_events(cg, 2, 2));
}

/* Reads @fd, an open pins.peak, from offset 0 and expects @pages. */
static int peak_fd_expect(int fd, const char *what, long pages)
{
	char buf[64], want[64];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0) {
		ksft_print_msg("read %s: %s\n", what, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	snprintf(want, sizeof(want), "%ld\n", pages * page_size);
	if (strcmp(buf, want)) {
		ksft_print_msg("%s: got %.*s, expected %ld pages\n", what,
			       (int)strcspn(buf, "\n"), buf, pages);
		return -1;
	}
	return 0;
}

static int peak_fd_reset(int fd)
{
	if (pwrite(fd, "reset\n", 6, 0) != 6) {
		ksft_print_msg("reset pins.peak: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * pins.peak is the highest pins.current; a write resets it for reads
 * through the same open file only, which then show the highest usage
 * since that reset, even across resets through other open files.
 */
TEST_F(hook, peak)
{
	const char *cg = self->cg;
	char peak[PATH_MAX];
	int fd, p1, p2, p3;

	ASSERT_EQ(0, pins_path_of(peak, cg, "pins.peak"));
	ASSERT_EQ(0, pins_expect(cg, "pins.peak", 0));
	fd = hook_open(self->root, cg);
	ASSERT_LE(0, fd);

	/* Peak 5, usage 1. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 4, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.peak", 5));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 1));

	/* p1 resets to the usage, then follows it up. */
	p1 = open(peak, O_RDWR);
	ASSERT_LE(0, p1) {
		TH_LOG("open %s: %s", peak, strerror(errno));
	}
	ASSERT_EQ(0, peak_fd_expect(p1, "p1", 5));
	ASSERT_EQ(0, peak_fd_reset(p1));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1 after reset", 1));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 2, 0));
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 2, 0));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1", 3));
	ASSERT_EQ(0, pins_expect(cg, "pins.peak", 5));

	/* A reset through p2 leaves what p1 has seen alone. */
	p2 = open(peak, O_RDWR);
	ASSERT_LE(0, p2) {
		TH_LOG("open %s: %s", peak, strerror(errno));
	}
	ASSERT_EQ(0, peak_fd_reset(p2));
	ASSERT_EQ(0, peak_fd_expect(p2, "p2", 1));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1 after p2's reset", 3));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, 0));
	ASSERT_EQ(0, peak_fd_expect(p2, "p2", 2));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1", 3));

	/* Beyond every peak: all follow. A fresh open shows the all-time. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1", 7));
	ASSERT_EQ(0, peak_fd_expect(p2, "p2", 7));
	p3 = open(peak, O_RDONLY);
	ASSERT_LE(0, p3) {
		TH_LOG("open %s: %s", peak, strerror(errno));
	}
	ASSERT_EQ(0, peak_fd_expect(p3, "p3", 7));

	/* A reset as usage drops shows the lower usage. */
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 6, 0));
	ASSERT_EQ(0, peak_fd_reset(p1));
	ASSERT_EQ(0, peak_fd_expect(p1, "p1 after second reset", 1));
	ASSERT_EQ(0, peak_fd_expect(p2, "p2", 7));
	ASSERT_EQ(0, peak_fd_expect(p3, "p3", 7));
}

/*
 * Charges @npages through the hook @fd in @child, which @parent's limit
 * must refuse, and checks that usage and peaks all stay at @held pages:
 * @child's, @parent's and those read through @child's reset @peak_fd.
 */
static int refused_leaves_peaks(int fd, int peak_fd, const char *parent,
				const char *child, long npages, long held)
{
	int err;

	err = hook_cmd(fd, "charge", npages, -ENOMEM);
	err |= hook_expect(fd, held);
	err |= pins_expect(child, "pins.current", held);
	err |= pins_expect(parent, "pins.current", held);
	err |= pins_expect(child, "pins.peak", held);
	err |= pins_expect(parent, "pins.peak", held);
	err |= peak_fd_expect(peak_fd, "reset child pins.peak", held);
	if (err)
		ksft_print_msg("refused charge of %ld pages at %ld changed the peaks\n",
			       npages, held);

	return err;
}

/*
 * A charge that a limit refused leaves no trace in pins.peak: not in the
 * cgroup whose own level it had already raised when an ancestor's limit
 * refused it, not in that ancestor, and not through an open pins.peak
 * that was reset. An accepted charge raises every peak to the new usage.
 */
TEST_F(hook, peak_refused)
{
	const char *parent = self->parent, *child = self->cg;
	int fd, peak_fd;
	char peak[PATH_MAX];

	ASSERT_EQ(0, pins_path_of(peak, child, "pins.peak"));

	ASSERT_EQ(0, pins_set_max(parent, 8));
	ASSERT_EQ(0, pins_expect(child, "pins.max", PINS_MAX));
	ASSERT_EQ(0, pins_expect(child, "pins.peak", 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.peak", 0));

	peak_fd = open(peak, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, peak_fd) {
		TH_LOG("open %s: %s", peak, strerror(errno));
	}
	ASSERT_EQ(0, peak_fd_reset(peak_fd));
	ASSERT_EQ(0, peak_fd_expect(peak_fd, "reset child pins.peak", 0));

	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);

	/* The parent refuses 9 pages: nothing may have been reached. */
	ASSERT_EQ(0, refused_leaves_peaks(fd, peak_fd, parent, child,
					  9, 0));

	/* Accepted: both peaks follow exactly. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 3, 0));
	ASSERT_EQ(0, pins_expect(child, "pins.peak", 3));
	ASSERT_EQ(0, pins_expect(parent, "pins.peak", 3));
	ASSERT_EQ(0, peak_fd_expect(peak_fd, "reset child pins.peak", 3));

	/* 3 + 6 is above the parent's 8: refused, the peaks stay at 3. */
	ASSERT_EQ(0, refused_leaves_peaks(fd, peak_fd, parent, child,
					  6, 3));

	/* Up to the limit exactly. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));
	ASSERT_EQ(0, pins_expect(child, "pins.peak", 8));
	ASSERT_EQ(0, pins_expect(parent, "pins.peak", 8));
	ASSERT_EQ(0, peak_fd_expect(peak_fd, "reset child pins.peak", 8));

	/* Peaks are history: they stay when the usage drops. */
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 8, 0));
	ASSERT_EQ(0, pins_expect(child, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(child, "pins.peak", 8));
	ASSERT_EQ(0, pins_expect(parent, "pins.peak", 8));
}

/*
 * "charge 0" asks for nothing, so no limit can refuse it: it succeeds
 * under, at and above a cgroup's own limit and above an ancestor's, and
 * counts no event.
 */
TEST_F(hook, charge_zero_over_limit)
{
	const char *parent = self->parent, *child = self->cg;
	int err, fd;

	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));

	/* Under the limit. */
	ASSERT_EQ(0, pins_set_max(child, 6));
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("\"charge 0\" at 5 pages under a limit of 6");
	}

	/* At the limit. */
	ASSERT_EQ(0, pins_set_max(child, 5));
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("\"charge 0\" at 5 pages at a limit of 5");
	}

	/* Above its own limit: lowering it below the usage is allowed. */
	ASSERT_EQ(0, pins_set_max(child, 2));
	err = hook_cmd(fd, "charge", 0, 0);
	err |= hook_expect(fd, 5);
	err |= pins_expect(child, "pins.current", 5);
	err |= pins_expect(parent, "pins.current", 5);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("\"charge 0\" at 5 pages above a limit of 2");
	}

	/* Above an ancestor's limit. */
	ASSERT_EQ(0, pins_set_max(child, PINS_MAX));
	ASSERT_EQ(0, pins_set_max(parent, 2));
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect(parent, "pins.current", 5);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("\"charge 0\" at 5 pages above the parent's limit of 2");
	}

	/* A real charge there is refused and counted, by the parent. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, pins_expect_all_events(child, 0, 0));
	ASSERT_EQ(0, pins_expect_all_events(parent, 1, 1));

	/* And by the child's own limit. */
	ASSERT_EQ(0, pins_set_max(child, 2));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, pins_expect_all_events(child, 1, 1));
	ASSERT_EQ(0, pins_expect_all_events(parent, 2, 1));

	pins_close_fd(&fd);
	ASSERT_EQ(0, pins_expect(child, "pins.current", 0));
	ASSERT_EQ(0, pins_expect(parent, "pins.current", 0));
}

/*
 * Usage is counted in pages and shown in bytes, so the largest usage is
 * the largest page count whose byte count fits in 64 bits:
 * 2^(64 - PAGE_SHIFT) - 1 pages. A charge that would take the usage
 * beyond it fails with ENOMEM and changes nothing, even without a limit;
 * a charge that reaches it exactly succeeds and reads back exactly.
 */
TEST_F(hook, charge_absurd)
{
	const char *cg = self->cg;
	int err, fd, shift = 0;
	long n;

	while ((1L << shift) < page_size)
		shift++;
	ASSERT_EQ(page_size, 1L << shift) {
		TH_LOG("page size %ld is not a power of two", page_size);
	}
	ASSERT_LE(2, shift);
	/* The first page count whose byte count needs 65 bits. */
	n = 1L << (64 - shift);

	ASSERT_EQ(0, pins_expect(cg, "pins.max", PINS_MAX));

	fd = hook_open(self->root, cg);
	ASSERT_LE(0, fd);

	err = hook_cmd(fd, "charge", n, -ENOMEM);
	err |= hook_expect(fd, 0);
	err |= pins_expect(cg, "pins.current", 0);
	err |= pins_expect(cg, "pins.peak", 0);
	err |= pins_expect_all_events(cg, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("charge of %ld pages (2^%d) without a limit", n,
		       64 - shift);
	}

	/* The largest usage there is, shown exactly. */
	err = hook_cmd(fd, "charge", n - 1, 0);
	err |= hook_expect(fd, n - 1);
	err |= pins_expect(cg, "pins.current", n - 1);
	err |= pins_expect(cg, "pins.peak", n - 1);
	ASSERT_EQ(0, err) {
		TH_LOG("charge of %ld pages (2^%d - 1)", n - 1, 64 - shift);
	}

	/* Not one more page. */
	err = hook_cmd(fd, "charge", 1, -ENOMEM);
	err |= hook_expect(fd, n - 1);
	err |= pins_expect(cg, "pins.current", n - 1);
	err |= pins_expect(cg, "pins.peak", n - 1);
	err |= pins_expect_all_events(cg, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("charge of 1 page at 2^%d - 1 pages", 64 - shift);
	}

	ASSERT_EQ(0, hook_cmd(fd, "uncharge", n - 1, 0));
	ASSERT_EQ(0, hook_expect(fd, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 0));

	/* Two charges that are each fine but overflow together. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", n / 2, 0));
	err = hook_cmd(fd, "charge", n / 2, -ENOMEM);
	err |= hook_expect(fd, n / 2);
	err |= pins_expect(cg, "pins.current", n / 2);
	err |= pins_expect_all_events(cg, 0, 0);
	ASSERT_EQ(0, err) {
		TH_LOG("second charge of 2^%d pages", 63 - shift);
	}

	ASSERT_EQ(0, hook_cmd(fd, "uncharge", n / 2, 0));
	ASSERT_EQ(0, hook_expect(fd, 0));
	ASSERT_EQ(0, pins_expect(cg, "pins.current", 0));
}

/*
 * pins.stat counts the hook's charges under "other", in the cgroup charged
 * and in every ancestor up to the root, hierarchically, always adding up
 * to pins.current; a refused charge shows nowhere, and uncharges, closes
 * and the removal of the cgroup charged return exactly what they should.
 */
TEST_F(hook, stat_hierarchy)
{
	const char *root = self->root, *parent = self->parent;
	const char *child_a = self->cg, *child_b = self->extra;
	struct pins_usage base;
	int fd_a, fd_b;

	ASSERT_EQ(0, make_extra(parent, "child_b", self->extra));
	ASSERT_EQ(0, pins_usage_read(root, &base));

	fd_a = hook_open(root, child_a);
	ASSERT_LE(0, fd_a);
	fd_b = hook_open(root, child_b);
	ASSERT_LE(0, fd_b);

	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 3, 0));
	ASSERT_EQ(0, hook_cmd(fd_b, "charge", 5, 0));
	ASSERT_EQ(0, usage_expect(child_a, NULL, 3));
	ASSERT_EQ(0, usage_expect(child_b, NULL, 5));
	ASSERT_EQ(0, usage_expect(parent, NULL, 8));
	ASSERT_EQ(0, usage_expect(root, &base, 8));

	ASSERT_EQ(0, hook_cmd(fd_a, "uncharge", 2, 0));
	ASSERT_EQ(0, usage_expect(child_a, NULL, 1));
	ASSERT_EQ(0, usage_expect(child_b, NULL, 5));
	ASSERT_EQ(0, usage_expect(parent, NULL, 6));
	ASSERT_EQ(0, usage_expect(root, &base, 6));

	/* Refused by the parent's limit: counted nowhere. */
	ASSERT_EQ(0, pins_set_max(parent, 6));
	ASSERT_EQ(0, hook_cmd(fd_b, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, usage_expect(child_a, NULL, 1));
	ASSERT_EQ(0, usage_expect(child_b, NULL, 5));
	ASSERT_EQ(0, usage_expect(parent, NULL, 6));
	ASSERT_EQ(0, usage_expect(root, &base, 6));
	ASSERT_EQ(0, pins_set_max(parent, PINS_MAX));

	pins_close_fd(&fd_b);
	ASSERT_EQ(0, usage_expect(child_a, NULL, 1));
	ASSERT_EQ(0, usage_expect(child_b, NULL, 0));
	ASSERT_EQ(0, usage_expect(parent, NULL, 1));
	ASSERT_EQ(0, usage_expect(root, &base, 1));

	/* A removed cgroup's charges still count above it. */
	ASSERT_EQ(0, rmdir(child_a)) {
		TH_LOG("rmdir %s: %s", child_a, strerror(errno));
	}
	ASSERT_EQ(0, usage_expect(parent, NULL, 1));
	ASSERT_EQ(0, usage_expect(root, &base, 1));

	pins_close_fd(&fd_a);
	ASSERT_EQ(0, usage_expect(parent, NULL, 0));
	ASSERT_EQ(0, usage_expect(root, &base, 0));
}

/* The most children of the root root_children_read() takes. */
#define MAX_ROOT_CHILDREN	64

/* What the children of the root show, by name. */
struct root_children {
	size_t n;
	struct {
		char name[NAME_MAX + 1];
		struct pins_usage usage;
	} cg[MAX_ROOT_CHILDREN];
};

/* Reads pins.stat and pins.current of every child of @root into @c. */
static int root_children_read(const char *root, struct root_children *c)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = 0;
	DIR *dir;

	dir = opendir(root);
	if (!dir) {
		ksft_print_msg("opendir %s: %s\n", root, strerror(errno));
		return -1;
	}

	c->n = 0;
	while (!ret && (de = readdir(dir))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, ".."))
			continue;
		if (c->n == MAX_ROOT_CHILDREN) {
			ksft_print_msg("more than %d cgroups in %s\n",
				       MAX_ROOT_CHILDREN, root);
			ret = -1;
			break;
		}
		snprintf(c->cg[c->n].name, sizeof(c->cg[c->n].name), "%s",
			 de->d_name);
		if (pins_path_of(path, root, de->d_name) ||
		    pins_usage_read(path, &c->cg[c->n].usage))
			ret = -1;
		c->n++;
	}
	closedir(dir);

	return ret;
}

/* Returns 0 if every child of @root in @before still shows the same. */
static int root_children_expect(const char *root,
				const struct root_children *before)
{
	char path[PATH_MAX];
	int ret = 0;
	size_t i;

	for (i = 0; i < before->n; i++)
		if (pins_path_of(path, root, before->cg[i].name) ||
		    usage_expect(path, &before->cg[i].usage, 0))
			ret = -1;

	return ret;
}

/* The keys of locked memory and of perf ring buffers in pins.stat. */
#define STAT_MLOCK	0
#define STAT_PERF	6

/*
 * Until the first pins cgroup other than the root is made, every task is
 * in the root, and the kernel takes that as known instead of looking each
 * task's cgroup up. What is charged then counts in the root's pins.current
 * and pins.stat, through the charge hook, mlock() and a perf ring buffer
 * (a vm_account), and comes back out of them exactly after a pins cgroup
 * was made; what is charged after that goes to the cgroup of the task.
 *
 * A TEST() runs before every TEST_F(), whose setup makes pins cgroups, and
 * test_pins is the first test the guest runs after boot: there, this test
 * starts before any pins cgroup exists. Run anywhere else it checks the
 * same on the path that looks the cgroup up.
 */
TEST(root_before_first_cgroup)
{
	struct pins_usage base, delta = { 0 };
	char root[PATH_MAX], cg[PATH_MAX];
	int fd, fd_root, fd_cg, pfd, ret;
	char *mem, *ring;

	pins_util_init();
	ret = pins_setup_root(root, sizeof(root));
	if (ret == KSFT_SKIP)
		SKIP(return, "%s", skip_reason);
	ASSERT_EQ(KSFT_PASS, ret);
	if (!hook_available())
		SKIP(return, "pins test hook not built");
	pfd = pins_perf_open();
	if (pfd < 0)
		SKIP(return, "perf_event_open: %s", strerror(errno));
	ASSERT_EQ(0, pins_path_of(cg, root, "pins_test_first_cgroup"));
	/* Left behind by an earlier run that failed, or nothing. */
	ASSERT_EQ(0, cg_destroy(cg));
	ASSERT_EQ(0, cg_enter_current(root));
	mem = mmap(NULL, 3 * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, pins_usage_read(root, &base));

	fd = hook_open(root, root);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, hook_cmd(fd, "charge", 5, 0));
	ASSERT_EQ(0, mlock(mem, 3 * page_size));
	ring = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    pfd, 0);
	ASSERT_NE(MAP_FAILED, ring);
	delta.stat[STAT_OTHER] = 5;
	delta.stat[STAT_MLOCK] = 3;
	delta.stat[STAT_PERF] = 2;
	delta.current = 10;
	ASSERT_EQ(0, pins_usage_expect(root, &base, &delta));

	/* The first pins cgroup. */
	ASSERT_EQ(0, pins_create(cg, false));
	ASSERT_EQ(1, pins_cg_has_word(cg, "cgroup.controllers", "pins"));

	/* What was charged before it is returned to the root. */
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 2, 0));
	ASSERT_EQ(0, munlock(mem, 3 * page_size));
	ASSERT_EQ(0, munmap(ring, 2 * page_size));
	delta.stat[STAT_OTHER] = 3;
	delta.stat[STAT_MLOCK] = 0;
	delta.stat[STAT_PERF] = 0;
	delta.current = 3;
	ASSERT_EQ(0, pins_usage_expect(root, &base, &delta));
	ASSERT_EQ(0, usage_expect(cg, NULL, 0));

	/* New charges go where their task is: the root, then the cgroup. */
	fd_root = hook_open(root, root);
	ASSERT_LE(0, fd_root);
	ASSERT_EQ(0, hook_cmd(fd_root, "charge", 4, 0));
	fd_cg = hook_open(root, cg);
	ASSERT_LE(0, fd_cg);
	ASSERT_EQ(0, hook_cmd(fd_cg, "charge", 1, 0));
	ASSERT_EQ(0, mlock(mem, page_size));
	delta.stat[STAT_OTHER] = 8;
	delta.stat[STAT_MLOCK] = 1;
	delta.current = 9;
	ASSERT_EQ(0, pins_usage_expect(root, &base, &delta));
	ASSERT_EQ(0, usage_expect(cg, NULL, 1));

	ASSERT_EQ(0, munlock(mem, page_size));
	pins_close_fd(&fd);
	pins_close_fd(&fd_root);
	pins_close_fd(&fd_cg);
	pins_close_fd(&pfd);
	ASSERT_EQ(0, usage_expect(root, &base, 0));
	ASSERT_EQ(0, usage_expect(cg, NULL, 0));
	ASSERT_EQ(0, munmap(mem, 3 * page_size));
	ASSERT_EQ(0, cg_destroy(cg));
}

/*
 * The root counts the charges of a task in the root cgroup too, in its
 * pins.current and pins.stat, by exactly what was charged, and no child of
 * the root sees any of it.
 */
TEST_F(hook, stat_root_task)
{
	static struct root_children children;
	const char *root = self->root;
	struct pins_usage base;
	int fd;

	ASSERT_EQ(0, cg_enter_current(root));
	ASSERT_EQ(0, root_children_read(root, &children));
	ASSERT_LE(1, children.n);
	ASSERT_EQ(0, pins_usage_read(root, &base));

	fd = hook_open(root, root);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, hook_cmd(fd, "charge", 7, 0));
	ASSERT_EQ(0, hook_expect(fd, 7));
	ASSERT_EQ(0, usage_expect(root, &base, 7));
	ASSERT_EQ(0, usage_expect(self->parent, NULL, 0));
	ASSERT_EQ(0, usage_expect(self->cg, NULL, 0));
	ASSERT_EQ(0, root_children_expect(root, &children));

	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 3, 0));
	ASSERT_EQ(0, usage_expect(root, &base, 4));
	ASSERT_EQ(0, root_children_expect(root, &children));

	pins_close_fd(&fd);
	ASSERT_EQ(0, usage_expect(root, &base, 0));
	ASSERT_EQ(0, root_children_expect(root, &children));
}

/*
 * Reads the records logged since the last call on @fd, from pins_kmsg_open(),
 * and returns 0 if those that mention the pins controller are exactly one
 * with the text @want, or none if @want is NULL.
 */
static int kmsg_expect(int fd, const char *want)
{
	int n = 0, ret = 0, got;
	char msg[8192];

	while ((got = pins_kmsg_read(fd, msg, sizeof(msg))) > 0) {
		if (!strstr(msg, "pins controller"))
			continue;

		if (!want || n++ || strcmp(msg, want)) {
			ksft_print_msg("unexpected kernel log line \"%s\"\n",
				       msg);
			ret = -1;
		}
	}
	if (got < 0)
		return -1;

	if (want && !n) {
		ksft_print_msg("no kernel log line \"%s\"\n", want);
		ret = -1;
	}

	return ret;
}

/*
 * The first charge refused by a cgroup's pins.max logs one line naming
 * the source and that cgroup, by its path from the root of the hierarchy;
 * later refusals by the same limit log nothing, and neither do charges
 * that succeed. Each cgroup's limit has a first refusal of its own.
 */
TEST_F(hook, refusal_log)
{
	const char *parent = self->parent, *child = self->cg;
	char want_parent[PATH_MAX + 64], want_child[PATH_MAX + 64];
	int fd, kfd;

	kfd = pins_kmsg_open();
	if (kfd < 0)
		SKIP(return, "can't read /dev/kmsg: %s", strerror(errno));

	pins_refusal_text(want_parent, sizeof(want_parent), "other",
			  self->root, parent);
	pins_refusal_text(want_child, sizeof(want_child), "other",
			  self->root, child);

	ASSERT_EQ(0, pins_set_max(parent, 4));
	fd = hook_open(self->root, child);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, hook_cmd(fd, "charge", 4, 0));
	ASSERT_EQ(0, kmsg_expect(kfd, NULL));

	/* The parent's first refusal. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, kmsg_expect(kfd, want_parent));

	/* Its second and third. */
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 2, -ENOMEM));
	ASSERT_EQ(0, kmsg_expect(kfd, NULL));

	/* The first refusal by the child's own limit, and its second. */
	ASSERT_EQ(0, pins_set_max(child, 2));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, kmsg_expect(kfd, want_child));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, kmsg_expect(kfd, NULL));

	/* The parent's again, and a charge that fits. */
	ASSERT_EQ(0, pins_set_max(child, PINS_MAX));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, -ENOMEM));
	ASSERT_EQ(0, hook_cmd(fd, "uncharge", 1, 0));
	ASSERT_EQ(0, hook_cmd(fd, "charge", 1, 0));
	ASSERT_EQ(0, kmsg_expect(kfd, NULL));

	ASSERT_EQ(0, pins_expect_all_events(parent, 6, 4));
	ASSERT_EQ(0, pins_expect_all_events(child, 2, 2));

	pins_close_fd(&fd);
	pins_close_fd(&kfd);
}

#define TRACEFS		"/sys/kernel/tracing"
#define TRACE_EVENT	TRACEFS "/events/pins/charge_refused"

/* Returns true if tracefs is there, mounting it first if needed. */
static bool trace_available(void)
{
	if (!access(TRACEFS "/trace", F_OK))
		return true;

	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) && errno != EBUSY)
		ksft_print_msg("mount tracefs: %s\n", strerror(errno));

	return !access(TRACEFS "/trace", F_OK);
}

/* Empties the trace buffer, as "echo > trace" does. */
static int trace_clear(void)
{
	return pins_write_file(TRACEFS "/trace", "\n", O_TRUNC);
}

/* Disables pins:charge_refused and empties the trace buffer. */
static void trace_stop(void)
{
	pins_write_file(TRACE_EVENT "/enable", "0", 0);
	trace_clear();
}

/* The most pins:charge_refused events trace_read() takes. */
#define MAX_TRACE_EVENTS	16

/*
 * Reads the trace buffer and stores what each pins:charge_refused event
 * in it shows after "charge_refused: " in @events. Returns how many there
 * are, or -1.
 */
static int trace_read(char events[][256])
{
	static char buf[1 << 16];
	char *line, *save, *p;
	size_t len = 0;
	ssize_t n;
	int fd, count = 0;

	fd = open(TRACEFS "/trace", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open %s/trace: %s\n", TRACEFS, strerror(errno));
		return -1;
	}
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';

	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (*line == '#')
			continue;
		p = strstr(line, " charge_refused: ");
		if (!p) {
			ksft_print_msg("unexpected trace line \"%s\"\n", line);
			return -1;
		}
		if (count == MAX_TRACE_EVENTS) {
			ksft_print_msg("more than %d events traced\n",
				       MAX_TRACE_EVENTS);
			return -1;
		}
		snprintf(events[count++], 256, "%s",
			 p + strlen(" charge_refused: "));
	}

	return count;
}

/*
 * Every refused charge fires pins:charge_refused with the pid and comm of
 * the task that charged, the ids of the cgroup charged and of the cgroup
 * whose pins.max refused, the source, the pages asked for and that
 * limit's max and usage in pages; a charge that succeeds fires nothing.
 */
TEST_F(hook, refusal_trace)
{
	const char *parent = self->parent, *a = self->cg, *b = self->extra;
	unsigned long long id_parent, id_a, id_b;
	char want[4][256], got[MAX_TRACE_EVENTS][256];
	char comm[64], who[128];
	int fd_a, fd_b, n, i;

	if (!trace_available())
		SKIP(return, "tracefs not available");
	ASSERT_EQ(0, access(TRACE_EVENT "/enable", F_OK)) {
		TH_LOG("no tracepoint pins:charge_refused in %s", TRACEFS);
	}

	ASSERT_EQ(0, make_extra(parent, "b", self->extra));
	id_parent = pins_cg_id(parent);
	id_a = pins_cg_id(a);
	id_b = pins_cg_id(b);
	ASSERT_NE(0, id_parent && id_a && id_b);

	ASSERT_LT(0, read_text("/proc/self/comm", comm, sizeof(comm)));
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(who, sizeof(who), "pid=%d comm=%s", getpid(), comm);

	/* b holds 2 pages, a 3: the parent's usage is 5 of 6. */
	ASSERT_EQ(0, pins_set_max(parent, 6));
	fd_b = hook_open(self->root, b);
	ASSERT_LE(0, fd_b);
	ASSERT_EQ(0, hook_cmd(fd_b, "charge", 2, 0));
	fd_a = hook_open(self->root, a);
	ASSERT_LE(0, fd_a);
	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 3, 0));

	self->tracing = true;
	ASSERT_EQ(0, pins_write_file(TRACE_EVENT "/enable", "1", 0));
	ASSERT_EQ(0, trace_clear());

	/* Twice the same refusal by the parent's limit: two events. */
	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 2, -ENOMEM));
	snprintf(want[0], sizeof(want[0]),
		 "%s cgroup=%llu limiter=%llu source=other pages=2 limit=6 usage=5",
		 who, id_a, id_parent);
	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 2, -ENOMEM));
	snprintf(want[1], sizeof(want[1]), "%s", want[0]);

	/* Up to the parent's limit: no event. */
	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 1, 0));

	/* Refused by a's own limit, below its usage of 4. */
	ASSERT_EQ(0, pins_set_max(a, 2));
	ASSERT_EQ(0, hook_cmd(fd_a, "charge", 1, -ENOMEM));
	snprintf(want[2], sizeof(want[2]),
		 "%s cgroup=%llu limiter=%llu source=other pages=1 limit=2 usage=4",
		 who, id_a, id_a);

	/* b refused by the parent's, now full. */
	ASSERT_EQ(0, hook_cmd(fd_b, "charge", 3, -ENOMEM));
	snprintf(want[3], sizeof(want[3]),
		 "%s cgroup=%llu limiter=%llu source=other pages=3 limit=6 usage=6",
		 who, id_b, id_parent);

	n = trace_read(got);
	ASSERT_EQ((int)ARRAY_SIZE(want), n) {
		for (i = 0; i < n; i++)
			TH_LOG("traced: %s", got[i]);
	}
	for (i = 0; i < n; i++) {
		ASSERT_STREQ(want[i], got[i]) {
			TH_LOG("event %d of %d", i + 1, n);
		}
	}

	trace_stop();
	self->tracing = false;

	pins_close_fd(&fd_a);
	pins_close_fd(&fd_b);
	ASSERT_EQ(0, usage_expect(parent, NULL, 0));
}

#define NSEC_PER_MSEC		(NSEC_PER_SEC / 1000)
#define RACE_CHARGERS		4
#define RACE_ROUNDS		200
#define RACE_TIME_NS		(20 * NSEC_PER_SEC)	/* all rounds */
#define RACE_SETTLE_NS		(100 * NSEC_PER_MSEC)
#define RACE_FILL_NS		(5 * NSEC_PER_SEC)
#define RACE_HEADROOM		4	/* at most, pages above the usage */

/* One thread charging a page at a time through its own hook fd. */
struct race_charger {
	pthread_t thread;
	atomic_bool *stop;
	int fd;
	long charged;		/* pages it was granted */
	atomic_bool refused;	/* it has seen ENOMEM */
	int err;		/* the first other error, -errno */
};

static void *race_charge(void *arg)
{
	struct race_charger *c = arg;
	int ret;

	while (!atomic_load(c->stop)) {
		ret = hook_write(c->fd, "charge", 1);
		if (!ret) {
			c->charged++;
		} else if (ret == -ENOMEM) {
			atomic_store(&c->refused, true);
		} else {
			c->err = ret;
			break;
		}
	}

	return NULL;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* Reads the byte count in the open cgroup file @fd, in pages; -1. */
static long long race_read_pages(int fd, const char *what)
{
	char buf[64], *end;
	unsigned long long bytes;
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		ksft_print_msg("read %s: %s\n", what,
			       n ? strerror(errno) : "empty");
		return -1;
	}
	buf[n] = '\0';
	errno = 0;
	bytes = strtoull(buf, &end, 10);
	if (errno || end == buf || *end != '\n') {
		ksft_print_msg("%s: can't parse \"%.*s\"\n", what,
			       (int)strcspn(buf, "\n"), buf);
		return -1;
	}

	return bytes / page_size;
}

/* What one round of the race saw, in pages. */
struct race_round {
	long long before;	/* pins.current just before the write */
	long long limit;	/* the new pins.max */
	long long after;	/* pins.current just after the write returned */
	long long final;	/* pins.current once the chargers stopped */
	long long granted;	/* charges the chargers were granted */
	bool all_refused;	/* each charger saw ENOMEM before the stop */
};

/*
 * One round in @cgroup, whose pins.max is "max" and usage 0: start the
 * chargers, lower pins.max to a few pages above the usage while they run
 * and record what was seen in @r. Returns 0, or -1 on a failure that is
 * not the race's outcome.
 */
static int race_round(const char *cgroup, int max_fd, int cur_fd, int round,
		      struct race_round *r)
{
	struct race_charger c[RACE_CHARGERS] = {};
	long long target, deadline, usage;
	atomic_bool stop = false;
	int i, started = 0, ret = -1;
	char buf[64];
	ssize_t len;

	for (i = 0; i < RACE_CHARGERS; i++) {
		c[i].fd = -1;
		c[i].stop = &stop;
		atomic_init(&c[i].refused, false);
	}
	for (i = 0; i < RACE_CHARGERS; i++) {
		c[i].fd = open(PINS_HOOK, O_RDWR | O_CLOEXEC);
		if (c[i].fd < 0) {
			ksft_print_msg("open %s: %s\n", PINS_HOOK,
				       strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < RACE_CHARGERS; i++) {
		errno = pthread_create(&c[i].thread, NULL, race_charge, &c[i]);
		if (errno) {
			ksft_print_msg("pthread_create: %s\n", strerror(errno));
			goto out;
		}
		started++;
	}

	/* Let the usage grow to a level that changes from round to round. */
	target = 16 + round % 16;
	deadline = now_ns() + RACE_FILL_NS;
	do {
		usage = race_read_pages(cur_fd, "pins.current");
		if (usage < 0)
			goto out;
		if (now_ns() > deadline) {
			ksft_print_msg("round %d: pins.current stuck at %lld pages\n",
				       round, usage);
			goto out;
		}
	} while (usage < target);

	r->before = race_read_pages(cur_fd, "pins.current");
	if (r->before < 0)
		goto out;
	r->limit = r->before + 1 + round % RACE_HEADROOM;
	len = snprintf(buf, sizeof(buf), "%llu",
		       (unsigned long long)r->limit * page_size);
	if (write(max_fd, buf, len) != len) {
		ksft_print_msg("write \"%s\" to pins.max: %s\n", buf,
			       strerror(errno));
		goto out;
	}
	r->after = race_read_pages(cur_fd, "pins.current");
	if (r->after < 0)
		goto out;

	/* Keep charging until each charger was refused, or for a while. */
	deadline = now_ns() + RACE_SETTLE_NS;
	do {
		usleep(1000);
		r->all_refused = true;
		for (i = 0; i < RACE_CHARGERS; i++)
			if (!atomic_load(&c[i].refused))
				r->all_refused = false;
	} while (!r->all_refused && now_ns() < deadline);

	ret = 0;

out:
	atomic_store(&stop, true);
	for (i = 0; i < started; i++)
		pthread_join(c[i].thread, NULL);

	r->granted = 0;
	for (i = 0; i < started; i++) {
		r->granted += c[i].charged;
		if (c[i].err) {
			ksft_print_msg("round %d: charger %d: \"charge 1\": %s\n",
				       round, i, strerror(-c[i].err));
			ret = -1;
		}
	}

	if (!ret) {
		r->final = race_read_pages(cur_fd, "pins.current");
		if (r->final < 0)
			ret = -1;
	}
	/* What the fds hold is what pins.current shows. */
	if (!ret && r->final != r->granted) {
		ksft_print_msg("round %d: pins.current %lld pages, granted %lld\n",
			       round, r->final, r->granted);
		ret = -1;
	}
	for (i = 0; i < RACE_CHARGERS; i++) {
		if (c[i].fd < 0)
			continue;
		if (!ret && hook_expect(c[i].fd, c[i].charged))
			ret = -1;
		close(c[i].fd);
	}
	if (!ret && pins_expect(cgroup, "pins.current", 0)) {
		ksft_print_msg("round %d: pins.current not 0 after close\n",
			       round);
		ret = -1;
	}

	return ret;
}

/* The rounds of test_lower_max_race(), in a child inside @cgroup. */
static int race_rounds(const char *cgroup, void *arg)
{
	int round, max_fd = -1, cur_fd = -1, bad = 0, late = 0, refused = 0;
	int busy = 0;
	long long start, over, worst = 0;
	struct race_round r;
	int ret = EXIT_FAILURE;

	max_fd = cg_open(cgroup, "pins.max", O_WRONLY | O_CLOEXEC);
	cur_fd = cg_open(cgroup, "pins.current", O_RDONLY | O_CLOEXEC);
	if (max_fd < 0 || cur_fd < 0) {
		ksft_print_msg("open %s/pins.max or pins.current: %s\n",
			       cgroup, strerror(errno));
		goto out;
	}

	start = now_ns();
	for (round = 0; round < RACE_ROUNDS; round++) {
		if (now_ns() - start > RACE_TIME_NS)
			break;
		if (pins_set_max(cgroup, PINS_MAX))
			goto out;

		memset(&r, 0, sizeof(r));
		if (race_round(cgroup, max_fd, cur_fd, round, &r))
			goto out;

		if (r.after > r.before)
			busy++;
		if (r.after > r.limit)
			late++;
		if (r.all_refused)
			refused++;
		over = r.final - (r.after > r.limit ? r.after : r.limit);
		if (over <= 0)
			continue;
		/* In pages: u0 read before the write, u1 right after it. */
		if (bad++ < 10)
			ksft_print_msg("round %d: final %lld > max(L %lld, u1 %lld) (u0 %lld)\n",
				       round, r.final, r.limit, r.after,
				       r.before);
		if (over > worst)
			worst = over;
	}

	ksft_print_msg("%d rounds in %lld ms, %d with every charger refused\n",
		       round, (now_ns() - start) / NSEC_PER_MSEC, refused);
	ksft_print_msg("charges granted while pins.max was written: %d rounds\n",
		       busy);
	ksft_print_msg("usage above the new limit before the write returned: %d rounds\n",
		       late);
	ksft_print_msg("charges above it after the write returned: %d rounds (worst %lld pages)\n",
		       bad, worst);
	if (!bad)
		ret = EXIT_SUCCESS;

out:
	if (max_fd >= 0)
		close(max_fd);
	if (cur_fd >= 0)
		close(cur_fd);

	return ret;
}

/*
 * Once a write to pins.max has returned, no charge is accepted that takes
 * the usage above the new limit, however many charges race with the
 * write: four threads charge a page at a time while pins.max is lowered to
 * a few pages above the usage, and the usage they end at is at most the
 * new limit or the usage read right after the write returned, whichever
 * is higher. Many rounds, since the window is small: up to RACE_TIME_NS
 * and a round's RACE_FILL_NS, more than the default timeout is for.
 */
TEST_F_TIMEOUT(hook, lower_max_race, 60)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs online");

	ASSERT_EQ(0, pins_set_max(self->cg, PINS_MAX));
	ASSERT_EQ(0, pins_run_child(self->cg, race_rounds, NULL));
	ASSERT_EQ(0, pins_expect_wait(self->cg, "pins.current", 0));
}

TEST_HARNESS_MAIN
