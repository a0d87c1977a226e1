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

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"
#include "../../../../lib/test_vm_account_uapi.h"

#define VMAT_DEV	"/dev/vm_account_test"

/*
 * Every test starts here: skip if the controller or the test driver isn't
 * built in, otherwise make sure pins is enabled for the children of the
 * root.
 */
static int vmat_prepare(const char *root)
{
	int ret = pins_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	if (access(VMAT_DEV, F_OK)) {
		skip_reason = "vm_account test driver not built";
		return KSFT_SKIP;
	}

	return KSFT_PASS;
}

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
	long got = pins_status_pages(pid, "VmPin");

	if (got < 0)
		return -1;

	if (got != pages) {
		ksft_print_msg("VmPin of %d: got %ld pages, expected %ld\n",
			       pid ? pid : getpid(), got, pages);
		return -1;
	}

	return 0;
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

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
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
 * Become TEST_UID with RLIMIT_MEMLOCK at @pages pages and no capabilities
 * left, CAP_IPC_LOCK in particular. Only for a child process.
 */
static int drop_privileges(long pages)
{
	if (pins_set_memlock(pages))
		return -1;

	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)) {
		ksft_print_msg("PR_SET_KEEPCAPS: %s\n", strerror(errno));
		return -1;
	}

	return pins_become_nobody();
}

/* Send the one byte @c over @sock, with @fd attached if it isn't -1. */
static int sock_send(int sock, char c, int fd)
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

	/* A peer that is gone must fail the test, not kill it with SIGPIPE. */
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) {
		ksft_print_msg("sendmsg: %s\n", strerror(errno));
		return -1;
	}

	return 0;
}

/*
 * Receive one byte from @sock and check that it is @c. If @fd isn't NULL
 * an fd must come with it and is stored there. Returns 0 on success.
 */
static int sock_recv(int sock, char c, int *fd)
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

/*
 * Runs @fn in a child process in a new cgroup @name below @root whose
 * pins.max is @max pages, then checks that nothing stayed charged.
 */
static int run_in_new_cgroup(const char *root, const char *name, long max,
			     int (*fn)(const char *cgroup, void *arg),
			     void *arg)
{
	int ret = vmat_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	return pins_run_in_new_cgroup(root, name, max, fn, arg);
}

/*
 * Pinning charges the opener's cgroup and mm->pinned_vm, unpinning gives
 * it back, and unknown ids are refused.
 */
static int test_pin_unpin(const char *root)
{
	int ret, fd = -1;
	char *child = NULL, *buf = NULL;
	__u64 id;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "vm_account_test_pin");
	if (!child || pins_create(child, false))
		goto cleanup;

	if (pins_expect(child, "pins.max", PINS_MAX))
		goto cleanup;

	buf = buf_alloc(4);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, child);
	if (fd < 0)
		goto cleanup;

	if (charged(child, 0, 0, 0))
		goto cleanup;

	if (vmat_pin(fd, buf, 4, 0, &id))
		goto cleanup;
	if (charged(child, 4, 0, 4))
		goto cleanup;

	if (vmat_unpin(fd, id, 0))
		goto cleanup;
	if (charged(child, 0, 0, 0))
		goto cleanup;

	/* The id is gone now, and an id that never was isn't taken. */
	if (vmat_unpin(fd, id, EINVAL) || vmat_unpin(fd, id + 1000, EINVAL))
		goto cleanup;
	if (charged(child, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 4);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
}

/*
 * pins.max limits the pins of the opener's cgroup even for root: a pin may
 * reach the limit but not go over it, and a refused pin charges nothing.
 */
