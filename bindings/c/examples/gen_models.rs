//! Writes the models the C tests open into a folder:
//!
//! | file | what |
//! |---|---|
//! | `lstm2.recur` | LSTM 13->37, LSTM 37->20, dense 20->7 softmax |
//! | `gru.recur` | GRU 40->128, dense 128->12 (benchmark W1) |
//! | `gru_other.recur` | the same shape as `gru.recur`, other weights |
//! | `bigru.recur` | bidirectional GRU 8->16, dense 32->4 (not streamable) |
//! | `lstm2_corrupt.recur` | `lstm2.recur` with one byte of its weights flipped |
//! | `lstm2_truncated.recur` | the first half of `lstm2.recur` |
//! | `not_a_model.recur` | text |
//!
//! ```text
//! cargo run -p recur-capi --example gen_models -- DIR
//! ```

mod common;

use common::models;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: gen_models DIR"));
    std::fs::create_dir_all(&dir).expect("create the folder");
    models::write(&dir.join("lstm2.recur"), models::lstm2(), 1);
    models::write(&dir.join("gru.recur"), models::gru_w1(), 2);
    models::write(&dir.join("gru_other.recur"), models::gru_w1(), 3);
    models::write(&dir.join("bigru.recur"), models::bigru(), 4);

    let good = std::fs::read(dir.join("lstm2.recur")).expect("read lstm2.recur");
    let mut corrupt = good.clone();
    // A byte well inside the tensor data: only the checksum can tell.
    let at = good.len() - good.len() / 4;
    corrupt[at] ^= 0x40;
    std::fs::write(dir.join("lstm2_corrupt.recur"), corrupt).expect("write");
    std::fs::write(dir.join("lstm2_truncated.recur"), &good[..good.len() / 2]).expect("write");
    std::fs::write(dir.join("not_a_model.recur"), b"this is not a recur model\n").expect("write");
    println!("wrote 7 models to {}", dir.display());
}
