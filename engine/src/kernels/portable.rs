//! The portable kernel set, written once with the [`wide`] crate: one logical 16-lane
//! vector is two `wide::f32x8`. It builds on every target and needs no CPU feature
//! beyond the target's baseline (`wide` picks SSE2 on x86-64, NEON on aarch64, SIMD128 on
//! wasm, and plain arrays elsewhere), so it is available on every CPU; `RECUR_ISA=portable`
//! selects it.
//!
//! # Exactness, and what it costs
//!
//! Every operation must be the single correctly rounded IEEE-754 operation that the other
//! kernel sets use. `wide`'s `+ - * /`, comparisons, bit operations and blends are (the
//! division is a true division, never a reciprocal estimate), but two of its helpers are
//! not usable here:
//!
//! * `f32x8::mul_add` fuses only when the build enables the FMA (x86) or NEON (aarch64)
//!   target feature; otherwise it computes `a * b + c` with two roundings, which would
//!   give different bits from every other kernel set. [`Simd::fma`] here is instead
//!   `f32::mul_add` per lane, which Rust guarantees to be correctly rounded on every
//!   target: where the baseline has FMA (aarch64, and x86-64 built with
//!   `-C target-feature=+fma`) LLVM turns the sixteen lanes into vector FMAs (`fmla`,
//!   `vfmadd`), so it costs nothing; on baseline x86-64 it is sixteen calls to libm's
//!   `fmaf` per logical FMA (glibc's picks the hardware FMA at run time, so each call is a
//!   few nanoseconds, not a software emulation). Measured on the W1 workload (GRU 40→128
//!   and a dense head, one step): about 190 µs against 285 µs for the scalar reference and
//!   3.4 µs for AVX2, i.e. the calls dominate and this path is some 50 times slower than
//!   the hand-written x86 kernels. That is fine: an x86-64 CPU with FMA runs the AVX2 or
//!   AVX-512 kernels, and this path exists for targets without hand-written kernels. On
//!   aarch64 the sixteen per-lane FMAs become four `fmla v.4s`, and the matrix loops
//!   compile to the same `ld1r`/`ldp`/`fmla` stream as NEON's.
//! * `f32x8::min`/`max` return the non-NaN operand; the trait wants `a < b ? a : b`
//!   (the second operand when unordered), so they are a compare and a blend.
//!
//! The wide loads have no `wide` counterpart either: f16 is widened with integer
//! operations (exact, see [`f16_to_f32`]), bf16 with a 16-bit shift, int8 with a sign
//! extension and an exact integer-to-float conversion.

use super::{Simd, LANES};
use wide::{f32x8, i32x8, CmpEq, CmpGe, CmpGt, CmpLt};

/// The portable kernel set (always available).
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

const _: () = assert!(LANES == 16);

/// Two halves: lanes 0..8 and 8..16.
pub type V2 = [f32x8; 2];

#[inline(always)]
fn both(a: V2, f: impl Fn(f32x8) -> f32x8) -> V2 {
    [f(a[0]), f(a[1])]
}

#[inline(always)]
fn both2(a: V2, b: V2, f: impl Fn(f32x8, f32x8) -> f32x8) -> V2 {
    [f(a[0], b[0]), f(a[1], b[1])]
}

#[inline(always)]
fn to_bits(x: f32x8) -> i32x8 {
    bytemuck::cast(x)
}

#[inline(always)]
fn from_bits(x: i32x8) -> f32x8 {
    bytemuck::cast(x)
}

