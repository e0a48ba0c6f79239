//! # recur's C ABI
//!
//! `librecur.so` / `librecur.a` and `include/recur.h`: the engine seen from C, C++ or
//! anything with a C foreign-function interface.
//!
//! ```c
//! recur_model *model;
//! if (recur_model_open("kws.recur", &model) != RECUR_OK) { puts(recur_last_error()); return 1; }
//! recur_state *state;
//! recur_state_new(model, &state);
//! float x[40], y[12];
//! while (read_frame(x)) recur_step(model, state, x, 40, y, 12);
//! recur_state_free(state);
//! recur_model_free(model);
//! ```
//!
//! ## Conventions (the contract every export keeps)
//!
//! * **Handles** are opaque. A `recur_model` is one `Box<Model>`: immutable and
//!   thread-safe, share one between any number of threads. A `recur_state` is one
//!   `Box` holding a state and a clone (shared reference) of the model that made it: one per
//!   stream, used by one thread at a time. `recur_*_free(NULL)` does nothing; every other
//!   handle must come from the matching constructor and is freed once.
//! * **Arguments**: inputs before outputs; every buffer is followed by its length in
//!   elements (floats or bytes), and the length must equal what the model expects. A
//!   pointer may be `NULL` only when its length is 0.
//! * **Status**: every fallible call returns a [`recur_status`]; `RECUR_OK` is 0 and each
//!   failure class has its own value, never reused. [`recur_last_error`] gives this
//!   thread's detail message of the last failure.
//! * **Outputs are written only on success**: every check runs before the first write to
//!   a caller's buffer, an `out` handle or a state. The one exception is a panic inside the
//!   engine (a bug, reported as `RECUR_PANIC`): the call's output buffers and the states
//!   it was given are then unspecified (reset the states).
//! * **No unwinding across the boundary**: every export runs inside one wrapper
//!   ([`ffi::call`]) that catches panics and turns them into `RECUR_PANIC`.
//!
//! The header is generated from this crate by cbindgen (`cbindgen.toml`); the doc
//! comments of the exports are the header's documentation.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(clippy::missing_safety_doc)]

// The modules are declared in the order the header lists their exports (cbindgen keeps
// source order), each in its own group so that rustfmt does not sort them.

// Status codes, error details, version.
pub mod status;

// Opening and inspecting a model.
pub mod model;

// States: create, reset, save, load.
pub mod state;

// Step, run, step_many.
pub mod exec;

// The wrapper every export runs in, and the pointer helpers.
pub mod ffi;

pub use exec::{recur_run, recur_step, recur_step_many, recur_step_many_threads};
pub use model::{
    recur_model, recur_model_free, recur_model_from_bytes, recur_model_input_size, recur_model_is_streamable,
    recur_model_isa, recur_model_open, recur_model_output_size,
};
pub use state::{
    recur_state, recur_state_free, recur_state_load, recur_state_new, recur_state_reset, recur_state_save,
    recur_state_size,
};
pub use status::{recur_last_error, recur_last_error_copy, recur_status, recur_status_str, recur_version};
