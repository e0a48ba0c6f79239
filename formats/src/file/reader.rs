//! The validating reader: bytes in, a [`RecurFile`] view out, or the first rule broken.
//!
//! Reading follows SPEC.md §8 step by step. Every number from the file is treated as
//! hostile: each read is a `get` that names the field it reads, each sum or product is
//! checked and names the quantity, and every count is held against its limit before
//! anything is allocated for it. The result borrows the input: tensors are ranges of it.

use super::error::{FileError, Loc, TensorRef};
use super::{align_up, check_interface, file_checksum, limits, records, tensor_checksum, wire};
use crate::desc::{
    ActKind, Activation, CellKind, DType, DenseAct, DenseDesc, Direction, LayerDesc, ModelDesc, RecurrentDesc,
};
use crate::interface::{
    ConstInput, ConstValues, Dim, FinalLayout, GraphInterface, IoBinding, IoRole, SeqLayout, StateKind, StateLayout,
    StateSlot,
};
use crate::layout::{expected_tensors, PackedLayout, PackedModel, PackedTensor, TensorId, TensorKind, TensorSpec};
use alloc::string::String;
use alloc::vec::Vec;

/// How strictly to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Verify the whole-file checksum and every tensor checksum (default `true`). Turning it
    /// off skips only the checksums, never a structural rule; it saves one pass over the
    /// weights for a file in trusted, read-only memory.
    pub verify_checksums: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { verify_checksums: true }
    }
}

/// One tensor of a parsed file: what it is and where its bytes lie in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileTensor {
    /// Identity, dtype, layout, logical shape and element count (equal to the canonical
    /// spec from [`expected_tensors`]).
    pub spec: TensorSpec,
    /// Offset of its first byte in the input (a multiple of 64).
    pub offset: usize,
    /// Its length in bytes (`spec.bytes()`, padding excluded).
    pub len: usize,
    /// Its stored checksum (verified unless checksums were skipped).
    pub checksum: u64,
}

/// A validated `.recur` file: the decoded description and interface, and the tensors as
/// ranges of the input slice (zero-copy).
#[derive(Clone, Debug)]
pub struct RecurFile<'a> {
    bytes: &'a [u8],
    version: u32,
    file_checksum: u64,
    desc: ModelDesc,
    interface: GraphInterface,
    tensors: Vec<FileTensor>,
}

impl<'a> RecurFile<'a> {
    /// The model description (valid: it passed [`ModelDesc::validate`]).
    pub fn desc(&self) -> &ModelDesc {
        &self.desc
    }
    /// The ONNX graph's interface (valid against the description).
    pub fn interface(&self) -> &GraphInterface {
        &self.interface
    }
    /// Every tensor, in canonical order.
    pub fn tensors(&self) -> &[FileTensor] {
        &self.tensors
    }
    /// The bytes of a tensor of this file. A `FileTensor` not from this file that does not
    /// fit the input yields an empty slice rather than a panic.
    pub fn tensor_data(&self, t: &FileTensor) -> &'a [u8] {
        t.offset.checked_add(t.len).and_then(|end| self.bytes.get(t.offset..end)).unwrap_or(&[])
    }
    /// The tensor with this identity and its bytes, if the model has it.
    pub fn find(&self, id: TensorId) -> Option<(&FileTensor, &'a [u8])> {
        self.tensors.iter().find(|t| t.spec.id == id).map(|t| (t, self.tensor_data(t)))
    }
    /// The whole input the file was parsed from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The format version of the file.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The stored whole-file checksum (an identity for the exact bytes).
    pub fn file_checksum(&self) -> u64 {
        self.file_checksum
    }
    /// Copies the model out of the input into an owned [`PackedModel`].
    pub fn to_packed_model(&self) -> PackedModel {
        PackedModel {
            desc: self.desc.clone(),
            tensors: self
                .tensors
                .iter()
                .map(|t| PackedTensor { spec: t.spec, bytes: self.tensor_data(t).to_vec() })
                .collect(),
        }
    }
    /// The decoded parts, without the borrow of the input; the tensor ranges still index
    /// the same bytes.
    pub fn into_parts(self) -> (ModelDesc, GraphInterface, Vec<FileTensor>) {
        (self.desc, self.interface, self.tensors)
    }
}

/// The input with bounded, field-naming reads.
struct Src<'a> {
    bytes: &'a [u8],
    len: u64,
}

