//! Shared helpers for the `.recur` file tests: a small model that uses every kind of
//! record, random tensor bytes, and tools to edit a file at the byte level by the offsets
//! of SPEC.md (written here from the spec, independently of the reader).
#![allow(dead_code)]

use recur_format::file::{fixup_checksums, records};
use recur_format::*;

/// A tiny deterministic generator (xorshift64*), enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    pub fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A packed model for `desc` (any dtypes) whose tensors hold random bytes of the right size.
pub fn random_packed(desc: ModelDesc, seed: u64) -> PackedModel {
    let mut rng = Rng(seed | 1);
    let tensors = desc
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| expected_tensors(i, l))
        .map(|spec| PackedTensor { spec, bytes: rng.bytes(spec.bytes()) })
        .collect();
    PackedModel { desc, tensors }
}

/// Layer 0: bidirectional int8 LSTM with peepholes and clip (3 -> 2 x 5); layer 1: forward
/// GRU with linear_before_reset (10 -> 5); layer 2: f16 dense softmax (5 -> 3), whose W
/// (160 bytes) is followed by padding.
pub fn small_desc() -> ModelDesc {
    let mut l0 = RecurrentDesc::new(CellKind::Lstm, 3, 5);
    l0.direction = Direction::Bidirectional;
    l0.peepholes = true;
    l0.clip = Some(3.5);
    l0.dtype = DType::I8;
    l0.activations[1][2] = Activation::with_params(ActKind::ScaledTanh, 0.5, 2.0);
    let mut l1 = RecurrentDesc::new(CellKind::Gru, 10, 5);
    l1.linear_before_reset = true;
    let l2 = DenseDesc { input_size: 5, output_size: 3, activation: DenseAct::Softmax, dtype: DType::F16 };
    ModelDesc { layers: vec![LayerDesc::Recurrent(l0), LayerDesc::Recurrent(l1), LayerDesc::Dense(l2)] }
}

/// Inputs: x, seq_lens, h0 (2 slots), c0 (2 slots); outputs: y, hn ([B, H], 1 slot).
pub fn small_iface() -> GraphInterface {
    let slot = |layer, dir| StateSlot { layer, dir };
    GraphInterface {
        inputs: vec![
            IoBinding {
                name: "x".into(),
                role: IoRole::Sequence(SeqLayout::TimeBatchFeature),
                dims: vec![Dim::Symbolic("seq".into()), Dim::Fixed(1), Dim::Fixed(3)],
            },
            IoBinding { name: "seq_lens".into(), role: IoRole::SequenceLens, dims: vec![Dim::Fixed(1)] },
            IoBinding {
                name: "h0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::H,
                    slots: vec![slot(0, 0), slot(0, 1)],
                    layout: StateLayout::SlotBatchHidden,
                },
                dims: vec![Dim::Fixed(2), Dim::Fixed(1), Dim::Fixed(5)],
            },
            IoBinding {
                name: "c0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::C,
                    slots: vec![slot(0, 0), slot(0, 1)],
                    layout: StateLayout::BatchSlotHidden,
                },
                dims: vec![],
            },
        ],
        outputs: vec![
            IoBinding {
                name: "y".into(),
                role: IoRole::Output(SeqLayout::BatchTimeFeature),
                dims: vec![Dim::Fixed(1), Dim::Symbolic(String::new()), Dim::Fixed(3)],
            },
            IoBinding {
                name: "hn".into(),
                role: IoRole::FinalState {
                    kind: StateKind::H,
                    slots: vec![slot(1, 0)],
                    layout: StateLayout::BatchHidden,
                },
                dims: vec![Dim::Symbolic("batch".into()), Dim::Fixed(5)],
            },
        ],
        constants: vec![],
    }
}

