//! Status codes, their names, the per-thread error detail and the library version.

use crate::ffi;
use core::ffi::{c_char, c_int, CStr};

/// What a call did: `RECUR_OK` (0) or the class of its failure.
///
/// Values are explicit and never reused: a value that is retired stays reserved, and new
/// classes take new numbers. `recur_last_error()` gives the detail of a failure.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum recur_status {
    /// Success.
    RECUR_OK = 0,
    /// A required pointer was `NULL` (a handle, an `out` pointer, or a buffer whose length
    /// is not 0).
    RECUR_NULL_POINTER = 1,
    /// A buffer's length does not match the model: a frame that is not `input_size` floats,
    /// a sequence that is not `steps * input_size`, a saved state that is not
    /// `recur_state_size()` bytes (a truncated one included).
    RECUR_INVALID_LENGTH = 2,
    /// The model file could not be opened or mapped (missing, unreadable, a directory).
    RECUR_IO_ERROR = 3,
    /// The bytes are not a valid `.recur` model: bad magic or version, truncated,
    /// corrupted (checksum), inconsistent tables, or tensors this build cannot run.
    RECUR_INVALID_FILE = 4,
    /// The state was made by a model with other weights or another shape.
    RECUR_FOREIGN_STATE = 5,
    /// Saved-state bytes of the right length that this model refuses: not a saved state
    /// (bad magic), or saved by a model with different weights.
    RECUR_INVALID_STATE_DATA = 6,
    /// `recur_step` or `recur_step_many` on a model with a reverse or bidirectional layer:
    /// such a model can only `recur_run` whole sequences.
    RECUR_NOT_STREAMABLE = 7,
    /// `RECUR_ISA` names an unknown kernel set or one this CPU lacks.
    RECUR_UNSUPPORTED_ISA = 8,
    /// `recur_step_many` was given the same state more than once.
    RECUR_ALIASED_STATE = 9,
    /// An input buffer overlaps an output buffer.
    RECUR_OVERLAPPING_BUFFERS = 10,
    /// A `float` buffer is not aligned to `alignof(float)`.
    RECUR_MISALIGNED_POINTER = 11,
    /// Any other invalid argument (for example a path that is not valid for this platform).
    RECUR_INVALID_ARGUMENT = 12,
    /// The library panicked (a bug in recur; please report it with `recur_last_error()`).
    /// The call's output buffers and the states it was given are unspecified.
    RECUR_PANIC = 13,
    /// An engine error this version of the C library does not classify;
    /// `recur_last_error()` says what it is.
    RECUR_OTHER_ERROR = 14,
}

impl recur_status {
    /// Every status, in value order.
    pub const ALL: [recur_status; 15] = [
        recur_status::RECUR_OK,
        recur_status::RECUR_NULL_POINTER,
        recur_status::RECUR_INVALID_LENGTH,
        recur_status::RECUR_IO_ERROR,
        recur_status::RECUR_INVALID_FILE,
        recur_status::RECUR_FOREIGN_STATE,
        recur_status::RECUR_INVALID_STATE_DATA,
        recur_status::RECUR_NOT_STREAMABLE,
        recur_status::RECUR_UNSUPPORTED_ISA,
        recur_status::RECUR_ALIASED_STATE,
        recur_status::RECUR_OVERLAPPING_BUFFERS,
        recur_status::RECUR_MISALIGNED_POINTER,
        recur_status::RECUR_INVALID_ARGUMENT,
        recur_status::RECUR_PANIC,
        recur_status::RECUR_OTHER_ERROR,
    ];

    /// The status of an engine error.
    pub fn of(e: &recur::Error) -> recur_status {
        use recur::Error as E;
        #[allow(unreachable_patterns)] // the fallback keeps this crate building when the engine grows a variant
        match e {
            E::Io(_) => recur_status::RECUR_IO_ERROR,
            E::File(_) | E::Desc(_) | E::Pack(_) | E::Tensor { .. } | E::Unaligned(_) => {
                recur_status::RECUR_INVALID_FILE
            }
            E::UnknownIsa(_) | E::IsaUnavailable { .. } => recur_status::RECUR_UNSUPPORTED_ISA,
            E::NotStreamable { .. } => recur_status::RECUR_NOT_STREAMABLE,
            E::Length { .. } => recur_status::RECUR_INVALID_LENGTH,
            E::ForeignState => recur_status::RECUR_FOREIGN_STATE,
            E::DuplicateState => recur_status::RECUR_ALIASED_STATE,
            E::BadSavedState(_) => recur_status::RECUR_INVALID_STATE_DATA,
            E::NoSuchSlot { .. } => recur_status::RECUR_INVALID_ARGUMENT,
            _ => recur_status::RECUR_OTHER_ERROR,
        }
    }

