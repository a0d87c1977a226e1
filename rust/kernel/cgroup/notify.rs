// SPDX-License-Identifier: GPL-2.0

//! A control file's "modified" event: [`FileNotifier`].

use crate::{bindings, init, init::PinInit, prelude::*, types::Opaque};
use core::marker::PhantomData;

/// Raises the "modified" event of a control file, which `poll()` and
/// inotify watchers of the file see, like the C `struct cgroup_file`.
///
/// Lives in a controller's [`Subsystem::State`]; a [`ControlFile`] names it
/// in [`ControlFile::NOTIFIER`]. The cgroup core binds it to the file when it
/// creates the file and unbinds it when it removes it.
///
/// The C `struct cgroup_file` has a timer and a kernfs node that the cgroup
/// core uses by address, so a notifier is pinned: it is created in place with
/// [`FileNotifier::new`] inside the state and never moves.
///
/// # Invariants
///
/// `file` is a `struct cgroup_file` that is all zero until the cgroup core
/// binds it (sets up its timer and node), which it does only for a notifier
/// inside a [`Css`]; it is pinned from its initialisation on.
///
/// [`Subsystem::State`]: super::Subsystem::State
/// [`ControlFile`]: super::ControlFile
/// [`ControlFile::NOTIFIER`]: super::ControlFile::NOTIFIER
/// [`Css`]: super::Css
#[pin_data]
pub struct FileNotifier {
    #[pin]
    file: Opaque<bindings::cgroup_file>,
}

// SAFETY: The cgroup core serialises all use of a `cgroup_file` with its own
// lock, from any thread.
unsafe impl Send for FileNotifier {}
// SAFETY: As above.
unsafe impl Sync for FileNotifier {}

impl FileNotifier {
    /// Creates a notifier that is not bound to a file yet.
    pub fn new() -> impl PinInit<Self> {
        // INVARIANT: An all-zero `struct cgroup_file` is the unbound state.
        pin_init!(Self {
            file <- init::zeroed(),
        })
    }

    /// Raises the file's modified event (rate-limited by the cgroup core).
    /// Does nothing while the file does not exist.
    pub fn notify(&self) {
        // SAFETY: `self.file` is valid: all zero (unbound, which
        // `cgroup_file_notify()` ignores) or bound by the cgroup core (type
        // invariant).
        unsafe { bindings::cgroup_file_notify(self.file.get()) };
    }
}

/// Where a [`FileNotifier`] is in a controller's state `T`; made by
/// [`cgroup_notifier!`].
///
/// # Invariants
///
/// A [`FileNotifier`] is at byte `offset` of every `T`.
///
/// [`cgroup_notifier!`]: crate::cgroup_notifier
#[derive(Clone, Copy)]
pub struct NotifierField<T> {
    pub(super) offset: usize,
    _state: PhantomData<fn(&T)>,
}

impl<T> NotifierField<T> {
    /// # Safety
    ///
    /// A [`FileNotifier`] must be at byte `offset` of every `T`.
    #[doc(hidden)]
    pub const unsafe fn new(offset: usize) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            offset,
            _state: PhantomData,
        }
    }
}

/// Names the [`FileNotifier`] field `field` of state type `state` for
/// [`ControlFile::NOTIFIER`].
///
/// [`ControlFile::NOTIFIER`]: crate::cgroup::ControlFile::NOTIFIER
///
/// # Examples
///
/// As in the example controller of the [`cgroup`](crate::cgroup) module:
///
/// ```ignore
/// const NOTIFIER: Option<NotifierField<FooState>> =
///     Some(kernel::cgroup_notifier!(FooState, events_file));
/// ```
#[macro_export]
macro_rules! cgroup_notifier {
    ($state:ty, $field:ident) => {{
        // The field must be a `FileNotifier` itself: raw pointers do not
        // coerce, so a field that only derefs to one is refused.
        const _: fn(&$state) -> *const $crate::cgroup::FileNotifier =
            |state| ::core::ptr::addr_of!(state.$field);
        // SAFETY: The line above checked that `$field` is a `FileNotifier`
        // of `$state`, which is at that offset of every `$state`.
        unsafe {
            $crate::cgroup::NotifierField::<$state>::new(::core::mem::offset_of!($state, $field))
        }
    }};
}
