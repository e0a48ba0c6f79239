//! Library half of the `recur` command-line tool: the pieces that the binary and its
//! integration tests share.
//!
//! * [`npy`]: reading and writing NumPy `.npy` files as [`recur::graph::Tensor`]s;
//! * [`dtype`]: dtype names and per-layer choices for `recur convert`, and its seeded
//!   random report input;
//! * [`case`]: conformance case folders (`case.json`, `input_<name>.npy`,
//!   `output_<name>.npy`, `extra_sets` sub-folders) and the tolerance check;
//! * [`Error`]: one error type whose [`ErrorKind`] decides the exit status (1 for bad
//!   input, 2 for bad usage).
//!
//! The commands themselves live in the binary (`src/main.rs` and `src/cmd/`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod case;
pub mod dtype;
pub mod npy;

use std::fmt;

/// Whose fault a failure is, which decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input (a file, a tensor, a model) is bad: exit status 1.
    Input,
    /// The command line is bad (an unknown option, an unknown or unavailable kernel set):
    /// exit status 2.
    Usage,
}

/// A failure of a command: a one-line message and whose fault it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Whose fault.
    pub kind: ErrorKind,
    /// The message, one line, lowercase, with the offending values.
    pub msg: String,
}

impl Error {
    /// A bad-input failure.
    pub fn input(msg: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Input, msg: msg.into() }
    }
    /// A bad-usage failure.
    pub fn usage(msg: impl Into<String>) -> Error {
        Error { kind: ErrorKind::Usage, msg: msg.into() }
    }
    /// The exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 1,
            ErrorKind::Usage => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages from libraries may span lines; the tool promises one line.
        let mut first = true;
        for line in self.msg.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !first {
                f.write_str("; ")?;
            }
            f.write_str(line)?;
            first = false;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The file name `recur run` and the case folders use for a graph input or output:
/// `<prefix>_<name>.npy`. A name that could not be a plain file name (a path separator,
/// a control character, `.` or `..`) has every character outside `[A-Za-z0-9._-]`
/// replaced by `_`, so that a graph name can never point outside the folder.
pub fn io_file_name(prefix: &str, name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let plain = !name.is_empty() && name != "." && name != ".." && name.chars().all(safe);
    if plain {
        format!("{prefix}_{name}.npy")
    } else {
        let cleaned: String = name.chars().map(|c| if safe(c) { c } else { '_' }).collect();
        format!("{prefix}_{cleaned}.npy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_folder() {
        assert_eq!(io_file_name("input", "X"), "input_X.npy");
        assert_eq!(io_file_name("output", "log_probs"), "output_log_probs.npy");
        assert_eq!(io_file_name("input", "../etc/passwd"), "input_.._etc_passwd.npy");
        assert_eq!(io_file_name("input", "a/b:c"), "input_a_b_c.npy");
        assert!(!io_file_name("input", "..").contains('/'));
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(Error::input("a\n  b\n\nc").to_string(), "a; b; c");
    }
}