static int test_cgroup_limit(const char *root)
{
	int ret, fd = -1;
	char *child = NULL, *buf = NULL;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "vm_account_test_limit");
	if (!child || pins_create(child, false))
		goto cleanup;

	if (pins_set_max(child, 4))
		goto cleanup;

	buf = buf_alloc(8);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, child);
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 3, 0, NULL))
		goto cleanup;
	if (charged(child, 3, 0, 3))
		goto cleanup;

	if (vmat_pin(fd, page_at(buf, 3), 2, ENOMEM, NULL))
		goto cleanup;
	if (charged(child, 3, 0, 3))
		goto cleanup;

	/* Exactly at the limit is fine. */
	if (vmat_pin(fd, page_at(buf, 3), 1, 0, NULL))
		goto cleanup;
	if (charged(child, 4, 0, 4))
		goto cleanup;

	/* close() gives everything back. */
	close_fd(&fd);
	if (charged(child, 0, 0, 0) || pins_expect(child, "pins.max", 4))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 8);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
}

/*
 * An unlimited cgroup is still bound by its parent's pins.max, and a pin
 * refused by the parent charges neither the child nor the parent.
 */
static int test_ancestor_limit(const char *root)
{
	int ret, fd = -1;
	char *parent = NULL, *child = NULL, *buf = NULL;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "vm_account_test_ancestor", &parent, &child))
		goto cleanup;

	if (pins_set_max(parent, 5) ||
	    pins_expect(child, "pins.max", PINS_MAX))
		goto cleanup;

	buf = buf_alloc(8);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, child);
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 3, 0, NULL))
		goto cleanup;
	if (cur_expect(parent, 3) || charged(child, 3, 0, 3))
		goto cleanup;

	if (vmat_pin(fd, page_at(buf, 3), 3, ENOMEM, NULL))
		goto cleanup;
	if (cur_expect(parent, 3) || charged(child, 3, 0, 3))
		goto cleanup;

	if (vmat_pin(fd, page_at(buf, 3), 2, 0, NULL))
		goto cleanup;
	if (cur_expect(parent, 5) || charged(child, 5, 0, 5))
		goto cleanup;

	close_fd(&fd);
	if (cur_expect(parent, 0) || charged(child, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 8);
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/*
 * Child of test_rlimit_lesser() and test_cgroup_lesser(), running in
 * @cgroup: open as root, become unprivileged with RLIMIT_MEMLOCK at
 * *@arg pages, then 3 pages are refused and 2 are taken.
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

	if (drop_privileges(memlock))
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
static int test_rlimit_lesser(const char *root)
{
	long memlock = 2;

	return run_in_new_cgroup(root, "vm_account_test_rlimit", 8,
				 child_lesser, &memlock);
}

/*
 * Without CAP_IPC_LOCK, pins.max refuses a pin RLIMIT_MEMLOCK would
 * allow, and the rlimit counter isn't charged then.
 */
static int test_cgroup_lesser(const char *root)
{
	long memlock = 8;

	return run_in_new_cgroup(root, "vm_account_test_cglesser", 2,
				 child_lesser, &memlock);
}

/*
 * Child of test_cap_ipc_lock_bypasses_rlimit_only(), running as root in
 * @cgroup, whose pins.max is 4 pages, with RLIMIT_MEMLOCK at 1 page.
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
static int test_cap_ipc_lock_bypasses_rlimit_only(const char *root)
{
	return run_in_new_cgroup(root, "vm_account_test_cap", 4,
				 child_cap_ipc_lock, NULL);
}

/*
 * Child of test_bypass_mode(), running in @cgroup, whose pins.max is 4
 * pages: one file in bypass mode, one in the default mode, both opened as
 * root, then used as TEST_UID with RLIMIT_MEMLOCK at 1 page.
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

	if (drop_privileges(1))
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
	close_fd(&fd_plain);
	close_fd(&fd);
	buf_free(buf, 8);

	return ret;
}

/*
 * Bypass mode lifts RLIMIT_MEMLOCK for a task without CAP_IPC_LOCK, but
 * not pins.max.
 */
static int test_bypass_mode(const char *root)
{
	return run_in_new_cgroup(root, "vm_account_test_bypass", 4,
				 child_bypass, NULL);
}

/*
 * Child of test_user_mode(), running in @cgroup: the file is opened as
 * root and switched to user mode as TEST_UID, with RLIMIT_MEMLOCK at 4
 * pages, so that TEST_UID's locked_vm is what the rlimit limits.
 */
static int child_user_mode(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd;
	char *buf = NULL;
	__u64 id;

	fd = vmat_open();
	if (fd < 0)
		return EXIT_FAILURE;

	if (drop_privileges(4))
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
static int test_user_mode(const char *root)
{
	int ret, fd = -1;
	char *child = NULL, *buf = NULL;
	__u64 id;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "vm_account_test_user");
	if (!child || pins_create(child, false))
		goto cleanup;

	buf = buf_alloc(4);
	if (!buf)
		goto cleanup;

	/* The mode takes the cgroup of the caller: set it from the child. */
	if (cg_enter_current(child))
		goto cleanup;
	fd = vmat_open();
	if (fd < 0 || vmat_mode(fd, VM_ACCOUNT_TEST_USER, 0))
		goto cleanup;
	if (cg_enter_current(root))
		goto cleanup;

	if (vmat_pin(fd, buf, 3, 0, &id))
		goto cleanup;
	if (charged(child, 3, 0, 0))
		goto cleanup;

	if (vmat_mode(fd, 0, EBUSY))
		goto cleanup;
	if (charged(child, 3, 0, 0))
		goto cleanup;

	if (vmat_unpin(fd, id, 0))
		goto cleanup;
	if (charged(child, 0, 0, 0))
		goto cleanup;

	close_fd(&fd);

	if (pins_run_child(child, child_user_mode, NULL))
		goto cleanup;

	if (cur_expect(child, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 4);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
}

/* Pinning the same pages twice charges them twice. */
static int test_double_pin(const char *root)
{
	int ret, fd = -1;
	char *child = NULL, *buf = NULL;
	__u64 id1, id2;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	child = cg_name(root, "vm_account_test_double");
	if (!child || pins_create(child, false))
		goto cleanup;

	buf = buf_alloc(2);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, child);
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 2, 0, &id1))
		goto cleanup;
	if (charged(child, 2, 0, 2))
		goto cleanup;

	if (vmat_pin(fd, buf, 2, 0, &id2))
		goto cleanup;
	if (id2 == id1) {
		ksft_print_msg("both pins got id %llu\n",
			       (unsigned long long)id1);
		goto cleanup;
	}
	if (charged(child, 4, 0, 4))
		goto cleanup;

	if (vmat_unpin(fd, id1, 0))
		goto cleanup;
	if (charged(child, 2, 0, 2))
		goto cleanup;

	if (vmat_unpin(fd, id2, 0))
		goto cleanup;
	if (charged(child, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 2);
	cg_enter_current(root);
	cg_destroy(child);
	free(child);

	return ret;
}

