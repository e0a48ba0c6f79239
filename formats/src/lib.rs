//! `recur-format`: everything about recur's weights that is not arithmetic.
//!
//! * [`desc`]: the model description — a chain of recurrent (RNN, LSTM, GRU) and dense
//!   layers with the full ONNX semantics (activations with alpha/beta, clip, direction,
//!   input_forget, peepholes, linear_before_reset), validated when built.
//! * [`layout`]: the packed weight layout that the engine's kernels read and that the
//!   `.recur` file stores byte for byte: 16-row panels, the gates of the same 16 hidden
//!   units in neighbouring panels, zero padding that keeps padded units inert. `pack`
//!   converts from the ONNX tensor layout and `unpack` converts back.
//! * `onnx` (feature `onnx`): the ONNX importer, from an exported model to a packed model
//!   and the description of its graph interface.
//! * [`file`](mod@file): the `.recur` weight file (specified in `formats/SPEC.md`): a validating,
//!   zero-copy reader ([`parse`]) that works without `std`, and a deterministic writer
//!   ([`write_bytes`], and `write_file` with `std`).
//!
//! This crate does no arithmetic beyond packing and quantizing, and it needs no operating
//! system: without the default `std` feature it builds with `alloc` only, so a device can
//! read weights straight out of flash.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod desc;
pub mod file;
pub mod interface;
pub mod layout;
#[cfg(feature = "onnx")]
pub mod onnx;

pub use desc::*;
#[cfg(feature = "std")]
pub use file::write_file;
pub use file::{parse, write_bytes, FileError, FileTensor, ParseOptions, RecurFile};
pub use interface::*;
pub use layout::*;
