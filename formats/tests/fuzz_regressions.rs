//! Replays the fuzz corpora on stable, without cargo-fuzz: every seed in
//! `fuzz/corpus/<target>/` and every crash ever found in `fuzz/artifacts/<target>/` (see
//! `fuzz/REGRESSIONS.md`) goes through the reader halves of the fuzz targets, which this
//! test includes by path so that it runs exactly the fuzzers' checks:
//!
//! * `recur_file`: parsing with and without checksums, the agreement between the two, and
//!   the write-back round trip (`fuzz/src/file.rs`);
//! * `onnx_import` (feature `onnx`): importing, writing and re-reading (`fuzz/src/onnx.rs`).
//!
//! The engine halves (loading and running what was read) cannot run here, because the
//! engine depends on this crate; `engine/tests/fuzz_replay.rs` and `cli/tests/fuzz_replay.rs`
//! replay the whole targets.
//!
//! The ignored test `write_seed_corpus` regenerates the valid `.recur` seeds:
//! `cargo test -p recur-format --test fuzz_regressions -- --ignored write_seed_corpus`.

#[path = "../../fuzz/src/file.rs"]
mod file;
#[cfg(feature = "onnx")]
#[allow(dead_code)]
#[path = "../../fuzz/src/onnx.rs"]
mod onnx;

#[path = "../../fuzz/src/replay.rs"]
mod replay;

use recur_format::file::ParseOptions;
use recur_format::*;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn recur_file_reader_replay() {
    let (n, parsed) = replay::replay(&fuzz_dir(), "recur_file", |data| file::parse(data).is_some());
    assert!(parsed >= seeds().len(), "{parsed} of {n} recur_file inputs parse; run write_seed_corpus");
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_import_reader_replay() {
    let (n, imported) = replay::replay(&fuzz_dir(), "onnx_import", |data| onnx::import(data).is_some());
    assert!(n > 0 && imported > 0, "{imported} of {n} onnx_import inputs import");
}

/// The ONNX seeds taken from `fixtures/onnx` import: a corpus of refusals would keep the
/// fuzzer out of the importer's later passes. Seeds named `invalid_*` are the conformance
/// suite's invalid models and `refused_*` ones are refused today (external data with no
/// folder, sizes or heads the importer does not take); they may import some day.
#[cfg(feature = "onnx")]
#[test]
fn onnx_seeds_import() {
    let dir = fuzz_dir().join("corpus/onnx_import");
    for path in replay::inputs(&fuzz_dir(), "onnx_import").into_iter().filter(|p| p.starts_with(&dir)) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("invalid_") || name.starts_with("refused_")) {
            assert!(onnx::import(&std::fs::read(&path).unwrap()).is_some(), "{name} does not import");
        }
    }
}

/// The committed valid seeds still parse, checksums verified, and are what the generator
/// writes today: a format change that invalidates them must regenerate them, or the
/// fuzzer would start from garbage without anyone noticing.
#[test]
fn valid_seeds_are_current() {
    for (name, bytes) in seeds() {
        let path = fuzz_dir().join("corpus/recur_file").join(&name);
        let committed =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run write_seed_corpus", path.display()));
        parse(&committed, ParseOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(committed == bytes, "{name} differs from what write_seed_corpus writes; regenerate the seeds");
    }
}

/// Writes the valid `.recur` seeds into `fuzz/corpus/recur_file/`.
#[test]
#[ignore = "regenerates committed files"]
fn write_seed_corpus() {
    let dir = fuzz_dir().join("corpus/recur_file");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds() {
        assert!(bytes.len() < 20 << 10, "{name} is {} bytes; seeds stay under 20 KB", bytes.len());
        std::fs::write(dir.join(&name), bytes).unwrap();
    }
}

// ---- the seeds ----

/// A deterministic generator (xorshift64*), enough for weights.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-0.5, 0.5): small enough that a few layers neither saturate nor blow up.
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 56) as u8).collect()
    }
}

fn rec(cell: CellKind, input: usize, hidden: usize, edit: impl FnOnce(&mut RecurrentDesc)) -> LayerDesc {
    let mut r = RecurrentDesc::new(cell, input, hidden);
    edit(&mut r);
    LayerDesc::Recurrent(r)
}

fn dense(input: usize, output: usize, activation: DenseAct, dtype: DType) -> LayerDesc {
    LayerDesc::Dense(DenseDesc { input_size: input, output_size: output, activation, dtype })
}

