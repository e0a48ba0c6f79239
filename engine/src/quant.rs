//! Quantization of activations for int8 `w8a8` layers (`DType::I8A8`).
//!
//! Before each matrix product of a `w8a8` layer, its input vector (the layer's input frame,
//! the recurrent state `h`, or GRU's `r ⊙ h`) is quantized with one scale for the whole
//! vector:
//!
//! - `m = max |x_i|` (NaN elements are skipped);
//! - if `m == 0`: scale 0, every `q_i = 0`;
//! - else `inv = 127 / m`, `v_i = x_i * inv` (one f32 multiply), clamped to `[-127, 127]`
//!   (NaN becomes 0), rounded to the nearest integer, ties to even (`(v + 1.5·2^23) -
//!   1.5·2^23`, exact for `|v| <= 127`), and the scale is `m / 127`.
//!
//! Every step is a correctly rounded IEEE operation evaluated in this one function, so
//! every kernel set quantizes identically; the integer dot products that follow are exact,
//! and `-128` never occurs (which is what keeps `vpmaddubsw` from saturating on AVX2).
//! The quantized vector is padded with zeros to a multiple of 4 (one dot-product group).

/// Rounds `v` (with `|v| <= 2^22`) to the nearest integer, ties to even.
#[inline(always)]
fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (v + MAGIC) - MAGIC
}

/// Quantizes `x` into `q` (`q.len() >= x.len().next_multiple_of(4)`; the elements past
/// `x.len()` up to that multiple are set to 0) and returns `(scale, Σ q_i)`, so that
/// `x_i ≈ scale * q_i`. See the module documentation for the exact rule.
pub fn quantize_activations(x: &[f32], q: &mut [i8]) -> (f32, i32) {
    let n = x.len();
    let padded = n.next_multiple_of(4);
    assert!(q.len() >= padded, "quantization buffer too short");
    let mut m = 0.0f32;
    for &v in x {
        let a = v.abs();
        if a > m {
            m = a;
        }
    }
    q[n..padded].fill(0);
    if m == 0.0 {
        q[..n].fill(0);
        return (0.0, 0);
    }
    let inv = 127.0 / m;
    let mut sum = 0i32;
    for (qi, &v) in q.iter_mut().zip(x) {
        let t = v * inv;
        let t = if t > 127.0 {
            127.0
        } else if t < -127.0 {
            -127.0
        } else if t.is_nan() {
            0.0
        } else {
            t
        };
        let r = round_even(t) as i32;
        *qi = r as i8;
        sum += r;
    }
    (m / 127.0, sum)
}

/// [`quantize_activations`] on raw pointers, writing `(scale, sum)` to `meta[0..2]` (the
/// sum as the bits of an `f32`).
///
/// # Safety
/// `x` valid for `n` reads, `q` for `n.next_multiple_of(4)` writes, `meta` for 2 writes;
/// the areas do not overlap.
#[inline]
pub(crate) unsafe fn quantize_raw(x: *const f32, n: usize, q: *mut i8, meta: *mut f32) {
    // SAFETY: per the function contract.
    unsafe {
        let xs = core::slice::from_raw_parts(x, n);
        let qs = core::slice::from_raw_parts_mut(q, n.next_multiple_of(4));
        let (scale, sum) = quantize_activations(xs, qs);
        *meta = scale;
        *meta.add(1) = f32::from_bits(sum as u32);
    }
}

/// Reads `(scale, sum)` written by [`quantize_raw`].
///
/// # Safety
/// `meta` valid for 2 reads.
#[inline(always)]
pub(crate) unsafe fn read_meta(meta: *const f32) -> (f32, i32) {
    // SAFETY: per the function contract.
    unsafe { (*meta, (*meta.add(1)).to_bits() as i32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        let x = [63.5f32, -127.0, 0.5, 1.5, 2.5, f32::NAN];
        let mut q = [9i8; 8];
        let (s, sum) = quantize_activations(&x, &mut q);
        assert_eq!(s, 1.0);
        // Ties go to even; NaN becomes 0; the tail up to a multiple of 4 is zeroed.
        assert_eq!(&q[..8], &[64, -127, 0, 2, 2, 0, 0, 0]);
        assert_eq!(sum, 64 - 127 + 2 + 2);
        let (s, sum) = quantize_activations(&[0.0; 3], &mut q);
        assert_eq!((s, sum), (0.0, 0));
        assert_eq!(&q[..4], &[0; 4]);
    }

    #[test]
    fn error_bound() {
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
        let mut q = vec![0i8; 1000];
        let (s, _) = quantize_activations(&x, &mut q);
        for (a, b) in x.iter().zip(&q) {
            assert!((a - s * f32::from(*b)).abs() <= s * 0.5001, "{a} {b} {s}");
        }
    }
}
