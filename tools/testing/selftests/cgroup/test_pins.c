// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for the "pins" cgroup v2 controller, which limits how much memory
 * the tasks of a cgroup may pin or lock.
 *
 * The interface files are pins.max (rw) and pins.current (ro). Both are
 * missing on the root cgroup. pins.max takes "max" or a decimal byte count
 * with an optional K/M/G/T/P/E suffix and is stored in whole pages.
 *
 * If the kernel was built with the test-only charge hook, the debugfs file
 * /sys/kernel/debug/pins_test is used to drive the charge path: each open()
 * binds the fd to the pins cgroup of the opening task, "charge N" and
 * "uncharge N" move N pages in and out of that cgroup and its ancestors,
 * a read returns what the fd holds and close() gives it all back.
 */
#define _GNU_SOURCE

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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"

#define PINS_DEBUGFS	"/sys/kernel/debug"
#define PINS_HOOK	PINS_DEBUGFS "/pins_test"

/*
 * Skip unless the test-only charge hook exists. debugfs is mounted
 * first if needed.
 */
static int pins_prepare_hook(const char *root)
{
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;

	if (!access(PINS_HOOK, F_OK))
		return KSFT_PASS;

	if (proc_mount_contains(" " PINS_DEBUGFS " debugfs ") <= 0 &&
	    mount("debugfs", PINS_DEBUGFS, "debugfs", 0, NULL) &&
	    errno != EBUSY)
		ksft_print_msg("mount debugfs: %s\n", strerror(errno));

	if (!access(PINS_HOOK, F_OK))
		return KSFT_PASS;

	skip_reason = "pins test hook not built";
	return KSFT_SKIP;
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

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * pins is listed in the root's cgroup.controllers, can be enabled in the
 * root's cgroup.subtree_control and then shows up in the controllers of
 * a new child.
 */
static int test_pins_listed_and_enabled(const char *root)
{
	int ret;
	char *child = NULL;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_cg_has_word(root, "cgroup.subtree_control", "pins") != 1)
		goto cleanup;

	child = cg_name(root, "pins_test_listed");
	if (!child || pins_create(child, false))
		goto cleanup;

	if (pins_cg_has_word(child, "cgroup.controllers", "pins") != 1)
		goto cleanup;

	/* Nothing is enabled below the child until it is asked for. */
	if (pins_cg_has_word(child, "cgroup.subtree_control", "pins") != 0)
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	cg_destroy(child);
	free(child);

	return ret;
}

/* Returns 0 if @cgroup has neither pins.max nor pins.current. */
static int pins_files_absent(const char *cgroup)
{
	static const char * const files[] = {
		"pins.max", "pins.current", "pins.peak", "pins.events",
		"pins.events.local",
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", cgroup, files[i]);
		if (!access(path, F_OK) || errno != ENOENT) {
			ksft_print_msg("%s: unexpectedly present\n", path);
			return -1;
		}
	}

	return 0;
}

/*
 * Returns 0 if @cgroup has a writable pins.max and a read-only
 * pins.current.
 */
static int pins_files_present(const char *cgroup)
{
	static const char * const rw_files[] = { "pins.max", "pins.peak" };
	static const char * const ro_files[] = {
		"pins.current", "pins.events", "pins.events.local",
	};
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rw_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", cgroup, rw_files[i]);
		if (stat(path, &st) || !S_ISREG(st.st_mode) ||
		    !(st.st_mode & 0200) || !(st.st_mode & 0400)) {
			ksft_print_msg("%s: missing or not rw\n", path);
			return -1;
		}
	}

	for (i = 0; i < ARRAY_SIZE(ro_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", cgroup, ro_files[i]);
		if (stat(path, &st) || !S_ISREG(st.st_mode) ||
		    (st.st_mode & 0222) || !(st.st_mode & 0400)) {
			ksft_print_msg("%s: missing or not ro\n", path);
			return -1;
		}
	}

	return 0;
}

/*
 * The root cgroup has no pins files. A child has pins.max and
 * pins.current, and so does a grandchild once the child enables pins.
 */
