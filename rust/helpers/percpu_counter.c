// SPDX-License-Identifier: GPL-2.0

#include <linux/cpumask.h>
#include <linux/percpu.h>

void __percpu *rust_helper___alloc_percpu_gfp(size_t size, size_t align,
					      gfp_t gfp)
{
	return __alloc_percpu_gfp(size, align, gfp);
}

void rust_helper_this_cpu_add_s64(s64 __percpu *ptr, s64 val)
{
	this_cpu_add(*ptr, val);
}

s64 rust_helper_per_cpu_read_s64(s64 __percpu *ptr, unsigned int cpu)
{
	return READ_ONCE(*per_cpu_ptr(ptr, cpu));
}

unsigned int rust_helper_cpumask_next(int n, const struct cpumask *srcp)
{
	return cpumask_next(n, srcp);
}

/*
 * nr_cpu_ids is a variable on most configurations and a macro on the
 * others: this is it on all of them, under a name that does not clash with
 * the variable's binding.
 */
unsigned int rust_helper_num_cpu_ids(void)
{
	return nr_cpu_ids;
}