/// A packed model: f32 layers from random logical weights (every optional input given),
/// other dtypes from random bytes of the right size (there is no quantizer to call here,
/// and the reader only checks their placement).
fn packed(layers: Vec<LayerDesc>, seed: u64) -> PackedModel {
    let desc = ModelDesc { layers };
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let is_f32 = desc.layers.iter().all(|l| match l {
        LayerDesc::Recurrent(r) => r.dtype == DType::F32,
        LayerDesc::Dense(d) => d.dtype == DType::F32,
    });
    if !is_f32 {
        let tensors = desc
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| expected_tensors(i, l))
            .map(|spec| PackedTensor { spec, bytes: rng.bytes(spec.bytes()) })
            .collect();
        return PackedModel { desc, tensors };
    }
    let weights: Vec<LayerWeights> = desc
        .layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                let (g, h, i, d) = (r.cell.gates(), r.hidden_size, r.input_size, r.direction.count());
                LayerWeights::Recurrent {
                    w: rng.f32s(d * g * h * i),
                    r: rng.f32s(d * g * h * h),
                    b: Some(rng.f32s(d * 2 * g * h)),
                    p: r.peepholes.then(|| rng.f32s(d * 3 * h)),
                }
            }
            LayerDesc::Dense(dn) => {
                LayerWeights::Dense { w: rng.f32s(dn.output_size * dn.input_size), b: Some(rng.f32s(dn.output_size)) }
            }
        })
        .collect();
    PackedModel::pack(desc, &weights).expect("seed model packs")
}

/// The interface a stateful streaming export has: `x` `[T, B, F]` in, `y` out, and, when
/// `state` is set, the first layer's `h` (and `c` for an LSTM) in and out.
fn iface(desc: &ModelDesc, state: bool) -> GraphInterface {
    let x = IoBinding {
        name: "x".into(),
        role: IoRole::Sequence(SeqLayout::TimeBatchFeature),
        dims: vec![Dim::Symbolic("time".into()), Dim::Fixed(1), Dim::Fixed(desc.input_size() as u64)],
    };
    let y = IoBinding {
        name: "y".into(),
        role: IoRole::Output(SeqLayout::TimeBatchFeature),
        dims: vec![Dim::Symbolic("time".into()), Dim::Fixed(1), Dim::Fixed(desc.output_size() as u64)],
    };
    let mut g = GraphInterface { inputs: vec![x], outputs: vec![y], ..GraphInterface::default() };
    let Some(LayerDesc::Recurrent(r)) = desc.layers.first().filter(|_| state) else { return g };
    let slots: Vec<StateSlot> = (0..r.direction.count() as u8).map(|dir| StateSlot { layer: 0, dir }).collect();
    let kinds: &[StateKind] = if r.cell == CellKind::Lstm { &[StateKind::H, StateKind::C] } else { &[StateKind::H] };
    for &kind in kinds {
        let n = if kind == StateKind::H { "h" } else { "c" };
        let dims =
            vec![Dim::Fixed(slots.len() as u64), Dim::Symbolic("batch".into()), Dim::Fixed(r.hidden_size as u64)];
        let layout = StateLayout::SlotBatchHidden;
        g.inputs.push(IoBinding {
            name: format!("{n}0"),
            role: IoRole::InitialState { kind, slots: slots.clone(), layout },
            dims: dims.clone(),
        });
        g.outputs.push(IoBinding {
            name: format!("{n}n"),
            role: IoRole::FinalState { kind, slots: slots.clone(), layout },
            dims,
        });
    }
    g
}

