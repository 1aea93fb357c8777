//! Connections to other nodes (the internode client): one pipelined connection per peer
//! address per shard, opened lazily from this node's own IP (so a test can cut the link
//! between two 127.0.0.x nodes), with a bounded number of requests in flight and a deadline
//! on every call.
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

/// One shard's connections to other nodes.
pub struct Peers {
    local_ip: IpAddr,
    connections: RefCell<HashMap<String, Rc<Connection>>>,
    next_id: Cell<u64>,
    faults: std::sync::Arc<Faults>,
    frame_bytes_max: usize,
}

impl Peers {
    /// Connections that bind `local_ip` (this node's address).
    pub fn new(local_ip: IpAddr, faults: std::sync::Arc<Faults>, frame_bytes_max: usize) -> Peers {
        Peers {
            local_ip,
            connections: RefCell::new(HashMap::new()),
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

    async fn connection(&self, address: &str) -> Result<Rc<Connection>, PeerError> {
        if let Some(c) = self.connections.borrow().get(address) {
            if c.broken.borrow().is_none() {
                return Ok(c.clone());
            }
        }
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
        self.connections.borrow_mut().insert(address.to_string(), connection.clone());
        Ok(connection)
    }
}
