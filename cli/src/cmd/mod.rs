//! The commands, one module each, and what they share: kernel-set selection, model
//! loading, progress bars, and the text that describes a model.

pub mod bench;
pub mod convert;
pub mod demo;
pub mod inspect;
mod probe;
pub mod run;
pub mod verify;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recur::recur_format::{
    expected_tensors, ConstInput, ConstValues, DType, Dim, FinalLayout, GraphInterface, IoBinding, IoRole, LayerDesc,
    ModelDesc, SeqLayout, StateKind, StateLayout, StateSlot, ALIGN,
};
use recur::{Isa, Model, OpenOptions};
use recur_cli::Error;
use std::path::Path;

/// `println!` that ignores a closed stdout (`recur inspect x | head`) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
pub(crate) use outln;

/// The kernel set to use: `--isa` if given, else `RECUR_ISA`, else the best. An unknown or
/// unavailable one is a usage error.
pub fn select_isa(flag: Option<&str>) -> Result<Isa, Error> {
    let r = match flag {
        Some(name) => Isa::forced(name),
        None => Isa::select(),
    };
    r.map_err(|e| {
        let from = if flag.is_some() { "--isa" } else { "RECUR_ISA" };
        Error::usage(format!("{from}: {e}"))
    })
}

/// Opens a `.recur` file (checksums verified) with the given kernel set.
pub fn open_model(path: &Path, isa: Isa) -> Result<Model, Error> {
    Model::open_with(path, &OpenOptions { verify_checksums: true, isa: Some(isa) })
        .map_err(|e| Error::input(format!("cannot open '{}': {e}", path.display())))
}

/// A progress bar on stderr: hidden when stderr is not a terminal (indicatif's stderr
/// target draws nothing then), so logs and pipes stay clean.
pub fn progress(len: u64, msg: &str, bytes: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = if bytes {
        "{msg:12} [{bar:40}] {bytes}/{total_bytes} ({eta})"
    } else {
        "{msg:12} [{bar:40}] {pos}/{len} ({eta})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_string());
    pb
}

/// `12345678` as `12,345,678`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count as `186.9 KiB`.
pub fn human_bytes(n: usize) -> String {
    let mut v = n as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 || unit == "GiB" {
            return if unit == "B" { format!("{n} B") } else { format!("{v:.1} {unit}") };
        }
        v /= 1024.0;
    }
    unreachable!()
}

/// Sizes of a file's tensors.
pub struct TensorBytes {
    /// Bytes of the tensors themselves.
    pub raw: usize,
    /// Bytes of the data section: each tensor padded to 64 bytes.
    pub aligned: usize,
    /// Number of tensors.
    pub count: usize,
}

/// The sizes of the tensors of a file of `desc`, with every layer's weights in `dtype`
/// instead of its own if given.
pub fn tensor_bytes(desc: &ModelDesc, dtype: Option<DType>) -> TensorBytes {
    let mut out = TensorBytes { raw: 0, aligned: 0, count: 0 };
    for (i, layer) in desc.layers.iter().enumerate() {
        let mut l = layer.clone();
        if let Some(d) = dtype {
            l.set_dtype(d);
        }
        for s in expected_tensors(i, &l) {
            out.raw += s.bytes();
            out.aligned += s.bytes().div_ceil(ALIGN) * ALIGN;
            out.count += 1;
        }
    }
    out
}

/// One line per layer: index, kind, sizes, direction, options, dtype, parameters.
pub fn layer_lines(desc: &ModelDesc) -> Vec<String> {
    let mut out = Vec::new();
    for (i, l) in desc.layers.iter().enumerate() {
        let line = match l {
            LayerDesc::Recurrent(r) => {
                let mut opts = Vec::new();
                let per = r.cell.activation_count();
                let defaults = r.cell.default_activations();
                for d in 0..r.direction.count() {
                    if r.activations[d][..per] != defaults[..per] {
                        let acts: Vec<String> = r.activations[d][..per].iter().map(|a| a.to_string()).collect();
                        opts.push(format!("activations[{d}]={}", acts.join("/")));
                    }
                }
                if let Some(c) = r.clip {
                    opts.push(format!("clip={c}"));
                }
                if r.input_forget {
                    opts.push("input_forget".into());
                }
                if r.peepholes {
                    opts.push("peepholes".into());
                }
                if r.linear_before_reset {
                    opts.push("linear_before_reset".into());
                }
                let dir = format!("{:?}", r.direction).to_lowercase();
                format!(
                    "{:>3}  {:<5} {:>5} -> {:<5} {:<13} {:<9} {:>10} params{}",
                    i,
                    r.cell.name(),
                    r.input_size,
                    format!("{}", r.output_size()),
                    dir,
                    r.dtype.name(),
                    thousands(l.parameter_count()),
                    if opts.is_empty() { String::new() } else { format!("  {}", opts.join(", ")) }
                )
            }
            LayerDesc::Dense(d) => format!(
                "{:>3}  {:<5} {:>5} -> {:<5} {:<13} {:<9} {:>10} params{}",
                i,
                "Dense",
                d.input_size,
                d.output_size,
                "",
                d.dtype.name(),
                thousands(l.parameter_count()),
                if d.activation.name() == "None" { String::new() } else { format!("  {}", d.activation.name()) }
            ),
        };
        out.push(line);
    }
    out
}

