//! Activation functions, written once against [`Simd`] so that every kernel set evaluates
//! the same sequence of IEEE operations and gets the same bits.
//!
//! # tanh and sigmoid
//!
//! `tanh` is computed as `tanh(a) = 1 - 2 / (1 + e^(2a))` for `a = min(|x|, 9.125)` and
//! the sign of `x` is copied back. `e^(2a)` is `p(a/2)^4`, where `p` is the degree-20
//! Taylor polynomial of `e^y` on `[0, 4.5625]` evaluated by Horner's rule.
//!
//! Why this shape: every step is monotone by construction. Horner with non-negative
//! coefficients and a non-negative argument is a chain of correctly rounded
//! `fma(acc, y, c)` with `acc, y >= 0`, each non-decreasing in both `acc` and `y`; squaring
//! a non-negative value, `1 + E`, `2 / (1 + E)` and `1 - q` are monotone too, and
//! rounding preserves weak monotonicity. So the approximation is monotone over every
//! `f32`, odd exactly (the sign is copied), and in `[-1, 1]` (`E >= 1` so `q` is in
//! `(0, 1]`). The clamp at 9.125 is where `tanh` rounds to 1 in `f32`.
//!
//! `sigmoid(x) = fma(0.5, tanh(x / 2), 0.5)`, monotone and in `[0, 1]` for the same reasons.
//!
//! Accuracy, measured against `f64` by `tests/activations.rs` over every 64th `f32` bit
//! pattern in `[-20, 20]` and every `f32` in windows around 0.017, 1 and the clamps:
//! **tanh max abs error 2.9e-7** (near x = 0.017), **sigmoid 1.7e-7** (near x = 0.034). The
//! error is absolute, not relative: for tiny `x` the result is within ~3e-7 of `x`, not
//! within a few ulps.
//!
//! # Special values
//!
//! NaN inputs give NaN outputs for every function here: comparisons and clamps are
//! written so that the NaN operand propagates. The NaN's payload is not specified. `tanh(±inf) = ±1`, `sigmoid(-inf) = 0`, `sigmoid(+inf) = 1`,
//! `relu(+inf) = +inf`. `exp` saturates: arguments are clamped to `[-87, 88]`.

use crate::kernels::Simd;
use recur_format::{ActKind, Activation, DenseAct};

/// Taylor coefficients `1/k!` of `e^y`, highest degree first (for Horner).
const EXP_TAYLOR_20: [f32; 21] = {
    let mut c = [0.0f32; 21];
    let mut k = 0;
    let mut f = 1.0f64;
    while k <= 20 {
        if k > 0 {
            f *= k as f64;
        }
        c[20 - k] = (1.0 / f) as f32;
        k += 1;
    }
    c
};

/// `tanh(x)`; see the module documentation.
#[inline(always)]
pub fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    // `min` returns its second operand when unordered, so a NaN `x` flows through.
    let a = s.min(s.splat(9.125), s.abs(x));
    let y = s.mul(a, s.splat(0.5));
    let mut p = s.splat(EXP_TAYLOR_20[0]);
    for &c in &EXP_TAYLOR_20[1..] {
        p = s.fma(p, y, s.splat(c));
    }
    let p2 = s.mul(p, p);
    let e = s.mul(p2, p2);
    let q = s.div(s.splat(2.0), s.add(s.splat(1.0), e));
    let t = s.sub(s.splat(1.0), q);
    s.copysign(t, x)
}

/// `1 / (1 + e^-x)`, as `fma(0.5, tanh(x / 2), 0.5)`.
#[inline(always)]
pub fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let t = tanh(s, s.mul(x, s.splat(0.5)));
    s.fma(s.splat(0.5), t, s.splat(0.5))
}

