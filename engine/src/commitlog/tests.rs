//! Scenario tests of the commit log, on the memory disk and (where no fault is injected) on
//! glommio in a temporary directory. `SHOAL_TEST_SCALE` sets the number of records.

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::segment::{list_segments, segment_name, segment_path};
use super::*;
use crate::io::{align_down, FaultOp, OpenMode};
use crate::runtime::{run_test, sleep, spawn, wait_until, Queue};

type Records = Vec<(LogPosition, Vec<u8>)>;

fn scale() -> u64 {
    std::env::var("SHOAL_TEST_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)
}

fn small() -> CommitLogOptions {
    CommitLogOptions { segment_bytes: SEGMENT_BYTES_MIN, ..CommitLogOptions::default() }
}

/// A payload of 8 to 1507 bytes that names its index.
fn payload(i: u64) -> Vec<u8> {
    let len = 8 + (i * 7919 % 1500) as usize;
    let mut bytes = i.to_le_bytes().to_vec();
    bytes.extend((8..len).map(|j| (i as usize).wrapping_add(j) as u8));
    bytes
}

async fn open_log(
    disk: &Disk,
    dir: &Path,
    options: CommitLogOptions,
    from: LogPosition,
) -> Result<(CommitLog, ReplayReport, Records)> {
    let mut seen = Vec::new();
    let (log, report) = CommitLog::open(disk.clone(), dir.to_path_buf(), options, from, |at, p| {
        seen.push((at, p.to_vec()));
        Ok(())
    })
    .await?;
    Ok((log, report, seen))
}

async fn append_range(log: &CommitLog, range: std::ops::Range<u64>, acked: &mut Records) {
    for i in range {
        let at = log.append(&payload(i)).await.unwrap();
        acked.push((at, payload(i)));
    }
}

/// Runs `body` on the memory disk, then on glommio in a fresh temporary directory.
fn on_both<F: Future<Output = ()> + 'static>(body: fn(Disk, PathBuf) -> F) {
    run_test(move || body(Disk::memory(), PathBuf::from("/mem/log")));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    run_test(move || async move {
        let disk = Disk::glommio();
        disk.prime_io_probe(&root).await.unwrap();
        body(disk, root.join("log")).await;
    });
}

fn is_stopped(error: &Error, needle: &str) -> bool {
    matches!(error, Error::WritesStopped { reason } if reason.contains(needle))
}

