// SPDX-License-Identifier: GPL-2.0
/*
 * pins_bench: cost of every charge path of the pins cgroup controller.
 *
 * Times each operation over N iterations with clock_gettime(CLOCK_MONOTONIC)
 * after a warm-up, R times, and prints the median and the minimum of the R
 * repetitions per operation:
 *
 *	op=<name> layout=<layout> iters=N ns_per_op=X min=Y
 *
 * or, for an operation this kernel or this boot cannot run,
 *
 *	op=<name> layout=<layout> skipped=<reason>
 *
 * Meant to run under QEMU TCG with -icount shift=0, where one guest
 * nanosecond is one executed guest instruction: X is then the number of
 * instructions an operation executes, and two boots of the same kernel
 * print the same numbers. Each operation is a pair (lock and unlock, pin
 * and unpin, map and unmap) so that nothing accumulates between
 * iterations, and none may wait: time the guest spends idle is not
 * instructions (QEMU's -icount sleep=off skips it to the next timer
 * deadline), which is why perf_mmap_1 maps a fresh event each time.
 *
 * The timer tick (and whatever it wakes) lands inside some repetitions and
 * adds its own instructions to them. Every repetition is kept well below a
 * tick period (4M instructions at HZ=250), so that most repetitions see no
 * interrupt, and their median is the number of a repetition none hit. The
 * minimum is not: an operation's instructions are not quite the same in
 * every repetition (a slab or per-CPU cache refilled in one of them), and
 * which repetition is the fastest varies with the layout by up to 1 %.
 *
 * Layouts, set up and removed by the program, which moves itself into the
 * leaf cgroup of each before it opens the files and rings it charges
 * through (a vm_account is bound to its opener's cgroup):
 *	root	the root cgroup
 *	d1	/pins_bench with pins.max 1G
 *	d8	8 nested levels, pins.max 1G at each
 *	d1max	/pins_bench with pins.max left at max
 *	rootpins the root cgroup again, with "+pins" in its subtree_control
 *		(the controller in use on the host, not by this task)
 * "+pins" is written to the subtree_control of the root and of every
 * inner level when the kernel has the controller; without it (vanilla,
 * CONFIG_CGROUP_PINS=n) the same nesting is built with no controller
 * enabled, as a control. No other controller is enabled on any kernel.
 *
 * Must run as root. Build (as `make bench` does):
 *	gcc -static -O2 -Wall -Werror -isystem <uapi headers> \
 *		-o <program> <this file> -luring
 *
 * Usage: pins_bench [-r REPS] [-s SCALE] [-l layout,...] [-o op,...] [-v]
 * (-s multiplies every op's iteration count, -v prints every repetition,
 * the first being the warm-up.)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/errqueue.h>
#include <linux/ioctl.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY	60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY	0x4000000
#endif

/*
 * The interface of the vm_account test driver, as in the series'
 * lib/test_vm_account_uapi.h, which is not an installed uapi header.
 */
struct vm_account_test_pin {
	__u64 addr;
	__u64 npages;
	__u64 id;
};

#define VM_ACCOUNT_TEST_PIN	_IOWR('V', 1, struct vm_account_test_pin)
#define VM_ACCOUNT_TEST_UNPIN	_IOW('V', 2, __u64)
#define VMAT_DEV		"/dev/vm_account_test"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_TOP		CG_ROOT "/pins_bench"
#define MAX_DEPTH	8
#define BUF_PAGES	4096
#define SHM_SIZE	(64 << 10)
#define MAX_REPS	1000

static long page_size;
static char *buf;		/* BUF_PAGES pre-faulted pages */
static int reps = 25;
static int scale = 1;
static bool verbose;		/* print every repetition */
static bool has_pins;		/* the kernel has the pins controller */
static bool root_pins_added;	/* we wrote +pins to the root */

/* Per-layout state the ops charge through, opened inside the layout. */
static struct {
	int shm_id;
	char *shm_addr;
	int secret_fd;		/* -errno if memfd_secret failed */
	int vmat_fd;		/* -errno if the driver could not be opened */
	bool ring_ok;
	int ring_err;
	struct io_uring ring;
	int zc_tx, zc_rx;	/* connected UDP pair over loopback */
	char zc_skip[64];	/* why zerocopy_1 cannot run, or "" */
	int perf_fd;
	char perf_skip[64];	/* why perf_mmap_1 cannot run, or "" */
} st;

/* perf_mmap_1's events, one per call: see perf_pool_open() */
static int *perf_pool;
static int perf_pool_size, perf_pool_next;

