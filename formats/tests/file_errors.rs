//! One crafted file per rule of SPEC.md: each test breaks exactly one rule of a small valid
//! file (recomputing the checksums afterwards unless the checksum is the rule) and checks
//! that the reader reports that rule, with its values, and nothing else.
//!
//! The small file (see `file_common`): layers int8 bi-LSTM, GRU, f16 dense; 17 tensors;
//! inputs x, seq_lens, h0, c0 and outputs y, hn; tables end at 2028 (padding to 2048);
//! tensor 15 (dense W, f16) is 160 bytes, followed by 32 bytes of padding.

mod file_common;

use file_common::*;
use recur_format::file::{fixup_checksums, limits, Loc, MAGIC};
use recur_format::*;

/// Locates a field from the table offsets.
type FieldAt = fn(&Tables) -> usize;

fn msg(e: &FileError) -> String {
    e.to_string()
}

// ---- header ----

#[test]
fn every_prefix_is_an_error() {
    let b = small_file();
    for n in 0..b.len() {
        let e = parse(&b[..n], ParseOptions::default()).err().unwrap_or_else(|| panic!("prefix {n} parsed"));
        match n {
            0..128 => assert!(matches!(e, FileError::Truncated { loc: Loc::Header, .. }), "prefix {n}: {e}"),
            _ => assert!(matches!(e, FileError::FileTooShort { .. }), "prefix {n}: {e}"),
        }
        // Without checksums too.
        assert!(parse(&b[..n], ParseOptions { verify_checksums: false }).is_err());
    }
    // Each header field is named when the input stops inside it.
    let name = |n: usize| match parse(&b[..n], ParseOptions::default()).unwrap_err() {
        FileError::Truncated { what, .. } => what,
        e => panic!("{e}"),
    };
    assert_eq!(name(5), "magic");
    assert_eq!(name(9), "endianness check word");
    assert_eq!(name(14), "version");
    assert_eq!(name(20), "reserved_a[0]");
    assert_eq!(name(33), "file checksum");
    assert_eq!(name(41), "file size");
    assert_eq!(name(50), "data offset");
    assert_eq!(name(60), "reserved_b");
    assert_eq!(name(66), "layers");
    assert_eq!(name(70), "tensors");
    assert_eq!(name(90), "string table bytes");
    assert_eq!(name(100), "reserved_c");
    assert_eq!(
        msg(&parse(&b[..10], ParseOptions::default()).unwrap_err()),
        "header: file truncated in endianness check word: needs bytes 8..12 but the file has 10"
    );
    assert_eq!(
        msg(&parse(&b[..1000], ParseOptions::default()).unwrap_err()),
        "file truncated: header declares 9536 bytes but the file has 1000"
    );
}

#[test]
fn bad_magic() {
    let mut b = small_file();
    b[1] = b'r';
    let e = parse_err(&b);
    assert!(matches!(e, FileError::BadMagic { found } if found[1] == b'r'), "{e}");
    // A text-mode transfer (CR LF -> LF) breaks the magic.
    let mut b = small_file();
    b.remove(6);
    assert!(matches!(parse_err(&b), FileError::BadMagic { .. }));
    assert_eq!(MAGIC[0], 0x89);
}

#[test]
fn wrong_endianness() {
    let e = edited(|b, _| b[hdr::ENDIAN..hdr::ENDIAN + 4].copy_from_slice(&0x0102_0304u32.to_be_bytes()));
    assert!(matches!(e, FileError::WrongEndianness { found: 0x0403_0201 }), "{e}");
    assert_eq!(msg(&e), "endianness check word is 0x04030201, expected 0x01020304 (file written big-endian)");
    let e = edited(|b, _| wr_u32(b, hdr::ENDIAN, 7));
    assert!(matches!(e, FileError::WrongEndianness { found: 7 }), "{e}");
}

#[test]
fn wrong_version() {
    for v in [0, 2, u32::MAX] {
        let e = edited(|b, _| wr_u32(b, hdr::VERSION, v));
        assert!(matches!(e, FileError::UnsupportedVersion { found } if found == v), "{e}");
    }
    assert_eq!(
        msg(&edited(|b, _| wr_u32(b, hdr::VERSION, 2))),
        "unsupported .recur version 2; this reader implements version 1"
    );
}

#[test]
fn reserved_header_words_must_be_zero() {
    for (at, what) in [(hdr::RESERVED_A + 8, "reserved_a[1]"), (hdr::RESERVED_B, "reserved_b"), (124, "reserved_c")] {
        let e = edited(|b, _| b[at] = 1);
        match e {
            FileError::NotZero { loc: Loc::Header, what: w, offset, value: 1 } => {
                assert_eq!((w, offset), (what, at as u64))
            }
            e => panic!("{e}"),
        }
    }
}

