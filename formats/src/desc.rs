//! The model description: what a recur model computes, independent of where its weights live.
//!
//! A model is a chain of layers. Each layer consumes the previous layer's per-frame output
//! (the first consumes the model input) and produces one vector per frame:
//!
//! * a recurrent layer ([`RecurrentDesc`]): an ONNX `RNN`, `LSTM` or `GRU` node with every
//!   attribute of the operator; a bidirectional layer outputs the forward half then the
//!   backward half (`2 * hidden_size` values per frame);
//! * a dense layer ([`DenseDesc`]): `y = act(W x + b)` per frame.
//!
//! [`ModelDesc::validate`] checks every dimension and option once, so that the engine and
//! the file reader can rely on a consistent description.

use alloc::vec::Vec;
use core::fmt;

/// The kind of recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CellKind {
    /// ONNX `RNN`: `h = f(W x + R h + Wb + Rb)`; one gate.
    Rnn = 0,
    /// ONNX `LSTM`: gates i, o, f, c (ONNX order); four gates.
    Lstm = 1,
    /// ONNX `GRU`: gates z, r, h (ONNX order); three gates.
    Gru = 2,
}

impl CellKind {
    /// Number of gates (weight row groups) of this cell.
    pub const fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
    /// Number of activation functions per direction (ONNX `activations` attribute).
    pub const fn activation_count(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 3,
            CellKind::Gru => 2,
        }
    }
    /// The ONNX defaults for `activations`, one direction.
    pub fn default_activations(self) -> [Activation; 3] {
        let s = Activation::new(ActKind::Sigmoid);
        let t = Activation::new(ActKind::Tanh);
        match self {
            CellKind::Rnn => [t, t, t],
            CellKind::Lstm => [s, t, t],
            CellKind::Gru => [s, t, t],
        }
    }
    /// The ONNX operator name.
    pub const fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "RNN",
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => CellKind::Rnn,
            1 => CellKind::Lstm,
            2 => CellKind::Gru,
            _ => return None,
        })
    }
}

/// Direction of a recurrent layer (ONNX `direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Direction {
    /// Frames 0..T.
    Forward = 0,
    /// Frames T-1..=0; the output of frame t is still written at position t.
    Reverse = 1,
    /// Both; the output per frame is the forward half then the backward half.
    Bidirectional = 2,
}

impl Direction {
    /// Number of directions (1 or 2).
    pub const fn count(self) -> usize {
        match self {
            Direction::Bidirectional => 2,
            _ => 1,
        }
    }
    /// Whether direction index `d` (0 or 1) runs backwards in time.
    pub const fn is_reverse(self, d: usize) -> bool {
        match self {
            Direction::Forward => false,
            Direction::Reverse => true,
            Direction::Bidirectional => d == 1,
        }
    }
    /// Parses the ONNX attribute value (case-sensitive in the spec; accepted case-insensitively).
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("forward") {
            Some(Direction::Forward)
        } else if s.eq_ignore_ascii_case("reverse") {
            Some(Direction::Reverse)
        } else if s.eq_ignore_ascii_case("bidirectional") {
            Some(Direction::Bidirectional)
        } else {
            None
        }
    }
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Direction::Forward,
            1 => Direction::Reverse,
            2 => Direction::Bidirectional,
            _ => return None,
        })
    }
}

/// An activation function of the ONNX recurrent operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ActKind {
    /// `max(0, x)`
    Relu = 0,
    /// `tanh(x)`
    Tanh = 1,
    /// `1 / (1 + e^-x)`
    Sigmoid = 2,
    /// `alpha * x + beta`
    Affine = 3,
    /// `x` if `x >= 0`, else `alpha * x`
    LeakyRelu = 4,
    /// `x` if `x > alpha`, else `0`
    ThresholdedRelu = 5,
    /// `alpha * tanh(beta * x)`
    ScaledTanh = 6,
    /// `max(0, min(1, alpha * x + beta))`
    HardSigmoid = 7,
    /// `x` if `x >= 0`, else `alpha * (e^x - 1)`
    Elu = 8,
    /// `x / (1 + |x|)`
    Softsign = 9,
    /// `ln(1 + e^x)`
    Softplus = 10,
}