impl<'a> Src<'a> {
    /// `n` bytes at `start`, or `Truncated` naming `what`.
    fn slice(&self, loc: Loc, what: &'static str, start: u64, n: u64) -> Result<&'a [u8], FileError> {
        let end = start.checked_add(n).ok_or(FileError::Overflow { loc, what })?;
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| self.bytes.get(s..e))
            .ok_or(FileError::Truncated { loc, what, start, end, len: self.len })
    }
    fn array<const N: usize>(&self, loc: Loc, what: &'static str, at: u64) -> Result<[u8; N], FileError> {
        let s = self.slice(loc, what, at, N as u64)?;
        // `slice` returned exactly N bytes, so the conversion cannot fail; map it anyway
        // rather than unwrap, so that no path can panic.
        s.try_into().map_err(|_| FileError::Truncated { loc, what, start: at, end: at, len: self.len })
    }
    fn u8(&self, loc: Loc, what: &'static str, at: u64) -> Result<u8, FileError> {
        Ok(self.array::<1>(loc, what, at)?[0])
    }
    fn u16(&self, loc: Loc, what: &'static str, at: u64) -> Result<u16, FileError> {
        Ok(u16::from_le_bytes(self.array(loc, what, at)?))
    }
    fn u32(&self, loc: Loc, what: &'static str, at: u64) -> Result<u32, FileError> {
        Ok(u32::from_le_bytes(self.array(loc, what, at)?))
    }
    fn u64(&self, loc: Loc, what: &'static str, at: u64) -> Result<u64, FileError> {
        Ok(u64::from_le_bytes(self.array(loc, what, at)?))
    }
    fn f32(&self, loc: Loc, what: &'static str, at: u64) -> Result<f32, FileError> {
        Ok(f32::from_bits(self.u32(loc, what, at)?))
    }
    /// Decodes a `u8` enumeration code.
    fn code<T>(&self, loc: Loc, what: &'static str, at: u64, decode: fn(u8) -> Option<T>) -> Result<T, FileError> {
        let code = self.u8(loc, what, at)?;
        decode(code).ok_or(FileError::UnknownCode { loc, what, code, offset: at })
    }
    /// Requires the `n` bytes at `at` to be zero. Fields of up to 8 bytes are reported with
    /// their little-endian value, longer regions with the first non-zero byte.
    fn zero(&self, loc: Loc, what: &'static str, at: u64, n: u64) -> Result<(), FileError> {
        let s = self.slice(loc, what, at, n)?;
        if n <= 8 {
            let value = s.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b));
            if value != 0 {
                return Err(FileError::NotZero { loc, what, offset: at, value });
            }
        } else if let Some(i) = s.iter().position(|&b| b != 0) {
            let offset = at.saturating_add(i as u64);
            return Err(FileError::NotZero { loc, what, offset, value: u64::from(s[i]) });
        }
        Ok(())
    }
    /// Requires the padding bytes `start..end` to be zero.
    fn padding(&self, start: u64, end: u64) -> Result<(), FileError> {
        let s = self.slice(Loc::Header, "padding", start, end.saturating_sub(start))?;
        match s.iter().position(|&b| b != 0) {
            Some(i) => Err(FileError::NonZeroPadding { offset: start.saturating_add(i as u64), value: s[i] }),
            None => Ok(()),
        }
    }
}

/// `base + field`, where `base` is a record's offset (already bounded by the file length,
/// so this cannot overflow; saturating keeps it total anyway, and an out-of-range result is
/// then reported as truncation by the read).
fn at(base: u64, field: usize) -> u64 {
    base.saturating_add(field as u64)
}

fn mul(loc: Loc, what: &'static str, a: u64, b: u64) -> Result<u64, FileError> {
    a.checked_mul(b).ok_or(FileError::Overflow { loc, what })
}

fn add(loc: Loc, what: &'static str, a: u64, b: u64) -> Result<u64, FileError> {
    a.checked_add(b).ok_or(FileError::Overflow { loc, what })
}

fn to_usize(loc: Loc, what: &'static str, v: u64) -> Result<usize, FileError> {
    usize::try_from(v).map_err(|_| FileError::Overflow { loc, what })
}

/// The header's fields (SPEC.md §3.1).
struct Header {
    version: u32,
    checksum: u64,
    file_size: u64,
    data_offset: u64,
    layers: u64,
    tensors: u64,
    inputs: u64,
    outputs: u64,
    slots: u64,
    dims: u64,
    string_bytes: u64,
    constants: u64,
    values: u64,
}

