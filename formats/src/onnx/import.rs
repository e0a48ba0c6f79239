//! Recognition: walks the graph in topological order, folds constants, and maps the
//! run-time dataflow onto recur's chain of layers and onto a [`GraphInterface`].
//!
//! The walk keeps one [`Val`] per value. Recurrent nodes, `MatMul`/`Gemm` (+ bias) and the
//! dense activations extend the chain; glue operators rearrange the axes of run-time
//! values (see [`super::value`]); anything else on the path from the inputs to the
//! outputs is refused with the node's name, operator and reason.

use super::error::OnnxError;
use super::fold::{self, dense, ints, perm_of, resolve_reshape, sints, slice_spec};
use super::graph::{Def, Graph, Node, VId};
use super::proto::ValueInfoProto;
use super::tensor::{self, Data, ElemType, ExternalData, SInt, Tensor};
use super::value::{group_size, shape_text, Atom, DynKind, DynVal, Group, Label, RegroupError, Val};
use crate::desc::{
    ActKind, Activation, CellKind, DType, DenseAct, DenseDesc, Direction, LayerDesc, ModelDesc, RecurrentDesc,
};
use crate::interface::{
    ConstInput, ConstValues, Dim, FinalLayout, GraphInterface, IoBinding, IoRole, SeqLayout, StateKind, StateLayout,
    StateSlot,
};
use crate::layout::{LayerWeights, PackedModel};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::collections::HashMap;

type R<T> = Result<T, OnnxError>;

/// Oldest default-domain opset accepted (the recurrent operators' version 7).
pub(crate) const MIN_OPSET: i64 = 7;
/// Newest default-domain opset accepted: the glue operators' semantics are unchanged up to
/// here (later versions only add element types).
pub(crate) const MAX_OPSET: i64 = 25;

/// The role an axis of the sequence input plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Time,
    Batch,
    Feature,
}

/// How a graph input is used.
#[derive(Clone, Debug)]
enum InputUse {
    Unused,
    Seq,
    SeqLens,
    State(StateUse),
}

#[derive(Clone, Debug)]
struct StateUse {
    kind: StateKind,
    /// The input's slot axis (`None`: the input has none; it holds one slot).
    slot_axis: Option<usize>,
    batch_axis: usize,
    hid_axis: usize,
    /// Rows of the slot axis and the slots they feed.
    rows: Vec<(usize, usize, Vec<StateSlot>)>,
}

struct Layer {
    desc: LayerDesc,
    weights: LayerWeights,
}

/// Where an initial state goes: its layer and the layer's shape.
struct StateAt {
    layer: usize,
    dirs: usize,
    h: usize,
    /// The node's `layout` attribute (0 or 1).
    layout: usize,
    /// The batch size of X, if fixed.
    batch: Option<usize>,
    /// The value's name (for a constant).
    name: String,
}

/// Result of the recognition pass.
pub(crate) struct Recognised {
    pub model: PackedModel,
    pub interface: GraphInterface,
    pub report: Vec<String>,
}

pub(crate) struct Importer<'m> {
    g: Graph<'m>,
    opset: i64,
    ext: ExternalData,
    vals: Vec<Option<Val>>,
    sym_names: HashMap<String, u32>,
    next_sym: u32,
    layers: Vec<Layer>,
    version: u32,
    uses: Vec<InputUse>,
    seq_input: Option<usize>,
    seq_roles: Vec<Option<Role>>,
    seq_lens: Option<usize>,
    /// Constant `sequence_lens`: the initializer's name and values.
    const_lens: Option<(String, Vec<u32>)>,
    seq_lens_layers: usize,
    recurrent_layers: usize,
    /// Non-zero constant initial states.
    const_states: Vec<ConstInput>,
    /// Index of the first layer of the head on the final state, once a dense operator
    /// reads a final state (the layers before it end with the last recurrent layer).
    head_from: Option<usize>,
    consumers: Vec<Vec<(usize, usize)>>,
    graph_outputs: Vec<bool>,
    pub(crate) report: Vec<String>,
    /// Model-local functions (domain, name), to name them when a node calls one.
    pub(crate) functions: Vec<(String, String)>,
}

fn unsupported(node: &Node<'_>, why: impl Into<String>) -> OnnxError {
    OnnxError::UnsupportedOp { node: Box::new(node.label.clone()), why: why.into() }
}
fn unsupported_input(node: &Node<'_>, slot: &str, why: impl Into<String>) -> OnnxError {
    OnnxError::UnsupportedInput { node: Box::new(node.label.clone()), slot: slot.into(), why: why.into() }
}
fn shape_err(node: &Node<'_>, slot: &str, why: impl Into<String>) -> OnnxError {
    OnnxError::ShapeMismatch { node: Box::new(node.label.clone()), slot: slot.into(), why: why.into() }
}
fn missing(node: &Node<'_>, slot: &str) -> OnnxError {
    OnnxError::MissingInput { node: Box::new(node.label.clone()), slot: slot.into() }
}

/// The outcome of matching one group against what a consumer needs.
enum GroupMatch {
    /// Matches; these sequence-input axes get these roles.
    Yes(Vec<(usize, Role)>),
    /// The right quantity with the wrong size (an invalid model).
    WrongSize(String),
    /// Something else.
    No(String),
}

/// Why a value does not fit what its consumer needs.
enum Misfit {
    /// The right quantity with a size the ONNX operator forbids (an invalid model).
    Invalid(String),
    /// Something recur does not map.
    Unsupported(String),
}

/// What a consumer needs from one axis of a sequence value.
#[derive(Clone, Copy, Debug)]
enum Want {
    Time,
    Batch,
    /// The stage's whole frame vector, of this many values.
    Frame(usize),
    /// The direction axis of a raw `Y`.
    Dir(usize),
    /// The per-direction hidden axis of a raw `Y`.
    Hidden(usize),
    /// Time and batch flattened into one axis, time-major.
    TimeBatch,
    /// Batch and time flattened into one axis, batch-major.
    BatchTime,
}

impl<'m> Importer<'m> {
    pub(crate) fn new(g: Graph<'m>, opset: i64, ext: ExternalData) -> Self {
        let n = g.names.len();
        let ni = g.inputs.len();
        Importer {
            g,
            opset,
            ext,
            vals: alloc::vec![None; n],
            sym_names: HashMap::new(),
            next_sym: 0,
            layers: Vec::new(),
            version: 0,
            uses: alloc::vec![InputUse::Unused; ni],
            seq_input: None,
            seq_roles: Vec::new(),
            seq_lens: None,
            const_lens: None,
            seq_lens_layers: 0,
            recurrent_layers: 0,
            const_states: Vec::new(),
            head_from: None,
            consumers: Vec::new(),
            graph_outputs: Vec::new(),
            report: Vec::new(),
            functions: Vec::new(),
        }
    }

