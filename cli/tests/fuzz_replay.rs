//! Replays the `onnx_import`, `npy` and `case_json` fuzz targets on stable, without
//! cargo-fuzz: every seed in `fuzz/corpus/<target>/` and every crash ever found in
//! `fuzz/artifacts/<target>/` (each explained in `fuzz/REGRESSIONS.md`) goes through the
//! target's own code, which this test includes by path (`fuzz/src/lib.rs` and its
//! modules). `onnx_import`: import with no folder for external data, write, re-read, load
//! the model and run it; `npy` and `case_json`: the command-line tool's readers.
//!
//! This crate is the one with the importer, the engine and the tool; the reader half alone
//! is replayed by `formats/tests/fuzz_regressions.rs` and the `recur_file` target by
//! `engine/tests/fuzz_replay.rs`.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;

#[test]
fn onnx_import_replay() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (n, imported) = harness::replay::replay(&fuzz, "onnx_import", |data| {
        harness::onnx_import(data);
        harness::onnx::import(data).is_some()
    });
    assert!(n > 0, "the onnx_import corpus is empty");
    assert!(imported >= 10, "only {imported} of {n} inputs import");
}

/// Replays `target` (a reader of the command-line tool), which must accept at least
/// `min_accepted` inputs; the seeds say by their name whether they must be accepted
/// (`refused_*` must not be), crash artifacts must merely not panic.
fn replay_named(target: &str, check: fn(&[u8]) -> bool, min_accepted: usize) {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (n, accepted) = harness::replay::replay(&fuzz, target, check);
    assert!(n > 0, "the {target} corpus is empty");
    assert!(accepted >= min_accepted, "only {accepted} of {n} {target} inputs are accepted");
    for path in harness::replay::inputs(&fuzz, target).into_iter().filter(|p| p.starts_with(fuzz.join("corpus"))) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(check(&std::fs::read(&path).unwrap()), !name.starts_with("refused_"), "{target}: {name}");
    }
}

#[test]
fn npy_replay() {
    // Every dtype, byte order, memory order and format version recur reads.
    replay_named("npy", harness::cli::npy, 15);
}

#[test]
fn case_json_replay() {
    replay_named("case_json", harness::cli::case_json, 10);
}
