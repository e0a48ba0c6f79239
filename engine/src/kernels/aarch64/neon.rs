//! The NEON kernel set: one logical 16-lane vector is four `q` registers (`float32x4_t`).
//!
//! Every logical operation is four independent instructions, each the single IEEE-754
//! operation the trait names: `fadd`, `fsub`, `fmul`, `fdiv` and the fused `fmla` are
//! correctly rounded, so the bits match every other kernel set. `min` and `max` are *not*
//! `fmin`/`fmax` (those return the non-NaN operand, or a quiet NaN, and order `-0 < +0`):
//! they are a compare and a bit-select, `a < b ? a : b`, which is x86's `minps` rule of
//! returning the second operand when the comparison is unordered or the values are equal.
//!
//! # Tiles and registers
//!
//! aarch64 has 32 128-bit vector registers; a logical vector takes four. The fused kernels
//! keep one accumulator per gate panel of the tile live across the whole `k` loop, and per
//! `k` they stream one 16-row slice of each panel (four `ldr q`, each used by exactly one
//! `fmla` and dead right after) and broadcast one input (`ld1r`):
//!
//! * LSTM, tile 1: 4 gates x 4 registers = 16 accumulators, i.e. 16 independent FMA
//!   chains, enough to cover the FMA latency on any core (4 cycles and 2 pipes on
//!   Cortex-A76/Neoverse-N1 need 8 in flight; the wider Neoverse-V cores 16). The other 16
//!   registers hold the weight slices in flight and the broadcast input. A tile of 2 would
//!   need all 32 registers for accumulators alone and spill.
//! * GRU, tile 1: 3 panels x 4 = 12 accumulators (the split recurrent candidate of
//!   `linear_before_reset` included). A tile of 2 (24 accumulators) leaves too few registers
//!   for the loads and spills in the recurrent loop.
//! * RNN (one panel per block; also the second GRU pass and, through `exec`, the dense
//!   layers when it is at least 4), tile 4: 4 blocks x 4 = 16 accumulators, the same
//!   register budget as the LSTM tile, which is known to fit without spills.
//!
//! What the hot loop (`cell::matvec`, one `k` per iteration) should compile to, checked
//! with `cargo rustc --release --target aarch64-unknown-linux-gnu -p recur --lib --
//! --emit asm`: for an LSTM block or four RNN blocks, one `ld1r` (the input broadcast),
//! eight `ldp q` (sixteen weight registers), sixteen `fmla v.4s` and the pointer and
//! counter updates, 31 instructions, no scalar code, no spill; for a GRU block the same
//! with twelve `fmla`. This holds when the kernel interleaves each panel's load with its
//! FMAs; loading all of a tile's weights before the first FMA needs 16 + 16 + 1 live
//! registers for the LSTM tile, one more than there are, and costs a spill per `k`.
//!
//! `.ci/aarch64.sh` runs the whole test suite under qemu with this set forced.
//!
//! # Wide loads
//!
//! * f16: `fcvtl`/`fcvtl2` (half to single, exact) through inline assembly, because the
//!   `float16x4_t` intrinsics (`vcvt_f32_f16`) are still unstable in Rust. `fcvtl` from
//!   half precision is base Advanced SIMD (it does not need FEAT_FP16). It reads
//!   `FPCR.AHP`, which every aarch64 ABI leaves clear (IEEE half precision).
//! * bf16: `zip1`/`zip2` with a zero register puts each 16-bit value in the upper half of
//!   a 32-bit lane, which is the exact widening (a 16-bit shift).
//! * int8: `ld4` de-interleaves the `[16 lanes][4 k]` group into the four `k` vectors in
//!   one instruction, then `sxtl`/`sxtl2` twice and `scvtf` (exact: |q| <= 128).

use crate::kernels::{Simd, LANES};
use core::arch::aarch64::*;

/// NEON capability token.
#[derive(Clone, Copy, Debug)]
pub struct Neon(());

impl Neon {
    /// The token, if this CPU has NEON (Advanced SIMD). NEON is part of the aarch64
    /// baseline, so this is `Some` on every aarch64 Linux system; it is still detected so
    /// that a target built without it (`-C target-feature=-neon`) stays sound.
    #[inline]
    pub fn new() -> Option<Self> {
        #[cfg(feature = "std")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Some(Neon(()));
            }
            None
        }
        #[cfg(not(feature = "std"))]
        {
            if cfg!(target_feature = "neon") {
                Some(Neon(()))
            } else {
                None
            }
        }
    }
}

const _: () = assert!(LANES == 16);

/// Four quarters: lanes 0..4, 4..8, 8..12, 12..16.
pub type V4 = [float32x4_t; 4];
/// Comparison results, all ones or all zeros per lane.
pub type M4 = [uint32x4_t; 4];

