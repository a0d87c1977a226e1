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
//! C code holds cgroups of a Rust controller through [`CssRef`], an owned
//! reference whose ABI is a nullable pointer, and borrows them as `&Css`:
//! a controller's C-facing functions take and return those types and stay
//! safe Rust.
//!
//! C header: [`include/linux/cgroup-defs.h`](srctree/include/linux/cgroup-defs.h)
//!
//! [`cgroup_subsys!`]: crate::cgroup_subsys

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{Error, Result},
    ffi::{c_char, c_int, c_void},
    init::{InPlaceInit, PinInit},
    new_spinlock,
    prelude::*,
    seq_file::SeqFile,
    sync::SpinLock,
    task::Task,
    types::Opaque,
};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

/// Do not create the file on the root cgroup (`CFTYPE_NOT_ON_ROOT`).
pub const NOT_ON_ROOT: u32 = bindings::CFTYPE_NOT_ON_ROOT;

/// Create the file only on the root cgroup (`CFTYPE_ONLY_ON_ROOT`).
pub const ONLY_ON_ROOT: u32 = bindings::CFTYPE_ONLY_ON_ROOT;

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

/// The tasks of a migration, each with the css of `S` it moves to: the C
/// `struct cgroup_taskset`.
///
/// # Invariants
///
/// `self.0` is the taskset the cgroup core passed to a callback of `S`,
/// which is running: its tasks cannot exit or move and their css stay
/// alive. The taskset's cursor is only moved through `&mut self`.
#[repr(transparent)]
pub struct TaskSet<S: Subsystem>(Opaque<bindings::cgroup_taskset>, PhantomData<S>);

impl<S: Subsystem> TaskSet<S> {
    /// # Safety
    ///
    /// `tset` is the taskset the cgroup core passed to a callback of `S`
    /// that is running, and the returned reference does not outlive it.
    unsafe fn from_raw<'a>(tset: *mut bindings::cgroup_taskset) -> &'a mut Self {
        // SAFETY: `TaskSet` is a transparent wrapper of the taskset, which is
        // valid and, for the callback, ours alone (function safety
        // requirement).
        unsafe { &mut *tset.cast::<Self>() }
    }

    /// Iterates over the tasks and the css each one moves to.
    pub fn iter(&mut self) -> TaskSetIter<'_, S> {
        TaskSetIter {
            tset: self,
            started: false,
        }
    }
}

/// An iterator over a [`TaskSet`].
pub struct TaskSetIter<'a, S: Subsystem> {
    tset: &'a mut TaskSet<S>,
    started: bool,
}

impl<'a, S: Subsystem> Iterator for TaskSetIter<'a, S> {
    type Item = (&'a Task, &'a Css<S>);

    fn next(&mut self) -> Option<Self::Item> {
        let tset = self.tset.0.get();
        let mut css = core::ptr::null_mut();
        let task = if self.started {
            // SAFETY: `tset` is valid (type invariant) and `css` writable.
            unsafe { bindings::cgroup_taskset_next(tset, &mut css) }
        } else {
            self.started = true;
            // SAFETY: As above.
            unsafe { bindings::cgroup_taskset_first(tset, &mut css) }
        };
        if task.is_null() || css.is_null() {
            return None;
        }
        // SAFETY: `task` is a task of the taskset, which stays alive while the
        // callback runs (type invariant); `Task` wraps `struct task_struct`
        // transparently.
        let task = unsafe { &*task.cast::<Task>() };
        // SAFETY: `css` is the live css of `S` the task moves to.
        let css = unsafe { Css::<S>::from_raw(css) };
        Some((task, css))
    }
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
#[pin_data]
pub struct Css<S: Subsystem> {
    css: Opaque<bindings::cgroup_subsys_state>,
    #[pin]
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

/// Raises the "modified" event of a control file, which `poll()` and
/// inotify watchers of the file see, like the C `struct cgroup_file`.
///
/// Lives in a controller's [`Subsystem::State`]; a [`ControlFile`] names it
/// in [`ControlFile::NOTIFIER`]. The cgroup core binds it to the file when it
/// creates the file and unbinds it when it removes it.
///
/// # Invariants
///
/// `self.0` is a `struct cgroup_file` that is all zero until the cgroup core
/// binds it, and it does so only inside a [`Css`], which never moves.
#[repr(transparent)]
pub struct FileNotifier(Opaque<bindings::cgroup_file>);

// SAFETY: The cgroup core serialises all use of a `cgroup_file` with its own
// lock, from any thread.
unsafe impl Send for FileNotifier {}
// SAFETY: As above.
unsafe impl Sync for FileNotifier {}

impl FileNotifier {
    /// Creates a notifier that is not bound to a file yet.
    pub const fn new() -> Self {
        // INVARIANT: All zero.
        // SAFETY: An all-zero `struct cgroup_file` is the unbound state.
        Self(Opaque::new(unsafe { core::mem::zeroed() }))
    }

