// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for how io_uring charges pinned memory to the "pins" cgroup v2
 * controller and to RLIMIT_MEMLOCK, through liburing.
 *
 * A registered buffer (IORING_REGISTER_BUFFERS, or a slot of a sparse
 * table filled by IORING_REGISTER_BUFFERS_UPDATE) pins every page it
 * spans: one per page here, as the tests keep huge pages out. The pages
 * are charged to the pins cgroup of the task that registers the buffer,
 * as it is at registration, under "io_uring" in pins.stat, and to the
 * mm->pinned_vm of the ring's creator (the "VmPin:" line of its
 * /proc/<pid>/status), which nothing limits. Unless the ring's creator had
 * CAP_IPC_LOCK when it created the ring, they are also charged to the
 * creator's user->locked_vm against the registrant's RLIMIT_MEMLOCK,
 * exactly as vanilla 6.12 does. The charge belongs to the buffer: it goes
 * back where it was made when the buffer is unregistered or replaced or
 * the ring goes (asynchronously), whoever holds the ring by then.
 *
 * A zero-copy send (IORING_OP_SEND_ZC) of len bytes of user memory charges
 * (len >> 12) + 2 pages to the ring's notification account, the cgroup of
 * the ring's creator at ring creation (and the creator's user->locked_vm
 * as above), until its notification CQE is posted. The rings of those
 * tests are IORING_SETUP_DEFER_TASKRUN rings, whose notifications complete
 * only when the ring is waited on: the charge can be seen in between.
 *
 * A refused charge fails the registration or the send with ENOMEM and
 * charges nothing anywhere. A refusal by a pins.max is counted in
 * pins.events, logged once per limiting cgroup and traced by
 * pins:charge_refused.
 *
 * Every test runs in a process of its own (kselftest_harness.h) on the
 * fixture below: a cgroup with pins enabled for its children, a child of
 * it that the test charges, and cleanup of whatever the test leaves
 * behind. Without io_uring every test reports SKIP. The tests of the rlimit
 * alone (rlimit_as_vanilla, cap_ipc_lock_at_creation,
 * creator_without_cap_ipc_lock, send_zc_rlimit) need no pins controller:
 * without it they run in the current cgroup and check the rlimit and
 * VmPin only, the other tests report SKIP.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/limits.h>
#include <netinet/in.h>
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "cgroup_util.h"
#include "pins_util.h"

/* Entries of the rings the tests make. */
#define RING_ENTRIES	8

/* The memory a test registers or sends from, in pages. */
#define BUF_PAGES	16

/* The iovec of @npages pages of @buf from page @first on. */
static struct iovec pages_iov(char *buf, long first, long npages)
{
	struct iovec iov = {
		.iov_base = pins_page_at(buf, first),
		.iov_len = npages * page_size,
	};

	return iov;
}

/* The pages a zero-copy send of @len bytes charges until its notification. */
static long zc_pages(size_t len)
{
	return len / page_size + 2;
}

/* The fixture is shared memory: see struct pins_tree. */
FIXTURE(uring) {
	struct pins_tree tree;	/* root_base: the root's io_uring pages */
};

FIXTURE_SETUP(uring)
{
	struct io_uring ring;
	char buf[16];
	int ret;

	pins_util_init();

	/* Tests as root and as TEST_UID: io_uring must be open to all. */
	if (access("/proc/sys/kernel/io_uring_disabled", F_OK))
		SKIP(return, "io_uring not built");
	ASSERT_EQ(0, cg_read("/proc/sys/kernel", "io_uring_disabled", buf,
			     sizeof(buf)));
	if (strcmp(buf, "0\n"))
		SKIP(return, "io_uring disabled by sysctl");
	ASSERT_EQ(0, io_uring_queue_init(RING_ENTRIES, &ring, 0));
	io_uring_queue_exit(&ring);

	/*
	 * Without the controller only the rlimit tests run. The rings of a
	 * test that failed, closed when its process exited, go
	 * asynchronously: setup gives them time to, not to fail this test
	 * too.
	 */
	ret = pins_tree_setup(&self->tree, "io_uring", _metadata->name,
			      "io_uring");
	if (ret == KSFT_SKIP)
		return;
	ASSERT_EQ(KSFT_PASS, ret);
}

/*
 * Kill the test's children if they are still there, remove the tracefs
 * instance and the cgroups. See struct pins_tree for why it is a
 * FIXTURE_TEARDOWN_PARENT(): a ring's charges go back when the ring goes.
 */
FIXTURE_TEARDOWN_PARENT(uring)
{
	pins_tree_teardown(&self->tree);
}

