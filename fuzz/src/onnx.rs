//! The importer half of the `onnx_import` target.
//!
//! The input is imported with no base folder, so a model that refers to external data is
//! refused and the target never opens a file. A model the importer accepts is what
//! `recur convert` would write: it must be accepted by the writer and read back unchanged.

use recur_format::file::{self, ParseOptions};
use recur_format::onnx::{import_bytes, ImportOptions};
use recur_format::ModelDesc;

/// An imported model, written as `.recur`.
pub struct Written {
    /// The `.recur` bytes.
    pub bytes: Vec<u8>,
    /// The imported description (equal to what the bytes hold).
    pub desc: ModelDesc,
}

/// Imports `data`; when it imports, writes and re-reads the result and returns it.
///
/// Panics when the importer hands out something the rest of the pipeline refuses;
/// returns `None` when the importer rejects the input.
pub fn import(data: &[u8]) -> Option<Written> {
    let imported = import_bytes(data, None, &ImportOptions::default()).ok()?;
    let model = &imported.model;
    assert!(model.desc.validate().is_ok(), "imported an invalid description: {:?}", model.desc.validate());
    let bytes = file::write_bytes(model, &imported.interface)
        .unwrap_or_else(|e| panic!("the writer refuses an imported model: {e}"));
    let parsed = file::parse(&bytes, ParseOptions::default())
        .unwrap_or_else(|e| panic!("the reader refuses a written imported model: {e}"));
    assert!(super::file::same_desc(parsed.desc(), &model.desc), "the description changed through the file");
    assert_eq!(parsed.interface(), &imported.interface, "the interface changed through the file");
    assert!(
        parsed.tensors().iter().zip(&model.tensors).all(|(t, m)| parsed.tensor_data(t) == &m.bytes[..]),
        "tensor bytes changed through the file"
    );
    Some(Written { bytes, desc: model.desc.clone() })
}
