// SPDX-License-Identifier: GPL-2.0

#include <linux/cgroup.h>
#include <linux/list.h>

void rust_helper_INIT_LIST_HEAD(struct list_head *list)
{
	INIT_LIST_HEAD(list);
}

void rust_helper_list_add(struct list_head *new, struct list_head *head)
{
	list_add(new, head);
}

void rust_helper_list_del(struct list_head *entry)
{
	list_del(entry);
}

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
