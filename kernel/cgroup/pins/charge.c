// SPDX-License-Identifier: GPL-2.0
/*
 * The entry points of the pins controller's charge path, and the root's
 * counts. The controller is in Rust (pins.rs); the root has no limit and no
 * level in its hierarchical counter, so a charge to it only counts the
 * pages for the root's pins.current and pins.stat, which this file does in
 * per-CPU counters without entering the controller. Every task is in the
 * root until pins is enabled below it, so that is most charges on most
 * hosts.
 */

#include <linux/cgroup.h>
#include <linux/cgroup_pins.h>
#include <linux/percpu.h>

/* Pages charged to the root itself (not to its descendants), by source. */
DEFINE_PER_CPU(struct pins_root_stat, pins_root_stat);

static struct cgroup_subsys_state *pins_css(struct pins_cgroup *pins)
{
	return (struct cgroup_subsys_state *)pins;
}

bool pins_cgroup_is_root(struct pins_cgroup *pins)
{
	return !pins_css(pins)->parent;
}

/*
 * Whether a charge of @npages for @source to @pins is one for the root's
 * counts alone. A source that is not one is left to the controller, which
 * reports it.
 */
static bool pins_root_charge(struct pins_cgroup *pins, enum pins_source source,
			     unsigned long npages)
{
	return pins_cgroup_is_root(pins) &&
	       (unsigned int)source < NR_PINS_SOURCES && npages <= LONG_MAX;
}

struct pins_cgroup *pins_cgroup_get(struct task_struct *task)
{
	return (struct pins_cgroup *)task_get_css(task, pins_cgrp_id);
}

void pins_cgroup_put(struct pins_cgroup *pins)
{
	if (pins)
		css_put(pins_css(pins));
}

int pins_cgroup_try_charge(struct pins_cgroup *pins, enum pins_source source,
			   unsigned long npages)
{
	if (!pins)
		return 0;
	if (pins_root_charge(pins, source, npages)) {
		pins_cgroup_root_add(source, npages);
		return 0;
	}
	return __pins_cgroup_try_charge(pins, source, npages);
}

void pins_cgroup_uncharge(struct pins_cgroup *pins, enum pins_source source,
			  unsigned long npages)
{
	if (!pins)
		return;
	if (pins_root_charge(pins, source, npages)) {
		pins_cgroup_root_add(source, -(long)npages);
		return;
	}
	__pins_cgroup_uncharge(pins, source, npages);
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