/*
 * Pins stay charged to the cgroup the file was opened in when the opener
 * moves, and later pins go there too.
 */
static int test_migration(const char *root)
{
	int ret, fd = -1;
	char *cg_a = NULL, *cg_b = NULL, *buf = NULL;
	__u64 id1, id2;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg_a = cg_name(root, "vm_account_test_migrate_a");
	cg_b = cg_name(root, "vm_account_test_migrate_b");
	if (!cg_a || !cg_b)
		goto cleanup;

	if (pins_create(cg_a, false) || pins_create(cg_b, false))
		goto cleanup;

	buf = buf_alloc(4);
	if (!buf)
		goto cleanup;

	if (cg_enter_current(cg_a))
		goto cleanup;
	fd = vmat_open();
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 3, 0, &id1))
		goto cleanup;
	if (charged(cg_a, 3, 0, 3) || cur_expect(cg_b, 0))
		goto cleanup;

	if (cg_enter_current(cg_b))
		goto cleanup;
	if (charged(cg_a, 3, 0, 3) || cur_expect(cg_b, 0))
		goto cleanup;

	if (vmat_pin(fd, page_at(buf, 3), 1, 0, &id2))
		goto cleanup;
	if (charged(cg_a, 4, 0, 4) || cur_expect(cg_b, 0))
		goto cleanup;

	if (vmat_unpin(fd, id1, 0) || vmat_unpin(fd, id2, 0))
		goto cleanup;
	if (charged(cg_a, 0, 0, 0) || cur_expect(cg_b, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 4);
	cg_enter_current(root);
	cg_destroy(cg_a);
	cg_destroy(cg_b);
	free(cg_a);
	free(cg_b);

	return ret;
}