/// A declared shape as `[seq, batch, 40]`.
pub fn dims_text(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => v.to_string(),
            Dim::Symbolic(s) if s.is_empty() => "?".into(),
            Dim::Symbolic(s) => s.clone(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn slots_text(slots: &[StateSlot]) -> String {
    let parts: Vec<String> = slots.iter().map(|s| format!("L{}d{}", s.layer, s.dir)).collect();
    parts.join(" ")
}

/// What a binding is, in words.
pub fn role_text(role: &IoRole) -> String {
    let seq = |l: &SeqLayout| match l {
        SeqLayout::TimeBatchFeature => "[T, B, F]",
        SeqLayout::BatchTimeFeature => "[B, T, F]",
        SeqLayout::OnnxY => "[T, dirs, B, H]",
        SeqLayout::OnnxYBatchFirst => "[B, T, dirs, H]",
        SeqLayout::TimeFeature => "[T, F]",
        SeqLayout::TimeBatchFlat => "[T*B, F]",
        SeqLayout::BatchTimeFlat => "[B*T, F]",
    };
    let st = |l: &StateLayout| match l {
        StateLayout::SlotBatchHidden => "[slots, B, H]",
        StateLayout::BatchSlotHidden => "[B, slots, H]",
        StateLayout::BatchHidden => "[B, H]",
    };
    let k = |k: &StateKind| if *k == StateKind::C { "c" } else { "h" };
    match role {
        IoRole::Sequence(l) => format!("sequence {}", seq(l)),
        IoRole::SequenceLens => "sequence_lens [B]".into(),
        IoRole::InitialState { kind, slots, layout } => {
            format!("initial {} of {} {}", k(kind), slots_text(slots), st(layout))
        }
        IoRole::Output(l) => format!("output {}", seq(l)),
        IoRole::FinalState { kind, slots, layout } => {
            format!("final {} of {} {}", k(kind), slots_text(slots), st(layout))
        }
        IoRole::FinalOutput(FinalLayout::BatchFeature) => "head on the final state [B, O]".into(),
        IoRole::FinalOutput(FinalLayout::Feature) => "head on the final state [O]".into(),
    }
}

/// A constant's values, abbreviated: `[6, 7, 3]`, or `51 values in [-0.5, 0.7]`.
fn const_values_text(c: &ConstInput) -> String {
    match &c.values {
        ConstValues::Lengths(v) if v.len() <= 8 => format!("{v:?}"),
        ConstValues::Lengths(v) => format!("{} lengths", v.len()),
        ConstValues::F32(v) => {
            let (lo, hi) = v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            format!("{} values in [{lo}, {hi}]", v.len())
        }
    }
}

/// One line per graph input and output.
pub fn interface_lines(iface: &GraphInterface) -> Vec<String> {
    let line =
        |dir: &str, b: &IoBinding| format!("{dir} {:<16} {:<18} {}", b.name, dims_text(&b.dims), role_text(&b.role));
    let constant = |c: &ConstInput| {
        let dims: Vec<Dim> = c.shape.iter().map(|&v| Dim::Fixed(v)).collect();
        format!("const  {:<16} {:<18} {} = {}", c.name, dims_text(&dims), role_text(&c.role), const_values_text(c))
    };
    iface
        .inputs
        .iter()
        .map(|b| line("input ", b))
        .chain(iface.outputs.iter().map(|b| line("output", b)))
        .chain(iface.constants.iter().map(constant))
        .collect()
}

/// The kernel sets this CPU has, as `scalar, portable, avx2`.
pub fn available_isas() -> String {
    Isa::available().map(|i| i.name()).collect::<Vec<_>>().join(", ")
}
