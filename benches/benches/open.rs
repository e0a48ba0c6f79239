//! What opening a large `.recur` file costs (criterion), next to what reading it costs.
//!
//! The model is an LSTM in=2048 H=2048 x 2 layers, 256 MiB of f32 weights, written once per
//! run into a temporary folder (it is not committed). Measured, with the file in the page
//! cache and a fresh mapping every iteration:
//!
//! * `open/skip_checksums`: [`Model::open_with`] without checksums. It maps the file and
//!   parses the tables; it must not read a weight (SPEC.md §5: skipping checksums skips no
//!   structural rule, and none of them reads tensor data when tensors need no padding).
//! * `open/verify_checksums`: the default open, which hashes the file (SPEC.md §5), next
//!   to the two ways of reading it once: `baseline/fs_read` (`std::fs::read` into a
//!   preallocated buffer) and `baseline/xxh3_mmap` (one XXH3 pass over a fresh mapping,
//!   page faults included, as the open pays them). The target is within 1.5x of reading the
//!   file once.
//! * `first_step/after_skip_open`: the first step of a model opened without checksums,
//!   which faults every weight page in; `first_step/steady` is a step once they are mapped.
//!
//! Before the timed part, an untimed report printed to stderr says how many pages of the
//! file are in the page cache (`mincore(2)` on a mapping of our own that is never read)
//! after evicting it, after opening without checksums and after one step, and times a
//! cold open and a cold first step once. Residency, not time, is what proves that the open
//! reads no weight: a timing could hide a read-ahead of the whole file. The kernel reads
//! around every page fault of a mapping (read-around), so the report first shows what a
//! single byte read at offset 0 brings in; the open should bring in no more than that, with
//! a single major page fault (the first page: header and tables).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recur::{Model, OpenOptions};
use recur_benches::weights;
use recur_format::{CellKind, GraphInterface, LayerDesc, ModelDesc, PackedModel, RecurrentDesc};
use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const INPUT: usize = 2048;
const HIDDEN: usize = 2048;

fn desc() -> ModelDesc {
    let lstm = |i| LayerDesc::Recurrent(RecurrentDesc::new(CellKind::Lstm, i, HIDDEN));
    ModelDesc { layers: vec![lstm(INPUT), lstm(HIDDEN)] }
}

/// The temporary file, removed with its folder when the bench ends.
struct TempModel {
    dir: PathBuf,
    path: PathBuf,
}

