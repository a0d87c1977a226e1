// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded randomized stress of every path that charges the "pins" cgroup
 * v2 controller, and the invariants the controller must keep under it.
 *
 * Worker processes, each with a few threads, pick random operations from
 * every charging path: mlock(), mlock2(MLOCK_ONFAULT), munlock(),
 * mlockall() in its flag combinations, munlockall(), mmap() with and
 * without MAP_LOCKED, mremap() of locked ranges in all its shapes (grow in
 * place, grow and move, shrink, MREMAP_FIXED, MREMAP_DONTUNMAP), munmap(),
 * brk() and stack growth under MCL_FUTURE (a MAP_GROWSDOWN mapping in a
 * forked child, a deep recursion in an exec()ed one), fork(), exec(),
 * exit, clone(CLONE_VM) and vfork() children that lock memory of their
 * own or of the mm they share and move themselves to another cgroup,
 * SHM_LOCK, SHM_UNLOCK and IPC_RMID, memfd_secret(), pins made through the
 * vm_account test driver and the pins_test debugfs hook, io_uring fixed
 * buffers, MSG_ZEROCOPY sends (corked or not) on UDP over loopback, AF_XDP
 * UMEMs and perf ring buffers; whatever the kernel lacks is left out and
 * said so. Half
 * of the workers drop CAP_IPC_LOCK and have an RLIMIT_MEMLOCK, so that the
 * rlimit and the cgroup refuse in turn. Meanwhile, threads of the main
 * process move the workers between sibling cgroups (and the main process
 * between two cgroups of its own), rewrite pins.max of the workers'
 * cgroups at random (below the usage and "max" included), and create and
 * remove cgroups, toggle +pins in cgroup.subtree_control and start
 * short-lived lockers in a subtree the workers are not in.
 *
 * The invariants:
 * - Two "fixed" cgroups hold workers that are never migrated, and nothing
 *   migrates into them: their pins.current never goes above the bound
 *   their pins.max allows, sampled all the time, and neither does their
 *   pins.peak, read through a file reset whenever pins.max changes. (A
 *   lowered pins.max leaves the usage above it until it drops: the bound
 *   is the highest pins.max since the usage was last seen under it.)
 * - At pauses, with every worker frozen (cgroup.freeze), pins.stat adds up
 *   to pins.current in every cgroup of the test and in the root, and a
 *   parent holds exactly what its children hold (at least as much while
 *   it has dying descendants).
 * - The main process holds a locked buffer, pins through the test driver
 *   and an io_uring buffer all along: its VmLck and VmPin, and the charges
 *   of its cgroups (the locked memory follows it when it moves, the pins
 *   stay where they were made) match them at every pause and at the end.
 * - No operation fails with an errno that the spec does not allow for it,
 *   and no worker or child dies unexpectedly.
 * - Once every worker is gone, every pins.current in the test's tree is 0
 *   and the root's is back to its value before the test.
 * - The kernel logged no warning, BUG or splat during the run.
 *
 * The seed is printed first, and a failure names the worker, thread and
 * operation with the seed of that thread: -s makes every thread take the
 * same random choices again. (Which charges a limit refuses depends on the
 * timing of the others, so a replay follows the failed run only as long
 * as their outcomes agree.) -n bounds the operations of all workers and
 * their children together, -t the time; the defaults take 20 to 40 s in a
 * 2-vCPU TCG guest. A watchdog (alarm()) kills the workers and fails the
 * test if the run does not end in time. The cgroups the test made are
 * removed and the root cgroup is left as it was, on failure too.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <linux/if_xdp.h>
#include <linux/limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "cgroup_util.h"
#include "pins_util.h"
#include "../../../../lib/test_vm_account_uapi.h"

#define VMAT_DEV		"/dev/vm_account_test"
#define HOOK_FILE		"/sys/kernel/debug/pins_test"

/* Defaults: about 30 s of a 2-vCPU TCG guest with the plain kernel. */
#define DEF_OPS			120000
#define DEF_SECONDS		40
#define DEF_WORKERS		4
#define DEF_THREADS		3

#define MAX_WORKERS		16
#define MAX_THREADS		8
#define NR_FIXED		2	/* fixed cgroups, one worker each */
#define NR_MIG			3	/* siblings the others move between */
#define NR_EXTRA		2	/* siblings made and removed on the way */
#define NR_CHURN		3	/* cgroups of the churn subtree ... */
#define NR_CHURN_SUB		2	/* ... and children of each */
#define NR_LOCKERS		2	/* lockers alive in the churn subtree */

/* Per thread of a worker. */
#define NREG			6	/* anonymous regions */
#define REG_PAGES		32	/* the most pages a new region has */
#define NSECRET			2	/* memfd_secret() files */
#define NSHM			2	/* SysV shm segments */
#define NPINS			4	/* pins through the test driver */
#define ZC_BYTES		(60 * 1024)	/* what a UDP datagram takes */
#define PERF_ORDER		5	/* perf buffers: 1 + 2^(0..5) pages */
#define SMALL_STACK		(64 * 1024)
#define THREAD_STACK		(256 * 1024)

/* The SysV keys of the segments: worker, thread, slot. */
#define SHM_KEY_BASE		0x50537400
#define SHM_KEY(w, t, k)	(SHM_KEY_BASE + ((w) * MAX_THREADS + (t)) * NSHM + (k))
#define NR_SHM_KEYS		(MAX_WORKERS * MAX_THREADS * NSHM)

/* How long to give the kernel to return asynchronous charges. */
#define SETTLE_MS		5000
/* Pause every this long to check pins.stat against pins.current. */
#define PAUSE_MS		1500

/* Exit status of a child whose failure is already noted. */
#define EXIT_NOTED		3

/* A set of errnos: those below 63 each in its bit, ENOBUFS in bit 63. */
#define ALLOW(e)		(1ULL << err_bit(e))
#define LIMIT_INF		LLONG_MAX

enum op {
	OP_MLOCK, OP_MLOCK2, OP_MUNLOCK, OP_MLOCKALL, OP_MUNLOCKALL,
	OP_MMAP, OP_MAP_LOCKED, OP_MUNMAP,
	OP_MREMAP_GROW, OP_MREMAP_MOVE, OP_MREMAP_SHRINK, OP_MREMAP_FIXED,
	OP_MREMAP_DONTUNMAP,
	OP_BRK, OP_STACK, OP_FORK, OP_EXEC, OP_EXIT, OP_CLONE_VM, OP_VFORK,
	OP_SHM_LOCK, OP_SHM_UNLOCK, OP_SHM_RMID,
	OP_SECRET, OP_SECRET_CLOSE, OP_PIN, OP_UNPIN,
	OP_URING_REG, OP_URING_UNREG, OP_HOOK, OP_ZEROCOPY, OP_XDP, OP_PERF,
	/* Not picked by workers: what the main process's threads do. */
	OP_MIGRATE, OP_SET_MAX, OP_MKDIR, OP_RMDIR, OP_SUBTREE, OP_LOCKER,
	NR_OPS
};

static const struct {
	const char *name;
	int weight;		/* how often a worker's thread picks it */
} op_info[NR_OPS] = {
	[OP_MLOCK]		= { "mlock",		70 },
	[OP_MLOCK2]		= { "mlock2",		35 },
	[OP_MUNLOCK]		= { "munlock",		60 },
	[OP_MLOCKALL]		= { "mlockall",		15 },
	[OP_MUNLOCKALL]		= { "munlockall",	25 },
	[OP_MMAP]		= { "mmap",		55 },
	[OP_MAP_LOCKED]		= { "mmap_locked",	55 },
	[OP_MUNMAP]		= { "munmap",		60 },
	[OP_MREMAP_GROW]	= { "mremap_grow",	30 },
	[OP_MREMAP_MOVE]	= { "mremap_move",	30 },
	[OP_MREMAP_SHRINK]	= { "mremap_shrink",	25 },
	[OP_MREMAP_FIXED]	= { "mremap_fixed",	30 },
	[OP_MREMAP_DONTUNMAP]	= { "mremap_dontunmap",	20 },
	[OP_BRK]		= { "brk",		25 },
	[OP_STACK]		= { "stack",		5 },
	[OP_FORK]		= { "fork",		6 },
	[OP_EXEC]		= { "exec",		5 },
	[OP_EXIT]		= { "exit",		1 },
	[OP_CLONE_VM]		= { "clone_vm",		8 },
	[OP_VFORK]		= { "vfork",		6 },
	[OP_SHM_LOCK]		= { "shm_lock",		25 },
	[OP_SHM_UNLOCK]		= { "shm_unlock",	20 },
	[OP_SHM_RMID]		= { "shm_rmid",		8 },
	[OP_SECRET]		= { "memfd_secret",	25 },
	[OP_SECRET_CLOSE]	= { "secret_close",	10 },
	[OP_PIN]		= { "driver_pin",	40 },
	[OP_UNPIN]		= { "driver_unpin",	35 },
	[OP_URING_REG]		= { "uring_register",	20 },
	[OP_URING_UNREG]	= { "uring_unregister",	15 },
	[OP_HOOK]		= { "hook_charge",	30 },
	[OP_ZEROCOPY]		= { "zerocopy",		20 },
	[OP_XDP]		= { "xdp_umem",		10 },
	[OP_PERF]		= { "perf_mmap",	10 },
	[OP_MIGRATE]		= { "migrate",		0 },
	[OP_SET_MAX]		= { "set_pins.max",	0 },
	[OP_MKDIR]		= { "mkdir",		0 },
	[OP_RMDIR]		= { "rmdir",		0 },
	[OP_SUBTREE]		= { "subtree_control",	0 },
	[OP_LOCKER]		= { "locker",		0 },
};

#define NR_ERRS		24
#define ERR_LEN		240

struct worker_slot {
	pid_t pid;		/* 0 while there is none */
	int gen;		/* how many were started in this slot before */
	bool fixed;		/* in a fixed cgroup, never migrated */
};

/*
 * What the main process shares with the workers and every child of
 * theirs: a memfd, mapped by each (exec()ed ones get its fd number).
 */
struct shared {
	unsigned long long seed;
	long long budget;		/* operations to do in all */
	long long ops;			/* operations started */
	int stop;			/* the workers must end */
	int nthreads;
	pid_t main_pid;
	bool have_secret, have_vmat, have_uring, have_hook;
	bool have_zc, have_xdp, have_perf;
	char exe[PATH_MAX];		/* this program, for exec() */
	char mig[NR_MIG][PATH_MAX];	/* where children move themselves */
	struct worker_slot w[MAX_WORKERS];
	long long done[NR_OPS], refused[NR_OPS], bad[NR_OPS];
	long long child_failures;	/* children that died */
	int nerrs;
	char errs[NR_ERRS][ERR_LEN];
};

static struct shared *sh;
static int sh_fd = -1;
static long ps;

/* Who is running, for the messages. */
struct ctx {
	int widx, gen, tidx;
	unsigned long long seed;	/* of this thread or child */
	long seq;			/* its operation being done */
	const char *who;
};

static __thread struct ctx *cur;

struct rng {
	unsigned long long s;
};

static unsigned long long mix(unsigned long long x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static unsigned long long rnd(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix(r->s);
}

/* A number from @lo to @hi, both included. */
static long rnd_in(struct rng *r, long lo, long hi)
{
	if (hi <= lo)
		return lo;
	return lo + (long)(rnd(r) % (unsigned long long)(hi - lo + 1));
}

static bool chance(struct rng *r, int percent)
{
	return (long)(rnd(r) % 100) < percent;
}

static void rng_init(struct rng *r, unsigned long long a,
		     unsigned long long b, unsigned long long c)
{
	r->s = mix(a ^ mix(b ^ mix(c)));
}

static void inc(long long *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Note a failure, with who and where; the main process prints them. */
static __printf(1, 2) void note(const char *fmt, ...)
{
	int i = __atomic_fetch_add(&sh->nerrs, 1, __ATOMIC_RELAXED);
	size_t len = 0;
	va_list ap;

	if (i >= NR_ERRS)
		return;

	if (cur)
		len = snprintf(sh->errs[i], ERR_LEN,
			       "worker %d gen %d %s %d op #%ld (seed %#llx): ",
			       cur->widx, cur->gen, cur->who, cur->tidx,
			       cur->seq, cur->seed);
	else
		len = snprintf(sh->errs[i], ERR_LEN, "main: ");
	va_start(ap, fmt);
	vsnprintf(sh->errs[i] + len, ERR_LEN - len, fmt, ap);
	va_end(ap);
}

static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "?";
}

/* The bit of @err in a set of errnos (ALLOW()), -1 if it has none. */
static int err_bit(int err)
{
	if (err == ENOBUFS)
		return 63;

	return err > 0 && err < 63 ? err : -1;
}

/*
 * Count the outcome of @op: it succeeded if @err is 0, it was refused if
 * @err is one of @allowed, anything else is a failure. Returns whether
 * @op failed.
 */
static bool tally(enum op op, int err, unsigned long long allowed)
{
	if (!err) {
		inc(&sh->done[op]);
		return false;
	}

	if (err_bit(err) >= 0 && (allowed & ALLOW(err))) {
		inc(&sh->refused[op]);
		return true;
	}

	inc(&sh->bad[op]);
	note("%s: unexpected errno %s (%d)", op_info[op].name, errname(err),
	     err);
	return true;
}

/* The errno of a call that returned @ret, -1 on failure. */
static int err_of(long ret)
{
	return ret == -1 ? errno : 0;
}

static char *pg(char *addr, long i)
{
	return addr + i * ps;
}

static void touch(char *addr, long npages)
{
	long i;

	for (i = 0; i < npages; i++)
		__atomic_store_n(pg(addr, i), 1, __ATOMIC_RELAXED);
}

/* A write of @str to @path with one write(2); 0 or -errno. */
static int write_str(const char *path, const char *str)
{
	ssize_t len = strlen(str), ret;
	int fd, err;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = write(fd, str, len);
	err = errno;
	close(fd);
	if (ret < 0)
		return -err;

	return ret == len ? 0 : -EIO;
}

/* Workers' side. */

struct region {
	char *addr;
	long n;			/* pages, 0 if the slot is free */
	bool split;		/* may span more than one vma */
};

struct secret {
	int fd;
	char *addr;
	long n;
};

struct shmseg {
	int id;			/* -1 if none */
	char *att;		/* where it is attached, or NULL */
	long n;
};

/* A thread of a worker; a child starts with a copy of its parent's. */
struct tstate {
	struct rng rng;
	struct ctx ctx;
	struct region reg[NREG];
	struct secret sec[NSECRET];
	struct shmseg shm[NSHM];
	int vmat_fd;
	__u64 pins[NPINS];
	int npins;
	struct io_uring ring;
	bool ring_up, ring_reg;
	int hook_fd;
	long hook_pages;
	int zc_fd[2];		/* a sender with SO_ZEROCOPY, its receiver */
	long zc_corked;		/* pages held in the sender's cork */
	int xdp_fd;		/* an AF_XDP socket with a UMEM */
	int perf_fd;
	char *perf_map;		/* its ring buffer, mapped */
	long perf_pages;
	char *kid_stack;
	bool fixed;		/* the worker is in a fixed cgroup */
	bool child;		/* a single-threaded child, not a thread */
};

/* brk() is the process's: one thread at a time moves it. */
static pthread_mutex_t brk_lock = PTHREAD_MUTEX_INITIALIZER;
static char *brk_base;		/* where our growth started */
static long brk_pages;		/* how far it went */

static __thread sigjmp_buf fault_env;
static __thread int fault_armed;
static __thread struct tstate *cur_ts;
static __thread enum op cur_op;

/* SIGBUS (memfd_secret refused) or SIGSEGV (stack growth refused). */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct tstate *ts = cur_ts;
	char *addr = si->si_addr;
	int i;

	if (fault_armed) {
		fault_armed = 0;
		siglongjmp(fault_env, 1);
	}

	/* Not expected: say where, then die of it. */
	for (i = 0; ts && i < NREG; i++)
		if (ts->reg[i].n && addr >= ts->reg[i].addr &&
		    addr < pg(ts->reg[i].addr, ts->reg[i].n))
			break;
	note("signal %d (code %d) at %p during %s, %s", sig, si->si_code,
	     addr, op_info[cur_op].name,
	     ts && i < NREG ? "in a region of this thread" :
	     "in no region of this thread");
	fflush(stdout);
	_exit(EXIT_NOTED);
}