#[test]
fn round_trip_across_segments() {
    on_both(|disk, dir| async move {
        let (log, report, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert!(seen.is_empty() && report.torn_tail.is_none());
        let mut acked = Vec::new();
        append_range(&log, 0..scale() / 4, &mut acked).await;
        let last = log.current_position();
        assert_eq!(acked.last().map(|(at, _)| *at), Some(last));
        assert_eq!(log.durable_position(), last);
        log.close().await.unwrap();

        let (log, report, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert!(report.segments >= 3, "small segments roll: {report:?}");
        assert_eq!((report.records, seen.len()), (acked.len() as u64, acked.len()));
        assert_eq!(seen, acked);
        assert!(log.current_position().segment > last.segment, "writing starts a new segment");
        let middle = acked[acked.len() / 2].0;
        append_range(&log, 10_000..10_010, &mut acked).await;
        drop(log);
        sleep(Duration::from_millis(5)).await;

        let (log, _, seen) = open_log(&disk, &dir, small(), middle).await.unwrap();
        let expected: Records = acked.into_iter().filter(|(at, _)| *at > middle).collect();
        assert_eq!(seen, expected, "replay starts after replay_from");
        log.close().await.unwrap();
    });
}

#[test]
fn concurrent_writers_share_fdatasyncs() {
    on_both(|disk, dir| async move {
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let (writers, per_writer) = (64, (scale() / 64).max(4));
        let acked = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (log, acked) = (log.clone(), acked.clone());
                spawn(Queue::Foreground, async move {
                    for n in 0..per_writer {
                        let i = w * per_writer + n;
                        let at = log.append(&payload(i)).await.unwrap();
                        acked.borrow_mut().push((at, payload(i)));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.join().await.unwrap();
        }
        let stats = log.stats();
        assert_eq!(stats.appends, writers * per_writer);
        assert!(stats.flushes * 4 <= stats.appends, "group commit batches: {stats:?}");
        log.close().await.unwrap();
        let (_log, report, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let mut acked = acked.take();
        acked.sort();
        assert_eq!(report.records, stats.appends);
        assert_eq!(seen, acked, "every acknowledged append is replayed, in position order");
    });
}

#[test]
fn torn_write_at_the_tail_is_cut_and_reported() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let mem = disk.as_memory().unwrap().clone();
        let options = CommitLogOptions::default();
        let (log, _, _) = open_log(&disk, &dir, options.clone(), LogPosition::ZERO).await.unwrap();
        let mut acked = Vec::new();
        append_range(&log, 0..10, &mut acked).await;
        let end = log.current_position();
        // The next write keeps the acknowledged page prefix and only 12 bytes of the new record.
        let page_start = align_down(end.offset as usize);
        mem.tear_next_write(end.offset as usize - page_start + 12);
        let torn = log.append(&payload(99)).await.unwrap_err();
        assert!(is_stopped(&torn, "torn write"), "{torn}");
        // The torn sectors reached the media before the power went.
        let path = segment_path(&dir, end.segment);
        disk.open(&path, OpenMode::ReadWrite).await.unwrap().fdatasync().await.unwrap();
        log.halt();
        mem.power_cut();

        let (log, report, seen) =
            open_log(&disk, &dir, options.clone(), LogPosition::ZERO).await.unwrap();
        assert_eq!(seen, acked, "exactly the acknowledged records");
        assert_eq!(report.torn_tail, Some((path, end.offset)));
        append_range(&log, 100..110, &mut acked).await;
        log.close().await.unwrap();
        // The tail was cut back: with records after it, it must not read as corruption now.
        let (_log, report, seen) = open_log(&disk, &dir, options, LogPosition::ZERO).await.unwrap();
        assert_eq!((seen, report.torn_tail), (acked, None));
    });
}

#[test]
fn flipped_bit_in_a_middle_segment_fails_open_naming_the_file() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let mut acked = Vec::new();
        let mut i = 0;
        while log.current_position().segment < 4 {
            append_range(&log, i..i + 1, &mut acked).await;
            i += 1;
        }
        log.close().await.unwrap();
        let segments = list_segments(&disk, &dir).await.unwrap();
        let middle = segments[1].1.clone();
        disk.as_memory().unwrap().flip_bit(&middle, 100);
        let error = open_log(&disk, &dir, small(), LogPosition::ZERO).await.err().unwrap();
        match &error {
            Error::ChecksumMismatch { path, .. } | Error::Corrupt { path, .. } => {
                assert_eq!(path, &middle);
            }
            other => panic!("expected corruption, got {other}"),
        }
        let name = middle.file_name().unwrap().to_string_lossy().into_owned();
        assert!(error.to_string().contains(&name), "{error}");
    });
}

#[test]
fn failed_fdatasync_stops_every_later_append() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let mem = disk.as_memory().unwrap().clone();
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let mut acked = Vec::new();
        append_range(&log, 0..3, &mut acked).await;
        mem.fail_after(FaultOp::Sync, 0);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let log = log.clone();
                spawn(Queue::Foreground, async move { log.append(&payload(10 + i)).await })
            })
            .collect();
        for task in tasks {
            let error = task.join().await.unwrap().unwrap_err();
            assert!(is_stopped(&error, "fdatasync"), "the whole batch fails: {error}");
        }
        // The disk works again, but the log does not pretend the lost sync succeeded.
        let later = log.append(&payload(20)).await.unwrap_err();
        assert!(is_stopped(&later, "fdatasync"), "{later}");
        assert!(is_stopped(&log.sync().await.unwrap_err(), "fdatasync"));
        assert!(log.close().await.is_err());
        mem.power_cut();
        let (_log, _, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert_eq!(seen, acked);
    });
}

