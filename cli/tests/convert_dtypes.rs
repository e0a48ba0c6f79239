//! `recur convert --dtype / --int8-mode / --layer-dtype / --report` and what `recur inspect`
//! and `recur bench` show of the result, through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_recur");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("convert-dtypes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

fn recur(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN).args(args).env_remove("RECUR_ISA").output().expect("spawn recur")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn convert(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["convert".as_ref(), input.as_os_str(), output.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    recur(&args)
}

fn inspect_json(file: &Path) -> serde_json::Value {
    let out = recur(&["inspect".as_ref(), "--json".as_ref(), file.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

#[test]
fn every_dtype_converts_and_inspect_shows_it() {
    let work = scratch("all");
    // LSTM with a dense head: recurrent and dense layers both take the dtype.
    let case = fixture("head_gemm_softmax_op14");
    let onnx = case.join("model.onnx");
    let f32_file = work.join("f32.recur");
    let out = convert(&onnx, &f32_file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let f32_json = inspect_json(&f32_file);
    let layers = f32_json["layers"].as_array().unwrap().len();
    let f32_bytes = f32_json["weight_bytes"].as_u64().unwrap();
    for (args, name) in [
        (vec!["--dtype", "f16"], "f16"),
        (vec!["--dtype", "bf16"], "bf16"),
        (vec!["--dtype", "int8"], "int8"),
        (vec!["--dtype", "int8", "--int8-mode", "w8a8"], "int8-w8a8"),
    ] {
        let file = work.join(format!("{name}.recur"));
        let out = convert(&onnx, &file, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("dtypes {}", vec![name; layers].join(", "))), "{stdout}");
        assert!(stdout.contains("bytes in f32"), "{stdout}");
        let j = inspect_json(&file);
        assert_eq!(j["dtypes"], serde_json::json!(vec![name; layers]), "{args:?}");
        assert_eq!(j["weight_bytes_f32"].as_u64(), Some(f32_bytes));
        for t in j["tensors"].as_array().unwrap() {
            let weight = t["kind"] == "W" || t["kind"] == "R";
            assert_eq!(t["dtype"], if weight { name } else { "f32" }, "{t}");
        }
        assert!(j["weight_bytes"].as_u64().unwrap() < f32_bytes, "{name}: not smaller");
        // The same from the f32 .recur file.
        let again = work.join(format!("{name}-from-recur.recur"));
        let out = convert(&f32_file, &again, &args);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&file).unwrap(), "{name}");
        let out = recur(&["inspect".as_ref(), file.as_os_str()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("bytes in f32,"), "{stdout}");
    }
    // Per layer: layer 1 (the dense head) in f16, the rest int8 w8a8.
    let file = work.join("mixed.recur");
    let out = convert(&onnx, &file, &["--dtype", "int8", "--int8-mode", "w8a8", "--layer-dtype", "1=f16"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(inspect_json(&file)["dtypes"], serde_json::json!(["int8-w8a8", "f16"]));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn refusals_are_one_line_with_the_right_status() {
    let work = scratch("refusals");
    let onnx = fixture("gru_default_lbr0_op14").join("model.onnx");
    let int8 = work.join("int8.recur");
    assert!(convert(&onnx, &int8, &["--dtype", "int8"]).status.success());
    for (input, args, code, needle) in [
        (&onnx, vec!["--layer-dtype", "1=f16"], 2, "the model has 1 layers"),
        (&onnx, vec!["--layer-dtype", "0=f8"], 2, "unknown dtype 'f8'"),
        (&onnx, vec!["--dtype", "int4"], 2, "int4"),
        (&onnx, vec!["--int8-mode", "w4"], 2, "w4"),
        (&int8, vec!["--dtype", "f16"], 1, "cannot convert int8 weights to f16"),
    ] {
        let target = work.join("out.recur");
        let out = convert(input, &target, &args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!target.exists());
    }
    // int8 w8 -> w8a8 only relabels (no second rounding), so it is allowed.
    let out = convert(&int8, &work.join("w8a8.recur"), &["--dtype", "int8", "--int8-mode", "w8a8"]);
    assert!(out.status.success(), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&work);
}

/// `--report` runs both models: an f32 -> f32 conversion has no error, with random frames
/// or with a case's inputs.
#[test]
fn report_of_an_identity_conversion_is_zero() {
    let work = scratch("report");
    let case = fixture("gru_default_lbr0_op14");
    let file = work.join("m.recur");
    let out = convert(&case.join("model.onnx"), &file, &["--report"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("200 random frames"), "{stdout}");
    let row = stdout.lines().find(|l| l.contains("output (every frame)")).expect("a row for the output");
    assert!(row.contains(" 0.000e0 "), "{row}");
    let out = convert(&case.join("model.onnx"), &file, &["--report-inputs", case.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in ["Y ", "Y_h "] {
        let row = stdout.lines().find(|l| l.trim_start().starts_with(name)).expect("a row per graph output");
        assert!(row.contains(" 0.000e0 "), "{row}");
    }
    let out = convert(&case.join("model.onnx"), &file, &["--report-inputs", work.join("none").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&work);
}

/// `--report` on reduced precision: every output's error is printed, small and non-zero.
#[test]
fn report_of_reduced_precision_is_small() {
    let work = scratch("report-int8");
    let case = fixture("gru_default_lbr0_op14");
    for (args, bound) in [(vec!["--dtype", "f16"], 2e-3), (vec!["--dtype", "int8", "--int8-mode", "w8a8"], 6e-2)] {
        let mut args = args.clone();
        args.extend(["--report-inputs", case.to_str().unwrap()]);
        let out = convert(&case.join("model.onnx"), &work.join("m.recur"), &args);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        for name in ["Y ", "Y_h "] {
            let row = stdout.lines().find(|l| l.trim_start().starts_with(name)).expect("a row per graph output");
            let max: f64 = row.split_whitespace().nth_back(2).and_then(|v| v.parse().ok()).expect("max abs err");
            assert!(max > 0.0 && max <= bound, "{args:?}: {row}");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `recur bench --json` on f16 and int8 w8a8 files (short: 3 repeats per kernel set, every
/// kernel set this CPU has): each object names the layers' dtypes, the weight bytes per
/// step are the file's stored bytes (1 per int8 weight, 2 per f16 weight; what inspect
/// counts) next to the f32 figure, and the FLOPs are the f32 model's.
#[test]
fn bench_reports_the_stored_dtypes_and_bytes() {
    let work = scratch("bench");
    let onnx = fixture("head_gemm_softmax_op14").join("model.onnx");
    let bench = |file: &Path| -> Vec<serde_json::Value> {
        let out = recur(&["bench".as_ref(), file.as_os_str(), "--json".as_ref(), "--repeats".as_ref(), "3".as_ref()]);
        assert!(out.status.success(), "{}", text(&out));
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(!lines.is_empty(), "{}", text(&out));
        lines
    };
    let f32_file = work.join("f32.recur");
    assert!(convert(&onnx, &f32_file, &[]).status.success());
    let f32_lines = bench(&f32_file);
    let flops = f32_lines[0]["flops_per_step"].as_f64().unwrap();
    let f32_bytes = f32_lines[0]["weight_bytes_per_step"].as_f64().unwrap();
    assert_eq!(f32_lines[0]["weight_bytes_per_step_f32"].as_f64(), Some(f32_bytes));
    for (args, name, weight_size) in
        [(vec!["--dtype", "f16"], "f16", 2), (vec!["--dtype", "int8", "--int8-mode", "w8a8"], "int8-w8a8", 1)]
    {
        let file = work.join(format!("{name}.recur"));
        let out = convert(&onnx, &file, &args);
        assert!(out.status.success(), "{}", text(&out));
        let info = inspect_json(&file);
        let layers = info["layers"].as_array().unwrap().len();
        for t in info["tensors"].as_array().unwrap() {
            if t["kind"] == "W" || t["kind"] == "R" {
                assert_eq!(t["bytes"].as_u64(), t["elements"].as_u64().map(|e| e * weight_size), "{t}");
            }
        }
        let stored = info["weight_bytes"].as_f64().unwrap();
        let lines = bench(&file);
        for j in &lines {
            assert_eq!(j["dtypes"], serde_json::json!(vec![name; layers]), "{j}");
            assert_eq!(j["weight_bytes_per_step"].as_f64(), Some(stored), "{j}");
            assert_eq!(j["weight_bytes_per_step_f32"].as_f64(), Some(f32_bytes), "{j}");
            assert!(stored < f32_bytes, "{j}");
            assert_eq!(j["flops_per_step"].as_f64(), Some(flops), "{j}");
            let median = j["us_per_step"]["median"].as_f64().unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
            assert!(close(j["gflops"].as_f64().unwrap(), flops / median / 1e3), "{j}");
            assert!(close(j["weight_gbps"].as_f64().unwrap(), stored / median / 1e3), "{j}");
            let memory_us = j["bound_memory_us"].as_f64().unwrap();
            assert!(close(memory_us, stored / (j["read_gbps"].as_f64().unwrap() * 1e9) * 1e6), "{j}");
            // The bound re-measured between measurements is still max(compute, memory), and
            // 'of bound' is a positive fraction of it.
            let bound = j["bound_us"].as_f64().unwrap();
            assert!(close(bound, memory_us.max(j["bound_compute_us"].as_f64().unwrap())), "{j}");
            let fraction = j["fraction_of_bound"].as_f64().unwrap();
            assert!(fraction.is_finite() && fraction > 0.0, "{j}");
            assert!(j["bound_us_at_start"].as_f64().unwrap() > 0.0, "{j}");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