/*
 * Returns 0 if @cg pages are charged to the fixture's cgroup and @sib to
 * its sibling (if there is one), both to their parent and, on top of what
 * it had at setup, to the root's io_uring line, and if @vmpin isn't
 * negative, if the VmPin of @pid (0: this process) is @vmpin pages. Only
 * VmPin is checked without the pins controller. Quiet unless @verbose.
 */
static int check_all(struct _test_data_uring *self, long cg, long sib,
		     pid_t pid, long vmpin, bool verbose)
{
	if (vmpin >= 0 && pins_status_check(pid, "VmPin", vmpin, verbose))
		return -1;

	return pins_tree_check(&self->tree, "io_uring", cg, sib, verbose);
}

/* check_all() for this process, telling what differs. */
static int expect_all(struct _test_data_uring *self, long cg, long sib,
		      long vmpin)
{
	return check_all(self, cg, sib, 0, vmpin, true);
}

/*
 * expect_all(), giving the kernel up to two seconds to get there, for
 * charges returned when a ring goes.
 */
static int wait_all(struct _test_data_uring *self, long cg, long sib,
		    long vmpin)
{
	int tries = 0;

	while (pins_retry(&tries))
		if (!check_all(self, cg, sib, 0, vmpin, false))
			return 0;

	return expect_all(self, cg, sib, vmpin);
}

/* Set up @ring with @flags. Returns 0 or -errno. */
static int ring_init(struct io_uring *ring, unsigned int flags)
{
	struct io_uring_params p = { .flags = flags };
	int ret;

	ret = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
	if (ret)
		ksft_print_msg("io_uring_queue_init(%#x): %s\n", flags,
			       strerror(-ret));

	return ret;
}

/*
 * Register the @nr buffers @iov with @ring. Returns 0 if that ends with
 * errno @err (0 for success).
 */
static int reg_bufs(struct io_uring *ring, const struct iovec *iov,
		    unsigned int nr, int err)
{
	int ret = io_uring_register_buffers(ring, iov, nr);

	if (ret != -err) {
		ksft_print_msg("register %u buffers: got %d, expected %d\n",
			       nr, ret, -err);
		return -1;
	}

	return 0;
}

/* Unregister @ring's buffers. Returns 0 if that ends with errno @err. */
static int unreg_bufs(struct io_uring *ring, int err)
{
	int ret = io_uring_unregister_buffers(ring);

	if (ret != -err) {
		ksft_print_msg("unregister buffers: got %d, expected %d\n",
			       ret, -err);
		return -1;
	}

	return 0;
}

/* Register a table of @nr empty buffer slots with @ring. */
static int reg_sparse(struct io_uring *ring, unsigned int nr)
{
	int ret = io_uring_register_buffers_sparse(ring, nr);

	if (ret) {
		ksft_print_msg("register %u sparse buffers: %s\n", nr,
			       strerror(-ret));
		return -1;
	}

	return 0;
}

/*
 * Put the buffer @iov (an empty one empties the slot) in slot @slot of
 * @ring's table. Returns 0 if that ends with errno @err (0 for success).
 */
static int update_buf(struct io_uring *ring, unsigned int slot,
		      const struct iovec *iov, int err)
{
	int ret = io_uring_register_buffers_update_tag(ring, slot, iov, NULL,
						       1);

	if (ret != (err ? -err : 1)) {
		ksft_print_msg("update buffer %u: got %d, expected %d\n",
			       slot, ret, err ? -err : 1);
		return -1;
	}

	return 0;
}

/*
 * Connect two TCP sockets over loopback: @fds[0] to send, @fds[1] to
 * receive. Returns 0, or -1 with both set to -1.
 */
static int tcp_pair(int fds[2])
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(addr);
	int lfd;

	fds[0] = -1;
	fds[1] = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len))
		goto fail;

	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&addr, len))
		goto fail;

	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		goto fail;

	close(lfd);

	return 0;

fail:
	ksft_print_msg("loopback TCP connection: %s\n", strerror(errno));
	pins_close_fd(&fds[0]);
	pins_close_fd(&fds[1]);
	if (lfd >= 0)
		close(lfd);

	return -1;
}

/*
 * Submit a zero-copy send of the @len bytes at @buf over @sock on @ring,
 * from registered buffer @index unless it is negative, and check that the
 * send's CQE, and nothing else, comes at once with result @res (a byte
 * count or -errno) and IORING_CQE_F_MORE: its notification is to follow.
 * On a DEFER_TASKRUN ring that is only when the ring is waited on.
 */
