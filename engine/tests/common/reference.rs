//! A plain f64 implementation of the ONNX `RNN`, `LSTM` and `GRU` operators (and of recur's
//! dense layer), written from the ONNX operator specification with the ONNX weight layouts.
//!
//! It is the "textbook" of the numerics contract (DESIGN.md, point 3): the tests bound the
//! engine's error against it. It shares nothing with the engine: no packed layout, no
//! approximation, nothing from `engine/src`; every value is widened to f64 and every
//! activation uses the f64 functions of `std`. `engine/tests/reference_selfcheck.rs`
//! validates it against onnxruntime on the cases made by `tools/reference_check.py`.
//!
//! # Semantics (ONNX, opset 14; `Xt` the frame input, `Ht-1` / `Ct-1` the previous state)
//!
//! Gate orders and layouts are ONNX's: `W` `[dirs][G*H][I]`, `R` `[dirs][G*H][H]`, `B`
//! `[dirs][2*G*H]` (`Wb` then `Rb`, each `G*H` in gate order), `P` `[dirs][3*H]` in the order
//! `i, o, f`. LSTM gates are `i, o, f, c`; GRU gates `z, r, h`.
//!
//! * RNN: `Ht = f(clip(W Xt + R Ht-1 + Wb + Rb))`.
//! * LSTM:
//!   `it = f(clip(Wi Xt + Ri Ht-1 + Pi ⊙ Ct-1 + Wbi + Rbi))`,
//!   `ft = f(clip(Wf Xt + Rf Ht-1 + Pf ⊙ Ct-1 + Wbf + Rbf))` or, with `input_forget`,
//!   `ft = 1 - it` (onnxruntime's coupling; the forget pre-activation is then unused),
//!   `ct = g(clip(Wc Xt + Rc Ht-1 + Wbc + Rbc))`, `Ct = ft ⊙ Ct-1 + it ⊙ ct`,
//!   `ot = f(clip(Wo Xt + Ro Ht-1 + Po ⊙ Ct + Wbo + Rbo))` (the peephole of `o` sees the *new*
//!   cell state), `Ht = ot ⊙ h(Ct)`. The cell state itself is not clipped.
//! * GRU: `zt = f(clip(Wz Xt + Rz Ht-1 + Wbz + Rbz))`, `rt = f(clip(Wr Xt + Rr Ht-1 + Wbr + Rbr))`,
//!   `linear_before_reset = 0`: `ht = g(clip(Wh Xt + Rh (rt ⊙ Ht-1) + Rbh + Wbh))`,
//!   `linear_before_reset = 1`: `ht = g(clip(Wh Xt + rt ⊙ (Rh Ht-1 + Rbh) + Wbh))`,
//!   `Ht = (1 - zt) ⊙ ht + zt ⊙ Ht-1`.
//! * `clip(x) = min(max(x, -clip), clip)` applied to every gate pre-activation (peephole terms
//!   included), right before the activation function.
//! * Directions: reverse runs frames `len-1 ..= 0` and writes the output of frame `t` at
//!   position `t`; bidirectional outputs per frame the forward half then the backward half.
//! * `seq_len` (ONNX `sequence_lens`): frames `t >= seq_len` output zeros and do not update the
//!   state; the final state is the state after the last real frame (for the backward direction:
//!   after frame 0). For `seq_len == 0` the final state here is the initial state (a run of no
//!   frame); onnxruntime instead outputs zeros for `Y_h`/`Y_c` of a zero-length sequence, so the
//!   validation data has no such sequence.
//! * Activation parameters are the `alpha` / `beta` stored in [`Activation`] (already resolved
//!   per function; see `tools/reference_check.py` for onnxruntime's consumption rule).

use recur_format::{
    ActKind, Activation, CellKind, DenseAct, DenseDesc, LayerDesc, LayerWeights, ModelDesc, RecurrentDesc,
};

/// The recurrent state of a model: one slot per (recurrent layer, direction), layer-major
/// then direction; dense layers have no slot. `h[s]` has `hidden_size` values; `c[s]` has
/// `hidden_size` values for an LSTM slot and is empty for RNN and GRU slots (so `c.len() ==
/// h.len()` always).
#[derive(Clone, Debug, PartialEq)]
pub struct RefState {
    /// Hidden state per slot.
    pub h: Vec<Vec<f64>>,
    /// Cell state per slot (empty vectors for non-LSTM slots).
    pub c: Vec<Vec<f64>>,
}

