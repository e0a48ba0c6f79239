//! A small constant evaluator for the glue that exporters put around recurrent layers:
//! shape arithmetic (`Shape -> Gather -> Unsqueeze -> Concat`), zero initial states
//! (`Expand`, `ConstantOfShape`), weight rearrangements (`Slice`, `Concat`, `Transpose`,
//! `Unsqueeze` on initializers) and casts.
//!
//! Integers may be symbolic ([`SInt`]), so `Shape` of a run-time tensor folds to a shape
//! whose batch entry is "the batch size of input x"; uniform constants of such shapes are
//! kept as [`Splat`]s. Float arithmetic is done in the tensor's own precision, as
//! onnxruntime would do it.

use super::error::OnnxError;
use super::graph::Node;
use super::tensor::{self, Data, ElemType, SInt, Scalar, Tensor};
use super::value::{Splat, Val};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// Largest uniform constant materialized as a dense tensor.
const MAX_MATERIALIZE: usize = 1 << 24;
/// Largest tensor a folded operator may create (128 Mi elements: more than the biggest
/// weight matrix of a realistic recurrent layer, and a bound on what a hostile file can
/// make the folder allocate).
const MAX_FOLD_ELEMS: usize = 1 << 27;

type R<T> = Result<T, OnnxError>;

fn unsupported(node: &Node<'_>, why: impl Into<String>) -> OnnxError {
    OnnxError::UnsupportedOp { node: Box::new(node.label.clone()), why: why.into() }
}

fn invalid_input(node: &Node<'_>, slot: &str, why: impl Into<String>) -> OnnxError {
    OnnxError::ShapeMismatch { node: Box::new(node.label.clone()), slot: slot.into(), why: why.into() }
}

fn type_mismatch(node: &Node<'_>, why: impl Into<String>) -> OnnxError {
    OnnxError::TypeMismatch { node: Box::new(node.label.clone()), why: why.into() }
}

/// The value as a dense tensor, when it is constant and not too large.
pub(crate) fn dense(v: &Val) -> Option<Rc<Tensor>> {
    match v {
        Val::Const(t) => Some(t.clone()),
        Val::Splat(s) => {
            let shape: Option<Vec<usize>> = s.shape.iter().map(|d| d.known().map(|k| k as usize)).collect();
            let shape = shape?;
            let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
            if n > MAX_MATERIALIZE {
                return None;
            }
            Some(Rc::new(fill(s.ty, s.value, shape, n)))
        }
        Val::Dyn(_) => None,
    }
}

fn fill(ty: ElemType, v: Scalar, shape: Vec<usize>, n: usize) -> Tensor {
    let data = match (ty, v) {
        (ElemType::F64, Scalar::F(f)) => Data::F64(alloc::vec![f; n]),
        (ElemType::F64, Scalar::I(i)) => Data::F64(alloc::vec![i as f64; n]),
        (t, Scalar::F(f)) if t.is_float() => Data::F32(alloc::vec![f as f32; n]),
        (t, Scalar::I(i)) if t.is_float() => Data::F32(alloc::vec![i as f32; n]),
        (_, Scalar::I(i)) => Data::Int(alloc::vec![SInt::K(i); n]),
        (_, Scalar::F(f)) => Data::Int(alloc::vec![SInt::K(f as i64); n]),
    };
    Tensor { ty, shape, data }
}

fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn norm_axis(node: &Node<'_>, axis: i64, rank: usize, what: &str) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(node.bad_attr(what, &alloc::format!("{axis}"), &alloc::format!("is outside rank {rank}")));
    }
    Ok(a as usize)
}

/// Integers from a constant input (shape, axes, indices); symbolic entries allowed.
pub(crate) fn sints(node: &Node<'_>, v: &Val, slot: &str) -> R<Vec<SInt>> {
    match v {
        Val::Const(t) => match &t.data {
            Data::Int(d) if t.shape.len() <= 1 => Ok(d.clone()),
            Data::Int(_) => Err(invalid_input(node, slot, alloc::format!("must be 0-D or 1-D, is {}", t.shape_str()))),
            _ => Err(type_mismatch(node, alloc::format!("input {slot} must be an integer tensor, is {}", t.ty))),
        },
        Val::Splat(s) => {
            let n = s.shape.first().and_then(|d| d.known());
            match (s.value, n, s.shape.len()) {
                (Scalar::I(i), Some(n), 1) if n <= 1 << 16 => Ok(alloc::vec![SInt::K(i); n as usize]),
                (Scalar::I(i), _, 0) => Ok(alloc::vec![SInt::K(i)]),
                _ => Err(unsupported(node, alloc::format!("input {slot} has a size only known at run time"))),
            }
        }
        Val::Dyn(_) => {
            Err(unsupported(node, alloc::format!("input {slot} is computed at run time; recur needs it constant")))
        }
    }
}

/// Known integers from a constant input.
pub(crate) fn ints(node: &Node<'_>, v: &Val, slot: &str) -> R<Vec<i64>> {
    sints(node, v, slot)?
        .into_iter()
        .map(|s| {
            s.known().ok_or_else(|| unsupported(node, alloc::format!("input {slot} depends on a run-time size ({s})")))
        })
        .collect()
}

/// Evaluates `node` if all its inputs are constant (or, for `Shape`/`Size`, if only the
/// shape of a run-time input is needed). `Ok(None)` means the node is not a constant
/// computation.
pub(crate) fn fold(
    node: &Node<'_>,
    ins: &[Option<Val>],
    opset: i64,
    ext: &mut tensor::ExternalData,
) -> R<Option<Vec<Val>>> {
    let op = node.op();
    if op == "Constant" {
        return constant(node, opset, ext).map(|v| Some(alloc::vec![v]));
    }
    if op == "Shape" || op == "Size" {
        let Some(Some(x)) = ins.first() else { return Err(missing(node, "data")) };
        let shape = x.shape().ok_or_else(|| unsupported(node, "input shape overflows"))?;
        if op == "Size" {
            node.check_attrs(&[], opset)?;
            let mut p = SInt::K(1);
            for d in &shape {
                p = p.mul(d).ok_or_else(|| unsupported(node, "element count overflows"))?;
            }
            return Ok(Some(alloc::vec![Val::Const(Rc::new(Tensor::ints(
                ElemType::I64,
                alloc::vec![],
                alloc::vec![p]
            )))]));
        }
        node.check_attrs(if opset >= 15 { &["start", "end"] } else { &[] }, opset)?;
        let r = shape.len() as i64;
        let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let start = clampi(node.a_int("start")?.unwrap_or(0));
        let end = clampi(node.a_int("end")?.unwrap_or(r));
        let part: Vec<SInt> = if start < end { shape[start..end].to_vec() } else { Vec::new() };
        let n = part.len();
        return Ok(Some(alloc::vec![Val::Const(Rc::new(Tensor::ints(ElemType::I64, alloc::vec![n], part)))]));
    }
    // Everything else needs constant inputs.
    if ins.iter().flatten().any(|v| matches!(v, Val::Dyn(_))) {
        return Ok(None);
    }
    // Uniform constants of run-time shape: only shape-level operators keep them symbolic.
    if let Some(out) = fold_splat(node, ins, opset)? {
        return Ok(Some(out));
    }
    let mut t: Vec<Option<Rc<Tensor>>> = Vec::with_capacity(ins.len());
    for v in ins {
        match v {
            None => t.push(None),
            Some(v) => {
                match dense(v) {
                    Some(x) => t.push(Some(x)),
                    None => return Err(unsupported(
                        node,
                        "computes on a constant whose shape is only known at run time (or is too large), which recur \
                         cannot fold",
                    )),
                }
            }
        }
    }
    let out = fold_dense(node, &t, opset)?;
    Ok(out.map(|v| v.into_iter().map(|t| Val::Const(Rc::new(t))).collect()))
}

