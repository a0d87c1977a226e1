// SPDX-License-Identifier: GPL-2.0
/*
 * How the pins controller reports a refused charge. The controller is in
 * Rust; tracepoints are C macros, so this part is in C.
 */

#include <linux/cgroup.h>
#include <linux/cgroup_pins.h>
#include <linux/limits.h>
#include <linux/printk.h>
#include <linux/spinlock.h>

#define CREATE_TRACE_POINTS
#include <trace/events/pins.h>

/* The path of the cgroup being logged, too large for the stack. */
static DEFINE_SPINLOCK(pins_report_lock);
static char pins_report_path[PATH_MAX];

void pins_report_refusal(struct cgroup_subsys_state *charged,
			 struct cgroup_subsys_state *limiter,
			 const char *source, unsigned long npages, u64 limit,
			 u64 usage, bool first)
{
	unsigned long flags;

	/* Once per cgroup, as the pids controller does for fork. */
	if (first) {
		spin_lock_irqsave(&pins_report_lock, flags);
		cgroup_path(limiter->cgroup, pins_report_path,
			    sizeof(pins_report_path));
		pr_info("cgroup: %s pin rejected by pins controller in %s\n",
			source, pins_report_path);
		spin_unlock_irqrestore(&pins_report_lock, flags);
	}
	trace_charge_refused(charged->cgroup, limiter->cgroup, source, npages,
			     limit, usage);
}
