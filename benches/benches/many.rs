//! Criterion benchmarks of many streams and threads: `step_many` on W3 (64 streams) and
//! W2 (16 streams, and a single stream split across cores), against separate `step`s and
//! against one thread, in the same process.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recur::{Model, State};
use recur_benches::{macs_per_frame, weights, workloads};
use recur_format::PackedModel;
use std::hint::black_box;

fn model(id: &str) -> Model {
    let w = workloads().into_iter().find(|w| w.id == id).unwrap();
    Model::from_packed(&PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap()).unwrap()
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
                        m.step(st, black_box(&xs[n * i..][..i]), &mut ys[n * o..][..o]).unwrap();
                    }
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
