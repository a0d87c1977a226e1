// SPDX-License-Identifier: GPL-2.0
/*
 * The entry points of the pins controller's charge path, and the root's
 * counts. The controller is in Rust (pins.rs); the root has no limit and no
 * level in its hierarchical counter, so a charge to it only counts the
 * pages for the root's pins.current and pins.stat, which the inline entry
 * points of cgroup_pins.h do in per-CPU counters without entering the
 * controller. Every task is in the root until pins is enabled below it, so
 * that is most charges on most hosts; until a pins cgroup other than the
 * root exists, finding a task's pins cgroup needs no lookup either.
 */

#include <linux/cgroup.h>
#include <linux/cgroup_pins.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/percpu.h>

/* Pages charged to the root itself (not to its descendants), by source. */
DEFINE_PER_CPU(struct pins_root_stat, pins_root_stat);
EXPORT_PER_CPU_SYMBOL_GPL(pins_root_stat);

struct pins_cgroup *pins_root_cgroup __ro_after_init;
EXPORT_SYMBOL_GPL(pins_root_cgroup);

DEFINE_STATIC_KEY_FALSE(pins_cgroup_in_use);
EXPORT_SYMBOL_GPL(pins_cgroup_in_use);

/*
 * cgroup_init() allocated the root's css long before the first initcall,
 * and nothing can pin or lock user memory before then.
 */
static int __init pins_root_cgroup_init(void)
{
	pins_root_cgroup = (struct pins_cgroup *)init_css_set.subsys[pins_cgrp_id];
	return 0;
}
pure_initcall(pins_root_cgroup_init);

/*
 * Called by the controller before it sets up a pins cgroup other than the
 * root, so before any task can be in one. Never undone: once the controller
 * has been used below the root, every lookup is made.
 */
void pins_cgroup_mark_in_use(void)
{
	static_branch_enable(&pins_cgroup_in_use);
}

struct pins_cgroup *__pins_cgroup_get(struct task_struct *task)
{
	return (struct pins_cgroup *)task_get_css(task, pins_cgrp_id);
}
EXPORT_SYMBOL_GPL(__pins_cgroup_get);

void __pins_cgroup_put(struct pins_cgroup *pins)
{
	css_put((struct cgroup_subsys_state *)pins);
}

void pins_root_add(enum pins_source source, s64 pages)
{
	pins_cgroup_root_add(source, pages);
}

s64 pins_root_sum(enum pins_source source)
{
	s64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu_ptr(&pins_root_stat, cpu)->pages[source];
	return sum;
}