/* Handle SIGBUS and SIGSEGV on an alternate stack of this thread. */
static int fault_setup(void)
{
	struct sigaction sa = {
		.sa_sigaction = on_fault,
		.sa_flags = SA_ONSTACK | SA_NODEFER | SA_SIGINFO,
	};
	stack_t ss = { .ss_size = SMALL_STACK };

	ss.ss_sp = mmap(NULL, SMALL_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -1;
	touch(ss.ss_sp, SMALL_STACK / ps);
	if (sigaltstack(&ss, NULL))
		return -1;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) || sigaction(SIGSEGV, &sa, NULL))
		return -1;

	return 0;
}

/* Pages of a new region: mostly small. */
static long rnd_pages(struct rng *r)
{
	int roll = rnd_in(r, 0, 99);

	if (roll < 50)
		return rnd_in(r, 1, 4);
	if (roll < 85)
		return rnd_in(r, 5, 16);
	return rnd_in(r, 17, REG_PAGES);
}

/* A slot in use, or -1. */
static int reg_used(struct tstate *ts)
{
	int i, k = rnd_in(&ts->rng, 0, NREG - 1);

	for (i = 0; i < NREG; i++)
		if (ts->reg[(k + i) % NREG].n)
			return (k + i) % NREG;

	return -1;
}

/* Another slot in use than @not, with at least @min pages, or -1. */
static int reg_other(struct tstate *ts, int not, long min)
{
	int i, j, k = rnd_in(&ts->rng, 0, NREG - 1);

	for (i = 0; i < NREG; i++) {
		j = (k + i) % NREG;
		if (j != not && ts->reg[j].n >= min)
			return j;
	}

	return -1;
}

static void region_unmap(struct tstate *ts, int i)
{
	struct region *r = &ts->reg[i];

	tally(OP_MUNMAP, err_of(munmap(r->addr, r->n * ps)), 0);
	r->n = 0;
}

/* A free slot, freeing one if there is none. */
static int reg_free(struct tstate *ts)
{
	int i, k = rnd_in(&ts->rng, 0, NREG - 1);

	for (i = 0; i < NREG; i++)
		if (!ts->reg[(k + i) % NREG].n)
			return (k + i) % NREG;

	region_unmap(ts, k);

	return k;
}

/*
 * Map @n pages, locked or not, into slot @i, with a few free pages after
 * them now and then, so that the region can grow in place. Returns 0 if
 * it is there.
 */
static int region_map(struct tstate *ts, int i, long n, bool locked)
{
	long gap = chance(&ts->rng, 50) ? rnd_in(&ts->rng, 1, 8) : 0;
	enum op op = locked ? OP_MAP_LOCKED : OP_MMAP;
	char *p;

	p = mmap(NULL, (n + gap) * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | (locked ? MAP_LOCKED : 0),
		 -1, 0);
	/* EAGAIN: a limit refused the lock (MAP_LOCKED or MCL_FUTURE). */
	if (tally(op, p == MAP_FAILED ? errno : 0, ALLOW(EAGAIN)))
		return -1;
	if (gap)
		tally(OP_MUNMAP, err_of(munmap(pg(p, n), gap * ps)), 0);

	ts->reg[i].addr = p;
	ts->reg[i].n = n;
	ts->reg[i].split = false;
	if (locked || chance(&ts->rng, 70))
		touch(p, n);

	return 0;
}

static void op_map(struct tstate *ts, bool locked)
{
	region_map(ts, reg_free(ts), rnd_pages(&ts->rng), locked);
}

/* A used slot, mapping one if there is none. */
static int reg_any(struct tstate *ts)
{
	int i = reg_used(ts);

	if (i >= 0)
		return i;

	i = reg_free(ts);
	if (region_map(ts, i, rnd_pages(&ts->rng), false))
		return -1;

	return i;
}

/* Pick the pages an operation on region @r works on. */
static bool subrange(struct tstate *ts, struct region *r, long *first,
		     long *n)
{
	if (r->n == 1 || chance(&ts->rng, 60)) {
		*first = 0;
		*n = r->n;
		return true;
	}

	*first = rnd_in(&ts->rng, 0, r->n - 1);
	*n = rnd_in(&ts->rng, 1, r->n - *first);

	return *first == 0 && *n == r->n;
}

/* Pages of some region (mapping one if there is none), NULL if none. */
static char *some_pages(struct tstate *ts, long *n)
{
	int i = reg_any(ts);
	long first;

	if (i < 0)
		return NULL;
	subrange(ts, &ts->reg[i], &first, n);

	return pg(ts->reg[i].addr, first);
}

static void op_mlock(struct tstate *ts, enum op op)
{
	int i = reg_any(ts), flags;
	struct region *r;
	long first, n;
	bool whole;
	int err;

	if (i < 0)
		return;
	r = &ts->reg[i];
	whole = subrange(ts, r, &first, &n);

	switch (op) {
	case OP_MLOCK:
		err = err_of(mlock(pg(r->addr, first), n * ps));
		break;
	case OP_MLOCK2:
		flags = chance(&ts->rng, 70) ? MLOCK_ONFAULT : 0;
		err = err_of(syscall(__NR_mlock2, pg(r->addr, first), n * ps,
				     flags));
		break;
	default:
		err = err_of(munlock(pg(r->addr, first), n * ps));
		break;
	}

	/*
	 * A part splits the vma it is in. The pieces need not merge back
	 * when the whole is locked alike later (they may have got anon_vmas
	 * of their own): only a move makes the region one vma again.
	 */
	if (!whole || err)
		r->split = true;

	/* ENOMEM over a limit. */
	tally(op, err, op == OP_MUNLOCK ? 0 : ALLOW(ENOMEM));
}

static const int mcl_flags[] = {
	MCL_CURRENT, MCL_FUTURE, MCL_CURRENT | MCL_FUTURE,
	MCL_CURRENT | MCL_ONFAULT, MCL_FUTURE | MCL_ONFAULT,
	MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT,
};

static void op_mlockall(struct rng *r)
{
	int flags = mcl_flags[rnd_in(r, 0, ARRAY_SIZE(mcl_flags) - 1)];

	tally(OP_MLOCKALL, err_of(mlockall(flags)), ALLOW(ENOMEM));
}

static void op_munlockall(void)
{
	tally(OP_MUNLOCKALL, err_of(munlockall()), 0);
}

static void op_munmap(struct tstate *ts)
{
	int i = reg_used(ts), how;
	struct region *r;
	long k;

	if (i < 0) {
		op_map(ts, false);
		return;
	}
	r = &ts->reg[i];
	how = r->n > 1 ? rnd_in(&ts->rng, 0, 2) : 0;
	if (!how) {
		region_unmap(ts, i);
		return;
	}

	k = rnd_in(&ts->rng, 1, r->n - 1);
	if (how == 1) {
		if (!tally(OP_MUNMAP, err_of(munmap(r->addr, k * ps)), 0))
			r->addr = pg(r->addr, k);
	} else {
		if (tally(OP_MUNMAP, err_of(munmap(pg(r->addr, r->n - k),
						   k * ps)), 0))
			return;
	}
	r->n -= k;
}

/* The errnos mremap() may give a region: EFAULT if it spans two vmas. */
static unsigned long long mremap_allowed(struct region *r)
{
	return ALLOW(ENOMEM) | ALLOW(EAGAIN) | (r->split ? ALLOW(EFAULT) : 0);
}

/* Grow in place, grow and maybe move, or shrink. */
static void op_mremap(struct tstate *ts, enum op op)
{
	int i = reg_any(ts), flags = 0;
	unsigned long long allowed;
	struct region *r;
	long n;
	char *p;

	if (i < 0)
		return;
	r = &ts->reg[i];

	switch (op) {
	case OP_MREMAP_GROW:
		n = r->n + rnd_in(&ts->rng, 1, 8);
		allowed = mremap_allowed(r);
		break;
	case OP_MREMAP_MOVE:
		n = r->n + rnd_in(&ts->rng, 1, 16);
		flags = MREMAP_MAYMOVE;
		allowed = mremap_allowed(r);
		break;
	default:
		if (r->n < 2) {
			op_mlock(ts, OP_MLOCK);
			return;
		}
		n = rnd_in(&ts->rng, 1, r->n - 1);
		flags = chance(&ts->rng, 30) ? MREMAP_MAYMOVE : 0;
		/* Shrinking is an munmap(): it does not fail. */
		allowed = 0;
		break;
	}
	if (n > 2 * REG_PAGES)
		n = 2 * REG_PAGES;
	if (n == r->n)
		n--;

	p = mremap(r->addr, r->n * ps, n * ps, flags);
	if (tally(op, p == MAP_FAILED ? errno : 0, allowed))
		return;

	if (n > r->n)
		touch(pg(p, r->n), n - r->n);
	if (p != r->addr)
		r->split = false;
	r->addr = p;
	r->n = n;
}

/*
 * Remove the first @n pages of region @j, taken by a MREMAP_FIXED onto
 * them: what is left of it stays.
 */
static void reg_cut(struct tstate *ts, int j, long n)
{
	struct region *b = &ts->reg[j];

	if (b->n > n) {
		b->addr = pg(b->addr, n);
		b->n -= n;
	} else {
		b->n = 0;
	}
}

/*
 * MREMAP_FIXED of a region onto another one (over a locked or an
 * unlocked destination), growing, shrinking or of the same size; or
 * MREMAP_DONTUNMAP, to anywhere or onto another region.
 */
static void op_mremap_to(struct tstate *ts, enum op op)
{
	int i = reg_any(ts), j, k, flags = MREMAP_MAYMOVE;
	struct region *a;
	long n, old;
	char *p, *to;

	if (i < 0)
		return;
	a = &ts->reg[i];
	old = a->n;

	if (op == OP_MREMAP_DONTUNMAP) {
		flags |= MREMAP_DONTUNMAP;
		n = old;
		j = chance(&ts->rng, 50) ? reg_other(ts, i, n) : -1;
	} else {
		flags |= MREMAP_FIXED;
		j = reg_other(ts, i, 1);
		if (j < 0) {
			j = reg_free(ts);
			if (j == i || region_map(ts, j, rnd_pages(&ts->rng),
						 chance(&ts->rng, 50)))
				return;
		}
		n = rnd_in(&ts->rng, 1, ts->reg[j].n);
	}

	to = NULL;
	if (j >= 0) {
		flags |= MREMAP_FIXED;
		to = ts->reg[j].addr;
	}

	p = mremap(a->addr, old * ps, n * ps, flags, to);
	/* The destination was unmapped first, whatever came next. */
	if (j >= 0)
		reg_cut(ts, j, n);
	if (tally(op, p == MAP_FAILED ? errno : 0, mremap_allowed(a))) {
		/* A shrinking move unmaps the tail before it can fail. */
		if (n < a->n)
			a->n = n;
		return;
	}

	if (flags & MREMAP_DONTUNMAP) {
		/* The old range stays mapped, unlocked and empty. */
		for (k = 0; k < NREG; k++)
			if (k != i && !ts->reg[k].n)
				break;
		if (k < NREG) {
			ts->reg[k].addr = a->addr;
			ts->reg[k].n = old;
			ts->reg[k].split = false;
		} else {
			tally(OP_MUNMAP, err_of(munmap(a->addr, old * ps)), 0);
		}
	}

	if (n > old)
		touch(pg(p, old), n - old);
	a->addr = p;
	a->n = n;
	a->split = false;
}

/* Grow the heap, or give back what this did, under whatever MCL_ is set. */
static void op_brk(struct tstate *ts)
{
	long k;
	char *p;

	if (!ts->child)
		pthread_mutex_lock(&brk_lock);

	if (brk_pages && sbrk(0) == pg(brk_base, brk_pages) &&
	    chance(&ts->rng, 40)) {
		/* Nothing else moved it since: take it back. */
		p = sbrk(-brk_pages * ps);
		if (!tally(OP_BRK, p == (void *)-1 ? errno : 0, 0))
			brk_pages = 0;
	} else {
		k = rnd_in(&ts->rng, 1, 16);
		p = sbrk(k * ps);
		/* ENOMEM: MCL_FUTURE and a limit refused the lock. */
		if (!tally(OP_BRK, p == (void *)-1 ? errno : 0,
			   ALLOW(ENOMEM))) {
			if (!brk_pages || p != pg(brk_base, brk_pages)) {
				brk_base = p;
				brk_pages = 0;
			}
			brk_pages += k;
			touch(p, k);
		}
	}

	if (!ts->child)
		pthread_mutex_unlock(&brk_lock);
}

