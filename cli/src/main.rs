//! `recur`: convert ONNX recurrent models, inspect, run, verify and benchmark them.
//!
//! Every command prints its results on stdout and, when it fails, one line on stderr
//! (`recur: error: ...`) with exit status 1 for bad input (an unreadable or invalid file,
//! a tensor of the wrong shape, a failed check) or 2 for bad usage (an unknown option, an
//! unknown or unavailable kernel set). A panic would be a bug: it is caught, reported on
//! one line as an internal error, and exits with status 3, never with a signal.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod cmd;

use clap::{Parser, Subcommand, ValueEnum};
use recur::recur_format::DType;
use recur_cli::Error;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Hand-optimized SIMD inference for recurrent networks (RNN, LSTM, GRU).
#[derive(Parser, Debug)]
#[command(name = "recur", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Weight types of `recur convert --dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// IEEE binary32 (no rounding).
    F32,
    /// IEEE binary16, rounded to nearest even (half the bytes).
    F16,
    /// bfloat16, rounded to nearest even (half the bytes).
    Bf16,
    /// Symmetric int8, one scale per output row (about a quarter of the bytes); see --int8-mode.
    Int8,
}

/// How int8 layers compute (`recur convert --int8-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Int8Mode {
    /// int8 weights, f32 activations.
    W8,
    /// int8 weights and activations (quantized per step), exact integer dot products.
    W8a8,
}

/// What `recur bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// One frame per call (`step`), the streaming path.
    Step,
    /// A whole sequence per call (`run`); the figures are per frame.
    Run,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Convert an ONNX model (or an f32 .recur file) to a .recur file, in f32 or reduced
    /// precision, and print what was mapped.
    Convert {
        /// The ONNX model (external data is read from its folder), or a .recur file whose
        /// f32 layers are to be stored in other dtypes.
        input: PathBuf,
        /// The .recur file to write (replaced atomically).
        output: PathBuf,
        /// Store every layer's weights (W and R) in this type; biases stay f32. Default: as
        /// the input has them (f32 for ONNX).
        #[arg(long, value_enum, value_name = "DTYPE")]
        dtype: Option<DtypeArg>,
        /// How int8 layers compute: w8 (int8 weights, f32 activations) or w8a8 (int8
        /// weights and int8 activations, integer dot products). The file stores the same
        /// weights either way.
        #[arg(long, value_enum, value_name = "MODE", default_value_t = Int8Mode::W8)]
        int8_mode: Int8Mode,
        /// One layer's dtype, overriding --dtype: INDEX=f32|f16|bf16|int8|w8|w8a8 (int8 in
        /// --int8-mode). Repeatable.
        #[arg(long = "layer-dtype", value_name = "INDEX=DTYPE", value_parser = recur_cli::dtype::parse_layer_dtype)]
        layer_dtype: Vec<(usize, String)>,
        /// After writing, run the source and the converted model on the same input and print
        /// each output's max and mean absolute error against the source.
        #[arg(long)]
        report: bool,
        /// The report's input: a folder of input_<name>.npy, one per graph input (default:
        /// 200 seeded random frames in [-1, 1]). Implies --report.
        #[arg(long, value_name = "DIR")]
        report_inputs: Option<PathBuf>,
    },
    /// Describe a .recur file: layers, sizes, parameters, checksums, graph inputs and outputs.
    Inspect {
        /// The .recur file.
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a model on input_<name>.npy files and write output_<name>.npy files.
    Run {
        /// The .recur file.
        model: PathBuf,
        /// Folder holding input_<name>.npy for every graph input.
        #[arg(long, value_name = "DIR")]
        inputs: PathBuf,
        /// Folder to write output_<name>.npy to (created if missing).
        #[arg(long, value_name = "DIR")]
        outputs: PathBuf,
        /// Kernel set (scalar, portable, avx2, avx512, neon); default: RECUR_ISA, else the best.
        #[arg(long, value_name = "ISA")]
        isa: Option<String>,
    },
    /// Run a conformance case folder (and its extra sets) and compare with its expected outputs.
    Verify {
        /// The .recur file converted from the case's model.onnx.
        model: PathBuf,
        /// The case folder (case.json, input_*.npy, output_*.npy, extra set sub-folders).
        case_dir: PathBuf,
        /// Kernel set; default: RECUR_ISA, else the best.
        #[arg(long, value_name = "ISA", conflicts_with = "all_isas")]
        isa: Option<String>,
        /// Check with every kernel set this CPU has.
        #[arg(long)]
        all_isas: bool,
    },
    /// Convert and stream the bundled keyword-spotter model; check it and time every kernel set.
    Demo,
    /// Measure step (or run) speed per kernel set against this machine's bound.
    Bench {
        /// The .recur file.
        model: PathBuf,
        /// Measure `step` (one frame per call) or `run` (a sequence per call).
        #[arg(long, value_enum, default_value_t = BenchMode::Step)]
        mode: BenchMode,
        /// Frames per `run` call (mode run).
        #[arg(long, value_name = "T", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        steps: u32,
        /// Threads (stepping many streams spreads them over this many threads).
        #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
        threads: u32,
        /// Independent streams advanced together per measured step (mode step).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        streams: u32,
        /// Print one JSON object per measurement (one line each) instead of a table.
        #[arg(long)]
        json: bool,
        /// Measure this kernel set only; default: every kernel set this CPU has.
        #[arg(long, value_name = "ISA")]
        isa: Option<String>,
        /// Measurements per kernel set (each a batch of calls of a few milliseconds).
        #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(3..=10_000))]
        repeats: u32,
    },
}

