//! Connections to other nodes (the internode client): one pipelined connection per peer
//! address per shard, opened lazily from this node's own IP (so a test can cut the link
//! between two 127.0.0.x nodes), with a bounded number of requests in flight and a deadline
//! on every call.
//!
//! Invariant: at most one connection per peer address per shard. Calls that find an
//! attempt to connect under way wait for its outcome instead of opening their own, and an
//! attempt abandoned midway (its caller's deadline passed) hands its waiters an error and
//! clears the way for the next call.
//!
//! The fault hooks ([`Faults`]) drop or delay messages to chosen peers, for tests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use shoal_engine::runtime::{oneshot, sleep, spawn, Notify, OneshotSender, Queue};
use shoal_net::{
    decode_frame, decode_response, encode_frame, encode_request, FrameKind, Request,
    RequestEnvelope, RequestHeader, Response,
};

/// Requests in flight to one peer from one shard before callers wait.
pub const PEER_INFLIGHT_MAX: usize = 1024;
/// Longest a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a call to a peer failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Cannot connect, or the connection broke.
    Unreachable(String),
    /// No answer in time.
    Timeout,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            PeerError::Timeout => write!(f, "timed out"),
        }
    }
}

/// Test hooks shared by the node's shards: messages to these peers are dropped or delayed.
#[derive(Default)]
pub struct Faults {
    /// True while any fault is set: every internode call checks it, and only then takes
    /// the locks below (shared by all cores), so the hooks cost one atomic load when off.
    active: AtomicBool,
    drop_to: Mutex<Vec<String>>,
    delay_to: Mutex<HashMap<String, u64>>,
}

impl Faults {
    /// Drops (or stops dropping) every message to `peer` (an internode address).
    pub fn set_drop(&self, peer: &str, on: bool) {
        if let Ok(mut list) = self.drop_to.lock() {
            list.retain(|p| p != peer);
            if on {
                list.push(peer.to_string());
            }
        }
        self.active.store(true, Ordering::Release);
    }

    /// Delays every message to `peer` by `ms` (0 = none).
    pub fn set_delay(&self, peer: &str, ms: u64) {
        if let Ok(mut map) = self.delay_to.lock() {
            if ms == 0 {
                map.remove(peer);
            } else {
                map.insert(peer.to_string(), ms);
            }
        }
        self.active.store(true, Ordering::Release);
    }

    /// Clears every fault.
    pub fn clear(&self) {
        if let Ok(mut list) = self.drop_to.lock() {
            list.clear();
        }
        if let Ok(mut map) = self.delay_to.lock() {
            map.clear();
        }
        self.active.store(false, Ordering::Release);
    }

    fn dropped(&self, peer: &str) -> bool {
        self.active.load(Ordering::Acquire)
            && self.drop_to.lock().map(|l| l.iter().any(|p| p == peer)).unwrap_or(false)
    }

    fn delay(&self, peer: &str) -> Option<Duration> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        self.delay_to.lock().ok()?.get(peer).map(|ms| Duration::from_millis(*ms))
    }
}

struct Connection {
    out: RefCell<Vec<u8>>,
    ready: Notify,
    pending: RefCell<HashMap<u64, OneshotSender<Result<Response, PeerError>>>>,
    broken: RefCell<Option<String>>,
    inflight: Cell<usize>,
    slot_free: Notify,
}

impl Connection {
    fn fail_all(&self, reason: &str) {
        self.broken.borrow_mut().get_or_insert_with(|| reason.to_string());
        for (_, tx) in self.pending.borrow_mut().drain() {
            tx.send(Err(PeerError::Unreachable(reason.to_string())));
        }
        self.ready.notify_all();
        self.slot_free.notify_all();
    }
}

/// A peer address's entry: its connection, or the attempt to open one that later calls
/// wait for.
enum Slot {
    Open(Rc<Connection>),
    Opening(Rc<Opening>),
}

/// One attempt to connect, shared by every call that needs the peer meanwhile.
#[derive(Default)]
struct Opening {
    done: Notify,
    outcome: RefCell<Option<Result<Rc<Connection>, PeerError>>>,
}

/// Ends an attempt however its future ends: a dropped attempt (its caller's deadline
/// passed) removes its slot and tells its waiters, so no later call waits for an
/// outcome that never comes.
struct OpeningGuard<'a> {
    slots: &'a RefCell<HashMap<String, Slot>>,
    address: &'a str,
    opening: Rc<Opening>,
    outcome: Option<Result<Rc<Connection>, PeerError>>,
}

