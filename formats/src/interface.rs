//! The ONNX graph's interface, recorded so a converted model reproduces it exactly.
//!
//! The engine computes per-frame vectors for one stream. An ONNX graph exchanges batched
//! tensors: a sequence `X` in some axis order, optional `sequence_lens`, optional initial
//! states, and any of the sequence output, final states and cell states in the shapes the
//! exporter chose. A [`GraphInterface`] says, for every graph input and output, which
//! engine quantity it is and how its axes are arranged, so that `recur run` can read and
//! write the same `.npy` tensors as onnxruntime would.
//!
//! # The model's head
//!
//! The *head* of a model is the run of dense layers after its last recurrent layer (it may
//! be empty). An ONNX graph applies it in one of two ways, and the interface says which:
//!
//! * **per frame** (no [`IoRole::FinalOutput`] binding): the whole chain runs on every
//!   frame, and [`IoRole::Output`] is the last layer's output frames (`Linear` on the
//!   sequence output, a per-frame classifier);
//! * **on the final state** (the interface has at least one [`IoRole::FinalOutput`]): the
//!   layers up to the last recurrent layer run on every frame; the head runs once per
//!   sequence, on the final hidden state of the last recurrent layer (PyTorch
//!   `fc(h_n[-1])`, a sequence classifier). [`IoRole::Output`] is then the last recurrent
//!   layer's output frames.
//!
//! For a model whose last recurrent layer runs forward, the head on the final state equals
//! the per-frame output of the whole chain at each sequence's last valid frame (for a
//! non-empty sequence), so a streaming caller stepping such a model frame by frame
//! through the engine's `Model::step` reads the head's running value.
//!
//! # Constants
//!
//! A graph may fix `sequence_lens` or initial states with initializers instead of taking
//! them as inputs. Zero initial states need no record (every stream starts from zero);
//! anything else is kept in [`GraphInterface::constants`] and applied at run time as the
//! corresponding input would be. Constants fix the batch size.

use alloc::string::String;
use alloc::vec::Vec;

/// Most inputs or outputs an interface may declare.
pub const MAX_BINDINGS: usize = 64;
/// Longest name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Most constants an interface may hold: one `sequence_lens` and the `h` and `c` of every
/// layer.
pub const MAX_CONSTANTS: usize = 2 * crate::desc::limits::MAX_LAYERS + 1;
/// Most values of all constants together (16 MiB of state values).
pub const MAX_CONST_VALUES: usize = 1 << 22;

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
    /// `[T*B, F]`: time and batch flattened into one axis, time-major (the frame of time
    /// `t` and batch element `b` is row `t*B + b`). Outputs only.
    TimeBatchFlat = 5,
    /// `[B*T, F]`: batch and time flattened into one axis, batch-major (row `b*T + t`).
    /// Outputs only.
    BatchTimeFlat = 6,
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
            5 => SeqLayout::TimeBatchFlat,
            6 => SeqLayout::BatchTimeFlat,
            _ => return None,
        })
    }

    /// Whether a graph input (the model's input sequence) may use this layout: `[T, B, F]`,
    /// `[B, T, F]` and `[T, F]` may; the recurrent `Y` layouts and the flattened ones are
    /// for outputs only.
    pub fn is_input_layout(self) -> bool {
        matches!(self, SeqLayout::TimeBatchFeature | SeqLayout::BatchTimeFeature | SeqLayout::TimeFeature)
    }
}

/// Arrangement of a per-sequence output ([`IoRole::FinalOutput`]) of `O` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FinalLayout {
    /// `[B, O]`: one row per sequence.
    BatchFeature = 0,
    /// `[O]`: no batch axis (batch of one).
    Feature = 1,
}

impl FinalLayout {
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => FinalLayout::BatchFeature,
            1 => FinalLayout::Feature,
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
    /// Output: the output frames of the last layer, or of the last recurrent layer when the
    /// interface has a [`IoRole::FinalOutput`] (the head then runs on the final state; see
    /// the module documentation). Past a sequence's length a frame is what the layers give
    /// for a zero recurrent output: zero, or the per-frame head applied to zero.
    Output(SeqLayout),
    /// Output: final states of these slots: the state after each sequence's last valid
    /// frame (for a reverse direction, after frame 0), and zero for a zero-length sequence
    /// whatever its initial state (onnxruntime's behaviour).
    FinalState {
        /// h or c.
        kind: StateKind,
        /// Slots, in the order of the slot axis.
        slots: Vec<StateSlot>,
        /// Axis order.
        layout: StateLayout,
    },
    /// Output: the model's head (the dense layers after the last recurrent layer, possibly
    /// none) applied once per sequence to the final hidden state of the last recurrent
    /// layer as [`IoRole::FinalState`] gives it (zero for a zero-length sequence), directions
    /// concatenated forward first, `O` = the model's output size. While an interface has
    /// one, the head is not applied per frame (see [`IoRole::Output`]).
    FinalOutput(FinalLayout),
}

