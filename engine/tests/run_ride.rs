//! `run` on one thread with f32 weights computes the next 8 frames' input projection
//! inside the current frames' recurrence (the "ride", on kernel sets that have it) and
//! finishes what is left on its own when a chunk ends. Its bits must be those of the
//! plain projection: the same as the scalar set's `run` (which never rides), as repeated
//! `step` on forward models, and as a second `run` continuing from the first's state.
//! Frame counts straddle the chunk boundaries (8, 9, 16, 17, 40); shapes include a ride
//! that outlasts its chunk (wide input, one block of hidden units) and one that ends
//! early (small input, many blocks).

mod common;

use common::gen::{first_bit_difference, isas, rec};
use common::reference::{random_inputs, random_weights};
use recur::{Isa, Model};
use recur_format::{ActKind, Activation, CellKind, Direction, LayerDesc, ModelDesc, PackedModel};

/// Two `run` calls of `frames` frames each from a fresh state, on one thread.
fn two_runs(m: &Model, xs: &[f32], frames: usize) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let o = m.output_size();
    let mut st = m.new_state();
    let mut ys = vec![0.0f32; 2 * frames * o];
    let (a, b) = ys.split_at_mut(frames * o);
    pool.install(|| m.run(&mut st, xs, a)).unwrap();
    pool.install(|| m.run(&mut st, xs, b)).unwrap();
    ys
}

fn check(name: &str, layers: Vec<LayerDesc>, seed: u64) {
    let desc = ModelDesc { layers };
    let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap();
    let forward =
        desc.layers.iter().all(|l| !matches!(l, LayerDesc::Recurrent(r) if r.direction != Direction::Forward));
    let scalar = Model::from_packed_with_isa(&packed, Isa::Scalar).unwrap();
    for frames in [8usize, 9, 16, 17, 40] {
        let xs = random_inputs(frames * scalar.input_size(), seed ^ frames as u64, 1.0);
        let want = two_runs(&scalar, &xs, frames);
        for isa in isas() {
            let m = Model::from_packed_with_isa(&packed, isa).unwrap();
            let got = two_runs(&m, &xs, frames);
            if let Some(k) = first_bit_difference(&want, &got) {
                panic!("{name} {isa} T={frames}: run differs from scalar at output {k}: {} vs {}", got[k], want[k]);
            }
            if forward {
                let o = m.output_size();
                let i = m.input_size();
                let mut st = m.new_state();
                let mut ys = vec![0.0f32; 2 * frames * o];
                for f in 0..2 * frames {
                    m.step(&mut st, &xs[(f % frames) * i..][..i], &mut ys[f * o..][..o]).unwrap();
                }
                if let Some(k) = first_bit_difference(&got, &ys) {
                    panic!("{name} {isa} T={frames}: run differs from step at output {k}: {} vs {}", got[k], ys[k]);
                }
            }
        }
    }
}

#[test]
fn riding_projection_has_the_plain_projections_bits() {
    use CellKind::*;
    let cases: Vec<(&str, Vec<LayerDesc>)> = vec![
        ("gru lbr0 i40 h128", vec![rec(Gru, 40, 128, |_| {})]),
        (
            "gru lbr1 i33 h70 clip",
            vec![rec(Gru, 33, 70, |r| {
                r.linear_before_reset = true;
                r.clip = Some(2.5);
            })],
        ),
        ("gru lbr0 i300 h16 (ride outlasts its chunk)", vec![rec(Gru, 300, 16, |_| {})]),
        ("gru lbr1 i1 h1", vec![rec(Gru, 1, 1, |r| r.linear_before_reset = true)]),
        (
            "lstm i3 h100 peepholes reverse",
            vec![rec(Lstm, 3, 100, |r| {
                r.peepholes = true;
                r.direction = Direction::Reverse;
            })],
        ),
        (
            "lstm i50 h33 input_forget bidirectional + lstm",
            vec![
                rec(Lstm, 50, 33, |r| {
                    r.input_forget = true;
                    r.direction = Direction::Bidirectional;
                }),
                rec(Lstm, 66, 40, |_| {}),
            ],
        ),
        ("rnn i17 h150 relu", vec![rec(Rnn, 17, 150, |r| r.activations[0][0] = Activation::new(ActKind::Relu))]),
        ("rnn i200 h5 bidirectional", vec![rec(Rnn, 200, 5, |r| r.direction = Direction::Bidirectional)]),
    ];
    for (k, (name, layers)) in cases.into_iter().enumerate() {
        check(name, layers, 0x71de ^ k as u64);
    }
}
