//! `recur run MODEL.recur --inputs DIR --outputs DIR`: the ONNX graph's tensors in and out,
//! as `.npy` files named after the graph's inputs and outputs.

use super::{open_model, outln, select_isa};
use recur::graph::{shape_text, Graph};
use recur_cli::case::read_inputs;
use recur_cli::npy::write_npy;
use recur_cli::{io_file_name, Error};
use std::path::Path;

/// The command.
pub fn main(model_path: &Path, inputs: &Path, outputs: &Path, isa: Option<&str>) -> Result<(), Error> {
    let isa = select_isa(isa)?;
    let model = open_model(model_path, isa)?;
    let graph = Graph::new(&model).map_err(|e| Error::input(format!("'{}': {e}", model_path.display())))?;
    if !inputs.is_dir() {
        return Err(Error::input(format!("--inputs '{}' is not a folder", inputs.display())));
    }
    let named = read_inputs(&graph, inputs)?;
    let refs: Vec<(&str, &recur::graph::Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let results = graph.run(&refs).map_err(|e| Error::input(e.to_string()))?;
    std::fs::create_dir_all(outputs)
        .map_err(|e| Error::input(format!("cannot create '{}': {e}", outputs.display())))?;
    outln!("kernel set: {}", model.isa().name());
    for (name, t) in &results {
        let path = outputs.join(io_file_name("output", name));
        write_npy(&path, t)?;
        outln!("wrote {} {} float32", path.display(), shape_text(&t.shape));
    }
    Ok(())
}