/// One state slot of a model: `(layer index, direction index, hidden size, is LSTM)`.
pub fn state_slots(desc: &ModelDesc) -> Vec<(usize, usize, usize, bool)> {
    let mut out = Vec::new();
    for (li, layer) in desc.layers.iter().enumerate() {
        if let LayerDesc::Recurrent(r) = layer {
            for d in 0..r.direction.count() {
                out.push((li, d, r.hidden_size, r.cell == CellKind::Lstm));
            }
        }
    }
    out
}

impl RefState {
    /// The all-zero state of a model (ONNX's default initial state).
    pub fn zeros(desc: &ModelDesc) -> Self {
        let slots = state_slots(desc);
        RefState {
            h: slots.iter().map(|&(_, _, h, _)| vec![0.0; h]).collect(),
            c: slots.iter().map(|&(_, _, h, lstm)| if lstm { vec![0.0; h] } else { Vec::new() }).collect(),
        }
    }
}

/// An activation function of the recurrent operators, in its textbook form.
pub fn activate(a: &Activation, x: f64) -> f64 {
    let alpha = a.alpha as f64;
    let beta = a.beta as f64;
    match a.kind {
        ActKind::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        ActKind::Tanh => x.tanh(),
        ActKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        ActKind::Affine => alpha * x + beta,
        ActKind::LeakyRelu => {
            if x >= 0.0 {
                x
            } else {
                alpha * x
            }
        }
        ActKind::ThresholdedRelu => {
            if x > alpha {
                x
            } else {
                0.0
            }
        }
        ActKind::ScaledTanh => alpha * (beta * x).tanh(),
        ActKind::HardSigmoid => (alpha * x + beta).clamp(0.0, 1.0),
        ActKind::Elu => {
            if x >= 0.0 {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        ActKind::Softsign => x / (1.0 + x.abs()),
        // ln(1 + e^x), written so that e^x cannot overflow.
        ActKind::Softplus => {
            if x > 0.0 {
                x + (-x).exp().ln_1p()
            } else {
                x.exp().ln_1p()
            }
        }
    }
}

fn clip(c: Option<f64>, x: f64) -> f64 {
    match c {
        Some(c) => x.clamp(-c, c),
        None => x,
    }
}

/// `sum_k m[row][k] * v[k]` for a row-major f32 matrix with `v.len()` columns.
fn dot_row(m: &[f32], row: usize, v: &[f64]) -> f64 {
    let k = v.len();
    m[row * k..(row + 1) * k].iter().zip(v).map(|(&a, &b)| a as f64 * b).sum()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The weights of one direction, widened, in ONNX layout.
struct DirWeights<'a> {
    w: &'a [f32], // [G*H][I]
    r: &'a [f32], // [G*H][H]
    wb: Vec<f64>, // [G*H]
    rb: Vec<f64>, // [G*H]
    p: Vec<f64>,  // [3*H] (i, o, f) or zeros
}

/// One time step of one direction. `x` has `I` values; `h`, `c` are updated in place.
fn cell_step(
    desc: &RecurrentDesc,
    dw: &DirWeights<'_>,
    acts: &[Activation; 3],
    x: &[f64],
    h: &mut [f64],
    c: &mut [f64],
) {
    let hs = desc.hidden_size;
    let cl = desc.clip.map(|c| c as f64);
    // Pre-activation of gate `g` (ONNX order) for unit `u`, from the input and the given state.
    let input_part = |g: usize, u: usize| dot_row(dw.w, g * hs + u, x) + dw.wb[g * hs + u];
    let rec_part = |g: usize, u: usize, hv: &[f64]| dot_row(dw.r, g * hs + u, hv) + dw.rb[g * hs + u];
    match desc.cell {
        CellKind::Rnn => {
            let f = &acts[0];
            let new: Vec<f64> = (0..hs).map(|u| activate(f, clip(cl, input_part(0, u) + rec_part(0, u, h)))).collect();
            h.copy_from_slice(&new);
        }
        CellKind::Lstm => {
            let (f, g, hh) = (&acts[0], &acts[1], &acts[2]);
            let (pi, po, pf) = (&dw.p[..hs], &dw.p[hs..2 * hs], &dw.p[2 * hs..3 * hs]);
            let mut new_h = vec![0.0; hs];
            let mut new_c = vec![0.0; hs];
            for u in 0..hs {
                // ONNX gate indices: i = 0, o = 1, f = 2, c = 3.
                let it = activate(f, clip(cl, input_part(0, u) + rec_part(0, u, h) + pi[u] * c[u]));
                let ft = if desc.input_forget {
                    1.0 - it
                } else {
                    activate(f, clip(cl, input_part(2, u) + rec_part(2, u, h) + pf[u] * c[u]))
                };
                let ct = activate(g, clip(cl, input_part(3, u) + rec_part(3, u, h)));
                let cell = ft * c[u] + it * ct;
                let ot = activate(f, clip(cl, input_part(1, u) + rec_part(1, u, h) + po[u] * cell));
                new_c[u] = cell;
                new_h[u] = ot * activate(hh, cell);
            }
            h.copy_from_slice(&new_h);
            c.copy_from_slice(&new_c);
        }
        CellKind::Gru => {
            let (f, g) = (&acts[0], &acts[1]);
            // ONNX gate indices: z = 0, r = 1, h = 2.
            let z: Vec<f64> = (0..hs).map(|u| activate(f, clip(cl, input_part(0, u) + rec_part(0, u, h)))).collect();
            let r: Vec<f64> = (0..hs).map(|u| activate(f, clip(cl, input_part(1, u) + rec_part(1, u, h)))).collect();
            let cand: Vec<f64> = if desc.linear_before_reset {
                (0..hs).map(|u| activate(g, clip(cl, input_part(2, u) + r[u] * rec_part(2, u, h)))).collect()
            } else {
                let rh: Vec<f64> = (0..hs).map(|u| r[u] * h[u]).collect();
                (0..hs).map(|u| activate(g, clip(cl, input_part(2, u) + rec_part(2, u, &rh)))).collect()
            };
            let new: Vec<f64> = (0..hs).map(|u| (1.0 - z[u]) * cand[u] + z[u] * h[u]).collect();
            h.copy_from_slice(&new);
        }
    }
}

/// Runs one recurrent layer over one sequence.
///
/// * `xs`: `t * input_size` values, frame-major; `seq_len <= t` frames are real.
/// * `h0`, `c0`: `dirs * hidden_size` values (direction-major), zeros when `None`; `c0` is
///   ignored unless the cell is an LSTM.
///
/// Returns `(y, h_n, c_n)`: `y` has `t * dirs * hidden_size` values (per frame the forward
/// half then the backward half; zeros for frames `>= seq_len`), `h_n` and `c_n` have `dirs *
/// hidden_size` values (`c_n` is empty unless the cell is an LSTM).
pub fn reference_layer(
    desc: &RecurrentDesc,
    w: &LayerWeights,
    xs: &[f64],
    t: usize,
    seq_len: usize,
    h0: Option<&[f64]>,
    c0: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (wv, rv, bv, pv) = match w {
        LayerWeights::Recurrent { w, r, b, p } => (w, r, b, p),
        LayerWeights::Dense { .. } => panic!("reference_layer: dense weights given for a recurrent layer"),
    };
    let (g, hs, is) = (desc.cell.gates(), desc.hidden_size, desc.input_size);
    let dirs = desc.direction.count();
    let is_lstm = desc.cell == CellKind::Lstm;
    assert_eq!(xs.len(), t * is, "xs must have t * input_size values");
    assert!(seq_len <= t, "seq_len {seq_len} > t {t}");
    assert_eq!(wv.len(), dirs * g * hs * is, "W size");
    assert_eq!(rv.len(), dirs * g * hs * hs, "R size");
    if let Some(b) = bv {
        assert_eq!(b.len(), dirs * 2 * g * hs, "B size");
    }
    assert_eq!(desc.peepholes, pv.is_some(), "P must be given exactly when the layer has peepholes");
    if let Some(p) = pv {
        assert_eq!(p.len(), dirs * 3 * hs, "P size");
    }
    if let Some(h0) = h0 {
        assert_eq!(h0.len(), dirs * hs, "h0 size");
    }
    if let Some(c0) = c0 {
        assert_eq!(c0.len(), dirs * hs, "c0 size");
    }

    let mut y = vec![0.0; t * dirs * hs];
    let mut h_n = vec![0.0; dirs * hs];
    let mut c_n = if is_lstm { vec![0.0; dirs * hs] } else { Vec::new() };
    for d in 0..dirs {
        let gh = g * hs;
        let dw = DirWeights {
            w: &wv[d * gh * is..(d + 1) * gh * is],
            r: &rv[d * gh * hs..(d + 1) * gh * hs],
            wb: bv.as_ref().map_or(vec![0.0; gh], |b| widen(&b[d * 2 * gh..d * 2 * gh + gh])),
            rb: bv.as_ref().map_or(vec![0.0; gh], |b| widen(&b[d * 2 * gh + gh..(d + 1) * 2 * gh])),
            p: pv.as_ref().map_or(vec![0.0; 3 * hs], |p| widen(&p[d * 3 * hs..(d + 1) * 3 * hs])),
        };
        let acts = &desc.activations[d];
        let mut h: Vec<f64> = h0.map_or(vec![0.0; hs], |v| v[d * hs..(d + 1) * hs].to_vec());
        let mut c: Vec<f64> = match (is_lstm, c0) {
            (true, Some(v)) => v[d * hs..(d + 1) * hs].to_vec(),
            _ => vec![0.0; hs],
        };
        let frames: Vec<usize> =
            if desc.direction.is_reverse(d) { (0..seq_len).rev().collect() } else { (0..seq_len).collect() };
        for tt in frames {
            cell_step(desc, &dw, acts, &xs[tt * is..(tt + 1) * is], &mut h, &mut c);
            y[(tt * dirs + d) * hs..(tt * dirs + d + 1) * hs].copy_from_slice(&h);
        }
        h_n[d * hs..(d + 1) * hs].copy_from_slice(&h);
        if is_lstm {
            c_n[d * hs..(d + 1) * hs].copy_from_slice(&c);
        }
    }
    (y, h_n, c_n)
}

/// One frame of a dense layer: `act(W x + b)` with `W` row-major `[O][I]`.
pub fn reference_dense(desc: &DenseDesc, w: &LayerWeights, x: &[f64]) -> Vec<f64> {
    let (wv, bv) = match w {
        LayerWeights::Dense { w, b } => (w, b),
        LayerWeights::Recurrent { .. } => panic!("reference_dense: recurrent weights given for a dense layer"),
    };
    let (is, os) = (desc.input_size, desc.output_size);
    assert_eq!(x.len(), is, "x must have input_size values");
    assert_eq!(wv.len(), os * is, "W size");
    if let Some(b) = bv {
        assert_eq!(b.len(), os, "B size");
    }
    let z: Vec<f64> = (0..os).map(|o| dot_row(wv, o, x) + bv.as_ref().map_or(0.0, |b| b[o] as f64)).collect();
    match desc.activation {
        DenseAct::None => z,
        DenseAct::Relu => z.into_iter().map(|v| if v > 0.0 { v } else { 0.0 }).collect(),
        DenseAct::Tanh => z.into_iter().map(f64::tanh).collect(),
        DenseAct::Sigmoid => z.into_iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect(),
        DenseAct::Softmax => {
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect()
        }
        DenseAct::LogSoftmax => {
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ls = z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            z.into_iter().map(|v| v - m - ls).collect()
        }
    }
}

/// Runs a whole model over one sequence of `t` frames (`xs`: `t * input_size` values).
///
/// `initial` gives the state per slot (see [`RefState`]); `None` means zeros. Returns the
/// per-frame model output (`t * output_size` values) and the final state (for a backward
/// direction: the state after frame 0).
pub fn reference_model(
    desc: &ModelDesc,
    weights: &[LayerWeights],
    xs: &[f32],
    t: usize,
    initial: Option<&RefState>,
) -> (Vec<f64>, RefState) {
    assert_eq!(weights.len(), desc.layers.len(), "one LayerWeights per layer");
    assert_eq!(xs.len(), t * desc.input_size(), "xs must have t * input_size values");
    let zeros = RefState::zeros(desc);
    let init = initial.unwrap_or(&zeros);
    assert_eq!(init.h.len(), zeros.h.len(), "initial state has the wrong number of slots");
    assert_eq!(init.c.len(), zeros.c.len(), "initial state has the wrong number of slots");
    let mut fin = zeros.clone();
    let mut cur = widen(xs);
    let mut slot = 0;
    for (layer, w) in desc.layers.iter().zip(weights) {
        match layer {
            LayerDesc::Recurrent(r) => {
                let (dirs, hs) = (r.direction.count(), r.hidden_size);
                let h0: Vec<f64> = (0..dirs).flat_map(|d| init.h[slot + d].iter().copied()).collect();
                assert_eq!(h0.len(), dirs * hs, "initial h slot size");
                let c0: Option<Vec<f64>> = (r.cell == CellKind::Lstm).then(|| {
                    let c0: Vec<f64> = (0..dirs).flat_map(|d| init.c[slot + d].iter().copied()).collect();
                    assert_eq!(c0.len(), dirs * hs, "initial c slot size");
                    c0
                });
                let (y, h_n, c_n) = reference_layer(r, w, &cur, t, t, Some(&h0), c0.as_deref());
                for d in 0..dirs {
                    fin.h[slot + d] = h_n[d * hs..(d + 1) * hs].to_vec();
                    if !c_n.is_empty() {
                        fin.c[slot + d] = c_n[d * hs..(d + 1) * hs].to_vec();
                    }
                }
                slot += dirs;
                cur = y;
            }
            LayerDesc::Dense(dn) => {
                let is = dn.input_size;
                cur = (0..t).flat_map(|tt| reference_dense(dn, w, &cur[tt * is..(tt + 1) * is])).collect();
            }
        }
    }
    (cur, fin)
}

/// splitmix64: a tiny deterministic generator for test data.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    /// `n` values uniform in `[-scale, scale)`, as f32.
    pub fn vec(&mut self, n: usize, scale: f64) -> Vec<f32> {
        (0..n).map(|_| (self.uniform() * scale) as f32).collect()
    }
}

/// Deterministic random weights for a model, in ONNX layout: uniform in `[-s, s]` with `s =
/// scale / sqrt(fan_in)` (`fan_in` = input size for `W`, hidden size for `R`, biases and
/// peepholes; input size for a dense layer), biases always present, peepholes when the layer
/// declares them. `scale = 1` keeps activations well scaled.
pub fn random_weights(desc: &ModelDesc, seed: u64, scale: f32) -> Vec<LayerWeights> {
    let mut rng = SplitMix64(seed ^ 0x5EED_0000_0000_0000);
    let scale = scale as f64;
    desc.layers
        .iter()
        .map(|layer| match layer {
            LayerDesc::Recurrent(r) => {
                let (g, hs, is, dirs) = (r.cell.gates(), r.hidden_size, r.input_size, r.direction.count());
                let sw = scale / (is as f64).sqrt();
                let sh = scale / (hs as f64).sqrt();
                let w = rng.vec(dirs * g * hs * is, sw);
                let rr = rng.vec(dirs * g * hs * hs, sh);
                let b = Some(rng.vec(dirs * 2 * g * hs, sh));
                let p = r.peepholes.then(|| rng.vec(dirs * 3 * hs, sh));
                LayerWeights::Recurrent { w, r: rr, b, p }
            }
            LayerDesc::Dense(d) => {
                let s = scale / (d.input_size as f64).sqrt();
                let w = rng.vec(d.output_size * d.input_size, s);
                let b = Some(rng.vec(d.output_size, s));
                LayerWeights::Dense { w, b }
            }
        })
        .collect()
}

/// Deterministic random inputs: `n` values uniform in `[-scale, scale)`.
pub fn random_inputs(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    SplitMix64(seed ^ 0x1A9D_0000_0000_0000).vec(n, scale as f64)
}

/// A deterministic random state for a model (h in `[-scale, scale)`, c in `[-2 scale, 2 scale)`).
pub fn random_state(desc: &ModelDesc, seed: u64, scale: f32) -> RefState {
    let mut rng = SplitMix64(seed ^ 0x57A7_0000_0000_0000);
    let s = scale as f64;
    let slots = state_slots(desc);
    let h = slots.iter().map(|&(_, _, hs, _)| rng.vec(hs, s).into_iter().map(f64::from).collect()).collect();
    let c = slots
        .iter()
        .map(
            |&(_, _, hs, lstm)| {
                if lstm {
                    rng.vec(hs, 2.0 * s).into_iter().map(f64::from).collect()
                } else {
                    Vec::new()
                }
            },
        )
        .collect();
    RefState { h, c }
}

/// Largest `|a[i] - b[i]|` (panics on a length mismatch; NaN anywhere gives infinity).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| if x.is_nan() || y.is_nan() { f64::INFINITY } else { (x - y).abs() })
        .fold(0.0, f64::max)
}

/// Largest `|a[i] - b[i]|` between an engine output (f32) and the reference (f64).
pub fn max_abs_diff_f32(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| if x.is_nan() || y.is_nan() { f64::INFINITY } else { (x as f64 - y).abs() })
        .fold(0.0, f64::max)
}
