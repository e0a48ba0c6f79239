//! What reduced-precision weights compute, against f32:
//!
//! - f16 and bf16 are widened exactly and accumulated in the f32 order, so a model in f16
//!   (bf16) gives *the same bits* as the f32 model of its widened weights;
//! - int8 `w8` applies the row scale after the dot product, so it agrees with the f32
//!   model of its dequantized weights to rounding (1e-4 here);
//! - int8 `w8a8` also quantizes activations: its error against the dequantized f32 model
//!   is bounded by the activation quantization;
//! - over a 10,000-step stream of a W1-shaped model (GRU 40 -> 128 + dense 128 -> 12), the
//!   state never diverges from the f32 stream (the error at the end is printed).

mod common;

use common::gen::random_model;
use common::reference::{random_inputs, random_weights};
use recur::{Isa, Model};
use recur_format::*;

fn run(packed: &PackedModel, xs: &[f32]) -> Vec<f32> {
    let m = Model::from_packed_with_isa(packed, Isa::Scalar).unwrap();
    let frames = xs.len() / m.input_size();
    let mut ys = vec![0.0; frames * m.output_size()];
    m.run(&mut m.new_state(), xs, &mut ys).unwrap();
    ys
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn reduced_precision_against_dequantized_f32() {
    for seed in 0..40u64 {
        let desc = random_model(seed, 3, 120, false, false);
        let f32m = PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap();
        let frames = 1 + (seed as usize % 17);
        let xs = random_inputs(frames * desc.input_size(), seed, 1.0);
        let n = desc.layers.len();
        for dtype in [DType::F16, DType::BF16, DType::I8, DType::I8A8] {
            let q = f32m.to_dtypes(&vec![dtype; n]).unwrap();
            // The f32 model of the same (widened or dequantized) weights.
            let deq = PackedModel::pack(desc.clone(), &q.unpack()).unwrap();
            let (got, want) = (run(&q, &xs), run(&deq, &xs));
            let d = max_diff(&got, &want);
            match dtype {
                DType::F16 | DType::BF16 => {
                    let same =
                        got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                    assert!(same, "seed {seed} {dtype:?}: not the bits of the widened f32 model (max diff {d})");
                }
                DType::I8 => assert!(d <= 1e-4, "seed {seed} w8: {d} from the dequantized f32 model"),
                _ => assert!(d <= 0.1, "seed {seed} w8a8: {d} from the dequantized f32 model"),
            }
        }
    }
}

/// A W1-shaped keyword-spotter stream, 10,000 steps in every dtype against f32.
#[test]
fn long_stream_does_not_diverge() {
    let mut gru = RecurrentDesc::new(CellKind::Gru, 40, 128);
    gru.linear_before_reset = true;
    let desc = ModelDesc {
        layers: vec![
            LayerDesc::Recurrent(gru),
            LayerDesc::Dense(DenseDesc {
                input_size: 128,
                output_size: 12,
                activation: DenseAct::Softmax,
                dtype: DType::F32,
            }),
        ],
    };
    let f32m = PackedModel::pack(desc.clone(), &random_weights(&desc, 1, 1.0)).unwrap();
    const STEPS: usize = 10_000;
    // A smooth, speech-like input: slowly drifting sinusoids plus noise.
    let noise = random_inputs(STEPS * 40, 5, 0.3);
    let xs: Vec<f32> =
        (0..STEPS * 40).map(|i| ((i / 40) as f32 * 0.01 * (1 + i % 40) as f32).sin() + noise[i]).collect();
    let stream = |p: &PackedModel| {
        let m = Model::from_packed(p).unwrap();
        let mut st = m.new_state();
        let mut y = vec![0.0; 12];
        let mut worst = 0.0f32;
        let mut outs = Vec::with_capacity(STEPS * 12);
        for t in 0..STEPS {
            m.step(&mut st, &xs[t * 40..][..40], &mut y).unwrap();
            outs.extend_from_slice(&y);
        }
        let h = m.get_state(&st, 0, 0, false).unwrap();
        worst = worst.max(h.iter().fold(0.0, |a, v| a.max(v.abs())));
        (outs, h, worst)
    };
    let (ref_y, ref_h, _) = stream(&f32m);
    for (dtype, tol) in [(DType::F16, 2e-3), (DType::BF16, 2e-2), (DType::I8, 3e-2), (DType::I8A8, 6e-2)] {
        let q = f32m.to_dtypes(&[dtype; 2]).unwrap();
        let (y, h, _) = stream(&q);
        let end_y = max_diff(&y[(STEPS - 1) * 12..], &ref_y[(STEPS - 1) * 12..]);
        let end_h = max_diff(&h, &ref_h);
        let all_y = max_diff(&y, &ref_y);
        println!(
            "{:>9}: after {STEPS} steps |h - h_f32| = {end_h:.2e}, |y - y_f32| = {end_y:.2e}; worst output error over the stream {all_y:.2e}",
            dtype.name()
        );
        assert!(all_y <= tol, "{dtype:?}: output error {all_y} over the stream exceeds {tol}");
        assert!(end_h <= 10.0 * tol, "{dtype:?}: state error {end_h} at the end");
    }
}