impl IoRole {
    /// Whether the role belongs to a graph output (else to a graph input or a constant).
    pub fn is_output(&self) -> bool {
        matches!(self, IoRole::Output(_) | IoRole::FinalState { .. } | IoRole::FinalOutput(_))
    }
    /// The role's name (`"InitialState"`), as in SPEC.md.
    pub fn name(&self) -> &'static str {
        match self {
            IoRole::Sequence(_) => "Sequence",
            IoRole::SequenceLens => "SequenceLens",
            IoRole::InitialState { .. } => "InitialState",
            IoRole::Output(_) => "Output",
            IoRole::FinalState { .. } => "FinalState",
            IoRole::FinalOutput(_) => "FinalOutput",
        }
    }
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

/// The values of a [`ConstInput`].
#[derive(Clone, Debug)]
pub enum ConstValues {
    /// Sequence lengths (role [`IoRole::SequenceLens`]), each at most `i32::MAX` (ONNX
    /// `sequence_lens` is int32).
    Lengths(Vec<u32>),
    /// State values (role [`IoRole::InitialState`]), in the order of the shape (row-major).
    F32(Vec<f32>),
}

impl ConstValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ConstValues::Lengths(v) => v.len(),
            ConstValues::F32(v) => v.len(),
        }
    }
    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Equal when the same variant holds the same bit patterns (so that a NaN state value
/// equals itself and a file round-trips to an equal interface).
impl PartialEq for ConstValues {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ConstValues::Lengths(a), ConstValues::Lengths(b)) => a == b,
            (ConstValues::F32(a), ConstValues::F32(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            _ => false,
        }
    }
}

/// A quantity the ONNX graph fixes with an initializer instead of taking it as an input:
/// constant `sequence_lens`, or non-zero constant initial states. It is applied exactly as
/// a graph input of the same role and shape would be.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstInput {
    /// The initializer's name (informative).
    pub name: String,
    /// [`IoRole::SequenceLens`] or [`IoRole::InitialState`].
    pub role: IoRole,
    /// The shape, every size fixed: `[B]` for sequence lengths; for states the role's
    /// layout with `S` = its slot count and `H` = their hidden size (`[S, B, H]`,
    /// `[B, S, H]` or `[B, H]`). `B` is the batch size, which the constant fixes.
    pub shape: Vec<u64>,
    /// The values: as many as the product of `shape`, of the kind the role takes.
    pub values: ConstValues,
}

impl ConstInput {
    /// The batch size this constant fixes (`None` if the shape has no batch axis where
    /// the role puts it, which a valid interface rules out).
    pub fn batch(&self) -> Option<u64> {
        let axis = match &self.role {
            IoRole::SequenceLens => 0,
            IoRole::InitialState { layout: StateLayout::SlotBatchHidden, .. } => 1,
            IoRole::InitialState { .. } => 0,
            _ => return None,
        };
        self.shape.get(axis).copied()
    }
}

/// Every input and output of the graph, in graph order, and the constants it fixes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GraphInterface {
    /// Graph inputs (that are not initializers), in order.
    pub inputs: Vec<IoBinding>,
    /// Graph outputs, in order.
    pub outputs: Vec<IoBinding>,
    /// Sequence lengths and initial states the graph fixes with initializers.
    pub constants: Vec<ConstInput>,
}

impl GraphInterface {
    /// Whether the model's head runs once per sequence on the final state (the interface
    /// has a [`IoRole::FinalOutput`]) rather than on every frame.
    pub fn head_on_final_state(&self) -> bool {
        self.outputs.iter().any(|b| matches!(b.role, IoRole::FinalOutput(_)))
    }
    /// The batch size the constants fix, if any (the first constant's; a valid interface
    /// has them agree).
    pub fn fixed_batch(&self) -> Option<u64> {
        self.constants.iter().find_map(ConstInput::batch)
    }
}
