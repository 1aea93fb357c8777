//! Shoal's storage engine: one instance per CPU core, owning its data alone.
pub mod error;
pub mod io;
pub mod runtime;
pub mod types;
