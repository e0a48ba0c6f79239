//! `recur demo`: the first command a newcomer runs. No arguments, no network, no Python:
//! the bundled keyword spotter (`fixtures/demo`, compiled into the binary) is converted in
//! memory, a bundled 200-frame input stream goes through it one frame at a time with
//! `step`, the outputs are summarized and checked against onnxruntime's, and each kernel
//! set's speed is measured.

use super::{available_isas, human_bytes, layer_lines, outln, select_isa, thousands};
use recur::recur_format::onnx::{import_bytes, ImportOptions};
use recur::recur_format::{write_bytes, IoRole, StateKind};
use recur::{Isa, Model, OpenOptions};
use recur_cli::case::{compare, Tolerance};
use recur_cli::npy::read_npy_bytes;
use recur_cli::Error;
use std::time::Instant;

// The bundled fixture, embedded so that the demo works from any folder.
const MODEL: &[u8] = include_bytes!("../../../fixtures/demo/model.onnx");
const INPUT: &[u8] = include_bytes!("../../../fixtures/demo/input.npy");
const EXPECTED: &[u8] = include_bytes!("../../../fixtures/demo/expected.npy");
const EXPECTED_HN: &[u8] = include_bytes!("../../../fixtures/demo/expected_hn.npy");
const LABELS: &[u8] = include_bytes!("../../../fixtures/demo/labels.npy");
const META: &str = include_str!("../../../fixtures/demo/meta.json");

/// One character per class on the timeline (`.` silence, `?` unknown, then the keywords;
/// `o` is "on", `O` "off").
const CLASS_CHARS: &[u8] = b".?ynudlroOsg";

fn bundled(what: &str, bytes: &[u8]) -> Result<recur::graph::Tensor, Error> {
    read_npy_bytes(bytes).map_err(|e| Error::input(format!("bundled {what}: {e}")))
}