static int zc_send(struct io_uring *ring, int sock, char *buf, size_t len,
		   int index, int res)
{
	static __u64 user_data;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret;

	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		ksft_print_msg("no free SQE\n");
		return -1;
	}
	if (index < 0)
		io_uring_prep_send_zc(sqe, sock, buf, len, 0, 0);
	else
		io_uring_prep_send_zc_fixed(sqe, sock, buf, len, 0, 0, index);
	sqe->user_data = ++user_data;

	ret = io_uring_submit(ring);
	if (ret != 1) {
		ksft_print_msg("submit send_zc: got %d, expected 1\n", ret);
		return -1;
	}

	if (io_uring_cq_ready(ring) != 1) {
		ksft_print_msg("%u CQEs after send_zc, expected 1\n",
			       io_uring_cq_ready(ring));
		return -1;
	}
	ret = io_uring_peek_cqe(ring, &cqe);
	if (ret) {
		ksft_print_msg("peek CQE: %s\n", strerror(-ret));
		return -1;
	}

	ret = 0;
	if (cqe->user_data != user_data || cqe->res != res ||
	    !(cqe->flags & IORING_CQE_F_MORE) ||
	    (cqe->flags & IORING_CQE_F_NOTIF)) {
		ksft_print_msg("send_zc CQE: data %llu res %d flags %#x\n",
			       (unsigned long long)cqe->user_data, cqe->res,
			       cqe->flags);
		ksft_print_msg("expected data %llu res %d with F_MORE\n",
			       (unsigned long long)user_data, res);
		ret = -1;
	}
	io_uring_cqe_seen(ring, cqe);

	return ret;
}

/* Wait for @nr notification CQEs (IORING_CQE_F_NOTIF) on @ring. */
static int zc_notif(struct io_uring *ring, int nr)
{
	struct io_uring_cqe *cqe;
	int ret;

	while (nr--) {
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret) {
			ksft_print_msg("wait CQE: %s\n", strerror(-ret));
			return -1;
		}
		ret = cqe->flags & IORING_CQE_F_NOTIF;
		if (!ret)
			ksft_print_msg("CQE data %llu res %d flags %#x isn't a notification\n",
				       (unsigned long long)cqe->user_data,
				       cqe->res, cqe->flags);
		io_uring_cqe_seen(ring, cqe);
		if (!ret)
			return -1;
	}

	return 0;
}

/*
 * Run @fn(@self) in a child process, in the fixture's cgroup if there is
 * one. Returns 0 if it exited with EXIT_SUCCESS.
 */
static int run_child(struct _test_data_uring *self,
		     int (*fn)(struct _test_data_uring *self))
{
	pid_t pid = pins_fork(self->tree.have_pins ? self->tree.cg : NULL);

	if (pid == 0)
		pins_child_exit(fn(self));
	self->tree.pid = pid;

	return pid < 0 ? -1 : pins_reap(&self->tree.pid);
}

/*
 * Registering charges the registrant's cgroup, its ancestors, the root's
 * io_uring line and the creator's VmPin, one page per page a buffer spans,
 * and unregistering gives it all back. Closing the ring does too, after the
 * registrant moved elsewhere.
 */
