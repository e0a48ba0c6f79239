//! Arbitrary bytes as a conformance case's `case.json`, as `recur verify` reads it; what
//! parses must keep every set inside the case folder. See `recur_fuzz::cli::case_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::cli::case_json(data);
});