/*
 * In a single-threaded child: lock all now and in the future, then grow a
 * MAP_GROWSDOWN mapping below itself, page by page, into a hole that
 * nothing else maps into. A growth that a limit refuses raises SIGSEGV.
 */
static void growsdown(struct tstate *ts)
{
	long hole = rnd_in(&ts->rng, 8, 64), grow, i;
	char *base, *s;
	bool refused;

	if (chance(&ts->rng, 80))
		tally(OP_MLOCKALL,
		      err_of(mlockall(MCL_CURRENT | MCL_FUTURE |
				      (chance(&ts->rng, 30) ? MCL_ONFAULT : 0))),
		      ALLOW(ENOMEM));

	/* A PROT_NONE fence page, the hole, then the stack-like mapping. */
	base = mmap(NULL, (hole + 5) * ps, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (tally(OP_MMAP, base == MAP_FAILED ? errno : 0, ALLOW(EAGAIN)))
		return;
	tally(OP_MUNMAP, err_of(munmap(pg(base, 1), hole * ps)), 0);
	s = mmap(pg(base, hole + 1), 4 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
		 -1, 0);
	if (tally(OP_MMAP, s == MAP_FAILED ? errno : 0, ALLOW(EAGAIN)))
		return;

	grow = rnd_in(&ts->rng, 1, hole - 1);
	refused = false;
	if (sigsetjmp(fault_env, 1)) {
		refused = true;
	} else {
		fault_armed = 1;
		for (i = 1; i <= grow; i++)
			__atomic_store_n(s - i * ps, 1, __ATOMIC_RELAXED);
		fault_armed = 0;
	}
	inc(refused ? &sh->refused[OP_STACK] : &sh->done[OP_STACK]);
}

/* Recurse @npages pages of 4 KiB deep, growing the stack. */
static int dig(long npages)
{
	char frame[4096];

	memset(frame, (int)npages, sizeof(frame));
	/* Keep the frame: the compiler must assume it is read. */
	asm volatile("" : : "r"(frame) : "memory");
	if (npages <= 1)
		return frame[0];

	return dig(npages - 1) + frame[1];
}

/* In an exec()ed child, on its main stack: the stack grows when locked. */
static void deep_recursion(struct tstate *ts)
{
	long depth = rnd_in(&ts->rng, 16, 256);
	bool refused = false;

	if (chance(&ts->rng, 80))
		tally(OP_MLOCKALL,
		      err_of(mlockall(MCL_CURRENT | MCL_FUTURE |
				      (chance(&ts->rng, 30) ? MCL_ONFAULT : 0))),
		      ALLOW(ENOMEM));

	if (sigsetjmp(fault_env, 1)) {
		refused = true;
	} else {
		fault_armed = 1;
		dig(depth);
		fault_armed = 0;
	}
	inc(refused ? &sh->refused[OP_STACK] : &sh->done[OP_STACK]);
}

static bool exec_child;

/* The operations a child does: the mm's own. */
static const enum op child_ops[] = {
	OP_MLOCK, OP_MLOCK2, OP_MUNLOCK, OP_MLOCKALL, OP_MUNLOCKALL,
	OP_MMAP, OP_MAP_LOCKED, OP_MUNMAP, OP_MREMAP_GROW, OP_MREMAP_MOVE,
	OP_MREMAP_SHRINK, OP_MREMAP_FIXED, OP_MREMAP_DONTUNMAP, OP_BRK,
	OP_STACK,
};

static void do_op(struct tstate *ts, enum op op);

/* A child's few operations; it exits with everything it holds. */
static void child_run(struct tstate *ts, int nops)
{
	int i;

	ts->child = true;
	for (i = 0; i < nops; i++) {
		__atomic_fetch_add(&sh->ops, 1, __ATOMIC_RELAXED);
		ts->ctx.seq = i;
		do_op(ts, child_ops[rnd_in(&ts->rng, 0,
					   ARRAY_SIZE(child_ops) - 1)]);
	}
}

/*
 * Wait for the child @pid of this thread: it must exit with 0 (a child
 * that failed noted why and exits with EXIT_NOTED).
 */
static void reap(pid_t pid, enum op op)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			tally(op, errno, 0);
			return;
		}
	}

	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return;

	inc(&sh->child_failures);
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NOTED)
		return;
	note("%s child %d: %s %d", op_info[op].name, pid,
	     WIFSIGNALED(status) ? "killed by signal" : "exit status",
	     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* The arguments of an exec() of this program as a child. */
struct exec_args {
	char fd[16], seed[32], who[48];
	char *argv[6];
};

static void exec_args_init(struct exec_args *ea, struct tstate *ts)
{
	snprintf(ea->fd, sizeof(ea->fd), "%d", sh_fd);
	snprintf(ea->seed, sizeof(ea->seed), "%llu", rnd(&ts->rng));
	snprintf(ea->who, sizeof(ea->who), "%d.%d.%d.%ld", ts->ctx.widx,
		 ts->ctx.gen, ts->ctx.tidx, ts->ctx.seq);
	ea->argv[0] = "test_pins_stress";
	ea->argv[1] = "--child";
	ea->argv[2] = ea->fd;
	ea->argv[3] = ea->seed;
	ea->argv[4] = ea->who;
	ea->argv[5] = NULL;
}

extern char **environ;

/* A forked child: a few operations of its own, or the stack's growth. */
static void op_fork(struct tstate *ts, enum op op)
{
	unsigned long long seed = rnd(&ts->rng);
	struct exec_args ea;
	pid_t pid;

	if (op == OP_EXEC)
		exec_args_init(&ea, ts);

	/*
	 * fork() copies mm->brk before it takes the mmap_lock: a brk() of
	 * another thread meanwhile would leave the child a break beyond its
	 * heap, which sbrk() then trusts.
	 */
	pthread_mutex_lock(&brk_lock);
	fflush(stdout);
	pid = fork();
	if (pid)
		pthread_mutex_unlock(&brk_lock);
	if (tally(op == OP_STACK ? OP_FORK : op, pid < 0 ? errno : 0,
		  ALLOW(EAGAIN) | ALLOW(ENOMEM)))
		return;

	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (op == OP_EXEC) {
			execve(sh->exe, ea.argv, environ);
			note("execve %s: %s", sh->exe, errname(errno));
			_exit(EXIT_NOTED);
		}
		ts->ctx.who = "fork child of thread";
		ts->rng.s = seed;
		ts->ctx.seed = seed;
		ts->child = true;
		if (op == OP_STACK)
			growsdown(ts);
		else
			child_run(ts, rnd_in(&ts->rng, 1, 6));
		_exit(0);
	}

	reap(pid, op);
}

/* Move the calling process (only it: no CLONE_THREAD) to @cgroup. */
static int move_self(const char *cgroup)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);

	return write_str(path, "0");
}

struct kid_arg {
	struct tstate *ts;
	int nops;
	int mig;		/* the cgroup to move to, or -1 */
};

static const enum op kid_ops[] = {
	OP_MLOCK, OP_MLOCK2, OP_MUNLOCK, OP_MLOCKALL, OP_MUNLOCKALL,
	OP_MAP_LOCKED, OP_MUNMAP,
};

/*
 * A clone(CLONE_VM) child: it shares the mm of the worker, whose thread
 * waits for it, and works on that thread's regions: what it locks is the
 * mm's owner's charge, wherever the child moves. It runs on the thread's
 * TLS too, which is fine while the thread waits.
 */
static int kid_main(void *arg)
{
	struct kid_arg *ka = arg;
	struct tstate *ts = ka->ts;
	int i;

	if (ka->mig >= 0)
		tally(OP_MIGRATE, -move_self(sh->mig[ka->mig]), 0);

	for (i = 0; i < ka->nops; i++) {
		__atomic_fetch_add(&sh->ops, 1, __ATOMIC_RELAXED);
		do_op(ts, kid_ops[rnd_in(&ts->rng, 0,
					 ARRAY_SIZE(kid_ops) - 1)]);
	}

	return 0;
}

static void op_clone_vm(struct tstate *ts)
{
	struct kid_arg ka = {
		.ts = ts,
		.nops = rnd_in(&ts->rng, 1, 6),
		.mig = -1,
	};
	const char *who = ts->ctx.who;
	pid_t pid;

	/* Only a worker that migrates anyway may have children that do. */
	if (!ts->fixed && chance(&ts->rng, 50))
		ka.mig = rnd_in(&ts->rng, 0, NR_MIG - 1);

	ts->ctx.who = "clone(CLONE_VM) child of thread";
	fflush(stdout);
	pid = clone(kid_main, ts->kid_stack + SMALL_STACK, CLONE_VM | SIGCHLD,
		    &ka);
	ts->ctx.who = who;
	if (tally(OP_CLONE_VM, pid < 0 ? errno : 0,
		  ALLOW(EAGAIN) | ALLOW(ENOMEM)))
		return;

	reap(pid, OP_CLONE_VM);
}

/*
 * A vfork() child borrows the mm of the worker until it exec()s or exits;
 * it may move itself to another cgroup first.
 */
static void op_vfork(struct tstate *ts)
{
	int mig = !ts->fixed && chance(&ts->rng, 50) ?
		  rnd_in(&ts->rng, 0, NR_MIG - 1) : -1;
	bool do_exec = chance(&ts->rng, 60);
	char path[PATH_MAX + 16];
	struct exec_args ea;
	int mig_err = 0;
	pid_t pid;

	exec_args_init(&ea, ts);
	if (mig >= 0)
		snprintf(path, sizeof(path), "%s/cgroup.procs", sh->mig[mig]);

	fflush(stdout);
	pid = vfork();
	if (!pid) {
		/* Only system calls here: this runs on the thread's stack. */
		if (mig >= 0) {
			int fd = open(path, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "0", 1) != 1)
				__atomic_store_n(&mig_err, errno ? errno : EIO,
						 __ATOMIC_RELAXED);
			if (fd >= 0)
				close(fd);
		}
		if (do_exec)
			execve(sh->exe, ea.argv, environ);
		_exit(do_exec ? 127 : 0);
	}
	if (tally(OP_VFORK, pid < 0 ? errno : 0, ALLOW(EAGAIN) | ALLOW(ENOMEM)))
		return;
	if (mig >= 0)
		tally(OP_MIGRATE, __atomic_load_n(&mig_err, __ATOMIC_RELAXED),
		      0);

	reap(pid, OP_VFORK);
}

static void shm_detach(struct shmseg *s)
{
	if (s->att)
		tally(OP_SHM_UNLOCK, err_of(shmdt(s->att)), 0);
	s->att = NULL;
}

/*
 * Find or create the segment of slot @k: one an earlier worker of this
 * slot left, locked or not, is taken over. Returns 0 if there is one.
 */
static int shm_get(struct tstate *ts, int k)
{
	key_t key = SHM_KEY(ts->ctx.widx, ts->ctx.tidx, k);
	struct shmseg *s = &ts->shm[k];
	struct shmid_ds ds;
	int id;

	if (s->id >= 0)
		return 0;
	shm_detach(s);

	id = shmget(key, 0, 0);
	if (id < 0 && errno == ENOENT) {
		id = shmget(key, rnd_in(&ts->rng, 1, 16) * ps,
			    IPC_CREAT | 0600);
		if (tally(OP_SHM_LOCK, id < 0 ? errno : 0,
			  ALLOW(ENOMEM) | ALLOW(ENOSPC)))
			return -1;
	} else if (tally(OP_SHM_LOCK, id < 0 ? errno : 0, 0)) {
		return -1;
	}
	if (tally(OP_SHM_LOCK, err_of(shmctl(id, IPC_STAT, &ds)), 0))
		return -1;

	s->id = id;
	s->n = (ds.shm_segsz + ps - 1) / ps;

	return 0;
}

static void op_shm_lock(struct tstate *ts)
{
	int k = rnd_in(&ts->rng, 0, NSHM - 1);
	struct shmseg *s = &ts->shm[k];
	void *p;

	if (shm_get(ts, k))
		return;

	if (!s->att && chance(&ts->rng, 50)) {
		p = shmat(s->id, NULL, 0);
		/* EAGAIN: locked by MCL_FUTURE, over a limit. */
		if (!tally(OP_SHM_LOCK, p == (void *)-1 ? errno : 0,
			   ALLOW(EAGAIN))) {
			s->att = p;
			touch(p, s->n);
			/* Locked twice: by SHM_LOCK and by mlock(). */
			if (chance(&ts->rng, 30))
				tally(OP_MLOCK, err_of(mlock(p, s->n * ps)),
				      ALLOW(ENOMEM));
		}
	}

	tally(OP_SHM_LOCK, err_of(shmctl(s->id, SHM_LOCK, NULL)),
	      ALLOW(ENOMEM));
}

static void op_shm_unlock(struct tstate *ts, enum op op)
{
	int k = rnd_in(&ts->rng, 0, NSHM - 1);
	struct shmseg *s = &ts->shm[k];

	if (s->id < 0) {
		/* Take over one an earlier worker left, if there is one. */
		if (chance(&ts->rng, 50) || shm_get(ts, k))
			return;
	}

	if (op == OP_SHM_RMID) {
		/* It goes, and its lock's charge, once detached. */
		tally(op, err_of(shmctl(s->id, IPC_RMID, NULL)), 0);
		s->id = -1;
	} else {
		tally(op, err_of(shmctl(s->id, SHM_UNLOCK, NULL)), 0);
	}

	if (chance(&ts->rng, 40))
		shm_detach(s);
}

static void op_secret(struct tstate *ts)
{
	int k = rnd_in(&ts->rng, 0, NSECRET - 1), fd;
	struct secret *s = &ts->sec[k];
	long first, n, i;
	bool refused;
	char *p;

	if (s->fd < 0) {
		fd = syscall(__NR_memfd_secret, 0);
		if (tally(OP_SECRET, fd < 0 ? errno : 0, ALLOW(ENOMEM)))
			return;
		n = rnd_in(&ts->rng, 1, 16);
		if (tally(OP_SECRET, err_of(ftruncate(fd, n * ps)), 0)) {
			close(fd);
			return;
		}
		/* The mapping is locked: EAGAIN over RLIMIT_MEMLOCK. */
		p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);
		if (tally(OP_SECRET, p == MAP_FAILED ? errno : 0,
			  ALLOW(EAGAIN))) {
			close(fd);
			return;
		}
		s->fd = fd;
		s->addr = p;
		s->n = n;
	}

	/* Pages are charged as they are faulted in: SIGBUS if refused. */
	first = rnd_in(&ts->rng, 0, s->n - 1);
	n = rnd_in(&ts->rng, 1, s->n - first);
	refused = false;
	if (sigsetjmp(fault_env, 1)) {
		refused = true;
	} else {
		fault_armed = 1;
		for (i = first; i < first + n; i++)
			__atomic_store_n(pg(s->addr, i), 1, __ATOMIC_RELAXED);
		fault_armed = 0;
	}
	inc(refused ? &sh->refused[OP_SECRET] : &sh->done[OP_SECRET]);
}

