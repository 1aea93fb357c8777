//! The DynamoDB-compatible API's HTTP/1.1 listener (glommio TCP), on every shard through
//! SO_REUSEPORT like the native port. Requests of a connection are answered in order
//! (HTTP/1.1 pipelining); responses to requests already read are written together.
//!
//! Translation lives in `shoal-dynamo`; this file owns the socket and the [`Backend`] that
//! runs native requests through the router, so an API request takes the same path (owning
//! shard, replicas, consistency) as a native one.
//!
//! # Bounds
//! - Headers and bodies are bounded by the parser's [`Limits`] (`dynamodb.request_bytes_max`);
//!   an oversize request is answered with its HTTP status and the connection closed.
//! - At most `connections_max` connections per node, shared with the native protocol.
//! - One request of a connection runs at a time: a client that pipelines waits in TCP.
//! - A connection idle for `dynamodb.idle_timeout_ms`, or that takes longer to send a
//!   request it started, is closed.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::BytesMut;
use futures_lite::AsyncWriteExt;
use glommio::net::{TcpListener, TcpStream};

use shoal_dynamo::http::{write_response, Limits, Parsed, RequestParser, CONTINUE_RESPONSE};
use shoal_dynamo::{ApiConfig, Backend};
use shoal_net::{Request, RequestEnvelope, RequestHeader, Response, Status, TableDescription};

use crate::readiness::{self, Registration};
use crate::router;
use crate::shard::Shard;

/// The DynamoDB API's settings.
#[derive(Clone, Debug)]
pub struct DynamoSettings {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Authentication, consistency levels, region.
    pub api: ApiConfig,
    /// Header and body bounds.
    pub limits: Limits,
    /// Longest wait for a request to start, or for a started one to arrive whole.
    pub idle_timeout: std::time::Duration,
}

/// Runs native requests for the API on one shard.
struct ShardBackend {
    shard: Rc<Shard>,
}

impl Backend for ShardBackend {
    fn table(&self, name: &str) -> Option<TableDescription> {
        self.shard.catalog.borrow().get(name).cloned()
    }

    fn tables(&self) -> Vec<TableDescription> {
        self.shard.catalog.borrow().tables().cloned().collect()
    }

    async fn call(&self, header: RequestHeader, request: Request) -> Response {
        let mut response =
            router::handle_envelope(&self.shard, RequestEnvelope { header, request }, None).await;
        // The API reads items, so a read's encoded item is decoded here.
        match std::mem::take(&mut response.body).with_decoded_item() {
            Ok(body) => response.body = body,
            Err(e) => {
                return Response::error(Status::Internal, format!("a stored item: {e}"));
            }
        }
        response
    }
}

/// Accepts API connections until the node stops.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, settings: Rc<DynamoSettings>) {
    crate::conn::accept_connections(shard, listener, "DynamoDB API", |shard, stream| {
        let settings = settings.clone();
        async move { serve(&shard, stream, &settings).await }
    })
    .await;
}

async fn serve(shard: &Rc<Shard>, stream: TcpStream, settings: &DynamoSettings) {
    let _ = stream.set_nodelay(true);
    let registration = Registration::of_this_shard(stream.as_raw_fd());
    let backend = ShardBackend { shard: shard.clone() };
    let mut parser = RequestParser::new(settings.limits);
    let mut stream = stream;
    let mut buf = BytesMut::with_capacity(16 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let mut out = Vec::with_capacity(16 << 10);
    let mut partial_since: Option<std::time::Instant> = None;
    loop {
        match parser.parse(&mut buf) {
            Ok(Parsed::Request(request)) => {
                partial_since = None;
                let keep_alive = request.keep_alive() && !shard.node.stopping();
                let metrics = &shard.metrics;
                metrics.inflight.fetch_add(1, Relaxed);
                let response = shoal_dynamo::handle(&settings.api, &backend, &request).await;
                metrics.inflight.fetch_sub(1, Relaxed);
                metrics.dynamodb_requests.fetch_add(1, Relaxed);
                match response.status {
                    400..=499 => metrics.dynamodb_client_errors.fetch_add(1, Relaxed),
                    500.. => metrics.dynamodb_server_errors.fetch_add(1, Relaxed),
                    _ => 0,
                };
                write_response(&response, keep_alive, &mut out);
                if !keep_alive {
                    let _ = stream.write_all(&out).await;
                    break;
                }
                continue;
            }
            Ok(Parsed::Incomplete { send_continue }) => {
                if send_continue {
                    out.extend_from_slice(CONTINUE_RESPONSE);
                }
            }
            Err(e) => {
                tracing::debug!(shard = shard.id, error = %e, "bad HTTP request; closing");
                let refusal = shoal_dynamo::api::refusal(e.status(), e.to_string());
                write_response(&refusal, false, &mut out);
                let _ = stream.write_all(&out).await;
                break;
            }
        }
        // Everything read is answered: send the answers, then wait for more.
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        // Idle between requests, or too slow within one: close (bounded connections). A
        // started request has `idle_timeout` from its first byte to arrive whole.
        let wait = if buf.is_empty() {
            partial_since = None;
            settings.idle_timeout
        } else {
            let since = *partial_since.get_or_insert_with(std::time::Instant::now);
            settings.idle_timeout.saturating_sub(since.elapsed())
        };
        let busy = || crate::conn::shard_is_busy(shard);
        let read = async {
            Some(readiness::read_some(registration.as_ref(), busy, &mut stream, &mut chunk).await)
        };
        let expired = async {
            shoal_engine::runtime::sleep(wait).await;
            None
        };
        match futures_lite::future::or(read, expired).await {
            None => {
                tracing::debug!(shard = shard.id, "DynamoDB API connection idle; closing");
                break;
            }
            Some(Ok(0) | Err(_)) => break,
            Some(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    // Deregister while the descriptor is still open (see conn.rs).
    drop(registration);
    let _ = stream.close().await;
}