/*
 * Child of test_fd_passing(): move into @cgroup, get the file over
 * @sock, pin 3 pages of its own memory through it, and unpin them
 * when told to.
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

	if (sock_recv(sock, 'F', &fd))
		goto out;

	if (vmat_pin(fd, buf, 3, 0, &id))
		goto out;
	if (sock_send(sock, 'P', -1))
		goto out;

	if (sock_recv(sock, 'U', NULL))
		goto out;
	if (vmat_unpin(fd, id, 0))
		goto out;
	if (sock_send(sock, 'D', -1))
		goto out;

	ret = EXIT_SUCCESS;
out:
	close_fd(&fd);
	buf_free(buf, 3);

	return ret;
}

/*
 * A file handed to a process in another cgroup still charges the opener's
 * cgroup and mm, for pins of the other process's memory too.
 */
static int test_fd_passing(const char *root)
{
	int ret, fd = -1, sk[2] = { -1, -1 };
	char *cg_a = NULL, *cg_b = NULL, *buf = NULL;
	pid_t pid = 0;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg_a = cg_name(root, "vm_account_test_pass_a");
	cg_b = cg_name(root, "vm_account_test_pass_b");
	if (!cg_a || !cg_b)
		goto cleanup;

	if (pins_create(cg_a, false) || pins_create(cg_b, false))
		goto cleanup;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk)) {
		ksft_print_msg("socketpair: %s\n", strerror(errno));
		goto cleanup;
	}

	/* Fork first, so that the child gets the file only over the socket. */
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		ksft_print_msg("fork: %s\n", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		close(sk[0]);
		ret = child_fd_passing(cg_b, sk[1]);
		fflush(stdout);
		_exit(ret);
	}
	close_fd(&sk[1]);

	buf = buf_alloc(2);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, cg_a);
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 2, 0, NULL))
		goto cleanup;
	if (charged(cg_a, 2, 0, 2) || cur_expect(cg_b, 0))
		goto cleanup;

	if (sock_send(sk[0], 'F', fd))
		goto cleanup;

	/* The child in cg_b pinned 3 pages: charged to cg_a and to us. */
	if (sock_recv(sk[0], 'P', NULL))
		goto cleanup;
	if (charged(cg_a, 5, 0, 5) || cur_expect(cg_b, 0) ||
	    vmpin_expect(pid, 0))
		goto cleanup;

	if (sock_send(sk[0], 'U', -1) || sock_recv(sk[0], 'D', NULL))
		goto cleanup;
	if (charged(cg_a, 2, 0, 2) || cur_expect(cg_b, 0))
		goto cleanup;

	if (pins_reap(&pid))
		goto cleanup;

	/* The child's copy of the file is gone, ours holds the 2 pages. */
	if (charged(cg_a, 2, 0, 2) || cur_expect(cg_b, 0))
		goto cleanup;

	close_fd(&fd);
	if (charged(cg_a, 0, 0, 0) || cur_expect(cg_b, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	close_fd(&sk[0]);
	close_fd(&sk[1]);
	pins_kill(&pid);
	buf_free(buf, 2);
	cg_enter_current(root);
	cg_destroy(cg_a);
	cg_destroy(cg_b);
	free(cg_a);
	free(cg_b);

	return ret;
}

/*
 * Child of test_pinner_exit(): in @cgroup, open the file, pin 4 pages,
 * hand the file over @sock and exit without unpinning.
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

	if (sock_send(sock, 'F', fd))
		goto out;

	ret = EXIT_SUCCESS;
out:
	/* The pages stay pinned: the file we sent holds them. */
	close_fd(&fd);
	buf_free(buf, 4);

	return ret;
}

