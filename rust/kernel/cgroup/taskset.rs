// SPDX-License-Identifier: GPL-2.0

//! The tasks of a migration: [`TaskSet`].

use super::{Css, Subsystem};
use crate::{bindings, task::Task, types::Opaque};
use core::marker::PhantomData;

/// The tasks of a migration, each with the css of `S` it moves to: the C
/// `struct cgroup_taskset`.
///
/// # Invariants
///
/// `self.0` is the taskset the cgroup core passed to a callback of `S`,
/// which is running: its tasks cannot exit or move and their css stay
/// alive. The taskset's cursor is only moved through `&mut self`.
#[repr(transparent)]
pub struct TaskSet<S: Subsystem>(Opaque<bindings::cgroup_taskset>, PhantomData<S>);

impl<S: Subsystem> TaskSet<S> {
    /// # Safety
    ///
    /// `tset` is the taskset the cgroup core passed to a callback of `S`
    /// that is running, and the returned reference does not outlive it.
    pub(super) unsafe fn from_raw<'a>(tset: *mut bindings::cgroup_taskset) -> &'a mut Self {
        // SAFETY: `TaskSet` is a transparent wrapper of the taskset, which is
        // valid and, for the callback, ours alone (function safety
        // requirement).
        unsafe { &mut *tset.cast::<Self>() }
    }

    /// Iterates over the tasks and the css each one moves to.
    pub fn iter(&mut self) -> TaskSetIter<'_, S> {
        TaskSetIter {
            tset: self,
            started: false,
        }
    }
}

/// An iterator over a [`TaskSet`].
pub struct TaskSetIter<'a, S: Subsystem> {
    tset: &'a mut TaskSet<S>,
    started: bool,
}

impl<'a, S: Subsystem> Iterator for TaskSetIter<'a, S> {
    type Item = (&'a Task, &'a Css<S>);

    fn next(&mut self) -> Option<Self::Item> {
        let tset = self.tset.0.get();
        let mut css = core::ptr::null_mut();
        let task = if self.started {
            // SAFETY: `tset` is valid (type invariant) and `css` writable.
            unsafe { bindings::cgroup_taskset_next(tset, &mut css) }
        } else {
            self.started = true;
            // SAFETY: As above.
            unsafe { bindings::cgroup_taskset_first(tset, &mut css) }
        };
        if task.is_null() || css.is_null() {
            return None;
        }
        // SAFETY: `task` is a task of the taskset, which stays alive while the
        // callback runs (type invariant); `Task` wraps `struct task_struct`
        // transparently.
        let task = unsafe { &*task.cast::<Task>() };
        // SAFETY: `css` is the live css of `S` the task moves to.
        let css = unsafe { Css::<S>::from_raw(css) };
        Some((task, css))
    }
}