const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
const LOG2E: f32 = core::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding and subtracting it rounds to the nearest integer (ties to even).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x` with the argument clamped to `[-87, 88]` (so `2^n` stays a normal number).
/// Cody–Waite reduction `x = n ln2 + r`, `|r| <= ln2/2`, degree-7 Taylor polynomial.
#[inline(always)]
pub fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    let x = s.min(s.splat(88.0), s.max(s.splat(-87.0), x));
    let n = s.sub(s.fma(x, s.splat(LOG2E), s.splat(ROUND_MAGIC)), s.splat(ROUND_MAGIC));
    let r = s.fma(n, s.splat(-LN2_HI), x);
    let r = s.fma(n, s.splat(-LN2_LO), r);
    let mut p = s.splat(1.0 / 5040.0);
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = s.fma(p, r, s.splat(c));
    }
    s.mul(p, s.pow2i(n))
}

/// `ln(1 + u)` for `u` in `[0, 1]`: `2 atanh(s)` with `s = u / (2 + u)` in `[0, 1/3]`,
/// odd series to `s^17`.
#[inline(always)]
pub fn log1p_unit<S: Simd>(s: S, u: S::V) -> S::V {
    let t = s.div(u, s.add(s.splat(2.0), u));
    let t2 = s.mul(t, t);
    let mut p = s.splat(1.0 / 17.0);
    for c in [1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
        p = s.fma(p, t2, s.splat(c));
    }
    s.mul(s.mul(s.splat(2.0), t), p)
}

/// `ln(x)` for normal `x > 0`: `e ln2 + ln(1 + (m - 1))` with `x = 2^e m`.
#[inline(always)]
pub fn ln<S: Simd>(s: S, x: S::V) -> S::V {
    let (e, m) = s.frexp(x);
    let l = log1p_unit(s, s.sub(m, s.splat(1.0)));
    s.fma(e, s.splat(core::f32::consts::LN_2), l)
}

/// Applies an ONNX recurrent activation.
#[inline(always)]
pub fn activate<S: Simd>(s: S, a: &Activation, x: S::V) -> S::V {
    let zero = s.splat(0.0);
    match a.kind {
        ActKind::Tanh => tanh(s, x),
        ActKind::Sigmoid => sigmoid(s, x),
        ActKind::Relu => s.max(zero, x),
        ActKind::Affine => s.fma(s.splat(a.alpha), x, s.splat(a.beta)),
        ActKind::LeakyRelu => s.select(s.ge(x, zero), x, s.mul(s.splat(a.alpha), x)),
        // `x <= alpha ? 0 : x`, which is ONNX's `x > alpha ? x : 0` except that NaN propagates.
        ActKind::ThresholdedRelu => s.select(s.ge(s.splat(a.alpha), x), zero, x),
        ActKind::ScaledTanh => s.mul(s.splat(a.alpha), tanh(s, s.mul(s.splat(a.beta), x))),
        ActKind::HardSigmoid => s.min(s.splat(1.0), s.max(zero, s.fma(s.splat(a.alpha), x, s.splat(a.beta)))),
        ActKind::Elu => {
            let neg = s.mul(s.splat(a.alpha), s.sub(exp(s, x), s.splat(1.0)));
            s.select(s.ge(x, zero), x, neg)
        }
        ActKind::Softsign => s.div(x, s.add(s.splat(1.0), s.abs(x))),
        ActKind::Softplus => {
            let e = exp(s, s.sub(zero, s.abs(x)));
            s.add(s.max(zero, x), log1p_unit(s, e))
        }
    }
}

/// Applies a dense layer's element-wise activation (Softmax and LogSoftmax are applied
/// over the whole output by [`softmax_in_place`] instead).
#[inline(always)]
pub fn activate_dense<S: Simd>(s: S, a: DenseAct, x: S::V) -> S::V {
    match a {
        DenseAct::Relu => s.max(s.splat(0.0), x),
        DenseAct::Tanh => tanh(s, x),
        DenseAct::Sigmoid => sigmoid(s, x),
        DenseAct::None | DenseAct::Softmax | DenseAct::LogSoftmax => x,
    }
}

/// Softmax (or LogSoftmax) of `v[..n]` in place; `v` is padded to a multiple of 16.
///
/// The maximum is order-independent; the sum is taken left to right over `0..n`, in
/// scalar code shared by every kernel set, so every path gets the same bits.
///
/// # Safety
/// `v` must be valid for reading and writing `n.div_ceil(16) * 16` floats.
#[inline(always)]
pub unsafe fn softmax_in_place<S: Simd>(s: S, v: *mut f32, n: usize, log: bool) {
    // SAFETY: the caller guarantees `n` readable floats.
    let vals = unsafe { core::slice::from_raw_parts_mut(v, n) };
    let mut m = f32::NEG_INFINITY;
    for &x in vals.iter() {
        m = if x > m { x } else { m };
    }
    let blocks = n.div_ceil(16);
    let mv = s.splat(m);
    for b in 0..blocks {
        // SAFETY: the buffer is padded to whole blocks of 16.
        unsafe {
            let p = v.add(b * 16);
            let x = s.sub(s.load(p), mv);
            s.store(p, if log { x } else { exp(s, x) });
        }
    }
    // SAFETY: as above.
    let vals = unsafe { core::slice::from_raw_parts_mut(v, n) };
    let mut sum = 0.0f32;
    for &x in vals.iter() {
        sum += if log { scalar_exp(x) } else { x };
    }
    if log {
        let l = scalar_ln(sum);
        for x in vals.iter_mut() {
            *x -= l;
        }
    } else {
        let inv = sum;
        for x in vals.iter_mut() {
            *x /= inv;
        }
    }
}

/// [`exp`] on one value (through the scalar kernel set: the same operations).
pub fn scalar_exp(x: f32) -> f32 {
    exp(crate::kernels::Scalar, [x; 16])[0]
}

/// [`ln`] on one value.
pub fn scalar_ln(x: f32) -> f32 {
    ln(crate::kernels::Scalar, [x; 16])[0]
}

/// [`tanh`] on one value.
pub fn scalar_tanh(x: f32) -> f32 {
    tanh(crate::kernels::Scalar, [x; 16])[0]
}

/// [`sigmoid`] on one value.
pub fn scalar_sigmoid(x: f32) -> f32 {
    sigmoid(crate::kernels::Scalar, [x; 16])[0]
}