fn missing(node: &Node<'_>, slot: &str) -> OnnxError {
    OnnxError::MissingInput { node: Box::new(node.label.clone()), slot: slot.into() }
}

fn constant(node: &Node<'_>, opset: i64, ext: &mut tensor::ExternalData) -> R<Val> {
    node.check_attrs(
        &[
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
            "value_string",
            "value_strings",
            "sparse_value",
        ],
        opset,
    )?;
    if node.attrs.len() != 1 {
        return Err(node.bad_attr("value", "", "a Constant node needs exactly one value attribute"));
    }
    let name = node.attrs[0].name.as_str();
    let t = match name {
        "value" => {
            let tp = node.a_tensor("value")?.expect("checked");
            let label = alloc::format!("value of {}", node.label);
            tensor::decode(tp, &label, ext)?
        }
        "value_float" => Tensor::f32s(alloc::vec![], alloc::vec![node.a_float(name)?.expect("present")]),
        "value_floats" => {
            let v = node.a_floats(name)?.expect("present");
            Tensor::f32s(alloc::vec![v.len()], v)
        }
        "value_int" => Tensor::i64s(alloc::vec![], &[node.a_int(name)?.expect("present")]),
        "value_ints" => {
            let v = node.a_ints(name)?.expect("present");
            Tensor::i64s(alloc::vec![v.len()], &v)
        }
        _ => return Err(node.unsupported_attr(name, "", "string and sparse constants are not supported")),
    };
    Ok(Val::Const(Rc::new(t)))
}

/// Symbolic broadcast of two shapes.
fn broadcast_sym(a: &[SInt], b: &[SInt]) -> Option<Vec<SInt>> {
    let r = a.len().max(b.len());
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r].clone() } else { SInt::K(1) };
        let db = if i + b.len() >= r { b[i + b.len() - r].clone() } else { SInt::K(1) };
        out.push(if da == SInt::K(1) {
            db
        } else if db == SInt::K(1) || da.equals(&db) == Some(true) {
            da
        } else {
            return None;
        });
    }
    Some(out)
}

/// Shape-level operators on uniform constants whose shape may be symbolic. Returns
/// `None` when no input is a symbolic-shape splat (the dense path handles it).
fn fold_splat(node: &Node<'_>, ins: &[Option<Val>], opset: i64) -> R<Option<Vec<Val>>> {
    let op = node.op();
    let splat_of = |v: &Val| -> Option<Splat> {
        match v {
            Val::Splat(s) => Some((**s).clone()),
            Val::Const(t) => {
                let value = t.uniform()?;
                Some(Splat { ty: t.ty, value, shape: t.shape.iter().map(|&d| SInt::K(d as i64)).collect() })
            }
            Val::Dyn(_) => None,
        }
    };
    let out = |s: Splat| Ok(Some(alloc::vec![Val::Splat(Rc::new(s))]));
    match op {
        "ConstantOfShape" => {
            node.check_attrs(&["value"], opset)?;
            let Some(Some(shape)) = ins.first() else { return Err(missing(node, "input")) };
            let shape = sints(node, shape, "input")?;
            if shape.iter().any(|d| d.known().is_some_and(|k| k < 0)) {
                return Err(invalid_input(node, "input", "has a negative dimension"));
            }
            let (ty, value) = match node.a_tensor("value")? {
                None => (ElemType::F32, Scalar::F(0.0)),
                Some(tp) => {
                    let mut no_ext = tensor::ExternalData { base: None, budget: 0 };
                    let t = tensor::decode(tp, "value", &mut no_ext)?;
                    if t.numel() != 1 {
                        return Err(node.bad_attr("value", "", "must hold exactly one element"));
                    }
                    let v = t.uniform().ok_or_else(|| unsupported(node, "value is not a known number"))?;
                    (t.ty, v)
                }
            };
            out(Splat { ty, value, shape })
        }
        "Expand" => {
            node.check_attrs(&[], opset)?;
            let (Some(Some(x)), Some(Some(shape))) = (ins.first(), ins.get(1)) else {
                return Err(missing(node, "shape"));
            };
            let shape = sints(node, shape, "shape")?;
            // Expanding a uniform tensor (a zero state) stays a splat whatever the shape:
            // nothing is allocated for it unless a consumer needs its elements.
            let Some(s) = splat_of(x) else { return Ok(None) };
            if shape.iter().any(|d| d.known().is_some_and(|k| k < 0)) {
                return Err(invalid_input(node, "shape", "has a negative entry"));
            }
            let b = broadcast_sym(&s.shape, &shape)
                .ok_or_else(|| invalid_input(node, "shape", "does not broadcast with the input's shape"))?;
            out(Splat { shape: b, ..s })
        }
        _ => {
            // Other operators keep a splat as a splat only if it cannot be materialized
            // (a run-time or very large shape); otherwise the dense path computes them.
            let Some(Some(Val::Splat(s0))) = ins.first() else { return Ok(None) };
            if dense(&Val::Splat(s0.clone())).is_some() {
                return Ok(None);
            }
            let s = (**s0).clone();
            match op {
                "Identity" => {
                    node.check_attrs(&[], opset)?;
                    out(s)
                }
                "Cast" => {
                    node.check_attrs(&["to", "saturate", "round_mode"], opset)?;
                    let to = node.a_int("to")?.ok_or_else(|| node.bad_attr("to", "", "is required"))?;
                    let ty = ElemType::from_code(to as i32).ok_or_else(|| OnnxError::UnsupportedType {
                        what: alloc::format!("{} target", node.label),
                        dtype: ElemType::code_name(to as i32),
                    })?;
                    let value = cast_scalar(s.value, ty).ok_or_else(|| unsupported(node, "cannot cast the value"))?;
                    out(Splat { ty, value, shape: s.shape })
                }
                "Unsqueeze" => {
                    let axes = axes_of(node, ins, opset, "axes")?.unwrap_or_default();
                    let r = s.shape.len() + axes.len();
                    let mut ax: Vec<usize> = axes.iter().map(|&a| norm_axis(node, a, r, "axes")).collect::<R<_>>()?;
                    ax.sort_unstable();
                    let mut shape = s.shape.clone();
                    for a in ax {
                        shape.insert(a.min(shape.len()), SInt::K(1));
                    }
                    out(Splat { shape, ..s })
                }
                "Squeeze" => {
                    let axes = axes_of(node, ins, opset, "axes")?;
                    let r = s.shape.len();
                    let ax: Vec<usize> = match axes {
                        Some(a) => a.iter().map(|&a| norm_axis(node, a, r, "axes")).collect::<R<_>>()?,
                        None => (0..r).filter(|&i| s.shape[i] == SInt::K(1)).collect(),
                    };
                    if ax.iter().any(|&a| s.shape[a] != SInt::K(1)) {
                        return Err(invalid_input(node, "axes", "selects an axis whose size is not 1"));
                    }
                    let shape =
                        s.shape.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, d)| d.clone()).collect();
                    out(Splat { shape, ..s })
                }
                "Transpose" => {
                    node.check_attrs(&["perm"], opset)?;
                    let r = s.shape.len();
                    let perm = perm_of(node, r)?;
                    out(Splat { shape: perm.iter().map(|&p| s.shape[p].clone()).collect(), ..s })
                }
                "Reshape" => {
                    node.check_attrs(if opset >= 14 { &["allowzero"] } else { &[] }, opset)?;
                    let Some(Some(t)) = ins.get(1) else { return Err(missing(node, "shape")) };
                    let target = sints(node, t, "shape")?;
                    let shape = resolve_reshape(node, &s.shape, &target, node.a_int("allowzero")?.unwrap_or(0) != 0)?;
                    out(Splat { shape, ..s })
                }
                "Slice" => {
                    // torch's TorchScript exporter builds one zero state [layers*dirs, batch, H]
                    // with ConstantOfShape and slices each layer's part out of it on axis 0.
                    let (starts, ends, axes, steps) = slice_args(node, opset, |i, n| match ins.get(i) {
                        Some(Some(v)) => Ok(Some(ints(node, v, n)?)),
                        _ => Ok(None),
                    })?;
                    let shape = slice_shape_sym(node, &s.shape, &starts, &ends, axes.as_deref(), steps.as_deref())?;
                    out(Splat { shape, ..s })
                }
                _ => Ok(None),
            }
        }
    }
}

