// SPDX-License-Identifier: GPL-2.0

//! Hierarchical page counter of the pins controller.
//!
//! This file depends on `core` only: the kernel builds it as a module of the
//! controller and the host-side tests build the very same file, so the logic
//! that enforces `pins.max` is tested without booting a kernel.
//!
//! A charge walks the levels from a cgroup up to (not including) the root
//! and raises each level with a compare-and-exchange that refuses to go above
//! that level's limit. No level is ever above its limit because of a charge,
//! not even transiently: a level is either raised within its limit or left
//! alone. When a level refuses, the levels already raised are lowered again,
//! so a charge is all or nothing. Concurrent chargers may see a transient
//! usage that includes a charge that is about to be rolled back and fail
//! where a strictly serialised order would have let them through; that is
//! the same trade-off the memory controller's page counter makes, and it
//! never lets usage exceed a limit.

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
    pub fn reset_local_peak(&self) -> (u64, u64) {
        let usage = self.usage();
        (self.local_peak.swap(usage, Ordering::Relaxed), usage)
    }

    /// Records `usage` as reached.
    fn reached(&self, usage: u64) {
        self.peak.fetch_max(usage, Ordering::Relaxed);
        self.local_peak.fetch_max(usage, Ordering::Relaxed);
    }

    /// Sets the limit. Lowering it below the usage is allowed: nothing is
    /// taken back, later charges fail until the usage drops.
    pub fn set_max(&self, pages: u64) {
        self.max.store(pages, Ordering::Relaxed);
    }

    /// Raises the usage by `pages` unless that would take it above the limit
    /// or to [`UNLIMITED`], which no real count reaches. Returns whether the
    /// usage was raised.
    fn try_raise(&self, pages: u64) -> bool {
        let max = self.max();
        let raised = self
            .usage
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |usage| {
                usage
                    .checked_add(pages)
                    .filter(|&new| new <= max && new != UNLIMITED)
            });
        match raised {
            Ok(old) => {
                // `old + pages` cannot overflow: the closure checked it.
                self.reached(old + pages);
                true
            }
            Err(_) => false,
        }
    }

    /// Raises the usage by `pages` whatever the limit, saturating instead of
    /// wrapping.
    fn raise_unchecked(&self, pages: u64) {
        let old = self
            .usage
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |usage| {
                Some(usage.saturating_add(pages))
            })
            // The closure always returns `Some`, so this is the `Ok` value.
            .unwrap_or_else(|usage| usage);
        self.reached(old.saturating_add(pages));
    }

    /// Lowers the usage by `pages`, clamping at zero. Returns `false` if the
    /// usage was below `pages`, which means the caller returns more than it
    /// charged.
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

/// Charges `pages` to every level yielded by `levels`, all or nothing.
///
/// `levels` yields the charged cgroup first and then each ancestor. On
/// success every level was raised by `pages` and none went above its limit.
/// On failure no level is changed and the error is the first level whose
/// limit refused the charge; a count so large that it would overflow a usage
/// counter fails the same way.
pub fn try_charge<'a, I>(levels: I, pages: u64) -> Result<(), &'a Level>
where
    I: IntoIterator<Item = &'a Level>,
    I::IntoIter: Clone,
{
    let levels = levels.into_iter();
    for (raised, level) in levels.clone().enumerate() {
        if !level.try_raise(pages) {
            for done in levels.take(raised) {
                done.lower(pages);
            }
            return Err(level);
        }
    }
    Ok(())
}

/// Charges `pages` to every level yielded by `levels` without checking any
/// limit.
///
/// For moves that must not be refused (a task migrating with its locked
/// memory): usage may end above a limit, as `pids.current` can after a
/// migration. Saturates instead of wrapping.
pub fn charge_unchecked<'a, I>(levels: I, pages: u64)
where
    I: IntoIterator<Item = &'a Level>,
{
    for level in levels {
        level.raise_unchecked(pages);
    }
}

/// Returns `pages` to every level yielded by `levels`.
///
/// Never fails and never takes a usage below zero. Returns `false` if any
/// level held fewer than `pages`: the caller returned more than it charged,
/// which is a bug the caller reports; the level was clamped at zero.
#[must_use]
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
