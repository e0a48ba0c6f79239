//! Folding of unrolled Elman RNNs back into `RNN` nodes.
//!
//! PyTorch's dynamo exporter has no ONNX mapping for `nn.RNN`: it unrolls the recurrence
//! over the (fixed) sequence length of the example input. For an input `S` `[T, B, I]` the
//! graph computes, with constants `Wt` `[I, H]`, `Rt` `[H, H]`, `b_ih`, `b_hh` `[H]` and
//! `C0` `[1, 1, H]` (the folded `h0 @ Rt + b_hh` of a zero initial state):
//!
//! ```text
//! P    = S @ Wt + b_ih                                   (one projection for all steps)
//! s_t  = Squeeze(Slice(P, t, t+1, axis 0), 0)            (or Gather(P, t, axis 0))
//! h_0  = f(C0 + s_0)
//! h_t  = f((h_{t-1} @ Rt + b_hh) + s_t)                   for t = 1 .. T-1
//! Y    = Concat(h_0 .. h_{T-1}, axis 0)                  ([T, B, H])
//! ```
//!
//! which is exactly ONNX `RNN` with `W = Wt^T`, `R = Rt^T`, `B = [b_ih, b_hh]`, activation
//! `f`, a zero initial state (required: `C0` must equal `b_hh`), `Y_h = h_{T-1}` and
//! `Y = Squeeze(Y_rnn, 1)`. The match follows the dataflow from the `Concat` backwards
//! and checks every intermediate value is used only inside the pattern, so the rewrite
//! changes nothing the rest of the graph can see. The folded layer accepts any sequence
//! length, where the exported graph was fixed to `T`.

use super::error::{NodeLabel, OnnxError};
use super::fold::transpose;
use super::graph::{Def, Node, VId};
use super::import::Importer;
use super::proto::{attribute_type, AttributeProto};
use super::tensor::{Data, ElemType, Tensor};
use alloc::borrow::Cow;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use std::collections::HashSet;

type R<T> = Result<T, OnnxError>;

/// A recognised unrolled layer.
struct Unrolled {
    concat: usize,
    /// Every node of the pattern (removed by the rewrite).
    nodes: Vec<usize>,
    s: VId,
    wt: Rc<Tensor>,
    b_ih: Option<Rc<Tensor>>,
    rt: Rc<Tensor>,
    b_hh: Rc<Tensor>,
    act: String,
    h_last: VId,
    cat: VId,
    steps: usize,
}

/// Finds every unrolled RNN and replaces it by an `RNN` node (and a `Squeeze` for `Y`).
pub(crate) fn fold_unrolled_rnns(imp: &mut Importer<'_>, opset: i64) -> R<()> {
    let candidates: Vec<usize> = imp
        .graph()
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op() == "Concat" && n.domain.is_empty() && n.inputs.len() >= 2)
        .map(|(i, _)| i)
        .collect();
    for ci in candidates {
        if imp.graph().nodes[ci].removed {
            continue;
        }
        if let Some(m) = match_at(imp, ci, opset)? {
            rewrite(imp, m, opset);
        }
    }
    Ok(())
}

/// The producing node of `id` if it is a live node with this operator and no attributes.
fn producer<'m>(imp: &Importer<'m>, id: VId, op: &str) -> Option<(usize, Node<'m>)> {
    let (ni, slot) = imp.graph().producer(id)?;
    let n = &imp.graph().nodes[ni];
    (slot == 0 && !n.removed && n.op() == op && n.domain.is_empty()).then(|| (ni, n.clone()))
}

fn consts(imp: &mut Importer<'_>, id: Option<VId>) -> R<Option<Rc<Tensor>>> {
    match id {
        Some(id) => imp.static_const(id),
        None => Ok(None),
    }
}

fn known_ints(t: &Tensor) -> Option<Vec<i64>> {
    t.known_ints()
}

fn floats(t: &Tensor) -> Option<&[f32]> {
    match (&t.data, t.ty) {
        (Data::F32(v), ElemType::F32) => Some(v),
        _ => None,
    }
}

