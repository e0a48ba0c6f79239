//! ONNX-shaped execution: named, batched tensors in, named tensors out, with the shapes and
//! semantics of the ONNX graph a model was converted from.
//!
//! The engine itself computes per-frame vectors for one stream ([`Model::run`]). An ONNX
//! graph exchanges batched tensors instead: a sequence `X` in some axis order, optional
//! `sequence_lens`, optional initial states stacked along a slot axis, and any of the
//! sequence output and final states in the arrangement the exporter chose. The file
//! records that arrangement as a [`GraphInterface`]; a [`Graph`] applies it:
//!
//! * **batch**: each batch element is an independent sequence with its own [`State`];
//! * **`sequence_lens`**: element `b` runs only its first `len[b]` frames. A reverse
//!   direction starts at frame `len[b] - 1`, as in ONNX. The recurrent output past the
//!   length is zero, so the graph output there is zero when the model ends with a
//!   recurrent layer, and the dense tail applied to a zero frame otherwise (which is what
//!   an ONNX graph computes when a `Linear` follows the `LSTM`);
//! * **initial states**: each `InitialState` binding fills its slots for every batch
//!   element; slots no input binds start at zero;
//! * **outputs**: `Output` in its [`SeqLayout`], `FinalState` in its [`StateLayout`]: the
//!   state after each sequence's last valid frame (for a reverse direction, the state
//!   after frame 0). A zero-length sequence's final state is zero, whatever its initial
//!   state, as onnxruntime gives it;
//! * **a head on the final state** (`FinalOutput`): the layers up to the last recurrent
//!   one run on every frame, and the dense layers after it once per sequence, on the
//!   final `h` of every direction of the last recurrent layer (forward first);
//! * **constants**: `sequence_lens` and initial states that the file fixes apply as the
//!   inputs they replace, and fix the batch size.
//!
//! Every input is checked against the model before anything runs, and a mismatch names the
//! input, the expected shape and the shape given: `input 'X': expected [T, B, 40], got
//! [5, 2, 39]`. The time and batch sizes are free (the engine runs any sequence length and
//! batch), even where the ONNX graph declared fixed ones, so a graph exported for one
//! streaming step also runs a whole chunk.
//!
//! ```
//! use recur::graph::{Graph, Tensor};
//! use recur::{Model, recur_format::*};
//!
//! let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 3, 4))] };
//! let weights = [LayerWeights::Recurrent { w: vec![0.1; 3 * 4 * 3], r: vec![0.05; 3 * 4 * 4], b: None, p: None }];
//! let model = Model::from_packed(&PackedModel::pack(desc, &weights)?)?;
//! // A model built in memory has no recorded interface: X [T, B, F] -> Y [T, B, O].
//! let graph = Graph::new(&model)?;
//! let x = Tensor::f32(vec![5, 2, 3], vec![0.5; 30]);
//! let outputs = graph.run(&[("X", &x)])?;
//! assert_eq!(outputs[0].0, "Y");
//! assert_eq!(outputs[0].1.shape, [5, 2, 4]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Error, Model, State};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use recur_format::{
    ConstValues, Dim, FinalLayout, GraphInterface, IoBinding, IoRole, LayerDesc, ModelDesc, SeqLayout, StateKind,
    StateLayout, StateSlot,
};

/// The values of a [`Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `float32` (sequences, states, outputs).
    F32(Vec<f32>),
    /// `int32` (`sequence_lens`).
    I32(Vec<i32>),
    /// `int64` (`sequence_lens`).
    I64(Vec<i64>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }
    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The ONNX/numpy name of the element type.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            TensorData::F32(_) => "float32",
            TensorData::I32(_) => "int32",
            TensorData::I64(_) => "int64",
        }
    }
}