impl TempModel {
    fn write() -> TempModel {
        let dir = std::env::temp_dir().join(format!("recur-open-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temporary folder");
        let path = dir.join("lstm_i2048_h2048_x2.recur");
        let packed = PackedModel::pack(desc(), &weights(&desc(), 7)).expect("pack");
        recur_format::write_file(&path, &packed, &GraphInterface::default()).expect("write the model");
        TempModel { dir, path }
    }
}

impl Drop for TempModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// Drops the file's pages from the page cache: written back first (`fsync`), since dirty
/// pages cannot be dropped, then `POSIX_FADV_DONTNEED`. Pages that some live mapping holds
/// stay, so every model must be dropped before.
fn evict(path: &Path) {
    let f = File::open(path).expect("open for eviction");
    f.sync_all().expect("fsync");
    // SAFETY: the descriptor is open for the duration of the call; offset 0 and length 0
    // mean the whole file.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise failed");
}

/// For every page of the file, whether it is in the page cache: `mincore(2)` on a shared
/// read-only mapping of our own that is never read, so that asking does not change the
/// answer.
fn residency(path: &Path) -> Vec<bool> {
    let f = File::open(path).expect("open for mincore");
    let len = f.metadata().expect("stat").len() as usize;
    let page = page_size();
    // SAFETY: a fresh read-only shared mapping of an open file; the kernel picks the
    // address, and the result is checked before use.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0) };
    assert_ne!(addr, libc::MAP_FAILED, "mmap for mincore failed");
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `addr` is a page-aligned mapping of `len` bytes and `vec` has one byte per
    // page of it, as mincore requires.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    // SAFETY: unmaps exactly the mapping made above, which nothing references any more.
    unsafe { libc::munmap(addr, len) };
    assert_eq!(rc, 0, "mincore failed");
    vec.iter().map(|v| v & 1 == 1).collect()
}

/// "N of M pages resident" and the resident page ranges (at most a few).
fn describe(res: &[bool]) -> String {
    let n = res.iter().filter(|&&r| r).count();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < res.len() {
        if res[i] {
            let start = i;
            while i < res.len() && res[i] {
                i += 1;
            }
            ranges.push(if i - start == 1 { format!("{start}") } else { format!("{start}..{i}") });
        } else {
            i += 1;
        }
    }
    let shown = if ranges.len() > 6 {
        format!("{} ... ({} ranges)", ranges[..6].join(", "), ranges.len())
    } else {
        ranges.join(", ")
    };
    format!("{n} of {} pages resident [{shown}]", res.len())
}

fn skip() -> OpenOptions {
    OpenOptions { verify_checksums: false, ..OpenOptions::default() }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The fastest of `n` runs of `f` (warm cache: the first run warms it).
fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn read_into(path: &Path, buf: &mut [u8]) {
    File::open(path).and_then(|mut f| f.read_exact(buf)).expect("read the model");
}

/// One XXH3 pass over a fresh mapping of the file.
fn hash_mapped(path: &Path) -> u64 {
    let f = File::open(path).expect("open");
    let len = f.metadata().expect("stat").len() as usize;
    // SAFETY: a fresh read-only private mapping of an open file that nothing modifies
    // during the bench; the result is checked before use.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0) };
    assert_ne!(addr, libc::MAP_FAILED, "mmap failed");
    // SAFETY: the mapping is `len` readable bytes and lives until the munmap below.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    let h = recur_format::file::tensor_checksum(bytes);
    // SAFETY: unmaps exactly the mapping made above; `bytes` is not used after this.
    unsafe { libc::munmap(addr, len) };
    h
}

/// The process's (major, minor) page fault counts. With the file evicted, a major fault
/// is a page that had to be read from disk: the count is the number of separate places
/// the code touched, whatever the kernel read around them.
fn faults() -> (i64, i64) {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    (ru.ru_majflt, ru.ru_minflt)
}

/// Parses the file without checksums through a fresh mapping (the reader alone).
fn parse_mapped(path: &Path) {
    let f = File::open(path).expect("open");
    let len = f.metadata().expect("stat").len() as usize;
    // SAFETY: as in `hash_mapped`.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0) };
    assert_ne!(addr, libc::MAP_FAILED, "mmap failed");
    // SAFETY: the mapping is `len` readable bytes and lives until the munmap below.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    let opts = recur_format::ParseOptions { verify_checksums: false };
    black_box(recur_format::parse(bytes, opts).expect("parse").tensors().len());
    // SAFETY: unmaps exactly the mapping made above; `bytes` is not used after this.
    unsafe { libc::munmap(addr, len) };
}

/// Reads the first byte of the file through a fresh mapping, nothing else.
fn touch_first_byte(path: &Path) {
    let f = File::open(path).expect("open");
    // SAFETY: a fresh read-only private mapping of one page of an open, non-empty file;
    // the result is checked before use.
    let addr =
        unsafe { libc::mmap(std::ptr::null_mut(), page_size(), libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0) };
    assert_ne!(addr, libc::MAP_FAILED, "mmap failed");
    // SAFETY: the mapping is at least one readable byte long.
    black_box(unsafe { std::ptr::read_volatile(addr as *const u8) });
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(addr, page_size()) };
}

/// The untimed report: page residency and one cold open and first step.
fn report(path: &Path, len: usize) {
    let isa = Model::open_with(path, &skip()).expect("open").isa();
    eprintln!("open bench: {} ({} MiB), kernel set {}", path.display(), len >> 20, isa.name());
    // Control: what the kernel reads around a single page fault at the start of the file
    // (read-around), so that the open's figure below can be told apart from it.
    evict(path);
    touch_first_byte(path);
    eprintln!("  control, one byte read via mmap:   {}", describe(&residency(path)));
    // The reader alone, on a fresh mapping: tells the reader's reads from the engine's.
    evict(path);
    parse_mapped(path);
    eprintln!("  reader only (parse, no checksums): {}", describe(&residency(path)));
    evict(path);
    eprintln!("  after fsync + POSIX_FADV_DONTNEED:  {}", describe(&residency(path)));

    let f0 = faults();
    let t = Instant::now();
    let m = Model::open_with(path, &skip()).expect("open");
    let cold_open = t.elapsed();
    let f1 = faults();
    eprintln!(
        "  after open without checksums:      {}; page faults: {} major, {} minor",
        describe(&residency(path)),
        f1.0 - f0.0,
        f1.1 - f0.1
    );
    let mut st = m.new_state();
    let x = vec![0.25f32; m.input_size()];
    let mut y = vec![0.0f32; m.output_size()];
    let f0 = faults();
    let t = Instant::now();
    m.step(&mut st, &x, &mut y).expect("step");
    let cold_step = t.elapsed();
    let f1 = faults();
    eprintln!(
        "  after the first step:              {}; page faults: {} major, {} minor",
        describe(&residency(path)),
        f1.0 - f0.0,
        f1.1 - f0.1
    );
    eprintln!("  cold (file evicted): open without checksums {}, first step {}", ms(cold_open), ms(cold_step));
    drop(m);

    // Warm page cache from here on, as in the criterion groups; best of a few runs, to
    // state the ratio to the baselines in one line.
    let mut buf = vec![0u8; len];
    let read = best_of(5, || read_into(path, &mut buf));
    let hash = best_of(5, || {
        black_box(hash_mapped(path));
    });
    let verify = best_of(5, || {
        black_box(Model::open_with(path, &OpenOptions::default()).expect("open"));
    });
    let skip_open = best_of(20, || {
        black_box(Model::open_with(path, &skip()).expect("open"));
    });
    eprintln!(
        "  warm, best of 5: open with checksums {} | fs::read {} | xxh3 over a fresh mapping {} \
         | ratio to fs::read {:.2}x, to xxh3 pass {:.2}x",
        ms(verify),
        ms(read),
        ms(hash),
        verify.as_secs_f64() / read.as_secs_f64(),
        verify.as_secs_f64() / hash.as_secs_f64()
    );
    eprintln!("  warm, best of 20: open without checksums {}", ms(skip_open));
}

fn bench(c: &mut Criterion) {
    let file = TempModel::write();
    let path = file.path.as_path();
    let len = std::fs::metadata(path).expect("stat").len() as usize;
    report(path, len);

    let mut g = c.benchmark_group("open_lstm_i2048_h2048_x2");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function(BenchmarkId::new("open", "skip_checksums"), |b| {
        b.iter(|| Model::open_with(black_box(path), &skip()).expect("open"))
    });
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function(BenchmarkId::new("open", "verify_checksums"), |b| {
        b.iter(|| Model::open_with(black_box(path), &OpenOptions::default()).expect("open"))
    });
    let mut buf = vec![0u8; len];
    g.bench_function(BenchmarkId::new("baseline", "fs_read"), |b| b.iter(|| read_into(black_box(path), &mut buf)));
    g.bench_function(BenchmarkId::new("baseline", "xxh3_mmap"), |b| b.iter(|| hash_mapped(black_box(path))));
    g.bench_function(BenchmarkId::new("first_step", "after_skip_open"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let m = Model::open_with(path, &skip()).expect("open");
                let mut st = m.new_state();
                let x = vec![0.25f32; m.input_size()];
                let mut y = vec![0.0f32; m.output_size()];
                let t = Instant::now();
                m.step(&mut st, black_box(&x), &mut y).expect("step");
                total += t.elapsed();
            }
            total
        })
    });
    let m = Model::open_with(path, &skip()).expect("open");
    let mut st = m.new_state();
    let x = vec![0.25f32; m.input_size()];
    let mut y = vec![0.0f32; m.output_size()];
    g.bench_function(BenchmarkId::new("first_step", "steady"), |b| {
        b.iter(|| m.step(&mut st, black_box(&x), &mut y).expect("step"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
