//! Cross-architecture identity: a fixed set of models, run on fixed inputs, must give the
//! same bits on every kernel set of every CPU — scalar, portable, AVX2 and AVX-512 on
//! x86-64, scalar, portable and NEON on aarch64 (run under qemu by `.ci/aarch64.sh`).
//!
//! The property tests (`isa_identity.rs`) compare each kernel set with the scalar path
//! *of the same machine*; they cannot see a difference that the scalar path shares, such
//! as a libm `fmaf` that is not correctly rounded on one target, or a compiler that
//! contracts a multiply and an add into an FMA on one architecture only. This test pins
//! the bits themselves: for each model it hashes (xxh3-64 over the little-endian `f32`
//! bits, every NaN made canonical) the outputs of `run` over the frames, the final state,
//! and for forward-only models the outputs and final state of frame-by-frame `step`, and
//! compares them with `tests/data/golden_hashes.txt`, which was written on one machine and
//! must hold on all of them.
//!
//! Each line also carries the hash of the model's packed weights and inputs, so that a
//! change to the test-data generators (`common::reference::random_weights` /
//! `random_inputs`) is reported as such and not as a kernel bug.
//!
//! After an intended change of the numerics (a new activation approximation, a different
//! accumulation order), regenerate the file with
//! `RECUR_BLESS=1 cargo test -p recur --release --test golden_hashes` and commit it; bless
//! still insists that every kernel set of the blessing machine agrees.

mod common;

use common::gen::{isas, rec};
use common::reference::{random_inputs, random_state, random_weights, state_slots};
use recur::{Isa, Model};
use recur_format::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use xxhash_rust::xxh3::Xxh3;

const FRAMES: usize = 20;
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden_hashes.txt");

/// One golden case.
struct Case {
    name: &'static str,
    /// The model; layers with a dtype other than f32 are packed in f32 and converted.
    desc: ModelDesc,
    /// Start from a random initial state (set through `set_state`) instead of zeros.
    initial: bool,
}

fn dense(i: usize, o: usize, activation: DenseAct) -> LayerDesc {
    LayerDesc::Dense(DenseDesc { input_size: i, output_size: o, activation, dtype: DType::F32 })
}

fn case(name: &'static str, initial: bool, layers: Vec<LayerDesc>) -> Case {
    Case { name, desc: ModelDesc { layers }, initial }
}

/// Every cell kind, option and direction, dense heads with every activation, and sizes
/// that exercise the tails of every tile (1, 17, 33, 70) as well as the widest tiles
/// (130 hidden units = 9 blocks: one AVX-512 RNN tile of 8 and a rest).
fn cases() -> Vec<Case> {
    let mut out = f32_cases();
    // Reduced precision: the same models with every layer in f16, bf16, int8 w8, int8 w8a8
    // (names are leaked once per test run; the list is small and fixed).
    for name in [
        "lstm_peep_clip_i33_h70",
        "bilstm_gru_softmax",
        "gru_rnn_logsoftmax",
        "gru_lbr0_i70_h17",
        "rnn_h130_dense_relu_tanh",
    ] {
        for (dtype, tag) in [(DType::F16, "f16"), (DType::BF16, "bf16"), (DType::I8, "w8"), (DType::I8A8, "w8a8")] {
            let Some(base) = out.iter().find(|c| c.name == name) else { continue };
            let mut desc = base.desc.clone();
            for l in &mut desc.layers {
                l.set_dtype(dtype);
            }
            let name: &'static str = Box::leak(format!("{name}_{tag}").into_boxed_str());
            out.push(Case { name, desc, initial: base.initial });
        }
    }
    out
}

