//! Coordination across replicas: which nodes hold a key, how many must answer, replicated
//! writes with hints, and reads that compare replicas (digests first) and repair stale ones.
//!
//! # Consistency
//! With `n` replicas (the table's RF, capped at the ring's size), ONE needs 1 answer,
//! QUORUM `n/2 + 1`, ALL `n`. Too few replicas alive: `Unavailable` at once, nothing sent.
//! Too few answers in time: `Timeout`, saying how many answered (a write may still land).
//! QUORUM writes and QUORUM reads overlap in at least one replica, so a QUORUM read sees
//! every write acknowledged at QUORUM before it began; a read at QUORUM or ALL repairs the
//! stale replicas it saw before answering.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shoal_engine::runtime::{sleep, spawn, Notify, Queue};
use shoal_engine::StagedWrite;
use shoal_net::{
    Consistency, Request, RequestHeader, ResponseBody, Status, TableDescription, TableRef,
};
use shoal_types::{ItemKey, Row};

use crate::ops::{OpError, OpResult};
use crate::shard::Shard;

/// A replica of a key.
#[derive(Clone, Debug)]
pub struct Replica {
    /// Node id.
    pub node: u64,
    /// Its internode address.
    pub internode: String,
    /// Judged alive.
    pub up: bool,
    /// This node.
    pub is_me: bool,
}

/// The replicas of `token` for `table`, primary first.
pub fn replicas(shard: &Shard, table: &TableDescription, token: u64) -> Vec<Replica> {
    let view = shard.node.view();
    let me = shard.node.settings.node_id;
    view.ring
        .replicas(token, usize::from(table.spec.replication_factor))
        .into_iter()
        .map(|m| Replica {
            node: m.id,
            internode: view.endpoints.get(&m.id).map(|e| e.internode.clone()).unwrap_or_default(),
            up: m.id == me || view.is_up(m.id),
            is_me: m.id == me,
        })
        .collect()
}

/// Answers needed from `n` replicas at `cl`.
pub fn required(shard: &Shard, cl: Consistency, n: usize) -> usize {
    let cl = match cl {
        Consistency::Default => shard.node.settings.default_consistency,
        other => other,
    };
    match cl {
        Consistency::One => 1,
        Consistency::All => n,
        Consistency::Quorum | Consistency::Default => n / 2 + 1,
    }
    .min(n)
    .max(1)
}

fn cl_name(shard: &Shard, cl: Consistency) -> &'static str {
    match cl {
        Consistency::Default => shard.node.settings.default_consistency.as_str(),
        other => other.as_str(),
    }
}

/// Refuses at once when fewer than `need` replicas are alive.
pub fn check_available(
    shard: &Shard,
    replicas: &[Replica],
    need: usize,
    cl: Consistency,
) -> OpResult<()> {
    let live = replicas.iter().filter(|r| r.up).count();
    if live < need {
        shard.metrics.unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(OpError::new(
            Status::Unavailable,
            format!(
                "{} needs {need} of {} replicas, only {live} alive",
                cl_name(shard, cl),
                replicas.len()
            ),
        ));
    }
    Ok(())
}

/// The table as other nodes name it.
pub fn table_ref(table: &TableDescription) -> TableRef {
    TableRef { name: table.spec.name.clone(), created_micros: table.created_micros }
}

fn deadline(shard: &Shard) -> Duration {
    shard.node.settings.internode_timeout
}

/// Counts answers of parallel calls; wakes the waiter on each.
#[derive(Default)]
struct Tally {
    ok: Cell<usize>,
    finished: Cell<usize>,
    changed: Notify,
}

impl Tally {
    fn record(&self, ok: bool) {
        if ok {
            self.ok.set(self.ok.get() + 1);
        }
        self.finished.set(self.finished.get() + 1);
        self.changed.notify_all();
    }

    async fn wait(&self, need: usize, total: usize, timeout: Duration) -> bool {
        self.wait_until(|| self.ok.get() >= need || self.finished.get() >= total, timeout).await;
        self.ok.get() >= need
    }

