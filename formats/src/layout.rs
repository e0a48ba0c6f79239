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
//! # Reduced precision
//!
//! A layer's dtype applies to its `W` and `R` (dense: `W`); biases, peepholes and scales
//! are f32 in every dtype. Reduced precision changes the element, not the layout:
//!
//! * **f16, bf16** (layout [`PackedLayout::Panel16`]): the same `[panels][K][16]` order as
//!   f32, each weight rounded to nearest even ([`encode_f16`], [`encode_bf16`]) and stored
//!   as a little-endian `u16`. A weight that is not finite or that rounds to infinity is
//!   refused.
//! * **int8** ([`DType::I8`] `w8` and [`DType::I8A8`] `w8a8` store alike; layout
//!   [`PackedLayout::Panel16K4`]): one f32 scale per packed row ([`quantize_row_i8`]:
//!   `s = absmax / 127`, `q = round_ties_even(w / s)` in `-127..=127`, so
//!   `|w - q * s| <= s / 2`), and 4 consecutive `k` per lane: for panel `p`, k-group `kg`
//!   (`k = 4 kg + j`) and lane `l`, byte `((p * ceil(K / 4) + kg) * 16 + l) * 4 + j`
//!   ([`panel16k4_offset`]): per panel and k-group, 64 bytes of 16 lanes times 4
//!   consecutive `k` (the shape VNNI and NEON dot-product instructions consume). Padded
//!   rows and the padded `k` (K not a multiple of 4) are zero, with scale 0. The scales
//!   (`W_scale`, `R_scale`) are vectors of `panels * 16` f32 in packed row order (internal
//!   gate order, padded rows included).

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
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
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
    /// A NaN or infinite weight in a layer stored in reduced precision (f32 layers store
    /// any bit pattern).
    #[error("layer {layer}: {tensor} element {index} is {value}; {dtype} weights must be finite")]
    NonFinite {
        /// Layer index.
        layer: usize,
        /// Tensor name (`W` or `R`).
        tensor: &'static str,
        /// Index in the logical tensor as given ([`LayerWeights`], all directions).
        index: usize,
        /// The weight.
        value: f32,
        /// The layer's dtype name.
        dtype: &'static str,
    },
    /// A finite weight that rounds to infinity in the layer's dtype (f16: `|w| >= 65520`).
    #[error("layer {layer}: {tensor} element {index} = {value} overflows {dtype} (largest finite value {max})")]
    Overflow {
        /// Layer index.
        layer: usize,
        /// Tensor name (`W` or `R`).
        tensor: &'static str,
        /// Index in the logical tensor as given ([`LayerWeights`], all directions).
        index: usize,
        /// The weight.
        value: f32,
        /// The layer's dtype name.
        dtype: &'static str,
        /// The dtype's largest finite value.
        max: f32,
    },
    /// A conversion of a layer that is already stored in reduced precision to another
    /// dtype ([`PackedModel::to_dtypes`]): it would round rounded weights.
    #[error(
        "layer {layer}: cannot convert {from} weights to {to} (they would be rounded twice); convert the f32 model"
    )]
    Requantize {
        /// Layer index.
        layer: usize,
        /// The layer's dtype name.
        from: &'static str,
        /// The requested dtype name.
        to: &'static str,
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

/// Rounds each value to IEEE binary16 (round to nearest, ties to even:
/// `half::f16::from_f32`) and returns the little-endian bytes, in the same order.
/// Values out of f16's range become infinities: [`PackedModel::pack`] refuses them first.
pub fn encode_f16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes()).collect()
}

/// Rounds each value to bfloat16 (the upper 16 bits of the binary32, rounded to nearest,
/// ties to even: `half::bf16::from_f32`) and returns the little-endian bytes.
pub fn encode_bf16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| half::bf16::from_f32(v).to_bits().to_le_bytes()).collect()
}

/// `clamp(round_ties_even(w / s), -127, 127)` for a scale `s > 0`. The quotient is taken
/// in f64, where it is close enough to the real quotient of the two f32 values that
/// rounding it rounds the real quotient, so `|w - q * s| <= s / 2` holds exactly whenever
/// `|w| <= 127 * s` (up to the rounding of `s` itself, which the clamp absorbs).
pub fn quantize_i8(w: f32, s: f32) -> i8 {
    // Adding and subtracting 1.5 * 2^52 rounds an f64 of magnitude below 2^51 to an
    // integer with the current rounding, IEEE round-to-nearest-even (`round_ties_even`
    // without `std`).
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = (f64::from(w) / f64::from(s)).clamp(-127.0, 127.0);
    ((x + ROUND) - ROUND) as i8
}

