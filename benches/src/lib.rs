//! The canonical workloads of recur's benchmarks, shared by the criterion benches and
//! `recur bench`'s documentation, plus the bound model used to judge them.
//!
//! | id | model | mode |
//! |---|---|---|
//! | W1 | GRU in=40 H=128 + dense 128→12 | batch-1 step |
//! | W2 | LSTM 2 layers in=80 H=512 | batch-1 step |
//! | W3 | LSTM in=1024 H=1024 | batch-1 step |
//! | W4 | GRU in=256 H=256 | 1000-frame `run` |

use recur_format::*;

/// A named workload.
pub struct Workload {
    /// Short id (`W1`...).
    pub id: &'static str,
    /// Shape, for bench ids.
    pub shape: &'static str,
    /// The model.
    pub desc: ModelDesc,
    /// Frames per measured call (1 for step workloads).
    pub frames: usize,
}

fn rec(cell: CellKind, i: usize, h: usize) -> LayerDesc {
    LayerDesc::Recurrent(RecurrentDesc::new(cell, i, h))
}

/// The four canonical workloads.
pub fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            id: "W1",
            shape: "gru_i40_h128_dense12",
            desc: ModelDesc {
                layers: vec![
                    rec(CellKind::Gru, 40, 128),
                    LayerDesc::Dense(DenseDesc {
                        input_size: 128,
                        output_size: 12,
                        activation: DenseAct::None,
                        dtype: DType::F32,
                    }),
                ],
            },
            frames: 1,
        },
        Workload {
            id: "W2",
            shape: "lstm2_i80_h512",
            desc: ModelDesc { layers: vec![rec(CellKind::Lstm, 80, 512), rec(CellKind::Lstm, 512, 512)] },
            frames: 1,
        },
        Workload {
            id: "W3",
            shape: "lstm_i1024_h1024",
            desc: ModelDesc { layers: vec![rec(CellKind::Lstm, 1024, 1024)] },
            frames: 1,
        },
        Workload {
            id: "W4",
            shape: "gru_i256_h256_t1000",
            desc: ModelDesc { layers: vec![rec(CellKind::Gru, 256, 256)] },
            frames: 1000,
        },
    ]
}

/// Deterministic weights in `[-s, s]`, `s = 1/sqrt(fan_in)` (xorshift; no extra crate).
pub fn weights(desc: &ModelDesc, seed: u64) -> Vec<LayerWeights> {
    let mut x = seed | 1;
    let mut next = move |scale: f32| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    desc.layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                let (g, h, i, d) = (r.cell.gates(), r.hidden_size, r.input_size, r.direction.count());
                let sw = 1.0 / (i as f32).sqrt();
                let sh = 1.0 / (h as f32).sqrt();
                LayerWeights::Recurrent {
                    w: (0..d * g * h * i).map(|_| next(sw)).collect(),
                    r: (0..d * g * h * h).map(|_| next(sh)).collect(),
                    b: Some((0..d * 2 * g * h).map(|_| next(sh)).collect()),
                    p: r.peepholes.then(|| (0..d * 3 * h).map(|_| next(sh)).collect()),
                }
            }
            LayerDesc::Dense(dn) => {
                let s = 1.0 / (dn.input_size as f32).sqrt();
                LayerWeights::Dense {
                    w: (0..dn.input_size * dn.output_size).map(|_| next(s)).collect(),
                    b: Some((0..dn.output_size).map(|_| next(s)).collect()),
                }
            }
        })
        .collect()
}

/// Multiply-adds per frame (one per weight: `W x` and `R h` of every gate, dense `W x`).
pub fn macs_per_frame(desc: &ModelDesc) -> u64 {
    desc.layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                (r.direction.count() * r.cell.gates() * r.hidden_size * (r.input_size + r.hidden_size)) as u64
            }
            LayerDesc::Dense(d) => (d.input_size * d.output_size) as u64,
        })
        .sum()
}

/// The weight dtypes the benches compare, f32 first.
pub const DTYPES: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8];

/// A dtype's name in bench ids: `f32`, `f16`, `bf16`, `int8-w8`, `int8-w8a8`.
pub fn dtype_label(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::I8 => "int8-w8",
        DType::I8A8 => "int8-w8a8",
    }
}
