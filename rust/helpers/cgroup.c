// SPDX-License-Identifier: GPL-2.0

#include <linux/cgroup.h>

#ifdef CONFIG_CGROUPS
void rust_helper_css_get(struct cgroup_subsys_state *css)
{
	css_get(css);
}

void rust_helper_css_put(struct cgroup_subsys_state *css)
{
	css_put(css);
}

struct cgroup_subsys_state *rust_helper_task_get_css(struct task_struct *task,
						     int subsys_id)
{
	return task_get_css(task, subsys_id);
}
#endif
