// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for vm_account, which charges pinned memory to RLIMIT_MEMLOCK and
 * to the "pins" cgroup v2 controller together, all or nothing.
 *
 * The test-only driver /dev/vm_account_test (lib/test_vm_account.c) pins
 * user memory the way a DMA driver does. open() sets up a vm_account for
 * the opening task: the rlimit counter is its mm->pinned_vm (the "VmPin:"
 * line of its /proc/<pid>/status) and the pins cgroup is the one it is in
 * at open time. Every pin made through the file, by any process and from
 * any cgroup, is charged there and given back there.
 *
 * A pin is refused with ENOMEM if it would take the counter above the
 * opener's RLIMIT_MEMLOCK, unless the pinning task has CAP_IPC_LOCK or the
 * file is in bypass mode, or if it would take the cgroup or one of its
 * ancestors above pins.max, which nothing bypasses. A refused pin charges
 * nothing anywhere.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on the
 * fixture below: a cgroup with pins enabled for its children, a child of
 * it that the test charges, and cleanup of whatever the test leaves
 * behind, so that a failed assertion can just end the test. A test that
 * pins maps BUF_PAGES pages of touched memory of its own. Without cgroup
 * v2, the pins controller or the test driver every test reports SKIP.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"
#include "../../../../lib/test_vm_account_uapi.h"

#define VMAT_DEV	"/dev/vm_account_test"

/* The fixture's memory, in pages. */
#define BUF_PAGES	8

/* Returns 0 if @cgroup/pins.current shows exactly @pages pages. */
static int cur_expect(const char *cgroup, long pages)
{
	return pins_expect(cgroup, "pins.current", pages);
}

/*
 * Returns 0 if the VmPin line of /proc/@pid/status (of this process if
 * @pid is 0) shows exactly @pages pages.
 */
static int vmpin_expect(pid_t pid, long pages)
{
	return pins_status_expect(pid, "VmPin", pages);
}

/*
 * Returns 0 if @cgroup holds @pages pages and the mm of @pid (0 for this
 * process) has @vmpin pages pinned.
 */
static int charged(const char *cgroup, long pages, pid_t pid, long vmpin)
{
	if (cur_expect(cgroup, pages))
		return -1;

	return vmpin_expect(pid, vmpin);
}

/* Map @npages of anonymous read-write memory and touch every page. */
static char *buf_alloc(long npages)
{
	char *buf;

	buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		ksft_print_msg("mmap %ld pages: %s\n", npages,
			       strerror(errno));
		return NULL;
	}
	memset(buf, 0x5a, npages * page_size);

	return buf;
}

static void buf_free(char *buf, long npages)
{
	if (buf)
		munmap(buf, npages * page_size);
}

/* Page @i of @buf. */
static char *page_at(char *buf, long i)
{
	return buf + i * page_size;
}

