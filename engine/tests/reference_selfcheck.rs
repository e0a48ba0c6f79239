//! Validates the f64 reference (`common/reference.rs`) against onnxruntime.
//!
//! `tests/data/reference_cases.json` is made by `tools/reference_check.py`: small ONNX RNN,
//! LSTM, GRU, dense and chained models covering every cell kind, option, activation (with
//! alpha/beta), direction, sequence length and initial state, with onnxruntime's outputs. This
//! test needs no Python: it reads the JSON, runs the reference and compares.

mod common;

use common::reference::*;
use recur_format::*;
use serde_json::Value;

/// Largest accepted difference from onnxruntime (which computes in f32 with its own tanh and
/// sigmoid approximations).
const TOL: f64 = 1e-5;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference_cases.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).expect("reference_cases.json is valid JSON")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("expected a number, got {v}"))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap_or_else(|| panic!("expected an array, got {v}")).iter().map(num).collect()
}

/// Values that onnxruntime read as f32 (weights, inputs, initial states).
fn f32s(v: &Value) -> Vec<f32> {
    f64s(v).into_iter().map(|x| x as f32).collect()
}

fn f32s_as_f64(v: &Value) -> Vec<f64> {
    f32s(v).into_iter().map(f64::from).collect()
}

fn opt<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn usize_of(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("missing {key}")) as usize
}

fn parse_rec_desc(d: &Value) -> RecurrentDesc {
    let cell = match d["cell"].as_str().unwrap() {
        "RNN" => CellKind::Rnn,
        "LSTM" => CellKind::Lstm,
        "GRU" => CellKind::Gru,
        other => panic!("unknown cell {other}"),
    };
    let mut r = RecurrentDesc::new(cell, usize_of(d, "input_size"), usize_of(d, "hidden_size"));
    r.direction = Direction::parse(d["direction"].as_str().unwrap()).expect("direction");
    let acts = d["activations"].as_array().unwrap();
    assert_eq!(acts.len(), r.direction.count());
    for (di, list) in acts.iter().enumerate() {
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), cell.activation_count());
        for (k, a) in list.iter().enumerate() {
            let kind = ActKind::parse(a[0].as_str().unwrap()).expect("activation name");
            r.activations[di][k] = Activation::with_params(kind, num(&a[1]) as f32, num(&a[2]) as f32);
        }
    }
    if r.direction.count() == 1 {
        r.activations[1] = r.activations[0];
    }
    r.clip = opt(d, "clip").map(|c| num(c) as f32);
    r.input_forget = d["input_forget"].as_bool().unwrap();
    r.peepholes = d["peepholes"].as_bool().unwrap();
    r.linear_before_reset = d["linear_before_reset"].as_bool().unwrap();
    r
}

fn parse_dense_desc(d: &Value) -> DenseDesc {
    let activation = match d["activation"].as_str().unwrap() {
        "None" => DenseAct::None,
        "Relu" => DenseAct::Relu,
        "Tanh" => DenseAct::Tanh,
        "Sigmoid" => DenseAct::Sigmoid,
        "Softmax" => DenseAct::Softmax,
        "LogSoftmax" => DenseAct::LogSoftmax,
        other => panic!("unknown dense activation {other}"),
    };
    DenseDesc {
        input_size: usize_of(d, "input_size"),
        output_size: usize_of(d, "output_size"),
        activation,
        dtype: DType::F32,
    }
}

fn rec_weights(c: &Value) -> LayerWeights {
    LayerWeights::Recurrent { w: f32s(&c["w"]), r: f32s(&c["r"]), b: opt(c, "b").map(f32s), p: opt(c, "p").map(f32s) }
}

fn dense_weights(c: &Value) -> LayerWeights {
    LayerWeights::Dense { w: f32s(&c["w"]), b: opt(c, "b").map(f32s) }
}

/// Expected (ONNX-layout) outputs of a layer case, split per batch entry.
struct LayerCase {
    desc: RecurrentDesc,
    weights: LayerWeights,
    t: usize,
    batch: usize,
    x: Vec<f64>,
    seq_lens: Vec<usize>,
    h0: Option<Vec<f64>>,
    c0: Option<Vec<f64>>,
    y: Vec<f64>,
    y_h: Vec<f64>,
    y_c: Option<Vec<f64>>,
}

fn parse_layer_case(c: &Value) -> LayerCase {
    let desc = parse_rec_desc(&c["desc"]);
    let t = usize_of(c, "t");
    let batch = usize_of(c, "batch");
    let seq_lens = opt(c, "seq_lens")
        .map(|v| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect())
        .unwrap_or_else(|| vec![t; batch]);
    LayerCase {
        weights: rec_weights(c),
        t,
        batch,
        x: f32s_as_f64(&c["x"]),
        seq_lens,
        h0: opt(c, "h0").map(f32s_as_f64),
        c0: opt(c, "c0").map(f32s_as_f64),
        y: f64s(&c["y"]),
        y_h: f64s(&c["y_h"]),
        y_c: opt(c, "y_c").map(f64s),
        desc,
    }
}

