// SPDX-License-Identifier: GPL-2.0
/*
 * Tests for locked memory charged to the "pins" cgroup v2 controller.
 *
 * mlock(), mlock2(), mlockall(), MAP_LOCKED, mremap() of a locked mapping,
 * SHM_LOCK and memfd_secret() charge the pins cgroup of the task that
 * locks, in whole pages, exactly as much as mm->locked_vm (the "VmLck:"
 * line of /proc/<pid>/status) grows, and munlock(), munmap(), exit and
 * SHM_UNLOCK give it back there. The locked memory of an mm follows its
 * task when it migrates, even above the destination's pins.max. An mm is
 * owned by the process that created it by fork() or execve(): its locked
 * memory is charged to the owner's cgroup, also what a process sharing it
 * (clone(CLONE_VM), vfork()) locks, and moves only with the owner. A lock
 * that would take the cgroup or an ancestor above pins.max is refused,
 * CAP_IPC_LOCK or not, and one without CAP_IPC_LOCK must also fit under
 * RLIMIT_MEMLOCK, which is checked first.
 *
 * pins.stat shows each charge under its source: "mlock" for mlock(),
 * mlockall(), MAP_LOCKED and mremap(), "shm" for SHM_LOCK, "secretmem"
 * for memfd_secret(), whose locked mappings are charged as secretmem only.
 * It does so in the cgroup charged, its ancestors and the root, which
 * counts the whole host: what a test locks shows there as exactly that
 * much more, while nothing else in the machine locks memory.
 *
 * With --rlimit-only it runs only what needs no pins controller: the
 * mremap() shapes limited by RLIMIT_MEMLOCK, which must behave as on
 * vanilla 6.12 with the controller built in or not.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <sched.h>
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

/* The VmLck of @pid (0: this process) in pages, or -1. */
static long vmlck_pages(pid_t pid)
{
	return pins_status_pages(pid, "VmLck");
}

/* Returns 0 if the VmLck of @pid (0 for this process) is @pages pages. */
static int vmlck_expect(pid_t pid, long pages)
{
	return pins_status_expect(pid, "VmLck", pages);
}

/* Returns 0 if @cgroup holds @pages pages and so does our VmLck. */
static int locked(const char *cgroup, long pages)
{
	if (cur_expect(cgroup, pages))
		return -1;

	return vmlck_expect(0, pages);
}

/* The keys of pins.stat, in the order it shows them. */

/* The keys of the locked memory, in pins_stat_keys. */
enum { STAT_MLOCK, STAT_SHM, STAT_SECRETMEM };

/*
 * Returns 0 if @cgroup's pins.stat shows @mlock, @shm and @secret pages
 * more than @base (than 0 if @base is NULL) for mlock, shm and secretmem,
 * as much as @base for every other key, its pins.current as much more as
 * these add up to, and if its pins.stat adds up to its pins.current.
 */
static int sources_expect(const char *cgroup, const struct pins_usage *base,
			  long mlock, long shm, long secret)
{
	struct pins_usage delta = {
		.stat = {
			[STAT_MLOCK] = mlock,
			[STAT_SHM] = shm,
			[STAT_SECRETMEM] = secret,
		},
		.current = mlock + shm + secret,
	};

	return pins_usage_expect(cgroup, base, &delta);
}

/*
 * Returns 0 if @cgroup holds @mlock, @shm and @secret pages of each
 * source and the root @root that many more than @base.
 */