/// A dense, row-major (C order) tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The elements; their count must be the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// A `float32` tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor { shape, data: TensorData::F32(data) }
    }
    /// An `int32` tensor.
    pub fn i32(shape: Vec<usize>, data: Vec<i32>) -> Tensor {
        Tensor { shape, data: TensorData::I32(data) }
    }
    /// An `int64` tensor.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        Tensor { shape, data: TensorData::I64(data) }
    }
    /// The `float32` elements, if that is the element type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }
    /// The product of the dimensions, or `None` if it overflows.
    pub fn shape_elems(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

/// Formats a shape as `[2, 3, 4]`.
pub fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Why a graph could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The recorded interface does not fit the model (a corrupt or hand-made file).
    #[error("the model's graph interface is unusable: {0}")]
    BadInterface(String),
    /// A graph input was not given.
    #[error("missing input '{name}' ({what})")]
    MissingInput {
        /// The input's name.
        name: String,
        /// What the graph uses it for.
        what: String,
    },
    /// A name that is not a graph input.
    #[error("unknown input '{name}' (the graph's inputs are {known})")]
    UnknownInput {
        /// The name given.
        name: String,
        /// The graph's input names.
        known: String,
    },
    /// The same input given twice.
    #[error("input '{0}' is given twice")]
    DuplicateInput(String),
    /// An input of the wrong element type.
    #[error("input '{name}': expected {expected}, got {got}")]
    DType {
        /// The input's name.
        name: String,
        /// What the graph takes.
        expected: &'static str,
        /// What was given.
        got: &'static str,
    },
    /// An input of the wrong shape.
    #[error("input '{name}': expected {expected}, got {got}")]
    Shape {
        /// The input's name.
        name: String,
        /// The shape the graph takes, with `T` and `B` where those are still free.
        expected: String,
        /// The shape given.
        got: String,
    },
    /// A tensor whose element count is not the product of its shape.
    #[error("input '{name}': shape {shape} holds {expected} values but the tensor has {got}")]
    DataLength {
        /// The input's name.
        name: String,
        /// Its shape.
        shape: String,
        /// Product of the shape (`None`: overflow).
        expected: String,
        /// Elements given.
        got: usize,
    },
    /// A value outside its range (a sequence length longer than the sequence).
    #[error("input '{name}': {what}")]
    BadValue {
        /// The input's name.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// The engine refused (should not happen once the inputs are checked).
    #[error(transparent)]
    Engine(#[from] Error),
}

/// The interface of a model that carries none (built in memory): one sequence input `X`
/// `[T, B, F]` and one output `Y` `[T, B, O]`.
pub fn default_interface(desc: &ModelDesc) -> GraphInterface {
    let sym = |s: &str| Dim::Symbolic(s.into());
    GraphInterface {
        inputs: vec![IoBinding {
            name: "X".into(),
            role: IoRole::Sequence(SeqLayout::TimeBatchFeature),
            dims: vec![sym("T"), sym("B"), Dim::Fixed(desc.input_size() as u64)],
        }],
        outputs: vec![IoBinding {
            name: "Y".into(),
            role: IoRole::Output(SeqLayout::TimeBatchFeature),
            dims: vec![sym("T"), sym("B"), Dim::Fixed(desc.output_size() as u64)],
        }],
        constants: Vec::new(),
    }
}

/// A model together with the ONNX interface it runs behind.
#[derive(Debug)]
pub struct Graph<'m> {
    model: &'m Model,
    iface: GraphInterface,
    /// Index of the sequence input.
    seq: usize,
    /// The layers that run on every frame: the whole model, or with a head on the final
    /// state, the layers up to the last recurrent one.
    body: Model,
    /// With a head on the final state: the head's dense layers (`None`: the head is empty
    /// and the final output is the final state itself).
    head: Option<Model>,
    /// Index of the last recurrent layer (`None` for a model without one).
    last_rec: Option<usize>,
    /// What the per-frame output is for a frame past a sequence's length (`None`: zeros),
    /// computed once on first need.
    tail: std::sync::OnceLock<Option<Vec<f32>>>,
}

/// Hidden size of a slot's layer (the slot was validated).
fn slot_hidden(desc: &ModelDesc, s: &StateSlot) -> usize {
    match desc.layers.get(usize::from(s.layer)) {
        Some(LayerDesc::Recurrent(r)) => r.hidden_size,
        _ => 0,
    }
}

/// The role in words, for messages.
fn role_text(role: &IoRole) -> String {
    let slots = |slots: &[StateSlot]| {
        let parts: Vec<String> = slots.iter().map(|s| format!("layer {} dir {}", s.layer, s.dir)).collect();
        parts.join(", ")
    };
    let kind = |k: &StateKind| if *k == StateKind::C { "c" } else { "h" };
    match role {
        IoRole::Sequence(l) => format!("the input sequence, {l:?}"),
        IoRole::SequenceLens => "sequence_lens".into(),
        IoRole::InitialState { kind: k, slots: s, layout } => {
            format!("initial {} of {} ({layout:?})", kind(k), slots(s))
        }
        IoRole::Output(l) => format!("the output sequence, {l:?}"),
        IoRole::FinalState { kind: k, slots: s, layout } => {
            format!("final {} of {} ({layout:?})", kind(k), slots(s))
        }
        IoRole::FinalOutput(l) => format!("the head on the final state, {l:?}"),
    }
}

/// Index of `(t, b)`'s frame in a sequence tensor of `[.., .., width]` frames.
fn frame_index(layout: SeqLayout, t: usize, b: usize, tn: usize, bn: usize) -> usize {
    match layout {
        SeqLayout::TimeBatchFeature | SeqLayout::OnnxY | SeqLayout::TimeBatchFlat => t * bn + b,
        SeqLayout::BatchTimeFeature | SeqLayout::OnnxYBatchFirst | SeqLayout::BatchTimeFlat => b * tn + t,
        SeqLayout::TimeFeature => t,
    }
}

/// Index of `(slot, b)`'s vector in a state tensor.
fn state_index(layout: StateLayout, s: usize, b: usize, sn: usize, bn: usize) -> usize {
    match layout {
        StateLayout::SlotBatchHidden => s * bn + b,
        StateLayout::BatchSlotHidden => b * sn + s,
        StateLayout::BatchHidden => b,
    }
}

/// The shape of a sequence tensor of `f` values per frame (`dirs` x `h` when split as a
/// recurrent `Y`), with the time and batch sizes given as text (`"T"`, `"5"`).
fn seq_shape(l: SeqLayout, t: &str, b: &str, f: usize, dirs: usize, h: usize) -> Vec<String> {
    let n = |v: usize| v.to_string();
    match l {
        SeqLayout::TimeBatchFeature => vec![t.into(), b.into(), n(f)],
        SeqLayout::BatchTimeFeature => vec![b.into(), t.into(), n(f)],
        SeqLayout::TimeFeature => vec![t.into(), n(f)],
        SeqLayout::OnnxY => vec![t.into(), n(dirs), b.into(), n(h)],
        SeqLayout::OnnxYBatchFirst => vec![b.into(), t.into(), n(dirs), n(h)],
        SeqLayout::TimeBatchFlat => vec![format!("{t}*{b}"), n(f)],
        SeqLayout::BatchTimeFlat => vec![format!("{b}*{t}"), n(f)],
    }
}

/// The shape of a state tensor of `sn` slots of `h` values.
fn state_shape(l: StateLayout, sn: usize, b: usize, h: usize) -> Vec<usize> {
    match l {
        StateLayout::SlotBatchHidden => vec![sn, b, h],
        StateLayout::BatchSlotHidden => vec![b, sn, h],
        StateLayout::BatchHidden => vec![b, h],
    }
}

/// Where the initial states of one binding (a graph input or a constant) come from.
struct StateSource<'a> {
    kind: StateKind,
    slots: &'a [StateSlot],
    layout: StateLayout,
    values: &'a [f32],
}