/// The f32 cases.
fn f32_cases() -> Vec<Case> {
    use CellKind::{Gru, Lstm, Rnn};
    use Direction::{Bidirectional, Reverse};
    let act = Activation::new;
    vec![
        case("rnn_tanh_i17_h33", false, vec![rec(Rnn, 17, 33, |_| {})]),
        case(
            "rnn_relu_clip_rev_i5_h70",
            true,
            vec![rec(Rnn, 5, 70, |r| {
                r.direction = Reverse;
                r.clip = Some(2.0);
                r.activations = [[act(ActKind::Relu); 3]; 2];
            })],
        ),
        case(
            "rnn_h130_dense_relu_tanh",
            false,
            vec![rec(Rnn, 33, 130, |_| {}), dense(130, 70, DenseAct::Relu), dense(70, 17, DenseAct::Tanh)],
        ),
        case("lstm_i1_h17", false, vec![rec(Lstm, 1, 17, |_| {})]),
        case(
            "lstm_peep_clip_i33_h70",
            true,
            vec![rec(Lstm, 33, 70, |r| {
                r.peepholes = true;
                r.clip = Some(1.5);
            })],
        ),
        case(
            "lstm_if_peep_bidir_i17_h33",
            true,
            vec![rec(Lstm, 17, 33, |r| {
                r.direction = Bidirectional;
                r.input_forget = true;
                r.peepholes = true;
            })],
        ),
        case(
            "lstm_odd_acts_i70_h1",
            false,
            vec![rec(Lstm, 70, 1, |r| {
                r.activations[0] = [
                    Activation::with_params(ActKind::HardSigmoid, 0.2, 0.5),
                    Activation::with_params(ActKind::Elu, 0.8, 0.0),
                    act(ActKind::Softsign),
                ];
            })],
        ),
        case("gru_lbr0_i70_h17", true, vec![rec(Gru, 70, 17, |_| {})]),
        case(
            "gru_lbr1_clip_i17_h70",
            false,
            vec![rec(Gru, 17, 70, |r| {
                r.linear_before_reset = true;
                r.clip = Some(3.0);
            })],
        ),
        case("gru_lbr0_rev_i33_h1", true, vec![rec(Gru, 33, 1, |r| r.direction = Reverse)]),
        case(
            "gru_lbr1_bidir_softplus_i1_h33",
            false,
            vec![rec(Gru, 1, 33, |r| {
                r.direction = Bidirectional;
                r.linear_before_reset = true;
                r.activations[1] =
                    [act(ActKind::Sigmoid), Activation::with_params(ActKind::ScaledTanh, 0.9, 1.3), act(ActKind::Tanh)];
            })],
        ),
        case(
            "bilstm_gru_softmax",
            true,
            vec![
                rec(Lstm, 17, 33, |r| r.direction = Bidirectional),
                rec(Gru, 66, 17, |_| {}),
                dense(17, 70, DenseAct::Softmax),
            ],
        ),
        case(
            "gru_rnn_logsoftmax",
            false,
            vec![
                rec(Gru, 33, 70, |r| r.linear_before_reset = true),
                rec(Rnn, 70, 17, |r| r.activations = [[Activation::with_params(ActKind::LeakyRelu, 0.1, 0.0); 3]; 2]),
                dense(17, 33, DenseAct::LogSoftmax),
            ],
        ),
        case(
            "lstm_dense_sigmoid_none",
            false,
            vec![
                rec(Lstm, 17, 16, |r| r.peepholes = true),
                dense(16, 1, DenseAct::Sigmoid),
                dense(1, 17, DenseAct::None),
            ],
        ),
    ]
}

/// Hashes `f32`s as their little-endian bits, every NaN canonical (the contract leaves
/// NaN payloads unspecified).
fn hash_f32(v: &[f32]) -> u64 {
    let mut h = Xxh3::new();
    for &x in v {
        let b = if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() };
        h.update(&b.to_le_bytes());
    }
    h.digest()
}

/// The final h (and c) of every slot, in slot order.
fn final_state(m: &Model, st: &recur::State, desc: &ModelDesc) -> Vec<f32> {
    let mut out = Vec::new();
    for (layer, dir, _, lstm) in state_slots(desc) {
        out.extend(m.get_state(st, layer, dir, false).unwrap());
        if lstm {
            out.extend(m.get_state(st, layer, dir, true).unwrap());
        }
    }
    out
}