/// Resolves a `Reshape` target: `0` copies the input dimension (unless `allowzero`), `-1`
/// takes what is left.
pub(crate) fn resolve_reshape(node: &Node<'_>, input: &[SInt], target: &[SInt], allowzero: bool) -> R<Vec<SInt>> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, t) in target.iter().enumerate() {
        match t.known() {
            Some(0) if !allowzero => out.push(input.get(i).cloned().ok_or_else(|| {
                invalid_input(node, "shape", alloc::format!("has 0 at position {i} beyond the input's rank"))
            })?),
            Some(-1) => {
                if infer.replace(i).is_some() {
                    return Err(invalid_input(node, "shape", "has more than one -1"));
                }
                out.push(SInt::K(1));
            }
            Some(k) if k < 0 => return Err(invalid_input(node, "shape", alloc::format!("has a negative entry {k}"))),
            _ => out.push(t.clone()),
        }
    }
    if let Some(i) = infer {
        let mut total = SInt::K(1);
        for d in input {
            total = total.mul(d).ok_or_else(|| unsupported(node, "element count overflows"))?;
        }
        let mut rest = SInt::K(1);
        for d in &out {
            rest = rest.mul(d).ok_or_else(|| unsupported(node, "element count overflows"))?;
        }
        let q = total.div(&rest).ok_or_else(|| {
            unsupported(node, alloc::format!("cannot infer the -1 entry: {total} elements do not divide by {rest}"))
        })?;
        if let (Some(t), Some(r)) = (total.known(), rest.known()) {
            if r == 0 || t % r != 0 {
                return Err(invalid_input(node, "shape", alloc::format!("cannot hold {t} elements")));
            }
        }
        out[i] = q;
    }
    Ok(out)
}

pub(crate) fn perm_of(node: &Node<'_>, rank: usize) -> R<Vec<usize>> {
    match node.a_ints("perm")? {
        None => Ok((0..rank).rev().collect()),
        Some(p) => {
            let mut seen = alloc::vec![false; rank];
            let mut out = Vec::with_capacity(rank);
            if p.len() != rank {
                return Err(node.bad_attr(
                    "perm",
                    &alloc::format!("{p:?}"),
                    &alloc::format!("is not a permutation of rank {rank}"),
                ));
            }
            for &x in &p {
                let a = if x < 0 { x + rank as i64 } else { x };
                if a < 0 || a >= rank as i64 || core::mem::replace(&mut seen[a as usize], true) {
                    return Err(node.bad_attr(
                        "perm",
                        &alloc::format!("{p:?}"),
                        &alloc::format!("is not a permutation of rank {rank}"),
                    ));
                }
                out.push(a as usize);
            }
            Ok(out)
        }
    }
}

/// The `axes` of Squeeze/Unsqueeze/ReduceX: an attribute before opset 13, an input after.
pub(crate) fn axes_of(node: &Node<'_>, ins: &[Option<Val>], opset: i64, name: &str) -> R<Option<Vec<i64>>> {
    if opset < 13 {
        node.check_attrs(&[name], opset)?;
        node.a_ints(name)
    } else {
        node.check_attrs(&[], opset)?;
        match ins.get(1) {
            Some(Some(v)) => Ok(Some(ints(node, v, name)?)),
            _ => Ok(None),
        }
    }
}

fn cast_scalar(v: Scalar, ty: ElemType) -> Option<Scalar> {
    Some(match (v, ty.is_float()) {
        (Scalar::F(f), true) => Scalar::F(round_float(f, ty)),
        (Scalar::I(i), true) => Scalar::F(round_float(i as f64, ty)),
        (Scalar::F(f), false) => {
            if !f.is_finite() {
                return None;
            }
            Scalar::I(wrap_int(if ty == ElemType::Bool { (f != 0.0) as i64 } else { f.trunc() as i64 }, ty))
        }
        (Scalar::I(i), false) => Scalar::I(wrap_int(i, ty)),
    })
}