impl<'m> Graph<'m> {
    /// The model behind the interface recorded in its file (or [`default_interface`] when
    /// it has none).
    pub fn new(model: &'m Model) -> Result<Graph<'m>, GraphError> {
        let iface = if model.interface().inputs.is_empty() && model.interface().outputs.is_empty() {
            default_interface(model.desc())
        } else {
            model.interface().clone()
        };
        Self::with_interface(model, iface)
    }

    /// The model behind an explicit interface (an importer's, before the model is saved).
    pub fn with_interface(model: &'m Model, iface: GraphInterface) -> Result<Graph<'m>, GraphError> {
        let desc = model.desc();
        let bad = |s: String| Err(GraphError::BadInterface(s));
        // The rules of the file format (roles, layouts, slots, constants); then what the
        // graph itself needs.
        if let Err(e) = recur_format::file::check_interface(&iface, desc) {
            return bad(e.to_string());
        }
        let last_rec = desc.layers.iter().rposition(|l| matches!(l, LayerDesc::Recurrent(_)));
        let final_head = iface.head_on_final_state();
        // The layer whose frames `Output` gives.
        let frame_layer = match (final_head, last_rec) {
            (true, Some(r)) => r,
            (true, None) => {
                return bad("the interface has a head on the final state but the model no recurrent layer".into())
            }
            (false, _) => desc.layers.len() - 1,
        };
        let mut seq = None;
        for (list, is_out) in [(&iface.inputs, false), (&iface.outputs, true)] {
            for (i, b) in list.iter().enumerate() {
                if list[..i].iter().any(|o| o.name == b.name) {
                    return bad(format!(
                        "two graph {} are named '{}'",
                        if is_out { "outputs" } else { "inputs" },
                        b.name
                    ));
                }
                match &b.role {
                    IoRole::Sequence(_) => {
                        if let Some(prev) = seq.replace(i) {
                            return bad(format!("two sequence inputs, '{}' and '{}'", iface.inputs[prev].name, b.name));
                        }
                    }
                    IoRole::Output(l) => {
                        if matches!(l, SeqLayout::OnnxY | SeqLayout::OnnxYBatchFirst)
                            && !matches!(desc.layers[frame_layer], LayerDesc::Recurrent(_))
                        {
                            return bad(format!(
                                "output '{}' has a recurrent node's Y layout but its frames come from a dense layer",
                                b.name
                            ));
                        }
                    }
                    IoRole::InitialState { slots, .. } | IoRole::FinalState { slots, .. } => {
                        if slots.iter().any(|s| slot_hidden(desc, s) != slot_hidden(desc, &slots[0])) {
                            return bad(format!("'{}' stacks slots of different hidden sizes", b.name));
                        }
                    }
                    IoRole::SequenceLens | IoRole::FinalOutput(_) => {}
                }
            }
        }
        let Some(seq) = seq else {
            return bad("no input is the sequence fed to the first layer".into());
        };
        let (body, head) = match (final_head, last_rec) {
            (true, Some(r)) => (
                model.layer_range(0..r + 1).ok_or_else(|| GraphError::BadInterface("no recurrent layers".into()))?,
                model.layer_range(r + 1..desc.layers.len()),
            ),
            _ => (model.clone(), None),
        };
        Ok(Graph { model, iface, seq, body, head, last_rec, tail: Default::default() })
    }

    /// The interface in use.
    pub fn interface(&self) -> &GraphInterface {
        &self.iface
    }

    /// The model.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The shape an input takes, with `T` and `B` for the free time and batch sizes
    /// (`"[T, B, 40]"`, `"[2, B, 64]"`, `"[B]"`), or `None` for an unknown name.
    pub fn input_shape_text(&self, name: &str) -> Option<String> {
        let b = self.iface.inputs.iter().find(|b| b.name == name)?;
        Some(self.expected_shape(&b.role, None, None))
    }

    /// `(dirs, h)` of the layer whose frames `Output` gives, when it is recurrent (else
    /// `(1, width)`), and that width.
    fn frame_split(&self) -> (usize, usize, usize) {
        let o = self.body.output_size();
        match self.body.desc().layers.last() {
            Some(LayerDesc::Recurrent(r)) => (r.direction.count(), r.hidden_size, o),
            _ => (1, o, o),
        }
    }

    /// The shape of `role`'s tensor, with `T` and `B` spelled out when not yet known.
    fn expected_shape(&self, role: &IoRole, t: Option<usize>, b: Option<usize>) -> String {
        let desc = self.model.desc();
        let t = t.map_or("T".to_string(), |v| v.to_string());
        let b = b.map_or(self.iface.fixed_batch().map_or("B".to_string(), |v| v.to_string()), |v| v.to_string());
        let n = |v: usize| v.to_string();
        let parts: Vec<String> = match role {
            IoRole::Sequence(l) => seq_shape(*l, &t, &b, desc.input_size(), 1, desc.input_size()),
            IoRole::Output(l) => {
                let (dirs, h, o) = self.frame_split();
                seq_shape(*l, &t, &b, o, dirs, h)
            }
            IoRole::SequenceLens => vec![b],
            IoRole::InitialState { slots, layout, .. } | IoRole::FinalState { slots, layout, .. } => {
                let h = n(slot_hidden(desc, &slots[0]));
                match layout {
                    StateLayout::SlotBatchHidden => vec![n(slots.len()), b, h],
                    StateLayout::BatchSlotHidden => vec![b, n(slots.len()), h],
                    StateLayout::BatchHidden => vec![b, h],
                }
            }
            IoRole::FinalOutput(FinalLayout::BatchFeature) => vec![b, n(desc.output_size())],
            IoRole::FinalOutput(FinalLayout::Feature) => vec![n(desc.output_size())],
        };
        format!("[{}]", parts.join(", "))
    }

    /// Runs the graph on named inputs (every graph input, any order) and returns every
    /// graph output, in graph order, with the ONNX graph's shapes.
    pub fn run(&self, inputs: &[(&str, &Tensor)]) -> Result<Vec<(String, Tensor)>, GraphError> {
        let desc = self.model.desc();
        // Match names to bindings.
        let mut given: Vec<Option<&Tensor>> = vec![None; self.iface.inputs.len()];
        for (name, t) in inputs {
            let Some(i) = self.iface.inputs.iter().position(|b| b.name == *name) else {
                let known: Vec<String> = self.iface.inputs.iter().map(|b| format!("'{}'", b.name)).collect();
                return Err(GraphError::UnknownInput { name: (*name).into(), known: known.join(", ") });
            };
            if given[i].replace(t).is_some() {
                return Err(GraphError::DuplicateInput((*name).into()));
            }
        }
        let mut tensors = Vec::with_capacity(given.len());
        for (b, t) in self.iface.inputs.iter().zip(&given) {
            let Some(t) = t else {
                return Err(GraphError::MissingInput { name: b.name.clone(), what: role_text(&b.role) });
            };
            let expected = t.shape_elems();
            if expected != Some(t.data.len()) {
                return Err(GraphError::DataLength {
                    name: b.name.clone(),
                    shape: shape_text(&t.shape),
                    expected: expected.map_or("more than usize::MAX".into(), |e| e.to_string()),
                    got: t.data.len(),
                });
            }
            tensors.push(*t);
        }

        // The sequence input fixes T and B.
        let seq_b = &self.iface.inputs[self.seq];
        let x = tensors[self.seq];
        let IoRole::Sequence(x_layout) = seq_b.role else { unreachable!("checked in with_interface") };
        let f = desc.input_size();
        let shape_err = |b: &IoBinding, expected: String, t: &Tensor| GraphError::Shape {
            name: b.name.clone(),
            expected,
            got: shape_text(&t.shape),
        };
        let xs = x.as_f32().ok_or(GraphError::DType {
            name: seq_b.name.clone(),
            expected: "float32",
            got: x.data.dtype_name(),
        })?;
        let (tn, bn) = match (x_layout, x.shape.as_slice()) {
            (SeqLayout::TimeBatchFeature, &[t, b, ff]) if ff == f => (t, b),
            (SeqLayout::BatchTimeFeature, &[b, t, ff]) if ff == f => (t, b),
            (SeqLayout::TimeFeature, &[t, ff]) if ff == f => (t, 1),
            _ => return Err(shape_err(seq_b, self.expected_shape(&seq_b.role, None, None), x)),
        };
        // A layout without a batch axis holds one sequence.
        let single = |l: &IoRole| {
            matches!(
                l,
                IoRole::Output(SeqLayout::TimeFeature)
                    | IoRole::Sequence(SeqLayout::TimeFeature)
                    | IoRole::FinalOutput(FinalLayout::Feature)
            )
        };
        if bn != 1 {
            if let Some(o) = self.iface.outputs.iter().find(|o| single(&o.role)) {
                return Err(GraphError::BadValue {
                    name: seq_b.name.clone(),
                    what: format!(
                        "batch is {bn}, but output '{}' has no batch axis ({}), so the batch must be 1",
                        o.name,
                        self.expected_shape(&o.role, None, None)
                    ),
                });
            }
        }
        // Constants fix the batch.
        if let Some(c) = self.iface.constants.first() {
            let fixed = c.batch().unwrap_or(0) as usize;
            if bn != fixed {
                return Err(GraphError::BadValue {
                    name: seq_b.name.clone(),
                    what: format!(
                        "batch is {bn}, but the model fixes it to {fixed} (constant '{}', {})",
                        c.name,
                        role_text(&c.role)
                    ),
                });
            }
        }

        // Check every other input against T and B.
        let mut lens = vec![tn; bn];
        let check_len = |name: &str, k: usize, v: i64| {
            if v < 0 || v as u64 > tn as u64 {
                return Err(GraphError::BadValue {
                    name: name.into(),
                    what: format!("element {k} is {v}, must be in 0..={tn} (the sequence length)"),
                });
            }
            Ok(v as usize)
        };
        let mut states: Vec<StateSource<'_>> = Vec::new();
        for (i, (b, t)) in self.iface.inputs.iter().zip(&tensors).enumerate() {
            if i == self.seq {
                continue;
            }
            let expected = self.expected_shape(&b.role, Some(tn), Some(bn));
            let want_shape: Vec<usize> = match &b.role {
                IoRole::SequenceLens => vec![bn],
                IoRole::InitialState { slots, layout, .. } => {
                    state_shape(*layout, slots.len(), bn, slot_hidden(desc, &slots[0]))
                }
                _ => unreachable!("input roles checked in with_interface"),
            };
            if t.shape != want_shape {
                return Err(shape_err(b, expected, t));
            }
            match (&b.role, &t.data) {
                (IoRole::SequenceLens, TensorData::I32(v)) => {
                    for (k, (&v, l)) in v.iter().zip(lens.iter_mut()).enumerate() {
                        *l = check_len(&b.name, k, i64::from(v))?;
                    }
                }
                (IoRole::SequenceLens, TensorData::I64(v)) => {
                    for (k, (&v, l)) in v.iter().zip(lens.iter_mut()).enumerate() {
                        *l = check_len(&b.name, k, v)?;
                    }
                }
                (IoRole::SequenceLens, d) => {
                    return Err(GraphError::DType {
                        name: b.name.clone(),
                        expected: "int32 or int64",
                        got: d.dtype_name(),
                    })
                }
                (IoRole::InitialState { kind, slots, layout }, TensorData::F32(v)) => {
                    states.push(StateSource { kind: *kind, slots, layout: *layout, values: v })
                }
                (_, d) => {
                    return Err(GraphError::DType { name: b.name.clone(), expected: "float32", got: d.dtype_name() })
                }
            }
        }
        // Constants (shapes checked with the interface, batch above).
        for c in &self.iface.constants {
            match (&c.role, &c.values) {
                (IoRole::SequenceLens, ConstValues::Lengths(v)) => {
                    for (k, (&v, l)) in v.iter().zip(lens.iter_mut()).enumerate() {
                        if v as usize > tn {
                            return Err(GraphError::BadValue {
                                name: seq_b.name.clone(),
                                what: format!(
                                    "has {tn} frames, but the model's constant sequence_lens '{}' has {v} in \
                                     element {k}",
                                    c.name
                                ),
                            });
                        }
                        *l = v as usize;
                    }
                }
                (IoRole::InitialState { kind, slots, layout }, ConstValues::F32(v)) => {
                    states.push(StateSource { kind: *kind, slots, layout: *layout, values: v })
                }
                _ => unreachable!("constants checked in with_interface"),
            }
        }

        // What the per-frame output is past a sequence's length.
        let (dirs, h_frame, o) = self.frame_split();
        let pad: Option<&[f32]> = if lens.iter().any(|&l| l < tn) {
            if self.tail.get().is_none() {
                let v = self.zero_tail()?;
                let _ = self.tail.set(v);
            }
            self.tail.get().and_then(|v| v.as_deref())
        } else {
            None
        };

        // Allocate outputs.
        let head_o = desc.output_size();
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.iface.outputs.len());
        let mut out_shapes: Vec<Vec<usize>> = Vec::with_capacity(self.iface.outputs.len());
        for b in &self.iface.outputs {
            let shape: Vec<usize> = match &b.role {
                IoRole::Output(l) => match l {
                    SeqLayout::TimeBatchFeature => vec![tn, bn, o],
                    SeqLayout::BatchTimeFeature => vec![bn, tn, o],
                    SeqLayout::TimeFeature => vec![tn, o],
                    SeqLayout::OnnxY => vec![tn, dirs, bn, h_frame],
                    SeqLayout::OnnxYBatchFirst => vec![bn, tn, dirs, h_frame],
                    SeqLayout::TimeBatchFlat | SeqLayout::BatchTimeFlat => vec![tn * bn, o],
                },
                IoRole::FinalState { slots, layout, .. } => {
                    state_shape(*layout, slots.len(), bn, slot_hidden(desc, &slots[0]))
                }
                IoRole::FinalOutput(FinalLayout::BatchFeature) => vec![bn, head_o],
                IoRole::FinalOutput(FinalLayout::Feature) => vec![head_o],
                _ => unreachable!("output roles checked in with_interface"),
            };
            let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| GraphError::BadValue {
                name: seq_b.name.clone(),
                what: format!("output '{}' would have more than usize::MAX elements", b.name),
            })?;
            outs.push(vec![0.0; n]);
            out_shapes.push(shape);
        }

        // One independent stream per batch element; the body runs every frame, the head
        // (if on the final state) once per sequence.
        let body = &self.body;
        let mut state: State = body.new_state();
        let mut head_state = self.head.as_ref().map(Model::new_state);
        let mut final_in: Vec<f32> = Vec::new();
        let mut final_out = vec![0.0f32; head_o];
        let mut frames: Vec<f32> = Vec::new();
        let mut ys: Vec<f32> = Vec::new();
        for (bi, &len) in lens.iter().enumerate() {
            state.reset();
            for src in &states {
                let h = slot_hidden(desc, &src.slots[0]);
                for (si, s) in src.slots.iter().enumerate() {
                    let at = state_index(src.layout, si, bi, src.slots.len(), bn) * h;
                    body.set_state(
                        &mut state,
                        usize::from(s.layer),
                        usize::from(s.dir),
                        src.kind == StateKind::C,
                        &src.values[at..at + h],
                    )?;
                }
            }
            frames.clear();
            for t in 0..len {
                let at = frame_index(x_layout, t, bi, tn, bn) * f;
                frames.extend_from_slice(&xs[at..at + f]);
            }
            ys.clear();
            ys.resize(len * o, 0.0);
            if len > 0 {
                body.run(&mut state, &frames, &mut ys)?;
            } else {
                // onnxruntime's final states of a zero-length sequence are zero, whatever
                // the initial state.
                state.reset();
            }
            let mut head_done = false;
            for ((b, out), shape) in self.iface.outputs.iter().zip(&mut outs).zip(&out_shapes) {
                match &b.role {
                    IoRole::Output(l) => {
                        for t in 0..tn {
                            let y: &[f32] = if t < len {
                                &ys[t * o..(t + 1) * o]
                            } else {
                                match pad {
                                    Some(p) => p,
                                    None => continue, // zeros already
                                }
                            };
                            if *l == SeqLayout::OnnxY {
                                // [T, dirs, B, H]: the frame's directions are apart.
                                let (dirs, h) = (shape[1], shape[3]);
                                for d in 0..dirs {
                                    let at = ((t * dirs + d) * bn + bi) * h;
                                    out[at..at + h].copy_from_slice(&y[d * h..(d + 1) * h]);
                                }
                            } else {
                                // Every other layout keeps a frame's values together.
                                let at = frame_index(*l, t, bi, tn, bn) * o;
                                out[at..at + o].copy_from_slice(y);
                            }
                        }
                    }
                    IoRole::FinalState { kind, slots, layout } => {
                        let h = slot_hidden(desc, &slots[0]);
                        for (si, s) in slots.iter().enumerate() {
                            let v = body.get_state(
                                &state,
                                usize::from(s.layer),
                                usize::from(s.dir),
                                *kind == StateKind::C,
                            )?;
                            let at = state_index(*layout, si, bi, slots.len(), bn) * h;
                            out[at..at + h].copy_from_slice(&v);
                        }
                    }
                    IoRole::FinalOutput(_) => {
                        if !head_done {
                            self.run_head(&state, head_state.as_mut(), &mut final_in, &mut final_out)?;
                            head_done = true;
                        }
                        out[bi * head_o..(bi + 1) * head_o].copy_from_slice(&final_out);
                    }
                    _ => {}
                }
            }
        }
        Ok(self
            .iface
            .outputs
            .iter()
            .zip(outs)
            .zip(out_shapes)
            .map(|((b, data), shape)| (b.name.clone(), Tensor::f32(shape, data)))
            .collect())
    }

