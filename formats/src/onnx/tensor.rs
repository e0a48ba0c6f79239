//! Constant tensors: decoding `TensorProto`s (inline, raw or external data) into a small
//! value type that the constant folder computes with.
//!
//! Integers are stored as [`SInt`], which can also stand for a run-time size ("the batch
//! size of input x"). Shape subgraphs that exporters emit (`Shape -> Gather -> Concat`)
//! then fold into shapes whose entries are partly symbolic, which is enough to recognise a
//! zero initial state or a reshape without knowing the batch size.

use super::error::OnnxError;
use super::proto::{data_type, TensorProto, DATA_LOCATION_EXTERNAL};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Most elements of one decoded tensor.
pub(crate) const MAX_TENSOR_ELEMS: u128 = 1 << 31;
/// Most elements of an integer tensor (integers only describe shapes and indices here, and
/// each one costs more than a float).
pub(crate) const MAX_INT_ELEMS: u128 = 1 << 22;

/// Element type of a tensor or value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ElemType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl ElemType {
    pub(crate) fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            data_type::FLOAT => ElemType::F32,
            data_type::DOUBLE => ElemType::F64,
            data_type::FLOAT16 => ElemType::F16,
            data_type::BFLOAT16 => ElemType::BF16,
            data_type::INT64 => ElemType::I64,
            data_type::INT32 => ElemType::I32,
            data_type::INT16 => ElemType::I16,
            data_type::INT8 => ElemType::I8,
            data_type::UINT8 => ElemType::U8,
            data_type::UINT16 => ElemType::U16,
            data_type::UINT32 => ElemType::U32,
            data_type::UINT64 => ElemType::U64,
            data_type::BOOL => ElemType::Bool,
            _ => return None,
        })
    }
    /// ONNX name of a type code, for messages (also for the codes we do not decode).
    pub(crate) fn code_name(code: i32) -> String {
        match code {
            0 => "undefined".into(),
            1 => "float".into(),
            2 => "uint8".into(),
            3 => "int8".into(),
            4 => "uint16".into(),
            5 => "int16".into(),
            6 => "int32".into(),
            7 => "int64".into(),
            8 => "string".into(),
            9 => "bool".into(),
            10 => "float16".into(),
            11 => "double".into(),
            12 => "uint32".into(),
            13 => "uint64".into(),
            14 => "complex64".into(),
            15 => "complex128".into(),
            16 => "bfloat16".into(),
            17..=20 => "float8".into(),
            21 => "uint4".into(),
            22 => "int4".into(),
            23 => "float4e2m1".into(),
            c => alloc::format!("type code {c}"),
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "float",
            ElemType::F64 => "double",
            ElemType::F16 => "float16",
            ElemType::BF16 => "bfloat16",
            ElemType::I64 => "int64",
            ElemType::I32 => "int32",
            ElemType::I16 => "int16",
            ElemType::I8 => "int8",
            ElemType::U8 => "uint8",
            ElemType::U16 => "uint16",
            ElemType::U32 => "uint32",
            ElemType::U64 => "uint64",
            ElemType::Bool => "bool",
        }
    }
    pub(crate) fn is_float(self) -> bool {
        matches!(self, ElemType::F32 | ElemType::F64 | ElemType::F16 | ElemType::BF16)
    }
    /// Bytes per element in `raw_data`.
    fn size(self) -> usize {
        match self {
            ElemType::F64 | ElemType::I64 | ElemType::U64 => 8,
            ElemType::F32 | ElemType::I32 | ElemType::U32 => 4,
            ElemType::F16 | ElemType::BF16 | ElemType::I16 | ElemType::U16 => 2,
            ElemType::I8 | ElemType::U8 | ElemType::Bool => 1,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A run-time size: `coef` times a product of symbols (each symbol is one unknown graph
/// input dimension). Symbols are kept sorted so equal products compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Sym {
    pub coef: i64,
    pub syms: Vec<u32>,
}

/// An integer that is either known or a symbolic run-time size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SInt {
    K(i64),
    S(Sym),
}

impl SInt {
    pub(crate) fn sym(id: u32) -> SInt {
        SInt::S(Sym { coef: 1, syms: alloc::vec![id] })
    }
    pub(crate) fn known(&self) -> Option<i64> {
        match self {
            SInt::K(v) => Some(*v),
            SInt::S(_) => None,
        }
    }
    fn norm(coef: i64, mut syms: Vec<u32>) -> SInt {
        if coef == 0 || syms.is_empty() {
            SInt::K(coef)
        } else {
            syms.sort_unstable();
            SInt::S(Sym { coef, syms })
        }
    }
    /// Product; `None` when it overflows or would need a negative symbolic coefficient.
    pub(crate) fn mul(&self, o: &SInt) -> Option<SInt> {
        match (self, o) {
            (SInt::K(a), SInt::K(b)) => a.checked_mul(*b).map(SInt::K),
            (SInt::K(k), SInt::S(s)) | (SInt::S(s), SInt::K(k)) => {
                if *k < 0 {
                    return None;
                }
                Some(SInt::norm(s.coef.checked_mul(*k)?, s.syms.clone()))
            }
            (SInt::S(a), SInt::S(b)) => {
                let mut syms = a.syms.clone();
                syms.extend_from_slice(&b.syms);
                if syms.len() > 16 {
                    return None;
                }
                Some(SInt::norm(a.coef.checked_mul(b.coef)?, syms))
            }
        }
    }
    /// Exact quotient (truncating for known values, as ONNX integer `Div` does); `None`
    /// when a symbolic division is not exact.
    pub(crate) fn div(&self, o: &SInt) -> Option<SInt> {
        match (self, o) {
            (SInt::K(a), SInt::K(b)) => a.checked_div(*b).map(SInt::K),
            (SInt::S(s), SInt::K(k)) => {
                if *k <= 0 || s.coef % k != 0 {
                    return None;
                }
                Some(SInt::norm(s.coef / k, s.syms.clone()))
            }
            (SInt::S(a), SInt::S(b)) => {
                if b.coef <= 0 || a.coef % b.coef != 0 {
                    return None;
                }
                let mut rest = a.syms.clone();
                for s in &b.syms {
                    let pos = rest.iter().position(|x| x == s)?;
                    rest.remove(pos);
                }
                Some(SInt::norm(a.coef / b.coef, rest))
            }
            (SInt::K(_), SInt::S(_)) => None,
        }
    }
    pub(crate) fn add(&self, o: &SInt) -> Option<SInt> {
        match (self, o) {
            (SInt::K(a), SInt::K(b)) => a.checked_add(*b).map(SInt::K),
            (SInt::K(0), s) | (s, SInt::K(0)) => Some(s.clone()),
            (SInt::S(a), SInt::S(b)) if a.syms == b.syms => {
                Some(SInt::norm(a.coef.checked_add(b.coef)?, a.syms.clone()))
            }
            _ => None,
        }
    }
    pub(crate) fn neg(&self) -> Option<SInt> {
        match self {
            SInt::K(a) => a.checked_neg().map(SInt::K),
            SInt::S(_) => None,
        }
    }
    /// Equality when it can be decided.
    pub(crate) fn equals(&self, o: &SInt) -> Option<bool> {
        match (self, o) {
            (SInt::K(a), SInt::K(b)) => Some(a == b),
            (SInt::S(a), SInt::S(b)) if a == b => Some(true),
            // A symbolic size is a positive multiple of the symbols' product; it can only
            // equal a known value we cannot rule out.
            _ => None,
        }
    }
}

impl fmt::Display for SInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SInt::K(v) => write!(f, "{v}"),
            SInt::S(s) => {
                if s.coef != 1 {
                    write!(f, "{}*", s.coef)?;
                }
                for (i, id) in s.syms.iter().enumerate() {
                    if i > 0 {
                        f.write_str("*")?;
                    }
                    write!(f, "d{id}")?;
                }
                Ok(())
            }
        }
    }
}