TEST_F(uring, register_unregister)
{
	struct io_uring ring;
	struct iovec iov[2];
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	iov[0] = pages_iov(buf, 0, 3);
	ASSERT_EQ(0, reg_bufs(&ring, iov, 1, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, unreg_bufs(&ring, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	ASSERT_EQ(0, unreg_bufs(&ring, ENXIO));

	/* Two pages, then two pages' worth that span three. */
	iov[0] = pages_iov(buf, 0, 2);
	iov[1].iov_base = pins_page_at(buf, 4) + 100;
	iov[1].iov_len = 2 * page_size;
	ASSERT_EQ(0, reg_bufs(&ring, iov, 2, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));

	ASSERT_EQ(0, unreg_bufs(&ring, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	ASSERT_EQ(0, reg_bufs(&ring, iov, 2, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));

	/* The registrant leaving doesn't take the charge along. */
	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));

	/* The ring goes asynchronously after the last close. */
	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * The slots of a sparse table are charged as they are filled; a buffer
 * replaced by an update gives its charge back, so the charge follows the
 * new size, and emptying a slot gives it all back.
 */
TEST_F(uring, update_replace)
{
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, 0));
	ASSERT_EQ(0, reg_sparse(&ring, 2));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	iov = pages_iov(buf, 0, 3);
	ASSERT_EQ(0, update_buf(&ring, 0, &iov, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	iov = pages_iov(buf, 3, 1);
	ASSERT_EQ(0, update_buf(&ring, 0, &iov, 0));
	ASSERT_EQ(0, expect_all(self, 1, 0, 1));

	iov = pages_iov(buf, 4, 5);
	ASSERT_EQ(0, update_buf(&ring, 0, &iov, 0));
	ASSERT_EQ(0, expect_all(self, 5, 0, 5));

	/* Two pages' worth that span three. */
	iov.iov_base = pins_page_at(buf, 10) + 1;
	iov.iov_len = 2 * page_size;
	ASSERT_EQ(0, update_buf(&ring, 1, &iov, 0));
	ASSERT_EQ(0, expect_all(self, 8, 0, 8));

	/* An empty buffer empties the slot. */
	iov.iov_base = NULL;
	iov.iov_len = 0;
	ASSERT_EQ(0, update_buf(&ring, 0, &iov, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));

	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Refusals by a pins.max of 4 pages at @limiter, the fixture's cgroup or
 * its parent, of buffers registered from the fixture's cgroup: each fails
 * with ENOMEM and charges nothing anywhere, is counted in pins.events at
 * the limiter and above and in pins.events.local at the limiter, and is
 * traced; the first one is logged.
 */
static void refusals(struct __test_metadata *_metadata,
		     struct _test_data_uring *self, const char *limiter)
{
	bool at_cg = limiter == self->tree.cg;
	struct io_uring ring, ring2;
	struct iovec iov[2];
	char text[PATH_MAX + 64];
	int kmsg, ret;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ret = pins_trace_start(self->tree.instance, "pins_io_uring");
	if (ret > 0)
		SKIP(return, "tracefs isn't mounted");
	ASSERT_EQ(0, ret);

	kmsg = pins_kmsg_open();
	ASSERT_LE(0, kmsg);
	pins_refusal_text(text, sizeof(text), "io_uring", self->tree.root,
			  limiter);

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, pins_set_max(limiter, 4));
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, 0));
	ASSERT_EQ(0, reg_sparse(&ring, 2));

	iov[0] = pages_iov(buf, 0, 3);
	ASSERT_EQ(0, update_buf(&ring, 0, iov, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 0, 0));

	/* Two more pages would make five. */
	iov[0] = pages_iov(buf, 3, 2);
	ASSERT_EQ(0, update_buf(&ring, 1, iov, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, at_cg, at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 1, 1, self->tree.cg,
				       limiter, "io_uring", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 1));

	/* Again: counted and traced, not logged. */
	ASSERT_EQ(0, update_buf(&ring, 1, iov, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 2 * at_cg, 2 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 2, 2 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 2, 2, self->tree.cg,
				       limiter, "io_uring", 2, 4, 3));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/*
	 * A registration refused at its second buffer: the first one, which
	 * fit, is given back and the ring has no buffers.
	 */
	ASSERT_EQ(0, ring_init(&ring2, 0));
	iov[0] = pages_iov(buf, 5, 1);
	iov[1] = pages_iov(buf, 6, 1);
	ASSERT_EQ(0, reg_bufs(&ring2, iov, 2, ENOMEM));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	ASSERT_EQ(0, unreg_bufs(&ring2, ENXIO));
	io_uring_queue_exit(&ring2);
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 3 * at_cg, 3 * at_cg));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));
	ASSERT_EQ(0, pins_trace_expect(self->tree.instance, 3, 1, self->tree.cg,
				       limiter, "io_uring", 1, 4, 4));
	ASSERT_EQ(0, pins_kmsg_expect(kmsg, text, 0));

	/* Up to the limit is fine. */
	iov[0] = pages_iov(buf, 3, 1);
	ASSERT_EQ(0, update_buf(&ring, 1, iov, 0));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 3, 3 * !at_cg));

	close(kmsg);
	pins_buf_free(buf, BUF_PAGES);
}

/* Refusals by the registrant's own pins.max. */
TEST_F(uring, refusal_at_limit)
{
	refusals(_metadata, self, self->tree.cg);
}

/* Refusals by the pins.max of the registrant's parent. */
TEST_F(uring, refusal_at_ancestor)
{
	refusals(_metadata, self, self->tree.parent);
}

/*
 * Child of rlimit_as_vanilla: without CAP_IPC_LOCK, with RLIMIT_MEMLOCK at
 * 4 pages, 4 pages fit and 5 don't, whether in one buffer, in one
 * registration or in two updates, and VmPin counts what fits.
 */
