// SPDX-License-Identifier: GPL-2.0

//! A cgroup's state for one controller: [`Css`].

use super::Subsystem;
use crate::{bindings, ffi::c_int, prelude::*, task::Task, types::Opaque};
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};

/// The state of one cgroup for controller `S`: the C
/// `struct cgroup_subsys_state` followed by the controller's state.
///
/// # Invariants
///
/// A `Css<S>` is only ever reached through a reference that the cgroup core
/// or a [`CssRef`] keeps alive: it was allocated by `S`'s `css_alloc`
/// callback, has been initialised by the cgroup core (`css.ss` is `S`'s
/// subsystem, `css.parent` is set and never changes) and is freed only by
/// `S`'s `css_free` callback, after its last reference is gone. A child css
/// holds a reference to its parent until it is freed.
#[repr(C)]
#[pin_data]
pub struct Css<S: Subsystem> {
    pub(super) css: Opaque<bindings::cgroup_subsys_state>,
    #[pin]
    pub(super) state: S::State,
}

// SAFETY: The C part is managed by the cgroup core, which synchronises it;
// the Rust part is `Send + Sync` as `Subsystem::State` requires.
unsafe impl<S: Subsystem> Send for Css<S> {}
// SAFETY: As above.
unsafe impl<S: Subsystem> Sync for Css<S> {}

impl<S: Subsystem> Css<S> {
    /// Borrows the `Css` that embeds `css`.
    ///
    /// # Safety
    ///
    /// `css` must be a css of controller `S` (allocated by its `css_alloc`)
    /// that stays alive for `'a`.
    pub(super) unsafe fn from_raw<'a>(css: *mut bindings::cgroup_subsys_state) -> &'a Self {
        // SAFETY: `css` is the first field of the `#[repr(C)]` `Css<S>` that
        // `css_alloc` allocated, so the cast yields that `Css<S>`, alive for
        // `'a` as the caller guarantees.
        unsafe { &*css.cast::<Self>() }
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

/// An owned reference to a [`Css`], such as the one a task belongs to.
///
/// Dropping it puts the reference. A removed cgroup lingers, invisible, until
/// its last reference is put, so the state stays usable through a `CssRef`.
/// `CssRef` and `Option<CssRef>` have the ABI of a C pointer to
/// `struct cgroup_subsys_state`, so C code can hold one.
///
/// # Invariants
///
/// `self.0` is a css of controller `S` on which this `CssRef` owns one
/// reference.
#[repr(transparent)]
pub struct CssRef<S: Subsystem>(NonNull<Css<S>>, PhantomData<Css<S>>);

// SAFETY: A css reference may be taken and put from any thread and `Css` is
// `Sync`.
unsafe impl<S: Subsystem> Send for CssRef<S> {}
// SAFETY: Sharing a `CssRef` only shares `&Css`, which is `Sync`.
unsafe impl<S: Subsystem> Sync for CssRef<S> {}

impl<S: Subsystem> CssRef<S> {
    /// Takes a reference to the state of the cgroup that `task` belongs to.
    pub fn of_task(task: &Task) -> Option<Self> {
        let id = c_int::try_from(S::ID).ok()?;
        // SAFETY: `task` is a valid task, `id` a registered controller's id.
        // `task_get_css()` returns a css with a reference taken.
        let css = unsafe { bindings::task_get_css(task.0.get(), id) };
        // INVARIANT: `css` is `S`'s css of the task's cgroup and we own the
        // reference `task_get_css()` took.
        NonNull::new(css.cast::<Css<S>>()).map(|css| Self(css, PhantomData))
    }

    /// Takes another reference to `css`.
    pub fn new(css: &Css<S>) -> Self {
        // SAFETY: `css` is alive, so taking a reference to it is allowed.
        unsafe { bindings::css_get(css.as_raw()) };
        // INVARIANT: We took the reference this `CssRef` owns.
        Self(NonNull::from(css), PhantomData)
    }
}

impl<S: Subsystem> Clone for CssRef<S> {
    fn clone(&self) -> Self {
        Self::new(self)
    }
}

impl<S: Subsystem> Deref for CssRef<S> {
    type Target = Css<S>;

    fn deref(&self) -> &Css<S> {
        // SAFETY: The reference we own keeps the css alive (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<S: Subsystem> Drop for CssRef<S> {
    fn drop(&mut self) {
        // SAFETY: We own one reference on this css (type invariant) and give
        // it up here.
        unsafe { bindings::css_put(self.0.as_ref().as_raw()) };
    }
}
