//! Replaying committed fuzz inputs on stable, for the replay tests (the fuzz targets
//! themselves do not use it).
//!
//! The inputs of a target are its seed corpus, `fuzz/corpus/<target>/`, and every crash
//! ever found, `fuzz/artifacts/<target>/` (each explained in `fuzz/REGRESSIONS.md`).
//! A crash whose fix belongs to someone else's code is committed as `open-*` until it is
//! fixed: replaying it may still panic, which is reported but does not fail the test, so
//! that a known, reported bug does not block everyone's CI. When it stops panicking the
//! replay says so; rename it to `fixed-*` then, so that it guards the fix for good.

use std::path::{Path, PathBuf};
use std::sync::Once;

/// Every committed input of `target`, sorted.
pub fn inputs(fuzz_dir: &Path, target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(dir).join(target)) else { continue };
        for e in entries {
            let path = e.expect("read a corpus directory").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // Hidden files are cargo-fuzz scratch, `.md` files are notes.
            if path.is_file() && !name.starts_with('.') && !name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`, each under `catch_unwind` so that one
/// regression does not hide the others, and fails listing the inputs that panicked (open
/// ones excepted, see the module docs). Returns how many inputs there were and how many
/// of them `check` accepted (returned `true` for).
pub fn replay(fuzz_dir: &Path, target: &str, check: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    // The default hook would print every expected panic of an open input with a
    // backtrace; one line per input is enough here, and the list at the end says which.
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::env::var_os("RECUR_REPLAY_VERBOSE").is_some() {
                default(info);
            } else {
                eprintln!("panic: {info}");
            }
        }));
    });
    let files = inputs(fuzz_dir, target);
    let (mut failed, mut accepted) = (Vec::new(), 0);
    for path in &files {
        let data = std::fs::read(path).expect("read a corpus file");
        let open = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("open-"));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        match (result, open) {
            (Ok(ok), false) => accepted += usize::from(ok),
            (Err(_), false) => failed.push(path.display().to_string()),
            (Err(_), true) => eprintln!("known open crash, still panics: {}", path.display()),
            (Ok(_), true) => {
                eprintln!("open crash no longer panics: {}; rename it to fixed-*", path.display())
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs panicked (rerun with RECUR_REPLAY_VERBOSE=1 for backtraces):\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
    (files.len(), accepted)
}
