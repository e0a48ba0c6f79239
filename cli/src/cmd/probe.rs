//! `recur bench`'s on-the-spot probes of this machine's bound: the peak rate of fused
//! multiply-adds and the read bandwidth at a given working-set size.
//!
//! * **Peak FMA**: a tight loop of independent FMA chains on the widest vectors the best
//!   kernel set uses (AVX-512: 16 lanes, AVX2: 8, NEON: 4). FMA latency is 4-5 cycles and
//!   a core retires up to two per cycle, so at least ten independent chains are needed to
//!   keep both units busy; the loops carry 12 (AVX2) or 16 (AVX-512, NEON) accumulators.
//!   Nothing is loaded or stored inside the loop, so this is the arithmetic ceiling.
//! * **Read bandwidth**: summing a buffer of the size the model reads per step, again
//!   with several independent accumulators so that the adds never limit the loads. A
//!   buffer that fits in a cache measures that cache's bandwidth, which is exactly the
//!   bound for a model of that size.
//!
//! Each probe calibrates its length to about 2 ms and keeps the best of 40 runs; with
//! `threads > 1` every thread runs the probe at once and the rates add up.

use recur::Isa;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// 16 floats on a 64-byte boundary: one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Line(pub [f32; 16]);

/// What a probe found.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Peak FLOP/s (one FMA = 2 FLOP) with all threads.
    pub flops: f64,
    /// Read bytes/s at the working-set size, with all threads.
    pub read_bytes_per_s: f64,
    /// The vector kernel set used for the peak-FMA loop.
    pub fma_isa: &'static str,
}

/// Vector width the probes use for `isa` (falls back to a portable loop).
fn probe_isa(isa: Isa) -> &'static str {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => "avx512",
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") =>
        {
            "avx2"
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => "neon",
        _ => "portable",
    }
}

/// Calls per probe after calibration.
const RUNS: usize = 40;

/// The `iters` at which one call of `f(iters)` takes ~2 ms (grown from 1024 until a call
/// takes at least 1 ms, then scaled).
fn calibrate(mut f: impl FnMut(u64) -> f64) -> u64 {
    let mut iters = 1u64 << 10;
    loop {
        let t = Instant::now();
        f(iters);
        let dt = t.elapsed();
        if dt >= Duration::from_millis(1) || iters >= 1 << 40 {
            let scale = 0.002 / dt.as_secs_f64().max(1e-9);
            return ((iters as f64 * scale) as u64).max(1);
        }
        iters *= 4;
    }
}

/// The best rate of `runs` calls of `f(iters)` (which returns the work it did): the best,
/// not the median, since a probe asks what the machine *can* do, and interruptions only
/// ever slow it down (short runs make it likely that some run falls between two time
/// slices of a busy machine's other work).
fn best_of(mut f: impl FnMut(u64) -> f64, iters: u64, runs: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..runs {
        let t = Instant::now();
        let work = f(iters);
        best = best.max(work / t.elapsed().as_secs_f64().max(1e-12));
    }
    best
}

/// [`best_of`] [`RUNS`] calls after [`calibrate`].
fn best_rate(mut f: impl FnMut(u64) -> f64) -> f64 {
    let iters = calibrate(&mut f);
    best_of(f, iters, RUNS)
}

