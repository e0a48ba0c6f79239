//! `run` gives the same bits whatever the thread count. Big recurrences split each
//! frame's blocks across the pool's threads (tickets claimed in order, `h` and the
//! scratch `hnew` swapping roles every frame); these models are big enough for the split
//! (gates x hidden^2 >= 100k multiply-adds), over odd and even frame counts, every cell
//! kind and direction, a reduced-precision layer, and every kernel set. Forward models
//! must also equal repeated `step`.

mod common;

use common::gen::{first_bit_difference, isas, rec};
use common::reference::{random_inputs, random_weights};
use recur::Model;
use recur_format::{CellKind, DType, Direction, LayerDesc, ModelDesc, PackedModel};

fn check(name: &str, desc: ModelDesc, dtype: DType, seed: u64) {
    let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap();
    let packed = packed.to_dtypes(&vec![dtype; desc.layers.len()]).unwrap();
    let pools: Vec<rayon::ThreadPool> =
        [1, 2, 3].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    for isa in isas() {
        let m = Model::from_packed_with_isa(&packed, isa).unwrap();
        let (i, o) = (m.input_size(), m.output_size());
        for frames in [1usize, 6, 9] {
            let xs = random_inputs(frames * i, seed ^ frames as u64, 1.0);
            let mut outs = Vec::new();
            let mut states = Vec::new();
            for pool in &pools {
                let mut st = m.new_state();
                let mut ys = vec![0.0f32; frames * o];
                pool.install(|| m.run(&mut st, &xs, &mut ys)).unwrap();
                // The state carries on: a second call starts from where the first ended.
                let mut ys2 = vec![0.0f32; frames * o];
                pool.install(|| m.run(&mut st, &xs, &mut ys2)).unwrap();
                ys.extend_from_slice(&ys2);
                outs.push(ys);
                let mut saved = vec![0u8; m.saved_state_size()];
                m.save_state(&st, &mut saved).unwrap();
                states.push(saved);
            }
            for t in 1..pools.len() {
                if let Some(k) = first_bit_difference(&outs[0], &outs[t]) {
                    panic!(
                        "{name} {dtype:?} {isa} T={frames}: {} threads differ from 1 at output {k}: {} vs {}",
                        t + 1,
                        outs[t][k],
                        outs[0][k]
                    );
                }
                assert_eq!(states[0], states[t], "{name} {dtype:?} {isa} T={frames}: final state, {} threads", t + 1);
            }
            if desc.layers.iter().all(|l| matches!(l, LayerDesc::Recurrent(r) if r.direction == Direction::Forward)) {
                let mut st = m.new_state();
                let mut ys = vec![0.0f32; 2 * frames * o];
                for f in 0..2 * frames {
                    let x = &xs[(f % frames) * i..][..i];
                    m.step(&mut st, x, &mut ys[f * o..][..o]).unwrap();
                }
                if let Some(k) = first_bit_difference(&outs[0], &ys) {
                    panic!("{name} {dtype:?} {isa} T={frames}: run differs from step at output {k}");
                }
            }
        }
    }
}

#[test]
fn run_is_bit_identical_for_any_thread_count() {
    use CellKind::*;
    let cases: Vec<(&str, Vec<LayerDesc>)> = vec![
        ("gru lbr0 h200", vec![rec(Gru, 37, 200, |_| {})]),
        (
            "gru lbr1 h190 reverse",
            vec![rec(Gru, 20, 190, |r| {
                r.linear_before_reset = true;
                r.direction = Direction::Reverse;
            })],
        ),
        (
            "lstm h170 bidirectional + lstm",
            vec![
                rec(Lstm, 16, 170, |r| r.direction = Direction::Bidirectional),
                rec(Lstm, 340, 161, |r| r.peepholes = true),
            ],
        ),
        ("rnn h330", vec![rec(Rnn, 9, 330, |_| {})]),
    ];
    for (k, (name, layers)) in cases.into_iter().enumerate() {
        let desc = ModelDesc { layers };
        for dtype in [DType::F32, DType::F16, DType::I8, DType::I8A8] {
            check(name, desc.clone(), dtype, 0x5eed ^ k as u64);
        }
    }
}
