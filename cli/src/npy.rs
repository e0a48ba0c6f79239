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
