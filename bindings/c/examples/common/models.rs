//! The test models of the C ABI, built in memory with deterministic weights (shared by
//! `gen_models.rs` and `overhead.rs`).

use recur_format::{
    CellKind, DType, DenseAct, DenseDesc, Direction, LayerDesc, LayerWeights, ModelDesc, PackedModel, RecurrentDesc,
};

/// A recurrent layer with the ONNX defaults.
pub fn rec(cell: CellKind, input: usize, hidden: usize) -> LayerDesc {
    LayerDesc::Recurrent(RecurrentDesc::new(cell, input, hidden))
}

/// A dense layer with f32 weights.
pub fn dense(input: usize, output: usize, activation: DenseAct) -> LayerDesc {
    LayerDesc::Dense(DenseDesc { input_size: input, output_size: output, activation, dtype: DType::F32 })
}

/// W1 of the benchmarks: GRU in=40 H=128, then dense 128->12.
pub fn gru_w1() -> ModelDesc {
    ModelDesc { layers: vec![rec(CellKind::Gru, 40, 128), dense(128, 12, DenseAct::None)] }
}

/// Two LSTM layers (sizes off the 16-wide panels, so padding is exercised) and a softmax head.
pub fn lstm2() -> ModelDesc {
    ModelDesc {
        layers: vec![rec(CellKind::Lstm, 13, 37), rec(CellKind::Lstm, 37, 20), dense(20, 7, DenseAct::Softmax)],
    }
}

/// A bidirectional GRU (cannot be stepped frame by frame) and a dense head.
pub fn bigru() -> ModelDesc {
    let mut r = RecurrentDesc::new(CellKind::Gru, 8, 16);
    r.direction = Direction::Bidirectional;
    ModelDesc { layers: vec![LayerDesc::Recurrent(r), dense(32, 4, DenseAct::Tanh)] }
}

/// Deterministic weights in `[-s, s]`, `s = 1/sqrt(fan_in)` (xorshift: no extra crate).
pub fn weights(desc: &ModelDesc, seed: u64) -> Vec<LayerWeights> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |scale: f32| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    let mut fill = |n: usize, scale: f32| (0..n).map(|_| next(scale)).collect::<Vec<f32>>();
    desc.layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                let (g, h, i, d) = (r.cell.gates(), r.hidden_size, r.input_size, r.direction.count());
                let (sw, sh) = (1.0 / (i as f32).sqrt(), 1.0 / (h as f32).sqrt());
                LayerWeights::Recurrent {
                    w: fill(d * g * h * i, sw),
                    r: fill(d * g * h * h, sh),
                    b: Some(fill(d * 2 * g * h, sh)),
                    p: None,
                }
            }
            LayerDesc::Dense(dn) => {
                let s = 1.0 / (dn.input_size as f32).sqrt();
                LayerWeights::Dense { w: fill(dn.input_size * dn.output_size, s), b: Some(fill(dn.output_size, s)) }
            }
        })
        .collect()
}

/// The `.recur` bytes of `desc` with weights from `seed`.
pub fn file_bytes(desc: ModelDesc, seed: u64) -> Vec<u8> {
    let w = weights(&desc, seed);
    let packed = PackedModel::pack(desc, &w).expect("pack");
    recur_format::write_bytes(&packed, &Default::default()).expect("write")
}

/// Writes `desc` with weights from `seed` to `path`.
pub fn write(path: &std::path::Path, desc: ModelDesc, seed: u64) {
    let w = weights(&desc, seed);
    let packed = PackedModel::pack(desc, &w).expect("pack");
    recur_format::write_file(path, &packed, &Default::default()).expect("write");
}

/// A model whose step costs tens of nanoseconds: the boundary's cost stands out.
pub fn tiny() -> ModelDesc {
    ModelDesc { layers: vec![rec(CellKind::Gru, 4, 16), dense(16, 2, DenseAct::None)] }
}
