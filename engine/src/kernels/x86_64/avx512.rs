//! The AVX-512 kernel set: one logical 16-lane vector is one `zmm` register.
//!
//! With 32 vector registers, the fused kernels keep 8 (LSTM: 2 blocks x 4 gates) to 12
//! (GRU: 4 x 3) accumulators live, enough independent FMA chains to cover the FMA
//! latency while each weight panel row is loaded once. GRU takes 4 blocks: its common
//! sizes (H = 64, 128, 256) are multiples of 64 units, so no block is left to a tile
//! with too few chains.

use crate::kernels::{Simd, LANES};
use core::arch::x86_64::*;

/// AVX-512 capability token. `VNNI` says whether int8 dot products use AVX512-VNNI's
/// `vpdpbusd` (the token then also proves the CPU has it); both variants give the same
/// bits, and one is chosen per CPU.
#[derive(Clone, Copy, Debug)]
pub struct Avx512<const VNNI: bool = false>(());

/// Whether this CPU has AVX-512F/BW/VL, AVX2, FMA and F16C.
#[inline]
fn base_available() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "fma",
            target_feature = "f16c"
        ))
    }
}

impl Avx512<false> {
    /// The token, if this CPU has AVX-512F, AVX-512BW/VL, AVX2, FMA and F16C.
    #[inline]
    pub fn new() -> Option<Self> {
        base_available().then_some(Avx512(()))
    }
}

impl Avx512<true> {
    /// The token, if this CPU has everything [`Avx512::new`] needs and AVX512-VNNI.
    #[inline]
    pub fn new_vnni() -> Option<Self> {
        #[cfg(feature = "std")]
        let vnni = std::arch::is_x86_feature_detected!("avx512vnni");
        #[cfg(not(feature = "std"))]
        let vnni = cfg!(target_feature = "avx512vnni");
        (base_available() && vnni).then_some(Avx512(()))
    }
}

const _: () = assert!(LANES == 16);

// SAFETY (for every `unsafe` block below): an `Avx512` value exists only if `new()` saw
// the CPU support AVX-512F/BW/VL, AVX2, FMA and F16C (and VNNI for `Avx512<true>`), so
// the intrinsics are available;
// they take and return registers only (loads and stores are covered by the callers'
// contract on the pointer).
impl From<Avx512<true>> for Avx512<false> {
    /// The same CPU's token without VNNI (which implies everything the base token needs).
    #[inline(always)]
    fn from(_: Avx512<true>) -> Self {
        Avx512(())
    }
}

impl<const VNNI: bool> From<Avx512<VNNI>> for super::avx2::Avx2 {
    /// The AVX2 token of a CPU with AVX-512 (whose token implies AVX2, FMA and F16C).
    #[inline(always)]
    fn from(_: Avx512<VNNI>) -> Self {
        super::avx2::Avx2::implied()
    }
}

