//! `recur bench MODEL.recur`: per-CPU throughput against this machine's bound.
//!
//! For each kernel set (every one this CPU has, or `--isa`), after a warm-up, it takes
//! `--repeats` measurements of a batch of calls lasting a few milliseconds each, and
//! reports the time for every stream to advance one frame (median, min, max), steps/s,
//! GFLOP/s, GB/s of weights, and the fraction of the bound reached.
//!
//! The bound is measured on the spot (see `probe`): with `F` the FLOPs of one step
//! (2 per weight of `W x` and `R h` and of each dense layer, times the streams) and `W` the
//! bytes of weights one step must read, `bound = max(F / peak_FMA_rate, W / read_bandwidth)`,
//! where the bandwidth is measured by summing a buffer of `W` bytes: once before the
//! measurements (the `bound:` line) and again after each one, so that each measurement is
//! judged against the bandwidth of its own moment ('of bound' is the median of bound /
//! time over the measurements; a shared machine's bandwidth drifts within minutes). In `run` mode the
//! input projection `W x` reads its weights once per sequence, so `W` per frame is the
//! recurrent weights plus the dense layers plus the rest spread over the frames.
//!
//! Every measurement runs on a thread of a pool of exactly `--threads` threads, so the
//! engine's own splitting (a big `step`, `step_many`, a long sequence's input projection)
//! uses that many and no more.
//!
//! Reduced-precision files are measured as they are stored: `W` counts each weight's real
//! bytes (4 in f32, 2 in f16 and bf16, 1 in int8, whose matrices are padded to a multiple
//! of 4 columns and carry one f32 scale per row), so GB/s and the memory term follow the
//! dtype, while `F` counts the same multiply-adds in every dtype, so GFLOP/s compare
//! directly. The compute term prices every multiply-add at the f32 FMA peak; int8 `w8a8`
//! layers do theirs as integer dot products (4 per 32-bit lane per instruction), which
//! can go faster, so on a compute-bound `w8a8` workload 'of bound' can pass 100% (the
//! output says so). The header and every JSON object name each layer's dtype (`dtypes`).

use super::probe;
use super::{available_isas, human_bytes, open_model, outln, progress, select_isa, thousands};
use crate::BenchMode;
use recur::recur_format::{expected_tensors, DType, LayerDesc, ModelDesc, TensorKind};
use recur::{Isa, Model, State};
use recur_cli::Error;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// The command's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// step or run.
    pub mode: BenchMode,
    /// Frames per run call.
    pub steps: usize,
    /// Threads.
    pub threads: usize,
    /// Streams per measured step.
    pub streams: usize,
    /// JSON lines instead of a table.
    pub json: bool,
    /// One kernel set only.
    pub isa: Option<String>,
    /// Measurements per kernel set.
    pub repeats: usize,
}

/// FLOPs of one frame of one stream: two per weight of every matrix-vector product.
fn flops_per_frame(desc: &ModelDesc) -> f64 {
    desc.layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                2.0 * (r.direction.count() * r.cell.gates() * r.hidden_size * (r.input_size + r.hidden_size)) as f64
            }
            LayerDesc::Dense(d) => 2.0 * (d.input_size * d.output_size) as f64,
        })
        .sum()
}

/// Bytes of packed weights a frame reads, in each layer's stored dtype: everything in step
/// mode; in run mode the recurrent-layer `W` (with its int8 scales) and `B` are read once
/// per sequence of `frames`.
fn weight_bytes_per_frame(desc: &ModelDesc, mode: BenchMode, frames: usize) -> f64 {
    let mut total = 0.0;
    for (i, l) in desc.layers.iter().enumerate() {
        for spec in expected_tensors(i, l) {
            let b = spec.bytes() as f64;
            let once_per_run = matches!(l, LayerDesc::Recurrent(_))
                && matches!(spec.id.kind, TensorKind::W | TensorKind::WScale | TensorKind::B);
            total += if mode == BenchMode::Run && once_per_run { b / frames as f64 } else { b };
        }
    }
    total
}

/// `desc` with every layer in f32 (what [`weight_bytes_per_frame`] would be in f32).
fn as_f32(desc: &ModelDesc) -> ModelDesc {
    let mut d = desc.clone();
    d.layers.iter_mut().for_each(|l| l.set_dtype(DType::F32));
    d
}

