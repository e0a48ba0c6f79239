//! Conformance: every case folder of the shared conformance suite
//! (`$CARGO_MANIFEST_DIR/../../shared/conformance`, or `RECUR_CONFORMANCE_DIR`) and of the
//! project's own fixtures (`fixtures/onnx`) is imported, run with every kernel set this CPU
//! has, and compared with onnxruntime's outputs within the case's tolerance, extra sets
//! included; every file of `invalid/` must be refused with the class its index says.
//!
//! The same is then done through the real binary: `recur convert` + `recur run` on every
//! case (with every kernel set through `RECUR_ISA`), comparing the `.npy` files it writes,
//! and every invalid file must make `recur convert` exit with status 1 or 2 and one line
//! on stderr, never a signal.

use recur::graph::{Graph, Tensor};
use recur::recur_format::onnx::{import_file, ErrorClass, ImportOptions};
use recur::recur_format::write_bytes;
use recur::{Isa, Model, OpenOptions};
use recur_cli::case::{case_dirs, compare, load_case, read_inputs, Case};
use recur_cli::io_file_name;
use recur_cli::npy::read_npy;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_recur");

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared conformance folder, if it exists here.
fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("RECUR_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest().join("../../shared/conformance"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: no shared conformance folder at {} (set RECUR_CONFORMANCE_DIR); running the project's fixtures only",
            dir.display()
        );
        None
    }
}

fn fixtures_dir() -> PathBuf {
    manifest().join("../fixtures/onnx")
}

/// Every case folder: (suite label, folder).
fn all_cases() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    if let Some(shared) = shared_dir() {
        for d in case_dirs(&shared).expect("list shared cases") {
            out.push(("shared", d));
        }
    }
    for d in case_dirs(&fixtures_dir()).expect("list fixtures") {
        out.push(("fixtures", d));
    }
    assert!(!out.is_empty(), "no case found");
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// Runs `f` over `items` on a few threads (the cases are independent).
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            // In debug builds the engine's fully inlined `run` entry points take more
            // than the default 2 MiB of stack (about 1.6 MiB for one frame); release
            // builds need a few KiB.
            let b = std::thread::Builder::new().stack_size(64 << 20);
            b.spawn_scoped(s, || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap().push((i, r));
            })
            .expect("spawn a test thread");
        }
    });
    let mut v = results.into_inner().unwrap();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

/// One case's outcome for one kernel set.
#[derive(Default)]
struct Outcome {
    max_abs_err: f64,
    worst_ratio: f64,
    checks: usize,
    failures: Vec<String>,
}

/// A case, its outcome per kernel set, and whether every kernel set gave the same bits.
type CaseResult = (Case, Vec<(Isa, Outcome)>, bool);

/// Imports, round-trips through the .recur format, and runs every set with every kernel set.
/// Returns the outcome per kernel set, and whether all kernel sets gave identical bits.
fn run_case_in_process(dir: &Path) -> Result<CaseResult, String> {
    let case = load_case(dir).map_err(|e| e.to_string())?;
    let imported = import_file(&case.model_path(), &ImportOptions::default())
        .map_err(|e| format!("import failed: {}: {e}", e.class()))?;
    let bytes = write_bytes(&imported.model, &imported.interface).map_err(|e| format!("write failed: {e}"))?;
    let base = Model::from_bytes_with(&bytes, &OpenOptions { verify_checksums: true, isa: Some(Isa::Scalar) })
        .map_err(|e| format!("load failed: {e}"))?;
    let mut per_isa = Vec::new();
    let mut reference: Vec<Vec<(String, Tensor)>> = Vec::new();
    let mut identical = true;
    for isa in Isa::available() {
        let model = base.with_isa(isa).map_err(|e| e.to_string())?;
        let graph = Graph::new(&model).map_err(|e| e.to_string())?;
        let mut o = Outcome::default();
        for (si, set) in case.sets.iter().enumerate() {
            let named = read_inputs(&graph, &set.dir).map_err(|e| e.to_string())?;
            let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
            let results = graph.run(&refs).map_err(|e| format!("{}: set {}: {e}", isa.name(), set.name))?;
            for (name, actual) in &results {
                let path = set.dir.join(io_file_name("output", name));
                let expected = read_npy(&path).map_err(|e| e.to_string())?;
                let c = compare(actual, &expected, case.tolerance);
                o.checks += 1;
                o.max_abs_err = o.max_abs_err.max(c.max_abs_err);
                o.worst_ratio = o.worst_ratio.max(c.worst_ratio);
                if !c.passed() {
                    o.failures.push(format!(
                        "{} set {} output {name}: {}",
                        isa.name(),
                        set.name,
                        c.mismatch.clone().unwrap_or_else(|| format!(
                            "{} elements outside tolerance, max abs err {:.3e}, first {:?}",
                            c.failures, c.max_abs_err, c.first_failure
                        ))
                    ));
                }
            }
            // The numerics contract: every kernel set gives the same bits.
            if reference.len() <= si {
                reference.push(results);
            } else {
                let same = reference[si].iter().zip(&results).all(|((_, a), (_, b))| {
                    let (a, b) = (a.as_f32().unwrap_or(&[]), b.as_f32().unwrap_or(&[]));
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                });
                identical &= same;
            }
        }
        per_isa.push((isa, o));
    }
    Ok((case, per_isa, identical))
}

