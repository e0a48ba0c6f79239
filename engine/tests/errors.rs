//! The engine's refusals, each with its message: stepping a non-streamable model, wrong
//! buffer lengths, foreign states, saved states that are truncated, damaged or from other
//! weights, state slots that do not exist, and unknown kernel sets.

mod common;

use common::reference::random_weights;
use recur::{Isa, Model};
use recur_format::*;

fn model(dir: Direction, seed: u64) -> Model {
    let mut r = RecurrentDesc::new(CellKind::Lstm, 3, 5);
    r.direction = dir;
    let desc = ModelDesc { layers: vec![LayerDesc::Recurrent(r)] };
    Model::from_packed(&PackedModel::pack(desc.clone(), &random_weights(&desc, seed, 1.0)).unwrap()).unwrap()
}

#[test]
fn step_refuses_non_forward_models() {
    for (dir, name) in [(Direction::Reverse, "reverse"), (Direction::Bidirectional, "bidirectional")] {
        let m = model(dir, 1);
        assert!(!m.is_streamable());
        let mut st = m.new_state();
        let mut y = vec![0.0; m.output_size()];
        let e = m.step(&mut st, &[0.0; 3], &mut y).unwrap_err().to_string();
        assert!(e.contains(&format!("layer 0 runs {name}")) && e.contains("use run"), "{e}");
        let e = m.step_many(&mut [&mut st], &[0.0; 3], &mut y).unwrap_err().to_string();
        assert!(e.contains("use run"), "{e}");
    }
}

#[test]
fn wrong_lengths_and_foreign_states() {
    let m = model(Direction::Forward, 1);
    let mut st = m.new_state();
    let mut y = vec![0.0; 5];
    assert_eq!(m.step(&mut st, &[0.0; 2], &mut y).unwrap_err().to_string(), "input frame has 2 values, expected 3");
    assert_eq!(
        m.step(&mut st, &[0.0; 3], &mut y[..4]).unwrap_err().to_string(),
        "output frame has 4 values, expected 5"
    );
    let e = m.run(&mut st, &[0.0; 7], &mut y).unwrap_err().to_string();
    assert!(e.contains("not a whole number of frames"), "{e}");
    let other = model(Direction::Forward, 2);
    let mut foreign = other.new_state();
    assert_eq!(m.step(&mut foreign, &[0.0; 3], &mut y).unwrap_err().to_string(), "state belongs to another model");
    let e = m.get_state(&st, 1, 0, false).unwrap_err().to_string();
    assert!(e.contains("no such layer"), "{e}");
    let e = m.set_state(&mut st, 0, 0, false, &[0.0; 4]).unwrap_err().to_string();
    assert_eq!(e, "state values has 4 values, expected 5");
}

#[test]
fn saved_states_are_checked() {
    let m = model(Direction::Forward, 1);
    let mut st = m.new_state();
    let mut y = vec![0.0; 5];
    m.step(&mut st, &[0.5, -0.5, 1.0], &mut y).unwrap();
    let mut saved = vec![0u8; m.saved_state_size()];
    m.save_state(&st, &mut saved).unwrap();
    let mut back = m.new_state();
    m.load_state(&mut back, &saved).unwrap();
    assert_eq!(m.get_state(&back, 0, 0, true).unwrap(), m.get_state(&st, 0, 0, true).unwrap());

    let e = m.load_state(&mut back, &saved[..saved.len() - 1]).unwrap_err().to_string();
    assert!(e.starts_with("saved state has"), "{e}");
    let mut bad = saved.clone();
    bad[0] ^= 1;
    assert!(m.load_state(&mut back, &bad).unwrap_err().to_string().contains("bad magic"));
    let other = model(Direction::Forward, 2);
    let mut other_saved = vec![0u8; other.saved_state_size()];
    other.save_state(&other.new_state(), &mut other_saved).unwrap();
    let e = m.load_state(&mut back, &other_saved).unwrap_err().to_string();
    assert!(e.contains("different weights"), "{e}");
}

#[test]
fn unknown_and_unavailable_kernel_sets() {
    assert!(Isa::forced("sse9").unwrap_err().to_string().contains("unknown kernel set 'sse9'"));
    for isa in Isa::ALL {
        match Isa::forced(isa.name()) {
            Ok(i) => assert!(i.is_available()),
            Err(e) => assert!(e.to_string().contains("is not available on this CPU"), "{e}"),
        }
    }
}
