//! Code shared by the examples.
#![allow(dead_code)] // each example uses part of it

pub mod models;
