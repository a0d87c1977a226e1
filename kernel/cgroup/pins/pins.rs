// SPDX-License-Identifier: GPL-2.0

//! The `pins` cgroup controller.
//!
//! Limits how much memory the tasks of a cgroup subtree may pin or lock.
//! Callers charge it through the C functions declared in
//! `include/linux/cgroup_pins.h`: pinning sites through `vm_account`, whose
//! charges stay where they were made, and locked memory (`mm/mlock.c`,
//! `mm/secretmem.c`, `ipc/shm.c`) directly; the charge for an mm's locked
//! memory moves with the process that owns the mm on migration
//! (`Pins::attach`);
//! administrators set `pins.max` and read `pins.current`, `pins.peak`,
//! `pins.events` and `pins.events.local`. See
//! `Documentation/admin-guide/cgroup-v2.rst`.
//!
//! The root cgroup is not charged and has no files: like the `pids` and
//! memory controllers, the controller only limits cgroups below the root,
//! and charging the root would put one shared counter on every pinning path.

use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{
    bindings,
    cgroup::{
        self, ControlFile, Css, FileNotifier, NotifierField, OpenFile, PeakWatchers, Subsystem,
        TaskSet,
    },
    cgroup_pins,
    error::from_result,
    ffi::{c_int, c_ulong},
    page::PAGE_SHIFT,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    task::Task,
    types::ARef,
    warn_on_once,
};

pub mod counter;
pub mod parse;

use counter::{Level, Refusal};

/// Prefix of this crate's log messages.
const __LOG_PREFIX: &[u8] = b"pins\0";

/// `PAGE_SHIFT` for the counter and parser, which work in `u64`.
const SHIFT: u32 = PAGE_SHIFT as u32;

/// The most pages a usage may reach: their size in bytes fits in 64 bits, so
/// `pins.current` and `pins.peak` are always exact.
const CEILING: u64 = u64::MAX >> SHIFT;

/// The `pins` controller.
pub struct Pins;

/// What the controller keeps for each cgroup.
#[pin_data]
pub struct PinsState {
    level: Level,
    /// Charges refused by this cgroup's or a descendant's `pins.max`.
    events: AtomicU64,
    /// Charges refused by this cgroup's own `pins.max`.
    events_local: AtomicU64,
    #[pin]
    events_file: FileNotifier,
    #[pin]
    events_local_file: FileNotifier,
    /// Open `pins.peak` files that were reset.
    #[pin]
    peaks: PeakWatchers,
}

#[vtable]
impl Subsystem for Pins {
    type State = PinsState;
    const ID: bindings::cgroup_subsys_id = bindings::cgroup_subsys_id_pins_cgrp_id;

    fn alloc(_parent: Option<&Css<Self>>) -> impl PinInit<PinsState, Error> {
        try_pin_init!(PinsState {
            level: Level::new(),
            events: AtomicU64::new(0),
            events_local: AtomicU64::new(0),
            events_file <- FileNotifier::new(),
            events_local_file <- FileNotifier::new(),
            peaks <- PeakWatchers::new(),
        }? Error)
    }

    /// A migrating process takes the charge for the locked memory of the mm
    /// it owns along; pins charged through a `vm_account` stay where they
    /// are.
    fn attach(tasks: &mut TaskSet<Self>) {
        for (task, dst) in tasks.iter() {
            cgroup_pins::move_locked_memory(task, dst.into());
        }
    }
}

/// The levels a charge to `css` goes to: `css` and its ancestors, not the
/// root.
fn levels(css: &Css<Pins>) -> impl Iterator<Item = &Level> + Clone {
    css.ancestors()
        .take_while(|css| !css.is_root())
        .map(|css| &css.level)
}

/// Counts a charge to `css` that the limit of its ancestor at `depth` (0 for
/// `css` itself) turned down: locally at that cgroup, hierarchically there
/// and in every ancestor below the root.
fn record_refusal(css: &Css<Pins>, depth: usize) {
    let chain = css.ancestors().take_while(|css| !css.is_root()).skip(depth);
    for (above, css) in chain.enumerate() {
        if above == 0 {
            css.events_local.fetch_add(1, Ordering::Relaxed);
            css.events_local_file.notify();
        }
        css.events.fetch_add(1, Ordering::Relaxed);
        css.events_file.notify();
    }
}

