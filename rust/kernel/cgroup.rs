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
//! # Examples
//!
//! A controller `foo` (`SUBSYS(foo)` in `include/linux/cgroup_subsys.h`)
//! that counts events in each cgroup and shows them in `foo.events`, whose
//! readers `poll()` for changes:
//!
//! ```ignore
//! use core::sync::atomic::{AtomicU64, Ordering};
//! use kernel::cgroup::{ControlFile, Css, FileNotifier, NotifierField, OpenFile, Subsystem};
//! use kernel::{bindings, prelude::*, seq_file::SeqFile, seq_print};
//!
//! struct Foo;
//!
//! #[pin_data]
//! struct FooState {
//!     events: AtomicU64,
//!     #[pin]
//!     events_file: FileNotifier,
//! }
//!
//! #[vtable]
//! impl Subsystem for Foo {
//!     type State = FooState;
//!     const ID: bindings::cgroup_subsys_id = bindings::cgroup_subsys_id_foo_cgrp_id;
//!
//!     fn alloc(_parent: Option<&Css<Self>>) -> impl PinInit<FooState, Error> {
//!         try_pin_init!(FooState {
//!             events: AtomicU64::new(0),
//!             events_file <- FileNotifier::new(),
//!         }? Error)
//!     }
//! }
//!
//! fn record_event(css: &Css<Foo>) {
//!     css.events.fetch_add(1, Ordering::Relaxed);
//!     css.events_file.notify();
//! }
//!
//! struct EventsFile;
//!
//! #[vtable]
//! impl ControlFile for EventsFile {
//!     type Subsys = Foo;
//!     const NAME: &'static [u8] = b"events";
//!     const NOTIFIER: Option<NotifierField<FooState>> =
//!         Some(kernel::cgroup_notifier!(FooState, events_file));
//!
//!     fn show(css: &Css<Foo>, _file: &OpenFile, m: &SeqFile) -> Result {
//!         seq_print!(m, "{}\n", css.events.load(Ordering::Relaxed));
//!         Ok(())
//!     }
//! }
//!
//! kernel::cgroup_subsys! {
//!     subsystem: Foo,
//!     symbol: foo_cgrp_subsys,
//!     files: [EventsFile],
//! }
//! ```
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
