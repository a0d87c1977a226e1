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
//! `pins.stat`, `pins.events` and `pins.events.local`. See
//! `Documentation/admin-guide/cgroup-v2.rst`.
//!
//! Each charge says what pinned the memory, its source. Every cgroup counts
//! the pages charged to it by source in per-CPU counters, which a charge
//! changes only on the CPU it runs on; `pins.stat` adds them up over the
//! cgroup's subtree when it is read. That is also how the root shows the
//! whole host in `pins.current` and `pins.stat`, its own tasks' charges
//! included, without a shared counter on every pinning path: the root has
//! no limit, no level in the hierarchical counter and no `pins.peak`.
//! The root's own counts are kept in C (`charge.c`). The inline entry points
//! in `cgroup_pins.h` count a charge to the root without calling into this
//! file and pass every other one to [`__pins_cgroup_try_charge`] and
//! [`__pins_cgroup_uncharge`].

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings, c_str,
    cgroup::{
        self, ControlFile, Css, FileNotifier, NotifierField, OpenFile, PeakWatchers, Subsystem,
        TaskSet,
    },
    cgroup_pins,
    ffi::{c_int, c_ulong},
    page::PAGE_SHIFT,
    percpu_counter::PercpuCounters,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    str::CStr,
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

/// The number of sources a charge may name (`enum pins_source`).
const NR_SOURCES: usize = bindings::pins_source_NR_PINS_SOURCES as usize;

/// The name of each source, in the order of `enum pins_source`: the keys of
/// `pins.stat`.
const SOURCES: [&CStr; NR_SOURCES] = [
    c_str!("mlock"),
    c_str!("shm"),
    c_str!("secretmem"),
    c_str!("io_uring"),
    c_str!("zerocopy"),
    c_str!("xdp"),
    c_str!("perf"),
    c_str!("vfio"),
    c_str!("iommufd"),
    c_str!("vdpa"),
    c_str!("rdma"),
    c_str!("other"),
];

/// The source a C caller names, as an index into [`SOURCES`]. A value that
/// is not a source is a bug of the caller: it is reported once and counted
/// as `other`, so that the charge and its return still balance.
#[inline]
fn source(source: bindings::pins_source) -> usize {
    match usize::try_from(source) {
        Ok(index) if index < NR_SOURCES => index,
        _ => {
            warn_on_once!(true);
            bindings::pins_source_PINS_SOURCE_OTHER as usize
        }
    }
}

/// The `pins` controller.
pub struct Pins;

/// What the controller keeps for each cgroup.
#[pin_data]
pub struct PinsState {
    level: Level,
    /// Pages charged to this cgroup itself (not its descendants), by source.
    #[pin]
    stat: PercpuCounters<NR_SOURCES>,
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

