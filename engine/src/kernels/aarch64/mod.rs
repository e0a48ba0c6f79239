//! aarch64 kernel sets: NEON (Advanced SIMD), baseline on every aarch64 CPU.

pub mod neon;
