//! The pins controller's own kernel source files, built unchanged for the
//! host so that their logic can be tested with `cargo test`.
//!
//! Both files depend on `core` only. `parse.rs` refers to the counter as
//! `crate::counter`, which is why `counter` is a module of this crate root,
//! as it is in the kernel.

#[path = "../../../kernel/cgroup/pins/counter.rs"]
pub mod counter;

#[path = "../../../kernel/cgroup/pins/parse.rs"]
pub mod parse;
