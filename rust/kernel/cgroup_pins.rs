// SPDX-License-Identifier: GPL-2.0

//! The parts of mm that the pins cgroup controller calls.
//!
//! C header: [`include/linux/cgroup_pins.h`](srctree/include/linux/cgroup_pins.h)

use crate::{
    bindings, build_assert,
    cgroup::{CssRef, Subsystem},
    task::Task,
};
use core::mem::ManuallyDrop;

/// Moves the charge for the locked memory of `task`'s mm to `dst`, the pins
/// cgroup `task` is migrating to, even above `dst`'s limit, if `task`'s
/// process owns the mm.
///
/// For the pins controller's attach callback, for every migrating task: the
/// first task of the owning process moves the charge, the others find it
/// moved, and a process that only shares the mm (a `vfork()` child, a
/// `clone(CLONE_VM)` child without `CLONE_THREAD`) moves nothing.
/// `S` must be the pins controller; anything else fails to build.
pub fn move_locked_memory<S: Subsystem>(task: &Task, dst: CssRef<S>) {
    build_assert!(
        S::ID == bindings::cgroup_subsys_id_pins_cgrp_id,
        "only the pins controller charges locked memory"
    );
    let dst = ManuallyDrop::new(dst);
    // SAFETY: `task` is a live task. `dst` is a css of the pins controller
    // (checked above), which is what a `struct pins_cgroup *` is, and the
    // function takes over the reference `dst` owns, which is why `dst` is
    // not dropped here.
    unsafe { bindings::mm_locked_pins_move(task.0.get(), dst.as_raw().cast()) };
}
