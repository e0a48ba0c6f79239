//! What the importer knows about each value of the graph.
//!
//! A value is either a constant ([`Val::Const`], [`Val::Splat`]) or a run-time tensor
//! ([`Val::Dyn`]). A run-time tensor is described by its axes: each axis is a *group* of
//! *atoms*, where an atom is one indivisible quantity — an axis of a graph input, the
//! direction or hidden-unit axis of a recurrent output, the frame vector of a layer, the
//! state-slot axis of a final state. `Transpose` permutes groups, `Reshape` regroups the
//! same atoms in the same order (it can merge `[dirs, H]` into one feature axis, or split it
//! back, but never cut an atom), `Squeeze` parks size-1 atoms aside and `Unsqueeze` puts
//! them back. When a value reaches an operator that gives it meaning (a recurrent node's
//! `X`, a `MatMul`, a graph output) its groups are matched against what that consumer
//! needs, which is how the importer follows the real dataflow instead of node names.

use super::tensor::{ElemType, SInt, Scalar, Tensor};
use crate::interface::{StateKind, StateSlot};
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

/// The meaning of one atom.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Label {
    /// The whole axis `axis` of graph input `input`.
    In { input: usize, axis: usize },
    /// Rows `start..end` of axis `axis` of graph input `input`.
    InPart { input: usize, axis: usize, start: usize, end: usize },
    /// An inserted axis of size 1.
    Unit,
    /// The direction axis of a recurrent node's `Y` (this many directions).
    Dir(usize),
    /// The per-direction hidden units of a recurrent output.
    Hid(usize),
    /// The whole frame vector of a dense layer (this many values).
    Feat(usize),
    /// The slot axis of final states: which (layer, direction) each row is.
    Slots(Vec<StateSlot>),
}

/// An atom: a label and its size.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Atom {
    pub label: Label,
    pub size: SInt,
}

impl Atom {
    pub(crate) fn new(label: Label, size: usize) -> Atom {
        Atom { label, size: SInt::K(size as i64) }
    }
    pub(crate) fn unit() -> Atom {
        Atom::new(Label::Unit, 1)
    }
    pub(crate) fn is_one(&self) -> bool {
        self.size == SInt::K(1)
    }
}

/// One axis of a run-time tensor.
pub(crate) type Group = Vec<Atom>;

/// What a run-time tensor is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DynKind {
    /// A view of graph input `i` whose role is decided by its consumer.
    Input(usize),
    /// The per-frame output of chain stage `stage` (0 = the model input), at `version`
    /// (bumped when a bias or activation is fused into the stage's dense layer).
    Seq { stage: usize, version: u32 },
    /// Final states.
    Final(StateKind),
    /// The per-sequence output of head stage `stage` (a dense layer applied to the final
    /// hidden state of the last recurrent layer), at `version` as for [`DynKind::Seq`].
    Head { stage: usize, version: u32 },
}

/// A run-time tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DynVal {
    pub kind: DynKind,
    pub ty: ElemType,
    pub groups: Vec<Group>,
    /// Size-1 atoms removed by `Squeeze` and similar, most recent last.
    pub dropped: Vec<Atom>,
}

/// A constant whose elements are all equal, with a possibly symbolic shape (a zero state
/// built by `Expand` to the run-time batch size).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Splat {
    pub ty: ElemType,
    pub value: Scalar,
    pub shape: Vec<SInt>,
}

/// What the importer knows about a value.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Const(Rc<Tensor>),
    Splat(Rc<Splat>),
    Dyn(Rc<DynVal>),
}

impl Val {
    pub(crate) fn ty(&self) -> ElemType {
        match self {
            Val::Const(t) => t.ty,
            Val::Splat(s) => s.ty,
            Val::Dyn(d) => d.ty,
        }
    }
    /// The shape, symbolic where sizes are only known at run time.
    pub(crate) fn shape(&self) -> Option<Vec<SInt>> {
        match self {
            Val::Const(t) => Some(t.shape.iter().map(|&d| SInt::K(d as i64)).collect()),
            Val::Splat(s) => Some(s.shape.clone()),
            Val::Dyn(d) => d.groups.iter().map(group_size).collect(),
        }
    }
    pub(crate) fn as_dyn(&self) -> Option<&Rc<DynVal>> {
        match self {
            Val::Dyn(d) => Some(d),
            _ => None,
        }
    }
}

