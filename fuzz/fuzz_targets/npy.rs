//! Arbitrary bytes as a `.npy` file, as `recur run` and `recur verify` read them; a file
//! that reads must round-trip through recur's writer. See `recur_fuzz::cli::npy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    recur_fuzz::cli::npy(data);
});