static int child_rlimit(struct _test_data_uring *self)
{
	int ret = EXIT_FAILURE;
	struct io_uring ring;
	struct iovec iov[2];
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_drop_privileges(4) || ring_init(&ring, 0))
		goto out_buf;

	iov[0] = pages_iov(buf, 0, 5);
	if (reg_bufs(&ring, iov, 1, ENOMEM) || expect_all(self, 0, 0, 0) ||
	    unreg_bufs(&ring, ENXIO))
		goto out;

	iov[0] = pages_iov(buf, 0, 4);
	if (reg_bufs(&ring, iov, 1, 0) || expect_all(self, 4, 0, 4) ||
	    unreg_bufs(&ring, 0) || expect_all(self, 0, 0, 0))
		goto out;

	iov[0] = pages_iov(buf, 0, 2);
	iov[1] = pages_iov(buf, 2, 3);
	if (reg_bufs(&ring, iov, 2, ENOMEM) || expect_all(self, 0, 0, 0) ||
	    unreg_bufs(&ring, ENXIO))
		goto out;

	if (reg_sparse(&ring, 2))
		goto out;
	iov[0] = pages_iov(buf, 0, 3);
	if (update_buf(&ring, 0, iov, 0) || expect_all(self, 3, 0, 3))
		goto out;
	iov[0] = pages_iov(buf, 3, 2);
	if (update_buf(&ring, 1, iov, ENOMEM) || expect_all(self, 3, 0, 3))
		goto out;
	iov[0] = pages_iov(buf, 3, 1);
	if (update_buf(&ring, 1, iov, 0) || expect_all(self, 4, 0, 4))
		goto out;

	/* The user's locked_vm goes back at once, not with the ring. */
	if (unreg_bufs(&ring, 0) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	io_uring_queue_exit(&ring);
out_buf:
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits registered buffers as on
 * vanilla 6.12. Also without the pins controller.
 */
TEST_F(uring, rlimit_as_vanilla)
{
	ASSERT_EQ(0, run_child(self, child_rlimit));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of cap_ipc_lock_at_creation: a ring created with CAP_IPC_LOCK
 * takes buffers past RLIMIT_MEMLOCK, 0 here, even once the registrant has
 * no capability left.
 */
static int child_cap_at_creation(struct _test_data_uring *self)
{
	int ret = EXIT_FAILURE;
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_set_memlock(0) || pins_cap_ipc_lock_effective() != 1 ||
	    ring_init(&ring, 0))
		goto out_buf;

	if (reg_sparse(&ring, 2))
		goto out;
	iov = pages_iov(buf, 0, 3);
	if (update_buf(&ring, 0, &iov, 0) || expect_all(self, 3, 0, 3))
		goto out;

	if (pins_drop_privileges(0))
		goto out;
	iov = pages_iov(buf, 3, 2);
	if (update_buf(&ring, 1, &iov, 0) || expect_all(self, 5, 0, 5))
		goto out;

	if (unreg_bufs(&ring, 0) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	io_uring_queue_exit(&ring);
out_buf:
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * CAP_IPC_LOCK at ring creation lifts RLIMIT_MEMLOCK for the ring's
 * buffers, as on vanilla 6.12. Also without the pins controller.
 */
TEST_F(uring, cap_ipc_lock_at_creation)
{
	ASSERT_EQ(0, run_child(self, child_cap_at_creation));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of creator_without_cap_ipc_lock: a ring created without
 * CAP_IPC_LOCK in the effective set is limited by RLIMIT_MEMLOCK, 2 pages
 * here, even for a registrant that has it.
 */
static int child_creator_without_cap(struct _test_data_uring *self)
{
	int ret = EXIT_FAILURE;
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_set_memlock(2) || pins_set_cap_ipc_lock(false) ||
	    ring_init(&ring, 0))
		goto out_buf;
	if (pins_set_cap_ipc_lock(true))
		goto out;

	iov = pages_iov(buf, 0, 3);
	if (reg_bufs(&ring, &iov, 1, ENOMEM) || expect_all(self, 0, 0, 0))
		goto out;
	iov = pages_iov(buf, 0, 2);
	if (reg_bufs(&ring, &iov, 1, 0) || expect_all(self, 2, 0, 2))
		goto out;
	if (unreg_bufs(&ring, 0) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	io_uring_queue_exit(&ring);
out_buf:
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * What counts is CAP_IPC_LOCK when the ring is created, not when a buffer
 * is registered, as on vanilla 6.12. Also without the pins controller.
 */
TEST_F(uring, creator_without_cap_ipc_lock)
{
	ASSERT_EQ(0, run_child(self, child_creator_without_cap));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

/*
 * Child of cap_ipc_lock_not_cgroup: as root with RLIMIT_MEMLOCK at 0, in a
 * cgroup whose pins.max is 4 pages.
 */
static int child_cap_not_cgroup(struct _test_data_uring *self)
{
	int ret = EXIT_FAILURE;
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (pins_set_memlock(0) || pins_cap_ipc_lock_effective() != 1 ||
	    ring_init(&ring, 0))
		goto out_buf;

	/* Past the rlimit: CAP_IPC_LOCK lets it through. */
	if (reg_sparse(&ring, 2))
		goto out;
	iov = pages_iov(buf, 0, 3);
	if (update_buf(&ring, 0, &iov, 0) || expect_all(self, 3, 0, 3))
		goto out;

	/* Past pins.max: it doesn't. */
	iov = pages_iov(buf, 3, 2);
	if (update_buf(&ring, 1, &iov, ENOMEM) || expect_all(self, 3, 0, 3))
		goto out;

	if (unreg_bufs(&ring, 0) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	io_uring_queue_exit(&ring);
out_buf:
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/* CAP_IPC_LOCK lifts RLIMIT_MEMLOCK but not pins.max. */
TEST_F(uring, cap_ipc_lock_not_cgroup)
{
	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ASSERT_EQ(0, pins_set_max(self->tree.cg, 4));
	ASSERT_EQ(0, run_child(self, child_cap_not_cgroup));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));
}

/*
 * The registrant of charge_stays_with_buffer, forked by the creator with
 * its @ring and @buf: move into the sibling cgroup, then at the test's
 * word fill slot 1 with 2 pages, then close the ring.
 */
static int stays_registrant(struct _test_data_uring *self,
			    struct io_uring *ring, char *buf, int sock)
{
	struct iovec iov = pages_iov(buf, 4, 2);

	if (cg_enter_current(self->tree.sibling) ||
	    pins_sock_send(sock, 'B', -1))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'r', NULL) || update_buf(ring, 1, &iov, 0) ||
	    pins_sock_send(sock, 'U', -1))
		return EXIT_FAILURE;

	if (pins_sock_recv(sock, 'c', NULL))
		return EXIT_FAILURE;
	io_uring_queue_exit(ring);
	if (pins_sock_send(sock, 'C', -1))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * The creator of charge_stays_with_buffer, in the fixture's cgroup: create
 * a ring, fill slot 0 of its table with 3 pages, fork the registrant,
 * which takes @sock_c along, and exit, closing the ring, when told to.
 */
static int stays_creator(struct _test_data_uring *self, int sock_p, int sock_c)
{
	struct io_uring ring;
	struct iovec iov;
	char *buf;
	pid_t pid;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf || cg_enter_current(self->tree.cg) || ring_init(&ring, 0))
		return EXIT_FAILURE;

	iov = pages_iov(buf, 0, 3);
	if (reg_sparse(&ring, 2) || update_buf(&ring, 0, &iov, 0) ||
	    pins_sock_send(sock_p, 'R', -1))
		return EXIT_FAILURE;

	pid = pins_fork(NULL);
	if (pid < 0)
		return EXIT_FAILURE;
	if (pid == 0) {
		close(sock_p);
		pins_child_exit(stays_registrant(self, &ring, buf, sock_c));
	}
	self->tree.pid2 = pid;
	close(sock_c);

	/* Exit with the ring open: exit closes it. */
	if (pins_sock_recv(sock_p, 'x', NULL))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A buffer's charge stays with the buffer: in the cgroup of the task that
 * registered it, whichever task holds the ring, wherever it moves, until
 * the last holder closes the ring, even after the ring's creator exited.
 * The creator's VmPin counts every buffer of the ring, whoever registered
 * it.
 */
TEST_F(uring, charge_stays_with_buffer)
{
	int sk_p[2] = { -1, -1 }, sk_c[2] = { -1, -1 };
	pid_t pid;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	ASSERT_EQ(0, pins_tree_sibling(&self->tree));
	/* The registrant outlives the creator: it is reaped here. */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sk_p));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sk_c));

	pid = pins_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(sk_p[0]);
		close(sk_c[0]);
		pins_child_exit(stays_creator(self, sk_p[1], sk_c[1]));
	}
	self->tree.pid = pid;
	pins_close_fd(&sk_p[1]);
	pins_close_fd(&sk_c[1]);

	/* The creator registered 3 pages from the fixture's cgroup. */
	ASSERT_EQ(0, pins_sock_recv(sk_p[0], 'R', NULL));
	ASSERT_EQ(0, check_all(self, 3, 0, self->tree.pid, 3, true));

	/* Its child moved to the sibling: the charge stayed. */
	ASSERT_EQ(0, pins_sock_recv(sk_c[0], 'B', NULL));
	ASSERT_EQ(0, check_all(self, 3, 0, self->tree.pid, 3, true));

	/* The child's buffer: charged to the sibling and the creator's mm. */
	ASSERT_EQ(0, pins_sock_send(sk_c[0], 'r', -1));
	ASSERT_EQ(0, pins_sock_recv(sk_c[0], 'U', NULL));
	ASSERT_EQ(0, check_all(self, 3, 2, self->tree.pid, 5, true));
	ASSERT_EQ(0, pins_status_expect(self->tree.pid2, "VmPin", 0));

	/* The creator exits: the child's ring keeps both charged. */
	ASSERT_EQ(0, pins_sock_send(sk_p[0], 'x', -1));
	ASSERT_EQ(0, pins_reap(&self->tree.pid));
	ASSERT_EQ(0, expect_all(self, 3, 2, -1));
	usleep(200000);
	ASSERT_EQ(0, expect_all(self, 3, 2, -1));

	/* The child closes the ring: all of it goes back. */
	ASSERT_EQ(0, pins_sock_send(sk_c[0], 'c', -1));
	ASSERT_EQ(0, pins_sock_recv(sk_c[0], 'C', NULL));
	ASSERT_EQ(0, pins_reap(&self->tree.pid2));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));

	pins_close_fd(&sk_p[0]);
	pins_close_fd(&sk_c[0]);
}