/* Open the test driver: the file charges this task and its cgroup. */
static int vmat_open(void)
{
	int fd;

	fd = open(VMAT_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		ksft_print_msg("open %s: %s\n", VMAT_DEV, strerror(errno));

	return fd;
}

/*
 * Open the test driver from inside @cgroup, so that the file charges
 * @cgroup, then move back to @root. Returns the fd or -1.
 */
static int vmat_open_in(const char *root, const char *cgroup)
{
	int fd;

	if (cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		return -1;
	}

	fd = vmat_open();

	if (cg_enter_current(root)) {
		ksft_print_msg("can't move back into %s\n", root);
		if (fd >= 0)
			close(fd);
		return -1;
	}

	return fd;
}

/* Returns 0 if setting mode @flags on @fd ends with errno @expected. */
static int vmat_mode(int fd, __u32 flags, int expected)
{
	int err = 0;

	if (ioctl(fd, VM_ACCOUNT_TEST_MODE, &flags))
		err = errno;

	if (err != expected) {
		ksft_print_msg("mode %#x: got %d (%s), expected %d (%s)\n",
			       flags, err, strerror(err), expected,
			       strerror(expected));
		return -1;
	}

	return 0;
}

/*
 * Pin @npages pages at @addr through @fd. Returns 0 if that ends with
 * errno @expected (0 for success), and then stores the id in @id.
 */
static int vmat_pin(int fd, char *addr, long npages, int expected, __u64 *id)
{
	struct vm_account_test_pin pin = {
		.addr = (unsigned long)addr,
		.npages = npages,
		.id = ~0ULL,
	};
	int err = 0;

	if (ioctl(fd, VM_ACCOUNT_TEST_PIN, &pin))
		err = errno;

	if (err != expected) {
		ksft_print_msg("pin %ld pages: got %d (%s), expected %d (%s)\n",
			       npages, err, strerror(err), expected,
			       strerror(expected));
		return -1;
	}

	if (!err && id)
		*id = pin.id;

	return 0;
}

/* Returns 0 if unpinning @id through @fd ends with errno @expected. */
static int vmat_unpin(int fd, __u64 id, int expected)
{
	int err = 0;

	if (ioctl(fd, VM_ACCOUNT_TEST_UNPIN, &id))
		err = errno;

	if (err != expected) {
		ksft_print_msg("unpin %llu: got %d (%s), expected %d (%s)\n",
			       (unsigned long long)id, err, strerror(err),
			       expected, strerror(expected));
		return -1;
	}

	return 0;
}

/*
 * Shared memory (see the teardown): the cgroups' paths, not pointers to
 * them, and no fd and no memory of the test's process, which the tests
 * keep in locals.
 */
FIXTURE(vmat) {
	char root[PATH_MAX];
	char parent[PATH_MAX];	/* pins enabled for its children */
	char cg[PATH_MAX];	/* the test's cgroup, a child of parent */
	char sibling[PATH_MAX];	/* another child of parent, if made */
	pid_t pid;		/* a child of the test, or 0 */
};

FIXTURE_SETUP(vmat)
{
	char name[NAME_MAX];
	int ret;

	pins_util_init();

	ret = pins_setup_root(self->root, sizeof(self->root));
	if (ret == KSFT_SKIP)
		SKIP(return, "%s", skip_reason);
	ASSERT_EQ(KSFT_PASS, ret);

	if (access(VMAT_DEV, F_OK))
		SKIP(return, "vm_account test driver not built");

	/* Teardown only follows a complete setup: undo a partial one here. */
	snprintf(name, sizeof(name), "vm_account_test_%s", _metadata->name);
	ASSERT_EQ(0, pins_path_of(self->parent, self->root, name));
	ASSERT_EQ(0, pins_path_of(self->cg, self->parent, "child"));
	ret = pins_create(self->parent, true);
	if (!ret)
		ret = pins_create(self->cg, false);
	if (ret) {
		cg_destroy(self->cg);
		cg_destroy(self->parent);
	}
	ASSERT_EQ(0, ret);
}

/*
 * Kill the test's child if it is still there and remove the cgroups.
 *
 * It is a FIXTURE_TEARDOWN_PARENT(): with this kselftest_harness.h, a
 * FIXTURE_TEARDOWN() is skipped after a failed ASSERT_*() when the
 * compiler keeps the harness's pid of the test process in a register,
 * which longjmp() resets, and it is at -O2. Teardown then runs once, in
 * the test's process after a failed assertion or in its parent after the
 * test's process has exited, so it uses nothing of the test's process:
 * its fds close and its memory goes when it exits. The fixture is then
 * shared memory, shared with the children the test forks too: a child's
 * pid goes there only after the fork, from the parent.
 */
FIXTURE_TEARDOWN_PARENT(vmat)
{
	pins_kill(&self->pid);
	/* cg_destroy() kills what is inside: that mustn't be us. */
	cg_enter_current(self->root);
	if (*self->sibling)
		cg_destroy(self->sibling);
	cg_destroy(self->cg);
	cg_destroy(self->parent);
}

/* Create a second child of @parent, "b", its path in @sibling (PATH_MAX). */
static int make_sibling(const char *parent, char *sibling)
{
	if (pins_path_of(sibling, parent, "b"))
		return -1;

	return pins_create(sibling, false);
}

/*
 * Fork a child that runs @fn with @cgroup and its end of a socketpair, and
 * exits with what @fn returns. In the parent, returns 0 with the child's
 * pid in @pid and the parent's end of the socketpair in @sock. The child
 * writes to @pid too: it mustn't be in the fixture, which the child shares.
 */
static int fork_peer(int *sock, pid_t *pid, const char *cgroup,
		     int (*fn)(const char *cgroup, int sock))
{
	*pid = pins_fork_peer(NULL, sock);
	if (*pid == 0)
		pins_child_exit(fn(cgroup, *sock));
	if (*pid > 0)
		return 0;

	*pid = 0;
	return -1;
}

/*
 * Run @fn in a child process in @cgroup with its pins.max at @max pages,
 * then check that nothing stayed charged.
 */
static int run_in_cgroup(const char *cgroup, long max,
			 int (*fn)(const char *cgroup, void *arg), void *arg)
{
	if (pins_set_max(cgroup, max) || pins_run_child(cgroup, fn, arg))
		return -1;

	return pins_expect_wait(cgroup, "pins.current", 0);
}

/*
 * Pinning charges the opener's cgroup and mm->pinned_vm, unpinning gives
 * it back, and unknown ids are refused.
 */
TEST_F(vmat, pin_unpin)
{
	char *buf;
	__u64 id;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_expect(self->cg, "pins.max", PINS_MAX));

	fd = vmat_open_in(self->root, self->cg);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));

	ASSERT_EQ(0, vmat_pin(fd, buf, 4, 0, &id));
	ASSERT_EQ(0, charged(self->cg, 4, 0, 4));

	ASSERT_EQ(0, vmat_unpin(fd, id, 0));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));

	/* The id is gone now, and an id that never was isn't taken. */
	ASSERT_EQ(0, vmat_unpin(fd, id, EINVAL));
	ASSERT_EQ(0, vmat_unpin(fd, id + 1000, EINVAL));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
}

