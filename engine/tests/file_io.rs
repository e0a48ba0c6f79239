//! Models loaded from `.recur` files (mmap, bytes, static) compute exactly what the
//! in-memory model computes; bad files and buffers are refused with clear errors.

mod common;

use common::gen::random_model;
use common::reference::{random_inputs, random_weights};
use recur::{Model, OpenOptions};
use recur_format::{GraphInterface, PackedModel};

fn outputs(m: &Model, xs: &[f32]) -> Vec<u32> {
    let frames = xs.len() / m.input_size();
    let mut st = m.new_state();
    let mut ys = vec![0.0; frames * m.output_size()];
    m.run(&mut st, xs, &mut ys).unwrap();
    ys.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn open_mmap_bytes_and_static_agree_with_memory() {
    let dir = std::env::temp_dir().join(format!("recur-file-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 0..12u64 {
        let desc = random_model(seed, 3, 70, false, false);
        let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap();
        let xs = random_inputs(9 * desc.input_size(), seed, 1.0);
        let want = outputs(&Model::from_packed(&packed).unwrap(), &xs);
        let bytes = recur_format::write_bytes(&packed, &GraphInterface::default()).unwrap();
        let path = dir.join(format!("m{seed}.recur"));
        recur_format::write_file(&path, &packed, &GraphInterface::default()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let mapped = Model::open(&path).unwrap();
        assert_eq!(outputs(&mapped, &xs), want, "mmap, seed {seed}");
        let unchecked = Model::open_with(&path, &OpenOptions { verify_checksums: false, isa: None }).unwrap();
        assert_eq!(outputs(&unchecked, &xs), want, "mmap without checksums, seed {seed}");
        // An unaligned copy: from_bytes copies it into aligned memory.
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(outputs(&Model::from_bytes(&shifted[1..]).unwrap(), &xs), want, "bytes, seed {seed}");
        assert_eq!(mapped.fingerprint(), Model::from_bytes(&bytes).unwrap().fingerprint());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn static_buffers_must_be_aligned() {
    let desc = random_model(3, 1, 20, true, false);
    let packed = PackedModel::pack(desc.clone(), &random_weights(&desc, 3, 1.0)).unwrap();
    let bytes = recur_format::write_bytes(&packed, &GraphInterface::default()).unwrap();
    // Leak an aligned and an unaligned copy to get 'static slices.
    #[repr(C, align(64))]
    struct A([u8; 64]);
    let lines: &'static mut [A] = Vec::leak((0..bytes.len().div_ceil(64) + 1).map(|_| A([0; 64])).collect());
    // SAFETY: `A` is 64 plain bytes; the slice covers lines.len() * 64 initialised bytes.
    let raw: &'static mut [u8] = unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast(), lines.len() * 64) };
    raw[..bytes.len()].copy_from_slice(&bytes);
    let aligned: &'static [u8] = &raw[..bytes.len()];
    let m = Model::from_static(aligned, &OpenOptions::default()).unwrap();
    assert_eq!(m.output_size(), desc.output_size());
    let err = Model::from_static(&aligned[1..], &OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not 64-byte aligned"), "{err}");
}

#[test]
fn bad_files_are_errors() {
    let e = Model::open("/nonexistent/model.recur").unwrap_err().to_string();
    assert!(e.contains("/nonexistent/model.recur"), "{e}");
    let e = Model::from_bytes(b"not a model").unwrap_err().to_string();
    assert!(e.starts_with("invalid .recur file"), "{e}");
}