    /// The head on the final state: the final `h` of the last recurrent layer, directions
    /// concatenated forward first, through the head's dense layers (if any) into `out`.
    fn run_head(
        &self,
        state: &State,
        head_state: Option<&mut State>,
        input: &mut Vec<f32>,
        out: &mut [f32],
    ) -> Result<(), GraphError> {
        let last = self.last_rec.ok_or_else(|| GraphError::BadInterface("no recurrent layer".into()))?;
        let dirs = match self.body.desc().layers.get(last) {
            Some(LayerDesc::Recurrent(r)) => r.direction.count(),
            _ => 0,
        };
        input.clear();
        for d in 0..dirs {
            input.extend_from_slice(&self.body.get_state(state, last, d, false)?);
        }
        match (&self.head, head_state) {
            (Some(head), Some(hs)) => head.step(hs, input, out)?,
            _ => out.copy_from_slice(input),
        }
        Ok(())
    }

    /// What the per-frame output is for a frame on which the last recurrent layer
    /// outputs zero (a frame past a sequence's length): the dense layers after it applied
    /// to a zero vector, by the model's own kernels, or `None` (zeros) when the frames
    /// come from a recurrent layer.
    fn zero_tail(&self) -> Result<Option<Vec<f32>>, Error> {
        let n = self.body.desc().layers.len();
        let Some(last_rec) = self.last_rec else {
            // No recurrent layer, so no sequence length applies (the importer refuses such models).
            return Ok(None);
        };
        let Some(tail) = self.body.layer_range(last_rec + 1..n) else { return Ok(None) };
        let mut st = tail.new_state();
        let mut y = vec![0.0; tail.output_size()];
        tail.step(&mut st, &vec![0.0; tail.input_size()], &mut y)?;
        Ok(Some(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_format::{
        CellKind, ConstInput, DType, DenseAct, DenseDesc, Direction, LayerWeights, PackedModel, RecurrentDesc,
    };

    /// Deterministic values in [-0.5, 0.5].
    fn vals(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// LSTM (in 3, hidden 4, `dir`) followed by a dense layer 4·dirs -> 2 with a bias.
    fn model(dir: Direction, dense: bool) -> Model {
        let mut r = RecurrentDesc::new(CellKind::Lstm, 3, 4);
        r.direction = dir;
        let d = dir.count();
        let mut layers = vec![LayerDesc::Recurrent(r)];
        let mut weights = vec![LayerWeights::Recurrent {
            w: vals(d * 16 * 3, 1),
            r: vals(d * 16 * 4, 2),
            b: Some(vals(d * 32, 3)),
            p: None,
        }];
        if dense {
            layers.push(LayerDesc::Dense(DenseDesc {
                input_size: 4 * d,
                output_size: 2,
                activation: DenseAct::None,
                dtype: DType::F32,
            }));
            weights.push(LayerWeights::Dense { w: vals(2 * 4 * d, 4), b: Some(vec![0.25, -0.75]) });
        }
        Model::from_packed(&PackedModel::pack(ModelDesc { layers }, &weights).unwrap()).unwrap()
    }

    fn slots(d: usize) -> Vec<StateSlot> {
        (0..d).map(|dir| StateSlot { layer: 0, dir: dir as u8 }).collect()
    }

    fn binding(name: &str, role: IoRole) -> IoBinding {
        IoBinding { name: name.into(), role, dims: Vec::new() }
    }

    /// X [B, T, 3] batch-first, lens, h0 [B, S, 4]; Y [T, dirs, B, 4] or the dense output
    /// [B, T, 2]; Y_h [S, B, 4].
    fn iface(d: usize, dense: bool) -> GraphInterface {
        GraphInterface {
            inputs: vec![
                binding("X", IoRole::Sequence(SeqLayout::BatchTimeFeature)),
                binding("lens", IoRole::SequenceLens),
                binding(
                    "h0",
                    IoRole::InitialState { kind: StateKind::H, slots: slots(d), layout: StateLayout::BatchSlotHidden },
                ),
            ],
            outputs: vec![
                binding("Y", IoRole::Output(if dense { SeqLayout::BatchTimeFeature } else { SeqLayout::OnnxY })),
                binding(
                    "Y_h",
                    IoRole::FinalState { kind: StateKind::H, slots: slots(d), layout: StateLayout::SlotBatchHidden },
                ),
            ],
            constants: vec![],
        }
    }

    /// What one sequence gives when run alone: outputs per frame and the final h per slot.
    fn alone(m: &Model, x: &[f32], h0: &[Vec<f32>]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut s = m.new_state();
        for (dir, h) in h0.iter().enumerate() {
            m.set_state(&mut s, 0, dir, false, h).unwrap();
        }
        let mut y = vec![0.0; x.len() / 3 * m.output_size()];
        m.run(&mut s, x, &mut y).unwrap();
        let hs = (0..h0.len()).map(|dir| m.get_state(&s, 0, dir, false).unwrap()).collect();
        (y, hs)
    }

    /// Runs `f` on a thread with a large stack: in debug builds the engine's fully inlined
    /// `run` entry points take more than the test harness's 2 MiB threads allow.
    fn big_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new().stack_size(32 << 20).spawn(f).unwrap().join().unwrap();
    }

    #[test]
    fn batches_lengths_and_layouts_match_single_sequences() {
        big_stack(batches_lengths_and_layouts);
    }

    fn batches_lengths_and_layouts() {
        for dir in [Direction::Forward, Direction::Reverse, Direction::Bidirectional] {
            for dense in [false, true] {
                let m = model(dir, dense);
                let d = dir.count();
                let g = Graph::with_interface(&m, iface(d, dense)).unwrap();
                let (bn, tn) = (3usize, 5usize);
                let lens = [5i64, 2, 0];
                let x = vals(bn * tn * 3, 7);
                let h0 = vals(bn * d * 4, 8);
                let out = g
                    .run(&[
                        ("X", &Tensor::f32(vec![bn, tn, 3], x.clone())),
                        ("lens", &Tensor::i64(vec![bn], lens.to_vec())),
                        ("h0", &Tensor::f32(vec![bn, d, 4], h0.clone())),
                    ])
                    .unwrap();
                let (y, yh) = (&out[0].1, &out[1].1);
                let o = m.output_size();
                // Past a sequence's length: zero, or the dense layer applied to zero (its bias).
                let pad: Vec<f32> = if dense { vec![0.25, -0.75] } else { vec![0.0; o] };
                for b in 0..bn {
                    let len = lens[b] as usize;
                    let h0b: Vec<Vec<f32>> = (0..d).map(|s| h0[(b * d + s) * 4..][..4].to_vec()).collect();
                    let (ya, ha) = alone(&m, &x[b * tn * 3..][..len * 3], &h0b);
                    for t in 0..tn {
                        let want = if t < len { &ya[t * o..(t + 1) * o] } else { &pad[..] };
                        let got: Vec<f32> = if dense {
                            y.as_f32().unwrap()[(b * tn + t) * o..][..o].to_vec()
                        } else {
                            assert_eq!(y.shape, [tn, d, bn, 4]);
                            (0..d)
                                .flat_map(|s| y.as_f32().unwrap()[((t * d + s) * bn + b) * 4..][..4].to_vec())
                                .collect()
                        };
                        assert_eq!(got, want, "{dir:?} dense={dense} b={b} t={t}");
                    }
                    for (s, h) in ha.iter().enumerate() {
                        // A zero-length sequence's final state is zero (onnxruntime's).
                        let zero = vec![0.0; 4];
                        let want = if len == 0 { &zero } else { h };
                        assert_eq!(&yh.as_f32().unwrap()[(s * bn + b) * 4..][..4], &want[..], "{dir:?} b={b}");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_named_with_both_shapes() {
        big_stack(bad_inputs);
    }

    fn bad_inputs() {
        let m = model(Direction::Bidirectional, false);
        let g = Graph::with_interface(&m, iface(2, false)).unwrap();
        let x = Tensor::f32(vec![2, 5, 3], vec![0.0; 30]);
        let lens = Tensor::i32(vec![2], vec![5, 5]);
        let h0 = Tensor::f32(vec![2, 2, 4], vec![0.0; 16]);
        let err = |inputs: &[(&str, &Tensor)]| g.run(inputs).unwrap_err().to_string();
        let bad_x = Tensor::f32(vec![2, 5, 4], vec![0.0; 40]);
        assert_eq!(err(&[("X", &bad_x), ("lens", &lens), ("h0", &h0)]), "input 'X': expected [B, T, 3], got [2, 5, 4]");
        let bad_h = Tensor::f32(vec![2, 1, 4], vec![0.0; 8]);
        assert_eq!(err(&[("X", &x), ("lens", &lens), ("h0", &bad_h)]), "input 'h0': expected [2, 2, 4], got [2, 1, 4]");
        let long = Tensor::i32(vec![2], vec![5, 6]);
        assert_eq!(
            err(&[("X", &x), ("lens", &long), ("h0", &h0)]),
            "input 'lens': element 1 is 6, must be in 0..=5 (the sequence length)"
        );
        let float_lens = Tensor::f32(vec![2], vec![5.0, 5.0]);
        assert_eq!(
            err(&[("X", &x), ("lens", &float_lens), ("h0", &h0)]),
            "input 'lens': expected int32 or int64, got float32"
        );
        assert_eq!(err(&[("X", &x), ("h0", &h0)]), "missing input 'lens' (sequence_lens)");
        assert!(err(&[("X", &x), ("lens", &lens), ("h0", &h0), ("Z", &h0)]).starts_with("unknown input 'Z'"));
        assert_eq!(err(&[("X", &x), ("X", &x)]), "input 'X' is given twice");
        let short = Tensor::f32(vec![2, 5, 3], vec![0.0; 29]);
        assert_eq!(
            err(&[("X", &short), ("lens", &lens), ("h0", &h0)]),
            "input 'X': shape [2, 5, 3] holds 30 values but the tensor has 29"
        );
    }

    #[test]
    fn interfaces_that_do_not_fit_the_model_are_refused() {
        let m = model(Direction::Forward, false);
        let mut i = iface(1, false);
        i.inputs[2].role =
            IoRole::InitialState { kind: StateKind::C, slots: slots(2), layout: StateLayout::SlotBatchHidden };
        assert!(matches!(Graph::with_interface(&m, i), Err(GraphError::BadInterface(_))));
        let mut i = iface(1, false);
        i.inputs.remove(0);
        assert!(matches!(Graph::with_interface(&m, i), Err(GraphError::BadInterface(_))));
        // No recorded interface: X [T, B, F] -> Y [T, B, O].
        let g = Graph::new(&m).unwrap();
        let out = g.run(&[("X", &Tensor::f32(vec![0, 2, 3], vec![]))]).unwrap();
        assert_eq!(out[0].1.shape, [0, 2, 4]);
    }

    /// The dense layer of `model(dir, true)` as a model of its own, built from the same
    /// logical weights (independently of the graph's sub-models).
    fn dense_alone(d: usize) -> Model {
        let desc = ModelDesc {
            layers: vec![LayerDesc::Dense(DenseDesc {
                input_size: 4 * d,
                output_size: 2,
                activation: DenseAct::None,
                dtype: DType::F32,
            })],
        };
        let weights = [LayerWeights::Dense { w: vals(2 * 4 * d, 4), b: Some(vec![0.25, -0.75]) }];
        Model::from_packed(&PackedModel::pack(desc, &weights).unwrap()).unwrap()
    }

    #[test]
    fn a_head_on_the_final_state_runs_once_per_sequence() {
        big_stack(head_on_final_state);
    }

    fn head_on_final_state() {
        for dir in [Direction::Forward, Direction::Reverse, Direction::Bidirectional] {
            let m = model(dir, true);
            let d = dir.count();
            let mut i = iface(d, true);
            // Outputs: the head [B, 2], the recurrent frames [T, dirs, B, 4], the final h.
            i.outputs[0] = binding("Y", IoRole::FinalOutput(FinalLayout::BatchFeature));
            i.outputs.push(binding("frames", IoRole::Output(SeqLayout::OnnxY)));
            let g = Graph::with_interface(&m, i).unwrap();
            let (bn, tn) = (3usize, 5usize);
            let lens = [5i64, 2, 0];
            let x = vals(bn * tn * 3, 7);
            let h0 = vals(bn * d * 4, 8);
            let out = g
                .run(&[
                    ("X", &Tensor::f32(vec![bn, tn, 3], x.clone())),
                    ("lens", &Tensor::i64(vec![bn], lens.to_vec())),
                    ("h0", &Tensor::f32(vec![bn, d, 4], h0.clone())),
                ])
                .unwrap();
            let (y, yh, frames) = (&out[0].1, &out[1].1, &out[2].1);
            assert_eq!((&y.shape[..], &frames.shape[..]), (&[bn, 2][..], &[tn, d, bn, 4][..]));
            let head = dense_alone(d);
            let mut hs = head.new_state();
            for b in 0..bn {
                // The final h (checked against the engine by the test above), directions
                // concatenated, through the dense layer alone.
                let fin: Vec<f32> =
                    (0..d).flat_map(|s| yh.as_f32().unwrap()[(s * bn + b) * 4..][..4].to_vec()).collect();
                let mut want = vec![0.0; 2];
                head.step(&mut hs, &fin, &mut want).unwrap();
                assert_eq!(&y.as_f32().unwrap()[b * 2..][..2], &want[..], "{dir:?} b={b}");
                if dir == Direction::Forward && lens[b] > 0 {
                    // Forward: the whole chain's output at the last valid frame.
                    let (ya, _) = alone(&m, &x[b * tn * 3..][..lens[b] as usize * 3], &[h0[b * 4..][..4].to_vec()]);
                    assert_eq!(&ya[(lens[b] as usize - 1) * 2..][..2], &want[..]);
                }
                // Frames past the length are zero (the head does not run per frame).
                for t in lens[b] as usize..tn {
                    assert!((0..d).all(|s| frames.as_f32().unwrap()[((t * d + s) * bn + b) * 4..][..4]
                        .iter()
                        .all(|&v| v == 0.0)));
                }
            }
            // Without a batch axis, the batch must be 1.
            let mut i = iface(d, true);
            i.outputs[0] = binding("Y", IoRole::FinalOutput(FinalLayout::Feature));
            let g = Graph::with_interface(&m, i).unwrap();
            let err = g
                .run(&[
                    ("X", &Tensor::f32(vec![2, 1, 3], vec![0.0; 6])),
                    ("lens", &Tensor::i64(vec![2], vec![1, 1])),
                    ("h0", &Tensor::f32(vec![2, d, 4], vec![0.0; 8 * d])),
                ])
                .unwrap_err();
            assert!(err.to_string().contains("has no batch axis ([2])"), "{err}");
        }
    }

    #[test]
    fn constants_act_like_the_inputs_they_replace() {
        big_stack(constants);
    }

    fn constants() {
        let m = model(Direction::Bidirectional, false);
        let (bn, tn) = (3usize, 4usize);
        let lens = vec![4u32, 1, 0];
        let x = Tensor::f32(vec![bn, tn, 3], vals(bn * tn * 3, 11));
        let h0 = vals(bn * 2 * 4, 12);
        let by_input = Graph::with_interface(&m, iface(2, false))
            .unwrap()
            .run(&[
                ("X", &x),
                ("lens", &Tensor::i64(vec![bn], lens.iter().map(|&v| i64::from(v)).collect())),
                ("h0", &Tensor::f32(vec![bn, 2, 4], h0.clone())),
            ])
            .unwrap();
        let mut i = iface(2, false);
        let h0_role = i.inputs.remove(2).role;
        i.inputs.remove(1);
        i.constants = vec![
            ConstInput {
                name: "lens".into(),
                role: IoRole::SequenceLens,
                shape: vec![bn as u64],
                values: ConstValues::Lengths(lens),
            },
            ConstInput { name: "h0".into(), role: h0_role, shape: vec![bn as u64, 2, 4], values: ConstValues::F32(h0) },
        ];
        let g = Graph::with_interface(&m, i).unwrap();
        assert_eq!(g.run(&[("X", &x)]).unwrap(), by_input);
        assert_eq!(g.input_shape_text("X").unwrap(), "[3, T, 3]");
        // The constants fix the batch and bound T.
        let err = g.run(&[("X", &Tensor::f32(vec![2, tn, 3], vec![0.0; 2 * tn * 3]))]).unwrap_err().to_string();
        assert!(err.contains("batch is 2, but the model fixes it to 3 (constant 'lens'"), "{err}");
        let err = g.run(&[("X", &Tensor::f32(vec![bn, 3, 3], vec![0.0; bn * 9]))]).unwrap_err().to_string();
        assert!(err.contains("has 3 frames, but the model's constant sequence_lens 'lens' has 4"), "{err}");
    }

    #[test]
    fn flattened_frames() {
        big_stack(flattened);
    }

    fn flattened() {
        let m = model(Direction::Forward, true);
        let (bn, tn) = (2usize, 3usize);
        let x = Tensor::f32(vec![bn, tn, 3], vals(bn * tn * 3, 13));
        let lens = Tensor::i64(vec![bn], vec![3, 1]);
        let h0 = Tensor::f32(vec![bn, 1, 4], vals(bn * 4, 14));
        let mut i = iface(1, true);
        i.outputs[0].role = IoRole::Output(SeqLayout::TimeBatchFeature);
        i.outputs.push(binding("tb", IoRole::Output(SeqLayout::TimeBatchFlat)));
        i.outputs.push(binding("bt", IoRole::Output(SeqLayout::BatchTimeFlat)));
        i.outputs.push(binding("btf", IoRole::Output(SeqLayout::BatchTimeFeature)));
        let out = Graph::with_interface(&m, i).unwrap().run(&[("X", &x), ("lens", &lens), ("h0", &h0)]).unwrap();
        assert_eq!(out[2].1.shape, [tn * bn, 2]);
        assert_eq!(out[2].1.data, out[0].1.data);
        assert_eq!(out[3].1.shape, [bn * tn, 2]);
        assert_eq!(out[3].1.data, out[4].1.data);
        // Flattened layouts are for outputs only.
        let mut i = iface(1, true);
        i.inputs[0].role = IoRole::Sequence(SeqLayout::TimeBatchFlat);
        assert!(matches!(Graph::with_interface(&m, i), Err(GraphError::BadInterface(_))));
    }
}