/// Element storage of a constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    /// float32, and float16/bfloat16 widened exactly.
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
    /// Every integer type and bool; entries may be symbolic.
    Int(Vec<SInt>),
}

impl Data {
    pub(crate) fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }
}

/// A constant tensor (row-major).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub ty: ElemType,
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub(crate) fn numel(&self) -> usize {
        self.data.len()
    }
    pub(crate) fn ints(ty: ElemType, shape: Vec<usize>, v: Vec<SInt>) -> Tensor {
        Tensor { ty, shape, data: Data::Int(v) }
    }
    pub(crate) fn i64s(shape: Vec<usize>, v: &[i64]) -> Tensor {
        Tensor::ints(ElemType::I64, shape, v.iter().map(|&x| SInt::K(x)).collect())
    }
    pub(crate) fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor { ty: ElemType::F32, shape, data: Data::F32(v) }
    }
    /// The elements as known integers, if they all are.
    pub(crate) fn known_ints(&self) -> Option<Vec<i64>> {
        match &self.data {
            Data::Int(v) => v.iter().map(|x| x.known()).collect(),
            _ => None,
        }
    }
    /// The elements as f64 (known integers converted), if possible.
    pub(crate) fn as_f64(&self) -> Option<Vec<f64>> {
        match &self.data {
            Data::F32(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Data::F64(v) => Some(v.clone()),
            Data::Int(v) => v.iter().map(|x| x.known().map(|k| k as f64)).collect(),
        }
    }
    /// Whether every element equals the first one (a uniform tensor).
    pub(crate) fn uniform(&self) -> Option<Scalar> {
        match &self.data {
            Data::F32(v) => {
                let f = *v.first()?;
                v.iter().all(|x| x.to_bits() == f.to_bits()).then_some(Scalar::F(f as f64))
            }
            Data::F64(v) => {
                let f = *v.first()?;
                v.iter().all(|x| x.to_bits() == f.to_bits()).then_some(Scalar::F(f))
            }
            Data::Int(v) => {
                let f = v.first()?.known()?;
                v.iter().all(|x| x.known() == Some(f)).then_some(Scalar::I(f))
            }
        }
    }
    pub(crate) fn shape_str(&self) -> String {
        shape_string(&self.shape)
    }
}

