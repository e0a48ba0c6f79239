//! Reduced-precision conversion on the command line: dtype names, per-layer choices, and
//! the seeded random input that `recur convert --report` feeds both models.

use recur::recur_format::DType;

/// The dtype names `recur convert` takes: `f32`, `f16`, `bf16`, `int8` (in `int8`'s
/// mode, [`DType::I8`] or [`DType::I8A8`]), and `w8` / `int8-w8` or `w8a8` / `int8-w8a8`
/// for one int8 mode explicitly. Case-insensitive.
pub fn parse_dtype(name: &str, int8: DType) -> Option<DType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "f32" => DType::F32,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        "int8" => int8,
        "w8" | "int8-w8" => DType::I8,
        "w8a8" | "int8-w8a8" => DType::I8A8,
        _ => return None,
    })
}

/// Parses `--layer-dtype INDEX=DTYPE` (the name is checked, not yet resolved: `int8`
/// depends on `--int8-mode`).
pub fn parse_layer_dtype(s: &str) -> Result<(usize, String), String> {
    let (index, name) = s.split_once('=').ok_or_else(|| format!("'{s}' is not INDEX=DTYPE"))?;
    let index = index.trim().parse::<usize>().map_err(|_| format!("'{index}' is not a layer index"))?;
    let name = name.trim();
    if parse_dtype(name, DType::I8).is_none() {
        return Err(format!("unknown dtype '{name}' (f32, f16, bf16, int8, w8, w8a8)"));
    }
    Ok((index, name.to_string()))
}

/// The dtype of every layer after conversion: `all` (else the layer's own) for every
/// layer, then each `(index, dtype)` override in order. An index past the last layer is an
/// error naming it.
pub fn target_dtypes(source: &[DType], all: Option<DType>, per_layer: &[(usize, DType)]) -> Result<Vec<DType>, String> {
    let mut out: Vec<DType> = source.iter().map(|&d| all.unwrap_or(d)).collect();
    for &(i, d) in per_layer {
        let n = out.len();
        *out.get_mut(i).ok_or_else(|| format!("--layer-dtype {i}: the model has {n} layers (0..{n})"))? = d;
    }
    Ok(out)
}

/// `n` values uniform in `[-1, 1)` from a seeded xorshift64* generator: the same values for
/// the same seed on every machine.
pub fn random_values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            (r >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_modes() {
        assert_eq!(parse_dtype("int8", DType::I8A8), Some(DType::I8A8));
        assert_eq!(parse_dtype("INT8", DType::I8), Some(DType::I8));
        assert_eq!(parse_dtype("w8a8", DType::I8), Some(DType::I8A8));
        assert_eq!(parse_dtype("int8-w8", DType::I8A8), Some(DType::I8));
        assert_eq!(parse_dtype("BF16", DType::I8), Some(DType::BF16));
        assert_eq!(parse_dtype("f64", DType::I8), None);
        assert_eq!(parse_layer_dtype("2=f16"), Ok((2, "f16".into())));
        assert!(parse_layer_dtype("x=f16").unwrap_err().contains("layer index"));
        assert!(parse_layer_dtype("1=i4").unwrap_err().contains("unknown dtype 'i4'"));
        assert!(parse_layer_dtype("1").is_err());
    }

    #[test]
    fn overrides_apply_after_the_default() {
        let src = [DType::F32; 3];
        assert_eq!(target_dtypes(&src, None, &[]), Ok(src.to_vec()));
        assert_eq!(
            target_dtypes(&src, Some(DType::F16), &[(2, DType::F32), (0, DType::I8)]),
            Ok(vec![DType::I8, DType::F16, DType::F32])
        );
        assert_eq!(
            target_dtypes(&src, None, &[(3, DType::F16)]).unwrap_err(),
            "--layer-dtype 3: the model has 3 layers (0..3)"
        );
    }

    #[test]
    fn random_values_are_seeded_and_in_range() {
        let a = random_values(1000, 7);
        assert_eq!(a, random_values(1000, 7));
        assert_ne!(a, random_values(1000, 8));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(a.iter().any(|&v| v < -0.9) && a.iter().any(|&v| v > 0.9));
    }
}
