// SPDX-License-Identifier: GPL-2.0

//! Cgroup controllers (subsystems) written in Rust.
//!
//! A controller is a type that implements [`Subsystem`]; each cgroup gets
//! one [`Css`] of it, which embeds the C `struct cgroup_subsys_state` and the
//! controller's own [`Subsystem::State`]. Its control files are types that
//! implement [`ControlFile`]. The [`cgroup_subsys!`] macro turns both into
//! the `struct cgroup_subsys` that the cgroup core finds through
//! `include/linux/cgroup_subsys.h`.
//!
//! C code holds cgroups of a Rust controller through [`CssRef`], an owned
//! reference whose ABI is a nullable pointer, and borrows them as `&Css`:
//! a controller's C-facing functions take and return those types and stay
//! safe Rust.
//!
//! C header: [`include/linux/cgroup-defs.h`](srctree/include/linux/cgroup-defs.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{Error, Result},
    ffi::{c_char, c_int, c_void},
    seq_file::SeqFile,
    task::Task,
    types::Opaque,
};
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};

/// Do not create the file on the root cgroup (`CFTYPE_NOT_ON_ROOT`).
pub const NOT_ON_ROOT: u32 = bindings::CFTYPE_NOT_ON_ROOT;

/// Create the file only on the root cgroup (`CFTYPE_ONLY_ON_ROOT`).
pub const ONLY_ON_ROOT: u32 = bindings::CFTYPE_ONLY_ON_ROOT;