/// A single element value, for uniform tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    F(f64),
    I(i64),
}

impl Scalar {
    pub(crate) fn is_zero(self) -> bool {
        match self {
            Scalar::F(f) => f == 0.0,
            Scalar::I(i) => i == 0,
        }
    }
}

pub(crate) fn shape_string(shape: &[usize]) -> String {
    let mut s = String::from("[");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&d.to_string());
    }
    s.push(']');
    s
}

/// Where external data may be read from, and how much is left of the byte budget.
pub(crate) struct ExternalData {
    /// The model's folder (`None` when importing bytes without one).
    pub base: Option<PathBuf>,
    /// Bytes that may still be read from side files.
    pub budget: u64,
}

fn bad(name: &str, why: impl Into<String>) -> OnnxError {
    OnnxError::BadTensor { tensor: name.into(), why: why.into() }
}

fn bad_ext(name: &str, why: impl Into<String>) -> OnnxError {
    OnnxError::BadExternalData { tensor: name.into(), why: why.into() }
}

/// Decodes a tensor. `name` is used in messages (the tensor's own name may be empty, e.g. in
/// a `Constant` node's attribute).
pub(crate) fn decode(tp: &TensorProto, name: &str, ext: &mut ExternalData) -> Result<Tensor, OnnxError> {
    let ty = ElemType::from_code(tp.data_type).ok_or_else(|| OnnxError::UnsupportedType {
        what: alloc::format!("tensor '{name}'"),
        dtype: ElemType::code_name(tp.data_type),
    })?;
    if tp.segment.is_some() {
        return Err(OnnxError::UnsupportedModel(alloc::format!(
            "tensor '{name}' is stored in segments, which recur does not read"
        )));
    }
    let mut shape = Vec::with_capacity(tp.dims.len());
    let mut numel: u128 = 1;
    for &d in &tp.dims {
        if d < 0 {
            return Err(bad(name, alloc::format!("dimension {d} in dims {:?} is negative", tp.dims)));
        }
        numel = numel.saturating_mul(d as u128);
        shape.push(d as usize);
    }
    let limit = if ty.is_float() { MAX_TENSOR_ELEMS } else { MAX_INT_ELEMS };
    if numel > limit {
        return Err(OnnxError::LimitExceeded {
            what: alloc::format!("the element count of tensor '{name}' ({} dims {:?})", ty, tp.dims),
            value: numel,
            limit,
        });
    }
    let numel = numel as usize;
    let typed_len = tp.float_data.len()
        + tp.int32_data.len()
        + tp.int64_data.len()
        + tp.double_data.len()
        + tp.uint64_data.len()
        + tp.string_data.len();
    let external;
    let raw: Option<&[u8]> = if tp.data_location == DATA_LOCATION_EXTERNAL {
        if !tp.raw_data.is_empty() || typed_len > 0 {
            return Err(bad(name, "is marked external but also has inline data"));
        }
        external = read_external(tp, name, numel * ty.size(), ext)?;
        Some(&external)
    } else if tp.data_location != 0 {
        return Err(bad(name, alloc::format!("data_location {} is neither DEFAULT nor EXTERNAL", tp.data_location)));
    } else if !tp.raw_data.is_empty() {
        if typed_len > 0 {
            return Err(bad(name, "has both raw_data and typed data fields"));
        }
        Some(&tp.raw_data)
    } else {
        None
    };
    if let Some(raw) = raw {
        let want = numel * ty.size();
        if raw.len() != want {
            return Err(bad(
                name,
                alloc::format!("has {} bytes of data but {} elements of {} need {want}", raw.len(), numel, ty),
            ));
        }
        return Ok(Tensor { ty, shape, data: from_raw(ty, raw) });
    }
    // Typed fields: the one that belongs to the element type must hold exactly the
    // elements, and the others must be empty.
    let (field_len, field) = match ty {
        ElemType::F32 => (tp.float_data.len(), "float_data"),
        ElemType::F64 => (tp.double_data.len(), "double_data"),
        ElemType::I64 => (tp.int64_data.len(), "int64_data"),
        ElemType::U32 | ElemType::U64 => (tp.uint64_data.len(), "uint64_data"),
        _ => (tp.int32_data.len(), "int32_data"),
    };
    if field_len != numel || typed_len != field_len {
        return Err(bad(
            name,
            alloc::format!(
                "has shape {} ({numel} elements of {ty}) but {field_len} values in {field}{}",
                shape_string(&shape),
                if typed_len != field_len { " and values in other data fields" } else { "" }
            ),
        ));
    }
    let data = match ty {
        ElemType::F32 => Data::F32(tp.float_data.clone()),
        ElemType::F64 => Data::F64(tp.double_data.clone()),
        ElemType::F16 => Data::F32(tp.int32_data.iter().map(|&b| half::f16::from_bits(b as u16).to_f32()).collect()),
        ElemType::BF16 => Data::F32(tp.int32_data.iter().map(|&b| half::bf16::from_bits(b as u16).to_f32()).collect()),
        ElemType::I64 => Data::Int(tp.int64_data.iter().map(|&v| SInt::K(v)).collect()),
        ElemType::U32 | ElemType::U64 => Data::Int(
            tp.uint64_data
                .iter()
                .map(|&v| i64::try_from(v).map(SInt::K))
                .collect::<Result<_, _>>()
                .map_err(|_| bad(name, "has a uint64 value above the int64 range"))?,
        ),
        ElemType::Bool => Data::Int(tp.int32_data.iter().map(|&v| SInt::K((v != 0) as i64)).collect()),
        _ => Data::Int(tp.int32_data.iter().map(|&v| SInt::K(v as i64)).collect()),
    };
    Ok(Tensor { ty, shape, data })
}