/// An interface with constants and a head on the final state, for the same model.
/// Bindings: inputs x (0), h1 (1: initial h of the GRU, [B, H]); outputs y (2: [B*T, F]),
/// head (3: [B, O]); constants lens (4: [3, 1]), h0 (5: both LSTM directions, [2, 2, 5]),
/// c0 (6: the LSTM's backward c, [2, 5]). Slots: h1 0, h0 1..3, c0 3. Dimensions: x 0..3,
/// h1 3..5, head 5..7, lens 7, h0 8..11, c0 11..13. Values: lens 0..2, h0 2..22, c0 22..32.
pub fn const_iface() -> GraphInterface {
    let slot = |layer, dir| StateSlot { layer, dir };
    let mut rng = Rng(7);
    GraphInterface {
        inputs: vec![
            IoBinding {
                name: "x".into(),
                role: IoRole::Sequence(SeqLayout::TimeBatchFeature),
                dims: vec![Dim::Symbolic("seq".into()), Dim::Fixed(2), Dim::Fixed(3)],
            },
            IoBinding {
                name: "h1".into(),
                role: IoRole::InitialState {
                    kind: StateKind::H,
                    slots: vec![slot(1, 0)],
                    layout: StateLayout::BatchHidden,
                },
                dims: vec![Dim::Fixed(2), Dim::Fixed(5)],
            },
        ],
        outputs: vec![
            IoBinding { name: "y".into(), role: IoRole::Output(SeqLayout::BatchTimeFlat), dims: vec![] },
            IoBinding {
                name: "head".into(),
                role: IoRole::FinalOutput(FinalLayout::BatchFeature),
                dims: vec![Dim::Fixed(2), Dim::Fixed(3)],
            },
        ],
        constants: vec![
            ConstInput {
                name: "lens".into(),
                role: IoRole::SequenceLens,
                shape: vec![2],
                values: ConstValues::Lengths(vec![3, 1]),
            },
            ConstInput {
                name: "h0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::H,
                    slots: vec![slot(0, 0), slot(0, 1)],
                    layout: StateLayout::SlotBatchHidden,
                },
                shape: vec![2, 2, 5],
                values: ConstValues::F32(rng.f32s(20)),
            },
            ConstInput {
                name: "c0".into(),
                role: IoRole::InitialState {
                    kind: StateKind::C,
                    slots: vec![slot(0, 1)],
                    layout: StateLayout::BatchHidden,
                },
                shape: vec![2, 5],
                values: ConstValues::F32(rng.f32s(10)),
            },
        ],
    }
}

pub fn const_file() -> Vec<u8> {
    write_bytes(&small_model(), &const_iface()).unwrap()
}

pub fn small_model() -> PackedModel {
    random_packed(small_desc(), 42)
}

pub fn small_file() -> Vec<u8> {
    write_bytes(&small_model(), &small_iface()).unwrap()
}

// ---- byte-level access by the offsets of SPEC.md ----

pub fn rd_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
pub fn rd_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
pub fn wr_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn wr_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn wr_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Header field offsets (SPEC.md §3.1).
pub mod hdr {
    pub const ENDIAN: usize = 8;
    pub const VERSION: usize = 12;
    pub const RESERVED_A: usize = 16;
    pub const CHECKSUM: usize = 32;
    pub const FILE_SIZE: usize = 40;
    pub const DATA_OFFSET: usize = 48;
    pub const RESERVED_B: usize = 56;
    pub const LAYERS: usize = 64;
    pub const TENSORS: usize = 68;
    pub const INPUTS: usize = 72;
    pub const OUTPUTS: usize = 76;
    pub const SLOTS: usize = 80;
    pub const DIMS: usize = 84;
    pub const STRINGS: usize = 88;
    pub const CONSTS: usize = 92;
    pub const VALUES: usize = 96;
    pub const RESERVED_C: usize = 100;
}

/// Where the tables of a file lie, computed from its header counts as SPEC.md §3 says.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    pub layers: usize,
    pub tensors: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub slots: usize,
    pub dims: usize,
    pub string_bytes: usize,
    pub consts: usize,
    pub values: usize,
    pub layers_at: usize,
    pub tensors_at: usize,
    pub bindings_at: usize,
    pub dims_at: usize,
    pub slots_at: usize,
    pub values_at: usize,
    pub strings_at: usize,
    pub end: usize,
}