/// A cgroup controller.
pub trait Subsystem: Sized + 'static {
    /// What the controller keeps for each cgroup.
    type State: Send + Sync;

    /// The controller's id, `<name>_cgrp_id` from `include/linux/cgroup_subsys.h`.
    const ID: bindings::cgroup_subsys_id;

    /// Creates the state of a new cgroup; `parent` is `None` for the root.
    fn alloc(parent: Option<&Css<Self>>) -> Result<Self::State>;
}

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
pub struct Css<S: Subsystem> {
    css: Opaque<bindings::cgroup_subsys_state>,
    state: S::State,
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
    unsafe fn from_raw<'a>(css: *mut bindings::cgroup_subsys_state) -> &'a Self {
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

/// A control file of a cgroup controller, `<controller>.<NAME>`.
///
/// A file is readable if it implements `show` and writable if it implements
/// `write`.
#[macros::vtable]
pub trait ControlFile {
    /// The controller the file belongs to.
    type Subsys: Subsystem;

    /// The file name without the controller prefix, e.g. `b"max"`.
    const NAME: &'static [u8];

    /// [`NOT_ON_ROOT`], [`ONLY_ON_ROOT`] or 0.
    const FLAGS: u32 = 0;

    /// Writes the file's content for `css` to `m`.
    fn show(_css: &Css<Self::Subsys>, _m: &SeqFile) -> Result {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Handles a `write()` of `input` (the whole write) for `css`. On error
    /// the write fails with that error.
    fn write(_css: &Css<Self::Subsys>, _input: &[u8]) -> Result {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// Builds the `struct cftype` of control file `F`; used by [`cgroup_subsys!`].
#[doc(hidden)]
pub const fn cftype<F: ControlFile>() -> bindings::cftype {
    // SAFETY: An all-zero `struct cftype` is valid: no callbacks, no flags.
    let mut cft: bindings::cftype = unsafe { core::mem::zeroed() };
    let name = F::NAME;
    // The last byte stays NUL.
    assert!(!name.is_empty() && name.len() < cft.name.len());
    let mut i = 0;
    while i < name.len() {
        // Names are ASCII; the cast keeps the byte as it is.
        cft.name[i] = name[i] as c_char;
        i += 1;
    }
    cft.flags = F::FLAGS;
    if F::HAS_SHOW {
        cft.seq_show = Some(show_callback::<F>);
    }
    if F::HAS_WRITE {
        cft.write = Some(write_callback::<F>);
    }
    cft
}

/// The all-zero `struct cftype` that ends a file table.
#[doc(hidden)]
pub const fn cftype_end() -> bindings::cftype {
    // SAFETY: An all-zero `struct cftype` is valid and ends a table.
    unsafe { core::mem::zeroed() }
}

/// # Safety
///
/// Called by the cgroup core for a file built by `cftype::<F>()`, so `sf` is
/// a valid seq_file whose `private` is the open file of a cgroup file of
/// `F::Subsys`.
unsafe extern "C" fn show_callback<F: ControlFile>(
    sf: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: `sf` is valid and its `private` is the cgroup file's
    // `kernfs_open_file` (function safety requirement); the file's css is
    // alive while the file is being read.
    let css = unsafe { Css::<F::Subsys>::from_raw(bindings::of_css((*sf).private.cast())) };
    // SAFETY: `sf` is valid and ours for the duration of the callback.
    let m = unsafe { SeqFile::from_raw(sf) };
    match F::show(css, m) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the cgroup core for a file built by `cftype::<F>()`, so `of` is
/// the open file of a cgroup file of `F::Subsys` and `buf` holds `nbytes`
/// readable bytes.
unsafe extern "C" fn write_callback<F: ControlFile>(
    of: *mut bindings::kernfs_open_file,
    buf: *mut c_char,
    nbytes: usize,
    _off: bindings::loff_t,
) -> isize {
    // SAFETY: `of` is a cgroup file of `F::Subsys` (function safety
    // requirement); its css is alive while the file is being written.
    let css = unsafe { Css::<F::Subsys>::from_raw(bindings::of_css(of)) };
    // SAFETY: The cgroup core passes `nbytes` valid bytes at `buf`, unchanged
    // while the callback runs.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), nbytes) };
    match F::write(css, input) {
        Ok(()) => isize::try_from(nbytes).unwrap_or(isize::MAX),
        Err(e) => e.to_errno() as isize,
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
    let css = S::alloc(parent).and_then(|state| {
        let css = Css::<S> {
            // SAFETY: All-zero is a valid initial `cgroup_subsys_state`; the
            // cgroup core initialises it after `css_alloc` returns.
            css: Opaque::new(unsafe { core::mem::zeroed() }),
            state,
        };
        KBox::new(css, GFP_KERNEL).map_err(Error::from)
    });
    match css {
        Ok(css) => KBox::into_raw(css).cast(),
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// Called by the cgroup core once the last reference to `css`, a css that
/// `css_alloc_callback::<S>` allocated, is gone.
unsafe extern "C" fn css_free_callback<S: Subsystem>(css: *mut bindings::cgroup_subsys_state) {
    // SAFETY: `css` came from `KBox::into_raw` in `css_alloc_callback::<S>`
    // and nobody uses it any more.
    drop(unsafe { KBox::from_raw(css.cast::<Css<S>>()) });
}

/// The control files of a controller, ending with an all-zero entry.
///
/// Use it through [`cgroup_subsys!`].
#[repr(transparent)]
pub struct ControlFiles<const N: usize>([Opaque<bindings::cftype>; N]);

// SAFETY: After registration only the cgroup core touches the table, under
// its own locks.
unsafe impl<const N: usize> Sync for ControlFiles<N> {}

impl<const N: usize> ControlFiles<N> {
    #[doc(hidden)]
    pub const fn new(files: [Opaque<bindings::cftype>; N]) -> Self {
        Self(files)
    }

    #[doc(hidden)]
    pub const fn as_ptr(&self) -> *mut bindings::cftype {
        Opaque::raw_get(self.0.as_ptr())
    }
}

/// A controller's `struct cgroup_subsys`, the symbol the cgroup core knows
/// it by.
///
/// Use it through [`cgroup_subsys!`].
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
/// # Examples
///
/// ```ignore
/// kernel::cgroup_subsys! {
///     subsystem: Pins,
///     symbol: pins_cgrp_subsys,
///     files: [MaxFile, CurrentFile],
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