/*
 * pins.max limits the pins of the opener's cgroup even for root: a pin may
 * reach the limit but not go over it, and a refused pin charges nothing.
 */
TEST_F(vmat, cgroup_limit)
{
	char *buf;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(self->cg, 4));

	fd = vmat_open_in(self->root, self->cg);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 3, 0, NULL));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 3));

	ASSERT_EQ(0, vmat_pin(fd, page_at(buf, 3), 2, ENOMEM, NULL));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 3));

	/* Exactly at the limit is fine. */
	ASSERT_EQ(0, vmat_pin(fd, page_at(buf, 3), 1, 0, NULL));
	ASSERT_EQ(0, charged(self->cg, 4, 0, 4));

	/* close() gives everything back. */
	pins_close_fd(&fd);
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
	ASSERT_EQ(0, pins_expect(self->cg, "pins.max", 4));
}

/*
 * An unlimited cgroup is still bound by its parent's pins.max, and a pin
 * refused by the parent charges neither the child nor the parent.
 */
TEST_F(vmat, ancestor_limit)
{
	char *buf;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(self->parent, 5));
	ASSERT_EQ(0, pins_expect(self->cg, "pins.max", PINS_MAX));

	fd = vmat_open_in(self->root, self->cg);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 3, 0, NULL));
	ASSERT_EQ(0, cur_expect(self->parent, 3));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 3));

	ASSERT_EQ(0, vmat_pin(fd, page_at(buf, 3), 3, ENOMEM, NULL));
	ASSERT_EQ(0, cur_expect(self->parent, 3));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 3));

	ASSERT_EQ(0, vmat_pin(fd, page_at(buf, 3), 2, 0, NULL));
	ASSERT_EQ(0, cur_expect(self->parent, 5));
	ASSERT_EQ(0, charged(self->cg, 5, 0, 5));

	pins_close_fd(&fd);
	ASSERT_EQ(0, cur_expect(self->parent, 0));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
}