/// `s_t`: returns (P, t, nodes) when `id` is one time step of `P` along axis 0.
fn step_of(imp: &mut Importer<'_>, id: VId, opset: i64) -> R<Option<(VId, i64, Vec<usize>)>> {
    if let Some((gi, g)) = producer(imp, id, "Gather") {
        let (p, idx) = (g.inputs.first().copied().flatten(), g.inputs.get(1).copied().flatten());
        let axis = g.a_int("axis")?.unwrap_or(0);
        if g.attrs.iter().any(|a| a.name != "axis") || axis != 0 {
            return Ok(None);
        }
        let (Some(p), Some(t)) = (p, consts(imp, idx)?) else { return Ok(None) };
        return Ok(match (t.shape.len(), known_ints(&t).as_deref()) {
            (0, Some(&[t])) if t >= 0 => Some((p, t, alloc::vec![gi])),
            _ => None,
        });
    }
    let Some((qi, q)) = producer(imp, id, "Squeeze") else { return Ok(None) };
    let axes = if opset < 13 {
        if q.attrs.iter().any(|a| a.name != "axes") {
            return Ok(None);
        }
        q.a_ints("axes")?
    } else {
        if !q.attrs.is_empty() {
            return Ok(None);
        }
        let a = q.inputs.get(1).copied().flatten();
        consts(imp, a)?.and_then(|t| known_ints(&t))
    };
    if axes.as_deref() != Some(&[0]) {
        return Ok(None);
    }
    let Some(sliced) = q.inputs.first().copied().flatten() else { return Ok(None) };
    let Some((si, s)) = producer(imp, sliced, "Slice") else { return Ok(None) };
    let p = s.inputs.first().copied().flatten();
    let (starts, ends, axes, steps) = if opset < 10 {
        (s.a_ints("starts")?, s.a_ints("ends")?, s.a_ints("axes")?, None)
    } else {
        if !s.attrs.is_empty() {
            return Ok(None);
        }
        let get = |imp: &mut Importer<'_>, i: usize| -> R<Option<Vec<i64>>> {
            Ok(consts(imp, s.inputs.get(i).copied().flatten())?.and_then(|t| known_ints(&t)))
        };
        (get(imp, 1)?, get(imp, 2)?, get(imp, 3)?, get(imp, 4)?)
    };
    let ok = matches!((starts.as_deref(), ends.as_deref()), (Some(&[a]), Some(&[b])) if a >= 0 && a.checked_add(1) == Some(b))
        && axes.as_deref().is_none_or(|a| a == [0])
        && steps.as_deref().is_none_or(|s| s == [1]);
    match (p, ok) {
        (Some(p), true) => Ok(Some((p, starts.expect("checked")[0], alloc::vec![si, qi]))),
        _ => Ok(None),
    }
}

/// `Add(a, b)` with one operand satisfying `pick`: returns (node, picked, other).
fn add_operands(imp: &Importer<'_>, id: VId) -> Option<(usize, VId, VId)> {
    let (ai, a) = producer(imp, id, "Add")?;
    if !a.attrs.is_empty() {
        return None;
    }
    Some((ai, a.inputs.first().copied().flatten()?, a.inputs.get(1).copied().flatten()?))
}