fn from_raw(ty: ElemType, raw: &[u8]) -> Data {
    fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    match ty {
        ElemType::F32 => Data::F32(chunks::<4>(raw).map(f32::from_le_bytes).collect()),
        ElemType::F64 => Data::F64(chunks::<8>(raw).map(f64::from_le_bytes).collect()),
        ElemType::F16 => Data::F32(chunks::<2>(raw).map(|b| half::f16::from_le_bytes(b).to_f32()).collect()),
        ElemType::BF16 => Data::F32(chunks::<2>(raw).map(|b| half::bf16::from_le_bytes(b).to_f32()).collect()),
        ElemType::I64 => Data::Int(chunks::<8>(raw).map(|b| SInt::K(i64::from_le_bytes(b))).collect()),
        // uint64 above i64::MAX wraps; such values never describe a shape or an index
        // the folder could use, and they are refused where they are used.
        ElemType::U64 => Data::Int(chunks::<8>(raw).map(|b| SInt::K(u64::from_le_bytes(b) as i64)).collect()),
        ElemType::I32 => Data::Int(chunks::<4>(raw).map(|b| SInt::K(i32::from_le_bytes(b) as i64)).collect()),
        ElemType::U32 => Data::Int(chunks::<4>(raw).map(|b| SInt::K(u32::from_le_bytes(b) as i64)).collect()),
        ElemType::I16 => Data::Int(chunks::<2>(raw).map(|b| SInt::K(i16::from_le_bytes(b) as i64)).collect()),
        ElemType::U16 => Data::Int(chunks::<2>(raw).map(|b| SInt::K(u16::from_le_bytes(b) as i64)).collect()),
        ElemType::I8 => Data::Int(raw.iter().map(|&b| SInt::K(b as i8 as i64)).collect()),
        ElemType::U8 => Data::Int(raw.iter().map(|&b| SInt::K(b as i64)).collect()),
        ElemType::Bool => Data::Int(raw.iter().map(|&b| SInt::K((b != 0) as i64)).collect()),
    }
}