/// Symmetric int8 quantization of one output row: returns the scale `s` and the values
/// `q` with `w ≈ q * s`.
///
/// The scale is the row's absolute maximum over 127 (`s = absmax / 127.0` in f32
/// arithmetic), so no weight is clipped and every element satisfies `|w - q * s| <= s / 2`
/// (see [`quantize_i8`]); `q` is in `-127..=127` (never -128, which lets the w8a8
/// kernels add two products without overflow). A search over clipping thresholds could
/// lower the error of most weights but would break that bound for the clipped ones, so
/// it is not done. A row of zeros has `s = 0` and all `q = 0`; so has a row whose
/// absolute maximum is below `127 * f32::MIN_POSITIVE` (about `1.5e-36`), whose scale
/// would be a subnormal number too coarse to keep the bound (its weights are flushed to
/// zero). The weights must be finite (NaN is ignored by the maximum and quantizes to 0).
pub fn quantize_row_i8(row: &[f32]) -> (f32, Vec<i8>) {
    let absmax = row.iter().fold(0.0f32, |m, &w| m.max(w.abs()));
    let s = absmax / 127.0;
    if !s.is_normal() {
        return (0.0, vec![0; row.len()]);
    }
    (s, row.iter().map(|&w| quantize_i8(w, s)).collect())
}

/// Byte offset of input index `k`, lane `lane` of panel `p` in a
/// [`PackedLayout::Panel16K4`] tensor whose rows have `k_len` inputs: per panel, the
/// `ceil(k_len / 4)` groups of 4 consecutive `k`, each group 16 lanes of 4 bytes
/// (`k = 4 * kg + j` sits at `((p * ceil(k_len / 4) + kg) * 16 + lane) * 4 + j`).
pub const fn panel16k4_offset(k_len: usize, p: usize, k: usize, lane: usize) -> usize {
    ((p * k_len.div_ceil(4) + k / 4) * PANEL + lane) * 4 + k % 4
}

/// Elements of a [`PackedLayout::Panel16K4`] tensor of `panels` panels of rows with `k`
/// inputs (the padded `k` included).
pub const fn panel16k4_elems(panels: usize, k: usize) -> usize {
    panels * k.div_ceil(4) * 4 * PANEL
}

/// Quantizes a matrix in the f32 panel layout (`[panels][k][16]`, as [`pack_panels`]
/// returns it) to int8 in [`PackedLayout::Panel16K4`] order, one row (panel `p`, lane
/// `l`) at a time with [`quantize_row_i8`]. Returns the values and the scales,
/// `scales[p * 16 + l]` for row `(p, l)` (packed order: internal gate order, padded
/// rows included). Padded rows (all zero) and the padded `k` beyond `k` are zero.
pub fn quantize_panels_i8(packed: &[f32], panels: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    debug_assert_eq!(packed.len(), panels * k * PANEL);
    let mut q = vec![0i8; panel16k4_elems(panels, k)];
    let mut scales = vec![0.0f32; panels * PANEL];
    let mut row = vec![0.0f32; k];
    for p in 0..panels {
        for lane in 0..PANEL {
            for (kk, v) in row.iter_mut().enumerate() {
                *v = packed[(p * k + kk) * PANEL + lane];
            }
            let (s, qr) = quantize_row_i8(&row);
            scales[p * PANEL + lane] = s;
            for (kk, &qv) in qr.iter().enumerate() {
                q[panel16k4_offset(k, p, kk, lane)] = qv;
            }
        }
    }
    (q, scales)
}

