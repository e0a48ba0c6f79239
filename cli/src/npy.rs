//! NumPy `.npy` files as [`Tensor`]s.
//!
//! Reading accepts what `numpy.save` writes for the tensors recur exchanges: `float32`
//! (and `float64`, narrowed to `float32`), `int32` and `int64`, either byte order, C or
//! Fortran order (the latter is reordered to C order). Everything else is refused with
//! the file name and the dtype. The element count implied by the header is checked
//! against the file's length before anything is allocated for it, so a forged header
//! cannot ask for more memory than the file holds.
//!
//! Writing produces little-endian, C-order arrays (`<f4`, `<i4`, `<i8`).

use crate::Error;
use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};
use recur::graph::{Tensor, TensorData};
use std::path::Path;

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::input(format!("cannot read '{}': {e}", path.display())))?;
    read_npy_bytes(&bytes).map_err(|e| Error::input(format!("'{}': {e}", path.display())))
}

/// Reads a `.npy` file held in memory; the error does not name a file.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Tensor, String> {
    check_preamble(bytes)?;
    let npy = NpyFile::new(bytes).map_err(|e| format!("not a readable .npy file: {e}"))?;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is too large")))
        .collect::<Result<_, _>>()?;
    let elems = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("the shape's element count overflows")?;
    let DType::Plain(ts) = npy.dtype() else {
        return Err(format!("dtype {} is not a plain numeric type", npy.dtype().descr()));
    };
    let size = ts.size_field();
    // The header is at most a few KiB; the data must fit in what follows it.
    let fits = |item: usize| elems.checked_mul(item).is_some_and(|n| n <= bytes.len());
    let kind = match (ts.type_char(), size) {
        (TypeChar::Float, 4) => "f4",
        (TypeChar::Float, 8) => "f8",
        (TypeChar::Int, 4) => "i4",
        (TypeChar::Int, 8) => "i8",
        _ => {
            return Err(format!("dtype {} is not supported (recur reads float32, float64, int32 and int64 arrays)", ts))
        }
    };
    if !fits(size as usize) {
        return Err(format!("the header declares {elems} elements of {size} bytes, more than the file holds"));
    }
    let order = npy.order();
    let truncated = |e: std::io::Error| format!("the data is shorter than the header says ({e})");
    let data = match kind {
        "f4" => TensorData::F32(c_order(npy.into_vec::<f32>().map_err(truncated)?, &shape, order)),
        "f8" => TensorData::F32(
            c_order(npy.into_vec::<f64>().map_err(truncated)?, &shape, order).into_iter().map(|v| v as f32).collect(),
        ),
        "i4" => TensorData::I32(c_order(npy.into_vec::<i32>().map_err(truncated)?, &shape, order)),
        _ => TensorData::I64(c_order(npy.into_vec::<i64>().map_err(truncated)?, &shape, order)),
    };
    if data.len() != elems {
        return Err(format!("holds {} elements, the header says {elems}", data.len()));
    }
    Ok(Tensor { shape, data })
}

/// How deep brackets may nest in a header: numpy writes 2 (`{'shape': (2, 3)}`) for the
/// dtypes recur reads, 4 for a simple structured dtype, which is refused later anyway.
const MAX_HEADER_NESTING: usize = 6;

/// Checks what npyz would otherwise trip on, before it sees the bytes (both found by the
/// `npy` fuzz target): a header length that runs past the end of the file (npyz allocates
/// the declared length, up to 4 GiB in format versions 2 and 3, before reading), and
/// brackets nested deeper than [`MAX_HEADER_NESTING`] (its Python-literal parser
/// backtracks exponentially in the depth of unclosed brackets: 16 took half a second, 24
/// over ten). Anything else wrong with the preamble is left to npyz to report.
fn check_preamble(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Ok(());
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Ok(()),
    };
    if len > bytes.len() - start {
        return Err(format!(
            "the header declares a {len}-byte header, more than the file's {} bytes hold",
            bytes.len()
        ));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &b in &bytes[start..start + len] {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_HEADER_NESTING {
        return Err(format!(
            "the header nests brackets {deepest} deep (numpy writes at most {MAX_HEADER_NESTING} for any dtype recur reads)"
        ));
    }
    Ok(())
}

/// Reorders Fortran-order data (first axis fastest) into C order.
fn c_order<T: Copy + Default>(data: Vec<T>, shape: &[usize], order: Order) -> Vec<T> {
    if order == Order::C || shape.len() < 2 || data.is_empty() {
        return data;
    }
    let mut out = vec![T::default(); data.len()];
    let mut idx = vec![0usize; shape.len()];
    // Walk the C-order positions; the Fortran index of a position is sum(idx[k] * stride[k])
    // with stride[0] = 1.
    for slot in out.iter_mut() {
        let mut f = 0usize;
        let mut stride = 1usize;
        for (k, &i) in idx.iter().enumerate() {
            f += i * stride;
            stride *= shape[k];
        }
        *slot = data[f];
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

/// Serializes a tensor as `.npy` bytes (little-endian, C order).
pub fn npy_bytes(t: &Tensor) -> Result<Vec<u8>, String> {
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    let mut out = Vec::new();
    let e = |e: std::io::Error| e.to_string();
    match &t.data {
        TensorData::F32(v) => {
            let mut w = npyz::WriteOptions::<f32>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut out)
                .begin_nd()
                .map_err(e)?;
            w.extend(v.iter().copied()).map_err(e)?;
            w.finish().map_err(e)?;
        }
        TensorData::I32(v) => {
            let mut w = npyz::WriteOptions::<i32>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut out)
                .begin_nd()
                .map_err(e)?;
            w.extend(v.iter().copied()).map_err(e)?;
            w.finish().map_err(e)?;
        }
        TensorData::I64(v) => {
            let mut w = npyz::WriteOptions::<i64>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut out)
                .begin_nd()
                .map_err(e)?;
            w.extend(v.iter().copied()).map_err(e)?;
            w.finish().map_err(e)?;
        }
    }
    Ok(out)
}