fn round_float(f: f64, ty: ElemType) -> f64 {
    match ty {
        ElemType::F64 => f,
        ElemType::F32 => f as f32 as f64,
        ElemType::F16 => half::f16::from_f64(f).to_f64(),
        ElemType::BF16 => half::bf16::from_f64(f).to_f64(),
        _ => f,
    }
}

fn wrap_int(i: i64, ty: ElemType) -> i64 {
    match ty {
        ElemType::I32 => i as i32 as i64,
        ElemType::I16 => i as i16 as i64,
        ElemType::I8 => i as i8 as i64,
        ElemType::U8 => i as u8 as i64,
        ElemType::U16 => i as u16 as i64,
        ElemType::U32 => i as u32 as i64,
        ElemType::Bool => (i != 0) as i64,
        _ => i,
    }
}

/// Source index in `in_shape` for every element of `out_shape` (numpy broadcasting).
fn broadcast_index(out_shape: &[usize], in_shape: &[usize]) -> Vec<usize> {
    let n = numel(out_shape).unwrap_or(0);
    let r = out_shape.len();
    let off = r - in_shape.len();
    let mut strides = alloc::vec![0usize; r];
    let mut s = 1;
    for i in (0..in_shape.len()).rev() {
        strides[i + off] = if in_shape[i] == 1 { 0 } else { s };
        s *= in_shape[i];
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = alloc::vec![0usize; r];
    for _ in 0..n {
        out.push(idx.iter().zip(&strides).map(|(a, b)| a * b).sum());
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

fn broadcast_shape(node: &Node<'_>, a: &[usize], b: &[usize]) -> R<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = Vec::with_capacity(r);
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out.push(match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(invalid_input(
                    node,
                    "B",
                    alloc::format!(
                        "shapes {} and {} do not broadcast",
                        tensor::shape_string(a),
                        tensor::shape_string(b)
                    ),
                ))
            }
        });
    }
    if numel(&out).is_none_or(|n| n > MAX_FOLD_ELEMS) {
        return Err(unsupported(node, "the broadcast result is too large to fold"));
    }
    Ok(out)
}

fn req<'a>(node: &Node<'_>, t: &'a [Option<Rc<Tensor>>], i: usize, slot: &str) -> R<&'a Rc<Tensor>> {
    t.get(i).and_then(|x| x.as_ref()).ok_or_else(|| missing(node, slot))
}

