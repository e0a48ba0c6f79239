//! Kernel sets: one small trait, [`Simd`], implemented once per instruction set.
//!
//! Every kernel of the engine (fused gate updates, dense layers, the input projection,
//! the activations) is written once, generically, against [`Simd`]: a vector of 16 `f32`
//! lanes, the height of a weight panel (see `recur_format::layout`). Each ISA maps that
//! logical vector onto its registers — AVX-512 one `zmm`, AVX2 two `ymm`, NEON four `q`,
//! the scalar reference sixteen `f32`s — and implements each operation with the single
//! IEEE-754 operation of the same name (fused multiply-add included). Because the kernels
//! issue the same sequence of operations on every ISA, and each operation is correctly
//! rounded, every kernel set produces the same bits: the numerics contract of DESIGN.md.
//!
//! A value of a type implementing [`Simd`] is a *capability token*: it can only be
//! obtained (`new()`) on a CPU that has the instruction set, so the safe trait methods
//! may use the intrinsics. The trait methods are `#[inline(always)]`, and the kernels
//! built on them are too: they inline into one `#[target_feature]` entry point per ISA
//! (see [`crate::exec`]), which is where the intrinsics get the features they need.
//! `#[target_feature]` therefore sits on the outermost entry only.
//!
//! Two operations are defined more narrowly than their usual hardware forms so that all
//! ISAs agree even on NaN: [`Simd::min`] and [`Simd::max`] return the *second* operand
//! when the comparison is unordered (x86 `minps` semantics). Kernels put the value that
//! must propagate NaN second.

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod portable;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

/// Lanes in a logical vector: the rows of a panel.
pub const LANES: usize = 16;

