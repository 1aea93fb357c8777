//! Client connections (glommio TCP): frames in, requests executed concurrently, responses
//! out in completion order (pipelining).
//!
//! # Bounds
//! - A frame body is at most `frame_bytes_max`; a bigger length is refused from the header
//!   alone, with an error reply, and the connection closed.
//! - At most `inflight_per_connection` requests of a connection run at once; past that the
//!   reader stops reading (TCP backpressure reaches the client).
//! - Responses wait in one output buffer, written by one writer task in batches.
//! - At most `connections_max` connections per node; more are closed at once.
//!
//! # Sending responses early
//! A client that pipelines sends many requests in one write, and the reader runs them one
//! after another, inline. Were their responses held until the reader ran out of frames, the
//! client would idle while this core works through the batch, then this core would idle
//! while the client works through the answers: the two would take turns instead of
//! overlapping. So the reader lets the writer send what is ready every
//! [`SEND_AFTER_REQUESTS`] requests, or once [`SEND_AFTER`] has passed ([`SendPolicy`]).

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::AsyncWriteExt;
use glommio::net::{TcpListener, TcpStream};

use shoal_engine::runtime::{run_or_spawn, sleep, spawn, yield_if_needed, Notify, Queue};
use shoal_net::{
    decode_frame, encode_frame, encode_response, FrameError, FrameKind, Response, Status,
};

use crate::readiness::{self, Registration};
use crate::router;
use crate::shard::Shard;

/// Accepts native-protocol connections until the node stops.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    accept_connections(shard, listener, "native protocol", |shard, stream| async move {
        serve(&shard, stream).await;
    })
    .await;
}

/// Accepts connections until the node stops, each served by `serve` in a task of its own,
/// at most `connections_max` open per node (shared by every listener; more are closed at
/// once).
pub async fn accept_connections<F, Fut>(
    shard: Rc<Shard>,
    listener: TcpListener,
    what: &'static str,
    serve: F,
) where
    F: Fn(Rc<Shard>, TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                if shard.node.stopping() {
                    return;
                }
                tracing::warn!(shard = shard.id, error = %e, listener = what, "accept failed");
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shard.node.stopping() {
            return;
        }
        let open = shard.node.connections.fetch_add(1, AcqRel) + 1;
        if open > shard.node.settings.connections_max {
            shard.node.connections.fetch_sub(1, AcqRel);
            tracing::warn!(
                shard = shard.id,
                open,
                listener = what,
                "connection limit reached; closing a new connection"
            );
            drop(stream);
            continue;
        }
        let connection = serve(shard.clone(), stream);
        let shard = shard.clone();
        spawn(Queue::Foreground, async move {
            shard.metrics.connections.fetch_add(1, Relaxed);
            connection.await;
            shard.metrics.connections.fetch_sub(1, Relaxed);
            shard.node.connections.fetch_sub(1, AcqRel);
        });
    }
}

/// State shared by a connection's reader, request tasks and writer.
struct Output {
    buffer: RefCell<Vec<u8>>,
    ready: Notify,
    inflight: Cell<usize>,
    slot_free: Notify,
    closed: Cell<bool>,
}

impl Output {
    fn push(&self, request_id: u64, body: &[u8]) {
        encode_frame(FrameKind::Response, request_id, body, &mut self.buffer.borrow_mut());
        self.ready.notify_all();
    }
}

/// Whether a reader that found no data should wait on epoll rather than arm an io_uring
/// poll: other requests are running here, so the shard will be back soon without sleeping.
pub(crate) fn shard_is_busy(shard: &Shard) -> bool {
    shard.metrics.inflight.load(Relaxed) >= BUSY_INFLIGHT_MIN
}

/// Requests run inline after which the reader lets the writer send their responses.
/// Measured (one node, workload C, 50 requests in flight over one pipelined connection
/// per shard): with 1 shard, 85k GET/s holding every response to the end of the batch,
/// 135k sending after every 2 requests, 158k after 4, 172-187k after 8, 141k after 16.
pub const SEND_AFTER_REQUESTS: usize = 8;

/// Time after which ready responses are sent even if fewer requests ran: a heavy request
/// (a page of a scan) does not hold the light ones' answers for long. Well above eight
/// GETs' time (about 40 µs): at 50 µs, scheduling noise sent early often enough to cost
/// a tenth of the throughput above.
pub const SEND_AFTER: Duration = Duration::from_micros(200);

/// When the reader of a connection should let its writer send the responses ready so far
/// (see the module's "Sending responses early").
#[derive(Debug)]
pub struct SendPolicy {
    requests: usize,
    since: Option<std::time::Instant>,
}

impl SendPolicy {
    /// Nothing ran yet.
    pub fn new() -> SendPolicy {
        SendPolicy { requests: 0, since: None }
    }

    /// A request ran (inline, or until it waited and then in a task of its own) at `now`
    /// while responses wait to be sent: whether to let the writer send them now.
    pub fn ran(&mut self, now: std::time::Instant) -> bool {
        self.requests += 1;
        let since = *self.since.get_or_insert(now);
        let due = self.requests >= SEND_AFTER_REQUESTS || now.duration_since(since) >= SEND_AFTER;
        if due {
            self.sent();
        }
        due
    }

