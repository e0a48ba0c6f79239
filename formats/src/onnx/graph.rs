//! An indexed view of the ONNX graph: value names interned to ids, each value's single
//! definition, each node's inputs and outputs, plus the structural checks every ONNX graph
//! must pass (single assignment, no dangling references, no cycles).

use super::error::{NodeLabel, OnnxError};
use super::proto::{attribute_type as at, AttributeProto, GraphProto, TensorProto, ValueInfoProto};
use super::tensor::Tensor;
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use std::collections::HashMap;

/// Index of a value (a tensor name) in [`Graph::names`].
pub(crate) type VId = usize;

/// Where a value comes from.
#[derive(Clone, Debug)]
pub(crate) enum Def<'m> {
    /// A graph input that is not an initializer.
    Input,
    /// An initializer.
    Init(&'m TensorProto),
    /// Output `slot` of node `node`.
    Node(usize, usize),
    /// A constant made by a graph rewrite.
    Synth(Rc<Tensor>),
}

/// A node with its inputs and outputs resolved to value ids (`None`: omitted).
#[derive(Clone, Debug)]
pub(crate) struct Node<'m> {
    pub label: NodeLabel,
    pub domain: String,
    pub inputs: Vec<Option<VId>>,
    pub outputs: Vec<Option<VId>>,
    pub attrs: Cow<'m, [AttributeProto]>,
    /// Removed by a rewrite.
    pub removed: bool,
}

/// A graph input that is not an initializer.
#[derive(Clone, Debug)]
pub(crate) struct GraphInput<'m> {
    pub id: VId,
    pub info: &'m ValueInfoProto,
}

/// The indexed graph.
pub(crate) struct Graph<'m> {
    pub names: Vec<String>,
    pub ids: HashMap<String, VId>,
    pub defs: Vec<Option<Def<'m>>>,
    pub nodes: Vec<Node<'m>>,
    pub inputs: Vec<GraphInput<'m>>,
    pub outputs: Vec<(VId, &'m ValueInfoProto)>,
    /// Declared types of intermediate values (`value_info`), by id.
    pub value_info: HashMap<VId, &'m ValueInfoProto>,
}

fn describe(def: &Def<'_>, g: &Graph<'_>) -> String {
    match def {
        Def::Input => "a graph input".into(),
        Def::Init(_) => "an initializer".into(),
        // A node that names one output twice is caught before it is pushed: node `n` may
        // be the one being added (fuzz regression `duplicate-node-output`).
        Def::Node(n, _) => match g.nodes.get(*n) {
            Some(node) => alloc::format!("an output of {}", node.label),
            None => "an earlier output of the same node".into(),
        },
        Def::Synth(_) => "a rewritten constant".into(),
    }
}