/*
 * Pins outlive the process that made them, as long as the file lives:
 * they stay charged to its cgroup until the file is closed.
 */
static int test_pinner_exit(const char *root)
{
	int ret, fd = -1, sk[2] = { -1, -1 };
	char *cg_a = NULL;
	pid_t pid = 0;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg_a = cg_name(root, "vm_account_test_exit");
	if (!cg_a || pins_create(cg_a, false))
		goto cleanup;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk)) {
		ksft_print_msg("socketpair: %s\n", strerror(errno));
		goto cleanup;
	}

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		ksft_print_msg("fork: %s\n", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		close(sk[0]);
		ret = child_pinner_exit(cg_a, sk[1]);
		fflush(stdout);
		_exit(ret);
	}
	close_fd(&sk[1]);

	if (sock_recv(sk[0], 'F', &fd))
		goto cleanup;

	if (pins_reap(&pid))
		goto cleanup;

	/* Charged to cg_a and to the child's mm, not to us. */
	if (charged(cg_a, 4, 0, 0))
		goto cleanup;

	close_fd(&fd);
	if (charged(cg_a, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	close_fd(&sk[0]);
	close_fd(&sk[1]);
	pins_kill(&pid);
	cg_enter_current(root);
	cg_destroy(cg_a);
	free(cg_a);

	return ret;
}

/*
 * A cgroup can be removed while a file still holds pins charged to it:
 * the parent keeps them until the file is closed.
 */
static int test_rmdir_live(const char *root)
{
	int ret, fd = -1;
	char *parent = NULL, *child = NULL, *buf = NULL;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "vm_account_test_rmdir", &parent, &child))
		goto cleanup;

	buf = buf_alloc(5);
	if (!buf)
		goto cleanup;

	fd = vmat_open_in(root, child);
	if (fd < 0)
		goto cleanup;

	if (vmat_pin(fd, buf, 5, 0, NULL))
		goto cleanup;
	if (cur_expect(parent, 5) || charged(child, 5, 0, 5))
		goto cleanup;

	if (rmdir(child)) {
		ksft_print_msg("rmdir %s: %s\n", child, strerror(errno));
		goto cleanup;
	}
	if (!access(child, F_OK) || errno != ENOENT) {
		ksft_print_msg("%s still visible after rmdir\n", child);
		goto cleanup;
	}

	if (charged(parent, 5, 0, 5))
		goto cleanup;

	close_fd(&fd);
	if (charged(parent, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	close_fd(&fd);
	buf_free(buf, 5);
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/* After everything above, nothing is left charged anywhere. */
static int test_all_zero(const char *root)
{
	int ret;
	char *parent = NULL, *child = NULL;

	ret = vmat_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "vm_account_test_zero", &parent, &child))
		goto cleanup;

	if (cur_expect(parent, 0) || charged(child, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

#define T(x) { x, #x }
static const struct pins_test tests[] = {
	T(test_pin_unpin),
	T(test_cgroup_limit),
	T(test_ancestor_limit),
	T(test_rlimit_lesser),
	T(test_cgroup_lesser),
	T(test_cap_ipc_lock_bypasses_rlimit_only),
	T(test_bypass_mode),
	T(test_user_mode),
	T(test_double_pin),
	T(test_migration),
	T(test_fd_passing),
	T(test_pinner_exit),
	T(test_rmdir_live),
	T(test_all_zero),
};

#undef T

int main(int argc, char **argv)
{
	return pins_run_tests(tests, ARRAY_SIZE(tests));
}
