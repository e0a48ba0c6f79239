//! x86-64 kernel sets: AVX2+FMA and AVX-512F.

pub mod avx2;
pub mod avx512;
