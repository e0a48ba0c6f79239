//! `recur convert IN OUT.recur [--dtype ..] [--report]`: import an ONNX model (or read an
//! f32 `.recur` file), store its weights in the chosen dtypes, summarize, write, and
//! optionally measure what the conversion costs in accuracy.

use super::{
    human_bytes, interface_lines, layer_lines, open_model, outln, progress, select_isa, tensor_bytes, thousands,
};
use recur::graph::{shape_text, Graph, Tensor};
use recur::recur_format::file::MAGIC;
use recur::recur_format::onnx::{import_bytes, ImportOptions, Imported};
use recur::recur_format::{parse, write_bytes, write_file, DType, GraphInterface, PackedModel, ParseOptions};
use recur::{Model, OpenOptions};
use recur_cli::case::{compare, read_inputs, Tolerance};
use recur_cli::dtype::{random_values, target_dtypes};
use recur_cli::Error;
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// What `recur convert` does besides importing and writing.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Every layer's dtype (`None`: as the input has it).
    pub dtype: Option<DType>,
    /// Per-layer overrides, applied after `dtype`.
    pub layer_dtypes: Vec<(usize, DType)>,
    /// Run the source and the converted model and print the error of each output.
    pub report: bool,
    /// The report's inputs: a folder of `input_<name>.npy` (else random frames).
    pub report_inputs: Option<PathBuf>,
}

/// Frames of the random report input.
const REPORT_FRAMES: usize = 200;
/// Seed of the random report input.
const REPORT_SEED: u64 = 7;

/// The model to convert: imported from ONNX, or read from a `.recur` file (recognised by
/// its magic bytes, whatever its name).
fn load_source(input: &Path) -> Result<(PackedModel, GraphInterface, Vec<String>), Error> {
    let mut head = [0u8; 8];
    let is_recur = std::fs::File::open(input).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == MAGIC;
    if !is_recur {
        let imported = import(input)?;
        return Ok((imported.model, imported.interface, imported.report));
    }
    let bytes = read_model(input, u64::MAX)?;
    let file = parse(&bytes, ParseOptions { verify_checksums: true })
        .map_err(|e| Error::input(format!("'{}' is not a valid .recur file: {e}", input.display())))?;
    let dtypes: Vec<&str> = file.desc().layers.iter().map(|l| l.dtype().name()).collect();
    let report = vec![format!("read a .recur file (format version {}, dtypes {})", file.version(), dtypes.join(", "))];
    Ok((file.to_packed_model(), file.interface().clone(), report))
}

/// The size of a file of `model` whose weights were all f32, given the real file's size:
/// the tensor data differs, and the tables by one 64-byte record per scale tensor (a
/// multiple of 64, so the data's start moves by exactly that).
fn f32_file_size(model: &PackedModel, file_size: usize) -> usize {
    let (own, f32) = (tensor_bytes(&model.desc, None), tensor_bytes(&model.desc, Some(DType::F32)));
    file_size - own.aligned - (own.count - f32.count) * recur::recur_format::file::records::TENSOR + f32.aligned
}

