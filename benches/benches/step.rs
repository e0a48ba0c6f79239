//! Criterion benchmarks, single thread, of the streaming step (W1-W3) and the sequence run
//! (W4), f32, per kernel set; and W2 and W3 per weight dtype (f32, f16, bf16, int8 `w8`,
//! int8 `w8a8`) on the best kernel set and AVX2. Throughput is in elements (multiply-adds,
//! the same count for every dtype) so criterion reports MAC/s; `benches/README.md`
//! explains how to turn the figures into GFLOP/s, GB/s and the fraction of the machine's
//! bound.
//!
//! The dtype benches are named `W2_lstm2_i80_h512_dtype/step_<dtype>/<isa>`; run only
//! them with `cargo bench -p recur-benches --bench step -- _dtype/`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recur::{Isa, Model};
use recur_benches::{dtype_label, macs_per_frame, weights, workloads, DTYPES};
use recur_format::PackedModel;
use std::hint::black_box;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    // Single thread: `step_with(.., Some(1))`, and `run` (whose big input projections
    // split across the current rayon pool) inside a one-thread pool.
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for w in workloads() {
        let packed = PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap();
        let mut g = c.benchmark_group(format!("{}_{}", w.id, w.shape));
        g.throughput(Throughput::Elements(macs_per_frame(&w.desc) * w.frames as u64));
        g.sample_size(if w.frames > 1 || w.id == "W3" { 20 } else { 50 });
        for isa in Isa::available() {
            let m = Model::from_packed_with_isa(&packed, isa).unwrap();
            let mut st = m.new_state();
            let xs: Vec<f32> = (0..w.frames * m.input_size()).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
            let mut ys = vec![0.0f32; w.frames * m.output_size()];
            if w.frames == 1 {
                g.bench_function(BenchmarkId::new("step", isa.name()), |b| {
                    b.iter(|| m.step_with(&mut st, black_box(&xs), &mut ys, Some(1)).unwrap())
                });
            } else {
                g.bench_function(BenchmarkId::new("run", isa.name()), |b| {
                    one_thread.install(|| b.iter(|| m.run(&mut st, black_box(&xs), &mut ys).unwrap()))
                });
            }
        }
        g.finish();
    }
}

/// W2 and W3 steps per weight dtype, converted from the same f32 model, on the best kernel
/// set and on AVX2 (when the CPU has it and it is not the best).
fn bench_dtypes(c: &mut Criterion) {
    let mut isas = vec![Isa::best()];
    if Isa::Avx2.is_available() && Isa::best() != Isa::Avx2 {
        isas.push(Isa::Avx2);
    }
    for w in workloads().into_iter().filter(|w| matches!(w.id, "W2" | "W3")) {
        let f32_model = PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap();
        let mut g = c.benchmark_group(format!("{}_{}_dtype", w.id, w.shape));
        g.throughput(Throughput::Elements(macs_per_frame(&w.desc)));
        // 2 × 5 dtypes × 2 kernel sets: keep each short (a W3 f32 step is ~0.8 ms).
        g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        for &dtype in DTYPES {
            let packed = f32_model.to_dtypes(&vec![dtype; w.desc.layers.len()]).unwrap();
            for &isa in &isas {
                let m = Model::from_packed_with_isa(&packed, isa).unwrap();
                let mut st = m.new_state();
                let xs: Vec<f32> = (0..m.input_size()).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
                let mut ys = vec![0.0f32; m.output_size()];
                g.bench_function(BenchmarkId::new(format!("step_{}", dtype_label(dtype)), isa.name()), |b| {
                    b.iter(|| m.step_with(&mut st, black_box(&xs), &mut ys, Some(1)).unwrap())
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench, bench_dtypes);
criterion_main!(benches);
