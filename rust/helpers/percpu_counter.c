// SPDX-License-Identifier: GPL-2.0

#include <linux/percpu_counter.h>

int rust_helper_percpu_counter_init_many(struct percpu_counter *fbc, s64 amount,
					 gfp_t gfp, u32 nr_counters)
{
	return percpu_counter_init_many(fbc, amount, gfp, nr_counters);
}

void rust_helper_percpu_counter_add_local(struct percpu_counter *fbc,
					  s64 amount)
{
	percpu_counter_add_local(fbc, amount);
}

s64 rust_helper_percpu_counter_sum(struct percpu_counter *fbc)
{
	return percpu_counter_sum(fbc);
}
