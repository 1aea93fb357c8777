//! The HTTP endpoint (shard 0): `GET /health` (200 once every shard serves, 503 before)
//! and `GET /metrics` (Prometheus text). One request per connection; requests are bounded
//! to 8 KiB of headers. With `cluster.fault_injection` on (tests only), `POST
//! /debug/faults/drop?peer=ADDR&on=1|0`, `/debug/faults/delay?peer=ADDR&ms=N` and
//! `/debug/faults/clear` drop or delay this node's messages to a peer's internode address.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use shoal_engine::runtime::{sleep, spawn, Queue};

use crate::metrics;
use crate::shard::Shard;

const REQUEST_BYTES_MAX: usize = 8 << 10;

/// Serves HTTP until the node stops.
pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                spawn(Queue::Foreground, async move { handle(&shard, stream).await });
            }
            Err(e) => {
                if shard.node.stopping() {
                    return;
                }
                tracing::warn!(error = %e, "http accept failed");
                sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(shard: &Shard, mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if request.len() > REQUEST_BYTES_MAX {
            let _ = respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            )
            .await;
            return;
        }
    }
    let text = String::from_utf8_lossy(&request);
    let mut words = text.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
    };
    let _ = match (method, path) {
        ("POST", hook) if hook.starts_with("/debug/faults/") => {
            if !shard.node.settings.fault_injection {
                respond(
                    &mut stream,
                    "403 Forbidden",
                    "text/plain",
                    "fault injection is off (cluster.fault_injection)\n",
                )
                .await
            } else {
                let faults = &shard.node.faults;
                match (hook, param("peer")) {
                    ("/debug/faults/drop", Some(peer)) => {
                        faults.set_drop(&peer, param("on").as_deref() != Some("0"));
                        respond(&mut stream, "200 OK", "text/plain", "ok\n").await
                    }
                    ("/debug/faults/delay", Some(peer)) => {
                        let ms = param("ms").and_then(|m| m.parse().ok()).unwrap_or(0);
                        faults.set_delay(&peer, ms);
                        respond(&mut stream, "200 OK", "text/plain", "ok\n").await
                    }
                    ("/debug/faults/clear", _) => {
                        faults.clear();
                        respond(&mut stream, "200 OK", "text/plain", "ok\n").await
                    }
                    _ => {
                        respond(
                            &mut stream,
                            "400 Bad Request",
                            "text/plain",
                            "use drop?peer=ADDR&on=1, delay?peer=ADDR&ms=N or clear\n",
                        )
                        .await
                    }
                }
            }
        }
        ("GET", "/health") => {
            if shard.node.is_ready() && !shard.node.stopping() {
                respond(&mut stream, "200 OK", "text/plain", "ok\n").await
            } else {
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "starting or stopping\n",
                )
                .await
            }
        }
        ("GET", "/metrics") => {
            let body = metrics::render(&shard.node.metrics, shard.node.is_ready());
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await
        }
        ("GET", _) => {
            respond(&mut stream, "404 Not Found", "text/plain", "try /health or /metrics\n").await
        }
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "only GET\n").await,
    };
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.close().await
}
