//! The writer: a [`PackedModel`] and its [`GraphInterface`] to the bytes of SPEC.md.
//!
//! The writer checks what it is given with the same rules as the reader (description,
//! interface, canonical tensors), so every file it produces parses. The output is
//! deterministic: the format leaves no choice (placement is fixed, strings are in reference
//! order, reserved bytes and padding are zero), so equal inputs give equal bytes.

use super::error::{FileError, TensorRef};
use super::{align_up, check_interface, file_checksum, records, tensor_checksum, wire, FILE_ALIGN};
use crate::desc::{LayerDesc, ModelDesc};
use crate::interface::{ConstInput, ConstValues, Dim, GraphInterface, IoBinding, IoRole};
use crate::layout::{expected_tensors, PackedModel, TensorSpec};
use alloc::vec::Vec;

/// A growing little-endian byte buffer.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    fn zeros(&mut self, n: usize) {
        self.0.resize(self.0.len() + n, 0);
    }
    /// Zero padding up to the next multiple of [`FILE_ALIGN`].
    fn pad(&mut self) {
        let n = self.0.len().next_multiple_of(FILE_ALIGN as usize) - self.0.len();
        self.zeros(n);
    }
    fn put_at(&mut self, at: usize, bytes: &[u8]) {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

/// Checks that the model's tensors are exactly the canonical ones for its description,
/// with byte lengths that match their specs.
fn check_tensors(model: &PackedModel) -> Result<Vec<TensorSpec>, FileError> {
    let expected: Vec<TensorSpec> =
        model.desc.layers.iter().enumerate().flat_map(|(i, l)| expected_tensors(i, l)).collect();
    if model.tensors.len() != expected.len() {
        return Err(FileError::TensorCount { found: model.tensors.len() as u64, expected: expected.len() as u64 });
    }
    for (i, (t, exp)) in model.tensors.iter().zip(&expected).enumerate() {
        let tensor = TensorRef { index: i, id: t.spec.id };
        if t.spec.id != exp.id {
            return Err(FileError::UnexpectedTensor { index: i, found: t.spec.id, expected: exp.id });
        }
        for (field, found, want) in [
            ("dtype code", t.spec.dtype as u64, exp.dtype as u64),
            ("layout code", t.spec.layout as u64, exp.layout as u64),
            ("shape[0]", t.spec.shape[0] as u64, exp.shape[0] as u64),
            ("shape[1]", t.spec.shape[1] as u64, exp.shape[1] as u64),
            ("element count", t.spec.elems as u64, exp.elems as u64),
        ] {
            if found != want {
                return Err(FileError::TensorMismatch { tensor, field, found, expected: want });
            }
        }
        let want_len = (exp.elems as u64)
            .checked_mul(exp.dtype.size() as u64)
            .ok_or(FileError::Overflow { loc: super::Loc::Tensor(i), what: "byte length (elements x dtype size)" })?;
        if t.bytes.len() as u64 != want_len {
            return Err(FileError::TensorLength { tensor, byte_len: t.bytes.len() as u64, expected: want_len });
        }
    }
    Ok(expected)
}

fn layer_record(out: &mut Out, layer: &LayerDesc) {
    use wire::layer as f;
    let start = out.0.len();
    match layer {
        LayerDesc::Recurrent(r) => {
            let mut flags = 0u8;
            for (on, bit) in [
                (r.clip.is_some(), f::FLAG_CLIP),
                (r.input_forget, f::FLAG_INPUT_FORGET),
                (r.peepholes, f::FLAG_PEEPHOLES),
                (r.linear_before_reset, f::FLAG_LINEAR_BEFORE_RESET),
            ] {
                if on {
                    flags |= bit;
                }
            }
            out.u8(f::KIND_RECURRENT);
            out.u8(r.cell as u8);
            out.u8(r.direction as u8);
            out.u8(r.dtype as u8);
            out.u8(flags);
            out.u8(0); // dense activation: unused
            out.u16(0);
            // Sizes are at most MAX_DIM (the description was validated), so they fit.
            out.u32(r.input_size as u32);
            out.u32(r.hidden_size as u32);
            out.f32(r.clip.unwrap_or(0.0));
            out.u32(0);
            for act in r.activations.iter().flatten() {
                out.u8(act.kind as u8);
                out.zeros(3);
                out.f32(act.alpha);
                out.f32(act.beta);
            }
        }
        LayerDesc::Dense(d) => {
            out.u8(f::KIND_DENSE);
            out.zeros(2); // cell, direction: unused
            out.u8(d.dtype as u8);
            out.u8(0); // flags: unused
            out.u8(d.activation as u8);
            out.u16(0);
            out.u32(d.input_size as u32);
            out.u32(d.output_size as u32);
            out.zeros(8); // clip (unused), reserved
            out.zeros(records::LAYER - f::ACTIVATIONS);
        }
    }
    debug_assert_eq!(out.0.len() - start, records::LAYER);
}

/// The binding, dimension and slot tables and the string table, built together because
/// they index into one another in binding order (SPEC.md §3.4, §3.5).
#[derive(Default)]
struct InterfaceTables {
    bindings: Out,
    dims: Out,
    slots: Out,
    values: Out,
    strings: Vec<u8>,
    dim_count: usize,
    slot_count: usize,
    value_count: usize,
}

impl InterfaceTables {
    /// Appends a string and returns its `(offset, len)`; lengths were bounded by
    /// `check_interface`, and the table by the limits, so both fit in u32.
    fn string(&mut self, s: &str) -> (u32, u32) {
        let at = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        (at, s.len() as u32)
    }

    fn binding(&mut self, b: &IoBinding) {
        self.record(&b.name, &b.role, &b.dims);
    }

    /// A constant: its binding record (with fixed dimensions) and its values.
    fn constant(&mut self, c: &ConstInput) {
        let dims: Vec<Dim> = c.shape.iter().map(|&v| Dim::Fixed(v)).collect();
        self.record(&c.name, &c.role, &dims);
        match &c.values {
            ConstValues::Lengths(v) => v.iter().for_each(|&x| self.values.u32(x)),
            ConstValues::F32(v) => v.iter().for_each(|&x| self.values.f32(x)),
        }
        self.value_count += c.values.len();
    }

    fn record(&mut self, name: &str, role: &IoRole, dims: &[Dim]) {
        use wire::binding as f;
        let (name_offset, name_len) = self.string(name);
        let (role, layout, state_kind, slots) = match role {
            IoRole::Sequence(l) => (f::ROLE_SEQUENCE, *l as u8, 0, &[][..]),
            IoRole::SequenceLens => (f::ROLE_SEQUENCE_LENS, 0, 0, &[][..]),
            IoRole::InitialState { kind, slots, layout } => {
                (f::ROLE_INITIAL_STATE, *layout as u8, *kind as u8, &slots[..])
            }
            IoRole::Output(l) => (f::ROLE_OUTPUT, *l as u8, 0, &[][..]),
            IoRole::FinalState { kind, slots, layout } => (f::ROLE_FINAL_STATE, *layout as u8, *kind as u8, &slots[..]),
            IoRole::FinalOutput(l) => (f::ROLE_FINAL_OUTPUT, *l as u8, 0, &[][..]),
        };
        let out = &mut self.bindings;
        out.u32(name_offset);
        out.u32(name_len);
        out.u8(role);
        out.u8(layout);
        out.u8(state_kind);
        out.u8(0);
        out.u32(slots.len() as u32);
        out.u32(dims.len() as u32);
        out.zeros(4 * f::RESERVED_B_WORDS);
        for s in slots {
            self.slots.u16(s.layer);
            self.slots.u8(s.dir);
            self.slots.u8(0);
        }
        self.slot_count += slots.len();
        for d in dims {
            use wire::dim as df;
            match d {
                Dim::Fixed(v) => {
                    self.dims.u8(df::KIND_FIXED);
                    self.dims.zeros(3 + 4 + 4 + 4);
                    self.dims.u64(*v);
                }
                Dim::Symbolic(name) => {
                    let (off, len) = self.string(name);
                    self.dims.u8(df::KIND_SYMBOLIC);
                    self.dims.zeros(3);
                    self.dims.u32(off);
                    self.dims.u32(len);
                    self.dims.u32(0);
                    self.dims.u64(0);
                }
            }
        }
        self.dim_count += dims.len();
    }
}

/// Serializes `model` and `iface` to the bytes of a `.recur` file (SPEC.md).
///
/// Fails, with the error the reader would give, when the description is invalid, the
/// interface breaks a rule or a limit, or the tensors are not exactly the canonical ones for
/// the description (order, dtype, layout, shape, element count, byte length). The output is
/// deterministic.
pub fn write_bytes(model: &PackedModel, iface: &GraphInterface) -> Result<Vec<u8>, FileError> {
    let desc: &ModelDesc = &model.desc;
    desc.validate()?;
    check_interface(iface, desc)?;
    check_tensors(model)?;

    let mut it = InterfaceTables::default();
    for b in iface.inputs.iter().chain(&iface.outputs) {
        it.binding(b);
    }
    for c in &iface.constants {
        it.constant(c);
    }
    let n_layers = desc.layers.len();
    let n_tensors = model.tensors.len();
    let tables_end = records::HEADER
        + records::LAYER * n_layers
        + records::TENSOR * n_tensors
        + it.bindings.0.len()
        + it.dims.0.len()
        + it.slots.0.len()
        + it.values.0.len()
        + it.strings.len();
    let data_offset = tables_end.next_multiple_of(FILE_ALIGN as usize);

    // Placement is fixed by the spec: each tensor at the first boundary after the previous.
    let mut offsets = Vec::with_capacity(n_tensors);
    let mut at = tables_end;
    for t in &model.tensors {
        let offset = at.next_multiple_of(FILE_ALIGN as usize);
        offsets.push(offset);
        at = offset + t.bytes.len();
    }
    let file_size = at.next_multiple_of(FILE_ALIGN as usize);
    debug_assert_eq!(align_up(tables_end as u64), Some(data_offset as u64));

    let mut out = Out(Vec::with_capacity(file_size));
    {
        use wire::header as f;
        out.0.extend_from_slice(&super::MAGIC);
        out.u32(super::ENDIAN_CHECK);
        out.u32(super::VERSION);
        out.zeros(16); // reserved_a
        out.u64(0); // file checksum, filled in last
        out.u64(file_size as u64);
        out.u64(data_offset as u64);
        out.u64(0); // reserved_b
                    // Counts are bounded by the limits checked above, so they fit in u32.
        for count in [n_layers, n_tensors, iface.inputs.len(), iface.outputs.len(), it.slot_count, it.dim_count] {
            out.u32(count as u32);
        }
        out.u32(it.strings.len() as u32);
        out.u32(iface.constants.len() as u32);
        out.u32(it.value_count as u32);
        out.zeros(4 * f::RESERVED_C_WORDS);
        debug_assert_eq!(out.0.len(), records::HEADER);
    }
    for layer in &desc.layers {
        layer_record(&mut out, layer);
    }
    for (t, &offset) in model.tensors.iter().zip(&offsets) {
        let s = &t.spec;
        out.u16(s.id.layer);
        out.u8(s.id.dir);
        out.u8(s.id.kind as u8);
        out.u8(s.dtype as u8);
        out.u8(s.layout as u8);
        out.u16(0);
        out.u64(s.shape[0] as u64);
        out.u64(s.shape[1] as u64);
        out.u64(s.elems as u64);
        out.u64(offset as u64);
        out.u64(t.bytes.len() as u64);
        out.u64(tensor_checksum(&t.bytes));
        out.u64(0);
    }
    out.0.extend_from_slice(&it.bindings.0);
    out.0.extend_from_slice(&it.dims.0);
    out.0.extend_from_slice(&it.slots.0);
    out.0.extend_from_slice(&it.values.0);
    out.0.extend_from_slice(&it.strings);
    debug_assert_eq!(out.0.len(), tables_end);
    for t in &model.tensors {
        out.pad();
        out.0.extend_from_slice(&t.bytes);
    }
    out.pad();
    debug_assert_eq!(out.0.len(), file_size);

    let sum = file_checksum(&out.0);
    out.put_at(wire::header::CHECKSUM, &sum.to_le_bytes());
    Ok(out.0)
}

/// Writes `model` and `iface` to `path` as a `.recur` file.
///
/// The bytes go to a temporary file next to `path` (same directory, so same file system),
/// which is flushed to disk and then renamed over `path`. A reader that has the old file
/// memory-mapped keeps seeing the old bytes, never a truncated or half-written file; on
/// failure the temporary file is removed and `path` is untouched.
#[cfg(feature = "std")]
pub fn write_file(
    path: impl AsRef<std::path::Path>,
    model: &PackedModel,
    iface: &GraphInterface,
) -> Result<(), FileError> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    let path = path.as_ref();
    let bytes = write_bytes(model, iface)?;
    let io = |source| FileError::Io { path: path.to_path_buf(), source };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "path names no file")))?;
    // Unique per process and call, so concurrent writers never share a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);

    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(source));
    }
    // Make the rename itself durable where directories can be synced; failing to is not an
    // error (the file is complete either way).
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