/* IORING_REGISTER_CLONE_BUFFERS (6.12) and its argument, past liburing 2.3. */
#define REGISTER_CLONE_BUFFERS	30

struct clone_buffers {
	__u32 src_fd;
	__u32 flags;
	__u32 pad[6];
};

/*
 * Buffers cloned into another ring stay charged once, where they were
 * registered, until the last ring that has them lets them go.
 */
TEST_F(uring, clone_buffers)
{
	struct clone_buffers arg = {};
	struct io_uring ring, ring2;
	struct iovec iov;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pins_tree_sibling(&self->tree));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, 0));
	iov = pages_iov(buf, 0, 3);
	ASSERT_EQ(0, reg_bufs(&ring, &iov, 1, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	/* Cloned from the sibling: charged to neither again. */
	ASSERT_EQ(0, cg_enter_current(self->tree.sibling));
	ASSERT_EQ(0, ring_init(&ring2, 0));
	arg.src_fd = ring.ring_fd;
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring2.ring_fd,
			     REGISTER_CLONE_BUFFERS, &arg, 1)) {
		TH_LOG("clone buffers: %s", strerror(errno));
	}
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	/* The first ring lets them go, the clone keeps them. */
	ASSERT_EQ(0, unreg_bufs(&ring, 0));
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));
	io_uring_queue_exit(&ring);
	usleep(200000);
	ASSERT_EQ(0, expect_all(self, 3, 0, 3));

	ASSERT_EQ(0, unreg_bufs(&ring2, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	io_uring_queue_exit(&ring2);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * A zero-copy send charges (len >> 12) + 2 pages to the cgroup the ring
 * was created in, not the sender's and not VmPin, until its notification;
 * one from a registered buffer charges nothing more.
 */
TEST_F(uring, send_zc_charge)
{
	const size_t len = 3 * page_size + 100;
	int sk[2] = { -1, -1 };
	struct io_uring ring;
	struct iovec iov;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, tcp_pair(sk));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, IORING_SETUP_SINGLE_ISSUER |
				      IORING_SETUP_DEFER_TASKRUN));
	ASSERT_EQ(0, cg_enter_current(self->tree.root));

	ASSERT_EQ(0, zc_send(&ring, sk[0], buf, len, -1, len));
	ASSERT_EQ(0, expect_all(self, zc_pages(len), 0, 0));
	ASSERT_EQ(0, zc_notif(&ring, 1));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	/* Two in flight. */
	ASSERT_EQ(0, zc_send(&ring, sk[0], buf, len, -1, len));
	ASSERT_EQ(0, zc_send(&ring, sk[0], pins_page_at(buf, 8), 100, -1, 100));
	ASSERT_EQ(0, expect_all(self, zc_pages(len) + zc_pages(100), 0, 0));
	ASSERT_EQ(0, zc_notif(&ring, 2));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	/* A registered buffer is charged once, when it is registered. */
	iov = pages_iov(buf, 0, 4);
	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, reg_bufs(&ring, &iov, 1, 0));
	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, zc_send(&ring, sk[0], buf, len, 0, len));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, zc_notif(&ring, 1));
	ASSERT_EQ(0, expect_all(self, 4, 0, 4));
	ASSERT_EQ(0, unreg_bufs(&ring, 0));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sk[0]);
	pins_close_fd(&sk[1]);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * A zero-copy send that pins.max has no room for fails with ENOMEM in its
 * CQE, charges nothing and is counted in pins.events; its notification
 * still comes.
 */