impl Drop for OpeningGuard<'_> {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            Err(PeerError::Unreachable(format!("{}: connection attempt abandoned", self.address)))
        });
        let mut slots = self.slots.borrow_mut();
        // Only this attempt's own slot: nothing else replaces an `Opening` while it runs.
        debug_assert!(
            matches!(slots.get(self.address), Some(Slot::Opening(o)) if Rc::ptr_eq(o, &self.opening))
        );
        match &outcome {
            Ok(connection) => {
                slots.insert(self.address.to_string(), Slot::Open(connection.clone()));
            }
            Err(_) => {
                slots.remove(self.address);
            }
        }
        drop(slots);
        *self.opening.outcome.borrow_mut() = Some(outcome);
        self.opening.done.notify_all();
    }
}

/// One shard's connections to other nodes.
pub struct Peers {
    local_ip: IpAddr,
    slots: RefCell<HashMap<String, Slot>>,
    next_id: Cell<u64>,
    faults: std::sync::Arc<Faults>,
    frame_bytes_max: usize,
}

impl Peers {
    /// Connections that bind `local_ip` (this node's address).
    pub fn new(local_ip: IpAddr, faults: std::sync::Arc<Faults>, frame_bytes_max: usize) -> Peers {
        Peers {
            local_ip,
            slots: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            faults,
            frame_bytes_max,
        }
    }