impl<'m> Graph<'m> {
    pub(crate) fn intern(&mut self, name: &str) -> VId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        self.defs.push(None);
        id
    }

    /// A fresh value name that does not clash with any existing one.
    pub(crate) fn fresh(&mut self, hint: &str) -> VId {
        let mut n = self.names.len();
        loop {
            let name = alloc::format!("{hint}#{n}");
            if !self.ids.contains_key(&name) {
                return self.intern(&name);
            }
            n += 1;
        }
    }

    fn define(&mut self, id: VId, def: Def<'m>) -> Result<(), OnnxError> {
        if let Some(first) = &self.defs[id] {
            // An initializer may share its name with a graph input (IR < 4 lists every
            // initializer among the inputs, as an overridable default).
            let ok = matches!((first, &def), (Def::Input, Def::Init(_)) | (Def::Init(_), Def::Input));
            if !ok {
                return Err(OnnxError::DuplicateDefinition {
                    name: self.names[id].clone(),
                    first: describe(first, self),
                    second: describe(&def, self),
                });
            }
            // Keep the initializer: the graph's constant value is what the exporter wrote.
            if matches!(def, Def::Init(_)) {
                self.defs[id] = Some(def);
            }
            return Ok(());
        }
        self.defs[id] = Some(def);
        Ok(())
    }

    /// Indexes `graph` and checks single assignment and references.
    pub(crate) fn build(graph: &'m GraphProto) -> Result<Self, OnnxError> {
        let mut g = Graph {
            names: Vec::new(),
            ids: HashMap::new(),
            defs: Vec::new(),
            nodes: Vec::with_capacity(graph.node.len()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            value_info: HashMap::new(),
        };
        let init_names: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        for info in &graph.input {
            if info.name.is_empty() {
                return Err(OnnxError::BadValueInfo { what: "input", name: String::new(), why: "has no name".into() });
            }
            let id = g.intern(&info.name);
            if init_names.contains(info.name.as_str()) {
                continue;
            }
            g.define(id, Def::Input)?;
            g.inputs.push(GraphInput { id, info });
        }
        for t in &graph.initializer {
            if t.name.is_empty() {
                return Err(OnnxError::BadTensor { tensor: String::new(), why: "initializer has no name".into() });
            }
            let id = g.intern(&t.name);
            if matches!(g.defs[id], Some(Def::Init(_))) {
                return Err(OnnxError::DuplicateDefinition {
                    name: t.name.clone(),
                    first: "an initializer".into(),
                    second: "an initializer".into(),
                });
            }
            g.define(id, Def::Init(t))?;
        }
        for (ni, n) in graph.node.iter().enumerate() {
            let label = NodeLabel { name: n.name.clone(), index: ni, op: n.op_type.clone() };
            let inputs = n.input.iter().map(|s| (!s.is_empty()).then(|| g.intern(s))).collect();
            let mut outputs = Vec::with_capacity(n.output.len());
            for (slot, s) in n.output.iter().enumerate() {
                if s.is_empty() {
                    outputs.push(None);
                    continue;
                }
                let id = g.intern(s);
                // Record the node first so the duplicate message can name it.
                if g.defs[id].is_some() {
                    let first = describe(g.defs[id].as_ref().expect("checked"), &g);
                    return Err(OnnxError::DuplicateDefinition { name: s.clone(), first, second: label.to_string() });
                }
                g.defs[id] = Some(Def::Node(ni, slot));
                outputs.push(Some(id));
            }
            g.nodes.push(Node {
                label,
                domain: n.domain.clone(),
                inputs,
                outputs,
                attrs: Cow::Borrowed(&n.attribute),
                removed: false,
            });
        }
        for (ni, n) in g.nodes.iter().enumerate() {
            for (slot, inp) in n.inputs.iter().enumerate() {
                if let Some(id) = inp {
                    if g.defs[*id].is_none() {
                        return Err(OnnxError::UndefinedInput {
                            node: Box::new(g.nodes[ni].label.clone()),
                            slot: slot.to_string(),
                            name: g.names[*id].clone(),
                        });
                    }
                }
            }
        }
        for info in &graph.output {
            let Some(&id) = g.ids.get(info.name.as_str()) else {
                return Err(OnnxError::UndefinedOutput { name: info.name.clone() });
            };
            if g.defs[id].is_none() {
                return Err(OnnxError::UndefinedOutput { name: info.name.clone() });
            }
            g.outputs.push((id, info));
        }
        for info in &graph.value_info {
            if let Some(&id) = g.ids.get(info.name.as_str()) {
                g.value_info.insert(id, info);
            }
        }
        Ok(g)
    }

    /// The producing node of a value, if a node produces it.
    pub(crate) fn producer(&self, id: VId) -> Option<(usize, usize)> {
        match self.defs.get(id)? {
            Some(Def::Node(n, s)) => Some((*n, *s)),
            _ => None,
        }
    }

    /// Topological order of the nodes that are not removed. A cycle is an error naming a
    /// node on it.
    pub(crate) fn topo_order(&self) -> Result<Vec<usize>, OnnxError> {
        let n = self.nodes.len();
        let mut indeg = alloc::vec![0usize; n];
        let mut users: Vec<Vec<usize>> = alloc::vec![Vec::new(); n];
        for (ni, node) in self.nodes.iter().enumerate() {
            if node.removed {
                continue;
            }
            for id in node.inputs.iter().flatten() {
                if let Some((p, _)) = self.producer(*id) {
                    indeg[ni] += 1;
                    users[p].push(ni);
                }
            }
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| !self.nodes[i].removed && indeg[i] == 0).rev().collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(i);
            for &u in users[i].iter().rev() {
                indeg[u] -= 1;
                if indeg[u] == 0 {
                    ready.push(u);
                }
            }
        }
        let live = self.nodes.iter().filter(|x| !x.removed).count();
        if order.len() != live {
            // Every node left has an input whose producer is also left.
            let stuck = (0..n).find(|&i| !self.nodes[i].removed && indeg[i] > 0).expect("a node is left");
            let via = self.nodes[stuck]
                .inputs
                .iter()
                .flatten()
                .find(|id| self.producer(**id).is_some_and(|(p, _)| indeg[p] > 0))
                .map(|id| self.names[*id].clone())
                .unwrap_or_default();
            return Err(OnnxError::Cycle { node: Box::new(self.nodes[stuck].label.clone()), via });
        }
        Ok(order)
    }

    /// The nodes whose outputs the graph outputs depend on.
    pub(crate) fn live_nodes(&self) -> Vec<bool> {
        let mut live = alloc::vec![false; self.nodes.len()];
        let mut stack: Vec<VId> = self.outputs.iter().map(|(id, _)| *id).collect();
        let mut seen = alloc::vec![false; self.names.len()];
        while let Some(id) = stack.pop() {
            if core::mem::replace(&mut seen[id], true) {
                continue;
            }
            if let Some((p, _)) = self.producer(id) {
                if !live[p] {
                    live[p] = true;
                    stack.extend(self.nodes[p].inputs.iter().flatten().copied());
                }
            }
        }
        live
    }

    /// For each value, the (node, input slot) pairs that read it, over the given nodes.
    pub(crate) fn consumers(&self, nodes: &[usize]) -> Vec<Vec<(usize, usize)>> {
        let mut c = alloc::vec![Vec::new(); self.names.len()];
        for &ni in nodes {
            for (slot, id) in self.nodes[ni].inputs.iter().enumerate() {
                if let Some(id) = id {
                    c[*id].push((ni, slot));
                }
            }
        }
        c
    }
}