fn cpu_model() -> String {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    for key in ["model name", "Model", "Hardware", "CPU part"] {
        if let Some(line) = text.lines().find(|l| l.split(':').next().is_some_and(|k| k.trim() == key)) {
            if let Some(v) = line.split_once(':').map(|(_, v)| v.trim()) {
                if !v.is_empty() {
                    return v.to_string();
                }
            }
        }
    }
    format!("unknown {} CPU", std::env::consts::ARCH)
}

fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    out.push($f);
                }
            )*};
        }
        probe!("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_aarch64_feature_detected!($f) {
                    out.push($f);
                }
            )*};
        }
        probe!("neon", "fp16", "dotprod", "i8mm", "bf16", "sve");
    }
    out
}

/// The streams of one measurement and their buffers.
struct Work {
    model: Model,
    states: Vec<State>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    mode: BenchMode,
    frames: usize,
    threads: usize,
}

impl Work {
    fn new(model: Model, opts: &Options) -> Result<Work, Error> {
        let frames = if opts.mode == BenchMode::Run { opts.steps } else { 1 };
        let n = opts.streams;
        let (i, o) = (model.input_size(), model.output_size());
        // Inputs in [-1, 1], deterministic (a cheap LCG), so runs are comparable.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let total = n.checked_mul(frames).and_then(|v| v.checked_mul(i.max(o)));
        if total.is_none_or(|t| t > 1 << 30) {
            return Err(Error::usage("--streams times --steps times the frame size is too large to hold in memory"));
        }
        let xs = (0..n * frames * i)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Ok(Work {
            states: (0..n).map(|_| model.new_state()).collect(),
            xs,
            ys: vec![0.0; n * frames * o],
            model,
            mode: opts.mode,
            frames,
            threads: opts.threads,
        })
    }

    /// One round: every stream advances by `frames` frames. Runs inside the measuring
    /// pool (see [`main`]), so the engine's own splitting of a big step, `step_many` or
    /// sequence projection uses exactly `--threads` threads.
    fn round(&mut self) -> Result<(), Error> {
        let (i, o, t) = (self.model.input_size(), self.model.output_size(), self.frames);
        let model = &self.model;
        let err = |e: recur::Error| Error::input(e.to_string());
        let cap = (self.threads == 1).then_some(1);
        match self.mode {
            BenchMode::Step if self.states.len() == 1 => {
                model.step_with(&mut self.states[0], &self.xs, &mut self.ys, cap).map_err(err)
            }
            BenchMode::Step => {
                let mut refs: Vec<&mut State> = self.states.iter_mut().collect();
                model.step_many_with(&mut refs, &self.xs, &mut self.ys, cap).map_err(err)
            }
            BenchMode::Run => {
                let work = |(s, (x, y)): (&mut State, (&[f32], &mut [f32]))| model.run(s, x, y);
                if self.threads > 1 {
                    use rayon::prelude::*;
                    self.states
                        .par_iter_mut()
                        .zip(self.xs.par_chunks(t * i).zip(self.ys.par_chunks_mut(t * o)))
                        .try_for_each(work)
                        .map_err(err)
                } else {
                    self.states
                        .iter_mut()
                        .zip(self.xs.chunks(t * i).zip(self.ys.chunks_mut(t * o)))
                        .try_for_each(work)
                        .map_err(err)
                }
            }
        }
    }
}

/// Median, min and max of µs per frame-of-every-stream, and the bound each measurement
/// ran against.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    /// Median over measurements of the read bandwidth re-measured after each one (bytes/s),
    /// and of bound / time: the fraction of the bound a measurement reached.
    read_bps: f64,
    fraction: f64,
}

/// The bound as `recur bench` computes it: the slower of the FMA term and the read term.
#[derive(Clone, Copy)]
struct BoundTerms {
    /// µs of FMAs per frame at the measured peak (measured once: the FMA rate is a core's
    /// own and hardly drifts).
    compute_us: f64,
    /// Weight bytes one frame of every stream reads.
    bytes: f64,
}

impl BoundTerms {
    /// The read term at `read_bps` bytes/s, in µs.
    fn memory_us(self, read_bps: f64) -> f64 {
        self.bytes / read_bps * 1e6
    }
    /// The bound at `read_bps`, in µs.
    fn bound_us(self, read_bps: f64) -> f64 {
        self.compute_us.max(self.memory_us(read_bps))
    }
}

