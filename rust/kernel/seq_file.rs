// SPDX-License-Identifier: GPL-2.0

//! Output to a `seq_file`, the buffer behind most virtual files' `read()`.
//!
//! C header: [`include/linux/seq_file.h`](srctree/include/linux/seq_file.h)

use crate::{bindings, c_str, types::Opaque};
use core::fmt;

/// A `seq_file` being filled by a `show` callback.
///
/// # Invariants
///
/// `self.0` is a valid `struct seq_file` that the C code handed to a `show`
/// callback; it stays valid, and is not used by anyone else, while that
/// callback runs, which is as long as a `&SeqFile` to it exists.
#[repr(transparent)]
pub struct SeqFile(Opaque<bindings::seq_file>);

impl SeqFile {
    /// Borrows a `seq_file` handed to a callback.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct seq_file` that nothing else uses
    /// for the lifetime `'a` (in practice: the duration of the callback that
    /// received it).
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a SeqFile {
        // SAFETY: `SeqFile` is a transparent wrapper of `seq_file`, and the
        // caller guarantees the pointee is valid and unshared for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Appends formatted text. Output that does not fit is dropped and the
    /// seq_file core retries with a larger buffer, as with `seq_printf()`.
    pub fn call_printf(&self, args: fmt::Arguments<'_>) {
        // SAFETY: `self.0` is valid by the type invariant. `%pA` makes the C
        // side call back into Rust to format `args`, which lives across the
        // call.
        unsafe {
            bindings::seq_printf(
                self.0.get(),
                c_str!("%pA").as_char_ptr(),
                core::ptr::from_ref(&args).cast::<core::ffi::c_void>(),
            );
        }
    }
}

/// Writes formatted text to a [`SeqFile`], like `seq_printf()`.
///
/// # Examples
///
/// ```ignore
/// # use kernel::seq_print;
/// fn show(m: &kernel::seq_file::SeqFile, pages: u64) {
///     seq_print!(m, "{}\n", pages);
/// }
/// ```
#[macro_export]
macro_rules! seq_print {
    ($m:expr, $($arg:tt)+) => (
        $m.call_printf(::core::format_args!($($arg)+))
    );
}
