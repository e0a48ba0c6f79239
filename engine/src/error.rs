//! The engine's error type.

use alloc::string::String;

/// Everything that can go wrong building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model description is invalid.
    #[error("invalid model: {0}")]
    Desc(#[from] recur_format::DescError),
    /// Weights do not fit the description.
    #[error("invalid weights: {0}")]
    Pack(#[from] recur_format::PackError),
    /// The `.recur` file is invalid.
    #[error("invalid .recur file: {0}")]
    File(#[from] recur_format::FileError),
    /// Reading or mapping the file failed.
    #[error("{0}")]
    Io(String),
    /// A static buffer that is not 64-byte aligned.
    #[error("buffer is not 64-byte aligned (address mod 64 = {0}); use Model::from_bytes, which copies")]
    Unaligned(usize),
    /// A tensor is missing or has the wrong size or alignment.
    #[error("tensor {tensor} of layer {layer}: {what}")]
    Tensor {
        /// Layer index.
        layer: usize,
        /// Tensor name.
        tensor: &'static str,
        /// What is wrong.
        what: String,
    },
    /// `RECUR_ISA` names no kernel set.
    #[error("unknown kernel set '{0}' (expected scalar, portable, avx2, avx512 or neon)")]
    UnknownIsa(String),
    /// The requested kernel set is not available on this CPU or build.
    #[error("kernel set '{requested}' is not available on this CPU (available: {available})")]
    IsaUnavailable {
        /// Requested.
        requested: &'static str,
        /// Available here.
        available: String,
    },
    /// `step` on a model with a reverse or bidirectional layer.
    #[error(
        "layer {layer} runs {direction}: a model with a non-forward layer cannot be stepped frame by frame; use run"
    )]
    NotStreamable {
        /// Layer index.
        layer: usize,
        /// Its direction.
        direction: &'static str,
    },
    /// A buffer has the wrong length.
    #[error("{what} has {got} values, expected {expected}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// Given.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// The same state passed twice to a many-stream call. `Model::step_many` cannot
    /// receive one (its `&mut` borrows are distinct); bindings that build the slice from
    /// raw pointers report their own check with this variant.
    #[error("the same state appears twice in one step_many call")]
    DuplicateState,
    /// A state used with a model that did not create it.
    #[error("state belongs to another model")]
    ForeignState,
    /// A saved state that is not from this model or is corrupt.
    #[error("saved state rejected: {0}")]
    BadSavedState(&'static str),
    /// A state slot that does not exist.
    #[error("no state slot for layer {layer} direction {dir} ({what})")]
    NoSuchSlot {
        /// Layer.
        layer: usize,
        /// Direction.
        dir: usize,
        /// Detail.
        what: &'static str,
    },
}
