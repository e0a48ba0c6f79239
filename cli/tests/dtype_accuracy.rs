//! Accuracy of reduced precision (issue #7): every case of the shared conformance suite
//! (`$CARGO_MANIFEST_DIR/../../shared/conformance` or `RECUR_CONFORMANCE_DIR`, when it
//! exists) and of `fixtures/onnx` is imported, converted in process to f16, bf16, int8
//! `w8` and int8 `w8a8` (every layer), run, and compared with the case's expected f32
//! outputs (onnxruntime's). Every case's max abs error per dtype is printed.
//!
//! Tolerances (max abs error): f16 2e-3, bf16 2e-2, w8 3e-2, w8a8 6e-2 for outputs in
//! [-1, 1], scaled by `max(1, max |expected|)` for outputs outside (per output).
//!
//! One exception, by construction rather than by tolerance: a model with a discontinuous
//! activation, `ThresholdedRelu` (`x > alpha ? x : 0`). A unit whose pre-activation lies
//! within the rounding of the threshold flips between 0 and about `alpha`, so one
//! element's error is about `alpha` whatever the dtype's precision (measured: two of our
//! own fixtures, none of the shared cases: `rnn_act_thresholdedrelu_op14` bf16 2.7e-1 with
//! alpha 0.25, `rnn_act_thresholdedrelu_softsign_bidirectional_op14` w8a8 4.1e-1 with
//! alpha 0.4). For those models the *mean* abs error must be within the tolerance, and
//! the max is printed (marked `~`). Run with
//! `cargo test --release -p recur-cli --test dtype_accuracy -- --nocapture` for the table.

use recur::graph::{Graph, Tensor};
use recur::recur_format::onnx::{import_file, ImportOptions};
use recur::recur_format::{write_bytes, DType, PackedModel};
use recur::{Isa, Model, OpenOptions};
use recur_cli::case::{case_dirs, compare, load_case, read_inputs, Tolerance};
use recur_cli::io_file_name;
use recur_cli::npy::read_npy;
use std::path::{Path, PathBuf};

/// The dtypes, their names in the table, and their tolerance on outputs in [-1, 1].
const DTYPES: [(DType, &str, f64); 4] =
    [(DType::F16, "f16", 2e-3), (DType::BF16, "bf16", 2e-2), (DType::I8, "w8", 3e-2), (DType::I8A8, "w8a8", 6e-2)];

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every case folder: (suite label, folder).
fn all_cases() -> Vec<(&'static str, PathBuf)> {
    let shared = match std::env::var_os("RECUR_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest().join("../../shared/conformance"),
    };
    let mut out = Vec::new();
    if shared.is_dir() {
        out.extend(case_dirs(&shared).expect("list shared cases").into_iter().map(|d| ("shared", d)));
    } else {
        eprintln!("note: no shared conformance folder at {}; fixtures only", shared.display());
    }
    let fixtures = manifest().join("../fixtures/onnx");
    out.extend(case_dirs(&fixtures).expect("list fixtures").into_iter().map(|d| ("fixtures", d)));
    out
}

/// One case in one dtype: the max abs error over every output of every set, and the
/// worst ratio of an output's max abs error to its tolerance.
struct Measure {
    max_abs_err: f64,
    worst_ratio: f64,
    worst_output: String,
}

/// Whether any layer uses an activation with a jump (see the module docs).
fn discontinuous(desc: &recur::recur_format::ModelDesc) -> bool {
    use recur::recur_format::{ActKind, LayerDesc};
    desc.layers.iter().any(|l| match l {
        LayerDesc::Recurrent(r) => r.activations.iter().flatten().any(|a| a.kind == ActKind::ThresholdedRelu),
        LayerDesc::Dense(_) => false,
    })
}

