//! The msctl binary: parse, run, exit.
fn main() {}
