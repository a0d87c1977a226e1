// SPDX-License-Identifier: GPL-2.0

//! The parts of mm that the pins cgroup controller calls.
//!
//! In C, a `struct pins_cgroup *` is the address of the pins controller's
//! [`Css`], which is the address of the `struct cgroup_subsys_state` it
//! embeds first.
//!
//! C header: [`include/linux/cgroup_pins.h`](srctree/include/linux/cgroup_pins.h)

use crate::{
    bindings, build_assert,
    cgroup::{Css, Subsystem},
    task::Task,
    types::ARef,
};

/// Moves the charge for the locked memory of `task`'s mm to `dst`, the pins
/// cgroup `task` is migrating to, even above `dst`'s limit, if `task`'s
/// process owns the mm.
///
/// For the pins controller's attach callback, for every migrating task: the
/// first task of the owning process moves the charge, the others find it
/// moved, and a process that only shares the mm (a `vfork()` child, a
/// `clone(CLONE_VM)` child without `CLONE_THREAD`) moves nothing.
/// `S` must be the pins controller; anything else fails to build.
pub fn move_locked_memory<S: Subsystem>(task: &Task, dst: ARef<Css<S>>) {
    build_assert!(
        S::ID == bindings::cgroup_subsys_id_pins_cgrp_id,
        "only the pins controller charges locked memory"
    );
    let dst = ARef::into_raw(dst).cast::<bindings::pins_cgroup>();
    // SAFETY: `task` is a live task. `dst` is a css of the pins controller
    // (checked above), which is what a `struct pins_cgroup *` is, and the
    // function takes over the reference that `ARef::into_raw()` gave up.
    unsafe { bindings::mm_locked_pins_move(task.0.get(), dst.as_ptr()) };
}

/// Tells the charge path that a pins cgroup other than the root is about to
/// be set up. Until then every task is in the root, and the charge path
/// takes that as known instead of looking up each task's cgroup.
///
/// For the pins controller's `alloc` callback, before it sets up a cgroup
/// that has a parent. Takes locks that may sleep the first time.
pub fn mark_in_use() {
    // SAFETY: The function has no preconditions. It enables a static key,
    // which may sleep, and `alloc` is called where that is allowed.
    unsafe { bindings::pins_cgroup_mark_in_use() };
}

/// Adds `pages` (a negative number removes them) to the pins charged to the
/// root cgroup itself for source `source`, an index of `enum pins_source`.
///
/// The root's own counts are per-CPU counters in C, which the C entry points
/// of the charge path update without calling into the controller; the
/// controller uses this for the charges it makes to the root (moves), so
/// that both count in the same place.
pub fn root_add(source: usize, pages: i64) {
    let Some(source) = root_source(source) else {
        return;
    };
    // SAFETY: `source` is a valid `enum pins_source` (checked above); the
    // function only changes the current CPU's counter.
    unsafe { bindings::pins_root_add(source, pages) };
}

/// The pins charged to the root cgroup itself for source `source` (an index
/// of `enum pins_source`), added up over every CPU. Concurrent charges and
/// returns on several CPUs may leave it negative for a moment.
pub fn root_sum(source: usize) -> i64 {
    let Some(source) = root_source(source) else {
        return 0;
    };
    // SAFETY: `source` is a valid `enum pins_source` (checked above); the
    // function only reads the per-CPU counters.
    unsafe { bindings::pins_root_sum(source) }
}

/// `source` as an `enum pins_source`, if it is one.
fn root_source(source: usize) -> Option<bindings::pins_source> {
    bindings::pins_source::try_from(source)
        .ok()
        .filter(|source| *source < bindings::pins_source_NR_PINS_SOURCES)
}
