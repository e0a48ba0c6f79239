//! Criterion benchmarks of many streams and threads: `step_many` on W3 (64 streams) and
//! W2 (16 streams, and a single stream split across cores), against separate `step`s and
//! against one thread, in the same process; and W3 with 64 streams in f32 and int8 `w8a8`
//! (`W3_lstm_i1024_h1024_many_64streams_dtype`), whose throughput is in streams, so criterion's elements/s
//! are stream-steps per second and time / 64 is the time per stream; and W4's 1000-frame
//! `run` on 1 and 2 threads (`W4_gru_i256_h256_t1000_run_threads`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recur::{Model, State};
use recur_benches::{dtype_label, macs_per_frame, weights, workloads};
use recur_format::{DType, PackedModel};
use std::hint::black_box;
use std::time::Duration;

fn packed(id: &str) -> PackedModel {
    let w = workloads().into_iter().find(|w| w.id == id).unwrap();
    PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap()
}

fn model(id: &str) -> Model {
    Model::from_packed(&packed(id)).unwrap()
}

fn bench(c: &mut Criterion) {
    let pools: Vec<(usize, rayon::ThreadPool)> =
        [1, 2].iter().map(|&t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap())).collect();
    for (id, streams) in [("W3", 64usize), ("W2", 16), ("W2", 1)] {
        let m = model(id);
        let macs = macs_per_frame(m.desc()) * streams as u64;
        let mut g = c.benchmark_group(format!("{id}_many_{streams}streams"));
        g.throughput(Throughput::Elements(macs));
        g.sample_size(10);
        let mut states: Vec<State> = (0..streams).map(|_| m.new_state()).collect();
        let xs: Vec<f32> = (0..streams * m.input_size()).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
        let mut ys = vec![0.0f32; streams * m.output_size()];
        for (t, pool) in &pools {
            g.bench_function(BenchmarkId::new("step_many", format!("{}_{t}threads", m.isa())), |b| {
                let mut refs: Vec<&mut State> = states.iter_mut().collect();
                pool.install(|| b.iter(|| m.step_many(&mut refs, black_box(&xs), &mut ys).unwrap()))
            });
        }
        if streams > 1 {
            let (i, o) = (m.input_size(), m.output_size());
            g.bench_function(BenchmarkId::new("separate_steps", format!("{}_1thread", m.isa())), |b| {
                b.iter(|| {
                    for (n, st) in states.iter_mut().enumerate() {
                        m.step_with(st, black_box(&xs[n * i..][..i]), &mut ys[n * o..][..o], Some(1)).unwrap();
                    }
                })
            });
        }
        g.finish();
    }
}

/// W3 with 64 streams, f32 against int8 `w8a8` weights (converted from the same f32 model),
/// on the best kernel set, 1 and 2 threads. Throughput: one element per stream.
fn bench_dtypes(c: &mut Criterion) {
    const STREAMS: usize = 64;
    let pools: Vec<(usize, rayon::ThreadPool)> =
        [1, 2].iter().map(|&t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap())).collect();
    let f32_model = packed("W3");
    let shape = workloads().into_iter().find(|w| w.id == "W3").unwrap().shape;
    let mut g = c.benchmark_group(format!("W3_{shape}_many_{STREAMS}streams_dtype"));
    g.throughput(Throughput::Elements(STREAMS as u64));
    // An f32 round of 64 W3 steps is ~10 ms on one thread.
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for dtype in [DType::F32, DType::I8A8] {
        let layers = f32_model.desc.layers.len();
        let m = Model::from_packed(&f32_model.to_dtypes(&vec![dtype; layers]).unwrap()).unwrap();
        let mut states: Vec<State> = (0..STREAMS).map(|_| m.new_state()).collect();
        let xs: Vec<f32> = (0..STREAMS * m.input_size()).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
        let mut ys = vec![0.0f32; STREAMS * m.output_size()];
        for (t, pool) in &pools {
            let id = format!("{}_{}_{t}thread{}", dtype_label(dtype), m.isa(), if *t == 1 { "" } else { "s" });
            g.bench_function(BenchmarkId::new("step_many", id), |b| {
                let mut refs: Vec<&mut State> = states.iter_mut().collect();
                pool.install(|| b.iter(|| m.step_many(&mut refs, black_box(&xs), &mut ys).unwrap()))
            });
        }
    }
    g.finish();
}

/// W4 (GRU in=256 H=256, 1000 frames) `run` on 1 and 2 threads of the best kernel set,
/// with `linear_before_reset` 0 (the canonical W4: two passes per frame) and 1 (what
/// PyTorch's GRU computes: one pass). With two threads both the input projection and each
/// frame's recurrence are split across the cores. Throughput: one element per frame.
fn bench_run_threads(c: &mut Criterion) {
    let pools: Vec<(usize, rayon::ThreadPool)> =
        [1, 2].iter().map(|&t| (t, rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap())).collect();
    let w = workloads().into_iter().find(|w| w.id == "W4").unwrap();
    let mut g = c.benchmark_group(format!("W4_{}_run_threads", w.shape));
    g.throughput(Throughput::Elements(w.frames as u64));
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for lbr in [false, true] {
        let mut desc = w.desc.clone();
        for l in &mut desc.layers {
            if let recur_format::LayerDesc::Recurrent(r) = l {
                r.linear_before_reset = lbr;
            }
        }
        let m = Model::from_packed(&PackedModel::pack(desc.clone(), &weights(&desc, 42)).unwrap()).unwrap();
        let mut st = m.new_state();
        let xs: Vec<f32> = (0..w.frames * m.input_size()).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
        let mut ys = vec![0.0f32; w.frames * m.output_size()];
        for (t, pool) in &pools {
            let id = format!("lbr{}_{}_{t}thread{}", lbr as u8, m.isa(), if *t == 1 { "" } else { "s" });
            g.bench_function(BenchmarkId::new("run", id), |b| {
                pool.install(|| b.iter(|| m.run(&mut st, black_box(&xs), &mut ys).unwrap()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, bench_dtypes, bench_run_threads);
criterion_main!(benches);
