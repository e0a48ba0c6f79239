//! Property tests: every kernel set the host supports gives bit-identical outputs and
//! states to the scalar reference path, for random models of every cell kind, option,
//! direction and activation, with sizes that are not multiples of 16.

mod common;

use common::gen::{isas, random_model};
use common::reference::{random_inputs, random_weights};
use proptest::prelude::*;
use recur::{Isa, Model};
use recur_format::{DType, PackedModel};

/// Bit patterns, with every NaN canonical: the contract leaves NaN payloads unspecified
/// (random activations such as Affine or Softplus can make a recurrence blow up).
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() }).collect()
}

/// Asserts equal bits with a compact message: the first difference and the model.
fn same(a: &[f32], b: &[f32], what: &str, desc: &recur_format::ModelDesc) {
    let (ba, bb) = (bits(a), bits(b));
    assert_eq!(ba.len(), bb.len(), "{what}: length");
    if let Some(i) = ba.iter().zip(&bb).position(|(x, y)| x != y) {
        panic!("{what}: first difference at {i} of {}: {} vs {} (model {desc:?})", ba.len(), a[i], b[i]);
    }
}

/// Runs `model` over `xs` with `run`, and (if streamable) with `step` frame by frame;
/// returns the outputs and the final states of every slot.
fn outputs(model: &Model, xs: &[f32], frames: usize) -> (Vec<f32>, Option<Vec<f32>>, Vec<f32>) {
    let o = model.output_size();
    let mut st = model.new_state();
    let mut ys = vec![0.0; frames * o];
    model.run(&mut st, xs, &mut ys).unwrap();
    let mut states = Vec::new();
    for (li, l) in model.desc().layers.iter().enumerate() {
        if let recur_format::LayerDesc::Recurrent(r) = l {
            for d in 0..r.direction.count() {
                states.extend(model.get_state(&st, li, d, false).unwrap());
                if r.cell == recur_format::CellKind::Lstm {
                    states.extend(model.get_state(&st, li, d, true).unwrap());
                }
            }
        }
    }
    let stepped = model.is_streamable().then(|| {
        let mut st = model.new_state();
        let mut ys = vec![0.0; frames * o];
        let i = model.input_size();
        for t in 0..frames {
            model.step(&mut st, &xs[t * i..][..i], &mut ys[t * o..][..o]).unwrap();
        }
        ys
    });
    (ys, stepped, states)
}

/// Every dtype, by code.
const DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8];

fn check(seed: u64, max_layers: usize, max_size: usize, frames: usize, forward_only: bool) {
    check_dtypes(seed, max_layers, max_size, frames, forward_only, None)
}

/// With `dtypes`, layer `i` is converted to `DTYPES[(dtypes >> 3i) % 5]`.
fn check_dtypes(seed: u64, max_layers: usize, max_size: usize, frames: usize, forward_only: bool, dtypes: Option<u64>) {
    let desc = random_model(seed, max_layers, max_size, forward_only, seed.is_multiple_of(2));
    let weights = random_weights(&desc, seed, 1.5);
    let mut packed = PackedModel::pack(desc.clone(), &weights).unwrap();
    if let Some(code) = dtypes {
        let d: Vec<DType> = (0..desc.layers.len()).map(|i| DTYPES[((code >> (3 * i)) % 5) as usize]).collect();
        packed = packed.to_dtypes(&d).unwrap();
    }
    let desc = packed.desc.clone();
    let xs = random_inputs(frames * desc.input_size(), seed, 2.0);
    let scalar = Model::from_packed_with_isa(&packed, Isa::Scalar).unwrap();
    let (ref_y, ref_step, ref_state) = outputs(&scalar, &xs, frames);
    if let Some(s) = &ref_step {
        same(s, &ref_y, "scalar: step vs run", &desc);
    }
    for isa in isas() {
        let m = scalar.with_isa(isa).unwrap();
        let (y, step, state) = outputs(&m, &xs, frames);
        same(&y, &ref_y, &format!("{isa}: run output vs scalar"), &desc);
        same(&state, &ref_state, &format!("{isa}: final state vs scalar"), &desc);
        if let Some(s) = step {
            same(&s, &ref_y, &format!("{isa}: step output vs scalar"), &desc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Sizes 1..300, 1..3 layers, 1..40 frames, any direction.
    #[test]
    fn every_isa_matches_scalar(seed in any::<u64>(), frames in 1usize..40) {
        check(seed, 3, 300, frames, false);
    }

    /// Reduced-precision weights (f16, bf16, int8 w8 and w8a8, mixed per layer): every
    /// kernel set gives the scalar path's bits.
    #[test]
    fn every_isa_matches_scalar_every_dtype(seed in any::<u64>(), frames in 1usize..24, dtypes in any::<u64>()) {
        check_dtypes(seed, 3, 200, frames, false, Some(dtypes));
    }

    /// Same, small sizes (every tail of the 4-k int8 groups and the panels).
    #[test]
    fn every_isa_matches_scalar_every_dtype_small(seed in any::<u64>(), frames in 1usize..12, dtypes in any::<u64>()) {
        check_dtypes(seed, 2, 40, frames, seed % 3 == 0, Some(dtypes));
    }

    /// Small sizes around the panel width, many cases: every tail path.
    #[test]
    fn every_isa_matches_scalar_small(seed in any::<u64>(), frames in 1usize..12) {
        check(seed, 2, 40, frames, seed % 3 == 0);
    }
}

/// The guard: when `RECUR_ISA` forces a kernel set, it must have been the one that ran.
#[test]
fn forced_isa_actually_runs() {
    let Some(forced) = recur::isa::forced_by_env() else { return };
    let desc = random_model(7, 1, 20, true, false);
    let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, 7, 1.0)).unwrap();
    let m = Model::from_packed(&packed).expect("forced kernel set must be available");
    assert_eq!(m.isa(), forced, "RECUR_ISA={forced} but the model chose {}", m.isa());
    let mut st = m.new_state();
    let mut y = vec![0.0; m.output_size()];
    m.step(&mut st, &vec![0.5; m.input_size()], &mut y).unwrap();
    assert!(recur::isa::has_run(forced), "RECUR_ISA={forced} but no {forced} kernel ran");
}