TEST_F(uring, send_zc_refused)
{
	const size_t len = 3 * page_size + 100;
	int sk[2] = { -1, -1 };
	struct io_uring ring;
	char *buf;

	if (!self->tree.have_pins)
		SKIP(return, "pins controller not available");

	buf = pins_buf_alloc(BUF_PAGES, true);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, tcp_pair(sk));
	ASSERT_EQ(0, pins_set_max(self->tree.cg, zc_pages(len) - 1));

	ASSERT_EQ(0, cg_enter_current(self->tree.cg));
	ASSERT_EQ(0, ring_init(&ring, IORING_SETUP_SINGLE_ISSUER |
				      IORING_SETUP_DEFER_TASKRUN));

	ASSERT_EQ(0, zc_send(&ring, sk[0], buf, len, -1, -ENOMEM));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));
	ASSERT_EQ(0, pins_events_expect(self->tree.parent, 1, 0));
	ASSERT_EQ(0, zc_notif(&ring, 1));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));

	/* Exactly at the limit is fine. */
	ASSERT_EQ(0, pins_set_max(self->tree.cg, zc_pages(len)));
	ASSERT_EQ(0, zc_send(&ring, sk[0], buf, len, -1, len));
	ASSERT_EQ(0, expect_all(self, zc_pages(len), 0, 0));
	ASSERT_EQ(0, zc_notif(&ring, 1));
	ASSERT_EQ(0, expect_all(self, 0, 0, 0));
	ASSERT_EQ(0, pins_events_expect(self->tree.cg, 1, 1));

	ASSERT_EQ(0, cg_enter_current(self->tree.root));
	io_uring_queue_exit(&ring);
	ASSERT_EQ(0, wait_all(self, 0, 0, 0));
	pins_close_fd(&sk[0]);
	pins_close_fd(&sk[1]);
	pins_buf_free(buf, BUF_PAGES);
}