    /// The status's name, as a static C string.
    pub const fn name(self) -> &'static CStr {
        match self {
            recur_status::RECUR_OK => c"RECUR_OK",
            recur_status::RECUR_NULL_POINTER => c"RECUR_NULL_POINTER",
            recur_status::RECUR_INVALID_LENGTH => c"RECUR_INVALID_LENGTH",
            recur_status::RECUR_IO_ERROR => c"RECUR_IO_ERROR",
            recur_status::RECUR_INVALID_FILE => c"RECUR_INVALID_FILE",
            recur_status::RECUR_FOREIGN_STATE => c"RECUR_FOREIGN_STATE",
            recur_status::RECUR_INVALID_STATE_DATA => c"RECUR_INVALID_STATE_DATA",
            recur_status::RECUR_NOT_STREAMABLE => c"RECUR_NOT_STREAMABLE",
            recur_status::RECUR_UNSUPPORTED_ISA => c"RECUR_UNSUPPORTED_ISA",
            recur_status::RECUR_ALIASED_STATE => c"RECUR_ALIASED_STATE",
            recur_status::RECUR_OVERLAPPING_BUFFERS => c"RECUR_OVERLAPPING_BUFFERS",
            recur_status::RECUR_MISALIGNED_POINTER => c"RECUR_MISALIGNED_POINTER",
            recur_status::RECUR_INVALID_ARGUMENT => c"RECUR_INVALID_ARGUMENT",
            recur_status::RECUR_PANIC => c"RECUR_PANIC",
            recur_status::RECUR_OTHER_ERROR => c"RECUR_OTHER_ERROR",
        }
    }
}

// The header declares `const char *recur_status_str(recur_status status)` by hand (see
// cbindgen.toml): a C caller may pass any int in a `recur_status`, and a Rust enum
// parameter holding a value outside the enum is undefined behaviour, so the Rust side
// takes the raw `int` (same size and calling convention as the C enum) and checks it.
/// The name of a status (`"RECUR_OK"`, `"RECUR_NULL_POINTER"`, ...), or
/// `"RECUR_UNKNOWN_STATUS"` for a value that is not one. A static string.
#[no_mangle]
pub extern "C" fn recur_status_str(status: c_int) -> *const c_char {
    ffi::call_value("recur_status_str", c"".as_ptr(), || {
        let s = recur_status::ALL.iter().find(|s| **s as c_int == status);
        Ok(s.map_or(c"RECUR_UNKNOWN_STATUS", |s| s.name()).as_ptr())
    })
}

/// The detail of this thread's last failure (for example
/// `"recur_step: input frame has 39 values, expected 40"`), or `""` if no call has failed
/// on this thread. Successful calls leave it as it is.
///
/// The string belongs to the library: it stays valid until the next call into librecur
/// from this thread; copy it to keep it (or use `recur_last_error_copy`). Never `NULL`.
#[no_mangle]
pub extern "C" fn recur_last_error() -> *const c_char {
    ffi::call_value("recur_last_error", c"".as_ptr(), || Ok(ffi::last_error_ptr()))
}

/// Copies this thread's last failure detail (see `recur_last_error`) into `buf`, which has
/// room for `len` bytes, truncating it to `len - 1` bytes and always terminating it with
/// a NUL when `len > 0`. Returns the full length of the message (without the NUL), like
/// `snprintf`: a result `>= len` means it was truncated. `buf` may be `NULL` when `len`
/// is 0 (to ask for the length).
///
/// # Safety
///
/// `buf` is `NULL` or valid for writing `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recur_last_error_copy(buf: *mut c_char, len: usize) -> usize {
    // Nothing here can fail, so this call never replaces the message it copies.
    ffi::call_value("recur_last_error_copy", 0, || {
        Ok(ffi::with_last_error(|msg| {
            let bytes = msg.to_bytes();
            if len > 0 && !buf.is_null() {
                let n = bytes.len().min(len - 1);
                // SAFETY: the caller guarantees `buf` is valid for `len` bytes and n + 1 <= len;
                // the message lives in this thread's storage, which `buf` cannot overlap
                // (the library never hands out a writable pointer to it).
                unsafe {
                    core::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, n);
                    *buf.add(n) = 0;
                }
            }
            bytes.len()
        }))
    })
}

const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("version contains a NUL"),
};

/// The library's version (`"MAJOR.MINOR.PATCH"`), a static string.
#[no_mangle]
pub extern "C" fn recur_version() -> *const c_char {
    ffi::call_value("recur_version", c"".as_ptr(), || Ok(VERSION.as_ptr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_explicit_and_dense() {
        for (i, s) in recur_status::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?}");
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(recur_status_str(i as c_int)) };
            assert_eq!(name.to_str().unwrap(), format!("{s:?}"));
        }
        // SAFETY: static NUL-terminated strings.
        let unknown = unsafe { CStr::from_ptr(recur_status_str(-1)) };
        assert_eq!(unknown, c"RECUR_UNKNOWN_STATUS");
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(recur_status_str(recur_status::ALL.len() as c_int)) };
        assert_eq!(unknown, c"RECUR_UNKNOWN_STATUS");
    }

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(recur_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