fn fold_dense(node: &Node<'_>, t: &[Option<Rc<Tensor>>], opset: i64) -> R<Option<Vec<Tensor>>> {
    let op = node.op();
    let one = |x: Tensor| Ok(Some(alloc::vec![x]));
    match op {
        "Identity" => {
            node.check_attrs(&[], opset)?;
            one((**req(node, t, 0, "input")?).clone())
        }
        "Dropout" => {
            // Inference: the identity (the mask output, if requested, is refused by the caller).
            node.check_attrs(&["ratio", "seed", "is_test"], opset)?;
            if let Some(Some(tm)) = t.get(2) {
                if tm.known_ints().is_none_or(|v| v.iter().any(|&x| x != 0)) {
                    return Err(unsupported(node, "training_mode is true"));
                }
            }
            one((**req(node, t, 0, "data")?).clone())
        }
        "Cast" | "CastLike" => {
            let x = req(node, t, 0, "input")?;
            let ty = if op == "Cast" {
                node.check_attrs(&["to", "saturate", "round_mode"], opset)?;
                let to = node.a_int("to")?.ok_or_else(|| node.bad_attr("to", "", "is required"))?;
                ElemType::from_code(to as i32).ok_or_else(|| OnnxError::UnsupportedType {
                    what: alloc::format!("{} target", node.label),
                    dtype: ElemType::code_name(to as i32),
                })?
            } else {
                node.check_attrs(&["saturate", "round_mode"], opset)?;
                req(node, t, 1, "target_type")?.ty
            };
            one(cast(node, x, ty)?)
        }
        "Reshape" => {
            node.check_attrs(if opset >= 14 { &["allowzero"] } else { &[] }, opset)?;
            let x = req(node, t, 0, "data")?;
            let target = sints(node, &Val::Const(req(node, t, 1, "shape")?.clone()), "shape")?;
            let input: Vec<SInt> = x.shape.iter().map(|&d| SInt::K(d as i64)).collect();
            let shape = resolve_reshape(node, &input, &target, node.a_int("allowzero")?.unwrap_or(0) != 0)?;
            let Some(shape) = shape.iter().map(|d| d.known().map(|k| k as usize)).collect::<Option<Vec<usize>>>()
            else {
                return Err(unsupported(node, "reshapes a constant to a shape that depends on run-time sizes"));
            };
            if numel(&shape) != Some(x.numel()) {
                return Err(invalid_input(
                    node,
                    "shape",
                    alloc::format!("cannot hold the {} elements of {}", x.numel(), x.shape_str()),
                ));
            }
            one(Tensor { shape, ..(**x).clone() })
        }
        "Flatten" => {
            node.check_attrs(&["axis"], opset)?;
            let x = req(node, t, 0, "input")?;
            let r = x.shape.len();
            let a = node.a_int("axis")?.unwrap_or(1);
            let a = if a < 0 { a + r as i64 } else { a };
            if a < 0 || a > r as i64 {
                return Err(node.bad_attr("axis", &alloc::format!("{a}"), &alloc::format!("is outside rank {r}")));
            }
            let outer = numel(&x.shape[..a as usize]).unwrap_or(0);
            one(Tensor { shape: alloc::vec![outer, x.numel() / outer.max(1)], ..(**x).clone() })
        }
        "Unsqueeze" | "Squeeze" => {
            let x = req(node, t, 0, "data")?;
            let ins: Vec<Option<Val>> = t.iter().map(|o| o.clone().map(Val::Const)).collect();
            let axes = axes_of(node, &ins, opset, "axes")?;
            let mut shape = x.shape.clone();
            if op == "Unsqueeze" {
                let axes = axes.ok_or_else(|| missing(node, "axes"))?;
                let r = shape.len() + axes.len();
                let mut ax: Vec<usize> = axes.iter().map(|&a| norm_axis(node, a, r, "axes")).collect::<R<_>>()?;
                ax.sort_unstable();
                ax.dedup();
                if ax.len() != axes.len() {
                    return Err(node.bad_attr("axes", "", "repeats an axis"));
                }
                for a in ax {
                    shape.insert(a, 1);
                }
            } else {
                let r = shape.len();
                let ax: Vec<usize> = match axes {
                    Some(a) => a.iter().map(|&a| norm_axis(node, a, r, "axes")).collect::<R<_>>()?,
                    None => (0..r).filter(|&i| shape[i] == 1).collect(),
                };
                if ax.iter().any(|&a| shape[a] != 1) {
                    return Err(invalid_input(node, "axes", "selects an axis whose size is not 1"));
                }
                shape = shape.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, d)| *d).collect();
            }
            one(Tensor { shape, ..(**x).clone() })
        }
        "Transpose" => {
            node.check_attrs(&["perm"], opset)?;
            let x = req(node, t, 0, "data")?;
            let perm = perm_of(node, x.shape.len())?;
            one(transpose(x, &perm))
        }
        "Concat" => {
            node.check_attrs(&["axis"], opset)?;
            let xs: Vec<&Rc<Tensor>> = t.iter().flatten().collect();
            let first = xs.first().ok_or_else(|| missing(node, "inputs"))?;
            let r = first.shape.len();
            let axis = node.a_int("axis")?.ok_or_else(|| node.bad_attr("axis", "", "is required"))?;
            let axis = norm_axis(node, axis, r, "axis")?;
            for x in &xs {
                if x.ty != first.ty {
                    return Err(type_mismatch(node, alloc::format!("inputs have types {} and {}", first.ty, x.ty)));
                }
                if x.shape.len() != r || (0..r).any(|d| d != axis && x.shape[d] != first.shape[d]) {
                    return Err(invalid_input(
                        node,
                        "inputs",
                        "have shapes that differ outside the concatenation axis",
                    ));
                }
            }
            one(concat(&xs, axis))
        }
        "Slice" => {
            let x = req(node, t, 0, "data")?;
            let (starts, ends, axes, steps) = slice_args(node, opset, |i, n| match t.get(i) {
                Some(Some(v)) => Ok(Some(ints(node, &Val::Const(v.clone()), n)?)),
                _ => Ok(None),
            })?;
            let spec = slice_spec(node, &x.shape, &starts, &ends, axes.as_deref(), steps.as_deref())?;
            one(slice(x, &spec))
        }
        "Gather" => {
            node.check_attrs(&["axis"], opset)?;
            let x = req(node, t, 0, "data")?;
            let idx = req(node, t, 1, "indices")?;
            let r = x.shape.len();
            if r == 0 {
                return Err(invalid_input(node, "data", "must have rank >= 1"));
            }
            let axis = norm_axis(node, node.a_int("axis")?.unwrap_or(0), r, "axis")?;
            let n = x.shape[axis] as i64;
            let iv = idx.known_ints().ok_or_else(|| type_mismatch(node, "indices must be known integers"))?;
            let out_n = (x.numel() / x.shape[axis].max(1)) as u128 * iv.len() as u128;
            if out_n > MAX_FOLD_ELEMS as u128 {
                return Err(unsupported(node, "the gathered result is too large to fold"));
            }
            let mut norm = Vec::with_capacity(iv.len());
            for &i in &iv {
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    return Err(invalid_input(
                        node,
                        "indices",
                        alloc::format!("index {i} is out of range for size {n}"),
                    ));
                }
                norm.push(j as usize);
            }
            one(gather(x, axis, &norm, &idx.shape))
        }
        "Split" => {
            let x = req(node, t, 0, "input")?;
            let allowed: &[&str] = if opset >= 18 {
                &["axis", "num_outputs"]
            } else if opset >= 13 {
                &["axis"]
            } else {
                &["axis", "split"]
            };
            node.check_attrs(allowed, opset)?;
            let r = x.shape.len();
            let axis = norm_axis(node, node.a_int("axis")?.unwrap_or(0), r, "axis")?;
            let parts = split_sizes(node, t.get(1).and_then(|v| v.clone()), x.shape[axis], opset)?;
            let mut out = Vec::new();
            let mut at = 0usize;
            for p in parts {
                let mut spec: Vec<(usize, usize, i64)> = x.shape.iter().map(|&d| (0, d, 1)).collect();
                spec[axis] = (at, p, 1);
                out.push(slice(x, &spec));
                at += p;
            }
            Ok(Some(out))
        }
        "Expand" => {
            node.check_attrs(&[], opset)?;
            let x = req(node, t, 0, "input")?;
            let shape = ints(node, &Val::Const(req(node, t, 1, "shape")?.clone()), "shape")?;
            if shape.iter().any(|&d| d < 0) {
                return Err(invalid_input(node, "shape", "has a negative entry"));
            }
            let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            let out_shape = broadcast_shape(node, &x.shape, &shape)?;
            one(take(x, &broadcast_index(&out_shape, &x.shape), out_shape))
        }
        "ConstantOfShape" => unreachable_splat(node),
        "Range" => {
            node.check_attrs(&[], opset)?;
            let s = req(node, t, 0, "start")?;
            let l = req(node, t, 1, "limit")?;
            let d = req(node, t, 2, "delta")?;
            let (Some(s), Some(l), Some(d)) = (s.known_ints(), l.known_ints(), d.known_ints()) else {
                return Err(unsupported(node, "only integer ranges are folded"));
            };
            let (Some(&s), Some(&l), Some(&d)) = (s.first(), l.first(), d.first()) else {
                return Err(invalid_input(node, "start", "must be scalars"));
            };
            if d == 0 {
                return Err(invalid_input(node, "delta", "is zero"));
            }
            let n = ((l as f64 - s as f64) / d as f64).ceil().max(0.0);
            if n > (1u64 << 20) as f64 {
                return Err(unsupported(node, "the range is too long to fold"));
            }
            let n = n as usize;
            let v: Vec<i64> = (0..n as i128).map(|i| (s as i128 + i * d as i128) as i64).collect();
            one(Tensor::i64s(alloc::vec![n], &v))
        }
        "Add" | "Sub" | "Mul" | "Div" | "Equal" | "Less" | "Greater" | "Max" | "Min" | "Pow" => {
            node.check_attrs(&[], opset)?;
            let a = req(node, t, 0, "A")?;
            let b = req(node, t, 1, "B")?;
            one(binary(node, op, a, b)?)
        }
        "Neg" | "Abs" | "Sqrt" | "Reciprocal" | "Not" | "Relu" | "Tanh" | "Sigmoid" | "Exp" | "Log" => {
            node.check_attrs(&[], opset)?;
            one(unary(node, op, req(node, t, 0, "X")?)?)
        }
        "Where" => {
            node.check_attrs(&[], opset)?;
            let c = req(node, t, 0, "condition")?;
            let a = req(node, t, 1, "X")?;
            let b = req(node, t, 2, "Y")?;
            if a.ty != b.ty {
                return Err(type_mismatch(node, alloc::format!("X is {} but Y is {}", a.ty, b.ty)));
            }
            let ab = broadcast_shape(node, &a.shape, &b.shape)?;
            let shape = broadcast_shape(node, &c.shape, &ab)?;
            let ci = c.known_ints().ok_or_else(|| unsupported(node, "condition depends on a run-time size"))?;
            let (ic, ia, ib) = (
                broadcast_index(&shape, &c.shape),
                broadcast_index(&shape, &a.shape),
                broadcast_index(&shape, &b.shape),
            );
            let data = match (&a.data, &b.data) {
                (Data::F32(x), Data::F32(y)) => {
                    Data::F32((0..ic.len()).map(|k| if ci[ic[k]] != 0 { x[ia[k]] } else { y[ib[k]] }).collect())
                }
                (Data::F64(x), Data::F64(y)) => {
                    Data::F64((0..ic.len()).map(|k| if ci[ic[k]] != 0 { x[ia[k]] } else { y[ib[k]] }).collect())
                }
                (Data::Int(x), Data::Int(y)) => Data::Int(
                    (0..ic.len()).map(|k| if ci[ic[k]] != 0 { x[ia[k]].clone() } else { y[ib[k]].clone() }).collect(),
                ),
                _ => return Err(type_mismatch(node, "X and Y have different element types")),
            };
            one(Tensor { ty: a.ty, shape, data })
        }
        "ReduceProd" | "ReduceSum" if opset < 13 || op == "ReduceProd" && opset < 18 => {
            node.check_attrs(&["axes", "keepdims"], opset)?;
            let x = req(node, t, 0, "data")?;
            let all_axes = node.a_ints("axes")?.is_none_or(|a| a.len() == x.shape.len());
            if x.shape.len() > 1 || !all_axes {
                return Err(unsupported(node, "only full reductions of 1-D constants are folded"));
            }
            let Data::Int(v) = &x.data else { return Err(unsupported(node, "only integer reductions are folded")) };
            let mut acc = SInt::K(if op == "ReduceProd" { 1 } else { 0 });
            for e in v {
                acc = if op == "ReduceProd" { acc.mul(e) } else { acc.add(e) }
                    .ok_or_else(|| unsupported(node, "the reduction depends on run-time sizes"))?;
            }
            let keep = node.a_int("keepdims")?.unwrap_or(1) != 0;
            let shape = if keep { x.shape.iter().map(|_| 1).collect() } else { alloc::vec![] };
            one(Tensor::ints(x.ty, shape, alloc::vec![acc]))
        }
        _ => Ok(None),
    }
}

