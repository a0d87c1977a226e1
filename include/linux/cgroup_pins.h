/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pins cgroup controller: limits how much memory a cgroup may pin or
 * lock. The controller is written in Rust (kernel/cgroup/pins/); this is its
 * interface for the rest of the kernel. Most callers want the vm_account API
 * instead, which charges the pins cgroup and RLIMIT_MEMLOCK together.
 */
#ifndef _LINUX_CGROUP_PINS_H
#define _LINUX_CGROUP_PINS_H

#include <linux/errno.h>
#include <linux/jump_label.h>
#include <linux/limits.h>
#include <linux/percpu.h>
#include <linux/types.h>

struct cgroup_subsys_state;
struct mm_struct;
struct task_struct;

/**
 * enum pins_source - what pinned or locked the memory a charge is for
 * @PINS_SOURCE_MLOCK: locked memory: mlock(), mlockall(), MAP_LOCKED ...
 * @PINS_SOURCE_SHM: SysV shared memory locked with SHM_LOCK
 * @PINS_SOURCE_SECRETMEM: memfd_secret() memory
 * @PINS_SOURCE_IO_URING: io_uring registered buffers and zero-copy sends
 * @PINS_SOURCE_ZEROCOPY: MSG_ZEROCOPY sends
 * @PINS_SOURCE_XDP: AF_XDP UMEMs
 * @PINS_SOURCE_PERF: perf ring buffers and AUX areas
 * @PINS_SOURCE_VFIO: VFIO DMA mappings
 * @PINS_SOURCE_IOMMUFD: iommufd IOAS mappings
 * @PINS_SOURCE_VDPA: vhost-vdpa and VDUSE mappings
 * @PINS_SOURCE_RDMA: RDMA memory registrations
 * @PINS_SOURCE_OTHER: anything else
 * @NR_PINS_SOURCES: the number of sources
 *
 * pins.stat shows the bytes charged to a cgroup's subtree by source.
 */
enum pins_source {
	PINS_SOURCE_MLOCK,
	PINS_SOURCE_SHM,
	PINS_SOURCE_SECRETMEM,
	PINS_SOURCE_IO_URING,
	PINS_SOURCE_ZEROCOPY,
	PINS_SOURCE_XDP,
	PINS_SOURCE_PERF,
	PINS_SOURCE_VFIO,
	PINS_SOURCE_IOMMUFD,
	PINS_SOURCE_VDPA,
	PINS_SOURCE_RDMA,
	PINS_SOURCE_OTHER,
	NR_PINS_SOURCES,
};

/*
 * A cgroup of the pins controller. Opaque: only the functions below use it.
 * A NULL pointer is a valid "no cgroup": it is never charged.
 */
struct pins_cgroup;

#ifdef CONFIG_CGROUP_PINS

/* The root cgroup's pins cgroup (kernel/cgroup/pins/charge.c). */
extern struct pins_cgroup *pins_root_cgroup;

/*
 * Enabled when the first pins cgroup other than the root is set up: until
 * then every task is in the root, and the inline functions below know a
 * task's pins cgroup without looking it up.
 */
DECLARE_STATIC_KEY_FALSE(pins_cgroup_in_use);

struct pins_cgroup *__pins_cgroup_get(struct task_struct *task);
void __pins_cgroup_put(struct pins_cgroup *pins);

/**
 * pins_cgroup_get() - get the pins cgroup of a task
 * @task: the task
 *
 * Return: the pins cgroup @task belongs to now, with a reference held that
 * keeps it alive (even after it is removed) until pins_cgroup_put(). Charges
 * made to it stay with it if @task moves to another cgroup.
 */
static inline struct pins_cgroup *pins_cgroup_get(struct task_struct *task)
{
	/* The root is never freed: its references are not counted. */
	if (!static_branch_unlikely(&pins_cgroup_in_use))
		return pins_root_cgroup;
	return __pins_cgroup_get(task);
}

/**
 * pins_cgroup_put() - put a reference taken by pins_cgroup_get()
 * @pins: the pins cgroup, or NULL
 */
static inline void pins_cgroup_put(struct pins_cgroup *pins)
{
	if (pins && pins != pins_root_cgroup)
		__pins_cgroup_put(pins);
}

/**
 * pins_cgroup_is_root() - whether a pins cgroup is the root cgroup's
 * @pins: a pins cgroup the caller holds a reference on
 *
 * The root has no limit: a charge to it never fails.
 *
 * Return: true if @pins is the root's.
 */
static inline bool pins_cgroup_is_root(struct pins_cgroup *pins)
{
	return pins == pins_root_cgroup;
}

/* The root's own counts by source, per CPU (kernel/cgroup/pins/charge.c). */
struct pins_root_stat {
	long pages[NR_PINS_SOURCES];
};

DECLARE_PER_CPU(struct pins_root_stat, pins_root_stat);

/**
 * pins_cgroup_root_add() - charge pages to the root cgroup, or return them
 * @source: what pins the pages, for pins.stat
 * @npages: number of pages; negative to return them
 *
 * For a caller that knows its charge goes to the root (pins_cgroup_is_root()),
 * which has no limit: what pins_cgroup_try_charge() and
 * pins_cgroup_uncharge() do for the root. @source must be valid.
 */
static inline void pins_cgroup_root_add(enum pins_source source, long npages)
{
	this_cpu_add(pins_root_stat.pages[source], npages);
}

/*
 * Whether a charge or return of @npages for @source to @pins is one for the
 * root's counts alone. A source that is not one, or an absurd count, is
 * left to the controller, which reports or refuses it.
 */