static void op_secret_close(struct tstate *ts)
{
	struct secret *s = &ts->sec[rnd_in(&ts->rng, 0, NSECRET - 1)];

	if (s->fd < 0) {
		op_secret(ts);
		return;
	}

	tally(OP_SECRET_CLOSE, err_of(munmap(s->addr, s->n * ps)), 0);
	tally(OP_SECRET_CLOSE, err_of(close(s->fd)), 0);
	s->fd = -1;
}

static const __u32 vmat_modes[] = {
	0, VM_ACCOUNT_TEST_USER, VM_ACCOUNT_TEST_BYPASS,
	VM_ACCOUNT_TEST_USER | VM_ACCOUNT_TEST_BYPASS,
};

static void op_unpin(struct tstate *ts);

/*
 * Pin pages of a region through the test driver: charged to the cgroup
 * of whoever opened the file, wherever it goes.
 */
static void op_pin(struct tstate *ts)
{
	struct vm_account_test_pin pin = {};
	__u32 mode;
	char *p;
	long n;

	if (ts->vmat_fd < 0) {
		ts->vmat_fd = open(VMAT_DEV, O_RDWR | O_CLOEXEC);
		if (tally(OP_PIN, ts->vmat_fd < 0 ? errno : 0, 0))
			return;
		ts->npins = 0;
		mode = vmat_modes[rnd_in(&ts->rng, 0,
					 ARRAY_SIZE(vmat_modes) - 1)];
		tally(OP_PIN, err_of(ioctl(ts->vmat_fd, VM_ACCOUNT_TEST_MODE,
					   &mode)), 0);
	}
	if (ts->npins == NPINS)
		op_unpin(ts);
	if (ts->vmat_fd < 0)
		return;

	p = some_pages(ts, &n);
	if (!p)
		return;
	pin.addr = (unsigned long)p;
	pin.npages = n;
	if (!tally(OP_PIN, err_of(ioctl(ts->vmat_fd, VM_ACCOUNT_TEST_PIN,
					&pin)), ALLOW(ENOMEM)))
		ts->pins[ts->npins++] = pin.id;
}

static void op_unpin(struct tstate *ts)
{
	int k;

	if (ts->vmat_fd < 0) {
		op_pin(ts);
		return;
	}

	if (!ts->npins || chance(&ts->rng, 15)) {
		/* Closing it unpins all. */
		tally(OP_UNPIN, err_of(close(ts->vmat_fd)), 0);
		ts->vmat_fd = -1;
		return;
	}

	k = rnd_in(&ts->rng, 0, ts->npins - 1);
	tally(OP_UNPIN, err_of(ioctl(ts->vmat_fd, VM_ACCOUNT_TEST_UNPIN,
				     &ts->pins[k])), 0);
	ts->pins[k] = ts->pins[--ts->npins];
}

static void op_uring_unreg(struct tstate *ts);

/* Register up to three regions as io_uring fixed buffers. */
static void op_uring_reg(struct tstate *ts)
{
	struct iovec iov[3];
	int i, j, nr = 0, ret;
	long first, n;

	if (!ts->ring_up) {
		ret = io_uring_queue_init(4, &ts->ring, 0);
		/* Its rings are mapped: locked, under MCL_FUTURE. */
		if (tally(OP_URING_REG, -ret, ALLOW(ENOMEM) | ALLOW(EAGAIN)))
			return;
		ts->ring_up = true;
		ts->ring_reg = false;
	}
	if (ts->ring_reg) {
		op_uring_unreg(ts);
		if (!ts->ring_up)
			return;
	}

	i = reg_any(ts);
	for (j = 0; j < NREG && nr < 3; j++) {
		struct region *r = &ts->reg[(i + j) % NREG];

		if (i < 0 || !r->n || (j && chance(&ts->rng, 50)))
			continue;
		subrange(ts, r, &first, &n);
		iov[nr].iov_base = pg(r->addr, first);
		iov[nr++].iov_len = n * ps;
	}
	if (!nr)
		return;

	ret = io_uring_register_buffers(&ts->ring, iov, nr);
	if (!tally(OP_URING_REG, -ret, ALLOW(ENOMEM)))
		ts->ring_reg = true;
}

static void op_uring_unreg(struct tstate *ts)
{
	if (!ts->ring_up) {
		op_uring_reg(ts);
		return;
	}

	if (ts->ring_reg && chance(&ts->rng, 60)) {
		tally(OP_URING_UNREG,
		      -io_uring_unregister_buffers(&ts->ring), 0);
		ts->ring_reg = false;
		return;
	}

	/* The ring goes: its buffers' charges go back asynchronously. */
	io_uring_queue_exit(&ts->ring);
	inc(&sh->done[OP_URING_UNREG]);
	ts->ring_up = false;
	ts->ring_reg = false;
}

/* Charge and uncharge through the pins_test debugfs hook. */
static void op_hook(struct tstate *ts)
{
	char buf[32];
	long k;
	int ret;

	if (ts->hook_fd < 0) {
		ts->hook_fd = open(HOOK_FILE, O_RDWR | O_CLOEXEC);
		if (tally(OP_HOOK, ts->hook_fd < 0 ? errno : 0, 0))
			return;
		ts->hook_pages = 0;
	}

	if (chance(&ts->rng, 10)) {
		tally(OP_HOOK, err_of(close(ts->hook_fd)), 0);
		ts->hook_fd = -1;
		return;
	}

	if (ts->hook_pages && chance(&ts->rng, 50)) {
		k = rnd_in(&ts->rng, 1, ts->hook_pages);
		snprintf(buf, sizeof(buf), "uncharge %ld", k);
		ret = write(ts->hook_fd, buf, strlen(buf));
		if (!tally(OP_HOOK, err_of(ret), 0))
			ts->hook_pages -= k;
	} else {
		k = rnd_in(&ts->rng, 1, 32);
		snprintf(buf, sizeof(buf), "charge %ld", k);
		ret = write(ts->hook_fd, buf, strlen(buf));
		if (!tally(OP_HOOK, err_of(ret), ALLOW(ENOMEM)))
			ts->hook_pages += k;
	}
}

