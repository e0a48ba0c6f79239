//! The packed weight layout: the contract between the file and the kernels.
//!
//! # Panels
//!
//! The rows of a weight matrix (one row per output value) are cut into panels of
//! [`PANEL`] = 16 rows. Within a panel the 16 weights for input index `k` sit together,
//! `k` after `k`: `panel[k][16]`. A kernel loads one column slice of 16 rows with one
//! vector load (AVX-512: one 16-lane register; AVX2: two 8-lane; NEON: four 4-lane;
//! scalar: 16 values) and each lane owns one output row, so the dot product of a row is a
//! chain of fused multiply-adds in a single lane, in input order, on every ISA.
//!
//! # Gates
//!
//! A recurrent layer of hidden size `H` has `G` gates (RNN 1, GRU 3, LSTM 4). Hidden units
//! are grouped in blocks of 16; block `b` owns units `16b .. 16b+16`. The panels of all the
//! gates of one block are neighbours: panel `p = b * G + g` holds gate `g` (in the
//! *internal* order below) of block `b`. A kernel therefore finishes the matrix work for a
//! block with every gate of those 16 units in registers and applies the cell update there.
//!
//! Internal gate orders (ONNX orders in brackets): LSTM `i, f, c, o` (`i, o, f, c`);
//! GRU `z, r, h` (`z, r, h`); RNN the single gate.
//!
//! # Padding
//!
//! `H` is padded to `Hp = round_up(H, 16)`; weights and biases of padded units are zero.
//! A padded unit's pre-activations are then zero; its state is never read by a real unit
//! (R's `k` dimension is `H`, not `Hp`) and is never exported, so padded units are inert
//! whatever their activation makes of zero.
//!
//! # Tensors of a layer
//!
//! Per direction `d` of a recurrent layer (`I` = input size, `NB = Hp / 16`):
//!
//! | kind | packed shape | logical (ONNX) shape |
//! |---|---|---|
//! | `W` | `[NB * G][I][16]` | `[G * H, I]` |
//! | `R` | `[NB * G][H][16]` | `[G * H, H]` |
//! | `B` | `[2][NB * G][16]` (input biases, then recurrent biases) | `[2 * G * H]` |
//! | `P` (LSTM peepholes) | `[NB][3][16]` (i, f, o) | `[3 * H]` (i, o, f) |
//!
//! A dense layer with `O` outputs has `W` `[NB][I][16]` (`NB = round_up(O, 16) / 16`,
//! logical `[O, I]`, row-major like PyTorch's `Linear.weight`) and `B` `[NB][16]`
//! (logical `[O]`).
//!
//! Reduced precision changes the element, not the layout: f16 and bf16 panels are the
//! same shape; int8 panels (layout [`PackedLayout::Panel16K4`]) group 4 consecutive `k`
//! per lane (`[NB * G][ceil(K / 4)][16][4]`) and carry one f32 scale per row.

use crate::desc::{CellKind, DType, LayerDesc, ModelDesc};
use alloc::vec;
use alloc::vec::Vec;

/// Rows per panel.
pub const PANEL: usize = 16;
/// Alignment of every tensor in the packed data, in bytes.
pub const ALIGN: usize = 64;

/// `n` rounded up to a multiple of [`PANEL`].
pub const fn padded(n: usize) -> usize {
    n.div_ceil(PANEL) * PANEL
}

/// Number of 16-unit blocks for `n` units.
pub const fn blocks(n: usize) -> usize {
    n.div_ceil(PANEL)
}

/// For each internal gate index, the ONNX gate index.
pub const fn onnx_gate_order(cell: CellKind) -> &'static [usize] {
    match cell {
        CellKind::Rnn => &[0],
        // internal i, f, c, o  <-  ONNX i, o, f, c
        CellKind::Lstm => &[0, 2, 3, 1],
        CellKind::Gru => &[0, 1, 2],
    }
}

/// Internal gate indices, named.
pub mod gate {
    /// LSTM input gate.
    pub const LSTM_I: usize = 0;
    /// LSTM forget gate.
    pub const LSTM_F: usize = 1;
    /// LSTM cell candidate.
    pub const LSTM_C: usize = 2;
    /// LSTM output gate.
    pub const LSTM_O: usize = 3;
    /// GRU update gate.
    pub const GRU_Z: usize = 0;
    /// GRU reset gate.
    pub const GRU_R: usize = 1;
    /// GRU candidate.
    pub const GRU_H: usize = 2;
}

