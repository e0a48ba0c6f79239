//! The `.recur` weight file: reader, writer and the constants of its layout.
//!
//! The byte-level format is specified in `formats/SPEC.md`; this module is its reference
//! implementation, and the section numbers in comments (§3.6, ...) refer to that document.
//!
//! * [`parse`] validates a whole file held in a byte slice and returns a [`RecurFile`], a
//!   zero-copy view: the model description and graph interface are decoded (they are
//!   small), the tensors are ranges of the caller's slice. It needs no operating system,
//!   only `alloc`, and it never panics or reads out of bounds, whatever the bytes.
//! * [`write_bytes`] serializes a [`PackedModel`](crate::PackedModel) and its
//!   [`GraphInterface`]; [`write_file`] (feature `std`) writes it to a temporary sibling and
//!   renames it over the target, so a file that someone has memory-mapped is never
//!   truncated under them.
//!
//! ```
//! use recur_format::*;
//! use recur_format::file::{parse, write_bytes, ParseOptions};
//!
//! let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Gru, 3, 4))] };
//! let weights = [LayerWeights::Recurrent { w: vec![0.5; 3 * 4 * 3], r: vec![0.25; 3 * 4 * 4], b: None, p: None }];
//! let model = PackedModel::pack(desc, &weights).unwrap();
//! let bytes = write_bytes(&model, &GraphInterface::default()).unwrap();
//! let file = parse(&bytes, ParseOptions::default()).unwrap();
//! assert_eq!(file.desc(), &model.desc);
//! assert_eq!(file.tensor_data(&file.tensors()[0]), &model.tensors[0].bytes[..]);
//! ```
//!
//! # Alignment in memory
//!
//! Every tensor starts at a multiple of 64 bytes *from the start of the file*, so tensors
//! are 64-byte aligned in memory exactly when the slice itself is ([`is_aligned`]). The
//! reader does not require it (it only hands out byte slices); the engine, which reads f32
//! panels in place, copies an unaligned buffer once into aligned memory and parses that.

mod error;
mod reader;
mod writer;

pub use error::{FileError, Loc, TensorRef};
pub use reader::{parse, FileTensor, ParseOptions, RecurFile};
pub use writer::write_bytes;
#[cfg(feature = "std")]
pub use writer::write_file;

use crate::desc::{CellKind, LayerDesc, ModelDesc};
use crate::interface::{ConstInput, ConstValues, GraphInterface, IoBinding, IoRole, StateKind, StateLayout, StateSlot};
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// The 8 magic bytes that open every file: a non-ASCII byte (breaks under 7-bit transfer),
/// the name, and CR LF (breaks under newline conversion).
pub const MAGIC: [u8; 8] = [0x89, b'R', b'E', b'C', b'U', b'R', 0x0D, 0x0A];
/// The endianness check word; stored little-endian as the bytes `04 03 02 01`.
pub const ENDIAN_CHECK: u32 = 0x0102_0304;
/// The format version this module reads and writes.
pub const VERSION: u32 = 1;
/// Alignment of every tensor, from the start of the file (the packed layout's
/// [`ALIGN`](crate::ALIGN)).
pub const FILE_ALIGN: u64 = crate::layout::ALIGN as u64;

/// Sizes of the fixed records (SPEC.md §3).
pub mod records {
    /// The header.
    pub const HEADER: usize = 128;
    /// One layer record.
    pub const LAYER: usize = 96;
    /// One activation record inside a layer record.
    pub const ACTIVATION: usize = 12;
    /// One tensor record.
    pub const TENSOR: usize = 64;
    /// One binding record (graph input or output).
    pub const BINDING: usize = 32;
    /// One declared-dimension record.
    pub const DIM: usize = 24;
    /// One state-slot record.
    pub const SLOT: usize = 4;
    /// One constant value.
    pub const VALUE: usize = 4;
}

/// The limits a file must respect (SPEC.md §2); each bounds a count before anything is
/// allocated for it.
pub mod limits {
    use crate::desc::limits as desc;
    use crate::interface;