/// Streams every frame through `model` with `step` from a zero state; returns the outputs
/// (frames x classes, flat) and the state left after the last frame.
fn stream(model: &Model, frames: &[f32], width: usize) -> Result<(Vec<f32>, recur::State), Error> {
    let o = model.output_size();
    let mut state = model.new_state();
    let mut out = vec![0.0f32; frames.len() / width * o];
    for (x, y) in frames.chunks_exact(width).zip(out.chunks_exact_mut(o)) {
        model.step(&mut state, x, y).map_err(|e| Error::input(format!("step: {e}")))?;
    }
    Ok((out, state))
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The command.
pub fn main() -> Result<(), Error> {
    let meta: serde_json::Value =
        serde_json::from_str(META).map_err(|e| Error::input(format!("bundled meta.json: {e}")))?;
    let classes: Vec<String> = meta["classes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let tol = Tolerance {
        abs: meta["tolerance"]["abs"].as_f64().unwrap_or(1e-5),
        rel: meta["tolerance"]["rel"].as_f64().unwrap_or(1e-4),
    };
    let isa = select_isa(None)?;

    // 1. Convert, in memory, exactly as `recur convert` would.
    outln!("recur demo: a streaming keyword spotter (bundled, trained; fixtures/demo)");
    outln!();
    let t0 = Instant::now();
    let imported = import_bytes(MODEL, None, &ImportOptions::default())
        .map_err(|e| Error::input(format!("bundled model: {}: {e}", e.class())))?;
    let file =
        write_bytes(&imported.model, &imported.interface).map_err(|e| Error::input(format!("bundled model: {e}")))?;
    let model = Model::from_bytes_with(&file, &OpenOptions { verify_checksums: true, isa: Some(isa) })
        .map_err(|e| Error::input(format!("bundled model: {e}")))?;
    let convert_ms = t0.elapsed().as_secs_f64() * 1e3;
    outln!(
        "converted model.onnx ({}) -> .recur ({}) in {convert_ms:.1} ms:",
        human_bytes(MODEL.len()),
        human_bytes(file.len())
    );
    for line in layer_lines(model.desc()) {
        outln!("  {line}");
    }
    outln!(
        "  {} parameters; {} classes: {}",
        thousands(model.desc().parameter_count()),
        classes.len(),
        classes.join(" ")
    );

    // 2. Stream the bundled input one frame at a time.
    let input = bundled("input.npy", INPUT)?;
    let expected = bundled("expected.npy", EXPECTED)?;
    let expected_hn = bundled("expected_hn.npy", EXPECTED_HN)?;
    let labels = bundled("labels.npy", LABELS)?;
    let width = model.input_size();
    let o = model.output_size();
    let xs = input.as_f32().ok_or_else(|| Error::input("bundled input.npy is not float32"))?;
    if input.shape.len() != 2 || input.shape[1] != width || o != classes.len() {
        return Err(Error::input("the bundled files do not fit the bundled model"));
    }
    let frames = input.shape[0];
    let (ys, state) = stream(&model, xs, width)?;
    outln!();
    outln!("streamed {frames} frames of {width} values through it with step(), one call per frame ({}):", isa.name());

    // Timeline: one character per frame, 100 per row.
    let pred: Vec<usize> = ys.chunks_exact(o).map(argmax).collect();
    for (row, chunk) in pred.chunks(100).enumerate() {
        let line: String = chunk.iter().map(|&c| CLASS_CHARS.get(c).copied().unwrap_or(b'*') as char).collect();
        outln!("  {:>4} {line}", row * 100);
    }
    outln!("       (. silence, ? unknown, y yes, n no, u up, d down, l left, r right, o on, O off, s stop, g go)");
    // Detections: runs of a keyword of at least 3 frames, with the peak probability.
    outln!("detections:");
    let mut t = 0;
    while t < pred.len() {
        let c = pred[t];
        let mut end = t;
        while end + 1 < pred.len() && pred[end + 1] == c {
            end += 1;
        }
        if c >= 1 && end + 1 - t >= 3 {
            let peak = (t..=end).map(|f| ys[f * o + c]).fold(f32::NEG_INFINITY, f32::max).exp();
            let name = classes.get(c).map_or("?", String::as_str);
            outln!("  frames {t:>3}-{end:<3} {name:<9} (peak probability {peak:.3})");
        }
        t = end + 1;
    }
    if let Some(l) = labels.data_as_i64() {
        let right = pred.iter().zip(&l).filter(|(p, l)| **p as i64 == **l).count();
        outln!("frame accuracy against the true labels: {:.3} ({right}/{frames})", right as f64 / frames as f64);
    }

    // 3. Check against onnxruntime's outputs.
    let got = recur::graph::Tensor::f32(vec![frames, o], ys.clone());
    let c = compare(&got, &expected, tol);
    let hn_binding = model.interface().outputs.iter().find_map(|b| match &b.role {
        IoRole::FinalState { kind: StateKind::H, slots, .. } => Some(slots.clone()),
        _ => None,
    });
    let mut hn = Vec::new();
    for s in hn_binding.unwrap_or_default() {
        let v = model
            .get_state(&state, usize::from(s.layer), usize::from(s.dir), false)
            .map_err(|e| Error::input(format!("state: {e}")))?;
        hn.extend(v);
    }
    let ch = compare(&recur::graph::Tensor::f32(expected_hn.shape.clone(), hn), &expected_hn, tol);
    outln!();
    outln!(
        "check against onnxruntime (abs {:e} + rel {:e}): outputs max abs err {:.2e} {}, final state max abs err {:.2e} {}",
        tol.abs,
        tol.rel,
        c.max_abs_err,
        if c.passed() { "ok" } else { "FAIL" },
        ch.max_abs_err,
        if ch.passed() { "ok" } else { "FAIL" }
    );

    // 4. Speed of each kernel set: medians of short measurements of the whole stream.
    outln!();
    outln!(
        "speed per step (median of up to 15 passes over the {frames} frames; kernel sets here: {}):",
        available_isas()
    );
    if cfg!(debug_assertions) {
        outln!("  (a debug build: these timings say nothing; use cargo run --release --bin recur -- demo)");
    }
    let mut baseline: Option<f64> = None;
    for other in Isa::available() {
        let m = model.with_isa(other).map_err(|e| Error::input(e.to_string()))?;
        let (ys2, _) = stream(&m, xs, width)?; // warm-up, and the bits to compare
        let same = ys2.iter().zip(&ys).all(|(a, b)| a.to_bits() == b.to_bits());
        // Up to 15 passes, fewer when a pass is slow (a debug build), so the demo stays quick.
        let mut times = Vec::with_capacity(15);
        let start = Instant::now();
        while times.len() < 15 && (times.len() < 3 || start.elapsed().as_secs_f64() < 0.5) {
            let t0 = Instant::now();
            stream(&m, xs, width)?;
            times.push(t0.elapsed().as_secs_f64() * 1e6 / frames as f64);
        }
        times.sort_by(f64::total_cmp);
        let us = times[times.len() / 2];
        let base = *baseline.get_or_insert(us);
        outln!(
            "  {:<9} {:>8.2} µs/step  {:>6.1}x scalar  {:>9} steps/s  {}",
            other.name(),
            us,
            base / us,
            thousands((1e6 / us) as usize),
            if same { "same bits" } else { "DIFFERENT BITS" }
        );
    }
    if !c.passed() || !ch.passed() {
        return Err(Error::input("the demo's outputs differ from onnxruntime's beyond the tolerance"));
    }
    outln!();
    outln!("next: recur convert your_model.onnx your_model.recur && recur inspect your_model.recur");
    Ok(())
}

/// Integer labels as `i64`, whichever integer type the file holds.
trait LabelData {
    fn data_as_i64(&self) -> Option<Vec<i64>>;
}

impl LabelData for recur::graph::Tensor {
    fn data_as_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            recur::graph::TensorData::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            recur::graph::TensorData::I64(v) => Some(v.clone()),
            recur::graph::TensorData::F32(_) => None,
        }
    }
}