/// Where each table starts (SPEC.md §3).
struct Tables {
    layers_at: u64,
    tensors_at: u64,
    bindings_at: u64,
    dims_at: u64,
    slots_at: u64,
    values_at: u64,
    strings_at: u64,
    end: u64,
    data_offset: u64,
}

fn read_header(src: &Src<'_>) -> Result<Header, FileError> {
    use wire::header as f;
    let h = Loc::Header;
    let at = |field: usize| field as u64;
    let magic: [u8; 8] = src.array(h, "magic", at(f::MAGIC))?;
    if magic != super::MAGIC {
        return Err(FileError::BadMagic { found: magic });
    }
    let endian = src.u32(h, "endianness check word", at(f::ENDIAN))?;
    if endian != super::ENDIAN_CHECK {
        return Err(FileError::WrongEndianness { found: endian });
    }
    let version = src.u32(h, "version", at(f::VERSION))?;
    if version != super::VERSION {
        return Err(FileError::UnsupportedVersion { found: version });
    }
    src.zero(h, "reserved_a[0]", at(f::RESERVED_A), 8)?;
    src.zero(h, "reserved_a[1]", at(f::RESERVED_A + 8), 8)?;
    let checksum = src.u64(h, "file checksum", at(f::CHECKSUM))?;
    let file_size = src.u64(h, "file size", at(f::FILE_SIZE))?;
    let data_offset = src.u64(h, "data offset", at(f::DATA_OFFSET))?;
    src.zero(h, "reserved_b", at(f::RESERVED_B), 8)?;
    let count = |what: &'static str, field: usize, max: usize| -> Result<u64, FileError> {
        let v = u64::from(src.u32(h, what, at(field))?);
        if v > max as u64 {
            return Err(FileError::TooMany { loc: h, what, count: v, max: max as u64 });
        }
        Ok(v)
    };
    let layers = count("layers", f::LAYER_COUNT, limits::MAX_LAYERS)?;
    let tensors = count("tensors", f::TENSOR_COUNT, limits::MAX_TENSORS)?;
    let inputs = count("graph inputs", f::INPUT_COUNT, limits::MAX_BINDINGS)?;
    let outputs = count("graph outputs", f::OUTPUT_COUNT, limits::MAX_BINDINGS)?;
    let slots = count("state slots", f::SLOT_COUNT, limits::MAX_TOTAL_SLOTS)?;
    let dims = count("declared dimensions", f::DIM_COUNT, limits::MAX_TOTAL_DIMS)?;
    let string_bytes = count("string table bytes", f::STRING_BYTES, limits::MAX_STRING_BYTES)?;
    let constants = count("constants", f::CONST_COUNT, limits::MAX_CONSTANTS)?;
    let values = count("constant values", f::VALUE_COUNT, limits::MAX_CONST_VALUES)?;
    for w in 0..f::RESERVED_C_WORDS {
        src.zero(h, "reserved_c", at(f::RESERVED_C + 4 * w), 4)?;
    }
    Ok(Header {
        version,
        checksum,
        file_size,
        data_offset,
        layers,
        tensors,
        inputs,
        outputs,
        slots,
        dims,
        string_bytes,
        constants,
        values,
    })
}

impl Tables {
    fn compute(h: &Header) -> Result<Tables, FileError> {
        let l = Loc::Header;
        let layers_at = records::HEADER as u64;
        let tensors_at =
            add(l, "tensor table offset", layers_at, mul(l, "layer table size", h.layers, records::LAYER as u64)?)?;
        let bindings_at = add(
            l,
            "binding table offset",
            tensors_at,
            mul(l, "tensor table size", h.tensors, records::TENSOR as u64)?,
        )?;
        let bindings = add(l, "binding count", add(l, "binding count", h.inputs, h.outputs)?, h.constants)?;
        let dims_at = add(
            l,
            "dimension table offset",
            bindings_at,
            mul(l, "binding table size", bindings, records::BINDING as u64)?,
        )?;
        let slots_at =
            add(l, "slot table offset", dims_at, mul(l, "dimension table size", h.dims, records::DIM as u64)?)?;
        let values_at =
            add(l, "value table offset", slots_at, mul(l, "slot table size", h.slots, records::SLOT as u64)?)?;
        let strings_at =
            add(l, "string table offset", values_at, mul(l, "value table size", h.values, records::VALUE as u64)?)?;
        let end = add(l, "end of the tables", strings_at, h.string_bytes)?;
        let data_offset = align_up(end).ok_or(FileError::Overflow { loc: l, what: "data offset" })?;
        Ok(Tables { layers_at, tensors_at, bindings_at, dims_at, slots_at, values_at, strings_at, end, data_offset })
    }
}