impl ActKind {
    /// Every kind, in code order.
    pub const ALL: [ActKind; 11] = [
        ActKind::Relu,
        ActKind::Tanh,
        ActKind::Sigmoid,
        ActKind::Affine,
        ActKind::LeakyRelu,
        ActKind::ThresholdedRelu,
        ActKind::ScaledTanh,
        ActKind::HardSigmoid,
        ActKind::Elu,
        ActKind::Softsign,
        ActKind::Softplus,
    ];
    /// The ONNX name.
    pub const fn name(self) -> &'static str {
        match self {
            ActKind::Relu => "Relu",
            ActKind::Tanh => "Tanh",
            ActKind::Sigmoid => "Sigmoid",
            ActKind::Affine => "Affine",
            ActKind::LeakyRelu => "LeakyRelu",
            ActKind::ThresholdedRelu => "ThresholdedRelu",
            ActKind::ScaledTanh => "ScaledTanh",
            ActKind::HardSigmoid => "HardSigmoid",
            ActKind::Elu => "Elu",
            ActKind::Softsign => "Softsign",
            ActKind::Softplus => "Softplus",
        }
    }
    /// Parses an ONNX activation name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name().eq_ignore_ascii_case(s))
    }
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }
    /// Whether the function consumes an `activation_alpha` value.
    pub const fn uses_alpha(self) -> bool {
        matches!(
            self,
            ActKind::Affine
                | ActKind::LeakyRelu
                | ActKind::ThresholdedRelu
                | ActKind::ScaledTanh
                | ActKind::HardSigmoid
                | ActKind::Elu
        )
    }
    /// Whether the function consumes an `activation_beta` value.
    pub const fn uses_beta(self) -> bool {
        matches!(self, ActKind::Affine | ActKind::ScaledTanh | ActKind::HardSigmoid)
    }
    /// The values onnxruntime uses when `activation_alpha`/`activation_beta` run out:
    /// (alpha, beta). Measured against onnxruntime: LeakyRelu 0.01, HardSigmoid 0.2/0.5,
    /// Elu 1.0, and 0 for every other parameter (so a parameterless Affine is `0 x + 0`).
    pub const fn default_params(self) -> (f32, f32) {
        match self {
            ActKind::LeakyRelu => (0.01, 0.0),
            ActKind::HardSigmoid => (0.2, 0.5),
            ActKind::Elu => (1.0, 0.0),
            _ => (0.0, 0.0),
        }
    }
}

/// An activation with its parameters. Functions that take no parameter ignore them, and
/// they are stored as zero so that equal descriptions compare equal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    /// The function.
    pub kind: ActKind,
    /// `activation_alpha` (0 when unused).
    pub alpha: f32,
    /// `activation_beta` (0 when unused).
    pub beta: f32,
}

impl Activation {
    /// The function with onnxruntime's default parameters.
    pub const fn new(kind: ActKind) -> Self {
        let (alpha, beta) = kind.default_params();
        Activation { kind, alpha, beta }
    }
    /// The function with explicit parameters (unused ones are zeroed).
    pub fn with_params(kind: ActKind, alpha: f32, beta: f32) -> Self {
        Activation {
            kind,
            alpha: if kind.uses_alpha() { alpha } else { 0.0 },
            beta: if kind.uses_beta() { beta } else { 0.0 },
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind.uses_alpha(), self.kind.uses_beta()) {
            (false, _) => write!(f, "{}", self.kind.name()),
            (true, false) => write!(f, "{}(alpha={})", self.kind.name(), self.alpha),
            (true, true) => write!(f, "{}(alpha={}, beta={})", self.kind.name(), self.alpha, self.beta),
        }
    }
}