    /// Most layers in a model.
    pub const MAX_LAYERS: usize = desc::MAX_LAYERS;
    /// Most tensors in a file: 6 per direction (W, R, B, P, W_scale, R_scale), two
    /// directions, per layer.
    pub const MAX_TENSORS: usize = 12 * MAX_LAYERS;
    /// Most graph inputs; separately, most graph outputs.
    pub const MAX_BINDINGS: usize = interface::MAX_BINDINGS;
    /// Most constants (one `sequence_lens`, the `h` and `c` of every layer).
    pub const MAX_CONSTANTS: usize = interface::MAX_CONSTANTS;
    /// Most constant values in a file.
    pub const MAX_CONST_VALUES: usize = interface::MAX_CONST_VALUES;
    /// Most declared dimensions of one binding.
    pub const MAX_RANK: usize = 8;
    /// Most state slots of one binding (every direction of every layer).
    pub const MAX_SLOTS: usize = 2 * MAX_LAYERS;
    /// Longest string, in bytes.
    pub const MAX_NAME_LEN: usize = interface::MAX_NAME_LEN;
    /// Binding records a file may hold: inputs, outputs and constants.
    pub const MAX_TOTAL_BINDINGS: usize = 2 * MAX_BINDINGS + MAX_CONSTANTS;
    /// Most dimension records in a file.
    pub const MAX_TOTAL_DIMS: usize = MAX_TOTAL_BINDINGS * MAX_RANK;
    /// Most slot records in a file.
    pub const MAX_TOTAL_SLOTS: usize = MAX_TOTAL_BINDINGS * MAX_SLOTS;
    /// Largest string table: every binding name and every dimension name at full length
    /// (constants have no dimension names).
    pub const MAX_STRING_BYTES: usize = (2 * MAX_BINDINGS * (1 + MAX_RANK) + MAX_CONSTANTS) * MAX_NAME_LEN;
}

/// Byte offsets of fields inside the records, shared by the reader and the writer so that
/// the two cannot disagree (SPEC.md §3.1 – §3.4).
mod wire {
    pub(super) mod header {
        pub const MAGIC: usize = 0;
        pub const ENDIAN: usize = 8;
        pub const VERSION: usize = 12;
        pub const RESERVED_A: usize = 16;
        pub const CHECKSUM: usize = 32;
        pub const FILE_SIZE: usize = 40;
        pub const DATA_OFFSET: usize = 48;
        pub const RESERVED_B: usize = 56;
        pub const LAYER_COUNT: usize = 64;
        pub const TENSOR_COUNT: usize = 68;
        pub const INPUT_COUNT: usize = 72;
        pub const OUTPUT_COUNT: usize = 76;
        pub const SLOT_COUNT: usize = 80;
        pub const DIM_COUNT: usize = 84;
        pub const STRING_BYTES: usize = 88;
        pub const CONST_COUNT: usize = 92;
        pub const VALUE_COUNT: usize = 96;
        pub const RESERVED_C: usize = 100;
        /// `reserved_c` is seven u32 words.
        pub const RESERVED_C_WORDS: usize = 7;
    }
    pub(super) mod layer {
        pub const KIND: usize = 0;
        pub const CELL: usize = 1;
        pub const DIRECTION: usize = 2;
        pub const DTYPE: usize = 3;
        pub const FLAGS: usize = 4;
        pub const DENSE_ACT: usize = 5;
        pub const RESERVED_A: usize = 6;
        pub const INPUT_SIZE: usize = 8;
        pub const SIZE: usize = 12;
        pub const CLIP: usize = 16;
        pub const RESERVED_B: usize = 20;
        pub const ACTIVATIONS: usize = 24;
        /// Activation record fields, relative to the activation record.
        pub const ACT_KIND: usize = 0;
        pub const ACT_RESERVED: usize = 1;
        pub const ACT_ALPHA: usize = 4;
        pub const ACT_BETA: usize = 8;

        pub const KIND_RECURRENT: u8 = 0;
        pub const KIND_DENSE: u8 = 1;

