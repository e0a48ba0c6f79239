//! The engine against the plain f64 implementation of the ONNX formulas (tests/common/
//! reference.rs, validated against onnxruntime): every cell kind, option, direction,
//! activation and dense head, 50 frames, max abs error <= 1e-5 on outputs and states,
//! on every kernel set the host supports. This is what catches a wrong gate order or a
//! misplaced bias.

mod common;

use common::gen::isas;
use common::reference::{max_abs_diff_f32, random_inputs, random_state, random_weights, reference_model, state_slots};
use recur::Model;
use recur_format::*;

const FRAMES: usize = 50;
const TOL: f64 = 1e-5;

fn check(name: &str, desc: ModelDesc, with_initial: bool) {
    let seed = name.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let weights = random_weights(&desc, seed, 1.0);
    let xs = random_inputs(FRAMES * desc.input_size(), seed, 1.0);
    let init = with_initial.then(|| random_state(&desc, seed, 0.5));
    let (want, want_state) = reference_model(&desc, &weights, &xs, FRAMES, init.as_ref());
    if want.iter().any(|v| !v.is_finite() || v.abs() > 1e4) {
        // Some activations in gate positions (Softplus as a GRU update gate) make the
        // recurrence itself diverge; there is no formula left to compare.
        println!("{name:<40} skipped: the f64 reference diverges");
        return;
    }
    let packed = PackedModel::pack(desc.clone(), &weights).unwrap();
    for isa in isas() {
        let m = Model::from_packed_with_isa(&packed, isa).unwrap();
        let mut st = m.new_state();
        let slots = state_slots(&desc);
        if let Some(init) = &init {
            for (i, &(layer, dir, _, lstm)) in slots.iter().enumerate() {
                let h: Vec<f32> = init.h[i].iter().map(|&v| v as f32).collect();
                m.set_state(&mut st, layer, dir, false, &h).unwrap();
                if lstm {
                    let c: Vec<f32> = init.c[i].iter().map(|&v| v as f32).collect();
                    m.set_state(&mut st, layer, dir, true, &c).unwrap();
                }
            }
        }
        let mut ys = vec![0.0; FRAMES * m.output_size()];
        m.run(&mut st, &xs, &mut ys).unwrap();
        let err = max_abs_diff_f32(&ys, &want);
        // States (an LSTM cell state may grow well past 1 with unbounded gate
        // activations) are compared relative to their magnitude: |err| / max(1, |ref|).
        let rel = |got: &[f32], want: &[f64]| -> f64 {
            got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0)).fold(0.0, f64::max)
        };
        let mut serr = 0.0f64;
        for (i, &(layer, dir, _, lstm)) in slots.iter().enumerate() {
            serr = serr.max(rel(&m.get_state(&st, layer, dir, false).unwrap(), &want_state.h[i]));
            if lstm {
                serr = serr.max(rel(&m.get_state(&st, layer, dir, true).unwrap(), &want_state.c[i]));
            }
        }
        println!("{name:<40} {isa:<8} output err {err:.2e}  state rel err {serr:.2e}");
        assert!(err <= TOL, "{name} on {isa}: output max abs error {err:e} > {TOL:e}");
        assert!(serr <= TOL, "{name} on {isa}: state relative error {serr:e} > {TOL:e}");
    }
}

fn rec(cell: CellKind, i: usize, h: usize) -> RecurrentDesc {
    RecurrentDesc::new(cell, i, h)
}

fn one(r: RecurrentDesc) -> ModelDesc {
    ModelDesc { layers: vec![LayerDesc::Recurrent(r)] }
}

#[test]
fn every_cell_direction_and_option() {
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        for dir in [Direction::Forward, Direction::Reverse, Direction::Bidirectional] {
            let mut r = rec(cell, 7, 19);
            r.direction = dir;
            check(&format!("{}-{dir:?}", cell.name()), one(r.clone()), false);
            check(&format!("{}-{dir:?}-init", cell.name()), one(r.clone()), true);
            let mut c = r.clone();
            c.clip = Some(0.4);
            check(&format!("{}-{dir:?}-clip", cell.name()), one(c), true);
            match cell {
                CellKind::Lstm => {
                    let mut p = r.clone();
                    p.peepholes = true;
                    check(&format!("LSTM-{dir:?}-peep"), one(p.clone()), true);
                    p.input_forget = true;
                    check(&format!("LSTM-{dir:?}-peep-if"), one(p.clone()), true);
                    p.clip = Some(0.3);
                    check(&format!("LSTM-{dir:?}-peep-if-clip"), one(p), true);
                }
                CellKind::Gru => {
                    let mut l = r.clone();
                    l.linear_before_reset = true;
                    check(&format!("GRU-{dir:?}-lbr"), one(l.clone()), true);
                    l.clip = Some(0.5);
                    check(&format!("GRU-{dir:?}-lbr-clip"), one(l), true);
                }
                CellKind::Rnn => {}
            }
        }
    }
}

#[test]
fn every_activation() {
    // Each activation in every position of every cell; parameters chosen to keep the
    // recurrence bounded (the point is the formula, not an explosion).
    for kind in ActKind::ALL {
        let (alpha, beta) = match kind {
            ActKind::Affine => (0.7, 0.1),
            ActKind::LeakyRelu => (0.3, 0.0),
            ActKind::ThresholdedRelu => (0.2, 0.0),
            ActKind::ScaledTanh => (0.9, 1.3),
            ActKind::HardSigmoid => (0.3, 0.4),
            ActKind::Elu => (0.8, 0.0),
            _ => (0.0, 0.0),
        };
        let a = Activation::with_params(kind, alpha, beta);
        for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for pos in 0..cell.activation_count() {
                let mut r = rec(cell, 5, 17);
                r.direction = Direction::Bidirectional;
                r.activations[pos % 2][pos] = a;
                r.activations[1][pos] = a;
                if cell == CellKind::Gru {
                    r.linear_before_reset = pos == 1;
                }
                check(&format!("{}-{}-pos{pos}", cell.name(), kind.name()), one(r), false);
            }
        }
    }
}

#[test]
fn stacks_and_dense_heads() {
    for act in
        [DenseAct::None, DenseAct::Relu, DenseAct::Tanh, DenseAct::Sigmoid, DenseAct::Softmax, DenseAct::LogSoftmax]
    {
        let mut l0 = rec(CellKind::Lstm, 9, 33);
        l0.direction = Direction::Bidirectional;
        let l1 = rec(CellKind::Gru, 66, 16);
        let desc = ModelDesc {
            layers: vec![
                LayerDesc::Recurrent(l0),
                LayerDesc::Recurrent(l1),
                LayerDesc::Dense(DenseDesc { input_size: 16, output_size: 13, activation: act, dtype: DType::F32 }),
            ],
        };
        check(&format!("bilstm-gru-dense-{}", act.name()), desc, true);
    }
    // Sizes exactly at and around the panel width.
    for h in [1, 15, 16, 17, 32, 48, 130] {
        let desc = ModelDesc {
            layers: vec![
                LayerDesc::Recurrent(rec(CellKind::Gru, h, h)),
                LayerDesc::Recurrent(rec(CellKind::Rnn, h, 3)),
                LayerDesc::Recurrent(rec(CellKind::Lstm, 3, h)),
            ],
        };
        check(&format!("stack-h{h}"), desc, false);
    }
}
