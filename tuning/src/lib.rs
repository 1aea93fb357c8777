//! Shoal's tunables, each with its trade-off and its default.
//!
//! One struct per layer; this crate holds only numbers and choices, no behaviour, so every
//! other crate can depend on it. Defaults work on a laptop; the doc of each field says what to
//! raise on a bare-metal NVMe host.
//!
//! The config is a consuming builder: `EngineConfig::default().memtable_bytes(64 << 20)`.
//!
//! A node reads all of its settings, the engine's included, from one TOML file into a
//! [`NodeConfig`] (`tuning/shoal.toml` documents every key and its default).
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod node;
pub use node::*;

/// How the commit log makes writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitLogSync {
    /// A write is acknowledged only after the fdatasync that covers it (group commit shares one
    /// fdatasync among concurrent writers). No acknowledged write is ever lost. The default.
    Batch,
    /// A write is acknowledged once buffered; the log is written and synced every
    /// `interval_ms`. Risk: a power cut loses up to `interval_ms` of acknowledged writes.
    Periodic {
        /// Milliseconds between syncs.
        interval_ms: u64,
    },
}

/// Block compression in SSTables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockCompression {
    /// No compression: fastest reads, largest files.
    None,
    /// lz4 per block: ~2x smaller on text-like values for a few µs per block.
    Lz4,
}

/// The storage engine of one core.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Size at which a table's memtable is frozen and flushed. Larger means fewer, bigger
    /// SSTables and less write amplification, at the cost of memory and replay time.
    /// Default 32 MiB; 128 MiB on a large host.
    pub memtable_bytes: usize,
    /// All memtables of the core (active and flushing) together; past it writers wait for
    /// flushes (backpressure). Default 3 × `memtable_bytes`.
    pub memtables_total_bytes: usize,
    /// Block cache of the core. Direct I/O bypasses the page cache, so this is the only read
    /// cache. Default 128 MiB; give it most of a host's memory divided by cores.
    pub block_cache_bytes: usize,
    /// Target uncompressed size of an SSTable data block. Smaller blocks read fewer bytes per
    /// point lookup; larger ones compress and scan better. Default 4096.
    pub block_bytes: usize,
    /// Bloom filter bits per key: 10 gives ~1 % false positives. Default 10.
    pub bloom_bits_per_key: u32,
    /// Block compression. Default lz4.
    pub compression: BlockCompression,
    /// Commit log segment size. Default 32 MiB.
    pub commitlog_segment_bytes: u64,
    /// Commit log durability. Default `Batch`.
    pub commitlog_sync: CommitLogSync,
    /// Target size of SSTables written by leveled compaction. Default 16 MiB.
    pub sstable_target_bytes: u64,
    /// Tombstones younger than this are kept by compaction, so a replica that missed the
    /// deletion can still learn of it by repair. Default 10 days (Cassandra's gc_grace).
    pub tombstone_grace_secs: u64,
    /// Size-tiered compaction merges a bucket once it holds this many similar tables. Default 4.
    pub size_tiered_min_threshold: usize,
    /// Leveled compaction: size of level 1; each further level is 10 × larger. Default 64 MiB.
    pub leveled_base_bytes: u64,
    /// Leveled compaction: level-0 tables that trigger a merge into level 1. Default 4.
    pub leveled_l0_trigger: usize,
    /// Compaction output per second on this core, at most (0 = unthrottled, the default).
    /// Caps the disk bandwidth background merges take from foreground reads and flushes.
    pub compaction_bytes_per_sec: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let memtable_bytes = 32 << 20;
        EngineConfig {
            memtable_bytes,
            memtables_total_bytes: 3 * memtable_bytes,
            block_cache_bytes: 128 << 20,
            block_bytes: 4096,
            bloom_bits_per_key: 10,
            compression: BlockCompression::Lz4,
            commitlog_segment_bytes: 32 << 20,
            commitlog_sync: CommitLogSync::Batch,
            sstable_target_bytes: 16 << 20,
            tombstone_grace_secs: 10 * 24 * 3600,
            size_tiered_min_threshold: 4,
            leveled_base_bytes: 64 << 20,
            leveled_l0_trigger: 4,
            compaction_bytes_per_sec: 0,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $name: $ty) -> Self {
            self.$name = $name;
            self
        }
    };
}

impl EngineConfig {
    setter!(
        /// Sets [`EngineConfig::memtable_bytes`] (and keeps the total at 3 × it).
        memtable_bytes: usize
    );
    setter!(
        /// Sets [`EngineConfig::memtables_total_bytes`].
        memtables_total_bytes: usize
    );
    setter!(
        /// Sets [`EngineConfig::block_cache_bytes`].
        block_cache_bytes: usize
    );
    setter!(
        /// Sets [`EngineConfig::block_bytes`].
        block_bytes: usize
    );
    setter!(
        /// Sets [`EngineConfig::bloom_bits_per_key`].
        bloom_bits_per_key: u32
    );
    setter!(
        /// Sets [`EngineConfig::compression`].
        compression: BlockCompression
    );
    setter!(
        /// Sets [`EngineConfig::commitlog_segment_bytes`].
        commitlog_segment_bytes: u64
    );
    setter!(
        /// Sets [`EngineConfig::commitlog_sync`].
        commitlog_sync: CommitLogSync
    );
    setter!(
        /// Sets [`EngineConfig::sstable_target_bytes`].
        sstable_target_bytes: u64
    );
    setter!(
        /// Sets [`EngineConfig::tombstone_grace_secs`].
        tombstone_grace_secs: u64
    );
    setter!(
        /// Sets [`EngineConfig::size_tiered_min_threshold`].
        size_tiered_min_threshold: usize
    );
    setter!(
        /// Sets [`EngineConfig::leveled_base_bytes`].
        leveled_base_bytes: u64
    );
    setter!(
        /// Sets [`EngineConfig::leveled_l0_trigger`].
        leveled_l0_trigger: usize
    );
    setter!(
        /// Sets [`EngineConfig::compaction_bytes_per_sec`].
        compaction_bytes_per_sec: u64
    );