    pub(crate) fn graph_mut(&mut self) -> &mut Graph<'m> {
        &mut self.g
    }

    pub(crate) fn graph(&self) -> &Graph<'m> {
        &self.g
    }

    /// The value of `id` if it is a constant that can be found without running the graph
    /// walk (an initializer, a rewrite constant or a `Constant` node).
    pub(crate) fn static_const(&mut self, id: VId) -> R<Option<Rc<Tensor>>> {
        if let Some(Val::Const(t)) = &self.vals[id] {
            return Ok(Some(t.clone()));
        }
        let t = match self.g.defs[id].clone() {
            Some(Def::Init(tp)) => Rc::new(tensor::decode(tp, &self.g.names[id], &mut self.ext)?),
            Some(Def::Synth(t)) => t,
            Some(Def::Node(n, 0)) if self.g.nodes[n].op() == "Constant" && self.g.nodes[n].domain.is_empty() => {
                let node = self.g.nodes[n].clone();
                match fold::fold(&node, &[], self.opset, &mut self.ext)? {
                    Some(v) => match v.into_iter().next() {
                        Some(Val::Const(t)) => t,
                        _ => return Ok(None),
                    },
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        self.vals[id] = Some(Val::Const(t.clone()));
        Ok(Some(t))
    }

    fn sym(&mut self, name: Option<&str>) -> SInt {
        let id = match name {
            Some(n) if !n.is_empty() => {
                if let Some(&id) = self.sym_names.get(n) {
                    id
                } else {
                    let id = self.next_sym;
                    self.next_sym += 1;
                    self.sym_names.insert(n.into(), id);
                    id
                }
            }
            _ => {
                let id = self.next_sym;
                self.next_sym += 1;
                id
            }
        };
        SInt::sym(id)
    }

    /// Creates the views of the graph inputs.
    fn init_inputs(&mut self, live_inputs: &[bool]) -> R<()> {
        for (i, &live) in live_inputs.iter().enumerate() {
            let gi = self.g.inputs[i].clone();
            if !live {
                continue;
            }
            let name = &gi.info.name;
            let tt = gi.info.r#type.as_ref().and_then(|t| {
                if t.sequence_type.is_some() || t.map_type.is_some() || t.optional_type.is_some() {
                    None
                } else {
                    t.tensor_type.as_ref()
                }
            });
            let Some(tt) = tt else {
                return Err(OnnxError::UnsupportedInterface {
                    what: "input",
                    name: name.clone(),
                    why: "is not declared as a dense tensor".into(),
                });
            };
            let code = tt.elem_type.unwrap_or(0);
            let ty = ElemType::from_code(code).ok_or_else(|| {
                if code == 0 {
                    OnnxError::BadValueInfo { what: "input", name: name.clone(), why: "has no element type".into() }
                } else {
                    OnnxError::UnsupportedType {
                        what: alloc::format!("graph input '{name}'"),
                        dtype: ElemType::code_name(code),
                    }
                }
            })?;
            let Some(shape) = &tt.shape else {
                return Err(OnnxError::UnsupportedInterface {
                    what: "input",
                    name: name.clone(),
                    why: "declares no shape; recur needs to know its rank".into(),
                });
            };
            let mut groups = Vec::with_capacity(shape.dim.len());
            for (ax, d) in shape.dim.iter().enumerate() {
                let size = match (d.dim_value, d.dim_param.as_deref()) {
                    (Some(v), _) if v > 0 => SInt::K(v),
                    (Some(v), _) => {
                        return Err(OnnxError::UnsupportedInterface {
                            what: "input",
                            name: name.clone(),
                            why: alloc::format!("declares dimension {ax} as {v}"),
                        })
                    }
                    (None, p) => self.sym(p),
                };
                groups.push(alloc::vec![Atom { label: Label::In { input: i, axis: ax }, size }]);
            }
            let v = DynVal { kind: DynKind::Input(i), ty, groups, dropped: Vec::new() };
            self.vals[gi.id] = Some(Val::Dyn(Rc::new(v)));
        }
        Ok(())
    }

    fn val(&mut self, id: VId) -> R<Option<Val>> {
        if let Some(v) = &self.vals[id] {
            return Ok(Some(v.clone()));
        }
        Ok(self.static_const(id)?.map(Val::Const))
    }

    /// Runs the walk and builds the result.
    pub(crate) fn run(mut self) -> R<Recognised> {
        // A rewrite may have added values since `new`.
        self.vals.resize(self.g.names.len(), None);
        let order = self.g.topo_order()?;
        let live = self.g.live_nodes();
        let order: Vec<usize> = order.into_iter().filter(|&n| live[n]).collect();
        self.consumers = self.g.consumers(&order);
        self.graph_outputs = alloc::vec![false; self.g.names.len()];
        for (id, _) in &self.g.outputs {
            self.graph_outputs[*id] = true;
        }
        let live_inputs: Vec<bool> =
            self.g.inputs.iter().map(|gi| !self.consumers[gi.id].is_empty() || self.graph_outputs[gi.id]).collect();
        self.init_inputs(&live_inputs)?;
        let dead = self.g.nodes.iter().enumerate().filter(|(i, n)| !n.removed && !live[*i]).count();
        if dead > 0 {
            self.report.push(alloc::format!("{dead} node(s) that no graph output depends on were skipped"));
        }
        for ni in order {
            self.step(ni)?;
        }
        self.finish()
    }

    fn step(&mut self, ni: usize) -> R<()> {
        let node = self.g.nodes[ni].clone();
        if self.functions.iter().any(|(d, n)| *d == node.domain && *n == node.label.op) {
            return Err(unsupported(&node, "calls a model-local function, which recur does not inline"));
        }
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(unsupported(&node, alloc::format!("operators of domain '{}' are not supported", node.domain)));
        }
        for a in node.attrs.iter() {
            if matches!(a.r#type, 5 | 10) {
                return Err(unsupported(&node, "control flow with subgraphs is not supported"));
            }
        }
        let mut ins = Vec::with_capacity(node.inputs.len());
        for (slot, id) in node.inputs.iter().enumerate() {
            match id {
                None => ins.push(None),
                Some(id) => match self.val(*id)? {
                    Some(v) => ins.push(Some(v)),
                    None => {
                        return Err(OnnxError::UndefinedInput {
                            node: Box::new(node.label.clone()),
                            slot: slot.to_string(),
                            name: self.g.names[*id].clone(),
                        })
                    }
                },
            }
        }
        let outs: Vec<Option<Val>> = match node.op() {
            "RNN" | "LSTM" | "GRU" => self.recurrent(&node, &ins)?,
            _ => match fold::fold(&node, &ins, self.opset, &mut self.ext)? {
                Some(v) => v.into_iter().map(Some).collect(),
                None => self.dynamic(&node, &ins)?,
            },
        };
        for (slot, out) in node.outputs.iter().enumerate() {
            if let Some(id) = out {
                match outs.get(slot).cloned().flatten() {
                    Some(v) => self.vals[*id] = Some(v),
                    None => {
                        if !self.consumers[*id].is_empty() || self.graph_outputs[*id] {
                            return Err(unsupported(
                                &node,
                                alloc::format!("output {slot} is used but recur cannot provide it"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- matching

    /// Whether an atom can be ignored inside a group: a size-1 axis that is not time.
    /// (A batch of one merged into the features changes nothing; a time or feature axis of
    /// size one still is one.)
    fn transparent(&self, a: &Atom) -> bool {
        if !a.is_one() {
            return false;
        }
        match &a.label {
            Label::Unit | Label::Dir(1) => true,
            Label::In { input, axis } => {
                let role =
                    if Some(*input) == self.seq_input { self.seq_roles.get(*axis).copied().flatten() } else { None };
                matches!(role, None | Some(Role::Batch))
            }
            _ => false,
        }
    }

    /// The sequence-input axis an atom stands for, with its current role.
    fn seq_axis(&self, a: &Atom, x: usize) -> Option<(usize, Option<Role>)> {
        match a.label {
            Label::In { input, axis } if input == x => {
                let role = if Some(x) == self.seq_input { self.seq_roles.get(axis).copied().flatten() } else { None };
                Some((axis, role))
            }
            _ => None,
        }
    }

    /// The frame atoms of stage `stage` (what a whole frame vector consists of).
    fn frame_ok(&self, stage: usize, g: &Group, sig: &[&Atom], x: usize, n: usize) -> GroupMatch {
        if stage == 0 {
            // A feature axis of size one looks transparent: then look through the group.
            let cand: Option<&Atom> = match sig {
                [a] => Some(a),
                [] => {
                    g.iter().find(|a| self.seq_axis(a, x).is_some_and(|(_, r)| matches!(r, None | Some(Role::Feature))))
                }
                _ => None,
            };
            if let Some(a) = cand {
                if let Some((axis, role)) = self.seq_axis(a, x) {
                    if role.is_some_and(|r| r != Role::Feature) {
                        return GroupMatch::No(alloc::format!("axis {axis} of the input is already used as {role:?}"));
                    }
                    if let Some(k) = a.size.known() {
                        if k as usize != n {
                            return GroupMatch::WrongSize(alloc::format!("has {k} features but {n} are expected"));
                        }
                    }
                    return GroupMatch::Yes(alloc::vec![(axis, Role::Feature)]);
                }
            }
            return GroupMatch::No("is not the feature axis of the input".into());
        }
        let layer = &self.layers[stage - 1].desc;
        let ok = match layer {
            LayerDesc::Recurrent(r) => {
                let h = r.hidden_size;
                match (r.direction.count(), sig) {
                    (1, [a]) => a.label == Label::Hid(h),
                    (2, [a, b]) => a.label == Label::Dir(2) && b.label == Label::Hid(h),
                    _ => false,
                }
            }
            LayerDesc::Dense(d) => matches!(sig, [a] if a.label == Label::Feat(d.output_size)),
        };
        if ok {
            if layer.output_size() != n {
                return GroupMatch::WrongSize(alloc::format!(
                    "has {} features but {n} are expected",
                    layer.output_size()
                ));
            }
            GroupMatch::Yes(Vec::new())
        } else {
            GroupMatch::No(alloc::format!(
                "is not the whole output vector of layer {} ({}); a bidirectional output must be [directions, hidden] \
                 merged in that order",
                stage - 1,
                layer.kind_name()
            ))
        }
    }

    fn match_group(&self, g: &Group, want: Want, stage: usize, x: usize) -> GroupMatch {
        let sig: Vec<&Atom> = g.iter().filter(|a| !self.transparent(a)).collect();
        let time_or_batch = |role: Role| -> GroupMatch {
            let cand = |a: &&Atom| self.seq_axis(a, x).filter(|(_, r)| r.is_none() || *r == Some(role));
            match sig.as_slice() {
                [a] => match cand(a) {
                    Some((axis, _)) => GroupMatch::Yes(alloc::vec![(axis, role)]),
                    None => GroupMatch::No(alloc::format!(
                        "is not the {} axis",
                        if role == Role::Time { "time" } else { "batch" }
                    )),
                },
                [] => match g.iter().find_map(|a| cand(&a)) {
                    Some((axis, _)) => GroupMatch::Yes(alloc::vec![(axis, role)]),
                    // A batch axis of size 1 that was inserted: the batch is implicitly 1.
                    None if role == Role::Batch => GroupMatch::Yes(Vec::new()),
                    None => GroupMatch::No("is not the time axis".into()),
                },
                _ => GroupMatch::No(alloc::format!(
                    "merges several quantities into one axis where the {} axis is expected",
                    if role == Role::Time { "time" } else { "batch" }
                )),
            }
        };
        let flat = |outer: Role, inner: Role| -> GroupMatch {
            let role = |a: &Atom, r: Role| self.seq_axis(a, x).filter(|(_, cur)| cur.is_none() || *cur == Some(r));
            match sig.as_slice() {
                [a, b] => match (role(a, outer), role(b, inner)) {
                    (Some((ao, _)), Some((ai, _))) => GroupMatch::Yes(alloc::vec![(ao, outer), (ai, inner)]),
                    _ => GroupMatch::No(alloc::format!(
                        "is not the {outer:?} and {inner:?} axes flattened in that order"
                    )),
                },
                _ => GroupMatch::No(alloc::format!("is not the {outer:?} and {inner:?} axes flattened in that order")),
            }
        };
        match want {
            Want::Time => time_or_batch(Role::Time),
            Want::Batch => time_or_batch(Role::Batch),
            Want::TimeBatch => flat(Role::Time, Role::Batch),
            Want::BatchTime => flat(Role::Batch, Role::Time),
            Want::Frame(n) => self.frame_ok(stage, g, &sig, x, n),
            Want::Dir(d) => {
                let ok = match sig.as_slice() {
                    [a] => a.label == Label::Dir(d),
                    [] => d == 1 && g.iter().any(|a| a.label == Label::Dir(1)),
                    _ => false,
                };
                if ok {
                    GroupMatch::Yes(Vec::new())
                } else {
                    GroupMatch::No("is not the direction axis".into())
                }
            }
            Want::Hidden(h) => {
                if matches!(sig.as_slice(), [a] if a.label == Label::Hid(h)) {
                    GroupMatch::Yes(Vec::new())
                } else {
                    GroupMatch::No("is not the hidden axis".into())
                }
            }
        }
    }

    /// Matches a sequence value against a list of wanted axes; on success returns the roles
    /// to assign to the sequence input's axes.
    fn match_seq(&self, v: &DynVal, wants: &[Want]) -> Result<(usize, Vec<(usize, Role)>), Misfit> {
        let (stage, x) = match v.kind {
            DynKind::Seq { stage, .. } => (stage, self.seq_input.unwrap_or(usize::MAX)),
            DynKind::Input(i) => (0, i),
            DynKind::Final(_) => return Err(Misfit::Unsupported("is a final state, not a sequence".into())),
            DynKind::Head { .. } => {
                return Err(Misfit::Unsupported(
                    "is the per-sequence output of the head on the final state, not a sequence".into(),
                ))
            }
        };
        if v.groups.len() != wants.len() {
            return Err(Misfit::Invalid(alloc::format!(
                "has rank {} but rank {} is expected",
                v.groups.len(),
                wants.len()
            )));
        }
        let mut roles = Vec::new();
        for (i, (g, w)) in v.groups.iter().zip(wants).enumerate() {
            match self.match_group(g, *w, stage, x) {
                GroupMatch::Yes(r) => roles.extend(r),
                GroupMatch::WrongSize(m) => return Err(Misfit::Invalid(alloc::format!("axis {i} {m}"))),
                GroupMatch::No(m) => return Err(Misfit::Unsupported(alloc::format!("axis {i} {m}"))),
            }
        }
        // One input axis cannot play two roles.
        for (i, a) in roles.iter().enumerate() {
            if roles[..i].iter().any(|b| b.0 == a.0 && b.1 != a.1) {
                return Err(Misfit::Unsupported(alloc::format!(
                    "axis {} of the input would be both {:?} and {:?}",
                    a.0,
                    a.1,
                    roles[i].1
                )));
            }
        }
        Ok((stage, roles))
    }

    /// Claims `x` as the sequence input and assigns roles to its axes.
    fn apply_roles(&mut self, x: usize, roles: &[(usize, Role)], rank: usize) -> Result<(), String> {
        if let Some(s) = self.seq_input {
            if s != x {
                return Err(alloc::format!(
                    "reads graph input '{}' as the model input, but '{}' already is",
                    self.g.inputs[x].info.name,
                    self.g.inputs[s].info.name
                ));
            }
        } else {
            if !matches!(self.uses[x], InputUse::Unused) {
                return Err(alloc::format!(
                    "reads graph input '{}' as the model input, but it is used otherwise",
                    self.g.inputs[x].info.name
                ));
            }
            self.seq_input = Some(x);
            self.uses[x] = InputUse::Seq;
            self.seq_roles = alloc::vec![None; rank];
        }
        for &(axis, role) in roles {
            match self.seq_roles.get(axis).copied().flatten() {
                Some(r) if r != role => {
                    return Err(alloc::format!("axis {axis} of the input is used both as {r:?} and as {role:?}"));
                }
                _ => {
                    if let Some(slot) = self.seq_roles.get_mut(axis) {
                        *slot = Some(role);
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that a sequence value is the current end of the chain and matches `wants`,
    /// assigning input roles. Returns the matched value's groups.
    fn take_seq(&mut self, node: &Node<'_>, slot: &str, v: &Val, wants: &[Want]) -> R<Rc<DynVal>> {
        let d = match v {
            Val::Dyn(d) => d.clone(),
            _ => {
                return Err(unsupported_input(node, slot, "is a constant; recur needs it to come from the model input"))
            }
        };
        match d.kind {
            DynKind::Seq { stage, version } => {
                if stage != self.layers.len() || version != self.version {
                    return Err(self.branch_error(node, slot, stage));
                }
            }
            DynKind::Input(i) => {
                if !self.layers.is_empty() || self.seq_input.is_some_and(|s| s != i) {
                    return Err(unsupported_input(
                        node,
                        slot,
                        alloc::format!(
                            "reads graph input '{}' directly, but the model input already feeds layer 0; only a chain of \
                             layers is supported",
                            self.g.inputs[i].info.name
                        ),
                    ));
                }
            }
            DynKind::Final(_) => {
                return Err(unsupported_input(
                    node,
                    slot,
                    "is a final state of a recurrent layer; recur chains layer outputs only",
                ))
            }
            DynKind::Head { .. } => {
                return Err(unsupported_input(
                    node,
                    slot,
                    "is the per-sequence output of a head on a final state; recur chains per-frame layer outputs only",
                ))
            }
        }
        match self.match_seq(&d, wants) {
            Ok((_, roles)) => {
                let x = match d.kind {
                    DynKind::Input(i) => i,
                    _ => match self.seq_input {
                        Some(x) => x,
                        None => return Err(unsupported_input(node, slot, "has no model input behind it")),
                    },
                };
                let rank = self.g.inputs[x]
                    .info
                    .r#type
                    .as_ref()
                    .and_then(|t| t.tensor_type.as_ref())
                    .and_then(|t| t.shape.as_ref())
                    .map_or(0, |s| s.dim.len());
                self.apply_roles(x, &roles, rank).map_err(|m| unsupported_input(node, slot, m))?;
                Ok(d)
            }
            Err(Misfit::Invalid(m)) => Err(shape_err(node, slot, m)),
            Err(Misfit::Unsupported(m)) => Err(unsupported_input(node, slot, m)),
        }
    }

    fn branch_error(&self, node: &Node<'_>, slot: &str, stage: usize) -> OnnxError {
        let what = if stage == 0 {
            "the model input".to_string()
        } else {
            alloc::format!("the output of layer {}", stage - 1)
        };
        unsupported_input(
            node,
            slot,
            alloc::format!(
                "reads {what} after it was already consumed or modified by a later layer; recur supports a single chain \
                 of layers"
            ),
        )
    }

    // ---------------------------------------------------------------- recurrent nodes

    fn recurrent(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        let op = node.op();
        if let Some(hf) = self.head_from {
            return Err(unsupported(
                node,
                alloc::format!(
                    "follows a head on the final state of layer {}; recur applies a head after the last recurrent \
                     layer only",
                    hf - 1
                ),
            ));
        }
        let cell = match op {
            "RNN" => CellKind::Rnn,
            "LSTM" => CellKind::Lstm,
            _ => CellKind::Gru,
        };
        let mut allowed =
            alloc::vec!["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size"];
        if self.opset >= 14 {
            allowed.push("layout");
        }
        match cell {
            CellKind::Lstm => allowed.push("input_forget"),
            CellKind::Gru => allowed.push("linear_before_reset"),
            CellKind::Rnn => {}
        }
        node.check_attrs(&allowed, self.opset)?;
        let max_in = if cell == CellKind::Lstm { 8 } else { 6 };
        let max_out = if cell == CellKind::Lstm { 3 } else { 2 };
        if node.inputs.len() > max_in || node.outputs.len() > max_out {
            return Err(OnnxError::BadArity {
                node: Box::new(node.label.clone()),
                what: alloc::format!(
                    "has {} inputs and {} outputs; {op} takes at most {max_in} and produces at most {max_out}",
                    node.inputs.len(),
                    node.outputs.len()
                ),
            });
        }
        let get = |i: usize| ins.get(i).cloned().flatten();
        let x = get(0).ok_or_else(|| missing(node, "X"))?;
        let w = get(1).ok_or_else(|| missing(node, "W"))?;
        let r = get(2).ok_or_else(|| missing(node, "R"))?;
        let b = get(3);
        let seq_lens = get(4);
        let init_h = get(5);
        let init_c = if cell == CellKind::Lstm { get(6) } else { None };
        let p = if cell == CellKind::Lstm { get(7) } else { None };

        // Types: T is shared by X, W, R, B, initial_h, initial_c and P.
        let named: Vec<(&str, &Val)> = [
            ("X", Some(&x)),
            ("W", Some(&w)),
            ("R", Some(&r)),
            ("B", b.as_ref()),
            ("initial_h", init_h.as_ref()),
            ("initial_c", init_c.as_ref()),
            ("P", p.as_ref()),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
        for (n, v) in &named {
            if v.ty() != x.ty() {
                return Err(OnnxError::TypeMismatch {
                    node: Box::new(node.label.clone()),
                    why: alloc::format!(
                        "input {n} is {} but X is {}; the operator's inputs must share one element type",
                        v.ty(),
                        x.ty()
                    ),
                });
            }
        }
        if !x.ty().is_float() {
            return Err(OnnxError::TypeMismatch {
                node: Box::new(node.label.clone()),
                why: alloc::format!("input X is {}, not a float type", x.ty()),
            });
        }
        if x.ty() != ElemType::F32 {
            return Err(OnnxError::UnsupportedType {
                what: alloc::format!("{} input X", node.label),
                dtype: x.ty().name().into(),
            });
        }

        // Direction and weights.
        let dir_s = node.a_str("direction")?.unwrap_or_else(|| "forward".into());
        let direction = Direction::parse(&dir_s)
            .ok_or_else(|| node.bad_attr("direction", &dir_s, "is not forward, reverse or bidirectional"))?;
        let dirs = direction.count();
        let gates = cell.gates();
        let w = self.weight(node, "W", &w)?;
        let r = self.weight(node, "R", &r)?;
        if w.shape.len() != 3 {
            return Err(shape_err(
                node,
                "W",
                alloc::format!(
                    "has shape {} but must be [num_directions, {gates}*hidden_size, input_size]",
                    w.shape_str()
                ),
            ));
        }
        if r.shape.len() != 3 {
            return Err(shape_err(
                node,
                "R",
                alloc::format!(
                    "has shape {} but must be [num_directions, {gates}*hidden_size, hidden_size]",
                    r.shape_str()
                ),
            ));
        }
        let h = r.shape[2];
        if let Some(hs) = node.a_int("hidden_size")? {
            if hs <= 0 {
                return Err(node.bad_attr("hidden_size", &hs.to_string(), "must be positive"));
            }
            if hs as usize != h {
                return Err(node.bad_attr(
                    "hidden_size",
                    &hs.to_string(),
                    &alloc::format!("does not match R {} (hidden size {h})", r.shape_str()),
                ));
            }
        }
        if h == 0 {
            return Err(shape_err(node, "R", alloc::format!("has shape {}: hidden size 0", r.shape_str())));
        }
        let gh = gates * h;
        if r.shape[0] != dirs || r.shape[1] != gh {
            return Err(shape_err(
                node,
                "R",
                alloc::format!(
                    "has shape {} but direction '{dir_s}' with hidden size {h} needs [{dirs}, {gh}, {h}]",
                    r.shape_str()
                ),
            ));
        }
        if w.shape[0] != dirs || w.shape[1] != gh {
            return Err(shape_err(
                node,
                "W",
                alloc::format!(
                    "has shape {} but direction '{dir_s}' with hidden size {h} needs [{dirs}, {gh}, input_size]",
                    w.shape_str()
                ),
            ));
        }
        let input_size = w.shape[2];
        if input_size == 0 {
            return Err(shape_err(node, "W", "has input size 0"));
        }
        let bias = match &b {
            None => None,
            Some(b) => {
                let b = self.weight(node, "B", b)?;
                if b.shape != [dirs, 2 * gh] {
                    return Err(shape_err(
                        node,
                        "B",
                        alloc::format!("has shape {} but must be [{dirs}, {}]", b.shape_str(), 2 * gh),
                    ));
                }
                Some(f32_data(&b))
            }
        };
        let peep = match &p {
            None => None,
            Some(p) => {
                let p = self.weight(node, "P", p)?;
                if p.shape != [dirs, 3 * h] {
                    return Err(shape_err(
                        node,
                        "P",
                        alloc::format!("has shape {} but must be [{dirs}, {}]", p.shape_str(), 3 * h),
                    ));
                }
                Some(f32_data(&p))
            }
        };

        // Attributes.
        let acts = self.activations(node, cell, dirs)?;
        let clip = match node.a_float("clip")? {
            None => None,
            Some(c) if c.is_nan() || c < 0.0 => {
                return Err(node.bad_attr("clip", &c.to_string(), "must be a non-negative threshold"))
            }
            Some(c) if c.is_infinite() => {
                self.report.push(alloc::format!("{}: clip=inf clips nothing; imported without clip", node.label));
                None
            }
            Some(c) => Some(c),
        };
        let flag = |name: &str| -> R<bool> {
            match node.a_int(name)? {
                None | Some(0) => Ok(false),
                Some(1) => Ok(true),
                Some(v) => Err(node.bad_attr(name, &v.to_string(), "must be 0 or 1")),
            }
        };
        let input_forget = flag("input_forget")?;
        let lbr = flag("linear_before_reset")?;
        let layout = match node.a_int("layout")? {
            None | Some(0) => 0,
            Some(1) => 1,
            Some(v) => return Err(node.bad_attr("layout", &v.to_string(), "must be 0 or 1")),
        };

        // X: the current end of the chain, [T, B, I] or [B, T, I].
        let wants: &[Want] = if layout == 0 {
            &[Want::Time, Want::Batch, Want::Frame(input_size)]
        } else {
            &[Want::Batch, Want::Time, Want::Frame(input_size)]
        };
        let xd = self.take_seq(node, "X", &x, wants)?;
        let (ti, bi) = if layout == 0 { (0, 1) } else { (1, 0) };
        let time_group = xd.groups[ti].clone();
        let batch_group = xd.groups[bi].clone();
        let layer = self.layers.len();
        let known = |g: &Group| group_size(g).and_then(|s| s.known()).map(|k| k as usize);
        let (time_size, batch_size) = (known(&time_group), known(&batch_group));
        // Names of the optional inputs, for constants (slots 4, 5 and 6).
        let names: Vec<String> = (0..7)
            .map(|slot| node.inputs.get(slot).copied().flatten().map(|id| self.g.names[id].clone()).unwrap_or_default())
            .collect();

        // sequence_lens.
        if let Some(sl) = &seq_lens {
            match sl {
                Val::Dyn(d) => match (&d.kind, d.groups.as_slice()) {
                    (DynKind::Input(i), [g]) if matches!(g.as_slice(), [a] if a.label == Label::In { input: *i, axis: 0 }) =>
                    {
                        if !matches!(d.ty, ElemType::I32 | ElemType::I64) {
                            return Err(OnnxError::TypeMismatch {
                                node: Box::new(node.label.clone()),
                                why: alloc::format!("input sequence_lens is {}, not int32", d.ty),
                            });
                        }
                        if self.const_lens.is_some() {
                            return Err(unsupported_input(
                                node,
                                "sequence_lens",
                                "is a graph input, but another layer's sequence_lens is a constant",
                            ));
                        }
                        match (&self.uses[*i], self.seq_lens) {
                            (InputUse::Unused, None) => {
                                self.uses[*i] = InputUse::SeqLens;
                                self.seq_lens = Some(*i);
                            }
                            (InputUse::SeqLens, Some(s)) if s == *i => {}
                            _ => {
                                return Err(unsupported_input(
                                    node,
                                    "sequence_lens",
                                    "differs from the sequence_lens of another layer",
                                ))
                            }
                        }
                        self.seq_lens_layers += 1;
                    }
                    _ => {
                        return Err(unsupported_input(node, "sequence_lens", "must be a graph input of shape [batch]"))
                    }
                },
                other => {
                    let name = names[4].clone();
                    let lens = self.const_lens_of(node, other, time_size, batch_size)?;
                    if self.seq_lens.is_some() {
                        return Err(unsupported_input(
                            node,
                            "sequence_lens",
                            "is a constant, but another layer's sequence_lens is a graph input",
                        ));
                    }
                    match &self.const_lens {
                        None => {
                            self.report.push(alloc::format!(
                                "layer {layer}: sequence_lens is the constant '{name}' {lens:?}, recorded in the file"
                            ));
                            self.const_lens = Some((name, lens));
                        }
                        Some((_, v)) if *v == lens => {}
                        Some(_) => {
                            return Err(unsupported_input(
                                node,
                                "sequence_lens",
                                "differs from the sequence_lens of another layer",
                            ))
                        }
                    }
                    self.seq_lens_layers += 1;
                }
            }
        }

        // Initial states.
        for (slot, index, kind, v) in [("initial_h", 5, StateKind::H, &init_h), ("initial_c", 6, StateKind::C, &init_c)]
        {
            let Some(v) = v else { continue };
            let at = StateAt { layer, dirs, h, layout, batch: batch_size, name: names[index].clone() };
            self.initial_state(node, slot, kind, v, &at)?;
        }

        // The layer.
        let mut desc = RecurrentDesc::new(cell, input_size, h);
        desc.direction = direction;
        desc.activations = acts;
        desc.clip = clip;
        desc.input_forget = input_forget;
        desc.peepholes = peep.is_some();
        desc.linear_before_reset = lbr;
        desc.dtype = DType::F32;
        self.report.push(alloc::format!(
            "layer {layer}: {} from {} (input {input_size}, hidden {h}, {}{}{}{}{}{}; layout {layout})",
            cell.name(),
            node.label,
            match direction {
                Direction::Forward => "forward",
                Direction::Reverse => "reverse",
                Direction::Bidirectional => "bidirectional",
            },
            act_text(&desc),
            clip.map(|c| alloc::format!(", clip {c}")).unwrap_or_default(),
            if input_forget { ", input_forget" } else { "" },
            if peep.is_some() { ", peepholes" } else { "" },
            match (cell, lbr) {
                (CellKind::Gru, true) => ", linear_before_reset",
                (CellKind::Gru, false) => ", reset before linear",
                _ => "",
            },
        ));
        if bias.is_none() {
            self.report.push(alloc::format!("layer {layer}: no B input, biases are zero"));
        }
        self.layers.push(Layer {
            desc: LayerDesc::Recurrent(desc),
            weights: LayerWeights::Recurrent { w: f32_data(&w), r: f32_data(&r), b: bias, p: peep },
        });
        self.version = 0;
        self.recurrent_layers += 1;

        // Outputs.
        let stage = self.layers.len();
        let dir_g = alloc::vec![Atom::new(Label::Dir(dirs), dirs)];
        let hid_g = alloc::vec![Atom::new(Label::Hid(h), h)];
        let slots: Vec<StateSlot> = (0..dirs).map(|d| StateSlot { layer: layer as u16, dir: d as u8 }).collect();
        let slot_g = alloc::vec![Atom::new(Label::Slots(slots), dirs)];
        let y_groups = if layout == 0 {
            alloc::vec![time_group, dir_g, batch_group.clone(), hid_g.clone()]
        } else {
            alloc::vec![batch_group.clone(), time_group, dir_g, hid_g.clone()]
        };
        let st_groups =
            if layout == 0 { alloc::vec![slot_g, batch_group, hid_g] } else { alloc::vec![batch_group, slot_g, hid_g] };
        let y = DynVal {
            kind: DynKind::Seq { stage, version: 0 },
            ty: ElemType::F32,
            groups: y_groups,
            dropped: xd.dropped.clone(),
        };
        let fin =
            |k| DynVal { kind: DynKind::Final(k), ty: ElemType::F32, groups: st_groups.clone(), dropped: Vec::new() };
        let mut outs = alloc::vec![Some(Val::Dyn(Rc::new(y))), Some(Val::Dyn(Rc::new(fin(StateKind::H))))];
        if cell == CellKind::Lstm {
            outs.push(Some(Val::Dyn(Rc::new(fin(StateKind::C)))));
        }
        Ok(outs)
    }

    /// A constant float weight.
    fn weight(&mut self, node: &Node<'_>, slot: &str, v: &Val) -> R<Rc<Tensor>> {
        match v {
            Val::Dyn(_) => Err(unsupported_input(node, slot, "is computed at run time; recur needs constant weights")),
            _ => match dense(v) {
                Some(t) if matches!(t.data, Data::F32(_)) => Ok(t),
                Some(t) => Err(OnnxError::TypeMismatch {
                    node: Box::new(node.label.clone()),
                    why: alloc::format!("input {slot} is {}", t.ty),
                }),
                None => Err(unsupported_input(node, slot, "is a constant of run-time shape")),
            },
        }
    }

    /// Parses `activations`, `activation_alpha` and `activation_beta` the way onnxruntime
    /// does: the lists of alpha and beta values are consumed in order, each by the next
    /// activation that takes that parameter; an activation that finds the list exhausted
    /// takes onnxruntime's default.
    fn activations(&mut self, node: &Node<'_>, cell: CellKind, dirs: usize) -> R<[[Activation; 3]; 2]> {
        let per = cell.activation_count();
        let mut names = match node.a_strs("activations")? {
            Some(v) => v,
            None => {
                let d = cell.default_activations();
                (0..dirs).flat_map(|_| d[..per].iter().map(|a| a.kind.name().to_string())).collect()
            }
        };
        // onnxruntime accepts the ONNX RNN default [Tanh, Tanh] for one direction and uses
        // the first; accept that only when both agree, so nothing is ignored.
        if cell == CellKind::Rnn && dirs == 1 && names.len() == 2 && names[0].eq_ignore_ascii_case(&names[1]) {
            names.truncate(1);
        }
        if names.len() != per * dirs {
            return Err(node.bad_attr(
                "activations",
                &names.join(", "),
                &alloc::format!(
                    "has {} entries; {} with {dirs} direction(s) needs {}",
                    names.len(),
                    cell.name(),
                    per * dirs
                ),
            ));
        }
        let mut kinds = Vec::with_capacity(names.len());
        for n in &names {
            kinds.push(ActKind::parse(n).ok_or_else(|| {
                node.unsupported_attr("activations", n, "is not an activation function of the ONNX recurrent operators")
            })?);
        }
        let alphas = node.a_floats("activation_alpha")?.unwrap_or_default();
        let betas = node.a_floats("activation_beta")?.unwrap_or_default();
        let (mut ai, mut bi) = (0, 0);
        let mut resolved = Vec::with_capacity(kinds.len());
        for (i, &k) in kinds.iter().enumerate() {
            let (da, db) = k.default_params();
            let alpha = if k.uses_alpha() {
                if let Some(&a) = alphas.get(ai) {
                    ai += 1;
                    a
                } else {
                    self.report.push(alloc::format!(
                        "{}: activation {} ({}) takes onnxruntime's default alpha={da}",
                        node.label,
                        i,
                        k.name()
                    ));
                    da
                }
            } else {
                0.0
            };
            let beta = if k.uses_beta() {
                if let Some(&b) = betas.get(bi) {
                    bi += 1;
                    b
                } else {
                    self.report.push(alloc::format!(
                        "{}: activation {} ({}) takes onnxruntime's default beta={db}",
                        node.label,
                        i,
                        k.name()
                    ));
                    db
                }
            } else {
                0.0
            };
            resolved.push(Activation::with_params(k, alpha, beta));
        }
        // Surplus values: onnxruntime ignores them, other runtimes index the lists by
        // activation position. Accept only when both readings agree.
        for (attr, vals, used, get) in [
            (
                "activation_alpha",
                &alphas,
                ai,
                (|a: &Activation| (a.kind.uses_alpha(), a.alpha)) as fn(&Activation) -> (bool, f32),
            ),
            ("activation_beta", &betas, bi, |a: &Activation| (a.kind.uses_beta(), a.beta)),
        ] {
            if vals.len() > used {
                let positional_agrees = vals.len() == resolved.len()
                    && resolved.iter().zip(vals.iter()).all(|(a, &v)| {
                        let (uses, val) = get(a);
                        !uses || val.to_bits() == v.to_bits()
                    });
                if !positional_agrees {
                    return Err(node.unsupported_attr(
                        attr,
                        &alloc::format!("{vals:?}"),
                        &alloc::format!(
                            "has {} values but the activations [{}] take {used}; which value belongs to which activation \
                             is ambiguous",
                            vals.len(),
                            names.join(", ")
                        ),
                    ));
                }
                self.report.push(alloc::format!(
                    "{}: {attr} lists one value per activation; the unused ones are placeholders",
                    node.label
                ));
            }
        }
        let mut out = [cell.default_activations(); 2];
        for d in 0..dirs {
            for j in 0..per {
                out[d][j] = resolved[d * per + j];
            }
        }
        if dirs == 1 {
            out[1] = out[0];
        }
        Ok(out)
    }

    fn initial_state(&mut self, node: &Node<'_>, slot: &str, kind: StateKind, v: &Val, at: &StateAt) -> R<()> {
        let StateAt { layer, dirs, h, layout, .. } = *at;
        let (si, hi) = if layout == 0 { (0, 2) } else { (1, 2) };
        match v {
            Val::Const(_) | Val::Splat(_) => {
                let shape = v.shape().unwrap_or_default();
                if shape.len() != 3
                    || shape[si].known().is_some_and(|k| k as usize != dirs)
                    || shape[hi].known().is_some_and(|k| k as usize != h)
                {
                    return Err(shape_err(
                        node,
                        slot,
                        alloc::format!(
                            "has shape {} but must be {}",
                            shape_text(&shape),
                            if layout == 0 {
                                alloc::format!("[{dirs}, batch, {h}]")
                            } else {
                                alloc::format!("[batch, {dirs}, {h}]")
                            }
                        ),
                    ));
                }
                let zero = match v {
                    Val::Splat(s) => s.value.is_zero(),
                    Val::Const(t) => t.uniform().is_some_and(|s| s.is_zero()) || t.numel() == 0,
                    _ => false,
                };
                if !zero {
                    return self.const_state(node, slot, kind, v, at);
                }
                self.report.push(alloc::format!(
                    "layer {layer}: {slot} is a constant zero tensor, which is the engine's zero state"
                ));
                Ok(())
            }
            Val::Dyn(d) => {
                let DynKind::Input(i) = d.kind else {
                    return Err(unsupported_input(
                        node,
                        slot,
                        "is computed inside the graph; recur takes initial states from graph inputs only",
                    ));
                };
                if d.groups.len() != 3 {
                    return Err(shape_err(
                        node,
                        slot,
                        alloc::format!("has rank {} but must have rank 3", d.groups.len()),
                    ));
                }
                let bi = if layout == 0 { 1 } else { 0 };
                // Slot axis: rows of one input axis, or an inserted unit axis (single slot).
                let (slot_axis, rows) = self.state_rows(&d.groups[si], i, dirs).map_err(|m| match m {
                    Misfit::Invalid(m) => shape_err(node, slot, m),
                    Misfit::Unsupported(m) => unsupported_input(node, slot, m),
                })?;
                let whole = |g: &Group| -> Option<(usize, SInt)> {
                    let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
                    match sig.as_slice() {
                        [a] => match a.label {
                            Label::In { input, axis } if input == i => Some((axis, a.size.clone())),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                let (batch_axis, _) = whole(&d.groups[bi]).ok_or_else(|| {
                    unsupported_input(node, slot, "has no batch axis of its own (recur needs the input to be [slots, batch, hidden] or [batch, slots, hidden])")
                })?;
                let (hid_axis, hsize) = whole(&d.groups[hi]).ok_or_else(|| {
                    unsupported_input(node, slot, "does not take its hidden axis whole from a graph input")
                })?;
                if hsize.known().is_some_and(|k| k as usize != h) {
                    return Err(shape_err(
                        node,
                        slot,
                        alloc::format!("has hidden size {hsize} but the layer's is {h}"),
                    ));
                }
                let slots: Vec<StateSlot> =
                    (0..dirs).map(|dd| StateSlot { layer: layer as u16, dir: dd as u8 }).collect();
                let name = self.g.inputs[i].info.name.clone();
                match &mut self.uses[i] {
                    u @ InputUse::Unused => {
                        *u = InputUse::State(StateUse {
                            kind,
                            slot_axis,
                            batch_axis,
                            hid_axis,
                            rows: alloc::vec![(rows.0, rows.1, slots)],
                        });
                    }
                    InputUse::State(s)
                        if s.kind == kind
                            && s.slot_axis == slot_axis
                            && s.batch_axis == batch_axis
                            && s.hid_axis == hid_axis =>
                    {
                        if s.rows.iter().any(|r| r.0 < rows.1 && rows.0 < r.1) {
                            return Err(unsupported_input(node, slot, alloc::format!("reuses rows {}..{} of graph input '{name}', already the initial state of another layer", rows.0, rows.1)));
                        }
                        s.rows.push((rows.0, rows.1, slots));
                    }
                    _ => {
                        return Err(unsupported_input(
                            node,
                            slot,
                            alloc::format!("reads graph input '{name}', which is already used differently"),
                        ))
                    }
                }
                self.report.push(alloc::format!(
                    "layer {layer}: {slot} from graph input '{name}' (rows {}..{})",
                    rows.0,
                    rows.1
                ));
                Ok(())
            }
        }
    }

    /// A constant `sequence_lens`: int32 or int64 `[batch]`, every length in `0..=T` (and at
    /// most `i32::MAX`, the ONNX type's range).
    fn const_lens_of(
        &mut self,
        node: &Node<'_>,
        v: &Val,
        time_size: Option<usize>,
        batch_size: Option<usize>,
    ) -> R<Vec<u32>> {
        let slot = "sequence_lens";
        let t = dense(v).ok_or_else(|| unsupported_input(node, slot, "is a constant of run-time shape"))?;
        if !matches!(t.ty, ElemType::I32 | ElemType::I64) {
            return Err(OnnxError::TypeMismatch {
                node: Box::new(node.label.clone()),
                why: alloc::format!("input sequence_lens is {}, not int32", t.ty),
            });
        }
        let [b] = t.shape[..] else {
            return Err(shape_err(node, slot, alloc::format!("has shape {} but must be [batch]", t.shape_str())));
        };
        if batch_size.is_some_and(|n| n != b) {
            return Err(shape_err(
                node,
                slot,
                alloc::format!("has {b} lengths but the batch size of X is {}", batch_size.unwrap_or(0)),
            ));
        }
        if b == 0 {
            return Err(unsupported_input(node, slot, "is a constant of batch size 0"));
        }
        let vals = t.known_ints().ok_or_else(|| unsupported_input(node, slot, "has values only known at run time"))?;
        let mut out = Vec::with_capacity(vals.len());
        for (k, &len) in vals.iter().enumerate() {
            let limit = time_size.map_or(i64::from(i32::MAX), |t| (t as i64).min(i64::from(i32::MAX)));
            if !(0..=limit).contains(&len) {
                return Err(shape_err(
                    node,
                    slot,
                    alloc::format!(
                        "element {k} is {len}, outside 0..={limit} ({})",
                        if time_size.is_some() { "the sequence length of X" } else { "the int32 range" }
                    ),
                ));
            }
            out.push(len as u32);
        }
        Ok(out)
    }

    /// A non-zero constant initial state of fixed shape: recorded in the interface as a
    /// constant and applied at run time as a graph input would be.
    fn const_state(&mut self, node: &Node<'_>, slot: &str, kind: StateKind, v: &Val, at: &StateAt) -> R<()> {
        let t = dense(v).ok_or_else(|| {
            unsupported_input(
                node,
                slot,
                "is a non-zero constant whose shape depends on the run-time batch size; recur records constant \
                 initial states of fixed shape only",
            )
        })?;
        let bi = if at.layout == 0 { 1 } else { 0 };
        let b = t.shape[bi];
        if at.batch.is_some_and(|n| n != b) {
            return Err(shape_err(
                node,
                slot,
                alloc::format!("has batch size {b} but X has {}", at.batch.unwrap_or(0)),
            ));
        }
        let values = f32_data(&t);
        if values.len() > crate::interface::MAX_CONST_VALUES {
            return Err(OnnxError::LimitExceeded {
                what: alloc::format!("the values of constant {slot} of {}", node.label),
                value: values.len() as u128,
                limit: crate::interface::MAX_CONST_VALUES as u128,
            });
        }
        let slots: Vec<StateSlot> = (0..at.dirs).map(|d| StateSlot { layer: at.layer as u16, dir: d as u8 }).collect();
        let layout = if at.layout == 0 { StateLayout::SlotBatchHidden } else { StateLayout::BatchSlotHidden };
        self.report.push(alloc::format!(
            "layer {}: {slot} is the constant '{}' {}, recorded in the file",
            at.layer,
            at.name,
            t.shape_str()
        ));
        self.const_states.push(ConstInput {
            name: at.name.clone(),
            role: IoRole::InitialState { kind, slots, layout },
            shape: t.shape.iter().map(|&d| d as u64).collect(),
            values: ConstValues::F32(values),
        });
        Ok(())
    }

    /// The rows of an input axis a state group covers: `(axis, (start, end))`.
    fn state_rows(&self, g: &Group, i: usize, dirs: usize) -> Result<(Option<usize>, (usize, usize)), Misfit> {
        let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
        match sig.as_slice() {
            [] if dirs == 1 => Ok((None, (0, 1))),
            [a] => {
                let (axis, start, end) = match a.label {
                    Label::In { input, axis } if input == i => {
                        let n =
                            a.size.known().ok_or(Misfit::Unsupported("has a slot axis of run-time size".to_string()))?
                                as usize;
                        (axis, 0, n)
                    }
                    Label::InPart { input, axis, start, end } if input == i => (axis, start, end),
                    _ => return Err(Misfit::Unsupported("does not take its slot axis from a graph input".into())),
                };
                if end - start != dirs {
                    return Err(Misfit::Invalid(alloc::format!(
                        "has {} slots but the layer has {dirs} direction(s)",
                        end - start
                    )));
                }
                Ok((Some(axis), (start, end)))
            }
            _ => Err(Misfit::Unsupported("merges several axes into its slot axis".into())),
        }
    }

    // ---------------------------------------------------------------- other run-time operators

    fn dynamic(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        let op = node.op();
        let first = || -> R<Rc<DynVal>> {
            match ins.first() {
                Some(Some(Val::Dyn(d))) => Ok(d.clone()),
                Some(Some(_)) => {
                    Err(unsupported(node, "mixes constants and run-time values in a way recur does not map"))
                }
                _ => Err(missing(node, "0")),
            }
        };
        let one = |d: DynVal| Ok(alloc::vec![Some(Val::Dyn(Rc::new(d)))]);
        match op {
            "Identity" => {
                node.check_attrs(&[], self.opset)?;
                Ok(alloc::vec![Some(Val::Dyn(first()?))])
            }
            "Dropout" => {
                node.check_attrs(&["ratio", "seed", "is_test"], self.opset)?;
                if let Some(Some(tm)) = ins.get(2) {
                    let ok = dense(tm).and_then(|t| t.known_ints()).is_some_and(|v| v.iter().all(|&x| x == 0));
                    if !ok {
                        return Err(unsupported(node, "training_mode is not a constant false"));
                    }
                }
                if let Some(m) = node.output(1) {
                    if !self.consumers[m].is_empty() || self.graph_outputs[m] {
                        return Err(unsupported(node, "the dropout mask is used"));
                    }
                }
                Ok(alloc::vec![Some(Val::Dyn(first()?))])
            }
            "Cast" | "CastLike" => {
                let d = first()?;
                let to = if op == "Cast" {
                    node.check_attrs(&["to", "saturate", "round_mode"], self.opset)?;
                    let to = node.a_int("to")?.ok_or_else(|| node.bad_attr("to", "", "is required"))?;
                    ElemType::from_code(to as i32)
                } else {
                    node.check_attrs(&["saturate", "round_mode"], self.opset)?;
                    ins.get(1).cloned().flatten().map(|v| v.ty())
                };
                let Some(to) = to else { return Err(unsupported(node, "casts to an unsupported type")) };
                let int = |t: ElemType| matches!(t, ElemType::I32 | ElemType::I64);
                if to == d.ty || (matches!(d.kind, DynKind::Input(_)) && int(to) && int(d.ty)) {
                    one(DynVal { ty: to, ..(*d).clone() })
                } else {
                    Err(unsupported(node, alloc::format!("casts a run-time {} tensor to {to}", d.ty)))
                }
            }
            "Transpose" => {
                node.check_attrs(&["perm"], self.opset)?;
                let d = first()?;
                let perm = perm_of(node, d.groups.len())?;
                let groups = perm.iter().map(|&p| d.groups[p].clone()).collect();
                one(DynVal { groups, ..(*d).clone() })
            }
            "Reshape" => {
                node.check_attrs(if self.opset >= 14 { &["allowzero"] } else { &[] }, self.opset)?;
                let d = first()?;
                let Some(Some(t)) = ins.get(1) else { return Err(missing(node, "shape")) };
                let target = sints(node, t, "shape")?;
                let input: Vec<SInt> = d.groups.iter().map(|g| group_size(g).unwrap_or(SInt::K(-1))).collect();
                let resolved = resolve_reshape(node, &input, &target, node.a_int("allowzero")?.unwrap_or(0) != 0)?;
                self.regroup(node, &d, &resolved)
            }
            "Flatten" => {
                node.check_attrs(&["axis"], self.opset)?;
                let d = first()?;
                let r = d.groups.len() as i64;
                let a = node.a_int("axis")?.unwrap_or(1);
                let a = if a < 0 { a + r } else { a };
                if a < 0 || a > r {
                    return Err(node.bad_attr("axis", &a.to_string(), &alloc::format!("is outside rank {r}")));
                }
                let a = a as usize;
                let mut out = d.groups.clone();
                let tail: Group = out.drain(a..).flatten().collect();
                let head: Group = out.into_iter().flatten().collect();
                let mut v = (*d).clone();
                let head = if head.is_empty() { alloc::vec![Atom::unit()] } else { head };
                let tail = if tail.is_empty() { alloc::vec![Atom::unit()] } else { tail };
                v.groups = alloc::vec![head, tail];
                one(v)
            }
            "Squeeze" | "Unsqueeze" => {
                let d = first()?;
                let axes = fold::axes_of(node, ins, self.opset, "axes")?;
                if op == "Unsqueeze" {
                    let axes = axes.ok_or_else(|| missing(node, "axes"))?;
                    let r = d.groups.len() + axes.len();
                    let mut ax = norm_axes(node, &axes, r)?;
                    ax.sort_unstable();
                    one(d.unsqueeze(&ax))
                } else {
                    let r = d.groups.len();
                    let ax = match axes {
                        Some(a) => norm_axes(node, &a, r)?,
                        None => {
                            if d.groups.iter().any(|g| group_size(g).is_none_or(|s| s.known().is_none())) {
                                return Err(unsupported(node, "squeezes without axes a tensor whose sizes are only known at run time"));
                            }
                            (0..r).filter(|&i| group_size(&d.groups[i]) == Some(SInt::K(1))).collect()
                        }
                    };
                    for &a in &ax {
                        match group_size(&d.groups[a]).and_then(|s| s.known()) {
                            Some(1) => {}
                            Some(k) => return Err(shape_err(node, "axes", alloc::format!("selects axis {a} of size {k}, not 1"))),
                            None => return Err(unsupported(node, alloc::format!("squeezes axis {a}, whose size is only known at run time"))),
                        }
                    }
                    one(d.squeeze(&ax))
                }
            }
            "Slice" | "Gather" | "Split" => self.select(node, ins),
            "Concat" => self.concat(node, ins),
            "MatMul" => self.matmul(node, ins),
            "Gemm" => self.gemm(node, ins),
            "Add" | "Sub" => self.bias(node, ins),
            "Relu" | "Tanh" | "Sigmoid" | "Softmax" | "LogSoftmax" => self.activation(node, ins),
            "Shape" | "Size" | "Constant" => unreachable_fold(node),
            _ => Err(unsupported(
                node,
                alloc::format!(
                    "operator {op} on run-time values is not supported (recur maps RNN/LSTM/GRU layers, dense heads and the \
                     glue between them)"
                ),
            )),
        }
    }

    fn regroup(&mut self, node: &Node<'_>, d: &DynVal, target: &[SInt]) -> R<Vec<Option<Val>>> {
        match d.regroup(target) {
            Ok(v) => Ok(alloc::vec![Some(Val::Dyn(Rc::new(v)))]),
            Err(RegroupError::Count(m)) => Err(shape_err(node, "shape", m)),
            Err(RegroupError::Cuts(m)) | Err(RegroupError::Undecidable(m)) => Err(unsupported(
                node,
                alloc::format!(
                    "reshapes {} to {}: {m}; recur follows reshapes that merge or split whole axes only",
                    shape_text(&d.groups.iter().map(|g| group_size(g).unwrap_or(SInt::K(-1))).collect::<Vec<_>>()),
                    shape_text(target)
                ),
            )),
        }
    }

    /// `Slice`, `Gather` and `Split` on run-time values: rows of a graph input (per-layer
    /// initial states) or slots of final states.
    fn select(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        let op = node.op();
        let Some(Some(Val::Dyn(d))) = ins.first() else { return Err(missing(node, "data")) };
        if matches!(d.kind, DynKind::Seq { .. }) {
            if op == "Gather" {
                if let Some(v) = self.last_frame(node, d, ins)? {
                    return Ok(alloc::vec![Some(Val::Dyn(Rc::new(v)))]);
                }
            }
            return Err(unsupported(
                node,
                "selects part of a sequence (frames, directions or features); recur outputs whole sequences only",
            ));
        }
        if matches!(d.kind, DynKind::Head { .. }) {
            return Err(unsupported(node, "selects part of the head's output; recur outputs it whole"));
        }
        let r = d.groups.len();
        // (axis, list of (start, count, step) or index lists per output, keep axis)
        let mut pieces: Vec<(Vec<usize>, bool)> = Vec::new();
        let axis;
        // Rows are state slots, a handful per layer: the bound keeps a declared size from
        // turning into a huge allocation.
        let size_of = |ax: usize| -> R<usize> {
            match group_size(&d.groups[ax]).and_then(|s| s.known()) {
                Some(k) if (0..=1 << 16).contains(&k) => Ok(k as usize),
                Some(k) => Err(OnnxError::LimitExceeded {
                    what: alloc::format!("the size of axis {ax} selected by {}", node.label),
                    value: k.unsigned_abs() as u128,
                    limit: 1 << 16,
                }),
                None => Err(unsupported(
                    node,
                    alloc::format!("selects along axis {ax}, whose size is only known at run time"),
                )),
            }
        };
        match op {
            "Slice" => {
                let (starts, ends, axes, steps) = if self.opset < 10 {
                    node.check_attrs(&["starts", "ends", "axes"], self.opset)?;
                    (
                        node.a_ints("starts")?.ok_or_else(|| node.bad_attr("starts", "", "is required"))?,
                        node.a_ints("ends")?.ok_or_else(|| node.bad_attr("ends", "", "is required"))?,
                        node.a_ints("axes")?,
                        None,
                    )
                } else {
                    node.check_attrs(&[], self.opset)?;
                    let get = |i: usize, n: &str| -> R<Option<Vec<i64>>> {
                        match ins.get(i) {
                            Some(Some(v)) => Ok(Some(ints(node, v, n)?)),
                            _ => Ok(None),
                        }
                    };
                    (
                        get(1, "starts")?.ok_or_else(|| missing(node, "starts"))?,
                        get(2, "ends")?.ok_or_else(|| missing(node, "ends"))?,
                        get(3, "axes")?,
                        get(4, "steps")?,
                    )
                };
                // Shape with run-time sizes as a large placeholder: only the sliced axis
                // must be known.
                let axes_n: Vec<i64> = axes.clone().unwrap_or_else(|| (0..starts.len() as i64).collect());
                let mut sliced = Vec::new();
                for &a in &axes_n {
                    sliced.push(norm_axes(node, &[a], r)?[0]);
                }
                let mut shape = alloc::vec![usize::MAX / 4; r];
                for &a in &sliced {
                    shape[a] = size_of(a)?;
                }
                let spec = slice_spec(node, &shape, &starts, &ends, Some(&axes_n), steps.as_deref())?;
                let changed: Vec<usize> = (0..r)
                    .filter(|&a| sliced.contains(&a) && (spec[a].0 != 0 || spec[a].1 != shape[a] || spec[a].2 != 1))
                    .collect();
                match changed.as_slice() {
                    [] => return Ok(alloc::vec![Some(Val::Dyn(d.clone()))]),
                    [a] => {
                        axis = *a;
                        let (s, c, st) = spec[*a];
                        pieces.push(((0..c).map(|k| (s as i64 + k as i64 * st) as usize).collect(), true));
                    }
                    _ => return Err(unsupported(node, "slices several axes of a run-time value at once")),
                }
            }
            "Gather" => {
                node.check_attrs(&["axis"], self.opset)?;
                axis = norm_axes(node, &[node.a_int("axis")?.unwrap_or(0)], r)?[0];
                let n = size_of(axis)?;
                let Some(Some(iv)) = ins.get(1) else { return Err(missing(node, "indices")) };
                let it = dense(iv).ok_or_else(|| unsupported_input(node, "indices", "is computed at run time"))?;
                if it.shape.len() > 1 {
                    return Err(unsupported_input(node, "indices", "has rank > 1"));
                }
                let idx = it.known_ints().ok_or_else(|| OnnxError::TypeMismatch {
                    node: Box::new(node.label.clone()),
                    why: "indices must be integers".into(),
                })?;
                let mut norm = Vec::new();
                for &i in &idx {
                    let j = if i < 0 { i + n as i64 } else { i };
                    if j < 0 || j >= n as i64 {
                        return Err(shape_err(
                            node,
                            "indices",
                            alloc::format!("index {i} is out of range for size {n}"),
                        ));
                    }
                    norm.push(j as usize);
                }
                pieces.push((norm, !it.shape.is_empty()));
            }
            _ => {
                let allowed: &[&str] = if self.opset >= 18 {
                    &["axis", "num_outputs"]
                } else if self.opset >= 13 {
                    &["axis"]
                } else {
                    &["axis", "split"]
                };
                node.check_attrs(allowed, self.opset)?;
                axis = norm_axes(node, &[node.a_int("axis")?.unwrap_or(0)], r)?[0];
                let n = size_of(axis)?;
                let outs = node.outputs.len();
                let sizes: Vec<usize> = {
                    let given = if self.opset >= 13 {
                        match ins.get(1) {
                            Some(Some(v)) => Some(ints(node, v, "split")?),
                            _ => None,
                        }
                    } else {
                        node.a_ints("split")?
                    };
                    match given {
                        Some(v)
                            if v.len() == outs
                                && v.iter().all(|&x| x >= 0)
                                && v.iter().map(|&x| x as i128).sum::<i128>() == n as i128 =>
                        {
                            v.iter().map(|&x| x as usize).collect()
                        }
                        Some(v) => {
                            return Err(shape_err(
                                node,
                                "split",
                                alloc::format!("{v:?} does not split size {n} into {outs} parts"),
                            ))
                        }
                        None => {
                            if outs == 0 || (self.opset < 18 && !n.is_multiple_of(outs)) {
                                return Err(shape_err(
                                    node,
                                    "input",
                                    alloc::format!("size {n} does not split evenly into {outs}"),
                                ));
                            }
                            let c = n.div_ceil(outs);
                            (0..outs).map(|i| c.min(n.saturating_sub(i * c))).collect()
                        }
                    }
                };
                let mut at = 0;
                for s in sizes {
                    pieces.push(((at..at + s).collect(), true));
                    at += s;
                }
            }
        }
        let mut outs = Vec::with_capacity(pieces.len());
        for (rows, keep) in pieces {
            outs.push(Some(Val::Dyn(Rc::new(self.select_rows(node, d, axis, &rows, keep)?))));
        }
        Ok(outs)
    }

    /// `Gather` of the last frame of the chain's per-frame output (PyTorch `out[:, -1]`,
    /// the classifier's other idiom): when the last recurrent layer runs forward and no
    /// sequence has a length of its own, that frame *is* the final state (or, after
    /// per-frame dense layers, those layers applied to it), so it becomes a final state or
    /// a head on the final state. `None` when `d` is not such a selection (another frame,
    /// an axis other than time), for the caller to refuse.
    fn last_frame(&mut self, node: &Node<'_>, d: &DynVal, ins: &[Option<Val>]) -> R<Option<DynVal>> {
        let DynKind::Seq { stage, version } = d.kind else { return Ok(None) };
        node.check_attrs(&["axis"], self.opset)?;
        let axis = norm_axes(node, &[node.a_int("axis")?.unwrap_or(0)], d.groups.len())?[0];
        let x = self.seq_input.unwrap_or(usize::MAX);
        let sig: Vec<&Atom> = d.groups[axis].iter().filter(|a| !self.transparent(a)).collect();
        let time = match sig.as_slice() {
            [a] if self.seq_axis(a, x).is_some_and(|(_, r)| r == Some(Role::Time)) => (*a).clone(),
            _ => return Ok(None),
        };
        let Some(Some(iv)) = ins.get(1) else { return Err(missing(node, "indices")) };
        let Some(idx) = dense(iv).filter(|t| t.shape.is_empty()).and_then(|t| t.known_ints()) else {
            return Ok(None);
        };
        let last = match (idx.first(), time.size.known()) {
            (Some(-1), _) => true,
            (Some(&i), Some(t)) => i == t - 1,
            _ => false,
        };
        if !last {
            return Ok(None);
        }
        let refuse = |why: String| Err(unsupported(node, why));
        if stage != self.layers.len() || version != self.version || self.head_from.is_some() {
            return refuse("selects the last frame of a value that is not the end of the chain".into());
        }
        let Some(lr) = self.layers.iter().rposition(|l| matches!(l.desc, LayerDesc::Recurrent(_))) else {
            return Ok(None);
        };
        let LayerDesc::Recurrent(r) = &self.layers[lr].desc else { return Ok(None) };
        if r.direction != Direction::Forward {
            return refuse(alloc::format!(
                "selects the last frame of layer {lr}, which runs {}: that frame is not its final state (use h_n)",
                if r.direction == Direction::Reverse { "in reverse" } else { "in both directions" }
            ));
        }
        if self.seq_lens.is_some() || self.const_lens.is_some() {
            return refuse(
                "selects the last frame, which is not the final state when sequences have lengths of their own \
                 (sequence_lens); use h_n"
                    .into(),
            );
        }
        let slot = StateSlot { layer: lr as u16, dir: 0 };
        let mut v = d.clone();
        v.groups.remove(axis);
        v.dropped.push(time);
        if stage == lr + 1 {
            // The last recurrent layer's frame: its final h, the direction axis (if any) as
            // the slot axis.
            let slot_atom = Atom::new(Label::Slots(alloc::vec![slot]), 1);
            let mut found = false;
            for a in v.groups.iter_mut().flatten().chain(v.dropped.iter_mut()) {
                if a.label == Label::Dir(1) {
                    *a = slot_atom.clone();
                    found = true;
                }
            }
            if !found {
                v.dropped.push(slot_atom);
            }
            v.kind = DynKind::Final(StateKind::H);
            self.report.push(alloc::format!(
                "{}: the last frame of layer {lr} is its final h (forward, no sequence lengths)",
                node.label
            ));
        } else {
            // Per-frame dense layers on that frame: a head on the final state.
            v.kind = DynKind::Head { stage, version };
            self.head_from = Some(lr + 1);
            self.report.push(alloc::format!(
                "{}: the last frame of layers {}..{} is those layers on the final h of layer {lr} (forward, no \
                 sequence lengths): they become a head that runs once per sequence",
                node.label,
                lr + 1,
                stage
            ));
        }
        Ok(Some(v))
    }

    fn select_rows(&self, node: &Node<'_>, d: &DynVal, axis: usize, rows: &[usize], keep: bool) -> R<DynVal> {
        let g = &d.groups[axis];
        let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
        let new_atom = match (&d.kind, sig.as_slice()) {
            (DynKind::Input(i), [a]) => {
                let (input, ax, base) = match a.label {
                    Label::In { input, axis } => (input, axis, 0),
                    Label::InPart { input, axis, start, .. } => (input, axis, start),
                    _ => return Err(unsupported(node, "selects rows of an axis that is not a graph input's")),
                };
                debug_assert_eq!(input, *i);
                if rows.is_empty() || rows.windows(2).any(|w| w[1] != w[0] + 1) {
                    return Err(unsupported(
                        node,
                        "selects rows of a graph input that are not contiguous and in order",
                    ));
                }
                Atom::new(
                    Label::InPart { input, axis: ax, start: base + rows[0], end: base + rows[rows.len() - 1] + 1 },
                    rows.len(),
                )
            }
            (DynKind::Final(_), [a]) => match &a.label {
                Label::Slots(s) => Atom::new(Label::Slots(rows.iter().map(|&r| s[r]).collect()), rows.len()),
                _ => return Err(unsupported(node, "selects along an axis of a final state other than its slot axis")),
            },
            (DynKind::Seq { .. }, _) => {
                return Err(unsupported(
                    node,
                    "selects part of a sequence (frames, directions or features); recur outputs whole sequences only",
                ))
            }
            _ => return Err(unsupported(node, "selects part of an axis that merges several quantities")),
        };
        let mut v = d.clone();
        if keep {
            v.groups[axis] = alloc::vec![new_atom];
        } else {
            if rows.len() != 1 {
                return Err(unsupported(node, "gathers with a scalar index but several rows"));
            }
            v.groups.remove(axis);
            v.dropped.push(new_atom);
        }
        Ok(v)
    }

    /// `Concat` of final states: along their slot axis (`h_n` of a multi-layer network), or
    /// along their hidden axis (`torch.cat([h_n[-2], h_n[-1]], dim=1)`, the input of a
    /// bidirectional classifier's head), which gives a `[slots, hidden]` feature block.
    fn concat(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        node.check_attrs(&["axis"], self.opset)?;
        let vals: Vec<&Val> = ins.iter().flatten().collect();
        let Some(Val::Dyn(first)) = vals.first() else {
            return Err(unsupported(node, "concatenates constants with run-time values"));
        };
        let r = first.groups.len();
        let axis =
            norm_axes(node, &[node.a_int("axis")?.ok_or_else(|| node.bad_attr("axis", "", "is required"))?], r)?[0];
        let DynKind::Final(kind) = first.kind else {
            return Err(unsupported(
                node,
                "concatenates run-time values other than final states; recur cannot express it",
            ));
        };
        let single_slot = |a: &Atom| a.is_one() && matches!(a.label, Label::Slots(_));
        // What each input puts along `axis`: whole slots, or the hidden vectors of slots.
        let mut slots = Vec::new();
        let mut hidden: Option<Option<usize>> = None;
        for v in &vals {
            let Val::Dyn(d) = v else { return Err(unsupported(node, "concatenates constants with final states")) };
            if d.kind != DynKind::Final(kind) {
                return Err(unsupported(node, "concatenates final states of different kinds or other values"));
            }
            if d.groups.len() != r {
                return Err(shape_err(node, "inputs", "have different ranks"));
            }
            let sig: Vec<&Atom> = d.groups[axis].iter().filter(|a| a.label != Label::Unit).collect();
            let (these, h) = match sig.as_slice() {
                [Atom { label: Label::Slots(s), .. }] => (s.clone(), None),
                [Atom { label: Label::Slots(s), .. }, Atom { label: Label::Hid(h), .. }] => (s.clone(), Some(*h)),
                [Atom { label: Label::Hid(h), .. }] => {
                    // One slot, its axis squeezed or gathered away.
                    let elsewhere: Vec<&Atom> = d
                        .groups
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != axis)
                        .flat_map(|(_, g)| g.iter())
                        .chain(&d.dropped)
                        .filter(|a| matches!(a.label, Label::Slots(_)))
                        .collect();
                    match elsewhere.as_slice() {
                        [Atom { label: Label::Slots(s), .. }] if s.len() == 1 => (s.clone(), Some(*h)),
                        _ => {
                            return Err(unsupported(
                                node,
                                "concatenates hidden vectors whose state slot cannot be told",
                            ))
                        }
                    }
                }
                _ => {
                    return Err(unsupported(
                        node,
                        "concatenates final states along an axis other than their slot or hidden axis",
                    ))
                }
            };
            match hidden {
                None => hidden = Some(h),
                Some(prev) if prev != h => {
                    return Err(unsupported(
                        node,
                        "concatenates final states of different hidden sizes, or slots with hidden vectors",
                    ))
                }
                Some(_) => {}
            }
            slots.extend(these);
            for (i, (g, f)) in d.groups.iter().zip(&first.groups).enumerate() {
                if i == axis {
                    continue;
                }
                // Single slots outside the axis are what the hidden form concatenates.
                let sig = |g: &Group| -> Vec<Label> {
                    g.iter()
                        .filter(|a| a.label != Label::Unit && !(h.is_some() && single_slot(a)))
                        .map(|a| a.label.clone())
                        .collect()
                };
                if sig(g) != sig(f) {
                    let same_size = group_size(g).is_some_and(|a| Some(a) == group_size(f));
                    return Err(if same_size {
                        unsupported(
                            node,
                            alloc::format!("concatenates final states whose axis {i} means different things"),
                        )
                    } else {
                        shape_err(node, "inputs", alloc::format!("differ in size on axis {i}"))
                    });
                }
            }
        }
        let mut v = (**first).clone();
        let n = slots.len();
        match hidden.flatten() {
            None => v.groups[axis] = alloc::vec![Atom::new(Label::Slots(slots), n)],
            Some(h) => {
                for (i, g) in v.groups.iter_mut().enumerate() {
                    if i != axis {
                        g.retain(|a| !single_slot(a));
                        if g.is_empty() {
                            g.push(Atom::unit());
                        }
                    }
                }
                v.dropped.retain(|a| !matches!(a.label, Label::Slots(_)));
                v.groups[axis] = alloc::vec![Atom::new(Label::Slots(slots), n), Atom::new(Label::Hid(h), h)];
            }
        }
        Ok(alloc::vec![Some(Val::Dyn(Rc::new(v)))])
    }

    // ---------------------------------------------------------------- dense layers

    /// The feature (frame) group index of a sequence value, checking it is the chain end.
    fn frame_group(&mut self, node: &Node<'_>, slot: &str, v: &Val, at: usize, n: usize) -> R<Rc<DynVal>> {
        let d = match v {
            Val::Dyn(d) => d.clone(),
            _ => return Err(unsupported_input(node, slot, "is a constant")),
        };
        let mut wants: Vec<Option<Want>> = alloc::vec![None; d.groups.len()];
        if at >= wants.len() {
            return Err(shape_err(node, slot, "has too small a rank"));
        }
        wants[at] = Some(Want::Frame(n));
        // Only the frame group is checked; the others pass through.
        let stage = match d.kind {
            DynKind::Seq { stage, version } => {
                if self.head_from.is_some_and(|hf| stage >= hf) {
                    return Err(unsupported_input(
                        node,
                        slot,
                        alloc::format!(
                            "applies a per-frame layer to the output of layer {}, which already has a head on its final \
                             state; recur runs the layers after the last recurrent layer either per frame or on the final \
                             state, not both",
                            self.head_from.unwrap_or(1) - 1
                        ),
                    ));
                }
                if stage != self.layers.len() || version != self.version {
                    return Err(self.branch_error(node, slot, stage));
                }
                stage
            }
            DynKind::Head { stage, version } => {
                if stage != self.layers.len() || version != self.version {
                    return Err(unsupported_input(
                        node,
                        slot,
                        alloc::format!(
                            "reads the head's layer {} after a later layer was applied to it; recur supports a single \
                             chain of layers",
                            stage - 1
                        ),
                    ));
                }
                stage
            }
            DynKind::Input(i) => {
                if !self.layers.is_empty() || self.seq_input.is_some_and(|s| s != i) {
                    return Err(self.branch_error(node, slot, 0));
                }
                0
            }
            DynKind::Final(_) => {
                // Dense operators route final states through `head_input` first.
                return Err(unsupported_input(node, slot, "is a final state where a per-frame value is expected"));
            }
        };
        let x = match d.kind {
            DynKind::Input(i) => i,
            _ => self.seq_input.unwrap_or(usize::MAX),
        };
        match self.match_group(&d.groups[at], Want::Frame(n), stage, x) {
            GroupMatch::Yes(roles) => {
                if let DynKind::Input(i) = d.kind {
                    let rank = d.groups.len();
                    self.apply_roles(i, &roles, rank).map_err(|m| unsupported_input(node, slot, m))?;
                }
                Ok(d)
            }
            GroupMatch::WrongSize(m) => Err(shape_err(node, slot, alloc::format!("axis {at} {m}"))),
            GroupMatch::No(m) => Err(unsupported_input(node, slot, alloc::format!("axis {at} {m}"))),
        }
    }

    /// A dense operator reading a final state starts the model's *head*: the dense layers
    /// that run once per sequence on the final hidden state of the last recurrent layer.
    /// Checks that `d` is that state, arranged as `[batch, features]` (or `[features]`)
    /// where the features are whole `[slots, hidden]` blocks of the last recurrent layer
    /// (or one slot's hidden vector, its slot axis squeezed or gathered away), and returns
    /// the value with its slot atoms removed and, for each feature, its position in the
    /// last recurrent layer's output vector (directions forward first). The caller adds the
    /// head's first dense layer over that whole vector ([`Importer::widen`]).
    fn enter_head(&mut self, node: &Node<'_>, slot: &str, d: &DynVal, at: usize) -> R<(DynVal, Vec<usize>)> {
        let refuse = |why: String| unsupported_input(node, slot, why);
        let DynKind::Final(kind) = d.kind else { return Err(refuse("is not a final state".into())) };
        if kind != StateKind::H {
            return Err(refuse("is a final cell state c; a head reads the final hidden state h".into()));
        }
        if let Some(hf) = self.head_from {
            return Err(refuse(alloc::format!(
                "reads a final state, but layers {hf}.. already are a head on the final state; recur supports one head"
            )));
        }
        let li = self.layers.len().saturating_sub(1);
        let (h, dirs) =
            match self.layers.last().map(|l| &l.desc) {
                Some(LayerDesc::Recurrent(r)) => (r.hidden_size, r.direction.count()),
                _ => return Err(refuse(
                    "is a final state, but per-frame dense layers already follow the last recurrent layer; recur runs \
                     the layers after the last recurrent layer either per frame or on its final state, not both"
                        .into(),
                )),
            };
        if at >= d.groups.len() {
            return Err(shape_err(node, slot, "has too small a rank"));
        }
        let x = self.seq_input.unwrap_or(usize::MAX);
        // Atoms that change nothing: inserted units, axes of size one of a graph input (a
        // batch of one) and single slots outside the feature axis (read below).
        let minor =
            |a: &Atom| a.label == Label::Unit || (a.is_one() && matches!(a.label, Label::In { .. } | Label::Slots(_)));
        let feat: Vec<&Atom> = d.groups[at]
            .iter()
            .filter(|a| !(a.label == Label::Unit || a.is_one() && matches!(a.label, Label::In { .. })))
            .collect();
        let (slots, hh) = match feat.as_slice() {
            [Atom { label: Label::Slots(s), .. }, Atom { label: Label::Hid(hh), .. }] => (s.clone(), *hh),
            [Atom { label: Label::Hid(hh), .. }] => {
                // One slot whose axis was squeezed or gathered away (or kept elsewhere as size one).
                let others: Vec<&Vec<StateSlot>> = d
                    .groups
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .flat_map(|(_, g)| g.iter())
                    .chain(&d.dropped)
                    .filter_map(|a| match &a.label {
                        Label::Slots(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                match others.as_slice() {
                    [s] if s.len() == 1 => ((*s).clone(), *hh),
                    _ => {
                        return Err(refuse(alloc::format!(
                            "axis {at} is one hidden vector, but which state slot it is cannot be told"
                        )))
                    }
                }
            }
            _ => {
                return Err(refuse(alloc::format!(
                    "axis {at} is not whole final hidden states of layer {li} (hidden size {h}), with the slots before \
                     the hidden units ([slots, hidden] merged in that order)"
                )))
            }
        };
        for (k, s) in slots.iter().enumerate() {
            if usize::from(s.layer) != li || usize::from(s.dir) >= dirs {
                return Err(refuse(alloc::format!(
                    "reads the final state of layer {} direction {}; a head reads the last recurrent layer's ({li})",
                    s.layer,
                    s.dir
                )));
            }
            if slots[..k].contains(s) {
                return Err(refuse(alloc::format!("reads the final state of layer {li} direction {} twice", s.dir)));
            }
        }
        if hh != h {
            return Err(refuse(alloc::format!("axis {at} has hidden vectors of {hh}, but layer {li}'s are {h}")));
        }
        for (i, g) in d.groups.iter().enumerate() {
            if i != at
                && !g
                    .iter()
                    .filter(|a| !minor(a))
                    .all(|a| self.seq_axis(a, x).is_some_and(|(_, r)| r == Some(Role::Batch)))
            {
                return Err(refuse(alloc::format!("axis {i} is not the batch axis")));
            }
        }
        let mut v = d.clone();
        for (i, g) in v.groups.iter_mut().enumerate() {
            if i != at {
                g.retain(|a| !matches!(a.label, Label::Slots(_)));
                if g.is_empty() {
                    g.push(Atom::unit());
                }
            }
        }
        v.dropped.retain(|a| !matches!(a.label, Label::Slots(_)));
        let cols: Vec<usize> = slots.iter().flat_map(|s| (0..h).map(move |j| usize::from(s.dir) * h + j)).collect();
        self.head_from = Some(self.layers.len());
        let unread: Vec<String> = (0..dirs)
            .filter(|&dd| !slots.iter().any(|s| usize::from(s.dir) == dd))
            .map(|dd| alloc::format!("direction {dd}"))
            .collect();
        self.report.push(alloc::format!(
            "layer {}: the head, from {}, reads the final h of layer {li} {}{}: it runs once per sequence",
            self.layers.len(),
            node.label,
            slots_text(&slots),
            if unread.is_empty() {
                String::new()
            } else {
                alloc::format!(" (it ignores {} through zero weights)", unread.join(", "))
            }
        ));
        Ok((v, cols))
    }

    /// The head's input if `d` is a final state (see [`Importer::enter_head`]), checking
    /// its feature count against the `n` the operator's weights take.
    fn head_input(
        &mut self,
        node: &Node<'_>,
        slot: &str,
        d: &DynVal,
        at: usize,
        n: usize,
    ) -> R<Option<(Rc<DynVal>, Vec<usize>)>> {
        if !matches!(d.kind, DynKind::Final(_)) {
            return Ok(None);
        }
        let (v, cols) = self.enter_head(node, slot, d, at)?;
        if cols.len() != n {
            return Err(shape_err(
                node,
                slot,
                alloc::format!("axis {at} has {} features but {n} are expected", cols.len()),
            ));
        }
        Ok(Some((Rc::new(v), cols)))
    }

    /// The weights `w` (`[o, i]`) of a head's first layer spread over the last recurrent
    /// layer's whole output: column `k` moves to `cols[k]`, the others are zero. Without
    /// `cols` (not a head), `w` as is.
    fn widen(&self, w: Vec<f32>, o: usize, i: usize, cols: Option<&[usize]>) -> (Vec<f32>, usize) {
        let Some(cols) = cols else { return (w, i) };
        let width = self.stage_width();
        if cols.len() == width && cols.iter().enumerate().all(|(k, &c)| k == c) {
            return (w, i);
        }
        let mut out = alloc::vec![0.0f32; o * width];
        for r in 0..o {
            for (k, &c) in cols.iter().enumerate() {
                out[r * width + c] = w[r * i + k];
            }
        }
        (out, width)
    }

    /// A bias or activation applied to a final state starts the head with an exact
    /// selection layer (one weight of 1 per row) that carries the final state's features;
    /// returns the new value, or `None` when `x` is not a final state.
    fn head_selection(&mut self, node: &Node<'_>, slot: &str, x: &Val) -> R<Option<Val>> {
        let Val::Dyn(d) = x else { return Ok(None) };
        if !matches!(d.kind, DynKind::Final(_)) {
            return Ok(None);
        }
        let at = d.groups.len().checked_sub(1).ok_or_else(|| unsupported(node, "applies to a scalar"))?;
        let (v, cols) = self.enter_head(node, slot, d, at)?;
        let (width, n) = (self.stage_width(), cols.len());
        let mut w = alloc::vec![0.0f32; n * width];
        for (k, &c) in cols.iter().enumerate() {
            w[k * width + c] = 1.0;
        }
        self.report.push(alloc::format!(
            "layer {}: selection Dense ({width} -> {n}) inserted to carry {}",
            self.layers.len(),
            node.label
        ));
        let desc = DenseDesc { input_size: width, output_size: n, activation: DenseAct::None, dtype: DType::F32 };
        Ok(Some(self.push_dense(&v, at, desc, w, None)))
    }

    fn push_dense(&mut self, d: &DynVal, at: usize, desc: DenseDesc, w: Vec<f32>, b: Option<Vec<f32>>) -> Val {
        let o = desc.output_size;
        self.layers.push(Layer { desc: LayerDesc::Dense(desc), weights: LayerWeights::Dense { w, b } });
        self.version = 0;
        let mut v = d.clone();
        let stage = self.layers.len();
        v.kind = if matches!(d.kind, DynKind::Final(_) | DynKind::Head { .. }) {
            DynKind::Head { stage, version: 0 }
        } else {
            DynKind::Seq { stage, version: 0 }
        };
        v.groups[at] = alloc::vec![Atom::new(Label::Feat(o), o)];
        v.ty = ElemType::F32;
        Val::Dyn(Rc::new(v))
    }

    fn stage_width(&self) -> usize {
        self.layers.last().map_or(0, |l| l.desc.output_size())
    }

    fn matmul(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        node.check_attrs(&[], self.opset)?;
        let (Some(Some(a)), Some(Some(b))) = (ins.first(), ins.get(1)) else { return Err(missing(node, "B")) };
        if !matches!(a, Val::Dyn(_)) {
            return Err(unsupported(node, "multiplies a constant by a run-time value (recur needs x @ W)"));
        }
        if a.ty() != b.ty() {
            return Err(OnnxError::TypeMismatch {
                node: Box::new(node.label.clone()),
                why: alloc::format!("A is {} but B is {}", a.ty(), b.ty()),
            });
        }
        if a.ty() != ElemType::F32 {
            return Err(OnnxError::UnsupportedType {
                what: alloc::format!("{} input A", node.label),
                dtype: a.ty().name().into(),
            });
        }
        let wt = self.weight(node, "B", b)?;
        if wt.shape.len() != 2 {
            return Err(unsupported_input(
                node,
                "B",
                alloc::format!("has shape {}; recur maps x @ W with a 2-D W", wt.shape_str()),
            ));
        }
        let (i, o) = (wt.shape[0], wt.shape[1]);
        let ad = a.as_dyn().expect("checked").clone();
        // A head's vector may have lost its batch axis ([H] @ [H, O]).
        let per_sequence = matches!(ad.kind, DynKind::Final(_) | DynKind::Head { .. });
        if ad.groups.is_empty() || (ad.groups.len() < 2 && !per_sequence) {
            return Err(unsupported_input(node, "A", "has rank < 2"));
        }
        let at = ad.groups.len() - 1;
        let head = self.head_input(node, "A", &ad, at, i)?;
        let d = match &head {
            Some((d, _)) => d.clone(),
            None => self.frame_group(node, "A", a, at, i)?,
        };
        let wv = f32_data(&wt);
        let mut w = alloc::vec![0.0f32; i * o];
        for (k, row) in wv.chunks_exact(o.max(1)).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                w[j * i + k] = v;
            }
        }
        let (w, i) = self.widen(w, o, i, head.as_ref().map(|h| &h.1[..]));
        let layer = self.layers.len();
        self.report.push(alloc::format!("layer {layer}: Dense from {} ({i} -> {o})", node.label));
        let desc = DenseDesc { input_size: i, output_size: o, activation: DenseAct::None, dtype: DType::F32 };
        Ok(alloc::vec![Some(self.push_dense(&d, at, desc, w, None))])
    }

    fn gemm(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        node.check_attrs(&["alpha", "beta", "transA", "transB"], self.opset)?;
        let (Some(Some(a)), Some(Some(b))) = (ins.first(), ins.get(1)) else { return Err(missing(node, "B")) };
        if !matches!(a, Val::Dyn(_)) {
            return Err(unsupported(node, "multiplies a constant by a run-time value (recur needs x @ W)"));
        }
        if a.ty() != b.ty() {
            return Err(OnnxError::TypeMismatch {
                node: Box::new(node.label.clone()),
                why: alloc::format!("A is {} but B is {}", a.ty(), b.ty()),
            });
        }
        if a.ty() != ElemType::F32 {
            return Err(OnnxError::UnsupportedType {
                what: alloc::format!("{} input A", node.label),
                dtype: a.ty().name().into(),
            });
        }
        let alpha = node.a_float("alpha")?.unwrap_or(1.0);
        let beta = node.a_float("beta")?.unwrap_or(1.0);
        let ta = node.a_int("transA")?.unwrap_or(0) != 0;
        let tb = node.a_int("transB")?.unwrap_or(0) != 0;
        let wt = self.weight(node, "B", b)?;
        if wt.shape.len() != 2 {
            return Err(shape_err(node, "B", alloc::format!("has shape {} but Gemm needs a matrix", wt.shape_str())));
        }
        let (i, o) = if tb { (wt.shape[1], wt.shape[0]) } else { (wt.shape[0], wt.shape[1]) };
        let ad = a.as_dyn().expect("checked").clone();
        if ad.groups.len() != 2 {
            return Err(shape_err(node, "A", alloc::format!("has rank {} but Gemm needs a matrix", ad.groups.len())));
        }
        let at = if ta { 0 } else { 1 };
        let head = self.head_input(node, "A", &ad, at, i)?;
        let d = match &head {
            Some((d, _)) => d.clone(),
            None => self.frame_group(node, "A", a, at, i)?,
        };
        let wv = f32_data(&wt);
        // Dense W is [O, I]: B^T when B is [I, O], B itself when transB.
        let mut w = alloc::vec![0.0f32; i * o];
        for oo in 0..o {
            for ii in 0..i {
                let v = if tb { wv[oo * i + ii] } else { wv[ii * o + oo] };
                w[oo * i + ii] = alpha * v;
            }
        }
        let bias = match ins.get(2).cloned().flatten() {
            None => None,
            Some(c) => {
                let c = dense(&c).ok_or_else(|| unsupported_input(node, "C", "is computed at run time"))?;
                let cv = c.as_f64().ok_or_else(|| OnnxError::TypeMismatch {
                    node: Box::new(node.label.clone()),
                    why: "C is not numeric".into(),
                })?;
                let ok_shape = match c.shape.as_slice() {
                    [] => true,
                    [n] => *n == o || *n == 1,
                    [r, n] => *r == 1 && (*n == o || *n == 1),
                    _ => false,
                };
                if !ok_shape {
                    return Err(unsupported_input(
                        node,
                        "C",
                        alloc::format!("has shape {}; recur needs one bias per output", c.shape_str()),
                    ));
                }
                Some((0..o).map(|k| beta * cv[if cv.len() == 1 { 0 } else { k }] as f32).collect())
            }
        };
        if alpha != 1.0 || (beta != 1.0 && bias.is_some()) {
            self.report.push(alloc::format!(
                "{}: alpha={alpha} folded into the weights, beta={beta} into the bias",
                node.label
            ));
        }
        let (w, i) = self.widen(w, o, i, head.as_ref().map(|h| &h.1[..]));
        let mut out_d = (*d).clone();
        if ta {
            out_d.groups.swap(0, 1);
        }
        let layer = self.layers.len();
        self.report.push(alloc::format!("layer {layer}: Dense from {} ({i} -> {o})", node.label));
        let desc = DenseDesc { input_size: i, output_size: o, activation: DenseAct::None, dtype: DType::F32 };
        Ok(alloc::vec![Some(self.push_dense(&out_d, 1, desc, w, bias))])
    }

    /// Makes sure the chain ends with a dense layer that can still take a bias or an
    /// activation, inserting an identity dense layer (exact: one weight of 1 per row)
    /// when it does not.
    fn open_dense(&mut self, node: &Node<'_>, d: &DynVal, at: usize) -> R<()> {
        let reusable = match self.layers.last() {
            Some(Layer { desc: LayerDesc::Dense(dd), weights: LayerWeights::Dense { .. } }) => {
                dd.activation == DenseAct::None && matches!(d.kind, DynKind::Seq { .. } | DynKind::Head { .. })
            }
            _ => false,
        };
        if reusable {
            return Ok(());
        }
        let n = if matches!(d.kind, DynKind::Input(_)) {
            match group_size(&d.groups[at]).and_then(|s| s.known()) {
                Some(k) => k as usize,
                None => return Err(unsupported(node, "applies to model input features of run-time size")),
            }
        } else {
            self.stage_width()
        };
        // Past this width an inserted identity layer would dwarf any real layer.
        if n == 0 || n > 1 << 13 {
            return Err(OnnxError::LimitExceeded {
                what: alloc::format!("the width of the identity layer that would carry {}", node.label),
                value: n as u128,
                limit: 1 << 13,
            });
        }
        let mut w = alloc::vec![0.0f32; n * n];
        for k in 0..n {
            w[k * n + k] = 1.0;
        }
        let layer = self.layers.len();
        self.report.push(alloc::format!("layer {layer}: identity Dense ({n} -> {n}) inserted to carry {}", node.label));
        self.layers.push(Layer {
            desc: LayerDesc::Dense(DenseDesc {
                input_size: n,
                output_size: n,
                activation: DenseAct::None,
                dtype: DType::F32,
            }),
            weights: LayerWeights::Dense { w, b: None },
        });
        self.version = 0;
        Ok(())
    }

    /// The value after a bias or activation was fused into the last (dense) layer: a new
    /// version of the chain's end, whose frame axis is that layer's output.
    fn bump(&mut self, d: &DynVal, at: usize) -> Val {
        self.version += 1;
        let mut v = d.clone();
        let (stage, version) = (self.layers.len(), self.version);
        v.kind = if matches!(d.kind, DynKind::Head { .. }) {
            DynKind::Head { stage, version }
        } else {
            DynKind::Seq { stage, version }
        };
        let n = self.stage_width();
        v.groups[at] = alloc::vec![Atom::new(Label::Feat(n), n)];
        v.ty = ElemType::F32;
        Val::Dyn(Rc::new(v))
    }

    fn bias(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        node.check_attrs(&[], self.opset)?;
        let op = node.op();
        let (Some(Some(a)), Some(Some(b))) = (ins.first(), ins.get(1)) else { return Err(missing(node, "B")) };
        let (x, c, x_first) = match (a, b) {
            (Val::Dyn(_), Val::Dyn(_)) => {
                return Err(unsupported(
                    node,
                    alloc::format!("{op} of two run-time values (a residual connection) is not supported"),
                ))
            }
            (Val::Dyn(_), c) => (a, c, true),
            (c, Val::Dyn(_)) => (b, c, false),
            _ => return Err(unsupported(node, "adds constants recur could not fold")),
        };
        if op == "Sub" && !x_first {
            return Err(unsupported(node, "subtracts a run-time value from a constant"));
        }
        if x.ty() != c.ty() {
            return Err(OnnxError::TypeMismatch {
                node: Box::new(node.label.clone()),
                why: alloc::format!("inputs are {} and {}", x.ty(), c.ty()),
            });
        }
        let selected = self.head_selection(node, if x_first { "A" } else { "B" }, x)?;
        let x = selected.as_ref().unwrap_or(x);
        let xd = x.as_dyn().expect("dyn").clone();
        let rank = xd.groups.len();
        let at = rank.checked_sub(1).ok_or_else(|| unsupported(node, "adds to a scalar"))?;
        let n = if self.layers.is_empty() {
            group_size(&xd.groups[at]).and_then(|s| s.known()).unwrap_or(0) as usize
        } else {
            self.stage_width()
        };
        let d = self.frame_group(node, if x_first { "A" } else { "B" }, x, at, n)?;
        let ct = dense(c).ok_or_else(|| unsupported(node, "adds a constant of run-time shape"))?;
        // The constant must only vary along the feature axis (the last one).
        if ct.shape.len() > rank
            || ct.shape.iter().rev().skip(1).any(|&s| s != 1)
            || !matches!(ct.shape.last(), None | Some(&1)) && ct.shape.last() != Some(&n)
        {
            return Err(unsupported_input(
                node,
                if x_first { "B" } else { "A" },
                alloc::format!(
                    "has shape {}; recur maps a bias that varies along the feature axis only",
                    ct.shape_str()
                ),
            ));
        }
        let cv = f32_data(&ct);
        let mut bias: Vec<f32> = (0..n).map(|k| cv[if cv.len() == 1 { 0 } else { k }]).collect();
        if op == "Sub" {
            bias.iter_mut().for_each(|v| *v = -*v);
        }
        self.open_dense(node, &d, at)?;
        let layer = self.layers.len() - 1;
        if let Some(Layer { weights: LayerWeights::Dense { b, .. }, .. }) = self.layers.last_mut() {
            match b {
                Some(old) => {
                    for (o, v) in old.iter_mut().zip(&bias) {
                        *o += *v;
                    }
                }
                None => *b = Some(bias),
            }
        }
        self.report.push(alloc::format!("layer {layer}: bias from {}", node.label));
        Ok(alloc::vec![Some(self.bump(&d, at))])
    }

    fn activation(&mut self, node: &Node<'_>, ins: &[Option<Val>]) -> R<Vec<Option<Val>>> {
        let op = node.op();
        let softmax = matches!(op, "Softmax" | "LogSoftmax");
        node.check_attrs(if softmax { &["axis"] } else { &[] }, self.opset)?;
        let Some(Some(x)) = ins.first() else { return Err(missing(node, "input")) };
        let selected = self.head_selection(node, "input", x)?;
        let x = selected.as_ref().unwrap_or(x);
        let Some(xd) = x.as_dyn().cloned() else {
            return Err(unsupported(node, "applies to a constant; recur does not fold this operator"));
        };
        let rank = xd.groups.len();
        if rank == 0 {
            return Err(unsupported(node, "applies to a scalar"));
        }
        let at = rank - 1;
        let n = if self.layers.is_empty() {
            group_size(&xd.groups[at]).and_then(|s| s.known()).unwrap_or(0) as usize
        } else {
            self.stage_width()
        };
        let d = self.frame_group(node, "input", x, at, n)?;
        if softmax {
            let default = if self.opset >= 13 { -1 } else { 1 };
            let axis = node.a_int("axis")?.unwrap_or(default);
            let a = norm_axes(node, &[axis], rank)?[0];
            // Before opset 13 the input is flattened to 2-D at `axis`: still the feature
            // axis alone if every axis from `axis` on, but the last, has size 1.
            let ok =
                if self.opset >= 13 { a == at } else { (a..at).all(|k| group_size(&d.groups[k]) == Some(SInt::K(1))) };
            if !ok {
                return Err(node.unsupported_attr(
                    "axis",
                    &axis.to_string(),
                    &alloc::format!("normalizes over axis {a}, not the feature axis {at}"),
                ));
            }
        }
        let act = match op {
            "Relu" => DenseAct::Relu,
            "Tanh" => DenseAct::Tanh,
            "Sigmoid" => DenseAct::Sigmoid,
            "Softmax" => DenseAct::Softmax,
            _ => DenseAct::LogSoftmax,
        };
        self.open_dense(node, &d, at)?;
        let layer = self.layers.len() - 1;
        if let Some(Layer { desc: LayerDesc::Dense(dd), .. }) = self.layers.last_mut() {
            dd.activation = act;
        }
        self.report.push(alloc::format!("layer {layer}: activation {} from {}", act.name(), node.label));
        Ok(alloc::vec![Some(self.bump(&d, at))])
    }

    // ---------------------------------------------------------------- interface

    fn finish(mut self) -> R<Recognised> {
        if self.recurrent_layers == 0 {
            return Err(OnnxError::UnsupportedModel(
                "the graph has no RNN, LSTM or GRU node on the path from its inputs to its outputs".into(),
            ));
        }
        if (self.seq_lens.is_some() || self.const_lens.is_some()) && self.seq_lens_layers != self.recurrent_layers {
            return Err(OnnxError::UnsupportedModel(alloc::format!(
                "sequence_lens feeds {} of the {} recurrent layers; recur applies it to all or none",
                self.seq_lens_layers,
                self.recurrent_layers
            )));
        }
        let mut outputs = Vec::with_capacity(self.g.outputs.len());
        for (id, info) in self.g.outputs.clone() {
            let name = info.name.clone();
            let v = self.vals[id].clone().ok_or_else(|| OnnxError::UndefinedOutput { name: name.clone() })?;
            let role = self.output_role(&name, &v)?;
            outputs.push(IoBinding { name, role, dims: dims_of(info) });
        }
        let mut inputs = Vec::with_capacity(self.g.inputs.len());
        for (i, gi) in self.g.inputs.iter().enumerate() {
            let name = gi.info.name.clone();
            let role = match &self.uses[i] {
                InputUse::Unused => {
                    return Err(OnnxError::UnsupportedInterface {
                        what: "input",
                        name,
                        why: "is not used by the recognised model; recur cannot bind an ignored input".into(),
                    })
                }
                InputUse::SeqLens => {
                    self.report.push(alloc::format!("input '{name}': sequence_lens"));
                    IoRole::SequenceLens
                }
                InputUse::Seq => {
                    let layout = self.input_layout(&name)?;
                    self.report.push(alloc::format!("input '{name}': sequence, {layout:?}"));
                    IoRole::Sequence(layout)
                }
                InputUse::State(s) => {
                    let mut rows = s.rows.clone();
                    rows.sort_by_key(|r| r.0);
                    let declared = gi
                        .info
                        .r#type
                        .as_ref()
                        .and_then(|t| t.tensor_type.as_ref())
                        .and_then(|t| t.shape.as_ref())
                        .map(|s| s.dim.clone())
                        .unwrap_or_default();
                    let total = match s.slot_axis {
                        None => 1,
                        Some(a) => match declared.get(a).and_then(|d| d.dim_value) {
                            Some(v) => v as usize,
                            None => rows.last().map_or(0, |r| r.1),
                        },
                    };
                    let mut at = 0;
                    let mut slots = Vec::new();
                    for (s0, e, sl) in &rows {
                        if *s0 != at {
                            break;
                        }
                        at = *e;
                        slots.extend_from_slice(sl);
                    }
                    if at != total {
                        return Err(OnnxError::UnsupportedInterface {
                            what: "input",
                            name,
                            why: alloc::format!(
                                "initial-state rows {at}..{total} feed no layer (recur binds every row of a state input)"
                            ),
                        });
                    }
                    let layout = match (s.slot_axis, s.batch_axis, s.hid_axis, declared.len()) {
                        (Some(0), 1, 2, 3) => StateLayout::SlotBatchHidden,
                        (Some(1), 0, 2, 3) => StateLayout::BatchSlotHidden,
                        (None, 0, 1, 2) => StateLayout::BatchHidden,
                        _ => {
                            return Err(OnnxError::UnsupportedInterface {
                                what: "input",
                                name,
                                why: alloc::format!(
                                    "arranges its states as slot axis {:?}, batch axis {}, hidden axis {}, which recur \
                                     cannot express",
                                    s.slot_axis, s.batch_axis, s.hid_axis
                                ),
                            })
                        }
                    };
                    self.report.push(alloc::format!(
                        "input '{name}': initial {:?} of slots {} ({layout:?})",
                        s.kind,
                        slots_text(&slots)
                    ));
                    IoRole::InitialState { kind: s.kind, slots, layout }
                }
            };
            inputs.push(IoBinding { name, role, dims: dims_of(gi.info) });
        }
        let desc = ModelDesc { layers: self.layers.iter().map(|l| l.desc.clone()).collect() };
        let parts: Vec<String> = desc
            .layers
            .iter()
            .map(|l| alloc::format!("{} {}->{}", l.kind_name(), l.input_size(), l.output_size()))
            .collect();
        self.report.push(alloc::format!(
            "model: {} layer(s) [{}], {} parameters",
            desc.layers.len(),
            parts.join(", "),
            desc.parameter_count()
        ));
        let weights: Vec<LayerWeights> = self.layers.into_iter().map(|l| l.weights).collect();
        let model = PackedModel::pack(desc, &weights)?;
        let mut constants = Vec::new();
        if let Some((name, lens)) = self.const_lens.take() {
            constants.push(ConstInput {
                name,
                role: IoRole::SequenceLens,
                shape: alloc::vec![lens.len() as u64],
                values: ConstValues::Lengths(lens),
            });
        }
        constants.append(&mut self.const_states);
        // Constants fix the batch size, so they must agree on it (each was checked
        // against X's batch size where that is fixed).
        let batches: Vec<(String, u64)> =
            constants.iter().filter_map(|c| c.batch().map(|b| (c.name.clone(), b))).collect();
        if let Some((name, b)) = batches.iter().find(|(_, b)| *b != batches[0].1) {
            return Err(OnnxError::UnsupportedModel(alloc::format!(
                "constant '{name}' has batch size {b} but constant '{}' has {}; they must agree",
                batches[0].0,
                batches[0].1
            )));
        }
        let interface = GraphInterface { inputs, outputs, constants };
        // What the importer hands out, the writer stores (names, counts and limits).
        crate::file::check_interface(&interface, &model.desc).map_err(|e| {
            OnnxError::UnsupportedModel(alloc::format!("the graph's interface cannot be stored in a .recur file: {e}"))
        })?;
        Ok(Recognised { model, interface, report: self.report })
    }

    fn input_layout(&self, name: &str) -> R<SeqLayout> {
        let mut roles = self.seq_roles.clone();
        let Some(x) = self.seq_input else {
            return Err(OnnxError::UnsupportedInterface {
                what: "input",
                name: name.into(),
                why: "feeds no layer".into(),
            });
        };
        let dyn_x = self.vals[self.g.inputs[x].id].as_ref().and_then(|v| v.as_dyn().cloned());
        // An unassigned axis of size 1 is the batch axis when no other axis is.
        if !roles.contains(&Some(Role::Batch)) {
            if let Some(d) = &dyn_x {
                for (ax, r) in roles.iter_mut().enumerate() {
                    if r.is_none() && d.groups.get(ax).is_some_and(|g| g.iter().all(|a| a.is_one())) {
                        *r = Some(Role::Batch);
                        break;
                    }
                }
            }
        }
        use Role::*;
        match roles.as_slice() {
            [Some(Time), Some(Batch), Some(Feature)] => Ok(SeqLayout::TimeBatchFeature),
            [Some(Batch), Some(Time), Some(Feature)] => Ok(SeqLayout::BatchTimeFeature),
            [Some(Time), Some(Feature)] => Ok(SeqLayout::TimeFeature),
            r => Err(OnnxError::UnsupportedInterface {
                what: "input",
                name: name.into(),
                why: alloc::format!("its axes are used as {r:?}, which is not [T, B, F], [B, T, F] or [T, F]"),
            }),
        }
    }

    fn output_role(&mut self, name: &str, v: &Val) -> R<IoRole> {
        let err = |why: String| OnnxError::UnsupportedInterface { what: "output", name: name.into(), why };
        let d = match v {
            Val::Dyn(d) => d.clone(),
            _ => return Err(err("is a constant; recur outputs computed values only".into())),
        };
        match &d.kind {
            DynKind::Input(_) => Err(err("passes a graph input through unchanged".into())),
            DynKind::Seq { stage, version } => {
                // With a head on the final state, the per-frame output is the last
                // recurrent layer's.
                let recurrent_frames = self.head_from == Some(*stage) && *version == 0;
                if let Some(hf) = self.head_from.filter(|_| !recurrent_frames) {
                    return Err(err(alloc::format!(
                        "is a per-frame output of layer {}, but the layers after layer {} run once per sequence \
                         (a head on the final state); recur outputs per frame the last recurrent layer's frames only",
                        stage.saturating_sub(1),
                        hf - 1
                    )));
                }
                if !recurrent_frames && (*stage != self.layers.len() || *version != self.version) {
                    return Err(err(alloc::format!(
                        "is the output of layer {} before the rest of the chain; recur outputs the last layer only{}",
                        stage.saturating_sub(1),
                        match self.head_from {
                            Some(hf) => alloc::format!(
                                " (per frame: layer {}, the last recurrent one; per sequence: the head)",
                                hf - 1
                            ),
                            None => String::new(),
                        }
                    )));
                }
                let last_layer = stage.checked_sub(1).and_then(|l| self.layers.get(l)).map(|l| &l.desc);
                let n = last_layer.map_or(0, |l| l.output_size());
                let mut tries: Vec<(SeqLayout, Vec<Want>)> = alloc::vec![
                    (SeqLayout::TimeBatchFeature, alloc::vec![Want::Time, Want::Batch, Want::Frame(n)]),
                    (SeqLayout::BatchTimeFeature, alloc::vec![Want::Batch, Want::Time, Want::Frame(n)]),
                    (SeqLayout::TimeFeature, alloc::vec![Want::Time, Want::Frame(n)]),
                    (SeqLayout::TimeBatchFlat, alloc::vec![Want::TimeBatch, Want::Frame(n)]),
                    (SeqLayout::BatchTimeFlat, alloc::vec![Want::BatchTime, Want::Frame(n)]),
                ];
                if let Some(LayerDesc::Recurrent(r)) = last_layer {
                    let (dd, h) = (r.direction.count(), r.hidden_size);
                    tries
                        .push((SeqLayout::OnnxY, alloc::vec![Want::Time, Want::Dir(dd), Want::Batch, Want::Hidden(h)]));
                    tries.push((
                        SeqLayout::OnnxYBatchFirst,
                        alloc::vec![Want::Batch, Want::Time, Want::Dir(dd), Want::Hidden(h)],
                    ));
                }
                let rank = d.groups.len();
                let mut last = String::new();
                for (layout, wants) in tries {
                    match self.match_seq(&d, &wants) {
                        Ok((_, roles)) => {
                            if roles.iter().all(|(ax, r)| self.seq_roles.get(*ax).copied().flatten() == Some(*r)) {
                                self.report
                                    .push(alloc::format!("output '{name}': output of layer {}, {layout:?}", stage - 1));
                                return Ok(IoRole::Output(layout));
                            }
                            last = "uses an axis of the input in a role the layers do not give it".into();
                        }
                        // Keep the reason from a layout of the right rank.
                        Err(Misfit::Invalid(m) | Misfit::Unsupported(m)) => {
                            if wants.len() == rank || last.is_empty() {
                                last = m;
                            }
                        }
                    }
                }
                Err(err(alloc::format!("cannot be expressed as a sequence layout: {last}")))
            }
            DynKind::Head { stage, version } => {
                if *stage != self.layers.len() || *version != self.version {
                    return Err(err(alloc::format!(
                        "is the output of the head's layer {} before the rest of the head; recur outputs the whole \
                         head only",
                        stage.saturating_sub(1)
                    )));
                }
                let n = self.stage_width();
                let x = self.seq_input.unwrap_or(usize::MAX);
                let sig = |g: &Group| -> Vec<Atom> {
                    g.iter()
                        .filter(|a| !(a.label == Label::Unit || a.is_one() && matches!(a.label, Label::In { .. })))
                        .cloned()
                        .collect()
                };
                let feat = |g: &Group| matches!(sig(g).as_slice(), [a] if a.label == Label::Feat(n));
                let batch = |g: &Group| match sig(g).as_slice() {
                    [] => true,
                    [a] => self.seq_axis(a, x).is_some_and(|(_, r)| r == Some(Role::Batch)),
                    _ => false,
                };
                let shape: Vec<SInt> = d.groups.iter().map(|g| group_size(g).unwrap_or(SInt::K(-1))).collect();
                let layout = match d.groups.as_slice() {
                    [b, f] if batch(b) && feat(f) => FinalLayout::BatchFeature,
                    [f] if feat(f) => FinalLayout::Feature,
                    _ => {
                        return Err(err(alloc::format!(
                            "arranges the head's per-sequence output as {}, which recur cannot express ([batch, {n}] \
                             or [{n}])",
                            shape_text(&shape)
                        )))
                    }
                };
                self.report.push(alloc::format!(
                    "output '{name}': the head (layers {}..{}) on the final state, once per sequence, {layout:?}",
                    self.head_from.unwrap_or(0),
                    self.layers.len()
                ));
                Ok(IoRole::FinalOutput(layout))
            }
            DynKind::Final(kind) => {
                let x = self.seq_input.unwrap_or(usize::MAX);
                let is_batch = |g: &Group| -> bool {
                    let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
                    match sig.as_slice() {
                        [] => true,
                        [a] => {
                            self.seq_axis(a, x).is_some_and(|(_, r)| r == Some(Role::Batch))
                                || a.is_one() && matches!(a.label, Label::In { .. })
                        }
                        _ => false,
                    }
                };
                let slots_of = |g: &Group| -> Option<Vec<StateSlot>> {
                    let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
                    match sig.as_slice() {
                        [a] => match &a.label {
                            Label::Slots(s) => Some(s.clone()),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                let hid = |g: &Group| -> bool {
                    let sig: Vec<&Atom> = g.iter().filter(|a| a.label != Label::Unit).collect();
                    matches!(sig.as_slice(), [a] if matches!(a.label, Label::Hid(_)))
                };
                let found = match d.groups.as_slice() {
                    [s, b, h] if hid(h) && is_batch(b) && slots_of(s).is_some() => {
                        Some((slots_of(s).expect("checked"), StateLayout::SlotBatchHidden))
                    }
                    [b, s, h] if hid(h) && is_batch(b) && slots_of(s).is_some() => {
                        Some((slots_of(s).expect("checked"), StateLayout::BatchSlotHidden))
                    }
                    [b, h] if hid(h) && is_batch(b) => {
                        let dropped: Vec<Vec<StateSlot>> = d
                            .dropped
                            .iter()
                            .filter_map(|a| match &a.label {
                                Label::Slots(s) => Some(s.clone()),
                                _ => None,
                            })
                            .collect();
                        match dropped.as_slice() {
                            [s] if s.len() == 1 => Some((s.clone(), StateLayout::BatchHidden)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some((slots, layout)) = found else {
                    return Err(err("arranges final states in a way recur cannot express ([slots, batch, hidden], [batch, slots, hidden] or [batch, hidden])".into()));
                };
                // All slots of one output must share a hidden size (Concat guarantees it).
                self.report.push(alloc::format!(
                    "output '{name}': final {kind:?} of slots {} ({layout:?})",
                    slots_text(&slots)
                ));
                Ok(IoRole::FinalState { kind: *kind, slots, layout })
            }
        }
    }
}

fn unreachable_fold(node: &Node<'_>) -> R<Vec<Option<Val>>> {
    Err(unsupported(node, "could not be evaluated"))
}

fn norm_axes(node: &Node<'_>, axes: &[i64], rank: usize) -> R<Vec<usize>> {
    let r = rank as i64;
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = if a < 0 { a + r } else { a };
        if n < 0 || n >= r {
            return Err(node.bad_attr("axes", &a.to_string(), &alloc::format!("is outside rank {rank}")));
        }
        if out.contains(&(n as usize)) {
            return Err(node.bad_attr("axes", &a.to_string(), "repeats an axis"));
        }
        out.push(n as usize);
    }
    Ok(out)
}

fn f32_data(t: &Tensor) -> Vec<f32> {
    match &t.data {
        Data::F32(v) => v.clone(),
        Data::F64(v) => v.iter().map(|&x| x as f32).collect(),
        Data::Int(v) => v.iter().map(|x| x.known().unwrap_or(0) as f32).collect(),
    }
}

fn act_text(d: &RecurrentDesc) -> String {
    let per = d.cell.activation_count();
    let mut s = String::from(", activations [");
    for dir in 0..d.direction.count() {
        if dir > 0 {
            s.push_str(" | ");
        }
        let parts: Vec<String> = d.activations[dir][..per].iter().map(|a| a.to_string()).collect();
        s.push_str(&parts.join(", "));
    }
    s.push(']');
    s
}

fn slots_text(slots: &[StateSlot]) -> String {
    let parts: Vec<String> = slots.iter().map(|s| alloc::format!("L{}d{}", s.layer, s.dir)).collect();
    alloc::format!("[{}]", parts.join(", "))
}

fn dims_of(info: &ValueInfoProto) -> Vec<Dim> {
    info.r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match (d.dim_value, &d.dim_param) {
                    (Some(v), _) if v >= 0 => Dim::Fixed(v as u64),
                    (_, Some(p)) => Dim::Symbolic(p.clone()),
                    _ => Dim::Symbolic(String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}
