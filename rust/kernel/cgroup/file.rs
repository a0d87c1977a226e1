// SPDX-License-Identifier: GPL-2.0

//! Control files: the [`ControlFile`] trait and the `struct cftype` table
//! built from it.

use super::{Css, NotifierField, Subsystem};
use crate::{
    bindings,
    error::{from_result, Result},
    ffi::{c_char, c_int, c_void},
    seq_file::SeqFile,
    types::Opaque,
};

/// Do not create the file on the root cgroup (`CFTYPE_NOT_ON_ROOT`).
pub const NOT_ON_ROOT: u32 = bindings::CFTYPE_NOT_ON_ROOT;

/// Create the file only on the root cgroup (`CFTYPE_ONLY_ON_ROOT`).
pub const ONLY_ON_ROOT: u32 = bindings::CFTYPE_ONLY_ON_ROOT;

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

    /// The [`FileNotifier`] in the cgroup's state that raises this file's
    /// "modified" event (poll and inotify), made with [`cgroup_notifier!`].
    ///
    /// [`FileNotifier`]: super::FileNotifier
    /// [`cgroup_notifier!`]: crate::cgroup_notifier
    const NOTIFIER: Option<NotifierField<<Self::Subsys as Subsystem>::State>> = None;

    /// Called when `file` is opened.
    fn open(_css: &Css<Self::Subsys>, _file: &OpenFile) -> Result {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Called when the last reference to `file` is gone.
    fn release(_css: &Css<Self::Subsys>, _file: &OpenFile) {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Writes the file's content for `css`, read through `file`, to `m`.
    fn show(_css: &Css<Self::Subsys>, _file: &OpenFile, _m: &SeqFile) -> Result {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Handles a `write()` of `input` (the whole write) to `file` of `css`.
    /// On error the write fails with that error.
    fn write(_css: &Css<Self::Subsys>, _file: &OpenFile, _input: &[u8]) -> Result {
        crate::build_error(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// One open file description of a control file.
///
/// # Invariants
///
/// `self.0` is the `kernfs_open_file` of an open cgroup control file, valid
/// from the file's `open` callback to the end of its `release` callback.
#[repr(transparent)]
pub struct OpenFile(pub(super) Opaque<bindings::kernfs_open_file>);

impl OpenFile {
    /// # Safety
    ///
    /// `of` must be the open file of a cgroup control file and stay valid
    /// for `'a`.
    unsafe fn from_raw<'a>(of: *mut bindings::kernfs_open_file) -> &'a Self {
        // SAFETY: `OpenFile` is a transparent wrapper and the caller
        // guarantees validity for `'a`.
        unsafe { &*of.cast() }
    }
}

/// Builds the `struct cftype` of control file `F`; used by [`cgroup_subsys!`].
///
/// [`cgroup_subsys!`]: crate::cgroup_subsys
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
    if let Some(notifier) = F::NOTIFIER {
        let offset = core::mem::offset_of!(Css<F::Subsys>, state) + notifier.offset;
        // A css is far smaller than 4 GiB.
        assert!(offset <= u32::MAX as usize);
        cft.file_offset = offset as u32;
    }
    if F::HAS_OPEN {
        cft.open = Some(open_callback::<F>);
    }
    if F::HAS_RELEASE {
        cft.release = Some(release_callback::<F>);
    }
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
    // SAFETY: As above, `private` is the open file, valid during the call.
    let file = unsafe { OpenFile::from_raw((*sf).private.cast()) };
    // SAFETY: `sf` is valid and ours for the duration of the callback.
    let m = unsafe { SeqFile::from_raw(sf) };
    from_result(|| {
        F::show(css, file, m)?;
        Ok(0)
    })
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
    // SAFETY: `of` is valid during the call.
    let file = unsafe { OpenFile::from_raw(of) };
    from_result(|| {
        F::write(css, file, input)?;
        // The whole write was consumed.
        Ok(isize::try_from(nbytes)?)
    })
}

/// # Safety
///
/// Called by the cgroup core for a file built by `cftype::<F>()` being
/// opened: `of` is its open file.
unsafe extern "C" fn open_callback<F: ControlFile>(of: *mut bindings::kernfs_open_file) -> c_int {
    // SAFETY: `of` is a cgroup file of `F::Subsys` (function safety
    // requirement); its css is alive while the file is open.
    let css = unsafe { Css::<F::Subsys>::from_raw(bindings::of_css(of)) };
    // SAFETY: `of` is valid until `release_callback` returns.
    let file = unsafe { OpenFile::from_raw(of) };
    from_result(|| {
        F::open(css, file)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by the cgroup core for a file built by `cftype::<F>()` whose last
/// reference is gone: `of` is its open file.
unsafe extern "C" fn release_callback<F: ControlFile>(of: *mut bindings::kernfs_open_file) {
    // SAFETY: As in `open_callback`.
    let css = unsafe { Css::<F::Subsys>::from_raw(bindings::of_css(of)) };
    // SAFETY: `of` is valid for the duration of the call.
    let file = unsafe { OpenFile::from_raw(of) };
    F::release(css, file);
}

/// The control files of a controller, ending with an all-zero entry.
///
/// Use it through [`cgroup_subsys!`].
///
/// [`cgroup_subsys!`]: crate::cgroup_subsys
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
