//! Replays the `recur_file` fuzz target on stable, without cargo-fuzz: every seed in
//! `fuzz/corpus/recur_file/` and every crash ever found in `fuzz/artifacts/recur_file/`
//! (each explained in `fuzz/REGRESSIONS.md`) goes through the target's own code, which
//! this test includes by path: parsing with and without checksums and the write-back
//! round trip (`fuzz/src/file.rs`), then loading the model, stepping or running it, saving
//! and restoring its state and comparing kernel sets (`fuzz/src/engine.rs`).
//!
//! The `onnx_import` target needs the importer, which the engine does not depend on; it is
//! replayed by `cli/tests/fuzz_replay.rs`.

#[path = "../../fuzz/src/engine.rs"]
mod engine;
#[path = "../../fuzz/src/file.rs"]
mod file;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn recur_file_replay() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let (n, parsed) = replay::replay(&fuzz, "recur_file", |data| {
        engine::recur_file(data);
        file::parse(data).is_some()
    });
    assert!(n > 0, "the recur_file corpus is empty");
    // The valid seeds reach the engine half; without them the replay would test little.
    assert!(parsed >= 10, "only {parsed} of {n} inputs parse");
}
