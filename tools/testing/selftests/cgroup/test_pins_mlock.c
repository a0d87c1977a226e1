// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for locked memory charged to the "pins" cgroup v2 controller.
 *
 * mlock(), mlock2(), mlockall(), MAP_LOCKED, mremap() of a locked mapping,
 * SHM_LOCK and memfd_secret() charge the pins cgroup of the task that
 * locks, in whole pages, exactly as much as mm->locked_vm (the "VmLck:"
 * line of /proc/<pid>/status) grows, and munlock(), munmap(), exit and
 * SHM_UNLOCK give it back there. The locked memory of an mm follows its
 * task when it migrates, even above the destination's pins.max. A lock
 * that would take the cgroup or an ancestor above pins.max is refused,
 * CAP_IPC_LOCK or not, and one without CAP_IPC_LOCK must also fit under
 * RLIMIT_MEMLOCK, which is checked first.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT	0x01
#endif

#if !defined(__NR_memfd_secret) && defined(__x86_64__)
#define __NR_memfd_secret	447
#endif

/* Returns 0 if @cgroup/pins.current shows exactly @pages pages. */
static int cur_expect(const char *cgroup, long pages)
{
	return pins_expect(cgroup, "pins.current", pages);
}

/* The same, waiting for charges returned when a process or file goes. */
static int cur_wait(const char *cgroup, long pages)
{
	return pins_expect_wait(cgroup, "pins.current", pages);
}

/* Returns 0 if pins.events and pins.events.local show @events, @local. */
static int events_expect(const char *cgroup, long events, long local)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "max %ld\n", events);
	if (pins_expect_str(cgroup, "pins.events", buf))
		return -1;

	snprintf(buf, sizeof(buf), "max %ld\n", local);
	return pins_expect_str(cgroup, "pins.events.local", buf);
}

/* The VmLck of @pid (0: this process) in pages, or -1. */
static long vmlck_pages(pid_t pid)
{
	return pins_status_pages(pid, "VmLck");
}

/* Returns 0 if the VmLck of @pid (0 for this process) is @pages pages. */
static int vmlck_expect(pid_t pid, long pages)
{
	long got = vmlck_pages(pid);

	if (got < 0)
		return -1;

	if (got != pages) {
		ksft_print_msg("VmLck of %d: got %ld pages, expected %ld\n",
			       pid ? pid : getpid(), got, pages);
		return -1;
	}

	return 0;
}

/* Returns 0 if @cgroup holds @pages pages and so does our VmLck. */
static int locked(const char *cgroup, long pages)
{
	if (cur_expect(cgroup, pages))
		return -1;

	return vmlck_expect(0, pages);
}

/*
 * Returns 0 if @what, a call that returned @ret (-1 with errno set on
 * failure), ended with errno @expected, 0 for success.
 */
static int expect_errno(const char *what, long ret, int expected)
{
	int err = ret == -1 ? errno : 0;

	if (err != expected) {
		ksft_print_msg("%s: got %d (%s), expected %d (%s)\n", what,
			       err, strerror(err), expected,
			       strerror(expected));
		return -1;
	}

	return 0;
}

/*
 * mmap @npages anonymous private read-write pages with the extra @flags.
 * Returns 0 if that ends with errno @expected, and stores the mapping in
 * *@addr (NULL if there is none).
 */
static int map_pages(long npages, int flags, int expected, char **addr)
{
	char what[64];
	char *buf;

	buf = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	*addr = buf == MAP_FAILED ? NULL : buf;

	snprintf(what, sizeof(what), "mmap %ld pages, flags %#x", npages,
		 flags);
	if (expect_errno(what, buf == MAP_FAILED ? -1 : 0, expected)) {
		if (*addr)
			munmap(*addr, npages * page_size);
		*addr = NULL;
		return -1;
	}

	return 0;
}

/* Map @npages anonymous pages, neither touched nor locked. */
static char *buf_map(long npages)
{
	char *buf;

	if (map_pages(npages, 0, 0, &buf))
		return NULL;

	return buf;
}

static void buf_unmap(char *buf, long npages)
{
	if (buf)
		munmap(buf, npages * page_size);
}

/* Page @i of @buf. */
static char *page_at(char *buf, long i)
{
	return buf + i * page_size;
}

/* Returns 0 if mlock() of pages @first..@first+@npages-1 ends with errno. */
static int lock_pages(char *buf, long first, long npages, int expected)
{
	char what[64];

	snprintf(what, sizeof(what), "mlock pages %ld-%ld", first,
		 first + npages - 1);

	return expect_errno(what, mlock(page_at(buf, first),
					npages * page_size), expected);
}

/* Returns 0 if munlock() of pages @first..@first+@npages-1 succeeds. */
static int unlock_pages(char *buf, long first, long npages)
{
	char what[64];

	snprintf(what, sizeof(what), "munlock pages %ld-%ld", first,
		 first + npages - 1);

	return expect_errno(what, munlock(page_at(buf, first),
					  npages * page_size), 0);
}

/* Returns 0 if munmap() of pages @first..@first+@npages-1 succeeds. */
static int unmap_pages(char *buf, long first, long npages)
{
	char what[64];

	snprintf(what, sizeof(what), "munmap pages %ld-%ld", first,
		 first + npages - 1);

	return expect_errno(what, munmap(page_at(buf, first),
					 npages * page_size), 0);
}

/* Fill @npages pages of @buf, a page number in the first byte of each. */
static void fill_pages(char *buf, long npages)
{
	long i;

	for (i = 0; i < npages; i++)
		memset(page_at(buf, i), (char)(i + 1), page_size);
}

/* Returns 0 if fill_pages(@buf, @npages) is still there. */
static int check_pages(char *buf, long npages)
{
	long i;

	for (i = 0; i < npages; i++) {
		if (*page_at(buf, i) != (char)(i + 1) ||
		    page_at(buf, i)[page_size - 1] != (char)(i + 1)) {
			ksft_print_msg("page %ld of %p lost its contents\n",
				       i, buf);
			return -1;
		}
	}

	return 0;
}

/*
 * Drop CAP_IPC_LOCK from every set of this process, which stays root
 * otherwise. Only for a child process.
 */
static int drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	int i = CAP_TO_INDEX(CAP_IPC_LOCK);

	if (syscall(SYS_capget, &hdr, data)) {
		ksft_print_msg("capget: %s\n", strerror(errno));
		return -1;
	}

	data[i].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[i].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	data[i].inheritable &= ~CAP_TO_MASK(CAP_IPC_LOCK);

	if (syscall(SYS_capset, &hdr, data)) {
		ksft_print_msg("capset: %s\n", strerror(errno));
		return -1;
	}

	if (pins_cap_ipc_lock_effective() != 0) {
		ksft_print_msg("CAP_IPC_LOCK still effective\n");
		return -1;
	}

	return 0;
}

/* A child started by spawn() and the parent's end of its socket. */
struct peer {
	pid_t pid;
	int sock;
};

#define PEER_INIT	{ .pid = 0, .sock = -1 }

