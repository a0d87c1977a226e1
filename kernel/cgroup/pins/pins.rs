// SPDX-License-Identifier: GPL-2.0

//! The `pins` cgroup controller.
//!
//! Limits how much memory the tasks of a cgroup subtree may pin or lock.
//! Callers charge it through the C functions declared in
//! `include/linux/cgroup_pins.h`; administrators set `pins.max` and read
//! `pins.current`. See `Documentation/admin-guide/cgroup-v2.rst`.
//!
//! The root cgroup is not charged and has no files: like the `pids` and
//! memory controllers, the controller only limits cgroups below the root,
//! and charging the root would put one shared counter on every pinning path.

use kernel::{
    bindings,
    cgroup::{self, ControlFile, Css, CssRef, Subsystem},
    ffi::{c_int, c_ulong},
    page::PAGE_SHIFT,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    task::Task,
    warn_on_once,
};

pub mod counter;
pub mod parse;

use counter::Level;

/// Prefix of this crate's log messages.
const __LOG_PREFIX: &[u8] = b"pins\0";

/// `PAGE_SHIFT` for the counter and parser, which work in `u64`.
const SHIFT: u32 = PAGE_SHIFT as u32;

/// The `pins` controller.
pub struct Pins;

/// What the controller keeps for each cgroup.
pub struct PinsState {
    level: Level,
}

impl Subsystem for Pins {
    type State = PinsState;
    const ID: bindings::cgroup_subsys_id = bindings::cgroup_subsys_id_pins_cgrp_id;

    fn alloc(_parent: Option<&Css<Self>>) -> Result<PinsState> {
        Ok(PinsState {
            level: Level::new(),
        })
    }
}

/// The levels a charge to `css` goes to: `css` and its ancestors, not the
/// root.
fn levels(css: &Css<Pins>) -> impl Iterator<Item = &Level> + Clone {
    css.ancestors()
        .take_while(|css| !css.is_root())
        .map(|css| &css.level)
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

    fn show(css: &Css<Pins>, m: &SeqFile) -> Result {
        match parse::max_bytes(css.level.max(), SHIFT) {
            None => seq_print!(m, "max\n"),
            Some(bytes) => seq_print!(m, "{}\n", bytes),
        }
        Ok(())
    }

    fn write(css: &Css<Pins>, input: &[u8]) -> Result {
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

    fn show(css: &Css<Pins>, m: &SeqFile) -> Result {
        seq_print!(m, "{}\n", parse::pages_to_bytes(css.level.usage(), SHIFT));
        Ok(())
    }
}

kernel::cgroup_subsys! {
    subsystem: Pins,
    symbol: pins_cgrp_subsys,
    files: [MaxFile, CurrentFile],
}

// The C interface, declared in `include/linux/cgroup_pins.h`. A
// `struct pins_cgroup *` in C is a `CssRef<Pins>` when it carries a
// reference and a `&Css<Pins>` when it is borrowed.

/// Returns the pins cgroup of `task` with a reference held.
#[no_mangle]
pub extern "C" fn pins_cgroup_get(task: &Task) -> Option<CssRef<Pins>> {
    CssRef::of_task(task)
}

/// Puts a reference returned by [`pins_cgroup_get`].
#[no_mangle]
pub extern "C" fn pins_cgroup_put(pins: Option<CssRef<Pins>>) {
    drop(pins);
}

/// Charges `npages` to `pins` and its ancestors, all or nothing.
#[no_mangle]
pub extern "C" fn pins_cgroup_try_charge(pins: Option<&Css<Pins>>, npages: c_ulong) -> c_int {
    let Some(pins) = pins else { return 0 };
    match counter::try_charge(levels(pins), pages(npages)) {
        Ok(()) => 0,
        Err(_) => ENOMEM.to_errno(),
    }
}

/// Returns `npages` charged by [`pins_cgroup_try_charge`].
#[no_mangle]
pub extern "C" fn pins_cgroup_uncharge(pins: Option<&Css<Pins>>, npages: c_ulong) {
    let Some(pins) = pins else { return };
    let balanced = counter::uncharge(levels(pins), pages(npages));
    warn_on_once!(!balanced);
}