/*
 * Child of rlimit_lesser and cgroup_lesser, running in @cgroup: open as
 * root, become unprivileged with RLIMIT_MEMLOCK at *@arg pages, then 3
 * pages are refused and 2 are taken.
 */
static int child_lesser(const char *cgroup, void *arg)
{
	long memlock = *(long *)arg;
	int ret = EXIT_FAILURE, fd;
	char *buf = NULL;
	__u64 id;

	fd = vmat_open();
	if (fd < 0)
		return EXIT_FAILURE;

	if (pins_drop_privileges(memlock))
		goto out;

	buf = buf_alloc(4);
	if (!buf)
		goto out;

	if (vmat_pin(fd, buf, 3, ENOMEM, NULL))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	if (vmat_pin(fd, buf, 2, 0, &id))
		goto out;
	if (charged(cgroup, 2, 0, 2))
		goto out;

	if (vmat_unpin(fd, id, 0))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close(fd);
	buf_free(buf, 4);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK refuses a pin the cgroup would
 * take, and charges nothing then.
 */
TEST_F(vmat, rlimit_lesser)
{
	long memlock = 2;

	ASSERT_EQ(0, run_in_cgroup(self->cg, 8, child_lesser, &memlock));
}

/*
 * Without CAP_IPC_LOCK, pins.max refuses a pin RLIMIT_MEMLOCK would
 * allow, and the rlimit counter isn't charged then.
 */
TEST_F(vmat, cgroup_lesser)
{
	long memlock = 8;

	ASSERT_EQ(0, run_in_cgroup(self->cg, 2, child_lesser, &memlock));
}

/*
 * Child of cap_ipc_lock_bypasses_rlimit_only, running as root in @cgroup,
 * whose pins.max is 4 pages, with RLIMIT_MEMLOCK at 1 page.
 */
static int child_cap_ipc_lock(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd = -1;
	char *buf = NULL;
	__u64 id;

	if (pins_set_memlock(1))
		return EXIT_FAILURE;

	if (pins_cap_ipc_lock_effective() != 1) {
		ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
		return EXIT_FAILURE;
	}

	buf = buf_alloc(8);
	if (!buf)
		goto out;

	fd = vmat_open();
	if (fd < 0)
		goto out;

	/* Over the rlimit: CAP_IPC_LOCK lets it through. */
	if (vmat_pin(fd, buf, 3, 0, &id))
		goto out;
	if (charged(cgroup, 3, 0, 3))
		goto out;

	/* Over pins.max: CAP_IPC_LOCK doesn't help. */
	if (vmat_pin(fd, page_at(buf, 3), 2, ENOMEM, NULL))
		goto out;
	if (charged(cgroup, 3, 0, 3))
		goto out;

	if (vmat_unpin(fd, id, 0))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	if (fd >= 0)
		close(fd);
	buf_free(buf, 8);

	return ret;
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK but not pins.max. */
TEST_F(vmat, cap_ipc_lock_bypasses_rlimit_only)
{
	ASSERT_EQ(0, run_in_cgroup(self->cg, 4, child_cap_ipc_lock, NULL));
}

/*
 * Child of bypass_mode, running in @cgroup, whose pins.max is 4 pages: one
 * file in bypass mode, one in the default mode, both opened as root, then
 * used as TEST_UID with RLIMIT_MEMLOCK at 1 page.
 */
static int child_bypass(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd = -1, fd_plain = -1;
	char *buf = NULL;
	__u64 id;

	fd = vmat_open();
	if (fd < 0)
		goto out;
	if (vmat_mode(fd, VM_ACCOUNT_TEST_BYPASS, 0))
		goto out;

	fd_plain = vmat_open();
	if (fd_plain < 0)
		goto out;

	if (pins_drop_privileges(1))
		goto out;

	buf = buf_alloc(8);
	if (!buf)
		goto out;

	/* Without bypass the rlimit applies. */
	if (vmat_pin(fd_plain, buf, 3, ENOMEM, NULL))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	/* With it the rlimit doesn't, but the counter is still charged. */
	if (vmat_pin(fd, buf, 3, 0, &id))
		goto out;
	if (charged(cgroup, 3, 0, 3))
		goto out;

	/* pins.max still applies. */
	if (vmat_pin(fd, page_at(buf, 3), 2, ENOMEM, NULL))
		goto out;
	if (charged(cgroup, 3, 0, 3))
		goto out;

	if (vmat_unpin(fd, id, 0))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	pins_close_fd(&fd_plain);
	pins_close_fd(&fd);
	buf_free(buf, 8);

	return ret;
}

/*
 * Bypass mode lifts RLIMIT_MEMLOCK for a task without CAP_IPC_LOCK, but
 * not pins.max.
 */
TEST_F(vmat, bypass_mode)
{
	ASSERT_EQ(0, run_in_cgroup(self->cg, 4, child_bypass, NULL));
}

/*
 * Child of user_mode, running in @cgroup: the file is opened as root and
 * switched to user mode as TEST_UID, with RLIMIT_MEMLOCK at 4 pages, so
 * that TEST_UID's locked_vm is what the rlimit limits.
 */
static int child_user_mode(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd;
	char *buf = NULL;
	__u64 id;

	fd = vmat_open();
	if (fd < 0)
		return EXIT_FAILURE;

	if (pins_drop_privileges(4))
		goto out;

	if (vmat_mode(fd, VM_ACCOUNT_TEST_USER, 0))
		goto out;

	buf = buf_alloc(8);
	if (!buf)
		goto out;

	if (vmat_pin(fd, buf, 3, 0, &id))
		goto out;
	if (charged(cgroup, 3, 0, 0))
		goto out;

	if (vmat_pin(fd, page_at(buf, 3), 2, ENOMEM, NULL))
		goto out;
	if (charged(cgroup, 3, 0, 0))
		goto out;

	if (vmat_unpin(fd, id, 0))
		goto out;
	if (charged(cgroup, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close(fd);
	buf_free(buf, 8);

	return ret;
}

/*
 * In user mode the rlimit counter is the user's locked_vm: VmPin stays 0,
 * the cgroup is still charged and RLIMIT_MEMLOCK still applies. The mode
 * can't change while pins are live.
 */
TEST_F(vmat, user_mode)
{
	char *buf;
	__u64 id;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	/* The mode takes the cgroup of the caller: set it from the child. */
	ASSERT_EQ(0, cg_enter_current(self->cg));
	fd = vmat_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vmat_mode(fd, VM_ACCOUNT_TEST_USER, 0));
	ASSERT_EQ(0, cg_enter_current(self->root));

	ASSERT_EQ(0, vmat_pin(fd, buf, 3, 0, &id));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 0));

	ASSERT_EQ(0, vmat_mode(fd, 0, EBUSY));
	ASSERT_EQ(0, charged(self->cg, 3, 0, 0));

	ASSERT_EQ(0, vmat_unpin(fd, id, 0));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));

	pins_close_fd(&fd);

	ASSERT_EQ(0, pins_run_child(self->cg, child_user_mode, NULL));
	ASSERT_EQ(0, cur_expect(self->cg, 0));
}

