//! HTTP/1.1 server-side framing: requests in, responses out, no sockets and no runtime.
//!
//! The server reads a connection into a [`BytesMut`] and calls [`RequestParser::parse`] (or
//! [`parse_request`]) until it returns [`Parsed::Incomplete`]; each call consumes exactly one
//! complete request from the front of the buffer, so pipelined requests come out in order.
//! Responses are appended with [`write_response`], so a batch of pipelined responses goes out
//! in one write.
//!
//! One [`RequestParser`] belongs to one connection. It remembers the request whose head is
//! complete but whose body is not, so it never re-parses the head nor re-decodes chunks it has
//! seen, and it asks for `100 Continue` once per request. Between calls the caller may only
//! append to the buffer. After an error the connection is unusable: answer with
//! [`HttpError::status`] and close it.
//!
//! Limits, all checked before the bytes they guard are buffered or copied:
//! - [`Limits::header_bytes_max`] (request line and headers, and the trailers of a chunked
//!   body), default [`HEADER_BYTES_MAX_DEFAULT`];
//! - [`Limits::body_bytes_max`] (the body, decoded), default [`BODY_BYTES_MAX_DEFAULT`]; a
//!   `Content-Length` over it is refused before any of the body is read;
//! - [`HEADERS_COUNT_MAX`] headers and [`CHUNK_LINE_BYTES_MAX`] bytes per chunk-size line.

use bytes::{Buf, BytesMut};
use httparse::Status;

/// Default for [`Limits::header_bytes_max`]: 16 KiB.
pub const HEADER_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// Default for [`Limits::body_bytes_max`]: 16 MiB, DynamoDB's own request size limit.
pub const BODY_BYTES_MAX_DEFAULT: usize = 16 * 1024 * 1024;
/// Most headers a request may carry; more is [`HttpError::TooManyHeaders`].
pub const HEADERS_COUNT_MAX: usize = 64;
/// Longest chunk-size line (size, extensions and CRLF) of a chunked body.
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;
/// The interim response to write when [`Parsed::Incomplete`] says `send_continue`.
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

const _: () = assert!(CHUNK_LINE_BYTES_MAX <= HEADER_BYTES_MAX_DEFAULT);

/// Size limits for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of request line plus headers (and of chunked trailers).
    pub header_bytes_max: usize,
    /// Most bytes of body, after chunked decoding.
    pub body_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes_max: HEADER_BYTES_MAX_DEFAULT,
            body_bytes_max: BODY_BYTES_MAX_DEFAULT,
        }
    }
}

/// One complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method as sent, e.g. `POST`.
    pub method: String,
    /// Request target as sent: path and optional `?query`.
    pub target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body, chunked encoding removed.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of the first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The values of every header called `name`, in order, compared case-insensitively.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        header_values(&self.headers, name)
    }

    /// The target up to `?`.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The target after `?`, or `""`.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless a `Connection`
    /// header says `close`, HTTP/1.0 only if one says `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let (mut close, mut keep) = (false, false);
        for option in self.header_values("connection").flat_map(|v| v.split(',')) {
            let option = option.trim();
            close |= option.eq_ignore_ascii_case("close");
            keep |= option.eq_ignore_ascii_case("keep-alive");
        }
        !close && (self.minor_version >= 1 || keep)
    }
}

/// What one call to the parser found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request, removed from the front of the buffer.
    Request(HttpRequest),
    /// More bytes are needed; nothing was removed from the buffer.
    Incomplete {
        /// Write [`CONTINUE_RESPONSE`] now: the head of an HTTP/1.1 request with
        /// `Expect: 100-continue` is complete and its body is not. True once per request.
        send_continue: bool,
    },
}

/// Why a request cannot be parsed. The connection must be closed after answering it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request line and headers (or chunked trailers) are longer than the limit.
    #[error("request headers are at least {length} bytes, over the limit of {max}")]
    HeadersTooLarge {
        /// Bytes seen so far (at least this long).
        length: usize,
        /// [`Limits::header_bytes_max`].
        max: usize,
    },
    /// More headers than [`HEADERS_COUNT_MAX`].
    #[error("request has more than {max} headers")]
    TooManyHeaders {
        /// [`HEADERS_COUNT_MAX`].
        max: usize,
    },
    /// The body (declared by `Content-Length`, or decoded so far) is over the limit.
    #[error("request body is at least {length} bytes, over the limit of {max}")]
    BodyTooLarge {
        /// Declared or decoded length (at least this long).
        length: u64,
        /// [`Limits::body_bytes_max`].
        max: usize,
    },
    /// A transfer coding other than `chunked`.
    #[error("Transfer-Encoding '{0}' is not supported, only 'chunked' is")]
    UnsupportedTransferEncoding(String),
    /// Anything else that breaks HTTP/1.1 syntax or framing.
    #[error("malformed request: {0}")]
    Malformed(String),
}