/// Parses and validates a whole `.recur` file held in `bytes` (SPEC.md §8).
///
/// On success every rule of the spec holds: the description passed
/// [`ModelDesc::validate`], the interface [`check_interface`], and every tensor is the
/// canonical one for its layer, in canonical order, at a 64-byte offset, with zero padding
/// only between tensors, and the data covers the file exactly. Never panics, whatever the
/// input; `bytes` need not be aligned (see [`is_aligned`](super::is_aligned)).
pub fn parse(bytes: &[u8], opts: ParseOptions) -> Result<RecurFile<'_>, FileError> {
    let src = Src { bytes, len: bytes.len() as u64 };
    let h = read_header(&src)?;
    if src.len < h.file_size {
        return Err(FileError::FileTooShort { declared: h.file_size, len: src.len });
    }
    if src.len > h.file_size {
        return Err(FileError::TrailingBytes { end: h.file_size, len: src.len });
    }
    let t = Tables::compute(&h)?;
    if h.data_offset != t.data_offset {
        return Err(FileError::DataOffset { found: h.data_offset, expected: t.data_offset });
    }
    if t.data_offset > h.file_size {
        return Err(FileError::Truncated {
            loc: Loc::Header,
            what: "tables",
            start: records::HEADER as u64,
            end: t.data_offset,
            len: src.len,
        });
    }
    if opts.verify_checksums {
        let computed = file_checksum(bytes);
        if computed != h.checksum {
            return Err(FileError::FileChecksum { stored: h.checksum, computed });
        }
    }

    let desc = read_layers(&src, &h, &t)?;
    desc.validate()?;
    let interface = read_interface(&src, &h, &t)?;
    check_interface(&interface, &desc)?;
    let tensors = read_tensors(&src, &h, &t, &desc, opts)?;

    Ok(RecurFile { bytes, version: h.version, file_checksum: h.checksum, desc, interface, tensors })
}