/// Inverse of [`quantize_panels_i8`] up to the rounding: `q * s` (in f32) in the f32 panel
/// layout `[panels][k][16]` (the padded `k` dropped).
pub fn dequantize_panels_i8(q: &[i8], scales: &[f32], panels: usize, k: usize) -> Vec<f32> {
    debug_assert_eq!(q.len(), panel16k4_elems(panels, k));
    debug_assert_eq!(scales.len(), panels * PANEL);
    let mut out = vec![0.0f32; panels * k * PANEL];
    for p in 0..panels {
        for kk in 0..k {
            for lane in 0..PANEL {
                out[(p * k + kk) * PANEL + lane] =
                    f32::from(q[panel16k4_offset(k, p, kk, lane)]) * scales[p * PANEL + lane];
            }
        }
    }
    out
}

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
    /// The stored elements widened to f32 in stored order: f32 as they are, f16 and bf16
    /// exactly, int8 as their integer values (without the scale; see
    /// [`dequantize_panels_i8`]).
    pub fn to_f32(&self) -> Vec<f32> {
        match self.spec.dtype {
            DType::F32 => self.bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            DType::F16 => self.bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            DType::BF16 => {
                self.bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            DType::I8 | DType::I8A8 => self.bytes.iter().map(|&b| f32::from(b as i8)).collect(),
        }
    }
    /// The int8 values (int8 tensors; other dtypes give their raw bytes reinterpreted).
    pub fn to_i8(&self) -> Vec<i8> {
        self.bytes.iter().map(|&b| b as i8).collect()
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

/// Checks that `dtype` can store every weight: reduced-precision layers need finite
/// weights, and f16 and bf16 ones weights that do not round to infinity.
fn check_storable(layer: usize, tensor: &'static str, dtype: DType, data: &[f32]) -> Result<(), LayoutError> {
    if dtype == DType::F32 {
        return Ok(());
    }
    let name = dtype.name();
    for (index, &value) in data.iter().enumerate() {
        if !value.is_finite() {
            return Err(LayoutError::NonFinite { layer, tensor, index, value, dtype: name });
        }
        let max = match dtype {
            DType::F16 if half::f16::from_f32(value).is_infinite() => half::f16::MAX.to_f32(),
            DType::BF16 if half::bf16::from_f32(value).is_infinite() => half::bf16::MAX.to_f32(),
            _ => continue,
        };
        return Err(LayoutError::Overflow { layer, tensor, index, value, dtype: name, max });
    }
    Ok(())
}

/// The weight tensor of `spec`'s dtype for a matrix in the f32 panel layout with `k`
/// inputs, and for int8 the scales that go with it.
fn encode_matrix(spec: TensorSpec, panels_f32: &[f32], k: usize) -> (PackedTensor, Option<Vec<f32>>) {
    let (bytes, scales) = match spec.dtype {
        DType::F32 => return (PackedTensor::f32(spec, panels_f32), None),
        DType::F16 => (encode_f16(panels_f32), None),
        DType::BF16 => (encode_bf16(panels_f32), None),
        DType::I8 | DType::I8A8 => {
            let (q, s) = quantize_panels_i8(panels_f32, panels_f32.len() / (k * PANEL), k);
            (q.iter().map(|&v| v as u8).collect(), Some(s))
        }
    };
    debug_assert_eq!(bytes.len(), spec.bytes());
    (PackedTensor { spec, bytes }, scales)
}

/// Packs one layer's logical weights into its canonical tensors (any dtype).
fn pack_layer(li: usize, layer: &LayerDesc, wts: &LayerWeights) -> Result<Vec<PackedTensor>, LayoutError> {
    let specs = expected_tensors(li, layer);
    let mut spec_iter = specs.iter();
    let mut next = |kind: TensorKind| *spec_iter.find(|s| s.id.kind == kind).expect("spec exists");
    let mut tensors = Vec::with_capacity(specs.len());
    match (layer, wts) {
        (LayerDesc::Recurrent(rd), LayerWeights::Recurrent { w, r, b, p }) => {
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
                    return Err(LayoutError::Mismatch { layer: li, what: "peepholes declared but P not given" })
                }
                (false, Some(_)) => {
                    return Err(LayoutError::Mismatch { layer: li, what: "P given but peepholes not declared" })
                }
            }
            check_storable(li, "W", rd.dtype, w)?;
            check_storable(li, "R", rd.dtype, r)?;
            let order = onnx_gate_order(rd.cell);
            for d in 0..dirs {
                // Specs come per direction in order; take this direction's.
                let pw = pack_panels(&w[d * g * h * i..][..g * h * i], h, i, order);
                let (tw, w_scale) = encode_matrix(next(TensorKind::W), &pw, i);
                tensors.push(tw);
                let pr = pack_panels(&r[d * g * h * h..][..g * h * h], h, h, order);
                let (tr, r_scale) = encode_matrix(next(TensorKind::R), &pr, h);
                tensors.push(tr);
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
                if let (Some(ws), Some(rs)) = (w_scale, r_scale) {
                    tensors.push(PackedTensor::f32(next(TensorKind::WScale), &ws));
                    tensors.push(PackedTensor::f32(next(TensorKind::RScale), &rs));
                }
            }
        }
        (LayerDesc::Dense(dd), LayerWeights::Dense { w, b }) => {
            let (o, i) = (dd.output_size, dd.input_size);
            check_len(li, "W", w.len(), o * i)?;
            if let Some(b) = b {
                check_len(li, "B", b.len(), o)?;
            }
            check_storable(li, "W", dd.dtype, w)?;
            let pw = pack_panels(w, o, i, &[0]);
            let (tw, w_scale) = encode_matrix(next(TensorKind::W), &pw, i);
            tensors.push(tw);
            let pb = match b {
                Some(b) => pack_vector(b, o, &[0]),
                None => vec![0.0; blocks(o) * PANEL],
            };
            tensors.push(PackedTensor::f32(next(TensorKind::B), &pb));
            if let Some(ws) = w_scale {
                tensors.push(PackedTensor::f32(next(TensorKind::WScale), &ws));
            }
        }
        _ => return Err(LayoutError::Mismatch { layer: li, what: "weights of a different layer kind" }),
    }
    Ok(tensors)
}