impl HttpError {
    /// The HTTP status to answer with: 431, 413, 501 or 400.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadersTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::UnsupportedTransferEncoding(_) => 501,
            HttpError::Malformed(_) => 400,
        }
    }
}

/// A response to write with [`write_response`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Headers other than `Content-Length`, `Connection` and `Transfer-Encoding`, which
    /// [`write_response`] writes itself (and skips here).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Parses requests off one connection; see the module doc.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    pending: Option<Pending>,
}

impl RequestParser {
    /// A parser for a new connection.
    pub fn new(limits: Limits) -> Self {
        RequestParser { limits, pending: None }
    }

    /// Consumes exactly one complete request from the front of `buf` if there is one.
    ///
    /// # Errors
    /// [`HttpError`] when the request is malformed or over a limit; `buf` is then left as
    /// it was and the connection should be answered with [`HttpError::status`] and closed.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Parsed, HttpError> {
        let mut pending = match self.pending.take() {
            Some(pending) => pending,
            None => match parse_head(buf, &self.limits)? {
                Some(head) => Pending::new(head, &self.limits)?,
                None => return Ok(Parsed::Incomplete { send_continue: false }),
            },
        };
        match pending.body_end(buf, &self.limits)? {
            Some((body, end)) => {
                buf.advance(end);
                Ok(Parsed::Request(pending.head.into_request(body)))
            }
            None => {
                let send_continue = pending.take_continue();
                self.pending = Some(pending);
                Ok(Parsed::Incomplete { send_continue })
            }
        }
    }
}

/// Same as [`RequestParser::parse`].
///
/// # Errors
/// As [`RequestParser::parse`].
pub fn parse_request(parser: &mut RequestParser, buf: &mut BytesMut) -> Result<Parsed, HttpError> {
    parser.parse(buf)
}

/// Appends `response` to `out`: status line, headers, `Content-Length` (not for 1xx and 204),
/// `Connection: keep-alive|close`, blank line, body.
///
/// Panics if a header name or value holds CR or LF: that would be a bug in the caller.
pub fn write_response(response: &HttpResponse, keep_alive: bool, out: &mut Vec<u8>) {
    out.reserve(128 + response.body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(response.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(response.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let framing = ["content-length", "connection", "transfer-encoding"];
    for (name, value) in &response.headers {
        if framing.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            continue;
        }
        assert!(
            !name.contains(['\r', '\n']) && !value.contains(['\r', '\n']),
            "response header {name:?} holds CR or LF"
        );
        put_header(out, name, value);
    }
    let bodiless = response.status < 200 || response.status == 204;
    if !bodiless {
        put_header(out, "Content-Length", &response.body.len().to_string());
    }
    put_header(out, "Connection", if keep_alive { "keep-alive" } else { "close" });
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(&response.body);
    }
}

fn put_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase of the statuses Shoal answers with; empty (which HTTP allows) otherwise.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Request line and headers of a request whose head is complete.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    minor_version: u8,
    headers: Vec<(String, String)>,
    /// Bytes from the start of the buffer to the end of the blank line.
    length: usize,
}

impl Head {
    fn into_request(self, body: Vec<u8>) -> HttpRequest {
        HttpRequest {
            method: self.method,
            target: self.target,
            minor_version: self.minor_version,
            headers: self.headers,
            body,
        }
    }
}

/// Parses the head at the front of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HttpError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_COUNT_MAX];
    let mut request = httparse::Request::new(&mut slots);
    let length = match request.parse(buf) {
        Ok(Status::Complete(length)) => length,
        Ok(Status::Partial) if buf.len() > limits.header_bytes_max => {
            return Err(HttpError::HeadersTooLarge {
                length: buf.len(),
                max: limits.header_bytes_max,
            })
        }
        Ok(Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::TooManyHeaders { max: HEADERS_COUNT_MAX })
        }
        Err(error) => return Err(HttpError::Malformed(error.to_string())),
    };
    if length > limits.header_bytes_max {
        return Err(HttpError::HeadersTooLarge { length, max: limits.header_bytes_max });
    }
    let mut headers = Vec::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| {
            HttpError::Malformed(format!("value of header '{}' is not UTF-8", header.name))
        })?;
        headers.push((header.name.to_string(), value.to_string()));
    }
    Ok(Some(Head {
        method: request.method.unwrap_or_default().to_string(),
        target: request.path.unwrap_or_default().to_string(),
        minor_version: request.version.unwrap_or_default(),
        headers,
        length,
    }))
}

