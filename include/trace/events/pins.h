/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM pins

#if !defined(_TRACE_PINS_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_PINS_H

#include <linux/cgroup.h>
#include <linux/sched.h>
#include <linux/tracepoint.h>

/*
 * A charge to the pins cgroup @charged refused by the pins.max of
 * @limiter, @charged itself or an ancestor: who asked (the current task),
 * for what (@source) and how much, and where that limit stood. Limit and
 * usage are those of @limiter, in pages like the request.
 */
TRACE_EVENT(charge_refused,

	TP_PROTO(struct cgroup *charged, struct cgroup *limiter,
		 const char *source, unsigned long npages, u64 limit,
		 u64 usage),

	TP_ARGS(charged, limiter, source, npages, limit, usage),

	TP_STRUCT__entry(
		__field(pid_t, pid)
		__array(char, comm, TASK_COMM_LEN)
		__field(u64, cgroup)
		__field(u64, limiter)
		__string(source, source)
		__field(unsigned long, npages)
		__field(u64, limit)
		__field(u64, usage)
	),

	TP_fast_assign(
		__entry->pid = current->pid;
		memcpy(__entry->comm, current->comm, TASK_COMM_LEN);
		__entry->cgroup = cgroup_id(charged);
		__entry->limiter = cgroup_id(limiter);
		__assign_str(source);
		__entry->npages = npages;
		__entry->limit = limit;
		__entry->usage = usage;
	),

	TP_printk("pid=%d comm=%s cgroup=%llu limiter=%llu source=%s pages=%lu limit=%llu usage=%llu",
		  __entry->pid, __entry->comm, __entry->cgroup,
		  __entry->limiter, __get_str(source), __entry->npages,
		  __entry->limit, __entry->usage)
);

#endif /* _TRACE_PINS_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
