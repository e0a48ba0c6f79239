//! Runs one workload in a loop, for profilers (`perf record`, `valgrind --tool=callgrind`).
//! Usage: `cargo run --release -p recur-benches --example profile -- W1 [iterations]`
use recur::Model;
use recur_benches::{weights, workloads};
use recur_format::PackedModel;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let id = args.get(1).map(String::as_str).unwrap_or("W1");
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let w = workloads().into_iter().find(|w| w.id == id).expect("unknown workload");
    let m = Model::from_packed(&PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap()).unwrap();
    let mut st = m.new_state();
    let xs: Vec<f32> = (0..w.frames * m.input_size()).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let mut ys = vec![0.0f32; w.frames * m.output_size()];
    let t = std::time::Instant::now();
    for _ in 0..iters {
        if w.frames == 1 {
            m.step(&mut st, &xs, &mut ys).unwrap();
        } else {
            m.run(&mut st, &xs, &mut ys).unwrap();
        }
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
    println!("{id} on {}: {us:.3} us per call ({} frames)", m.isa(), w.frames);
}