/// The command.
pub fn main(input: &Path, output: &Path, opts: &Options) -> Result<(), Error> {
    let (source, interface, report) = load_source(input)?;
    let source_dtypes: Vec<DType> = source.desc.layers.iter().map(|l| l.dtype()).collect();
    let dtypes = target_dtypes(&source_dtypes, opts.dtype, &opts.layer_dtypes).map_err(Error::usage)?;
    let model = if dtypes == source_dtypes {
        source.clone()
    } else {
        source.to_dtypes(&dtypes).map_err(|e| Error::input(format!("cannot convert '{}': {e}", input.display())))?
    };
    let desc = &model.desc;
    outln!("{} -> {}", input.display(), output.display());
    outln!("importer:");
    for line in &report {
        outln!("  {line}");
    }
    outln!("layers:");
    for line in layer_lines(desc) {
        outln!("  {line}");
    }
    let weight_bytes: usize = model.tensors.iter().map(|t| t.bytes.len()).sum();
    outln!(
        "parameters: {} ({} of packed weights, padding included)",
        thousands(desc.parameter_count()),
        human_bytes(weight_bytes)
    );
    outln!("graph:");
    for line in interface_lines(&interface) {
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
    let r = write_file(output, &model, &interface);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    r.map_err(|e| Error::input(format!("cannot write '{}': {e}", output.display())))?;
    let size = std::fs::metadata(output).map(|m| m.len() as usize).unwrap_or(0);
    let names: Vec<&str> = dtypes.iter().map(|d| d.name()).collect();
    if dtypes.iter().all(|&d| d == DType::F32) {
        outln!("wrote {} ({} bytes, f32)", output.display(), thousands(size));
    } else {
        let f32_size = f32_file_size(&model, size);
        outln!(
            "wrote {} ({} bytes, dtypes {}; {} bytes in f32, {:.2}x)",
            output.display(),
            thousands(size),
            names.join(", "),
            thousands(f32_size),
            size as f64 / f32_size as f64
        );
    }
    if opts.report || opts.report_inputs.is_some() {
        accuracy_report(&source, &interface, output, opts.report_inputs.as_deref())?;
    }
    Ok(())
}

/// Runs the source model (in memory) and the written file with the same inputs and prints
/// each output's max and mean absolute error against the source.
fn accuracy_report(
    source: &PackedModel,
    interface: &GraphInterface,
    written: &Path,
    inputs: Option<&Path>,
) -> Result<(), Error> {
    let isa = select_isa(None)?;
    let bytes = write_bytes(source, interface).map_err(|e| Error::input(format!("report: {e}")))?;
    let reference = Model::from_bytes_with(&bytes, &OpenOptions { verify_checksums: false, isa: Some(isa) })
        .map_err(|e| Error::input(format!("report: cannot run the source model: {e}")))?;
    let converted = open_model(written, isa).map_err(|e| Error::input(format!("report: {e}")))?;
    let names = |m: &PackedModel| m.desc.layers.iter().map(|l| l.dtype().name()).collect::<Vec<_>>().join(", ");
    let conv_names = converted.desc().layers.iter().map(|l| l.dtype().name()).collect::<Vec<_>>().join(", ");
    let (what, pairs) = match inputs {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::input(format!("--report-inputs '{}' is not a folder", dir.display())));
            }
            let run = |m: &Model| -> Result<Vec<(String, Tensor)>, Error> {
                let graph = Graph::new(m).map_err(|e| Error::input(format!("report: {e}")))?;
                let named = read_inputs(&graph, dir)?;
                let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
                graph.run(&refs).map_err(|e| Error::input(format!("report: {e}")))
            };
            let want = run(&reference)?;
            let got = run(&converted)?;
            (format!("the inputs in {}", dir.display()), want.into_iter().zip(got).collect::<Vec<_>>())
        }
        None => {
            let xs = random_values(REPORT_FRAMES * reference.input_size(), REPORT_SEED);
            let run = |m: &Model| -> Result<Tensor, Error> {
                let mut ys = vec![0.0f32; REPORT_FRAMES * m.output_size()];
                m.run(&mut m.new_state(), &xs, &mut ys).map_err(|e| Error::input(format!("report: {e}")))?;
                Ok(Tensor::f32(vec![REPORT_FRAMES, m.output_size()], ys))
            };
            let want = run(&reference)?;
            let got = run(&converted)?;
            let name = "output (every frame)".to_string();
            (
                format!("{REPORT_FRAMES} random frames in [-1, 1] (seed {REPORT_SEED}) through run"),
                vec![((name.clone(), want), (name, got))],
            )
        }
    };
    outln!(
        "report: {} ({conv_names}) against the source ({}), kernel set {}",
        written.display(),
        names(source),
        isa.name()
    );
    outln!("  input: {what}");
    outln!("  {:<24} {:<14} {:>12} {:>12} {:>12}", "output", "shape", "max abs err", "mean abs err", "max |source|");
    for ((name, want), (_, got)) in &pairs {
        let c = compare(got, want, Tolerance::default());
        if let Some(m) = &c.mismatch {
            return Err(Error::input(format!("report: output '{name}': {m}")));
        }
        outln!(
            "  {:<24} {:<14} {:>12.3e} {:>12.3e} {:>12.3e}",
            name,
            shape_text(&want.shape),
            c.max_abs_err,
            c.mean_abs_err,
            c.max_abs_expected
        );
    }
    Ok(())
}