/// Small models covering every cell kind, direction, flag, activation kind, dense
/// activation and dtype, state bindings and interface constants; each well under 20 KB.
fn seeds() -> Vec<(String, Vec<u8>)> {
    use ActKind::*;
    let act = |k, a, b| Activation::with_params(k, a, b);
    let models: Vec<(&str, Vec<LayerDesc>, bool)> = vec![
        ("rnn_tanh", vec![rec(CellKind::Rnn, 3, 5, |_| {})], true),
        (
            "rnn_relu_reverse",
            vec![rec(CellKind::Rnn, 4, 6, |r| {
                r.direction = Direction::Reverse;
                r.activations = [[Activation::new(Relu); 3]; 2];
            })],
            false,
        ),
        (
            "rnn_bidirectional_odd_acts",
            vec![rec(CellKind::Rnn, 2, 3, |r| {
                r.direction = Direction::Bidirectional;
                r.activations[0][0] = act(LeakyRelu, 0.1, 0.0);
                r.activations[1][0] = act(ThresholdedRelu, 0.25, 0.0);
            })],
            true,
        ),
        ("lstm", vec![rec(CellKind::Lstm, 3, 4, |_| {})], true),
        (
            "lstm_peepholes_clip_input_forget",
            vec![rec(CellKind::Lstm, 2, 5, |r| {
                r.peepholes = true;
                r.clip = Some(2.5);
                r.input_forget = true;
            })],
            true,
        ),
        (
            "lstm_bidirectional_acts",
            vec![rec(CellKind::Lstm, 3, 3, |r| {
                r.direction = Direction::Bidirectional;
                r.activations[0] = [act(HardSigmoid, 0.2, 0.5), act(ScaledTanh, 0.5, 2.0), act(Softsign, 0.0, 0.0)];
                r.activations[1] = [act(Sigmoid, 0.0, 0.0), act(Elu, 1.0, 0.0), act(Softplus, 0.0, 0.0)];
            })],
            false,
        ),
        ("gru", vec![rec(CellKind::Gru, 3, 4, |_| {})], true),
        (
            "gru_lbr_affine_dense_softmax",
            vec![
                rec(CellKind::Gru, 4, 5, |r| {
                    r.linear_before_reset = true;
                    r.activations[0][1] = act(Affine, 0.5, 0.1);
                }),
                dense(5, 3, DenseAct::Softmax, DType::F32),
            ],
            true,
        ),
        ("gru_reverse", vec![rec(CellKind::Gru, 2, 3, |r| r.direction = Direction::Reverse)], false),
        (
            // 17 hidden units cross a 16-row panel boundary.
            "lstm_h17",
            vec![rec(CellKind::Lstm, 5, 17, |_| {})],
            false,
        ),
        (
            "stack_gru_lstm_rnn_dense",
            vec![
                rec(CellKind::Gru, 3, 4, |_| {}),
                rec(CellKind::Lstm, 4, 4, |_| {}),
                rec(CellKind::Rnn, 4, 3, |r| r.clip = Some(1.0)),
                dense(3, 2, DenseAct::LogSoftmax, DType::F32),
            ],
            true,
        ),
        (
            "dense_only_acts",
            vec![
                dense(3, 4, DenseAct::Relu, DType::F32),
                dense(4, 4, DenseAct::Tanh, DType::F32),
                dense(4, 2, DenseAct::Sigmoid, DType::F32),
                dense(2, 2, DenseAct::None, DType::F32),
            ],
            false,
        ),
        (
            "quantized_i8_lstm_f16_dense",
            vec![
                rec(CellKind::Lstm, 3, 4, |r| {
                    r.dtype = DType::I8;
                    r.peepholes = true;
                }),
                dense(4, 3, DenseAct::Softmax, DType::F16),
            ],
            true,
        ),
        (
            "bf16_gru_bidirectional",
            vec![rec(CellKind::Gru, 3, 3, |r| {
                r.dtype = DType::BF16;
                r.direction = Direction::Bidirectional;
            })],
            true,
        ),
    ];
    let mut seeds: Vec<(String, Vec<u8>)> = models
        .into_iter()
        .enumerate()
        .map(|(i, (name, layers, state))| {
            let model = packed(layers, i as u64 + 1);
            let bytes = write_bytes(&model, &iface(&model.desc, state)).expect("seed model writes");
            (format!("valid_{name}.recur"), bytes)
        })
        .collect();
    let model = packed(
        vec![
            rec(CellKind::Lstm, 3, 5, |r| r.direction = Direction::Bidirectional),
            rec(CellKind::Gru, 10, 5, |_| {}),
            dense(5, 3, DenseAct::Softmax, DType::F32),
        ],
        100,
    );
    let bytes = write_bytes(&model, &const_iface()).expect("seed model writes");
    seeds.push(("valid_constants_final_head.recur".into(), bytes));
    seeds
}

/// The interface features beyond plain bindings, for a bidirectional LSTM, a GRU and a
/// dense head: constant `sequence_lens` and initial states (`[S, B, H]` and `[B, H]`), a
/// flattened `[B*T, F]` output and a head on the final state.
fn const_iface() -> GraphInterface {
    let slot = |layer, dir| StateSlot { layer, dir };
    let mut rng = Rng(11);
    GraphInterface {
        inputs: vec![
            IoBinding {
                name: "x".into(),
                role: IoRole::Sequence(SeqLayout::TimeBatchFeature),
                dims: vec![Dim::Symbolic("seq".into()), Dim::Fixed(2), Dim::Fixed(3)],
            },
            IoBinding {
                name: "h1".into(),
                role: IoRole::InitialState {
                    kind: StateKind::H,
                    slots: vec![slot(1, 0)],
                    layout: StateLayout::BatchHidden,
                },
                dims: vec![Dim::Fixed(2), Dim::Fixed(5)],
            },
        ],
        outputs: vec![
            IoBinding { name: "y".into(), role: IoRole::Output(SeqLayout::BatchTimeFlat), dims: vec![] },
            IoBinding {
                name: "head".into(),
                role: IoRole::FinalOutput(FinalLayout::BatchFeature),
                dims: vec![Dim::Fixed(2), Dim::Fixed(3)],
            },
        ],
        constants: vec![
            ConstInput {
                name: "lens".into(),
                role: IoRole::SequenceLens,
                shape: vec![2],
                values: ConstValues::Lengths(vec![3, 1]),
            },
            ConstInput {
                name: "h0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::H,
                    slots: vec![slot(0, 0), slot(0, 1)],
                    layout: StateLayout::SlotBatchHidden,
                },
                shape: vec![2, 2, 5],
                values: ConstValues::F32(rng.f32s(20)),
            },
            ConstInput {
                name: "c0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::C,
                    slots: vec![slot(0, 1)],
                    layout: StateLayout::BatchHidden,
                },
                shape: vec![2, 5],
                values: ConstValues::F32(rng.f32s(10)),
            },
        ],
    }
}
