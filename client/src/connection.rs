//! One pipelined connection: many requests in flight, answers matched by request id.
//!
//! A [`Connection`] owns two tasks. The writer drains a queue of encoded frames into the
//! socket, coalescing whatever is queued into one write. The reader cuts response frames out
//! of the byte stream and completes the caller waiting on each request id, in whatever order
//! the server answers. A semaphore bounds the requests in flight, so callers beyond the bound
//! wait (backpressure) instead of queueing without limit.
//!
//! **Invariant:** once a connection closes (read or write error, end of stream, or a frame
//! that breaks the stream's sync) every waiting caller gets [`ClientError::Connection`], no
//! new request is accepted, and both tasks end. The pool notices [`Connection::is_closed`]
//! and dials a new one on the next request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use shoal_net::{FrameKind, RequestEnvelope, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

use crate::config::ClientConfig;
use crate::error::ClientError;

/// Most queued frame bytes the writer gathers into one socket write.
const WRITE_BATCH_BYTES_MAX: usize = 256 << 10;
/// Free buffer space the reader keeps before each socket read.
const READ_BUFFER_BYTES_MIN: usize = 64 << 10;

type Reply = oneshot::Sender<Result<Response, ClientError>>;

/// The state both tasks and every caller share.
struct Shared {
    address: String,
    state: Mutex<State>,
    permits: Semaphore,
    shutdown: watch::Sender<bool>,
}

struct State {
    waiting: HashMap<u64, Reply>,
    /// Why the connection closed; `None` while it is open.
    closed: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent (every critical
        // section is a single insert, remove or take), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the connection: fails every waiting caller and stops both tasks.
    fn fail_all(&self, reason: &str) {
        let waiting = {
            let mut state = self.lock();
            if state.closed.is_none() {
                state.closed = Some(reason.to_owned());
            }
            std::mem::take(&mut state.waiting)
        };
        self.permits.close();
        self.shutdown.send_replace(true);
        for (_, reply) in waiting {
            let _ = reply.send(Err(ClientError::connection(&self.address, reason)));
        }
    }

    /// Hands a response to the caller waiting on `request_id`, if it still waits.
    fn complete(&self, request_id: u64, result: Result<Response, ClientError>) {
        let reply = self.lock().waiting.remove(&request_id);
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }

    fn closed_error(&self) -> ClientError {
        let reason = self.lock().closed.clone().unwrap_or_else(|| "closed".to_owned());
        ClientError::connection(&self.address, reason)
    }
}

/// Removes a caller's entry when its future is dropped (timeout or cancellation), so a late
/// answer finds nobody and the map does not grow.
struct WaitingGuard<'a> {
    shared: &'a Shared,
    request_id: u64,
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().waiting.remove(&self.request_id);
    }
}

/// A pipelined connection to one address.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    next_request_id: AtomicU64,
    opened: std::time::Instant,
}

impl Connection {
    /// Dials `address` (within the connect timeout), sets TCP_NODELAY and starts the reader
    /// and writer tasks on the current tokio runtime.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if the connection cannot be opened in time.
    pub(crate) async fn open(
        address: &str,
        config: &ClientConfig,
    ) -> Result<Connection, ClientError> {
        let connect_error = |source| ClientError::Connect { address: address.to_owned(), source };
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                connect_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", config.connect_timeout),
                ))
            })?
            .map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        let (read, write) = stream.into_split();
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            address: address.to_owned(),
            state: Mutex::new(State { waiting: HashMap::new(), closed: None }),
            permits: Semaphore::new(config.inflight_per_connection.max(1)),
            shutdown,
        });
        let (outgoing, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(Arc::clone(&shared), write, queue, config.write_coalescing));
        tokio::spawn(read_loop(Arc::clone(&shared), read, config.max_frame_bytes));
        Ok(Connection {
            shared,
            outgoing,
            next_request_id: AtomicU64::new(1),
            opened: std::time::Instant::now(),
        })
    }

    /// When the connection was opened.
    pub(crate) fn opened(&self) -> std::time::Instant {
        self.opened
    }

    /// True once the connection has failed; it accepts no more requests.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Sends one request and waits for its response. Waits first for a free in-flight slot.
    ///
    /// # Errors
    /// [`ClientError::Connection`] if the connection is or becomes closed before the answer,
    /// [`ClientError::Protocol`] if the answer does not decode.
    pub(crate) async fn call(&self, envelope: &RequestEnvelope) -> Result<Response, ClientError> {
        let body = shoal_net::encode_request(envelope);
        let _permit =
            self.shared.permits.acquire().await.map_err(|_| self.shared.closed_error())?;
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if let Some(reason) = &state.closed {
                return Err(ClientError::connection(&self.shared.address, reason.clone()));
            }
            state.waiting.insert(request_id, reply);
        }
        let _guard = WaitingGuard { shared: &self.shared, request_id };
        let frame = shoal_net::frame_bytes(FrameKind::Request, request_id, &body);
        // If the writer has gone it failed every waiting caller first, this one included.
        let _ = self.outgoing.send(frame);
        answer.await.unwrap_or_else(|_| Err(self.shared.closed_error()))
    }
}