impl<const VNNI: bool> Simd for Avx512<VNNI> {
    const NAME: &'static str = "avx512";
    // A tile reads one stream of 64-byte rows per gate panel, all `16 * k * 4` bytes
    // apart: for k a multiple of 64 every stream maps to the same set of an 8-way 32 KB
    // L1, so more than ~8 streams evict each other's lines before use. Hence at most 6-8
    // panels per tile (GRU lbr=1 with 4 blocks, 12 streams, ran W4 at 17.4 ms per 1000
    // frames; with 2 blocks, 11.5 ms). 6-8 accumulators still hide the FMA latency.
    const TILE_LSTM: usize = 2;
    const TILE_GRU: usize = 3;
    const TILE_RNN: usize = 8;
    const TILE_GRU_LBR: usize = 2;
    const TILE_GRU_P2: usize = 4;
    // 4 streams x 4 LSTM gates = 16 accumulators of the 32 registers.
    const MANY_STREAMS: usize = 4;
    const PRELOAD_WEIGHTS: bool = true;
    // The VNNI set forwards f32 to the base set's kernels (see `exec`), which ride.
    const RIDES: bool = !VNNI;
    #[inline(always)]
    fn prefetch_l2(self, p: *const u8) {
        super::prefetch_t1(p)
    }
    type V = __m512;
    type M = __mmask16;
    type I = __m512i;
    const DOT_OFFSET: bool = VNNI;

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: see the impl comment; `p` is valid for 16 floats by the caller's contract.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment. vminps returns the second operand when unordered.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment. vmaxps returns the second operand when unordered.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fff_ffff))) }
    }
    #[inline(always)]
    fn copysign(self, mag: __m512, sign: __m512) -> __m512 {
        // SAFETY: see the impl comment. 0xCA = mask ? sign : mag, bitwise, with mask = the sign bit.
        unsafe {
            _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
                _mm512_set1_epi32(i32::MIN),
                _mm512_castps_si512(sign),
                _mm512_castps_si512(mag),
                0xCA,
            ))
        }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn gt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
    #[inline(always)]
    fn pow2i(self, n: __m512) -> __m512 {
        // SAFETY: see the impl comment. `n` is integral, so the conversion is exact.
        unsafe {
            let i = _mm512_cvtps_epi32(n);
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(i, _mm512_set1_epi32(127))))
        }
    }
    #[inline(always)]
    fn frexp(self, x: __m512) -> (__m512, __m512) {
        // SAFETY: see the impl comment.
        unsafe {
            let bits = _mm512_castps_si512(x);
            let e = _mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(127));
            let m =
                _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x3f80_0000));
            (_mm512_cvtepi32_ps(e), _mm512_castsi512_ps(m))
        }
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> __m512 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        // The engine's f16 and bf16 kernels do not call this or `load_bf16`: on AVX-512
        // they run the AVX2 set's kernels (see `impl_exec!` in exec.rs), which were faster
        // still. The trait needs both; `kernel_ops` checks them. Two 256-bit conversions:
        // on Zen 4 the 512-bit vcvtph2ps costs more (W2 f16: 111 us per step this way,
        // 123 us with the 512-bit form).
        unsafe {
            let lo = _mm256_cvtph_ps(_mm_loadu_si128(p.cast()));
            let hi = _mm256_cvtph_ps(_mm_loadu_si128(p.add(8).cast()));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castps_pd(_mm512_castps256_ps512(lo)),
                _mm256_castps_pd(hi),
            ))
        }
    }
    #[inline(always)]
    unsafe fn load_bf16(self, p: *const u16) -> __m512 {
        // SAFETY: see the impl comment; 32 readable bytes at `p` by the caller's contract.
        unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())))) }
    }
    #[inline(always)]
    unsafe fn load_i8x4(self, p: *const i8) -> [__m512; 4] {
        // SAFETY: see the impl comment; 64 readable bytes at `p` by the caller's contract.
        // Byte j of each 32-bit lane is moved to the top and sign-extended back down.
        unsafe {
            let x = _mm512_loadu_si512(p.cast());
            [
                _mm512_cvtepi32_ps(_mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(x))),
                _mm512_cvtepi32_ps(_mm512_srai_epi32::<24>(_mm512_slli_epi32::<16>(x))),
                _mm512_cvtepi32_ps(_mm512_srai_epi32::<24>(_mm512_slli_epi32::<8>(x))),
                _mm512_cvtepi32_ps(_mm512_srai_epi32::<24>(x)),
            ]
        }
    }

    #[inline(always)]
    fn izero(self) -> __m512i {
        // SAFETY: see the impl comment.
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    unsafe fn dot4_i8(self, acc: __m512i, w: *const i8, x4: u32) -> __m512i {
        // SAFETY: see the impl comment; 64 readable bytes at `w` by the caller's contract.
        // With VNNI, the token proves the CPU has AVX512-VNNI.
        unsafe {
            let xb = _mm512_set1_epi32(x4 as i32);
            let wv = _mm512_loadu_si512(w.cast());
            if VNNI {
                // Unsigned (w + 128) by signed x, four products per lane summed into i32
                // exactly; the kernels remove 128 * Σx afterwards (DOT_OFFSET).
                _mm512_dpbusd_epi32(acc, _mm512_xor_si512(wv, _mm512_set1_epi8(-128)), xb)
            } else {
                // As the AVX2 set: |x| (unsigned) by w with x's sign (a masked negation;
                // AVX-512 has no vpsignb), pairs <= 32258 so vpmaddubsw never saturates.
                let neg = _mm512_movepi8_mask(xb);
                let sw = _mm512_mask_sub_epi8(wv, neg, _mm512_setzero_si512(), wv);
                let pairs = _mm512_maddubs_epi16(_mm512_abs_epi8(xb), sw);
                _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)))
            }
        }
    }
    #[inline(always)]
    fn isub_splat(self, a: __m512i, b: i32) -> __m512i {
        // SAFETY: see the impl comment.
        unsafe { _mm512_sub_epi32(a, _mm512_set1_epi32(b)) }
    }
    #[inline(always)]
    fn i2f(self, a: __m512i) -> __m512 {
        // SAFETY: see the impl comment.
        unsafe { _mm512_cvtepi32_ps(a) }
    }
}
