//! Random model descriptions for property tests.

use super::reference::SplitMix64;
use recur_format::*;

/// Every kernel set this host can run.
pub fn isas() -> Vec<recur::Isa> {
    recur::Isa::available().collect()
}

/// A recurrent layer with `RecurrentDesc::new`'s defaults, then `f`'s changes.
pub fn rec(cell: CellKind, i: usize, h: usize, f: impl FnOnce(&mut RecurrentDesc)) -> LayerDesc {
    let mut r = RecurrentDesc::new(cell, i, h);
    f(&mut r);
    LayerDesc::Recurrent(r)
}

/// The first index where two outputs differ in bits (any two NaNs count as equal).
pub fn first_bit_difference(a: &[f32], b: &[f32]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()))
}

/// A random activation (all ONNX kinds) with well-behaved parameters.
pub fn random_act(rng: &mut SplitMix64) -> Activation {
    let k = ActKind::ALL[(rng.next_u64() % 11) as usize];
    let alpha = 0.2 + 0.6 * (rng.uniform() as f32 + 1.0) / 2.0;
    let beta = 0.5 * rng.uniform() as f32;
    Activation::with_params(k, alpha, beta)
}

/// A random recurrent layer (cell, options, direction, activations).
pub fn random_rec(
    rng: &mut SplitMix64,
    input: usize,
    hidden: usize,
    forward_only: bool,
    odd_acts: bool,
) -> RecurrentDesc {
    let cell = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru][(rng.next_u64() % 3) as usize];
    let mut r = RecurrentDesc::new(cell, input, hidden);
    if !forward_only {
        r.direction = [Direction::Forward, Direction::Reverse, Direction::Bidirectional][(rng.next_u64() % 3) as usize];
    }
    if rng.next_u64().is_multiple_of(4) {
        r.clip = Some(0.5 + (rng.uniform() as f32 + 1.0));
    }
    match cell {
        CellKind::Lstm => {
            r.input_forget = rng.next_u64().is_multiple_of(3);
            r.peepholes = rng.next_u64().is_multiple_of(2);
        }
        CellKind::Gru => r.linear_before_reset = rng.next_u64().is_multiple_of(2),
        CellKind::Rnn => {}
    }
    if odd_acts {
        for d in 0..2 {
            for a in 0..3 {
                r.activations[d][a] = random_act(rng);
            }
        }
    }
    r
}

/// A random chain: 1..=max_layers recurrent layers (sizes in 1..=max_size) and maybe a dense head.
pub fn random_model(seed: u64, max_layers: usize, max_size: usize, forward_only: bool, odd_acts: bool) -> ModelDesc {
    let mut rng = SplitMix64(seed);
    let size = |rng: &mut SplitMix64| 1 + (rng.next_u64() as usize % max_size);
    let n = 1 + rng.next_u64() as usize % max_layers;
    let mut input = size(&mut rng);
    let mut layers = Vec::new();
    for _ in 0..n {
        let h = size(&mut rng);
        let r = random_rec(&mut rng, input, h, forward_only, odd_acts);
        input = r.output_size();
        layers.push(LayerDesc::Recurrent(r));
    }
    if rng.next_u64().is_multiple_of(2) {
        let acts = [
            DenseAct::None,
            DenseAct::Relu,
            DenseAct::Tanh,
            DenseAct::Sigmoid,
            DenseAct::Softmax,
            DenseAct::LogSoftmax,
        ];
        let activation = acts[(rng.next_u64() % 6) as usize];
        layers.push(LayerDesc::Dense(DenseDesc {
            input_size: input,
            output_size: size(&mut rng),
            activation,
            dtype: DType::F32,
        }));
    }
    ModelDesc { layers }
}