/// The hashes of one case on one kernel set, as the text of a golden line (without the name).
fn hashes(c: &Case, isa: Isa) -> String {
    let seed = c.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let weights = random_weights(&c.desc, seed, 1.0);
    let mut f32_desc = c.desc.clone();
    for l in &mut f32_desc.layers {
        l.set_dtype(DType::F32);
    }
    let dtypes: Vec<DType> = c.desc.layers.iter().map(|l| l.dtype()).collect();
    let packed = PackedModel::pack(f32_desc, &weights).unwrap().to_dtypes(&dtypes).unwrap();
    let xs = random_inputs(FRAMES * c.desc.input_size(), seed, 2.0);
    // The logical weights (not the packed bytes: a change of the packed layout is not a
    // change of the test data) and the inputs.
    let mut data = Xxh3::new();
    for w in &weights {
        let parts: Vec<&[f32]> = match w {
            LayerWeights::Recurrent { w, r, b, p } => {
                vec![w, r, b.as_deref().unwrap_or(&[]), p.as_deref().unwrap_or(&[])]
            }
            LayerWeights::Dense { w, b } => vec![w, b.as_deref().unwrap_or(&[])],
        };
        for p in parts {
            data.update(&hash_f32(p).to_le_bytes());
        }
    }
    data.update(&hash_f32(&xs).to_le_bytes());

    let m = Model::from_packed_with_isa(&packed, isa).unwrap();
    let init = c.initial.then(|| random_state(&c.desc, seed, 0.5));
    let fresh = || {
        let mut st = m.new_state();
        if let Some(init) = &init {
            for (i, (layer, dir, _, lstm)) in state_slots(&c.desc).into_iter().enumerate() {
                let h: Vec<f32> = init.h[i].iter().map(|&v| v as f32).collect();
                m.set_state(&mut st, layer, dir, false, &h).unwrap();
                if lstm {
                    let cc: Vec<f32> = init.c[i].iter().map(|&v| v as f32).collect();
                    m.set_state(&mut st, layer, dir, true, &cc).unwrap();
                }
            }
        }
        st
    };
    let (i, o) = (m.input_size(), m.output_size());

    let mut st = fresh();
    let mut ys = vec![0.0; FRAMES * o];
    m.run(&mut st, &xs, &mut ys).unwrap();
    let run = (hash_f32(&ys), hash_f32(&final_state(&m, &st, &c.desc)));

    let step = m.is_streamable().then(|| {
        let mut st = fresh();
        let mut ys = vec![0.0; FRAMES * o];
        for t in 0..FRAMES {
            m.step(&mut st, &xs[t * i..][..i], &mut ys[t * o..][..o]).unwrap();
        }
        (hash_f32(&ys), hash_f32(&final_state(&m, &st, &c.desc)))
    });
    let step = step.map_or_else(|| "- -".to_string(), |(y, s)| format!("{y:016x} {s:016x}"));
    format!("data={:016x} run={:016x} {:016x} step={step}", data.digest(), run.0, run.1)
}

fn parse_golden(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(n, rest)| (n.to_string(), rest.trim().to_string())))
        .collect()
}

#[test]
fn golden_hashes_on_every_kernel_set() {
    let bless = std::env::var("RECUR_BLESS").is_ok_and(|v| v == "1");
    let golden = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    let want = parse_golden(&golden);
    let sets = isas();
    println!("kernel sets: {}", sets.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "));

    let mut failures = Vec::new();
    let mut blessed = String::new();
    let cases = cases();
    let n = cases.len();
    for c in cases {
        // Every kernel set of this machine first agrees with the scalar path...
        let reference = hashes(&c, Isa::Scalar);
        for &isa in &sets {
            let got = if isa == Isa::Scalar { reference.clone() } else { hashes(&c, isa) };
            if got != reference {
                failures.push(format!("{}: {isa} gives `{got}`, scalar `{reference}`", c.name));
            }
        }
        // ...and the scalar path agrees with the golden bits written on another machine.
        match want.get(c.name) {
            _ if bless => {}
            None => failures.push(format!("{}: no golden line (run with RECUR_BLESS=1)", c.name)),
            Some(w) if *w != reference => {
                let data_changed = w.split(' ').next() != reference.split(' ').next();
                let why = if data_changed {
                    "the test data (weights or inputs) changed, not necessarily the kernels"
                } else {
                    "same weights and inputs, different output bits"
                };
                failures.push(format!("{}: golden `{w}`, {} gives `{reference}` ({why})", c.name, Isa::Scalar));
            }
            Some(_) => {}
        }
        writeln!(blessed, "{} {reference}", c.name).unwrap();
    }
    assert!(failures.is_empty(), "golden hash mismatches:\n{}", failures.join("\n"));
    if bless {
        let header = "# Golden output hashes (engine/tests/golden_hashes.rs): one line per model,\n\
                      # `name data=<weights+inputs> run=<outputs> <final state> step=<outputs> <final state>`,\n\
                      # xxh3-64 over little-endian f32 bits, NaN canonical. Identical on every kernel set of\n\
                      # every architecture. Regenerate: RECUR_BLESS=1 cargo test -p recur --release --test golden_hashes\n";
        std::fs::write(GOLDEN, format!("{header}{blessed}")).unwrap();
        println!("wrote {GOLDEN}");
    } else {
        println!("{n} models identical to the golden hashes on {} kernel sets", sets.len());
    }
}