/// How the body of a request is delimited.
#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// A request whose head is complete, waiting for its body.
#[derive(Debug)]
struct Pending {
    head: Head,
    framing: Framing,
    expects_continue: bool,
    continue_signalled: bool,
}

impl Pending {
    fn new(head: Head, limits: &Limits) -> Result<Self, HttpError> {
        let framing = framing(&head, limits)?;
        let expects_continue = head.minor_version >= 1
            && header_values(&head.headers, "expect")
                .any(|v| v.trim().eq_ignore_ascii_case("100-continue"));
        Ok(Pending { head, framing, expects_continue, continue_signalled: false })
    }

    /// The body and the end of the request in `buf`, once the body is complete.
    fn body_end(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
        let start = self.head.length;
        match &mut self.framing {
            Framing::Length(length) => {
                let end = start + *length;
                Ok(buf.get(start..end).map(|body| (body.to_vec(), end)))
            }
            Framing::Chunked(decoder) => decoder.decode(buf, limits),
        }
    }

    /// True the first time it is asked while a `100-continue` expectation is unanswered.
    fn take_continue(&mut self) -> bool {
        let send = self.expects_continue && !self.continue_signalled;
        self.continue_signalled |= send;
        send
    }
}

/// Decides the body framing from `Transfer-Encoding` and `Content-Length`.
fn framing(head: &Head, limits: &Limits) -> Result<Framing, HttpError> {
    let mut chunked = false;
    let mut encoded = false;
    for coding in header_values(&head.headers, "transfer-encoding").flat_map(|v| v.split(',')) {
        let coding = coding.trim();
        if coding.is_empty() {
            continue;
        }
        if chunked {
            let reason = format!("Transfer-Encoding '{coding}' follows 'chunked'");
            return Err(HttpError::Malformed(reason));
        }
        if !coding.eq_ignore_ascii_case("chunked") {
            return Err(HttpError::UnsupportedTransferEncoding(coding.to_string()));
        }
        chunked = true;
        encoded = true;
    }
    match (encoded, content_length(head)?) {
        (true, Some(_)) => Err(HttpError::Malformed(
            "both Transfer-Encoding and Content-Length are present".to_string(),
        )),
        (true, None) => Ok(Framing::Chunked(ChunkedDecoder::new(head.length))),
        (false, Some(length)) => match usize::try_from(length) {
            Ok(length) if length <= limits.body_bytes_max => Ok(Framing::Length(length)),
            _ => Err(HttpError::BodyTooLarge { length, max: limits.body_bytes_max }),
        },
        (false, None) => Ok(Framing::Length(0)),
    }
}

/// The one `Content-Length` of the request; repeats must agree.
fn content_length(head: &Head) -> Result<Option<u64>, HttpError> {
    let mut found: Option<u64> = None;
    for text in header_values(&head.headers, "content-length").flat_map(|v| v.split(',')) {
        let text = text.trim();
        let length = match text.parse::<u64>() {
            Ok(length) if text.bytes().all(|b| b.is_ascii_digit()) => length,
            _ => {
                let reason = format!("Content-Length '{text}' is not a length");
                return Err(HttpError::Malformed(reason));
            }
        };
        match found {
            Some(previous) if previous != length => {
                let reason = format!("Content-Length is both {previous} and {length}");
                return Err(HttpError::Malformed(reason));
            }
            _ => found = Some(length),
        }
    }
    Ok(found)
}

/// Where a chunked body's decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkPhase {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until a blank one.
    Trailers,
}

/// Decodes a chunked body incrementally: each byte of the buffer is looked at once.
#[derive(Debug)]
struct ChunkedDecoder {
    /// Position in the buffer of the next byte to decode.
    offset: usize,
    phase: ChunkPhase,
    body: Vec<u8>,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    fn new(offset: usize) -> Self {
        ChunkedDecoder { offset, phase: ChunkPhase::Size, body: Vec::new(), trailer_bytes: 0 }
    }