fn dispatch(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Convert { input, output, dtype, int8_mode, layer_dtype, report, report_inputs } => {
            let int8 = match int8_mode {
                Int8Mode::W8 => DType::I8,
                Int8Mode::W8a8 => DType::I8A8,
            };
            let dtype = dtype.map(|d| match d {
                DtypeArg::F32 => DType::F32,
                DtypeArg::F16 => DType::F16,
                DtypeArg::Bf16 => DType::BF16,
                DtypeArg::Int8 => int8,
            });
            let layer_dtypes = layer_dtype
                .iter()
                .map(|(i, name)| {
                    recur_cli::dtype::parse_dtype(name, int8)
                        .map(|d| (*i, d))
                        .ok_or_else(|| Error::usage(format!("--layer-dtype: unknown dtype '{name}'")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let opts = cmd::convert::Options { dtype, layer_dtypes, report, report_inputs };
            cmd::convert::main(&input, &output, &opts)
        }
        Command::Inspect { file, json } => cmd::inspect::main(&file, json),
        Command::Run { model, inputs, outputs, isa } => cmd::run::main(&model, &inputs, &outputs, isa.as_deref()),
        Command::Verify { model, case_dir, isa, all_isas } => {
            cmd::verify::main(&model, &case_dir, isa.as_deref(), all_isas)
        }
        Command::Demo => cmd::demo::main(),
        Command::Bench { model, mode, steps, threads, streams, json, isa, repeats } => cmd::bench::main(
            &model,
            &cmd::bench::Options {
                mode,
                steps: steps as usize,
                threads: threads as usize,
                streams: streams as usize,
                json,
                isa,
                repeats: repeats as usize,
            },
        ),
    }
}

/// Prints `recur: error: ...` on one line.
fn report(prefix: &str, msg: &str) {
    let one_line: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Ignore a closed stderr: there is nowhere left to report to.
    let _ = writeln!(std::io::stderr(), "recur: {prefix}: {}", one_line.join("; "));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            return match e.kind() {
                K::DisplayHelp | K::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                K::DisplayHelpOnMissingArgumentOrSubcommand => {
                    report("error", "no command given (see 'recur --help'; start with 'recur demo')");
                    ExitCode::from(2)
                }
                _ => {
                    // clap's message spans lines (the reason, the missing arguments, a tip,
                    // the usage); keep the reason and what it lists, on one line.
                    let text = e.to_string();
                    let body = text.split("\n\nUsage:").next().unwrap_or_default();
                    let parts: Vec<&str> =
                        body.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("tip:")).collect();
                    let joined = parts.join(" ");
                    let reason = joined.strip_prefix("error: ").unwrap_or(&joined);
                    report("error", &format!("{reason} (see 'recur --help')"));
                    ExitCode::from(2)
                }
            };
        }
    };
    // A panic is a bug; report it on one line instead of the default multi-line message,
    // and exit with a status of our own rather than abort.
    std::panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic".to_string()
        };
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        report("internal error (please report)", &format!("{msg}{at}"));
    }));
    match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            report("error", &e.to_string());
            ExitCode::from(e.exit_code())
        }
        Err(_) => ExitCode::from(3),
    }
}
