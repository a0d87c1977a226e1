// SPDX-License-Identifier: GPL-2.0

//! Hierarchical page counter of the pins controller.
//!
//! This file depends on `core` only: the kernel builds it as a module of the
//! controller and the host-side tests build the very same file, so the logic
//! that enforces `pins.max` is tested without booting a kernel.
//!
//! A charge walks the levels from a cgroup up to (not including) the root
//! and raises each level with a compare-and-exchange that refuses to go above
//! that level's limit. When a level refuses, the levels already raised are
//! lowered again, so a charge is all or nothing. Concurrent chargers may see
//! a transient usage that includes a charge that is about to be rolled back
//! and fail where a strictly serialised order would have let them through;
//! the memory controller's page counter makes the same trade-off.
//!
//! What holds about limits:
//!
//! - A charge raises a level only if the new usage is within the limit that
//!   the level has at that moment. The limit is read again after the raise:
//!   a charge that read a limit which a concurrent [`Level::set_max`] has
//!   lowered since is undone and refused. So once `set_max` has returned, no
//!   charge is accepted that takes the usage above the new limit; a charge
//!   accepted before the write may have left the usage above it, exactly as
//!   when the limit is lowered below the usage.
//! - Without a concurrent `set_max`, no level is ever above its limit because
//!   of a charge, not even transiently. With one, the usage may exceed the
//!   new limit for the instant between a raise and its undoing.
//! - A peak is recorded only once a charge was accepted at every level, from
//!   the usage the level has then: a refused charge never raises a peak by
//!   itself. The usage read then can include, for that instant, a
//!   concurrent charge that is being refused.
//! - No usage ever exceeds the ceiling the caller passes, the largest count
//!   whose size in bytes fits in 64 bits: larger charges fail cleanly, so
//!   what the control files show is always exact.

use core::sync::atomic::{AtomicU64, Ordering};

/// The limit value that means "no limit" (`max` in `pins.max`).
pub const UNLIMITED: u64 = u64::MAX;

/// One level of the hierarchy: the usage and limit of one cgroup, in pages.
///
/// Usage includes the charges of all descendants.
pub struct Level {
    usage: AtomicU64,
    max: AtomicU64,
    peak: AtomicU64,
    local_peak: AtomicU64,
}

impl Default for Level {
    fn default() -> Self {
        Self::new()
    }
}

impl Level {
    /// Creates a level with no usage and no limit.
    pub const fn new() -> Self {
        Self {
            usage: AtomicU64::new(0),
            max: AtomicU64::new(UNLIMITED),
            peak: AtomicU64::new(0),
            local_peak: AtomicU64::new(0),
        }
    }

    /// Pages charged to this level and its descendants.
    pub fn usage(&self) -> u64 {
        self.usage.load(Ordering::Relaxed)
    }

    /// The limit in pages, or [`UNLIMITED`].
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The highest usage this level has had.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// The highest usage since the last [`Level::reset_local_peak`].
    pub fn local_peak(&self) -> u64 {
        self.local_peak.load(Ordering::Relaxed)
    }

    /// Restarts the local peak from the current usage. Returns the local
    /// peak before the reset and the usage it restarted from.
    ///
    /// A usage above the peak includes a charge that is being refused, or
    /// one accepted whose peak is yet to be recorded, which records it in
    /// both peaks then: the local peak restarts from the peak instead, so
    /// that it is never above the peak.
    pub fn reset_local_peak(&self) -> (u64, u64) {
        let usage = self.usage().min(self.peak());
        (self.local_peak.swap(usage, Ordering::Relaxed), usage)
    }

    /// Records `usage` as reached.
    ///
    /// The local peak is not above the peak: it starts at 0 with it, is
    /// raised after it and restarts from no more than it. So a usage within
    /// the local peak is within both, and the steady state costs one
    /// comparison and no atomic write. With `Relaxed` ordering another CPU
    /// may see a raise of the local peak before the raise of the peak that
    /// came first; a usage it then finds within the local peak is still
    /// recorded in the peak, by the charge that raised them both.
    #[inline]
    fn reached(&self, usage: u64) {
        if usage > self.local_peak.load(Ordering::Relaxed) {
            self.raise_peaks(usage);
        }
    }

