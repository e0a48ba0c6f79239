//! The AVX2+FMA kernel set: one logical 16-lane vector is a pair of `ymm` registers.
//!
//! Every logical operation is two independent instructions, so an LSTM block (4 gates)
//! already gives 8 independent FMA chains; with 16 registers the tiles stay small.

use crate::kernels::{Simd, LANES};
use core::arch::x86_64::*;

/// AVX2 + FMA capability token.
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

impl Avx2 {
    /// The token, for a caller that already holds a token implying AVX2, FMA and F16C.
    #[inline(always)]
    pub(super) fn implied() -> Self {
        Avx2(())
    }
    /// The token, if this CPU has AVX2, FMA and F16C.
    #[inline]
    pub fn new() -> Option<Self> {
        #[cfg(feature = "std")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                return Some(Avx2(()));
            }
            None
        }
        #[cfg(not(feature = "std"))]
        {
            if cfg!(all(target_feature = "avx2", target_feature = "fma", target_feature = "f16c")) {
                Some(Avx2(()))
            } else {
                None
            }
        }
    }
}

const _: () = assert!(LANES == 16);

/// Two halves: lanes 0..8 and 8..16.
#[derive(Clone, Copy, Debug)]
pub struct V2(__m256, __m256);

macro_rules! both {
    ($f:ident, $a:expr, $b:expr) => {
        V2($f($a.0, $b.0), $f($a.1, $b.1))
    };
}

