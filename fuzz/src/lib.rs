//! What the fuzz targets check, shared with the stable replay tests.
//!
//! The replay tests include these files by path from crates that cannot all see every
//! dependency, so each module needs only what its half needs and they refer to each other
//! as `super::x`:
//!
//! * [`file`]: the reader half of `recur_file` (recur_format only), included by
//!   `formats/tests/fuzz_regressions.rs`;
//! * [`onnx`]: the importer half of `onnx_import` (recur_format with feature `onnx`),
//!   included by `formats/tests/fuzz_regressions.rs` when that feature is on;
//! * [`engine`]: loading what was read and running it (recur), and the whole
//!   `recur_file` target ([`engine::recur_file`]); included with `file` by
//!   `engine/tests/fuzz_replay.rs`;
//! * this file: the whole `onnx_import` target; included (with everything) by
//!   `cli/tests/fuzz_replay.rs`, the one crate that has both the engine and the importer;
//! * [`cli`]: the `npy` and `case_json` targets (the command-line tool's `.npy` and
//!   `case.json` readers); included with everything by `cli/tests/fuzz_replay.rs`;
//! * [`replay`]: running the committed corpora and crash artifacts in those tests.
//!
//! Every function here panics on a broken invariant (that is how libFuzzer sees a bug)
//! and returns quietly when the input is merely rejected.

pub mod cli;
pub mod engine;
pub mod file;
pub mod onnx;
pub mod replay;

/// The whole `onnx_import` target: import `data`, write it, read it back, load and run it.
pub fn onnx_import(data: &[u8]) {
    if let Some(written) = onnx::import(data) {
        engine::load_and_run(&written.bytes, &written.desc);
    }
}
