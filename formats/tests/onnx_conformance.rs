//! Every conformance case under `shared/conformance` and `fixtures/onnx` imports, with an
//! interface whose names, order and sizes agree with the case's own description; every file under
//! `invalid/` is refused with the class its README gives.
#![cfg(feature = "onnx")]

use recur_format::onnx::{import_file, ErrorClass, ImportOptions};
use recur_format::{Dim, FinalLayout, IoRole, LayerDesc, SeqLayout, StateLayout};
use std::path::PathBuf;

fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("RECUR_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: conformance folder {} not found; skipping", dir.display());
        None
    }
}

/// Minimal JSON field extraction (the test needs a handful of string lists and ints).
fn json_str_list(text: &str, key: &str) -> Vec<String> {
    let pat = format!("\"{key}\":");
    let Some(at) = text.find(&pat) else { return vec![] };
    let rest = &text[at + pat.len()..];
    let open = rest.find('[').unwrap();
    let close = rest.find(']').unwrap();
    rest[open + 1..close].split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect()
}

fn json_shapes(text: &str, key: &str) -> Vec<(String, Vec<usize>)> {
    let pat = format!("\"{key}\":");
    let Some(at) = text.find(&pat) else { return vec![] };
    let rest = &text[at + pat.len()..];
    let open = rest.find('{').unwrap();
    let close = rest.find('}').unwrap();
    let body = &rest[open + 1..close];
    let mut out = vec![];
    for part in body.split(']') {
        let Some(colon) = part.find(':') else { continue };
        let name = part[..colon].trim().trim_start_matches(',').trim().trim_matches('"').to_string();
        let dims =
            part[colon + 1..].trim().trim_start_matches('[').split(',').filter_map(|s| s.trim().parse().ok()).collect();
        out.push((name, dims));
    }
    out
}

