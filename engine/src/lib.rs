//! # recur
//!
//! A hand-optimized SIMD inference engine for recurrent networks — vanilla RNN, LSTM and
//! GRU with the full ONNX semantics — for streaming (one frame at a time, constant
//! memory), small models on small devices, and servers with many streams.
//!
//! ```
//! use recur::{Model, recur_format::*};
//!
//! // A GRU (in 3, hidden 5) followed by a dense layer with softmax.
//! let desc = ModelDesc { layers: vec![
//!     LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 3, 5)),
//!     LayerDesc::Dense(DenseDesc { input_size: 5, output_size: 2, activation: DenseAct::Softmax, dtype: DType::F32 }),
//! ]};
//! let weights = vec![
//!     LayerWeights::Recurrent { w: vec![0.1; 3 * 5 * 3], r: vec![0.05; 3 * 5 * 5], b: None, p: None },
//!     LayerWeights::Dense { w: vec![0.2; 2 * 5], b: Some(vec![0.0, 1.0]) },
//! ];
//! let model = Model::from_packed(&PackedModel::pack(desc, &weights)?)?;
//! let mut state = model.new_state();
//! let mut y = [0.0f32; 2];
//! for frame in [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]] {
//!     model.step(&mut state, &frame, &mut y)?;   // allocates nothing
//! }
//! assert!((y[0] + y[1] - 1.0).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Design
//!
//! * [`Model`] is immutable and shared; [`State`] is one per stream.
//! * Kernels are written once against the [`kernels::Simd`] trait and instantiated per
//!   instruction set (scalar reference, AVX2+FMA, AVX-512); the CPU's features are read
//!   once when the model is built ([`Isa::select`], `RECUR_ISA` forces one).
//! * **Numerics contract**: every kernel set gives the same bits for the same model and
//!   input — each output row is `bias`, then one fused multiply-add per input element in
//!   a fixed order, and every activation is one fixed sequence of IEEE operations
//!   (see [`math`]).
//!
//! ## Features
//!
//! * `std` (default): threads, files and memory maps. Without it the compute core builds
//!   with `alloc` only.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod cell;
mod error;
mod exec;
#[cfg(feature = "std")]
pub mod graph;
pub mod isa;
pub mod kernels;
pub mod math;
mod model;
pub mod quant;

pub use error::Error;
pub use isa::Isa;
pub use model::{Model, OpenOptions, State};
pub use recur_format;
