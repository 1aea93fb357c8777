//! SSTables: immutable files of sorted (key, value) pairs of opaque bytes, written once with
//! direct I/O and read through the core's [`BlockCache`](crate::cache::BlockCache).
//!
//! Use [`SstableWriter`] to write a table from keys in strictly increasing order, then
//! [`Sstable::open`] to read it: [`Sstable::get`] for point lookups (bloom filter, then one
//! block), [`Sstable::iter`] for ranges in either direction. The LSM above encodes rows into
//! values; nothing here interprets them.
//!
//! # File layout
//!
//! | part             | size                  | notes                                           |
//! |------------------|-----------------------|-------------------------------------------------|
//! | data blocks      | `properties.data_bytes` | back to back from offset 0, each framed (below) |
//! | index block      | `footer.index.len`    | framed; one entry per data block                |
//! | bloom block      | `footer.bloom.len`    | framed, never compressed                        |
//! | properties block | `footer.properties.len` | framed, never compressed                      |
//! | zero padding     | 0 to 4095             | so that the footer ends at a multiple of 4 KiB  |
//! | footer           | [`FOOTER_BYTES`] (52) | fixed size, the last bytes of the file          |
//!
//! The index, bloom and properties blocks follow each other with no gap, and the file length
//! is a multiple of [`IO_ALIGN`]: a reader finds the footer by reading the last 52 bytes, then
//! reads the three meta blocks with one more read.
//!
//! ## Block frame (every block)
//!
//! | field              | width        | notes                                            |
//! |--------------------|--------------|--------------------------------------------------|
//! | payload            | stored bytes | raw, or lz4 (`lz4_flex::block`) of the raw bytes |
//! | compression kind   | 1            | 0 = none, 1 = lz4                                |
//! | uncompressed bytes | 4, u32 LE    | length of the raw payload                        |
//! | crc32c             | 4, u32 LE    | over payload, kind and uncompressed bytes        |
//!
//! ## Data and index block payload (uncompressed), see [`block`]
//!
//! | field           | width          | notes                                         |
//! |-----------------|----------------|-----------------------------------------------|
//! | entries         | var            | varints shared, unshared, value_len; suffix; value |
//! | restart offsets | 4 each, u32 LE | entries 0, 16, 32, ..., whose `shared` is 0   |
//! | restart count   | 4, u32 LE      | at least 1                                      |
//!
//! An index entry's key is the last key of its data block; its value is the block's offset
//! (u64 LE) and on-disk length with trailer (u32 LE). A point lookup binary searches the index
//! (in memory), then the restart points of one block, then scans at most 16 entries.
//!
//! ## Bloom block payload, see [`bloom`]
//!
//! | field  | width | notes                                                        |
//! |--------|-------|--------------------------------------------------------------|
//! | bits   | n ≥ 8 | the filter; bit `i` is bit `i % 8` of byte `i / 8`           |
//! | probes | 1     | k = round(bits_per_key × ln 2), 1 to [`BLOOM_PROBES_MAX`]    |
//!
//! Probes use double hashing of one `xxh3_64` of the key. xxh3 is a fixed, specified hash: a
//! filter written by one release must answer the same way in every later one.
//!
//! ## Properties block payload, see [`footer`]
//!
//! | field      | width     | notes                                       |
//! |------------|-----------|---------------------------------------------|
//! | entries    | 8, u64 LE | number of (key, value) pairs, at least 1    |
//! | data bytes | 8, u64 LE | bytes of data blocks = offset of the index  |
//! | first key  | varint length + bytes |                                 |
//! | last key   | varint length + bytes |                                 |
//! | user       | varint length + bytes | the caller's opaque properties  |
//!
//! ## Footer, see [`footer`]
//!
//! | field             | width     | notes                                   |
//! |-------------------|-----------|-----------------------------------------|
//! | magic             | 8, u64 LE | [`MAGIC`], "SHOALSST"                   |
//! | format version    | 4, u32 LE | [`FORMAT_VERSION`]                      |
//! | index offset, len | 8 + 4, LE |                                         |
//! | bloom offset, len | 8 + 4, LE |                                         |
//! | properties offset, len | 8 + 4, LE |                                    |
//! | crc32c            | 4, u32 LE | over the 48 bytes before it             |
//!
//! # Invariants
//! Keys are strictly increasing; a table holds at least one entry (an empty table is refused
//! by [`SstableWriter::finish`]); every byte a reader uses is covered by a crc32c that is
//! checked before use, so a flipped bit returns [`Error::ChecksumMismatch`](crate::error::Error)
//! and never wrong data.
//!
//! # Limits
//! [`KEY_BYTES_MAX`], [`VALUE_BYTES_MAX`], [`BLOCK_BYTES_MIN`] to [`BLOCK_BYTES_MAX`] (target
//! block size), [`BLOOM_BITS_PER_KEY_MIN`] to [`BLOOM_BITS_PER_KEY_MAX`],
//! [`DATA_BLOCK_PAYLOAD_BYTES_MAX`], [`META_BLOCK_BYTES_MAX`], [`PROPERTIES_USER_BYTES_MAX`],
//! [`RESTART_INTERVAL`], [`WRITE_CHUNK_BYTES`].

