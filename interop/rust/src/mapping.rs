//! Backing memory of a segment: a shared-memory object, a file, or an aligned heap block.
//!
//! This module and `atomics` are the only ones with `unsafe`. A [`Mapping`] owns a contiguous
//! byte range that stays valid until it is dropped; all reads and writes of its bytes go through
//! the bounds-checked accessors in `atomics`.

use std::alloc::{self, Layout};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;
use std::ptr::NonNull;

use crate::layout::PAGE;

enum Backing {
    /// `mmap`ed with MAP_SHARED; unmapped on drop.
    Mmap,
    /// Allocated with this layout; freed on drop.
    Heap(Layout),
    /// A zero-length object (nothing mapped; `ptr` is dangling and never dereferenced).
    Empty,
}

/// A mapped byte range. Safe for concurrent use: its bytes are only touched through atomics and
/// explicit copies (see `atomics`), never through Rust references to plain data.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
}

// SAFETY: the mapping is a plain address range with no thread affinity; every access to its bytes
// goes through atomic operations or raw copies in `atomics`, which are sound to call from any
// thread (the ring protocol orders the raw copies).
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only exposes atomic views and raw copies.
unsafe impl Sync for Mapping {}

/// The message of the error for a backing that is not a regular file.
const NOT_REGULAR: &str = "not a regular file";

/// Whether `e` says that a backing was refused for not being a regular file: something else
/// under the name (FIFO, device, directory), or a symbolic link (`O_NOFOLLOW`: `ELOOP`).
pub(crate) fn not_regular(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
        || (e.kind() == io::ErrorKind::InvalidInput
            && e.get_ref()
                .is_some_and(|inner| inner.to_string() == NOT_REGULAR))
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn shm_open(name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let cname = c_name(name)?;
    // SAFETY: `cname` is a valid NUL-terminated string that outlives the call; shm_open does not
    // retain the pointer.
    let fd = unsafe { libc::shm_open(cname.as_ptr(), flags, mode as libc::mode_t) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by shm_open, is open, and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Removes the shared-memory object `name`. Peers that have it mapped keep their mapping.
pub fn unlink_shm(name: &str) -> io::Result<()> {
    let cname = c_name(name)?;
    // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::shm_unlink(cname.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Mapping {
    /// Maps the first `len` bytes of `file` read-write and shared.
    fn map_file(file: &File, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Ok(Mapping {
                ptr: NonNull::dangling(),
                len: 0,
                backing: Backing::Empty,
            });
        }
        // SAFETY: we ask the kernel for a fresh mapping (null hint) of an open descriptor; the
        // result is checked against MAP_FAILED before use. The descriptor may be closed after
        // mmap returns; the mapping stays valid until munmap in Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?,
            len,
            backing: Backing::Mmap,
        })
    }

    /// The length of an opened backing, refusing anything but a regular file (spec 5.1): a
    /// FIFO, device or directory under the name is not a segment (`ErrorKind::InvalidInput`).
    fn size_of(file: &File) -> io::Result<usize> {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, NOT_REGULAR));
        }
        usize::try_from(meta.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "too large"))
    }

    /// Sizes a freshly created backing to `len` bytes and reserves its memory (spec 5.1 step 1):
    /// `posix_fallocate` on Linux, so that a full tmpfs fails here (`ENOSPC`,
    /// `ErrorKind::StorageFull`) instead of killing the first writer with `SIGBUS`; where the
    /// file system cannot reserve (`EOPNOTSUPP`), and on other systems, `ftruncate`. Both
    /// zero-fill.
    fn reserve(file: &File, len: usize) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let off = libc::off_t::try_from(len)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too large"))?;
            // SAFETY: `file` is an open descriptor for the duration of the call; posix_fallocate
            // takes no pointers.
            match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, off) } {
                0 => return Ok(()),
                libc::EOPNOTSUPP => {}
                e => return Err(io::Error::from_raw_os_error(e)),
            }
        }
        file.set_len(len as u64)
    }

    /// Creates shared-memory object `name` exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, `mode`),
    /// sizes it to `len`, reserving its memory (zero-filled), and maps it. On any failure the
    /// object is removed again.
    pub fn create_shm(name: &str, len: usize, mode: u32) -> io::Result<Mapping> {
        let file = shm_open(
            name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            mode,
        )?;
        let sized = Self::reserve(&file, len).and_then(|_| Self::map_file(&file, len));
        if sized.is_err() {
            let _ = unlink_shm(name);
        }
        sized
    }

    /// Opens (`O_NOFOLLOW`) and maps the whole of existing shared-memory object `name`, which
    /// must be a regular file.
    pub fn open_shm(name: &str) -> io::Result<Mapping> {
        let file = shm_open(name, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK, 0)?;
        let len = Self::size_of(&file)?;
        Self::map_file(&file, len)
    }

    /// Creates file `path` exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`) with `mode`, sizes it
    /// to `len`, reserving its memory, and maps it. On any failure the file is removed again.
    pub fn create_file(path: &Path, len: usize, mode: u32) -> io::Result<Mapping> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        let sized = Self::reserve(&file, len).and_then(|_| Self::map_file(&file, len));
        if sized.is_err() {
            let _ = std::fs::remove_file(path);
        }
        sized
    }

    /// Opens (`O_NOFOLLOW`, and `O_NONBLOCK` so that a FIFO under the name cannot block) and
    /// maps the whole of existing file `path`, which must be a regular file.
    pub fn open_file(path: &Path) -> io::Result<Mapping> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)?;
        let len = Self::size_of(&file)?;
        Self::map_file(&file, len)
    }

    /// Allocates `len` zeroed bytes aligned to 4096 (a heap backing, spec 1.1).
    pub fn heap(len: usize) -> Mapping {
        if len == 0 {
            return Mapping {
                ptr: NonNull::dangling(),
                len: 0,
                backing: Backing::Empty,
            };
        }
        let layout = Layout::from_size_align(len, PAGE as usize).expect("heap segment layout");
        // SAFETY: `layout` has a nonzero size (checked above).
        let p = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Mapping {
            ptr,
            len,
            backing: Backing::Heap(layout),
        }
    }

    /// A heap mapping holding a copy of `bytes` (for inspecting image files).
    pub fn heap_copy(bytes: &[u8]) -> Mapping {
        let m = Self::heap(bytes.len());
        m.copy_in(0, bytes);
        m
    }

    /// Length of the mapping in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Start of the mapping (only `atomics` dereferences it).
    #[inline]
    pub(crate) fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.backing {
            Backing::Mmap => {
                // SAFETY: `ptr`/`len` are exactly what mmap returned, and no reference into the
                // range outlives `self` (accessors borrow `self`).
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
            }
            Backing::Heap(layout) => {
                // SAFETY: `ptr` was allocated with `layout` by `alloc_zeroed` and is freed once.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
            }
            Backing::Empty => {}
        }
    }
}
