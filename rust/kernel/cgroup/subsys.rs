// SPDX-License-Identifier: GPL-2.0

//! Controllers: the [`Subsystem`] trait and the `struct cgroup_subsys` a
//! controller is registered by.

use super::{Css, TaskSet};
use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::Error,
    init::{self, PinInit},
    prelude::*,
    types::{ForeignOwnable, Opaque},
};

/// A cgroup controller.
///
/// Implementations carry `#[vtable]`; the callbacks with a default are
/// optional.
#[macros::vtable]
pub trait Subsystem: Sized + 'static {
    /// What the controller keeps for each cgroup.
    type State: Send + Sync;

    /// The controller's id, `<name>_cgrp_id` from `include/linux/cgroup_subsys.h`.
    const ID: bindings::cgroup_subsys_id;

    /// Initialises the state of a new cgroup in place; `parent` is `None`
    /// for the root.
    fn alloc(parent: Option<&Css<Self>>) -> impl PinInit<Self::State, Error>;

    /// Called after the tasks of `tasks` moved to their new cgroups, with
    /// the cgroup core's locks held. A migration cannot be refused here.
    fn attach(_tasks: &mut TaskSet<Self>) {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// # Safety
///
/// Called by the cgroup core: `parent` is null or a live css of `S`.
unsafe extern "C" fn css_alloc_callback<S: Subsystem>(
    parent: *mut bindings::cgroup_subsys_state,
) -> *mut bindings::cgroup_subsys_state {
    let parent = if parent.is_null() {
        None
    } else {
        // SAFETY: `parent` is a live css of `S` (function safety requirement)
        // and stays alive while its child is created.
        Some(unsafe { Css::<S>::from_raw(parent) })
    };
    let css = KBox::pin_init(
        try_pin_init!(Css::<S> {
            // All-zero is a valid initial `cgroup_subsys_state`; the cgroup
            // core initialises it after `css_alloc` returns.
            css <- init::zeroed(),
            state <- S::alloc(parent),
        }? Error),
        GFP_KERNEL,
    );
    match css {
        // The cgroup core owns the css from here until `css_free`, which
        // takes it back with `from_foreign`; the box keeps it pinned. The C
        // css is the first field of the `#[repr(C)]` `Css`, so the pointer
        // to the `Css` is the pointer to the C css.
        Ok(css) => css.into_foreign().cast_mut().cast(),
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// Called by the cgroup core once the last reference to `css`, a css that
/// `css_alloc_callback::<S>` allocated, is gone.
unsafe extern "C" fn css_free_callback<S: Subsystem>(css: *mut bindings::cgroup_subsys_state) {
    // SAFETY: `css` is what `into_foreign` returned in
    // `css_alloc_callback::<S>` (see there), and the cgroup core frees it
    // once, after its last reference is gone, so no borrow of it remains.
    drop(unsafe { <Pin<KBox<Css<S>>> as ForeignOwnable>::from_foreign(css.cast_const().cast()) });
}

/// # Safety
///
/// Called by the cgroup core with a taskset of a migration `S` takes part in.
unsafe extern "C" fn attach_callback<S: Subsystem>(tset: *mut bindings::cgroup_taskset) {
    // SAFETY: The cgroup core passes a valid taskset and holds it for the
    // whole callback (function safety requirement).
    S::attach(unsafe { TaskSet::from_raw(tset) });
}

/// A controller's `struct cgroup_subsys`, the symbol the cgroup core knows
/// it by.
///
/// Use it through [`cgroup_subsys!`].
///
/// [`cgroup_subsys!`]: crate::cgroup_subsys
#[repr(transparent)]
pub struct SubsysDescriptor(Opaque<bindings::cgroup_subsys>);

// SAFETY: The cgroup core initialises the descriptor at boot and then only
// reads it or changes it under its own locks; Rust never touches it.
unsafe impl Sync for SubsysDescriptor {}

impl SubsysDescriptor {
    #[doc(hidden)]
    pub const fn new<S: Subsystem>(files: *mut bindings::cftype) -> Self {
        // SAFETY: An all-zero `struct cgroup_subsys` is valid: no callbacks,
        // id and name filled in by the cgroup core at boot.
        let mut ss: bindings::cgroup_subsys = unsafe { core::mem::zeroed() };
        ss.css_alloc = Some(css_alloc_callback::<S>);
        ss.css_free = Some(css_free_callback::<S>);
        if S::HAS_ATTACH {
            ss.attach = Some(attach_callback::<S>);
        }
        ss.dfl_cftypes = files;
        Self(Opaque::new(ss))
    }
}

/// Defines the `struct cgroup_subsys` of a Rust controller.
///
/// `symbol` must be the `<name>_cgrp_subsys` that
/// `include/linux/cgroup_subsys.h` declares for it; `files` lists its
/// [`ControlFile`] types (they appear on cgroup v2 hierarchies).
///
/// [`ControlFile`]: crate::cgroup::ControlFile
///
/// # Examples
///
/// For a controller `foo`, as in the example of the [`cgroup`](crate::cgroup)
/// module:
///
/// ```ignore
/// kernel::cgroup_subsys! {
///     subsystem: Foo,
///     symbol: foo_cgrp_subsys,
///     files: [EventsFile],
/// }
/// ```
#[macro_export]
macro_rules! cgroup_subsys {
    (subsystem: $s:ty, symbol: $sym:ident, files: [$($f:ty),* $(,)?] $(,)?) => {
        const _: () = {
            const N: usize = [$(::core::stringify!($f)),*].len() + 1;
            static FILES: $crate::cgroup::ControlFiles<N> = $crate::cgroup::ControlFiles::new([
                $($crate::types::Opaque::new($crate::cgroup::cftype::<$f>()),)*
                $crate::types::Opaque::new($crate::cgroup::cftype_end()),
            ]);

            #[no_mangle]
            static $sym: $crate::cgroup::SubsysDescriptor =
                $crate::cgroup::SubsysDescriptor::new::<$s>(FILES.as_ptr());
        };
    };
}