/* A UDP receiver on loopback and a sender with SO_ZEROCOPY connected to it. */
static int zc_open(struct tstate *ts)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(a);
	int one = 1, i;

	for (i = 0; i < 2; i++) {
		ts->zc_fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC |
				      SOCK_NONBLOCK, 0);
		if (ts->zc_fd[i] < 0)
			goto fail;
	}
	if (bind(ts->zc_fd[1], (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(ts->zc_fd[1], (struct sockaddr *)&a, &len) ||
	    connect(ts->zc_fd[0], (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(ts->zc_fd[0], SOL_SOCKET, SO_ZEROCOPY, &one,
		       sizeof(one)))
		goto fail;
	ts->zc_corked = 0;

	return 0;

fail:
	tally(OP_ZEROCOPY, errno, 0);
	for (i = 0; i < 2; i++) {
		if (ts->zc_fd[i] >= 0)
			close(ts->zc_fd[i]);
		ts->zc_fd[i] = -1;
	}

	return -1;
}

/*
 * Read and drop what the receiver got, and the sender's completion
 * notifications: they take the socket's option memory, and a sender
 * whose notifications pile up is refused with ENOBUFS.
 */
static void zc_drain(struct tstate *ts)
{
	char control[256];
	struct msghdr msg = {
		.msg_control = control,
	};

	while (recv(ts->zc_fd[1], NULL, 0, MSG_TRUNC | MSG_DONTWAIT) >= 0)
		;
	for (;;) {
		msg.msg_controllen = sizeof(control);
		if (recvmsg(ts->zc_fd[0], &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
	}
	tally(OP_ZEROCOPY, errno == EAGAIN ? 0 : errno, 0);
}

/*
 * A MSG_ZEROCOPY send of part of a region, charged until the kernel is
 * done with the pages: at once over loopback, or when a corked datagram
 * (MSG_MORE) is sent in full. ENOBUFS: a limit refused it, or the socket
 * has too many notifications pending.
 */
static void op_zerocopy(struct tstate *ts)
{
	int err, flags = MSG_ZEROCOPY | MSG_DONTWAIT | MSG_NOSIGNAL;
	ssize_t ret;
	long n;
	char *p;

	if (ts->zc_fd[0] < 0) {
		if (!zc_open(ts))
			inc(&sh->done[OP_ZEROCOPY]);
		return;
	}
	if (chance(&ts->rng, 5)) {
		close(ts->zc_fd[0]);
		close(ts->zc_fd[1]);
		ts->zc_fd[0] = -1;
		ts->zc_fd[1] = -1;
		inc(&sh->done[OP_ZEROCOPY]);
		return;
	}
	if (chance(&ts->rng, 30)) {
		zc_drain(ts);
		return;
	}

	p = some_pages(ts, &n);
	if (!p)
		return;
	if (ts->zc_corked + n >= ZC_BYTES / ps)
		n = ZC_BYTES / ps - ts->zc_corked;
	else if (chance(&ts->rng, 40))
		flags |= MSG_MORE;

	ret = send(ts->zc_fd[0], p, n * ps, flags);
	err = ret < 0 ? errno : 0;
	if (!err && ret != n * ps) {
		note("zerocopy: sent %zd of %ld bytes", ret, n * ps);
		err = EIO;
	}
	/* A failed append drops the whole cork. */
	ts->zc_corked = !err && (flags & MSG_MORE) ? ts->zc_corked + n : 0;
	tally(OP_ZEROCOPY, err, ALLOW(ENOBUFS) | ALLOW(EAGAIN));
}

/*
 * An AF_XDP socket with part of a region as its UMEM, charged from the
 * registration to the socket's release; or the release. ENOBUFS: a limit
 * refused it.
 */
static void op_xdp(struct tstate *ts)
{
	struct xdp_umem_reg mr = { .chunk_size = ps };
	char *p;
	long n;

	if (ts->xdp_fd >= 0) {
		tally(OP_XDP, err_of(close(ts->xdp_fd)), 0);
		ts->xdp_fd = -1;
		return;
	}

	p = some_pages(ts, &n);
	if (!p)
		return;
	ts->xdp_fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (tally(OP_XDP, ts->xdp_fd < 0 ? errno : 0, 0))
		return;
	mr.addr = (uintptr_t)p;
	mr.len = n * ps;
	if (tally(OP_XDP, err_of(setsockopt(ts->xdp_fd, SOL_XDP, XDP_UMEM_REG,
					    &mr, sizeof(mr))),
		  ALLOW(ENOBUFS))) {
		close(ts->xdp_fd);
		ts->xdp_fd = -1;
	}
}

/*
 * A perf ring buffer of 1 + 2^n pages of a software event of the thread,
 * charged while it is mapped; or its unmapping. EPERM: a limit refused it;
 * EAGAIN: under MCL_FUTURE, the mapping's lock was refused first.
 */
static void op_perf(struct tstate *ts)
{
	void *p;

	if (ts->perf_fd >= 0) {
		tally(OP_PERF, err_of(munmap(ts->perf_map,
					     ts->perf_pages * ps)), 0);
		close(ts->perf_fd);
		ts->perf_fd = -1;
		return;
	}

	ts->perf_fd = pins_perf_open();
	if (tally(OP_PERF, ts->perf_fd < 0 ? errno : 0, 0)) {
		ts->perf_fd = -1;
		return;
	}
	ts->perf_pages = 1 + (1L << rnd_in(&ts->rng, 0, PERF_ORDER));
	p = mmap(NULL, ts->perf_pages * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED, ts->perf_fd, 0);
	if (tally(OP_PERF, p == MAP_FAILED ? errno : 0,
		  ALLOW(EPERM) | ALLOW(EAGAIN))) {
		close(ts->perf_fd);
		ts->perf_fd = -1;
		return;
	}
	ts->perf_map = p;
}

static void do_op(struct tstate *ts, enum op op)
{
	cur_ts = ts;
	cur_op = op;
	switch (op) {
	case OP_MLOCK:
	case OP_MLOCK2:
	case OP_MUNLOCK:
		op_mlock(ts, op);
		break;
	case OP_MLOCKALL:
		op_mlockall(&ts->rng);
		break;
	case OP_MUNLOCKALL:
		op_munlockall();
		break;
	case OP_MMAP:
	case OP_MAP_LOCKED:
		op_map(ts, op == OP_MAP_LOCKED);
		break;
	case OP_MUNMAP:
		op_munmap(ts);
		break;
	case OP_MREMAP_GROW:
	case OP_MREMAP_MOVE:
	case OP_MREMAP_SHRINK:
		op_mremap(ts, op);
		break;
	case OP_MREMAP_FIXED:
	case OP_MREMAP_DONTUNMAP:
		op_mremap_to(ts, op);
		break;
	case OP_BRK:
		op_brk(ts);
		break;
	case OP_STACK:
		if (!ts->child)
			op_fork(ts, OP_STACK);
		else if (exec_child)
			deep_recursion(ts);
		else
			growsdown(ts);
		break;
	case OP_FORK:
	case OP_EXEC:
		op_fork(ts, op);
		break;
	case OP_EXIT:
		/* Everything the worker holds goes with it. */
		inc(&sh->done[OP_EXIT]);
		fflush(stdout);
		_exit(0);
	case OP_CLONE_VM:
		op_clone_vm(ts);
		break;
	case OP_VFORK:
		op_vfork(ts);
		break;
	case OP_SHM_LOCK:
		op_shm_lock(ts);
		break;
	case OP_SHM_UNLOCK:
	case OP_SHM_RMID:
		op_shm_unlock(ts, op);
		break;
	case OP_SECRET:
		if (sh->have_secret)
			op_secret(ts);
		break;
	case OP_SECRET_CLOSE:
		if (sh->have_secret)
			op_secret_close(ts);
		break;
	case OP_PIN:
		if (sh->have_vmat)
			op_pin(ts);
		break;
	case OP_UNPIN:
		if (sh->have_vmat)
			op_unpin(ts);
		break;
	case OP_URING_REG:
		if (sh->have_uring)
			op_uring_reg(ts);
		break;
	case OP_URING_UNREG:
		if (sh->have_uring)
			op_uring_unreg(ts);
		break;
	case OP_HOOK:
		if (sh->have_hook)
			op_hook(ts);
		break;
	case OP_ZEROCOPY:
		if (sh->have_zc)
			op_zerocopy(ts);
		break;
	case OP_XDP:
		if (sh->have_xdp)
			op_xdp(ts);
		break;
	case OP_PERF:
		if (sh->have_perf)
			op_perf(ts);
		break;
	default:
		break;
	}
}

static enum op pick_op(struct rng *r)
{
	static int total;
	int i, roll;

	if (!total)
		for (i = 0; i < NR_OPS; i++)
			total += op_info[i].weight;

	roll = rnd_in(r, 0, total - 1);
	for (i = 0; i < NR_OPS; i++) {
		roll -= op_info[i].weight;
		if (roll < 0)
			break;
	}

	return i;
}

static void tstate_init(struct tstate *ts)
{
	int i;

	memset(ts, 0, sizeof(*ts));
	ts->vmat_fd = -1;
	ts->hook_fd = -1;
	ts->zc_fd[0] = -1;
	ts->zc_fd[1] = -1;
	ts->xdp_fd = -1;
	ts->perf_fd = -1;
	for (i = 0; i < NSECRET; i++)
		ts->sec[i].fd = -1;
	for (i = 0; i < NSHM; i++)
		ts->shm[i].id = -1;
}

struct thread_arg {
	int widx, gen, tidx;
	bool fixed;
	pthread_barrier_t *start;
};

static void *thread_main(void *arg)
{
	struct thread_arg *ta = arg;
	struct tstate ts;

	tstate_init(&ts);
	ts.ctx.widx = ta->widx;
	ts.ctx.gen = ta->gen;
	ts.ctx.tidx = ta->tidx;
	ts.ctx.who = "thread";
	ts.fixed = ta->fixed;
	rng_init(&ts.rng, sh->seed, ta->widx * 1000003ULL + ta->gen,
		 ta->tidx);
	ts.ctx.seed = ts.rng.s;
	cur = &ts.ctx;

	ts.kid_stack = mmap(NULL, SMALL_STACK, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ts.kid_stack == MAP_FAILED || fault_setup())
		note("thread setup: %s", errname(errno));
	/* No thread locks the future before all are set up. */
	pthread_barrier_wait(ta->start);
	if (ts.kid_stack == MAP_FAILED)
		return NULL;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		if (__atomic_fetch_add(&sh->ops, 1, __ATOMIC_RELAXED) >=
		    sh->budget)
			break;
		ts.ctx.seq++;
		do_op(&ts, pick_op(&ts.rng));
	}

	/* Leave what it holds to the exit of the worker. */
	return NULL;
}

static int map_shared(const char *fd)
{
	sh_fd = atoi(fd);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, sh_fd,
		  0);
	if (sh == MAP_FAILED)
		return -1;
	ps = sysconf(_SC_PAGESIZE);

	return 0;
}

/* A worker: threads picking operations until the budget or stop. */
static int worker_main(char **argv)
{
	struct thread_arg ta[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	pthread_barrier_t start;
	pthread_attr_t attr;
	struct rlimit rl;
	struct rng r;
	int widx, i;

	if (map_shared(argv[2]))
		return EXIT_NOTED;
	widx = atoi(argv[3]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != sh->main_pid)
		return 0;
	signal(SIGPIPE, SIG_IGN);

	/* Half of them are held by RLIMIT_MEMLOCK too. */
	rng_init(&r, sh->seed, widx, atoi(argv[4]) + 77);
	if (chance(&r, 50)) {
		rl.rlim_cur = rnd_in(&r, 256, 4096) * ps;
		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) ||
		    pins_set_cap_ipc_lock(false)) {
			note("worker %d: can't drop CAP_IPC_LOCK", widx);
			return EXIT_NOTED;
		}
	}

	pthread_barrier_init(&start, NULL, sh->nthreads);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (i = 0; i < sh->nthreads; i++) {
		ta[i].widx = widx;
		ta[i].gen = atoi(argv[4]);
		ta[i].tidx = i;
		ta[i].fixed = sh->w[widx].fixed;
		ta[i].start = &start;
		if (pthread_create(&th[i], &attr, thread_main, &ta[i])) {
			note("worker %d: pthread_create failed", widx);
			_exit(EXIT_NOTED);
		}
	}
	for (i = 0; i < sh->nthreads; i++)
		pthread_join(th[i], NULL);

	return 0;
}

/* An exec()ed child: a few operations, the stack's growth among them. */
static int child_main(char **argv)
{
	struct tstate ts;
	struct ctx ctx;

	if (map_shared(argv[2]))
		return EXIT_NOTED;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	tstate_init(&ts);
	ts.rng.s = strtoull(argv[3], NULL, 10);
	memset(&ctx, 0, sizeof(ctx));
	if (sscanf(argv[4], "%d.%d.%d.%ld", &ctx.widx, &ctx.gen, &ctx.tidx,
		   &ctx.seq) != 4) {
		note("bad arguments of a child: %s", argv[4]);
		return EXIT_NOTED;
	}
	ctx.seed = ts.rng.s;
	ctx.who = "exec child of thread";
	ts.ctx = ctx;
	cur = &ts.ctx;
	ts.child = true;
	exec_child = true;
	if (fault_setup()) {
		note("child setup: %s", errname(errno));
		return EXIT_NOTED;
	}

	if (chance(&ts.rng, 50))
		do_op(&ts, OP_STACK);
	child_run(&ts, rnd_in(&ts.rng, 1, 6));

	return 0;
}

/* The main process's side. */

/* The cgroups of the test, children after their parents. */
struct tree {
	char root[PATH_MAX];
	char top[PATH_MAX];
	char mcg[2][PATH_MAX];		/* the main process's */
	char work[PATH_MAX];		/* the workers' */
	char fixed[NR_FIXED][PATH_MAX];
	char mig[NR_MIG][PATH_MAX];
	char extra[NR_EXTRA][PATH_MAX];
	char churn[PATH_MAX];
	char churn_c[NR_CHURN][PATH_MAX];
	char churn_d[NR_CHURN][NR_CHURN_SUB][PATH_MAX];
	char orig[PATH_MAX];		/* where the main process was */
	bool root_had_pins;
	bool made;
	/* For the cleanup, which must be async-signal-safe. */
	char paths[64][PATH_MAX + 32];
	int npaths;
	char pid[16];
};

static struct tree t;

struct opts {
	unsigned long long seed;
	long long ops;
	int seconds;
	int workers;
	int threads;
};

/* What the main process holds all along, and where. */
struct holdings {
	char *lock_buf, *pin_buf, *ring_buf;
	long lock_pages, pin_pages, ring_pages;
	int vmat_fd;
	struct io_uring ring;
	bool ring_up;
	int where;		/* index in t.mcg of the main process's cgroup */
};

static struct holdings hold = { .vmat_fd = -1 };

/* A fixed cgroup: the bound its pins.current must stay under. */
struct fixed_state {
	long long max;		/* its pins.max in bytes, or LIMIT_INF */
	long long bound;	/* what pins.current can be at most now */
	long long window;	/* the highest bound since peak_fd's reset */
	bool window_on;		/* peak_fd was reset under a finite bound */
	int peak_fd;
};

static struct fixed_state fixed[NR_FIXED];

/* Counts of the main process's side, and its verdicts. */
static struct {
	long long samples, peak_samples, limit_writes, fixed_writes;
	long long pauses, pauses_unfrozen, cg_checked, unstable;
	long long fixed_violations, stat_violations, main_violations;
	long long lockers;
} st;

static pthread_mutex_t hlock = PTHREAD_MUTEX_INITIALIZER;
static int helpers_stop;
static bool extra_made[NR_EXTRA];
static pid_t lockers[NR_LOCKERS];

/* The cleanup, async-signal-safe: used by the watchdog too. */
static void cleanup_tree(void)
{
	char freeze[sizeof(t.paths[0]) + 16];
	int i, tries;

	if (!t.made)
		return;

	for (i = 0; i < 2; i++) {
		snprintf(freeze, sizeof(freeze), "%s/cgroup.freeze",
			 i ? t.churn : t.work);
		write_str(freeze, "0");
		snprintf(freeze, sizeof(freeze), "%s/cgroup.kill",
			 i ? t.churn : t.work);
		write_str(freeze, "1");
	}
	snprintf(freeze, sizeof(freeze), "%s/cgroup.procs", t.orig);
	write_str(freeze, t.pid);

	for (i = 0; i < t.npaths; i++) {
		for (tries = 0; tries < 500; tries++) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			if (!rmdir(t.paths[i]) || errno == ENOENT)
				break;
			if (errno != EBUSY)
				break;
			/* Whatever came in since. */
			snprintf(freeze, sizeof(freeze), "%s/cgroup.kill",
				 t.paths[i]);
			write_str(freeze, "1");
			sleep_ms(10);
		}
	}

	if (!t.root_had_pins) {
		snprintf(freeze, sizeof(freeze), "%s/cgroup.subtree_control",
			 t.root);
		write_str(freeze, "-pins");
	}

	for (i = 0; i < NR_SHM_KEYS; i++) {
		int id = shmget(SHM_KEY_BASE + i, 0, 0);

		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	}

	/* Leave no zombie behind either. */
	for (tries = 0; tries < 300; tries++) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid < 0)
			break;
		if (!pid)
			sleep_ms(10);
	}
	t.made = false;
}

static char watchdog_msg[256];

/*
 * The watchdog: on SIGALRM (the run did not end in time), SIGINT or
 * SIGTERM, stop everything, remove what the test made, and fail.
 */
static void *watchdog(void *arg)
{
	struct timespec ts;
	sigset_t *set = arg;
	char msg[64];
	int sig;

	if (sigwait(set, &sig))
		return NULL;

	/* No more workers, helpers or pauses: even if one hangs. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&helpers_stop, 1, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_timedlock(&hlock, &ts);

	snprintf(msg, sizeof(msg), "# %s: killing the workers\n",
		 sig == SIGALRM ? "the run did not end in time" : strsignal(sig));
	if (write(STDOUT_FILENO, msg, strlen(msg)) < 0 ||
	    write(STDOUT_FILENO, watchdog_msg, strlen(watchdog_msg)) < 0)
		sig = 0;
	cleanup_tree();
	_exit(KSFT_FAIL);
}

static void add_path(const char *path)
{
	snprintf(t.paths[t.npaths++], sizeof(t.paths[0]), "%s", path);
}

/* Name the cgroups, in the order the cleanup removes them. */
static int tree_names(void)
{
	char name[16];
	int i, j, ret = 0;

	ret |= pins_path_of(t.top, t.root, "pins_stress");
	ret |= pins_path_of(t.work, t.top, "work");
	ret |= pins_path_of(t.churn, t.top, "churn");
	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "main_%c", 'a' + i);
		ret |= pins_path_of(t.mcg[i], t.top, name);
	}
	for (i = 0; i < NR_FIXED; i++) {
		snprintf(name, sizeof(name), "fixed%d", i);
		ret |= pins_path_of(t.fixed[i], t.work, name);
	}
	for (i = 0; i < NR_MIG; i++) {
		snprintf(name, sizeof(name), "mig%d", i);
		ret |= pins_path_of(t.mig[i], t.work, name);
	}
	for (i = 0; i < NR_EXTRA; i++) {
		snprintf(name, sizeof(name), "extra%d", i);
		ret |= pins_path_of(t.extra[i], t.work, name);
	}
	for (i = 0; i < NR_CHURN; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ret |= pins_path_of(t.churn_c[i], t.churn, name);
		for (j = 0; j < NR_CHURN_SUB; j++) {
			snprintf(name, sizeof(name), "d%d", j);
			ret |= pins_path_of(t.churn_d[i][j], t.churn_c[i],
					    name);
		}
	}
	if (ret)
		return -1;

	t.npaths = 0;
	for (i = 0; i < NR_CHURN; i++) {
		for (j = 0; j < NR_CHURN_SUB; j++)
			add_path(t.churn_d[i][j]);
		add_path(t.churn_c[i]);
	}
	add_path(t.churn);
	for (i = 0; i < NR_EXTRA; i++)
		add_path(t.extra[i]);
	for (i = 0; i < NR_MIG; i++)
		add_path(t.mig[i]);
	for (i = 0; i < NR_FIXED; i++)
		add_path(t.fixed[i]);
	add_path(t.work);
	for (i = 0; i < 2; i++)
		add_path(t.mcg[i]);
	add_path(t.top);

	return 0;
}

/* The cgroup of this process, from /proc/self/cgroup ("0::/path"). */
static int own_cgroup(char *buf)
{
	char line[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line + 3, "/"))
			ret = pins_path_of(buf, t.root, ".");
		else
			ret = pins_path_of(buf, t.root, line + 4);
	}
	fclose(f);

	return ret;
}

/* A byte count of pins.max (or "max"), LIMIT_INF for "max", or -1. */
static long long read_max(const char *cgroup)
{
	char buf[64];

	if (cg_read(cgroup, "pins.max", buf, sizeof(buf)))
		return -1;
	if (!strcmp(buf, "max\n"))
		return LIMIT_INF;

	return strtoll(buf, NULL, 10);
}

/* Write @str to @cgroup's pins.max; 0 or -errno. */
static int write_max(const char *cgroup, const char *str)
{
	return pins_write(cgroup, "pins.max", str);
}

/* A random value for pins.max, around @cur bytes of usage. */
static void rnd_max(struct rng *r, long long cur, char *buf, size_t size)
{
	int roll = rnd_in(r, 0, 99);
	long long pages;

	if (roll < 15) {
		snprintf(buf, size, "max");
		return;
	}
	if (roll < 40 && cur > 0)
		pages = rnd_in(r, 0, cur / ps);
	else
		pages = rnd_in(r, 0, 4096);

	switch (rnd_in(r, 0, 3)) {
	case 0:
		snprintf(buf, size, "%lldK", pages * ps / 1024);
		break;
	case 1:
		/* Not whole pages: shown rounded down. */
		snprintf(buf, size, "%lld\n", pages * ps + rnd_in(r, 0, ps - 1));
		break;
	default:
		snprintf(buf, size, "%lld", pages * ps);
		break;
	}
}