#[test]
fn full_disk_stops_writes_and_loses_nothing_acknowledged() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let mem = disk.as_memory().unwrap().clone();
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let mut acked = Vec::new();
        append_range(&log, 0..10, &mut acked).await;
        mem.set_capacity(Some(mem.used_bytes()));
        let mut i = 10;
        let error = loop {
            match log.append(&payload(i)).await {
                Ok(at) => acked.push((at, payload(i))),
                Err(error) => break error,
            }
            i += 1;
        };
        assert!(is_stopped(&error, "disk full"), "{error}");
        let later = log.append(&payload(0)).await.unwrap_err();
        assert!(is_stopped(&later, "disk full"), "{later}");
        log.halt();
        mem.power_cut();
        let (_log, _, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert_eq!(seen, acked);
    });
}

#[test]
fn release_before_recycles_segments() {
    on_both(|disk, dir| async move {
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let first = log.current_position().segment;
        let mut acked = Vec::new();
        let mut i = 0;
        while log.current_position().segment < first + 5 {
            append_range(&log, i..i + 10, &mut acked).await;
            i += 10;
        }
        let head = log.current_position().segment;
        let cut = LogPosition { segment: first + 3, offset: 0 };
        log.release_before(cut).await.unwrap();
        let names = disk.list(&dir).await.unwrap();
        let spares: Vec<u64> = (head + 1..head + 3).collect();
        let expected: Vec<String> =
            (first + 3..=head).chain(spares.iter().copied()).map(segment_name).collect();
        assert_eq!(names, expected, "3 released: 2 renamed to future names, 1 deleted");
        // Rolling twice more writes into the spares instead of creating files.
        while log.current_position().segment < head + 2 {
            append_range(&log, i..i + 10, &mut acked).await;
            i += 10;
        }
        assert!(acked.iter().any(|(at, _)| at.segment == spares[0]));
        // No file was created for those rolls; the one after the head may be being prepared.
        let written: Vec<String> = (first + 3..=head + 2).map(segment_name).collect();
        let mut names = disk.list(&dir).await.unwrap();
        names.retain(|name| *name != segment_name(head + 3));
        assert_eq!(names, written);
        log.close().await.unwrap();

        let kept: Records = acked.into_iter().filter(|(at, _)| *at > cut).collect();
        for from in [cut, LogPosition::ZERO] {
            let (log, _, seen) = open_log(&disk, &dir, small(), from).await.unwrap();
            assert_eq!(seen, kept, "exactly the unreleased records, from {from:?}");
            log.close().await.unwrap();
        }
    });
}

#[test]
fn periodic_mode_acknowledges_before_sync() {
    on_both(|disk, dir| async move {
        let interval_ms = 20;
        let options = CommitLogOptions { sync: SyncMode::Periodic { interval_ms }, ..small() };
        let (log, _, _) = open_log(&disk, &dir, options.clone(), LogPosition::ZERO).await.unwrap();
        let mut acked = Vec::new();
        append_range(&log, 0..50, &mut acked).await;
        assert_eq!(log.stats().flushes, 0, "acknowledged before any write");
        assert!(log.durable_position() < log.current_position());
        sleep(Duration::from_millis(interval_ms * 5)).await;
        assert_eq!(log.durable_position(), log.current_position(), "the timer synced them");
        log.halt();
        if let Some(mem) = disk.as_memory() {
            mem.power_cut();
        }
        let (log, _, seen) =
            open_log(&disk, &dir, options.clone(), LogPosition::ZERO).await.unwrap();
        assert_eq!(seen, acked);
        let Some(mem) = disk.as_memory() else { return };
        // The documented risk: a power cut before the timer loses acknowledged appends.
        let lost = log.append(b"acknowledged, then lost").await.unwrap();
        log.halt();
        mem.power_cut();
        let (_log, _, seen) = open_log(&disk, &dir, options, LogPosition::ZERO).await.unwrap();
        assert!(seen.iter().all(|(at, _)| *at != lost));
    });
}