    /// Waits until `done()` holds, every call finished, or `timeout` passed.
    async fn wait_until(&self, done: impl Fn() -> bool, timeout: Duration) -> bool {
        let waiting = async {
            while !done() {
                self.changed.wait().await;
            }
            true
        };
        let expired = async {
            sleep(timeout).await;
            false
        };
        futures_lite::future::or(waiting, expired).await
    }
}

/// Sends `row` to every replica in `replicas` but this node, stores hints for those down or
/// failing, and returns once the consistency level is met. `local` is this node's copy,
/// staged in its commit log when this node is one of the replicas: it finishes (its
/// fdatasync) while the others write theirs, and it is always one of the acknowledgements,
/// so the first replica holds every write it acknowledged (read-your-writes at ONE). If it
/// fails, so does the write, whatever the others answer.
pub async fn replicate(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    row: &Row,
    cl: Consistency,
    replicas: Vec<Replica>,
    local: Option<StagedWrite>,
) -> OpResult<()> {
    debug_assert!(
        local.is_none() || replicas.iter().any(|r| r.is_me),
        "a local copy is written only on a replica"
    );
    let n = replicas.len();
    let need = required(shard, cl, n);
    let remote: Vec<Replica> = replicas.into_iter().filter(|r| !r.is_me).collect();
    if remote.is_empty() {
        return match local {
            Some(staged) => Ok(staged.finish().await?),
            None => Ok(()),
        };
    }
    let started = Instant::now();
    let tally = Rc::new(Tally::default());
    let encoded_key = key.encode();
    let encoded_row = row.to_bytes();
    let reference = table_ref(table);
    for replica in &remote {
        if !replica.up {
            crate::hints::store(shard, replica.node, &reference, &encoded_key, row).await;
            tally.record(false);
            continue;
        }
        let shard = shard.clone();
        let tally = tally.clone();
        let replica = replica.clone();
        let request = Request::ReplicaWrite {
            table: reference.clone(),
            key: encoded_key.clone(),
            row: encoded_row.clone(),
        };
        let row = row.clone();
        let reference = reference.clone();
        let key_bytes = encoded_key.clone();
        spawn(Queue::Foreground, async move {
            let Some(peers) = &shard.peers else { return };
            let result = peers
                .call(&replica.internode, RequestHeader::default(), request, deadline(&shard))
                .await;
            let ok = matches!(&result, Ok(r) if r.status == Status::Ok);
            if !ok {
                crate::hints::store(&shard, replica.node, &reference, &key_bytes, &row).await;
            }
            tally.record(ok);
        });
    }
    // This node's copy, after the sends, so that its fdatasync overlaps theirs.
    if let Some(staged) = local {
        if let Err(e) = staged.finish().await {
            let mut error = OpError::from(e);
            error.message = format!(
                "this node's copy of the write failed: {}; the write may still reach the \
                 other replicas",
                error.message
            );
            return Err(error);
        }
        tally.record(true);
    }
    let left = deadline(shard).saturating_sub(started.elapsed());
    if tally.wait(need, n, left).await {
        return Ok(());
    }
    let answered = tally.ok.get();
    let status = if tally.finished.get() >= n { Status::Unavailable } else { Status::Timeout };
    Err(OpError::new(
        status,
        format!(
            "{} write: {answered} of {n} replicas acknowledged, {need} needed; the write may \
             still be applied (hints were stored for the others)",
            cl_name(shard, cl)
        ),
    ))
}

fn digest(row: &Option<Row>) -> u64 {
    row.as_ref().map_or(0, |r| xxhash_rust::xxh3::xxh3_64(&r.to_bytes()).max(1))
}

/// One replica's answer to a read.
struct Answer {
    replica: Replica,
    row: Option<Row>,
    digest: u64,
    full: bool,
}