pub mod block;
pub mod bloom;
mod builder;
pub mod footer;
mod iter;
mod reader;

pub use block::{Block, Compression};
pub use builder::{SstableInfo, SstableOptions, SstableWriter};
pub use footer::FOOTER_BYTES;
pub use iter::SstableIter;
pub use reader::Sstable;

use crate::io::IO_ALIGN;

/// First field of the footer: "SHOALSST" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHOALSST");

/// The format this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Longest key. Cassandra's partition keys stop at 64 KiB; Shoal's encoded keys stay below.
pub const KEY_BYTES_MAX: usize = 64 << 10;

/// Longest value (an encoded row). Larger values belong in blob storage, not in a block.
pub const VALUE_BYTES_MAX: usize = 16 << 20;

/// Smallest target block size: below it, per-block overhead (trailer, index entry) dominates.
pub const BLOCK_BYTES_MIN: usize = 512;

/// Largest target block size: a point lookup reads a whole block.
pub const BLOCK_BYTES_MAX: usize = 1 << 20;

/// Entries between restart points: a lookup scans at most this many entries of a block.
pub const RESTART_INTERVAL: usize = 16;

/// Largest uncompressed data block: a block closes once it reaches its target, so it holds
/// less than the target plus one entry (with its varints and a restart offset).
pub const DATA_BLOCK_PAYLOAD_BYTES_MAX: usize =
    BLOCK_BYTES_MAX + KEY_BYTES_MAX + VALUE_BYTES_MAX + 64;

/// Largest index, bloom or properties block (uncompressed). Its length is a u32 on disk.
pub const META_BLOCK_BYTES_MAX: usize = 1 << 30;

/// Largest caller properties blob passed to [`SstableWriter::finish`].
pub const PROPERTIES_USER_BYTES_MAX: usize = 16 << 20;

/// Fewest bloom bits per key.
pub const BLOOM_BITS_PER_KEY_MIN: u32 = 1;

/// Most bloom bits per key (~0.0001 % false positives; more only costs memory).
pub const BLOOM_BITS_PER_KEY_MAX: u32 = 32;

/// Most bloom probes per key (32 bits per key × ln 2 ≈ 22).
pub const BLOOM_PROBES_MAX: u32 = 30;

/// The writer hands the disk this much at a time; it keeps less than this plus one block in
/// memory, however large the table.
pub const WRITE_CHUNK_BYTES: usize = 256 << 10;

