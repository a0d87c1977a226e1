// SPDX-License-Identifier: GPL-2.0

//! A cgroup's state for one controller: [`Css`].

use super::Subsystem;
use crate::{
    alloc::KBox,
    bindings,
    ffi::c_int,
    prelude::*,
    task::Task,
    types::{ARef, AlwaysRefCounted, ForeignOwnable, Opaque},
};
use core::{
    ops::Deref,
    ptr::{self, NonNull},
};

/// The state of one cgroup for controller `S`: the C
/// `struct cgroup_subsys_state` followed by the controller's state.
///
/// # Invariants
///
/// A `Css<S>` is always reference counted: it is only ever reached through a
/// reference that the cgroup core or an [`ARef`] keeps alive. It was
/// allocated by `S`'s `css_alloc` callback as a `Pin<KBox<Css<S>>>` and
/// handed to the cgroup core with [`ForeignOwnable::into_foreign`], so it
/// never moves; the cgroup core has initialised its C part (`css.ss` is `S`'s
/// subsystem, `css.parent` is set and never changes); and only `S`'s
/// `css_free` callback takes it back with [`ForeignOwnable::from_foreign`]
/// and frees it, after its last reference is gone. A child css holds a
/// reference to its parent until it is freed.
///
/// # Examples
///
/// An [`ARef`] keeps a cgroup's state alive after the cgroup is removed,
/// until the last reference is dropped:
///
/// ```ignore
/// fn hold<S: Subsystem>(css: &Css<S>) -> ARef<Css<S>> {
///     css.into()
/// }
/// ```
#[repr(C)]
#[pin_data]
pub struct Css<S: Subsystem> {
    #[pin]
    pub(super) css: Opaque<bindings::cgroup_subsys_state>,
    #[pin]
    pub(super) state: S::State,
}

// SAFETY: The C part is managed by the cgroup core, which synchronises it;
// the Rust part is `Send + Sync` as `Subsystem::State` requires.
unsafe impl<S: Subsystem> Send for Css<S> {}
// SAFETY: As above.
unsafe impl<S: Subsystem> Sync for Css<S> {}

// SAFETY: The cgroup core frees a css only after its last reference is put
// (type invariant), and `css_get()` and `css_put()` take and put a reference
// from any context. A `Css` is never created other than by the cgroup core's
// `css_alloc` callback, so every one is reference counted.
unsafe impl<S: Subsystem> AlwaysRefCounted for Css<S> {
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference means that the css is
        // alive, so taking another reference is allowed.
        unsafe { bindings::css_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference on `obj`, which it gives up
        // here. The C css is the first field of the `#[repr(C)]` `Css`, so
        // the cast yields a pointer to it.
        unsafe { bindings::css_put(obj.cast::<bindings::cgroup_subsys_state>().as_ptr()) };
    }
}

impl<S: Subsystem> Css<S> {
    /// Takes a reference to the state of `S` of the cgroup `task` belongs
    /// to now.
    ///
    /// The reference keeps the state alive, even after `task` moves to
    /// another cgroup or the cgroup is removed.
    pub fn of_task(task: &Task) -> Option<ARef<Self>> {
        let id = c_int::try_from(S::ID).ok()?;
        // SAFETY: `task` is a valid task, `id` a registered controller's id.
        // `task_get_css()` returns the css with a reference taken.
        let css = NonNull::new(unsafe { bindings::task_get_css(task.0.get(), id) })?;
        // SAFETY: `css` is `S`'s css of the task's cgroup, so the `Css<S>`
        // that embeds it as its first field is at the same address, and we
        // own the reference `task_get_css()` took, which the `ARef` takes
        // over.
        Some(unsafe { ARef::from_raw(css.cast::<Self>()) })
    }