/// Runs the reference on every batch entry of a layer case; returns the largest error on
/// (Y, Y_h, Y_c).
fn check_layer_case(lc: &LayerCase) -> (f64, f64, f64) {
    let (t, bs) = (lc.t, lc.batch);
    let (is, hs, dirs) = (lc.desc.input_size, lc.desc.hidden_size, lc.desc.direction.count());
    let per_batch = |v: &[f64], b: usize| -> Vec<f64> {
        (0..dirs).flat_map(|d| v[(d * bs + b) * hs..(d * bs + b + 1) * hs].iter().copied()).collect()
    };
    let (mut ey, mut eh, mut ec) = (0.0f64, 0.0f64, 0.0f64);
    for b in 0..bs {
        let xb: Vec<f64> =
            (0..t).flat_map(|tt| lc.x[(tt * bs + b) * is..(tt * bs + b + 1) * is].iter().copied()).collect();
        let h0 = lc.h0.as_ref().map(|v| per_batch(v, b));
        let c0 = lc.c0.as_ref().map(|v| per_batch(v, b));
        let (y, h_n, c_n) =
            reference_layer(&lc.desc, &lc.weights, &xb, t, lc.seq_lens[b], h0.as_deref(), c0.as_deref());
        let want_y: Vec<f64> = (0..t)
            .flat_map(|tt| (0..dirs).flat_map(move |d| (0..hs).map(move |u| ((tt * dirs + d) * bs + b) * hs + u)))
            .map(|i| lc.y[i])
            .collect();
        ey = ey.max(max_abs_diff(&y, &want_y));
        eh = eh.max(max_abs_diff(&h_n, &per_batch(&lc.y_h, b)));
        match &lc.y_c {
            Some(yc) => ec = ec.max(max_abs_diff(&c_n, &per_batch(yc, b))),
            None => assert!(c_n.is_empty()),
        }
    }
    (ey, eh, ec)
}

fn parse_model_case(c: &Value) -> (ModelDesc, Vec<LayerWeights>) {
    let mut layers = Vec::new();
    let mut weights = Vec::new();
    for l in c["layers"].as_array().unwrap() {
        match l["type"].as_str().unwrap() {
            "recurrent" => {
                layers.push(LayerDesc::Recurrent(parse_rec_desc(&l["desc"])));
                weights.push(rec_weights(l));
            }
            "dense" => {
                layers.push(LayerDesc::Dense(parse_dense_desc(&l["desc"])));
                weights.push(dense_weights(l));
            }
            other => panic!("unknown layer type {other}"),
        }
    }
    let desc = ModelDesc { layers };
    desc.validate().expect("model case description is valid");
    (desc, weights)
}

fn slots(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(f32s_as_f64).collect()
}

/// Checks one case; returns (name, max error, detail).
fn check_case(c: &Value) -> (String, f64, String) {
    let name = c["name"].as_str().unwrap().to_string();
    match c["kind"].as_str().unwrap() {
        "layer" => {
            let lc = parse_layer_case(c);
            ModelDesc { layers: vec![LayerDesc::Recurrent(lc.desc.clone())] }.validate().expect("valid description");
            let (ey, eh, ec) = check_layer_case(&lc);
            (name, ey.max(eh).max(ec), format!("Y {ey:.2e}  Y_h {eh:.2e}  Y_c {ec:.2e}"))
        }
        "dense" => {
            let desc = parse_dense_desc(&c["desc"]);
            let w = dense_weights(c);
            let t = usize_of(c, "t");
            let x = f32s_as_f64(&c["x"]);
            let y: Vec<f64> = (0..t)
                .flat_map(|tt| reference_dense(&desc, &w, &x[tt * desc.input_size..(tt + 1) * desc.input_size]))
                .collect();
            let e = max_abs_diff(&y, &f64s(&c["y"]));
            (name, e, format!("Y {e:.2e}"))
        }
        "model" => {
            let (desc, weights) = parse_model_case(c);
            let t = usize_of(c, "t");
            let x = f32s(&c["x"]);
            let initial = opt(c, "h0").map(|h| RefState { h: slots(h), c: slots(&c["c0"]) });
            let (y, fin) = reference_model(&desc, &weights, &x, t, initial.as_ref());
            let ey = max_abs_diff(&y, &f64s(&c["y"]));
            let want_h = slots(&c["h_n"]);
            let want_c = slots(&c["c_n"]);
            assert_eq!(fin.h.len(), want_h.len());
            assert_eq!(fin.c.len(), want_c.len());
            let eh = fin.h.iter().zip(&want_h).map(|(a, b)| max_abs_diff(a, b)).fold(0.0, f64::max);
            let ec = fin.c.iter().zip(&want_c).map(|(a, b)| max_abs_diff(a, b)).fold(0.0, f64::max);
            (name, ey.max(eh).max(ec), format!("Y {ey:.2e}  h_n {eh:.2e}  c_n {ec:.2e}"))
        }
        other => panic!("unknown case kind {other}"),
    }
}

