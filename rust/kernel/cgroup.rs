// SPDX-License-Identifier: GPL-2.0

//! Cgroup controllers (subsystems) written in Rust.
//!
//! A controller is a type that implements [`Subsystem`]; each cgroup gets
//! one [`Css`] of it, which embeds the C `struct cgroup_subsys_state` and the
//! controller's own [`Subsystem::State`]. Its control files are types that
//! implement [`ControlFile`]. The [`cgroup_subsys!`] macro turns both into
//! the `struct cgroup_subsys` that the cgroup core finds through
//! `include/linux/cgroup_subsys.h`. A [`FileNotifier`] in the state raises
//! a file's modified event.
//!
//! A [`Css`] is reference counted by the cgroup core: Rust code borrows one
//! as `&Css` and owns a reference as [`ARef<Css>`]. A controller's C-facing
//! functions hand C a reference with [`ARef::into_raw`] and take it back with
//! [`ARef::from_raw`]; they borrow a css from C with [`Css::from_raw`].
//!
//! C header: [`include/linux/cgroup-defs.h`](srctree/include/linux/cgroup-defs.h)
//!
//! [`cgroup_subsys!`]: crate::cgroup_subsys
//! [`ARef<Css>`]: crate::types::ARef
//! [`ARef::into_raw`]: crate::types::ARef::into_raw
//! [`ARef::from_raw`]: crate::types::ARef::from_raw

mod css;
mod file;
mod notify;
mod peak;
mod subsys;
mod taskset;

pub use css::{Ancestors, Css};
pub use file::{ControlFile, OpenFile, NOT_ON_ROOT, ONLY_ON_ROOT};
pub use notify::{FileNotifier, NotifierField};
pub use peak::PeakWatchers;
pub use subsys::Subsystem;
pub use taskset::{TaskSet, TaskSetIter};

#[doc(hidden)]
pub use file::{cftype, cftype_end, ControlFiles};
#[doc(hidden)]
pub use subsys::SubsysDescriptor;