fn unreachable_splat(node: &Node<'_>) -> R<Option<Vec<Tensor>>> {
    // ConstantOfShape is always answered by the splat path.
    Err(unsupported(node, "could not evaluate ConstantOfShape"))
}

fn split_sizes(node: &Node<'_>, split_input: Option<Rc<Tensor>>, dim: usize, opset: i64) -> R<Vec<usize>> {
    let outs = node.outputs.len();
    let given: Option<Vec<i64>> = if opset >= 13 {
        match split_input {
            Some(s) => Some(ints(node, &Val::Const(s), "split")?),
            None => None,
        }
    } else {
        node.a_ints("split")?
    };
    match given {
        Some(v) => {
            if v.len() != outs || v.iter().any(|&x| x < 0) || v.iter().map(|&x| x as i128).sum::<i128>() != dim as i128
            {
                return Err(invalid_input(
                    node,
                    "split",
                    alloc::format!("{v:?} does not split size {dim} into {outs} parts"),
                ));
            }
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        None => {
            let n = if opset >= 18 { node.a_int("num_outputs")?.map(|n| n as usize).unwrap_or(outs) } else { outs };
            if n == 0 || n != outs {
                return Err(node.bad_attr("num_outputs", "", "does not match the number of outputs"));
            }
            // Opset 18 allows an uneven last chunk (ceil); earlier ones need an even split.
            let chunk = dim.div_ceil(n);
            if opset < 18 && !dim.is_multiple_of(n) {
                return Err(invalid_input(node, "input", alloc::format!("size {dim} does not split evenly into {n}")));
            }
            Ok((0..n).map(|i| chunk.min(dim.saturating_sub(i * chunk))).collect())
        }
    }
}

/// A `Slice`'s starts, ends, axes and steps (attributes before opset 10, inputs 1-4 from
/// then on, read with `get(slot index, slot name)`).
type SliceArgs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>, Option<Vec<i64>>);

fn slice_args(node: &Node<'_>, opset: i64, get: impl Fn(usize, &str) -> R<Option<Vec<i64>>>) -> R<SliceArgs> {
    if opset < 10 {
        node.check_attrs(&["starts", "ends", "axes"], opset)?;
        let s = node.a_ints("starts")?.ok_or_else(|| node.bad_attr("starts", "", "is required"))?;
        let e = node.a_ints("ends")?.ok_or_else(|| node.bad_attr("ends", "", "is required"))?;
        Ok((s, e, node.a_ints("axes")?, None))
    } else {
        node.check_attrs(&[], opset)?;
        let s = get(1, "starts")?.ok_or_else(|| missing(node, "starts"))?;
        let e = get(2, "ends")?.ok_or_else(|| missing(node, "ends"))?;
        Ok((s, e, get(3, "axes")?, get(4, "steps")?))
    }
}

/// The shape a `Slice` gives a tensor whose sizes may be symbolic: known axes are sliced
/// as usual; an axis of run-time size must be taken whole (start 0, step 1, an end of at
/// least `i32::MAX`, which is how exporters write "to the end").
fn slice_shape_sym(
    node: &Node<'_>,
    shape: &[SInt],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> R<Vec<SInt>> {
    let r = shape.len();
    let axes = slice_axes(node, starts, ends, axes, steps)?;
    let mut out = shape.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        let ax = norm_axis(node, a, r, "axes")?;
        let step = steps.map_or(1, |s| s[k]);
        match shape[ax].known() {
            Some(d) => {
                let d = usize::try_from(d).map_err(|_| invalid_input(node, "data", "has a negative size"))?;
                let spec = slice_spec(node, &[d], &starts[k..=k], &ends[k..=k], None, Some(&[step]))?;
                out[ax] = SInt::K(spec[0].1 as i64);
            }
            None if step == 1 && starts[k] == 0 && ends[k] >= i32::MAX as i64 => {}
            None => {
                return Err(unsupported(
                    node,
                    alloc::format!("slices part of axis {ax}, whose size is only known at run time"),
                ))
            }
        }
    }
    Ok(out)
}