    /// Raises the file's modified event (rate-limited by the cgroup core).
    /// Does nothing while the file does not exist.
    pub fn notify(&self) {
        // SAFETY: `self.0` is valid: all zero (unbound, which
        // `cgroup_file_notify()` ignores) or bound by the cgroup core.
        unsafe { bindings::cgroup_file_notify(self.0.get()) };
    }
}

impl Default for FileNotifier {
    fn default() -> Self {
        Self::new()
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
    offset: usize,
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
/// # Examples
///
/// ```ignore
/// const NOTIFIER: Option<NotifierField<PinsState>> =
///     Some(kernel::cgroup_notifier!(PinsState, events_file));
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
pub struct OpenFile(Opaque<bindings::kernfs_open_file>);

/// The per-open-file peak of a file that has never been reset.
const PEAK_UNSET: u64 = u64::MAX;

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

    /// The cgroup core's per-open-file peak record of this file.
    fn peak_record(&self) -> *mut bindings::cgroup_of_peak {
        // SAFETY: `self.0` is a cgroup control file's open file (type
        // invariant), whose private data `of_peak()` knows.
        unsafe { bindings::of_peak(self.0.get()) }
    }

    /// The record's `value`, shared with concurrent readers.
    fn peak_value(&self) -> &AtomicU64 {
        const _: () =
            assert!(core::mem::size_of::<crate::ffi::c_ulong>() == core::mem::size_of::<u64>());
        // SAFETY: `value` is an aligned `unsigned long` of the same size as
        // `u64` that lives as long as the open file; every access to it goes
        // through this atomic view.
        unsafe { AtomicU64::from_ptr(core::ptr::addr_of_mut!((*self.peak_record()).value).cast()) }
    }

    /// The peak this file was reset to and has tracked since, or `None` if
    /// it was never reset (see [`PeakWatchers`]).
    pub fn peak(&self) -> Option<u64> {
        match self.peak_value().load(Ordering::Relaxed) {
            PEAK_UNSET => None,
            value => Some(value),
        }
    }
}

/// The open files of one counter that were written to reset their peak: the
/// per-open-file peak of `memory.peak`.
///
/// A file that was never reset shows the counter's all-time peak. A reset
/// makes the file show the highest usage since the reset. The counter keeps
/// one local peak that restarts at every reset; each reset first folds the
/// local peak into every registered file's value, so a reset through one
/// file never loses what another file has seen since its own reset.
#[pin_data]
pub struct PeakWatchers {
    #[pin]
    lock: SpinLock<()>,
    #[pin]
    head: Opaque<bindings::list_head>,
}

// SAFETY: The list is only used under `lock`.
unsafe impl Send for PeakWatchers {}
// SAFETY: As above.
unsafe impl Sync for PeakWatchers {}

impl PeakWatchers {
    /// Creates an empty set.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            lock <- new_spinlock!(()),
            // SAFETY: `INIT_LIST_HEAD` initialises the pinned list head.
            head <- Opaque::ffi_init(|head| unsafe { bindings::INIT_LIST_HEAD(head) }),
        })
    }