impl PackedModel {
    /// Validates `desc` and packs weights given in the logical layouts (f32) into each
    /// layer's dtype: f32 as given; f16 and bf16 rounded to nearest even; int8 (`I8` and
    /// `I8A8` store alike) quantized per packed row with [`quantize_row_i8`]. Biases,
    /// peepholes and scales are f32 in every dtype. A reduced-precision layer refuses a
    /// NaN or infinite weight, and f16 or bf16 a weight that would round to infinity
    /// ([`LayoutError::NonFinite`], [`LayoutError::Overflow`], with the element's index).
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
            tensors.extend(pack_layer(li, layer, wts)?);
        }
        Ok(PackedModel { desc, tensors })
    }

    /// The tensor with this identity.
    pub fn tensor(&self, id: TensorId) -> Option<&PackedTensor> {
        self.tensors.iter().find(|t| t.spec.id == id)
    }

    /// The weight matrix `kind` (W or R) of layer `li`, direction `dir`, with `k` inputs,
    /// in the f32 panel layout `[panels][k][16]`: widened (f16, bf16) or dequantized
    /// (int8: `q * s`). Empty if the tensor is missing.
    fn matrix_f32(&self, li: usize, dir: usize, kind: TensorKind, k: usize) -> Vec<f32> {
        let id = |kind| TensorId { layer: li as u16, dir: dir as u8, kind };
        let Some(t) = self.tensor(id(kind)) else { return Vec::new() };
        if !t.spec.dtype.is_int8() {
            return t.to_f32();
        }
        let scale_kind = if kind == TensorKind::R { TensorKind::RScale } else { TensorKind::WScale };
        let scales = self.tensor(id(scale_kind)).map(|s| s.to_f32()).unwrap_or_default();
        let panels = scales.len() / PANEL;
        if t.bytes.len() != panel16k4_elems(panels, k) {
            return Vec::new();
        }
        dequantize_panels_i8(&t.to_i8(), &scales, panels, k)
    }

    /// Unpacks layer `li`'s weights back to the logical layouts, in f32 (reduced-precision
    /// weights widened or dequantized).
    fn unpack_layer(&self, li: usize) -> LayerWeights {
        let get =
            |dir: usize, kind| self.tensor(TensorId { layer: li as u16, dir: dir as u8, kind }).map(|t| t.to_f32());
        match &self.desc.layers[li] {
            LayerDesc::Recurrent(rd) => {
                let (h, i) = (rd.hidden_size, rd.input_size);
                let order = onnx_gate_order(rd.cell);
                let (mut w, mut r, mut b, mut p) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for d in 0..rd.direction.count() {
                    w.extend(unpack_panels(&self.matrix_f32(li, d, TensorKind::W, i), h, i, order));
                    r.extend(unpack_panels(&self.matrix_f32(li, d, TensorKind::R, h), h, h, order));
                    let pb = get(d, TensorKind::B).unwrap_or_default();
                    let half = pb.len() / 2;
                    b.extend(unpack_vector(&pb[..half], h, order));
                    b.extend(unpack_vector(&pb[half..], h, order));
                    if rd.peepholes {
                        p.extend(unpack_vector(&get(d, TensorKind::P).unwrap_or_default(), h, &PEEPHOLE_ORDER));
                    }
                }
                LayerWeights::Recurrent { w, r, b: Some(b), p: rd.peepholes.then_some(p) }
            }
            LayerDesc::Dense(dd) => {
                let (o, i) = (dd.output_size, dd.input_size);
                let w = unpack_panels(&self.matrix_f32(li, 0, TensorKind::W, i), o, i, &[0]);
                let b = unpack_vector(&get(0, TensorKind::B).unwrap_or_default(), o, &[0]);
                LayerWeights::Dense { w, b: Some(b) }
            }
        }
    }

    /// Unpacks the weights of every layer back to the logical layouts, in f32: f32 weights
    /// exactly as packed, f16 and bf16 widened (exactly), int8 dequantized (`q * s` in f32,
    /// within `s / 2` of the weights that were quantized).
    pub fn unpack(&self) -> Vec<LayerWeights> {
        (0..self.desc.layers.len()).map(|li| self.unpack_layer(li)).collect()
    }

    /// This model with layer `i` stored in `dtypes[i]` (one dtype per layer). Layers whose
    /// dtype does not change keep their bytes, and so do int8 layers that change mode
    /// (`w8` and `w8a8` store the same tensors); f32 layers are rounded or quantized as
    /// [`PackedModel::pack`] does (and fail as it does, naming the weight). Any other
    /// change of a layer already in reduced precision is refused
    /// ([`LayoutError::Requantize`]): rounding rounded weights compounds the error, so
    /// convert from the f32 model instead.
    pub fn to_dtypes(&self, dtypes: &[DType]) -> Result<PackedModel, PackError> {
        if dtypes.len() != self.desc.layers.len() {
            return Err(LayoutError::Mismatch {
                layer: dtypes.len().min(self.desc.layers.len()),
                what: "dtypes given for a different number of layers",
            }
            .into());
        }
        self.desc.validate()?;
        let mut desc = self.desc.clone();
        let mut tensors = Vec::with_capacity(self.tensors.len());
        for (li, (layer, &to)) in desc.layers.iter_mut().zip(dtypes).enumerate() {
            let from = layer.dtype();
            if from == to || (from.is_int8() && to.is_int8()) {
                // w8 and w8a8 store the same bytes: only the dtype codes change.
                layer.set_dtype(to);
                let specs = expected_tensors(li, layer);
                let own = self.tensors.iter().filter(|t| usize::from(t.spec.id.layer) == li);
                tensors.extend(own.zip(specs).map(|(t, spec)| PackedTensor { spec, bytes: t.bytes.clone() }));
                continue;
            }
            if from != DType::F32 {
                return Err(LayoutError::Requantize { layer: li, from: from.name(), to: to.name() }.into());
            }
            let weights = self.unpack_layer(li);
            layer.set_dtype(to);
            tensors.extend(pack_layer(li, layer, &weights)?);
        }
        Ok(PackedModel { desc, tensors })
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
    fn wrong_lengths_are_named() {
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 4, 8))] };
        let err = PackedModel::pack(desc, &[LayerWeights::Recurrent { w: vec![0.0; 5], r: vec![], b: None, p: None }])
            .unwrap_err();
        assert_eq!(err.to_string(), "layer 0: W has 5 elements, expected 96");
    }

    /// Multiples of 1/64 in [-2, 2): exact in f16 and bf16.
    fn grid(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 + seed * 11) % 255) as f32 / 64.0 - 2.0).collect()
    }

    /// Bidirectional LSTM with peepholes (3 -> 2 x 18), GRU (36 -> 5), dense (5 -> 7), all
    /// of `dtype`, and weights on [`grid`]; K = 3, 18, 36, 5 cover every K mod 4.
    fn mixed(dtype: DType) -> (ModelDesc, Vec<LayerWeights>) {
        let mut l0 = RecurrentDesc::new(CellKind::Lstm, 3, 18);
        l0.direction = Direction::Bidirectional;
        l0.peepholes = true;
        l0.dtype = dtype;
        let mut l1 = RecurrentDesc::new(CellKind::Gru, 36, 5);
        l1.dtype = dtype;
        let d = DenseDesc { input_size: 5, output_size: 7, activation: DenseAct::Softmax, dtype };
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(l0), LayerDesc::Recurrent(l1), LayerDesc::Dense(d)] };
        let weights = vec![
            LayerWeights::Recurrent {
                w: grid(2 * 4 * 18 * 3, 1),
                r: grid(2 * 4 * 18 * 18, 2),
                b: Some(ramp(2 * 8 * 18, 0.3)),
                p: Some(ramp(2 * 3 * 18, 0.4)),
            },
            LayerWeights::Recurrent { w: grid(3 * 5 * 36, 3), r: grid(3 * 5 * 5, 4), b: Some(ramp(30, 0.7)), p: None },
            LayerWeights::Dense { w: grid(35, 5), b: Some(ramp(7, 0.9)) },
        ];
        (desc, weights)
    }

    /// A model of one dense layer (no activation).
    fn one_dense(input_size: usize, output_size: usize, dtype: DType) -> ModelDesc {
        ModelDesc {
            layers: vec![LayerDesc::Dense(DenseDesc { input_size, output_size, activation: DenseAct::None, dtype })],
        }
    }

    /// The weight matrices of a layer with their row length: (name, values, k).
    fn matrices(layer: &LayerDesc, w: &LayerWeights) -> Vec<(&'static str, Vec<f32>, usize)> {
        match (layer, w) {
            (LayerDesc::Recurrent(r), LayerWeights::Recurrent { w, r: rr, .. }) => {
                vec![("W", w.clone(), r.input_size), ("R", rr.clone(), r.hidden_size)]
            }
            (LayerDesc::Dense(d), LayerWeights::Dense { w, .. }) => vec![("W", w.clone(), d.input_size)],
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_dtype_packs_to_the_canonical_tensors_and_unpacks() {
        for dtype in [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8] {
            let (desc, weights) = mixed(dtype);
            let pm = PackedModel::pack(desc.clone(), &weights).unwrap();
            let expected: Vec<TensorSpec> =
                desc.layers.iter().enumerate().flat_map(|(i, l)| expected_tensors(i, l)).collect();
            let got: Vec<TensorSpec> = pm.tensors.iter().map(|t| t.spec).collect();
            assert_eq!(got, expected, "{dtype:?}");
            assert!(pm.tensors.iter().all(|t| t.bytes.len() == t.spec.bytes()), "{dtype:?}");
            let mut ids: Vec<TensorId> = got.iter().map(|s| s.id).collect();
            let before = ids.clone();
            ids.sort();
            assert_eq!(ids, before, "canonical order is the TensorId order");
            let (offs, total) = pm.data_layout();
            assert!(offs.iter().all(|o| o % ALIGN == 0));
            assert_eq!(total % ALIGN, 0);
            let back = pm.unpack();
            if !dtype.is_int8() {
                // The grid is exact in every float dtype.
                assert_eq!(back, weights, "{dtype:?}");
                continue;
            }
            for ((layer, orig), un) in desc.layers.iter().zip(&weights).zip(&back) {
                // Biases and peepholes stay f32, exactly.
                match (orig, un) {
                    (LayerWeights::Recurrent { b, p, .. }, LayerWeights::Recurrent { b: b2, p: p2, .. }) => {
                        assert_eq!((b, p), (b2, p2));
                    }
                    (LayerWeights::Dense { b, .. }, LayerWeights::Dense { b: b2, .. }) => assert_eq!(b, b2),
                    _ => unreachable!(),
                }
                for ((name, w, k), (_, u, _)) in matrices(layer, orig).into_iter().zip(matrices(layer, un)) {
                    for (row, (wr, ur)) in w.chunks(k).zip(u.chunks(k)).enumerate() {
                        let s = wr.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
                        for (j, (&a, &b)) in wr.iter().zip(ur).enumerate() {
                            // q * s is rounded once to f32 in the dequantized value.
                            let bound = f64::from(s) / 2.0 + f64::from(b.abs()) * f64::EPSILON * 2f64.powi(29);
                            assert!(
                                (f64::from(a) - f64::from(b)).abs() <= bound,
                                "{dtype:?} {name} row {row} k {j}: {a} vs {b} (s = {s})"
                            );
                        }
                    }
                }
            }
        }
        // w8 and w8a8 store the same bytes.
        let a = PackedModel::pack(mixed(DType::I8).0, &mixed(DType::I8).1).unwrap();
        let b = PackedModel::pack(mixed(DType::I8A8).0, &mixed(DType::I8A8).1).unwrap();
        assert!(a.tensors.iter().zip(&b.tensors).all(|(x, y)| x.bytes == y.bytes));
    }

    #[test]
    fn f16_and_bf16_round_to_nearest_even() {
        let one_and_half_ulp16 = 1.0 + 2f32.powi(-11); // tie between 1 and 1 + 2^-10
        let three_halves_ulp16 = 1.0 + 3.0 * 2f32.powi(-11); // tie: rounds up to even 1 + 2^-9
        assert_eq!(encode_f16(&[one_and_half_ulp16, three_halves_ulp16, -2.0]), [0x00, 0x3c, 0x02, 0x3c, 0x00, 0xc0]);
        let tie16 = 1.0 + 2f32.powi(-8); // bf16 keeps 7 fraction bits
        assert_eq!(encode_bf16(&[tie16, 1.0 + 3.0 * 2f32.powi(-8), -2.0]), [0x80, 0x3f, 0x82, 0x3f, 0x00, 0xc0]);
    }

    #[test]
    fn f16_dense_bytes_are_in_panel_order() {
        let desc = one_dense(2, 2, DType::F16);
        let pm = PackedModel::pack(desc, &[LayerWeights::Dense { w: vec![1.0, 2.0, 3.0, 4.0], b: None }]).unwrap();
        let w = &pm.tensors[0];
        assert_eq!(w.spec.layout, PackedLayout::Panel16);
        assert_eq!(w.bytes.len(), 2 * 16 * 2);
        let halves: Vec<u16> = w.bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        // k = 0: rows 0, 1 = 1.0, 3.0; k = 1: rows 0, 1 = 2.0, 4.0; padded rows zero.
        let mut want = vec![0u16; 32];
        want[0] = 0x3c00;
        want[1] = 0x4200;
        want[16] = 0x4000;
        want[17] = 0x4400;
        assert_eq!(halves, want);
        assert_eq!(pm.tensors[1].spec.dtype, DType::F32, "the bias stays f32");
    }

    /// A hand-computed Panel16K4 tensor: dense O = 2, I = 5 (K padded to 8).
    #[test]
    fn panel16k4_byte_order_by_hand() {
        let desc = one_dense(5, 2, DType::I8);
        // Row 0: absmax 127 -> s = 1; row 1: absmax 254 -> s = 2.
        let w = vec![1.0, 2.0, 3.0, 4.0, 127.0, -254.0, 0.0, 10.0, 12.0, 14.0];
        let pm = PackedModel::pack(desc, &[LayerWeights::Dense { w: w.clone(), b: None }]).unwrap();
        let specs: Vec<TensorKind> = pm.tensors.iter().map(|t| t.spec.id.kind).collect();
        assert_eq!(specs, [TensorKind::W, TensorKind::B, TensorKind::WScale]);
        let q = &pm.tensors[0];
        assert_eq!(q.spec.layout, PackedLayout::Panel16K4);
        // One panel, ceil(5 / 4) = 2 k-groups of 16 lanes x 4 bytes.
        let mut want = [0u8; 128];
        // k-group 0: lane 0 (row 0) k 0..4, lane 1 (row 1) k 0..4.
        want[0..4].copy_from_slice(&[1, 2, 3, 4]);
        want[4..8].copy_from_slice(&[(-127i8) as u8, 0, 5, 6]);
        // k-group 1: lane 0 k 4 at 64, lane 1 k 4 at 68; k 5..8 are padding.
        want[64] = 127;
        want[68] = 7;
        assert_eq!(q.bytes, want);
        assert_eq!(panel16k4_offset(5, 0, 4, 1), 68);
        let mut scales = [0.0f32; 16];
        scales[0] = 1.0;
        scales[1] = 2.0;
        assert_eq!(pm.tensors[2].to_f32(), scales);
        assert_eq!(pm.unpack(), vec![LayerWeights::Dense { w, b: Some(vec![0.0, 0.0]) }]);
    }

    #[test]
    fn int8_padded_rows_and_k_are_zero() {
        // GRU H = 5 (11 padded units per gate panel), I = 6 (k padded to 8).
        let mut l = RecurrentDesc::new(CellKind::Gru, 6, 5);
        l.dtype = DType::I8A8;
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(l)] };
        let weights = vec![LayerWeights::Recurrent { w: vec![0.5; 90], r: vec![-0.25; 75], b: None, p: None }];
        let pm = PackedModel::pack(desc, &weights).unwrap();
        let find = |kind| pm.tensor(TensorId { layer: 0, dir: 0, kind }).unwrap();
        for (m, scale, k) in [(TensorKind::W, TensorKind::WScale, 6), (TensorKind::R, TensorKind::RScale, 5)] {
            let q = find(m).to_i8();
            let s = find(scale).to_f32();
            assert_eq!(q.len(), panel16k4_elems(3, k));
            for p in 0..3 {
                for lane in 0..PANEL {
                    let real = lane < 5;
                    assert_eq!(s[p * PANEL + lane] != 0.0, real);
                    for kk in 0..k.div_ceil(4) * 4 {
                        let v = q[panel16k4_offset(k, p, kk, lane)];
                        let want = if real && kk < k {
                            if m == TensorKind::W {
                                127
                            } else {
                                -127
                            }
                        } else {
                            0
                        };
                        assert_eq!(v, want, "{m:?} panel {p} lane {lane} k {kk}");
                    }
                }
            }
        }
    }

    #[test]
    fn zero_and_subnormal_rows_quantize_to_zero() {
        assert_eq!(quantize_row_i8(&[0.0, -0.0, 0.0]), (0.0, vec![0, 0, 0]));
        assert_eq!(quantize_row_i8(&[1e-37, -1e-38]), (0.0, vec![0, 0]));
        let (s, q) = quantize_row_i8(&[1e-35, -1e-35]);
        assert!(s.is_normal());
        assert_eq!(q, vec![127, -127]);
        assert_eq!(quantize_row_i8(&[]), (0.0, vec![]));
        // Ties go to even: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0.
        assert_eq!(quantize_row_i8(&[127.0, 2.5, 3.5, -0.5]).1, vec![127, 2, 4, 0]);
    }

    #[test]
    fn reduced_precision_refuses_unstorable_weights() {
        let dense = |dtype, w: Vec<f32>| {
            let desc = one_dense(2, 2, dtype);
            PackedModel::pack(desc, &[LayerWeights::Dense { w, b: None }]).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(
            dense(DType::F16, vec![0.0, 1.0, 70000.0, 2.0]),
            Err("layer 0: W element 2 = 70000 overflows f16 (largest finite value 65504)".into())
        );
        // 65519 rounds to 65504; 65520 rounds to infinity.
        assert_eq!(dense(DType::F16, vec![65519.0, -65519.0, 0.0, 0.0]), Ok(()));
        assert!(dense(DType::F16, vec![0.0, -65520.0, 0.0, 0.0]).unwrap_err().contains("element 1 = -65520 overflows"));
        assert!(dense(DType::BF16, vec![f32::MAX, 0.0, 0.0, 0.0]).unwrap_err().contains("overflows bf16"));
        assert_eq!(dense(DType::BF16, vec![1e38, 0.0, 0.0, 0.0]), Ok(()));
        assert_eq!(
            dense(DType::BF16, vec![0.0, 0.0, 0.0, f32::NAN]),
            Err("layer 0: W element 3 is NaN; bf16 weights must be finite".into())
        );
        for dtype in [DType::I8, DType::I8A8] {
            let e = dense(dtype, vec![0.0, f32::NEG_INFINITY, 0.0, 0.0]).unwrap_err();
            assert_eq!(e, format!("layer 0: W element 1 is -inf; {} weights must be finite", dtype.name()));
            // Large finite weights are fine for int8.
            assert_eq!(dense(dtype, vec![f32::MAX, -f32::MAX, 1.0, 0.0]), Ok(()));
        }
        // f32 layers store any bit pattern, as before.
        assert_eq!(dense(DType::F32, vec![f32::NAN, f32::INFINITY, 0.0, 0.0]), Ok(()));
        // R is named, with its index over all directions.
        let mut l = RecurrentDesc::new(CellKind::Rnn, 1, 2);
        l.direction = Direction::Bidirectional;
        l.dtype = DType::F16;
        let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(l)] };
        let mut r = vec![0.0; 8];
        r[6] = 1e9;
        let e = PackedModel::pack(desc, &[LayerWeights::Recurrent { w: vec![0.0; 4], r, b: None, p: None }]);
        assert_eq!(
            e.unwrap_err().to_string(),
            "layer 0: R element 6 = 1000000000 overflows f16 (largest finite value 65504)"
        );
    }

    #[test]
    fn to_dtypes_converts_f32_layers_only() {
        let (desc, weights) = mixed(DType::F32);
        let f32m = PackedModel::pack(desc.clone(), &weights).unwrap();
        for dtype in [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8] {
            let direct = PackedModel::pack(mixed(dtype).0, &weights).unwrap();
            assert_eq!(f32m.to_dtypes(&[dtype; 3]).unwrap(), direct, "{dtype:?}");
        }
        // Per layer, and a layer that keeps its dtype keeps its bytes.
        let mixedm = f32m.to_dtypes(&[DType::I8, DType::F32, DType::BF16]).unwrap();
        let dtypes: Vec<DType> = mixedm.desc.layers.iter().map(|l| l.dtype()).collect();
        assert_eq!(dtypes, [DType::I8, DType::F32, DType::BF16]);
        let layer1 = |m: &PackedModel| m.tensors.iter().filter(|t| t.spec.id.layer == 1).cloned().collect::<Vec<_>>();
        assert_eq!(layer1(&mixedm), layer1(&f32m));
        assert_eq!(mixedm.to_dtypes(&[DType::I8, DType::F32, DType::BF16]).unwrap(), mixedm);
        assert_eq!(
            mixedm.to_dtypes(&[DType::I8, DType::F16, DType::BF16]).unwrap(),
            f32m.to_dtypes(&[DType::I8, DType::F16, DType::BF16]).unwrap()
        );
        // int8 layers change mode without touching their bytes.
        let w8a8 = mixedm.to_dtypes(&[DType::I8A8, DType::F32, DType::BF16]).unwrap();
        assert_eq!(w8a8, f32m.to_dtypes(&[DType::I8A8, DType::F32, DType::BF16]).unwrap());
        assert_eq!(w8a8.to_dtypes(&[DType::I8, DType::F32, DType::BF16]).unwrap(), mixedm);
        // Reduced-precision layers are not converted again.
        assert_eq!(
            mixedm.to_dtypes(&[DType::F16, DType::F32, DType::BF16]).unwrap_err().to_string(),
            "layer 0: cannot convert int8 weights to f16 (they would be rounded twice); convert the f32 model"
        );
        assert!(matches!(
            mixedm.to_dtypes(&[DType::I8, DType::F32, DType::F32]),
            Err(PackError::Layout(LayoutError::Requantize { layer: 2, from: "bf16", to: "f32" }))
        ));
        assert!(matches!(
            f32m.to_dtypes(&[DType::F16]),
            Err(PackError::Layout(LayoutError::Mismatch { layer: 1, .. }))
        ));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Weights over many magnitudes: a row's values share a random exponent range.
        fn row() -> impl Strategy<Value = Vec<f32>> {
            (-130i32..120, proptest::collection::vec((-1.0f32..1.0, 0i32..30), 0..40))
                .prop_map(|(e, v)| v.into_iter().map(|(m, de)| m * 2f32.powi(e.saturating_add(de).min(127))).collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// `|w - q * s| <= s / 2` for every element, in exact arithmetic; `|q| <= 127`;
            /// the absmax element reaches 127.
            #[test]
            fn int8_error_is_at_most_half_a_step(row in row()) {
                let (s, q) = quantize_row_i8(&row);
                prop_assert_eq!(q.len(), row.len());
                let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if s == 0.0 {
                    prop_assert!(absmax < 127.0 * f32::MIN_POSITIVE);
                    prop_assert!(q.iter().all(|&v| v == 0));
                } else {
                    prop_assert_eq!(s, absmax / 127.0);
                    // q * s and the difference are exact in f64 (8 + 24 bits).
                    for (&w, &v) in row.iter().zip(&q) {
                        prop_assert!(v != i8::MIN);
                        let err = (f64::from(w) - f64::from(v) * f64::from(s)).abs();
                        prop_assert!(err <= f64::from(s) / 2.0, "w {} q {} s {} err {}", w, v, s, err);
                    }
                    prop_assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
                }
            }

            /// Any matrix: quantize then dequantize stays within half a step of every
            /// element, whatever the gate order and padding.
            #[test]
            fn panels_quantize_within_half_a_step(g in 1usize..5, h in 1usize..40, k in 1usize..11, seed in any::<u64>()) {
                let mut x = seed | 1;
                let src: Vec<f32> = (0..g * h * k).map(|_| {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    (x >> 40) as f32 / (1u64 << 24) as f32 * 8.0 - 4.0
                }).collect();
                let order: Vec<usize> = (0..g).rev().collect();
                let packed = pack_panels(&src, h, k, &order);
                let panels = blocks(h) * g;
                let (q, scales) = quantize_panels_i8(&packed, panels, k);
                let back = unpack_panels(&dequantize_panels_i8(&q, &scales, panels, k), h, k, &order);
                for (row, (a, b)) in src.chunks(k).zip(back.chunks(k)).enumerate() {
                    let s = f64::from(a.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0);
                    for (&w, &d) in a.iter().zip(b) {
                        let err = (f64::from(w) - f64::from(d)).abs();
                        prop_assert!(err <= s / 2.0 + f64::from(d.abs()) * 1e-7, "row {} w {} d {}", row, w, d);
                    }
                }
            }
        }
    }
}