/// How a tensor's elements are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PackedLayout {
    /// `[panels][K][16]` (weights in f32, f16 or bf16).
    Panel16 = 0,
    /// `[panels][ceil(K/4)][16][4]` (int8 weights).
    Panel16K4 = 1,
    /// A plain vector of panel-ordered values (biases, peepholes, scales).
    Vector = 2,
}

impl PackedLayout {
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => PackedLayout::Panel16,
            1 => PackedLayout::Panel16K4,
            2 => PackedLayout::Vector,
            _ => return None,
        })
    }
}

/// What a tensor is to its layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TensorKind {
    /// Input weights (dense: the weights).
    W = 0,
    /// Recurrent weights.
    R = 1,
    /// Biases.
    B = 2,
    /// LSTM peepholes.
    P = 3,
    /// Per-row scales of int8 `W`.
    WScale = 4,
    /// Per-row scales of int8 `R`.
    RScale = 5,
}

impl TensorKind {
    /// Decodes the on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => TensorKind::W,
            1 => TensorKind::R,
            2 => TensorKind::B,
            3 => TensorKind::P,
            4 => TensorKind::WScale,
            5 => TensorKind::RScale,
            _ => return None,
        })
    }
    /// Short name.
    pub const fn name(self) -> &'static str {
        match self {
            TensorKind::W => "W",
            TensorKind::R => "R",
            TensorKind::B => "B",
            TensorKind::P => "P",
            TensorKind::WScale => "W_scale",
            TensorKind::RScale => "R_scale",
        }
    }
}

/// Identifies a tensor in a model; the canonical order of tensors is the order of this key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId {
    /// Layer index.
    pub layer: u16,
    /// Direction index (0, or 1 for the backward half of a bidirectional layer).
    pub dir: u8,
    /// Role.
    pub kind: TensorKind,
}

/// The tensors a layer must have, in canonical order, with their dtype, layout, logical
/// shape and packed element count. The file reader checks a file's table against this.
pub fn expected_tensors(layer_index: usize, layer: &LayerDesc) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    let li = layer_index as u16;
    match layer {
        LayerDesc::Recurrent(r) => {
            let g = r.cell.gates();
            let h = r.hidden_size;
            let nbg = blocks(h) * g;
            for d in 0..r.direction.count() {
                let id = |kind| TensorId { layer: li, dir: d as u8, kind };
                out.push(weight_spec(id(TensorKind::W), r.dtype, nbg, r.input_size, [g * h, r.input_size]));
                out.push(weight_spec(id(TensorKind::R), r.dtype, nbg, h, [g * h, h]));
                out.push(TensorSpec::vector(id(TensorKind::B), 2 * nbg * PANEL, [2 * g * h, 0]));
                if r.peepholes {
                    out.push(TensorSpec::vector(id(TensorKind::P), blocks(h) * 3 * PANEL, [3 * h, 0]));
                }
                if r.dtype.is_int8() {
                    out.push(TensorSpec::vector(id(TensorKind::WScale), nbg * PANEL, [g * h, 0]));
                    out.push(TensorSpec::vector(id(TensorKind::RScale), nbg * PANEL, [g * h, 0]));
                }
            }
        }
        LayerDesc::Dense(dn) => {
            let nb = blocks(dn.output_size);
            let id = |kind| TensorId { layer: li, dir: 0, kind };
            out.push(weight_spec(id(TensorKind::W), dn.dtype, nb, dn.input_size, [dn.output_size, dn.input_size]));
            out.push(TensorSpec::vector(id(TensorKind::B), nb * PANEL, [dn.output_size, 0]));
            if dn.dtype.is_int8() {
                out.push(TensorSpec::vector(id(TensorKind::WScale), nb * PANEL, [dn.output_size, 0]));
            }
        }
    }
    out
}

fn weight_spec(id: TensorId, dtype: DType, panels: usize, k: usize, shape: [usize; 2]) -> TensorSpec {
    let (layout, elems) = if dtype.is_int8() {
        (PackedLayout::Panel16K4, panels * k.div_ceil(4) * 4 * PANEL)
    } else {
        (PackedLayout::Panel16, panels * k * PANEL)
    };
    TensorSpec { id, dtype, layout, shape, elems }
}