/* Bytes of pins.current, or -1. */
static long long read_current(const char *cgroup)
{
	char buf[64], *end;
	long long v;

	if (cg_read(cgroup, "pins.current", buf, sizeof(buf)))
		return -1;
	v = strtoll(buf, &end, 10);

	return end == buf ? -1 : v;
}

static long long peak_read(int fd)
{
	char buf[64];
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);

	if (len <= 0)
		return -1;
	buf[len] = '\0';

	return strtoll(buf, NULL, 10);
}

/* Start a new window of the peak of fixed cgroup @i. */
static void fixed_window(int i)
{
	struct fixed_state *f = &fixed[i];

	f->window_on = false;
	if (f->bound == LIMIT_INF)
		return;
	if (pwrite(f->peak_fd, "reset\n", 6, 0) != 6) {
		note("reset %s/pins.peak: %s", t.fixed[i], errname(errno));
		return;
	}
	f->window = f->bound;
	f->window_on = true;
}

/*
 * The first invariant: a fixed cgroup's usage is never above its bound,
 * and its peak never above the highest bound since the peak was reset.
 */
static void fixed_sample(int i)
{
	struct fixed_state *f = &fixed[i];
	long long cur = read_current(t.fixed[i]), peak;

	st.samples++;
	if (cur < 0) {
		note("can't read %s/pins.current", t.fixed[i]);
		st.fixed_violations++;
		return;
	}
	if (cur > f->bound) {
		note("%s: pins.current %lld above what pins.max allows, %lld (pins.max %lld)",
		     t.fixed[i], cur, f->bound, f->max);
		st.fixed_violations++;
	}

	if (f->window_on) {
		peak = peak_read(f->peak_fd);
		st.peak_samples++;
		if (peak < 0) {
			note("can't read %s/pins.peak", t.fixed[i]);
			st.fixed_violations++;
		} else if (peak > f->window) {
			note("%s: pins.peak %lld above what pins.max allowed, %lld (pins.max %lld)",
			     t.fixed[i], peak, f->window, f->max);
			st.fixed_violations++;
		}
	}

	/* Once seen there, it only goes down or up to pins.max. */
	f->bound = cur > f->max ? cur : f->max;
}

/* After writing pins.max of fixed cgroup @i: what it allows now. */
static void fixed_limit(int i)
{
	struct fixed_state *f = &fixed[i];
	long long max = read_max(t.fixed[i]);

	if (max < 0) {
		note("can't read %s/pins.max", t.fixed[i]);
		st.fixed_violations++;
		return;
	}
	f->max = max;
	if (max > f->bound)
		f->bound = max;
	fixed_window(i);
}

static int set_max(struct rng *r, const char *cgroup, int fixed_idx)
{
	char buf[64];
	int ret;

	rnd_max(r, read_current(cgroup), buf, sizeof(buf));
	ret = write_max(cgroup, buf);
	st.limit_writes++;
	if (tally(OP_SET_MAX, -ret, 0))
		return -1;
	if (fixed_idx >= 0) {
		st.fixed_writes++;
		fixed_limit(fixed_idx);
	}

	return 0;
}

/* The limit writer, and the sampler of the fixed cgroups. */
static void *limiter(void *arg)
{
	struct rng r;
	int i, roll;

	rng_init(&r, sh->seed, 0x11, 0);
	while (!__atomic_load_n(&helpers_stop, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&hlock);
		for (i = 0; i < NR_FIXED; i++)
			fixed_sample(i);

		if (chance(&r, 8)) {
			roll = rnd_in(&r, 0, 99);
			if (roll < 40) {
				i = rnd_in(&r, 0, NR_FIXED - 1);
				set_max(&r, t.fixed[i], i);
			} else if (roll < 75) {
				set_max(&r, t.mig[rnd_in(&r, 0, NR_MIG - 1)], -1);
			} else if (roll < 95) {
				i = rnd_in(&r, 0, NR_EXTRA - 1);
				if (extra_made[i])
					set_max(&r, t.extra[i], -1);
			} else {
				set_max(&r, t.work, -1);
			}
		}
		pthread_mutex_unlock(&hlock);
		sleep_ms(rnd_in(&r, 1, 3));
	}

	return NULL;
}

/* Move worker or main process @pid to @cgroup; 0 or -errno. */
static int move_pid(const char *cgroup, pid_t pid)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", pid);

	return pins_write(cgroup, "cgroup.procs", buf);
}

/* A random cgroup the migrating workers go to. */
static const char *mig_target(struct rng *r)
{
	int i = rnd_in(r, 0, NR_MIG + NR_EXTRA - 1);

	if (i < NR_MIG)
		return t.mig[i];
	if (extra_made[i - NR_MIG])
		return t.extra[i - NR_MIG];

	return t.mig[0];
}

static void *migrator(void *arg)
{
	int nworkers = *(int *)arg, i, roll, ret;
	struct rng r;

	rng_init(&r, sh->seed, 0x22, 0);
	while (!__atomic_load_n(&helpers_stop, __ATOMIC_RELAXED)) {
		sleep_ms(rnd_in(&r, 1, 4));
		pthread_mutex_lock(&hlock);
		roll = rnd_in(&r, 0, 99);
		if (roll < 3) {
			/* A sibling comes or goes, with charges left in it. */
			i = rnd_in(&r, 0, NR_EXTRA - 1);
			if (extra_made[i]) {
				ret = rmdir(t.extra[i]) ? errno : 0;
				if (!tally(OP_RMDIR, ret, ALLOW(EBUSY)))
					extra_made[i] = false;
			} else {
				ret = mkdir(t.extra[i], 0755) ? errno : 0;
				if (!tally(OP_MKDIR, ret, 0))
					extra_made[i] = true;
			}
		} else if (roll < 5) {
			/* Its locked memory moves along, its pins don't. */
			ret = move_pid(t.mcg[!hold.where], getpid());
			if (!tally(OP_MIGRATE, -ret, 0))
				hold.where = !hold.where;
		} else {
			i = rnd_in(&r, NR_FIXED, nworkers - 1);
			if (sh->w[i].pid > 0)
				tally(OP_MIGRATE,
				      -move_pid(mig_target(&r), sh->w[i].pid),
				      ALLOW(ESRCH));
		}
		pthread_mutex_unlock(&hlock);
	}

	return NULL;
}

/*
 * A short-lived process in the churn subtree: locks some memory while
 * +pins is toggled above it, then goes.
 */
static int locker_main(struct rng *r)
{
	long n = rnd_in(r, 1, 32);
	char *p;

	cur = NULL;
	p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	tally(OP_MLOCK, err_of(mlock(p, n * ps)), ALLOW(ENOMEM));
	sleep_ms(rnd_in(r, 2, 30));
	tally(OP_MUNLOCK, err_of(munlock(p, (n / 2) * ps)), 0);
	sleep_ms(rnd_in(r, 2, 30));

	return 0;
}

static void spawn_locker(struct rng *r, const char *cgroup)
{
	int fd, i, err;
	pid_t pid;

	for (i = 0; i < NR_LOCKERS; i++)
		if (!lockers[i])
			break;
	if (i == NR_LOCKERS)
		return;

	fd = open(cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		tally(OP_LOCKER, errno, ALLOW(ENOENT));
		return;
	}
	rnd(r);
	pid = clone_into_cgroup(fd);
	err = errno;
	close(fd);
	if (!pid)
		_exit(locker_main(r));
	/* The cgroup went, or can't have processes (it has controllers). */
	if (tally(OP_LOCKER, pid < 0 ? err : 0,
		  ALLOW(ENOENT) | ALLOW(ENODEV) | ALLOW(EBUSY)))
		return;
	lockers[i] = pid;
	st.lockers++;
}

static const char *churn_cg(struct rng *r)
{
	int i = rnd_in(r, 0, NR_CHURN - 1);

	if (chance(r, 50))
		return t.churn_c[i];

	return t.churn_d[i][rnd_in(r, 0, NR_CHURN_SUB - 1)];
}

/*
 * Cgroups come and go and +pins is toggled in a subtree the workers are
 * not in, some with a short-lived locker in them.
 */
static void *churner(void *arg)
{
	const char *cg, *parent;
	char buf[64];
	struct rng r;
	int ret;

	rng_init(&r, sh->seed, 0x33, 0);
	while (!__atomic_load_n(&helpers_stop, __ATOMIC_RELAXED)) {
		sleep_ms(rnd_in(&r, 2, 6));
		pthread_mutex_lock(&hlock);
		switch (rnd_in(&r, 0, 9)) {
		case 0:
		case 1:
			ret = mkdir(churn_cg(&r), 0755) ? errno : 0;
			tally(OP_MKDIR, ret, ALLOW(EEXIST) | ALLOW(ENOENT));
			break;
		case 2:
		case 3:
			ret = rmdir(churn_cg(&r)) ? errno : 0;
			tally(OP_RMDIR, ret, ALLOW(ENOENT) | ALLOW(EBUSY));
			break;
		case 4:
		case 5:
			parent = chance(&r, 40) ? t.churn :
				 t.churn_c[rnd_in(&r, 0, NR_CHURN - 1)];
			ret = pins_write(parent, "cgroup.subtree_control",
					 chance(&r, 50) ? "+pins" : "-pins");
			/*
			 * ENOENT: no such cgroup, or pins is not enabled
			 * above; EBUSY: a child uses it, or the cgroup has
			 * processes of its own.
			 */
			tally(OP_SUBTREE, -ret,
			      ALLOW(ENOENT) | ALLOW(EBUSY) | ALLOW(ENODEV));
			break;
		case 6:
			cg = churn_cg(&r);
			rnd_max(&r, 0, buf, sizeof(buf));
			ret = write_max(cg, buf);
			tally(OP_SET_MAX, -ret, ALLOW(ENOENT) | ALLOW(ENODEV));
			break;
		default:
			spawn_locker(&r, churn_cg(&r));
			break;
		}
		pthread_mutex_unlock(&hlock);
	}

	return NULL;
}

static int stat_idx(const char *key)
{
	int i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		if (!strcmp(pins_stat_keys[i], key))
			break;

	return i;
}

/* pins.stat and pins.current of a cgroup, in bytes. */
struct usage {
	long long stat[PINS_NR_STAT_KEYS];
	long long cur;
};

/* 0 with *@u read, 1 if the cgroup has no pins files, -1 on errors. */
static int usage_read(const char *cgroup, struct usage *u)
{
	char buf[1024], *line, *save, *sp;
	int ret, i;

	memset(u, 0, sizeof(*u));
	ret = cg_read(cgroup, "pins.stat", buf, sizeof(buf));
	if (ret == -ENOENT)
		return 1;
	if (ret)
		return -1;

	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		sp = strchr(line, ' ');
		if (!sp)
			return -1;
		*sp = '\0';
		for (i = 0; i < PINS_NR_STAT_KEYS; i++)
			if (!strcmp(line, pins_stat_keys[i]))
				break;
		if (i == PINS_NR_STAT_KEYS)
			return -1;
		u->stat[i] = strtoll(sp + 1, NULL, 10);
	}

	u->cur = read_current(cgroup);

	return u->cur < 0 ? -1 : 0;
}

static long long stat_sum(const struct usage *u)
{
	long long sum = 0;
	int i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		sum += u->stat[i];

	return sum;
}

/*
 * Read the usage of @cgroup until two reads in a row agree: only charges
 * returned asynchronously (a ring's buffers) can move it during a pause.
 */
static int usage_stable(const char *cgroup, struct usage *u)
{
	struct usage again;
	int ret, tries;

	ret = usage_read(cgroup, u);
	for (tries = 0; !ret && tries < 100; tries++) {
		ret = usage_read(cgroup, &again);
		if (ret || !memcmp(u, &again, sizeof(*u)))
			break;
		*u = again;
		sleep_ms(10);
	}
	if (!ret && tries == 100)
		st.unstable++;

	return ret;
}

static void usage_add(struct usage *sum, const struct usage *u)
{
	int i;

	for (i = 0; i < PINS_NR_STAT_KEYS; i++)
		sum->stat[i] += u->stat[i];
	sum->cur += u->cur;
}

static long long dying_descendants(const char *cgroup)
{
	return cg_read_key_long(cgroup, "cgroup.stat",
				"nr_dying_descendants ");
}

/*
 * A parent holds what its children hold, at least as much while it has
 * dying descendants. The reads are not atomic and charges still go back
 * during a pause (a ring's buffers, an mm whose owner exits): read the
 * parent before and after its children, and try again for a while.
 */
static void check_family(const char *cgroup, char (*kids)[PATH_MAX], int n)
{
	struct usage p1, p2, sum, c;
	long long dying = 0;
	int tries, i, k = 0;

	for (tries = 0; tries < 50; tries++) {
		if (tries)
			sleep_ms(20);
		if (usage_read(cgroup, &p1))
			return;
		memset(&sum, 0, sizeof(sum));
		for (i = 0; i < n; i++) {
			/* A child without pins charges its parent itself. */
			if (usage_read(kids[i], &c))
				return;
			usage_add(&sum, &c);
		}
		if (usage_read(cgroup, &p2) || memcmp(&p1, &p2, sizeof(p1)))
			continue;
		dying = dying_descendants(cgroup);
		for (k = 0; k < PINS_NR_STAT_KEYS; k++)
			if (dying ? p1.stat[k] < sum.stat[k] :
				    p1.stat[k] != sum.stat[k])
				break;
		if (k == PINS_NR_STAT_KEYS)
			return;
	}

	if (k == PINS_NR_STAT_KEYS) {
		st.unstable++;
		return;
	}
	note("%s: %s %lld, its children hold %lld (%lld dying descendants)",
	     cgroup, pins_stat_keys[k], p1.stat[k], sum.stat[k], dying);
	st.stat_violations++;
}

/*
 * Check @cgroup and every cgroup below it: pins.stat adds up to
 * pins.current, and each parent holds what its children hold.
 */