fn read_layers(src: &Src<'_>, h: &Header, t: &Tables) -> Result<ModelDesc, FileError> {
    use wire::layer as f;
    // `h.layers` is at most MAX_LAYERS (checked in the header).
    let mut layers = Vec::with_capacity(h.layers as usize);
    for i in 0..h.layers {
        let loc = Loc::Layer(i as usize);
        let base =
            add(loc, "layer record offset", t.layers_at, mul(loc, "layer record offset", i, records::LAYER as u64)?)?;
        let kind = src.u8(loc, "layer kind", at(base, f::KIND))?;
        let dtype = src.code(loc, "dtype", at(base, f::DTYPE), DType::from_code)?;
        src.zero(loc, "reserved", at(base, f::RESERVED_A), 2)?;
        let input_size = to_usize(loc, "input size", u64::from(src.u32(loc, "input size", at(base, f::INPUT_SIZE))?))?;
        let size = to_usize(loc, "size", u64::from(src.u32(loc, "size", at(base, f::SIZE))?))?;
        src.zero(loc, "reserved", at(base, f::RESERVED_B), 4)?;
        let layer = match kind {
            f::KIND_RECURRENT => {
                let cell = src.code(loc, "cell kind", at(base, f::CELL), CellKind::from_code)?;
                let direction = src.code(loc, "direction", at(base, f::DIRECTION), Direction::from_code)?;
                let flags = src.u8(loc, "flags", at(base, f::FLAGS))?;
                if flags & !f::FLAGS_KNOWN != 0 {
                    return Err(FileError::UnknownFlags { layer: i as usize, flags });
                }
                src.zero(loc, "dense activation (unused by recurrent layers)", at(base, f::DENSE_ACT), 1)?;
                let clip = if flags & f::FLAG_CLIP != 0 {
                    Some(src.f32(loc, "clip", at(base, f::CLIP))?)
                } else {
                    src.zero(loc, "clip (flag CLIP clear)", at(base, f::CLIP), 4)?;
                    None
                };
                let mut activations = [[Activation::new(ActKind::Tanh); 3]; 2];
                for (d, dir_acts) in activations.iter_mut().enumerate() {
                    for (j, act) in dir_acts.iter_mut().enumerate() {
                        let a = at(base, f::ACTIVATIONS + records::ACTIVATION * (3 * d + j));
                        let kind = src.code(loc, "activation kind", at(a, f::ACT_KIND), ActKind::from_code)?;
                        src.zero(loc, "activation reserved", at(a, f::ACT_RESERVED), 3)?;
                        let alpha = src.f32(loc, "activation alpha", at(a, f::ACT_ALPHA))?;
                        let beta = src.f32(loc, "activation beta", at(a, f::ACT_BETA))?;
                        // Stored verbatim (not through `with_params`) so descriptions
                        // round-trip exactly.
                        *act = Activation { kind, alpha, beta };
                    }
                }
                LayerDesc::Recurrent(RecurrentDesc {
                    cell,
                    input_size,
                    hidden_size: size,
                    direction,
                    activations,
                    clip,
                    input_forget: flags & f::FLAG_INPUT_FORGET != 0,
                    peepholes: flags & f::FLAG_PEEPHOLES != 0,
                    linear_before_reset: flags & f::FLAG_LINEAR_BEFORE_RESET != 0,
                    dtype,
                })
            }
            f::KIND_DENSE => {
                src.zero(loc, "cell kind (unused by dense layers)", at(base, f::CELL), 1)?;
                src.zero(loc, "direction (unused by dense layers)", at(base, f::DIRECTION), 1)?;
                src.zero(loc, "flags (unused by dense layers)", at(base, f::FLAGS), 1)?;
                let activation = src.code(loc, "dense activation", at(base, f::DENSE_ACT), DenseAct::from_code)?;
                src.zero(loc, "clip (unused by dense layers)", at(base, f::CLIP), 4)?;
                let acts_len = (records::LAYER - f::ACTIVATIONS) as u64;
                src.zero(loc, "activations (unused by dense layers)", at(base, f::ACTIVATIONS), acts_len)?;
                LayerDesc::Dense(DenseDesc { input_size, output_size: size, activation, dtype })
            }
            code => return Err(FileError::UnknownCode { loc, what: "layer kind", code, offset: at(base, f::KIND) }),
        };
        layers.push(layer);
    }
    Ok(ModelDesc { layers })
}

/// Reads strings in table order, checking each against the rules of SPEC.md §3.5.
struct Strings<'s, 'a> {
    src: &'s Src<'a>,
    at: u64,
    size: u64,
    /// End of the last string read: where the next one must start.
    pos: u64,
}

impl Strings<'_, '_> {
    fn read(&mut self, loc: Loc, what: &'static str, offset: u32, len: u32) -> Result<String, FileError> {
        let (offset, len) = (u64::from(offset), u64::from(len));
        if len > limits::MAX_NAME_LEN as u64 {
            return Err(FileError::NameTooLong { loc, what, len, max: limits::MAX_NAME_LEN as u64 });
        }
        // Both are u32, so the sum fits in u64.
        if offset + len > self.size {
            return Err(FileError::StringOutOfBounds { loc, what, offset, len, table_len: self.size });
        }
        if offset != self.pos {
            return Err(FileError::StringNotContiguous { loc, what, offset, expected: self.pos });
        }
        let start = add(loc, "string offset", self.at, offset)?;
        let raw = self.src.slice(loc, what, start, len)?;
        let s = core::str::from_utf8(raw).map_err(|_| FileError::InvalidUtf8 { loc, what, offset })?;
        self.pos = offset + len;
        Ok(String::from(s))
    }
}

