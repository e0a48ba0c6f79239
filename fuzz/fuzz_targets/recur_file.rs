//! Arbitrary bytes as a `.recur` file: parsed with and without checksums (without, so that
//! the fuzzer gets past them to the structural rules), then loaded and run when it parses.
//! See `recur_fuzz::file` and `recur_fuzz::engine` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| recur_fuzz::engine::recur_file(data));
