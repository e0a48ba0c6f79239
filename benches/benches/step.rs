//! Criterion benchmarks of the f32 streaming step (W1-W3) and the sequence run (W4),
//! per kernel set. Throughput is in elements (multiply-adds) so criterion reports
//! MAC/s; `benches/README.md` explains how to turn the figures into GFLOP/s, GB/s and
//! the fraction of the machine's bound.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recur::{Isa, Model};
use recur_benches::{macs_per_frame, weights, workloads};
use recur_format::PackedModel;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
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
                    b.iter(|| m.step(&mut st, black_box(&xs), &mut ys).unwrap())
                });
            } else {
                g.bench_function(BenchmarkId::new("run", isa.name()), |b| {
                    b.iter(|| m.run(&mut st, black_box(&xs), &mut ys).unwrap())
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