#[test]
fn counts_above_limits() {
    let cases = [
        (hdr::LAYERS, limits::MAX_LAYERS, "layers"),
        (hdr::TENSORS, limits::MAX_TENSORS, "tensors"),
        (hdr::INPUTS, limits::MAX_BINDINGS, "graph inputs"),
        (hdr::OUTPUTS, limits::MAX_BINDINGS, "graph outputs"),
        (hdr::SLOTS, limits::MAX_TOTAL_SLOTS, "state slots"),
        (hdr::DIMS, limits::MAX_TOTAL_DIMS, "declared dimensions"),
        (hdr::STRINGS, limits::MAX_STRING_BYTES, "string table bytes"),
    ];
    for (at, max, name) in cases {
        for v in [max as u32 + 1, u32::MAX] {
            let e = edited(|b, _| wr_u32(b, at, v));
            match e {
                FileError::TooMany { loc: Loc::Header, what, count, max: m } => {
                    assert_eq!((what, count, m), (name, u64::from(v), max as u64))
                }
                e => panic!("{name}: {e}"),
            }
        }
    }
    assert_eq!(msg(&edited(|b, _| wr_u32(b, hdr::LAYERS, 65))), "header: 65 layers, more than the limit of 64");
    // Per binding: dimensions and slots.
    let e = edited(|b, t| wr_u32(b, t.binding(0) + 16, 9));
    assert!(matches!(e, FileError::TooMany { loc: Loc::Input(0), what: "declared dimensions", count: 9, .. }), "{e}");
    let e = edited(|b, t| wr_u32(b, t.binding(2) + 12, 129));
    assert!(matches!(e, FileError::TooMany { loc: Loc::Input(2), what: "state slots", count: 129, .. }), "{e}");
}

#[test]
fn trailing_bytes() {
    // Past the declared size.
    let mut b = small_file();
    b.extend_from_slice(&[0; 3]);
    let e = parse_err(&b);
    assert!(matches!(e, FileError::TrailingBytes { end: 9536, len: 9539 }), "{e}");
    assert_eq!(msg(&e), "3 trailing bytes after the end of the data at byte 9536 (file has 9539)");
    // Declared, but after the last tensor's padding.
    let mut b = small_file();
    b.extend_from_slice(&[0; 64]);
    wr_u64(&mut b, hdr::FILE_SIZE, 9600);
    fixup_checksums(&mut b);
    let e = parse_err(&b);
    assert!(matches!(e, FileError::TrailingBytes { end: 9536, len: 9600 }), "{e}");
}

#[test]
fn data_offset_must_follow_the_tables() {
    for v in [2112, 2028, 0, u64::MAX] {
        let e = edited(|b, _| wr_u64(b, hdr::DATA_OFFSET, v));
        assert!(matches!(e, FileError::DataOffset { found, expected: 2048 } if found == v), "{e}");
    }
}

#[test]
fn tables_past_the_end() {
    // Counts within the limits whose tables do not fit in the file: a consistent header
    // (data offset recomputed) over a file that is too small for it.
    let mut b = small_file();
    let strings = limits::MAX_STRING_BYTES as u64;
    wr_u32(&mut b, hdr::STRINGS, strings as u32);
    wr_u64(&mut b, hdr::DATA_OFFSET, (2004 + strings).div_ceil(64) * 64);
    fixup_checksums(&mut b);
    let e = parse_err(&b);
    assert!(matches!(e, FileError::Truncated { what: "tables", .. }), "{e}");
}

// ---- checksums ----

#[test]
fn file_checksum_mismatch() {
    let mut b = small_file();
    let last = b.len() - 1;
    b[last] ^= 0x10; // inside the dense layer's B, the last tensor
    let e = parse_err(&b);
    assert!(matches!(e, FileError::FileChecksum { .. }), "{e}");
    // The checksum field itself is part of the file.
    let mut b = small_file();
    b[hdr::CHECKSUM] ^= 1;
    assert!(matches!(parse_err(&b), FileError::FileChecksum { .. }));
    // Skipping checksums skips exactly that.
    let mut b = small_file();
    b[hdr::CHECKSUM] ^= 1;
    assert!(parse(&b, ParseOptions { verify_checksums: false }).is_ok());
}

#[test]
fn tensor_checksum_mismatch() {
    let mut b = small_file();
    let t = Tables::of(&b);
    let at = rd_u64(&b, t.tensor(13) + trec::OFFSET) as usize;
    b[at + 7] ^= 0x80;
    // Repair the file checksum only: the tensor's own checksum must catch it.
    let sum = file::file_checksum(&b);
    wr_u64(&mut b, hdr::CHECKSUM, sum);
    let e = parse_err(&b);
    match &e {
        FileError::TensorChecksum { tensor, stored, computed } => {
            assert_eq!(tensor.index, 13);
            assert_eq!(tensor.id, TensorId { layer: 1, dir: 0, kind: TensorKind::R });
            assert_ne!(stored, computed);
        }
        e => panic!("{e}"),
    }
    assert!(msg(&e).starts_with("tensor 13 (layer 1 dir 0 R): checksum mismatch"), "{e}");
    assert!(parse(&b, ParseOptions { verify_checksums: false }).is_ok());
}

// ---- layers ----