/// Activation of a dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DenseAct {
    /// Identity.
    None = 0,
    /// `max(0, x)`
    Relu = 1,
    /// `tanh(x)`
    Tanh = 2,
    /// `1 / (1 + e^-x)`
    Sigmoid = 3,
    /// `e^(x_i - max) / sum_j e^(x_j - max)` over the layer's outputs.
    Softmax = 4,
    /// `x_i - max - ln(sum_j e^(x_j - max))` over the layer's outputs.
    LogSoftmax = 5,
}

impl DenseAct {
    /// Name used by the CLI and in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            DenseAct::None => "None",
            DenseAct::Relu => "Relu",
            DenseAct::Tanh => "Tanh",
            DenseAct::Sigmoid => "Sigmoid",
            DenseAct::Softmax => "Softmax",
            DenseAct::LogSoftmax => "LogSoftmax",
        }
    }
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => DenseAct::None,
            1 => DenseAct::Relu,
            2 => DenseAct::Tanh,
            3 => DenseAct::Sigmoid,
            4 => DenseAct::Softmax,
            5 => DenseAct::LogSoftmax,
            _ => return None,
        })
    }
}

/// Element type of stored weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE binary32.
    F32 = 0,
    /// IEEE binary16, widened exactly to f32 in registers.
    F16 = 1,
    /// bfloat16, widened exactly to f32 in registers.
    BF16 = 2,
    /// Symmetric int8 with one f32 scale per output row; f32 activations (`w8`: the
    /// weights are widened exactly to f32 in registers).
    I8 = 3,
    /// Symmetric int8 weights as [`DType::I8`], and int8 activations (`w8a8`): each
    /// input vector of a matrix product (a layer's input frame, a recurrent state) is
    /// quantized per step with one scale, and the products are exact int32 dot products.
    I8A8 = 4,
}

impl DType {
    /// Bytes per stored weight element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I8 | DType::I8A8 => 1,
        }
    }
    /// Whether the weights are int8 (stored in [`crate::layout::PackedLayout::Panel16K4`]
    /// panels with per-row scales).
    pub const fn is_int8(self) -> bool {
        matches!(self, DType::I8 | DType::I8A8)
    }
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I8 => "int8",
            DType::I8A8 => "int8-w8a8",
        }
    }
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::BF16,
            3 => DType::I8,
            4 => DType::I8A8,
            _ => return None,
        })
    }
}

/// A recurrent layer: one ONNX `RNN`, `LSTM` or `GRU` node.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentDesc {
    /// Cell kind.
    pub cell: CellKind,
    /// Values per frame in.
    pub input_size: usize,
    /// Hidden units per direction.
    pub hidden_size: usize,
    /// Direction.
    pub direction: Direction,
    /// Activations per direction: `[f]` (RNN), `[f, g]` (GRU), `[f, g, h]` (LSTM); unused
    /// trailing entries are ignored. Index 0 is the forward (or only) direction.
    pub activations: [[Activation; 3]; 2],
    /// Cell clip threshold applied to every gate pre-activation, if any.
    pub clip: Option<f32>,
    /// LSTM `input_forget`: couple the forget gate to the input gate (`f = 1 - i`).
    pub input_forget: bool,
    /// LSTM peephole weights present (`P` input).
    pub peepholes: bool,
    /// GRU `linear_before_reset`.
    pub linear_before_reset: bool,
    /// Element type of the stored W and R weights.
    pub dtype: DType,
}

impl RecurrentDesc {
    /// A layer with the ONNX defaults for everything but the sizes.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        let a = cell.default_activations();
        RecurrentDesc {
            cell,
            input_size,
            hidden_size,
            direction: Direction::Forward,
            activations: [a, a],
            clip: None,
            input_forget: false,
            peepholes: false,
            linear_before_reset: false,
            dtype: DType::F32,
        }
    }
    /// Values per frame out (`hidden_size` times the number of directions).
    pub fn output_size(&self) -> usize {
        self.hidden_size * self.direction.count()
    }
    /// Number of parameters as ONNX counts them (W, R, both biases, P).
    pub fn parameter_count(&self) -> usize {
        let g = self.cell.gates();
        let h = self.hidden_size;
        let per_dir = g * h * self.input_size + g * h * h + 2 * g * h + if self.peepholes { 3 * h } else { 0 };
        per_dir * self.direction.count()
    }
}

