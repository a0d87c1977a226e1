// SPDX-License-Identifier: GPL-2.0

//! The per-open-file peak of a counter's `.peak` file: [`PeakWatchers`].

use super::OpenFile;
use crate::{bindings, init::PinInit, new_spinlock, prelude::*, sync::SpinLock, types::Opaque};
use core::sync::atomic::{AtomicU64, Ordering};

/// The per-open-file peak of a file that has never been reset.
const PEAK_UNSET: u64 = u64::MAX;

impl OpenFile {
    /// The cgroup core's per-open-file peak record of this file.
    fn peak_record(&self) -> *mut bindings::cgroup_of_peak {
        // SAFETY: `self.0` is a cgroup control file's open file (type
        // invariant), whose private data `of_peak()` knows.
        unsafe { bindings::of_peak(self.0.get()) }
    }

    /// The record's `value`, shared with concurrent readers.
    fn peak_value(&self) -> &AtomicU64 {
        const _: () =
            assert!(core::mem::size_of::<crate::ffi::c_ulong>() == core::mem::size_of::<u64>());
        // SAFETY: `value` is an aligned `unsigned long` of the same size as
        // `u64` that lives as long as the open file; every access to it goes
        // through this atomic view.
        unsafe { AtomicU64::from_ptr(core::ptr::addr_of_mut!((*self.peak_record()).value).cast()) }
    }

    /// The peak this file was reset to and has tracked since, or `None` if
    /// it was never reset (see [`PeakWatchers`]).
    pub fn peak(&self) -> Option<u64> {
        match self.peak_value().load(Ordering::Relaxed) {
            PEAK_UNSET => None,
            value => Some(value),
        }
    }
}

/// The open files of one counter that were written to reset their peak: the
/// per-open-file peak of `memory.peak`.
///
/// A file that was never reset shows the counter's all-time peak. A reset
/// makes the file show the highest usage since the reset. The counter keeps
/// one local peak that restarts at every reset; each reset first folds the
/// local peak into every registered file's value, so a reset through one
/// file never loses what another file has seen since its own reset.
///
/// # Invariants
///
/// `head` is an initialised list, changed only with `lock` held. Its entries
/// are the `list` members of the `struct cgroup_of_peak` records of exactly
/// those open files whose peak is set (not `PEAK_UNSET`): [`Self::reset`]
/// adds a file the first time it sets its peak and [`Self::release`] removes
/// it before the open file, and with it the record, goes away.
#[pin_data]
pub struct PeakWatchers {
    #[pin]
    lock: SpinLock<()>,
    #[pin]
    head: Opaque<bindings::list_head>,
}

// SAFETY: The list is only used under `lock`.
unsafe impl Send for PeakWatchers {}
// SAFETY: As above.
unsafe impl Sync for PeakWatchers {}

impl PeakWatchers {
    /// Creates an empty set.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- new_spinlock!(()),
            // SAFETY: `INIT_LIST_HEAD` initialises the pinned list head.
            head <- Opaque::ffi_init(|head| unsafe { bindings::INIT_LIST_HEAD(head) }),
        })
    }

    /// Call from the file's `open` callback.
    pub fn open(&self, file: &OpenFile) {
        file.peak_value().store(PEAK_UNSET, Ordering::Relaxed);
    }

    /// Resets `file`'s peak. `reset` runs under the lock and restarts the
    /// counter's local peak: it returns the local peak before the restart,
    /// which is folded into every registered file, and the value `file`
    /// restarts from.
    pub fn reset(&self, file: &OpenFile, reset: impl FnOnce() -> (u64, u64)) {
        let _guard = self.lock.lock();
        let (old_local, restart) = reset();
        let head = self.head.get();
        // SAFETY: We hold `lock`, so the list does not change; its entries
        // are `list` members of live `struct cgroup_of_peak` records (type
        // invariant), so `record` is one of those records.
        unsafe {
            let mut pos = (*head).next;
            while pos != head {
                let record = pos
                    .cast::<u8>()
                    .sub(core::mem::offset_of!(bindings::cgroup_of_peak, list))
                    .cast::<bindings::cgroup_of_peak>();
                let value = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*record).value).cast());
                value.fetch_max(old_local, Ordering::Relaxed);
                pos = (*pos).next;
            }
        }
        if file.peak().is_none() {
            // SAFETY: We hold `lock`. `file`'s record is valid until its
            // `release` and, its peak being unset, not on the list yet; from
            // here on its peak is set, as the type invariant requires of the
            // entries.
            unsafe {
                bindings::list_add(core::ptr::addr_of_mut!((*file.peak_record()).list), head)
            };
        }
        file.peak_value().store(restart, Ordering::Relaxed);
    }

    /// Call from the file's `release` callback.
    pub fn release(&self, file: &OpenFile) {
        if file.peak().is_none() {
            return;
        }
        let _guard = self.lock.lock();
        // SAFETY: We hold `lock`, and a file whose peak is set is on the list
        // (type invariant); its record is valid until `release` returns.
        unsafe { bindings::list_del(core::ptr::addr_of_mut!((*file.peak_record()).list)) };
    }
}