static int test_pins_files(const char *root)
{
	int ret;
	char *child = NULL, *grandchild = NULL;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_files_absent(root))
		goto cleanup;

	child = cg_name(root, "pins_test_files");
	grandchild = child ? cg_name(child, "grandchild") : NULL;
	if (!grandchild)
		goto cleanup;

	if (pins_create(child, false) || pins_create(grandchild, false))
		goto cleanup;

	if (pins_files_present(child))
		goto cleanup;

	/* pins isn't enabled in the child's subtree_control yet. */
	if (pins_files_absent(grandchild))
		goto cleanup;

	if (cg_write(child, "cgroup.subtree_control", "+pins"))
		goto cleanup;

	if (pins_files_present(grandchild))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	cg_destroy(grandchild);
	cg_destroy(child);
	free(grandchild);
	free(child);

	return ret;
}

/* A new child and grandchild start out unlimited and with nothing pinned. */
static int test_pins_defaults(const char *root)
{
	int ret;
	char *child = NULL, *grandchild = NULL;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_defaults");
	grandchild = child ? cg_name(child, "grandchild") : NULL;
	if (!grandchild)
		goto cleanup;

	if (pins_create(child, true) || pins_create(grandchild, false))
		goto cleanup;

	if (pins_expect_str(child, "pins.max", "max\n") ||
	    pins_expect_str(child, "pins.current", "0\n"))
		goto cleanup;

	if (pins_expect_str(grandchild, "pins.max", "max\n") ||
	    pins_expect_str(grandchild, "pins.current", "0\n"))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	cg_destroy(grandchild);
	cg_destroy(child);
	free(grandchild);
	free(child);

	return ret;
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
} pins_max_good[] = {
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
	{ "12288\n",		12288 },
	{ "max\n",		ULLONG_MAX },
	{ "max",		ULLONG_MAX },
	{ "  max\n",		ULLONG_MAX },
};

/* Every valid pins.max input is accepted and reads back as expected. */
static int test_pins_max_good(const char *root)
{
	char want[64], esc[64];
	int ret, err;
	char *child = NULL;
	size_t i;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_max_good");
	if (!child || pins_create(child, false))
		goto cleanup;

	for (i = 0; i < ARRAY_SIZE(pins_max_good); i++) {
		unsigned long long bytes = pins_max_good[i].bytes;
		const char *input = pins_max_good[i].input;

		if (bytes == ULLONG_MAX)
			snprintf(want, sizeof(want), "max\n");
		else
			snprintf(want, sizeof(want), "%llu\n",
				 bytes / page_size * page_size);

		err = pins_write(child, "pins.max", input);
		if (err) {
			ksft_print_msg("\"%s\" rejected: %s\n",
				       pins_escape(esc, sizeof(esc), input),
				       strerror(-err));
			goto cleanup;
		}

		if (pins_expect_str(child, "pins.max", want))
			goto cleanup;

		/* And back to unlimited. */
		if (pins_set_max(child, PINS_MAX))
			goto cleanup;
	}

	if (pins_expect_str(child, "pins.current", "0\n"))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	cg_destroy(child);
	free(child);

	return ret;
}

