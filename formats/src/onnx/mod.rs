//! ONNX import (cargo feature `onnx`): turns an exported recurrent model into a
//! [`PackedModel`] and a [`GraphInterface`].
//!
//! ```no_run
//! use recur_format::onnx::{import_file, ImportOptions};
//! let imported = import_file("model.onnx".as_ref(), &ImportOptions::default())?;
//! for line in &imported.report {
//!     println!("{line}");
//! }
//! println!("{} layers", imported.model.desc.layers.len());
//! # Ok::<(), recur_format::onnx::OnnxError>(())
//! ```
//!
//! # What is recognised
//!
//! The importer does not pattern-match node names. It walks the graph in dataflow order,
//! folds every constant computation, and tracks what each run-time tensor *is* (which axis
//! of the model input, which layer's output, which state) through the glue operators. A
//! model is accepted when its run-time dataflow is a chain of layers:
//!
//! * `RNN`, `LSTM` and `GRU` nodes (opsets 7 to 22) with every attribute (`activations`,
//!   `activation_alpha`/`activation_beta` consumed as onnxruntime does, `clip`,
//!   `direction`, `hidden_size`, `input_forget`, `layout`, `linear_before_reset`) and every
//!   optional input and output (`B`, `sequence_lens`, `initial_h`, `initial_c`, `P`; any
//!   subset of `Y`, `Y_h`, `Y_c`);
//! * dense layers: `MatMul` with a constant matrix, `Gemm` (`alpha`, `beta`, `transA`,
//!   `transB`), followed by an optional bias (`Add`/`Sub` of a constant that varies along
//!   the features only) and activation (`Relu`, `Tanh`, `Sigmoid`, `Softmax`,
//!   `LogSoftmax` over the feature axis); a bias or activation with no dense layer to fold
//!   into gets an exact identity dense layer;
//! * a *head on the final state*: dense layers (and their bias and activation) applied
//!   to the final hidden state of the last recurrent layer rather than to every frame —
//!   PyTorch `fc(h_n[-1])`, `fc(torch.cat([h_n[-2], h_n[-1]], 1))`, `fc(h_n.transpose(0,
//!   1).reshape(B, -1))`, and `fc(out[:, -1])` when the last recurrent layer runs forward
//!   without sequence lengths (that frame is the final state). Whatever directions the
//!   graph reads, in whatever order, the head's first weights are laid out over the last
//!   recurrent layer's whole output (zero weights for a direction it does not read). The
//!   interface marks such outputs [`IoRole::FinalOutput`](crate::IoRole::FinalOutput);
//! * glue on run-time tensors: `Transpose`, `Reshape`, `Flatten`, `Squeeze`,
//!   `Unsqueeze` (attribute and input forms), `Identity`, inference `Dropout`, `Cast` to the
//!   same type, `Slice`/`Gather`/`Split` of state rows and state slots, `Concat` of final
//!   states (along their slot axis, or along their hidden axis for a head), and time and
//!   batch flattened into one axis for an output (`[T*B, F]`, `[B*T, F]`);
//! * constant subgraphs of any depth over `Constant`, `Shape`, `Size`, `Gather`,
//!   `Unsqueeze`, `Squeeze`, `Concat`, `Slice`, `Split`, `Reshape`, `Transpose`,
//!   `Expand`, `ConstantOfShape`, `Cast`, `Range`, `Where`, element-wise arithmetic and
//!   comparisons — including shapes that depend on the run-time batch size, so that
//!   zero initial states built by `Expand` are recognised as the engine's zero state;
//! * the dynamo exporter's unrolled `nn.RNN` (one `MatMul`/`Add`/activation per time step),
//!   folded back into one RNN layer.
//!
//! Initial states may be graph inputs (the stateful streaming export) or constants: zero
//! constants are the engine's zero state, other constants of fixed shape are recorded in
//! the interface ([`GraphInterface::constants`]), as is a constant `sequence_lens`. Final
//! states may be graph outputs. The [`GraphInterface`] records, for every graph input and
//! output in graph order, which engine quantity it is and how its axes are arranged.
//!
//! Anything else — an attribute the engine does not implement, an operator on the run-time
//! path that is not listed above, weights computed at run time — is refused with an
//! [`OnnxError`] naming the node, its operator, the attribute or input, and why.
//!
//! # Limits
//!
//! The file size is capped ([`ImportOptions::max_file_bytes`], 4 GiB by default) before it
//! is read; external data is read only from regular files inside the model's folder (no
//! absolute paths, no `..`, no symlinks that lead out) and within
//! [`ImportOptions::max_external_bytes`]; every tensor's element count is checked against
//! its data before anything is allocated for it.

