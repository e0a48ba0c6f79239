//! `recur verify MODEL.recur CASE_DIR`: run a conformance case folder (main set and extra
//! sets) and compare every output with the expected one within the case's tolerance.

use super::{open_model, outln, select_isa};
use recur::graph::{shape_text, Graph, Tensor};
use recur::Isa;
use recur_cli::case::{compare, load_case, read_inputs};
use recur_cli::npy::read_npy;
use recur_cli::{io_file_name, Error};
use std::path::Path;

/// The command.
pub fn main(model_path: &Path, case_dir: &Path, isa: Option<&str>, all_isas: bool) -> Result<(), Error> {
    let isas: Vec<Isa> = if all_isas { Isa::available().collect() } else { vec![select_isa(isa)?] };
    let case = load_case(case_dir)?;
    let base = open_model(model_path, isas[0])?;
    outln!(
        "case {} ({} set{}; tolerance abs {:e}, rel {:e}{})",
        case.name,
        case.sets.len(),
        if case.sets.len() == 1 { "" } else { "s" },
        case.tolerance.abs,
        case.tolerance.rel,
        if case.has_case_json { "" } else { ", default: no case.json" }
    );
    outln!(
        "{:<9} {:<16} {:<14} {:<16} {:>12} {:>9}  result",
        "isa",
        "set",
        "output",
        "shape",
        "max abs err",
        "err/tol"
    );
    let (mut checks, mut failed) = (0usize, 0usize);
    for &isa in &isas {
        let model = base.with_isa(isa).map_err(|e| Error::usage(e.to_string()))?;
        let graph = Graph::new(&model).map_err(|e| Error::input(format!("'{}': {e}", model_path.display())))?;
        for set in &case.sets {
            let named = read_inputs(&graph, &set.dir)?;
            let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
            let results = graph.run(&refs).map_err(|e| Error::input(format!("set {}: {e}", set.name)))?;
            for (name, actual) in &results {
                let path = set.dir.join(io_file_name("output", name));
                if !path.exists() {
                    outln!(
                        "{:<9} {:<16} {:<14} {:<16} {:>12} {:>9}  skipped (no {})",
                        isa.name(),
                        set.name,
                        name,
                        shape_text(&actual.shape),
                        "-",
                        "-",
                        path.display()
                    );
                    continue;
                }
                let expected = read_npy(&path)?;
                let c = compare(actual, &expected, case.tolerance);
                checks += 1;
                let verdict = if let Some(m) = &c.mismatch {
                    format!("FAIL: {m}")
                } else if let Some((i, a, e)) = c.first_failure {
                    format!("FAIL: {} elements outside, first at {i}: {a} vs {e}", c.failures)
                } else {
                    "ok".into()
                };
                if !c.passed() {
                    failed += 1;
                }
                outln!(
                    "{:<9} {:<16} {:<14} {:<16} {:>12.3e} {:>9.3}  {verdict}",
                    isa.name(),
                    set.name,
                    name,
                    shape_text(&actual.shape),
                    c.max_abs_err,
                    c.worst_ratio
                );
            }
        }
    }
    if checks == 0 {
        return Err(Error::input(format!("'{}' has no expected output to compare with", case_dir.display())));
    }
    if failed > 0 {
        return Err(Error::input(format!("{failed} of {checks} output checks failed for case {}", case.name)));
    }
    outln!("all {checks} output checks passed");
    Ok(())
}