        pub const FLAG_CLIP: u8 = 0x01;
        pub const FLAG_INPUT_FORGET: u8 = 0x02;
        pub const FLAG_PEEPHOLES: u8 = 0x04;
        pub const FLAG_LINEAR_BEFORE_RESET: u8 = 0x08;
        pub const FLAGS_KNOWN: u8 = 0x0f;
    }
    pub(super) mod tensor {
        pub const LAYER: usize = 0;
        pub const DIR: usize = 2;
        pub const KIND: usize = 3;
        pub const DTYPE: usize = 4;
        pub const LAYOUT: usize = 5;
        pub const RESERVED_A: usize = 6;
        pub const SHAPE0: usize = 8;
        pub const SHAPE1: usize = 16;
        pub const ELEMS: usize = 24;
        pub const OFFSET: usize = 32;
        pub const BYTE_LEN: usize = 40;
        pub const CHECKSUM: usize = 48;
        pub const RESERVED_B: usize = 56;
    }
    pub(super) mod binding {
        pub const NAME_OFFSET: usize = 0;
        pub const NAME_LEN: usize = 4;
        pub const ROLE: usize = 8;
        pub const LAYOUT: usize = 9;
        pub const STATE_KIND: usize = 10;
        pub const RESERVED_A: usize = 11;
        pub const SLOT_COUNT: usize = 12;
        pub const DIM_COUNT: usize = 16;
        pub const RESERVED_B: usize = 20;
        /// `reserved` is three u32 words.
        pub const RESERVED_B_WORDS: usize = 3;

        pub const ROLE_SEQUENCE: u8 = 0;
        pub const ROLE_SEQUENCE_LENS: u8 = 1;
        pub const ROLE_INITIAL_STATE: u8 = 2;
        pub const ROLE_OUTPUT: u8 = 3;
        pub const ROLE_FINAL_STATE: u8 = 4;
        pub const ROLE_FINAL_OUTPUT: u8 = 5;
    }
    pub(super) mod dim {
        pub const KIND: usize = 0;
        pub const RESERVED_A: usize = 1;
        pub const NAME_OFFSET: usize = 4;
        pub const NAME_LEN: usize = 8;
        pub const RESERVED_B: usize = 12;
        pub const VALUE: usize = 16;

        pub const KIND_FIXED: u8 = 0;
        pub const KIND_SYMBOLIC: u8 = 1;
    }
    pub(super) mod slot {
        pub const LAYER: usize = 0;
        pub const DIR: usize = 2;
        pub const RESERVED: usize = 3;
    }
}

/// `x` rounded up to a multiple of [`FILE_ALIGN`], or `None` on overflow.
fn align_up(x: u64) -> Option<u64> {
    Some(x.checked_add(FILE_ALIGN - 1)? & !(FILE_ALIGN - 1))
}

/// Whether `bytes` starts on a 64-byte boundary in memory, so that every tensor of a file
/// held in it is 64-byte aligned too (tensor offsets are multiples of 64 from the start of
/// the file). The reader does not need it; the engine does for in-place SIMD access, and
/// copies an unaligned buffer once into aligned memory before parsing it.
pub fn is_aligned(bytes: &[u8]) -> bool {
    // Only the address is inspected; no unsafe code, no dereference.
    (bytes.as_ptr() as usize).is_multiple_of(FILE_ALIGN as usize)
}

/// The checksum of one tensor's bytes (XXH3-64, seed 0; SPEC.md §5).
pub fn tensor_checksum(data: &[u8]) -> u64 {
    xxh3_64(data)
}

/// The whole-file checksum of `bytes` (SPEC.md §5): XXH3-64 of every byte, with the 8 bytes
/// of the checksum field taken as zero. Streamed in three pieces so that the file is
/// neither copied nor modified; a slice too short to hold the field is hashed as is
/// (such a file is rejected as truncated anyway).
pub fn file_checksum(bytes: &[u8]) -> u64 {
    let at = wire::header::CHECKSUM;
    match (bytes.get(..at), bytes.get(at + 8..)) {
        (Some(head), Some(tail)) => {
            let mut h = Xxh3Default::new();
            h.update(head);
            h.update(&[0u8; 8]);
            h.update(tail);
            h.digest()
        }
        _ => xxh3_64(bytes),
    }
}

/// Which binding a [`Loc`] names.
fn binding_loc(is_output: bool, index: usize) -> Loc {
    if is_output {
        Loc::Output(index)
    } else {
        Loc::Input(index)
    }
}