/// A `Slice`'s axes (all of the first `starts.len()` when absent), once starts, ends, axes
/// and steps are checked to be of one length.
fn slice_axes(
    node: &Node<'_>,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> R<Vec<i64>> {
    let axes: Vec<i64> = axes.map(|a| a.to_vec()).unwrap_or_else(|| (0..starts.len() as i64).collect());
    if starts.len() != ends.len() || axes.len() != starts.len() || steps.is_some_and(|s| s.len() != starts.len()) {
        return Err(invalid_input(node, "starts", "starts, ends, axes and steps have different lengths"));
    }
    Ok(axes)
}

/// Normalized slice: per axis (start, count, step).
pub(crate) fn slice_spec(
    node: &Node<'_>,
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> R<Vec<(usize, usize, i64)>> {
    let r = shape.len();
    let axes = slice_axes(node, starts, ends, axes, steps)?;
    let mut spec: Vec<(usize, usize, i64)> = shape.iter().map(|&d| (0, d, 1)).collect();
    for (k, &a) in axes.iter().enumerate() {
        let ax = norm_axis(node, a, r, "axes")?;
        // i128 keeps every intermediate exact whatever values the file holds.
        let d = shape[ax] as i128;
        let step = steps.map_or(1, |s| s[k]);
        if step == 0 {
            return Err(invalid_input(node, "steps", "has a zero step"));
        }
        if d == 0 {
            spec[ax] = (0, 0, step);
            continue;
        }
        let st = step as i128;
        let clampv = |v: i64, lo: i128, hi: i128| {
            let v = v as i128;
            (if v < 0 { v + d } else { v }).clamp(lo, hi)
        };
        let (s, e) = if st > 0 {
            (clampv(starts[k], 0, d), clampv(ends[k], 0, d))
        } else {
            (clampv(starts[k], 0, d - 1), clampv(ends[k], -1, d - 1))
        };
        let count = if st > 0 {
            if e > s {
                (e - s + st - 1) / st
            } else {
                0
            }
        } else if s > e {
            (s - e - st - 1) / -st
        } else {
            0
        };
        spec[ax] = (s.max(0) as usize, count as usize, step);
    }
    Ok(spec)
}

fn take(x: &Tensor, idx: &[usize], shape: Vec<usize>) -> Tensor {
    let data = match &x.data {
        Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
        Data::F64(v) => Data::F64(idx.iter().map(|&i| v[i]).collect()),
        Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i].clone()).collect()),
    };
    Tensor { ty: x.ty, shape, data }
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = alloc::vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Visits every multi-index of `shape` in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = alloc::vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

pub(crate) fn transpose(x: &Tensor, perm: &[usize]) -> Tensor {
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let st = strides(&x.shape);
    let mut idx = Vec::with_capacity(x.numel());
    for_each_index(&shape, |i| idx.push(i.iter().zip(perm).map(|(v, &p)| v * st[p]).sum()));
    take(x, &idx, shape)
}

fn slice(x: &Tensor, spec: &[(usize, usize, i64)]) -> Tensor {
    let shape: Vec<usize> = spec.iter().map(|s| s.1).collect();
    let st = strides(&x.shape);
    let mut idx = Vec::new();
    for_each_index(&shape, |i| {
        idx.push(
            i.iter().zip(spec).zip(&st).map(|((&v, s), &stride)| (s.0 as i64 + v as i64 * s.2) as usize * stride).sum(),
        )
    });
    take(x, &idx, shape)
}

fn gather(x: &Tensor, axis: usize, indices: &[usize], ishape: &[usize]) -> Tensor {
    let mut shape: Vec<usize> = x.shape[..axis].to_vec();
    shape.extend_from_slice(ishape);
    shape.extend_from_slice(&x.shape[axis + 1..]);
    let outer = numel(&x.shape[..axis]).unwrap_or(0);
    let inner = numel(&x.shape[axis + 1..]).unwrap_or(0);
    let n = x.shape[axis];
    let mut idx = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in indices {
            for k in 0..inner {
                idx.push((o * n + i) * inner + k);
            }
        }
    }
    take(x, &idx, shape)
}

fn concat(xs: &[&Rc<Tensor>], axis: usize) -> Tensor {
    let first = xs[0];
    let mut shape = first.shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    let outer = numel(&first.shape[..axis]).unwrap_or(0);
    let inner = numel(&first.shape[axis + 1..]).unwrap_or(0);
    let mut data = match &first.data {
        Data::F32(_) => Data::F32(Vec::new()),
        Data::F64(_) => Data::F64(Vec::new()),
        Data::Int(_) => Data::Int(Vec::new()),
    };
    for o in 0..outer {
        for x in xs {
            let len = x.shape[axis] * inner;
            let at = o * len;
            match (&mut data, &x.data) {
                (Data::F32(d), Data::F32(s)) => d.extend_from_slice(&s[at..at + len]),
                (Data::F64(d), Data::F64(s)) => d.extend_from_slice(&s[at..at + len]),
                (Data::Int(d), Data::Int(s)) => d.extend_from_slice(&s[at..at + len]),
                _ => {}
            }
        }
    }
    Tensor { ty: first.ty, shape, data }
}

fn cast(node: &Node<'_>, x: &Tensor, ty: ElemType) -> R<Tensor> {
    let data = match (&x.data, ty.is_float()) {
        (Data::F32(v), true) if ty != ElemType::F64 => {
            Data::F32(v.iter().map(|&f| round_float(f as f64, ty) as f32).collect())
        }
        (Data::F32(v), true) => Data::F64(v.iter().map(|&f| f as f64).collect()),
        (Data::F64(v), true) if ty == ElemType::F64 => Data::F64(v.clone()),
        (Data::F64(v), true) => Data::F32(v.iter().map(|&f| round_float(f, ty) as f32).collect()),
        (Data::Int(v), true) => {
            let k: Option<Vec<i64>> = v.iter().map(|s| s.known()).collect();
            let k = k.ok_or_else(|| unsupported(node, "casts a run-time size to a float"))?;
            if ty == ElemType::F64 {
                Data::F64(k.iter().map(|&i| i as f64).collect())
            } else {
                Data::F32(k.iter().map(|&i| round_float(i as f64, ty) as f32).collect())
            }
        }
        (Data::F32(_) | Data::F64(_), false) => {
            let f = x.as_f64().expect("float data");
            let mut out = Vec::with_capacity(f.len());
            for v in f {
                out.push(SInt::K(
                    cast_scalar(Scalar::F(v), ty)
                        .and_then(|s| if let Scalar::I(i) = s { Some(i) } else { None })
                        .ok_or_else(|| unsupported(node, "casts a non-finite float to an integer"))?,
                ));
            }
            Data::Int(out)
        }
        (Data::Int(v), false) => Data::Int(
            v.iter()
                .map(|s| match s {
                    SInt::K(i) => SInt::K(wrap_int(*i, ty)),
                    // Run-time sizes are positive and small: they survive any integer cast
                    // but bool.
                    SInt::S(_) if ty == ElemType::Bool => SInt::K(1),
                    s => s.clone(),
                })
                .collect(),
        ),
    };
    Ok(Tensor { ty, shape: x.shape.clone(), data })
}