static int stat_expect(const char *cgroup, const char *root,
		       const struct pins_usage *base, long mlock, long shm,
		       long secret)
{
	if (sources_expect(cgroup, NULL, mlock, shm, secret))
		return -1;

	return sources_expect(root, base, mlock, shm, secret);
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

/* The pins.current of @cgroup in pages, or -1. */
static long cur_pages(const char *cgroup)
{
	long bytes = cg_read_long(cgroup, "pins.current");

	if (bytes < 0 || bytes % page_size) {
		ksft_print_msg("can't read %s/pins.current\n", cgroup);
		return -1;
	}

	return bytes / page_size;
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
 * Child of test_stat_mlock(): what mlock() and MAP_LOCKED lock shows as
 * "mlock" in pins.stat, of this cgroup and of the root @arg, and under no
 * other key; munlock() and munmap() take it off again.
 */
static int child_stat_mlock(const char *cgroup, void *arg)
{
	const char *root = arg;
	int ret = EXIT_FAILURE;
	char *buf, *map = NULL;
	struct pins_usage base;

	if (pins_usage_read(root, &base))
		return EXIT_FAILURE;

	buf = buf_map(16);
	if (!buf)
		return EXIT_FAILURE;

	if (stat_expect(cgroup, root, &base, 0, 0, 0))
		goto out;

	if (lock_pages(buf, 0, 8, 0) ||
	    stat_expect(cgroup, root, &base, 8, 0, 0))
		goto out;

	if (map_pages(4, MAP_LOCKED, 0, &map) ||
	    stat_expect(cgroup, root, &base, 12, 0, 0) || vmlck_expect(0, 12))
		goto out;

	if (unlock_pages(buf, 0, 8) ||
	    stat_expect(cgroup, root, &base, 4, 0, 0))
		goto out;

	if (unmap_pages(map, 0, 4))
		goto out;
	map = NULL;
	if (stat_expect(cgroup, root, &base, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(map, 4);
	buf_unmap(buf, 16);

	return ret;
}

/* Locked memory shows as "mlock" in pins.stat, and in the root's. */
static int test_stat_mlock(const char *root)
{
	return run_in_new_cgroup(root, "pins_mlock_stat", PINS_MAX,
				 child_stat_mlock, (void *)root);
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
	if (cur_wait(cgroup, 0) || pins_events_expect(cgroup, 1, 1))
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
	    pins_events_expect(cgroup, 0, 0))
		goto out;

	/* 17 pages would be locked: refused, nothing locked or charged. */
	if (lock_pages(buf, 10, 7, ENOMEM) || locked(cgroup, 10) ||
	    pins_events_expect(cgroup, 1, 1))
		goto out;

	/* 0-15, of which 0-9 are locked already: exactly at the limit. */
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;
	if (lock_pages(buf, 0, 16, 0) || locked(cgroup, 16))
		goto out;
	/* Inside the one locked vma of 0-15: nothing new. */
	if (lock_pages(buf, 4, 4, 0) || locked(cgroup, 16))
		goto out;

	if (lock_pages(buf, 16, 1, ENOMEM) || locked(cgroup, 16) ||
	    pins_events_expect(cgroup, 2, 2))
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
	    pins_events_expect(cgroup, 1, 1))
		goto out;

	if (map_pages(8, MAP_LOCKED, 0, &buf) || locked(cgroup, 8) ||
	    pins_events_expect(cgroup, 1, 1))
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
	if (locked(cgroup, 0) || pins_events_expect(cgroup, 1, 1))
		goto out;

	/* Nothing is locked now, so this charges nothing. */
	if (expect_errno("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE), 0) ||
	    locked(cgroup, 0))
		goto out;

	if (map_pages(8, 0, 0, &a) || locked(cgroup, 8))
		goto out;
	if (map_pages(16, 0, EAGAIN, &b) || locked(cgroup, 8) ||
	    pins_events_expect(cgroup, 2, 2))
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
	    pins_events_expect(cgroup, 1, 1))
		goto out;

	p = mremap(a, 16 * page_size, 24 * page_size, 0);
	if (expect_errno("mremap 16 to 24 pages in place",
			 p == MAP_FAILED ? -1 : 0, 0))
		goto out;
	a_pages = 24;
	if (locked(cgroup, 24) || check_pages(a, 16) ||
	    pins_events_expect(cgroup, 1, 1))
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

/* pins.max or RLIMIT_MEMLOCK of the mremap() shapes, in pages. */
#define MR_LIMIT	10
/* The most pages a shape lays out, or a result outside of them has. */
#define MR_PAGES	32

/* Where a successful mremap() puts the result. */
enum mr_where { MR_AT_A, MR_AT_B, MR_ELSEWHERE };

/*
 * A shape of mremap(): what is laid out, the call, and what vanilla 6.12
 * does, with MR_LIMIT pages of RLIMIT_MEMLOCK. The layout, in pages from
 * a reserved range: a locked mapping "a" at 0 (the source), then @room
 * free pages or, if @guard, one unlocked page that keeps "a" from growing
 * in place; a free page; "b" (the destination of MREMAP_FIXED) and @tail
 * unlocked pages right after it; a free page; @c more locked pages.
 */
struct mr_shape {
	const char *name;
	long a;			/* pages of "a" */
	long room;		/* free pages right after "a" */
	bool guard;		/* an unlocked page right after "a" */
	long b;			/* pages of "b" */
	bool b_locked;		/* "b" is locked */
	long tail;		/* unlocked pages right after "b" */
	long c;			/* more locked pages, elsewhere */
	long old_len;		/* mremap() of "a", in pages */
	long new_len;
	int flags;		/* with MREMAP_FIXED: to "b" */
	int err;		/* vanilla: the errno, 0 for success */
	enum mr_where where;	/* vanilla: where the result goes */
	long vmlck;		/* vanilla: VmLck afterwards, in pages */
};

static const struct mr_shape mr_shapes[] = {
	{
		.name = "grow in place", .a = 4, .room = 8,
		.old_len = 4, .new_len = 10, .flags = 0,
		.err = 0, .where = MR_AT_A, .vmlck = 10,
	}, {
		.name = "grow in place, one page over the limit",
		.a = 4, .room = 8,
		.old_len = 4, .new_len = 11, .flags = 0,
		.err = EAGAIN, .vmlck = 4,
	}, {
		.name = "shrink", .a = 10,
		.old_len = 10, .new_len = 4, .flags = 0,
		.err = 0, .where = MR_AT_A, .vmlck = 4,
	}, {
		.name = "move", .a = 4, .guard = true,
		.old_len = 4, .new_len = 6, .flags = MREMAP_MAYMOVE,
		.err = 0, .where = MR_ELSEWHERE, .vmlck = 6,
	}, {
		.name = "move, one page over the limit", .a = 4, .guard = true,
		.old_len = 4, .new_len = 11, .flags = MREMAP_MAYMOVE,
		.err = EAGAIN, .vmlck = 4,
	}, {
		.name = "MREMAP_FIXED over a locked destination",
		.a = 4, .b = 6, .b_locked = true,
		.old_len = 4, .new_len = 6,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = 0, .where = MR_AT_B, .vmlck = 6,
	}, {
		.name = "MREMAP_FIXED over a locked destination, same size",
		.a = 5, .b = 5, .b_locked = true,
		.old_len = 5, .new_len = 5,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = 0, .where = MR_AT_B, .vmlck = 5,
	}, {
		.name = "MREMAP_FIXED over a locked destination, shrinking",
		.a = 6, .b = 4, .b_locked = true,
		.old_len = 6, .new_len = 4,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = 0, .where = MR_AT_B, .vmlck = 4,
	}, {
		/* "b" and the tail are unmapped before the refusal. */
		.name = "MREMAP_FIXED over a locked destination, one page over the limit",
		.a = 4, .b = 6, .b_locked = true, .tail = 5,
		.old_len = 4, .new_len = 11,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = EAGAIN, .vmlck = 4,
	}, {
		.name = "MREMAP_FIXED over an unlocked destination",
		.a = 4, .b = 6, .c = 4,
		.old_len = 4, .new_len = 6,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = 0, .where = MR_AT_B, .vmlck = 10,
	}, {
		.name = "MREMAP_FIXED over an unlocked destination, one page over the limit",
		.a = 4, .b = 7, .c = 4,
		.old_len = 4, .new_len = 7,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
		.err = EAGAIN, .vmlck = 8,
	}, {
		/* The old range stays mapped, unlocked and empty. */
		.name = "MREMAP_DONTUNMAP at the limit", .a = 4, .c = 6,
		.old_len = 4, .new_len = 4,
		.flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
		.err = 0, .where = MR_ELSEWHERE, .vmlck = 10,
	}, {
		.name = "MREMAP_DONTUNMAP with MREMAP_FIXED over a locked destination",
		.a = 4, .b = 6, .b_locked = true,
		.old_len = 4, .new_len = 4,
		.flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		.err = 0, .where = MR_AT_B, .vmlck = 6,
	},
};

/* Where a shape's mappings go, in pages from the start of its range. */
struct mr_layout {
	long guard;	/* the guard page, or -1 */
	long b;		/* "b" and its tail */
	long c;		/* "c", or -1 */
	long pages;	/* the whole range */
};

static void mr_layout(const struct mr_shape *s, struct mr_layout *l)
{
	long pos = s->a;

	l->guard = s->guard ? pos : -1;
	pos += (s->guard ? 1 : 0) + s->room + 1;
	l->b = pos;
	pos += s->b + s->tail;
	l->c = -1;
	if (s->c) {
		l->c = pos + 1;
		pos = l->c + s->c;
	}
	l->pages = pos;
}

/* What one page looked like after mremap(). */
struct mr_page {
	char mapped;
	char resident;		/* before it was read */
	char first;		/* its first byte */
	char last;		/* its last byte */
};

/* What one run of a shape saw; the child that ran it fills it in. */
struct mr_seen {
	bool done;		/* the child got to the end */
	long before_vmlck;	/* VmLck before mremap(), in pages */
	long before_cur;	/* pins.current before mremap(), in pages */
	int err;		/* errno of mremap(), 0 for success */
	long at;		/* page of the result in the layout, or -1 */
	long vmlck;		/* VmLck after mremap(), in pages */
	long cur;		/* pins.current after mremap(), in pages */
	struct mr_page layout[MR_PAGES];	/* every page of the layout */
	struct mr_page result[MR_PAGES];	/* a result outside of it */
};

/* One run of a shape: see child_mremap_shape(). */
struct mr_run {
	const struct mr_shape *shape;
	bool rlimit;		/* the rlimit side */
	struct mr_seen *seen;
};

static const char *const mr_sides[] = { "rlimit side", "cgroup side" };

/*
 * Map @npages pages at page @first of @base, locked or not, each filled
 * with @pattern plus its number, and mark them in @used.
 */
static int mr_map(char *base, long first, long npages, bool lock,
		  char pattern, bool *used)
{
	char *at = page_at(base, first), *p;
	long i;

	p = mmap(at, npages * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
		 (lock ? MAP_LOCKED : 0), -1, 0);
	if (p != at) {
		ksft_print_msg("mmap %ld pages at %p%s: %s\n", npages, at,
			       lock ? " locked" : "", strerror(errno));
		return -1;
	}

	for (i = 0; i < npages; i++) {
		memset(page_at(at, i), pattern + i, page_size);
		used[first + i] = true;
	}

	return 0;
}

/* Record whether each of @npages pages at @at is mapped, and what it has. */
static void mr_probe(char *at, long npages, struct mr_page *pages)
{
	unsigned char vec;
	long i;

	/* Residency first: reading faults pages in. */
	for (i = 0; i < npages; i++) {
		memset(&pages[i], 0, sizeof(pages[i]));
		if (mincore(page_at(at, i), page_size, &vec))
			continue;
		pages[i].mapped = 1;
		pages[i].resident = vec & 1;
	}

	for (i = 0; i < npages; i++) {
		char *p = page_at(at, i);

		if (!pages[i].mapped)
			continue;
		pages[i].first = __atomic_load_n(p, __ATOMIC_RELAXED);
		pages[i].last = __atomic_load_n(p + page_size - 1,
						__ATOMIC_RELAXED);
	}
}

/*
 * Child of test_mremap_shapes(): lay out a shape, as uid 65534 with
 * RLIMIT_MEMLOCK of MR_LIMIT pages on the rlimit side or as root on the
 * cgroup side, call mremap() and record what it did.
 */
static int child_mremap_shape(const char *cgroup, void *arg)
{
	struct mr_run *run = arg;
	const struct mr_shape *s = run->shape;
	struct mr_seen *seen = run->seen;
	bool used[MR_PAGES] = { false };
	char *base, *p, *dst = NULL;
	struct mr_layout l;
	long i;

	mr_layout(s, &l);
	if (l.pages > MR_PAGES || s->new_len > MR_PAGES) {
		ksft_print_msg("shape \"%s\" is too large\n", s->name);
		return EXIT_FAILURE;
	}

	if (run->rlimit) {
		if (pins_set_memlock(MR_LIMIT) || pins_become_nobody())
			return EXIT_FAILURE;
	} else {
		if (pins_set_memlock(PINS_MAX))
			return EXIT_FAILURE;
		if (pins_cap_ipc_lock_effective() != 1) {
			ksft_print_msg("CAP_IPC_LOCK isn't effective\n");
			return EXIT_FAILURE;
		}
	}

	base = mmap(NULL, l.pages * page_size, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}

	if (mr_map(base, 0, s->a, true, 0x10, used) ||
	    (s->guard && mr_map(base, l.guard, 1, false, 0x30, used)) ||
	    (s->b && mr_map(base, l.b, s->b, s->b_locked, 0x40, used)) ||
	    (s->tail && mr_map(base, l.b + s->b, s->tail, false, 0x60, used)) ||
	    (s->c && mr_map(base, l.c, s->c, true, 0x70, used)))
		return EXIT_FAILURE;

	for (i = 0; i < l.pages; i++) {
		if (!used[i] && munmap(page_at(base, i), page_size)) {
			ksft_print_msg("munmap: %s\n", strerror(errno));
			return EXIT_FAILURE;
		}
	}

	seen->before_vmlck = vmlck_pages(0);
	seen->before_cur = cgroup ? cur_pages(cgroup) : -1;

	if (s->flags & MREMAP_FIXED)
		dst = page_at(base, l.b);
	p = mremap(base, s->old_len * page_size, s->new_len * page_size,
		   s->flags, dst);
	seen->err = p == MAP_FAILED ? errno : 0;

	seen->vmlck = vmlck_pages(0);
	seen->cur = cgroup ? cur_pages(cgroup) : -1;

	seen->at = -1;
	if (p != MAP_FAILED && p >= base && p < page_at(base, l.pages))
		seen->at = (p - base) / page_size;

	mr_probe(base, l.pages, seen->layout);
	if (p != MAP_FAILED && seen->at < 0)
		mr_probe(p, s->new_len, seen->result);

	seen->done = true;

	return EXIT_SUCCESS;
}

/* Describe what mremap() did in @buf. */
static const char *mr_outcome(char *buf, size_t size,
			      const struct mr_seen *seen)
{
	if (seen->err)
		snprintf(buf, size, "failed with %d (%s)", seen->err,
			 strerror(seen->err));
	else if (seen->at < 0)
		snprintf(buf, size, "succeeded, outside the layout");
	else
		snprintf(buf, size, "succeeded, at page %ld", seen->at);

	return buf;
}

/* Describe @page in @buf. */
static const char *mr_page_str(char *buf, size_t size,
			       const struct mr_page *page)
{
	if (!page->mapped)
		snprintf(buf, size, "unmapped");
	else
		snprintf(buf, size, "mapped, %sresident, bytes %#x/%#x",
			 page->resident ? "" : "not ",
			 (unsigned char)page->first,
			 (unsigned char)page->last);

	return buf;
}

/*
 * Check one side of shape @s against what vanilla does, and pins.current
 * against VmLck unless @seen ran outside any pins cgroup.
 */
static int mr_check_side(const struct mr_shape *s, const struct mr_layout *l,
			 int side, const struct mr_seen *seen)
{
	bool charged = seen->before_cur >= 0;
	long setup = s->a + (s->b_locked ? s->b : 0) + s->c, want_at;
	const char *name = mr_sides[side];
	char what[64], want[64];
	int ret = 0;

	if (!seen->done) {
		ksft_print_msg("%s: the run recorded nothing\n", name);
		return -1;
	}

	if (seen->before_vmlck != setup || (charged && seen->before_cur != setup)) {
		ksft_print_msg("%s: before mremap(): VmLck %ld, pins.current %ld pages, not %ld\n",
			       name, seen->before_vmlck, seen->before_cur,
			       setup);
		ret = -1;
	}

	want_at = s->where == MR_AT_A ? 0 : s->where == MR_AT_B ? l->b : -1;
	if (seen->err != s->err ||
	    (!s->err && (s->where == MR_ELSEWHERE ? seen->at >= 0 :
			 seen->at != want_at))) {
		if (s->err)
			snprintf(want, sizeof(want), "fail with %d (%s)",
				 s->err, strerror(s->err));
		else if (s->where == MR_ELSEWHERE)
			snprintf(want, sizeof(want),
				 "succeed, outside the layout");
		else
			snprintf(want, sizeof(want), "succeed, at page %ld",
				 want_at);
		ksft_print_msg("%s: mremap() %s, vanilla would %s\n", name,
			       mr_outcome(what, sizeof(what), seen), want);
		ret = -1;
	}

	if (seen->vmlck != s->vmlck) {
		ksft_print_msg("%s: VmLck is %ld pages after mremap(), vanilla: %ld\n",
			       name, seen->vmlck, s->vmlck);
		ret = -1;
	}

	if (charged && seen->cur != seen->vmlck) {
		ksft_print_msg("%s: pins.current is %ld pages after mremap(), VmLck %ld\n",
			       name, seen->cur, seen->vmlck);
		ret = -1;
	}

	return ret;
}

/* Returns 0 if the pages of both sides are the same, reporting any not. */
static int mr_compare_pages(const char *what, const struct mr_page *r,
			    const struct mr_page *c, long npages)
{
	char rs[64], cs[64];
	int ret = 0;
	long i;

	for (i = 0; i < npages; i++) {
		if (!memcmp(&r[i], &c[i], sizeof(r[i])))
			continue;
		ksft_print_msg("page %ld of the %s: %s on the rlimit side, %s on the cgroup side\n",
			       i, what, mr_page_str(rs, sizeof(rs), &r[i]),
			       mr_page_str(cs, sizeof(cs), &c[i]));
		ret = -1;
	}

	return ret;
}

/* Returns 0 if both sides of shape @s did the same. */
static int mr_compare(const struct mr_shape *s, const struct mr_layout *l,
		      const struct mr_seen *seen)
{
	const struct mr_seen *r = &seen[0], *c = &seen[1];
	char rs[64], cs[64];
	int ret = 0;

	if (!r->done || !c->done)
		return -1;

	if (r->err != c->err || r->at != c->at || r->vmlck != c->vmlck ||
	    r->cur != c->cur) {
		ksft_print_msg("rlimit side: mremap() %s, VmLck %ld, pins.current %ld pages\n",
			       mr_outcome(rs, sizeof(rs), r), r->vmlck, r->cur);
		ksft_print_msg("cgroup side: mremap() %s, VmLck %ld, pins.current %ld pages\n",
			       mr_outcome(cs, sizeof(cs), c), c->vmlck,
			       c->cur);
		ret = -1;
	}

	if (mr_compare_pages("layout", r->layout, c->layout, l->pages))
		ret = -1;

	if (!r->err && !c->err && r->at < 0 && c->at < 0 &&
	    mr_compare_pages("result", r->result, c->result, s->new_len))
		ret = -1;

	return ret;
}

/*
 * mremap() of a locked mapping behaves exactly the same whether
 * RLIMIT_MEMLOCK or pins.max is the limit: every shape runs once as uid
 * 65534 with RLIMIT_MEMLOCK of MR_LIMIT pages in an unlimited cgroup,
 * once as root (CAP_IPC_LOCK) in a cgroup whose pins.max is MR_LIMIT
 * pages. Both must end the same, what mapped where, with what in it and
 * resident or not, as vanilla does, with pins.current equal to VmLck.
 */
static int test_mremap_shapes(const char *root)
{
	struct mr_seen *seen;
	struct mr_layout l;
	struct mr_run run;
	int ret, side;
	size_t i;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;

	seen = mmap(NULL, 2 * sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seen == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return KSFT_FAIL;
	}

	for (i = 0; i < ARRAY_SIZE(mr_shapes); i++) {
		const struct mr_shape *s = &mr_shapes[i];
		bool bad = false;

		mr_layout(s, &l);
		memset(seen, 0, 2 * sizeof(*seen));
		for (side = 0; side < 2; side++) {
			run.shape = s;
			run.rlimit = side == 0;
			run.seen = &seen[side];
			if (pins_run_in_new_cgroup(root,
						   "pins_mlock_mremap_shape",
						   side ? MR_LIMIT : PINS_MAX,
						   child_mremap_shape,
						   &run) != KSFT_PASS) {
				ksft_print_msg("%s: the run failed\n",
					       mr_sides[side]);
				bad = true;
			}
			if (mr_check_side(s, &l, side, &seen[side]))
				bad = true;
		}
		if (mr_compare(s, &l, seen))
			bad = true;

		if (bad) {
			ksft_print_msg("mremap() shape \"%s\" failed\n",
				       s->name);
			ret = KSFT_FAIL;
		}
	}

	munmap(seen, 2 * sizeof(*seen));

	return ret;
}

/*
 * The rlimit side of every mremap() shape, in this process's cgroup, with
 * no pins file read: what RLIMIT_MEMLOCK does with or without the pins
 * controller, which must be what vanilla does.
 */
static int test_mremap_rlimit(const char *root)
{
	struct mr_seen *seen;
	struct mr_layout l;
	struct mr_run run;
	int ret = KSFT_PASS;
	pid_t pid;
	size_t i;

	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seen == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return KSFT_FAIL;
	}

	for (i = 0; i < ARRAY_SIZE(mr_shapes); i++) {
		const struct mr_shape *s = &mr_shapes[i];

		mr_layout(s, &l);
		memset(seen, 0, sizeof(*seen));
		run.shape = s;
		run.rlimit = true;
		run.seen = seen;
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			ksft_print_msg("fork: %s\n", strerror(errno));
			ret = KSFT_FAIL;
			break;
		}
		if (!pid)
			_exit(child_mremap_shape(NULL, &run));
		if (pins_reap(&pid) || mr_check_side(s, &l, 0, seen)) {
			ksft_print_msg("mremap() shape \"%s\" failed\n",
				       s->name);
			ret = KSFT_FAIL;
		}
	}

	munmap(seen, sizeof(*seen));

	return ret;
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
	if (pins_events_expect(parent, 1, 1) || pins_events_expect(child, 0, 0))
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
	    pins_events_expect(cgroup, l->events, l->events))
		goto out;

	if (lock_pages(buf, 0, l->limit, 0) || locked(cgroup, l->limit) ||
	    pins_events_expect(cgroup, l->events, l->events))
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
	    pins_events_expect(cg_b, 1, 1))
		return EXIT_FAILURE;

	if (unlock_pages(buf, 0, 16) || locked(cg_b, 0))
		return EXIT_FAILURE;

	if (msg_send(sock, 'U') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * The locked memory of a process with four threads moves with it, once,
 * from A to its sibling B, even above B's pins.max, "mlock" in pins.stat
 * with it, and munlock then gives it back to B. Their parent and the root
 * see no change, not even in the parent's peak.
 */
static int test_migration(const char *root)
{
	char *parent = NULL, *cg_a = NULL, *cg_b = NULL;
	struct peer peer = PEER_INIT;
	struct pins_usage base;
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
	if (pins_usage_read(root, &base))
		goto cleanup;

	if (spawn(cg_a, child_migration, cg_b, &peer) ||
	    msg_recv(peer.sock, 'L'))
		goto cleanup;
	if (cur_expect(parent, 16) || cur_expect(cg_a, 16) ||
	    cur_expect(cg_b, 0) || vmlck_expect(peer.pid, 16))
		goto cleanup;
	if (stat_expect(cg_a, root, &base, 16, 0, 0) ||
	    sources_expect(cg_b, NULL, 0, 0, 0) ||
	    sources_expect(parent, NULL, 16, 0, 0))
		goto cleanup;

	if (cg_enter(cg_b, peer.pid)) {
		ksft_print_msg("can't move %d to %s\n", peer.pid, cg_b);
		goto cleanup;
	}
	if (cur_expect(parent, 16) || cur_expect(cg_a, 0) ||
	    cur_expect(cg_b, 16) || pins_expect(cg_b, "pins.max", 8) ||
	    vmlck_expect(peer.pid, 16) || pins_expect(parent, "pins.peak", 16))
		goto cleanup;
	if (sources_expect(cg_a, NULL, 0, 0, 0) ||
	    stat_expect(cg_b, root, &base, 16, 0, 0) ||
	    sources_expect(parent, NULL, 16, 0, 0))
		goto cleanup;

	if (msg_send(peer.sock, 'M') || msg_recv(peer.sock, 'U'))
		goto cleanup;
	if (cur_expect(parent, 0) || cur_expect(cg_a, 0) ||
	    cur_expect(cg_b, 0))
		goto cleanup;
	if (stat_expect(parent, root, &base, 0, 0, 0))
		goto cleanup;
	if (pins_events_expect(parent, 1, 0) || pins_events_expect(cg_a, 0, 0))
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
 * Child of test_migration_root(): locks 16 pages in the root cgroup; moved
 * into a cgroup with room for 24, locks 8 more and is refused a 25th; moved
 * back to the root, unlocks them all.
 */
static int child_root_move(const char *cgroup, int sock, void *arg)
{
	char *buf;

	buf = buf_map(32);
	if (!buf || lock_pages(buf, 0, 16, 0) || vmlck_expect(0, 16) ||
	    msg_send(sock, 'L') || msg_recv(sock, 'M'))
		return EXIT_FAILURE;
	if (lock_pages(buf, 16, 8, 0) || lock_pages(buf, 24, 1, ENOMEM) ||
	    vmlck_expect(0, 24) || msg_send(sock, 'C') || msg_recv(sock, 'R'))
		return EXIT_FAILURE;
	if (unlock_pages(buf, 0, 24) || vmlck_expect(0, 0) ||
	    msg_send(sock, 'U') || msg_recv(sock, 'X'))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A process whose locked memory is charged to the root (which has no limit,
 * and is charged as memory is locked) takes the charge along into a cgroup,
 * where that cgroup's limit applies to what it locks next, and back.
 */
static int test_migration_root(const char *root)
{
	char *parent = NULL, *cg = NULL;
	struct peer peer = PEER_INIT;
	struct pins_usage base;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (pins_create_pair(root, "pins_mlock_root_move", &parent, &cg) ||
	    pins_set_max(cg, 24) || pins_usage_read(root, &base))
		goto cleanup;

	if (spawn(root, child_root_move, NULL, &peer) ||
	    msg_recv(peer.sock, 'L'))
		goto cleanup;
	if (sources_expect(root, &base, 16, 0, 0) || cur_expect(parent, 0) ||
	    vmlck_expect(peer.pid, 16))
		goto cleanup;

	if (cg_enter(cg, peer.pid)) {
		ksft_print_msg("can't move %d to %s\n", peer.pid, cg);
		goto cleanup;
	}
	if (stat_expect(cg, root, &base, 16, 0, 0) || cur_expect(parent, 16))
		goto cleanup;
	if (msg_send(peer.sock, 'M') || msg_recv(peer.sock, 'C'))
		goto cleanup;
	if (stat_expect(cg, root, &base, 24, 0, 0) ||
	    pins_events_expect(cg, 1, 1))
		goto cleanup;

	if (cg_enter(root, peer.pid)) {
		ksft_print_msg("can't move %d to %s\n", peer.pid, root);
		goto cleanup;
	}
	if (cur_expect(cg, 0) || cur_expect(parent, 0) ||
	    sources_expect(root, &base, 24, 0, 0))
		goto cleanup;
	if (msg_send(peer.sock, 'R') || msg_recv(peer.sock, 'U'))
		goto cleanup;
	if (sources_expect(root, &base, 0, 0, 0) || cur_expect(cg, 0))
		goto cleanup;

	if (msg_send(peer.sock, 'X') || peer_reap(&peer))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	peer_kill(&peer);
	cg_enter_current(root);
	pins_destroy_pair(root, &parent, &cg);

	return ret;
}

/*
 * In the root cgroup, locked memory is charged as it is locked, without
 * the reservations a limited cgroup makes: through mlock(), MAP_LOCKED,
 * mremap() of locked memory (grown, moved, shrunk), munmap() and
 * munlock(), the root's mlock count follows VmLck exactly, back to where it
 * started.
 */
static int test_root_exact(const char *root)
{
	struct pins_usage base;
	char *buf = NULL, *map = MAP_FAILED, *moved;
	long vmlck;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	vmlck = vmlck_pages(0);
	if (vmlck || cg_enter_current(root) || pins_usage_read(root, &base)) {
		ksft_print_msg("VmLck %ld: must start with nothing locked\n",
			       vmlck);
		goto out;
	}

	buf = buf_map(16);
	if (!buf || lock_pages(buf, 0, 8, 0) ||
	    sources_expect(root, &base, 8, 0, 0) || vmlck_expect(0, 8))
		goto out;

	map = mmap(NULL, 4 * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (map == MAP_FAILED) {
		ksft_print_msg("mmap(MAP_LOCKED): %s\n", strerror(errno));
		goto out;
	}
	if (sources_expect(root, &base, 12, 0, 0) || vmlck_expect(0, 12))
		goto out;

	/* Grown, wherever it has to move to: 12 locked pages. */
	moved = mremap(map, 4 * page_size, 12 * page_size, MREMAP_MAYMOVE);
	if (moved == MAP_FAILED) {
		ksft_print_msg("mremap grow: %s\n", strerror(errno));
		goto out;
	}
	map = moved;
	if (sources_expect(root, &base, 20, 0, 0) || vmlck_expect(0, 20))
		goto out;

	/* Shrunk back to 2 pages. */
	moved = mremap(map, 12 * page_size, 2 * page_size, 0);
	if (moved == MAP_FAILED) {
		ksft_print_msg("mremap shrink: %s\n", strerror(errno));
		goto out;
	}
	if (sources_expect(root, &base, 10, 0, 0) || vmlck_expect(0, 10))
		goto out;

	/* Half of the mlock()ed pages unmapped, the rest unlocked. */
	if (unmap_pages(buf, 4, 4) || sources_expect(root, &base, 6, 0, 0) ||
	    unlock_pages(buf, 0, 4) || sources_expect(root, &base, 2, 0, 0))
		goto out;
	if (munmap(map, 2 * page_size)) {
		ksft_print_msg("munmap: %s\n", strerror(errno));
		goto out;
	}
	map = MAP_FAILED;
	if (sources_expect(root, &base, 0, 0, 0) || vmlck_expect(0, 0))
		goto out;

	ret = KSFT_PASS;
out:
	if (map != MAP_FAILED)
		munmap(map, 12 * page_size);
	if (buf)
		munmap(buf, 16 * page_size);

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

/* Cgroups A, B and C: siblings whose parent has pins enabled. */
struct abc {
	char *parent;
	char *cg[3];
};

#define ABC_INIT	{ .parent = NULL, .cg = { NULL, NULL, NULL } }

/* Create @root/@name and, below it, A, B and C. */
static int abc_create(const char *root, const char *name, struct abc *abc)
{
	if (pins_create_pair(root, name, &abc->parent, &abc->cg[0]))
		return -1;

	abc->cg[1] = cg_name(abc->parent, "b");
	abc->cg[2] = cg_name(abc->parent, "c");
	if (!abc->cg[1] || !abc->cg[2] || pins_create(abc->cg[1], false) ||
	    pins_create(abc->cg[2], false))
		return -1;

	return 0;
}

static void abc_destroy(const char *root, struct abc *abc)
{
	int i;

	cg_enter_current(root);
	for (i = 2; i >= 1; i--) {
		if (abc->cg[i])
			cg_destroy(abc->cg[i]);
		free(abc->cg[i]);
		abc->cg[i] = NULL;
	}
	pins_destroy_pair(root, &abc->parent, &abc->cg[0]);
}

/*
 * Returns 0 if A, B and C hold @a, @b and @c pages; if @wait, gives the
 * kernel two seconds to get there. Says what it saw, and when, if not.
 */
static int abc_expect(const struct abc *abc, const char *when, bool wait,
		      long a, long b, long c)
{
	long want[3] = { a, b, c }, got[3];
	int i, tries = wait ? 200 : 1;
	bool same;

	for (;;) {
		same = true;
		for (i = 0; i < 3; i++) {
			got[i] = cur_pages(abc->cg[i]);
			if (got[i] != want[i])
				same = false;
		}
		if (same || !--tries)
			break;
		usleep(10000);
	}

	if (!same) {
		ksft_print_msg("%s: A, B, C have %ld, %ld, %ld pages, not %ld, %ld, %ld\n",
			       when, got[0], got[1], got[2], a, b, c);
		return -1;
	}

	return 0;
}

/* Returns 0 if process @pid is in @cgroup, a cgroup below @root. */
static int in_cgroup_expect(const char *root, pid_t pid, const char *cgroup)
{
	char buf[PATH_MAX], want[PATH_MAX], esc[PATH_MAX];

	if (proc_read_text(pid, false, "cgroup", buf, sizeof(buf)) < 0) {
		ksft_print_msg("can't read /proc/%d/cgroup\n", pid);
		return -1;
	}

	snprintf(want, sizeof(want), "0::%s\n", cgroup + strlen(root));
	if (strcmp(buf, want)) {
		ksft_print_msg("process %d is in \"%s\", not in %s\n", pid,
			       pins_escape(esc, sizeof(esc), buf), cgroup);
		return -1;
	}

	return 0;
}

/* Send @cmd to the peer at @sock and expect @reply. */
static int peer_do(int sock, char cmd, char reply)
{
	if (msg_send(sock, cmd))
		return -1;

	return msg_recv(sock, reply);
}

/* Receive a pid from @sock into *@pid. */
static int pid_recv(int sock, pid_t *pid)
{
	if (recv(sock, pid, sizeof(*pid), MSG_WAITALL) != sizeof(*pid) ||
	    *pid <= 0) {
		ksft_print_msg("no pid from the peer\n");
		*pid = 0;
		return -1;
	}

	return 0;
}

/* The stack of a process started by clone_kid(). */
#define KID_STACK	(256 * 1024)

/*
 * clone() a process with @flags that runs @fn(@arg) on a stack of its own,
 * which is left mapped. Returns its pid or -1.
 */
static pid_t clone_kid(int (*fn)(void *), void *arg, int flags)
{
	char *stack;
	pid_t pid;

	stack = mmap(NULL, KID_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		ksft_print_msg("mmap: %s\n", strerror(errno));
		return -1;
	}

	fflush(stdout);
	pid = clone(fn, stack + KID_STACK, flags, arg);
	if (pid < 0)
		ksft_print_msg("clone(%#x): %s\n", flags, strerror(errno));

	return pid;
}

/*
 * A process using a shared mm, driven by the test through @sock: 'l'
 * locks @npages pages of @buf from @first on (answer 'L'), 'B' and 'C'
 * move the process itself to @cg_b or @cg_c (answer 'b' or 'c'), 'x'
 * ends it.
 */
struct mm_user {
	char *buf;
	const char *cg_b;
	const char *cg_c;
	long first;
	long npages;
	int sock;
};

static int mm_user_serve(const struct mm_user *u)
{
	char cmd, reply;

	for (;;) {
		/* The test gone (it failed and said why): just go. */
		if (recv(u->sock, &cmd, 1, 0) != 1)
			return EXIT_FAILURE;

		switch (cmd) {
		case 'l':
			if (lock_pages(u->buf, u->first, u->npages, 0))
				return EXIT_FAILURE;
			reply = 'L';
			break;
		case 'B':
		case 'C':
			if (cg_enter_current(cmd == 'B' ? u->cg_b : u->cg_c)) {
				ksft_print_msg("%d: can't move to %c\n",
					       getpid(), cmd);
				return EXIT_FAILURE;
			}
			reply = cmd == 'B' ? 'b' : 'c';
			break;
		case 'x':
			return EXIT_SUCCESS;
		default:
			ksft_print_msg("%d: bad command '%c'\n", getpid(), cmd);
			return EXIT_FAILURE;
		}

		if (msg_send(u->sock, reply))
			return EXIT_FAILURE;
	}
}

static int kid_serve(void *arg)
{
	int ret = mm_user_serve(arg);

	fflush(stdout);

	return ret;
}

/* What owner_of_shared_mm() does. */
struct sharer {
	const char *cg_b;
	const char *cg_c;
	int kid_sock;		/* the sharer's end of its socket */
	int test_sock;		/* the test's end, to close */
	long locked;		/* pages the owner locks before clone() */
	long own_first;		/* what the owner's 'l' locks */
	long own_npages;
	long kid_first;		/* what the sharer's 'l' locks */
	long kid_npages;
};

/* The sharer's half of the mm_user pair; shared with it through the mm. */
static struct mm_user kid_user;

/*
 * Spawned in A, the owner of an mm: map 8 pages, lock the first
 * @s->locked, clone(CLONE_VM) a sharer, a child of the test
 * (CLONE_PARENT), that serves the test on @s->kid_sock, send its pid, then
 * serve the test on @sock.
 */
static int owner_of_shared_mm(const char *cgroup, int sock, void *arg)
{
	const struct sharer *s = arg;
	struct mm_user me;
	char *buf;
	pid_t pid;

	close(s->test_sock);

	buf = buf_map(8);
	if (!buf || (s->locked && lock_pages(buf, 0, s->locked, 0)))
		return EXIT_FAILURE;

	kid_user.buf = buf;
	kid_user.cg_b = s->cg_b;
	kid_user.cg_c = s->cg_c;
	kid_user.first = s->kid_first;
	kid_user.npages = s->kid_npages;
	kid_user.sock = s->kid_sock;

	pid = clone_kid(kid_serve, &kid_user,
			CLONE_VM | CLONE_PARENT | SIGCHLD);
	if (pid < 0)
		return EXIT_FAILURE;
	if (send(sock, &pid, sizeof(pid), MSG_NOSIGNAL) != sizeof(pid)) {
		ksft_print_msg("send: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}

	me = kid_user;
	me.first = s->own_first;
	me.npages = s->own_npages;
	me.sock = sock;

	return mm_user_serve(&me);
}

/*
 * Start the owner of a shared mm in A, as @s says, and its sharer. The
 * test talks to the owner through @peer->sock, to the sharer through
 * *@kid_sock, whose pid goes to *@kid.
 */
static int start_sharers(const struct abc *abc, struct sharer *s,
			 struct peer *peer, int *kid_sock, pid_t *kid)
{
	int sk[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sk)) {
		ksft_print_msg("socketpair: %s\n", strerror(errno));
		return -1;
	}

	s->cg_b = abc->cg[1];
	s->cg_c = abc->cg[2];
	s->kid_sock = sk[1];
	s->test_sock = sk[0];
	*kid_sock = sk[0];

	if (spawn(abc->cg[0], owner_of_shared_mm, s, peer)) {
		close(sk[1]);
		return -1;
	}
	close(sk[1]);

	return pid_recv(peer->sock, kid);
}

/*
 * An mm's locked memory is charged to the cgroup of the process that owns
 * it, which created it by fork(). A clone(CLONE_VM) child moving itself
 * moves nothing, and what it locks is charged to the owner's cgroup; the
 * owner moving takes everything along.
 */
static int test_shared_mm_clone_vm(const char *root)
{
	struct sharer s = {
		.locked = 4, .own_first = 6, .own_npages = 1,
		.kid_first = 4, .kid_npages = 2,
	};
	struct peer peer = PEER_INIT;
	struct abc abc = ABC_INIT;
	int ret, kid_sock = -1;
	pid_t kid = 0;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (abc_create(root, "pins_mlock_clone_vm", &abc) ||
	    start_sharers(&abc, &s, &peer, &kid_sock, &kid))
		goto cleanup;
	if (abc_expect(&abc, "the owner in A locked 4 pages", false,
		       4, 0, 0))
		goto cleanup;

	if (peer_do(kid_sock, 'B', 'b') ||
	    in_cgroup_expect(root, kid, abc.cg[1]) ||
	    abc_expect(&abc, "the CLONE_VM child moved itself to B", false,
		       4, 0, 0))
		goto cleanup;

	if (peer_do(kid_sock, 'l', 'L') ||
	    abc_expect(&abc, "the CLONE_VM child in B locked 2 pages", false,
		       6, 0, 0) ||
	    vmlck_expect(peer.pid, 6) || vmlck_expect(kid, 6))
		goto cleanup;

	if (peer_do(peer.sock, 'l', 'L') ||
	    abc_expect(&abc, "the owner locked 1 more page", false, 7, 0, 0))
		goto cleanup;

	if (peer_do(peer.sock, 'C', 'c') ||
	    in_cgroup_expect(root, peer.pid, abc.cg[2]) ||
	    abc_expect(&abc, "the owner moved itself to C", false, 0, 0, 7))
		goto cleanup;

	if (msg_send(kid_sock, 'x') || pins_reap(&kid) ||
	    abc_expect(&abc, "the CLONE_VM child exited", false, 0, 0, 7))
		goto cleanup;

	if (msg_send(peer.sock, 'x') || peer_reap(&peer) ||
	    abc_expect(&abc, "the owner exited", true, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (kid_sock >= 0)
		close(kid_sock);
	pins_kill(&kid);
	peer_kill(&peer);
	abc_destroy(root, &abc);

	return ret;
}

/*
 * If the owner of an mm exits while a clone(CLONE_VM) child still uses
 * it, the charge stays in the cgroup the owner was last in until the mm
 * is gone; what the child locks goes there too, and the child moving
 * moves nothing.
 */
static int test_shared_mm_owner_exits(const char *root)
{
	struct sharer s = {
		.locked = 0, .own_first = 0, .own_npages = 2,
		.kid_first = 2, .kid_npages = 1,
	};
	struct peer peer = PEER_INIT;
	struct abc abc = ABC_INIT;
	int ret, kid_sock = -1;
	pid_t kid = 0;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (abc_create(root, "pins_mlock_owner_exits", &abc) ||
	    start_sharers(&abc, &s, &peer, &kid_sock, &kid))
		goto cleanup;

	if (peer_do(kid_sock, 'B', 'b') ||
	    in_cgroup_expect(root, kid, abc.cg[1]) ||
	    abc_expect(&abc, "the CLONE_VM child moved itself to B", false,
		       0, 0, 0))
		goto cleanup;

	if (peer_do(peer.sock, 'l', 'L') ||
	    abc_expect(&abc, "the owner in A locked 2 pages", false, 2, 0, 0))
		goto cleanup;

	if (msg_send(peer.sock, 'x') || peer_reap(&peer))
		goto cleanup;
	/* Give a wrongly moved or returned charge time to show. */
	usleep(100000);
	if (abc_expect(&abc, "the owner exited", false, 2, 0, 0) ||
	    vmlck_expect(kid, 2))
		goto cleanup;

	if (peer_do(kid_sock, 'l', 'L') ||
	    abc_expect(&abc, "the CLONE_VM child in B locked 1 page", false,
		       3, 0, 0) || vmlck_expect(kid, 3))
		goto cleanup;

	if (peer_do(kid_sock, 'C', 'c') ||
	    in_cgroup_expect(root, kid, abc.cg[2]) ||
	    abc_expect(&abc, "the CLONE_VM child moved itself to C", false,
		       3, 0, 0))
		goto cleanup;

	if (msg_send(kid_sock, 'x') || pins_reap(&kid) ||
	    abc_expect(&abc, "the CLONE_VM child exited", true, 0, 0, 0))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	if (kid_sock >= 0)
		close(kid_sock);
	pins_kill(&kid);
	peer_kill(&peer);
	abc_destroy(root, &abc);

	return ret;
}

/* What kid_vfork_own_mm() needs. */
struct vfork_kid {
	const char *cg_b;
	int sock;
};

/*
 * The clone(CLONE_VFORK) child of test_clone_vfork_own_mm(), with an mm
 * of its own: send its pid, lock 3 pages ('L'), move itself to B when
 * told ('M', answer 'm') and exit when told ('X').
 */
static int kid_vfork_own_mm(void *arg)
{
	const struct vfork_kid *k = arg;
	pid_t pid = getpid();
	int ret = EXIT_FAILURE;
	char *buf;

	if (send(k->sock, &pid, sizeof(pid), MSG_NOSIGNAL) != sizeof(pid))
		goto out;

	buf = buf_map(3);
	if (!buf || lock_pages(buf, 0, 3, 0) || vmlck_expect(0, 3) ||
	    msg_send(k->sock, 'L') || msg_recv(k->sock, 'M'))
		goto out;

	if (cg_enter_current(k->cg_b)) {
		ksft_print_msg("can't move to %s\n", k->cg_b);
		goto out;
	}

	if (msg_send(k->sock, 'm') || msg_recv(k->sock, 'X'))
		goto out;

	ret = EXIT_SUCCESS;
out:
	fflush(stdout);

	return ret;
}

/*
 * Spawned in A: clone(CLONE_VFORK) without CLONE_VM, which suspends us
 * until the child exits, then check it did and say 'D'.
 */
static int child_clone_vfork(const char *cgroup, int sock, void *arg)
{
	struct vfork_kid k = { .cg_b = arg, .sock = sock };
	pid_t pid;

	pid = clone_kid(kid_vfork_own_mm, &k, CLONE_VFORK | SIGCHLD);
	if (pid < 0 || pins_reap(&pid))
		return EXIT_FAILURE;

	return msg_send(sock, 'D') ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * A clone(CLONE_VFORK) child without CLONE_VM has an mm of its own, even
 * while its parent waits for it: it takes the charge for what it locked
 * along when it moves.
 */
static int test_clone_vfork_own_mm(const char *root)
{
	struct peer peer = PEER_INIT;
	struct abc abc = ABC_INIT;
	pid_t kid = 0;
	int ret;

	ret = pins_prepare(root);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	if (abc_create(root, "pins_mlock_clone_vfork", &abc) ||
	    spawn(abc.cg[0], child_clone_vfork, abc.cg[1], &peer) ||
	    pid_recv(peer.sock, &kid))
		goto cleanup;

	if (msg_recv(peer.sock, 'L') ||
	    abc_expect(&abc, "the CLONE_VFORK child in A locked 3 pages",
		       false, 3, 0, 0) ||
	    vmlck_expect(kid, 3) || vmlck_expect(peer.pid, 0))
		goto cleanup;

	if (peer_do(peer.sock, 'M', 'm') ||
	    in_cgroup_expect(root, kid, abc.cg[1]) ||
	    abc_expect(&abc, "the CLONE_VFORK child moved itself to B", false,
		       0, 3, 0))
		goto cleanup;

	/* It isn't our child: its parent reaps it, then says 'D'. */
	if (peer_do(peer.sock, 'X', 'D'))
		goto cleanup;
	kid = 0;
	if (abc_expect(&abc, "the CLONE_VFORK child exited", true, 0, 0, 0) ||
	    peer_reap(&peer))
		goto cleanup;

	ret = KSFT_PASS;

cleanup:
	/* The parent first, or it would complain about the child's death. */
	if (peer.pid > 0)
		kill(peer.pid, SIGKILL);
	if (kid > 0)
		kill(kid, SIGKILL);
	peer_kill(&peer);
	abc_destroy(root, &abc);

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

/* What child_stat_shm() gets: the root and a segment of 16 pages. */
struct stat_shm {
	const char *root;
	int id;
};

/*
 * Child of test_stat_shm(): SHM_LOCK of the segment shows as "shm" in
 * pins.stat, and mlock() of 4 pages of our own beside it as "mlock", of
 * this cgroup and of the root; unlocking takes each off its own key.
 */
static int child_stat_shm(const char *cgroup, void *arg)
{
	const struct stat_shm *s = arg;
	const char *root = s->root;
	int ret = EXIT_FAILURE;
	struct pins_usage base;
	char *buf;

	if (pins_usage_read(root, &base))
		return EXIT_FAILURE;

	buf = buf_map(4);
	if (!buf)
		return EXIT_FAILURE;

	if (shm_cmd(s->id, SHM_LOCK, "SHM_LOCK", 0) ||
	    stat_expect(cgroup, root, &base, 0, 16, 0))
		goto out;

	if (lock_pages(buf, 0, 4, 0) ||
	    stat_expect(cgroup, root, &base, 4, 16, 0))
		goto out;

	if (shm_cmd(s->id, SHM_UNLOCK, "SHM_UNLOCK", 0) ||
	    stat_expect(cgroup, root, &base, 4, 0, 0))
		goto out;

	if (unlock_pages(buf, 0, 4) ||
	    stat_expect(cgroup, root, &base, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 4);

	return ret;
}

/* SHM_LOCK shows as "shm" in pins.stat, and in the root's. */
static int test_stat_shm(const char *root)
{
	static const long npages[] = { 16 };
	struct stat_shm s = { .root = root };
	int ret;

	ret = shm_prepare(root, &s.id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;

	ret = run_in_new_cgroup(root, "pins_mlock_stat_shm", PINS_MAX,
				child_stat_shm, &s);
	shm_remove(&s.id);

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
	    pins_events_expect(cgroup, 1, 1))
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
 * until it is destroyed, from whichever cgroup; in pins.stat, as "shm",
 * of its cgroup and of the root too.
 */
static int test_shm_outlives_locker(const char *root)
{
	static const long npages[] = { 16 };
	struct pins_usage base;
	char *cg = NULL;
	int ret, id;

	ret = shm_prepare(root, &id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;
	ret = KSFT_FAIL;

	cg = cg_name(root, "pins_mlock_shm_exit");
	if (!cg || pins_create(cg, false))
		goto cleanup;
	if (pins_usage_read(root, &base))
		goto cleanup;

	if (pins_run_child(cg, child_shm_lock_exit, &id))
		goto cleanup;

	/* Give a wrongly returned charge time to show. */
	usleep(100000);
	if (cur_expect(cg, 16) || shm_locked_expect(id, true))
		goto cleanup;
	if (stat_expect(cg, root, &base, 0, 16, 0))
		goto cleanup;

	if (shm_cmd(id, IPC_RMID, "IPC_RMID", 0))
		goto cleanup;
	id = -1;
	if (cur_wait(cg, 0) || stat_expect(cg, root, &base, 0, 0, 0))
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

/*
 * Child of test_stat_secretmem(): the pages of a memfd_secret() file show
 * as "secretmem" in pins.stat, of this cgroup and of the root @arg, as
 * they are faulted in, not as "mlock" though its mapping is locked; they
 * stay when it is unmapped and go with the file.
 */
static int child_stat_secretmem(const char *cgroup, void *arg)
{
	const char *root = arg;
	int ret = EXIT_FAILURE, fd;
	struct pins_usage base;
	char *buf;

	if (pins_usage_read(root, &base))
		return EXIT_FAILURE;

	fd = secret_map(16, &buf);
	if (fd < 0)
		return EXIT_FAILURE;

	if (stat_expect(cgroup, root, &base, 0, 0, 0))
		goto out;

	touch_pages(buf, 0, 5);
	if (stat_expect(cgroup, root, &base, 0, 0, 5))
		goto out;

	if (unmap_pages(buf, 0, 16))
		goto out;
	buf = NULL;
	if (stat_expect(cgroup, root, &base, 0, 0, 5))
		goto out;

	close(fd);
	fd = -1;
	if (cur_wait(cgroup, 0) || stat_expect(cgroup, root, &base, 0, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	buf_unmap(buf, 16);
	if (fd >= 0)
		close(fd);

	return ret;
}

/* memfd_secret() pages show as "secretmem" in pins.stat, and the root's. */
static int test_stat_secretmem(const char *root)
{
	int ret = secret_prepare(root);

	if (ret != KSFT_PASS)
		return ret;

	return run_in_new_cgroup(root, "pins_mlock_stat_secretmem", PINS_MAX,
				 child_stat_secretmem, (void *)root);
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
	if (cur_expect(cgroup, 8) || pins_events_expect(cgroup, 0, 0))
		goto out;

	if (touch_sigbus(page_at(buf, 8)) != 1) {
		ksft_print_msg("no SIGBUS for a page above pins.max\n");
		goto out;
	}
	if (cur_expect(cgroup, 8) || pins_events_expect(cgroup, 1, 1))
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

/* Returns 0 if @cgroup holds @cur pages and our VmLck is @vmlck pages. */
static int cur_vmlck_expect(const char *cgroup, long cur, long vmlck)
{
	if (cur_expect(cgroup, cur))
		return -1;

	return vmlck_expect(0, vmlck);
}

/* Attach segment @id; returns the address or NULL. */
static char *shm_attach(int id)
{
	char *addr = shmat(id, NULL, 0);

	if (addr == (char *)-1) {
		ksft_print_msg("shmat(%d): %s\n", id, strerror(errno));
		return NULL;
	}

	return addr;
}

/*
 * Child of test_shm_mlock_twice(): a segment that is SHM_LOCKed and whose
 * attached mapping is mlock()ed is charged twice, once for each lock, as
 * vanilla counts it in two rlimit counters; each lock is refused when the
 * other leaves no room for it.
 */
static int child_shm_mlock_twice(const char *cgroup, void *arg)
{
	int id = *(int *)arg, ret = EXIT_FAILURE;
	char *addr;

	addr = shm_attach(id);
	if (!addr)
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) ||
	    cur_vmlck_expect(cgroup, 16, 0) ||
	    sources_expect(cgroup, NULL, 0, 16, 0))
		goto out;
	if (lock_pages(addr, 0, 16, 0) || cur_vmlck_expect(cgroup, 32, 16) ||
	    sources_expect(cgroup, NULL, 16, 16, 0))
		goto out;
	if (unlock_pages(addr, 0, 16) || cur_vmlck_expect(cgroup, 16, 0) ||
	    sources_expect(cgroup, NULL, 0, 16, 0))
		goto out;
	if (shm_cmd(id, SHM_UNLOCK, "SHM_UNLOCK", 0) ||
	    cur_vmlck_expect(cgroup, 0, 0))
		goto out;

	/* 24 pages: room for one lock, not for both. */
	if (pins_set_max(cgroup, 24))
		goto out;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) ||
	    cur_vmlck_expect(cgroup, 16, 0))
		goto out;
	if (lock_pages(addr, 0, 16, ENOMEM) ||
	    cur_vmlck_expect(cgroup, 16, 0) || shm_locked_expect(id, true) ||
	    pins_events_expect(cgroup, 1, 1))
		goto out;
	if (shm_cmd(id, SHM_UNLOCK, "SHM_UNLOCK", 0) ||
	    cur_vmlck_expect(cgroup, 0, 0))
		goto out;

	/* The other way round. */
	if (lock_pages(addr, 0, 16, 0) || cur_vmlck_expect(cgroup, 16, 16))
		goto out;
	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", ENOMEM) ||
	    cur_vmlck_expect(cgroup, 16, 16) || shm_locked_expect(id, false) ||
	    pins_events_expect(cgroup, 2, 2))
		goto out;
	if (unlock_pages(addr, 0, 16) || cur_vmlck_expect(cgroup, 0, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	shmdt(addr);

	return ret;
}

static int test_shm_mlock_twice(const char *root)
{
	static const long npages[] = { 16 };
	int ret, id;

	ret = shm_prepare(root, &id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;

	ret = run_in_new_cgroup(root, "pins_mlock_shm_twice", PINS_MAX,
				child_shm_mlock_twice, &id);
	shm_remove(&id);

	return ret;
}

/*
 * Open the file behind the mapping of @npages pages at @addr through
 * /proc/self/map_files, which needs CAP_SYS_ADMIN. Returns the fd or -1.
 */
static int map_file_open(char *addr, long npages)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
		 (unsigned long)addr,
		 (unsigned long)page_at(addr, npages));

	return open(path, O_RDWR | O_CLOEXEC);
}

/* A test_shm_unlock_resized() case: resize to @pages, then how to end. */
struct shm_resize {
	long pages;
	bool destroy;	/* IPC_RMID and shmdt(), not SHM_UNLOCK */
};

/*
 * Child of test_shm_unlock_resized(): SHM_LOCK a segment of 16 pages,
 * resize its file, then SHM_UNLOCK or destroy it: exactly the 16 pages
 * charged must come back. 16 pages mlock()ed first keep the cgroup from
 * going below zero if more comes back, which would hide it.
 */
static int child_shm_unlock_resized(const char *cgroup, void *arg)
{
	const struct shm_resize *r = arg;
	int ret = EXIT_FAILURE, id, fd;
	char *addr = NULL, *buf;

	buf = buf_map(16);
	if (!buf || lock_pages(buf, 0, 16, 0) || cur_expect(cgroup, 16))
		return EXIT_FAILURE;

	id = shm_create(16);
	if (id < 0)
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", 0) || cur_expect(cgroup, 32))
		goto out;

	addr = shm_attach(id);
	if (!addr)
		goto out;

	fd = map_file_open(addr, 16);
	if (fd < 0) {
		ksft_print_msg("open map_files: %s\n", strerror(errno));
		goto out;
	}
	if (ftruncate(fd, r->pages * page_size)) {
		ksft_print_msg("ftruncate to %ld pages: %s\n", r->pages,
			       strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);

	/* The lock is the segment's, whatever its size now. */
	if (cur_expect(cgroup, 32) || shm_locked_expect(id, true))
		goto out;

	if (r->destroy) {
		if (shm_cmd(id, IPC_RMID, "IPC_RMID", 0))
			goto out;
		id = -1;
		shmdt(addr);
		addr = NULL;
	} else {
		if (shm_cmd(id, SHM_UNLOCK, "SHM_UNLOCK", 0))
			goto out;
	}

	if (cur_wait(cgroup, 16)) {
		ksft_print_msg("%s after a resize from 16 to %ld pages didn't return 16\n",
			       r->destroy ? "destruction" : "SHM_UNLOCK",
			       r->pages);
		goto out;
	}

	if (unlock_pages(buf, 0, 16) || cur_expect(cgroup, 0))
		goto out;

	ret = EXIT_SUCCESS;
out:
	if (addr)
		shmdt(addr);
	shm_remove(&id);

	return ret;
}

/*
 * SHM_UNLOCK and the destruction of a locked segment return exactly what
 * SHM_LOCK charged, even when the segment's file was resized in between
 * (through /proc/self/map_files).
 *
 * Vanilla's RLIMIT_MEMLOCK ucounts recompute the size to return too, and
 * warn when they go below zero: the cases run in an order that keeps
 * root's count from ever going below where it was, and ends it there
 * (+8, +8, -16, +16, -16 pages).
 */
static int test_shm_unlock_resized(const char *root)
{
	static const struct shm_resize resizes[] = {
		{ .pages = 8, .destroy = false },
		{ .pages = 8, .destroy = true },
		{ .pages = 32, .destroy = false },
		{ .pages = 0, .destroy = false },
		{ .pages = 32, .destroy = true },
	};
	static const long probe_pages[] = { 1 };
	static char reason[96];
	int ret, id, fd;
	char *addr;
	size_t i;

	ret = shm_prepare(root, &id, probe_pages, 1);
	if (ret != KSFT_PASS)
		return ret;

	/* Can we get at a segment's file at all? */
	addr = shm_attach(id);
	shm_remove(&id);
	if (!addr)
		return KSFT_FAIL;
	fd = map_file_open(addr, 1);
	if (fd < 0) {
		snprintf(reason, sizeof(reason),
			 "can't open /proc/self/map_files: %s",
			 strerror(errno));
		skip_reason = reason;
		shmdt(addr);
		return KSFT_SKIP;
	}
	close(fd);
	shmdt(addr);

	for (i = 0; i < ARRAY_SIZE(resizes); i++) {
		if (pins_run_in_new_cgroup(root, "pins_mlock_shm_resized",
					   PINS_MAX, child_shm_unlock_resized,
					   (void *)&resizes[i]) != KSFT_PASS) {
			ksft_print_msg("case %zu: resized to %ld pages, then %s: failed\n",
				       i, resizes[i].pages,
				       resizes[i].destroy ? "destroyed" :
				       "SHM_UNLOCK");
			ret = KSFT_FAIL;
		}
	}

	return ret;
}

/* The "Unevictable:" of /proc/meminfo in pages, or -1. */
static long unevictable_pages(void)
{
	char buf[4096], *line, *end;
	long long kb;

	if (read_text("/proc/meminfo", buf, sizeof(buf)) < 0) {
		ksft_print_msg("can't read /proc/meminfo\n");
		return -1;
	}

	line = strstr(buf, "\nUnevictable:");
	if (!line) {
		ksft_print_msg("no Unevictable: in /proc/meminfo\n");
		return -1;
	}
	line += strlen("\nUnevictable:");
	kb = strtoll(line, &end, 10);
	if (end == line) {
		ksft_print_msg("can't parse Unevictable: of /proc/meminfo\n");
		return -1;
	}

	return kb * 1024 / page_size;
}

/* Pages of the segment of test_shm_lock_refused_changes_nothing(). */
#define REFUSED_PAGES	256
/* How much "Unevictable:" may grow by anyway. */
#define REFUSED_SLACK	32

/*
 * Child of test_shm_lock_refused_changes_nothing(), in a cgroup whose
 * pins.max is 8 pages: SHM_LOCK of the segment is refused and leaves it
 * evictable.
 */
static int child_shm_lock_refused(const char *cgroup, void *arg)
{
	int id = *(int *)arg;
	long before, after;
	char *addr;

	before = unevictable_pages();
	if (before < 0)
		return EXIT_FAILURE;

	if (shm_cmd(id, SHM_LOCK, "SHM_LOCK", ENOMEM) ||
	    shm_locked_expect(id, false) || cur_vmlck_expect(cgroup, 0, 0) ||
	    pins_events_expect(cgroup, 1, 1))
		return EXIT_FAILURE;

	addr = shm_attach(id);
	if (!addr)
		return EXIT_FAILURE;
	touch_pages(addr, 0, REFUSED_PAGES);
	after = unevictable_pages();
	shmdt(addr);
	if (after < 0)
		return EXIT_FAILURE;

	if (after - before >= REFUSED_SLACK) {
		ksft_print_msg("Unevictable: grew by %ld pages over %d pages SHM_LOCK refused\n",
			       after - before, REFUSED_PAGES);
		return EXIT_FAILURE;
	}

	if (shm_locked_expect(id, false) || cur_vmlck_expect(cgroup, 0, 0))
		return EXIT_FAILURE;

	return EXIT_SUCCESS;
}

/*
 * A refused SHM_LOCK changes nothing: the segment isn't locked, nothing is
 * charged, and its pages stay evictable.
 */
static int test_shm_lock_refused_changes_nothing(const char *root)
{
	static const long npages[] = { REFUSED_PAGES };
	int ret, id;

	ret = shm_prepare(root, &id, npages, 1);
	if (ret != KSFT_PASS)
		return ret;

	ret = run_in_new_cgroup(root, "pins_mlock_shm_refused", 8,
				child_shm_lock_refused, &id);
	shm_remove(&id);

	return ret;
}

/* The memfd_secret() file of test_secretmem_mcl_future(), and the limit. */
#define SECRET_FUTURE_SIZE	(512 * 1024)
#define SECRET_FUTURE_LIMIT	(768 * 1024)

/*
 * Child of test_secretmem_mcl_future(): after mlockall(MCL_FUTURE), map a
 * memfd_secret() file of 512K and write to every page of it. Its vma is
 * locked too, which vanilla counts in VmLck as well as in the user's
 * count of secret memory, but it is one page locked once: charged once.
 * Nothing here may allocate memory after mlockall(), which would lock it.
 */
static int child_secretmem_mcl_future(const char *cgroup, void *arg)
{
	long npages = SECRET_FUTURE_SIZE / page_size, i;
	const bool *rlimit = arg;
	const char *side = *rlimit ? "rlimit side" : "cgroup side";
	int ret = EXIT_FAILURE, fd = -1;
	char *buf = NULL;

	/* The user's count of secret memory ignores CAP_IPC_LOCK. */
	if (*rlimit) {
		if (pins_set_memlock(SECRET_FUTURE_LIMIT / page_size) ||
		    pins_become_nobody())
			return EXIT_FAILURE;
	} else if (pins_set_memlock(PINS_MAX)) {
		return EXIT_FAILURE;
	}

	if (expect_errno("mlockall(MCL_FUTURE)", mlockall(MCL_FUTURE), 0))
		return EXIT_FAILURE;

	fd = secret_fd();
	if (fd < 0) {
		ksft_print_msg("memfd_secret: %s\n", strerror(errno));
		goto out;
	}
	if (ftruncate(fd, SECRET_FUTURE_SIZE)) {
		ksft_print_msg("ftruncate: %s\n", strerror(errno));
		goto out;
	}
	buf = mmap(NULL, SECRET_FUTURE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		ksft_print_msg("%s: mmap memfd_secret: %s\n", side,
			       strerror(errno));
		buf = NULL;
		goto out;
	}

	for (i = 0; i < npages; i++) {
		if (touch_sigbus(page_at(buf, i))) {
			ksft_print_msg("%s: SIGBUS at page %ld/%ld, pins.current %ld, VmLck %ld\n",
				       side, i, npages, cur_pages(cgroup),
				       vmlck_pages(0));
			goto out;
		}
	}

	if (vmlck_expect(0, npages))
		goto out;
	if (cur_expect(cgroup, npages)) {
		ksft_print_msg("%s: a locked secretmem page must be charged once\n",
			       side);
		goto out;
	}
	if (sources_expect(cgroup, NULL, 0, 0, npages)) {
		ksft_print_msg("%s: a locked secretmem page is secretmem\n",
			       side);
		goto out;
	}

	ret = EXIT_SUCCESS;
out:
	munlockall();
	buf_unmap(buf, npages);
	if (fd >= 0)
		close(fd);

	return ret;
}

/*
 * After mlockall(MCL_FUTURE), a memfd_secret() mapping of 512K fits in
 * 768K whether RLIMIT_MEMLOCK (as uid 65534, in an unlimited cgroup) or
 * pins.max (as root) is the limit, and is charged 512K.
 */
static int test_secretmem_mcl_future(const char *root)
{
	int ret = secret_prepare(root);
	bool rlimit;

	if (ret != KSFT_PASS)
		return ret;

	rlimit = true;
	ret = run_in_new_cgroup(root, "pins_mlock_secret_future", PINS_MAX,
				child_secretmem_mcl_future, &rlimit);

	rlimit = false;
	if (run_in_new_cgroup(root, "pins_mlock_secret_future",
			      SECRET_FUTURE_LIMIT / page_size,
			      child_secretmem_mcl_future, &rlimit) != KSFT_PASS)
		ret = KSFT_FAIL;

	return ret;
}

#define T(x) { x, #x }
static const struct pins_test tests[] = {
	T(test_mlock_munlock),
	T(test_mlock2_onfault),
	T(test_map_locked),
	T(test_stat_mlock),
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
	T(test_mremap_shapes),
	T(test_stack_limit),
	T(test_ancestor_limit),
	T(test_rlimit_lesser),
	T(test_cgroup_lesser),
	T(test_cap_ipc_lock_bypasses_rlimit_only),
	T(test_migration),
	T(test_migration_root),
	T(test_root_exact),
	T(test_migration_vfork),
	T(test_shared_mm_clone_vm),
	T(test_clone_vfork_own_mm),
	T(test_shared_mm_owner_exits),
	T(test_shm_lock),
	T(test_stat_shm),
	T(test_shm_limit),
	T(test_shm_outlives_locker),
	T(test_shm_mlock_twice),
	T(test_shm_unlock_resized),
	T(test_shm_lock_refused_changes_nothing),
	T(test_secretmem),
	T(test_stat_secretmem),
	T(test_secretmem_limit),
	T(test_secretmem_mcl_future),
};

static const struct pins_test rlimit_tests[] = {
	T(test_mremap_rlimit),
};

#undef T

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--rlimit-only"))
		return pins_run_tests(rlimit_tests, ARRAY_SIZE(rlimit_tests));

	return pins_run_tests(tests, ARRAY_SIZE(tests));
}