/// What a tensor must look like (see [`expected_tensors`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Which tensor.
    pub id: TensorId,
    /// Element type.
    pub dtype: DType,
    /// Arrangement.
    pub layout: PackedLayout,
    /// Logical (ONNX) shape; a trailing 0 means the tensor is 1-D.
    pub shape: [usize; 2],
    /// Number of stored elements (including padding).
    pub elems: usize,
}

impl TensorSpec {
    fn vector(id: TensorId, elems: usize, shape: [usize; 2]) -> Self {
        TensorSpec { id, dtype: DType::F32, layout: PackedLayout::Vector, shape, elems }
    }
    /// Stored size in bytes.
    pub fn bytes(&self) -> usize {
        self.elems * self.dtype.size()
    }
}

/// Why weights could not be packed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A weight slice has the wrong length.
    #[error("layer {layer}: {tensor} has {got} elements, expected {expected}")]
    WrongLength {
        /// Layer index.
        layer: usize,
        /// Tensor name.
        tensor: &'static str,
        /// Given.
        got: usize,
        /// Expected.
        expected: usize,
    },
    /// The weights given do not match the layer kind.
    #[error("layer {layer}: {what}")]
    Mismatch {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// Weights of one layer in the logical (ONNX / PyTorch) layouts, all directions together.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerWeights {
    /// RNN/LSTM/GRU: `w` `[dirs, G*H, I]`, `r` `[dirs, G*H, H]`, `b` `[dirs, 2*G*H]`
    /// (absent: zeros), `p` `[dirs, 3*H]` (LSTM with peepholes only), gate orders as ONNX.
    Recurrent {
        /// Input weights.
        w: Vec<f32>,
        /// Recurrent weights.
        r: Vec<f32>,
        /// Biases `Wb` then `Rb`, per direction.
        b: Option<Vec<f32>>,
        /// Peepholes.
        p: Option<Vec<f32>>,
    },
    /// Dense: `w` `[O, I]`, `b` `[O]` (absent: zeros).
    Dense {
        /// Weights, row-major `[O, I]`.
        w: Vec<f32>,
        /// Bias.
        b: Option<Vec<f32>>,
    },
}

/// Packs `rows x k` row-major matrix rows into panels: the `gates` row groups of `h` rows
/// each are reordered by `order` (internal gate `g` takes source group `order[g]`).
/// Returns `[blocks(h) * gates][k][16]`.
pub fn pack_panels(src: &[f32], h: usize, k: usize, order: &[usize]) -> Vec<f32> {
    let g = order.len();
    debug_assert_eq!(src.len(), g * h * k);
    let nb = blocks(h);
    let mut out = vec![0.0f32; nb * g * k * PANEL];
    for b in 0..nb {
        for (gi, &og) in order.iter().enumerate() {
            let panel = &mut out[(b * g + gi) * k * PANEL..][..k * PANEL];
            for lane in 0..PANEL {
                let unit = b * PANEL + lane;
                if unit >= h {
                    break;
                }
                let row = &src[(og * h + unit) * k..][..k];
                for (kk, &v) in row.iter().enumerate() {
                    panel[kk * PANEL + lane] = v;
                }
            }
        }
    }
    out
}

/// Inverse of [`pack_panels`].
pub fn unpack_panels(packed: &[f32], h: usize, k: usize, order: &[usize]) -> Vec<f32> {
    let g = order.len();
    let nb = blocks(h);
    debug_assert_eq!(packed.len(), nb * g * k * PANEL);
    let mut out = vec![0.0f32; g * h * k];
    for b in 0..nb {
        for (gi, &og) in order.iter().enumerate() {
            let panel = &packed[(b * g + gi) * k * PANEL..][..k * PANEL];
            for lane in 0..PANEL {
                let unit = b * PANEL + lane;
                if unit >= h {
                    break;
                }
                let row = &mut out[(og * h + unit) * k..][..k];
                for (kk, v) in row.iter_mut().enumerate() {
                    *v = panel[kk * PANEL + lane];
                }
            }
        }
    }
    out
}