fn binary(node: &Node<'_>, op: &str, a: &Tensor, b: &Tensor) -> R<Tensor> {
    if a.ty != b.ty {
        return Err(type_mismatch(node, alloc::format!("inputs have element types {} and {}", a.ty, b.ty)));
    }
    let shape = broadcast_shape(node, &a.shape, &b.shape)?;
    let (ia, ib) = (broadcast_index(&shape, &a.shape), broadcast_index(&shape, &b.shape));
    let cmp = matches!(op, "Equal" | "Less" | "Greater");
    let bool_of = |c: bool| SInt::K(c as i64);
    let ty = if cmp { ElemType::Bool } else { a.ty };
    let rnd = |f: f64| round_float(f, a.ty);
    let data = match (&a.data, &b.data) {
        (Data::F32(x), Data::F32(y)) => {
            let f = |p: f32, q: f32| -> f32 {
                let r = match op {
                    "Add" => p + q,
                    "Sub" => p - q,
                    "Mul" => p * q,
                    "Div" => p / q,
                    "Max" => p.max(q),
                    "Min" => p.min(q),
                    _ => p.powf(q),
                };
                rnd(r as f64) as f32
            };
            if cmp {
                Data::Int(
                    (0..ia.len())
                        .map(|k| {
                            let (p, q) = (x[ia[k]], y[ib[k]]);
                            bool_of(match op {
                                "Equal" => p == q,
                                "Less" => p < q,
                                _ => p > q,
                            })
                        })
                        .collect(),
                )
            } else {
                Data::F32((0..ia.len()).map(|k| f(x[ia[k]], y[ib[k]])).collect())
            }
        }
        (Data::F64(x), Data::F64(y)) => {
            if cmp {
                Data::Int(
                    (0..ia.len())
                        .map(|k| {
                            let (p, q) = (x[ia[k]], y[ib[k]]);
                            bool_of(match op {
                                "Equal" => p == q,
                                "Less" => p < q,
                                _ => p > q,
                            })
                        })
                        .collect(),
                )
            } else {
                Data::F64(
                    (0..ia.len())
                        .map(|k| {
                            let (p, q) = (x[ia[k]], y[ib[k]]);
                            match op {
                                "Add" => p + q,
                                "Sub" => p - q,
                                "Mul" => p * q,
                                "Div" => p / q,
                                "Max" => p.max(q),
                                "Min" => p.min(q),
                                _ => p.powf(q),
                            }
                        })
                        .collect(),
                )
            }
        }
        (Data::Int(x), Data::Int(y)) => {
            let mut out = Vec::with_capacity(ia.len());
            for k in 0..ia.len() {
                let (p, q) = (&x[ia[k]], &y[ib[k]]);
                let r = match op {
                    "Add" => p.add(q),
                    "Sub" => q.neg().and_then(|nq| p.add(&nq)),
                    "Mul" => p.mul(q),
                    "Div" => {
                        if q.known() == Some(0) {
                            return Err(invalid_input(node, "B", "divides an integer by zero"));
                        }
                        p.div(q)
                    }
                    "Equal" => p.equals(q).map(bool_of),
                    "Less" | "Greater" | "Max" | "Min" | "Pow" => match (p.known(), q.known()) {
                        (Some(u), Some(v)) => match op {
                            "Less" => Some(bool_of(u < v)),
                            "Greater" => Some(bool_of(u > v)),
                            "Max" => Some(SInt::K(u.max(v))),
                            "Min" => Some(SInt::K(u.min(v))),
                            _ => u32::try_from(v).ok().and_then(|e| u.checked_pow(e)).map(SInt::K),
                        },
                        _ => None,
                    },
                    _ => None,
                };
                out.push(r.ok_or_else(|| {
                    unsupported(node, alloc::format!("cannot compute {p} {op} {q} without knowing run-time sizes"))
                })?);
            }
            Data::Int(out)
        }
        _ => return Err(type_mismatch(node, "inputs have different element types")),
    };
    Ok(Tensor { ty, shape, data })
}

fn unary(node: &Node<'_>, op: &str, x: &Tensor) -> R<Tensor> {
    let fl = |f: f64| -> f64 {
        match op {
            "Neg" => -f,
            "Abs" => f.abs(),
            "Sqrt" => f.sqrt(),
            "Reciprocal" => 1.0 / f,
            "Relu" => f.max(0.0),
            "Tanh" => f.tanh(),
            "Sigmoid" => 1.0 / (1.0 + (-f).exp()),
            "Exp" => f.exp(),
            _ => f.ln(),
        }
    };
    let data = match &x.data {
        Data::F32(v) if op != "Not" => Data::F32(v.iter().map(|&f| round_float(fl(f as f64), x.ty) as f32).collect()),
        Data::F64(v) if op != "Not" => Data::F64(v.iter().map(|&f| fl(f)).collect()),
        Data::Int(v) => {
            let mut out = Vec::with_capacity(v.len());
            for s in v {
                let r = match (op, s.known()) {
                    ("Neg", _) => s.neg(),
                    ("Abs", Some(k)) => k.checked_abs().map(SInt::K),
                    ("Abs", None) => Some(s.clone()),
                    ("Not", Some(k)) => Some(SInt::K((k == 0) as i64)),
                    ("Relu", Some(k)) => Some(SInt::K(k.max(0))),
                    ("Relu", None) => Some(s.clone()),
                    _ => None,
                };
                out.push(r.ok_or_else(|| unsupported(node, alloc::format!("cannot fold {op} of {s} ({})", x.ty)))?);
            }
            Data::Int(out)
        }
        _ => return Err(type_mismatch(node, alloc::format!("{op} does not apply to {}", x.ty))),
    };
    Ok(Tensor { ty: x.ty, shape: x.shape.clone(), data })
}
