//! The importer's error type: one enum whose variants are named after the rule the model
//! broke, grouped in three classes (see [`ErrorClass`]).

use alloc::string::String;
use core::fmt;
use std::path::PathBuf;

/// The broad kind of an import failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The bytes are not a readable ONNX protobuf (or could not be read at all).
    Parse,
    /// A readable ONNX model that violates the ONNX specification.
    InvalidModel,
    /// A valid ONNX model that uses something recur does not implement.
    Unsupported,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Parse => "parse error",
            ErrorClass::InvalidModel => "invalid model",
            ErrorClass::Unsupported => "unsupported",
        })
    }
}

/// Identifies a node in messages: `node 'lstm_0' (LSTM)`, or `node #3 (LSTM)` when the
/// node has no name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLabel {
    /// The node's name (may be empty).
    pub name: String,
    /// Its index in the graph's node list.
    pub index: usize,
    /// Its operator.
    pub op: String,
}

impl fmt::Display for NodeLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "node #{} ({})", self.index, self.op)
        } else {
            write!(f, "node '{}' ({})", self.name, self.op)
        }
    }
}

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The model file (or an external-data file) could not be read.
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes do not decode as an ONNX `ModelProto`.
    #[error("not a readable ONNX protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The file is larger than [`ImportOptions::max_file_bytes`](super::ImportOptions).
    #[error("file is {size} bytes, more than the limit of {limit} bytes")]
    FileTooLarge {
        /// File size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The model has no graph.
    #[error("the model has no graph")]
    NoGraph,
    /// The model does not import the default ONNX operator set.
    #[error("the model imports no version of the default ONNX operator set (opset_import)")]
    NoDefaultOpset,
    /// The default operator set version is outside what the importer knows.
    #[error("the model uses ONNX opset {version}; supported opsets are {min}..={max}")]
    OpsetOutOfRange {
        /// The version.
        version: i64,
        /// Oldest supported.
        min: i64,
        /// Newest supported.
        max: i64,
    },
    /// Two definitions of one value name (ONNX graphs are single-assignment).
    #[error("value '{name}' is defined twice ({first} and {second})")]
    DuplicateDefinition {
        /// The value name.
        name: String,
        /// First definition.
        first: String,
        /// Second definition.
        second: String,
    },
    /// A node reads a value that nothing defines.
    #[error("{node}: input {slot} '{name}' is not a graph input, an initializer or the output of any node")]
    UndefinedInput {
        /// The node.
        node: Box<NodeLabel>,
        /// Which input (name or index).
        slot: String,
        /// The value name.
        name: String,
    },
    /// A graph output that nothing defines.
    #[error("graph output '{name}' is not produced by any node, initializer or graph input")]
    UndefinedOutput {
        /// The output name.
        name: String,
    },
    /// The graph is not acyclic.
    #[error("{node}: the graph has a cycle through this node (input '{via}' depends on its own output)")]
    Cycle {
        /// A node on the cycle.
        node: Box<NodeLabel>,
        /// The value that closes the cycle.
        via: String,
    },
    /// A required input is absent or empty.
    #[error("{node}: required input {slot} is missing")]
    MissingInput {
        /// The node.
        node: Box<NodeLabel>,
        /// Which input.
        slot: String,
    },
    /// More inputs or outputs than the operator has.
    #[error("{node}: {what}")]
    BadArity {
        /// The node.
        node: Box<NodeLabel>,
        /// What is wrong.
        what: String,
    },
    /// An attribute the operator does not define.
    #[error("{node}: attribute '{attr}' is not an attribute of {op} (opset {opset})", op = node.op)]
    UnknownAttribute {
        /// The node.
        node: Box<NodeLabel>,
        /// The attribute.
        attr: String,
        /// Opset in use.
        opset: i64,
    },
    /// An attribute with a wrong type or value.
    #[error("{node}: attribute {attr}{value}: {why}")]
    BadAttribute {
        /// The node.
        node: Box<NodeLabel>,
        /// The attribute.
        attr: String,
        /// The offending value, formatted as `='...'` (may be empty).
        value: String,
        /// Why it is wrong.
        why: String,
    },
    /// A tensor whose declared shape, type and data disagree.
    #[error("tensor '{tensor}': {why}")]
    BadTensor {
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        why: String,
    },
    /// An input whose shape is not what the operator requires.
    #[error("{node}: input {slot} {why}")]
    ShapeMismatch {
        /// The node.
        node: Box<NodeLabel>,
        /// Which input.
        slot: String,
        /// What is wrong.
        why: String,
    },
    /// Inputs whose element types violate the operator's type constraints.
    #[error("{node}: {why}")]
    TypeMismatch {
        /// The node.
        node: Box<NodeLabel>,
        /// What is wrong.
        why: String,
    },
    /// An external-data reference that is malformed or leaves the model's folder.
    #[error("tensor '{tensor}': external data {why}")]
    BadExternalData {
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        why: String,
    },
    /// A graph input or output without a usable type.
    #[error("graph {what} '{name}': {why}")]
    BadValueInfo {
        /// "input" or "output".
        what: &'static str,
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// An element type recur does not run (float64, float16 activations, ...).
    #[error("{what} has element type {dtype}; recur runs float32 models only")]
    UnsupportedType {
        /// What has the type.
        what: String,
        /// The type's name.
        dtype: String,
    },
    /// An operator outside what the importer maps.
    #[error("{node}: {why}")]
    UnsupportedOp {
        /// The node.
        node: Box<NodeLabel>,
        /// Why.
        why: String,
    },
    /// An attribute value the engine does not implement.
    #[error("{node}: attribute {attr}{value}: {why}")]
    UnsupportedAttribute {
        /// The node.
        node: Box<NodeLabel>,
        /// The attribute.
        attr: String,
        /// The offending value, formatted as `='...'` (may be empty).
        value: String,
        /// Why.
        why: String,
    },
    /// An input that the engine cannot take in this form.
    #[error("{node}: input {slot} {why}")]
    UnsupportedInput {
        /// The node.
        node: Box<NodeLabel>,
        /// Which input.
        slot: String,
        /// Why.
        why: String,
    },
    /// A graph input or output that cannot be mapped onto the engine's interface.
    #[error("graph {what} '{name}': {why}")]
    UnsupportedInterface {
        /// "input" or "output".
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        why: String,
    },
    /// A model-level feature recur does not support (no recurrent layer, sparse
    /// initializers, ...).
    #[error("{0}")]
    UnsupportedModel(String),
    /// A size above one of the importer's limits.
    #[error("{what} is {value}, more than the limit of {limit}")]
    LimitExceeded {
        /// The quantity.
        what: String,
        /// Its value.
        value: u128,
        /// The limit.
        limit: u128,
    },
    /// The recognised model does not form a valid description (a size above the engine's
    /// limits, ...).
    #[error("the recognised model is not valid: {0}")]
    Desc(#[from] crate::layout::PackError),
}

impl OnnxError {
    /// The broad class of the error.
    pub fn class(&self) -> ErrorClass {
        use crate::desc::DescError;
        use OnnxError::*;
        match self {
            Io { .. } | Protobuf(_) => ErrorClass::Parse,
            NoGraph
            | NoDefaultOpset
            | DuplicateDefinition { .. }
            | UndefinedInput { .. }
            | UndefinedOutput { .. }
            | Cycle { .. }
            | MissingInput { .. }
            | BadArity { .. }
            | UnknownAttribute { .. }
            | BadAttribute { .. }
            | BadTensor { .. }
            | ShapeMismatch { .. }
            | TypeMismatch { .. }
            | BadExternalData { .. }
            | BadValueInfo { .. } => ErrorClass::InvalidModel,
            FileTooLarge { .. }
            | OpsetOutOfRange { .. }
            | UnsupportedType { .. }
            | UnsupportedOp { .. }
            | UnsupportedAttribute { .. }
            | UnsupportedInput { .. }
            | UnsupportedInterface { .. }
            | UnsupportedModel(_)
            | LimitExceeded { .. } => ErrorClass::Unsupported,
            Desc(e) => match e {
                crate::layout::PackError::Desc(
                    DescError::TooManyLayers(_) | DescError::BadSize { .. } | DescError::TooLarge { .. },
                ) => ErrorClass::Unsupported,
                _ => ErrorClass::InvalidModel,
            },
        }
    }
}
