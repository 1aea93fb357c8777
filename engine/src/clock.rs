//! The engine's clock seam: wall-clock time for expiry and tombstone grace.
//!
//! Write timestamps come from the caller (a hybrid logical clock in the node); the engine only
//! needs "now" to decide whether a cell has expired and whether a tombstone is old enough to
//! purge. Tests drive a [`Clock::manual`] clock to expire cells without waiting.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system's wall clock.
    System,
    /// A clock that moves only when told; milliseconds since the Unix epoch.
    Manual(Rc<Cell<u64>>),
}

impl Clock {
    /// A manual clock starting at `now_ms`.
    pub fn manual(now_ms: u64) -> Clock {
        Clock::Manual(Rc::new(Cell::new(now_ms)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => {
                let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            }
            Clock::Manual(now) => now.get(),
        }
    }

    /// Microseconds since the Unix epoch (the unit of write timestamps).
    pub fn now_micros(&self) -> u64 {
        match self {
            Clock::System => {
                let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
            }
            Clock::Manual(now) => now.get().saturating_mul(1000),
        }
    }

    /// Moves a manual clock forward.
    ///
    /// # Panics
    /// On the system clock, which cannot be moved (a test bug).
    pub fn advance_ms(&self, ms: u64) {
        match self {
            Clock::System => panic!("the system clock cannot be advanced"),
            Clock::Manual(now) => now.set(now.get() + ms),
        }
    }
}
