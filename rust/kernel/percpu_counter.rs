// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters: [`PercpuCounters`].
//!
//! C header: [`include/linux/percpu.h`](srctree/include/linux/percpu.h)

use crate::{
    alloc::Flags,
    bindings,
    init::{self, PinInit},
    prelude::*,
    warn_on_once,
};
use core::ptr::{addr_of, NonNull};

/// `N` counters that any CPU updates often and that are read rarely, kept
/// as `N` signed 64-bit integers in one per-CPU allocation.
///
/// [`add_local`] adds to the current CPU's share of a counter with one
/// this-CPU operation: no lock, no atomic read-modify-write, no shared cache
/// line, and safe in any context, interrupts included. [`sum`] adds up the
/// shares of every possible CPU. Unlike the C `struct percpu_counter`
/// there is no shared count that shares are folded into, so a share stays
/// where it is when its CPU goes offline, and a sum costs one pass over the
/// possible CPUs. A sum is exact when no update runs at the same time;
/// during updates it may be off by the updates in flight, and a counter
/// that goes up on one CPU and down on another may even read negative for
/// a moment.
///
/// [`add_local`]: PercpuCounters::add_local
/// [`sum`]: PercpuCounters::sum
///
/// # Invariants
///
/// `shares` is a per-CPU allocation of `N` `i64`s, zeroed when it was made,
/// that is freed only on drop.
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
pub struct PercpuCounters<const N: usize> {
    shares: NonNull<i64>,
}

// SAFETY: The shares are changed only with this-CPU operations, which are
// safe against every other CPU and context, and read with `READ_ONCE()`.
unsafe impl<const N: usize> Send for PercpuCounters<N> {}
// SAFETY: As above.
unsafe impl<const N: usize> Sync for PercpuCounters<N> {}

impl<const N: usize> PercpuCounters<N> {
    /// Creates `N` counters at zero, allocating their per-CPU shares with
    /// `flags`.
    pub fn new(flags: Flags) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            let size = core::mem::size_of::<[i64; N]>();
            if size == 0 {
                return Err(EINVAL);
            }
            // SAFETY: Any size and alignment may be asked for; the C function
            // returns NULL if it cannot allocate them.
            let shares = unsafe {
                bindings::__alloc_percpu_gfp(size, core::mem::align_of::<i64>(), flags.as_raw())
            };
            let shares = NonNull::new(shares.cast::<i64>()).ok_or(ENOMEM)?;
            // INVARIANT: A per-CPU allocation is zeroed, and it is big enough
            // for `N` `i64`s on every CPU.
            // SAFETY: `slot` is valid for writes (the contract of
            // `pin_init_from_closure`).
            unsafe { slot.write(Self { shares }) };
            Ok(())
        };
        // SAFETY: On `Ok` the closure wrote all of `Self` to `slot`; on `Err`
        // it wrote nothing and allocated nothing. `Self` does not care whether
        // it is pinned.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// The per-CPU address of the counter at `index`, or `None` if there
    /// is none.
    #[inline]
    fn share(&self, index: usize) -> Option<*mut i64> {
        if index >= N {
            return None;
        }
        // In bounds: `index < N`. Per-CPU addresses are offset like any
        // other within their allocation.
        Some(self.shares.as_ptr().wrapping_add(index))
    }

    /// Adds `amount` (which may be negative) to the counter at `index`,
    /// changing only the current CPU's share.
    ///
    /// An `index` out of range is a bug of the caller: it is reported once
    /// and nothing is added.
    #[inline]
    pub fn add_local(&self, index: usize, amount: i64) {
        let Some(share) = self.share(index) else {
            warn_on_once!(true);
            return;
        };
        // SAFETY: `share` is a per-CPU `i64` of the allocation (type
        // invariant).
        unsafe { bindings::this_cpu_add_s64(share, amount) };
    }

    /// The value of the counter at `index`: the sum of every possible
    /// CPU's share, wrapping as the shares do.
    ///
    /// An `index` out of range is a bug of the caller: it is reported once
    /// and reads as 0.
    pub fn sum(&self, index: usize) -> i64 {
        let Some(share) = self.share(index) else {
            warn_on_once!(true);
            return 0;
        };
        let mut sum = 0i64;
        // SAFETY: Reads `nr_cpu_ids`, which is set at boot before anything
        // could call this.
        let nr_cpu_ids = unsafe { bindings::num_cpu_ids() };
        let mut cpu: i32 = -1;
        loop {
            // SAFETY: `__cpu_possible_mask` is a static cpumask, and
            // `cpu` is -1 or a CPU the mask returned.
            let next =
                unsafe { bindings::cpumask_next(cpu, addr_of!(bindings::__cpu_possible_mask)) };
            if next >= nr_cpu_ids {
                break;
            }
            // SAFETY: `share` is a per-CPU `i64` of the allocation (type
            // invariant) and `next` a possible CPU.
            sum = sum.wrapping_add(unsafe { bindings::per_cpu_read_s64(share, next) });
            let Ok(next) = i32::try_from(next) else {
                break;
            };
            cpu = next;
        }
        sum
    }
}

impl<const N: usize> Drop for PercpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: The allocation came from `__alloc_percpu_gfp()` (type
        // invariant) and is not used again.
        unsafe { bindings::free_percpu(self.shares.as_ptr().cast()) };
    }
}