/// A per-frame dense layer: `y = act(W x + b)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseDesc {
    /// Values per frame in.
    pub input_size: usize,
    /// Values per frame out.
    pub output_size: usize,
    /// Activation applied to the output.
    pub activation: DenseAct,
    /// Element type of the stored weights.
    pub dtype: DType,
}

/// One layer of the chain.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerDesc {
    /// RNN, LSTM or GRU.
    Recurrent(RecurrentDesc),
    /// Dense.
    Dense(DenseDesc),
}

impl LayerDesc {
    /// Values per frame in.
    pub fn input_size(&self) -> usize {
        match self {
            LayerDesc::Recurrent(r) => r.input_size,
            LayerDesc::Dense(d) => d.input_size,
        }
    }
    /// Values per frame out.
    pub fn output_size(&self) -> usize {
        match self {
            LayerDesc::Recurrent(r) => r.output_size(),
            LayerDesc::Dense(d) => d.output_size,
        }
    }
    /// Element type of the stored weights (W and R, or a dense layer's W).
    pub fn dtype(&self) -> DType {
        match self {
            LayerDesc::Recurrent(r) => r.dtype,
            LayerDesc::Dense(d) => d.dtype,
        }
    }
    /// Sets the element type of the stored weights.
    pub fn set_dtype(&mut self, dtype: DType) {
        match self {
            LayerDesc::Recurrent(r) => r.dtype = dtype,
            LayerDesc::Dense(d) => d.dtype = dtype,
        }
    }
    /// Short name used in messages ("LSTM", "Dense", ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            LayerDesc::Recurrent(r) => r.cell.name(),
            LayerDesc::Dense(_) => "Dense",
        }
    }
    /// Number of parameters (ONNX count: no padding).
    pub fn parameter_count(&self) -> usize {
        match self {
            LayerDesc::Recurrent(r) => r.parameter_count(),
            LayerDesc::Dense(d) => d.input_size * d.output_size + d.output_size,
        }
    }
}

/// Limits every description must respect; they bound what a file can ask the engine to
/// allocate.
pub mod limits {
    /// Most layers in a model.
    pub const MAX_LAYERS: usize = 64;
    /// Largest input, hidden or output size of a layer.
    pub const MAX_DIM: usize = 1 << 16;
    /// Largest number of weight elements in one layer (per direction and matrix).
    pub const MAX_MATRIX_ELEMS: usize = 1 << 31;
}

/// A model: a chain of layers.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDesc {
    /// The layers, first to last.
    pub layers: Vec<LayerDesc>,
}

/// A description that cannot be run, with the layer and the size that is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DescError {
    /// The model has no layer.
    #[error("model has no layer")]
    Empty,
    /// Too many layers.
    #[error("model has {0} layers, more than the limit of {max}", max = limits::MAX_LAYERS)]
    TooManyLayers(usize),
    /// A size is zero or above [`limits::MAX_DIM`].
    #[error("layer {layer} ({kind}): {what} is {value}, must be in 1..={max}", max = limits::MAX_DIM)]
    BadSize {
        /// Layer index.
        layer: usize,
        /// Layer kind name.
        kind: &'static str,
        /// Which size.
        what: &'static str,
        /// The value.
        value: usize,
    },
    /// A layer's input does not match the previous layer's output.
    #[error("layer {layer} ({kind}) takes {input} values per frame but layer {prev} produces {output}")]
    ChainMismatch {
        /// Layer index.
        layer: usize,
        /// Layer kind name.
        kind: &'static str,
        /// Its input size.
        input: usize,
        /// Previous layer index.
        prev: usize,
        /// Previous layer's output size.
        output: usize,
    },
    /// An option that the cell kind does not have.
    #[error("layer {layer} ({kind}): {what}")]
    BadOption {
        /// Layer index.
        layer: usize,
        /// Layer kind name.
        kind: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A non-finite or negative clip, or a non-finite activation parameter.
    #[error("layer {layer} ({kind}): {what} is {value}, must be finite{extra}")]
    BadParam {
        /// Layer index.
        layer: usize,
        /// Layer kind name.
        kind: &'static str,
        /// Which parameter.
        what: &'static str,
        /// The value.
        value: f32,
        /// Extra requirement.
        extra: &'static str,
    },
    /// A weight matrix larger than [`limits::MAX_MATRIX_ELEMS`].
    #[error("layer {layer} ({kind}): weight matrix of {elems} elements exceeds the limit")]
    TooLarge {
        /// Layer index.
        layer: usize,
        /// Layer kind name.
        kind: &'static str,
        /// Element count.
        elems: u128,
    },
}