    /// Call from the file's `open` callback.
    pub fn open(&self, file: &OpenFile) {
        file.peak_value().store(PEAK_UNSET, Ordering::Relaxed);
    }

    /// Resets `file`'s peak. `reset` runs under the lock and restarts the
    /// counter's local peak: it returns the local peak before the restart,
    /// which is folded into every registered file, and the value `file`
    /// restarts from.
    pub fn reset(&self, file: &OpenFile, reset: impl FnOnce() -> (u64, u64)) {
        let _guard = self.lock.lock();
        let (old_local, restart) = reset();
        let head = self.head.get();
        // SAFETY: The list is initialised and only changes under `lock`;
        // its entries are the `list` members of records of open files that
        // are registered until their `release`, which takes `lock`.
        unsafe {
            let mut pos = (*head).next;
            while pos != head {
                let record = pos
                    .cast::<u8>()
                    .sub(core::mem::offset_of!(bindings::cgroup_of_peak, list))
                    .cast::<bindings::cgroup_of_peak>();
                let value = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*record).value).cast());
                value.fetch_max(old_local, Ordering::Relaxed);
                pos = (*pos).next;
            }
        }
        if file.peak().is_none() {
            // SAFETY: `file`'s record is valid until its `release`, which
            // unregisters it under `lock`.
            unsafe {
                bindings::list_add(core::ptr::addr_of_mut!((*file.peak_record()).list), head)
            };
        }
        file.peak_value().store(restart, Ordering::Relaxed);
    }

    /// Call from the file's `release` callback.
    pub fn release(&self, file: &OpenFile) {
        if file.peak().is_none() {
            return;
        }
        let _guard = self.lock.lock();
        // SAFETY: A file whose peak is set is on the list (see `reset`).
        unsafe { bindings::list_del(core::ptr::addr_of_mut!((*file.peak_record()).list)) };
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
    match F::show(css, file, m) {
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
    // SAFETY: `of` is valid during the call.
    let file = unsafe { OpenFile::from_raw(of) };
    match F::write(css, file, input) {
        Ok(()) => isize::try_from(nbytes).unwrap_or(isize::MAX),
        Err(e) => e.to_errno() as isize,
    }
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
    match F::open(css, file) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
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
            css: Opaque::new(CSS_ZEROED),
            state <- S::alloc(parent),
        }? Error),
        GFP_KERNEL,
    );
    match css {
        // SAFETY: The `Css` is never moved: the cgroup core keeps the
        // pointer until `css_free`, which turns it back into the box.
        Ok(css) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(css) }).cast(),
        Err(e) => e.to_ptr(),
    }
}

/// The initial value of a `Css`'s C part.
// SAFETY: An all-zero `struct cgroup_subsys_state` is valid.
const CSS_ZEROED: bindings::cgroup_subsys_state = unsafe { core::mem::zeroed() };

/// # Safety
///
/// Called by the cgroup core once the last reference to `css`, a css that
/// `css_alloc_callback::<S>` allocated, is gone.
unsafe extern "C" fn css_free_callback<S: Subsystem>(css: *mut bindings::cgroup_subsys_state) {
    // SAFETY: `css` came from `KBox::into_raw` in `css_alloc_callback::<S>`
    // and nobody uses it any more.
    drop(unsafe { KBox::from_raw(css.cast::<Css<S>>()) });
}

/// # Safety
///
/// Called by the cgroup core with a taskset of a migration `S` takes part in.
unsafe extern "C" fn attach_callback<S: Subsystem>(tset: *mut bindings::cgroup_taskset) {
    // SAFETY: The cgroup core passes a valid taskset and holds it for the
    // whole callback (function safety requirement).
    S::attach(unsafe { TaskSet::from_raw(tset) });
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