    fn alloc(parent: Option<&Css<Self>>) -> impl PinInit<PinsState, Error> {
        if parent.is_some() {
            cgroup_pins::mark_in_use();
        }
        try_pin_init!(PinsState {
            level: Level::new(),
            stat <- PercpuCounters::new(GFP_KERNEL),
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
#[inline]
fn levels(css: &Css<Pins>) -> impl Iterator<Item = &Level> + Clone {
    css.ancestors()
        .take_while(|css| !css.is_root())
        .map(|css| &css.level)
}

/// Counts a charge of `pages` for `source` to `css` that the limit of its
/// ancestor at `depth` (0 for `css` itself) turned down: locally at that
/// cgroup, hierarchically there and in every ancestor below the root. Then
/// reports it: the tracepoint for every refusal, a log line for the first
/// one by that cgroup's limit.
#[cold]
fn record_refusal(css: &Css<Pins>, depth: usize, source: usize, pages: u64) {
    let chain = css.ancestors().take_while(|css| !css.is_root()).skip(depth);
    let mut limiter = None;
    for (above, css) in chain.enumerate() {
        if above == 0 {
            let before = css.events_local.fetch_add(1, Ordering::Relaxed);
            css.events_local_file.notify();
            limiter = Some((css, before == 0));
        }
        css.events.fetch_add(1, Ordering::Relaxed);
        css.events_file.notify();
    }
    if let Some((limiter, first)) = limiter {
        // SAFETY: Both are live csses of this controller, the name is a
        // NUL-terminated string with a static lifetime, and the function
        // only reads them for the call.
        unsafe {
            bindings::pins_report_refusal(
                css.as_raw(),
                limiter.as_raw(),
                SOURCES[source].as_char_ptr(),
                c_ulong::try_from(pages).unwrap_or(c_ulong::MAX),
                limiter.level.max(),
                limiter.level.usage(),
                first,
            )
        };
    }
}

/// Adds `pages` (removes them if `remove`) to `css`'s own count for
/// `source`.
#[inline]
fn count(css: &Css<Pins>, source: usize, pages: u64, remove: bool) {
    // No count reaches `i64::MAX` pages: the hierarchical counter stops at
    // `CEILING`.
    let pages = i64::try_from(pages).unwrap_or(i64::MAX);
    let pages = if remove { -pages } else { pages };
    if css.is_root() {
        cgroup_pins::root_add(source, pages);
    } else {
        css.stat.add_local(source, pages);
    }
}

/// The pages charged to `css`'s subtree by source, added up over its
/// descendants and every CPU. A count that a concurrent charge and uncharge
/// on two CPUs leave negative for a moment reads as 0.
fn subtree_stat(css: &Css<Pins>) -> [u64; NR_SOURCES] {
    let mut sums = [0i64; NR_SOURCES];
    css.for_each_descendant(|css| {
        for (index, sum) in sums.iter_mut().enumerate() {
            let pages = if css.is_root() {
                cgroup_pins::root_sum(index)
            } else {
                css.stat.sum(index)
            };
            *sum = sum.saturating_add(pages);
        }
    });
    sums.map(|sum| u64::try_from(sum).unwrap_or(0))
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

/// Charges `pages` for `source` to `pins` and its ancestors, all or
/// nothing, and counts a refusal by a limit.
fn try_charge(pins: &Css<Pins>, source: usize, pages: u64) -> Result {
    match counter::try_charge(levels(pins), pages, CEILING) {
        Ok(()) => {
            count(pins, source, pages, false);
            Ok(())
        }
        Err(Refusal::Limit(depth)) => {
            record_refusal(pins, depth, source, pages);
            Err(ENOMEM)
        }
        // No limit refused an impossible count: no event.
        Err(Refusal::TooLarge) => Err(ENOMEM),
    }
}

/// A page count from C, saturated to the counter's width.
#[inline]
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

/// `pins.current`: bytes charged to the cgroup and its descendants; on the
/// root, to the whole host.
struct CurrentFile;

#[vtable]
impl ControlFile for CurrentFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"current";
    const FLAGS: u32 = 0;

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        let pages = if css.is_root() {
            subtree_stat(css)
                .iter()
                .fold(0u64, |total, pages| total.saturating_add(*pages))
        } else {
            css.level.usage()
        };
        seq_print!(m, "{}\n", parse::pages_to_bytes(pages, SHIFT));
        Ok(())
    }
}

/// `pins.stat`: bytes charged to the cgroup and its descendants by source;
/// on the root, to the whole host.
struct StatFile;

#[vtable]
impl ControlFile for StatFile {
    type Subsys = Pins;
    const NAME: &'static [u8] = b"stat";
    const FLAGS: u32 = 0;

    fn show(css: &Css<Pins>, _file: &OpenFile, m: &SeqFile) -> Result {
        for (name, pages) in SOURCES.iter().zip(subtree_stat(css)) {
            seq_print!(m, "{} {}\n", name, parse::pages_to_bytes(pages, SHIFT));
        }
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
    files: [MaxFile, CurrentFile, PeakFile, StatFile, EventsFile, EventsLocalFile],
}

// The C interface, declared in `include/linux/cgroup_pins.h`. A
// `struct pins_cgroup *` is the address of a `Css<Pins>` (see
// `kernel::cgroup_pins`), or null for no cgroup. C owns a reference on it
// between `pins_cgroup_get()` and `pins_cgroup_put()`, or
// `mm_locked_pins_move()` for the reference `Pins::attach` hands over. The
// root's css is never freed, so its references are not counted: C passes
// the root without taking one.

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

/// Charges `npages` for source `src` to `pins` and its ancestors, all or
/// nothing; `pins_cgroup_try_charge()` (`cgroup_pins.h`) calls it for every
/// cgroup but the root.
///
/// # Safety
///
/// `pins` must be null or a pins cgroup that the caller holds a reference
/// on.
#[no_mangle]
pub unsafe extern "C" fn __pins_cgroup_try_charge(
    pins: *mut bindings::pins_cgroup,
    src: bindings::pins_source,
    npages: c_ulong,
) -> c_int {
    // SAFETY: Guaranteed by the function safety requirement.
    let Some(pins) = (unsafe { borrow(pins) }) else {
        return 0;
    };
    match try_charge(pins, source(src), pages(npages)) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

/// Moves `npages` from `from` to `dst` without checking limits; see
/// `pins_cgroup_move()` in `include/linux/cgroup_pins.h`. A null end
/// only charges or only uncharges.
///
/// # Safety
///
/// `from` and `dst` must each be null or a pins cgroup that the caller holds
/// a reference on.
#[no_mangle]
pub unsafe extern "C" fn pins_cgroup_move(
    from: *mut bindings::pins_cgroup,
    dst: *mut bindings::pins_cgroup,
    src: bindings::pins_source,
    npages: c_ulong,
) {
    // SAFETY: Guaranteed by the function safety requirement.
    let (from, to) = unsafe { (borrow(from), borrow(dst)) };
    let (source, pages) = (source(src), pages(npages));
    let (below_from, below_to) = match (from, to) {
        (Some(from), Some(to)) => levels_below_common(from, to),
        _ => (usize::MAX, usize::MAX),
    };
    if let Some(to) = to {
        counter::charge_unchecked(levels(to).take(below_to), pages, CEILING);
        count(to, source, pages, false);
    }
    if let Some(from) = from {
        let balanced = counter::uncharge(levels(from).take(below_from), pages);
        warn_on_once!(!balanced);
        count(from, source, pages, true);
    }
}

/// Returns `npages` charged for source `src` by [`__pins_cgroup_try_charge`];
/// `pins_cgroup_uncharge()` (`cgroup_pins.h`) calls it for every cgroup but the
/// root.
///
/// # Safety
///
/// `pins` must be null or a pins cgroup that the caller holds a reference
/// on.
#[no_mangle]
pub unsafe extern "C" fn __pins_cgroup_uncharge(
    pins: *mut bindings::pins_cgroup,
    src: bindings::pins_source,
    npages: c_ulong,
) {
    // SAFETY: Guaranteed by the function safety requirement.
    let Some(pins) = (unsafe { borrow(pins) }) else {
        return;
    };
    let (source, pages) = (source(src), pages(npages));
    let balanced = counter::uncharge(levels(pins), pages);
    warn_on_once!(!balanced);
    count(pins, source, pages, true);
}