/// Writes a tensor to a `.npy` file.
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), Error> {
    let bytes = npy_bytes(t).map_err(|e| Error::input(format!("cannot encode '{}': {e}", path.display())))?;
    std::fs::write(path, bytes).map_err(|e| Error::input(format!("cannot write '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        for t in [
            Tensor::f32(vec![2, 3], vec![1.0, -2.5, 3.0, f32::MAX, 0.0, -0.0]),
            Tensor::i32(vec![3], vec![1, -2, 7]),
            Tensor::i64(vec![1, 2], vec![i64::MIN, 5]),
            Tensor::f32(vec![0, 4], vec![]),
        ] {
            let bytes = npy_bytes(&t).unwrap();
            assert_eq!(read_npy_bytes(&bytes).unwrap(), t);
        }
    }

    #[test]
    fn forged_header_lengths_are_refused_before_allocating() {
        let good = npy_bytes(&Tensor::f32(vec![2], vec![1.0, 2.0])).unwrap();
        // Version 3 with a header length of 0xED000074 (the fuzzer's input, shortened).
        let mut forged = good.clone();
        forged[6] = 3;
        forged[8..12].copy_from_slice(&0xed00_0074u32.to_le_bytes());
        let e = read_npy_bytes(&forged).unwrap_err();
        assert!(e.contains("header declares a 3976200308-byte header"), "{e}");
        // Version 1: a 16-bit length past the end.
        let mut short = good.clone();
        short[8..10].copy_from_slice(&0xfff0u16.to_le_bytes());
        assert!(read_npy_bytes(&short).unwrap_err().contains("more than the file"));
        assert!(read_npy_bytes(&good).is_ok());
    }

    #[test]
    fn deeply_nested_headers_are_refused_before_parsing() {
        // The fuzzer's input had 24 unclosed brackets, which npyz's parser takes minutes
        // over; refused at once instead.
        let mut h = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': ");
        h.push_str(&"[".repeat(24));
        h.push_str("( }");
        while (h.len() + 11) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&[0; 16]);
        let e = read_npy_bytes(&b).unwrap_err();
        // The dict, then 24 lists and a tuple.
        assert!(e.contains("nests brackets 26 deep"), "{e}");
    }

    #[test]
    fn fortran_order_is_reordered() {
        // [[0, 1, 2], [3, 4, 5]] stored column-major is 0 3 1 4 2 5.
        let out = c_order(vec![0, 3, 1, 4, 2, 5], &[2, 3], Order::Fortran);
        assert_eq!(out, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn garbage_and_forged_headers_are_refused() {
        assert!(read_npy_bytes(b"").is_err());
        assert!(read_npy_bytes(b"not numpy at all").is_err());
        let mut bytes = npy_bytes(&Tensor::f32(vec![4], vec![1.0; 4])).unwrap();
        bytes.truncate(bytes.len() - 4);
        assert!(read_npy_bytes(&bytes).is_err());
        // A header that claims far more than the file holds.
        let forged = npy_bytes(&Tensor::f32(vec![4], vec![1.0; 4])).unwrap();
        let text = String::from_utf8_lossy(&forged).replace("(4,)", "(99999999999,)");
        let mut forged = text.into_bytes();
        forged.truncate(forged.len().min(200));
        assert!(read_npy_bytes(&forged).is_err());
    }

    /// npyz parses the header's Python literal; whatever the bytes, reading must fail
    /// cleanly rather than panic.
    #[test]
    fn damaged_files_never_panic() {
        let good = npy_bytes(&Tensor::f32(vec![2, 3], vec![1.0; 6])).unwrap();
        let mut seed = 0x9e37_79b9u32;
        for pos in 0..good.len() {
            for v in [0u8, 0xff, b'(', b')', b',', b'9', b'\'', b'{', b'}', b'<', b'>', b'|', b'x'] {
                let mut b = good.clone();
                b[pos] = v;
                let _ = read_npy_bytes(&b);
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let cut = seed as usize % (b.len() + 1);
                let _ = read_npy_bytes(&b[..cut]);
            }
        }
    }
}
