// SPDX-License-Identifier: GPL-2.0
/*
 * vm_account: accounting of pinned and locked user memory against
 * RLIMIT_MEMLOCK and the pins cgroup, together and all or nothing.
 *
 * Each pinning site used to open-code its RLIMIT_MEMLOCK check against one
 * of two counters, mm->pinned_vm or user->locked_vm. A vm_account records
 * which one the site uses, so user-visible rlimit behaviour stays what it
 * was, and charges the pins cgroup of the pinning task with it.
 */

#include <linux/capability.h>
#include <linux/cgroup_pins.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/user.h>
#include <linux/vm_account.h>

/* vm_account_init() of an account that is not inert (vm_account_inert()). */
void __vm_account_init(struct vm_account *acct, enum pins_source source,
		       struct task_struct *task, struct user_struct *user,
		       enum vm_account_flags flags)
{
	acct->task = NULL;
	acct->mm = NULL;
	acct->user = NULL;
	if (flags & VM_ACCOUNT_CGROUP) {
		/* Nothing to charge but the cgroup. */
	} else if (flags & VM_ACCOUNT_USER) {
		acct->task = get_task_struct(task);
		acct->user = get_uid(user);
	} else {
		acct->task = get_task_struct(task);
		task_lock(task);
		acct->mm = task->mm;
		if (acct->mm)
			mmgrab(acct->mm);
		task_unlock(task);
	}
	acct->pins = pins_cgroup_get(task);
	acct->flags = flags;
	acct->source = source;
	atomic_long_set(&acct->pinned, 0);
}
EXPORT_SYMBOL_GPL(__vm_account_init);

/**
 * vm_account_init_current() - set up a vm_account for the current task
 * @acct: the vm_account
 * @source: what pins through @acct, for pins.stat
 *
 * Charges current's mm->pinned_vm and pins cgroup, as vm_account_init()
 * with %VM_ACCOUNT_TASK does.
 */
void vm_account_init_current(struct vm_account *acct, enum pins_source source)
{
	vm_account_init(acct, source, current, NULL, VM_ACCOUNT_TASK);
}
EXPORT_SYMBOL_GPL(vm_account_init_current);

/*
 * Whether a counter at @cur may rise by @npages: not past LONG_MAX, and not
 * past @limit unless the caller has CAP_IPC_LOCK and may use it (@cap).
 * CAP_IPC_LOCK is checked only when the limit would be exceeded, as the
 * sites always did, so that a charge within the limit does not mark the
 * task as having used its privilege.
 */
static bool vm_account_room(long cur, unsigned long npages,
			    unsigned long limit, bool cap, long *new)
{
	unsigned long sum;

	if (cur < 0 || check_add_overflow((unsigned long)cur, npages, &sum) ||
	    sum > LONG_MAX)
		return false;
	if (sum > limit && !(cap && capable(CAP_IPC_LOCK)))
		return false;
	*new = sum;
	return true;
}

/* Raises the rlimit counter, or returns false and leaves it alone. */
static bool vm_account_raise(struct vm_account *acct, unsigned long npages,
			     unsigned long limit)
{
	bool cap = !(acct->flags & VM_ACCOUNT_NOCAP);
	long new;

	if (acct->user) {
		long cur = atomic_long_read(&acct->user->locked_vm);

		do {
			if (!vm_account_room(cur, npages, limit, cap, &new))
				return false;
		} while (!atomic_long_try_cmpxchg(&acct->user->locked_vm,
						  &cur, new));
	} else if (acct->mm) {
		s64 cur = atomic64_read(&acct->mm->pinned_vm);

		do {
			if (cur > LONG_MAX ||
			    !vm_account_room(cur, npages, limit, cap, &new))
				return false;
		} while (!atomic64_try_cmpxchg(&acct->mm->pinned_vm, &cur, new));
	}
	return true;
}

/* Lowers a counter, clamping at zero and reporting an underflow once. */
static void vm_account_lower_long(atomic_long_t *counter, unsigned long npages)
{
	long cur = atomic_long_read(counter);
	long new;

	do {
		if (WARN_ON_ONCE(cur < 0 || npages > (unsigned long)cur))
			new = 0;
		else
			new = cur - npages;
	} while (!atomic_long_try_cmpxchg(counter, &cur, new));
}

static __always_inline void vm_account_lower(struct vm_account *acct,
					     unsigned long npages)
{
	if (acct->user) {
		vm_account_lower_long(&acct->user->locked_vm, npages);
	} else if (acct->mm) {
		s64 cur = atomic64_read(&acct->mm->pinned_vm);
		s64 new;

		do {
			if (WARN_ON_ONCE(cur < 0 || npages > cur))
				new = 0;
			else
				new = cur - npages;
		} while (!atomic64_try_cmpxchg(&acct->mm->pinned_vm, &cur, new));
	}
}

/*
 * The RLIMIT_MEMLOCK that applies, in pages: the pinning task's, as the
 * sites always checked, or when a kernel thread pins on behalf of the task
 * the account was set up for, that task's.
 */
static unsigned long vm_account_limit(struct vm_account *acct)
{
	struct task_struct *task = current;

	if (task->flags & PF_KTHREAD)
		task = acct->task;
	return task_rlimit(task, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
}

/* vm_account_pinned() of an account that is not inert (vm_account_inert()). */
int __vm_account_pinned(struct vm_account *acct, unsigned long npages)
{
	unsigned long limit = ULONG_MAX;

	if (!npages)
		return 0;
	if (npages > LONG_MAX)
		return -ENOMEM;
	if (acct->task && !(acct->flags & VM_ACCOUNT_BYPASS))
		limit = vm_account_limit(acct);

	if (!vm_account_raise(acct, npages, limit))
		return -ENOMEM;
	if (pins_cgroup_try_charge(acct->pins, acct->source, npages)) {
		vm_account_lower(acct, npages);
		return -ENOMEM;
	}
	atomic_long_add(npages, &acct->pinned);
	return 0;
}
EXPORT_SYMBOL_GPL(__vm_account_pinned);

/* vm_unaccount_pinned() of an account that is not inert (vm_account_inert()). */
void __vm_unaccount_pinned(struct vm_account *acct, unsigned long npages)
{
	if (!npages)
		return;
	vm_account_lower(acct, npages);
	pins_cgroup_uncharge(acct->pins, acct->source, npages);
	vm_account_lower_long(&acct->pinned, npages);
}
EXPORT_SYMBOL_GPL(__vm_unaccount_pinned);

/* vm_account_release() of an account that is not inert (vm_account_inert()). */
void __vm_account_release(struct vm_account *acct)
{
	long left = atomic_long_read(&acct->pinned);

	if (WARN_ON_ONCE(left))
		vm_unaccount_pinned(acct, left);
	pins_cgroup_put(acct->pins);
	if (acct->user)
		free_uid(acct->user);
	if (acct->mm)
		mmdrop(acct->mm);
	if (acct->task)
		put_task_struct(acct->task);
	acct->pins = NULL;
	acct->user = NULL;
	acct->mm = NULL;
	acct->task = NULL;
}
EXPORT_SYMBOL_GPL(__vm_account_release);

/* vm_account_release_all() of an account not charged to the root alone. */
void __vm_account_release_all(struct vm_account *acct)
{
	long left = atomic_long_xchg(&acct->pinned, 0);

	if (WARN_ON_ONCE(left < 0))
		left = 0;
	if (left) {
		vm_account_lower(acct, left);
		pins_cgroup_uncharge(acct->pins, acct->source, left);
	}
	__vm_account_release(acct);
}
EXPORT_SYMBOL_GPL(__vm_account_release_all);