/// Packs a vector of `order.len()` groups of `h` values into `[blocks(h) * G][16]`.
pub fn pack_vector(src: &[f32], h: usize, order: &[usize]) -> Vec<f32> {
    pack_panels(src, h, 1, order)
}

/// Inverse of [`pack_vector`].
pub fn unpack_vector(packed: &[f32], h: usize, order: &[usize]) -> Vec<f32> {
    unpack_panels(packed, h, 1, order)
}

/// Peephole order: internal (i, f, o) from ONNX (i, o, f).
const PEEPHOLE_ORDER: [usize; 3] = [0, 2, 1];

/// One packed tensor: its identity, arrangement and bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedTensor {
    /// Identity and shape.
    pub spec: TensorSpec,
    /// Stored bytes, little-endian elements.
    pub bytes: Vec<u8>,
}

impl PackedTensor {
    fn f32(spec: TensorSpec, data: &[f32]) -> Self {
        debug_assert_eq!(spec.elems, data.len());
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        PackedTensor { spec, bytes }
    }
    /// The elements as f32 (only for f32 tensors).
    pub fn to_f32(&self) -> Vec<f32> {
        self.bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }
}

/// A whole model in packed form: the description and every tensor in canonical order.
/// The `.recur` writer stores exactly this; the engine runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedModel {
    /// The (validated) description.
    pub desc: ModelDesc,
    /// Tensors in canonical order (see [`expected_tensors`]).
    pub tensors: Vec<PackedTensor>,
}