/// Typed attribute access with the checks every reader needs.
impl Node<'_> {
    pub(crate) fn op(&self) -> &str {
        &self.label.op
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Refuses attributes outside `allowed`, duplicated ones, and references to function
    /// attributes (which only exist inside functions).
    pub(crate) fn check_attrs(&self, allowed: &[&str], opset: i64) -> Result<(), OnnxError> {
        for (i, a) in self.attrs.iter().enumerate() {
            if !allowed.contains(&a.name.as_str()) {
                return Err(OnnxError::UnknownAttribute {
                    node: Box::new(self.label.clone()),
                    attr: a.name.clone(),
                    opset,
                });
            }
            if self.attrs[..i].iter().any(|b| b.name == a.name) {
                return Err(self.bad_attr(&a.name, "", "is given twice"));
            }
            if !a.ref_attr_name.is_empty() {
                return Err(self.bad_attr(&a.name, "", "refers to a function attribute outside a function"));
            }
        }
        Ok(())
    }

    pub(crate) fn bad_attr(&self, attr: &str, value: &str, why: &str) -> OnnxError {
        OnnxError::BadAttribute {
            node: Box::new(self.label.clone()),
            attr: attr.into(),
            value: if value.is_empty() { String::new() } else { alloc::format!("='{value}'") },
            why: why.into(),
        }
    }

    pub(crate) fn unsupported_attr(&self, attr: &str, value: &str, why: &str) -> OnnxError {
        OnnxError::UnsupportedAttribute {
            node: Box::new(self.label.clone()),
            attr: attr.into(),
            value: if value.is_empty() { String::new() } else { alloc::format!("='{value}'") },
            why: why.into(),
        }
    }

    fn typed(&self, name: &str, want: i32, what: &str) -> Result<Option<&AttributeProto>, OnnxError> {
        let Some(a) = self.attr(name) else { return Ok(None) };
        if a.r#type != want && a.r#type != at::UNDEFINED {
            return Err(self.bad_attr(name, "", &alloc::format!("has attribute type {}, expected {what}", a.r#type)));
        }
        Ok(Some(a))
    }

    pub(crate) fn a_int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        Ok(self.typed(name, at::INT, "INT")?.map(|a| a.i))
    }
    pub(crate) fn a_float(&self, name: &str) -> Result<Option<f32>, OnnxError> {
        Ok(self.typed(name, at::FLOAT, "FLOAT")?.map(|a| a.f))
    }
    pub(crate) fn a_str(&self, name: &str) -> Result<Option<String>, OnnxError> {
        match self.typed(name, at::STRING, "STRING")? {
            None => Ok(None),
            Some(a) => match core::str::from_utf8(&a.s) {
                Ok(s) => Ok(Some(s.into())),
                Err(_) => Err(self.bad_attr(name, "", "is not valid UTF-8")),
            },
        }
    }
    pub(crate) fn a_ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        Ok(self.typed(name, at::INTS, "INTS")?.map(|a| a.ints.clone()))
    }
    pub(crate) fn a_floats(&self, name: &str) -> Result<Option<Vec<f32>>, OnnxError> {
        Ok(self.typed(name, at::FLOATS, "FLOATS")?.map(|a| a.floats.clone()))
    }
    pub(crate) fn a_strs(&self, name: &str) -> Result<Option<Vec<String>>, OnnxError> {
        match self.typed(name, at::STRINGS, "STRINGS")? {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| {
                    core::str::from_utf8(s).map(String::from).map_err(|_| self.bad_attr(name, "", "is not valid UTF-8"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
    pub(crate) fn a_tensor(&self, name: &str) -> Result<Option<&TensorProto>, OnnxError> {
        match self.typed(name, at::TENSOR, "TENSOR")? {
            None => Ok(None),
            Some(a) => match &a.t {
                Some(t) => Ok(Some(t)),
                None => Err(self.bad_attr(name, "", "has no tensor value")),
            },
        }
    }

    /// Output `slot`, if requested.
    pub(crate) fn output(&self, slot: usize) -> Option<VId> {
        self.outputs.get(slot).copied().flatten()
    }
}
