//! Arbitrary bytes as an ONNX model: imported without a base folder (so external data is
//! refused and the target never touches the file system), then written as `.recur`, read
//! back, loaded and run when it imports. See `recur_fuzz::onnx` and `recur_fuzz::engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| recur_fuzz::onnx_import(data));
