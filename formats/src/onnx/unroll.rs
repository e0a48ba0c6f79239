//! Folding of unrolled Elman RNNs back into `RNN` nodes (placeholder, filled in below).

use super::error::OnnxError;
use super::import::Importer;

pub(crate) fn fold_unrolled_rnns(_imp: &mut Importer<'_, '_>, _opset: i64) -> Result<(), OnnxError> {
    Ok(())
}
