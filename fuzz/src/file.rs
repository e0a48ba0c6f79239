//! The reader half of the `recur_file` target.
//!
//! Random bytes almost never carry a valid checksum, so a fuzzer that always verified
//! checksums would spend its time on the checksum comparison and never reach the rules
//! behind it. The input is therefore parsed twice, without and with checksums, and the two
//! results must agree the way SPEC.md §5 and §8 say: skipping checksums skips nothing else.
//! A file that parses is then held to what the reader promises about it (a valid
//! description and interface, canonical tensors inside the input) and written back: the
//! format leaves a writer no choice, so the bytes must come back identical up to the
//! checksum fields.

use recur_format::file::{self, FileError, ParseOptions, RecurFile};
use recur_format::ModelDesc;

/// Whether two descriptions are the same. Not `==`: an unused activation's `alpha` or
/// `beta` may be NaN (SPEC.md §3.2 stores them as they are), and NaN != NaN. Debug output
/// tells every other value apart; exact bits are checked by the write-back round trip.
pub fn same_desc(a: &ModelDesc, b: &ModelDesc) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Whether `e` is a checksum mismatch, the only error that verifying checksums may add.
fn is_checksum(e: &FileError) -> bool {
    matches!(e, FileError::FileChecksum { .. } | FileError::TensorChecksum { .. })
}

/// Parses `data` without and with checksum verification, checks that the two agree, and
/// returns the unverified parse (what the engine half loads) when it succeeds.
///
/// Panics when the reader breaks a promise; returns `None` when it rejects the input.
pub fn parse(data: &[u8]) -> Option<RecurFile<'_>> {
    let unchecked = file::parse(data, ParseOptions { verify_checksums: false });
    let checked = file::parse(data, ParseOptions { verify_checksums: true });
    match (&unchecked, &checked) {
        (Ok(u), Ok(c)) => {
            assert!(same_desc(u.desc(), c.desc()), "the description depends on checksum verification");
            assert_eq!(u.interface(), c.interface(), "the interface depends on checksum verification");
            assert_eq!(u.tensors(), c.tensors(), "the tensor table depends on checksum verification");
        }
        (Ok(_), Err(c)) => assert!(is_checksum(c), "only verifying checksums rejects the file, with: {c}"),
        (Err(u), Ok(_)) => panic!("skipping checksums rejects a file that passes with them: {u}"),
        // Rules are applied in the order of SPEC.md §8 whatever the options, and the
        // checksum checks are interleaved with them: with checksums the first error is
        // either a checksum or the same error as without.
        (Err(u), Err(c)) => {
            if !is_checksum(c) {
                assert_eq!(u.to_string(), c.to_string(), "the first error depends on checksum verification");
            }
        }
    }
    let parsed = unchecked.ok()?;
    check_parsed(&parsed, data);
    Some(parsed)
}

/// What a successful parse promises (formats/src/file/reader.rs, SPEC.md §3 – §7).
fn check_parsed(parsed: &RecurFile<'_>, data: &[u8]) {
    let desc = parsed.desc();
    assert!(desc.validate().is_ok(), "parsed an invalid description: {:?}", desc.validate());
    assert!(
        file::check_interface(parsed.interface(), desc).is_ok(),
        "parsed an invalid interface: {:?}",
        file::check_interface(parsed.interface(), desc)
    );
    assert_eq!(parsed.bytes().len(), data.len());
    let expected: Vec<_> =
        desc.layers.iter().enumerate().flat_map(|(i, l)| recur_format::expected_tensors(i, l)).collect();
    assert_eq!(parsed.tensors().len(), expected.len(), "tensor count is not the canonical one");
    let mut prev_end = 0usize;
    for (t, spec) in parsed.tensors().iter().zip(&expected) {
        assert_eq!(&t.spec, spec, "tensor is not the canonical one");
        assert_eq!(t.len, spec.bytes(), "tensor length is not elems * dtype size");
        assert_eq!(t.offset % 64, 0, "tensor offset {} is not 64-aligned", t.offset);
        assert!(t.offset >= prev_end, "tensors overlap or are out of order");
        let end = t.offset.checked_add(t.len).expect("tensor end overflows");
        assert!(end <= data.len(), "tensor {}..{end} is outside the {}-byte file", t.offset, data.len());
        assert_eq!(parsed.tensor_data(t).len(), t.len);
        prev_end = end;
    }

    // Round trip: the writer, given what was read, reproduces the input exactly, except
    // for checksum fields that were not verified; fixing those up must make them equal.
    let written = file::write_bytes(&parsed.to_packed_model(), parsed.interface())
        .unwrap_or_else(|e| panic!("the writer refuses a file the reader accepted: {e}"));
    let mut fixed = data.to_vec();
    file::fixup_checksums(&mut fixed);
    if written != fixed {
        let at = written.iter().zip(&fixed).position(|(a, b)| a != b).unwrap_or(written.len().min(fixed.len()));
        panic!(
            "re-writing the parsed file changes it: {} bytes written, {} read, first difference at byte {at}",
            written.len(),
            fixed.len()
        );
    }
}
