//! YCSB's core workloads as data: the operation mix and the key distribution.
//!
//! | workload | mix | keys |
//! |---|---|---|
//! | `load` | insert every record `0..records` once | sequential |
//! | A | 50 % read, 50 % update | zipfian |
//! | B | 95 % read, 5 % update | zipfian |
//! | C | 100 % read | zipfian |
//! | D | 95 % read, 5 % insert | latest |
//! | E | 95 % scan (1..=max length, uniform), 5 % insert | zipfian (scan start) |
//! | F | 50 % read, 50 % read-modify-write | zipfian |
//!
//! The key distribution can be overridden (`--distribution`). What each operation means on
//! Shoal and on Redis is in the crate README ("Mapping").

use crate::keys::Distribution;
use crate::rng::Rng;

/// The kinds of operation, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// Read one whole record.
    Read,
    /// Overwrite one field of a record.
    Update,
    /// Write a new record, every field.
    Insert,
    /// Read a short range of records in key order.
    Scan,
    /// Read a record, then overwrite one field of it.
    ReadModifyWrite,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 5] =
        [OpKind::Read, OpKind::Update, OpKind::Insert, OpKind::Scan, OpKind::ReadModifyWrite];

    /// Its name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Update => "update",
            OpKind::Insert => "insert",
            OpKind::Scan => "scan",
            OpKind::ReadModifyWrite => "rmw",
        }
    }
}

/// A workload: its name, operation proportions and default key distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// `load`, `a` ... `f`.
    pub name: &'static str,
    /// Cumulative-free proportions per kind; they sum to 1.
    pub mix: Vec<(OpKind, f64)>,
    /// Key distribution.
    pub distribution: Distribution,
    /// True for the load phase: insert records `0..records` once each, then stop.
    pub is_load: bool,
}

impl Workload {
    /// The workload named `name` (case-insensitive), with zipfian constant `theta`.
    pub fn named(name: &str, theta: f64) -> Option<Workload> {
        let zipf = Distribution::Zipfian { theta };
        let (name, mix, distribution, is_load): (&'static str, Vec<(OpKind, f64)>, _, _) =
            match name.to_ascii_lowercase().as_str() {
                "load" => ("load", vec![(OpKind::Insert, 1.0)], Distribution::Uniform, true),
                "a" => ("a", vec![(OpKind::Read, 0.5), (OpKind::Update, 0.5)], zipf, false),
                "b" => ("b", vec![(OpKind::Read, 0.95), (OpKind::Update, 0.05)], zipf, false),
                "c" => ("c", vec![(OpKind::Read, 1.0)], zipf, false),
                "d" => (
                    "d",
                    vec![(OpKind::Read, 0.95), (OpKind::Insert, 0.05)],
                    Distribution::Latest { theta },
                    false,
                ),
                "e" => ("e", vec![(OpKind::Scan, 0.95), (OpKind::Insert, 0.05)], zipf, false),
                "f" => {
                    ("f", vec![(OpKind::Read, 0.5), (OpKind::ReadModifyWrite, 0.5)], zipf, false)
                }
                _ => return None,
            };
        Some(Workload { name, mix, distribution, is_load })
    }

    /// True if the workload scans (and so needs the sorted layout).
    pub fn scans(&self) -> bool {
        self.mix.iter().any(|(kind, _)| *kind == OpKind::Scan)
    }

    /// The next operation kind.
    pub fn choose(&self, rng: &mut Rng) -> OpKind {
        let mut u = rng.next_f64();
        for (kind, share) in &self.mix {
            if u < *share {
                return *kind;
            }
            u -= share;
        }
        // Rounding left a sliver above the last share: it belongs to the last kind.
        self.mix.last().map_or(OpKind::Read, |(kind, _)| *kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_sum_to_one_and_choose_follows_them() {
        for name in ["load", "a", "b", "c", "d", "e", "f"] {
            let w = Workload::named(name, 0.99).unwrap();
            let total: f64 = w.mix.iter().map(|(_, s)| s).sum();
            assert!((total - 1.0).abs() < 1e-9, "{name}");
        }
        let b = Workload::named("B", 0.99).unwrap();
        let mut rng = Rng::new(9);
        let updates = (0..100_000).filter(|_| b.choose(&mut rng) == OpKind::Update).count();
        assert!((4_500..5_500).contains(&updates), "{updates}");
        assert!(Workload::named("e", 0.99).unwrap().scans());
        assert!(Workload::named("x", 0.99).is_none());
    }
}