#[test]
fn pending_bytes_are_bounded() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let sync = SyncMode::Periodic { interval_ms: 600_000 };
        let options = CommitLogOptions { pending_bytes_max: 16 << 10, sync, ..small() };
        let (log, _, _) = open_log(&disk, &dir, options, LogPosition::ZERO).await.unwrap();
        for _ in 0..200 {
            log.append(&[7; 1000]).await.unwrap();
        }
        let flushes = log.stats().flushes;
        assert!(flushes >= 10, "writers waiting for room start flushes: {flushes}");
        // Dropping the last handle flushes what is pending.
        let end = log.current_position();
        drop(log);
        sleep(Duration::from_millis(5)).await;
        disk.as_memory().unwrap().power_cut();
        let (_log, _, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert_eq!((seen.len(), seen.last().map(|(at, _)| *at)), (200, Some(end)));
    });
}

#[test]
fn limits_and_batches() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let limit = small().payload_bytes_max();
        let too_large = log.append(&vec![1; limit + 1]).await.unwrap_err();
        assert!(matches!(too_large, Error::TooLarge { .. }), "{too_large}");
        assert!(matches!(log.append(b"").await, Err(Error::Invalid { .. })));
        let full = vec![2; limit];
        let first = log.append(&full).await.unwrap();
        assert_eq!(first.offset, SEGMENT_BYTES_MIN, "the largest record fills a segment");
        let batch = log.append_batch(&[b"a", b"bb", b"ccc"]).await.unwrap();
        assert_eq!(batch, log.current_position());
        log.close().await.unwrap();
        let (_log, _, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let payloads: Vec<&[u8]> = seen.iter().map(|(_, p)| p.as_slice()).collect();
        assert_eq!(payloads, vec![full.as_slice(), b"a", b"bb", b"ccc"]);
        assert_eq!(seen.last().map(|(at, _)| *at), Some(batch));
        let bad = CommitLogOptions { segment_bytes: 5000, ..small() };
        assert!(open_log(&disk, &dir, bad, LogPosition::ZERO).await.is_err());
    });
}

#[test]
fn a_segment_that_cannot_be_prepared_is_retried_once_the_head_moves() {
    run_test(|| async {
        let (disk, dir) = (Disk::memory(), PathBuf::from("/mem/log"));
        let mem = disk.as_memory().unwrap().clone();
        // Room for the first segment and half of the next: preparing the next one fails.
        mem.set_capacity(Some(SEGMENT_BYTES_MIN * 3 / 2));
        let (log, _, _) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        let failed = || log.stats().prepare_failures == 1;
        wait_until("the first preparation fails", Duration::from_secs(1), failed).await;
        let first = log.current_position().segment;
        let mut acked = Vec::new();
        // Twenty batches in the first segment (which is full length already, so they fit).
        append_range(&log, 0..20, &mut acked).await;
        assert_eq!(log.current_position().segment, first);
        sleep(Duration::from_millis(20)).await;
        assert_eq!(log.stats().prepare_failures, 1, "one attempt a segment, not one a batch");
        assert_eq!(disk.list(&dir).await.unwrap(), vec![segment_name(first)], "no debris");

        // With room again, the roll creates its file itself and the next one is prepared.
        mem.set_capacity(None);
        let mut i = 20;
        while log.current_position().segment == first {
            append_range(&log, i..i + 10, &mut acked).await;
            i += 10;
        }
        let next = segment_path(&dir, log.current_position().segment + 1);
        let prepared = || mem.file_len(&next) == Some(SEGMENT_BYTES_MIN);
        wait_until("the segment after the head is prepared", Duration::from_secs(1), prepared)
            .await;
        log.close().await.unwrap();
        let (_log, _, seen) = open_log(&disk, &dir, small(), LogPosition::ZERO).await.unwrap();
        assert_eq!(seen, acked);
    });
}
