//! `recur convert IN.onnx OUT.recur`: import, summarize, write.

use super::{human_bytes, interface_lines, layer_lines, outln, progress, thousands};
use recur::recur_format::onnx::{import_bytes, ImportOptions, Imported};
use recur::recur_format::write_file;
use recur_cli::Error;
use std::io::Read;
use std::path::Path;

/// Files above this size get a progress bar (reading dominates; below it the whole
/// conversion takes a blink).
const PROGRESS_ABOVE: u64 = 4 << 20;

/// Reads the file, with a byte progress bar for large ones.
fn read_model(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::input(format!("cannot read '{}': {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(Error::input(format!("'{}' is a folder, not an ONNX file", path.display())));
    }
    let size = meta.len();
    if size > limit {
        return Err(Error::input(format!("'{}' is {size} bytes, more than the limit of {limit}", path.display())));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take` guards against a file that grows while it is read.
    let mut reader = file.take(limit.saturating_add(1));
    if size > PROGRESS_ABOVE {
        let pb = progress(size, "reading", true);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
            pb.inc(n as u64);
        }
        pb.finish_and_clear();
    } else {
        reader.read_to_end(&mut bytes).map_err(io)?;
    }
    if bytes.len() as u64 > limit {
        return Err(Error::input(format!("'{}' grew past the limit of {limit} bytes while read", path.display())));
    }
    Ok(bytes)
}

/// Imports an ONNX file; the error names the file and the class of the failure.
pub fn import(path: &Path) -> Result<Imported, Error> {
    let opts = ImportOptions::default();
    let bytes = read_model(path, opts.max_file_bytes)?;
    let big = bytes.len() as u64 > PROGRESS_ABOVE;
    let spinner = big.then(|| {
        let pb = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        pb.set_message("importing");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    // External data is read from the model's folder, as `import_file` does.
    let base = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    let r = import_bytes(&bytes, base, &opts);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    r.map_err(|e| Error::input(format!("cannot convert '{}': {}: {e}", path.display(), e.class())))
}

/// The command.
pub fn main(input: &Path, output: &Path) -> Result<(), Error> {
    let imported = import(input)?;
    let desc = &imported.model.desc;
    outln!("{} -> {}", input.display(), output.display());
    outln!("importer:");
    for line in &imported.report {
        outln!("  {line}");
    }
    outln!("layers:");
    for line in layer_lines(desc) {
        outln!("  {line}");
    }
    let weight_bytes: usize = imported.model.tensors.iter().map(|t| t.bytes.len()).sum();
    outln!(
        "parameters: {} ({} of packed weights, padding included)",
        thousands(desc.parameter_count()),
        human_bytes(weight_bytes)
    );
    outln!("graph:");
    for line in interface_lines(&imported.interface) {
        outln!("  {line}");
    }
    // `write_file` writes a temporary sibling and renames it over the target.
    let big = weight_bytes as u64 > PROGRESS_ABOVE;
    let spinner = big.then(|| {
        let pb = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        pb.set_message("writing");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let r = write_file(output, &imported.model, &imported.interface);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    r.map_err(|e| Error::input(format!("cannot write '{}': {e}", output.display())))?;
    let size = std::fs::metadata(output).map(|m| m.len() as usize).unwrap_or(0);
    outln!("wrote {} ({} bytes)", output.display(), thousands(size));
    Ok(())
}
