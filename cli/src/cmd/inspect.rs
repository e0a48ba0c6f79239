//! `recur inspect FILE.recur [--json]`: what a file holds, whether it is intact, and how it
//! would run here.

use super::{
    available_isas, dims_text, human_bytes, interface_lines, layer_lines, outln, role_text, tensor_bytes, thousands,
};
use recur::recur_format::{parse, DType, IoBinding, LayerDesc, PackedLayout, ParseOptions};
use recur::{Isa, Model, OpenOptions};
use recur_cli::Error;
use serde_json::{json, Value};
use std::path::Path;

fn binding_json(b: &IoBinding) -> Value {
    json!({ "name": b.name, "declared_shape": dims_text(&b.dims), "role": role_text(&b.role) })
}

/// The command.
pub fn main(path: &Path, as_json: bool) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::input(format!("cannot read '{}': {e}", path.display())))?;
    // Checksums are verified: inspecting is how one finds out whether a file is intact.
    let file = parse(&bytes, ParseOptions { verify_checksums: true })
        .map_err(|e| Error::input(format!("'{}' is not a valid .recur file: {e}", path.display())))?;
    let desc = file.desc();
    let weight_bytes: usize = file.tensors().iter().map(|t| t.len).sum();
    // What the same model takes in f32, for comparison.
    let f32_weight_bytes = tensor_bytes(desc, Some(DType::F32)).raw;
    let layout_name = |l: PackedLayout| match l {
        PackedLayout::Panel16 => "Panel16",
        PackedLayout::Panel16K4 => "Panel16K4",
        PackedLayout::Vector => "Vector",
    };
    let (isa_here, isa_note) = match Isa::select() {
        Ok(i) => (
            Some(i),
            match std::env::var("RECUR_ISA") {
                Ok(v) if !v.trim().is_empty() => format!("forced by RECUR_ISA={v}"),
                _ => "the best this CPU has".to_string(),
            },
        ),
        Err(e) => (None, format!("RECUR_ISA: {e}")),
    };
    // Whether this engine build runs it (a file may be valid yet use a dtype this build
    // lacks); checksums were verified above.
    let engine = Model::from_bytes_with(&bytes, &OpenOptions { verify_checksums: false, isa: Some(Isa::best()) })
        .map(|_| ())
        .map_err(|e| e.to_string());

    if as_json {
        let layers: Vec<Value> = desc
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                LayerDesc::Recurrent(r) => json!({
                    "index": i, "kind": r.cell.name(), "input_size": r.input_size, "hidden_size": r.hidden_size,
                    "output_size": r.output_size(), "direction": format!("{:?}", r.direction).to_lowercase(),
                    "dtype": r.dtype.name(), "parameters": l.parameter_count(),
                    "activations": r.activations[..r.direction.count()].iter()
                        .map(|a| a[..r.cell.activation_count()].iter().map(|x| x.to_string()).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                    "clip": r.clip, "input_forget": r.input_forget, "peepholes": r.peepholes,
                    "linear_before_reset": r.linear_before_reset,
                }),
                LayerDesc::Dense(d) => json!({
                    "index": i, "kind": "Dense", "input_size": d.input_size, "output_size": d.output_size,
                    "activation": d.activation.name(), "dtype": d.dtype.name(), "parameters": l.parameter_count(),
                }),
            })
            .collect();
        let tensors: Vec<Value> = file
            .tensors()
            .iter()
            .map(|t| {
                json!({
                    "layer": t.spec.id.layer, "dir": t.spec.id.dir, "kind": t.spec.id.kind.name(),
                    "dtype": t.spec.dtype.name(), "layout": layout_name(t.spec.layout), "shape": t.spec.shape,
                    "elements": t.spec.elems,
                    "offset": t.offset, "bytes": t.len, "checksum": format!("{:016x}", t.checksum),
                })
            })
            .collect();
        let v = json!({
            "file": path.display().to_string(),
            "bytes": bytes.len(),
            "version": file.version(),
            "checksum": format!("{:016x}", file.file_checksum()),
            "checksums_verified": true,
            "layers": layers,
            "parameters": desc.parameter_count(),
            "weight_bytes": weight_bytes,
            "weight_bytes_f32": f32_weight_bytes,
            "dtypes": desc.layers.iter().map(|l| l.dtype().name()).collect::<Vec<_>>(),
            "tensors": tensors,
            "inputs": file.interface().inputs.iter().map(binding_json).collect::<Vec<_>>(),
            "outputs": file.interface().outputs.iter().map(binding_json).collect::<Vec<_>>(),
            "constants": file.interface().constants.iter().map(|c| json!({
                "name": c.name,
                "shape": c.shape,
                "role": role_text(&c.role),
            })).collect::<Vec<_>>(),
            "streamable": desc.is_streamable(),
            "isa": isa_here.map(|i| i.name()),
            "isa_note": isa_note,
            "isas_available": Isa::available().map(|i| i.name()).collect::<Vec<_>>(),
            "engine_loads": engine.is_ok(),
            "engine_error": engine.as_ref().err(),
        });
        outln!("{v}");
        return Ok(());
    }

    outln!("file:       {} ({} bytes, format version {})", path.display(), thousands(bytes.len()), file.version());
    outln!(
        "checksums:  verified ok (file xxh3 {:016x} and all {} tensors)",
        file.file_checksum(),
        file.tensors().len()
    );
    outln!("layers:");
    for line in layer_lines(desc) {
        outln!("  {line}");
    }
    outln!(
        "parameters: {} ({} of packed weights, padding included)",
        thousands(desc.parameter_count()),
        human_bytes(weight_bytes)
    );
    if f32_weight_bytes != weight_bytes {
        outln!(
            "weights:    {} bytes in {} tensors ({} bytes in f32, {:.2}x)",
            thousands(weight_bytes),
            file.tensors().len(),
            thousands(f32_weight_bytes),
            weight_bytes as f64 / f32_weight_bytes as f64
        );
    } else {
        outln!("weights:    {} bytes in {} tensors", thousands(weight_bytes), file.tensors().len());
    }
    outln!("tensors:");
    for t in file.tensors() {
        let shape = if t.spec.shape[1] == 0 {
            format!("[{}]", t.spec.shape[0])
        } else {
            format!("[{}, {}]", t.spec.shape[0], t.spec.shape[1])
        };
        outln!(
            "  L{}d{} {:<8} {:<9} {:<9} {:<12} {:>12} bytes at {:>10}",
            t.spec.id.layer,
            t.spec.id.dir,
            t.spec.id.kind.name(),
            t.spec.dtype.name(),
            layout_name(t.spec.layout),
            shape,
            thousands(t.len),
            t.offset
        );
    }
    outln!("graph:");
    if file.interface().inputs.is_empty() && file.interface().outputs.is_empty() {
        outln!("  (none recorded: recur run uses X [T, B, F] -> Y [T, B, O])");
    }
    for line in interface_lines(file.interface()) {
        outln!("  {line}");
    }
    outln!(
        "streaming:  {}",
        if desc.is_streamable() {
            "yes (every recurrent layer runs forward: step works frame by frame)"
        } else {
            "no (a reverse or bidirectional layer needs the whole sequence: run only)"
        }
    );
    match isa_here {
        Some(i) => outln!("kernel set: {} here ({isa_note}; available: {})", i.name(), available_isas()),
        None => outln!("kernel set: none ({isa_note})"),
    }
    match engine {
        Ok(()) => outln!("engine:     loads ok"),
        Err(e) => outln!("engine:     cannot run it: {e}"),
    }
    Ok(())
}