#[test]
fn unknown_layer_codes() {
    // (record offset within layer record, layer, expected `what`)
    let cases: [(usize, usize, u8, &str); 8] = [
        (0, 0, 2, "layer kind"),
        (1, 0, 3, "cell kind"),
        (2, 1, 3, "direction"),
        (3, 0, 5, "dtype"),
        (5, 2, 6, "dense activation"),
        (24, 0, 11, "activation kind"),
        // Unused activation slots must hold valid codes too (GRU uses 2 of 3, forward only).
        (24 + 12 * 5, 1, 200, "activation kind"),
        (24 + 12 * 2, 1, 11, "activation kind"),
    ];
    for (field, layer, code, name) in cases {
        let e = edited(|b, t| b[t.layer(layer) + field] = code);
        match e {
            FileError::UnknownCode { loc, what, code: c, offset } => {
                assert_eq!((loc, what, c), (Loc::Layer(layer), name, code));
                assert_eq!(offset, (128 + 96 * layer + field) as u64);
            }
            e => panic!("{name}: {e}"),
        }
    }
    assert_eq!(msg(&edited(|b, t| b[t.layer(1) + 1] = 7)), "layer 1: unknown cell kind code 7 at byte 225");
}

#[test]
fn unknown_flag_bits() {
    let e = edited(|b, t| b[t.layer(0) + 4] |= 0x40);
    assert!(matches!(e, FileError::UnknownFlags { layer: 0, flags: 0x45 }), "{e}");
}