/// Widens eight IEEE binary16 values (zero-extended into 32-bit lanes) to `f32`, exactly,
/// with integer operations:
///
/// * the exponent and mantissa bits are moved up by 13 and the exponent rebiased by
///   `127 - 15`, which is the whole conversion for normal numbers;
/// * infinities and NaNs (exponent 31) get the rest of the way to exponent 255, and NaNs
///   are made quiet (as the hardware conversions do);
/// * zeros and subnormals (exponent 0) are rebuilt as `2^-14 * (1 + m/1024) - 2^-14`, a
///   subtraction of two `f32` in the same binade, which is exact.
///
/// The sign bit is copied last.
#[inline(always)]
fn f16_to_f32(h: i32x8) -> f32x8 {
    let em = h & i32x8::splat(0x7fff);
    let exp = em & i32x8::splat(0x7c00);
    let o = (em << 13) + i32x8::splat((127 - 15) << 23);
    // Exponent 31: infinity, or a NaN (made quiet).
    let special = exp.simd_eq(i32x8::splat(0x7c00));
    let nan = em.simd_gt(i32x8::splat(0x7c00));
    let o_special = (o + i32x8::splat((128 - 16) << 23)) | (nan & i32x8::splat(0x0040_0000));
    // Exponent 0: zero or subnormal.
    let tiny = exp.simd_eq(i32x8::splat(0));
    let magic = f32x8::splat(f32::from_bits(113 << 23));
    let o_tiny = to_bits(from_bits(o + i32x8::splat(1 << 23)) - magic);
    let o = special.blend(o_special, tiny.blend(o_tiny, o));
    from_bits(o | ((h & i32x8::splat(0x8000)) << 16))
}

/// Eight `u16` from `p`, zero-extended into 32-bit lanes.
///
/// # Safety
/// `p` must be valid for reading 8 `u16` (no alignment requirement).
#[inline(always)]
unsafe fn load_u16x8(p: *const u16) -> i32x8 {
    // SAFETY: the caller guarantees 8 readable `u16` at `p`.
    let h = unsafe { p.cast::<[u16; 8]>().read_unaligned() };
    i32x8::new(h.map(i32::from))
}

