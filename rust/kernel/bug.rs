// SPDX-License-Identifier: GPL-2.0

//! Reporting kernel bugs that the kernel survives.
//!
//! C header: [`include/asm-generic/bug.h`](srctree/include/asm-generic/bug.h)

/// Reports a kernel bug the first time `cond` is true at this call site, like
/// C's `WARN_ON_ONCE()`, and evaluates to `cond`.
///
/// The report is a full `WARN` splat with a backtrace, so the Rust caller
/// shows in it.
///
/// # Examples
///
/// ```
/// # use kernel::warn_on_once;
/// fn release(held: u64, returned: u64) -> u64 {
///     if warn_on_once!(returned > held) {
///         return 0;
///     }
///     held - returned
/// }
/// assert_eq!(release(3, 1), 2);
/// ```
#[macro_export]
macro_rules! warn_on_once {
    ($cond:expr) => {{
        static WARNED: ::core::sync::atomic::AtomicBool =
            ::core::sync::atomic::AtomicBool::new(false);
        let cond: bool = $cond;
        if cond && !WARNED.swap(true, ::core::sync::atomic::Ordering::Relaxed) {
            $crate::bug::warn();
        }
        cond
    }};
}

use crate::bindings;

/// Emits one `WARN` splat. Use [`warn_on_once!`] instead.
#[doc(hidden)]
pub fn warn() {
    // SAFETY: `WARN_ON()` may be called from any context.
    unsafe { bindings::WARN_ON(true) };
}
