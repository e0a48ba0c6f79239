//! `recur_state`: one stream's state, its reset, and saving it to bytes and back.

use crate::ffi::{self, call_status, call_value, handle, handle_mut};
use crate::model::recur_model;
use crate::status::recur_status;
use recur::{Model, State};

/// One stream's recurrent state (every layer's h, and c for LSTM, plus a step's scratch).
/// One per stream; a state may move between threads but is used by one call at a time.
/// It remembers the model that made it (and keeps that model's weights alive).
#[allow(non_camel_case_types)]
pub struct recur_state {
    /// The model that made the state (a shared reference to the same weights).
    pub(crate) model: Model,
    pub(crate) state: State,
}

/// Makes a fresh state for `model` (zero initial h and c): one per stream.
///
/// On success stores it in `*out` (free it with `recur_state_free`); on failure leaves
/// `*out` untouched. Errors: `RECUR_NULL_POINTER`.
///
/// The state holds a reference to the model's weights: it stays valid for
/// `recur_state_save`, `recur_state_load`, `recur_state_reset` and `recur_state_free`
/// even after `recur_model_free(model)`.
///
/// # Safety
///
/// `model` is `NULL` or a live model; `out` is `NULL` or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn recur_state_new(model: *const recur_model, out: *mut *mut recur_state) -> recur_status {
    call_status("recur_state_new", || {
        // SAFETY: NULL or live (the caller's contract).
        let m = unsafe { handle(model, "model") }?;
        let out = ffi::out_ptr(out, "out")?;
        let state = m.model.new_state();
        // SAFETY: `out` was checked by out_ptr and is writable (the caller's contract).
        unsafe { ffi::put(out, recur_state { model: m.model.clone(), state }) };
        Ok(())
    })
}

/// Frees a state. `NULL` does nothing.
///
/// # Safety
///
/// `state` is `NULL` or a state from `recur_state_new` not yet freed, that no other call
/// is using.
#[no_mangle]
pub unsafe extern "C" fn recur_state_free(state: *mut recur_state) {
    let _ = ffi::call("recur_state_free", || {
        if !state.is_null() {
            // SAFETY: the pointer came from Box::into_raw in `put` and is freed once
            // (the caller's contract).
            drop(unsafe { Box::from_raw(state) });
        }
        Ok(())
    });
}

/// Zeroes the state: the stream starts over. Errors: `RECUR_NULL_POINTER`.
///
/// # Safety
///
/// `state` is `NULL` or a live state that no other call is using.
#[no_mangle]
pub unsafe extern "C" fn recur_state_reset(state: *mut recur_state) -> recur_status {
    call_status("recur_state_reset", || {
        // SAFETY: NULL or live and exclusive (the caller's contract).
        unsafe { handle_mut(state, "state") }?.state.reset();
        Ok(())
    })
}

/// Bytes of a saved state of this model (the `len` of `recur_state_save` and
/// `recur_state_load`); 0 if `model` is `NULL`.
///
/// # Safety
///
/// `model` is `NULL` or a live model.
#[no_mangle]
pub unsafe extern "C" fn recur_state_size(model: *const recur_model) -> usize {
    // SAFETY: NULL or live (the caller's contract).
    call_value("recur_state_size", 0, || Ok(unsafe { handle(model, "model") }?.model.saved_state_size()))
}

/// Saves the state into `buf`, exactly `recur_state_size(model)` bytes: a header with a
/// fingerprint of the model's weights, then every layer's h (and c), little-endian. The
/// bytes can be stored, sent elsewhere and loaded into a state of any model with the same
/// weights (`recur_state_load`) to continue the stream exactly.
///
/// Errors: `RECUR_NULL_POINTER`, `RECUR_INVALID_LENGTH` (`len` is not
/// `recur_state_size`). `buf` is written only on success.
///
/// # Safety
///
/// `state` is `NULL` or a live state not being stepped meanwhile; `buf` is `NULL` or valid
/// for writing `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recur_state_save(state: *const recur_state, buf: *mut u8, len: usize) -> recur_status {
    call_status("recur_state_save", || {
        // SAFETY: NULL or live and not mutated meanwhile (the caller's contract).
        let st = unsafe { handle(state, "state") }?;
        // SAFETY: NULL or valid for `len` bytes, and a caller's buffer cannot be the
        // state's own (private) memory (the caller's contract).
        let out = unsafe { ffi::slice_mut(buf, len, "buf") }?;
        st.model.save_state(&st.state, out)?;
        Ok(())
    })
}

/// Restores a state saved by `recur_state_save` (of this model, or of any model with the
/// same weights): the stream continues exactly where the saved one was.
///
/// Errors: `RECUR_NULL_POINTER`, `RECUR_INVALID_LENGTH` (`len` is not
/// `recur_state_size`, for example a truncated buffer, or one saved by a model of another
/// shape), `RECUR_INVALID_STATE_DATA` (not a saved state, or saved by a model with other
/// weights). On failure the state is unchanged.
///
/// # Safety
///
/// `state` is `NULL` or a live state that no other call is using; `buf` is `NULL` or valid
/// for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recur_state_load(state: *mut recur_state, buf: *const u8, len: usize) -> recur_status {
    call_status("recur_state_load", || {
        // SAFETY: NULL or live and exclusive (the caller's contract).
        let st = unsafe { handle_mut(state, "state") }?;
        // SAFETY: NULL or valid for reading `len` bytes (the caller's contract).
        let data = unsafe { ffi::slice(buf, len, "buf") }?;
        st.model.load_state(&mut st.state, data)?;
        Ok(())
    })
}