#[test]
fn reference_matches_onnxruntime() {
    let doc = load();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "expected at least 30 cases, found {}", cases.len());
    let mut worst = 0.0f64;
    let mut failures = Vec::new();
    println!("reference vs onnxruntime {} ({} cases)", doc["onnxruntime"], cases.len());
    for c in cases {
        let (name, err, detail) = check_case(c);
        println!("  {name:<45} max err {err:.2e}   ({detail})");
        worst = worst.max(err);
        if err.is_nan() || err > TOL {
            failures.push(format!("{name}: {err:e} ({detail})"));
        }
    }
    println!("worst error over all cases: {worst:.2e}");
    assert!(failures.is_empty(), "reference differs from onnxruntime by more than {TOL:e}:\n{}", failures.join("\n"));
}

/// The validation cases must exercise what they claim: turning an option off (or nudging an
/// activation parameter) must change the result by far more than the tolerance, otherwise a
/// wrong implementation of that option would go unnoticed.
#[test]
fn cases_are_sensitive_to_their_options() {
    let doc = load();
    let mut checked = 0;
    for c in doc["cases"].as_array().unwrap() {
        if c["kind"] != "layer" {
            continue;
        }
        let name = c["name"].as_str().unwrap();
        let lc = parse_layer_case(c);
        let base = check_layer_case(&lc);
        let base = base.0.max(base.1).max(base.2);
        let mut variants: Vec<(String, LayerCase)> = Vec::new();
        let mut push = |what: String, f: &dyn Fn(&mut LayerCase)| {
            let mut v = parse_layer_case(c);
            f(&mut v);
            variants.push((what, v));
        };
        if lc.desc.clip.is_some() {
            push("clip off".into(), &|v| v.desc.clip = None);
        }
        if lc.desc.input_forget {
            push("input_forget off".into(), &|v| v.desc.input_forget = false);
        }
        if lc.desc.peepholes {
            push("peepholes zeroed".into(), &|v| {
                if let LayerWeights::Recurrent { p: Some(p), .. } = &mut v.weights {
                    p.iter_mut().for_each(|x| *x = 0.0);
                }
            });
        }
        if lc.desc.cell == CellKind::Gru {
            push("linear_before_reset flipped".into(), &|v| v.desc.linear_before_reset = !v.desc.linear_before_reset);
        }
        if lc.seq_lens.iter().any(|&l| l < lc.t) {
            push("sequence_lens ignored".into(), &|v| v.seq_lens = vec![v.t; v.batch]);
        }
        if lc.h0.is_some() {
            push("initial_h dropped".into(), &|v| v.h0 = None);
        }
        if lc.c0.is_some() {
            push("initial_c dropped".into(), &|v| v.c0 = None);
        }
        for d in 0..lc.desc.direction.count() {
            for k in 0..lc.desc.cell.activation_count() {
                let a = lc.desc.activations[d][k];
                if a.kind.uses_alpha() {
                    push(format!("alpha of activation {d}/{k} ({a}) nudged"), &move |v| {
                        v.desc.activations[d][k].alpha += 0.25;
                        if v.desc.direction.count() == 1 {
                            v.desc.activations[1] = v.desc.activations[0];
                        }
                    });
                }
                if a.kind.uses_beta() {
                    push(format!("beta of activation {d}/{k} ({a}) nudged"), &move |v| {
                        v.desc.activations[d][k].beta += 0.25;
                        if v.desc.direction.count() == 1 {
                            v.desc.activations[1] = v.desc.activations[0];
                        }
                    });
                }
            }
        }
        for (what, v) in &variants {
            let (ey, eh, ec) = check_layer_case(v);
            let e = ey.max(eh).max(ec);
            assert!(
                e > 100.0 * TOL.max(base),
                "{name}: {what} changes the outputs by only {e:e}; the case does not test it"
            );
            checked += 1;
        }
    }
    println!("{checked} option/parameter sensitivities checked");
    assert!(checked >= 40);
}