/* The page mlock_1_held keeps locked: the last of buf. */
#define HELD_PAGE	(buf + (BUF_PAGES - 1) * page_size)

static void die(const char *what)
{
	fprintf(stderr, "pins_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Writes @val to @path; returns 0 or -errno. */
static int write_file(const char *path, const char *val)
{
	int fd, ret = 0;
	ssize_t len = strlen(val);

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static void write_or_die(const char *path, const char *val)
{
	int ret = write_file(path, val);

	if (ret) {
		errno = -ret;
		fprintf(stderr, "pins_bench: write '%s' to %s: %s\n", val, path,
			strerror(errno));
		exit(1);
	}
}

static bool root_has_controller(const char *name)
{
	char line[4096], *tok, *save;
	FILE *f = fopen(CG_ROOT "/cgroup.controllers", "r");
	bool found = false;

	if (!f)
		die(CG_ROOT "/cgroup.controllers");
	if (fgets(line, sizeof(line), f)) {
		for (tok = strtok_r(line, "\n ", &save); tok;
		     tok = strtok_r(NULL, "\n ", &save))
			if (!strcmp(tok, name))
				found = true;
	}
	fclose(f);
	return found;
}

static bool root_pins_enabled(void)
{
	char line[4096];
	FILE *f = fopen(CG_ROOT "/cgroup.subtree_control", "r");
	bool found = false;

	if (!f)
		die(CG_ROOT "/cgroup.subtree_control");
	if (fgets(line, sizeof(line), f))
		found = !!strstr(line, "pins");
	fclose(f);
	return found;
}

/* The directory of level @level (1-based) of the nest. */
static void level_path(char *path, size_t size, int level)
{
	int n = snprintf(path, size, "%s", CG_TOP);

	for (int i = 2; i <= level; i++)
		n += snprintf(path + n, size - n, "/l%d", i);
}

/*
 * Builds @depth nested levels under the root; with the controller, "+pins"
 * in the subtree_control of the root and of every inner level, and @max
 * (if not NULL) in every level's pins.max. Moves the calling process into
 * the leaf.
 */
static void layout_enter(int depth, const char *max, bool root_pins)
{
	char path[PATH_MAX], file[PATH_MAX + 32];

	if (!depth && !root_pins)
		return;
	if (has_pins && !root_pins_enabled()) {
		write_or_die(CG_ROOT "/cgroup.subtree_control", "+pins");
		root_pins_added = true;
	}
	if (!depth)
		return;
	for (int level = 1; level <= depth; level++) {
		level_path(path, sizeof(path), level);
		if (mkdir(path, 0755) && errno != EEXIST)
			die(path);
		if (has_pins && max) {
			snprintf(file, sizeof(file), "%s/pins.max", path);
			write_or_die(file, max);
		}
		if (has_pins && level < depth) {
			snprintf(file, sizeof(file), "%s/cgroup.subtree_control",
				 path);
			write_or_die(file, "+pins");
		}
	}
	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	write_or_die(file, "0");
}

/* Moves the process back to the root and removes the nest. */
static void layout_leave(int depth)
{
	char path[PATH_MAX];

	if (depth)
		write_or_die(CG_ROOT "/cgroup.procs", "0");
	for (int level = depth; level >= 1; level--) {
		level_path(path, sizeof(path), level);
		if (rmdir(path))
			die(path);
	}
	if (root_pins_added) {
		write_or_die(CG_ROOT "/cgroup.subtree_control", "-pins");
		root_pins_added = false;
	}
}

/* The value of @file in level @level of the nest (the root if 0), or -1. */
static long read_level(int level, const char *file)
{
	char path[PATH_MAX], name[PATH_MAX + 32];
	long val = -1;
	FILE *f;

	if (level)
		level_path(path, sizeof(path), level);
	else
		snprintf(path, sizeof(path), "%s", CG_ROOT);
	snprintf(name, sizeof(name), "%s/%s", path, file);
	f = fopen(name, "r");
	if (f) {
		if (fscanf(f, "%ld", &val) != 1)
			val = -1;
		fclose(f);
	}
	return val;
}

/*
 * Checks that the layout is what it says: with one page locked, the
 * pins.current of the leaf, of the top level and of the root.
 */
static void layout_check(const char *name, int depth)
{
	char path[PATH_MAX], file[PATH_MAX + 32], max[32] = "-";
	FILE *f;

	if (!has_pins)
		return;
	if (depth) {
		level_path(path, sizeof(path), depth);
		snprintf(file, sizeof(file), "%s/pins.max", path);
		f = fopen(file, "r");
		if (!f || !fgets(max, sizeof(max), f))
			die(file);
		fclose(f);
		max[strcspn(max, "\n")] = '\0';
	}
	if (mlock(buf, page_size))
		die("mlock");
	printf("# layout=%s depth=%d leaf pins.max=%s; ", name, depth, max);
	printf("one page locked: pins.current leaf=%ld top=%ld root=%ld\n",
	       depth ? read_level(depth, "pins.current") : -1,
	       depth ? read_level(1, "pins.current") : -1,
	       read_level(0, "pins.current"));
	if (munlock(buf, page_size))
		die("munlock");
}

/*
 * A UDP socket connected over loopback to another, with SO_ZEROCOPY set:
 * each MSG_ZEROCOPY send pins the page it sends until the loopback receive
 * path copies it (a local receiver gets a deferred copy), and reports the
 * completion on the sender's error queue.
 */
static void zerocopy_open(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(addr);
	const char *what;
	int one = 1;

	st.zc_skip[0] = '\0';
	st.zc_tx = socket(AF_INET, SOCK_DGRAM, 0);
	st.zc_rx = socket(AF_INET, SOCK_DGRAM, 0);
	what = "socket";
	if (st.zc_tx < 0 || st.zc_rx < 0)
		goto fail;
	what = "bind";
	if (bind(st.zc_rx, (struct sockaddr *)&addr, sizeof(addr)) ||
	    getsockname(st.zc_rx, (struct sockaddr *)&addr, &len))
		goto fail;
	what = "connect";
	if (connect(st.zc_tx, (struct sockaddr *)&addr, sizeof(addr)))
		goto fail;
	what = "SO_ZEROCOPY";
	if (setsockopt(st.zc_tx, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
		goto fail;
	return;
fail:
	snprintf(st.zc_skip, sizeof(st.zc_skip), "%s:%s", what,
		 strerrorname_np(errno));
	if (st.zc_tx >= 0)
		close(st.zc_tx);
	if (st.zc_rx >= 0)
		close(st.zc_rx);
	st.zc_tx = -1;
	st.zc_rx = -1;
}

/* A software event of this task, for perf_mmap_1. */
static int perf_event_fd(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.disabled = 1,
	};

	return syscall(__NR_perf_event_open, &attr, 0, -1, -1,
		       PERF_FLAG_FD_CLOEXEC);
}

/* Whether this kernel lets us open one, once per layout. */
static void perf_open(void)
{
	st.perf_skip[0] = '\0';
	st.perf_fd = perf_event_fd();
	if (st.perf_fd < 0)
		snprintf(st.perf_skip, sizeof(st.perf_skip),
			 "perf_event_open:%s", strerrorname_np(errno));
}

/* Sets up what the ops charge through, from inside the layout's leaf. */
static void state_open(void)
{
	st.shm_id = shmget(IPC_PRIVATE, SHM_SIZE, IPC_CREAT | 0600);
	if (st.shm_id < 0)
		die("shmget");
	st.shm_addr = shmat(st.shm_id, NULL, 0);
	if (st.shm_addr == (void *)-1)
		die("shmat");
	memset(st.shm_addr, 1, SHM_SIZE);

	st.secret_fd = syscall(__NR_memfd_secret, 0);
	if (st.secret_fd < 0) {
		st.secret_fd = -errno;
	} else if (ftruncate(st.secret_fd, page_size)) {
		close(st.secret_fd);
		st.secret_fd = -errno;
	}

	st.vmat_fd = open(VMAT_DEV, O_RDWR);
	if (st.vmat_fd < 0)
		st.vmat_fd = -errno;

	st.ring_err = -io_uring_queue_init(4, &st.ring, 0);
	st.ring_ok = !st.ring_err;

	zerocopy_open();
	perf_open();
}

static void state_close(void)
{
	shmdt(st.shm_addr);
	shmctl(st.shm_id, IPC_RMID, NULL);
	if (st.secret_fd >= 0)
		close(st.secret_fd);
	if (st.vmat_fd >= 0)
		close(st.vmat_fd);
	if (st.ring_ok)
		io_uring_queue_exit(&st.ring);
	if (st.zc_tx >= 0) {
		close(st.zc_tx);
		close(st.zc_rx);
	}
	if (st.perf_fd >= 0)
		close(st.perf_fd);
}

/* The ops: each returns 0, or -errno on failure (the run is then void). */

static int op_mlock(long npages)
{
	size_t len = npages * page_size;

	if (mlock(buf, len))
		return -errno;
	if (munlock(buf, len))
		return -errno;
	return 0;
}

static int op_mlock_1(void) { return op_mlock(1); }
static int op_mlock_16(void) { return op_mlock(16); }
static int op_mlock_64(void) { return op_mlock(64); }
static int op_mlock_256(void) { return op_mlock(256); }
static int op_mlock_4096(void) { return op_mlock(4096); }

/* mlock_1_held: the same, while another page of the mm stays locked. */
static int held_lock(int calls)
{
	return mlock(HELD_PAGE, page_size) ? -errno : 0;
}

static void held_unlock(void)
{
	if (munlock(HELD_PAGE, page_size))
		die("munlock");
}

static int op_mmap_locked(void)
{
	void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE,
		       -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	if (munmap(p, page_size))
		return -errno;
	return 0;
}

static int op_shm_lock(void)
{
	if (shmctl(st.shm_id, SHM_LOCK, NULL))
		return -errno;
	if (shmctl(st.shm_id, SHM_UNLOCK, NULL))
		return -errno;
	return 0;
}

static int op_secretmem(void)
{
	/* munmap() gets p: the store cannot be left out */
	char *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       st.secret_fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	p[0] = 1;
	if (munmap(p, page_size))
		return -errno;
	return 0;
}

/*
 * A fresh secret memory file each time: this kernel charges secretmem per
 * page when the fault allocates it and uncharges when the file is released,
 * so only this form goes through the charge path on every iteration.
 */
static int op_secretmem_fd(void)
{
	char *p;
	int fd, ret = 0;

	fd = syscall(__NR_memfd_secret, 0);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, page_size)) {
		ret = -errno;
		goto out;
	}
	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	p[0] = 1;
	if (munmap(p, page_size))
		ret = -errno;
out:
	close(fd);
	return ret;
}

static int op_io_uring(void)
{
	struct iovec iov = { .iov_base = buf, .iov_len = page_size };
	int ret;

	ret = io_uring_register_buffers(&st.ring, &iov, 1);
	if (ret)
		return ret;
	return io_uring_unregister_buffers(&st.ring);
}

static int op_zerocopy(void)
{
	static char rx[65536];
	char control[128];
	struct msghdr msg = {
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct sock_extended_err *ee;
	struct cmsghdr *cm;

	if (send(st.zc_tx, buf, page_size, MSG_ZEROCOPY) != page_size)
		return -errno;
	if (recv(st.zc_rx, rx, sizeof(rx), MSG_DONTWAIT) != page_size)
		return -errno;
	/* the completion, which the receive's copy has queued by now */
	if (recvmsg(st.zc_tx, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm)
		return -ENOMSG;
	ee = (struct sock_extended_err *)CMSG_DATA(cm);
	if (ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee->ee_errno)
		return -EPROTO;
	return 0;
}

/*
 * perf_mmap_1 maps each event once: once an event's buffer is unmapped,
 * mapping one again on it waits for an RCU grace period first
 * (ring_buffer_attach()), which under -icount sleep=off shows up as the
 * 4 ms ticks the guest idles through, not as instructions. So every call
 * maps a fresh event, of @calls opened here beforehand (not timed).
 */
static void perf_pool_close(void)
{
	for (int i = 0; i < perf_pool_size; i++)
		close(perf_pool[i]);
	free(perf_pool);
	perf_pool = NULL;
	perf_pool_size = 0;
}

static int perf_pool_open(int calls)
{
	perf_pool = calloc(calls, sizeof(*perf_pool));
	if (!perf_pool)
		return -ENOMEM;
	for (perf_pool_size = 0; perf_pool_size < calls; perf_pool_size++) {
		perf_pool[perf_pool_size] = perf_event_fd();
		if (perf_pool[perf_pool_size] < 0) {
			int ret = -errno;

			perf_pool_close();
			return ret;
		}
	}
	perf_pool_next = 0;
	return 0;
}

static int op_perf_mmap(void)
{
	size_t len = 2 * page_size;	/* the header page and one data page */
	void *p;

	if (perf_pool_next == perf_pool_size)
		return -ENOSPC;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 perf_pool[perf_pool_next++], 0);
	if (p == MAP_FAILED)
		return -errno;
	if (munmap(p, len))
		return -errno;
	return 0;
}

static int op_vm_account(void)
{
	struct vm_account_test_pin pin = {
		.addr = (unsigned long)buf,
		.npages = 1,
	};

	if (ioctl(st.vmat_fd, VM_ACCOUNT_TEST_PIN, &pin))
		return -errno;
	if (ioctl(st.vmat_fd, VM_ACCOUNT_TEST_UNPIN, &pin.id))
		return -errno;
	return 0;
}

/*
 * Why an op cannot run in this boot, or NULL. Written to @reason, which
 * is returned.
 */
static const char *skip_secretmem(char *reason, size_t size)
{
	if (st.secret_fd >= 0)
		return NULL;
	snprintf(reason, size, "memfd_secret:%s", strerrorname_np(-st.secret_fd));
	return reason;
}

static const char *skip_io_uring(char *reason, size_t size)
{
	if (st.ring_ok)
		return NULL;
	snprintf(reason, size, "io_uring_setup:%s", strerrorname_np(st.ring_err));
	return reason;
}

static const char *skip_zerocopy(char *reason, size_t size)
{
	if (!st.zc_skip[0])
		return NULL;
	snprintf(reason, size, "%s", st.zc_skip);
	return reason;
}

static const char *skip_perf(char *reason, size_t size)
{
	if (!st.perf_skip[0])
		return NULL;
	snprintf(reason, size, "%s", st.perf_skip);
	return reason;
}

static const char *skip_vm_account(char *reason, size_t size)
{
	if (st.vmat_fd >= 0)
		return NULL;
	snprintf(reason, size, "no_test_driver(" VMAT_DEV ":%s)",
		 strerrorname_np(-st.vmat_fd));
	return reason;
}

/*
 * @iters is chosen so that one repetition stays near or below 1M
 * instructions on the test kernels: a quarter of a tick period at HZ=250,
 * so that most repetitions see no interrupt.
 */
static const struct bench_op {
	const char *name;
	int (*fn)(void);
	int iters;
	const char *(*skip)(char *reason, size_t size);
	int (*prepare)(int calls);	/* before the repetitions, not timed */
	void (*finish)(void);	/* after them */
} ops[] = {
	{ "mlock_1",		op_mlock_1,	64 },
	{ "mlock_1_held",	op_mlock_1,	64, NULL, held_lock, held_unlock },
	{ "mlock_16",		op_mlock_16,	16 },
	{ "mlock_64",		op_mlock_64,	8 },
	{ "mlock_256",		op_mlock_256,	2 },
	{ "mlock_4096",		op_mlock_4096,	1 },
	{ "mmap_locked_1",	op_mmap_locked,	32 },
	{ "shm_lock_64k",	op_shm_lock,	32 },
	{ "secretmem_1",	op_secretmem,	32, skip_secretmem },
	{ "secretmem_fd_1",	op_secretmem_fd, 16, skip_secretmem },
	{ "io_uring_reg_1",	op_io_uring,	32, skip_io_uring },
	{ "zerocopy_1",		op_zerocopy,	32, skip_zerocopy },
	{ "perf_mmap_1",	op_perf_mmap,	32, skip_perf,
				perf_pool_open, perf_pool_close },
	{ "vm_account_pin_1",	op_vm_account,	32, skip_vm_account },
};

static const struct layout {
	const char *name;
	int depth;
	const char *max;
	bool root_pins;		/* only for depth 0: "+pins" in the root */
} layouts[] = {
	{ "root",	0, NULL },
	{ "d1",		1, "1G" },
	{ "d8",		8, "1G" },
	{ "d1max",	1, NULL },
	{ "rootpins",	0, NULL, true },
};

/*
 * What an interrupt costs the code it lands in: times SPIN_PIECES pieces of
 * a user-space loop that runs a fixed number of instructions. Under
 * -icount every piece takes the same time unless an interrupt (the tick)
 * hit it; the excess of those over the fastest piece is the interrupt's
 * cost, and their count gives the interval.
 */
#define SPIN_PIECES	2000
#define SPIN_LOOPS	10000

static void tick_probe(void)
{
	static double piece[SPIN_PIECES];
	double t0, min = 0, max = 0, excess = 0, total;
	long hit = 0;

	t0 = now_ns();
	for (int p = 0; p < SPIN_PIECES; p++) {
		double t = now_ns();

		for (int i = 0; i < SPIN_LOOPS; i++)
			asm volatile("" ::: "memory");
		piece[p] = now_ns() - t;
		if (!p || piece[p] < min)
			min = piece[p];
	}
	total = now_ns() - t0;
	for (int p = 0; p < SPIN_PIECES; p++) {
		double extra = piece[p] - min;

		/* 1 ns: TSC to ns rounding, not an interrupt */
		if (extra > 1) {
			hit++;
			excess += extra;
			if (extra > max)
				max = extra;
		}
	}
	printf("# ticks: %.0f ns total, piece %.0f ns, %ld pieces hit, ",
	       total, min, hit);
	printf("interval %.0f ns, cost avg %.0f max %.0f ns, overhead %.3f %%\n",
	       hit ? total / hit : 0, hit ? excess / hit : 0, max,
	       excess / total * 100);
}

/* Comma-separated @list contains @name, or @list is NULL. */
static bool selected(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	if (!list)
		return true;
	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return true;
		p += len;
	}
	return false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run_op(const struct bench_op *op, const char *layout)
{
	static double rep_ns[MAX_REPS];
	int iters = op->iters * scale, ret = 0, r;
	char reason[128];
	const char *why = op->skip ? op->skip(reason, sizeof(reason)) : NULL;
	double median;

	if (why) {
		printf("op=%s layout=%s skipped=%s\n", op->name, layout, why);
		return;
	}
	if (op->prepare) {
		ret = op->prepare(iters * (reps + 1));
		if (ret) {
			printf("op=%s layout=%s skipped=prepare:%s\n", op->name,
			       layout, strerrorname_np(-ret));
			return;
		}
	}
	/* Repetition 0 is the warm-up. */
	for (r = 0; r <= reps && !ret; r++) {
		double t0, t1;

		t0 = now_ns();
		for (int i = 0; i < iters && !ret; i++)
			ret = op->fn();
		t1 = now_ns();
		if (r)
			rep_ns[r - 1] = (t1 - t0) / iters;
		if (verbose)
			printf("%s%.1f", r ? " " : "# reps: ", (t1 - t0) / iters);
	}
	if (verbose)
		printf("\n");
	if (op->finish)
		op->finish();
	if (ret) {
		printf("op=%s layout=%s skipped=failed:%s\n", op->name, layout,
		       strerrorname_np(-ret));
		return;
	}
	qsort(rep_ns, reps, sizeof(rep_ns[0]), cmp_double);
	median = reps % 2 ? rep_ns[reps / 2] :
		 (rep_ns[reps / 2 - 1] + rep_ns[reps / 2]) / 2;
	printf("op=%s layout=%s iters=%d ns_per_op=%.1f min=%.1f\n", op->name,
	       layout, iters, median, rep_ns[0]);
	fflush(stdout);
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: pins_bench [-r REPS] [-s SCALE] [-l layout,...] [-o op,...] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct rlimit nofile, old_nofile;
	const char *only_layouts = NULL, *only_ops = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "r:s:l:o:v")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 's':
			scale = atoi(optarg);
			break;
		case 'l':
			only_layouts = optarg;
			break;
		case 'o':
			only_ops = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			print_usage();
		}
	}
	if (reps < 1 || reps > MAX_REPS || scale < 1 || optind != argc)
		print_usage();

	page_size = sysconf(_SC_PAGESIZE);
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		die("setrlimit(RLIMIT_MEMLOCK)");
	/* perf_mmap_1's events, all open at once */
	nofile.rlim_cur = 64 + 32L * scale * (reps + 1);
	nofile.rlim_max = nofile.rlim_cur;
	if (getrlimit(RLIMIT_NOFILE, &old_nofile))
		die("getrlimit(RLIMIT_NOFILE)");
	if (old_nofile.rlim_cur < nofile.rlim_cur &&
	    setrlimit(RLIMIT_NOFILE, &nofile))
		die("setrlimit(RLIMIT_NOFILE)");
	buf = mmap(NULL, BUF_PAGES * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	memset(buf, 1, BUF_PAGES * page_size);

	has_pins = root_has_controller("pins");
	printf("# pins_bench pins_controller=%s reps=%d scale=%d\n",
	       has_pins ? "yes" : "no", reps, scale);

	tick_probe();
	for (size_t l = 0; l < ARRAY_SIZE(layouts); l++) {
		const struct layout *lay = &layouts[l];

		if (!selected(only_layouts, lay->name))
			continue;
		layout_enter(lay->depth, lay->max, lay->root_pins);
		layout_check(lay->name, lay->depth);
		state_open();
		for (size_t o = 0; o < ARRAY_SIZE(ops); o++)
			if (selected(only_ops, ops[o].name))
				run_op(&ops[o], lay->name);
		state_close();
		layout_leave(lay->depth);
	}
	return 0;
}