#[test]
fn every_case_imports() {
    // The shared suite when it is here, and the project's own fixtures.
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx");
    let mut cases: Vec<PathBuf> = vec![];
    for dir in conformance_dir().into_iter().chain([fixtures]) {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        found.sort();
        cases.extend(found);
    }
    assert!(!cases.is_empty());
    let mut failures = vec![];
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let meta = std::fs::read_to_string(case.join("case.json")).unwrap_or_default();
        match import_file(&case.join("model.onnx"), &ImportOptions::default()) {
            Err(e) => failures.push(format!("{name}: {e} [{:?}]", e.class())),
            Ok(imp) => {
                println!("== {name}");
                for l in &imp.report {
                    println!("   {l}");
                }
                if let Err(m) = check_case(&imp, &meta) {
                    failures.push(format!("{name}: {m}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn check_case(imp: &recur_format::onnx::Imported, meta: &str) -> Result<(), String> {
    let desc = &imp.model.desc;
    desc.validate().map_err(|e| e.to_string())?;
    let ins: Vec<String> = imp.interface.inputs.iter().map(|b| b.name.clone()).collect();
    let outs: Vec<String> = imp.interface.outputs.iter().map(|b| b.name.clone()).collect();
    if ins != json_str_list(meta, "inputs") {
        return Err(format!("inputs {ins:?}"));
    }
    if outs != json_str_list(meta, "outputs") {
        return Err(format!("outputs {outs:?}"));
    }
    let in_shapes = json_shapes(meta, "input_shapes");
    let out_shapes = json_shapes(meta, "output_shapes");
    let shape = |list: &[(String, Vec<usize>)], n: &str| list.iter().find(|(k, _)| k == n).map(|x| x.1.clone());
    for b in &imp.interface.inputs {
        let s = shape(&in_shapes, &b.name).ok_or(format!("no shape for {}", b.name))?;
        let fixed: Vec<u64> =
            b.dims.iter().filter_map(|d| if let Dim::Fixed(v) = d { Some(*v) } else { None }).collect();
        if fixed.len() == b.dims.len() && fixed.iter().map(|&v| v as usize).collect::<Vec<_>>() != s {
            return Err(format!("declared dims of {} differ from the case's", b.name));
        }
        match &b.role {
            IoRole::Sequence(l) => {
                let f = match l {
                    SeqLayout::TimeBatchFeature | SeqLayout::BatchTimeFeature => s[2],
                    SeqLayout::TimeFeature => s[1],
                    _ => return Err(format!("input layout {l:?}")),
                };
                if f != desc.input_size() {
                    return Err(format!("input {} has {f} features, model takes {}", b.name, desc.input_size()));
                }
            }
            IoRole::SequenceLens => {
                if s.len() != 1 {
                    return Err("sequence_lens rank".into());
                }
            }
            IoRole::InitialState { slots, layout, .. } => check_state(desc, slots, *layout, &s)?,
            r => return Err(format!("input role {r:?}")),
        }
    }
    // With a head on the final state, frames come from the last recurrent layer.
    let frame_width = if imp.interface.head_on_final_state() {
        let last =
            desc.layers.iter().rposition(|l| matches!(l, LayerDesc::Recurrent(_))).ok_or("no recurrent layer")?;
        desc.layers[last].output_size()
    } else {
        desc.output_size()
    };
    for b in &imp.interface.outputs {
        let s = shape(&out_shapes, &b.name).ok_or(format!("no shape for {}", b.name))?;
        match &b.role {
            IoRole::Output(l) => {
                let f = match l {
                    SeqLayout::TimeBatchFeature | SeqLayout::BatchTimeFeature => s[2],
                    SeqLayout::TimeFeature | SeqLayout::TimeBatchFlat | SeqLayout::BatchTimeFlat => s[1],
                    SeqLayout::OnnxY => s[1] * s[3],
                    SeqLayout::OnnxYBatchFirst => s[2] * s[3],
                };
                if f != frame_width {
                    return Err(format!("output {} has {f} features, model gives {frame_width}", b.name));
                }
            }
            IoRole::FinalOutput(l) => {
                let f = match l {
                    FinalLayout::BatchFeature => s[1],
                    FinalLayout::Feature => s[0],
                };
                if f != desc.output_size() {
                    return Err(format!("output {} has {f} features, the head gives {}", b.name, desc.output_size()));
                }
            }
            IoRole::FinalState { slots, layout, .. } => check_state(desc, slots, *layout, &s)?,
            r => return Err(format!("output role {r:?}")),
        }
    }
    // Weights survive packing.
    let unpacked = imp.model.unpack();
    if unpacked.len() != desc.layers.len() {
        return Err("unpack".into());
    }
    Ok(())
}

fn check_state(
    desc: &recur_format::ModelDesc,
    slots: &[recur_format::StateSlot],
    layout: StateLayout,
    s: &[usize],
) -> Result<(), String> {
    let (n, h) = match layout {
        StateLayout::SlotBatchHidden => (s[0], s[2]),
        StateLayout::BatchSlotHidden => (s[1], s[2]),
        StateLayout::BatchHidden => (1, s[1]),
    };
    if n != slots.len() {
        return Err(format!("{} slots for a slot axis of {n}", slots.len()));
    }
    for sl in slots {
        match desc.layers.get(sl.layer as usize) {
            Some(LayerDesc::Recurrent(r)) if r.hidden_size == h && (sl.dir as usize) < r.direction.count() => {}
            _ => return Err(format!("slot {sl:?} does not fit hidden size {h}")),
        }
    }
    Ok(())
}

#[test]
fn every_invalid_file_is_refused_with_its_class() {
    let Some(dir) = conformance_dir() else { return };
    let dir = dir.join("invalid");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    let mut failures = vec![];
    for line in readme.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].ends_with(".onnx") {
            continue;
        }
        let (file, expected) = (cols[1], cols[3]);
        let want = match expected {
            "parse_error" => ErrorClass::Parse,
            "invalid_model" => ErrorClass::InvalidModel,
            "unsupported" => ErrorClass::Unsupported,
            e => panic!("unknown class {e}"),
        };
        checked += 1;
        match import_file(&dir.join(file), &ImportOptions::default()) {
            Ok(_) => failures.push(format!("{file}: imported, expected {expected}")),
            Err(e) => {
                println!("{file}: {:?}: {e}", e.class());
                if e.class() != want {
                    failures.push(format!("{file}: {:?} ({e}), expected {expected}", e.class()));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} files listed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