#[test]
fn unused_layer_fields_must_be_zero() {
    let cases: [(usize, usize, &str); 8] = [
        (0, 6, "reserved"),
        (0, 20, "reserved"),
        (0, 5, "dense activation (unused by recurrent layers)"),
        (1, 16, "clip (flag CLIP clear)"),
        (2, 1, "cell kind (unused by dense layers)"),
        (2, 4, "flags (unused by dense layers)"),
        (2, 50, "activations (unused by dense layers)"),
        (0, 25, "activation reserved"),
    ];
    for (layer, field, name) in cases {
        let e = edited(|b, t| b[t.layer(layer) + field] = 3);
        match e {
            FileError::NotZero { loc, what, offset, value } => {
                assert_eq!((loc, what, offset), (Loc::Layer(layer), name, (128 + 96 * layer + field) as u64));
                assert_ne!(value, 0);
            }
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn invalid_description() {
    // Chain mismatch: the GRU takes 11 values but the bi-LSTM produces 10.
    let e = edited(|b, t| wr_u32(b, t.layer(1) + 8, 11));
    assert!(
        matches!(e, FileError::InvalidDesc(DescError::ChainMismatch { layer: 1, input: 11, output: 10, .. })),
        "{e}"
    );
    assert_eq!(msg(&e), "invalid model description: layer 1 (GRU) takes 11 values per frame but layer 0 produces 10");
    // A size of zero, an option of the wrong cell, a NaN clip.
    let e = edited(|b, t| wr_u32(b, t.layer(2) + 12, 0));
    assert!(matches!(e, FileError::InvalidDesc(DescError::BadSize { .. })), "{e}");
    let e = edited(|b, t| b[t.layer(1) + 4] |= 0x04);
    assert!(matches!(e, FileError::InvalidDesc(DescError::BadOption { .. })), "{e}");
    let e = edited(|b, t| wr_u32(b, t.layer(0) + 16, f32::NAN.to_bits()));
    assert!(matches!(e, FileError::InvalidDesc(DescError::BadParam { what: "clip", .. })), "{e}");
    // No layer at all.
    let e = edited(|b, _| wr_u32(b, hdr::LAYERS, 0));
    assert!(matches!(e, FileError::DataOffset { .. } | FileError::InvalidDesc(DescError::Empty)), "{e}");
}

// ---- interface ----

#[test]
fn unknown_interface_codes() {
    let cases: [(FieldAt, u8, &str, Loc); 6] = [
        (|t| t.binding(0) + 8, 6, "role", Loc::Input(0)),
        (|t| t.binding(0) + 9, 7, "sequence layout", Loc::Input(0)),
        (|t| t.binding(2) + 9, 3, "state layout", Loc::Input(2)),
        (|t| t.binding(3) + 10, 2, "state kind", Loc::Input(3)),
        (|t| t.binding(4) + 9, 9, "sequence layout", Loc::Output(0)),
        (|t| t.dim(1), 2, "dimension kind", Loc::Input(0)),
    ];
    for (field, code, name, where_) in cases {
        let e = edited(|b, t| b[field(&t)] = code);
        match e {
            FileError::UnknownCode { loc, what, code: c, .. } => assert_eq!((loc, what, c), (where_, name, code)),
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn unused_interface_fields_must_be_zero() {
    let cases: [(FieldAt, &str, Loc); 7] = [
        (|t| t.binding(1) + 9, "layout (unused by this role)", Loc::Input(1)),
        (|t| t.binding(0) + 10, "state kind (unused by this role)", Loc::Input(0)),
        (|t| t.binding(4) + 12, "slot count (unused by this role)", Loc::Output(0)),
        (|t| t.binding(5) + 28, "reserved", Loc::Output(1)),
        (|t| t.dim(1) + 4, "dimension name offset (unused by fixed dimensions)", Loc::Input(0)),
        (|t| t.dim(0) + 16, "dimension value (unused by symbolic dimensions)", Loc::Input(0)),
        (|t| t.slot(4) + 3, "slot reserved", Loc::Output(1)),
    ];
    for (field, name, where_) in cases {
        let e = edited(|b, t| b[field(&t)] = 1);
        match e {
            FileError::NotZero { loc, what, .. } => assert_eq!((loc, what), (where_, name)),
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn strings() {
    // Longer than the limit.
    let e = edited(|b, t| wr_u32(b, t.binding(0) + 4, 1025));
    assert!(matches!(e, FileError::NameTooLong { loc: Loc::Input(0), what: "name", len: 1025, max: 1024 }), "{e}");
    // Past the end of the string table (the last string, "batch" at 19..24).
    let e = edited(|b, t| wr_u32(b, t.dim(10) + 8, 6));
    assert!(
        matches!(
            e,
            FileError::StringOutOfBounds {
                loc: Loc::Output(1),
                what: "dimension name",
                offset: 19,
                len: 6,
                table_len: 24
            }
        ),
        "{e}"
    );
    let e = edited(|b, t| wr_u32(b, t.binding(0), u32::MAX));
    assert!(matches!(e, FileError::StringOutOfBounds { offset: 0xffff_ffff, .. }), "{e}");
    // Not where the previous string ended: a gap, and a shared string.
    let e = edited(|b, t| wr_u32(b, t.binding(1), 5));
    assert!(matches!(e, FileError::StringNotContiguous { loc: Loc::Input(1), offset: 5, expected: 4, .. }), "{e}");
    let e = edited(|b, t| wr_u32(b, t.binding(5), 0));
    assert!(matches!(e, FileError::StringNotContiguous { loc: Loc::Output(1), offset: 0, expected: 17, .. }), "{e}");
    // Not UTF-8.
    let e = edited(|b, t| b[t.strings_at + 4] = 0xff);
    assert!(matches!(e, FileError::InvalidUtf8 { loc: Loc::Input(1), what: "name", offset: 4 }), "{e}");
    assert_eq!(msg(&e), "input 1: name at string offset 4 is not valid utf-8");
}

#[test]
fn header_counts_must_match_the_bindings() {
    // One more slot record than the bindings use.
    let (mut tables, data) = split(&small_file());
    let t = Tables::of(&tables);
    tables.splice(t.strings_at..t.strings_at, [0u8; 4]);
    wr_u32(&mut tables, hdr::SLOTS, 6);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::CountMismatch { what: "state slots", declared: 6, actual: 5 }), "{e}");
    assert_eq!(msg(&e), "header declares 6 state slots but the bindings use 5");
    // A binding that claims more dimensions than the table has.
    let e = edited(|b, t| wr_u32(b, t.binding(5) + 16, 3));
    assert!(matches!(e, FileError::CountMismatch { what: "declared dimensions", declared: 12, actual: 13 }), "{e}");
    // An unused byte at the end of the string table.
    let (mut tables, data) = split(&small_file());
    tables.push(b'z');
    wr_u32(&mut tables, hdr::STRINGS, 25);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::CountMismatch { what: "string table bytes", declared: 25, actual: 24 }), "{e}");
}

#[test]
fn roles_and_slots() {
    // An input with an output role.
    let e = edited(|b, t| b[t.binding(0) + 8] = 3);
    assert!(matches!(e, FileError::RoleMisplaced { loc: Loc::Input(0), role: "Output" }), "{e}");
    // An output with an input role.
    let e = edited(|b, t| b[t.binding(4) + 8] = 0);
    assert!(matches!(e, FileError::RoleMisplaced { loc: Loc::Output(0), role: "Sequence" }), "{e}");
    // [B, H] layout with two slots.
    let e = edited(|b, t| b[t.binding(2) + 9] = 2);
    assert!(matches!(e, FileError::SlotCount { loc: Loc::Input(2), count: 2, .. }), "{e}");
    // A state binding without a slot.
    let (mut tables, data) = split(&small_file());
    let t = Tables::of(&tables);
    tables.drain(t.slot(4)..t.slot(5));
    wr_u32(&mut tables, t.binding(5) + 12, 0);
    wr_u32(&mut tables, hdr::SLOTS, 4);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::SlotCount { loc: Loc::Output(1), count: 0, .. }), "{e}");
    // Slots that name no state.
    let cases: [(usize, u16, u8, &str); 4] = [
        (4, 9, 0, "no such layer"),
        (4, 2, 0, "a dense layer has no state"),
        (4, 1, 1, "the layer has no such direction"),
        (2, 1, 0, "only LSTM layers have a cell state c"),
    ];
    for (slot, layer, dir, why) in cases {
        let e = edited(|b, t| {
            wr_u16(b, t.slot(slot), layer);
            b[t.slot(slot) + 2] = dir;
        });
        match e {
            FileError::BadSlot { why: w, layer: l, dir: d, .. } => assert_eq!((w, l, d), (why, layer, dir)),
            e => panic!("{why}: {e}"),
        }
    }
    assert_eq!(
        msg(&edited(|b, t| wr_u16(b, t.slot(4), 2))),
        "output 1: slot 0 (layer 2 dir 0): a dense layer has no state"
    );
}

// ---- tensors ----

/// The small file without tensor `i` (record and data), laid out again.
fn without_tensor(i: usize) -> Vec<u8> {
    let (mut tables, mut data) = split(&small_file());
    let t = Tables::of(&tables);
    tables.drain(t.tensor(i)..t.tensor(i + 1));
    wr_u32(&mut tables, hdr::TENSORS, t.tensors as u32 - 1);
    data.remove(i);
    rebuild(&tables, &data)
}

#[test]
fn tensor_count_must_match_the_layers() {
    let e = parse_err(&without_tensor(16));
    assert!(matches!(e, FileError::TensorCount { found: 16, expected: 17 }), "{e}");
}

/// Layer 0 of the small file is int8: its scales are required, in their place.
#[test]
fn int8_layers_need_their_scales() {
    // Tensor 4 is layer 0 dir 0 W_scale: without it the count is short.
    let e = parse_err(&without_tensor(4));
    assert!(matches!(e, FileError::TensorCount { found: 16, expected: 17 }), "{e}");
    // Labelled R_scale instead, it is the wrong tensor.
    let e = edited(|b, t| b[t.tensor(4) + trec::KIND] = TensorKind::RScale as u8);
    assert!(
        matches!(e, FileError::UnexpectedTensor { index: 4, found, expected }
            if found.kind == TensorKind::RScale && expected.kind == TensorKind::WScale),
        "{e}"
    );
    // A dtype code past the last one (4, int8 w8a8) in the layer record.
    let e = edited(|b, t| b[t.layer(0) + 3] = 5);
    assert!(matches!(e, FileError::UnknownCode { loc: Loc::Layer(0), what: "dtype", code: 5, .. }), "{e}");
    // Code 4 is known: the layer becomes w8a8, which stores exactly what w8 does, but the
    // tensor records still say int8 (code 3).
    let e = edited(|b, t| b[t.layer(0) + 3] = 4);
    assert!(matches!(e, FileError::TensorMismatch { field: "dtype code", found: 3, expected: 4, .. }), "{e}");
}

#[test]
fn unknown_tensor_codes_and_reserved() {
    for (field, code, name) in
        [(trec::KIND, 6u8, "tensor kind"), (trec::DTYPE, 5, "dtype"), (trec::LAYOUT, 3, "packed layout")]
    {
        let e = edited(|b, t| b[t.tensor(3) + field] = code);
        assert!(
            matches!(e, FileError::UnknownCode { loc: Loc::Tensor(3), what, code: c, .. } if what == name && c == code),
            "{e}"
        );
    }
    for field in [trec::RESERVED_A, trec::RESERVED_B + 7] {
        let e = edited(|b, t| b[t.tensor(3) + field] = 1);
        assert!(matches!(e, FileError::NotZero { loc: Loc::Tensor(3), what: "reserved", .. }), "{e}");
    }
}

#[test]
fn tensors_out_of_canonical_order() {
    // Swap the records of tensors 0 (W) and 1 (R): both are otherwise well-formed.
    let e = edited(|b, t| {
        let (r0, r1) = (t.tensor(0), t.tensor(1));
        let a = b[r0..r0 + 64].to_vec();
        b.copy_within(r1..r1 + 64, r0);
        b[r1..r1 + 64].copy_from_slice(&a);
    });
    assert!(
        matches!(e, FileError::UnexpectedTensor { index: 0, found, expected }
            if found.kind == TensorKind::R && expected.kind == TensorKind::W),
        "{e}"
    );
    assert_eq!(msg(&e), "tensor 0 is layer 0 dir 0 R, expected layer 0 dir 0 W (tensors are in canonical order)");
    // A tensor of the other direction, or another layer.
    let e = edited(|b, t| b[t.tensor(2) + trec::DIR] = 1);
    assert!(matches!(e, FileError::UnexpectedTensor { index: 2, .. }), "{e}");
    let e = edited(|b, t| wr_u16(b, t.tensor(14) + trec::LAYER, 0));
    assert!(matches!(e, FileError::UnexpectedTensor { index: 14, .. }), "{e}");
}

#[test]
fn tensor_size_disagrees_with_its_layer() {
    // The GRU's R (tensor 13) with one panel too many; byte length kept consistent.
    let e = edited(|b, t| {
        let r = t.tensor(13);
        let elems = rd_u64(b, r + trec::ELEMS) + 16 * 5;
        wr_u64(b, r + trec::ELEMS, elems);
        wr_u64(b, r + trec::BYTE_LEN, elems * 4);
    });
    match &e {
        FileError::TensorMismatch { tensor, field: "element count", found: 320, expected: 240 } => {
            assert_eq!(tensor.index, 13)
        }
        e => panic!("{e}"),
    }
    assert_eq!(msg(&e), "tensor 13 (layer 1 dir 0 R): element count is 320, but its layer needs 240");
    // Logical shape, dtype, layout.
    let e = edited(|b, t| wr_u64(b, t.tensor(12) + trec::SHAPE0, 16));
    assert!(matches!(e, FileError::TensorMismatch { field: "shape[0]", found: 16, expected: 15, .. }), "{e}");
    let e = edited(|b, t| {
        // The GRU's W as f16 (half the bytes).
        let r = t.tensor(12);
        b[r + trec::DTYPE] = 1;
        let elems = rd_u64(b, r + trec::ELEMS);
        wr_u64(b, r + trec::BYTE_LEN, elems * 2);
    });
    assert!(matches!(e, FileError::TensorMismatch { field: "dtype code", found: 1, expected: 0, .. }), "{e}");
    let e = edited(|b, t| b[t.tensor(0) + trec::LAYOUT] = 0);
    assert!(matches!(e, FileError::TensorMismatch { field: "layout code", found: 0, expected: 1, .. }), "{e}");
}

#[test]
fn byte_length_must_be_elems_times_size() {
    let e = edited(|b, t| {
        let r = t.tensor(5) + trec::BYTE_LEN;
        let v = rd_u64(b, r);
        wr_u64(b, r, v + 1);
    });
    assert!(matches!(e, FileError::TensorLength { byte_len: 257, expected: 256, .. }), "{e}");
}

#[test]
fn overflowing_sizes_and_offsets() {
    // elems x 4 overflows u64 (tensor 2 is an f32 bias).
    let e = edited(|b, t| wr_u64(b, t.tensor(2) + trec::ELEMS, u64::MAX / 2));
    assert!(
        matches!(e, FileError::Overflow { loc: Loc::Tensor(2), what: "byte length (elements x dtype size)" }),
        "{e}"
    );
    // offset + byte length overflows u64 (the offset itself is aligned).
    let e = edited(|b, t| wr_u64(b, t.tensor(1) + trec::OFFSET, u64::MAX - 63));
    assert!(matches!(e, FileError::Overflow { loc: Loc::Tensor(1), what: "tensor end (offset + byte length)" }), "{e}");
    assert_eq!(msg(&e), "tensor 1: arithmetic overflow computing tensor end (offset + byte length)");
}

#[test]
fn misaligned_tensor() {
    let e = edited(|b, t| wr_u64(b, t.tensor(1) + trec::OFFSET, 2304 + 4));
    assert!(matches!(e, FileError::Misaligned { offset: 2308, .. }), "{e}");
    assert_eq!(msg(&e), "tensor 1 (layer 0 dir 0 R): offset 2308 is not a multiple of 64");
}

#[test]
fn overlapping_tensors() {
    // Tensor 1 on top of tensor 0, and tensor 0 on top of the tables.
    let e = edited(|b, t| wr_u64(b, t.tensor(1) + trec::OFFSET, 2048 + 64));
    assert!(matches!(e, FileError::Overlap { offset: 2112, prev_end: 2304, .. }), "{e}");
    let e = edited(|b, t| wr_u64(b, t.tensor(0) + trec::OFFSET, 1984));
    assert!(matches!(e, FileError::Overlap { offset: 1984, prev_end: 2028, .. }), "{e}");
}

#[test]
fn holes_between_tensors() {
    let e = edited(|b, t| wr_u64(b, t.tensor(16) + trec::OFFSET, 9472 + 64));
    assert!(matches!(e, FileError::Hole { offset: 9536, expected: 9472, .. }), "{e}");
}

#[test]
fn padding_must_be_zero() {
    // After the tables, and after the f16 dense W (9280 + 160 = 9440 .. 9472).
    for at in [2028, 2047, 9440, 9471] {
        let e = edited(|b, _| b[at] = 0xAA);
        assert!(matches!(e, FileError::NonZeroPadding { offset, value: 0xAA } if offset == at as u64), "{at}: {e}");
    }
    assert_eq!(msg(&edited(|b, _| b[9450] = 1)), "padding byte at 9450 is 0x01, must be zero");
}

#[test]
fn tensor_past_the_end() {
    // Cut the file inside the last tensor and declare the shorter size.
    let mut b = small_file();
    b.truncate(9472 + 32);
    wr_u64(&mut b, hdr::FILE_SIZE, 9504);
    fixup_checksums(&mut b);
    let e = parse_err(&b);
    assert!(matches!(e, FileError::TensorOutOfBounds { end: 9536, file_size: 9504, .. }), "{e}");
}

#[test]
fn checks_hold_without_checksum_verification() {
    // Structural rules do not depend on checksum verification.
    let mut b = small_file();
    b[2030] = 1;
    let e = parse(&b, ParseOptions { verify_checksums: false }).unwrap_err();
    assert!(matches!(e, FileError::NonZeroPadding { offset: 2030, .. }), "{e}");
}

// ---- constants and heads (the file with constants, see `file_common::const_iface`) ----

#[test]
fn constants_round_trip_and_sit_where_the_spec_says() {
    let b = const_file();
    let t = Tables::of(&b);
    assert_eq!((t.inputs, t.outputs, t.consts, t.slots, t.dims, t.values), (2, 2, 3, 4, 13, 32));
    let file = parse(&b, ParseOptions::default()).unwrap();
    assert_eq!(file.interface(), &const_iface());
    // Values: lens, then h0 and c0 as f32 bit patterns, little-endian.
    assert_eq!((rd_u32(&b, t.value(0)), rd_u32(&b, t.value(1))), (3, 1));
    let ConstValues::F32(h0) = &const_iface().constants[1].values else { panic!() };
    assert_eq!(rd_u32(&b, t.value(2)), h0[0].to_bits());
    // Binding 3 is the head: role 5, layout 0 ([B, O]).
    assert_eq!((b[t.binding(3) + 8], b[t.binding(3) + 9]), (5, 0));
    // The strings: names in binding order, constants last.
    let strings = &b[t.strings_at..t.end];
    assert!(strings.ends_with(b"lensh0c0"), "{:?}", String::from_utf8_lossy(strings));
}

#[test]
fn constant_counts_above_limits() {
    for (at, max, name) in
        [(hdr::CONSTS, limits::MAX_CONSTANTS, "constants"), (hdr::VALUES, limits::MAX_CONST_VALUES, "constant values")]
    {
        let e = const_edited(|b, _| wr_u32(b, at, max as u32 + 1));
        match e {
            FileError::TooMany { loc: Loc::Header, what, count, max: m } => {
                assert_eq!((what, count, m), (name, max as u64 + 1, max as u64))
            }
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn constant_values_must_match_the_header() {
    // One value more than the constants use.
    let (mut tables, data) = split(&const_file());
    let t = Tables::of(&tables);
    tables.splice(t.strings_at..t.strings_at, [0u8; 4]);
    wr_u32(&mut tables, hdr::VALUES, 33);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::CountMismatch { what: "constant values", declared: 33, actual: 32 }), "{e}");
    // A shape whose values reach past the table (c0 [2, 5] -> [2, 6]).
    let e = const_edited(|b, t| wr_u64(b, t.dim(12) + 16, 6));
    assert!(matches!(e, FileError::CountMismatch { what: "constant values", declared: 32, actual: 34 }), "{e}");
    // A shape whose product overflows.
    let e = const_edited(|b, t| {
        wr_u64(b, t.dim(11) + 16, u64::MAX);
        wr_u64(b, t.dim(12) + 16, 2);
    });
    assert!(matches!(e, FileError::CountMismatch { what: "constant values", actual: u64::MAX, .. }), "{e}");
}

#[test]
fn constant_roles_and_shapes() {
    // A constant with an output role.
    let e = const_edited(|b, t| b[t.binding(4) + 8] = 3);
    assert!(matches!(e, FileError::ConstRole { index: 0, role: "Output" }), "{e}");
    assert_eq!(msg(&e), "constant 0: role Output cannot be a constant (constants: SequenceLens, InitialState)");
    // A symbolic dimension.
    let e = const_edited(|b, t| b[t.dim(9)] = 1);
    assert!(matches!(e, FileError::ConstSymbolicDim { index: 1, axis: 1 }), "{e}");
    // c0 [B, H] read as [S, B, H]: a rank the layout does not have.
    let e = const_edited(|b, t| b[t.binding(6) + 9] = 0);
    assert!(matches!(e, FileError::ConstRank { index: 2, rank: 2, expected: 3 }), "{e}");
    // h0 [2, 2, 5] as [5, 2, 2]: as many values, the wrong slot count.
    let e = const_edited(|b, t| {
        wr_u64(b, t.dim(8) + 16, 5);
        wr_u64(b, t.dim(10) + 16, 2);
    });
    assert!(matches!(e, FileError::ConstShape { index: 1, axis: 0, found: 5, expected: 2 }), "{e}");
    assert_eq!(msg(&e), "constant 1: dimension 0 is 5, but its slots need 2");
    // A constant state's slot that names no state (h0's second slot -> the dense layer).
    let e = const_edited(|b, t| wr_u16(b, t.slot(2), 2));
    assert!(
        matches!(e, FileError::BadSlot { loc: Loc::Constant(1), slot: 1, why: "a dense layer has no state", .. }),
        "{e}"
    );
    // A sequence length outside int32.
    let e = const_edited(|b, t| wr_u32(b, t.value(1), 0x8000_0000));
    assert!(matches!(e, FileError::ConstLength { index: 0, element: 1, value: 0x8000_0000 }), "{e}");
}

#[test]
fn constants_fix_one_batch_size() {
    // c0 [2, 5] -> [1, 5], dropping its last five values.
    let (mut tables, data) = split(&const_file());
    let t = Tables::of(&tables);
    wr_u64(&mut tables, t.dim(11) + 16, 1);
    tables.drain(t.value(27)..t.value(32));
    wr_u32(&mut tables, hdr::VALUES, 27);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::ConstBatch { index: 2, batch: 1, expected: 2 }), "{e}");
    assert_eq!(msg(&e), "constant 2: batch size 1, but an earlier constant fixes it to 2");
    // lens [2] -> [0], dropping both values.
    let (mut tables, data) = split(&const_file());
    let t = Tables::of(&tables);
    wr_u64(&mut tables, t.dim(7) + 16, 0);
    tables.drain(t.value(0)..t.value(2));
    wr_u32(&mut tables, hdr::VALUES, 30);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::ConstEmptyBatch { index: 0 }), "{e}");
}

