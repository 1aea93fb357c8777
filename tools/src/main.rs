//! `shoal`: runs a node or talks to one.
fn main() {}
