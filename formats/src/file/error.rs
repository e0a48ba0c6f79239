//! [`FileError`]: one variant per rule of SPEC.md that a file (or a model given to the
//! writer) can break, each carrying the offending values and where they were found.

use crate::desc::DescError;
use crate::layout::TensorId;
use core::fmt;

/// Where in a file something was found, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The header, or the file as a whole.
    Header,
    /// Layer record `i`.
    Layer(usize),
    /// Tensor record `i`.
    Tensor(usize),
    /// Graph input `i` (its binding, dimension or slot records, or its strings).
    Input(usize),
    /// Graph output `i`.
    Output(usize),
    /// Constant `i` (its binding, dimension, slot or value records, or its name).
    Constant(usize),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Header => f.write_str("header"),
            Loc::Layer(i) => write!(f, "layer {i}"),
            Loc::Tensor(i) => write!(f, "tensor {i}"),
            Loc::Input(i) => write!(f, "input {i}"),
            Loc::Output(i) => write!(f, "output {i}"),
            Loc::Constant(i) => write!(f, "constant {i}"),
        }
    }
}

/// A tensor named by its position in the table and its identity, for messages:
/// `tensor 3 (layer 1 dir 0 R)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorRef {
    /// Index in the tensor table.
    pub index: usize,
    /// Identity.
    pub id: TensorId,
}

impl fmt::Display for TensorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tensor {} ({})", self.index, IdName(self.id))
    }
}

/// Displays a tensor id as `layer 1 dir 0 R`.
struct IdName(TensorId);

impl fmt::Display for IdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {} dir {} {}", self.0.layer, self.0.dir, self.0.kind.name())
    }
}