fn read_interface(src: &Src<'_>, h: &Header, t: &Tables) -> Result<GraphInterface, FileError> {
    use wire::binding as f;
    let mut strings = Strings { src, at: t.strings_at, size: h.string_bytes, pos: 0 };
    // Running positions in the dimension, slot and value tables (SPEC.md §3.4:
    // concatenations in binding order).
    let (mut dim_i, mut slot_i, mut value_i) = (0u64, 0u64, 0u64);
    // Counts were bounded by their limits in the header.
    let mut iface = GraphInterface {
        inputs: Vec::with_capacity(h.inputs as usize),
        outputs: Vec::with_capacity(h.outputs as usize),
        constants: Vec::with_capacity(h.constants as usize),
    };
    let (io, total) = (h.inputs + h.outputs, h.inputs + h.outputs + h.constants);
    for b in 0..total {
        let loc = if b < h.inputs {
            Loc::Input(b as usize)
        } else if b < io {
            Loc::Output((b - h.inputs) as usize)
        } else {
            Loc::Constant((b - io) as usize)
        };
        let base = add(
            loc,
            "binding record offset",
            t.bindings_at,
            mul(loc, "binding record offset", b, records::BINDING as u64)?,
        )?;
        let name_offset = src.u32(loc, "name offset", at(base, f::NAME_OFFSET))?;
        let name_len = src.u32(loc, "name length", at(base, f::NAME_LEN))?;
        let name = strings.read(loc, "name", name_offset, name_len)?;
        let role = src.u8(loc, "role", at(base, f::ROLE))?;
        let layout_at = at(base, f::LAYOUT);
        let kind_at = at(base, f::STATE_KIND);
        src.zero(loc, "reserved", at(base, f::RESERVED_A), 1)?;
        let slot_count = u64::from(src.u32(loc, "slot count", at(base, f::SLOT_COUNT))?);
        let dim_count = u64::from(src.u32(loc, "dimension count", at(base, f::DIM_COUNT))?);
        for w in 0..f::RESERVED_B_WORDS {
            src.zero(loc, "reserved", at(base, f::RESERVED_B + 4 * w), 4)?;
        }
        if dim_count > limits::MAX_RANK as u64 {
            return Err(FileError::TooMany {
                loc,
                what: "declared dimensions",
                count: dim_count,
                max: limits::MAX_RANK as u64,
            });
        }
        if slot_count > limits::MAX_SLOTS as u64 {
            return Err(FileError::TooMany {
                loc,
                what: "state slots",
                count: slot_count,
                max: limits::MAX_SLOTS as u64,
            });
        }
        let is_state = role == f::ROLE_INITIAL_STATE || role == f::ROLE_FINAL_STATE;
        if !is_state {
            src.zero(loc, "state kind (unused by this role)", kind_at, 1)?;
            src.zero(loc, "slot count (unused by this role)", at(base, f::SLOT_COUNT), 4)?;
        }
        let role = match role {
            f::ROLE_SEQUENCE => IoRole::Sequence(src.code(loc, "sequence layout", layout_at, SeqLayout::from_code)?),
            f::ROLE_OUTPUT => IoRole::Output(src.code(loc, "sequence layout", layout_at, SeqLayout::from_code)?),
            f::ROLE_FINAL_OUTPUT => {
                IoRole::FinalOutput(src.code(loc, "final output layout", layout_at, FinalLayout::from_code)?)
            }
            f::ROLE_SEQUENCE_LENS => {
                src.zero(loc, "layout (unused by this role)", layout_at, 1)?;
                IoRole::SequenceLens
            }
            f::ROLE_INITIAL_STATE | f::ROLE_FINAL_STATE => {
                let layout = src.code(loc, "state layout", layout_at, StateLayout::from_code)?;
                let kind = src.code(loc, "state kind", kind_at, state_kind_from_code)?;
                let end = add(loc, "slot index", slot_i, slot_count)?;
                if end > h.slots {
                    return Err(FileError::CountMismatch { what: "state slots", declared: h.slots, actual: end });
                }
                let mut slots = Vec::with_capacity(slot_count as usize);
                for s in slot_i..end {
                    use wire::slot as sf;
                    let sbase = add(
                        loc,
                        "slot record offset",
                        t.slots_at,
                        mul(loc, "slot record offset", s, records::SLOT as u64)?,
                    )?;
                    let layer = src.u16(loc, "slot layer", at(sbase, sf::LAYER))?;
                    let dir = src.u8(loc, "slot direction", at(sbase, sf::DIR))?;
                    src.zero(loc, "slot reserved", at(sbase, sf::RESERVED), 1)?;
                    slots.push(StateSlot { layer, dir });
                }
                slot_i = end;
                if role == f::ROLE_INITIAL_STATE {
                    IoRole::InitialState { kind, slots, layout }
                } else {
                    IoRole::FinalState { kind, slots, layout }
                }
            }
            code => return Err(FileError::UnknownCode { loc, what: "role", code, offset: at(base, f::ROLE) }),
        };
        let end = add(loc, "dimension index", dim_i, dim_count)?;
        if end > h.dims {
            return Err(FileError::CountMismatch { what: "declared dimensions", declared: h.dims, actual: end });
        }
        let mut dims = Vec::with_capacity(dim_count as usize);
        for d in dim_i..end {
            use wire::dim as df;
            let dbase = add(
                loc,
                "dimension record offset",
                t.dims_at,
                mul(loc, "dimension record offset", d, records::DIM as u64)?,
            )?;
            let kind = src.u8(loc, "dimension kind", at(dbase, df::KIND))?;
            src.zero(loc, "dimension reserved", at(dbase, df::RESERVED_A), 3)?;
            src.zero(loc, "dimension reserved", at(dbase, df::RESERVED_B), 4)?;
            dims.push(match kind {
                df::KIND_FIXED => {
                    src.zero(loc, "dimension name offset (unused by fixed dimensions)", at(dbase, df::NAME_OFFSET), 4)?;
                    src.zero(loc, "dimension name length (unused by fixed dimensions)", at(dbase, df::NAME_LEN), 4)?;
                    Dim::Fixed(src.u64(loc, "dimension value", at(dbase, df::VALUE))?)
                }
                df::KIND_SYMBOLIC => {
                    if let Loc::Constant(index) = loc {
                        return Err(FileError::ConstSymbolicDim { index, axis: (d - dim_i) as usize });
                    }
                    src.zero(loc, "dimension value (unused by symbolic dimensions)", at(dbase, df::VALUE), 8)?;
                    let off = src.u32(loc, "dimension name offset", at(dbase, df::NAME_OFFSET))?;
                    let len = src.u32(loc, "dimension name length", at(dbase, df::NAME_LEN))?;
                    Dim::Symbolic(strings.read(loc, "dimension name", off, len)?)
                }
                code => {
                    return Err(FileError::UnknownCode {
                        loc,
                        what: "dimension kind",
                        code,
                        offset: at(dbase, df::KIND),
                    })
                }
            });
        }
        dim_i = end;
        if let Loc::Constant(index) = loc {
            let lengths = match role {
                IoRole::SequenceLens => true,
                IoRole::InitialState { .. } => false,
                _ => return Err(FileError::ConstRole { index, role: role.name() }),
            };
            let shape: Vec<u64> = dims.iter().map(|d| if let Dim::Fixed(v) = d { *v } else { 0 }).collect();
            // The values this constant holds: the product of its shape, within what the
            // header declares (which bounds the allocation).
            let product = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let count = match product {
                Some(n) if n <= h.values - value_i => n,
                _ => {
                    return Err(FileError::CountMismatch {
                        what: "constant values",
                        declared: h.values,
                        actual: product.map_or(u64::MAX, |n| n.saturating_add(value_i)),
                    })
                }
            };
            let vbase =
                add(loc, "value offset", t.values_at, mul(loc, "value offset", value_i, records::VALUE as u64)?)?;
            let raw = src.slice(loc, "constant values", vbase, mul(loc, "constant values", count, 4)?)?;
            let words = raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let values = if lengths {
                ConstValues::Lengths(words.collect())
            } else {
                ConstValues::F32(words.map(f32::from_bits).collect())
            };
            value_i += count;
            iface.constants.push(ConstInput { name, role, shape, values });
            continue;
        }
        let binding = IoBinding { name, role, dims };
        if matches!(loc, Loc::Output(_)) {
            iface.outputs.push(binding);
        } else {
            iface.inputs.push(binding);
        }
    }
    for (what, declared, actual) in [
        ("state slots", h.slots, slot_i),
        ("declared dimensions", h.dims, dim_i),
        ("constant values", h.values, value_i),
        ("string table bytes", h.string_bytes, strings.pos),
    ] {
        if declared != actual {
            return Err(FileError::CountMismatch { what, declared, actual });
        }
    }
    Ok(iface)
}