/// Reads `want` bytes of external data, after checking that the location stays inside the
/// model's folder (no absolute path, no `..`, no symlink that leads out of it) and that the
/// requested range lies inside the file.
fn read_external(tp: &TensorProto, name: &str, want: usize, ext: &mut ExternalData) -> Result<Vec<u8>, OnnxError> {
    let mut location = None;
    let mut offset: u64 = 0;
    let mut length: Option<u64> = None;
    for e in &tp.external_data {
        let parse = |v: &str| {
            v.trim().parse::<u64>().map_err(|_| bad_ext(name, alloc::format!("{} '{}' is not a byte count", e.key, v)))
        };
        match e.key.as_str() {
            "location" => location = Some(e.value.as_str()),
            "offset" => offset = parse(&e.value)?,
            "length" => length = Some(parse(&e.value)?),
            // A digest of the data; recur does not verify it, which cannot change what the
            // data means.
            "checksum" => {}
            k => return Err(bad_ext(name, alloc::format!("has an unknown key '{k}'"))),
        }
    }
    let location = location.ok_or_else(|| bad_ext(name, "has no 'location'"))?;
    let Some(base) = ext.base.as_deref() else {
        return Err(OnnxError::UnsupportedModel(alloc::format!(
            "tensor '{name}' keeps its data in the side file '{location}', but the model was given as bytes \
             without its folder"
        )));
    };
    let rel = Path::new(location);
    if location.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(bad_ext(
            name,
            alloc::format!(
                "location '{location}' must be a relative path inside the model's folder (no '..', no root)"
            ),
        ));
    }
    let io = |path: &Path, source| OnnxError::Io { path: path.to_path_buf(), source };
    let base_real = base.canonicalize().map_err(|e| io(base, e))?;
    let path = base.join(rel);
    let real = path.canonicalize().map_err(|e| io(&path, e))?;
    if !real.starts_with(&base_real) {
        return Err(bad_ext(name, alloc::format!("location '{location}' resolves outside the model's folder")));
    }
    let mut file = std::fs::File::open(&real).map_err(|e| io(&real, e))?;
    let meta = file.metadata().map_err(|e| io(&real, e))?;
    if !meta.is_file() {
        return Err(bad_ext(name, alloc::format!("location '{location}' is not a regular file")));
    }
    let size = meta.len();
    let length = match length {
        Some(l) => l,
        None => size.saturating_sub(offset),
    };
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(bad_ext(
            name,
            alloc::format!("range offset {offset} length {length} lies beyond the end of '{location}' ({size} bytes)"),
        ));
    }
    if length != want as u64 {
        return Err(bad_ext(name, alloc::format!("length {length} does not match the tensor's {want} bytes")));
    }
    if length > ext.budget {
        return Err(OnnxError::LimitExceeded {
            what: "the external data read".into(),
            value: length as u128,
            limit: ext.budget as u128,
        });
    }
    ext.budget -= length;
    file.seek(SeekFrom::Start(offset)).map_err(|e| io(&real, e))?;
    let mut buf = alloc::vec![0u8; want];
    file.read_exact(&mut buf).map_err(|e| io(&real, e))?;
    Ok(buf)
}