/// The upper median of `v`, which it sorts.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Warms up, then takes `repeats` measurements of `calls` rounds each; after each one the
/// read probe runs again (8 calls of ~2 ms, the best kept), and one round re-warms the
/// caches the probe went through before the next measurement.
fn measure(
    work: &mut Work,
    repeats: usize,
    pb: &indicatif::ProgressBar,
    probe: &probe::ReadProbe,
    terms: BoundTerms,
) -> Result<Stats, Error> {
    // Warm-up of ~100 ms (at least 3 rounds), which also sizes a measurement to ~3 ms.
    let t0 = Instant::now();
    let mut rounds = 0u64;
    while rounds < 3 || t0.elapsed() < Duration::from_millis(100) {
        work.round()?;
        rounds += 1;
    }
    let per_round = t0.elapsed().as_secs_f64() / rounds as f64;
    let calls = ((0.003 / per_round) as u64).clamp(1, 1 << 24);
    let repeats = repeats.max(1);
    let (mut us, mut reads, mut fractions) =
        (Vec::with_capacity(repeats), Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for _ in 0..repeats {
        let t = Instant::now();
        for _ in 0..calls {
            work.round()?;
        }
        let u = t.elapsed().as_secs_f64() * 1e6 / (calls as f64 * work.frames as f64);
        let read = probe.rate(8);
        us.push(u);
        reads.push(read);
        fractions.push(terms.bound_us(read) / u);
        work.round()?;
        pb.inc(1);
    }
    // `median` sorts, which leaves min and max at the ends.
    let med = median(&mut us);
    Ok(Stats {
        median: med,
        min: us[0],
        max: us[us.len() - 1],
        read_bps: median(&mut reads),
        fraction: median(&mut fractions),
    })
}

/// The command.
pub fn main(path: &Path, opts: &Options) -> Result<(), Error> {
    let chosen = select_isa(None)?;
    let isas: Vec<Isa> = match &opts.isa {
        Some(name) => vec![select_isa(Some(name))?],
        None => Isa::available().collect(),
    };
    let base = open_model(path, isas[0])?;
    let desc = base.desc().clone();
    if opts.mode == BenchMode::Step && !base.is_streamable() {
        return Err(Error::usage(
            "the model has a reverse or bidirectional layer, so it cannot be stepped frame by frame; use --mode run",
        ));
    }
    if opts.mode == BenchMode::Run && opts.streams > 1 && opts.threads > opts.streams {
        outln!("note: {} threads for {} streams: the extra threads idle", opts.threads, opts.streams);
    }
    let n = opts.streams as f64;
    let flops = flops_per_frame(&desc) * n;
    let bytes = weight_bytes_per_frame(&desc, opts.mode, opts.steps);
    let bytes_f32 = weight_bytes_per_frame(&as_f32(&desc), opts.mode, opts.steps);
    let dtypes: Vec<&str> = desc.layers.iter().map(|l| l.dtype().name()).collect();
    let int8_dots = desc.layers.iter().any(|l| l.dtype() == DType::I8A8);
    let mode = if opts.mode == BenchMode::Step { "step" } else { "run" };

    // The bound, measured here and now with the best kernel set's vectors.
    let pb = progress((isas.len() * opts.repeats) as u64 + 1, "probing", false);
    let (bound, read_probe) = probe::measure(Isa::best(), bytes as usize, opts.threads);
    pb.inc(1);
    let compute_us = flops / bound.flops * 1e6;
    let memory_us = bytes / bound.read_bytes_per_s * 1e6;
    let bound_us = compute_us.max(memory_us);
    let cpu = cpu_model();

    if !opts.json {
        let isa_note = match std::env::var("RECUR_ISA") {
            Ok(v) if !v.trim().is_empty() => format!("forced by RECUR_ISA={v}"),
            _ => "the best this CPU has".into(),
        };
        outln!(
            "model:      {} ({} parameters, {} of packed weights)",
            path.display(),
            thousands(desc.parameter_count()),
            human_bytes(base.weight_bytes())
        );
        outln!(
            "dtypes:     {} (per layer){}",
            dtypes.join(", "),
            if bytes_f32 > bytes {
                format!(
                    "; weights read per frame {} against {} in f32",
                    human_bytes(bytes as usize),
                    human_bytes(bytes_f32 as usize)
                )
            } else {
                String::new()
            }
        );
        outln!("cpu:        {cpu} ({} hardware threads)", std::thread::available_parallelism().map_or(1, |n| n.get()));
        outln!("features:   {}", cpu_features().join(" "));
        outln!("kernel set: {} chosen ({isa_note}); available: {}", chosen.name(), available_isas());
        outln!(
            "workload:   {mode}{}, {} stream{}, {} thread{}; per frame of every stream: {:.3} MFLOP, {} of weights read",
            if opts.mode == BenchMode::Run { format!(" of {} frames", opts.steps) } else { String::new() },
            opts.streams,
            if opts.streams == 1 { "" } else { "s" },
            opts.threads,
            if opts.threads == 1 { "" } else { "s" },
            flops / 1e6,
            human_bytes(bytes as usize)
        );
        outln!(
            "bound:      {bound_us:.3} µs per frame = max({compute_us:.3} µs of FMAs at a peak of {:.1} GFLOP/s, {memory_us:.3} µs of reads at {:.1} GB/s)",
            bound.flops / 1e9,
            bound.read_bytes_per_s / 1e9
        );
        outln!(
            "            measured now: {} independent-FMA loop on {} thread{}, and summing a {} buffer (the weights read per frame)",
            bound.fma_isa,
            opts.threads,
            if opts.threads == 1 { "" } else { "s" },
            human_bytes(bytes as usize)
        );
        outln!(
            "            the sum runs again after every measurement: 'of bound' is the median over measurements of bound / time"
        );
        if int8_dots {
            outln!(
                "            the FMA term prices every multiply-add as an f32 FMA; int8 w8a8 layers use integer dot products, which can go faster, so 'of bound' may pass 100% when that term dominates"
            );
        }
        outln!();
        outln!(
            "{:<9} {:>11} {:>10} {:>10} {:>12} {:>9} {:>8} {:>9}",
            "isa",
            "median µs",
            "min µs",
            "max µs",
            "steps/s",
            "GFLOP/s",
            "GB/s",
            "of bound"
        );
    }
    pb.set_message("measuring");
    // Every measurement runs on a thread of this pool (not only the parallel parts), so
    // `--threads 1` never touches another pool and no round pays a hop into the pool.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::input(format!("cannot start {} threads: {e}", opts.threads)))?;
    for isa in isas {
        let model = base.with_isa(isa).map_err(|e| Error::usage(e.to_string()))?;
        let mut work = Work::new(model, opts)?;
        let terms = BoundTerms { compute_us, bytes };
        let s = pool.install(|| measure(&mut work, opts.repeats, &pb, &read_probe, terms))?;
        let steps_per_s = 1e6 / s.median * n;
        let gflops = flops / s.median / 1e3;
        let gbps = bytes / s.median / 1e3;
        let fraction = s.fraction;
        if opts.json {
            pb.suspend(|| {
                outln!(
                    "{}",
                    json!({
                        "model": path.display().to_string(),
                        "dtypes": dtypes,
                        "cpu": cpu,
                        "isa": isa.name(),
                        "chosen_isa": chosen.name(),
                        "mode": mode,
                        "steps": if opts.mode == BenchMode::Run { opts.steps } else { 1 },
                        "threads": opts.threads,
                        "streams": opts.streams,
                        "us_per_step": { "median": s.median, "min": s.min, "max": s.max },
                        "steps_per_s": steps_per_s,
                        "gflops": gflops,
                        "weight_gbps": gbps,
                        "bound_us": terms.bound_us(s.read_bps),
                        "bound_compute_us": compute_us,
                        "bound_memory_us": terms.memory_us(s.read_bps),
                        "bound_us_at_start": bound_us,
                        "fraction_of_bound": fraction,
                        "peak_gflops": bound.flops / 1e9,
                        "read_gbps": s.read_bps / 1e9,
                        "read_gbps_at_start": bound.read_bytes_per_s / 1e9,
                        "flops_per_step": flops,
                        "weight_bytes_per_step": bytes,
                        "weight_bytes_per_step_f32": bytes_f32,
                        "repeats": opts.repeats,
                    })
                )
            });
        } else {
            pb.suspend(|| {
                outln!(
                    "{:<9} {:>11.3} {:>10.3} {:>10.3} {:>12} {:>9.2} {:>8.2} {:>8.0}%",
                    isa.name(),
                    s.median,
                    s.min,
                    s.max,
                    thousands(steps_per_s as usize),
                    gflops,
                    gbps,
                    fraction * 100.0
                )
            });
        }
    }
    pb.finish_and_clear();
    if !opts.json {
        outln!();
        outln!(
            "µs are per frame of every stream (a step of all {} stream{}); 'of bound' is the median over measurements of bound / time, the bound's read term re-measured after each.",
            opts.streams,
            if opts.streams == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