impl Tables {
    pub fn of(b: &[u8]) -> Tables {
        let c = |at| rd_u32(b, at) as usize;
        let (layers, tensors, inputs, outputs, slots, dims, string_bytes) = (
            c(hdr::LAYERS),
            c(hdr::TENSORS),
            c(hdr::INPUTS),
            c(hdr::OUTPUTS),
            c(hdr::SLOTS),
            c(hdr::DIMS),
            c(hdr::STRINGS),
        );
        let (consts, values) = (c(hdr::CONSTS), c(hdr::VALUES));
        let layers_at = records::HEADER;
        let tensors_at = layers_at + records::LAYER * layers;
        let bindings_at = tensors_at + records::TENSOR * tensors;
        let dims_at = bindings_at + records::BINDING * (inputs + outputs + consts);
        let slots_at = dims_at + records::DIM * dims;
        let values_at = slots_at + records::SLOT * slots;
        let strings_at = values_at + records::VALUE * values;
        let end = strings_at + string_bytes;
        Tables {
            layers,
            tensors,
            inputs,
            outputs,
            slots,
            dims,
            string_bytes,
            consts,
            values,
            layers_at,
            tensors_at,
            bindings_at,
            dims_at,
            slots_at,
            values_at,
            strings_at,
            end,
        }
    }
    pub fn layer(&self, i: usize) -> usize {
        self.layers_at + records::LAYER * i
    }
    pub fn tensor(&self, i: usize) -> usize {
        self.tensors_at + records::TENSOR * i
    }
    /// Binding `i` counting inputs then outputs.
    pub fn binding(&self, i: usize) -> usize {
        self.bindings_at + records::BINDING * i
    }
    pub fn dim(&self, i: usize) -> usize {
        self.dims_at + records::DIM * i
    }
    pub fn slot(&self, i: usize) -> usize {
        self.slots_at + records::SLOT * i
    }
    pub fn value(&self, i: usize) -> usize {
        self.values_at + records::VALUE * i
    }
}

/// Tensor record field offsets (SPEC.md §3.3).
pub mod trec {
    pub const LAYER: usize = 0;
    pub const DIR: usize = 2;
    pub const KIND: usize = 3;
    pub const DTYPE: usize = 4;
    pub const LAYOUT: usize = 5;
    pub const RESERVED_A: usize = 6;
    pub const SHAPE0: usize = 8;
    pub const ELEMS: usize = 24;
    pub const OFFSET: usize = 32;
    pub const BYTE_LEN: usize = 40;
    pub const CHECKSUM: usize = 48;
    pub const RESERVED_B: usize = 56;
}

/// The header and tables (without the padding after them) and each tensor's bytes.
pub fn split(b: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let t = Tables::of(b);
    let data = (0..t.tensors)
        .map(|i| {
            let off = rd_u64(b, t.tensor(i) + trec::OFFSET) as usize;
            let len = rd_u64(b, t.tensor(i) + trec::BYTE_LEN) as usize;
            b[off..off + len].to_vec()
        })
        .collect();
    (b[..t.end].to_vec(), data)
}

/// The inverse of [`split`] after edits: lays the tensors out after the tables as the spec
/// places them, sets `data_offset`, every tensor offset and byte length, `file_size`, and
/// the checksums. Lets a test change the tables (insert records, change counts) and still
/// get a file whose only fault is the one under test.
pub fn rebuild(tables: &[u8], data: &[Vec<u8>]) -> Vec<u8> {
    let mut out = tables.to_vec();
    let t = Tables::of(&out);
    assert_eq!(t.end, out.len(), "rebuild: tables do not match the header counts");
    let align = |n: usize| n.div_ceil(64) * 64;
    let data_offset = align(out.len());
    let mut at = out.len();
    let mut offsets = vec![];
    for d in data {
        let off = align(at);
        offsets.push(off);
        at = off + d.len();
    }
    let size = align(at);
    wr_u64(&mut out, hdr::DATA_OFFSET, data_offset as u64);
    wr_u64(&mut out, hdr::FILE_SIZE, size as u64);
    for (i, (off, d)) in offsets.iter().zip(data).enumerate().take(t.tensors) {
        wr_u64(&mut out, t.tensor(i) + trec::OFFSET, *off as u64);
        wr_u64(&mut out, t.tensor(i) + trec::BYTE_LEN, d.len() as u64);
    }
    out.resize(size, 0);
    for (off, d) in offsets.iter().zip(data) {
        out[*off..*off + d.len()].copy_from_slice(d);
    }
    fixup_checksums(&mut out);
    out
}

/// Parses with checksums verified.
pub fn parse_err(b: &[u8]) -> FileError {
    match parse(b, ParseOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Applies `edit` to the file with constants, fixes the checksums, and parses.
pub fn const_edited(edit: impl FnOnce(&mut Vec<u8>, Tables)) -> FileError {
    let mut b = const_file();
    let t = Tables::of(&b);
    edit(&mut b, t);
    fixup_checksums(&mut b);
    parse_err(&b)
}

/// Applies `edit`, fixes the checksums so that only the edit is wrong, and parses.
pub fn edited(edit: impl FnOnce(&mut Vec<u8>, Tables)) -> FileError {
    let mut b = small_file();
    let t = Tables::of(&b);
    edit(&mut b, t);
    fixup_checksums(&mut b);
    parse_err(&b)
}