    /// A small configuration for tests: tiny memtables, blocks and segments, so that flushes,
    /// compactions and segment recycling happen after a few hundred writes.
    #[must_use]
    pub fn for_tests() -> Self {
        EngineConfig::default()
            .memtable_bytes(64 << 10)
            .memtables_total_bytes(256 << 10)
            .block_cache_bytes(256 << 10)
            .commitlog_segment_bytes(256 << 10)
            .sstable_target_bytes(128 << 10)
            .leveled_base_bytes(256 << 10)
    }

    /// Checks that the numbers fit together.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field that is out of range and its value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, field: &str, reason: String| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::new(field, reason))
            }
        };
        let memtable = self.memtable_bytes;
        check(
            memtable >= 4096,
            "memtable_bytes",
            format!("must be at least 4096, got {memtable}"),
        )?;
        check(
            self.memtables_total_bytes >= memtable,
            "memtables_total_bytes",
            format!(
                "must be at least memtable_bytes ({memtable}), got {}",
                self.memtables_total_bytes
            ),
        )?;
        check(
            (512..=1 << 20).contains(&self.block_bytes),
            "block_bytes",
            format!("must be 512 B to 1 MiB, got {}", self.block_bytes),
        )?;
        check(
            (1..=32).contains(&self.bloom_bits_per_key),
            "bloom_bits_per_key",
            format!("must be 1 to 32, got {}", self.bloom_bits_per_key),
        )?;
        let segment = self.commitlog_segment_bytes;
        check(
            segment >= 64 << 10,
            "commitlog_segment_bytes",
            format!("must be at least 64 KiB, got {segment}"),
        )?;
        check(
            segment.is_multiple_of(4096),
            "commitlog_segment_bytes",
            format!("must be a multiple of 4 KiB (segments use direct I/O), got {segment}"),
        )?;
        check(
            self.size_tiered_min_threshold >= 2,
            "size_tiered_min_threshold",
            format!("must be at least 2, got {}", self.size_tiered_min_threshold),
        )?;
        check(
            self.leveled_l0_trigger >= 1,
            "leveled_l0_trigger",
            format!("must be at least 1, got {}", self.leveled_l0_trigger),
        )?;
        if let CommitLogSync::Periodic { interval_ms } = self.commitlog_sync {
            check(interval_ms >= 1, "commitlog_sync", "periodic interval must be ≥ 1 ms".into())?;
        }
        Ok(())
    }
}

/// A configuration value out of range, or a config file that does not parse.
///
/// Displays as `shoal.toml: limits.frame_bytes_max: must be at least 65536, got 12`, or with
/// the parser's position, `shoal.toml:12:1: limits.frame_byts_max: unknown field ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the configuration came from, if it came from one.
    pub file: Option<std::path::PathBuf>,
    /// 1-based line and column of the error in the file, when the TOML parser located it.
    pub line_column: Option<(usize, usize)>,
    /// The key: `block_bytes` for an [`EngineConfig`] field, a dotted TOML path such as
    /// `limits.frame_bytes_max` in a node config file. Empty when no key is to blame (TOML
    /// syntax errors).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    /// An error about `field`, not yet tied to a file.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError { file: None, line_column: None, field: field.into(), reason: reason.into() }
    }

    /// The same error with its field inside `section`: `block_bytes` becomes
    /// `engine.block_bytes`.
    #[must_use]
    pub fn in_section(mut self, section: &str) -> Self {
        self.field = format!("{section}.{}", self.field);
        self
    }

    /// The same error, reported against `file`.
    #[must_use]
    pub fn in_file(mut self, file: &std::path::Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line_column) {
            (Some(file), Some((line, column))) => {
                write!(f, "{}:{line}:{column}: ", file.display())?
            }
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some((line, column))) => write!(f, "config line {line}, column {column}: ")?,
            (None, None) => f.write_str("config: ")?,
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_test_config_are_valid() {
        EngineConfig::default().validate().expect("defaults valid");
        EngineConfig::for_tests().validate().expect("test config valid");
    }

    #[test]
    fn out_of_range_values_are_named() {
        let err = EngineConfig::default().block_bytes(10).validate().unwrap_err();
        assert_eq!(err.field, "block_bytes");
        let err = EngineConfig::default().memtables_total_bytes(1).validate().unwrap_err();
        assert_eq!(err.field, "memtables_total_bytes");
        let err = EngineConfig::default().commitlog_segment_bytes(100_000).validate().unwrap_err();
        assert_eq!(err.field, "commitlog_segment_bytes");
    }
}
