//! A minimal RESP2 client: one connection, one request in flight (no pipelining, except
//! inside one scan, see the README), the few commands the workloads need.
//!
//! Requests are arrays of bulk strings, encoded into a reused buffer and written with one
//! `write_all`. Replies are parsed from a buffered reader: simple strings, errors, integers,
//! bulk strings and (nested) arrays. Bulk strings and arrays are bounded by
//! [`REPLY_BYTES_MAX`] and [`REPLY_ITEMS_MAX`] so a broken server cannot make us allocate
//! without limit.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest bulk string accepted in a reply.
pub const REPLY_BYTES_MAX: usize = 64 << 20;
/// Most elements accepted in one reply array.
pub const REPLY_ITEMS_MAX: usize = 1 << 20;

/// A parsed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and friends.
    Simple(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$n` bytes, or `$-1` (nil).
    Bulk(Option<Vec<u8>>),
    /// `*n` replies, or `*-1` (nil).
    Array(Option<Vec<Reply>>),
}

/// One connection to a Redis server.
#[derive(Debug)]
pub struct RedisConnection {
    stream: BufReader<TcpStream>,
    out: Vec<u8>,
    line: Vec<u8>,
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("RESP: {what}"))
}

impl RedisConnection {
    /// Connects to `address` (`host:port`), with Nagle off.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(address: &str) -> io::Result<RedisConnection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(RedisConnection { stream: BufReader::new(stream), out: Vec::new(), line: Vec::new() })
    }

    /// Appends one command to the outgoing buffer (sent by [`RedisConnection::flush`]).
    pub fn queue(&mut self, args: &[&[u8]]) {
        let out = &mut self.out;
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends every queued command.
    ///
    /// # Errors
    /// The write error; the connection is then unusable.
    pub async fn flush(&mut self) -> io::Result<()> {
        let result = self.stream.get_mut().write_all(&self.out).await;
        self.out.clear();
        result
    }

    /// Sends one command and reads its reply.
    ///
    /// # Errors
    /// I/O errors and malformed replies (a `-ERR` reply is `Ok(Reply::Error)`).
    pub async fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.queue(args);
        self.flush().await?;
        self.read_reply().await
    }

    /// Reads one reply.
    ///
    /// # Errors
    /// I/O errors, a closed connection, malformed or oversized replies.
    pub async fn read_reply(&mut self) -> io::Result<Reply> {
        // Arrays nest; parse iteratively with a stack of partly filled arrays.
        let mut stack: Vec<(usize, Vec<Reply>)> = Vec::new();
        loop {
            let mut reply = match self.read_one().await? {
                Header::Value(reply) => reply,
                Header::Array(0) => Reply::Array(Some(Vec::new())),
                Header::Array(expected) => {
                    // A non-empty array: its elements follow.
                    stack.push((expected, Vec::with_capacity(expected.min(1024))));
                    continue;
                }
            };
            loop {
                let Some((expected, items)) = stack.last_mut() else { return Ok(reply) };
                items.push(reply);
                if items.len() < *expected {
                    break;
                }
                let Some((_, done)) = stack.pop() else { return Err(protocol_error("stack")) };
                reply = Reply::Array(Some(done));
            }
        }
    }

    /// Reads one reply, or the header of an array.
    async fn read_one(&mut self) -> io::Result<Header> {
        self.line.clear();
        let n = self.stream.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"));
        }
        let line = self.line.strip_suffix(b"\r\n").ok_or_else(|| protocol_error("no CRLF"))?;
        let (&tag, rest) = line.split_first().ok_or_else(|| protocol_error("empty line"))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || -> io::Result<i64> {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| protocol_error("bad length"))
        };
        let reply = match tag {
            b'+' => Reply::Simple(text()),
            b'-' => Reply::Error(text()),
            b':' => Reply::Integer(number()?),
            b'$' => {
                let Ok(len) = usize::try_from(number()?) else {
                    return Ok(Header::Value(Reply::Bulk(None)));
                };
                if len > REPLY_BYTES_MAX {
                    return Err(protocol_error("bulk string too large"));
                }
                let mut data = vec![0u8; len + 2];
                self.stream.read_exact(&mut data).await?;
                data.truncate(len);
                Reply::Bulk(Some(data))
            }
            b'*' => {
                let Ok(len) = usize::try_from(number()?) else {
                    return Ok(Header::Value(Reply::Array(None)));
                };
                if len > REPLY_ITEMS_MAX {
                    return Err(protocol_error("array too long"));
                }
                return Ok(Header::Array(len));
            }
            _ => return Err(protocol_error("unknown reply type")),
        };
        Ok(Header::Value(reply))
    }
}

/// What [`RedisConnection::read_one`] read.
enum Header {
    /// A complete reply.
    Value(Reply),
    /// The start of an array of this many replies.
    Array(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn parses_nested_replies() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"*3\r\n$2\r\nhi\r\n*2\r\n:5\r\n$-1\r\n*0\r\n+OK\r\n-ERR no\r\n")
                .await
                .unwrap();
        });
        let mut c = RedisConnection::connect(&address).await.unwrap();
        let reply = c.call(&[b"PING"]).await.unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"hi".to_vec())),
                Reply::Array(Some(vec![Reply::Integer(5), Reply::Bulk(None)])),
                Reply::Array(Some(vec![])),
            ]))
        );
        assert_eq!(c.read_reply().await.unwrap(), Reply::Simple("OK".into()));
        assert_eq!(c.read_reply().await.unwrap(), Reply::Error("ERR no".into()));
        server.await.unwrap();
    }
}
