/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vm_account: one way for everything that pins or locks user memory to
 * account for it, against RLIMIT_MEMLOCK and the pins cgroup together.
 */
#ifndef _LINUX_VM_ACCOUNT_H
#define _LINUX_VM_ACCOUNT_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/cgroup_pins.h>
#include <linux/types.h>

struct mm_struct;
struct pins_cgroup;
struct task_struct;
struct user_struct;

/**
 * enum vm_account_flags - how a vm_account charges the rlimit
 * @VM_ACCOUNT_TASK: charge the task's mm->pinned_vm (the default)
 * @VM_ACCOUNT_USER: charge the user's user->locked_vm instead, as io_uring,
 *	AF_XDP, MSG_ZEROCOPY and perf have always done
 * @VM_ACCOUNT_BYPASS: do not check RLIMIT_MEMLOCK, for a site that checked
 *	CAP_IPC_LOCK once when it was set up; the counter is still charged,
 *	and the pins cgroup's limit is never bypassed
 * @VM_ACCOUNT_NOCAP: check RLIMIT_MEMLOCK even if the charging task has
 *	CAP_IPC_LOCK, for a site that found when it was set up that its
 *	creator lacked it (io_uring)
 * @VM_ACCOUNT_CGROUP: charge no rlimit counter, only the pins cgroup: for a
 *	site that has nothing to charge there (its creator had CAP_IPC_LOCK
 *	and the site charges no counter then) or keeps a rule of its own for
 *	RLIMIT_MEMLOCK (perf's per-user allowance, MSG_ZEROCOPY)
 */
enum vm_account_flags {
	VM_ACCOUNT_TASK = 0,
	VM_ACCOUNT_USER = BIT(0),
	VM_ACCOUNT_BYPASS = BIT(1),
	VM_ACCOUNT_NOCAP = BIT(2),
	VM_ACCOUNT_CGROUP = BIT(3),
};

/**
 * struct vm_account - where the pins of one object are charged
 * @task: the task set up for (a reference is held): its RLIMIT_MEMLOCK
 *	applies to charges made by kernel threads; NULL with %VM_ACCOUNT_CGROUP
 * @mm: with %VM_ACCOUNT_TASK, the mm whose pinned_vm is charged (grabbed)
 * @user: with %VM_ACCOUNT_USER, the user whose locked_vm is charged
 * @pins: the pins cgroup charged, captured at init (a reference is held)
 * @flags: &enum vm_account_flags
 * @source: what pins through this vm_account, for pins.stat
 * @pinned: pages charged through this vm_account and not yet returned
 *
 * Embedded in the object that holds the pins (a registered memory region, a
 * ring's buffers, an open file ...). Everything it charges stays with it:
 * the task moving to another cgroup or exiting, or another process using
 * the object, does not move the charges, and vm_unaccount_pinned() returns
 * them where they were made.
 */
struct vm_account {
	struct task_struct *task;
	struct mm_struct *mm;
	struct user_struct *user;
	struct pins_cgroup *pins;
	enum vm_account_flags flags;
	enum pins_source source;
	atomic_long_t pinned;
};

void __vm_account_init(struct vm_account *acct, enum pins_source source,
		       struct task_struct *task, struct user_struct *user,
		       enum vm_account_flags flags);
void vm_account_init_current(struct vm_account *acct,
			     enum pins_source source);
int __vm_account_pinned(struct vm_account *acct, unsigned long npages);
void __vm_unaccount_pinned(struct vm_account *acct, unsigned long npages);
void __vm_account_release(struct vm_account *acct);
void __vm_account_release_all(struct vm_account *acct);

/*
 * Without the pins controller, an account that charges only the cgroup
 * (%VM_ACCOUNT_CGROUP) has nothing to do: the calls below on it come down
 * to a test of its flags, so that its site costs what it did before the
 * controller, and vm_account_charged() stays 0.
 */
static inline bool vm_account_inert(enum vm_account_flags flags)
{
	return !IS_ENABLED(CONFIG_CGROUP_PINS) && (flags & VM_ACCOUNT_CGROUP);
}

/*
 * Whether a charge or return of @npages through @acct only counts them for
 * the root cgroup: the account charges no rlimit counter and the root,
 * which has no limit. The calls below do that inline.
 */
static inline bool vm_account_root_only(struct vm_account *acct,
					unsigned long npages)
{
	return (acct->flags & VM_ACCOUNT_CGROUP) &&
	       pins_cgroup_root_charge(acct->pins, acct->source, npages);
}

/* Takes @npages off the count of @acct, unless it has fewer. */
static inline bool vm_account_take(struct vm_account *acct,
				   unsigned long npages)
{
	long cur = atomic_long_read(&acct->pinned);

	do {
		if (cur < 0 || npages > (unsigned long)cur)
			return false;
	} while (!atomic_long_try_cmpxchg(&acct->pinned, &cur, cur - npages));
	return true;
}