    /// Decodes what `buf` holds; returns the body and the end of the request once complete.
    fn decode(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
        loop {
            let rest = buf.get(self.offset..).unwrap_or_default();
            let used = match self.phase {
                ChunkPhase::Size => self.size_line(rest, limits)?,
                ChunkPhase::Data(remaining) => self.data(rest, remaining, limits),
                ChunkPhase::DataEnd => match rest.get(..2) {
                    None => None,
                    Some(b"\r\n") => {
                        self.phase = ChunkPhase::Size;
                        Some(2)
                    }
                    Some(_) => {
                        let reason = "chunk data is not followed by CRLF".to_string();
                        return Err(HttpError::Malformed(reason));
                    }
                },
                ChunkPhase::Trailers => match self.trailer_line(rest, limits)? {
                    None => None,
                    Some(2) => {
                        let end = self.offset + 2;
                        return Ok(Some((std::mem::take(&mut self.body), end)));
                    }
                    Some(used) => Some(used),
                },
            };
            match used {
                Some(used) => self.offset += used,
                None => return Ok(None),
            }
        }
    }

    fn size_line(&mut self, rest: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let line_too_long =
            || HttpError::Malformed(format!("chunk-size line over {CHUNK_LINE_BYTES_MAX} bytes"));
        let (used, size) = match httparse::parse_chunk_size(rest) {
            Ok(Status::Complete(found)) => found,
            Ok(Status::Partial) if rest.len() > CHUNK_LINE_BYTES_MAX => return Err(line_too_long()),
            Ok(Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::Malformed("invalid chunk-size line".to_string())),
        };
        if used > CHUNK_LINE_BYTES_MAX {
            return Err(line_too_long());
        }
        let length = (self.body.len() as u64).saturating_add(size);
        if length > limits.body_bytes_max as u64 {
            return Err(HttpError::BodyTooLarge { length, max: limits.body_bytes_max });
        }
        // Fits in usize: bounded by body_bytes_max just above.
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        self.phase = if size == 0 { ChunkPhase::Trailers } else { ChunkPhase::Data(size) };
        Ok(Some(used))
    }

    fn data(&mut self, rest: &[u8], remaining: usize, limits: &Limits) -> Option<usize> {
        let take = remaining.min(rest.len());
        let bytes = rest.get(..take).filter(|bytes| !bytes.is_empty())?;
        reserve_bounded(&mut self.body, take, limits.body_bytes_max);
        self.body.extend_from_slice(bytes);
        let remaining = remaining - take;
        self.phase = if remaining == 0 { ChunkPhase::DataEnd } else { ChunkPhase::Data(remaining) };
        Some(take)
    }

    /// Skips one trailer line; `Some(2)` is the blank line that ends the request.
    fn trailer_line(&mut self, rest: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let budget = limits.header_bytes_max.saturating_sub(self.trailer_bytes);
        let scanned = rest.get(..rest.len().min(budget.saturating_add(2))).unwrap_or_default();
        match scanned.windows(2).position(|pair| pair == b"\r\n") {
            Some(line) => {
                self.trailer_bytes += line + 2;
                Ok(Some(line + 2))
            }
            None if rest.len() > budget => Err(HttpError::HeadersTooLarge {
                length: self.trailer_bytes + rest.len(),
                max: limits.header_bytes_max,
            }),
            None => Ok(None),
        }
    }
}