/// Runs the same probe on `threads` threads at once (`f(i)` on thread `i`); the total rate.
fn on_threads(threads: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    if threads <= 1 {
        return f(0);
    }
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

/// The read-bandwidth probe, kept so that it can run again between measurements: the
/// bandwidth a shared machine gives drifts by tens of percent within minutes (most for
/// weights that live in the shared L3 or in memory), so a bound measured once, before
/// measurements that take seconds, can be far from the one they ran against.
pub struct ReadProbe {
    which: &'static str,
    /// One buffer per thread, each that thread's share of the weights.
    bufs: Vec<Vec<Line>>,
    iters: u64,
}

impl ReadProbe {
    /// Buffers for `threads` threads summing `bytes` between them, with `isa`'s vectors;
    /// calibrated so that one call takes ~2 ms.
    pub fn new(isa: Isa, bytes: usize, threads: usize) -> ReadProbe {
        let which = probe_isa(isa);
        let per_thread = (bytes / threads.max(1)).max(4096).div_ceil(64);
        // 64-byte aligned, as the engine's weights are: a misaligned buffer would split
        // every 64-byte load across two cache lines and understate the bandwidth.
        let bufs: Vec<Vec<Line>> =
            (0..threads.max(1)).map(|_| (0..per_thread).map(|i| Line([(i % 7) as f32; 16])).collect()).collect();
        let iters = calibrate(|iters| Self::pass(which, &bufs[0], iters));
        ReadProbe { which, bufs, iters }
    }

    /// Sums `buf` `iters` times; the bytes read.
    fn pass(which: &str, buf: &[Line], iters: u64) -> f64 {
        let mut total = 0.0f32;
        for _ in 0..iters {
            total += sum(which, black_box(buf));
        }
        black_box(total);
        (iters as f64) * (buf.len() * 64) as f64
    }

    /// The best read rate of `runs` calls, in bytes/s summed over the threads (each
    /// thread summing its own buffer at the same time).
    pub fn rate(&self, runs: usize) -> f64 {
        on_threads(self.bufs.len(), |i| best_of(|iters| Self::pass(self.which, &self.bufs[i], iters), self.iters, runs))
    }
}

/// Measures the peak FMA rate with `isa`'s vectors and the read bandwidth over `bytes`
/// (each thread summing its own share of one weight-sized buffer, as the threads share
/// the weights); returns the read probe too, to measure the bandwidth again later.
pub fn measure(isa: Isa, bytes: usize, threads: usize) -> (Bound, ReadProbe) {
    let which = probe_isa(isa);
    let flops = on_threads(threads, |_| best_rate(|iters| fma_loop(which, iters)));
    let probe = ReadProbe::new(isa, bytes, threads);
    let read = probe.rate(RUNS);
    (Bound { flops, read_bytes_per_s: read, fma_isa: which }, probe)
}

/// `iters` rounds of independent FMAs; returns the FLOPs done.
fn fma_loop(which: &str, iters: u64) -> f64 {
    match which {
        #[cfg(target_arch = "x86_64")]
        "avx512" => {
            // SAFETY: `probe_isa` chose "avx512" only after detecting AVX-512F.
            black_box(unsafe { x86::fma_avx512(iters) });
            iters as f64 * x86::AVX512_ACC as f64 * 16.0 * 2.0
        }
        #[cfg(target_arch = "x86_64")]
        "avx2" => {
            // SAFETY: `probe_isa` chose "avx2" only after detecting AVX2 and FMA.
            black_box(unsafe { x86::fma_avx2(iters) });
            iters as f64 * x86::AVX2_ACC as f64 * 8.0 * 2.0
        }
        #[cfg(target_arch = "aarch64")]
        "neon" => {
            // SAFETY: NEON is part of the aarch64 baseline.
            black_box(unsafe { arm::fma_neon(iters) });
            iters as f64 * arm::NEON_ACC as f64 * 4.0 * 2.0
        }
        _ => {
            // No vector FMA: independent multiply-adds the compiler can vectorize.
            let mut acc = [[0.0f32; 8]; 8];
            let (a, b) = (black_box(0.999f32), black_box(0.001f32));
            for _ in 0..iters {
                for row in acc.iter_mut() {
                    for v in row.iter_mut() {
                        *v = *v * a + b;
                    }
                }
            }
            black_box(acc);
            iters as f64 * 64.0 * 2.0
        }
    }
}

/// The sum of `buf` (for the read-bandwidth probe).
fn sum(which: &str, buf: &[Line]) -> f32 {
    match which {
        #[cfg(target_arch = "x86_64")]
        "avx512" => {
            // SAFETY: "avx512" is chosen only after detecting AVX-512F.
            unsafe { x86::sum_avx512(buf) }
        }
        #[cfg(target_arch = "x86_64")]
        "avx2" => {
            // SAFETY: "avx2" is chosen only after detecting AVX2.
            unsafe { x86::sum_avx2(buf) }
        }
        _ => {
            // Sixteen independent partial sums: the compiler vectorizes them.
            let mut acc = [0.0f32; 16];
            for l in buf {
                for (a, x) in acc.iter_mut().zip(&l.0) {
                    *a += x;
                }
            }
            acc.iter().sum()
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Line;
    use std::arch::x86_64::*;

    /// Independent accumulators in the AVX-512 loop (latency 4 x 2 ports, doubled).
    pub const AVX512_ACC: usize = 16;
    /// Independent accumulators in the AVX2 loop (latency 4-5 x 2 ports, plus margin).
    pub const AVX2_ACC: usize = 12;

    /// # Safety
    /// The CPU supports AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iters: u64) -> f32 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999));
        let b = _mm512_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm512_setzero_ps(); AVX512_ACC];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut t = _mm512_setzero_ps();
        for v in acc {
            t = _mm512_add_ps(t, v);
        }
        _mm512_reduce_add_ps(t)
    }

    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iters: u64) -> f32 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999));
        let b = _mm256_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm256_setzero_ps(); AVX2_ACC];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut t = _mm256_setzero_ps();
        for v in acc {
            t = _mm256_add_ps(t, v);
        }
        // SAFETY: `lanes` holds 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), t) };
        lanes.iter().sum()
    }

    /// # Safety
    /// The CPU supports AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sum_avx512(buf: &[Line]) -> f32 {
        // Eight lines per round, one accumulator each: the adds never wait on each other.
        let mut acc = [_mm512_setzero_ps(); 8];
        let mut chunks = buf.chunks_exact(8);
        for c in &mut chunks {
            for (v, l) in acc.iter_mut().zip(c) {
                // SAFETY: a line holds 16 floats on a 64-byte boundary.
                *v = _mm512_add_ps(*v, unsafe { _mm512_load_ps(l.0.as_ptr()) });
            }
        }
        for (v, l) in acc.iter_mut().zip(chunks.remainder()) {
            // SAFETY: as above.
            *v = _mm512_add_ps(*v, unsafe { _mm512_load_ps(l.0.as_ptr()) });
        }
        let mut t = _mm512_setzero_ps();
        for v in acc {
            t = _mm512_add_ps(t, v);
        }
        _mm512_reduce_add_ps(t)
    }

    /// # Safety
    /// The CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn sum_avx2(buf: &[Line]) -> f32 {
        // Four lines (eight 32-byte halves) per round, one accumulator per half.
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut chunks = buf.chunks_exact(4);
        for c in &mut chunks {
            for (k, l) in c.iter().enumerate() {
                // SAFETY: a line holds 16 floats on a 64-byte boundary, so both 32-byte
                // halves are in bounds and aligned.
                unsafe {
                    acc[2 * k] = _mm256_add_ps(acc[2 * k], _mm256_load_ps(l.0.as_ptr()));
                    acc[2 * k + 1] = _mm256_add_ps(acc[2 * k + 1], _mm256_load_ps(l.0.as_ptr().add(8)));
                }
            }
        }
        let mut t = _mm256_setzero_ps();
        for v in acc {
            t = _mm256_add_ps(t, v);
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), t) };
        lanes.iter().sum::<f32>() + chunks.remainder().iter().flat_map(|l| l.0).sum::<f32>()
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    /// Independent accumulators in the NEON loop.
    pub const NEON_ACC: usize = 16;

    /// # Safety
    /// The CPU supports NEON (every aarch64 CPU does: it is part of the baseline).
    #[target_feature(enable = "neon")]
    pub unsafe fn fma_neon(iters: u64) -> f32 {
        let a = vdupq_n_f32(std::hint::black_box(0.999));
        let b = vdupq_n_f32(std::hint::black_box(0.001));
        let mut acc = [vdupq_n_f32(0.0); NEON_ACC];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = vfmaq_f32(b, *v, a);
            }
        }
        let mut t = vdupq_n_f32(0.0);
        for v in acc {
            t = vaddq_f32(t, v);
        }
        vaddvq_f32(t)
    }
}