/// The size of a group (product of its atoms); `None` on overflow.
pub(crate) fn group_size(g: &Group) -> Option<SInt> {
    let mut p = SInt::K(1);
    for a in g {
        p = p.mul(&a.size)?;
    }
    Some(p)
}

/// Shape entries formatted for messages: `[T, 2, d3]`.
pub(crate) fn shape_text(shape: &[SInt]) -> String {
    let parts: Vec<String> = shape.iter().map(|s| alloc::format!("{s}")).collect();
    alloc::format!("[{}]", parts.join(", "))
}

/// Why a reshape could not be followed.
pub(crate) enum RegroupError {
    /// A target dimension would cut an atom in two.
    Cuts(String),
    /// Sizes depend on run-time values in a way that cannot be decided.
    Undecidable(String),
    /// Element counts disagree (an invalid reshape).
    Count(String),
}

impl DynVal {
    /// Regroups the atoms into axes of the given sizes (already resolved: no 0, no -1).
    pub(crate) fn regroup(&self, target: &[SInt]) -> Result<DynVal, RegroupError> {
        let atoms: Vec<&Atom> = self.groups.iter().flatten().collect();
        let mut dropped = self.dropped.clone();
        let mut out: Vec<Group> = Vec::with_capacity(target.len());
        let mut i = 0;
        for (k, s) in target.iter().enumerate() {
            if *s == SInt::K(1) {
                if i < atoms.len() && atoms[i].is_one() {
                    out.push(alloc::vec![atoms[i].clone()]);
                    i += 1;
                } else {
                    out.push(alloc::vec![restore(&mut dropped)]);
                }
                continue;
            }
            let mut group = Group::new();
            let mut prod = SInt::K(1);
            loop {
                // Sizes are compared structurally: a run-time size equals only the same
                // run-time size. Treating it as different from every other value can only
                // make the walk consume more atoms, and the divisibility check below then
                // refuses any grouping that is not exact for every run-time value.
                if prod == *s {
                    break;
                }
                let Some(a) = atoms.get(i) else {
                    return Err(RegroupError::Count(alloc::format!(
                        "target dimension {k} ({s}) needs more elements than the input has"
                    )));
                };
                prod = prod.mul(&a.size).ok_or_else(|| RegroupError::Undecidable("element count overflows".into()))?;
                group.push((*a).clone());
                i += 1;
                // The product so far must divide the target, or this target cuts an atom.
                let divides = match (prod.known(), s.known()) {
                    (Some(p), Some(t)) => p != 0 && t % p == 0,
                    _ => s.div(&prod).is_some(),
                };
                if !divides {
                    return Err(RegroupError::Cuts(alloc::format!(
                        "target dimension {k} ({s}) does not line up with the input's axes"
                    )));
                }
            }
            out.push(group);
        }
        for a in &atoms[i..] {
            if !a.is_one() {
                return Err(RegroupError::Count("the target shape has fewer elements than the input".into()));
            }
            if a.label != Label::Unit {
                dropped.push((*a).clone());
            }
        }
        Ok(DynVal { kind: self.kind.clone(), ty: self.ty, groups: out, dropped })
    }

    /// Inserts size-1 axes at the given (sorted, normalized, output-rank) positions.
    pub(crate) fn unsqueeze(&self, axes: &[usize]) -> DynVal {
        let mut groups = self.groups.clone();
        let mut dropped = self.dropped.clone();
        for &ax in axes {
            let atom = restore(&mut dropped);
            groups.insert(ax.min(groups.len()), alloc::vec![atom]);
        }
        DynVal { kind: self.kind.clone(), ty: self.ty, groups, dropped }
    }

    /// Removes the given axes (each of size 1).
    pub(crate) fn squeeze(&self, axes: &[usize]) -> DynVal {
        let mut groups = Vec::new();
        let mut dropped = self.dropped.clone();
        for (i, g) in self.groups.iter().enumerate() {
            if axes.contains(&i) {
                dropped.extend(g.iter().filter(|a| a.label != Label::Unit).cloned());
            } else {
                groups.push(g.clone());
            }
        }
        DynVal { kind: self.kind.clone(), ty: self.ty, groups, dropped }
    }
}

/// The atom to put back when a size-1 axis is inserted: the most recently removed one, so
/// that `Squeeze` followed by `Unsqueeze` restores the axis's meaning.
fn restore(dropped: &mut Vec<Atom>) -> Atom {
    dropped.pop().unwrap_or_else(Atom::unit)
}