/**
 * vm_account_init() - set up a vm_account
 * @acct: the vm_account, usually embedded in the object that will pin
 * @source: what pins through @acct, for pins.stat
 * @task: the task whose pins cgroup is charged, and whose RLIMIT_MEMLOCK
 *	applies to charges a kernel thread makes; with %VM_ACCOUNT_TASK also
 *	whose mm->pinned_vm is charged
 * @user: with %VM_ACCOUNT_USER, the user whose locked_vm is charged;
 *	ignored otherwise
 * @flags: &enum vm_account_flags
 *
 * Takes references on the pins cgroup of @task as of now and on what the
 * rlimit side needs: @task, and its mm (mmgrab(), not the address space)
 * or @user; vm_account_release() drops them. A kernel thread has no mm: a
 * %VM_ACCOUNT_TASK account then charges the pins cgroup only, as does a
 * %VM_ACCOUNT_CGROUP one.
 */
static inline void vm_account_init(struct vm_account *acct,
				   enum pins_source source,
				   struct task_struct *task,
				   struct user_struct *user,
				   enum vm_account_flags flags)
{
	if (vm_account_inert(flags)) {
		acct->flags = flags;
		atomic_long_set(&acct->pinned, 0);
		return;
	}
	if (flags & VM_ACCOUNT_CGROUP) {
		acct->task = NULL;
		acct->mm = NULL;
		acct->user = NULL;
		acct->pins = pins_cgroup_get(task);
		acct->flags = flags;
		acct->source = source;
		atomic_long_set(&acct->pinned, 0);
		return;
	}
	__vm_account_init(acct, source, task, user, flags);
}

/**
 * vm_account_pinned() - charge pinned pages
 * @acct: the vm_account
 * @npages: number of pages about to be pinned
 *
 * Charges @npages to the rlimit counter and to the pins cgroup captured by
 * vm_account_init(), all or nothing. The rlimit is checked against the
 * caller's RLIMIT_MEMLOCK (a kernel thread's charge, against that of the
 * task the account was set up for) unless the caller has CAP_IPC_LOCK (and
 * the account no %VM_ACCOUNT_NOCAP) or the account has %VM_ACCOUNT_BYPASS;
 * the pins cgroup's limits always apply.
 * Every call charges, even for pages that are already pinned.
 *
 * Return: 0, or -ENOMEM if either limit refused the charge (or @npages is
 * absurd); nothing is charged then.
 */
static inline int vm_account_pinned(struct vm_account *acct,
				    unsigned long npages)
{
	if (vm_account_inert(acct->flags))
		return 0;
	if (vm_account_root_only(acct, npages)) {
		pins_cgroup_root_add(acct->source, npages);
		atomic_long_add(npages, &acct->pinned);
		return 0;
	}
	return __vm_account_pinned(acct, npages);
}

/**
 * vm_unaccount_pinned() - return pages charged by vm_account_pinned()
 * @acct: the vm_account that charged them
 * @npages: number of pages unpinned
 *
 * Never fails. Returning more than was charged is a bug: it is reported
 * once and the counters are clamped at zero.
 */
static inline void vm_unaccount_pinned(struct vm_account *acct,
				       unsigned long npages)
{
	if (vm_account_inert(acct->flags))
		return;
	if (vm_account_root_only(acct, npages) &&
	    vm_account_take(acct, npages)) {
		pins_cgroup_root_add(acct->source, -(long)npages);
		return;
	}
	__vm_unaccount_pinned(acct, npages);
}

/**
 * vm_account_release() - drop the references of a vm_account
 * @acct: the vm_account
 *
 * Call once everything charged through @acct has been returned. Charges
 * still outstanding are a bug of the caller: they are reported once and
 * returned, so that no cgroup or counter leaks them.
 */
static inline void vm_account_release(struct vm_account *acct)
{
	if (vm_account_inert(acct->flags))
		return;
	/* The root's references are not counted: nothing to put. */
	if (vm_account_root_only(acct, 0) && !atomic_long_read(&acct->pinned)) {
		acct->pins = NULL;
		return;
	}
	__vm_account_release(acct);
}

/**
 * vm_account_release_all() - return what a vm_account charged and drop its
 * references
 * @acct: the vm_account, which nothing charges through any more
 *
 * For a caller that returns everything it pinned at once when it is done:
 * vm_unaccount_pinned() of vm_account_charged(), then vm_account_release(),
 * in one step.
 */
static inline void vm_account_release_all(struct vm_account *acct)
{
	if (vm_account_inert(acct->flags))
		return;
	if (vm_account_root_only(acct, 0)) {
		long left = atomic_long_xchg(&acct->pinned, 0);

		pins_cgroup_root_add(acct->source, -left);
		acct->pins = NULL;
		return;
	}
	__vm_account_release_all(acct);
}

/**
 * vm_account_charged() - the pages charged through a vm_account
 * @acct: the vm_account
 *
 * Return: the pages vm_account_pinned() charged through @acct that
 * vm_unaccount_pinned() has not returned yet.
 */
static inline unsigned long vm_account_charged(struct vm_account *acct)
{
	return atomic_long_read(&acct->pinned);
}

#endif /* _LINUX_VM_ACCOUNT_H */