impl Simd for Portable {
    const NAME: &'static str = "portable";
    // With `f32x8` on 128-bit registers (SSE2, NEON), a logical vector is four registers,
    // as on NEON: an LSTM block already gives 16 independent chains, a GRU block 12, and
    // four RNN/dense blocks 16, which fill half of a 32-register file (and spill a little
    // on the 16 registers of SSE2, where this path is not the one that runs in practice).
    const TILE_LSTM: usize = 1;
    const TILE_GRU: usize = 1;
    const TILE_RNN: usize = 4;
    // Exercises the 2-stream tiles.
    const MANY_STREAMS: usize = 2;
    type V = V2;
    type M = V2;
    type I = [i32; LANES];

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> V2 {
        // SAFETY: the caller guarantees 16 readable floats at `p`; `read_unaligned` has no
        // alignment requirement and `[f32x8; 2]` is plain data of the same size.
        unsafe { p.cast::<V2>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: V2) {
        // SAFETY: the caller guarantees 16 writable floats at `p` (no alignment needed).
        unsafe { p.cast::<V2>().write_unaligned(v) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> V2 {
        [f32x8::splat(x); 2]
    }
    #[inline(always)]
    fn add(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    fn sub(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x - y)
    }
    #[inline(always)]
    fn mul(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    fn div(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x / y)
    }
    // Where FMA is an instruction (aarch64, x86 built with `fma`) this inlines; elsewhere
    // each lane is a libm `fmaf` call, and 16 calls at every use made the portable
    // kernels the bulk of the engine's build time: one call per vector instead.
    #[cfg_attr(any(target_arch = "aarch64", target_feature = "fma"), inline(always))]
    #[cfg_attr(not(any(target_arch = "aarch64", target_feature = "fma")), inline(never))]
    fn fma(self, a: V2, b: V2, c: V2) -> V2 {
        // Per lane, correctly rounded on every target (see the module doc for the cost).
        let (a, b, c): ([f32; LANES], [f32; LANES], [f32; LANES]) =
            (bytemuck::cast(a), bytemuck::cast(b), bytemuck::cast(c));
        let mut o = [0.0f32; LANES];
        for i in 0..LANES {
            o[i] = a[i].mul_add(b[i], c[i]);
        }
        bytemuck::cast(o)
    }
    #[inline(always)]
    fn min(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x.simd_lt(y).blend(x, y))
    }
    #[inline(always)]
    fn max(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x.simd_gt(y).blend(x, y))
    }
    #[inline(always)]
    fn abs(self, a: V2) -> V2 {
        both(a, |x| from_bits(to_bits(x) & i32x8::splat(0x7fff_ffff)))
    }
    #[inline(always)]
    fn copysign(self, mag: V2, sign: V2) -> V2 {
        both2(mag, sign, |m, s| {
            from_bits((to_bits(m) & i32x8::splat(0x7fff_ffff)) | (to_bits(s) & i32x8::splat(i32::MIN)))
        })
    }
    #[inline(always)]
    fn lt(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x.simd_lt(y))
    }
    #[inline(always)]
    fn gt(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x.simd_gt(y))
    }
    #[inline(always)]
    fn ge(self, a: V2, b: V2) -> V2 {
        both2(a, b, |x, y| x.simd_ge(y))
    }
    #[inline(always)]
    fn select(self, m: V2, a: V2, b: V2) -> V2 {
        [m[0].blend(a[0], b[0]), m[1].blend(a[1], b[1])]
    }
    #[inline(always)]
    fn pow2i(self, n: V2) -> V2 {
        // `n` is integral, so truncation is exact.
        both(n, |x| from_bits((x.fast_trunc_int() + i32x8::splat(127)) << 23))
    }
    #[inline(always)]
    fn frexp(self, x: V2) -> (V2, V2) {
        // `x > 0`, so the sign bit is clear and an arithmetic shift is a logical one.
        let e = both(x, |v| f32x8::from_i32x8((to_bits(v) >> 23) - i32x8::splat(127)));
        let m = both(x, |v| from_bits((to_bits(v) & i32x8::splat(0x007f_ffff)) | i32x8::splat(0x3f80_0000)));
        (e, m)
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> V2 {
        // SAFETY: the caller guarantees 16 readable `u16` at `p`.
        unsafe { [f16_to_f32(load_u16x8(p)), f16_to_f32(load_u16x8(p.add(8)))] }
    }
    #[inline(always)]
    unsafe fn load_bf16(self, p: *const u16) -> V2 {
        // SAFETY: the caller guarantees 16 readable `u16` at `p`.
        unsafe { [from_bits(load_u16x8(p) << 16), from_bits(load_u16x8(p.add(8)) << 16)] }
    }
    #[inline(always)]
    unsafe fn load_i8x4(self, p: *const i8) -> [V2; 4] {
        // SAFETY: the caller guarantees 64 readable bytes at `p`.
        let q = unsafe { p.cast::<[i8; 4 * LANES]>().read_unaligned() };
        let k = |j: usize, half: usize| {
            f32x8::from_i32x8(i32x8::new(core::array::from_fn(|l| i32::from(q[4 * (8 * half + l) + j]))))
        };
        [[k(0, 0), k(0, 1)], [k(1, 0), k(1, 1)], [k(2, 0), k(2, 1)], [k(3, 0), k(3, 1)]]
    }

    // The integer lanes are the scalar set's `[i32; 16]`: its exact loops serve here too
    // (`wide` has no 8-bit dot product to offer).
    #[inline(always)]
    fn izero(self) -> [i32; LANES] {
        crate::kernels::Scalar.izero()
    }
    #[inline(always)]
    unsafe fn dot4_i8(self, acc: [i32; LANES], w: *const i8, x4: u32) -> [i32; LANES] {
        // SAFETY: forwarded contract (64 readable bytes at `w`).
        unsafe { crate::kernels::Scalar.dot4_i8(acc, w, x4) }
    }
    #[inline(always)]
    fn isub_splat(self, a: [i32; LANES], b: i32) -> [i32; LANES] {
        crate::kernels::Scalar.isub_splat(a, b)
    }
    #[inline(always)]
    fn i2f(self, a: [i32; LANES]) -> V2 {
        let h = |o: usize| f32x8::from_i32x8(i32x8::new(core::array::from_fn(|l| a[8 * o + l])));
        [h(0), h(1)]
    }
}
