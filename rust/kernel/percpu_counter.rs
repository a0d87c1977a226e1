// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters: [`PercpuCounters`].
//!
//! C header: [`include/linux/percpu_counter.h`](srctree/include/linux/percpu_counter.h)

use crate::{
    alloc::Flags,
    bindings,
    error::to_result,
    init::{self, PinInit},
    prelude::*,
    types::Opaque,
    warn_on_once,
};
use core::ptr::addr_of_mut;

/// `N` counters that any CPU updates often and that are read rarely: the C
/// `struct percpu_counter`, `N` of them sharing one per-CPU allocation.
///
/// [`add_local`] changes only the current CPU's share of a counter, with no
/// lock and no shared cache line; [`sum`] adds up every CPU's share under
/// the counter's lock. A sum is exact when no update runs at the same time;
/// during updates it may be off by the updates in flight, and a counter
/// that goes up on one CPU and down on another may even read negative for
/// a moment. CPU hotplug folds a CPU's share into the counter when the CPU
/// goes away, so nothing is lost.
///
/// [`add_local`]: PercpuCounters::add_local
/// [`sum`]: PercpuCounters::sum
///
/// # Invariants
///
/// `counters` holds `N` counters that `percpu_counter_init_many()`
/// initialised (which links each of them into the list that CPU hotplug
/// walks, so they are pinned) and that are destroyed only on drop.
///
/// # Examples
///
/// ```
/// use kernel::percpu_counter::PercpuCounters;
///
/// let counters = KBox::pin_init(PercpuCounters::<2>::new(GFP_KERNEL), GFP_KERNEL)?;
/// counters.add_local(0, 3);
/// counters.add_local(1, 5);
/// counters.add_local(0, -1);
/// assert_eq!(counters.sum(0), 2);
/// assert_eq!(counters.sum(1), 5);
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct PercpuCounters<const N: usize> {
    #[pin]
    counters: Opaque<[bindings::percpu_counter; N]>,
}

// SAFETY: A `struct percpu_counter` may be updated and read from any CPU at
// the same time: the per-CPU shares are changed with this-CPU operations and
// the shared count under the counter's lock.
unsafe impl<const N: usize> Send for PercpuCounters<N> {}
// SAFETY: As above.
unsafe impl<const N: usize> Sync for PercpuCounters<N> {}

impl<const N: usize> PercpuCounters<N> {
    /// Creates `N` counters at zero, allocating their per-CPU parts with
    /// `flags`.
    pub fn new(flags: Flags) -> impl PinInit<Self, Error> {
        // SAFETY: On `Ok` the closure initialised all `N` counters, which is
        // all of `Self`; on `Err` it initialised nothing (the C function
        // cleans up after itself). They are pinned from now on.
        unsafe {
            init::pin_init_from_closure(move |slot: *mut Self| {
                let nr = u32::try_from(N).map_err(|_| EINVAL)?;
                let counters = Opaque::raw_get(addr_of_mut!((*slot).counters));
                // INVARIANT: `percpu_counter_init_many()` initialises the
                // `N` counters in place, and they stay there.
                to_result(bindings::percpu_counter_init_many(
                    counters.cast(),
                    0,
                    flags.as_raw(),
                    nr,
                ))
            })
        }
    }

    /// The C counter at `index`, or `None` if there is none.
    fn counter(&self, index: usize) -> Option<*mut bindings::percpu_counter> {
        if index >= N {
            return None;
        }
        // In bounds: `index < N`.
        Some(
            self.counters
                .get()
                .cast::<bindings::percpu_counter>()
                .wrapping_add(index),
        )
    }

    /// Adds `amount` (which may be negative) to the counter at `index`,
    /// changing only the current CPU's share.
    ///
    /// An `index` out of range is a bug of the caller: it is reported once
    /// and nothing is added.
    pub fn add_local(&self, index: usize, amount: i64) {
        let Some(counter) = self.counter(index) else {
            warn_on_once!(true);
            return;
        };
        // SAFETY: `counter` is an initialised counter (type invariant).
        unsafe { bindings::percpu_counter_add_local(counter, amount) };
    }

    /// The value of the counter at `index`: the sum of every CPU's share.
    ///
    /// An `index` out of range is a bug of the caller: it is reported once
    /// and reads as 0.
    pub fn sum(&self, index: usize) -> i64 {
        let Some(counter) = self.counter(index) else {
            warn_on_once!(true);
            return 0;
        };
        // SAFETY: `counter` is an initialised counter (type invariant).
        unsafe { bindings::percpu_counter_sum(counter) }
    }
}

#[pinned_drop]
impl<const N: usize> PinnedDrop for PercpuCounters<N> {
    fn drop(self: Pin<&mut Self>) {
        // The uniprocessor version of the C function is an empty inline one:
        // there is nothing to free then.
        #[cfg(CONFIG_SMP)]
        // SAFETY: The `N` counters were initialised together by
        // `percpu_counter_init_many()` (type invariant) and are not used
        // again. `N` fits in `u32`, or `new()` would have failed.
        unsafe {
            bindings::percpu_counter_destroy_many(self.counters.get().cast(), N as u32)
        };
    }
}