fn match_at(imp: &mut Importer<'_>, ci: usize, opset: i64) -> R<Option<Unrolled>> {
    let concat = imp.graph().nodes[ci].clone();
    if concat.a_int("axis")?.is_none_or(|a| a != 0 && a != -3) || concat.attrs.len() != 1 {
        return Ok(None);
    }
    let hs: Vec<VId> = match concat.inputs.iter().copied().collect::<Option<Vec<_>>>() {
        Some(v) => v,
        None => return Ok(None),
    };
    let Some(cat) = concat.output(0) else { return Ok(None) };
    let t_len = hs.len();
    let mut nodes = alloc::vec![ci];
    let mut act = None;
    let mut p_common = None;
    let mut rt_common: Option<(VId, Rc<Tensor>)> = None;
    let mut bhh_common: Option<(VId, Rc<Tensor>)> = None;
    let mut c0 = None;
    for (t, &h) in hs.iter().enumerate() {
        // h_t = f(a_t)
        let Some((fi, f)) = ["Relu", "Tanh", "Sigmoid"].iter().find_map(|op| producer(imp, h, op)) else {
            return Ok(None);
        };
        if !f.attrs.is_empty() || act.get_or_insert_with(|| String::from(f.op())) != f.op() {
            return Ok(None);
        }
        let Some(a_t) = f.inputs.first().copied().flatten() else { return Ok(None) };
        nodes.push(fi);
        let Some((ai, x, y)) = add_operands(imp, a_t) else { return Ok(None) };
        nodes.push(ai);
        // One operand is s_t, the other the recurrent term (or C0 at t = 0).
        let (step, other) = match step_of(imp, x, opset)? {
            Some(s) => (s, y),
            None => match step_of(imp, y, opset)? {
                Some(s) => (s, x),
                None => return Ok(None),
            },
        };
        let (p, ti, step_nodes) = step;
        if ti != t as i64 || *p_common.get_or_insert(p) != p {
            return Ok(None);
        }
        nodes.extend(step_nodes);
        if t == 0 {
            let Some(c) = imp.static_const(other)? else { return Ok(None) };
            c0 = Some(c);
            continue;
        }
        // other = MatMul(h_{t-1}, Rt) + b_hh
        let Some((bi, u, v)) = add_operands(imp, other) else { return Ok(None) };
        nodes.push(bi);
        let (mm, b) = if producer(imp, u, "MatMul").is_some() { (u, v) } else { (v, u) };
        let Some((mi, m)) = producer(imp, mm, "MatMul") else { return Ok(None) };
        if !m.attrs.is_empty() || m.inputs.first().copied().flatten() != Some(hs[t - 1]) {
            return Ok(None);
        }
        let Some(r_id) = m.inputs.get(1).copied().flatten() else { return Ok(None) };
        nodes.push(mi);
        let Some(rt) = imp.static_const(r_id)? else { return Ok(None) };
        let Some(bh) = imp.static_const(b)? else { return Ok(None) };
        for (common, id, val) in [(&mut rt_common, r_id, rt), (&mut bhh_common, b, bh)] {
            match common {
                None => *common = Some((id, val)),
                Some((cid, cval)) => {
                    if *cid != id && **cval != *val {
                        return Ok(None);
                    }
                }
            }
        }
    }
    if t_len < 2 {
        return Ok(None);
    }
    let (Some(p), Some((_, rt)), Some((_, b_hh)), Some(c0), Some(act)) = (p_common, rt_common, bhh_common, c0, act)
    else {
        return Ok(None);
    };
    // P = S @ Wt (+ b_ih)
    let (p_nodes, mm_out, b_ih) = match add_operands(imp, p) {
        Some((ai, u, v)) => {
            let (mm, b) = if producer(imp, u, "MatMul").is_some() { (u, v) } else { (v, u) };
            match imp.static_const(b)? {
                Some(b) => (alloc::vec![ai], mm, Some(b)),
                None => return Ok(None),
            }
        }
        None => (Vec::new(), p, None),
    };
    let Some((mi, m)) = producer(imp, mm_out, "MatMul") else { return Ok(None) };
    if !m.attrs.is_empty() {
        return Ok(None);
    }
    let (Some(s), Some(w_id)) = (m.inputs.first().copied().flatten(), m.inputs.get(1).copied().flatten()) else {
        return Ok(None);
    };
    let Some(wt) = imp.static_const(w_id)? else { return Ok(None) };
    nodes.extend(p_nodes);
    nodes.push(mi);
    // Shapes: Wt [I, H], Rt [H, H], biases [H], C0 [1, 1, H] equal to b_hh.
    let (Some(_), Some(rv), Some(bv), Some(cv)) = (floats(&wt), floats(&rt), floats(&b_hh), floats(&c0)) else {
        return Ok(None);
    };
    let h = rt.shape.first().copied().unwrap_or(0);
    let shapes_ok = wt.shape.len() == 2
        && wt.shape[1] == h
        && h > 0
        && rt.shape == [h, h]
        && rv.len() == h * h
        && b_hh.numel() == h
        && b_hh.shape.iter().rev().skip(1).all(|&d| d == 1)
        && b_ih
            .as_ref()
            .is_none_or(|b| b.numel() == h && floats(b).is_some() && b.shape.iter().rev().skip(1).all(|&d| d == 1))
        && c0.shape == [1, 1, h];
    // A zero initial state makes the first step's recurrent term exactly b_hh.
    if !shapes_ok || cv.iter().zip(bv).any(|(a, b)| a.to_bits() != b.to_bits()) {
        return Ok(None);
    }
    // Nothing outside the pattern may see an intermediate value.
    let h_last = hs[t_len - 1];
    let set: HashSet<usize> = nodes.iter().copied().collect();
    if set.len() != nodes.len() {
        return Ok(None);
    }
    let g = imp.graph();
    let outputs: HashSet<VId> = g.outputs.iter().map(|o| o.0).collect();
    for &ni in &nodes {
        for &out in g.nodes[ni].outputs.iter().flatten() {
            if out == h_last || out == cat {
                continue;
            }
            if outputs.contains(&out) {
                return Ok(None);
            }
            let outside = g
                .nodes
                .iter()
                .enumerate()
                .any(|(k, n)| !n.removed && !set.contains(&k) && n.inputs.contains(&Some(out)));
            if outside {
                return Ok(None);
            }
        }
    }
    Ok(Some(Unrolled { concat: ci, nodes, s, wt, b_ih, rt, b_hh, act, h_last, cat, steps: t_len }))
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: v, ..Default::default() }
}

