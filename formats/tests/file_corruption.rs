//! Damage a valid file in every single byte, and at random, and check that the reader
//! answers `Ok` or `Err` without ever panicking; with checksums verified, any damage is
//! an error.

mod file_common;

use file_common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use recur_format::file::fixup_checksums;
use recur_format::*;

const ON: ParseOptions = ParseOptions { verify_checksums: true };
const OFF: ParseOptions = ParseOptions { verify_checksums: false };

#[test]
fn every_single_byte_flip() {
    every_single_byte_flip_of(small_file());
    every_single_byte_flip_of(const_file());
}

fn every_single_byte_flip_of(good: Vec<u8>) {
    let file = parse(&good, ON).unwrap();
    // Bytes inside a tensor: with checksums off, nothing else can tell them apart.
    let in_tensor = |i: usize| file.tensors().iter().any(|t| (t.offset..t.offset + t.len).contains(&i));
    let mut accepted_unchecked = 0;
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= mask;
            // Checksums on: every change is caught, whatever byte it hits (the checksum
            // field included: it no longer matches).
            assert!(parse(&b, ON).is_err(), "byte {i} ^ {mask:#x} accepted with checksums on");
            // Checksums off: the structural rules alone.
            let unchecked = parse(&b, OFF);
            if in_tensor(i) {
                assert!(unchecked.is_ok(), "byte {i} ^ {mask:#x} in tensor data rejected: {:?}", unchecked.err());
            }
            accepted_unchecked += usize::from(unchecked.is_ok());
            // Checksums repaired, then verified: the structural rules again; they must not
            // depend on whether the checksums were checked.
            let mut fixed = b.clone();
            fixup_checksums(&mut fixed);
            let _ = parse(&fixed, ON);
        }
    }
    // Sanity: the loop did see both outcomes.
    assert!(accepted_unchecked > 0 && accepted_unchecked < good.len() * 3);
}

#[test]
fn structural_verdict_does_not_depend_on_checksums() {
    // Where the tensor table itself is intact, repairing the checksums and verifying them
    // gives the same verdict as not verifying them.
    let good = small_file();
    let t = Tables::of(&good);
    for i in (0..good.len()).filter(|&i| !(t.tensors_at..t.bindings_at).contains(&i) && !(32..40).contains(&i)) {
        // The header counts locate the tensor table; leave them alone so that the repair
        // writes checksums where the reader reads them.
        if (64..92).contains(&i) {
            continue;
        }
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let off = parse(&b, OFF).map(|_| ()).map_err(|e| e.to_string());
        fixup_checksums(&mut b);
        let on = parse(&b, ON).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(off, on, "byte {i}");
    }
}

#[test]
fn truncated_and_extended_with_fixed_header() {
    // Every length, with file_size and checksums made to agree: only the structure speaks.
    let good = small_file();
    for n in (recur_format::file::records::HEADER..good.len() + 130).step_by(7) {
        let mut b = good.clone();
        b.resize(n, 0);
        wr_u64(&mut b, hdr::FILE_SIZE, n as u64);
        fixup_checksums(&mut b);
        let r = parse(&b, ON);
        assert_eq!(r.is_ok(), n == good.len(), "length {n}: {:?}", r.err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random damage to several bytes, checksums repaired: never a panic.
    #[test]
    fn random_damage_never_panics(
        edits in vec((any::<usize>(), any::<u8>()), 1..8),
        fix in any::<bool>(),
        consts in any::<bool>(),
    ) {
        let mut b = if consts { const_file() } else { small_file() };
        for (at, v) in edits {
            let n = b.len();
            b[at % n] = v;
        }
        if fix {
            fixup_checksums(&mut b);
        }
        let _ = parse(&b, ON);
        let _ = parse(&b, OFF);
    }

    /// Damage focused on the header and tables, where the numbers are.
    #[test]
    fn table_damage_never_panics(edits in vec((0usize..2048, any::<u64>()), 1..4), consts in any::<bool>()) {
        let mut b = if consts { const_file() } else { small_file() };
        for (at, v) in edits {
            let at = at.min(b.len() - 8);
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        fixup_checksums(&mut b);
        let _ = parse(&b, ON);
        let _ = parse(&b, OFF);
    }

    /// Arbitrary bytes behind a valid-looking header prefix.
    #[test]
    fn garbage_never_panics(head in 0usize..128, tail in vec(any::<u8>(), 0..4096)) {
        let good = small_file();
        let mut b = good[..head].to_vec();
        b.extend_from_slice(&tail);
        fixup_checksums(&mut b);
        let _ = parse(&b, ON);
        let _ = parse(&b, OFF);
    }
}