    /// Borrows the `Css` that embeds `css`.
    ///
    /// # Safety
    ///
    /// `css` must be a css of controller `S` (allocated by its `css_alloc`)
    /// that stays alive for `'a`.
    pub unsafe fn from_raw<'a>(css: *mut bindings::cgroup_subsys_state) -> &'a Self {
        // SAFETY: `css` is the first field of the `#[repr(C)]` `Css<S>` that
        // `S`'s `css_alloc` handed to the cgroup core with `into_foreign`
        // (type invariant), so it is what `into_foreign` returned; the
        // caller guarantees that `css_free` does not take it back with
        // `from_foreign` for `'a`.
        let css = unsafe { <Pin<KBox<Self>> as ForeignOwnable>::borrow(css.cast_const().cast()) };
        css.get_ref()
    }

    /// The raw C `struct cgroup_subsys_state`.
    pub fn as_raw(&self) -> *mut bindings::cgroup_subsys_state {
        self.css.get()
    }

    /// The parent cgroup's state, or `None` for the root.
    pub fn parent(&self) -> Option<&Self> {
        // SAFETY: `self.css` is initialised and `parent` no longer changes
        // (type invariant).
        let parent = unsafe { (*self.css.get()).parent };
        if parent.is_null() {
            None
        } else {
            // SAFETY: The parent is a css of the same controller and the
            // child holds a reference to it for as long as `self` lives
            // (type invariant).
            Some(unsafe { Self::from_raw(parent) })
        }
    }

    /// How far below the root this cgroup is: 0 for the root, 1 for its
    /// children and so on.
    pub fn depth(&self) -> usize {
        // SAFETY: `self.css` is initialised, so `cgroup` points to the
        // cgroup it belongs to, which outlives it; `level` never changes.
        let level = unsafe { (*(*self.css.get()).cgroup).level };
        usize::try_from(level).unwrap_or(0)
    }

    /// Whether this is the root cgroup's state.
    pub fn is_root(&self) -> bool {
        self.parent().is_none()
    }

    /// This cgroup and then each of its ancestors, ending with the root.
    pub fn ancestors(&self) -> Ancestors<'_, S> {
        Ancestors { next: Some(self) }
    }

    /// Calls `f` on this cgroup and then on each of its descendants, every
    /// cgroup before its children. Removed cgroups whose state is still
    /// referenced are included.
    ///
    /// `f` runs inside an RCU read-side critical section, so it must not
    /// sleep. A cgroup created or released meanwhile may be missed.
    pub fn for_each_descendant(&self, mut f: impl FnMut(&Self)) {
        // SAFETY: An RCU read-side critical section may be entered from any
        // context; it is left below.
        unsafe { bindings::rcu_read_lock() };
        let mut pos = ptr::null_mut();
        loop {
            // SAFETY: `self` is a live css and `pos` is null or the css the
            // previous call returned, which RCU keeps valid (see below);
            // the RCU read lock is held, as the function requires.
            pos = unsafe { bindings::css_next_descendant_pre(pos, self.as_raw()) };
            if pos.is_null() {
                break;
            }
            // SAFETY: `pos` is a css of `S` in `self`'s subtree. The cgroup
            // core takes a css off its parent's list of children with
            // `list_del_rcu()` when its last reference goes and frees it
            // (the `css_free` callback) only after an RCU grace period, so
            // it stays valid until the RCU read lock is released below, and
            // `f` cannot keep the reference longer.
            f(unsafe { Self::from_raw(pos) });
        }
        // SAFETY: Leaves the critical section entered above.
        unsafe { bindings::rcu_read_unlock() };
    }
}

impl<S: Subsystem> Deref for Css<S> {
    type Target = S::State;

    fn deref(&self) -> &S::State {
        &self.state
    }
}

/// Iterator over a cgroup and its ancestors, see [`Css::ancestors`].
pub struct Ancestors<'a, S: Subsystem> {
    next: Option<&'a Css<S>>,
}

impl<S: Subsystem> Clone for Ancestors<'_, S> {
    fn clone(&self) -> Self {
        Self { next: self.next }
    }
}

impl<'a, S: Subsystem> Iterator for Ancestors<'a, S> {
    type Item = &'a Css<S>;

    fn next(&mut self) -> Option<&'a Css<S>> {
        let css = self.next?;
        self.next = css.parent();
        Some(css)
    }
}