/// Writes queued frames until the queue closes (the connection was dropped), a write fails,
/// or the connection shuts down. With `coalescing`, the loop yields once between taking the
/// first queued frame and gathering the rest (see [`ClientConfig::write_coalescing`]): tokio
/// runs a task woken by a send right after the sender (its LIFO slot), which without the
/// yield made every request its own write when many callers were ready at once.
async fn write_loop(
    shared: Arc<Shared>,
    mut write: impl tokio::io::AsyncWrite + Unpin,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    coalescing: bool,
) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut batch = Vec::new();
    let reason = loop {
        let next = tokio::select! {
            next = queue.recv() => next,
            _ = shutdown.changed() => return,
        };
        let Some(first) = next else { break "connection dropped by the client".to_owned() };
        if coalescing {
            tokio::task::yield_now().await;
        }
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH_BYTES_MAX {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            written = write.write_all(&batch) => written,
            _ = shutdown.changed() => return,
        };
        if let Err(error) = written {
            break format!("write failed: {error}");
        }
    };
    shared.fail_all(&reason);
}

/// Reads response frames and completes their callers until the stream ends, fails or falls
/// out of sync, or the connection shuts down.
async fn read_loop(shared: Arc<Shared>, mut read: OwnedReadHalf, max_frame_bytes: usize) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut buffer = BytesMut::with_capacity(READ_BUFFER_BYTES_MIN);
    let reason = loop {
        if let Err(reason) = complete_frames(&shared, &mut buffer, max_frame_bytes) {
            break reason;
        }
        if buffer.capacity() - buffer.len() < READ_BUFFER_BYTES_MIN {
            buffer.reserve(READ_BUFFER_BYTES_MIN);
        }
        let read = tokio::select! {
            read = read.read_buf(&mut buffer) => read,
            _ = shutdown.changed() => return,
        };
        match read {
            Ok(0) => break "closed by the server".to_owned(),
            Ok(_) => {}
            Err(error) => break format!("read failed: {error}"),
        }
    };
    shared.fail_all(&reason);
}

/// Completes the caller of every whole frame in `buffer`.
///
/// # Errors
/// Why the stream is out of sync: a frame error or a frame that is not a response.
fn complete_frames(
    shared: &Shared,
    buffer: &mut BytesMut,
    max_frame_bytes: usize,
) -> Result<(), String> {
    loop {
        let frame = match shoal_net::decode_frame(buffer, max_frame_bytes) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(()),
            Err(error) => return Err(format!("stream out of sync: {error}")),
        };
        if frame.kind != FrameKind::Response {
            return Err(format!(
                "a request frame (id {}) arrived from the server",
                frame.request_id
            ));
        }
        // A body that does not decode is that request's problem; the stream is still in sync.
        let result = shoal_net::decode_response(&frame.body)
            .map_err(|error| ClientError::Protocol(format!("undecodable response: {error}")));
        shared.complete(frame.request_id, result);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A socket stand-in that records the length of every write.
    #[derive(Clone, Default)]
    struct RecordingWriter {
        writes: Arc<Mutex<Vec<usize>>>,
    }

    impl tokio::io::AsyncWrite for RecordingWriter {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.writes.lock().expect("writes").push(buf.len());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Ten tasks woken together each queue a 100-byte frame; returns the writes they took.
    async fn writes_for_ten_simultaneous_requests(coalescing: bool) -> Vec<usize> {
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            address: "test".to_owned(),
            state: Mutex::new(State { waiting: HashMap::new(), closed: None }),
            permits: Semaphore::new(16),
            shutdown,
        });
        let socket = RecordingWriter::default();
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(shared, socket.clone(), queue, coalescing));
        let go = Arc::new(tokio::sync::Notify::new());
        let mut callers = Vec::new();
        for _ in 0..10 {
            let (go, outgoing) = (Arc::clone(&go), outgoing.clone());
            let notified = go.notified_owned();
            callers.push(tokio::spawn(async move {
                notified.await;
                outgoing.send(vec![0; 100]).expect("writer runs");
            }));
        }
        // Every caller waits before they are all released at once.
        tokio::task::yield_now().await;
        go.notify_waiters();
        for caller in callers {
            caller.await.expect("caller");
        }
        drop(outgoing);
        writer.await.expect("writer");
        let writes = socket.writes.lock().expect("writes").clone();
        assert_eq!(writes.iter().sum::<usize>(), 1000, "every frame was written once");
        writes
    }

    // One worker thread: tokio runs a task woken by another right after it (the LIFO slot),
    // the case coalescing is for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn requests_issued_together_leave_in_one_write() {
        let writes = writes_for_ten_simultaneous_requests(true).await;
        assert!(writes.len() <= 2, "ten ready callers took {} writes: {writes:?}", writes.len());
    }
}
