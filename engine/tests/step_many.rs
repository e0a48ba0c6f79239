//! `step_many` equals separate `step`s bit for bit: random forward-only models, random
//! stream counts 1..70, a random subset of the streams stepped each frame (streams at
//! different points of their life mix), every kernel set, 1, 2 and 4 threads.

mod common;

use common::gen::{isas, random_model};
use common::reference::{random_inputs, random_weights, SplitMix64};
use proptest::prelude::*;
use recur::{Model, State};
use recur_format::{DType, PackedModel};

fn check(seed: u64, streams: usize, frames: usize) {
    let desc = random_model(seed, 2, 90, true, seed.is_multiple_of(3));
    let mut packed = PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap();
    // Every dtype too (one per layer, from the seed): int8 w8a8 quantizes each stream's
    // inputs separately, so grouping must not mix them.
    const DTYPES: [DType; 5] = [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8];
    let d: Vec<DType> = (0..desc.layers.len()).map(|l| DTYPES[((seed >> (8 + 3 * l)) % 5) as usize]).collect();
    packed = packed.to_dtypes(&d).unwrap();
    let desc = packed.desc.clone();
    let pools: Vec<rayon::ThreadPool> =
        [2, 4].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    for isa in isas() {
        let m = Model::from_packed_with_isa(&packed, isa).unwrap();
        let (i, o) = (m.input_size(), m.output_size());
        // Reference: every stream stepped alone.
        let mut alone: Vec<State> = (0..streams).map(|_| m.new_state()).collect();
        // Under test: the same streams, stepped together, with 1, 2, 4 threads.
        let mut together: Vec<Vec<State>> = (0..3).map(|_| (0..streams).map(|_| m.new_state()).collect()).collect();
        let mut rng = SplitMix64(seed ^ 0xabc);
        for f in 0..frames {
            // A random subset, in a random order.
            let mut chosen: Vec<usize> = (0..streams).filter(|_| !rng.next_u64().is_multiple_of(3)).collect();
            for k in (1..chosen.len()).rev() {
                chosen.swap(k, (rng.next_u64() % (k as u64 + 1)) as usize);
            }
            let xs = random_inputs(chosen.len() * i, seed ^ (f as u64) << 8, 1.5);
            let mut want = vec![0.0f32; chosen.len() * o];
            for (n, &k) in chosen.iter().enumerate() {
                m.step(&mut alone[k], &xs[n * i..][..i], &mut want[n * o..][..o]).unwrap();
            }
            for (t, set) in together.iter_mut().enumerate() {
                let mut refs: Vec<&mut State> = Vec::new();
                let mut slots: Vec<Option<&mut State>> = set.iter_mut().map(Some).collect();
                for &k in &chosen {
                    refs.push(slots[k].take().unwrap());
                }
                let mut ys = vec![0.0f32; chosen.len() * o];
                match t {
                    0 => m.step_many_with(&mut refs, &xs, &mut ys, Some(1)).unwrap(),
                    _ => pools[t - 1].install(|| m.step_many(&mut refs, &xs, &mut ys)).unwrap(),
                }
                let threads = [1, 2, 4][t];
                for (n, (a, b)) in want.iter().zip(&ys).enumerate() {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{isa}, {threads} threads, {streams} streams, frame {f}: value {n} is {b}, alone {a} ({desc:?})"
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn step_many_equals_separate_steps(seed in any::<u64>(), streams in 1usize..70, frames in 1usize..6) {
        check(seed, streams, frames);
    }
}

#[test]
fn big_enough_to_thread() {
    // Large enough that step_many really forks (parameter count * streams over the threshold).
    check(11, 9, 3);
    check(12, 1, 4);
}

#[test]
fn duplicate_and_foreign_states_are_refused() {
    let desc = random_model(5, 1, 20, true, false);
    let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, 5, 1.0)).unwrap();
    let m = Model::from_packed(&packed).unwrap();
    let other = Model::from_packed(&PackedModel::pack(desc.clone(), &random_weights(&desc, 6, 1.0)).unwrap()).unwrap();
    let mut a = m.new_state();
    let mut b = other.new_state();
    let xs = vec![0.0; 2 * m.input_size()];
    let mut ys = vec![0.0; 2 * m.output_size()];
    let err = m.step_many(&mut [&mut a, &mut b], &xs, &mut ys).unwrap_err();
    assert_eq!(err.to_string(), "state belongs to another model");
    let err = m.step_many(&mut [&mut a], &xs, &mut ys).unwrap_err();
    assert!(err.to_string().contains("input frames has"), "{err}");
}