#[test]
fn each_quantity_has_one_source() {
    // The input h1 moved onto the LSTM's forward slot, which the constant h0 binds.
    let e = const_edited(|b, t| wr_u16(b, t.slot(0), 0));
    assert!(
        matches!(e, FileError::StateBoundTwice { loc: Loc::Constant(1), cell_state: false, layer: 0, dir: 0 }),
        "{e}"
    );
    assert_eq!(msg(&e), "constant 1: the initial h of layer 0 dir 0 is bound twice");
    // The input h1 turned into a second sequence_lens (its slot record removed).
    let (mut tables, data) = split(&const_file());
    let t = Tables::of(&tables);
    tables[t.binding(1) + 8] = 1;
    tables[t.binding(1) + 9] = 0;
    wr_u32(&mut tables, t.binding(1) + 12, 0);
    tables.drain(t.slot(0)..t.slot(1));
    wr_u32(&mut tables, hdr::SLOTS, 3);
    let e = parse_err(&rebuild(&tables, &data));
    assert!(matches!(e, FileError::DuplicateSequenceLens { loc: Loc::Constant(0) }), "{e}");
}

#[test]
fn output_only_layouts_and_final_output_codes() {
    // A flattened layout on the input sequence.
    let e = const_edited(|b, t| b[t.binding(0) + 9] = 5);
    assert!(matches!(e, FileError::InputLayout { loc: Loc::Input(0), code: 5 }), "{e}");
    // An unknown final output layout, and a final output with a state kind.
    let e = const_edited(|b, t| b[t.binding(3) + 9] = 2);
    assert!(
        matches!(e, FileError::UnknownCode { loc: Loc::Output(1), what: "final output layout", code: 2, .. }),
        "{e}"
    );
    let e = const_edited(|b, t| b[t.binding(3) + 10] = 1);
    assert!(
        matches!(e, FileError::NotZero { loc: Loc::Output(1), what: "state kind (unused by this role)", .. }),
        "{e}"
    );
    // A final output as a graph input.
    let e = const_edited(|b, t| b[t.binding(1) + 8] = 5);
    assert!(matches!(e, FileError::NotZero { .. } | FileError::RoleMisplaced { .. }), "{e}");
}