/* Pinning the same pages twice charges them twice. */
TEST_F(vmat, double_pin)
{
	__u64 id1, id2;
	char *buf;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	fd = vmat_open_in(self->root, self->cg);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 2, 0, &id1));
	ASSERT_EQ(0, charged(self->cg, 2, 0, 2));

	ASSERT_EQ(0, vmat_pin(fd, buf, 2, 0, &id2));
	ASSERT_NE(id1, id2) {
		TH_LOG("both pins got id %llu", (unsigned long long)id1);
	}
	ASSERT_EQ(0, charged(self->cg, 4, 0, 4));

	ASSERT_EQ(0, vmat_unpin(fd, id1, 0));
	ASSERT_EQ(0, charged(self->cg, 2, 0, 2));

	ASSERT_EQ(0, vmat_unpin(fd, id2, 0));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
}

/*
 * Pins stay charged to the cgroup the file was opened in when the opener
 * moves, and later pins go there too.
 */
TEST_F(vmat, migration)
{
	const char *cg_a = self->cg, *cg_b = self->sibling;
	__u64 id1, id2;
	char *buf;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, make_sibling(self->parent, self->sibling));

	ASSERT_EQ(0, cg_enter_current(cg_a));
	fd = vmat_open();
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 3, 0, &id1));
	ASSERT_EQ(0, charged(cg_a, 3, 0, 3));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	ASSERT_EQ(0, cg_enter_current(cg_b));
	ASSERT_EQ(0, charged(cg_a, 3, 0, 3));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	ASSERT_EQ(0, vmat_pin(fd, page_at(buf, 3), 1, 0, &id2));
	ASSERT_EQ(0, charged(cg_a, 4, 0, 4));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	ASSERT_EQ(0, vmat_unpin(fd, id1, 0));
	ASSERT_EQ(0, vmat_unpin(fd, id2, 0));
	ASSERT_EQ(0, charged(cg_a, 0, 0, 0));
	ASSERT_EQ(0, cur_expect(cg_b, 0));
}

