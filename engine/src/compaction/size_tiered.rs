//! Size-tiered compaction (Cassandra's default): group files of similar size into buckets;
//! once a bucket holds `size_tiered_min_threshold` files, merge them into one.
//!
//! Each byte is rewritten about once per tier (log_threshold(total / memtable) times), so
//! write amplification is low; the price is more files per read and up to 2× space during a
//! merge.

use shoal_tuning::EngineConfig;

use super::{ids, Choice};
use crate::manifest::FileMeta;

/// A file joins a bucket whose average size is within [LOW, HIGH] × of its own.
const BUCKET_LOW: f64 = 0.5;
const BUCKET_HIGH: f64 = 1.5;
/// Files smaller than this all share the smallest bucket (flush outputs vary in size).
const SMALL_FILE_BYTES: u64 = 1 << 20;
/// At most this many files are merged at once, bounding a merge's fan-in.
pub const MAX_THRESHOLD: usize = 32;

/// Picks the fullest bucket (smallest files first on ties) that reached the threshold.
pub fn choose(files: &[FileMeta], config: &EngineConfig) -> Option<Choice> {
    let mut sorted: Vec<&FileMeta> = files.iter().collect();
    sorted.sort_by_key(|f| (f.file_bytes, f.id));
    let mut buckets: Vec<Vec<&FileMeta>> = Vec::new();
    for file in sorted {
        let fits = |bucket: &Vec<&FileMeta>| {
            let avg = bucket.iter().map(|f| f.file_bytes).sum::<u64>() as f64 / bucket.len() as f64;
            let size = file.file_bytes as f64;
            (size >= avg * BUCKET_LOW && size <= avg * BUCKET_HIGH)
                || (file.file_bytes < SMALL_FILE_BYTES && avg < SMALL_FILE_BYTES as f64)
        };
        match buckets.iter_mut().find(|b| fits(b)) {
            Some(bucket) => bucket.push(file),
            None => buckets.push(vec![file]),
        }
    }
    let threshold = config.size_tiered_min_threshold;
    let best = buckets.into_iter().filter(|b| b.len() >= threshold).max_by_key(|b| {
        let total: u64 = b.iter().map(|f| f.file_bytes).sum();
        (b.len().min(MAX_THRESHOLD), std::cmp::Reverse(total))
    })?;
    let inputs: Vec<&FileMeta> = best.into_iter().take(MAX_THRESHOLD).collect();
    Some(Choice { inputs: ids(&inputs), output_level: 0, split_bytes: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, bytes: u64) -> FileMeta {
        FileMeta { id, level: 0, file_bytes: bytes, first_key: vec![0], last_key: vec![9] }
    }

    #[test]
    fn waits_for_the_threshold_then_merges_similar_sizes() {
        let config = EngineConfig::default();
        let mb = 1 << 20;
        let three = vec![file(1, 10 * mb), file(2, 11 * mb), file(3, 9 * mb)];
        assert_eq!(choose(&three, &config), None);
        let mut four = three.clone();
        four.push(file(4, 10 * mb));
        four.push(file(5, 100 * mb));
        let choice = choose(&four, &config).expect("four similar files merge");
        let mut inputs = choice.inputs.clone();
        inputs.sort();
        assert_eq!(inputs, vec![1, 2, 3, 4], "the 100 MiB file is not similar");
    }

    #[test]
    fn small_files_share_one_bucket() {
        let config = EngineConfig::default();
        let files: Vec<_> = (1..=4).map(|i| file(i, 1000 * i)).collect();
        assert_eq!(choose(&files, &config).map(|c| c.inputs.len()), Some(4));
    }
}