/* Invalid pins.max input: every one must fail with EINVAL. */
static const char * const pins_max_bad[] = {
	"-1",
	"-4096",
	"\n",
	" ",
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
static int test_pins_max_bad(const char *root)
{
	char esc[64];
	int ret, err;
	char *child = NULL;
	size_t i;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_max_bad");
	if (!child || pins_create(child, false))
		goto cleanup;

	for (i = 0; i < ARRAY_SIZE(pins_max_bad); i++) {
		const char *input = pins_max_bad[i];

		if (pins_set_max(child, 2))
			goto cleanup;

		err = pins_write(child, "pins.max", input);
		if (err != -EINVAL) {
			ksft_print_msg("\"%s\": got %d (%s), expected EINVAL\n",
				       pins_escape(esc, sizeof(esc), input), err,
				       strerror(-err));
			goto cleanup;
		}

		if (pins_expect(child, "pins.max", 2))
			goto cleanup;
	}

	ret = KSFT_PASS;

cleanup:
	cg_destroy(child);
	free(child);

	return ret;
}

/* pins.current can't be written to. */
static int test_pins_current_readonly(const char *root)
{
	static const char * const inputs[] = { "0", "4096", "max" };
	int ret;
	char *child = NULL;
	size_t i;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_current_ro");
	if (!child || pins_create(child, false))
		goto cleanup;

	for (i = 0; i < ARRAY_SIZE(inputs); i++) {
		if (!pins_write(child, "pins.current", inputs[i])) {
			ksft_print_msg("write \"%s\" to pins.current worked\n",
				       inputs[i]);
			goto cleanup;
		}

		if (pins_expect_str(child, "pins.current", "0\n"))
			goto cleanup;
	}

	ret = KSFT_PASS;

cleanup:
	cg_destroy(child);
	free(child);

	return ret;
}

/*
 * Charges through the hook are limited by pins.max: a cgroup may reach
 * its limit but not go over it, and a failed charge changes nothing.
 */
static int test_pins_hook_charge(const char *root)
{
	int ret, fd = -1;
	char *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_charge");
	if (!child || pins_create(child, false))
		goto cleanup;

	if (pins_set_max(child, 8))
		goto cleanup;

	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;

	if (hook_expect(fd, 0) || pins_expect(child, "pins.current", 0))
		goto cleanup;

	if (hook_cmd(fd, "charge", 8, 0))
		goto cleanup;
	if (hook_expect(fd, 8) || pins_expect(child, "pins.current", 8))
		goto cleanup;

	if (hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (hook_expect(fd, 8) || pins_expect(child, "pins.current", 8))
		goto cleanup;

	/* Can't give back more than this fd holds. */
	if (hook_cmd(fd, "uncharge", 9, -EINVAL))
		goto cleanup;
	if (hook_expect(fd, 8) || pins_expect(child, "pins.current", 8))
		goto cleanup;

	if (hook_cmd(fd, "uncharge", 8, 0))
		goto cleanup;
	if (hook_expect(fd, 0) || pins_expect(child, "pins.current", 0))
		goto cleanup;

	/* The limit itself didn't move. */
	if (pins_expect(child, "pins.max", 8))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
}

/*
 * An unlimited child is still bound by its parent's limit, charges are
 * all or nothing across the hierarchy, and lowering a limit below the
 * current usage is allowed but stops further charges.
 */
static int test_pins_hook_ancestor(const char *root)
{
	int ret, fd = -1;
	char *parent = NULL, *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_test_ancestor", &parent, &child))
		goto cleanup;

	if (pins_set_max(parent, 10) ||
	    pins_expect(child, "pins.max", PINS_MAX))
		goto cleanup;

	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;

	if (hook_cmd(fd, "charge", 6, 0))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 6) ||
	    pins_expect(child, "pins.current", 6))
		goto cleanup;

	/* The parent would go over: the child must not keep the 5 either. */
	if (hook_cmd(fd, "charge", 5, -ENOMEM))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 6) ||
	    pins_expect(child, "pins.current", 6) || hook_expect(fd, 6))
		goto cleanup;

	/* Exactly at the limit is fine. */
	if (hook_cmd(fd, "charge", 4, 0))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 10) ||
	    pins_expect(child, "pins.current", 10) || hook_expect(fd, 10))
		goto cleanup;

	/* A limit below the current usage is accepted, nothing is taken. */
	if (pins_set_max(parent, 2))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 10) ||
	    pins_expect(child, "pins.current", 10))
		goto cleanup;

	if (hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 10) ||
	    pins_expect(child, "pins.current", 10))
		goto cleanup;

	if (pins_set_max(parent, PINS_MAX))
		goto cleanup;

	if (hook_cmd(fd, "charge", 1, 0))
		goto cleanup;
	if (pins_expect(parent, "pins.current", 11) ||
	    pins_expect(child, "pins.current", 11) || hook_expect(fd, 11))
		goto cleanup;

	close_fd(&fd);
	if (pins_expect(parent, "pins.current", 0) ||
	    pins_expect(child, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/* A parent's pins.current is the sum of its children's. */
static int test_pins_hook_hierarchy_sum(const char *root)
{
	int ret, fd_a = -1, fd_b = -1;
	char *parent = NULL, *child_a = NULL, *child_b = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	parent = cg_name(root, "pins_test_sum");
	if (!parent)
		goto cleanup;
	child_a = cg_name(parent, "child_a");
	child_b = cg_name(parent, "child_b");
	if (!child_a || !child_b)
		goto cleanup;

	if (pins_create(parent, true) || pins_create(child_a, false) ||
	    pins_create(child_b, false))
		goto cleanup;

	fd_a = hook_open(root, child_a);
	if (fd_a < 0)
		goto cleanup;
	fd_b = hook_open(root, child_b);
	if (fd_b < 0)
		goto cleanup;

	if (hook_cmd(fd_a, "charge", 3, 0) || hook_cmd(fd_b, "charge", 5, 0))
		goto cleanup;

	if (pins_expect(child_a, "pins.current", 3) ||
	    pins_expect(child_b, "pins.current", 5) ||
	    pins_expect(parent, "pins.current", 8))
		goto cleanup;
	if (hook_expect(fd_a, 3) || hook_expect(fd_b, 5))
		goto cleanup;

	if (hook_cmd(fd_a, "uncharge", 2, 0))
		goto cleanup;
	if (pins_expect(child_a, "pins.current", 1) ||
	    pins_expect(child_b, "pins.current", 5) ||
	    pins_expect(parent, "pins.current", 6))
		goto cleanup;

	close_fd(&fd_b);
	if (pins_expect(child_a, "pins.current", 1) ||
	    pins_expect(child_b, "pins.current", 0) ||
	    pins_expect(parent, "pins.current", 1))
		goto cleanup;

	close_fd(&fd_a);
	if (pins_expect(child_a, "pins.current", 0) ||
	    pins_expect(parent, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd_a);
	close_fd(&fd_b);
	cg_enter_current(root);
	cg_destroy(child_a);
	cg_destroy(child_b);
	cg_destroy(parent);
	free(child_a);
	free(child_b);
	free(parent);

	return ret;
}

/*
 * Charges go to the cgroup the fd was opened in, wherever the task that
 * charges is by then, and even if the fd was handed to another process.
 */
static int test_pins_hook_migrate(const char *root)
{
	int ret, status, fd = -1;
	char *cg_a = NULL, *cg_b = NULL;
	pid_t pid;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg_a = cg_name(root, "pins_test_migrate_a");
	cg_b = cg_name(root, "pins_test_migrate_b");
	if (!cg_a || !cg_b)
		goto cleanup;

	if (pins_create(cg_a, false) || pins_create(cg_b, false))
		goto cleanup;

	if (cg_enter_current(cg_a))
		goto cleanup;

	fd = open(PINS_HOOK, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ksft_print_msg("open %s: %s\n", PINS_HOOK, strerror(errno));
		goto cleanup;
	}

	if (hook_cmd(fd, "charge", 2, 0))
		goto cleanup;

	if (cg_enter_current(cg_b))
		goto cleanup;

	if (hook_cmd(fd, "charge", 1, 0))
		goto cleanup;
	if (pins_expect(cg_a, "pins.current", 3) ||
	    pins_expect(cg_b, "pins.current", 0))
		goto cleanup;

	/* A child in cg_b charging through the inherited fd charges cg_a. */
	pid = fork();
	if (pid < 0)
		goto cleanup;
	if (pid == 0)
		_exit(hook_cmd(fd, "charge", 1, 0) ? EXIT_FAILURE :
		      EXIT_SUCCESS);

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != EXIT_SUCCESS)
		goto cleanup;

	if (pins_expect(cg_a, "pins.current", 4) ||
	    pins_expect(cg_b, "pins.current", 0) || hook_expect(fd, 4))
		goto cleanup;

	if (cg_enter_current(root))
		goto cleanup;

	if (hook_cmd(fd, "uncharge", 4, 0))
		goto cleanup;
	if (pins_expect(cg_a, "pins.current", 0) ||
	    pins_expect(cg_b, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	cg_enter_current(root);
	cg_destroy(cg_a);
	cg_destroy(cg_b);
	free(cg_a);
	free(cg_b);

	return ret;
}

/*
 * A cgroup can be removed while an fd still holds charges in it. The
 * charges stay with the parent until the fd is closed.
 */
static int test_pins_hook_rmdir(const char *root)
{
	int ret, fd = -1;
	char *parent = NULL, *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_test_rmdir", &parent, &child))
		goto cleanup;

	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;

	if (hook_cmd(fd, "charge", 5, 0))
		goto cleanup;
	if (pins_expect(child, "pins.current", 5) ||
	    pins_expect(parent, "pins.current", 5))
		goto cleanup;

	if (rmdir(child)) {
		ksft_print_msg("rmdir %s: %s\n", child, strerror(errno));
		goto cleanup;
	}
	if (!access(child, F_OK) || errno != ENOENT) {
		ksft_print_msg("%s still visible after rmdir\n", child);
		goto cleanup;
	}

	if (pins_expect(parent, "pins.current", 5) || hook_expect(fd, 5))
		goto cleanup;

	close_fd(&fd);
	if (pins_expect(parent, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/* Closing an fd gives back what it holds, and only that. */
static int test_pins_hook_close_uncharges(const char *root)
{
	int ret, fd1 = -1, fd2 = -1;
	char *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "pins_test_close");
	if (!child || pins_create(child, false))
		goto cleanup;

	fd1 = hook_open(root, child);
	if (fd1 < 0)
		goto cleanup;
	fd2 = hook_open(root, child);
	if (fd2 < 0)
		goto cleanup;

	if (hook_cmd(fd1, "charge", 4, 0) || hook_cmd(fd2, "charge", 2, 0))
		goto cleanup;
	if (pins_expect(child, "pins.current", 6) ||
	    hook_expect(fd1, 4) || hook_expect(fd2, 2))
		goto cleanup;

	close_fd(&fd1);
	if (pins_expect(child, "pins.current", 2) || hook_expect(fd2, 2))
		goto cleanup;

	close_fd(&fd2);
	if (pins_expect(child, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd1);
	close_fd(&fd2);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
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
static int test_pins_hook_events(const char *root)
{
	int ret, fd = -1;
	char *parent = NULL, *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	parent = cg_name(root, "pins_test_events");
	child = parent ? cg_name(parent, "child") : NULL;
	if (!child)
		goto cleanup;
	if (pins_create(parent, true) || pins_create(child, false))
		goto cleanup;
	if (pins_expect_all_events(parent, 0, 0) ||
	    pins_expect_all_events(child, 0, 0))
		goto cleanup;

	if (pins_set_max(parent, 4))
		goto cleanup;
	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;

	/* Within the limits: no event. */
	if (hook_cmd(fd, "charge", 4, 0) || hook_cmd(fd, "uncharge", 4, 0))
		goto cleanup;
	if (pins_expect_all_events(parent, 0, 0) ||
	    pins_expect_all_events(child, 0, 0))
		goto cleanup;

	/* Refused by the parent's limit: counted at the parent only. */
	if (hook_cmd(fd, "charge", 5, -ENOMEM))
		goto cleanup;
	if (pins_expect_all_events(parent, 1, 1) ||
	    pins_expect_all_events(child, 0, 0))
		goto cleanup;

	/* Refused by the child's limit: local to it, hierarchical above. */
	if (pins_set_max(child, 2) || hook_cmd(fd, "charge", 3, -ENOMEM))
		goto cleanup;
	if (pins_expect_all_events(parent, 2, 1) ||
	    pins_expect_all_events(child, 1, 1))
		goto cleanup;

	/* Both limits would refuse: the child's, met first, is the one. */
	if (hook_cmd(fd, "charge", 5, -ENOMEM))
		goto cleanup;
	if (pins_expect_all_events(parent, 3, 1) ||
	    pins_expect_all_events(child, 2, 2))
		goto cleanup;

	if (pins_expect(parent, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	pins_destroy_pair(root, &parent, &child);

	return ret;
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
static int test_pins_hook_events_notify(const char *root)
{
	int ret, fd = -1, ifd = -1, wd;
	char *cg = NULL, *events = NULL, *local = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg = cg_name(root, "pins_test_events_notify");
	events = cg ? cg_control(cg, "pins.events") : NULL;
	local = cg ? cg_control(cg, "pins.events.local") : NULL;
	if (!events || !local)
		goto cleanup;
	if (pins_create(cg, false) || pins_set_max(cg, 1))
		goto cleanup;
	fd = hook_open(root, cg);
	if (fd < 0)
		goto cleanup;

	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		goto cleanup;
	wd = inotify_add_watch(ifd, events, IN_MODIFY);
	if (wd < 0) {
		ksft_print_msg("inotify_add_watch %s: %s\n", events,
			       strerror(errno));
		goto cleanup;
	}

	/* A successful charge is no event. */
	if (hook_cmd(fd, "charge", 1, 0))
		goto cleanup;
	if (wait_inotify_event(ifd, 200) != 0) {
		ksft_print_msg("event on %s without a refusal\n", events);
		goto cleanup;
	}

	if (hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (wait_inotify_event(ifd, 2000) != 1) {
		ksft_print_msg("no modified event on %s\n", events);
		goto cleanup;
	}

	inotify_rm_watch(ifd, wd);
	wd = inotify_add_watch(ifd, local, IN_MODIFY);
	if (wd < 0)
		goto cleanup;
	/* The core rate-limits events per file: wait out its interval. */
	usleep(100 * 1000);
	while (wait_inotify_event(ifd, 0) == 1)
		;
	if (hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (wait_inotify_event(ifd, 2000) != 1) {
		ksft_print_msg("no modified event on %s\n", local);
		goto cleanup;
	}
	if (pins_expect_all_events(cg, 2, 2))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (ifd >= 0)
		close(ifd);
	close_fd(&fd);
	cg_enter_current(root);
	cg_destroy(cg);
	free(local);
	free(events);
	free(cg);

	return ret;
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
static int test_pins_hook_peak(const char *root)
{
	int ret, fd = -1, p1 = -1, p2 = -1, p3 = -1;
	char *cg = NULL, *peak = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg = cg_name(root, "pins_test_peak");
	peak = cg ? cg_control(cg, "pins.peak") : NULL;
	if (!peak || pins_create(cg, false))
		goto cleanup;
	if (pins_expect(cg, "pins.peak", 0))
		goto cleanup;
	fd = hook_open(root, cg);
	if (fd < 0)
		goto cleanup;

	/* Peak 5, usage 1. */
	if (hook_cmd(fd, "charge", 5, 0) || hook_cmd(fd, "uncharge", 4, 0))
		goto cleanup;
	if (pins_expect(cg, "pins.peak", 5) || pins_expect(cg, "pins.current", 1))
		goto cleanup;

	/* p1 resets to the usage, then follows it up. */
	p1 = open(peak, O_RDWR);
	if (p1 < 0 || peak_fd_expect(p1, "p1", 5) || peak_fd_reset(p1) ||
	    peak_fd_expect(p1, "p1 after reset", 1))
		goto cleanup;
	if (hook_cmd(fd, "charge", 2, 0) || hook_cmd(fd, "uncharge", 2, 0))
		goto cleanup;
	if (peak_fd_expect(p1, "p1", 3) || pins_expect(cg, "pins.peak", 5))
		goto cleanup;

	/* A reset through p2 leaves what p1 has seen alone. */
	p2 = open(peak, O_RDWR);
	if (p2 < 0 || peak_fd_reset(p2) || peak_fd_expect(p2, "p2", 1) ||
	    peak_fd_expect(p1, "p1 after p2's reset", 3))
		goto cleanup;
	if (hook_cmd(fd, "charge", 1, 0))
		goto cleanup;
	if (peak_fd_expect(p2, "p2", 2) || peak_fd_expect(p1, "p1", 3))
		goto cleanup;

	/* Beyond every peak: all follow. A fresh open shows the all-time. */
	if (hook_cmd(fd, "charge", 5, 0))
		goto cleanup;
	if (peak_fd_expect(p1, "p1", 7) || peak_fd_expect(p2, "p2", 7))
		goto cleanup;
	p3 = open(peak, O_RDONLY);
	if (p3 < 0 || peak_fd_expect(p3, "p3", 7))
		goto cleanup;

	/* A reset as usage drops shows the lower usage. */
	if (hook_cmd(fd, "uncharge", 6, 0) || peak_fd_reset(p1) ||
	    peak_fd_expect(p1, "p1 after second reset", 1) ||
	    peak_fd_expect(p2, "p2", 7) || peak_fd_expect(p3, "p3", 7))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (p3 >= 0)
		close(p3);
	if (p2 >= 0)
		close(p2);
	if (p1 >= 0)
		close(p1);
	close_fd(&fd);
	cg_enter_current(root);
	cg_destroy(cg);
	free(peak);
	free(cg);

	return ret;
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
static int test_peak_refused(const char *root)
{
	int ret, fd = -1, peak_fd = -1;
	char *parent = NULL, *child = NULL, *peak = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_test_peak_refused", &parent, &child))
		goto cleanup;
	peak = cg_control(child, "pins.peak");
	if (!peak)
		goto cleanup;

	if (pins_set_max(parent, 8) ||
	    pins_expect(child, "pins.max", PINS_MAX))
		goto cleanup;
	if (pins_expect(child, "pins.peak", 0) ||
	    pins_expect(parent, "pins.peak", 0))
		goto cleanup;

	peak_fd = open(peak, O_RDWR | O_CLOEXEC);
	if (peak_fd < 0) {
		ksft_print_msg("open %s: %s\n", peak, strerror(errno));
		goto cleanup;
	}
	if (peak_fd_reset(peak_fd) ||
	    peak_fd_expect(peak_fd, "reset child pins.peak", 0))
		goto cleanup;

	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;

	/* The parent refuses 9 pages: nothing may have been reached. */
	if (refused_leaves_peaks(fd, peak_fd, parent, child, 9, 0))
		goto cleanup;

	/* Accepted: both peaks follow exactly. */
	if (hook_cmd(fd, "charge", 3, 0))
		goto cleanup;
	if (pins_expect(child, "pins.peak", 3) ||
	    pins_expect(parent, "pins.peak", 3) ||
	    peak_fd_expect(peak_fd, "reset child pins.peak", 3))
		goto cleanup;

	/* 3 + 6 is above the parent's 8: refused, the peaks stay at 3. */
	if (refused_leaves_peaks(fd, peak_fd, parent, child, 6, 3))
		goto cleanup;

	/* Up to the limit exactly. */
	if (hook_cmd(fd, "charge", 5, 0))
		goto cleanup;
	if (pins_expect(child, "pins.peak", 8) ||
	    pins_expect(parent, "pins.peak", 8) ||
	    peak_fd_expect(peak_fd, "reset child pins.peak", 8))
		goto cleanup;

	/* Peaks are history: they stay when the usage drops. */
	if (hook_cmd(fd, "uncharge", 8, 0))
		goto cleanup;
	if (pins_expect(child, "pins.current", 0) ||
	    pins_expect(parent, "pins.current", 0) ||
	    pins_expect(child, "pins.peak", 8) ||
	    pins_expect(parent, "pins.peak", 8))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (peak_fd >= 0)
		close(peak_fd);
	close_fd(&fd);
	pins_destroy_pair(root, &parent, &child);
	free(peak);

	return ret;
}

/*
 * "charge 0" asks for nothing, so no limit can refuse it: it succeeds
 * under, at and above a cgroup's own limit and above an ancestor's, and
 * counts no event.
 */
static int test_charge_zero_over_limit(const char *root)
{
	int ret, err, fd = -1;
	char *parent = NULL, *child = NULL;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_test_charge_zero", &parent, &child))
		goto cleanup;

	fd = hook_open(root, child);
	if (fd < 0)
		goto cleanup;
	if (hook_cmd(fd, "charge", 5, 0))
		goto cleanup;

	/* Under the limit. */
	if (pins_set_max(child, 6))
		goto cleanup;
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	if (err) {
		ksft_print_msg("\"charge 0\" at 5 pages under a limit of 6\n");
		goto cleanup;
	}

	/* At the limit. */
	if (pins_set_max(child, 5))
		goto cleanup;
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	if (err) {
		ksft_print_msg("\"charge 0\" at 5 pages at a limit of 5\n");
		goto cleanup;
	}

	/* Above its own limit: lowering it below the usage is allowed. */
	if (pins_set_max(child, 2))
		goto cleanup;
	err = hook_cmd(fd, "charge", 0, 0);
	err |= hook_expect(fd, 5);
	err |= pins_expect(child, "pins.current", 5);
	err |= pins_expect(parent, "pins.current", 5);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	if (err) {
		ksft_print_msg("\"charge 0\" at 5 pages above a limit of 2\n");
		goto cleanup;
	}

	/* Above an ancestor's limit. */
	if (pins_set_max(child, PINS_MAX) || pins_set_max(parent, 2))
		goto cleanup;
	err = hook_cmd(fd, "charge", 0, 0);
	err |= pins_expect(parent, "pins.current", 5);
	err |= pins_expect_all_events(child, 0, 0);
	err |= pins_expect_all_events(parent, 0, 0);
	if (err) {
		ksft_print_msg("\"charge 0\" at 5 pages above the parent's limit of 2\n");
		goto cleanup;
	}

	/* A real charge there is refused and counted, by the parent. */
	if (hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (pins_expect_all_events(child, 0, 0) ||
	    pins_expect_all_events(parent, 1, 1))
		goto cleanup;

	/* And by the child's own limit. */
	if (pins_set_max(child, 2) || hook_cmd(fd, "charge", 1, -ENOMEM))
		goto cleanup;
	if (pins_expect_all_events(child, 1, 1) ||
	    pins_expect_all_events(parent, 2, 1))
		goto cleanup;

	close_fd(&fd);
	if (pins_expect(child, "pins.current", 0) ||
	    pins_expect(parent, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/*
 * Usage is counted in pages and shown in bytes, so the largest usage is
 * the largest page count whose byte count fits in 64 bits:
 * 2^(64 - PAGE_SHIFT) - 1 pages. A charge that would take the usage
 * beyond it fails with ENOMEM and changes nothing, even without a limit;
 * a charge that reaches it exactly succeeds and reads back exactly.
 */
static int test_charge_absurd(const char *root)
{
	int ret, err, shift = 0, fd = -1;
	char *cg = NULL;
	long n;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	while ((1L << shift) < page_size)
		shift++;
	if ((1L << shift) != page_size || shift < 2) {
		ksft_print_msg("page size %ld is not a power of two\n",
			       page_size);
		return KSFT_FAIL;
	}
	/* The first page count whose byte count needs 65 bits. */
	n = 1L << (64 - shift);

	cg = cg_name(root, "pins_test_charge_absurd");
	if (!cg || pins_create(cg, false))
		goto cleanup;
	if (pins_expect(cg, "pins.max", PINS_MAX))
		goto cleanup;

	fd = hook_open(root, cg);
	if (fd < 0)
		goto cleanup;

	err = hook_cmd(fd, "charge", n, -ENOMEM);
	err |= hook_expect(fd, 0);
	err |= pins_expect(cg, "pins.current", 0);
	err |= pins_expect(cg, "pins.peak", 0);
	err |= pins_expect_all_events(cg, 0, 0);
	if (err) {
		ksft_print_msg("charge of %ld pages (2^%d) without a limit\n",
			       n, 64 - shift);
		goto cleanup;
	}

	/* The largest usage there is, shown exactly. */
	err = hook_cmd(fd, "charge", n - 1, 0);
	err |= hook_expect(fd, n - 1);
	err |= pins_expect(cg, "pins.current", n - 1);
	err |= pins_expect(cg, "pins.peak", n - 1);
	if (err) {
		ksft_print_msg("charge of %ld pages (2^%d - 1)\n", n - 1,
			       64 - shift);
		goto cleanup;
	}

	/* Not one more page. */
	err = hook_cmd(fd, "charge", 1, -ENOMEM);
	err |= hook_expect(fd, n - 1);
	err |= pins_expect(cg, "pins.current", n - 1);
	err |= pins_expect(cg, "pins.peak", n - 1);
	err |= pins_expect_all_events(cg, 0, 0);
	if (err) {
		ksft_print_msg("charge of 1 page at 2^%d - 1 pages\n",
			       64 - shift);
		goto cleanup;
	}

	if (hook_cmd(fd, "uncharge", n - 1, 0))
		goto cleanup;
	if (hook_expect(fd, 0) || pins_expect(cg, "pins.current", 0))
		goto cleanup;

	/* Two charges that are each fine but overflow together. */
	if (hook_cmd(fd, "charge", n / 2, 0))
		goto cleanup;
	err = hook_cmd(fd, "charge", n / 2, -ENOMEM);
	err |= hook_expect(fd, n / 2);
	err |= pins_expect(cg, "pins.current", n / 2);
	err |= pins_expect_all_events(cg, 0, 0);
	if (err) {
		ksft_print_msg("second charge of 2^%d pages\n", 63 - shift);
		goto cleanup;
	}

	if (hook_cmd(fd, "uncharge", n / 2, 0))
		goto cleanup;
	if (hook_expect(fd, 0) || pins_expect(cg, "pins.current", 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	cg_enter_current(root);
	cg_destroy(cg);
	free(cg);

	return ret;
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
 * is higher. Many rounds, since the window is small.
 */
static int test_lower_max_race(const char *root)
{
	int ret;

	ret = pins_prepare_hook(root);
	if (ret != KSFT_PASS)
		return ret;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		skip_reason = "needs two CPUs online";
		return KSFT_SKIP;
	}

	return pins_run_in_new_cgroup(root, "pins_test_lower_max_race",
				      PINS_MAX, race_rounds, NULL);
}

#define T(x) { x, #x }
static const struct pins_test tests[] = {
	T(test_pins_listed_and_enabled),
	T(test_pins_files),
	T(test_pins_defaults),
	T(test_pins_max_good),
	T(test_pins_max_bad),
	T(test_pins_current_readonly),
	T(test_pins_hook_charge),
	T(test_pins_hook_ancestor),
	T(test_pins_hook_hierarchy_sum),
	T(test_pins_hook_migrate),
	T(test_pins_hook_rmdir),
	T(test_pins_hook_close_uncharges),
	T(test_pins_hook_events),
	T(test_pins_hook_events_notify),
	T(test_pins_hook_peak),
	T(test_peak_refused),
	T(test_charge_zero_over_limit),
	T(test_charge_absurd),
	T(test_lower_max_race),
};

#undef T

int main(int argc, char **argv)
{
	return pins_run_tests(tests, ARRAY_SIZE(tests));
}