static void check_tree(const char *cgroup)
{
	char (*kids)[PATH_MAX] = NULL;
	struct dirent *de;
	struct usage u;
	int ret, i, n = 0;
	DIR *dir;

	ret = usage_stable(cgroup, &u);
	if (ret < 0) {
		note("can't read the pins files of %s", cgroup);
		st.stat_violations++;
		return;
	}
	st.cg_checked++;
	if (!ret && stat_sum(&u) != u.cur) {
		note("%s: pins.stat adds up to %lld, pins.current is %lld",
		     cgroup, stat_sum(&u), u.cur);
		st.stat_violations++;
	}

	dir = opendir(cgroup);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		kids = realloc(kids, (n + 1) * sizeof(*kids));
		if (!kids || pins_path_of(kids[n], cgroup, de->d_name))
			break;
		n++;
	}
	closedir(dir);

	if (!ret && n)
		check_family(cgroup, kids, n);
	for (i = 0; i < n; i++)
		check_tree(kids[i]);
	free(kids);
}

/* Pages of the main process's VmLck or VmPin, quietly; -1 on errors. */
static long status_pages(const char *key)
{
	return pins_status_pages(0, key);
}

/* What the main process's checks compare, for their messages. */
static const char *usage_str(char *buf, size_t size, const struct usage *u)
{
	snprintf(buf, size, "current %lld mlock %lld io_uring %lld other %lld",
		 u->cur, u->stat[stat_idx("mlock")],
		 u->stat[stat_idx("io_uring")], u->stat[stat_idx("other")]);

	return buf;
}

/*
 * What the main process holds: its locked memory charged as "mlock"
 * where it is now, its pins where they were made (main_a), VmLck and
 * VmPin as much. Returns 0, or -1 with each difference noted.
 */
static int main_check(void)
{
	struct usage want[2] = {}, got;
	char a[128], b[128];
	long vmlck, vmpin;
	int ret = 0, i;

	want[hold.where].stat[stat_idx("mlock")] = hold.lock_pages * ps;
	want[0].stat[stat_idx("other")] = hold.pin_pages * ps;
	want[0].stat[stat_idx("io_uring")] = hold.ring_pages * ps;

	for (i = 0; i < 2; i++) {
		want[i].cur = stat_sum(&want[i]);
		if (usage_stable(t.mcg[i], &got)) {
			note("can't read the pins files of %s", t.mcg[i]);
			ret = -1;
		} else if (memcmp(&got, &want[i], sizeof(got))) {
			note("%s: %s, expected %s", t.mcg[i],
			     usage_str(a, sizeof(a), &got),
			     usage_str(b, sizeof(b), &want[i]));
			ret = -1;
		}
	}

	vmlck = status_pages("VmLck");
	vmpin = status_pages("VmPin");
	if (vmlck != hold.lock_pages ||
	    vmpin != hold.pin_pages + hold.ring_pages) {
		note("main process: VmLck %ld VmPin %ld pages, expected %ld %ld",
		     vmlck, vmpin, hold.lock_pages,
		     hold.pin_pages + hold.ring_pages);
		ret = -1;
	}
	if (ret)
		st.main_violations++;

	return ret;
}

static int set_freeze(const char *cgroup, bool on)
{
	return pins_write(cgroup, "cgroup.freeze", on ? "1" : "0");
}

/* Wait for @cgroup to say "frozen 1"; false after 5 s. */
static bool wait_frozen(const char *cgroup)
{
	int tries;

	for (tries = 0; tries < 500; tries++) {
		if (cg_read_key_long(cgroup, "cgroup.events", "frozen ") == 1)
			return true;
		sleep_ms(10);
	}

	return false;
}

/*
 * A pause: the helpers wait, the workers and lockers are frozen, and
 * everything is checked that can only be checked at rest.
 */
static void pause_check(void)
{
	struct usage u;

	pthread_mutex_lock(&hlock);
	if (set_freeze(t.work, true) || set_freeze(t.churn, true)) {
		note("can't freeze %s", t.work);
		st.stat_violations++;
		goto thaw;
	}
	if (!wait_frozen(t.work) || !wait_frozen(t.churn)) {
		st.pauses_unfrozen++;
		goto thaw;
	}

	st.pauses++;
	check_tree(t.top);
	if (!usage_stable(t.root, &u) && stat_sum(&u) != u.cur) {
		note("root: pins.stat adds up to %lld, pins.current is %lld",
		     stat_sum(&u), u.cur);
		st.stat_violations++;
	}
	main_check();

thaw:
	set_freeze(t.work, false);
	set_freeze(t.churn, false);
	pthread_mutex_unlock(&hlock);
}

/* Start worker @i in its cgroup, as a fresh exec() of this program. */
static int spawn_worker(struct rng *r, int i)
{
	char fd[16], idx[16], gen[16], *argv[6];
	const char *cgroup;
	sigset_t none;
	int cfd;
	pid_t pid;

	cgroup = sh->w[i].fixed ? t.fixed[i] : t.mig[rnd_in(r, 0, NR_MIG - 1)];
	snprintf(fd, sizeof(fd), "%d", sh_fd);
	snprintf(idx, sizeof(idx), "%d", i);
	snprintf(gen, sizeof(gen), "%d", sh->w[i].gen);
	argv[0] = "test_pins_stress";
	argv[1] = "--worker";
	argv[2] = fd;
	argv[3] = idx;
	argv[4] = gen;
	argv[5] = NULL;
	sigemptyset(&none);

	/* Born there, not migrated there: CLONE_INTO_CGROUP. */
	cfd = open(cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0) {
		note("open %s: %s", cgroup, errname(errno));
		return -1;
	}
	fflush(stdout);
	pid = clone_into_cgroup(cfd);
	if (!pid) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(sh->exe, argv, environ);
		_exit(127);
	}
	close(cfd);
	if (pid < 0) {
		note("clone3(CLONE_INTO_CGROUP) of worker %d: %s", i,
		     errname(errno));
		return -1;
	}

	pthread_mutex_lock(&hlock);
	sh->w[i].pid = pid;
	pthread_mutex_unlock(&hlock);

	return 0;
}

static long long workers_alive(int nworkers)
{
	int i, n = 0;

	for (i = 0; i < nworkers; i++)
		n += sh->w[i].pid > 0;

	return n;
}

/* A child of the main process ended with @status: it must be 0. */
static void reaped(int status, const char *what, int i, pid_t pid)
{
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return;

	sh->child_failures++;
	/* Then it said why itself. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NOTED)
		return;
	note("%s %d (pid %d): %s %d", what, i, pid,
	     WIFSIGNALED(status) ? "killed by signal" : "exit status",
	     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/*
 * Reap what exited: workers (started again unless @stopping), lockers,
 * and orphans that came to this subreaper. Returns -1 if a worker could
 * not be started again.
 */
static int reap_all(struct rng *r, int nworkers, bool stopping)
{
	int i, w, status, ret = 0;
	siginfo_t si;
	pid_t pid;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) ||
		    !si.si_pid)
			break;
		pid = si.si_pid;

		/* Forget it before its pid can be reused. */
		pthread_mutex_lock(&hlock);
		for (w = 0; w < nworkers; w++)
			if (sh->w[w].pid == pid)
				break;
		if (w < nworkers)
			sh->w[w].pid = 0;
		for (i = 0; i < NR_LOCKERS; i++)
			if (lockers[i] == pid)
				break;
		if (i < NR_LOCKERS)
			lockers[i] = 0;
		waitpid(pid, &status, 0);
		pthread_mutex_unlock(&hlock);

		if (w < nworkers)
			reaped(status, "worker", w, pid);
		else if (i < NR_LOCKERS)
			reaped(status, "locker", i, pid);
		/* A worker's orphan: killed when its parent went, or not. */
		else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			reaped(status, "orphan of a worker", 0, pid);
		if (w == nworkers || stopping ||
		    __atomic_load_n(&sh->stop, __ATOMIC_RELAXED))
			continue;

		sh->w[w].gen++;
		if (spawn_worker(r, w)) {
			sh->child_failures++;
			ret = -1;
		}
	}

	return ret;
}

/*
 * What the main process holds across the run, charged to main_a, where
 * it is: a locked buffer, pins through the test driver, an io_uring
 * buffer (each if the kernel has it).
 */
static int hold_start(void)
{
	struct vm_account_test_pin pin = {};
	struct iovec iov;
	int ret;

	hold.lock_pages = 16;
	hold.lock_buf = pins_buf_alloc(hold.lock_pages, true);
	if (!hold.lock_buf || mlock(hold.lock_buf, hold.lock_pages * ps)) {
		ksft_print_msg("mlock: %s\n", strerror(errno));
		return -1;
	}

	if (sh->have_vmat) {
		hold.pin_buf = pins_buf_alloc(8, true);
		hold.vmat_fd = open(VMAT_DEV, O_RDWR | O_CLOEXEC);
		pin.addr = (unsigned long)hold.pin_buf;
		pin.npages = 8;
		if (!hold.pin_buf || hold.vmat_fd < 0 ||
		    ioctl(hold.vmat_fd, VM_ACCOUNT_TEST_PIN, &pin)) {
			ksft_print_msg("pin through %s: %s\n", VMAT_DEV,
				       strerror(errno));
			return -1;
		}
		hold.pin_pages = 8;
	}

	if (sh->have_uring) {
		hold.ring_buf = pins_buf_alloc(4, true);
		if (!hold.ring_buf)
			return -1;
		ret = io_uring_queue_init(4, &hold.ring, 0);
		if (ret) {
			ksft_print_msg("io_uring_queue_init: %s\n",
				       strerror(-ret));
			return -1;
		}
		hold.ring_up = true;
		iov.iov_base = hold.ring_buf;
		iov.iov_len = 4 * ps;
		ret = io_uring_register_buffers(&hold.ring, &iov, 1);
		if (ret) {
			ksft_print_msg("io_uring_register_buffers: %s\n",
				       strerror(-ret));
			return -1;
		}
		hold.ring_pages = 4;
	}

	return 0;
}

/* Let go of it all: the charges go back (the ring's asynchronously). */
static void hold_stop(void)
{
	if (hold.ring_up)
		io_uring_queue_exit(&hold.ring);
	hold.ring_up = false;
	hold.ring_pages = 0;
	pins_close_fd(&hold.vmat_fd);
	hold.pin_pages = 0;
	pins_buf_free(hold.lock_buf, hold.lock_pages);
	hold.lock_buf = NULL;
	hold.lock_pages = 0;
	pins_buf_free(hold.pin_buf, 8);
	hold.pin_buf = NULL;
	pins_buf_free(hold.ring_buf, 4);
	hold.ring_buf = NULL;
}

/* What the kernel has of what the workers use. */
static void probe_features(void)
{
	struct io_uring ring;
	int fd, one = 1;

	fd = syscall(__NR_memfd_secret, 0);
	sh->have_secret = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		ksft_print_msg("no memfd_secret (%s): not stressed\n",
			       strerror(errno));

	sh->have_vmat = !access(VMAT_DEV, R_OK | W_OK);
	if (!sh->have_vmat)
		ksft_print_msg("no %s: pins through it not stressed\n",
			       VMAT_DEV);

	sh->have_hook = !access(HOOK_FILE, R_OK | W_OK);
	if (!sh->have_hook)
		ksft_print_msg("no %s: not stressed\n", HOOK_FILE);

	sh->have_uring = !io_uring_queue_init(2, &ring, 0);
	if (sh->have_uring)
		io_uring_queue_exit(&ring);
	else
		ksft_print_msg("no io_uring: not stressed\n");

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sh->have_zc = fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY,
					     &one, sizeof(one));
	if (!sh->have_zc)
		ksft_print_msg("no MSG_ZEROCOPY on UDP (%s): not stressed\n",
			       strerror(errno));
	if (fd >= 0)
		close(fd);
	if (sh->have_zc && ZC_BYTES < ps) {
		ksft_print_msg("pages too large for a UDP datagram: MSG_ZEROCOPY not stressed\n");
		sh->have_zc = false;
	}

	fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	sh->have_xdp = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		ksft_print_msg("no AF_XDP sockets (%s): not stressed\n",
			       strerror(errno));

	fd = pins_perf_open();
	sh->have_perf = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		ksft_print_msg("no perf events (%s): not stressed\n",
			       strerror(errno));
}

/* Make the tree; the main process goes to main_a. */
static int tree_make(struct rng *r, int nworkers)
{
	char buf[64];
	int i;

	if (pins_cg_has_word(t.root, "cgroup.subtree_control", "pins") == 1)
		t.root_had_pins = true;
	if (own_cgroup(t.orig)) {
		ksft_print_msg("can't tell the cgroup of this process\n");
		return -1;
	}

	/* What a run that was killed left behind. */
	t.made = true;
	cleanup_tree();
	t.made = true;

	if (pins_prepare(t.root) != KSFT_PASS ||
	    pins_create(t.top, true) || pins_create(t.mcg[0], false) ||
	    pins_create(t.mcg[1], false) || pins_create(t.work, true) ||
	    pins_create(t.churn, true))
		return -1;
	for (i = 0; i < NR_FIXED; i++)
		if (pins_create(t.fixed[i], false))
			return -1;
	for (i = 0; i < NR_MIG; i++) {
		if (pins_create(t.mig[i], false))
			return -1;
		snprintf(sh->mig[i], sizeof(sh->mig[i]), "%s", t.mig[i]);
		rnd_max(r, 0, buf, sizeof(buf));
		if (write_max(t.mig[i], buf))
			return -1;
	}

	/* Fixed cgroups: one tight, one roomy, both finite to start. */
	for (i = 0; i < NR_FIXED; i++) {
		snprintf(buf, sizeof(buf), "%ld",
			 (i ? rnd_in(r, 1500, 3000) : rnd_in(r, 400, 1200)) *
			 ps);
		fixed[i].peak_fd = cg_open(t.fixed[i], "pins.peak",
					   O_RDWR | O_CLOEXEC);
		if (write_max(t.fixed[i], buf) || fixed[i].peak_fd < 0)
			return -1;
		fixed[i].bound = 0;
		fixed_limit(i);
	}
	for (i = 0; i < nworkers; i++)
		sh->w[i].fixed = i < NR_FIXED;

	if (cg_enter_current(t.mcg[0])) {
		ksft_print_msg("can't move into %s\n", t.mcg[0]);
		return -1;
	}
	hold.where = 0;

	return 0;
}

/* Wait until no process is left below @cgroup, reaping; false after 10 s. */
static bool wait_empty(struct rng *r, int nworkers, const char *cgroup)
{
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		reap_all(r, nworkers, true);
		if (cg_read_key_long(cgroup, "cgroup.events", "populated ") == 0)
			return true;
		sleep_ms(10);
	}

	return false;
}