/*
 * Fork a child that moves into @cgroup and exits with what @fn returns.
 * @fn gets its end of a socket whose other end goes to @peer->sock.
 */
static int spawn(const char *cgroup,
		 int (*fn)(const char *cgroup, int sock, void *arg),
		 void *arg, struct peer *peer)
{
	int sk[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sk)) {
		ksft_print_msg("socketpair: %s\n", strerror(errno));
		return -1;
	}

	fflush(stdout);
	peer->pid = fork();
	if (peer->pid < 0) {
		ksft_print_msg("fork: %s\n", strerror(errno));
		peer->pid = 0;
		close(sk[0]);
		close(sk[1]);
		return -1;
	}

	if (!peer->pid) {
		close(sk[0]);
		ret = EXIT_FAILURE;
		if (cg_enter_current(cgroup))
			ksft_print_msg("can't move into %s\n", cgroup);
		else
			ret = fn(cgroup, sk[1], arg);
		fflush(stdout);
		_exit(ret);
	}

	close(sk[1]);
	peer->sock = sk[0];

	return 0;
}

/* Wait for @peer and forget it. Returns 0 if it exited with success. */
static int peer_reap(struct peer *peer)
{
	int status;

	if (peer->sock >= 0)
		close(peer->sock);
	peer->sock = -1;

	if (waitpid(peer->pid, &status, 0) != peer->pid) {
		ksft_print_msg("waitpid %d: %s\n", peer->pid, strerror(errno));
		peer->pid = 0;
		return -1;
	}
	peer->pid = 0;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS) {
		ksft_print_msg("child failed (status %#x)\n", status);
		return -1;
	}

	return 0;
}

/* Kill and reap @peer, if it is still to be waited for. */
static void peer_kill(struct peer *peer)
{
	if (peer->sock >= 0)
		close(peer->sock);
	peer->sock = -1;

	if (peer->pid > 0) {
		kill(peer->pid, SIGKILL);
		waitpid(peer->pid, NULL, 0);
	}
	peer->pid = 0;
}

/* Send the byte @c to the peer. */
static int msg_send(int sock, char c)
{
	/* A peer that is gone must fail the test, not kill it with SIGPIPE. */
	if (send(sock, &c, 1, MSG_NOSIGNAL) != 1) {
		ksft_print_msg("send '%c': %s\n", c, strerror(errno));
		return -1;
	}

	return 0;
}

/* Receive one byte from the peer and check that it is @c. */
static int msg_recv(int sock, char c)
{
	ssize_t len;
	char got;

	len = recv(sock, &got, 1, 0);
	if (len != 1 || got != c) {
		ksft_print_msg("expected '%c' from the peer, got %zd bytes\n",
			       c, len);
		return -1;
	}

	return 0;
}

/*
 * Runs @fn in a child process in a new cgroup @name below @root whose
 * pins.max is @max pages, then checks that nothing stayed charged.
 */
static int run_in_new_cgroup(const char *root, const char *name,
			     long long max,
			     int (*fn)(const char *cgroup, void *arg),
			     void *arg)
{
	int ret = pins_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	return pins_run_in_new_cgroup(root, name, max, fn, arg);
}

/*
 * Child of test_mlock_munlock(): mlock charges the pages newly locked,
 * faulted in or not, and munlock and munmap give back the pages that
 * were locked.
 */
static int child_mlock_munlock(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf;

	buf = buf_map(32);
	if (!buf)
		return EXIT_FAILURE;

	if (locked(cgroup, 0))
		goto out;

	/* Pages 0-15, never touched. */
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;

	/* Again: nothing new. */
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;

	/* Pages 8-23: only 16-23 are new. */
	if (lock_pages(buf, 8, 16, 0) || locked(cgroup, 24))
		goto out;

	/* Locked now: 0-3 and 8-23. */
	if (unlock_pages(buf, 4, 4) || locked(cgroup, 20))
		goto out;

	/* Locked now: 0-3 and 8-19. */
	if (unmap_pages(buf, 20, 4) || locked(cgroup, 16))
		goto out;

	/* Unlocking a range with unlocked pages in it: only the locked. */
	if (unlock_pages(buf, 0, 20) || locked(cgroup, 0))
		goto out;

	/* Unmapping locked pages, the whole mapping, gives them back. */
	if (lock_pages(buf, 24, 8, 0) || locked(cgroup, 8))
		goto out;
	if (unmap_pages(buf, 0, 32))
		goto out;
	buf = NULL;
	if (locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 32);

	return ret;
}

static int test_mlock_munlock(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_munlock", PINS_MAX,
				 child_mlock_munlock, NULL);
}

/* Returns 0 if none of the @npages pages of @buf is resident. */
static int none_resident(char *buf, long npages)
{
	unsigned char vec[64];
	long i;

	if (npages > (long)sizeof(vec) ||
	    mincore(buf, npages * page_size, vec)) {
		ksft_print_msg("mincore: %s\n", strerror(errno));
		return -1;
	}

	for (i = 0; i < npages; i++) {
		if (vec[i] & 1) {
			ksft_print_msg("page %ld resident after ONFAULT\n", i);
			return -1;
		}
	}

	return 0;
}

/*
 * Child of test_mlock2_onfault(): MLOCK_ONFAULT charges the whole range
 * up front, before anything is faulted in, and never again.
 */
static int child_mlock2_onfault(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf;

	buf = buf_map(16);
	if (!buf)
		return EXIT_FAILURE;

	if (expect_errno("mlock2(MLOCK_ONFAULT)",
			 syscall(__NR_mlock2, buf, 16 * page_size,
				 MLOCK_ONFAULT), 0))
		goto out;
	if (none_resident(buf, 16) || locked(cgroup, 16))
		goto out;

	/* Faulting the pages in charges nothing more. */
	fill_pages(buf, 16);
	if (locked(cgroup, 16))
		goto out;

	/* Neither does locking the range for good now. */
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;

	if (unlock_pages(buf, 0, 16) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 16);

	return ret;
}

static int test_mlock2_onfault(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_onfault", PINS_MAX,
				 child_mlock2_onfault, NULL);
}

/* Child of test_map_locked(): MAP_LOCKED charges, munmap uncharges. */
static int child_map_locked(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *a = NULL, *b = NULL;

	if (map_pages(16, MAP_LOCKED, 0, &a) || locked(cgroup, 16))
		goto out;

	if (map_pages(8, MAP_LOCKED, 0, &b) || locked(cgroup, 24))
		goto out;

	if (unmap_pages(a, 0, 16))
		goto out;
	a = NULL;
	if (locked(cgroup, 8))
		goto out;

	if (unmap_pages(b, 4, 4) || locked(cgroup, 4))
		goto out;

	if (unmap_pages(b, 0, 4))
		goto out;
	b = NULL;
	if (locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(a, 16);
	buf_unmap(b, 8);

	return ret;
}

static int test_map_locked(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_map_locked", PINS_MAX,
				 child_map_locked, NULL);
}