/// Grows `body` for `additional` more bytes, doubling but never past `max` bytes of capacity.
fn reserve_bounded(body: &mut Vec<u8>, additional: usize, max: usize) {
    let needed = body.len() + additional;
    if needed > body.capacity() {
        let target = needed.max(body.capacity().saturating_mul(2).min(max));
        body.reserve_exact(target - body.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(parser: &mut RequestParser, buf: &mut BytesMut) -> Vec<HttpRequest> {
        let mut requests = Vec::new();
        while let Parsed::Request(request) = parser.parse(buf).unwrap() {
            requests.push(request);
        }
        requests
    }

    fn parse_one(bytes: &[u8]) -> Result<Parsed, HttpError> {
        RequestParser::new(Limits::default()).parse(&mut BytesMut::from(bytes))
    }

    fn request(raw: &str) -> HttpRequest {
        match parse_one(raw.as_bytes()).unwrap() {
            Parsed::Request(request) => request,
            other => panic!("incomplete: {other:?}"),
        }
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
               GET /two?x=1 HTTP/1.1\r\nHost: a\r\n\r\n\
               POST /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\
               GET /partial HT"[..],
        );
        let mut parser = RequestParser::new(Limits::default());
        let requests = parse_all(&mut parser, &mut buf);
        let targets: Vec<_> = requests.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["/", "/two?x=1", "/three"]);
        assert_eq!(requests[0].body, b"abc");
        assert_eq!(requests[1].path(), "/two");
        assert_eq!(requests[1].query(), "x=1");
        assert_eq!(requests[2].body, b"hi");
        assert_eq!(&buf[..], b"GET /partial HT");
    }

    #[test]
    fn request_split_byte_by_byte() {
        let raw =
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        for byte in raw {
            buf.extend_from_slice(&[*byte]);
            requests.extend(parse_all(&mut parser, &mut buf));
        }
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body, b"hello");
        assert_eq!(requests[0].header("HOST"), Some("h"));
        assert_eq!(requests[1].method, "GET");
        assert!(buf.is_empty());
    }

    #[test]
    fn keep_alive_rules() {
        assert!(request("GET / HTTP/1.1\r\n\r\n").keep_alive());
        assert!(!request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!request("GET / HTTP/1.1\r\nconnection: Upgrade, Close\r\n\r\n").keep_alive());
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn chunked_body_decoded_and_trailers_ignored() {
        let raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n";
        let parsed = request(raw);
        assert_eq!(parsed.body, b"hello, world!!!");
    }

    #[test]
    fn chunked_errors() {
        let bad_size = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(parse_one(bad_size.as_bytes()), Err(HttpError::Malformed(_))));
        let no_crlf = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc";
        assert!(matches!(parse_one(no_crlf.as_bytes()), Err(HttpError::Malformed(_))));
        let mut long_line = String::from("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
        long_line.push_str(&"e".repeat(CHUNK_LINE_BYTES_MAX));
        assert!(matches!(parse_one(long_line.as_bytes()), Err(HttpError::Malformed(_))));
        let gzip = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let error = parse_one(gzip.as_bytes()).unwrap_err();
        assert_eq!(error.status(), 501);
        assert!(error.to_string().contains("gzip"), "{error}");
        let both = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
        assert!(matches!(parse_one(both.as_bytes()), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn chunked_body_over_the_limit() {
        let limits = Limits { header_bytes_max: 1024, body_bytes_max: 8 };
        let raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n";
        let error = RequestParser::new(limits).parse(&mut BytesMut::from(raw)).unwrap_err();
        assert_eq!(error, HttpError::BodyTooLarge { length: 10, max: 8 });
        assert_eq!(error.status(), 413);
    }

    #[test]
    fn content_length_rules() {
        let same = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab";
        assert_eq!(request(same).body, b"ab");
        let differ = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc";
        let error = parse_one(differ.as_bytes()).unwrap_err();
        assert!(matches!(error, HttpError::Malformed(_)) && error.status() == 400);
        let signed = "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab";
        assert!(matches!(parse_one(signed.as_bytes()), Err(HttpError::Malformed(_))));
        let huge = "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(matches!(parse_one(huge.as_bytes()), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn oversize_body_refused_from_the_header_alone() {
        let limits = Limits { header_bytes_max: 1024, body_bytes_max: 100 };
        let raw = "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
        let error = RequestParser::new(limits).parse(&mut BytesMut::from(raw)).unwrap_err();
        assert_eq!(error, HttpError::BodyTooLarge { length: 101, max: 100 });
        assert!(error.to_string().contains("101"), "{error}");
    }

    #[test]
    fn oversize_headers_refused() {
        let limits = Limits { header_bytes_max: 64, body_bytes_max: 100 };
        let mut parser = RequestParser::new(limits);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nX-Long: "[..]);
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: false }));
        buf.extend_from_slice(&[b'a'; 64]);
        let error = parser.parse(&mut buf).unwrap_err();
        assert!(matches!(error, HttpError::HeadersTooLarge { max: 64, .. }), "{error}");
        assert_eq!(error.status(), 431);
        // Complete but too long is refused too.
        let raw = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(60));
        let error = RequestParser::new(limits).parse(&mut BytesMut::from(raw.as_str()));
        assert!(matches!(error, Err(HttpError::HeadersTooLarge { .. })));
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let mut raw = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=HEADERS_COUNT_MAX {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        let error = parse_one(raw.as_bytes()).unwrap_err();
        assert_eq!(error, HttpError::TooManyHeaders { max: HEADERS_COUNT_MAX });
        assert_eq!(error.status(), 431);
    }

    #[test]
    fn expect_continue_signalled_once() {
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"[..],
        );
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: true }));
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: false }));
        buf.extend_from_slice(b"ab");
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: false }));
        buf.extend_from_slice(b"cd");
        assert!(matches!(parser.parse(&mut buf), Ok(Parsed::Request(r)) if r.body == b"abcd"));
        // The next request gets its own 100 Continue.
        buf.extend_from_slice(
            b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: true }));
        // HTTP/1.0 clients never get one.
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"[..],
        );
        assert_eq!(parser.parse(&mut buf), Ok(Parsed::Incomplete { send_continue: false }));
    }

    #[test]
    fn malformed_request_line() {
        let error = parse_one(b"GET / HTTP/2.0\r\n\r\n").unwrap_err();
        assert_eq!(error.status(), 400);
        assert!(error.to_string().contains("version"), "{error}");
        assert!(matches!(parse_one(b"GE T / HTTP/1.1\r\n\r\n"), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn response_written_with_framing_headers() {
        let response = HttpResponse {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/x-amz-json-1.0".into()),
                ("Content-Length".into(), "999".into()),
            ],
            body: b"{}".to_vec(),
        };
        let mut out = Vec::new();
        write_response(&response, true, &mut out);
        write_response(&HttpResponse { status: 413, ..HttpResponse::default() }, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n\
             Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}\
             HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    /// Writes `request` as a client would, chunked or with Content-Length.
    fn encode(request: &HttpRequest, chunk_bytes: Option<usize>) -> Vec<u8> {
        let mut out =
            format!("{} {} HTTP/1.{}\r\n", request.method, request.target, request.minor_version)
                .into_bytes();
        for (name, value) in &request.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        match chunk_bytes {
            None => {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", request.body.len()).as_bytes(),
                );
                out.extend_from_slice(&request.body);
            }
            Some(size) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in request.body.chunks(size) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        out
    }

    fn arbitrary_request() -> impl Strategy<Value = HttpRequest> {
        (
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
            "/[a-zA-Z0-9/._-]{0,20}(\\?[a-z0-9=&]{0,10})?",
            0u8..=1,
            prop::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,20}"), 0..8),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(method, target, minor_version, headers, body)| HttpRequest {
                method: method.to_string(),
                target,
                minor_version,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| (name, value.trim().to_string()))
                    .collect(),
                body,
            })
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..6),
        ) {
            let limits = Limits { header_bytes_max: 256, body_bytes_max: 256 };
            let mut parser = RequestParser::new(limits);
            let mut buf = BytesMut::new();
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
                if parser.parse(&mut buf).is_err() {
                    break;
                }
            }
        }

        #[test]
        fn random_bytes_after_a_valid_head_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..400),
            chunked in any::<bool>(),
        ) {
            let limits = Limits { header_bytes_max: 256, body_bytes_max: 256 };
            let head: &[u8] = if chunked {
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            } else {
                b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n"
            };
            let mut buf = BytesMut::from(head);
            buf.extend_from_slice(&body);
            let _ = RequestParser::new(limits).parse(&mut buf);
        }

        #[test]
        fn written_request_split_anywhere_parses_the_same(
            request in arbitrary_request(),
            chunk_bytes in prop::option::of(1usize..50),
            split in any::<prop::sample::Index>(),
        ) {
            let wire = encode(&request, chunk_bytes);
            let whole = match parse_one(&wire).unwrap() {
                Parsed::Request(parsed) => parsed,
                other => panic!("incomplete: {other:?}"),
            };
            prop_assert_eq!(&whole.body, &request.body);
            prop_assert_eq!(&whole.target, &request.target);
            prop_assert_eq!(&whole.headers[..request.headers.len()], &request.headers[..]);

            let at = split.index(wire.len());
            let mut parser = RequestParser::new(Limits::default());
            let mut buf = BytesMut::from(&wire[..at]);
            let first = parser.parse(&mut buf).unwrap();
            prop_assert!(matches!(first, Parsed::Incomplete { .. }), "split request parsed early");
            buf.extend_from_slice(&wire[at..]);
            prop_assert_eq!(parser.parse(&mut buf).unwrap(), Parsed::Request(whole));
            prop_assert!(buf.is_empty());
        }
    }
}
