//! x86-64 kernel sets: AVX2+FMA and AVX-512F.

pub mod avx2;
pub mod avx512;

/// `Simd::prefetch_l2` for both x86 sets: the 64 bytes at `p` into L2 (`prefetcht1`).
#[inline(always)]
fn prefetch_t1(p: *const u8) {
    // SAFETY: a prefetch is a hint: it never faults, whatever the address; SSE is part
    // of x86-64's baseline.
    unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p.cast()) }
}