/// The number of levels of `a` and of `b` below their nearest common
/// ancestor, which is the root if they share nothing else.
fn levels_below_common(a: &Css<Pins>, b: &Css<Pins>) -> (usize, usize) {
    let (mut a, mut b) = (a, b);
    let (mut below_a, mut below_b) = (0, 0);
    // Up to the same depth, then up together until they meet.
    while !core::ptr::eq(a, b) {
        let (up_a, up_b) = (a.depth() >= b.depth(), b.depth() >= a.depth());
        if up_a {
            let Some(parent) = a.parent() else { break };
            a = parent;
            below_a += 1;
        }
        if up_b {
            let Some(parent) = b.parent() else { break };
            b = parent;
            below_b += 1;
        }
    }
    (below_a, below_b)
}

/// Charges `pages` to `pins` and its ancestors, all or nothing, and counts a
/// refusal by a limit.
fn try_charge(pins: &Css<Pins>, pages: u64) -> Result {
    match counter::try_charge(levels(pins), pages, CEILING) {
        Ok(()) => Ok(()),
        Err(Refusal::Limit(depth)) => {
            record_refusal(pins, depth);
            Err(ENOMEM)
        }
        // No limit refused an impossible count: no event.
        Err(Refusal::TooLarge) => Err(ENOMEM),
    }
}

/// A page count from C, saturated to the counter's width.
fn pages(npages: c_ulong) -> u64 {
    u64::try_from(npages).unwrap_or(u64::MAX)
}

/// `pins.max`: the limit, in bytes or `max`.
struct MaxFile;

#[vtable]
impl ControlFile for MaxFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"max";
    const FLAGS: u32 = cgroup::NOT_ON_ROOT;

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        match parse::max_bytes(css.level.max(), SHIFT) {
            None => seq_print!(m, "max\n"),
            Some(bytes) => seq_print!(m, "{}\n", bytes),
        }
        Ok(())
    }

    fn write(css: &Css<Pins>, _file: &OpenFile, input: &[u8]) -> Result {
        let max = parse::parse_max(input, SHIFT).map_err(|_| EINVAL)?;
        css.level.set_max(max);
        Ok(())
    }
}

/// `pins.current`: bytes charged to the cgroup and its descendants.
struct CurrentFile;

#[vtable]
impl ControlFile for CurrentFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"current";
    const FLAGS: u32 = cgroup::NOT_ON_ROOT;

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        seq_print!(m, "{}\n", parse::pages_to_bytes(css.level.usage(), SHIFT));
        Ok(())
    }
}

/// `pins.events`: refusals by this cgroup's or a descendant's limit.
struct EventsFile;

#[vtable]
impl ControlFile for EventsFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"events";
    const FLAGS: u32 = cgroup::NOT_ON_ROOT;
    const NOTIFIER: Option<NotifierField<PinsState>> =
        Some(kernel::cgroup_notifier!(PinsState, events_file));

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        seq_print!(m, "max {}\n", css.events.load(Ordering::Relaxed));
        Ok(())
    }
}

/// `pins.events.local`: refusals by this cgroup's own limit.
struct EventsLocalFile;

#[vtable]
impl ControlFile for EventsLocalFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"events.local";
    const FLAGS: u32 = cgroup::NOT_ON_ROOT;
    const NOTIFIER: Option<NotifierField<PinsState>> =
        Some(kernel::cgroup_notifier!(PinsState, events_local_file));

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        seq_print!(m, "max {}\n", css.events_local.load(Ordering::Relaxed));
        Ok(())
    }
}

/// `pins.peak`: the highest `pins.current`; a write through an open file
/// resets what reads through that file show (the `memory.peak` convention).
struct PeakFile;

#[vtable]
impl ControlFile for PeakFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"peak";
    const FLAGS: u32 = cgroup::NOT_ON_ROOT;

    fn open(css: &Css<Pins>, file: &OpenFile) -> Result {
        css.peaks.open(file);
        Ok(())
    }

    fn release(css: &Css<Pins>, file: &OpenFile) {
        css.peaks.release(file);
    }

    fn show(css: &Css<Pins>, file: &OpenFile, m: &SeqFile) -> Result {
        let pages = match file.peak() {
            None => css.level.peak(),
            Some(since_reset) => since_reset.max(css.level.local_peak()),
        };
        seq_print!(m, "{}\n", parse::pages_to_bytes(pages, SHIFT));
        Ok(())
    }

    fn write(css: &Css<Pins>, file: &OpenFile, _input: &[u8]) -> Result {
        css.peaks.reset(file, || css.level.reset_local_peak());
        Ok(())
    }
}