/// A kernel set: a logical 16-lane `f32` vector and its operations.
pub trait Simd: Copy + Send + Sync + 'static {
    /// Name of the kernel set (`"avx512"`, `"avx2"`, `"scalar"`...).
    const NAME: &'static str;
    /// Blocks of 16 hidden units an LSTM kernel processes at once (enough independent FMA
    /// chains to hide the FMA latency on this ISA).
    const TILE_LSTM: usize;
    /// Same, for GRU (`linear_before_reset = 0`, first pass).
    const TILE_GRU: usize;
    /// Same, for the single-gate RNN and dense layers.
    const TILE_RNN: usize;
    /// Same, for GRU with `linear_before_reset = 1` (three gate panels per block).
    const TILE_GRU_LBR: usize = Self::TILE_GRU;
    /// Same, for the second pass of GRU with `linear_before_reset = 0` (one panel per block).
    const TILE_GRU_P2: usize = Self::TILE_RNN;
    /// Most streams `step_many` puts in one register tile (1, 2 or 4): each weight
    /// vector loaded feeds that many streams. Bounded by the register file (an LSTM block
    /// of 4 streams holds 16 logical accumulators).
    const MANY_STREAMS: usize = 1;
    /// Whether the matrix-vector loop loads a tile's weight vectors before its FMAs
    /// (best with AVX-512's 32 registers) or streams each into its FMAs (NEON, AVX2:
    /// fewer live registers). Both keep each accumulator's FMA order.
    const PRELOAD_WEIGHTS: bool = false;
    /// Whether a single-thread f32 `run` computes the next frames' input projection
    /// inside the recurrence's row loop (see `cell::Ride`): worth it where the
    /// recurrence waits on cache reads with FMA units idle and the register file holds
    /// the ride's 8 extra accumulators next to the tile's (AVX-512's 32 registers).
    const RIDES: bool = false;
    /// Hints that the 64 bytes at `p` will be read soon, into L2 (no-op by default). Any
    /// address is allowed: a prefetch never faults and never changes a result.
    #[inline(always)]
    fn prefetch_l2(self, p: *const u8) {
        let _ = p;
    }
    /// 16 lanes of `f32`.
    type V: Copy;
    /// 16 lanes of comparison results.
    type M: Copy;
    /// 16 lanes of `i32`: the accumulators of int8 dot products.
    type I: Copy;
    /// Whether [`Simd::dot4_i8`] adds `Σ (w_j + 128) x_j` instead of `Σ w_j x_j`: VNNI's
    /// `vpdpbusd` multiplies unsigned by signed bytes, so the weights are offset by 128
    /// (one `xor` per weight vector) and the kernels subtract `128 Σ x` once per dot
    /// product. Either way the integer result is exact.
    const DOT_OFFSET: bool = false;

    /// Loads 16 floats.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 `f32` (no alignment requirement).
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Stores 16 floats.
    ///
    /// # Safety
    /// `p` must be valid for writing 16 `f32` (no alignment requirement).
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// Every lane `x`.
    fn splat(self, x: f32) -> Self::V;
    /// `a + b`
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c` with a single rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `if a < b { a } else { b }` per lane (returns `b` when unordered).
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a > b { a } else { b }` per lane (returns `b` when unordered).
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit).
    fn abs(self, a: Self::V) -> Self::V;
    /// The magnitude of `mag` with the sign bit of `sign`.
    fn copysign(self, mag: Self::V, sign: Self::V) -> Self::V;
    /// `a < b` per lane (false when unordered).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a > b` per lane (false when unordered).
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a >= b` per lane (false when unordered).
    fn ge(self, a: Self::V, b: Self::V) -> Self::M;
    /// `if m { a } else { b }` per lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;
    /// `2^n` for lanes holding an integral `n` in `-126..=127` (exact).
    fn pow2i(self, n: Self::V) -> Self::V;
    /// Splits each lane `x > 0` (normal) into `(e, m)` with `x = 2^e * m`, `m` in `[1, 2)`.
    fn frexp(self, x: Self::V) -> (Self::V, Self::V);

    /// Loads 16 IEEE binary16 values and widens them exactly to `f32`.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 `u16` (no alignment requirement).
    unsafe fn load_f16(self, p: *const u16) -> Self::V;
    /// Loads 16 bfloat16 values and widens them exactly to `f32` (a 16-bit shift).
    ///
    /// # Safety
    /// `p` must be valid for reading 16 `u16` (no alignment requirement).
    unsafe fn load_bf16(self, p: *const u16) -> Self::V;
    /// Loads one int8 panel row group: 64 bytes laid out `[16 lanes][4 k]` and returns the
    /// four vectors of consecutive `k` (`out[j]` lane `l` = byte `4 l + j`), converted
    /// exactly to `f32`.
    ///
    /// # Safety
    /// `p` must be valid for reading 64 bytes (no alignment requirement).
    unsafe fn load_i8x4(self, p: *const i8) -> [Self::V; 4];

    /// Every `i32` lane zero.
    fn izero(self) -> Self::I;
    /// One int8 panel row group times four activations: lane `l` of the result is
    /// `acc[l] + Σ_j w[4 l + j] * x_j` (plus `128 Σ_j x_j` if [`Simd::DOT_OFFSET`]), where
    /// `x_j` is byte `j` of `x4` (little-endian). Exact (wrapping) `i32` arithmetic; every
    /// `w` and `x` must lie in `-127..=127` (no path can then saturate an intermediate).
    ///
    /// # Safety
    /// `w` must be valid for reading 64 bytes (no alignment requirement).
    unsafe fn dot4_i8(self, acc: Self::I, w: *const i8, x4: u32) -> Self::I;
    /// `a - b` per lane (wrapping).
    fn isub_splat(self, a: Self::I, b: i32) -> Self::I;
    /// Converts `i32` lanes to `f32`, rounding to nearest even.
    fn i2f(self, a: Self::I) -> Self::V;
}

/// The portable (`wide`) kernel set, always available.
pub use portable::Portable;
/// The scalar reference kernel set, always available.
pub use scalar::Scalar;
