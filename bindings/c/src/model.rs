//! `recur_model`: opening, inspecting and freeing a model.

use crate::ffi::{self, call_status, call_value, handle, Failure};
use crate::status::recur_status;
use core::ffi::{c_char, CStr};
use recur::{Isa, Model};

/// A loaded model: immutable and thread-safe. Share one `recur_model` between any number
/// of threads and streams; free it with `recur_model_free` once no call uses it any more
/// (states keep the weights they need alive, see `recur_state_new`).
#[allow(non_camel_case_types)]
pub struct recur_model {
    pub(crate) model: Model,
}

/// Opens a `.recur` file, memory-mapping it read-only (no weight is copied; checksums are
/// verified, which reads the file once). The file must not be modified or truncated while
/// the model is alive; recur's own writer replaces files by renaming, which is safe.
///
/// The kernel set is the best one this CPU has, unless the environment variable
/// `RECUR_ISA` forces one (`scalar`, `portable`, `avx2`, `avx512`, `neon`).
///
/// On success stores a new model in `*out` (free it with `recur_model_free`); on failure
/// leaves `*out` untouched. Errors: `RECUR_NULL_POINTER` (`path` or `out`),
/// `RECUR_IO_ERROR` (missing or unreadable file), `RECUR_INVALID_FILE`,
/// `RECUR_UNSUPPORTED_ISA`, `RECUR_INVALID_ARGUMENT` (a path this platform cannot name).
///
/// # Safety
///
/// `path` is `NULL` or a NUL-terminated string; `out` is `NULL` or valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn recur_model_open(path: *const c_char, out: *mut *mut recur_model) -> recur_status {
    call_status("recur_model_open", || {
        if path.is_null() {
            return Err(Failure::new(recur_status::RECUR_NULL_POINTER, "path is NULL"));
        }
        let out = ffi::out_ptr(out, "out")?;
        // SAFETY: non-null and NUL-terminated (the caller's contract).
        let path = unsafe { CStr::from_ptr(path) };
        #[cfg(unix)]
        let path = std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes()));
        #[cfg(not(unix))]
        let path = std::path::Path::new(path.to_str().map_err(|_| {
            Failure::new(recur_status::RECUR_INVALID_ARGUMENT, "path is not valid UTF-8 (required on this platform)")
        })?);
        let model = Model::open(path)?;
        // SAFETY: `out` was checked by out_ptr and is writable (the caller's contract).
        unsafe { ffi::put(out, recur_model { model }) };
        Ok(())
    })
}

/// Loads a `.recur` model from `len` bytes at `data`, copying them (the buffer may be
/// freed or reused as soon as this returns, and need not be aligned).
///
/// On success stores a new model in `*out` (free it with `recur_model_free`); on failure
/// leaves `*out` untouched. Errors: `RECUR_NULL_POINTER`, `RECUR_INVALID_FILE` (including
/// `len == 0`), `RECUR_UNSUPPORTED_ISA`.
///
/// # Safety
///
/// `data` is `NULL` or valid for reading `len` bytes; `out` is `NULL` or valid for writing
/// a pointer.
#[no_mangle]
pub unsafe extern "C" fn recur_model_from_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut recur_model,
) -> recur_status {
    call_status("recur_model_from_bytes", || {
        // SAFETY: NULL or valid for `len` bytes (the caller's contract).
        let bytes = unsafe { ffi::slice(data, len, "data") }?;
        let out = ffi::out_ptr(out, "out")?;
        let model = Model::from_bytes(bytes)?;
        // SAFETY: `out` was checked by out_ptr and is writable (the caller's contract).
        unsafe { ffi::put(out, recur_model { model }) };
        Ok(())
    })
}

/// Frees a model. `NULL` does nothing. States made from it stay usable for
/// `recur_state_save`, `recur_state_load`, `recur_state_reset` and `recur_state_free`
/// (each state holds a reference to the weights); stepping needs a live model.
///
/// # Safety
///
/// `model` is `NULL` or a model from `recur_model_open`/`recur_model_from_bytes` not yet
/// freed, that no other call is using.
#[no_mangle]
pub unsafe extern "C" fn recur_model_free(model: *mut recur_model) {
    let _ = ffi::call("recur_model_free", || {
        if !model.is_null() {
            // SAFETY: the pointer came from Box::into_raw in `put` and is freed once
            // (the caller's contract).
            drop(unsafe { Box::from_raw(model) });
        }
        Ok(())
    });
}

/// Floats per input frame (`x_len` of `recur_step`). 0 if `model` is `NULL`.
///
/// # Safety
///
/// `model` is `NULL` or a live model.
#[no_mangle]
pub unsafe extern "C" fn recur_model_input_size(model: *const recur_model) -> usize {
    // SAFETY: NULL or live (the caller's contract).
    call_value("recur_model_input_size", 0, || Ok(unsafe { handle(model, "model") }?.model.input_size()))
}

/// Floats per output frame (`y_len` of `recur_step`). 0 if `model` is `NULL`.
///
/// # Safety
///
/// `model` is `NULL` or a live model.
#[no_mangle]
pub unsafe extern "C" fn recur_model_output_size(model: *const recur_model) -> usize {
    // SAFETY: NULL or live (the caller's contract).
    call_value("recur_model_output_size", 0, || Ok(unsafe { handle(model, "model") }?.model.output_size()))
}

/// Whether the model can be stepped frame by frame (`recur_step`, `recur_step_many`):
/// true unless it has a reverse or bidirectional layer, which only `recur_run` supports.
/// False if `model` is `NULL`.
///
/// # Safety
///
/// `model` is `NULL` or a live model.
#[no_mangle]
pub unsafe extern "C" fn recur_model_is_streamable(model: *const recur_model) -> bool {
    // SAFETY: NULL or live (the caller's contract).
    call_value("recur_model_is_streamable", false, || Ok(unsafe { handle(model, "model") }?.model.is_streamable()))
}

/// The kernel set the model runs: `"scalar"`, `"portable"`, `"avx2"`, `"avx512"` or
/// `"neon"`, a static string (`""` if `model` is `NULL`).
///
/// # Safety
///
/// `model` is `NULL` or a live model.
#[no_mangle]
pub unsafe extern "C" fn recur_model_isa(model: *const recur_model) -> *const c_char {
    call_value("recur_model_isa", c"".as_ptr(), || {
        // SAFETY: NULL or live (the caller's contract).
        let m = unsafe { handle(model, "model") }?;
        Ok(isa_name(m.model.isa()).as_ptr())
    })
}

/// The static C string of a kernel set's name.
fn isa_name(isa: Isa) -> &'static CStr {
    #[allow(unreachable_patterns)] // builds when the engine grows a kernel set; the test below catches it
    match isa {
        Isa::Scalar => c"scalar",
        Isa::Portable => c"portable",
        Isa::Avx2 => c"avx2",
        Isa::Avx512 => c"avx512",
        Isa::Neon => c"neon",
        _ => c"unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_names_match_the_engine() {
        for isa in Isa::ALL {
            assert_eq!(isa_name(isa).to_str().unwrap(), isa.name());
        }
    }
}