kernel::cgroup_subsys! {
    subsystem: Pins,
    symbol: pins_cgrp_subsys,
    files: [MaxFile, CurrentFile, PeakFile, EventsFile, EventsLocalFile],
}

// The C interface, declared in `include/linux/cgroup_pins.h`. A
// `struct pins_cgroup *` is the address of a `Css<Pins>` (see
// `kernel::cgroup_pins`), or null for no cgroup. C owns a reference on it
// between `pins_cgroup_get()` and `pins_cgroup_put()`, or
// `mm_locked_pins_move()` for the reference `Pins::attach` hands over.

/// Borrows the pins cgroup behind a `struct pins_cgroup *` from C.
///
/// # Safety
///
/// `pins` must be null or a pins cgroup that the caller holds a reference
/// on for `'a`.
unsafe fn borrow<'a>(pins: *mut bindings::pins_cgroup) -> Option<&'a Css<Pins>> {
    if pins.is_null() {
        return None;
    }
    // SAFETY: A non-null `pins` is a live css of `Pins` (see above), and the
    // reference the caller holds keeps it alive for `'a`.
    Some(unsafe { Css::from_raw(pins.cast()) })
}

/// Returns the pins cgroup of `task` with a reference held.
///
/// # Safety
///
/// `task` must point to a valid task.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_get(
    task: *mut bindings::task_struct,
) -> *mut bindings::pins_cgroup {
    // SAFETY: `task` is valid for the call (function safety requirement) and
    // `Task` is a transparent wrapper of `struct task_struct`.
    let task = unsafe { &*task.cast::<Task>() };
    match Css::<Pins>::of_task(task) {
        Some(pins) => ARef::into_raw(pins).as_ptr().cast(),
        None => ptr::null_mut(),
    }
}

/// Puts a reference returned by [`pins_cgroup_get`].
///
/// # Safety
///
/// `pins` must be null or a pins cgroup returned by [`pins_cgroup_get`]
/// whose reference the caller gives up: it must not use `pins` afterwards.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_put(pins: *mut bindings::pins_cgroup) {
    if let Some(pins) = NonNull::new(pins.cast::<Css<Pins>>()) {
        // SAFETY: `pins` is a css of `Pins` on which the caller owns a
        // reference and gives it up (function safety requirement); the
        // `ARef` takes it over and puts it when dropped.
        drop(unsafe { ARef::from_raw(pins) });
    }
}

/// Charges `npages` to `pins` and its ancestors, all or nothing.
///
/// # Safety
///
/// `pins` must be null or a pins cgroup that the caller holds a reference
/// on.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_try_charge(
    pins: *mut bindings::pins_cgroup,
    npages: c_ulong,
) -> c_int {
    from_result(|| {
        // SAFETY: Guaranteed by the function safety requirement.
        if let Some(pins) = unsafe { borrow(pins) } {
            try_charge(pins, pages(npages))?;
        }
        Ok(0)
    })
}

/// Moves `npages` from `from` to `to` without checking limits; see
/// `pins_cgroup_move()` in `include/linux/cgroup_pins.h`. A null end
/// only charges or only uncharges.
///
/// # Safety
///
/// `from` and `to` must each be null or a pins cgroup that the caller holds
/// a reference on.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_move(
    from: *mut bindings::pins_cgroup,
    to: *mut bindings::pins_cgroup,
    npages: c_ulong,
) {
    // SAFETY: Guaranteed by the function safety requirement.
    let (from, to) = unsafe { (borrow(from), borrow(to)) };
    let pages = pages(npages);
    let (below_from, below_to) = match (from, to) {
        (Some(from), Some(to)) => levels_below_common(from, to),
        _ => (usize::MAX, usize::MAX),
    };
    if let Some(to) = to {
        counter::charge_unchecked(levels(to).take(below_to), pages, CEILING);
    }
    if let Some(from) = from {
        let balanced = counter::uncharge(levels(from).take(below_from), pages);
        warn_on_once!(!balanced);
    }
}

/// Returns `npages` charged by [`pins_cgroup_try_charge`].
///
/// # Safety
///
/// `pins` must be null or a pins cgroup that the caller holds a reference
/// on.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_uncharge(pins: *mut bindings::pins_cgroup, npages: c_ulong) {
    // SAFETY: Guaranteed by the function safety requirement.
    let Some(pins) = (unsafe { borrow(pins) }) else {
        return;
    };
    let balanced = counter::uncharge(levels(pins), pages(npages));
    warn_on_once!(!balanced);
}