#[test]
fn the_writer_checks_constants_too() {
    let model = small_model();
    let with = |f: &dyn Fn(&mut GraphInterface)| {
        let mut i = const_iface();
        f(&mut i);
        write_bytes(&model, &i).unwrap_err()
    };
    let e = with(&|i| i.constants[1].values = ConstValues::F32(vec![0.0; 19]));
    assert!(matches!(e, FileError::ConstValueCount { index: 1, count: 19, expected: Some(20) }), "{e}");
    let e = with(&|i| i.constants[0].values = ConstValues::F32(vec![0.0; 2]));
    assert!(matches!(e, FileError::ConstValueType { index: 0, role: "SequenceLens" }), "{e}");
    let e = with(&|i| i.inputs.push(IoBinding { name: "l".into(), role: IoRole::SequenceLens, dims: vec![] }));
    assert!(matches!(e, FileError::DuplicateSequenceLens { loc: Loc::Constant(0) }), "{e}");
    let e = with(&|i| i.constants.push(i.constants[2].clone()));
    assert!(matches!(e, FileError::StateBoundTwice { loc: Loc::Constant(3), cell_state: true, .. }), "{e}");
    let e = with(&|i| i.constants[0].role = IoRole::Output(SeqLayout::TimeBatchFeature));
    assert!(matches!(e, FileError::ConstRole { index: 0, .. }), "{e}");
    let e = with(&|i| i.constants = vec![i.constants[0].clone(); 130]);
    assert!(matches!(e, FileError::TooMany { what: "constants", count: 130, .. }), "{e}");
    // Slots of different hidden sizes in one constant state.
    let desc = ModelDesc {
        layers: vec![
            LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 3, 5)),
            LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 5, 4)),
        ],
    };
    let mut i = GraphInterface::default();
    i.constants.push(ConstInput {
        name: "h".into(),
        role: IoRole::InitialState {
            kind: StateKind::H,
            slots: vec![StateSlot { layer: 0, dir: 0 }, StateSlot { layer: 1, dir: 0 }],
            layout: StateLayout::SlotBatchHidden,
        },
        shape: vec![2, 1, 5],
        values: ConstValues::F32(vec![0.0; 10]),
    });
    let e = write_bytes(&random_packed(desc, 3), &i).unwrap_err();
    assert!(matches!(e, FileError::BadSlot { loc: Loc::Constant(0), slot: 1, .. }), "{e}");
}
