//! Leveled compaction (LevelDB, Cassandra's LCS): level 0 holds flush outputs, which may
//! overlap; every level from 1 up holds files with disjoint key ranges, and level n may hold
//! `leveled_base_bytes × 10^(n-1)` bytes. A read touches at most one file per level from 1 up.
//!
//! - Level 0 reaching `leveled_l0_trigger` files: merge all of level 0 with the level-1 files
//!   they overlap.
//! - Level n over its size: merge one of its files (round-robin by key, after the cursor) with
//!   the files of level n+1 it overlaps.

use std::collections::BTreeMap;

use shoal_tuning::EngineConfig;

use super::{ids, Choice};
use crate::manifest::FileMeta;

/// Growth factor between levels.
pub const LEVEL_FANOUT: u64 = 10;

/// The byte budget of `level` (≥ 1).
pub fn level_budget(config: &EngineConfig, level: u32) -> u64 {
    assert!(level >= 1, "level 0 is bounded by file count");
    config.leveled_base_bytes.saturating_mul(LEVEL_FANOUT.saturating_pow(level - 1))
}

fn overlaps(a: &FileMeta, first: &[u8], last: &[u8]) -> bool {
    a.first_key.as_slice() <= last && first <= a.last_key.as_slice()
}

/// Picks the next merge, if any level is over its budget.
pub fn choose(
    files: &[FileMeta],
    config: &EngineConfig,
    cursors: &BTreeMap<u32, Vec<u8>>,
) -> Option<Choice> {
    let level0: Vec<&FileMeta> = files.iter().filter(|f| f.level == 0).collect();
    let split_bytes = Some(config.sstable_target_bytes);
    if level0.len() >= config.leveled_l0_trigger {
        let first = level0.iter().map(|f| f.first_key.as_slice()).min()?;
        let last = level0.iter().map(|f| f.last_key.as_slice()).max()?;
        let mut inputs = level0.clone();
        inputs.extend(files.iter().filter(|f| f.level == 1 && overlaps(f, first, last)));
        return Some(Choice { inputs: ids(&inputs), output_level: 1, split_bytes });
    }
    let deepest = files.iter().map(|f| f.level).max().unwrap_or(0);
    for level in 1..=deepest {
        let mut in_level: Vec<&FileMeta> = files.iter().filter(|f| f.level == level).collect();
        let bytes: u64 = in_level.iter().map(|f| f.file_bytes).sum();
        if bytes <= level_budget(config, level) {
            continue;
        }
        in_level.sort_by(|a, b| a.first_key.cmp(&b.first_key));
        let cursor = cursors.get(&level);
        let pick = in_level
            .iter()
            .find(|f| cursor.is_none_or(|c| f.first_key.as_slice() > c.as_slice()))
            .or_else(|| in_level.first())?;
        let mut inputs = vec![*pick];
        inputs.extend(
            files
                .iter()
                .filter(|f| f.level == level + 1 && overlaps(f, &pick.first_key, &pick.last_key)),
        );
        return Some(Choice { inputs: ids(&inputs), output_level: level + 1, split_bytes });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, level: u32, bytes: u64, first: u8, last: u8) -> FileMeta {
        FileMeta { id, level, file_bytes: bytes, first_key: vec![first], last_key: vec![last] }
    }

    #[test]
    fn level0_trigger_pulls_in_overlapping_level1_files() {
        let config = EngineConfig::default();
        let mut files: Vec<_> = (1..=4).map(|i| file(i, 0, 100, 10, 20)).collect();
        files.push(file(10, 1, 100, 15, 30));
        files.push(file(11, 1, 100, 40, 50));
        let choice = choose(&files, &config, &BTreeMap::new()).expect("level 0 is full");
        assert_eq!(choice.output_level, 1);
        assert_eq!(choice.inputs, vec![1, 2, 3, 4, 10]);
    }

    #[test]
    fn an_oversized_level_pushes_one_file_down_round_robin() {
        let config = EngineConfig::default().leveled_base_bytes(1000);
        let files = vec![file(1, 1, 800, 0, 9), file(2, 1, 800, 10, 19), file(3, 2, 50, 12, 14)];
        let first = choose(&files, &config, &BTreeMap::new()).expect("level 1 over budget");
        assert_eq!((first.inputs.clone(), first.output_level), (vec![1], 2));
        let mut cursors = BTreeMap::new();
        cursors.insert(1, vec![9]);
        let second = choose(&files, &config, &cursors).expect("still over budget");
        assert_eq!(second.inputs, vec![2, 3], "the next file and its overlap below");
        let small = vec![file(1, 1, 10, 0, 9)];
        assert_eq!(choose(&small, &config, &BTreeMap::new()), None);
    }
}