    /// Raises the peak and then the local peak to `usage`.
    fn raise_peaks(&self, usage: u64) {
        if usage > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(usage, Ordering::Relaxed);
        }
        self.local_peak.fetch_max(usage, Ordering::Relaxed);
    }

    /// Sets the limit. Lowering it below the usage is allowed: nothing is
    /// taken back, later charges fail until the usage drops.
    ///
    /// Sequentially consistent with the limit check that follows each raise
    /// in [`try_charge`]: a raise that comes after this store in that order
    /// sees the new limit when it checks again.
    pub fn set_max(&self, pages: u64) {
        self.max.store(pages, Ordering::SeqCst);
    }

    /// Raises the usage by `pages` unless that would take it above the limit
    /// or above `ceiling`. Returns the usage it raised to, or why not.
    ///
    /// Does not record a peak: [`try_charge`] does once every level accepted.
    #[inline]
    fn try_raise(&self, pages: u64, ceiling: u64) -> Result<u64, Why> {
        let mut usage = self.usage.load(Ordering::Relaxed);
        let new = loop {
            let max = self.max.load(Ordering::SeqCst);
            let (new, wrapped) = usage.overflowing_add(pages);
            // One test for the usual case; which bound it was is found out
            // only when one was hit.
            if wrapped || new > max.min(ceiling) {
                return Err(if wrapped || new > ceiling {
                    Why::TooLarge
                } else {
                    Why::Limit
                });
            }
            match self
                .usage
                .compare_exchange_weak(usage, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break new,
                Err(now) => usage = now,
            }
        };
        // A limit lowered before the raise (in the sequentially consistent
        // order of the raise and `set_max`) refuses it, even if the loop
        // read the old one.
        if new > self.max.load(Ordering::SeqCst) {
            self.lower(pages);
            return Err(Why::Limit);
        }
        Ok(new)
    }

    /// Raises the usage by `pages` whatever the limit, saturating at
    /// `ceiling` instead of going beyond it.
    fn raise_unchecked(&self, pages: u64, ceiling: u64) {
        let old = self
            .usage
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |usage| {
                Some(usage.saturating_add(pages).min(ceiling.max(usage)))
            })
            // The closure always returns `Some`, so this is the `Ok` value.
            .unwrap_or_else(|usage| usage);
        self.reached(old.saturating_add(pages).min(ceiling.max(old)));
    }

    /// Lowers the usage by `pages`, clamping at zero. Returns `false` if the
    /// usage was below `pages`, which means the caller returns more than it
    /// charged.
    #[inline]
    fn lower(&self, pages: u64) -> bool {
        let old = self
            .usage
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |usage| {
                Some(usage.saturating_sub(pages))
            })
            // The closure always returns `Some`, so this is the `Ok` value.
            .unwrap_or_else(|usage| usage);
        old >= pages
    }
}

/// Why one level refused to be raised.
#[derive(Clone, Copy)]
enum Why {
    Limit,
    TooLarge,
}

/// Why [`try_charge`] refused a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The limit of the level at this position refused it: 0 is the charged
    /// cgroup, 1 its parent and so on.
    Limit(usize),
    /// The usage of some level would have gone above the ceiling: a count
    /// that no real charge reaches.
    TooLarge,
}

/// Charges `pages` to every level yielded by `levels`, all or nothing.
///
/// `levels` yields the charged cgroup first and then each ancestor. On
/// success every level was raised by `pages` within its limit and its peak
/// records the usage it reached. On failure no level is changed (and no peak
/// moved); the error names the first level whose limit refused, or says that
/// the count would take a usage above `ceiling`.
#[inline]
pub fn try_charge<'a, I>(levels: I, pages: u64, ceiling: u64) -> Result<(), Refusal>
where
    I: IntoIterator<Item = &'a Level>,
    I::IntoIter: Clone,
{
    // Nothing to charge fits any level, even one already above its limit.
    if pages == 0 {
        return Ok(());
    }
    let levels = levels.into_iter();
    // Whether some level reached a usage above its local peak.
    let mut new_high = false;
    for level in levels.clone() {
        match level.try_raise(pages, ceiling) {
            Ok(usage) => new_high |= usage > level.local_peak(),
            Err(why) => return Err(undo(levels, level, pages, why)),
        }
    }
    // A charge that took no level above its local peak has no peak to
    // record: in the steady state it passes over its levels once.
    if new_high {
        for level in levels {
            level.reached(level.usage());
        }
    }
    Ok(())
}

/// Lowers again the levels of `levels` that come before `refused`, which
/// refused a charge of `pages` for `why`, and says where.
#[cold]
fn undo<'a>(
    levels: impl Iterator<Item = &'a Level>,
    refused: &Level,
    pages: u64,
    why: Why,
) -> Refusal {
    let mut depth = 0;
    for level in levels {
        if core::ptr::eq(level, refused) {
            break;
        }
        level.lower(pages);
        depth += 1;
    }
    match why {
        Why::Limit => Refusal::Limit(depth),
        Why::TooLarge => Refusal::TooLarge,
    }
}

/// Charges `pages` to every level yielded by `levels` without checking any
/// limit.
///
/// For moves that must not be refused (a task migrating with its locked
/// memory): usage may end above a limit, as `pids.current` can after a
/// migration. Saturates at `ceiling` instead of going beyond it.
pub fn charge_unchecked<'a, I>(levels: I, pages: u64, ceiling: u64)
where
    I: IntoIterator<Item = &'a Level>,
{
    for level in levels {
        level.raise_unchecked(pages, ceiling);
    }
}

/// Returns `pages` to every level yielded by `levels`.
///
/// Never fails and never takes a usage below zero. Returns `false` if any
/// level held fewer than `pages`: the caller returned more than it charged,
/// which is a bug the caller reports; the level was clamped at zero.
#[must_use]
#[inline]
pub fn uncharge<'a, I>(levels: I, pages: u64) -> bool
where
    I: IntoIterator<Item = &'a Level>,
{
    let mut balanced = true;
    for level in levels {
        balanced &= level.lower(pages);
    }
    balanced
}