fn rewrite(imp: &mut Importer<'_>, m: Unrolled, opset: i64) {
    let h = m.rt.shape[0];
    let i = m.wt.shape[0];
    let wt = transpose(&m.wt, &[1, 0]);
    let rt = transpose(&m.rt, &[1, 0]);
    let f = |t: &Tensor| -> Vec<f32> {
        match &t.data {
            Data::F32(v) => v.clone(),
            _ => Vec::new(),
        }
    };
    let mut b = match &m.b_ih {
        Some(b) => f(b),
        None => alloc::vec![0.0; h],
    };
    b.extend(f(&m.b_hh));
    let label = imp.graph().nodes[m.concat].label.clone();
    let first = m.nodes.iter().copied().min().unwrap_or(m.concat);
    let g = imp.graph_mut();
    for &ni in &m.nodes {
        g.nodes[ni].removed = true;
    }
    let synth = |g: &mut super::graph::Graph<'_>, hint: &str, t: Tensor| {
        let id = g.fresh(hint);
        g.defs[id] = Some(Def::Synth(Rc::new(t)));
        id
    };
    let w_id = synth(g, "unrolled_W", Tensor { shape: alloc::vec![1, h, i], ..wt });
    let r_id = synth(g, "unrolled_R", Tensor { shape: alloc::vec![1, h, h], ..rt });
    let b_id = synth(g, "unrolled_B", Tensor::f32s(alloc::vec![1, 2 * h], b));
    let y_raw = g.fresh("unrolled_Y");
    let rnn_index = g.nodes.len();
    let name = alloc::format!(
        "{} (unrolled RNN of {} steps)",
        if label.name.is_empty() { "Concat" } else { &label.name },
        m.steps
    );
    let acts = AttributeProto {
        name: "activations".into(),
        r#type: attribute_type::STRINGS,
        strings: alloc::vec![m.act.as_bytes().to_vec()],
        ..Default::default()
    };
    g.nodes.push(Node {
        label: NodeLabel { name: name.clone(), index: first, op: "RNN".into() },
        domain: String::new(),
        inputs: alloc::vec![Some(m.s), Some(w_id), Some(r_id), Some(b_id)],
        outputs: alloc::vec![Some(y_raw), Some(m.h_last)],
        attrs: Cow::Owned(alloc::vec![attr_int("hidden_size", h as i64), acts]),
        removed: false,
    });
    g.defs[y_raw] = Some(Def::Node(rnn_index, 0));
    g.defs[m.h_last] = Some(Def::Node(rnn_index, 1));
    let (sq_inputs, sq_attrs) = if opset >= 13 {
        let axes = synth(g, "unrolled_axes", Tensor::i64s(alloc::vec![1], &[1]));
        (alloc::vec![Some(y_raw), Some(axes)], Vec::new())
    } else {
        let a = AttributeProto {
            name: "axes".into(),
            r#type: attribute_type::INTS,
            ints: alloc::vec![1],
            ..Default::default()
        };
        (alloc::vec![Some(y_raw)], alloc::vec![a])
    };
    let sq_index = g.nodes.len();
    g.nodes.push(Node {
        label: NodeLabel { name: alloc::format!("{name} Y"), index: first, op: "Squeeze".into() },
        domain: String::new(),
        inputs: sq_inputs,
        outputs: alloc::vec![Some(m.cat)],
        attrs: Cow::Owned(sq_attrs),
        removed: false,
    });
    g.defs[m.cat] = Some(Def::Node(sq_index, 0));
    imp.report.push(alloc::format!(
        "{} nodes of an RNN unrolled over {} time steps by the exporter ({}, hidden {h}, ending in {label}) were folded \
         into one RNN layer, which accepts any sequence length",
        m.nodes.len(),
        m.steps,
        m.act
    ));
}