    /// No response waits (the writer took them all, or none is ready yet).
    pub fn sent(&mut self) {
        self.requests = 0;
        self.since = None;
    }
}

impl Default for SendPolicy {
    fn default() -> SendPolicy {
        SendPolicy::new()
    }
}

/// Requests in flight on a shard from which it counts as busy (see [`shard_is_busy`]): the
/// reader's own request is usually one of them, so one more means real concurrency.
/// Measured: one shard serving GETs at saturation, 33k/s with io_uring polls alone, 50-52k/s
/// with epoll at 1 or 2; at two unsaturated shards no difference either way.
const BUSY_INFLIGHT_MIN: u64 = 2;

fn frame_error_response(e: &FrameError) -> Response {
    let status = match e {
        FrameError::TooLarge { .. } => Status::TooLarge,
        _ => Status::BadRequest,
    };
    Response::error(status, format!("{e}; closing the connection"))
}

async fn serve(shard: &Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    // Without epoll (descriptor limits), reads go through glommio alone, as before.
    let registration = Registration::of_this_shard(stream.as_raw_fd());
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let limit = shard.node.settings.inflight_per_connection.max(1);
    let max_frame = shard.node.settings.frame_bytes_max;
    let out = Rc::new(Output {
        buffer: RefCell::new(Vec::new()),
        ready: Notify::default(),
        inflight: Cell::new(0),
        slot_free: Notify::default(),
        closed: Cell::new(false),
    });

    let writer_out = out.clone();
    let writer_shard = shard.clone();
    let writer_task = spawn(Queue::Foreground, async move {
        let out = writer_out;
        let mut batch = Vec::new();
        loop {
            if out.buffer.borrow().is_empty() {
                if out.closed.get() && out.inflight.get() == 0 {
                    break;
                }
                out.ready.wait().await;
                continue;
            }
            std::mem::swap(&mut batch, &mut out.buffer.borrow_mut());
            writer_shard.metrics.response_writes.fetch_add(1, Relaxed);
            if writer.write_all(&batch).await.is_err() || writer.flush().await.is_err() {
                out.closed.set(true);
                break;
            }
            batch.clear();
        }
        let _ = writer.close().await;
    });

    let mut buf = BytesMut::with_capacity(16 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let mut send_policy = SendPolicy::new();
    'read: loop {
        loop {
            match decode_frame(&mut buf, max_frame) {
                Ok(Some(frame)) => {
                    if frame.kind != FrameKind::Request {
                        let e = Response::error(
                            Status::BadRequest,
                            "a client may only send requests; closing the connection",
                        );
                        out.push(frame.request_id, &encode_response(&e));
                        shard.metrics.bad_frames.fetch_add(1, Relaxed);
                        break 'read;
                    }
                    while out.inflight.get() >= limit {
                        out.slot_free.wait().await;
                    }
                    out.inflight.set(out.inflight.get() + 1);
                    shard.metrics.inflight.fetch_add(1, Relaxed);
                    let task_out = out.clone();
                    let task_shard = shard.clone();
                    // Inline until it waits (most GETs never do), a task of its own after.
                    run_or_spawn(Queue::Foreground, async move {
                        let response = router::handle_client_request(&task_shard, frame.body).await;
                        task_out.push(frame.request_id, &response);
                        task_out.inflight.set(task_out.inflight.get() - 1);
                        task_shard.metrics.inflight.fetch_sub(1, Relaxed);
                        task_out.slot_free.notify_all();
                        task_out.ready.notify_all();
                    })
                    .await;
                    // Requests run here now: keep to the core's time slice.
                    yield_if_needed().await;
                    if out.buffer.borrow().is_empty() {
                        send_policy.sent(); // the writer took them, or none is ready
                    } else if send_policy.ran(std::time::Instant::now()) {
                        // The writer was woken by the responses; this yield lets it run.
                        futures_lite::future::yield_now().await;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shard.metrics.bad_frames.fetch_add(1, Relaxed);
                    tracing::debug!(shard = shard.id, error = %e, "bad frame; closing the connection");
                    out.push(e.request_id(), &encode_response(&frame_error_response(&e)));
                    break 'read;
                }
            }
        }
        let busy = || shard_is_busy(shard);
        match readiness::read_some(registration.as_ref(), busy, &mut reader, &mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    // Deregister while this half still holds the descriptor open (a closed one's number
    // may already belong to another connection).
    drop(registration);
    out.closed.set(true);
    out.ready.notify_all();
    let _ = writer_task.join().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn responses_are_sent_every_few_requests_or_after_a_while() {
        let start = Instant::now();
        let mut policy = SendPolicy::new();
        for _ in 1..SEND_AFTER_REQUESTS {
            assert!(!policy.ran(start), "sent before {SEND_AFTER_REQUESTS} requests");
        }
        assert!(policy.ran(start), "not sent after {SEND_AFTER_REQUESTS} requests");
        // Sending starts the count again.
        assert!(!policy.ran(start));
        // One heavy request is enough once the time has passed since the first waited.
        assert!(policy.ran(start + SEND_AFTER));
        // With nothing waiting the count starts again too.
        assert!(!policy.ran(start));
        policy.sent();
        for _ in 1..SEND_AFTER_REQUESTS {
            assert!(!policy.ran(start + SEND_AFTER * 3));
        }
    }
}