/*
 * Child of send_zc_rlimit: without CAP_IPC_LOCK, with RLIMIT_MEMLOCK at 4
 * pages, sends of up to 4 pages fit, as long as the charges of earlier
 * sends whose notification hasn't come leave room.
 */
static int child_send_zc_rlimit(struct _test_data_uring *self)
{
	const size_t len = 2 * page_size + 100;
	int sk[2] = { -1, -1 };
	int ret = EXIT_FAILURE;
	struct io_uring ring;
	char *buf;

	buf = pins_buf_alloc(BUF_PAGES, true);
	if (!buf)
		return EXIT_FAILURE;
	if (tcp_pair(sk) || pins_drop_privileges(zc_pages(len)) ||
	    ring_init(&ring, IORING_SETUP_SINGLE_ISSUER |
			     IORING_SETUP_DEFER_TASKRUN))
		goto out_buf;

	/* One page too many. */
	if (zc_send(&ring, sk[0], buf, len + page_size, -1, -ENOMEM) ||
	    expect_all(self, 0, 0, 0) || zc_notif(&ring, 1))
		goto out;

	if (zc_send(&ring, sk[0], buf, len, -1, len) ||
	    expect_all(self, zc_pages(len), 0, 0))
		goto out;
	/* Held until the notification: no room for 2 more pages. */
	if (zc_send(&ring, sk[0], buf, 100, -1, -ENOMEM) ||
	    expect_all(self, zc_pages(len), 0, 0))
		goto out;
	if (zc_notif(&ring, 2) || expect_all(self, 0, 0, 0))
		goto out;

	if (zc_send(&ring, sk[0], buf, 100, -1, 100) ||
	    expect_all(self, zc_pages(100), 0, 0) ||
	    zc_notif(&ring, 1) || expect_all(self, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	io_uring_queue_exit(&ring);
out_buf:
	pins_close_fd(&sk[0]);
	pins_close_fd(&sk[1]);
	pins_buf_free(buf, BUF_PAGES);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK limits zero-copy sends as on
 * vanilla 6.12, and the pins cgroup is charged as much. Also without the
 * pins controller.
 */
TEST_F(uring, send_zc_rlimit)
{
	ASSERT_EQ(0, run_child(self, child_send_zc_rlimit));
	ASSERT_EQ(0, wait_all(self, 0, 0, -1));
}

TEST_HARNESS_MAIN
