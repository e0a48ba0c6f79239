//! Replays the `onnx_import` fuzz target on stable, without cargo-fuzz: every seed in
//! `fuzz/corpus/onnx_import/` and every crash ever found in `fuzz/artifacts/onnx_import/`
//! (each explained in `fuzz/REGRESSIONS.md`) goes through the target's own code, which
//! this test includes by path (`fuzz/src/lib.rs` and its modules): import with no folder
//! for external data, write, re-read, load the model and run it.
//!
//! This crate is the one with both the importer and the engine; the reader half alone is
//! replayed by `formats/tests/fuzz_regressions.rs` and the `recur_file` target by
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