/// Checks the interface rules of SPEC.md §3.4 and the limits of §2 against `desc` (which
/// must already be valid). The reader applies it to what it decoded and the writer to what
/// it is given, so a file the writer accepts is a file the reader accepts.
pub fn check_interface(iface: &GraphInterface, desc: &ModelDesc) -> Result<(), FileError> {
    for (is_output, list) in [(false, &iface.inputs), (true, &iface.outputs)] {
        if list.len() > limits::MAX_BINDINGS {
            return Err(FileError::TooMany {
                loc: Loc::Header,
                what: if is_output { "graph outputs" } else { "graph inputs" },
                count: list.len() as u64,
                max: limits::MAX_BINDINGS as u64,
            });
        }
        for (i, b) in list.iter().enumerate() {
            check_binding(binding_loc(is_output, i), is_output, b, desc)?;
        }
    }
    if iface.constants.len() > limits::MAX_CONSTANTS {
        return Err(FileError::TooMany {
            loc: Loc::Header,
            what: "constants",
            count: iface.constants.len() as u64,
            max: limits::MAX_CONSTANTS as u64,
        });
    }
    let values: u64 = iface.constants.iter().map(|c| c.values.len() as u64).sum();
    if values > limits::MAX_CONST_VALUES as u64 {
        return Err(FileError::TooMany {
            loc: Loc::Header,
            what: "constant values",
            count: values,
            max: limits::MAX_CONST_VALUES as u64,
        });
    }
    let mut batch: Option<u64> = None;
    for (i, c) in iface.constants.iter().enumerate() {
        let b = check_constant(i, c, desc)?;
        match batch {
            None => batch = Some(b),
            Some(first) if first != b => return Err(FileError::ConstBatch { index: i, batch: b, expected: first }),
            Some(_) => {}
        }
    }
    // Each run-time quantity comes from one place: one sequence_lens, and each initial
    // state slot bound at most once, whether by a graph input or a constant.
    let givers = iface
        .inputs
        .iter()
        .enumerate()
        .map(|(i, b)| (Loc::Input(i), &b.role))
        .chain(iface.constants.iter().enumerate().map(|(i, c)| (Loc::Constant(i), &c.role)));
    let mut lens_seen = false;
    let mut bound: Vec<(StateKind, StateSlot)> = Vec::new();
    for (loc, role) in givers {
        match role {
            IoRole::SequenceLens if lens_seen => return Err(FileError::DuplicateSequenceLens { loc }),
            IoRole::SequenceLens => lens_seen = true,
            IoRole::InitialState { kind, slots, .. } => {
                for s in slots {
                    if bound.contains(&(*kind, *s)) {
                        return Err(FileError::StateBoundTwice {
                            loc,
                            cell_state: *kind == StateKind::C,
                            layer: s.layer,
                            dir: s.dir,
                        });
                    }
                    bound.push((*kind, *s));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn name_len(loc: Loc, what: &'static str, len: usize) -> Result<(), FileError> {
    if len > limits::MAX_NAME_LEN {
        Err(FileError::NameTooLong { loc, what, len: len as u64, max: limits::MAX_NAME_LEN as u64 })
    } else {
        Ok(())
    }
}

fn check_binding(loc: Loc, is_output: bool, b: &IoBinding, desc: &ModelDesc) -> Result<(), FileError> {
    name_len(loc, "name", b.name.len())?;
    if b.dims.len() > limits::MAX_RANK {
        return Err(FileError::TooMany {
            loc,
            what: "declared dimensions",
            count: b.dims.len() as u64,
            max: limits::MAX_RANK as u64,
        });
    }
    for d in &b.dims {
        if let crate::interface::Dim::Symbolic(s) = d {
            name_len(loc, "dimension name", s.len())?;
        }
    }
    if b.role.is_output() != is_output {
        return Err(FileError::RoleMisplaced { loc, role: b.role.name() });
    }
    if let IoRole::Sequence(layout) = b.role {
        if !layout.is_input_layout() {
            return Err(FileError::InputLayout { loc, code: layout as u8 });
        }
    }
    check_slots(loc, &b.role, desc)
}

/// The slot rules of a state role (SPEC.md §3.4); other roles pass.
fn check_slots(loc: Loc, role: &IoRole, desc: &ModelDesc) -> Result<(), FileError> {
    if let IoRole::InitialState { kind, slots, layout } | IoRole::FinalState { kind, slots, layout } = role {
        if slots.is_empty() {
            return Err(FileError::SlotCount { loc, count: 0, why: "a state binding needs at least one slot" });
        }
        if slots.len() > limits::MAX_SLOTS {
            return Err(FileError::TooMany {
                loc,
                what: "state slots",
                count: slots.len() as u64,
                max: limits::MAX_SLOTS as u64,
            });
        }
        if *layout == StateLayout::BatchHidden && slots.len() != 1 {
            return Err(FileError::SlotCount {
                loc,
                count: slots.len(),
                why: "the [B, H] state layout holds exactly one slot",
            });
        }
        for (si, s) in slots.iter().enumerate() {
            let bad = |why| Err(FileError::BadSlot { loc, slot: si, layer: s.layer, dir: s.dir, why });
            let r = match desc.layers.get(usize::from(s.layer)) {
                None => return bad("no such layer"),
                Some(LayerDesc::Dense(_)) => return bad("a dense layer has no state"),
                Some(LayerDesc::Recurrent(r)) => r,
            };
            if usize::from(s.dir) >= r.direction.count() {
                return bad("the layer has no such direction");
            }
            if *kind == StateKind::C && r.cell != CellKind::Lstm {
                return bad("only LSTM layers have a cell state c");
            }
        }
    }
    Ok(())
}

/// Hidden size of a slot's layer (the slot was checked).
fn slot_hidden(desc: &ModelDesc, s: &StateSlot) -> u64 {
    match desc.layers.get(usize::from(s.layer)) {
        Some(LayerDesc::Recurrent(r)) => r.hidden_size as u64,
        _ => 0,
    }
}

/// Checks constant `index` (SPEC.md §3.4) and returns the batch size it fixes.
fn check_constant(index: usize, c: &ConstInput, desc: &ModelDesc) -> Result<u64, FileError> {
    let loc = Loc::Constant(index);
    name_len(loc, "name", c.name.len())?;
    if c.shape.len() > limits::MAX_RANK {
        return Err(FileError::TooMany {
            loc,
            what: "declared dimensions",
            count: c.shape.len() as u64,
            max: limits::MAX_RANK as u64,
        });
    }
    // The shape the role implies, with the batch axis (checked separately) as `None`.
    let expected: Vec<Option<u64>> = match &c.role {
        IoRole::SequenceLens => alloc::vec![None],
        IoRole::InitialState { slots, layout, .. } => {
            check_slots(loc, &c.role, desc)?;
            let h = slot_hidden(desc, &slots[0]);
            if let Some((si, s)) = slots.iter().enumerate().find(|(_, s)| slot_hidden(desc, s) != h) {
                return Err(FileError::BadSlot {
                    loc,
                    slot: si,
                    layer: s.layer,
                    dir: s.dir,
                    why: "the slots of a constant state must share one hidden size",
                });
            }
            let n = slots.len() as u64;
            match layout {
                StateLayout::SlotBatchHidden => alloc::vec![Some(n), None, Some(h)],
                StateLayout::BatchSlotHidden => alloc::vec![None, Some(n), Some(h)],
                StateLayout::BatchHidden => alloc::vec![None, Some(h)],
            }
        }
        role => return Err(FileError::ConstRole { index, role: role.name() }),
    };
    if c.shape.len() != expected.len() {
        return Err(FileError::ConstRank { index, rank: c.shape.len(), expected: expected.len() });
    }
    let mut batch = 0;
    for (axis, (&found, want)) in c.shape.iter().zip(&expected).enumerate() {
        match want {
            Some(w) if found != *w => return Err(FileError::ConstShape { index, axis, found, expected: *w }),
            Some(_) => {}
            None => batch = found,
        }
    }
    if batch == 0 {
        return Err(FileError::ConstEmptyBatch { index });
    }
    // The shape's product; it was bounded by the values table (reader) or is compared
    // with the values held (writer), so overflow only means "too many".
    let count = c.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let (held, lengths) = match &c.values {
        ConstValues::Lengths(v) => (v.len() as u64, true),
        ConstValues::F32(v) => (v.len() as u64, false),
    };
    if lengths != (c.role == IoRole::SequenceLens) {
        return Err(FileError::ConstValueType { index, role: c.role.name() });
    }
    if count != Some(held) {
        return Err(FileError::ConstValueCount { index, count: held, expected: count });
    }
    if let ConstValues::Lengths(v) = &c.values {
        if let Some((element, &value)) = v.iter().enumerate().find(|(_, &x)| x > i32::MAX as u32) {
            return Err(FileError::ConstLength { index, element, value });
        }
    }
    Ok(batch)
}

/// Helpers for tests and the fuzz harness, which craft files by hand.
#[doc(hidden)]
pub mod testing {
    use super::{records, wire};

    fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
    }
    fn u64_at(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
    }

    /// Recomputes every tensor checksum that the tensor table lets it find, then the file
    /// checksum, in place, so that a corrupted file trips the rule under test rather than
    /// a checksum. Whatever the bytes, it never panics: records or tensors that lie outside
    /// the slice are skipped.
    pub fn fixup_checksums(bytes: &mut [u8]) {
        let tensors = (|| {
            let layers = u32_at(bytes, wire::header::LAYER_COUNT)? as usize;
            let count = u32_at(bytes, wire::header::TENSOR_COUNT)? as usize;
            let at = layers.checked_mul(records::LAYER)?.checked_add(records::HEADER)?;
            Some((at, count))
        })();
        if let Some((table, count)) = tensors {
            for i in 0..count {
                let Some(rec) = i.checked_mul(records::TENSOR).and_then(|o| o.checked_add(table)) else { break };
                if rec.checked_add(records::TENSOR).is_none_or(|end| end > bytes.len()) {
                    break;
                }
                let (Some(off), Some(len)) =
                    (u64_at(bytes, rec + wire::tensor::OFFSET), u64_at(bytes, rec + wire::tensor::BYTE_LEN))
                else {
                    break;
                };
                let range = usize::try_from(off).ok().and_then(|o| Some(o..o.checked_add(usize::try_from(len).ok()?)?));
                if let Some(data) = range.and_then(|r| bytes.get(r)) {
                    let sum = super::tensor_checksum(data);
                    let field = rec + wire::tensor::CHECKSUM;
                    bytes[field..field + 8].copy_from_slice(&sum.to_le_bytes());
                }
            }
        }
        if bytes.len() >= wire::header::CHECKSUM + 8 {
            let sum = super::file_checksum(bytes);
            bytes[wire::header::CHECKSUM..wire::header::CHECKSUM + 8].copy_from_slice(&sum.to_le_bytes());
        }
    }
}

pub use testing::fixup_checksums;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_file_checksum_is_the_hash_with_the_field_zeroed() {
        for len in [0usize, 10, 39, 40, 41, 128, 1000, 5000] {
            let bytes: alloc::vec::Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut zeroed = bytes.clone();
            if len >= 40 {
                zeroed[32..40].fill(0);
            }
            assert_eq!(file_checksum(&bytes), xxh3_64(&zeroed), "len {len}");
        }
    }

    #[test]
    fn constants_agree_with_the_spec() {
        assert_eq!(ENDIAN_CHECK.to_le_bytes(), [4, 3, 2, 1]);
        assert_eq!(wire::header::RESERVED_C + 4 * wire::header::RESERVED_C_WORDS, records::HEADER);
        assert_eq!(wire::layer::ACTIVATIONS + 6 * records::ACTIVATION, records::LAYER);
        assert_eq!(wire::tensor::RESERVED_B + 8, records::TENSOR);
        assert_eq!(wire::binding::RESERVED_B + 4 * wire::binding::RESERVED_B_WORDS, records::BINDING);
        assert_eq!(wire::dim::VALUE + 8, records::DIM);
        assert_eq!(wire::header::VALUE_COUNT + 4, wire::header::RESERVED_C);
        assert_eq!(limits::MAX_CONSTANTS, 129);
        assert_eq!(limits::MAX_TOTAL_DIMS, 2056);
        assert_eq!(limits::MAX_TOTAL_SLOTS, 32896);
        assert_eq!(limits::MAX_STRING_BYTES, 1_311_744);
        assert_eq!(align_up(0), Some(0));
        assert_eq!(align_up(1), Some(64));
        assert_eq!(align_up(u64::MAX - 62), None);
    }
}