/* Every cgroup below @cgroup, and it, holds nothing: 0, or -1. */
static int all_zero(const char *cgroup, bool verbose)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct usage u;
	int ret = 0;
	DIR *dir;

	if (!usage_read(cgroup, &u) && (u.cur || stat_sum(&u))) {
		if (verbose)
			ksft_print_msg("%s: pins.current %lld, pins.stat %lld at the end\n",
				       cgroup, u.cur, stat_sum(&u));
		ret = -1;
	}

	dir = opendir(cgroup);
	if (!dir)
		return ret;
	while ((de = readdir(dir))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cgroup, de->d_name);
		if (all_zero(path, verbose))
			ret = -1;
	}
	closedir(dir);

	return ret;
}

/* all_zero() of the workers' and the churn's trees, given time. */
static int settle_zero(void)
{
	long long end = now_ms() + SETTLE_MS;

	while (now_ms() < end) {
		if (!all_zero(t.work, false) && !all_zero(t.churn, false))
			return 0;
		sleep_ms(20);
	}

	return all_zero(t.work, true) | all_zero(t.churn, true);
}

/* The root's pins.current is @base again, given time: 0, or -1. */
static int root_back(long long base)
{
	long long end = now_ms() + SETTLE_MS, cur = -1;
	struct usage u;

	while (now_ms() < end) {
		cur = read_current(t.root);
		if (cur == base)
			break;
		sleep_ms(20);
	}
	if (cur != base) {
		ksft_print_msg("root: pins.current %lld, %lld before the test\n",
			       cur, base);
		return -1;
	}
	if (usage_stable(t.root, &u) || stat_sum(&u) != u.cur) {
		ksft_print_msg("root: pins.stat adds up to %lld, pins.current is %lld\n",
			       stat_sum(&u), u.cur);
		return -1;
	}

	return 0;
}

/* What in the kernel log means a splat. */
static const char * const splats[] = {
	"WARNING:", "BUG:", "BUG ", "Oops", "KASAN", "UBSAN", "kmemleak",
	"circular locking", "lockdep", "general protection", "Call Trace",
	"refcount_t", "list_add corruption", "list_del corruption",
};

/* Splats logged since @fd was opened: their number, the first ones told. */
static int kmsg_splats(int fd)
{
	char msg[8192];
	int n = 0, ret;
	size_t i;

	while ((ret = pins_kmsg_read(fd, msg, sizeof(msg))) > 0) {
		for (i = 0; i < ARRAY_SIZE(splats); i++)
			if (strstr(msg, splats[i]))
				break;
		if (i == ARRAY_SIZE(splats))
			continue;
		if (n++ < 8)
			ksft_print_msg("kernel: %s\n", msg);
	}

	return ret < 0 ? -1 : n;
}

static void print_notes(void)
{
	int i, n = __atomic_load_n(&sh->nerrs, __ATOMIC_RELAXED);

	for (i = 0; i < n && i < NR_ERRS; i++)
		ksft_print_msg("%s\n", sh->errs[i]);
	if (n > NR_ERRS)
		ksft_print_msg("... and %d more\n", n - NR_ERRS);
}

static void print_counts(long long ms)
{
	long long total = 0, bad = 0, helpers = 0;
	int i;

	for (i = 0; i < NR_OPS; i++) {
		if (i < OP_MIGRATE)
			total += sh->done[i] + sh->refused[i] + sh->bad[i];
		else
			helpers += sh->done[i] + sh->refused[i] + sh->bad[i];
		bad += sh->bad[i];
	}
	ksft_print_msg("%lld operations in %lld.%03lld s: %lld/s\n", total,
		       ms / 1000, ms % 1000, ms ? total * 1000 / ms : 0);
	ksft_print_msg("%lld operations of the helpers, %lld failed in all\n",
		       helpers, bad);
	for (i = 0; i < NR_OPS; i++)
		if (sh->done[i] || sh->refused[i] || sh->bad[i])
			ksft_print_msg("  %-18s done %8lld refused %7lld%s\n",
				       op_info[i].name, sh->done[i],
				       sh->refused[i],
				       sh->bad[i] ? " FAILED" : "");
	ksft_print_msg("fixed cgroups: %lld samples of pins.current, %lld of pins.peak\n",
		       st.samples, st.peak_samples);
	ksft_print_msg("pins.max written %lld times, %lld to a fixed cgroup\n",
		       st.limit_writes, st.fixed_writes);
	ksft_print_msg("pauses: %lld, %lld cgroups checked, %lld not frozen in time\n",
		       st.pauses, st.cg_checked, st.pauses_unfrozen);
	ksft_print_msg("unsteady reads at pauses %lld, lockers %lld\n",
		       st.unstable, st.lockers);
	ksft_print_msg("violations: fixed bound %lld, sums %lld, main process %lld\n",
		       st.fixed_violations, st.stat_violations,
		       st.main_violations);
	ksft_print_msg("children that died: %lld\n", sh->child_failures);
}

static void print_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-s SEED] [-n OPS] [-t SECONDS] [-w WORKERS] [-T THREADS]\n"
		"  -s SEED     seed of every random choice (default: from the time)\n"
		"  -n OPS      operations of workers and children (default %d)\n"
		"  -t SECONDS  stop after this long at the latest (default %d)\n"
		"  -w WORKERS  worker processes, %d of them in fixed cgroups (default %d)\n"
		"  -T THREADS  threads of each worker (default %d)\n",
		prog, DEF_OPS, DEF_SECONDS, NR_FIXED, DEF_WORKERS,
		DEF_THREADS);
	exit(KSFT_FAIL);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	o->seed = ((unsigned long long)time(NULL) << 16) ^ getpid();
	o->ops = DEF_OPS;
	o->seconds = DEF_SECONDS;
	o->workers = DEF_WORKERS;
	o->threads = DEF_THREADS;

	while ((c = getopt(argc, argv, "s:n:t:w:T:h")) != -1) {
		switch (c) {
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o->ops = strtoll(optarg, NULL, 0);
			break;
		case 't':
			o->seconds = atoi(optarg);
			break;
		case 'w':
			o->workers = atoi(optarg);
			break;
		case 'T':
			o->threads = atoi(optarg);
			break;
		default:
			print_usage(argv[0]);
		}
	}
	if (optind != argc || o->ops < 0 || o->seconds <= 0 ||
	    o->workers <= NR_FIXED || o->workers > MAX_WORKERS ||
	    o->threads < 1 || o->threads > MAX_THREADS)
		print_usage(argv[0]);
}

static int shared_make(const struct opts *o)
{
	ssize_t len;

	sh_fd = memfd_create("pins_stress", 0);
	if (sh_fd < 0 || ftruncate(sh_fd, sizeof(*sh)))
		return -1;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED,
		  sh_fd, 0);
	if (sh == MAP_FAILED)
		return -1;

	sh->seed = o->seed;
	sh->budget = o->ops;
	sh->nthreads = o->threads;
	sh->main_pid = getpid();
	len = readlink("/proc/self/exe", sh->exe, sizeof(sh->exe) - 1);
	if (len <= 0)
		return -1;
	sh->exe[len] = '\0';

	return 0;
}

enum {
	RES_FIXED, RES_STAT, RES_ERRNO, RES_MAIN, RES_ZERO, RES_SPLAT,
	NR_RES
};

static const char * const res_name[NR_RES] = {
	[RES_FIXED] = "fixed cgroups never above what pins.max allows",
	[RES_STAT] = "pins.stat adds up to pins.current, parents to children",
	[RES_ERRNO] = "no unexpected errno, no child died",
	[RES_MAIN] = "VmLck and VmPin of the main process match its charges",
	[RES_ZERO] = "every pins.current back to 0, the root's to its start",
	[RES_SPLAT] = "no kernel warning",
};

int main(int argc, char **argv)
{
	pthread_t th_wd, th_lim, th_mig, th_churn;
	long long start, elapsed, root_base = -1;
	int res[NR_RES], i, kmsg = -1;
	bool setup_ok = false;
	struct opts o;
	sigset_t sigs;
	struct rng r;

	if (argc == 5 && !strcmp(argv[1], "--worker"))
		return worker_main(argv);
	if (argc == 5 && !strcmp(argv[1], "--child"))
		return child_main(argv);

	parse_opts(argc, argv, &o);
	pins_util_init();
	ps = page_size;

	ksft_print_header();
	ksft_print_msg("seed %llu: replay with -s %llu -n %lld -t %d -w %d -T %d\n",
		       o.seed, o.seed, o.ops, o.seconds, o.workers, o.threads);

	if (cg_find_unified_root(t.root, sizeof(t.root), NULL))
		ksft_exit_skip("cgroup v2 isn't mounted\n");
	if (pins_cg_has_word(t.root, "cgroup.controllers", "pins") != 1)
		ksft_exit_skip("pins controller not available\n");
	ksft_set_plan(NR_RES);

	if (shared_make(&o)) {
		ksft_print_msg("shared memory: %s\n", strerror(errno));
		ksft_exit_fail();
	}
	rng_init(&r, o.seed, 0x44, 0);
	probe_features();
	if (tree_names())
		ksft_exit_fail();
	snprintf(t.pid, sizeof(t.pid), "%d", getpid());
	snprintf(watchdog_msg, sizeof(watchdog_msg),
		 "Bail out! stopped by the watchdog (seed %llu)\n", o.seed);

	/* The watchdog thread takes these signals, every other one not. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGALRM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pthread_create(&th_wd, NULL, watchdog, &sigs)) {
		ksft_print_msg("pthread_create failed\n");
		ksft_exit_fail();
	}
	alarm(o.seconds + 120);

	/* The root's usage before, once earlier tests' charges settled. */
	for (i = 0; i < 100; i++) {
		long long a = read_current(t.root);

		sleep_ms(20);
		root_base = read_current(t.root);
		if (a == root_base)
			break;
	}
	kmsg = pins_kmsg_open();

	if (tree_make(&r, o.workers) || hold_start() || main_check()) {
		print_notes();
		ksft_print_msg("setup failed\n");
		goto out;
	}
	setup_ok = true;

	start = now_ms();
	for (i = 0; i < o.workers; i++)
		if (spawn_worker(&r, i))
			goto stop;
	if (pthread_create(&th_lim, NULL, limiter, NULL) ||
	    pthread_create(&th_mig, NULL, migrator, &o.workers) ||
	    pthread_create(&th_churn, NULL, churner, NULL)) {
		ksft_print_msg("pthread_create failed\n");
		goto stop;
	}

	for (;;) {
		long long next = now_ms() + PAUSE_MS;

		while (now_ms() < next && !sh->stop) {
			if (reap_all(&r, o.workers, false))
				sh->stop = 1;
			if (__atomic_load_n(&sh->ops, __ATOMIC_RELAXED) >=
			    o.ops || now_ms() - start >= o.seconds * 1000LL)
				sh->stop = 1;
			sleep_ms(10);
		}
		if (sh->stop)
			break;
		pause_check();
	}

stop:
	sh->stop = 1;
	for (i = 0; i < 2000 && workers_alive(o.workers); i++) {
		reap_all(&r, o.workers, true);
		sleep_ms(10);
	}
	if (workers_alive(o.workers)) {
		note("workers still alive 20 s after the end");
		sh->child_failures++;
	}
	elapsed = now_ms() - start;
	__atomic_store_n(&helpers_stop, 1, __ATOMIC_RELAXED);
	pthread_join(th_lim, NULL);
	pthread_join(th_mig, NULL);
	pthread_join(th_churn, NULL);
	if (!wait_empty(&r, o.workers, t.work) ||
	    !wait_empty(&r, o.workers, t.churn)) {
		note("processes left in the test's cgroups after the run");
		sh->child_failures++;
	}

	/* A last look at rest, then the segments the workers left go. */
	pause_check();
	for (i = 0; i < NR_SHM_KEYS; i++) {
		int id = shmget(SHM_KEY_BASE + i, 0, 0);

		if (id >= 0 && shmctl(id, IPC_RMID, NULL))
			note("IPC_RMID of key %#x: %s", SHM_KEY_BASE + i,
			     errname(errno));
	}
	res[RES_ZERO] = settle_zero() ? KSFT_FAIL : KSFT_PASS;
	print_counts(elapsed);

out:
	if (setup_ok && main_check())
		st.main_violations++;
	hold_stop();
	if (setup_ok && (pins_expect_wait(t.mcg[0], "pins.current", 0) ||
			 pins_expect(t.mcg[1], "pins.current", 0) ||
			 pins_status_expect(0, "VmLck", 0) ||
			 pins_status_expect(0, "VmPin", 0)))
		st.main_violations++;
	for (i = 0; i < NR_FIXED; i++)
		if (fixed[i].peak_fd > 0)
			close(fixed[i].peak_fd);
	cleanup_tree();
	alarm(0);

	print_notes();
	if (!setup_ok) {
		for (i = 0; i < NR_RES; i++)
			ksft_test_result_fail("%s\n", res_name[i]);
		ksft_finished();
	}

	res[RES_FIXED] = st.fixed_violations ? KSFT_FAIL : KSFT_PASS;
	res[RES_STAT] = st.stat_violations || !st.pauses ? KSFT_FAIL :
			KSFT_PASS;
	res[RES_ERRNO] = KSFT_PASS;
	for (i = 0; i < NR_OPS; i++)
		if (sh->bad[i])
			res[RES_ERRNO] = KSFT_FAIL;
	if (sh->child_failures)
		res[RES_ERRNO] = KSFT_FAIL;
	res[RES_MAIN] = st.main_violations ? KSFT_FAIL : KSFT_PASS;
	if (root_back(root_base))
		res[RES_ZERO] = KSFT_FAIL;
	res[RES_SPLAT] = kmsg < 0 ? KSFT_SKIP :
			 kmsg_splats(kmsg) ? KSFT_FAIL : KSFT_PASS;

	for (i = 0; i < NR_RES; i++) {
		if (res[i] == KSFT_PASS)
			ksft_test_result_pass("%s\n", res_name[i]);
		else if (res[i] == KSFT_SKIP)
			ksft_test_result_skip("%s: can't read /dev/kmsg\n",
					      res_name[i]);
		else
			ksft_test_result_fail("%s (seed %llu)\n", res_name[i],
					      o.seed);
	}
	ksft_finished();
}
