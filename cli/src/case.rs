//! Conformance case folders and the tolerance check.
//!
//! A case folder (the layout of `shared/conformance` and `fixtures/onnx`) holds
//! `model.onnx`, one `input_<name>.npy` per graph input, one `output_<name>.npy` per graph
//! output and a `case.json` with the tolerance; `case.json`'s `extra_sets` names
//! sub-folders with further input/output sets for the same model (streaming steps). A case
//! passes when every output element satisfies `|actual - expected| <= abs + rel *
//! |expected|`.

use crate::npy::read_npy;
use crate::{io_file_name, Error};
use recur::graph::{shape_text, Graph, Tensor, TensorData};
use std::path::{Path, PathBuf};

/// The tolerance a case is checked with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part (times `|expected|`).
    pub rel: f64,
}

impl Default for Tolerance {
    /// The conformance cases' usual tolerance: abs 1e-5, rel 1e-4.
    fn default() -> Self {
        Tolerance { abs: 1e-5, rel: 1e-4 }
    }
}

/// One input/output set of a case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSet {
    /// `"main"` for the case folder itself, else the sub-folder's name.
    pub name: String,
    /// The folder holding the set's `.npy` files.
    pub dir: PathBuf,
}

/// A case folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The case's name (from `case.json`, else the folder name).
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The tolerance (from `case.json`, else [`Tolerance::default`]).
    pub tolerance: Tolerance,
    /// The main set, then each of `extra_sets`.
    pub sets: Vec<CaseSet>,
    /// Whether `case.json` was found.
    pub has_case_json: bool,
}

impl Case {
    /// The case's ONNX model.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }
}

/// Reads a case folder's `case.json` (a missing one gives the default tolerance and the
/// main set only).
pub fn load_case(dir: &Path) -> Result<Case, Error> {
    let folder_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !dir.is_dir() {
        return Err(Error::input(format!("'{}' is not a folder", dir.display())));
    }
    let main = CaseSet { name: "main".into(), dir: dir.to_path_buf() };
    let json_path = dir.join("case.json");
    let text = match std::fs::read_to_string(&json_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Case {
                name: folder_name,
                dir: dir.to_path_buf(),
                tolerance: Tolerance::default(),
                sets: vec![main],
                has_case_json: false,
            })
        }
        Err(e) => return Err(Error::input(format!("cannot read '{}': {e}", json_path.display()))),
    };
    parse_case(&text, dir, folder_name)
}

/// The [`Case`] that `case.json` text describes for the case folder `dir` (named
/// `folder_name` when the text gives no name); errors name `dir/case.json`. Touches no
/// file: the sets' folders are not checked here.
pub fn parse_case(text: &str, dir: &Path, folder_name: String) -> Result<Case, Error> {
    let json_path = dir.join("case.json");
    let main = CaseSet { name: "main".into(), dir: dir.to_path_buf() };
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::input(format!("'{}' is not valid JSON: {e}", json_path.display())))?;
    let bad = |what: &str| Error::input(format!("'{}': {what}", json_path.display()));
    let name = v.get("name").and_then(|n| n.as_str()).map_or(folder_name, str::to_owned);
    let mut tolerance = Tolerance::default();
    if let Some(t) = v.get("tolerance") {
        let num = |k: &str, d: f64| match t.get(k) {
            None => Ok(d),
            Some(x) => x
                .as_f64()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| bad(&format!("tolerance.{k} is not a non-negative number"))),
        };
        tolerance = Tolerance { abs: num("abs", tolerance.abs)?, rel: num("rel", tolerance.rel)? };
    }
    let mut sets = vec![main];
    if let Some(extra) = v.get("extra_sets") {
        let list = extra.as_array().ok_or_else(|| bad("extra_sets is not a list"))?;
        for e in list {
            let sub = e
                .get("dir")
                .and_then(|d| d.as_str())
                .or_else(|| e.as_str())
                .ok_or_else(|| bad("an extra_sets entry has no 'dir'"))?;
            // A plain sub-folder name, never a path: no separator at all (`Path::components`
            // would let `a/.` and `a/` through as the one component `a`), not `.` or `..`.
            if !is_plain_name(sub) {
                return Err(bad(&format!("extra set '{sub}' is not a plain sub-folder name")));
            }
            sets.push(CaseSet { name: sub.into(), dir: dir.join(sub) });
        }
    }
    Ok(Case { name, dir: dir.to_path_buf(), tolerance, sets, has_case_json: true })
}

/// Whether `s` names an entry of a folder and nothing else: not empty, not `.` or `..`,
/// without `/`, `\` or NUL.
fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// Reads `<prefix>_<name>.npy` from `dir` for every graph input, in graph order.
pub fn read_inputs(graph: &Graph<'_>, dir: &Path) -> Result<Vec<(String, Tensor)>, Error> {
    let mut out = Vec::new();
    for b in &graph.interface().inputs {
        let path = dir.join(io_file_name("input", &b.name));
        if !path.exists() {
            let shape = graph.input_shape_text(&b.name).unwrap_or_default();
            return Err(Error::input(format!(
                "missing '{}' for graph input '{}' (shape {shape})",
                path.display(),
                b.name
            )));
        }
        out.push((b.name.clone(), read_npy(&path)?));
    }
    Ok(out)
}