fn measure(
    model: &PackedModel,
    iface: &recur::recur_format::GraphInterface,
    dir: &Path,
    tol: f64,
    mean_only: bool,
) -> Result<Measure, String> {
    let case = load_case(dir).map_err(|e| e.to_string())?;
    let bytes = write_bytes(model, iface).map_err(|e| format!("write: {e}"))?;
    let m = Model::from_bytes_with(&bytes, &OpenOptions { verify_checksums: false, isa: Some(Isa::best()) })
        .map_err(|e| format!("load: {e}"))?;
    let graph = Graph::new(&m).map_err(|e| e.to_string())?;
    let mut out = Measure { max_abs_err: 0.0, worst_ratio: 0.0, worst_output: String::new() };
    for set in &case.sets {
        let named = read_inputs(&graph, &set.dir).map_err(|e| e.to_string())?;
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let results = graph.run(&refs).map_err(|e| format!("set {}: {e}", set.name))?;
        for (name, actual) in &results {
            let expected = read_npy(&set.dir.join(io_file_name("output", name))).map_err(|e| e.to_string())?;
            let c = compare(actual, &expected, Tolerance::default());
            if let Some(m) = c.mismatch {
                return Err(format!("set {} output {name}: {m}", set.name));
            }
            let judged = if mean_only { c.mean_abs_err } else { c.max_abs_err };
            let ratio = judged / (tol * c.max_abs_expected.max(1.0));
            out.max_abs_err = out.max_abs_err.max(c.max_abs_err);
            if ratio >= out.worst_ratio {
                out.worst_ratio = ratio;
                out.worst_output = format!("set {} output {name} (max |expected| {:.2})", set.name, c.max_abs_expected);
            }
        }
    }
    Ok(out)
}

#[test]
fn every_case_is_accurate_in_every_dtype() {
    let cases = all_cases();
    assert!(!cases.is_empty(), "no case found");
    let mut problems = Vec::new();
    let mut worst = vec![(0.0f64, String::new()); DTYPES.len()];
    println!("{:<9} {:<52} {}", "suite", "case", DTYPES.map(|d| format!("{:>10}", d.1)).join(" "));
    for (suite, dir) in &cases {
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let imported = match import_file(&dir.join("model.onnx"), &ImportOptions::default()) {
            Ok(i) => i,
            Err(e) => {
                problems.push(format!("{suite}/{name}: import: {e}"));
                continue;
            }
        };
        let mut cells = Vec::new();
        let mean_only = discontinuous(&imported.model.desc);
        for (k, &(dtype, dname, tol)) in DTYPES.iter().enumerate() {
            let layers = imported.model.desc.layers.len();
            let r = imported
                .model
                .to_dtypes(&vec![dtype; layers])
                .map_err(|e| format!("convert: {e}"))
                .and_then(|m| measure(&m, &imported.interface, dir, tol, mean_only));
            match r {
                Ok(m) => {
                    let over = m.worst_ratio > 1.0;
                    let mark = if over {
                        "!"
                    } else if mean_only {
                        "~"
                    } else {
                        " "
                    };
                    cells.push(format!("{:>9.2e}{mark}", m.max_abs_err));
                    if over {
                        problems.push(format!(
                            "{suite}/{name} {dname}: max abs err {:.3e} is {:.2}x its tolerance in {}",
                            m.max_abs_err, m.worst_ratio, m.worst_output
                        ));
                    }
                    if m.worst_ratio >= worst[k].0 {
                        worst[k] = (m.worst_ratio, format!("{name}: {} ({:.2e})", m.worst_output, m.max_abs_err));
                    }
                }
                Err(e) => {
                    cells.push(format!("{:>10}", "ERROR"));
                    problems.push(format!("{suite}/{name} {dname}: {e}"));
                }
            }
        }
        println!("{suite:<9} {name:<52} {}", cells.join(" "));
    }
    println!();
    for (k, (_, dname, tol)) in DTYPES.iter().enumerate() {
        println!("{dname:<5} tolerance {tol:.0e}: worst {:.3} of its tolerance in {}", worst[k].0, worst[k].1);
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