#[test]
fn activations_textbook_values() {
    let a = |kind, alpha, beta| Activation::with_params(kind, alpha, beta);
    let cases: &[(Activation, f64, f64)] = &[
        (a(ActKind::Relu, 0.0, 0.0), -1.5, 0.0),
        (a(ActKind::Relu, 0.0, 0.0), 2.0, 2.0),
        (a(ActKind::Tanh, 0.0, 0.0), 0.5, 0.5f64.tanh()),
        (a(ActKind::Sigmoid, 0.0, 0.0), 0.0, 0.5),
        (a(ActKind::Sigmoid, 0.0, 0.0), -800.0, 0.0),
        (a(ActKind::Affine, 0.5, 0.25), 2.0, 1.25),
        (a(ActKind::LeakyRelu, 0.125, 0.0), -2.0, -0.25),
        (a(ActKind::ThresholdedRelu, 1.0, 0.0), 1.0, 0.0),
        (a(ActKind::ThresholdedRelu, 1.0, 0.0), 1.5, 1.5),
        (a(ActKind::ScaledTanh, 2.0, 0.5), 1.0, 2.0 * 0.5f64.tanh()),
        (a(ActKind::HardSigmoid, 0.2, 0.5), 1.0, 0.7),
        (a(ActKind::HardSigmoid, 0.2, 0.5), 10.0, 1.0),
        (a(ActKind::HardSigmoid, 0.2, 0.5), -10.0, 0.0),
        (a(ActKind::Elu, 2.0, 0.0), -1.0, 2.0 * ((-1.0f64).exp() - 1.0)),
        (a(ActKind::Softsign, 0.0, 0.0), -3.0, -0.75),
        (a(ActKind::Softplus, 0.0, 0.0), 0.0, 2f64.ln()),
        (a(ActKind::Softplus, 0.0, 0.0), 800.0, 800.0),
    ];
    for (act, x, want) in cases {
        let got = activate(act, *x);
        assert!((got - want).abs() <= 1e-7 * (1.0 + want.abs()), "{act}({x}) = {got}, expected {want}");
    }
}

fn mixed_model() -> ModelDesc {
    let mut l0 = RecurrentDesc::new(CellKind::Lstm, 3, 5);
    l0.peepholes = true;
    let l1 = RecurrentDesc::new(CellKind::Gru, 5, 4);
    let l2 = RecurrentDesc::new(CellKind::Rnn, 4, 3);
    let d = DenseDesc { input_size: 3, output_size: 2, activation: DenseAct::Softmax, dtype: DType::F32 };
    ModelDesc {
        layers: vec![LayerDesc::Recurrent(l0), LayerDesc::Recurrent(l1), LayerDesc::Recurrent(l2), LayerDesc::Dense(d)],
    }
}

#[test]
fn random_weights_are_deterministic_and_well_shaped() {
    let desc = mixed_model();
    desc.validate().unwrap();
    let a = random_weights(&desc, 7, 1.0);
    let b = random_weights(&desc, 7, 1.0);
    let c = random_weights(&desc, 8, 1.0);
    assert_eq!(a, b);
    assert_ne!(a, c);
    for (layer, w) in desc.layers.iter().zip(&a) {
        let n = match w {
            LayerWeights::Recurrent { w, r, b, p } => {
                w.len() + r.len() + b.as_ref().map_or(0, |b| b.len()) + p.as_ref().map_or(0, |p| p.len())
            }
            LayerWeights::Dense { w, b } => w.len() + b.as_ref().map_or(0, |b| b.len()),
        };
        assert_eq!(n, layer.parameter_count());
    }
    // The weights can be packed (the engine's input format accepts them).
    assert!(PackedModel::pack(desc.clone(), &a).is_ok());
    let x = random_inputs(6 * 3, 1, 1.0);
    let (y, _) = reference_model(&desc, &a, &x, 6, None);
    assert!(y.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0));
}

/// Running a forward-only model on a sequence in two pieces, carrying the state, gives the
/// same result as one run (the state slot convention of `RefState` is consistent).
#[test]
fn reference_model_state_carries_over() {
    let desc = mixed_model();
    let w = random_weights(&desc, 11, 1.2);
    let (t, t1, is) = (7, 3, 3);
    let x = random_inputs(t * is, 2, 1.5);
    let init = random_state(&desc, 3, 0.7);
    let (y_full, fin_full) = reference_model(&desc, &w, &x, t, Some(&init));
    let (y1, mid) = reference_model(&desc, &w, &x[..t1 * is], t1, Some(&init));
    let (y2, fin) = reference_model(&desc, &w, &x[t1 * is..], t - t1, Some(&mid));
    let y_split: Vec<f64> = y1.into_iter().chain(y2).collect();
    assert!(max_abs_diff(&y_full, &y_split) == 0.0);
    assert_eq!(fin, fin_full);
    // An empty run leaves the state as it is.
    let (y0, same) = reference_model(&desc, &w, &[], 0, Some(&init));
    assert!(y0.is_empty());
    assert_eq!(same, init);
}