static inline bool pins_cgroup_root_charge(struct pins_cgroup *pins,
					   enum pins_source source,
					   unsigned long npages)
{
	return pins_cgroup_is_root(pins) &&
	       (unsigned int)source < NR_PINS_SOURCES && npages <= LONG_MAX;
}

/*
 * The controller's own charge and return (kernel/cgroup/pins/), which the
 * inline functions below call for every cgroup but the root, and which a
 * caller that knows its cgroup is not the root may call directly.
 */
int __pins_cgroup_try_charge(struct pins_cgroup *pins,
			     enum pins_source source, unsigned long npages);
void __pins_cgroup_uncharge(struct pins_cgroup *pins, enum pins_source source,
			    unsigned long npages);

/**
 * pins_cgroup_try_charge() - charge pinned pages to a pins cgroup
 * @pins: a pins cgroup the caller holds a reference on, or NULL
 * @source: what pins the pages, for pins.stat
 * @npages: number of pages
 *
 * Charges @npages to @pins and each of its ancestors below the root. The
 * charge is all or nothing: it succeeds only if no level goes above its
 * pins.max, and no level ever does, even while concurrent charges race.
 * The root is not limited, but it counts the charges of the whole host,
 * those of its own tasks included, for its pins.current and pins.stat.
 *
 * Return: 0 on success, -ENOMEM if a limit refused the charge (nothing is
 * charged then). A NULL @pins always succeeds.
 */
static inline int pins_cgroup_try_charge(struct pins_cgroup *pins,
					 enum pins_source source,
					 unsigned long npages)
{
	if (pins_cgroup_root_charge(pins, source, npages)) {
		pins_cgroup_root_add(source, npages);
		return 0;
	}
	return __pins_cgroup_try_charge(pins, source, npages);
}

/**
 * pins_cgroup_uncharge() - return pages charged by pins_cgroup_try_charge()
 * @pins: the pins cgroup that was charged, or NULL
 * @source: the source the pages were charged for
 * @npages: number of pages
 *
 * Never fails. Returning more than was charged is a bug: it is reported once
 * with a warning and the counters are clamped at zero.
 */
static inline void pins_cgroup_uncharge(struct pins_cgroup *pins,
					enum pins_source source,
					unsigned long npages)
{
	if (pins_cgroup_root_charge(pins, source, npages)) {
		pins_cgroup_root_add(source, -(long)npages);
		return;
	}
	__pins_cgroup_uncharge(pins, source, npages);
}

/**
 * pins_cgroup_move() - move a charge from one pins cgroup to another
 * @from: the pins cgroup charged now
 * @to: the pins cgroup to charge instead
 * @source: the source the pages were charged for
 * @npages: number of pages
 *
 * For charges that follow a task when it migrates, so never refused: @to
 * and its ancestors may end above their pins.max. Levels that @from and @to
 * share are left alone. Both cgroups must be held by the caller.
 */
void pins_cgroup_move(struct pins_cgroup *from, struct pins_cgroup *to,
		      enum pins_source source, unsigned long npages);

/*
 * Locked memory (mm/mlock.c). The pins cgroup charged for an mm's locked
 * memory is recorded in the mm, which mm_locked_pins_init() sets up for a
 * new mm created for @owner. The controller calls mm_locked_pins_move() for
 * every task that migrates; it moves the charge of the task's mm to @dst if
 * the task's process owns the mm, and consumes the reference on @dst.
 */
void mm_locked_pins_init(struct mm_struct *mm, struct task_struct *owner);
void mm_locked_pins_move(struct task_struct *task, struct pins_cgroup *dst);

/*
 * For the controller: the root's counters, by source, and
 * pins_cgroup_mark_in_use(), which it calls before it sets up a pins
 * cgroup other than the root.
 */
void pins_root_add(enum pins_source source, s64 pages);
s64 pins_root_sum(enum pins_source source);
void pins_cgroup_mark_in_use(void);

/*
 * For the controller: reports a charge of @npages for @source to @charged
 * that the pins.max of @limiter (@charged or an ancestor), at @limit pages
 * with @usage pages charged, refused. Logs a line if @first is set, the
 * first refusal by that limit, and fires the pins:charge_refused
 * tracepoint. In C because tracepoints are.
 */
void pins_report_refusal(struct cgroup_subsys_state *charged,
			 struct cgroup_subsys_state *limiter,
			 const char *source, unsigned long npages, u64 limit,
			 u64 usage, bool first);

#else /* !CONFIG_CGROUP_PINS */

static inline struct pins_cgroup *pins_cgroup_get(struct task_struct *task)
{
	return NULL;
}

static inline void pins_cgroup_put(struct pins_cgroup *pins)
{
}

static inline bool pins_cgroup_is_root(struct pins_cgroup *pins)
{
	return false;
}

static inline bool pins_cgroup_root_charge(struct pins_cgroup *pins,
					   enum pins_source source,
					   unsigned long npages)
{
	return false;
}

static inline void pins_cgroup_root_add(enum pins_source source, long npages)
{
}

static inline int pins_cgroup_try_charge(struct pins_cgroup *pins,
					 enum pins_source source,
					 unsigned long npages)
{
	return 0;
}

static inline void pins_cgroup_uncharge(struct pins_cgroup *pins,
					enum pins_source source,
					unsigned long npages)
{
}

static inline void pins_cgroup_move(struct pins_cgroup *from,
				    struct pins_cgroup *to,
				    enum pins_source source,
				    unsigned long npages)
{
}

static inline void mm_locked_pins_init(struct mm_struct *mm,
				       struct task_struct *owner)
{
}

#endif /* CONFIG_CGROUP_PINS */

#endif /* _LINUX_CGROUP_PINS_H */