async fn read_one(
    shard: &Shard,
    table: &TableDescription,
    key: &ItemKey,
    replica: &Replica,
    digest_only: bool,
) -> Option<Answer> {
    if replica.is_me {
        let row = shard.engine.get_row(table.id, key).await.ok()?;
        return Some(Answer { replica: replica.clone(), digest: digest(&row), row, full: true });
    }
    let peers = shard.peers.as_ref()?;
    let request = Request::ReplicaRead { table: table_ref(table), key: key.encode(), digest_only };
    let response = peers
        .call(&replica.internode, RequestHeader::default(), request, deadline(shard))
        .await
        .ok()?;
    if response.status != Status::Ok {
        return None;
    }
    match response.body {
        ResponseBody::Row { row, digest } => {
            let row = match row {
                Some(bytes) => Some(Row::decode(&bytes).ok()?),
                None => None,
            };
            Some(Answer { replica: replica.clone(), row, digest, full: !digest_only })
        }
        _ => None,
    }
}

/// How a read at some level proceeds.
enum ReadPlan {
    /// This node alone answers (the level needs one answer and this node is a live
    /// replica); `live` replicas exist (for the background repair).
    Here { live: usize },
    /// Ask these live replicas, this node first; `need` of the `n` replicas must answer.
    Ask { live: Vec<Replica>, n: usize, need: usize },
}