impl ModelDesc {
    /// Values per frame into the model.
    pub fn input_size(&self) -> usize {
        self.layers.first().map_or(0, |l| l.input_size())
    }
    /// Values per frame out of the model.
    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(0, |l| l.output_size())
    }
    /// Whether every recurrent layer runs forward only (so the model can be streamed).
    pub fn is_streamable(&self) -> bool {
        self.layers.iter().all(|l| match l {
            LayerDesc::Recurrent(r) => r.direction == Direction::Forward,
            LayerDesc::Dense(_) => true,
        })
    }
    /// Number of parameters (ONNX count).
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.parameter_count()).sum()
    }

    /// Checks every size, option and the chain; the engine and the file reader rely on it.
    pub fn validate(&self) -> Result<(), DescError> {
        if self.layers.is_empty() {
            return Err(DescError::Empty);
        }
        if self.layers.len() > limits::MAX_LAYERS {
            return Err(DescError::TooManyLayers(self.layers.len()));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let kind = layer.kind_name();
            let size = |what: &'static str, value: usize| {
                if value == 0 || value > limits::MAX_DIM {
                    Err(DescError::BadSize { layer: i, kind, what, value })
                } else {
                    Ok(())
                }
            };
            match layer {
                LayerDesc::Recurrent(r) => {
                    size("input_size", r.input_size)?;
                    size("hidden_size", r.hidden_size)?;
                    let g = r.cell.gates() as u128;
                    let h = r.hidden_size as u128;
                    let elems = g * h * (r.input_size as u128).max(h);
                    if elems > limits::MAX_MATRIX_ELEMS as u128 {
                        return Err(DescError::TooLarge { layer: i, kind, elems });
                    }
                    if r.input_forget && r.cell != CellKind::Lstm {
                        return Err(DescError::BadOption { layer: i, kind, what: "input_forget is an LSTM option" });
                    }
                    if r.peepholes && r.cell != CellKind::Lstm {
                        return Err(DescError::BadOption { layer: i, kind, what: "peepholes are an LSTM option" });
                    }
                    if r.linear_before_reset && r.cell != CellKind::Gru {
                        return Err(DescError::BadOption {
                            layer: i,
                            kind,
                            what: "linear_before_reset is a GRU option",
                        });
                    }
                    if let Some(c) = r.clip {
                        if !c.is_finite() || c < 0.0 {
                            return Err(DescError::BadParam {
                                layer: i,
                                kind,
                                what: "clip",
                                value: c,
                                extra: " and non-negative",
                            });
                        }
                    }
                    for d in 0..r.direction.count() {
                        for a in &r.activations[d][..r.cell.activation_count()] {
                            for (what, v) in [("activation_alpha", a.alpha), ("activation_beta", a.beta)] {
                                if !v.is_finite() {
                                    return Err(DescError::BadParam { layer: i, kind, what, value: v, extra: "" });
                                }
                            }
                        }
                    }
                }
                LayerDesc::Dense(d) => {
                    size("input_size", d.input_size)?;
                    size("output_size", d.output_size)?;
                }
            }
            if i > 0 {
                let prev = &self.layers[i - 1];
                if prev.output_size() != layer.input_size() {
                    return Err(DescError::ChainMismatch {
                        layer: i,
                        kind,
                        input: layer.input_size(),
                        prev: i - 1,
                        output: prev.output_size(),
                    });
                }
            }
        }
        Ok(())
    }
}