// SAFETY (for every `unsafe` block below): an `Avx2` value exists only if `new()` saw
// the CPU support AVX2, FMA and F16C, so the intrinsics are available; they take and
// return registers only (loads and stores are covered by the callers' contract).
impl Simd for Avx2 {
    const NAME: &'static str = "avx2";
    const TILE_LSTM: usize = 1;
    const TILE_GRU: usize = 2;
    const TILE_RNN: usize = 4;
    #[inline(always)]
    fn prefetch_l2(self, p: *const u8) {
        super::prefetch_t1(p)
    }
    type V = V2;
    type M = V2;
    type I = (__m256i, __m256i);

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> V2 {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe { V2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: V2) {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe {
            _mm256_storeu_ps(p, v.0);
            _mm256_storeu_ps(p.add(8), v.1);
        }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> V2 {
        // SAFETY: see the impl comment.
        unsafe {
            let v = _mm256_set1_ps(x);
            V2(v, v)
        }
    }
    #[inline(always)]
    fn add(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { both!(_mm256_add_ps, a, b) }
    }
    #[inline(always)]
    fn sub(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { both!(_mm256_sub_ps, a, b) }
    }
    #[inline(always)]
    fn mul(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { both!(_mm256_mul_ps, a, b) }
    }
    #[inline(always)]
    fn div(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { both!(_mm256_div_ps, a, b) }
    }
    #[inline(always)]
    fn fma(self, a: V2, b: V2, c: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { V2(_mm256_fmadd_ps(a.0, b.0, c.0), _mm256_fmadd_ps(a.1, b.1, c.1)) }
    }
    #[inline(always)]
    fn min(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment. vminps returns the second operand when unordered.
        unsafe { both!(_mm256_min_ps, a, b) }
    }
    #[inline(always)]
    fn max(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment. vmaxps returns the second operand when unordered.
        unsafe { both!(_mm256_max_ps, a, b) }
    }
    #[inline(always)]
    fn abs(self, a: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe {
            let m = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
            V2(_mm256_and_ps(a.0, m), _mm256_and_ps(a.1, m))
        }
    }
    #[inline(always)]
    fn copysign(self, mag: V2, sign: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe {
            let s = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
            let f = |m, g| _mm256_or_ps(_mm256_andnot_ps(s, m), _mm256_and_ps(s, g));
            V2(f(mag.0, sign.0), f(mag.1, sign.1))
        }
    }
    #[inline(always)]
    fn lt(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { V2(_mm256_cmp_ps::<_CMP_LT_OQ>(a.0, b.0), _mm256_cmp_ps::<_CMP_LT_OQ>(a.1, b.1)) }
    }
    #[inline(always)]
    fn gt(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { V2(_mm256_cmp_ps::<_CMP_GT_OQ>(a.0, b.0), _mm256_cmp_ps::<_CMP_GT_OQ>(a.1, b.1)) }
    }
    #[inline(always)]
    fn ge(self, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { V2(_mm256_cmp_ps::<_CMP_GE_OQ>(a.0, b.0), _mm256_cmp_ps::<_CMP_GE_OQ>(a.1, b.1)) }
    }
    #[inline(always)]
    fn select(self, m: V2, a: V2, b: V2) -> V2 {
        // SAFETY: see the impl comment. blendv picks the second source where the mask is set.
        unsafe { V2(_mm256_blendv_ps(b.0, a.0, m.0), _mm256_blendv_ps(b.1, a.1, m.1)) }
    }
    #[inline(always)]
    fn pow2i(self, n: V2) -> V2 {
        // SAFETY: see the impl comment. `n` is integral, so the conversion is exact.
        unsafe {
            let f = |x| {
                let i = _mm256_cvtps_epi32(x);
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(i, _mm256_set1_epi32(127))))
            };
            V2(f(n.0), f(n.1))
        }
    }
    #[inline(always)]
    fn frexp(self, x: V2) -> (V2, V2) {
        // SAFETY: see the impl comment.
        unsafe {
            let f = |x: __m256| {
                let bits = _mm256_castps_si256(x);
                let e = _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(127));
                let m = _mm256_or_si256(
                    _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x3f80_0000),
                );
                (_mm256_cvtepi32_ps(e), _mm256_castsi256_ps(m))
            };
            let (e0, m0) = f(x.0);
            let (e1, m1) = f(x.1);
            (V2(e0, e1), V2(m0, m1))
        }
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> V2 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        unsafe { V2(_mm256_cvtph_ps(_mm_loadu_si128(p.cast())), _mm256_cvtph_ps(_mm_loadu_si128(p.add(8).cast()))) }
    }
    #[inline(always)]
    unsafe fn load_bf16(self, p: *const u16) -> V2 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        // Each half: its 8 bf16 broadcast to both 128-bit lanes (a plain load), then one
        // byte shuffle puts word j in the upper half of dword j over a zero lower half,
        // which is the exact f32; one shuffle per 8 lanes instead of a zero-extend and a
        // shift.
        unsafe {
            let m = _mm256_setr_epi8(
                -1, -1, 0, 1, -1, -1, 2, 3, -1, -1, 4, 5, -1, -1, 6, 7, // words 0-3
                -1, -1, 8, 9, -1, -1, 10, 11, -1, -1, 12, 13, -1, -1, 14, 15, // words 4-7
            );
            let w = |q: *const u16| {
                _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(q.cast())), m))
            };
            V2(w(p), w(p.add(8)))
        }
    }
    #[inline(always)]
    unsafe fn load_i8x4(self, p: *const i8) -> [V2; 4] {
        // SAFETY: see the impl comment; 64 readable bytes at `p` by the caller's contract.
        unsafe {
            let a = _mm256_loadu_si256(p.cast());
            let b = _mm256_loadu_si256(p.add(32).cast());
            let j0 = |x| _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(x)));
            let j1 = |x| _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_slli_epi32::<16>(x)));
            let j2 = |x| _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_slli_epi32::<8>(x)));
            let j3 = |x| _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(x));
            [V2(j0(a), j0(b)), V2(j1(a), j1(b)), V2(j2(a), j2(b)), V2(j3(a), j3(b))]
        }
    }

    #[inline(always)]
    fn izero(self) -> (__m256i, __m256i) {
        // SAFETY: see the impl comment.
        unsafe { (_mm256_setzero_si256(), _mm256_setzero_si256()) }
    }
    #[inline(always)]
    unsafe fn dot4_i8(self, acc: (__m256i, __m256i), w: *const i8, x4: u32) -> (__m256i, __m256i) {
        // SAFETY: see the impl comment; 64 readable bytes at `w` by the caller's contract.
        // `vpmaddubsw` multiplies unsigned by signed bytes and saturates pairs to i16: feed
        // it |x| (<= 127) and w with x's sign (|w| <= 127), so a pair is at most
        // 2 * 127 * 127 = 32258 and never saturates; `vpmaddwd` by ones then sums pairs
        // exactly into i32.
        unsafe {
            let xb = _mm256_set1_epi32(x4 as i32);
            let ax = _mm256_abs_epi8(xb);
            let ones = _mm256_set1_epi16(1);
            let half = |p: *const i8| {
                let sw = _mm256_sign_epi8(_mm256_loadu_si256(p.cast()), xb);
                _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), ones)
            };
            (_mm256_add_epi32(acc.0, half(w)), _mm256_add_epi32(acc.1, half(w.add(32))))
        }
    }
    #[inline(always)]
    fn isub_splat(self, a: (__m256i, __m256i), b: i32) -> (__m256i, __m256i) {
        // SAFETY: see the impl comment.
        unsafe {
            let v = _mm256_set1_epi32(b);
            (_mm256_sub_epi32(a.0, v), _mm256_sub_epi32(a.1, v))
        }
    }
    #[inline(always)]
    fn i2f(self, a: (__m256i, __m256i)) -> V2 {
        // SAFETY: see the impl comment.
        unsafe { V2(_mm256_cvtepi32_ps(a.0), _mm256_cvtepi32_ps(a.1)) }
    }
}