/*
 * Child of fd_passing: move into @cgroup, get the file over @sock, pin 3
 * pages of its own memory through it, and unpin them when told to.
 */
static int child_fd_passing(const char *cgroup, int sock)
{
	int ret = EXIT_FAILURE, fd = -1;
	char *buf = NULL;
	__u64 id;

	if (cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		return EXIT_FAILURE;
	}

	buf = buf_alloc(3);
	if (!buf)
		goto out;

	if (pins_sock_recv(sock, 'F', &fd))
		goto out;

	if (vmat_pin(fd, buf, 3, 0, &id))
		goto out;
	if (pins_sock_send(sock, 'P', -1))
		goto out;

	if (pins_sock_recv(sock, 'U', NULL))
		goto out;
	if (vmat_unpin(fd, id, 0))
		goto out;
	if (pins_sock_send(sock, 'D', -1))
		goto out;

	ret = EXIT_SUCCESS;
out:
	pins_close_fd(&fd);
	buf_free(buf, 3);

	return ret;
}

/*
 * A file handed to a process in another cgroup still charges the opener's
 * cgroup and mm, for pins of the other process's memory too.
 */
TEST_F(vmat, fd_passing)
{
	const char *cg_a = self->cg, *cg_b = self->sibling;
	int fd, sock;
	char *buf;
	pid_t pid;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, make_sibling(self->parent, self->sibling));

	/* Fork first, so that the child gets the file only over the socket. */
	ASSERT_EQ(0, fork_peer(&sock, &pid, cg_b, child_fd_passing));
	/* The fixture is shared with the child: only we may store this. */
	self->pid = pid;

	fd = vmat_open_in(self->root, cg_a);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 2, 0, NULL));
	ASSERT_EQ(0, charged(cg_a, 2, 0, 2));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	ASSERT_EQ(0, pins_sock_send(sock, 'F', fd));

	/* The child in cg_b pinned 3 pages: charged to cg_a and to us. */
	ASSERT_EQ(0, pins_sock_recv(sock, 'P', NULL));
	ASSERT_EQ(0, charged(cg_a, 5, 0, 5));
	ASSERT_EQ(0, cur_expect(cg_b, 0));
	ASSERT_EQ(0, vmpin_expect(self->pid, 0));

	ASSERT_EQ(0, pins_sock_send(sock, 'U', -1));
	ASSERT_EQ(0, pins_sock_recv(sock, 'D', NULL));
	ASSERT_EQ(0, charged(cg_a, 2, 0, 2));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	ASSERT_EQ(0, pins_reap(&self->pid));

	/* The child's copy of the file is gone, ours holds the 2 pages. */
	ASSERT_EQ(0, charged(cg_a, 2, 0, 2));
	ASSERT_EQ(0, cur_expect(cg_b, 0));

	pins_close_fd(&fd);
	ASSERT_EQ(0, charged(cg_a, 0, 0, 0));
	ASSERT_EQ(0, cur_expect(cg_b, 0));
}