/// Why a `.recur` file could not be read or written. Each variant is one rule of
/// SPEC.md; messages are lowercase and carry the offending values and their place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// A field or table extends past the end of the input.
    #[error("{loc}: file truncated in {what}: needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        /// Where.
        loc: Loc,
        /// The field or table.
        what: &'static str,
        /// Its first byte.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// Length of the input.
        len: u64,
    },
    /// The file does not start with [`MAGIC`](super::MAGIC).
    #[error("not a .recur file: magic bytes are {found:02x?}")]
    BadMagic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// The endianness check word is not [`ENDIAN_CHECK`](super::ENDIAN_CHECK).
    #[error("endianness check word is {found:#010x}, expected {expected:#010x}{hint}",
        expected = super::ENDIAN_CHECK,
        hint = if *found == super::ENDIAN_CHECK.swap_bytes() { " (file written big-endian)" } else { "" })]
    WrongEndianness {
        /// The word read (little-endian).
        found: u32,
    },
    /// A version this reader does not implement.
    #[error("unsupported .recur version {found}; this reader implements version {supported}",
        supported = super::VERSION)]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// A reserved field, or a field unused by this kind of record, is not zero.
    #[error("{loc}: {what} at byte {offset} is {value:#x}, must be zero")]
    NotZero {
        /// Where.
        loc: Loc,
        /// The field.
        what: &'static str,
        /// Its offset in the file.
        offset: u64,
        /// Its value.
        value: u64,
    },
    /// A layer record sets flag bits that the format does not define.
    #[error("layer {layer}: unknown flag bits {flags:#04x} (known: {known:#04x})", known = super::wire::layer::FLAGS_KNOWN)]
    UnknownFlags {
        /// Layer index.
        layer: usize,
        /// The whole flags byte.
        flags: u8,
    },
    /// An enumeration code that SPEC.md §6 does not list.
    #[error("{loc}: unknown {what} code {code} at byte {offset}")]
    UnknownCode {
        /// Where.
        loc: Loc,
        /// Which enumeration.
        what: &'static str,
        /// The code.
        code: u8,
        /// Its offset in the file.
        offset: u64,
    },
    /// A count above its limit (SPEC.md §2).
    #[error("{loc}: {count} {what}, more than the limit of {max}")]
    TooMany {
        /// Where.
        loc: Loc,
        /// What is counted.
        what: &'static str,
        /// The count.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// The input is shorter than the header's `file_size`.
    #[error("file truncated: header declares {declared} bytes but the file has {len}")]
    FileTooShort {
        /// `file_size` from the header.
        declared: u64,
        /// Length of the input.
        len: u64,
    },
    /// Bytes after the end of the file: past `file_size`, or past the padding of the last
    /// tensor.
    #[error("{extra} trailing bytes after the end of the data at byte {end} (file has {len})", extra = len.saturating_sub(*end))]
    TrailingBytes {
        /// Where the file should end.
        end: u64,
        /// Where it does (always greater than `end`).
        len: u64,
    },
    /// `data_offset` is not the first 64-byte boundary after the tables.
    #[error("data offset is {found}, expected {expected} (the tables end at the byte before, aligned to 64)")]
    DataOffset {
        /// `data_offset` from the header.
        found: u64,
        /// `align64(tables_end)`.
        expected: u64,
    },
    /// Counts in the header disagree with the tables they describe.
    #[error("header declares {declared} {what} but the bindings use {actual}")]
    CountMismatch {
        /// What is counted.
        what: &'static str,
        /// The header's count.
        declared: u64,
        /// The sum over the records.
        actual: u64,
    },
    /// The whole-file checksum does not match.
    #[error("file checksum mismatch: stored {stored:#018x}, computed {computed:#018x} (file damaged)")]
    FileChecksum {
        /// Stored in the header.
        stored: u64,
        /// Computed over the file.
        computed: u64,
    },
    /// A tensor's checksum does not match its bytes.
    #[error("{tensor}: checksum mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    TensorChecksum {
        /// The tensor.
        tensor: TensorRef,
        /// Stored in its record.
        stored: u64,
        /// Computed over its bytes.
        computed: u64,
    },
    /// The layer records decode to a description that cannot run (SPEC.md §4).
    #[error("invalid model description: {0}")]
    InvalidDesc(#[from] DescError),
    /// A string longer than [`MAX_NAME_LEN`](super::limits::MAX_NAME_LEN).
    #[error("{loc}: {what} is {len} bytes long, more than the limit of {max}")]
    NameTooLong {
        /// Where.
        loc: Loc,
        /// Which string.
        what: &'static str,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A string reaches past the end of the string table.
    #[error(
        "{loc}: {what} at string offset {offset} with length {len} runs past the string table of {table_len} bytes"
    )]
    StringOutOfBounds {
        /// Where.
        loc: Loc,
        /// Which string.
        what: &'static str,
        /// Its offset in the table.
        offset: u64,
        /// Its length.
        len: u64,
        /// The table's size.
        table_len: u64,
    },
    /// A string does not start where the previous one ended (gap, overlap or reordering).
    #[error(
        "{loc}: {what} starts at string offset {offset}, expected {expected} (strings are stored in order, contiguous)"
    )]
    StringNotContiguous {
        /// Where.
        loc: Loc,
        /// Which string.
        what: &'static str,
        /// Its offset in the table.
        offset: u64,
        /// The end of the previous string.
        expected: u64,
    },
    /// A string is not UTF-8.
    #[error("{loc}: {what} at string offset {offset} is not valid utf-8")]
    InvalidUtf8 {
        /// Where.
        loc: Loc,
        /// Which string.
        what: &'static str,
        /// Its offset in the table.
        offset: u64,
    },
    /// A graph input with an output role, or the reverse.
    #[error(
        "{loc}: role {role} is not allowed here (inputs: Sequence, SequenceLens, InitialState; outputs: Output, \
         FinalState, FinalOutput)"
    )]
    RoleMisplaced {
        /// Where.
        loc: Loc,
        /// The role.
        role: &'static str,
    },
    /// A sequence input with a layout for outputs only (a recurrent `Y` or flattened frames).
    #[error("{loc}: sequence layout code {code} is for outputs only (inputs: [T, B, F], [B, T, F] or [T, F])")]
    InputLayout {
        /// Where.
        loc: Loc,
        /// The layout code.
        code: u8,
    },
    /// A constant whose role is not SequenceLens or InitialState.
    #[error("constant {index}: role {role} cannot be a constant (constants: SequenceLens, InitialState)")]
    ConstRole {
        /// Constant index.
        index: usize,
        /// The role.
        role: &'static str,
    },
    /// A constant dimension that is symbolic.
    #[error("constant {index}: dimension {axis} is symbolic; a constant's shape is fixed")]
    ConstSymbolicDim {
        /// Constant index.
        index: usize,
        /// The axis.
        axis: usize,
    },
    /// A constant whose rank is not the one its role and layout imply.
    #[error("constant {index}: rank {rank}, but its role and layout need rank {expected}")]
    ConstRank {
        /// Constant index.
        index: usize,
        /// Its rank.
        rank: usize,
        /// The rank the role implies.
        expected: usize,
    },
    /// A constant whose slot count or hidden size disagrees with its slots.
    #[error("constant {index}: dimension {axis} is {found}, but its slots need {expected}")]
    ConstShape {
        /// Constant index.
        index: usize,
        /// The axis.
        axis: usize,
        /// The size found.
        found: u64,
        /// The size the slots imply.
        expected: u64,
    },
    /// A constant with a batch size of zero.
    #[error("constant {index}: batch size 0; a constant fixes the batch size, which must be at least 1")]
    ConstEmptyBatch {
        /// Constant index.
        index: usize,
    },
    /// Constants that fix different batch sizes.
    #[error("constant {index}: batch size {batch}, but an earlier constant fixes it to {expected}")]
    ConstBatch {
        /// Constant index.
        index: usize,
        /// Its batch size.
        batch: u64,
        /// The first constant's batch size.
        expected: u64,
    },
    /// Constant values of the wrong kind for the role (writer only: the reader derives the
    /// kind from the role).
    #[error("constant {index}: role {role} takes {}", if *role == "SequenceLens" { "lengths" } else { "f32 values" })]
    ConstValueType {
        /// Constant index.
        index: usize,
        /// The role.
        role: &'static str,
    },
    /// A constant holding a different number of values than its shape.
    #[error("constant {index}: {count} values, but its shape holds {}",
        expected.map_or("more than 2^64".into(), |e| alloc::format!("{e}")))]
    ConstValueCount {
        /// Constant index.
        index: usize,
        /// Values held.
        count: u64,
        /// Product of the shape (`None`: overflow).
        expected: Option<u64>,
    },
    /// A constant sequence length above `i32::MAX` (ONNX `sequence_lens` is int32).
    #[error("constant {index}: sequence length {element} is {value}, more than 2147483647")]
    ConstLength {
        /// Constant index.
        index: usize,
        /// Element index.
        element: usize,
        /// The value.
        value: u32,
    },
    /// A second sequence_lens (graph input or constant).
    #[error("{loc}: a second sequence_lens; a model has at most one")]
    DuplicateSequenceLens {
        /// Where the second one is.
        loc: Loc,
    },
    /// An initial state slot bound by two inputs or constants.
    #[error("{loc}: the initial {} of layer {layer} dir {dir} is bound twice", if *cell_state { "c" } else { "h" })]
    StateBoundTwice {
        /// Where the second binding is.
        loc: Loc,
        /// Whether the state is `c` (else `h`).
        cell_state: bool,
        /// The layer.
        layer: u16,
        /// The direction.
        dir: u8,
    },
    /// A state binding with the wrong number of slots.
    #[error("{loc}: {count} state slots: {why}")]
    SlotCount {
        /// Where.
        loc: Loc,
        /// The slot count.
        count: usize,
        /// The rule.
        why: &'static str,
    },
    /// A state slot that names no state of the model.
    #[error("{loc}: slot {slot} (layer {layer} dir {dir}): {why}")]
    BadSlot {
        /// Where.
        loc: Loc,
        /// Slot index within the binding.
        slot: usize,
        /// The layer it names.
        layer: u16,
        /// The direction it names.
        dir: u8,
        /// What is wrong.
        why: &'static str,
    },
    /// The file has a different number of tensors than its layers need.
    #[error("{found} tensors, but the layers need {expected}")]
    TensorCount {
        /// In the file (or model).
        found: u64,
        /// From the description.
        expected: u64,
    },
    /// A tensor out of canonical order, missing, or not belonging to the model.
    #[error("tensor {index} is {}, expected {} (tensors are in canonical order)", IdName(*found), IdName(*expected))]
    UnexpectedTensor {
        /// Index in the tensor table.
        index: usize,
        /// The tensor found.
        found: TensorId,
        /// The canonical tensor at this index.
        expected: TensorId,
    },
    /// A tensor whose dtype, layout, shape or element count disagrees with its layer.
    #[error("{tensor}: {field} is {found}, but its layer needs {expected}")]
    TensorMismatch {
        /// The tensor.
        tensor: TensorRef,
        /// Which field.
        field: &'static str,
        /// The value found.
        found: u64,
        /// The value the layer implies.
        expected: u64,
    },
    /// A tensor's byte length is not its element count times the element size.
    #[error("{tensor}: byte length {byte_len} is not elems x dtype size = {expected}")]
    TensorLength {
        /// The tensor.
        tensor: TensorRef,
        /// The byte length found.
        byte_len: u64,
        /// Elements times element size.
        expected: u64,
    },
    /// Arithmetic on numbers from the file overflowed.
    #[error("{loc}: arithmetic overflow computing {what}")]
    Overflow {
        /// Where.
        loc: Loc,
        /// The quantity.
        what: &'static str,
    },
    /// A tensor offset that is not a multiple of 64.
    #[error("{tensor}: offset {offset} is not a multiple of 64")]
    Misaligned {
        /// The tensor.
        tensor: TensorRef,
        /// Its offset.
        offset: u64,
    },
    /// A tensor that starts before the previous tensor (or the tables) ends.
    #[error("{tensor}: offset {offset} overlaps the previous tensor or the tables, which end at byte {prev_end}")]
    Overlap {
        /// The tensor.
        tensor: TensorRef,
        /// Its offset.
        offset: u64,
        /// Where the previous region ends.
        prev_end: u64,
    },
    /// A gap before a tensor larger than the padding to the next 64-byte boundary.
    #[error("{tensor}: offset {offset} leaves a hole; it must start at byte {expected}")]
    Hole {
        /// The tensor.
        tensor: TensorRef,
        /// Its offset.
        offset: u64,
        /// The next 64-byte boundary after the previous region.
        expected: u64,
    },
    /// A tensor that reaches past the end of the file.
    #[error("{tensor}: ends at byte {end}, past the end of the file at {file_size}")]
    TensorOutOfBounds {
        /// The tensor.
        tensor: TensorRef,
        /// One past its last byte.
        end: u64,
        /// The file's size.
        file_size: u64,
    },
    /// A padding byte that is not zero.
    #[error("padding byte at {offset} is {value:#04x}, must be zero")]
    NonZeroPadding {
        /// Its offset in the file.
        offset: u64,
        /// Its value.
        value: u8,
    },
    /// The operating system refused a read or write (writer only).
    #[cfg(feature = "std")]
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