const _: () = assert!(WRITE_CHUNK_BYTES.is_multiple_of(IO_ALIGN));
const _: () = assert!(FOOTER_BYTES <= IO_ALIGN);
const _: () = assert!(BLOCK_BYTES_MIN <= BLOCK_BYTES_MAX);
const _: () = assert!(DATA_BLOCK_PAYLOAD_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(META_BLOCK_BYTES_MAX <= u32::MAX as usize - 9);
const _: () = assert!(PROPERTIES_USER_BYTES_MAX + 2 * KEY_BYTES_MAX + 64 <= META_BLOCK_BYTES_MAX);
const _: () = assert!(BLOOM_BITS_PER_KEY_MAX * 7 / 10 <= BLOOM_PROBES_MAX);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ops::Bound;
    use std::path::{Path, PathBuf};

    use proptest::prelude::*;

    use super::footer::Footer;
    use super::*;
    use crate::cache::BlockCache;
    use crate::error::Error;
    use crate::io::{Disk, OpenMode};
    use crate::runtime::run_test;

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;
    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn env_or(name: &str, default: usize) -> usize {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    fn scale() -> usize {
        env_or("SHOAL_TEST_SCALE", 5000)
    }

    /// splitmix64: a small deterministic generator, so a failing seed replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }

        /// A key with a shared-looking prefix half of the time, binary otherwise.
        fn key(&mut self) -> Vec<u8> {
            if self.below(2) == 0 {
                let mut key = format!("user/{:08}/", self.below(1 << 20)).into_bytes();
                let tail = self.below(8) as usize;
                key.extend(self.bytes(tail));
                key
            } else {
                let len = 1 + self.below(24) as usize;
                self.bytes(len)
            }
        }

        fn value(&mut self) -> Vec<u8> {
            // Some values are larger than a block, to test blocks of one entry.
            let len = if self.below(300) == 0 { 5000 } else { self.below(120) as usize };
            // Repetitive values compress, so lz4 is exercised and not just skipped.
            let byte = self.next() as u8;
            let mut value = vec![byte; len];
            value.iter_mut().step_by(7).for_each(|b| *b = self.next() as u8);
            value
        }
    }

    fn random_model(seed: u64, n: usize) -> Model {
        let mut rng = Rng(seed);
        (0..n).map(|_| (rng.key(), rng.value())).collect()
    }

    async fn write_table(
        disk: &Disk,
        path: &Path,
        model: &Model,
        options: SstableOptions,
    ) -> SstableInfo {
        let mut writer = SstableWriter::create(disk, path, options, model.len()).await.unwrap();
        for (key, value) in model {
            writer.add(key, value).await.unwrap();
        }
        writer.finish(b"user properties").await.unwrap()
    }

    async fn collect(mut iter: SstableIter) -> Result<Pairs, Error> {
        let mut out = Vec::new();
        while let Some((key, value)) = iter.next().await? {
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    fn within(key: &[u8], lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
        let above = match lower {
            Bound::Included(b) => key >= b.as_slice(),
            Bound::Excluded(b) => key > b.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match upper {
            Bound::Included(b) => key <= b.as_slice(),
            Bound::Excluded(b) => key < b.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// What the iterator must return, from the model (without `BTreeMap::range`, which
    /// panics on inverted bounds that an iterator must simply find empty).
    fn expected(
        model: &Model,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        reverse: bool,
    ) -> Pairs {
        let mut pairs: Pairs = model
            .iter()
            .filter(|(k, _)| within(k, lower, upper))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if reverse {
            pairs.reverse();
        }
        pairs
    }

    fn bound(kind: u64, key: Vec<u8>) -> Bound<Vec<u8>> {
        match kind {
            0 => Bound::Included(key),
            1 => Bound::Excluded(key),
            _ => Bound::Unbounded,
        }
    }

    async fn check_ranges(table: &Sstable, model: &Model, rng: &mut Rng) {
        let keys: Vec<&Vec<u8>> = model.keys().collect();
        for round in 0..40 {
            // Bounds are existing keys half of the time, so inclusive and exclusive differ.
            let pick = |rng: &mut Rng| match rng.below(2) {
                0 => keys.get(rng.below(keys.len() as u64) as usize).map_or(vec![], |k| k.to_vec()),
                _ => rng.key(),
            };
            let lower = bound(rng.below(3), pick(rng));
            let upper = bound(rng.below(3), pick(rng));
            let reverse = round % 2 == 1;
            let got = collect(table.iter(lower.clone(), upper.clone(), reverse)).await.unwrap();
            assert_eq!(got, expected(model, &lower, &upper, reverse), "{lower:?}..{upper:?}");
        }
    }

    async fn round_trip(disk: Disk, dir: PathBuf, compression: Compression) {
        disk.create_dir_all(&dir).await.unwrap();
        disk.prime_io_probe(&dir).await.unwrap();
        let model = random_model(42, scale());
        let path = dir.join("1.sst");
        let options = SstableOptions { compression, ..SstableOptions::default() };
        let info = write_table(&disk, &path, &model, options).await;
        assert_eq!(info.entries, model.len() as u64);
        assert_eq!(info.file_bytes % crate::io::IO_ALIGN as u64, 0);
        let cache = BlockCache::new(256 << 10);
        let table = Sstable::open(&disk, &path, 1, cache.clone()).await.unwrap();
        assert_eq!((table.entries(), table.file_bytes()), (info.entries, info.file_bytes));
        assert_eq!(table.first_key(), model.keys().next().unwrap().as_slice());
        assert_eq!(table.last_key(), model.keys().next_back().unwrap().as_slice());
        assert_eq!(table.properties(), b"user properties");
        assert!(table.bloom_bytes() > 0);
        for (key, value) in &model {
            assert_eq!(table.get(key).await.unwrap().as_deref(), Some(value.as_slice()));
        }
        check_absent(&table, &model).await;
        let all = expected(&model, &Bound::Unbounded, &Bound::Unbounded, false);
        let forward = collect(table.iter(Bound::Unbounded, Bound::Unbounded, false)).await;
        assert_eq!(forward.unwrap(), all);
        let backward = collect(table.iter(Bound::Unbounded, Bound::Unbounded, true)).await;
        assert_eq!(backward.unwrap(), all.into_iter().rev().collect::<Pairs>());
        check_ranges(&table, &model, &mut Rng(7)).await;
        assert!(cache.stats().hits > 0 && cache.stats().bytes <= 256 << 10);
        table.close().await.unwrap();
    }

    /// Absent keys are not found, and the bloom filter rules out ~99 % of them.
    async fn check_absent(table: &Sstable, model: &Model) {
        let mut rng = Rng(1234);
        let (mut probes, mut false_positives) = (0, 0);
        while probes < 5000 {
            let key = rng.key();
            if model.contains_key(&key) {
                continue;
            }
            probes += 1;
            false_positives += usize::from(table.may_contain(&key));
            assert_eq!(table.get(&key).await.unwrap(), None);
        }
        if model.len() >= 1000 {
            let rate = false_positives as f64 / probes as f64;
            assert!(rate < 0.02, "bloom false-positive rate {rate}");
        }
    }

    fn on_glommio(compression: Compression) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        run_test(move || round_trip(Disk::glommio(), path, compression));
    }

    #[test]
    fn round_trip_lz4_on_glommio() {
        on_glommio(Compression::Lz4);
    }

    #[test]
    fn round_trip_plain_on_glommio() {
        on_glommio(Compression::None);
    }

    #[test]
    fn round_trip_lz4_on_memory() {
        run_test(|| round_trip(Disk::memory(), PathBuf::from("/mem"), Compression::Lz4));
    }

    #[test]
    fn round_trip_plain_on_memory() {
        run_test(|| round_trip(Disk::memory(), PathBuf::from("/mem"), Compression::None));
    }

    fn small_options() -> SstableOptions {
        SstableOptions {
            block_bytes: BLOCK_BYTES_MIN,
            compression: Compression::None,
            ..Default::default()
        }
    }

    /// A table of many small blocks on a memory disk, opened with caching off.
    async fn small_table(model: &Model) -> (Disk, PathBuf, SstableInfo) {
        let disk = Disk::memory();
        let path = PathBuf::from("/mem/1.sst");
        let info = write_table(&disk, &path, model, small_options()).await;
        (disk, path, info)
    }

    #[test]
    fn a_flipped_data_bit_is_a_checksum_mismatch_on_get_and_iteration() {
        run_test(|| async {
            let model = random_model(3, 2000);
            let (disk, path, _) = small_table(&model).await;
            let table = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap();
            let target = table.block_offsets()[5];
            disk.as_memory().unwrap().flip_bit(&path, target + 3);
            let is_target = |err: &Error| {
                matches!(err, Error::ChecksumMismatch { path: p, offset, .. }
                    if p == &path && *offset == target)
            };
            let mut failed = 0;
            for (key, value) in &model {
                match table.get(key).await {
                    Ok(found) => assert_eq!(found.as_deref(), Some(value.as_slice())),
                    Err(err) => {
                        assert!(is_target(&err), "{err}");
                        failed += 1;
                    }
                }
            }
            assert!(failed > 0, "some key lives in the corrupt block");
            for reverse in [false, true] {
                let err = collect(table.iter(Bound::Unbounded, Bound::Unbounded, reverse)).await;
                let err = err.unwrap_err();
                assert!(is_target(&err), "{err}");
                assert!(err.to_string().contains("/mem/1.sst"), "{err}");
            }
        });
    }

    async fn footer_of(disk: &Disk, path: &Path, file_bytes: u64) -> Footer {
        let file = disk.open(path, OpenMode::ReadOnly).await.unwrap();
        let bytes = file.read_at(file_bytes - FOOTER_BYTES as u64, FOOTER_BYTES).await.unwrap();
        Footer::decode(&bytes).unwrap()
    }

    #[test]
    fn flipped_footer_and_meta_bits_fail_open_with_a_clear_error() {
        run_test(|| async {
            let model = random_model(4, 300);
            let (disk, path, info) = small_table(&model).await;
            let mem = disk.as_memory().unwrap().clone();
            let footer = footer_of(&disk, &path, info.file_bytes).await;
            let footer_offset = info.file_bytes - FOOTER_BYTES as u64;
            let covered =
                (info.data_bytes..footer.properties.end()).chain(footer_offset..info.file_bytes);
            for offset in covered {
                mem.flip_bit(&path, offset);
                let err = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap_err();
                assert!(err.to_string().contains("/mem/1.sst"), "{err}");
                mem.flip_bit(&path, offset);
            }
            mem.flip_bit(&path, info.data_bytes + 1);
            let err = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap_err();
            assert!(
                matches!(err, Error::ChecksumMismatch { offset, .. } if offset == info.data_bytes)
            );
            mem.flip_bit(&path, info.data_bytes + 1);
            mem.flip_bit(&path, footer_offset + 8);
            let err = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap_err();
            assert!(err.to_string().contains("unknown format version 17"), "{err}");
            mem.flip_bit(&path, footer_offset + 8);
            mem.flip_bit(&path, footer_offset);
            let err = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap_err();
            assert!(err.to_string().contains("bad magic"), "{err}");
        });
    }

    #[test]
    fn files_that_are_not_tables_are_refused() {
        run_test(|| async {
            let disk = Disk::memory();
            for (name, len) in [("empty", 0), ("page", 4096), ("odd", 5000)] {
                let path = PathBuf::from("/mem").join(name);
                let file = disk.open(&path, OpenMode::CreateNew).await.unwrap();
                if len > 0 {
                    file.write_at(0, &vec![0x5a; crate::io::align_up(len)]).await.unwrap();
                    file.truncate(len as u64).await.unwrap();
                }
                let err = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.unwrap_err();
                assert!(matches!(err, Error::Corrupt { .. }), "{err}");
            }
        });
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // A small alphabet, so keys share prefixes and bounds hit existing keys.
        proptest::collection::vec(0_u8..4, 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(env_or("SHOAL_PROPTEST_CASES", 32) as u32))]

        #[test]
        fn iteration_matches_a_model(
            model in proptest::collection::btree_map(
                key_strategy(), proptest::collection::vec(any::<u8>(), 0..40), 1..300),
            lower in (0_u64..3, key_strategy()),
            upper in (0_u64..3, key_strategy()),
            reverse: bool,
        ) {
            run_test(move || async move {
                let (disk, path, _) = small_table(&model).await;
                let table = Sstable::open(&disk, &path, 1, BlockCache::new(4096)).await.unwrap();
                let (lower, upper) = (bound(lower.0, lower.1), bound(upper.0, upper.1));
                let got = collect(table.iter(lower.clone(), upper.clone(), reverse)).await.unwrap();
                assert_eq!(got, expected(&model, &lower, &upper, reverse));
            });
        }

        /// Point reads find every key and nothing else, with keys that tie on their first
        /// 8 bytes (the index's prefix search), are shorter than 8 bytes (zero padding:
        /// `[1]` and `[1, 0]` share a prefix) or both.
        #[test]
        fn gets_match_a_model(
            model in proptest::collection::btree_map(
                (proptest::collection::vec(0_u8..3, 0..12), 0_u8..3).prop_map(|(mut k, last)| {
                    k.push(last);
                    k
                }),
                proptest::collection::vec(any::<u8>(), 0..40), 1..300),
            probes in proptest::collection::vec(proptest::collection::vec(0_u8..3, 0..13), 50),
        ) {
            run_test(move || async move {
                let (disk, path, _) = small_table(&model).await;
                let table = Sstable::open(&disk, &path, 1, BlockCache::new(4096)).await.unwrap();
                for (key, value) in &model {
                    assert_eq!(table.get(key).await.unwrap().as_deref(), Some(value.as_slice()));
                }
                for key in &probes {
                    let want = model.get(key).map(Vec::as_slice);
                    assert_eq!(table.get(key).await.unwrap().as_deref(), want);
                }
            });
        }

        /// A flipped bit anywhere never makes the table answer wrongly or panic.
        #[test]
        fn a_flipped_bit_never_yields_wrong_data(seed in 0_u64..1000, at in 0.0_f64..1.0) {
            run_test(move || async move {
                let model = random_model(seed, 200);
                let (disk, path, info) = small_table(&model).await;
                let offset = (at * info.file_bytes as f64) as u64;
                disk.as_memory().unwrap().flip_bit(&path, offset);
                let Ok(table) = Sstable::open(&disk, &path, 1, BlockCache::new(0)).await else {
                    return;
                };
                for (key, value) in &model {
                    if let Ok(found) = table.get(key).await {
                        assert_eq!(found.as_deref(), Some(value.as_slice()));
                    }
                }
                let all = expected(&model, &Bound::Unbounded, &Bound::Unbounded, false);
                let iter = table.iter(Bound::Unbounded, Bound::Unbounded, false);
                if let Ok(got) = collect(iter).await {
                    assert_eq!(got, all);
                }
            });
        }

        #[test]
        fn random_files_never_panic_open(bytes in proptest::collection::vec(any::<u8>(), 4096)) {
            run_test(move || async move {
                let disk = Disk::memory();
                let path = PathBuf::from("/mem/random.sst");
                let file = disk.open(&path, OpenMode::CreateNew).await.unwrap();
                file.write_at(0, &bytes).await.unwrap();
                assert!(Sstable::open(&disk, &path, 1, BlockCache::new(0)).await.is_err());
            });
        }
    }
}
