//! The ONNX graph's interface, recorded so a converted model reproduces it exactly.
//!
//! The engine computes per-frame vectors for one stream. An ONNX graph exchanges batched
//! tensors: a sequence `X` in some axis order, optional `sequence_lens`, optional initial
//! states, and any of the sequence output, final states and cell states in the shapes the
//! exporter chose. A [`GraphInterface`] says, for every graph input and output, which
//! engine quantity it is and how its axes are arranged, so that `recur run` can read and
//! write the same `.npy` tensors as onnxruntime would.

use alloc::string::String;
use alloc::vec::Vec;

/// Most inputs or outputs an interface may declare.
pub const MAX_BINDINGS: usize = 64;
/// Longest name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// Arrangement of a sequence tensor (model input or the last layer's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SeqLayout {
    /// `[T, B, F]` (time-major; PyTorch default).
    TimeBatchFeature = 0,
    /// `[B, T, F]` (batch-first).
    BatchTimeFeature = 1,
    /// `[T, dirs, B, H]`: a recurrent node's raw `Y` with `layout = 0`.
    OnnxY = 2,
    /// `[B, T, dirs, H]`: a recurrent node's raw `Y` with `layout = 1`.
    OnnxYBatchFirst = 3,
    /// `[T, F]`: no batch axis (batch of one).
    TimeFeature = 4,
}

impl SeqLayout {
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => SeqLayout::TimeBatchFeature,
            1 => SeqLayout::BatchTimeFeature,
            2 => SeqLayout::OnnxY,
            3 => SeqLayout::OnnxYBatchFirst,
            4 => SeqLayout::TimeFeature,
            _ => return None,
        })
    }
}

/// Arrangement of a state tensor made of `S` state slots of `H` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StateLayout {
    /// `[S, B, H]` (ONNX `layout = 0`, PyTorch `h_n`).
    SlotBatchHidden = 0,
    /// `[B, S, H]` (ONNX `layout = 1`).
    BatchSlotHidden = 1,
    /// `[B, H]`: a single slot with the direction axis squeezed away.
    BatchHidden = 2,
}

impl StateLayout {
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => StateLayout::SlotBatchHidden,
            1 => StateLayout::BatchSlotHidden,
            2 => StateLayout::BatchHidden,
            _ => return None,
        })
    }
}

/// Which state of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StateKind {
    /// Hidden state `h`.
    H = 0,
    /// LSTM cell state `c`.
    C = 1,
}

/// One state slot: a direction of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateSlot {
    /// Layer index (must be a recurrent layer).
    pub layer: u16,
    /// Direction index.
    pub dir: u8,
}

/// What a graph input or output is.
#[derive(Clone, Debug, PartialEq)]
pub enum IoRole {
    /// Input: the frames fed to the first layer.
    Sequence(SeqLayout),
    /// Input: `sequence_lens` (int32 or int64 `[B]`).
    SequenceLens,
    /// Input: initial states for these slots (stacked along the slot axis).
    InitialState {
        /// h or c.
        kind: StateKind,
        /// Slots, in the order of the slot axis.
        slots: Vec<StateSlot>,
        /// Axis order.
        layout: StateLayout,
    },
    /// Output: the last layer's output frames.
    Output(SeqLayout),
    /// Output: final states of these slots (the state after each sequence's last valid frame).
    FinalState {
        /// h or c.
        kind: StateKind,
        /// Slots, in the order of the slot axis.
        slots: Vec<StateSlot>,
        /// Axis order.
        layout: StateLayout,
    },
}

/// One dimension as the ONNX graph declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A named symbolic size (`"seq"`, `"batch"`), or empty when unnamed.
    Symbolic(String),
}

/// A named graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct IoBinding {
    /// The ONNX value name.
    pub name: String,
    /// What it is.
    pub role: IoRole,
    /// The declared shape (informative: the role decides the arrangement).
    pub dims: Vec<Dim>,
}

/// Every input and output of the graph, in graph order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GraphInterface {
    /// Graph inputs (that are not initializers), in order.
    pub inputs: Vec<IoBinding>,
    /// Graph outputs, in order.
    pub outputs: Vec<IoBinding>,
}