mod error;
mod fold;
mod graph;
mod import;
pub mod proto;
mod tensor;
mod unroll;
mod value;

pub use error::{ErrorClass, NodeLabel, OnnxError};

use crate::interface::GraphInterface;
use crate::layout::PackedModel;
use alloc::string::String;
use alloc::vec::Vec;
use prost::Message;
use std::io::Read;
use std::path::Path;

/// Options of the importer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Largest model file accepted, in bytes (default 4 GiB).
    pub max_file_bytes: u64,
    /// Largest total of external data read, in bytes (default 4 GiB).
    pub max_external_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { max_file_bytes: 4 << 30, max_external_bytes: 4 << 30 }
    }
}

/// A successfully imported model.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The packed model (description and weights).
    pub model: PackedModel,
    /// What each graph input and output is.
    pub interface: GraphInterface,
    /// Human-readable lines saying what was mapped and how.
    pub report: Vec<String>,
}

/// Imports an ONNX file; external data is read from the file's folder.
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Imported, OnnxError> {
    let io = |source| OnnxError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > opts.max_file_bytes {
        return Err(OnnxError::FileTooLarge { size, limit: opts.max_file_bytes });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take` guards against a file that grows while it is read.
    file.take(opts.max_file_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > opts.max_file_bytes {
        return Err(OnnxError::FileTooLarge { size: bytes.len() as u64, limit: opts.max_file_bytes });
    }
    let base = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
    import_bytes(&bytes, base, opts)
}

/// Imports an ONNX model from bytes. `base_dir` is the folder external data is read from;
/// without it, a model with external data is refused.
pub fn import_bytes(bytes: &[u8], base_dir: Option<&Path>, opts: &ImportOptions) -> Result<Imported, OnnxError> {
    if bytes.len() as u64 > opts.max_file_bytes {
        return Err(OnnxError::FileTooLarge { size: bytes.len() as u64, limit: opts.max_file_bytes });
    }
    let model = proto::ModelProto::decode(bytes)?;
    import_model(&model, base_dir, opts)
}

/// Imports an already decoded model.
pub fn import_model(
    model: &proto::ModelProto,
    base_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Imported, OnnxError> {
    let graph = model.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let mut opset = None;
    for o in &model.opset_import {
        if o.domain.is_empty() || o.domain == "ai.onnx" {
            if let Some(prev) = opset.replace(o.version) {
                return Err(OnnxError::DuplicateDefinition {
                    name: "the default domain in opset_import".into(),
                    first: alloc::format!("version {prev}"),
                    second: alloc::format!("version {}", o.version),
                });
            }
        }
    }
    let opset = opset.ok_or(OnnxError::NoDefaultOpset)?;
    if !(import::MIN_OPSET..=import::MAX_OPSET).contains(&opset) {
        return Err(OnnxError::OpsetOutOfRange { version: opset, min: import::MIN_OPSET, max: import::MAX_OPSET });
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(OnnxError::UnsupportedModel("the graph has sparse initializers, which recur does not read".into()));
    }
    let g = graph::Graph::build(graph)?;
    // A cycle anywhere makes the model invalid, even off the path to the outputs.
    g.topo_order()?;
    let ext = tensor::ExternalData { base: base_dir.map(Path::to_path_buf), budget: opts.max_external_bytes };
    let mut imp = import::Importer::new(g, opset, ext);
    imp.functions = model.functions.iter().map(|f| (f.domain.clone(), f.name.clone())).collect();
    imp.report.push(alloc::format!(
        "ONNX IR {} from '{}' {}, opset {opset}: {} nodes, {} initializers, {} inputs, {} outputs",
        model.ir_version,
        model.producer_name,
        model.producer_version,
        graph.node.len(),
        graph.initializer.len(),
        graph.input.len(),
        graph.output.len()
    ));
    unroll::fold_unrolled_rnns(&mut imp, opset)?;
    let r = imp.run()?;
    Ok(Imported { model: r.model, interface: r.interface, report: r.report })
}