/// How a read of `key` at `cl` proceeds.
///
/// # Errors
/// Too few live replicas for `cl` ([`Status::Unavailable`]).
fn plan_read(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<ReadPlan> {
    let mut replicas = replicas(shard, table, key.token);
    let n = replicas.len();
    let need = required(shard, cl, n);
    check_available(shard, &replicas, need, cl)?;
    // This node first (no network), then the others in ring order.
    replicas.sort_by_key(|r| !r.is_me);
    let live: Vec<Replica> = replicas.into_iter().filter(|r| r.up).collect();
    if need == 1 && live.first().is_some_and(|r| r.is_me) {
        return Ok(ReadPlan::Here { live: live.len() });
    }
    Ok(ReadPlan::Ask { live, n, need })
}

/// [`read`]'s live item, encoded as an item travels, when this node alone answers at `cl`
/// (a read plan of this node alone); `None` when other replicas must be asked (use [`read`]). The
/// row is transcoded from its stored bytes when one SSTable holds it.
///
/// # Errors
/// As [`read`].
pub async fn read_item_here_encoded(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<Option<Option<Vec<u8>>>> {
    let ReadPlan::Here { live } = plan_read(shard, table, key, cl)? else { return Ok(None) };
    let item = shard.engine.get_encoded(table.id, key).await?;
    maybe_background_repair(shard, table, key, live);
    Ok(Some(item))
}

/// Reads `key` at `cl`: the merged newest row of the replicas that answered; stale replicas
/// are repaired (before answering at QUORUM and ALL, in the background at ONE).
pub async fn read(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    cl: Consistency,
) -> OpResult<Option<Row>> {
    let (live, n, need) = match plan_read(shard, table, key, cl)? {
        ReadPlan::Here { live } => {
            let row = shard.engine.get_row(table.id, key).await?;
            maybe_background_repair(shard, table, key, live);
            return Ok(row);
        }
        ReadPlan::Ask { live, n, need } => (live, n, need),
    };
    // Ask only as many replicas as the level needs (this node first): the first for data,
    // the others for digests. If some fail, ask the remaining live ones. Each call runs as
    // its own task.
    let answers: Rc<RefCell<Vec<Answer>>> = Rc::default();
    let tally = Rc::new(Tally::default());
    let launch = |replica: &Replica, digest_only: bool| {
        let shard = shard.clone();
        let table = table.clone();
        let key = key.clone();
        let replica = replica.clone();
        let answers = answers.clone();
        let tally = tally.clone();
        spawn(Queue::Foreground, async move {
            let answer = read_one(&shard, &table, &key, &replica, digest_only).await;
            let ok = answer.is_some();
            if let Some(a) = answer {
                answers.borrow_mut().push(a);
            }
            tally.record(ok);
        });
    };
    let total = live.len();
    let first = need.min(total);
    for (i, replica) in live.iter().take(first).enumerate() {
        launch(replica, i != 0);
    }
    let started = std::time::Instant::now();
    let enough = |launched: usize| {
        let got = answers.borrow();
        (got.len() >= need && got.iter().any(|a| a.full)) || tally.finished.get() >= launched
    };
    tally.wait_until(|| enough(first), deadline(shard)).await;
    let satisfied = |answers: &RefCell<Vec<Answer>>| {
        let got = answers.borrow();
        got.len() >= need && got.iter().any(|a| a.full)
    };
    if !satisfied(&answers) && tally.finished.get() >= first && first < total {
        let have_data = answers.borrow().iter().any(|a| a.full);
        for (i, replica) in live.iter().enumerate().skip(first) {
            launch(replica, have_data || i != first);
        }
        let left = deadline(shard).saturating_sub(started.elapsed());
        tally.wait_until(|| enough(total), left).await;
    }
    {
        let got = answers.borrow();
        if got.len() < need || !got.iter().any(|a| a.full) {
            return Err(OpError::new(
                Status::Timeout,
                format!(
                    "{} read: {} of {n} replicas answered in time, {need} needed",
                    cl_name(shard, cl),
                    got.len()
                ),
            ));
        }
    }
    let mut answers: Vec<Answer> = std::mem::take(&mut *answers.borrow_mut());
    let data_digest = answers.iter().find(|a| a.full).map(|a| a.digest).unwrap_or(0);
    if answers.iter().all(|a| a.digest == data_digest) {
        return Ok(answers.into_iter().find(|a| a.full).and_then(|a| a.row));
    }
    // Mismatch: full rows from every replica that answered with only a digest.
    for a in answers.iter_mut().filter(|a| !a.full) {
        if let Some(full) = read_one(shard, table, key, &a.replica, false).await {
            *a = full;
        }
    }
    let merged = answers.iter().filter_map(|a| a.row.clone()).reduce(Row::merge);
    repair(shard, table, key, &merged, &answers, true).await;
    Ok(merged)
}

/// Writes `merged` to every replica whose answer differed from it; waits for them if
/// `wait` (QUORUM and ALL), else lets them finish in the background.
async fn repair(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    merged: &Option<Row>,
    answers: &[Answer],
    wait: bool,
) {
    let Some(merged) = merged else { return };
    let want = digest(&Some(merged.clone()));
    let stale: Vec<Replica> =
        answers.iter().filter(|a| a.full && a.digest != want).map(|a| a.replica.clone()).collect();
    if stale.is_empty() {
        return;
    }
    let tally = Rc::new(Tally::default());
    for replica in &stale {
        shard.metrics.read_repairs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shard = shard.clone();
        let table = table.clone();
        let key = key.clone();
        let row = merged.clone();
        let replica = replica.clone();
        let tally = tally.clone();
        spawn(Queue::Foreground, async move {
            let ok = if replica.is_me {
                shard.engine.write(table.id, &key, row).await.is_ok()
            } else if let Some(peers) = &shard.peers {
                let request = Request::ReplicaWrite {
                    table: table_ref(&table),
                    key: key.encode(),
                    row: row.to_bytes(),
                };
                matches!(peers.call(&replica.internode, RequestHeader::default(), request, deadline(&shard)).await, Ok(r) if r.status == Status::Ok)
            } else {
                false
            };
            tally.record(ok);
        });
    }
    if wait {
        tally.wait(stale.len(), stale.len(), deadline(shard)).await;
    }
}

fn maybe_background_repair(
    shard: &Rc<Shard>,
    table: &TableDescription,
    key: &ItemKey,
    live: usize,
) {
    let chance = shard.node.settings.read_repair_chance;
    if live < 2 || chance <= 0.0 {
        return;
    }
    let roll =
        (xxhash_rust::xxh3::xxh3_64(&shard.timestamp(0).to_le_bytes()) % 10_000) as f64 / 10_000.0;
    if roll >= chance {
        return;
    }
    let shard = shard.clone();
    let table = table.clone();
    let key = key.clone();
    spawn(Queue::Foreground, async move {
        let mut answers = Vec::new();
        for replica in replicas(&shard, &table, key.token).into_iter().filter(|r| r.up) {
            if let Some(a) = read_one(&shard, &table, &key, &replica, false).await {
                answers.push(a);
            }
        }
        let merged = answers.iter().filter_map(|a| a.row.clone()).reduce(Row::merge);
        repair(&shard, &table, &key, &merged, &answers, false).await;
    });
}