/*
 * Child of pinner_exit: in @cgroup, open the file, pin 4 pages, hand the
 * file over @sock and exit without unpinning.
 */
static int child_pinner_exit(const char *cgroup, int sock)
{
	int ret = EXIT_FAILURE, fd = -1;
	char *buf = NULL;

	if (cg_enter_current(cgroup)) {
		ksft_print_msg("can't move into %s\n", cgroup);
		return EXIT_FAILURE;
	}

	buf = buf_alloc(4);
	if (!buf)
		goto out;

	fd = vmat_open();
	if (fd < 0)
		goto out;

	if (vmat_pin(fd, buf, 4, 0, NULL))
		goto out;
	if (charged(cgroup, 4, 0, 4))
		goto out;

	if (pins_sock_send(sock, 'F', fd))
		goto out;

	ret = EXIT_SUCCESS;
out:
	/* The pages stay pinned: the file we sent holds them. */
	pins_close_fd(&fd);
	buf_free(buf, 4);

	return ret;
}

/*
 * Pins outlive the process that made them, as long as the file lives:
 * they stay charged to its cgroup until the file is closed.
 */
TEST_F(vmat, pinner_exit)
{
	int fd, sock;
	pid_t pid;

	ASSERT_EQ(0, fork_peer(&sock, &pid, self->cg, child_pinner_exit));
	/* The fixture is shared with the child: only we may store this. */
	self->pid = pid;

	ASSERT_EQ(0, pins_sock_recv(sock, 'F', &fd));
	ASSERT_EQ(0, pins_reap(&self->pid));

	/* Charged to the cgroup and to the child's mm, not to us. */
	ASSERT_EQ(0, charged(self->cg, 4, 0, 0));

	pins_close_fd(&fd);
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
}

/*
 * A cgroup can be removed while a file still holds pins charged to it:
 * the parent keeps them until the file is closed.
 */
TEST_F(vmat, rmdir_live)
{
	char *buf;
	int fd;

	buf = buf_alloc(BUF_PAGES);
	ASSERT_NE(NULL, buf);

	fd = vmat_open_in(self->root, self->cg);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, vmat_pin(fd, buf, 5, 0, NULL));
	ASSERT_EQ(0, cur_expect(self->parent, 5));
	ASSERT_EQ(0, charged(self->cg, 5, 0, 5));

	ASSERT_EQ(0, rmdir(self->cg)) {
		TH_LOG("rmdir %s: %s", self->cg, strerror(errno));
	}
	ASSERT_NE(0, access(self->cg, F_OK)) {
		TH_LOG("%s still visible after rmdir", self->cg);
	}
	ASSERT_EQ(ENOENT, errno);

	ASSERT_EQ(0, charged(self->parent, 5, 0, 5));

	pins_close_fd(&fd);
	ASSERT_EQ(0, charged(self->parent, 0, 0, 0));
}

/*
 * After everything above, nothing is left charged anywhere: not in a new
 * pair of cgroups, not in this process's mm.
 */
TEST_F(vmat, all_zero)
{
	ASSERT_EQ(0, cur_expect(self->parent, 0));
	ASSERT_EQ(0, charged(self->cg, 0, 0, 0));
}

TEST_HARNESS_MAIN