/// Applies a two-operand intrinsic to the four quarters.
macro_rules! quad {
    ($f:ident, $a:expr) => {{
        let a = $a;
        [$f(a[0]), $f(a[1]), $f(a[2]), $f(a[3])]
    }};
    ($f:ident, $a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        [$f(a[0], b[0]), $f(a[1], b[1]), $f(a[2], b[2]), $f(a[3], b[3])]
    }};
    ($f:ident, $a:expr, $b:expr, $c:expr) => {{
        let (a, b, c) = ($a, $b, $c);
        [$f(a[0], b[0], c[0]), $f(a[1], b[1], c[1]), $f(a[2], b[2], c[2]), $f(a[3], b[3], c[3])]
    }};
}

/// Widens four IEEE binary16 values (the low half of `h`) and the next four (the high
/// half) to `f32`, exactly.
///
/// # Safety
/// The CPU has NEON (the caller holds a [`Neon`] token).
#[inline(always)]
unsafe fn f16x8_to_f32(h: uint16x8_t) -> (float32x4_t, float32x4_t) {
    let lo: float32x4_t;
    let hi: float32x4_t;
    // SAFETY: `fcvtl`/`fcvtl2` are base Advanced SIMD instructions (the caller has NEON);
    // they only read and write the named registers (and FPCR, which is not changed).
    unsafe {
        core::arch::asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    (lo, hi)
}

// SAFETY (for every `unsafe` block below): a `Neon` value exists only if `new()` saw the
// CPU support NEON, so the intrinsics are available; they take and return registers only
// (loads and stores are covered by the callers' contract on the pointer).
impl Simd for Neon {
    const NAME: &'static str = "neon";
    const TILE_LSTM: usize = 1;
    const TILE_GRU: usize = 1;
    const TILE_RNN: usize = 4;
    type V = V4;
    type M = M4;
    type I = [int32x4_t; 4];

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> V4 {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe { [vld1q_f32(p), vld1q_f32(p.add(4)), vld1q_f32(p.add(8)), vld1q_f32(p.add(12))] }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: V4) {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe {
            vst1q_f32(p, v[0]);
            vst1q_f32(p.add(4), v[1]);
            vst1q_f32(p.add(8), v[2]);
            vst1q_f32(p.add(12), v[3]);
        }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> V4 {
        // SAFETY: see the impl comment.
        let v = unsafe { vdupq_n_f32(x) };
        [v; 4]
    }
    #[inline(always)]
    fn add(self, a: V4, b: V4) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vaddq_f32, a, b) }
    }
    #[inline(always)]
    fn sub(self, a: V4, b: V4) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vsubq_f32, a, b) }
    }
    #[inline(always)]
    fn mul(self, a: V4, b: V4) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vmulq_f32, a, b) }
    }
    #[inline(always)]
    fn div(self, a: V4, b: V4) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vdivq_f32, a, b) }
    }
    #[inline(always)]
    fn fma(self, a: V4, b: V4, c: V4) -> V4 {
        // `vfmaq_f32(c, a, b)` is `c + a * b` with one rounding (`fmla`).
        // SAFETY: see the impl comment.
        unsafe { quad!(vfmaq_f32, c, a, b) }
    }
    #[inline(always)]
    fn min(self, a: V4, b: V4) -> V4 {
        // `a < b ? a : b`: the second operand when unordered (not `fmin`, see the module doc).
        // SAFETY: see the impl comment.
        unsafe { quad!(vbslq_f32, quad!(vcltq_f32, a, b), a, b) }
    }
    #[inline(always)]
    fn max(self, a: V4, b: V4) -> V4 {
        // `a > b ? a : b`: the second operand when unordered (not `fmax`).
        // SAFETY: see the impl comment.
        unsafe { quad!(vbslq_f32, quad!(vcgtq_f32, a, b), a, b) }
    }
    #[inline(always)]
    fn abs(self, a: V4) -> V4 {
        // `fabs` clears the sign bit, NaN included (it is not an arithmetic operation).
        // SAFETY: see the impl comment.
        unsafe { quad!(vabsq_f32, a) }
    }
    #[inline(always)]
    fn copysign(self, mag: V4, sign: V4) -> V4 {
        // SAFETY: see the impl comment. `bsl` takes the sign bit from `sign`, the rest from `mag`.
        unsafe {
            let s = [vdupq_n_u32(0x8000_0000); 4];
            quad!(vbslq_f32, s, sign, mag)
        }
    }
    #[inline(always)]
    fn lt(self, a: V4, b: V4) -> M4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vcltq_f32, a, b) }
    }
    #[inline(always)]
    fn gt(self, a: V4, b: V4) -> M4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vcgtq_f32, a, b) }
    }
    #[inline(always)]
    fn ge(self, a: V4, b: V4) -> M4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vcgeq_f32, a, b) }
    }
    #[inline(always)]
    fn select(self, m: M4, a: V4, b: V4) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { quad!(vbslq_f32, m, a, b) }
    }
    #[inline(always)]
    fn pow2i(self, n: V4) -> V4 {
        // SAFETY: see the impl comment. `n` is integral, so the conversion is exact.
        unsafe {
            let f = |x| {
                let i = vaddq_s32(vcvtq_s32_f32(x), vdupq_n_s32(127));
                vreinterpretq_f32_s32(vshlq_n_s32::<23>(i))
            };
            quad!(f, n)
        }
    }
    #[inline(always)]
    fn frexp(self, x: V4) -> (V4, V4) {
        // SAFETY: see the impl comment.
        unsafe {
            let e = |x| {
                let b = vreinterpretq_s32_u32(vshrq_n_u32::<23>(vreinterpretq_u32_f32(x)));
                vcvtq_f32_s32(vsubq_s32(b, vdupq_n_s32(127)))
            };
            let m = |x| {
                let b = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x007f_ffff));
                vreinterpretq_f32_u32(vorrq_u32(b, vdupq_n_u32(0x3f80_0000)))
            };
            (quad!(e, x), quad!(m, x))
        }
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> V4 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        unsafe {
            let (a, b) = f16x8_to_f32(vld1q_u16(p));
            let (c, d) = f16x8_to_f32(vld1q_u16(p.add(8)));
            [a, b, c, d]
        }
    }
    #[inline(always)]
    unsafe fn load_bf16(self, p: *const u16) -> V4 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        // Zipping zeros below each value makes the little-endian 32-bit lane `value << 16`.
        unsafe {
            let z = vdupq_n_u16(0);
            let (x, y) = (vld1q_u16(p), vld1q_u16(p.add(8)));
            let w = |u| vreinterpretq_f32_u16(u);
            [w(vzip1q_u16(z, x)), w(vzip2q_u16(z, x)), w(vzip1q_u16(z, y)), w(vzip2q_u16(z, y))]
        }
    }
    #[inline(always)]
    unsafe fn load_i8x4(self, p: *const i8) -> [V4; 4] {
        // SAFETY: see the impl comment; 64 readable bytes at `p` by the caller's contract.
        // `ld4` puts byte `4 l + j` in lane `l` of register `j`: the de-interleave itself.
        unsafe {
            let q = vld4q_s8(p);
            let widen = |b: int8x16_t| {
                let lo = vmovl_s8(vget_low_s8(b));
                let hi = vmovl_high_s8(b);
                [
                    vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))),
                    vcvtq_f32_s32(vmovl_high_s16(lo)),
                    vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))),
                    vcvtq_f32_s32(vmovl_high_s16(hi)),
                ]
            };
            [widen(q.0), widen(q.1), widen(q.2), widen(q.3)]
        }
    }

    #[inline(always)]
    fn izero(self) -> [int32x4_t; 4] {
        // SAFETY: see the impl comment.
        unsafe { [vdupq_n_s32(0); 4] }
    }
    #[inline(always)]
    unsafe fn dot4_i8(self, acc: [int32x4_t; 4], w: *const i8, x4: u32) -> [int32x4_t; 4] {
        // SAFETY: see the impl comment; 64 readable bytes at `w` by the caller's contract.
        // Widening multiplies (products fit i16), then two pairwise widening adds give
        // each lane's sum of four products; exact.
        unsafe {
            let xb = vreinterpretq_s8_u32(vdupq_n_u32(x4));
            core::array::from_fn(|i| {
                let wv = vld1q_s8(w.add(16 * i));
                let lo = vpaddlq_s16(vmull_s8(vget_low_s8(wv), vget_low_s8(xb)));
                let hi = vpaddlq_s16(vmull_high_s8(wv, xb));
                vaddq_s32(acc[i], vpaddq_s32(lo, hi))
            })
        }
    }
    #[inline(always)]
    fn isub_splat(self, a: [int32x4_t; 4], b: i32) -> [int32x4_t; 4] {
        // SAFETY: see the impl comment.
        unsafe { a.map(|v| vsubq_s32(v, vdupq_n_s32(b))) }
    }
    #[inline(always)]
    fn i2f(self, a: [int32x4_t; 4]) -> V4 {
        // SAFETY: see the impl comment.
        unsafe { a.map(|v| vcvtq_f32_s32(v)) }
    }
}