    /// Sends `request` to the node at `address` (its internode address) and waits up to
    /// `timeout` for the answer.
    ///
    /// # Errors
    /// [`PeerError`]: unreachable (including a fault hook's drop) or timed out.
    pub async fn call(
        &self,
        address: &str,
        header: RequestHeader,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, PeerError> {
        let attempt = async {
            if self.faults.dropped(address) {
                // A dropped message looks like a silent peer: the caller times out.
                sleep(timeout + Duration::from_millis(1)).await;
                return Err(PeerError::Timeout);
            }
            if let Some(delay) = self.faults.delay(address) {
                sleep(delay).await;
            }
            let connection = self.connection(address).await?;
            while connection.inflight.get() >= PEER_INFLIGHT_MAX
                && connection.broken.borrow().is_none()
            {
                connection.slot_free.wait().await;
            }
            if let Some(reason) = connection.broken.borrow().clone() {
                return Err(PeerError::Unreachable(reason));
            }
            let id = self.next_id.get();
            self.next_id.set(id + 1);
            let (tx, rx) = oneshot();
            connection.pending.borrow_mut().insert(id, tx);
            connection.inflight.set(connection.inflight.get() + 1);
            let body = encode_request(&RequestEnvelope { header, request });
            encode_frame(FrameKind::Request, id, &body, &mut connection.out.borrow_mut());
            connection.ready.notify_all();
            let result =
                rx.await.unwrap_or(Err(PeerError::Unreachable("connection closed".into())));
            connection.inflight.set(connection.inflight.get().saturating_sub(1));
            connection.slot_free.notify_all();
            result
        };
        let deadline = async {
            sleep(timeout).await;
            Err(PeerError::Timeout)
        };
        futures_lite::future::or(attempt, deadline).await
    }

    /// The open connection to `address`, or the outcome of the attempt to open one that is
    /// under way, or a new attempt.
    async fn connection(&self, address: &str) -> Result<Rc<Connection>, PeerError> {
        let waiting = match self.slots.borrow().get(address) {
            Some(Slot::Open(c)) if c.broken.borrow().is_none() => return Ok(c.clone()),
            // Registered before the borrow ends: no notification can slip in between.
            Some(Slot::Opening(opening)) => Some((opening.clone(), opening.done.wait())),
            Some(Slot::Open(_)) | None => None,
        };
        if let Some((opening, done)) = waiting {
            let _ = done.await;
            return opening.outcome.borrow().clone().unwrap_or_else(|| {
                Err(PeerError::Unreachable(format!("{address}: connection attempt ended")))
            });
        }
        let opening = Rc::new(Opening::default());
        self.slots.borrow_mut().insert(address.to_string(), Slot::Opening(opening.clone()));
        let mut guard = OpeningGuard { slots: &self.slots, address, opening, outcome: None };
        let outcome = self.open(address).await;
        guard.outcome = Some(outcome.clone());
        drop(guard);
        outcome
    }

    /// Connects to `address` and starts the connection's reader and writer tasks.
    async fn open(&self, address: &str) -> Result<Rc<Connection>, PeerError> {
        let target: SocketAddr = address
            .parse()
            .map_err(|e| PeerError::Unreachable(format!("bad address {address}: {e}")))?;
        let local = SocketAddr::new(self.local_ip, 0);
        // A blocking connect, on glommio's blocking-thread pool, so that binding our own IP
        // first is possible and the shard never blocks.
        let std_stream = glommio::executor()
            .spawn_blocking(move || -> std::io::Result<std::net::TcpStream> {
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
                socket.bind(&local.into())?;
                socket.connect_timeout(&target.into(), CONNECT_TIMEOUT)?;
                socket.set_nodelay(true)?;
                Ok(socket.into())
            })
            .await
            .map_err(|e| PeerError::Unreachable(format!("{address}: {e}")))?;
        // SAFETY: the descriptor comes from a connected socket we own and hand over.
        let stream = unsafe { TcpStream::from_raw_fd(std_stream.into_raw_fd()) };
        let connection = Rc::new(Connection {
            out: RefCell::new(Vec::new()),
            ready: Notify::default(),
            pending: RefCell::new(HashMap::new()),
            broken: RefCell::new(None),
            inflight: Cell::new(0),
            slot_free: Notify::default(),
        });
        let (mut reader, mut writer) = futures_lite::io::split(stream);
        let w = connection.clone();
        spawn(Queue::Foreground, async move {
            let mut batch = Vec::new();
            while w.broken.borrow().is_none() {
                if w.out.borrow().is_empty() {
                    w.ready.wait().await;
                    continue;
                }
                std::mem::swap(&mut batch, &mut w.out.borrow_mut());
                if let Err(e) = async {
                    writer.write_all(&batch).await?;
                    writer.flush().await
                }
                .await
                {
                    w.fail_all(&format!("write failed: {e}"));
                }
                batch.clear();
            }
            let _ = writer.close().await;
        });
        let r = connection.clone();
        // Responses carry pages and batches: allow twice the request limit.
        let max_frame = self.frame_bytes_max.saturating_mul(2);
        spawn(Queue::Foreground, async move {
            let mut buf = BytesMut::with_capacity(64 << 10);
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                match decode_frame(&mut buf, max_frame) {
                    Ok(Some(frame)) => {
                        let response = decode_response(&frame.body)
                            .map_err(|e| PeerError::Unreachable(format!("bad response: {e}")));
                        if let Some(tx) = r.pending.borrow_mut().remove(&frame.request_id) {
                            tx.send(response);
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        r.fail_all(&format!("bad frame: {e}"));
                        return;
                    }
                }
                match reader.read(&mut chunk).await {
                    Ok(0) => {
                        r.fail_all("connection closed by peer");
                        return;
                    }
                    Err(e) => {
                        r.fail_all(&format!("read failed: {e}"));
                        return;
                    }
                    Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
        });
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{poll_once, zip};
    use shoal_engine::runtime::run_test;
    use std::net::TcpListener;

    fn peers() -> Peers {
        Peers::new("127.0.0.1".parse().expect("an IP"), Default::default(), 1 << 20)
    }

    /// A listener on a free loopback port, and its address.
    fn listening() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let address = listener.local_addr().expect("address").to_string();
        (listener, address)
    }

    /// How many connections the listener has waiting (it never accepts otherwise).
    fn accepted(listener: &TcpListener) -> usize {
        listener.set_nonblocking(true).expect("nonblocking");
        std::iter::from_fn(|| listener.accept().ok()).count()
    }

    #[test]
    fn calls_racing_on_a_cold_start_share_one_connection() {
        run_test(|| async {
            let (listener, address) = listening();
            let peers = peers();
            let (a, b) = zip(peers.connection(&address), peers.connection(&address)).await;
            let (a, b) = (a.expect("first call connects"), b.expect("second call connects"));
            assert!(Rc::ptr_eq(&a, &b), "the racing calls opened two connections");
            let c = peers.connection(&address).await.expect("a later call");
            assert!(Rc::ptr_eq(&a, &c), "a later call opened another connection");
            assert_eq!(accepted(&listener), 1);
        });
    }

    #[test]
    fn an_abandoned_attempt_fails_its_waiters_and_the_next_call_connects() {
        run_test(|| async {
            let (listener, address) = listening();
            let peers = peers();
            let mut first = Box::pin(peers.connection(&address));
            assert!(poll_once(first.as_mut()).await.is_none(), "connected within one poll");
            let mut waiter = Box::pin(peers.connection(&address));
            assert!(poll_once(waiter.as_mut()).await.is_none(), "the waiter did not wait");
            drop(first);
            let Err(error) = waiter.await else {
                panic!("the abandoned attempt's waiter connected");
            };
            assert!(error.to_string().contains("abandoned"), "{error}");
            assert!(peers.slots.borrow().is_empty(), "the abandoned attempt left its slot");
            peers.connection(&address).await.expect("the next call connects");
            // The abandoned attempt's blocking connect may have completed too; it is closed.
            assert!((1..=2).contains(&accepted(&listener)));
        });
    }

    #[test]
    fn a_refused_attempt_fails_every_waiter_and_leaves_no_slot() {
        run_test(|| async {
            // Nothing listens there once the listener is closed.
            let address = listening().1;
            let peers = peers();
            let (a, b) = zip(peers.connection(&address), peers.connection(&address)).await;
            assert!(matches!(a, Err(PeerError::Unreachable(_))));
            assert!(matches!(b, Err(PeerError::Unreachable(_))));
            assert!(peers.slots.borrow().is_empty(), "a failed attempt left its slot");
        });
    }
}