/*
 * Child of test_mremap_locked(): growing a locked mapping charges the
 * growth, shrinking it gives back the cut, moving it (also with
 * MREMAP_DONTUNMAP) changes nothing.
 */
static int child_mremap_locked(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *a = NULL, *dst = NULL, *p;
	long a_pages = 16;

	if (map_pages(16, MAP_LOCKED, 0, &a) || locked(cgroup, 16))
		goto out;
	fill_pages(a, 16);

	p = mremap(a, 16 * page_size, 32 * page_size, MREMAP_MAYMOVE);
	if (expect_errno("mremap 16 to 32 pages",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	a = p;
	a_pages = 32;
	if (locked(cgroup, 32) || check_pages(a, 16))
		goto out;

	p = mremap(a, 32 * page_size, 8 * page_size, 0);
	if (expect_errno("mremap 32 to 8 pages",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	a = p;
	a_pages = 8;
	if (locked(cgroup, 8) || check_pages(a, 8))
		goto out;

	/* Move it onto a reserved, unlocked range. */
	dst = mmap(NULL, 8 * page_size, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		dst = NULL;
		goto out;
	}
	if (locked(cgroup, 8))
		goto out;

	p = mremap(a, 8 * page_size, 8 * page_size,
		   MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (expect_errno("mremap to a fixed address",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	if (p != dst) {
		ksft_print_msg("mremap moved to %p, not %p\n", p, dst);
		goto out;
	}
	a = NULL;
	if (locked(cgroup, 8) || check_pages(dst, 8))
		goto out;

	/*
	 * MREMAP_DONTUNMAP moves the pages and the lock and leaves the old
	 * range mapped but unlocked: still 8 pages.
	 */
	p = mremap(dst, 8 * page_size, 8 * page_size,
		   MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	if (expect_errno("mremap with MREMAP_DONTUNMAP",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	a = p;
	a_pages = 8;
	if (locked(cgroup, 8) || check_pages(a, 8))
		goto out;
	if (unmap_pages(dst, 0, 8))
		goto out;
	dst = NULL;
	if (locked(cgroup, 8))
		goto out;

	if (unmap_pages(a, 0, 8))
		goto out;
	a = NULL;
	if (locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(a, a_pages);
	buf_unmap(dst, 8);

	return ret;
}

static int test_mremap_locked(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_mremap", PINS_MAX,
				 child_mremap_locked, NULL);
}

/*
 * Child of test_mlockall_current(): MCL_CURRENT charges exactly what it
 * adds to VmLck, munlockall() gives it all back.
 */
static int child_mlockall_current(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	long vmlck;
	char *buf;

	/* Something sure to be locked, at least. */
	buf = buf_map(16);
	if (!buf)
		return EXIT_FAILURE;

	if (locked(cgroup, 0))
		goto out;

	if (expect_errno("mlockall(MCL_CURRENT)", mlockall(MCL_CURRENT), 0))
		goto out;
	vmlck = vmlck_pages(0);
	if (vmlck < 0)
		goto out;
	if (vmlck < 16) {
		ksft_print_msg("VmLck only %ld pages after mlockall\n", vmlck);
		goto out;
	}
	if (cur_expect(cgroup, vmlck))
		goto out;

	if (expect_errno("munlockall", munlockall(), 0) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	munlockall();
	buf_unmap(buf, 16);

	return ret;
}

static int test_mlockall_current(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_mlockall", PINS_MAX,
				 child_mlockall_current, NULL);
}

/* Grows the stack by about @npages pages of 4 KiB, top down. */
static int grow_stack(long npages)
{
	char frame[4096];

	memset(frame, (int)npages, sizeof(frame));
	/* The compiler must assume the frame is read, so keep it. */
	asm volatile("" : : "r"(frame) : "memory");
	if (npages <= 1)
		return frame[0];

	return grow_stack(npages - 1) + frame[1];
}

/* How far the stack grows in the stack tests: far past its vma. */
#define STACK_GROW_PAGES	512

/*
 * Child of test_mlockall_stack(): after mlockall(MCL_CURRENT | MCL_FUTURE)
 * the stack is locked, and its growth is charged as VmLck grows.
 */
static int child_mlockall_stack(const char *cgroup, void *arg)
{
	long before, after;
	int ret = EXIT_FAILURE;

	if (expect_errno("mlockall(MCL_CURRENT | MCL_FUTURE)",
			 mlockall(MCL_CURRENT | MCL_FUTURE), 0))
		goto out;
	before = vmlck_pages(0);
	if (before < 0 || cur_expect(cgroup, before))
		goto out;

	grow_stack(STACK_GROW_PAGES);
	after = vmlck_pages(0);
	if (after < 0)
		goto out;
	if (after <= before) {
		ksft_print_msg("VmLck did not grow with the stack: %ld pages\n",
			       after);
		goto out;
	}
	if (cur_expect(cgroup, after))
		goto out;

	if (expect_errno("munlockall", munlockall(), 0) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	munlockall();

	return ret;
}

static int test_mlockall_stack(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_stack", PINS_MAX,
				 child_mlockall_stack, NULL);
}

/*
 * Grandchild of test_stack_limit(): locks everything now and in the future,
 * sets pins.max 8 pages above that and grows the stack far beyond: the
 * growth must be refused, which kills it with SIGSEGV.
 */
static void grandchild_stack_limit(const char *cgroup)
{
	long vmlck;

	if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
		ksft_print_msg("mlockall: %s\n", strerror(errno));
		_exit(EXIT_FAILURE);
	}
	vmlck = vmlck_pages(0);
	if (vmlck < 0 || pins_set_max(cgroup, vmlck + 8))
		_exit(EXIT_FAILURE);

	grow_stack(STACK_GROW_PAGES);
	ksft_print_msg("the stack grew past pins.max\n");
	_exit(EXIT_FAILURE);
}

static int child_stack_limit(const char *cgroup, void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		ksft_print_msg("fork: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (!pid)
		grandchild_stack_limit(cgroup);

	if (waitpid(pid, &status, 0) != pid) {
		ksft_print_msg("waitpid: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) {
		ksft_print_msg("stack grower ended with status %#x, not SIGSEGV\n",
			       status);
		return EXIT_FAILURE;
	}
	if (cur_wait(cgroup, 0) || events_expect(cgroup, 1, 1))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * Stack growth of a process under mlockall(MCL_FUTURE) that pins.max
 * refuses fails as over RLIMIT_MEMLOCK: SIGSEGV, nothing charged.
 */
static int test_stack_limit(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_stack_limit", PINS_MAX,
				 child_stack_limit, NULL);
}

/*
 * Child of test_mlockall_future(): after MCL_FUTURE, a new mapping and
 * heap growth are charged as they are locked. Nothing here may allocate
 * between the measurements, or the heap would grow behind our back.
 */
static int child_mlockall_future(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf = NULL;
	long vmlck;
	void *brk;

	if (locked(cgroup, 0))
		return EXIT_FAILURE;

	if (expect_errno("mlockall(MCL_CURRENT | MCL_FUTURE)",
			 mlockall(MCL_CURRENT | MCL_FUTURE), 0))
		goto out;
	vmlck = vmlck_pages(0);
	if (vmlck < 0)
		goto out;
	if (vmlck == 0) {
		ksft_print_msg("nothing locked by mlockall\n");
		goto out;
	}
	if (cur_expect(cgroup, vmlck))
		goto out;

	/* A new mapping, MAP_LOCKED or not, is locked and charged. */
	buf = buf_map(16);
	if (!buf || locked(cgroup, vmlck + 16))
		goto out;

	brk = sbrk(16 * page_size);
	if (brk == (void *)-1) {
		ksft_print_msg("sbrk: %s\n", strerror(errno));
		goto out;
	}
	if (locked(cgroup, vmlck + 32))
		goto out;

	if (expect_errno("munlockall", munlockall(), 0) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	munlockall();
	buf_unmap(buf, 16);

	return ret;
}

static int test_mlockall_future(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_future", PINS_MAX,
				 child_mlockall_future, NULL);
}

/*
 * Child of test_exit_uncharges(): lock 24 pages, say so, and exit when
 * told to without unlocking them, unless killed first.
 */
static int child_exit(const char *cgroup, int sock, void *arg)
{
	char *buf, *map;

	buf = buf_map(16);
	if (!buf || lock_pages(buf, 0, 16, 0))
		return EXIT_FAILURE;

	if (map_pages(8, MAP_LOCKED, 0, &map) || locked(cgroup, 24))
		return EXIT_FAILURE;

	if (msg_send(sock, 'L') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	/* Still locked: exit takes care of it. */
	return EXIT_SUCCESS;
}

/*
 * Exiting gives back everything the process had locked, and so does
 * being killed.
 */
static int test_exit_uncharges(const char *root)
{
	struct peer peer = PEER_INIT;
	char *cg = NULL;
	int ret, status;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg = cg_name(root, "pins_mlock_exit");
	if (!cg || pins_create(cg, false))
		goto cleanup;

	/* It exits. */
	if (spawn(cg, child_exit, NULL, &peer) || msg_recv(peer.sock, 'L'))
		goto cleanup;
	if (cur_expect(cg, 24) || vmlck_expect(peer.pid, 24))
		goto cleanup;
	if (msg_send(peer.sock, 'X') || peer_reap(&peer))
		goto cleanup;
	if (cur_wait(cg, 0))
		goto cleanup;

	/* It is killed. */
	if (spawn(cg, child_exit, NULL, &peer) || msg_recv(peer.sock, 'L'))
		goto cleanup;
	if (cur_expect(cg, 24) || vmlck_expect(peer.pid, 24))
		goto cleanup;
	if (kill(peer.pid, SIGKILL) ||
	    waitpid(peer.pid, &status, 0) != peer.pid) {
		ksft_print_msg("kill %d: %s\n", peer.pid, strerror(errno));
		goto cleanup;
	}
	peer.pid = 0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		ksft_print_msg("child wasn't killed (status %#x)\n", status);
		goto cleanup;
	}
	if (cur_wait(cg, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	peer_kill(&peer);
	cg_enter_current(root);
	cg_destroy(cg);
	free(cg);

	return ret;
}

/*
 * Grandchild of test_fork_not_charged(): forked from a parent with 16
 * pages locked, of which it inherits none, it locks 8 pages of its own.
 */
static int grandchild_fork(const char *cgroup, int sock, void *arg)
{
	char *buf = arg;

	if (cur_expect(cgroup, 16) || vmlck_expect(0, 0) ||
	    vmlck_expect(getppid(), 16))
		return EXIT_FAILURE;

	if (lock_pages(buf, 16, 8, 0))
		return EXIT_FAILURE;
	if (cur_expect(cgroup, 24) || vmlck_expect(0, 8) ||
	    vmlck_expect(getppid(), 16))
		return EXIT_FAILURE;

	if (msg_send(sock, 'L') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * Child of test_fork_not_charged(): lock 16 pages and fork. The
 * grandchild's 8 pages are charged while it lives, and our 16 stay.
 */
static int child_fork(const char *cgroup, void *arg)
{
	struct peer peer = PEER_INIT;
	int ret = EXIT_FAILURE;
	char *buf;

	buf = buf_map(32);
	if (!buf || lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		return EXIT_FAILURE;

	if (spawn(cgroup, grandchild_fork, buf, &peer) ||
	    msg_recv(peer.sock, 'L'))
		goto out;
	if (cur_expect(cgroup, 24) || vmlck_expect(0, 16) ||
	    vmlck_expect(peer.pid, 8))
		goto out;

	if (msg_send(peer.sock, 'X') || peer_reap(&peer))
		goto out;
	if (cur_wait(cgroup, 16) || vmlck_expect(0, 16))
		goto out;

	/* Exit with the 16 pages locked. */
	ret = EXIT_SUCCESS;
out:
	peer_kill(&peer);

	return ret;
}

/*
 * The child of a process with locked memory inherits none of it and
 * isn't charged for it, only for what it locks itself.
 */
static int test_fork_not_charged(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_fork", PINS_MAX,
				 child_fork, NULL);
}

/*
 * Child of test_mlock_limit(), in a cgroup whose pins.max is 16 pages:
 * only the pages not locked yet must fit.
 */
static int child_mlock_limit(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf;

	buf = buf_map(32);
	if (!buf)
		return EXIT_FAILURE;

	if (lock_pages(buf, 0, 10, 0) || locked(cgroup, 10) ||
	    events_expect(cgroup, 0, 0))
		goto out;

	/* 17 pages would be locked: refused, nothing locked or charged. */
	if (lock_pages(buf, 10, 7, ENOMEM) || locked(cgroup, 10) ||
	    events_expect(cgroup, 1, 1))
		goto out;

	/* 0-15, of which 0-9 are locked already: exactly at the limit. */
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;

	if (lock_pages(buf, 16, 1, ENOMEM) || locked(cgroup, 16) ||
	    events_expect(cgroup, 2, 2))
		goto out;

	if (unlock_pages(buf, 0, 32) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 32);

	return ret;
}

/* mlock is refused with ENOMEM above pins.max, even for root. */
static int test_mlock_limit(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_limit", 16,
				 child_mlock_limit, NULL);
}

/*
 * Child of test_map_locked_limit(), in a cgroup whose pins.max is 8
 * pages.
 */
static int child_map_locked_limit(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf = NULL;

	if (map_pages(16, MAP_LOCKED, EAGAIN, &buf) || locked(cgroup, 0) ||
	    events_expect(cgroup, 1, 1))
		goto out;

	if (map_pages(8, MAP_LOCKED, 0, &buf) || locked(cgroup, 8) ||
	    events_expect(cgroup, 1, 1))
		goto out;

	if (unmap_pages(buf, 0, 8))
		goto out;
	buf = NULL;
	if (locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 8);

	return ret;
}

/* mmap(MAP_LOCKED) is refused with EAGAIN above pins.max. */
static int test_map_locked_limit(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_map_limit", 8,
				 child_map_locked_limit, NULL);
}

/*
 * Child of test_mlockall_limit(), in a cgroup whose pins.max is 16 pages:
 * mlockall(MCL_CURRENT) would lock more and is refused, all or nothing;
 * after MCL_FUTURE, a new mapping that doesn't fit is refused.
 */
static int child_mlockall_limit(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	char *buf, *a = NULL, *b = NULL;

	/* At least 32 pages to lock. */
	buf = buf_map(32);
	if (!buf)
		return EXIT_FAILURE;

	if (expect_errno("mlockall(MCL_CURRENT)", mlockall(MCL_CURRENT),
			 ENOMEM))
		goto out;
	if (locked(cgroup, 0) || events_expect(cgroup, 1, 1))
		goto out;

	/* Nothing is locked now, so this charges nothing. */
	if (expect_errno("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE), 0) ||
	    locked(cgroup, 0))
		goto out;

	if (map_pages(8, 0, 0, &a) || locked(cgroup, 8))
		goto out;
	if (map_pages(16, 0, EAGAIN, &b) || locked(cgroup, 8) ||
	    events_expect(cgroup, 2, 2))
		goto out;

	if (expect_errno("munlockall", munlockall(), 0) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	munlockall();
	buf_unmap(a, 8);
	buf_unmap(b, 16);
	buf_unmap(buf, 32);

	return ret;
}

/*
 * mlockall(MCL_CURRENT) is refused with ENOMEM above pins.max, and mmap
 * after MCL_FUTURE with EAGAIN.
 */
static int test_mlockall_limit(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_mlockall_limit", 16,
				 child_mlockall_limit, NULL);
}

/*
 * Map @npages locked pages followed by @gap free pages, so that the
 * mapping can grow in place. Returns the mapping or NULL.
 */
static char *map_locked_with_gap(long npages, long gap)
{
	char *res, *buf;

	res = mmap(NULL, (npages + gap) * page_size, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return NULL;
	}

	buf = mmap(res, npages * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_LOCKED, -1, 0);
	if (buf != res) {
		ksft_print_msg("mmap MAP_LOCKED at %p: %s\n", res,
			       strerror(errno));
		munmap(res, (npages + gap) * page_size);
		return NULL;
	}

	if (munmap(page_at(res, npages), gap * page_size)) {
		ksft_print_msg("munmap: %s\n", strerror(errno));
		munmap(res, npages * page_size);
		return NULL;
	}

	return buf;
}

/*
 * Child of test_mremap_limit(), in a cgroup whose pins.max is 24 pages:
 * growing a locked mapping of 16 pages to 32 is refused and leaves it as
 * it was, growing it to 24 is not. It grows in place, so that only the
 * growth is ever charged.
 */
static int child_mremap_limit(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE;
	long a_pages = 16;
	char *a, *p;

	a = map_locked_with_gap(16, 16);
	if (!a || locked(cgroup, 16))
		goto out;
	fill_pages(a, 16);

	p = mremap(a, 16 * page_size, 32 * page_size, MREMAP_MAYMOVE);
	if (expect_errno("mremap 16 to 32 pages",
			 p == MAP_FAILED ? -1 : 0, EAGAIN)) {
		if (p != MAP_FAILED) {
			a = p;
			a_pages = 32;
		}
		goto out;
	}
	if (locked(cgroup, 16) || check_pages(a, 16) ||
	    events_expect(cgroup, 1, 1))
		goto out;

	p = mremap(a, 16 * page_size, 24 * page_size, 0);
	if (expect_errno("mremap 16 to 24 pages in place",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	a_pages = 24;
	if (locked(cgroup, 24) || check_pages(a, 16) ||
	    events_expect(cgroup, 1, 1))
		goto out;

	if (unmap_pages(a, 0, 24))
		goto out;
	a = NULL;
	if (locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(a, a_pages);

	return ret;
}

/* mremap() growth of a locked mapping is refused with EAGAIN. */
static int test_mremap_limit(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_mremap_limit", 24,
				 child_mremap_limit, NULL);
}

/*
 * Child of test_ancestor_limit(), in an unlimited cgroup whose parent
 * @arg has a pins.max of 8 pages.
 */
static int child_ancestor(const char *cgroup, void *arg)
{
	const char *parent = arg;
	int ret = EXIT_FAILURE;
	char *buf;

	buf = buf_map(16);
	if (!buf)
		return EXIT_FAILURE;

	if (lock_pages(buf, 0, 9, ENOMEM) || locked(cgroup, 0) ||
	    cur_expect(parent, 0))
		goto out;

	if (lock_pages(buf, 0, 8, 0) || locked(cgroup, 8) ||
	    cur_expect(parent, 8))
		goto out;

	if (unlock_pages(buf, 0, 8) || locked(cgroup, 0) ||
	    cur_expect(parent, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 16);

	return ret;
}

/*
 * An unlimited cgroup is bound by its parent's pins.max; the refusal is
 * the parent's, local to it and not counted at the child at all.
 */
static int test_ancestor_limit(const char *root)
{
	char *parent = NULL, *child = NULL;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_mlock_ancestor", &parent, &child))
		goto cleanup;
	if (pins_set_max(parent, 8) ||
	    pins_expect(child, "pins.max", PINS_MAX))
		goto cleanup;

	if (pins_run_child(child, child_ancestor, parent))
		goto cleanup;

	if (cur_wait(child, 0) || cur_expect(parent, 0))
		goto cleanup;
	if (events_expect(parent, 1, 1) || events_expect(child, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	pins_destroy_pair(root, &parent, &child);

	return ret;
}

/* What child_lesser() does: see there. */
struct lesser {
	long memlock;	/* RLIMIT_MEMLOCK, in pages */
	bool drop_cap;	/* drop CAP_IPC_LOCK */
	long limit;	/* how many pages may be locked */
	long events;	/* pins.events after a refusal */
};

/*
 * Child of the tests of the lesser of RLIMIT_MEMLOCK and pins.max: set
 * RLIMIT_MEMLOCK, drop CAP_IPC_LOCK or check that we have it, then one
 * page above the limit is refused, and exactly the limit is not.
 */
static int child_lesser(const char *cgroup, void *arg)
{
	struct lesser *l = arg;
	int ret = EXIT_FAILURE;
	char *buf;

	if (pins_set_memlock(l->memlock))
		return EXIT_FAILURE;

	if (l->drop_cap) {
		if (drop_cap_ipc_lock())
			return EXIT_FAILURE;
	} else if (pins_cap_ipc_lock_effective() != 1) {
		ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
		return EXIT_FAILURE;
	}

	buf = buf_map(32);
	if (!buf)
		return EXIT_FAILURE;

	if (lock_pages(buf, 0, l->limit + 1, ENOMEM) || locked(cgroup, 0) ||
	    events_expect(cgroup, l->events, l->events))
		goto out;

	if (lock_pages(buf, 0, l->limit, 0) || locked(cgroup, l->limit) ||
	    events_expect(cgroup, l->events, l->events))
		goto out;

	if (unlock_pages(buf, 0, l->limit) || locked(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 32);

	return ret;
}

/*
 * Without CAP_IPC_LOCK, RLIMIT_MEMLOCK (8 pages) below pins.max (16)
 * refuses first: the cgroup isn't asked and counts no event.
 */
static int test_rlimit_lesser(const char *root)
{
	struct lesser l = {
		.memlock = 8, .drop_cap = true, .limit = 8, .events = 0,
	};

	return run_in_new_cgroup(root, "pins_mlock_rlimit", 16,
				 child_lesser, &l);
}

/*
 * Without CAP_IPC_LOCK, pins.max (8 pages) below RLIMIT_MEMLOCK (16)
 * refuses, and counts it.
 */
static int test_cgroup_lesser(const char *root)
{
	struct lesser l = {
		.memlock = 16, .drop_cap = true, .limit = 8, .events = 1,
	};

	return run_in_new_cgroup(root, "pins_mlock_cglesser", 8,
				 child_lesser, &l);
}

/*
 * With CAP_IPC_LOCK, RLIMIT_MEMLOCK is 0 and doesn't matter, pins.max (8
 * pages) still does.
 */
static int test_cap_ipc_lock_bypasses_rlimit_only(const char *root)
{
	struct lesser l = {
		.memlock = 0, .drop_cap = false, .limit = 8, .events = 1,
	};

	return run_in_new_cgroup(root, "pins_mlock_cap", 8,
				 child_lesser, &l);
}

/*
 * Child of test_migration(): lock 16 pages in cgroup A, let the parent
 * move us to B, whose pins.max is 8 pages, then find B full and unlock.
 */
static void *idle_thread(void *arg)
{
	pause();
	return NULL;
}

static int child_migration(const char *cgroup, int sock, void *arg)
{
	const char *cg_b = arg;
	pthread_t thread;
	char *buf;
	int i;

	buf = buf_map(32);
	if (!buf || lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		return EXIT_FAILURE;

	/* Every thread migrates; the mm's charge must move only once. */
	for (i = 0; i < 3; i++) {
		if (pthread_create(&thread, NULL, idle_thread, NULL)) {
			ksft_print_msg("pthread_create failed\n");
			return EXIT_FAILURE;
		}
	}

	if (msg_send(sock, 'L') || msg_recv(sock, 'M'))
		return EXIT_FAILURE;

	/* In B now, above its limit: one more page doesn't fit. */
	if (lock_pages(buf, 16, 1, ENOMEM) || locked(cg_b, 16) ||
	    events_expect(cg_b, 1, 1))
		return EXIT_FAILURE;

	if (unlock_pages(buf, 0, 16) || locked(cg_b, 0))
		return EXIT_FAILURE;

	if (msg_send(sock, 'U') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * The locked memory of a process with four threads moves with it, once,
 * from A to its sibling B, even above B's pins.max, and munlock then gives
 * it back to B. Their parent sees no change, not even in its peak.
 */
static int test_migration(const char *root)
{
	char *parent = NULL, *cg_a = NULL, *cg_b = NULL;
	struct peer peer = PEER_INIT;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_mlock_migrate", &parent, &cg_a))
		goto cleanup;
	cg_b = cg_name(parent, "b");
	if (!cg_b || pins_create(cg_b, false) || pins_set_max(cg_b, 8))
		goto cleanup;

	if (spawn(cg_a, child_migration, cg_b, &peer) ||
	    msg_recv(peer.sock, 'L'))
		goto cleanup;
	if (cur_expect(parent, 16) || cur_expect(cg_a, 16) ||
	    cur_expect(cg_b, 0) || vmlck_expect(peer.pid, 16))
		goto cleanup;

	if (cg_enter(cg_b, peer.pid)) {
		ksft_print_msg("can't move %d to %s\n", peer.pid, cg_b);
		goto cleanup;
	}
	if (cur_expect(parent, 16) || cur_expect(cg_a, 0) ||
	    cur_expect(cg_b, 16) || pins_expect(cg_b, "pins.max", 8) ||
	    vmlck_expect(peer.pid, 16) || pins_expect(parent, "pins.peak", 16))
		goto cleanup;

	if (msg_send(peer.sock, 'M') || msg_recv(peer.sock, 'U'))
		goto cleanup;
	if (cur_expect(parent, 0) || cur_expect(cg_a, 0) ||
	    cur_expect(cg_b, 0))
		goto cleanup;
	if (events_expect(parent, 1, 0) || events_expect(cg_a, 0, 0))
		goto cleanup;

	if (msg_send(peer.sock, 'X') || peer_reap(&peer))
		goto cleanup;
	if (cur_wait(parent, 0) || cur_expect(cg_a, 0) || cur_expect(cg_b, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	peer_kill(&peer);
	cg_enter_current(root);
	cg_destroy(cg_b);
	free(cg_b);
	pins_destroy_pair(root, &parent, &cg_a);

	return ret;
}

/*
 * Child of test_migration_vfork(): locks 16 pages, then vfork()s. The vfork
 * child, which runs on this process's mm, sends its pid and waits to be
 * killed; then the lock must still be charged here.
 */
static int child_vfork(const char *cgroup, int sock, void *arg)
{
	char *buf;
	pid_t pid;

	buf = buf_map(16);
	if (!buf || lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		return EXIT_FAILURE;

	fflush(stdout);
	pid = vfork();
	if (pid < 0) {
		ksft_print_msg("vfork: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (!pid) {
		pid = getpid();
		send(sock, &pid, sizeof(pid), MSG_NOSIGNAL);
		pause();
		_exit(EXIT_FAILURE);
	}
	waitpid(pid, NULL, 0);

	if (locked(cgroup, 16) || msg_send(sock, 'D') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A vfork() child borrows its parent's mm until it execs or exits:
 * migrating it leaves the charge for the parent's locked memory where the
 * parent is.
 */
static int test_migration_vfork(const char *root)
{
	char *parent = NULL, *cg_a = NULL, *cg_b = NULL;
	struct peer peer = PEER_INIT;
	pid_t vchild = 0;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_mlock_vfork", &parent, &cg_a))
		goto cleanup;
	cg_b = cg_name(parent, "b");
	if (!cg_b || pins_create(cg_b, false))
		goto cleanup;

	if (spawn(cg_a, child_vfork, NULL, &peer))
		goto cleanup;
	if (recv(peer.sock, &vchild, sizeof(vchild), MSG_WAITALL) !=
	    sizeof(vchild) || vchild <= 0) {
		ksft_print_msg("no pid from the vfork child\n");
		vchild = 0;
		goto cleanup;
	}
	if (cur_expect(cg_a, 16) || cur_expect(cg_b, 0))
		goto cleanup;

	if (cg_enter(cg_b, vchild)) {
		ksft_print_msg("can't move %d to %s\n", vchild, cg_b);
		goto cleanup;
	}
	if (cur_expect(cg_a, 16) || cur_expect(cg_b, 0) ||
	    cur_expect(parent, 16))
		goto cleanup;

	kill(vchild, SIGKILL);
	vchild = 0;
	if (msg_recv(peer.sock, 'D') || cur_expect(cg_a, 16) ||
	    cur_expect(cg_b, 0))
		goto cleanup;

	if (msg_send(peer.sock, 'X') || peer_reap(&peer))
		goto cleanup;
	if (cur_wait(parent, 0) || cur_expect(cg_a, 0) || cur_expect(cg_b, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (vchild > 0)
		kill(vchild, SIGKILL);
	peer_kill(&peer);
	cg_enter_current(root);
	cg_destroy(cg_b);
	free(cg_b);
	pins_destroy_pair(root, &parent, &cg_a);

	return ret;
}

/* Create a SysV shm segment of @npages pages; returns its id or -1. */
static int shm_create(long npages)
{
	int id;

	id = shmget(IPC_PRIVATE, npages * page_size, IPC_CREAT | 0600);
	if (id < 0)
		ksft_print_msg("shmget %ld pages: %s\n", npages,
			       strerror(errno));

	return id;
}

/* Remove segment *@id, if there is one. */
static void shm_remove(int *id)
{
	if (*id >= 0)
		shmctl(*id, IPC_RMID, NULL);
	*id = -1;
}

/* Returns 0 if shmctl(@id, @cmd) ends with errno @expected. */
static int shm_cmd(int id, int cmd, const char *name, int expected)
{
	char what[64];

	snprintf(what, sizeof(what), "shmctl(%d, %s)", id, name);

	return expect_errno(what, shmctl(id, cmd, NULL), expected);
}

/* Returns 0 if segment @id is SHM_LOCKED or not, as @want says. */
static int shm_locked_expect(int id, bool want)
{
	struct shmid_ds ds;
	bool got;

	if (shmctl(id, IPC_STAT, &ds)) {
		ksft_print_msg("shmctl(%d, IPC_STAT): %s\n", id,
			       strerror(errno));
		return -1;
	}

	got = ds.shm_perm.mode & SHM_LOCKED;
	if (got != want) {
		ksft_print_msg("segment %d is%s locked\n", id,
			       got ? "" : " not");
		return -1;
	}

	return 0;
}

/*
 * Create the @n segments of @npages pages each that a shm test uses, or
 * skip if there is no SysV IPC.
 */
static int shm_prepare(const char *root, int *ids, const long *npages,
		       int n)
{
	int ret, i;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;

	if (access("/proc/sysvipc/shm", F_OK)) {
		skip_reason = "SysV IPC not built";
		return KSFT_SKIP;
	}

	for (i = 0; i < n; i++) {
		ids[i] = shm_create(npages[i]);
		if (ids[i] >= 0)
			continue;

		while (i--)
			shm_remove(&ids[i]);
		return KSFT_FAIL;
	}

	return KSFT_PASS;
}

/*
 * Child of test_shm_lock(): SHM_LOCK of segment *@arg (16 pages)
 * charges it once, SHM_UNLOCK and IPC_RMID of a locked segment give it
 * back.
 */
static int child_shm_lock(const char *cgroup, void *arg)
{
	int id = *(int *)arg;

	if (cur_expect(cgroup, 0) || shm_locked_expect(id, false))
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) || cur_expect(cgroup, 16) ||
	    shm_locked_expect(id, true))
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) || cur_expect(cgroup, 16))
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_UNLOCK, "SHM_UNLOCK", 0) ||
	    cur_expect(cgroup, 0) || shm_locked_expect(id, false))
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) || cur_expect(cgroup, 16))
		return EXIT_FAILURE;

	/* Never attached: removing it destroys it at once. */
	if (shm_cmd(id, IPC_RMID, "IPC_RMID", 0) || cur_expect(cgroup, 0))
		return EXIT_FAILURE;

	/* Locking doesn't lock our own memory. */
	if (vmlck_expect(0, 0))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

static int test_shm_lock(const char *root)
{
	static const long npages[] = { 16 };
	int ret, id;

	ret = shm_prepare(root, &id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;

	ret = run_in_new_cgroup(root, "pins_mlock_shm", PINS_MAX,
				child_shm_lock, &id);
	shm_remove(&id);

	return ret;
}

/*
 * Child of test_shm_limit(), in a cgroup whose pins.max is 8 pages:
 * SHM_LOCK of segment 0 (16 pages) is refused, of segment 1 (8) not.
 */
static int child_shm_limit(const char *cgroup, void *arg)
{
	int *ids = arg;

	if (shm_cmd(ids[0], SHM_LOCK, "SHM_LOCK", ENOMEM) ||
	    cur_expect(cgroup, 0) || shm_locked_expect(ids[0], false) ||
	    events_expect(cgroup, 1, 1))
		return EXIT_FAILURE;

	if (shm_cmd(ids[1], SHM_LOCK, "SHM_LOCK", 0) ||
	    cur_expect(cgroup, 8) || shm_locked_expect(ids[1], true))
		return EXIT_FAILURE;

	if (shm_cmd(ids[1], SHM_UNLOCK, "SHM_UNLOCK", 0) ||
	    cur_expect(cgroup, 0))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/* SHM_LOCK is refused with ENOMEM above pins.max and charges nothing. */
static int test_shm_limit(const char *root)
{
	static const long npages[] = { 16, 8 };
	int ret, ids[2];

	ret = shm_prepare(root, ids, npages, 2);
	if (ret != KSFT_PASS)
		return ret;

	ret = run_in_new_cgroup(root, "pins_mlock_shm_limit", 8,
				child_shm_limit, ids);
	shm_remove(&ids[0]);
	shm_remove(&ids[1]);

	return ret;
}

/* Child of test_shm_outlives_locker(): SHM_LOCK segment *@arg and exit. */
static int child_shm_lock_exit(const char *cgroup, void *arg)
{
	int id = *(int *)arg;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) || cur_expect(cgroup, 16))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A locked segment keeps its charge when the task that locked it exits,
 * until it is destroyed, from whichever cgroup.
 */
static int test_shm_outlives_locker(const char *root)
{
	static const long npages[] = { 16 };
	char *cg = NULL;
	int ret, id;

	ret = shm_prepare(root, &id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg = cg_name(root, "pins_mlock_shm_exit");
	if (!cg || pins_create(cg, false))
		goto cleanup;

	if (pins_run_child(cg, child_shm_lock_exit, &id))
		goto cleanup;

	/* Give a wrongly returned charge time to show. */
	usleep(100000);
	if (cur_expect(cg, 16) || shm_locked_expect(id, true))
		goto cleanup;

	if (shm_cmd(id, IPC_RMID, "IPC_RMID", 0))
		goto cleanup;
	id = -1;
	if (cur_wait(cg, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	shm_remove(&id);
	cg_enter_current(root);
	cg_destroy(cg);
	free(cg);

	return ret;
}

#ifdef __NR_memfd_secret
/* Returns a memfd_secret() fd, or -1 with errno set. */
static int secret_fd(void)
{
	return syscall(__NR_memfd_secret, 0);
}
#else
static int secret_fd(void)
{
	return -1;
}
#endif

/*
 * Skip unless pins is there and memfd_secret() works: it fails when the
 * kernel lacks it or has it disabled, and hardly otherwise.
 */
static int secret_prepare(const char *root)
{
	static char reason[64];
	int ret, fd;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;

#ifndef __NR_memfd_secret
	skip_reason = "no memfd_secret syscall number for this arch";
	return KSFT_SKIP;
#endif

	/* No page is faulted in: this charges nothing. */
	fd = secret_fd();
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "memfd_secret: %s",
			 strerror(errno));
		skip_reason = reason;
		return KSFT_SKIP;
	}
	close(fd);

	return KSFT_PASS;
}

/*
 * Create a memfd_secret() file of @npages pages and map it all. Returns
 * the fd and stores the mapping in *@addr, or returns -1.
 */
static int secret_map(long npages, char **addr)
{
	int fd;

	/* Only pins.max may refuse a page, not the rlimit. */
	if (pins_set_memlock(PINS_MAX))
		return -1;

	fd = secret_fd();
	if (fd < 0) {
		ksft_print_msg("memfd_secret: %s\n", strerror(errno));
		return -1;
	}

	if (ftruncate(fd, npages * page_size)) {
		ksft_print_msg("ftruncate: %s\n", strerror(errno));
		close(fd);
		return -1;
	}

	*addr = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, fd, 0);
	if (*addr == MAP_FAILED) {
		ksft_print_msg("mmap memfd_secret: %s\n", strerror(errno));
		*addr = NULL;
		close(fd);
		return -1;
	}

	return fd;
}

/* Write to pages @first..@first+@npages-1 of @buf. */
static void touch_pages(char *buf, long first, long npages)
{
	long i;

	for (i = first; i < first + npages; i++)
		__atomic_store_n(page_at(buf, i), 1, __ATOMIC_RELAXED);
}

/*
 * Child of test_secretmem(): pages of a memfd_secret() file are charged
 * as they are first faulted in, once, and given back with the file.
 */
static int child_secretmem(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd;
	char *buf;

	fd = secret_map(16, &buf);
	if (fd < 0)
		return EXIT_FAILURE;

	/* Mapping it charges nothing. */
	if (cur_expect(cgroup, 0))
		goto out;

	touch_pages(buf, 0, 5);
	if (cur_expect(cgroup, 5))
		goto out;

	touch_pages(buf, 0, 5);
	if (cur_expect(cgroup, 5))
		goto out;

	touch_pages(buf, 5, 3);
	if (cur_expect(cgroup, 8))
		goto out;

	/* The pages belong to the file: unmapping them keeps the charge. */
	if (unmap_pages(buf, 0, 16))
		goto out;
	buf = NULL;
	if (cur_expect(cgroup, 8))
		goto out;

	buf = mmap(NULL, 16 * page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (buf == MAP_FAILED) {
		ksft_print_msg("mmap memfd_secret: %s\n", strerror(errno));
		buf = NULL;
		goto out;
	}
	touch_pages(buf, 0, 8);
	if (cur_expect(cgroup, 8))
		goto out;

	if (unmap_pages(buf, 0, 16))
		goto out;
	buf = NULL;
	close(fd);
	fd = -1;
	if (cur_wait(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 16);
	if (fd >= 0)
		close(fd);

	return ret;
}

static int test_secretmem(const char *root)
{
	int ret = secret_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	return run_in_new_cgroup(root, "pins_mlock_secretmem", PINS_MAX,
				 child_secretmem, NULL);
}

static sigjmp_buf sigbus_env;

static void sigbus_handler(int sig)
{
	siglongjmp(sigbus_env, 1);
}

/* Returns 1 if writing to @page raises SIGBUS, 0 if not, -1. */
static int touch_sigbus(char *page)
{
	struct sigaction sa = { .sa_handler = sigbus_handler }, old;
	int ret = 0;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old)) {
		ksft_print_msg("sigaction: %s\n", strerror(errno));
		return -1;
	}

	if (sigsetjmp(sigbus_env, 1))
		ret = 1;
	else
		__atomic_store_n(page, 1, __ATOMIC_RELAXED);

	sigaction(SIGBUS, &old, NULL);

	return ret;
}

/*
 * Child of test_secretmem_limit(), in a cgroup whose pins.max is 8 pages:
 * faulting in a ninth page of a memfd_secret() file raises SIGBUS.
 */
static int child_secretmem_limit(const char *cgroup, void *arg)
{
	int ret = EXIT_FAILURE, fd;
	char *buf;

	fd = secret_map(16, &buf);
	if (fd < 0)
		return EXIT_FAILURE;

	touch_pages(buf, 0, 8);
	if (cur_expect(cgroup, 8) || events_expect(cgroup, 0, 0))
		goto out;

	if (touch_sigbus(page_at(buf, 8)) != 1) {
		ksft_print_msg("no SIGBUS for a page above pins.max\n");
		goto out;
	}
	if (cur_expect(cgroup, 8) || events_expect(cgroup, 1, 1))
		goto out;

	/* Pages already in are still there. */
	if (touch_sigbus(page_at(buf, 7)) != 0) {
		ksft_print_msg("SIGBUS for a page already faulted in\n");
		goto out;
	}
	if (cur_expect(cgroup, 8))
		goto out;

	if (unmap_pages(buf, 0, 16))
		goto out;
	buf = NULL;
	close(fd);
	fd = -1;
	if (cur_wait(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 16);
	if (fd >= 0)
		close(fd);

	return ret;
}

/* A memfd_secret() page above pins.max can't be faulted in: SIGBUS. */
static int test_secretmem_limit(const char *root)
{
	int ret = secret_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	return run_in_new_cgroup(root, "pins_mlock_secretmem_limit", 8,
				 child_secretmem_limit, NULL);
}

#define T(x) { x, #x }
static const struct pins_test tests[] = {
	T(test_mlock_munlock),
	T(test_mlock2_onfault),
	T(test_map_locked),
	T(test_mremap_locked),
	T(test_mlockall_current),
	T(test_mlockall_future),
	T(test_mlockall_stack),
	T(test_exit_uncharges),
	T(test_fork_not_charged),
	T(test_mlock_limit),
	T(test_map_locked_limit),
	T(test_mlockall_limit),
	T(test_mremap_limit),
	T(test_stack_limit),
	T(test_ancestor_limit),
	T(test_rlimit_lesser),
	T(test_cgroup_lesser),
	T(test_cap_ipc_lock_bypasses_rlimit_only),
	T(test_migration),
	T(test_migration_vfork),
	T(test_shm_lock),
	T(test_shm_limit),
	T(test_shm_outlives_locker),
	T(test_secretmem),
	T(test_secretmem_limit),
};

#undef T

int main(int argc, char **argv)
{
	return pins_run_tests(tests, ARRAY_SIZE(tests));
}