/// A description or packing error.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PackError {
    /// The description is invalid.
    #[error(transparent)]
    Desc(#[from] crate::desc::DescError),
    /// Weights do not fit the description.
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

fn check_len(layer: usize, tensor: &'static str, got: usize, expected: usize) -> Result<(), LayoutError> {
    if got != expected {
        Err(LayoutError::WrongLength { layer, tensor, got, expected })
    } else {
        Ok(())
    }
}

impl PackedModel {
    /// Validates `desc` and packs f32 weights given in the logical layouts. Only f32
    /// descriptions can be packed here; quantization converts a packed f32 model.
    pub fn pack(desc: ModelDesc, weights: &[LayerWeights]) -> Result<Self, PackError> {
        desc.validate()?;
        if weights.len() != desc.layers.len() {
            return Err(LayoutError::Mismatch {
                layer: weights.len().min(desc.layers.len()),
                what: "weights given for a different number of layers",
            }
            .into());
        }
        let mut tensors = Vec::new();
        for (li, (layer, wts)) in desc.layers.iter().zip(weights).enumerate() {
            let specs = expected_tensors(li, layer);
            let mut spec_iter = specs.iter();
            let mut next = |kind: TensorKind| *spec_iter.find(|s| s.id.kind == kind).expect("spec exists");
            match (layer, wts) {
                (LayerDesc::Recurrent(rd), LayerWeights::Recurrent { w, r, b, p }) => {
                    if rd.dtype != DType::F32 {
                        return Err(LayoutError::Mismatch {
                            layer: li,
                            what: "only f32 layers can be packed from logical weights",
                        }
                        .into());
                    }
                    let (g, h, i, dirs) = (rd.cell.gates(), rd.hidden_size, rd.input_size, rd.direction.count());
                    check_len(li, "W", w.len(), dirs * g * h * i)?;
                    check_len(li, "R", r.len(), dirs * g * h * h)?;
                    if let Some(b) = b {
                        check_len(li, "B", b.len(), dirs * 2 * g * h)?;
                    }
                    match (rd.peepholes, p) {
                        (true, Some(p)) => check_len(li, "P", p.len(), dirs * 3 * h)?,
                        (false, None) => {}
                        (true, None) => {
                            return Err(
                                LayoutError::Mismatch { layer: li, what: "peepholes declared but P not given" }.into()
                            )
                        }
                        (false, Some(_)) => {
                            return Err(
                                LayoutError::Mismatch { layer: li, what: "P given but peepholes not declared" }.into()
                            )
                        }
                    }
                    let order = onnx_gate_order(rd.cell);
                    for d in 0..dirs {
                        // Specs come per direction in order; take this direction's.
                        let pw = pack_panels(&w[d * g * h * i..][..g * h * i], h, i, order);
                        tensors.push(PackedTensor::f32(next(TensorKind::W), &pw));
                        let pr = pack_panels(&r[d * g * h * h..][..g * h * h], h, h, order);
                        tensors.push(PackedTensor::f32(next(TensorKind::R), &pr));
                        let mut pb = Vec::with_capacity(2 * blocks(h) * g * PANEL);
                        match b {
                            Some(b) => {
                                let bd = &b[d * 2 * g * h..][..2 * g * h];
                                pb.extend(pack_vector(&bd[..g * h], h, order));
                                pb.extend(pack_vector(&bd[g * h..], h, order));
                            }
                            None => pb.resize(2 * blocks(h) * g * PANEL, 0.0),
                        }
                        tensors.push(PackedTensor::f32(next(TensorKind::B), &pb));
                        if let Some(p) = p {
                            let pp = pack_vector(&p[d * 3 * h..][..3 * h], h, &PEEPHOLE_ORDER);
                            tensors.push(PackedTensor::f32(next(TensorKind::P), &pp));
                        }
                    }
                }
                (LayerDesc::Dense(dd), LayerWeights::Dense { w, b }) => {
                    if dd.dtype != DType::F32 {
                        return Err(LayoutError::Mismatch {
                            layer: li,
                            what: "only f32 layers can be packed from logical weights",
                        }
                        .into());
                    }
                    let (o, i) = (dd.output_size, dd.input_size);
                    check_len(li, "W", w.len(), o * i)?;
                    let pw = pack_panels(w, o, i, &[0]);
                    tensors.push(PackedTensor::f32(next(TensorKind::W), &pw));
                    let pb = match b {
                        Some(b) => {
                            check_len(li, "B", b.len(), o)?;
                            pack_vector(b, o, &[0])
                        }
                        None => vec![0.0; blocks(o) * PANEL],
                    };
                    tensors.push(PackedTensor::f32(next(TensorKind::B), &pb));
                }
                _ => return Err(LayoutError::Mismatch { layer: li, what: "weights of a different layer kind" }.into()),
            }
        }
        Ok(PackedModel { desc, tensors })
    }

    /// The tensor with this identity.
    pub fn tensor(&self, id: TensorId) -> Option<&PackedTensor> {
        self.tensors.iter().find(|t| t.spec.id == id)
    }

    /// Unpacks the weights of every layer back to the logical layouts (f32 models only).
    pub fn unpack(&self) -> Vec<LayerWeights> {
        let mut out = Vec::new();
        for (li, layer) in self.desc.layers.iter().enumerate() {
            let get =
                |dir: usize, kind| self.tensor(TensorId { layer: li as u16, dir: dir as u8, kind }).map(|t| t.to_f32());
            match layer {
                LayerDesc::Recurrent(rd) => {
                    let (h, i) = (rd.hidden_size, rd.input_size);
                    let order = onnx_gate_order(rd.cell);
                    let g = order.len();
                    let (mut w, mut r, mut b, mut p) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                    for d in 0..rd.direction.count() {
                        w.extend(unpack_panels(&get(d, TensorKind::W).unwrap_or_default(), h, i, order));
                        r.extend(unpack_panels(&get(d, TensorKind::R).unwrap_or_default(), h, h, order));
                        let pb = get(d, TensorKind::B).unwrap_or_default();
                        let half = pb.len() / 2;
                        b.extend(unpack_vector(&pb[..half], h, order));
                        b.extend(unpack_vector(&pb[half..], h, order));
                        if rd.peepholes {
                            p.extend(unpack_vector(&get(d, TensorKind::P).unwrap_or_default(), h, &PEEPHOLE_ORDER));
                        }
                        let _ = g;
                    }
                    out.push(LayerWeights::Recurrent { w, r, b: Some(b), p: rd.peepholes.then_some(p) });
                }
                LayerDesc::Dense(dd) => {
                    let w =
                        unpack_panels(&get(0, TensorKind::W).unwrap_or_default(), dd.output_size, dd.input_size, &[0]);
                    let b = unpack_vector(&get(0, TensorKind::B).unwrap_or_default(), dd.output_size, &[0]);
                    out.push(LayerWeights::Dense { w, b: Some(b) });
                }
            }
        }
        out
    }

    /// Byte offsets of each tensor in a data section where every tensor starts on an
    /// [`ALIGN`]-byte boundary, in canonical order, and the section's total size.
    pub fn data_layout(&self) -> (Vec<usize>, usize) {
        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut at = 0usize;
        for t in &self.tensors {
            offsets.push(at);
            at = (at + t.bytes.len()).div_ceil(ALIGN) * ALIGN;
        }
        (offsets, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::*;

    fn ramp(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| seed + i as f32 * 0.5).collect()
    }

    #[test]
    fn panel_round_trip_odd_sizes() {
        for &(g, h, k) in &[(1, 1, 1), (3, 17, 5), (4, 33, 16), (4, 16, 31)] {
            let order: Vec<usize> = (0..g).rev().collect();
            let src = ramp(g * h * k, 1.0);
            let p = pack_panels(&src, h, k, &order);
            assert_eq!(p.len(), blocks(h) * g * k * PANEL);
            assert_eq!(unpack_panels(&p, h, k, &order), src);
        }
    }

    #[test]
    fn lstm_gate_order_and_padding() {
        // H = 2: ONNX rows i0 i1 o0 o1 f0 f1 c0 c1, K = 1; value = row index.
        let src: Vec<f32> = (0..8).map(|v| v as f32 + 1.0).collect();
        let p = pack_panels(&src, 2, 1, onnx_gate_order(CellKind::Lstm));
        // panel g holds [unit0, unit1, 0 ...]: internal i, f, c, o.
        let heads: Vec<(f32, f32, f32)> = (0..4).map(|g| (p[g * 16], p[g * 16 + 1], p[g * 16 + 2])).collect();
        assert_eq!(heads, vec![(1.0, 2.0, 0.0), (5.0, 6.0, 0.0), (7.0, 8.0, 0.0), (3.0, 4.0, 0.0)]);
    }

    #[test]
    fn model_pack_unpack_round_trip() {
        let mut l0 = RecurrentDesc::new(CellKind::Lstm, 3, 18);
        l0.direction = Direction::Bidirectional;
        l0.peepholes = true;
        let l1 = RecurrentDesc::new(CellKind::Gru, 36, 5);
        let d = DenseDesc { input_size: 5, output_size: 7, activation: DenseAct::Softmax, dtype: DType::F32 };
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(l0), LayerDesc::Recurrent(l1), LayerDesc::Dense(d)] };
        let weights = vec![
            LayerWeights::Recurrent {
                w: ramp(2 * 4 * 18 * 3, 0.1),
                r: ramp(2 * 4 * 18 * 18, 0.2),
                b: Some(ramp(2 * 8 * 18, 0.3)),
                p: Some(ramp(2 * 3 * 18, 0.4)),
            },
            LayerWeights::Recurrent {
                w: ramp(3 * 5 * 36, 0.5),
                r: ramp(3 * 5 * 5, 0.6),
                b: Some(ramp(2 * 3 * 5, 0.7)),
                p: None,
            },
            LayerWeights::Dense { w: ramp(35, 0.8), b: Some(ramp(7, 0.9)) },
        ];
        let pm = PackedModel::pack(desc.clone(), &weights).unwrap();
        assert_eq!(pm.unpack(), weights);
        let expected: Vec<TensorSpec> =
            desc.layers.iter().enumerate().flat_map(|(i, l)| expected_tensors(i, l)).collect();
        let got: Vec<TensorSpec> = pm.tensors.iter().map(|t| t.spec).collect();
        assert_eq!(got, expected);
        let mut ids: Vec<TensorId> = got.iter().map(|s| s.id).collect();
        let before = ids.clone();
        ids.sort();
        assert_eq!(ids, before, "canonical order is the TensorId order");
        let (offs, total) = pm.data_layout();
        assert!(offs.iter().all(|o| o % ALIGN == 0));
        assert_eq!(total % ALIGN, 0);
    }

    #[test]
    fn wrong_lengths_are_named() {
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 4, 8))] };
        let err = PackedModel::pack(desc, &[LayerWeights::Recurrent { w: vec![0.0; 5], r: vec![], b: None, p: None }])
            .unwrap_err();
        assert_eq!(err.to_string(), "layer 0: W has 5 elements, expected 96");
    }
}