/// How an actual output compares with the expected one.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Largest `|actual - expected|` (infinite when a NaN or infinity disagrees).
    pub max_abs_err: f64,
    /// Mean of `|actual - expected|` over the elements (0 for none).
    pub mean_abs_err: f64,
    /// Largest `|expected|` over the finite expected elements.
    pub max_abs_expected: f64,
    /// Largest `|actual - expected| / (abs + rel * |expected|)`: at most 1 passes.
    pub worst_ratio: f64,
    /// Elements outside the tolerance.
    pub failures: usize,
    /// The first element outside the tolerance: (flat index, actual, expected).
    pub first_failure: Option<(usize, f32, f32)>,
    /// Set when the shapes or element types differ (nothing else is compared).
    pub mismatch: Option<String>,
}

impl Comparison {
    /// Whether every element is within the tolerance.
    pub fn passed(&self) -> bool {
        self.mismatch.is_none() && self.failures == 0
    }
}

/// Compares `actual` with `expected` element by element.
pub fn compare(actual: &Tensor, expected: &Tensor, tol: Tolerance) -> Comparison {
    let mut c = Comparison {
        max_abs_err: 0.0,
        mean_abs_err: 0.0,
        max_abs_expected: 0.0,
        worst_ratio: 0.0,
        failures: 0,
        first_failure: None,
        mismatch: None,
    };
    if actual.shape != expected.shape {
        c.mismatch = Some(format!(
            "shape {} differs from the expected {}",
            shape_text(&actual.shape),
            shape_text(&expected.shape)
        ));
        return c;
    }
    let (TensorData::F32(a), TensorData::F32(e)) = (&actual.data, &expected.data) else {
        c.mismatch = Some(format!(
            "element type {} differs from the expected {}",
            actual.data.dtype_name(),
            expected.data.dtype_name()
        ));
        return c;
    };
    for (i, (&x, &y)) in a.iter().zip(e).enumerate() {
        let (xd, yd) = (f64::from(x), f64::from(y));
        // Same NaN-ness and same infinities agree exactly; anything else is a number.
        let (err, ok) = if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
            let same = (x.is_nan() && y.is_nan()) || x == y;
            (if same { 0.0 } else { f64::INFINITY }, same)
        } else {
            let err = (xd - yd).abs();
            (err, err <= tol.abs + tol.rel * yd.abs())
        };
        let ratio = if err == 0.0 { 0.0 } else { err / (tol.abs + tol.rel * yd.abs()) };
        c.max_abs_err = c.max_abs_err.max(err);
        c.mean_abs_err += err;
        if y.is_finite() {
            c.max_abs_expected = c.max_abs_expected.max(yd.abs());
        }
        c.worst_ratio = c.worst_ratio.max(ratio);
        if !ok {
            c.failures += 1;
            c.first_failure.get_or_insert((i, x, y));
        }
    }
    if !a.is_empty() {
        c.mean_abs_err /= a.len() as f64;
    }
    c
}

/// Every case folder directly under `root` (folders with a `model.onnx`), sorted by name.
pub fn case_dirs(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = std::fs::read_dir(root).map_err(|e| Error::input(format!("cannot list '{}': {e}", root.display())))?;
    let mut out: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("model.onnx").is_file()).collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_sets_are_plain_sub_folder_names() {
        let dir = Path::new("/c");
        let sets = |json: &str| parse_case(json, dir, "c".into()).map(|c| c.sets);
        let ok = sets(r#"{"extra_sets": ["a", {"dir": "step 2"}]}"#).unwrap();
        assert_eq!(ok[1].dir, Path::new("/c/a"));
        assert_eq!(ok[2].dir, Path::new("/c/step 2"));
        // `)./.` is the `case_json` fuzz target's first finding: one component to
        // `Path::components`, but not the name of the folder it opens.
        for bad in ["..", ".", "", "../x", "/etc", "a/b", "a/", "a/.", ")./.", r"a\\b", r"a\u0000"] {
            let e = sets(&format!(r#"{{"extra_sets": ["{bad}"]}}"#)).unwrap_err();
            assert!(e.msg.contains("is not a plain sub-folder name"), "{bad:?}: {}", e.msg);
        }
    }

    #[test]
    fn tolerance_is_abs_plus_rel() {
        let tol = Tolerance { abs: 1e-5, rel: 1e-4 };
        let e = Tensor::f32(vec![3], vec![0.0, 100.0, f32::NAN]);
        let ok = compare(&Tensor::f32(vec![3], vec![9e-6, 100.0099, f32::NAN]), &e, tol);
        assert!(ok.passed(), "{ok:?}");
        let bad = compare(&Tensor::f32(vec![3], vec![2e-5, 100.0, 0.0]), &e, tol);
        assert_eq!(bad.failures, 2);
        assert_eq!(bad.first_failure, Some((0, 2e-5, 0.0)));
        assert!(bad.max_abs_err.is_infinite());
        let shape = compare(&Tensor::f32(vec![1, 3], vec![0.0; 3]), &e, tol);
        assert!(!shape.passed() && shape.mismatch.is_some());
    }
}
