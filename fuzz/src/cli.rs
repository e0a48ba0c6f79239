//! The command-line tool's own parsers, for the `npy` and `case_json` targets: the `.npy`
//! reader behind `recur run` and `recur verify` (numpy's header is a Python literal that
//! npyz parses), and the `case.json` reader behind `recur verify`. Included with the rest
//! by `cli/tests/fuzz_replay.rs`.

use recur::graph::{Tensor, TensorData};
use recur_cli::case::parse_case;
use recur_cli::npy::{npy_bytes, read_npy_bytes};
use std::path::Path;

/// The elements' bits, so that NaNs compare equal to themselves.
fn bits(t: &Tensor) -> Vec<u64> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::I32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
        TensorData::I64(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

/// Arbitrary bytes as a `.npy` file. When they read: the shape's element count is the
/// data's, the data fits in the file (so a forged header never made the reader allocate
/// more than the file holds), and writing the tensor and reading it back gives the same
/// shape, dtype and bits. Returns whether the bytes read.
pub fn npy(data: &[u8]) -> bool {
    let Ok(t) = read_npy_bytes(data) else { return false };
    let elems =
        t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).expect("a shape that was read does not overflow");
    assert_eq!(elems, t.data.len(), "shape {:?} but {} elements", t.shape, t.data.len());
    // Every dtype read is at least 4 bytes an element.
    assert!(elems.saturating_mul(4) <= data.len(), "{elems} elements from a {}-byte file", data.len());
    let written = npy_bytes(&t).expect("a tensor that was read can be written");
    let back = read_npy_bytes(&written).expect("what recur writes, recur reads");
    assert_eq!(back.shape, t.shape, "shape changed in a write/read round trip");
    assert_eq!(core::mem::discriminant(&back.data), core::mem::discriminant(&t.data), "dtype changed in a round trip");
    assert!(bits(&back) == bits(&t), "values changed in a write/read round trip");
    true
}

/// Arbitrary bytes as a case folder's `case.json` (UTF-8 or refused, as `recur verify`
/// reads it). When it parses: the tolerance is finite and non-negative, the main set comes
/// first and is the folder itself, and every extra set is a direct sub-folder of the case
/// (no `..`, no absolute path, no nesting). Returns whether it parsed.
pub fn case_json(data: &[u8]) -> bool {
    let Ok(text) = core::str::from_utf8(data) else { return false };
    let dir = Path::new("/cases/some_case");
    let Ok(case) = parse_case(text, dir, "some_case".into()) else { return false };
    let tol = case.tolerance;
    assert!(tol.abs.is_finite() && tol.abs >= 0.0 && tol.rel.is_finite() && tol.rel >= 0.0, "tolerance {tol:?}");
    assert_eq!(case.sets[0].name, "main");
    assert_eq!(case.sets[0].dir, dir);
    for set in &case.sets[1..] {
        assert_eq!(set.dir.parent(), Some(dir), "extra set {:?} leaves the case folder", set.dir);
        assert_eq!(set.dir.file_name().and_then(|n| n.to_str()), Some(set.name.as_str()), "set {:?}", set);
    }
    true
}