/// `StateKind` has no decoder of its own in `interface`; the codes are SPEC.md §6.
fn state_kind_from_code(code: u8) -> Option<StateKind> {
    match code {
        0 => Some(StateKind::H),
        1 => Some(StateKind::C),
        _ => None,
    }
}

fn read_tensors(
    src: &Src<'_>,
    h: &Header,
    t: &Tables,
    desc: &ModelDesc,
    opts: ParseOptions,
) -> Result<Vec<FileTensor>, FileError> {
    use wire::tensor as f;
    // At most 12 per layer and MAX_LAYERS layers: bounded by the (validated) description.
    let expected: Vec<TensorSpec> = desc.layers.iter().enumerate().flat_map(|(i, l)| expected_tensors(i, l)).collect();
    if h.tensors != expected.len() as u64 {
        return Err(FileError::TensorCount { found: h.tensors, expected: expected.len() as u64 });
    }
    let mut out = Vec::with_capacity(expected.len());
    // End of the previous region: the tables, then each tensor in turn (SPEC.md §3.6).
    let mut prev_end = t.end;
    for (i, exp) in expected.iter().enumerate() {
        let loc = Loc::Tensor(i);
        let base = add(
            loc,
            "tensor record offset",
            t.tensors_at,
            mul(loc, "tensor record offset", i as u64, records::TENSOR as u64)?,
        )?;
        let layer = src.u16(loc, "layer", at(base, f::LAYER))?;
        let dir = src.u8(loc, "direction", at(base, f::DIR))?;
        let kind = src.code(loc, "tensor kind", at(base, f::KIND), TensorKind::from_code)?;
        let dtype = src.code(loc, "dtype", at(base, f::DTYPE), DType::from_code)?;
        let layout = src.code(loc, "packed layout", at(base, f::LAYOUT), PackedLayout::from_code)?;
        src.zero(loc, "reserved", at(base, f::RESERVED_A), 2)?;
        let shape0 = src.u64(loc, "shape[0]", at(base, f::SHAPE0))?;
        let shape1 = src.u64(loc, "shape[1]", at(base, f::SHAPE1))?;
        let elems = src.u64(loc, "element count", at(base, f::ELEMS))?;
        let offset = src.u64(loc, "offset", at(base, f::OFFSET))?;
        let byte_len = src.u64(loc, "byte length", at(base, f::BYTE_LEN))?;
        let checksum = src.u64(loc, "checksum", at(base, f::CHECKSUM))?;
        src.zero(loc, "reserved", at(base, f::RESERVED_B), 8)?;

        let id = TensorId { layer, dir, kind };
        let tensor = TensorRef { index: i, id };
        let want_len = mul(loc, "byte length (elements x dtype size)", elems, dtype.size() as u64)?;
        if byte_len != want_len {
            return Err(FileError::TensorLength { tensor, byte_len, expected: want_len });
        }
        if id != exp.id {
            return Err(FileError::UnexpectedTensor { index: i, found: id, expected: exp.id });
        }
        for (field, found, want) in [
            ("dtype code", dtype as u64, exp.dtype as u64),
            ("layout code", layout as u64, exp.layout as u64),
            ("shape[0]", shape0, exp.shape[0] as u64),
            ("shape[1]", shape1, exp.shape[1] as u64),
            ("element count", elems, exp.elems as u64),
        ] {
            if found != want {
                return Err(FileError::TensorMismatch { tensor, field, found, expected: want });
            }
        }

        let end = add(loc, "tensor end (offset + byte length)", offset, byte_len)?;
        if !offset.is_multiple_of(super::FILE_ALIGN) {
            return Err(FileError::Misaligned { tensor, offset });
        }
        if offset < prev_end {
            return Err(FileError::Overlap { tensor, offset, prev_end });
        }
        let aligned = align_up(prev_end).ok_or(FileError::Overflow { loc, what: "aligned end of previous region" })?;
        if offset != aligned {
            return Err(FileError::Hole { tensor, offset, expected: aligned });
        }
        if end > h.file_size {
            return Err(FileError::TensorOutOfBounds { tensor, end, file_size: h.file_size });
        }
        src.padding(prev_end, offset)?;
        let data = src.slice(loc, "tensor data", offset, byte_len)?;
        if opts.verify_checksums {
            let computed = tensor_checksum(data);
            if computed != checksum {
                return Err(FileError::TensorChecksum { tensor, stored: checksum, computed });
            }
        }
        out.push(FileTensor {
            spec: *exp,
            offset: to_usize(loc, "offset", offset)?,
            len: to_usize(loc, "byte length", byte_len)?,
            checksum,
        });
        prev_end = end;
    }

    // The file ends with the last tensor's padding and nothing else.
    let end = align_up(prev_end).ok_or(FileError::Overflow { loc: Loc::Header, what: "end of the data" })?;
    if end < h.file_size {
        return Err(FileError::TrailingBytes { end, len: h.file_size });
    }
    if end > h.file_size {
        return Err(FileError::Truncated {
            loc: Loc::Header,
            what: "padding after the last tensor",
            start: prev_end,
            end,
            len: src.len,
        });
    }
    src.padding(prev_end, end)?;
    Ok(out)
}