#[test]
fn every_case_matches_onnxruntime_with_every_kernel_set() {
    let cases = all_cases();
    let isas: Vec<Isa> = Isa::available().collect();
    let results = parallel(&cases, |(_, dir)| run_case_in_process(dir));
    let mut problems = Vec::new();
    let mut passed = vec![0usize; isas.len()];
    let mut worst: Vec<(f64, String)> = vec![(0.0, String::new()); isas.len()];
    let mut not_identical = Vec::new();
    println!(
        "{:<9} {:<52} {:>4}  max abs err per kernel set ({})",
        "suite",
        "case",
        "sets",
        isas.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
    );
    for ((suite, dir), r) in cases.iter().zip(&results) {
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        match r {
            Err(e) => {
                println!("{suite:<9} {name:<52}    -  ERROR {e}");
                problems.push(format!("{suite}/{name}: {e}"));
            }
            Ok((case, per_isa, identical)) => {
                let errs: Vec<String> = per_isa.iter().map(|(_, o)| format!("{:.2e}", o.max_abs_err)).collect();
                let bad: Vec<&String> = per_isa.iter().flat_map(|(_, o)| &o.failures).collect();
                println!(
                    "{suite:<9} {name:<52} {:>4}  {}{}{}",
                    case.sets.len(),
                    errs.join(" "),
                    if bad.is_empty() { "" } else { "  FAIL" },
                    if *identical { "" } else { "  (kernel sets differ in bits)" }
                );
                for (k, (_, o)) in per_isa.iter().enumerate() {
                    if o.failures.is_empty() {
                        passed[k] += 1;
                    }
                    if o.worst_ratio >= worst[k].0 {
                        worst[k] = (o.worst_ratio, format!("{name} ({:.2e} abs)", o.max_abs_err));
                    }
                }
                for f in bad {
                    problems.push(format!("{suite}/{name}: {f}"));
                }
                if !identical {
                    not_identical.push(format!("{suite}/{name}"));
                }
            }
        }
    }
    println!();
    for (k, isa) in isas.iter().enumerate() {
        println!(
            "{:<9} {}/{} cases pass; worst error relative to tolerance {:.3} in {}",
            isa.name(),
            passed[k],
            cases.len(),
            worst[k].0,
            worst[k].1
        );
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(
        not_identical.is_empty(),
        "kernel sets disagree in bits (numerics contract) on: {}",
        not_identical.join(", ")
    );
}

/// `invalid/index.json`'s expectation as the importer's class.
fn expected_class(s: &str) -> Option<ErrorClass> {
    match s {
        "parse_error" => Some(ErrorClass::Parse),
        "invalid_model" => Some(ErrorClass::InvalidModel),
        "unsupported" => Some(ErrorClass::Unsupported),
        _ => None,
    }
}

/// Every invalid file with its expected class (files not in the index: any refusal).
fn invalid_files() -> Vec<(PathBuf, Option<ErrorClass>)> {
    let Some(shared) = shared_dir() else { return Vec::new() };
    let dir = shared.join("invalid");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("invalid/index.json"))
            .expect("index.json parses");
    let list = index.as_array().or_else(|| index["invalid"].as_array()).expect("index.json lists files");
    let mut out: Vec<(PathBuf, Option<ErrorClass>)> = list
        .iter()
        .map(|e| {
            let file = e["file"].as_str().expect("entry has 'file'");
            let class = e["expected"].as_str().and_then(expected_class);
            assert!(class.is_some(), "{file}: unknown expectation {}", e["expected"]);
            (dir.join(file), class)
        })
        .collect();
    for entry in std::fs::read_dir(&dir).expect("list invalid/").flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "onnx") && !out.iter().any(|(q, _)| *q == p) {
            out.push((p, None));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_invalid_file_is_refused_with_its_class() {
    let files = invalid_files();
    let mut problems = Vec::new();
    for (path, class) in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        match import_file(path, &ImportOptions::default()) {
            Ok(_) => {
                println!("{name:<48} ACCEPTED (expected {class:?})");
                problems.push(format!("{name}: accepted"));
            }
            Err(e) => {
                let ok = class.is_none_or(|c| c == e.class());
                println!("{name:<48} {:<14} {}{}", e.class().to_string(), e, if ok { "" } else { "  <- WRONG CLASS" });
                if !ok {
                    problems.push(format!("{name}: refused as {} but expected {:?}: {e}", e.class(), class));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn recur(args: &[&std::ffi::OsStr], isa: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    match isa {
        Some(i) => cmd.env("RECUR_ISA", i),
        None => cmd.env_remove("RECUR_ISA"),
    };
    cmd.output().expect("spawn recur")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `recur convert` then `recur run` (with each kernel set) on one case; compares the files.
fn run_case_through_cli(dir: &Path, work: &Path, isas: &[Isa]) -> Result<usize, String> {
    let case = load_case(dir).map_err(|e| e.to_string())?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let work = work.join(&name);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let file = work.join("model.recur");
    let out = recur(&["convert".as_ref(), case.model_path().as_os_str(), file.as_os_str()], None);
    if !out.status.success() {
        return Err(format!("convert failed: {}", describe(&out)));
    }
    let mut checks = 0;
    for isa in isas {
        for set in &case.sets {
            let out_dir = work.join(format!("out-{}-{}", isa.name(), set.name));
            let out = recur(
                &[
                    "run".as_ref(),
                    file.as_os_str(),
                    "--inputs".as_ref(),
                    set.dir.as_os_str(),
                    "--outputs".as_ref(),
                    out_dir.as_os_str(),
                ],
                Some(isa.name()),
            );
            if !out.status.success() {
                return Err(format!("run ({}, set {}) failed: {}", isa.name(), set.name, describe(&out)));
            }
            if !String::from_utf8_lossy(&out.stdout).contains(&format!("kernel set: {}", isa.name())) {
                return Err(format!("RECUR_ISA={} was not honoured: {}", isa.name(), describe(&out)));
            }
            // Every expected output must have been written, and match.
            for entry in std::fs::read_dir(&set.dir).map_err(|e| e.to_string())?.flatten() {
                let fname = entry.file_name().to_string_lossy().into_owned();
                if !(fname.starts_with("output_") && fname.ends_with(".npy")) {
                    continue;
                }
                let expected = read_npy(&entry.path()).map_err(|e| e.to_string())?;
                let actual = read_npy(&out_dir.join(&fname))
                    .map_err(|e| format!("{} set {}: {fname} not written: {e}", isa.name(), set.name))?;
                let c = compare(&actual, &expected, case.tolerance);
                if !c.passed() {
                    return Err(format!(
                        "{} set {} {fname}: {}",
                        isa.name(),
                        set.name,
                        c.mismatch.unwrap_or_else(|| format!("max abs err {:.3e}", c.max_abs_err))
                    ));
                }
                checks += 1;
            }
        }
    }
    Ok(checks)
}

#[test]
fn cli_convert_and_run_reproduce_every_case() {
    let cases = all_cases();
    let work = scratch("cli");
    // Every kernel set unless RECUR_CLI_TEST_ISAS=default narrows it to the default one.
    let isas: Vec<Isa> = match std::env::var("RECUR_CLI_TEST_ISAS").as_deref() {
        Ok("default") => vec![Isa::best()],
        _ => Isa::available().collect(),
    };
    let results = parallel(&cases, |(_, dir)| run_case_through_cli(dir, &work, &isas));
    let mut problems = Vec::new();
    let mut checks = 0;
    for ((suite, dir), r) in cases.iter().zip(results) {
        match r {
            Ok(n) => checks += n,
            Err(e) => problems.push(format!("{suite}/{}: {e}", dir.display())),
        }
    }
    println!(
        "{} cases, {checks} output files compared through the binary with kernel sets {}",
        cases.len(),
        isas.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
    );
    let _ = std::fs::remove_dir_all(&work);
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n\n"));
}

/// Checks the failure contract: status 1 or 2 (never a signal), one line on stderr that
/// starts with `recur: error:`, nothing else on stderr.
fn assert_clean_failure(out: &Output, what: &str, want: &[i32]) -> String {
    let code = out.status.code();
    assert!(code.is_some(), "{what}: ended by a signal: {}", describe(out));
    assert!(want.contains(&code.unwrap_or(-1)), "{what}: status {code:?}, expected one of {want:?}: {}", describe(out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: stderr is not one line: {}", describe(out));
    assert!(lines[0].starts_with("recur: error: "), "{what}: {}", describe(out));
    lines[0].to_string()
}

#[test]
fn cli_refuses_every_invalid_file_cleanly() {
    let work = scratch("invalid");
    for (path, _) in invalid_files() {
        let target = work.join("out.recur");
        let out = recur(&["convert".as_ref(), path.as_os_str(), target.as_os_str()], None);
        let line = assert_clean_failure(&out, &path.display().to_string(), &[1, 2]);
        println!("{line}");
        assert!(!target.exists(), "{}: an output file was written", path.display());
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn cli_reports_bad_input_and_usage_on_one_line() {
    let work = scratch("errors");
    let case = fixtures_dir().join("stateful_gru_step");
    let model = work.join("m.recur");
    let out = recur(&["convert".as_ref(), case.join("model.onnx").as_os_str(), model.as_os_str()], None);
    assert!(out.status.success(), "{}", describe(&out));
    let s = |p: &Path| p.as_os_str().to_owned();
    let cases: Vec<(Vec<std::ffi::OsString>, Option<&str>, i32, &str)> = vec![
        (vec!["frobnicate".into()], None, 2, "unrecognized subcommand"),
        (vec![], None, 2, "no command"),
        (vec!["run".into(), s(&model)], None, 2, "required"),
        (vec!["inspect".into(), s(&work.join("missing.recur"))], None, 1, "cannot read"),
        (vec!["inspect".into(), s(&case.join("model.onnx"))], None, 1, "not a valid .recur file"),
        (
            vec![
                "run".into(),
                s(&model),
                "--inputs".into(),
                s(&case),
                "--outputs".into(),
                s(&work.join("o")),
                "--isa".into(),
                "mmx".into(),
            ],
            None,
            2,
            "unknown kernel set",
        ),
        (
            vec!["run".into(), s(&model), "--inputs".into(), s(&case), "--outputs".into(), s(&work.join("o"))],
            Some("nonsense"),
            2,
            "RECUR_ISA",
        ),
        (
            vec!["run".into(), s(&model), "--inputs".into(), s(&work), "--outputs".into(), s(&work.join("o"))],
            None,
            1,
            "missing",
        ),
        (vec!["verify".into(), s(&model), s(&work)], None, 1, "missing"),
        (vec!["bench".into(), s(&model), "--threads".into(), "0".into()], None, 2, "threads"),
    ];
    for (args, isa, code, needle) in cases {
        let argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = recur(&argv, isa);
        let line = assert_clean_failure(&out, &format!("{args:?}"), &[code]);
        assert!(line.contains(needle), "{args:?}: '{line}' does not mention '{needle}'");
        println!("{line}");
    }
    // A corrupted .recur file: one flipped byte in the weights.
    let mut bytes = std::fs::read(&model).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x40;
    let bad = work.join("bad.recur");
    std::fs::write(&bad, &bytes).unwrap();
    let out = recur(&["inspect".as_ref(), bad.as_os_str()], None);
    println!("{}", assert_clean_failure(&out, "corrupt file", &[1]));
    // An input of the wrong shape names the input, the expected and the given shape.
    let inputs = work.join("wrong");
    std::fs::create_dir_all(&inputs).unwrap();
    for entry in std::fs::read_dir(&case).unwrap().flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.starts_with("input_") {
            std::fs::copy(entry.path(), inputs.join(&n)).unwrap();
        }
    }
    let x = inputs.join("input_x.npy");
    let t = read_npy(&x).unwrap();
    let mut shape = t.shape.clone();
    *shape.last_mut().unwrap() += 1;
    let n: usize = shape.iter().product();
    recur_cli::npy::write_npy(&x, &Tensor::f32(shape, vec![0.5; n])).unwrap();
    let out = recur(
        &[
            "run".as_ref(),
            model.as_os_str(),
            "--inputs".as_ref(),
            inputs.as_os_str(),
            "--outputs".as_ref(),
            work.join("o").as_os_str(),
        ],
        None,
    );
    let line = assert_clean_failure(&out, "wrong shape", &[1]);
    assert!(line.contains("input 'x': expected ["), "{line}");
    println!("{line}");
    let _ = std::fs::remove_dir_all(&work);
}
