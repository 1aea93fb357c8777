//! The DynamoDB target: any endpoint that speaks DynamoDB's AWS JSON 1.0 protocol over
//! HTTP/1.1 (Shoal's DynamoDB listener, dynalite, DynamoDB Local).
//!
//! - [`HttpConnection`]: a minimal HTTP/1.1 keep-alive client. One request in flight per
//!   connection; the request (head and body) goes out in one `write_all`; the response's
//!   status line and headers are parsed with `httparse`, the body is framed by
//!   `Content-Length` (also `chunked`, or until close). Buffers are kept between requests.
//! - [`RequestBuilder`]: the JSON body of each operation written by hand into a reused
//!   buffer, the fixed headers prepared once per operation, and Signature V4 by
//!   [`shoal_dynamo::sigv4::sign`].
//! - [`DynamoDriver`]: one client task's connection; reconnects after any failure.
//! - [`ensure_tables`]: CreateTable (PAY_PER_REQUEST) when missing, then DescribeTable on
//!   every host until the table is ACTIVE.
//!
//! Mapping (the README's "Mapping" section): read = GetItem (`ConsistentRead` for QUORUM
//! and ALL), update = UpdateItem `SET #f = :v`, insert = PutItem of the whole record,
//! scan = Query `#b = :b AND #k >= :k` with `Limit` (`bucket` is a reserved word, hence the
//! name placeholders). A non-200 answer is an error of the kind after `#` in its `__type`
//! (`ConditionalCheckFailedException`, ...), or `http_<status>` without one.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::IgnoredAny;
use serde::Deserialize;
use shoal_client::Consistency;
use shoal_dynamo::sigv4::{sign, Credentials};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::driver::{
    bucket_name, Consistencies, Layout, OpError, Record, ATTR_BUCKET, ATTR_KEY, TABLE_PLAIN,
    TABLE_SORTED,
};
use crate::keys::key_name;

/// Content type of every request.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// Prefix of `x-amz-target`.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// Shoal's extension: the consistency level of a write (other servers ignore it).
pub const CONSISTENCY_HEADER: &str = "x-shoal-consistency";
/// Largest response head (status line and headers) accepted.
pub const HEAD_BYTES_MAX: usize = 64 << 10;
/// Largest response body accepted.
pub const BODY_BYTES_MAX: usize = 64 << 20;
/// How long [`ensure_tables`] waits for a table to become ACTIVE.
pub const TABLE_ACTIVE_DEADLINE: Duration = Duration::from_secs(60);
/// Headers a response may carry (more is a protocol error).
const HEADERS_MAX: usize = 64;
/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 16 << 10;

/// The DynamoDB operations the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read one item.
    GetItem,
    /// Write a whole item.
    PutItem,
    /// Change attributes of an item.
    UpdateItem,
    /// One page of a partition's items in sort-key order.
    Query,
    /// Create a table.
    CreateTable,
    /// A table's description and status.
    DescribeTable,
}

impl Op {
    /// Every operation, in the order of `Op::index`.
    pub const ALL: [Op; 6] =
        [Op::GetItem, Op::PutItem, Op::UpdateItem, Op::Query, Op::CreateTable, Op::DescribeTable];

    /// Its name in `x-amz-target`.
    pub fn name(self) -> &'static str {
        match self {
            Op::GetItem => "GetItem",
            Op::PutItem => "PutItem",
            Op::UpdateItem => "UpdateItem",
            Op::Query => "Query",
            Op::CreateTable => "CreateTable",
            Op::DescribeTable => "DescribeTable",
        }
    }

    fn index(self) -> usize {
        match self {
            Op::GetItem => 0,
            Op::PutItem => 1,
            Op::UpdateItem => 2,
            Op::Query => 3,
            Op::CreateTable => 4,
            Op::DescribeTable => 5,
        }
    }

    fn is_write(self) -> bool {
        matches!(self, Op::PutItem | Op::UpdateItem)
    }
}

/// How requests are signed and which consistency they ask for.
#[derive(Clone, Debug)]
pub struct DynamoSettings {
    /// Access key, secret key, region (`us-east-1`) and service (`dynamodb`).
    pub credentials: Credentials,
    /// Consistency per operation type: reads and scans at QUORUM or ALL send
    /// `ConsistentRead: true`.
    pub consistency: Consistencies,
    /// Sent as [`CONSISTENCY_HEADER`] on writes when set (the user gave it explicitly).
    pub write_consistency_header: Option<Consistency>,
}

/// The credentials of `access_key`/`secret_key` for DynamoDB in `us-east-1`.
pub fn credentials(access_key: &str, secret_key: &str) -> Credentials {
    Credentials {
        access_key: access_key.to_owned(),
        secret_key: secret_key.to_owned(),
        region: "us-east-1".to_owned(),
        service: "dynamodb".to_owned(),
    }
}

/// Whether reads at `consistency` ask for `ConsistentRead` (QUORUM and ALL; Shoal serves
/// it at QUORUM).
pub fn consistent_read(consistency: Consistency) -> bool {
    matches!(consistency, Consistency::Quorum | Consistency::All)
}

fn now_unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Appends `s` as a JSON string.
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            // A control character below 0x20: `\u00` and two hex digits.
            let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
            out.extend_from_slice(b"\\u00");
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends `"name":{"S":"value"}`.
fn json_attr_s(out: &mut Vec<u8>, name: &str, value: &str) {
    json_string(out, name);
    out.extend_from_slice(b":{\"S\":");
    json_string(out, value);
    out.push(b'}');
}

/// Builds signed requests into reused buffers. Pure (no I/O), so it is tested alone.
#[derive(Debug)]
pub struct RequestBuilder {
    host: String,
    settings: DynamoSettings,
    record: Record,
    /// Per [`Op`]: the headers signed (host, content-type, x-amz-target, and the
    /// consistency header on writes when asked for).
    headers: Vec<Vec<(String, String)>>,
    /// The body being built.
    body: Vec<u8>,
    /// Field names, `field0..`.
    fields: Vec<String>,
}

impl RequestBuilder {
    /// A builder for requests to `host` (`HOST:PORT`, the `host` header).
    pub fn new(host: &str, settings: DynamoSettings, record: Record) -> RequestBuilder {
        let headers = Op::ALL
            .iter()
            .map(|op| {
                let mut h = vec![
                    ("host".to_owned(), host.to_owned()),
                    ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
                    ("x-amz-target".to_owned(), format!("{TARGET_PREFIX}{}", op.name())),
                ];
                if let (true, Some(c)) = (op.is_write(), settings.write_consistency_header) {
                    h.push((CONSISTENCY_HEADER.to_owned(), c.as_str().to_owned()));
                }
                h
            })
            .collect();
        let fields = (0..record.fields).map(|i| format!("field{i}")).collect();
        RequestBuilder {
            host: host.to_owned(),
            settings,
            record,
            headers,
            body: Vec::with_capacity(4096),
            fields,
        }
    }

    /// The host this builder signs for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The body built by the last `*_body` call.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    fn table(&self) -> &'static str {
        match self.record.layout {
            Layout::Plain => TABLE_PLAIN,
            Layout::Sorted => TABLE_SORTED,
        }
    }

    fn begin(&mut self, table: &str) {
        self.body.clear();
        self.body.extend_from_slice(b"{\"TableName\":");
        json_string(&mut self.body, table);
    }

    /// Appends `,"<wrapper>":{key attributes` (without the closing brace).
    fn key_attrs(&mut self, wrapper: &str, key: u64) {
        self.body.push(b',');
        json_string(&mut self.body, wrapper);
        self.body.extend_from_slice(b":{");
        json_attr_s(&mut self.body, ATTR_KEY, &key_name(key));
        if self.record.layout == Layout::Sorted {
            self.body.push(b',');
            json_attr_s(&mut self.body, ATTR_BUCKET, &bucket_name(key));
        }
    }

    /// GetItem of record `key`.
    pub fn get_item_body(&mut self, key: u64) {
        self.begin(self.table());
        self.key_attrs("Key", key);
        self.body.push(b'}');
        if consistent_read(self.settings.consistency.read) {
            self.body.extend_from_slice(b",\"ConsistentRead\":true");
        }
        self.body.push(b'}');
    }

    /// UpdateItem `SET #f = :v` of field `field` of record `key`.
    pub fn update_item_body(&mut self, key: u64, field: usize, value: &str) {
        self.begin(self.table());
        self.key_attrs("Key", key);
        self.body.extend_from_slice(
            b"},\"UpdateExpression\":\"SET #f = :v\",\"ExpressionAttributeNames\":{\"#f\":",
        );
        match self.fields.get(field) {
            Some(name) => json_string(&mut self.body, name),
            None => json_string(&mut self.body, &format!("field{field}")),
        }
        self.body.extend_from_slice(b"},\"ExpressionAttributeValues\":{\":v\":{\"S\":");
        json_string(&mut self.body, value);
        self.body.extend_from_slice(b"}}}");
    }

    /// PutItem of record `key` with these field values.
    pub fn put_item_body(&mut self, key: u64, values: &[&str]) {
        self.begin(self.table());
        self.key_attrs("Item", key);
        for (i, value) in values.iter().enumerate() {
            self.body.push(b',');
            match self.fields.get(i) {
                Some(name) => json_attr_s(&mut self.body, name, value),
                None => json_attr_s(&mut self.body, &format!("field{i}"), value),
            }
        }
        self.body.extend_from_slice(b"}}");
    }

    /// Query of up to `limit` records from `key` within its bucket (sorted layout).
    pub fn query_body(&mut self, key: u64, limit: u64) {
        self.begin(TABLE_SORTED);
        self.body.extend_from_slice(
            b",\"KeyConditionExpression\":\"#b = :b AND #k >= :k\",\
              \"ExpressionAttributeNames\":{\"#b\":",
        );
        json_string(&mut self.body, ATTR_BUCKET);
        self.body.extend_from_slice(b",\"#k\":");
        json_string(&mut self.body, ATTR_KEY);
        self.body.extend_from_slice(b"},\"ExpressionAttributeValues\":{");
        json_attr_s(&mut self.body, ":b", &bucket_name(key));
        self.body.push(b',');
        json_attr_s(&mut self.body, ":k", &key_name(key));
        self.body.extend_from_slice(b"},\"Limit\":");
        self.body.extend_from_slice(limit.max(1).to_string().as_bytes());
        if consistent_read(self.settings.consistency.scan) {
            self.body.extend_from_slice(b",\"ConsistentRead\":true");
        }
        self.body.push(b'}');
    }

    /// Sets the body to `json` (table administration, off the measured path).
    pub fn json_body(&mut self, json: &serde_json::Value) {
        self.body.clear();
        self.body.extend_from_slice(json.to_string().as_bytes());
    }

    /// Writes the whole request of `op` with the current body into `out` (cleared first),
    /// signed at `unix_secs`.
    pub fn write_request(&self, op: Op, unix_secs: u64, out: &mut Vec<u8>) {
        out.clear();
        let headers = self.headers.get(op.index()).map(Vec::as_slice).unwrap_or_default();
        let signed =
            sign(&self.settings.credentials, "POST", "/", "", headers, &self.body, unix_secs);
        out.extend_from_slice(b"POST / HTTP/1.1\r\n");
        for (name, value) in headers.iter().chain(&signed) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// How a response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed status line and headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// Bytes of the status line and headers, blank line included.
    pub head_len: usize,
    /// How the body is framed.
    pub framing: Framing,
    /// The server closes the connection after this response.
    pub close: bool,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("HTTP: {what}"))
}

/// Parses a response head from the start of `buf`; `Ok(None)` when it is incomplete.
///
/// # Errors
/// A malformed or oversized head, or a body larger than [`BODY_BYTES_MAX`].
pub fn parse_head(buf: &[u8]) -> io::Result<Option<ResponseHead>> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > HEAD_BYTES_MAX => {
            return Err(invalid("response head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(&e.to_string())),
    };
    let status = response.code.ok_or_else(|| invalid("no status"))?;
    let mut close = response.version == Some(0);
    let mut framing = Framing::UntilClose;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            if framing != Framing::Chunked {
                let n: usize = value.parse().map_err(|_| invalid("bad content-length"))?;
                if n > BODY_BYTES_MAX {
                    return Err(invalid("body too large"));
                }
                framing = Framing::Length(n);
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        }
    }
    // 1xx, 204 and 304 have no body whatever the headers say.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    if framing == Framing::UntilClose {
        close = true;
    }
    Ok(Some(ResponseHead { status, head_len, framing, close }))
}

/// Decodes a chunked body from the start of `buf` into `out` (cleared first); returns the
/// bytes it used (trailers included), or `None` when it is incomplete.
///
/// # Errors
/// Malformed chunks, or a body larger than [`BODY_BYTES_MAX`].
pub fn decode_chunked(buf: &[u8], out: &mut Vec<u8>) -> io::Result<Option<usize>> {
    out.clear();
    let mut at = 0;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(rest.get(..eol).unwrap_or_default())
            .map_err(|_| invalid("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size > BODY_BYTES_MAX || out.len() + size > BODY_BYTES_MAX {
            return Err(invalid("body too large"));
        }
        at += eol + 2;
        if size == 0 {
            // Trailers, each ending in CRLF, then a blank line.
            loop {
                let rest = buf.get(at..).unwrap_or_default();
                let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        let Some(data) = buf.get(at..at + size) else { return Ok(None) };
        match buf.get(at + size..at + size + 2) {
            None | Some([b'\r']) => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(invalid("chunk without CRLF")),
        }
        out.extend_from_slice(data);
        at += size + 2;
    }
}

/// One response: its status and body (borrowed from the connection's buffers).
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: &'a [u8],
    /// The server closes the connection after it.
    pub close: bool,
}

/// Where a complete response's body is.
enum BodyAt {
    Buffer(Range<usize>),
    Chunked,
}

/// An HTTP/1.1 client connection, one request in flight.
#[derive(Debug)]
pub struct HttpConnection<S> {
    stream: S,
    /// Bytes read; `buf[..consumed]` belongs to responses already returned.
    buf: Vec<u8>,
    consumed: usize,
    /// The decoded body of a chunked response.
    chunked: Vec<u8>,
    /// The request being sent.
    out: Vec<u8>,
}

impl HttpConnection<TcpStream> {
    /// Connects to `address` (`host:port`), with Nagle off.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(address: &str) -> io::Result<HttpConnection<TcpStream>> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection::new(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> HttpConnection<S> {
    /// A connection over `stream`.
    pub fn new(stream: S) -> HttpConnection<S> {
        HttpConnection {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            consumed: 0,
            chunked: Vec::new(),
            out: Vec::with_capacity(4096),
        }
    }

    /// The buffer the next request is written into (then sent by [`HttpConnection::send`]).
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Sends the request in [`HttpConnection::out`].
    ///
    /// # Errors
    /// The write error; the connection is then unusable.
    pub async fn send(&mut self) -> io::Result<()> {
        self.stream.write_all(&self.out).await
    }

    /// Reads the next response.
    ///
    /// # Errors
    /// I/O errors, a connection closed early, malformed or oversized responses; the
    /// connection is then unusable.
    pub async fn read_response(&mut self) -> io::Result<Response<'_>> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        let mut head: Option<ResponseHead> = None;
        let mut eof = false;
        let (status, close, at) = loop {
            if head.is_none() {
                head = parse_head(&self.buf)?;
                if let Some(h) = head.filter(|h| (100..200).contains(&h.status)) {
                    // An interim response (100 Continue): skip it.
                    self.buf.drain(..h.head_len);
                    head = None;
                    continue;
                }
            }
            if let Some(h) = head {
                let body = self.buf.get(h.head_len..).unwrap_or_default();
                match h.framing {
                    Framing::Length(n) if body.len() >= n => {
                        self.consumed = h.head_len + n;
                        break (h.status, h.close, BodyAt::Buffer(h.head_len..h.head_len + n));
                    }
                    Framing::Chunked => {
                        if let Some(used) = decode_chunked(body, &mut self.chunked)? {
                            self.consumed = h.head_len + used;
                            break (h.status, h.close, BodyAt::Chunked);
                        }
                    }
                    Framing::UntilClose if eof => {
                        self.consumed = self.buf.len();
                        break (h.status, true, BodyAt::Buffer(h.head_len..self.buf.len()));
                    }
                    Framing::UntilClose if body.len() > BODY_BYTES_MAX => {
                        return Err(invalid("body too large"));
                    }
                    _ => {}
                }
            }
            if eof {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed"));
            }
            self.buf.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                eof = true;
            }
        };
        let body = match at {
            BodyAt::Buffer(range) => self.buf.get(range).unwrap_or_default(),
            BodyAt::Chunked => &self.chunked,
        };
        Ok(Response { status, body, close })
    }
}

/// The kind of a failed response: the part of its `__type` after `#`
/// (`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` →
/// `ConditionalCheckFailedException`), or `http_<status>` when the body has none.
pub fn error_kind(status: u16, body: &[u8]) -> OpError {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(rename = "__type")]
        kind: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { kind: Some(kind) }) if !kind.is_empty() => {
            let short = kind.rsplit_once('#').map_or(kind.as_str(), |(_, k)| k);
            OpError(short.to_owned())
        }
        _ => OpError(format!("http_{status}")),
    }
}

/// Whether a GetItem answer holds an item (parsed without copying it).
///
/// # Errors
/// `protocol` when the body is not a JSON object.
pub fn get_item_found(body: &[u8]) -> Result<bool, OpError> {
    #[derive(Deserialize)]
    struct GetItemOutput {
        #[serde(rename = "Item")]
        item: Option<IgnoredAny>,
    }
    serde_json::from_slice::<GetItemOutput>(body)
        .map(|o| o.item.is_some())
        .map_err(|_| OpError::new("protocol"))
}

/// The `Count` of a Query answer (parsed without copying the items).
///
/// # Errors
/// `protocol` when the body is not a JSON object.
pub fn query_count(body: &[u8]) -> Result<u64, OpError> {
    #[derive(Deserialize)]
    struct QueryOutput {
        #[serde(rename = "Count")]
        count: Option<u64>,
        #[serde(rename = "Items")]
        items: Option<Vec<IgnoredAny>>,
    }
    serde_json::from_slice::<QueryOutput>(body)
        .map(|o| o.count.or(o.items.map(|i| i.len() as u64)).unwrap_or(0))
        .map_err(|_| OpError::new("protocol"))
}

// ---------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------

/// One client task's connection to a DynamoDB endpoint; reconnects after any failure (a
/// late answer would otherwise be taken for the next request's).
#[derive(Debug)]
pub struct DynamoDriver {
    address: String,
    connection: Option<HttpConnection<TcpStream>>,
    builder: RequestBuilder,
    record: Record,
    timeout: Duration,
}

impl DynamoDriver {
    /// A driver for the endpoint at `address` (`HOST:PORT`); connects now.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(
        address: &str,
        settings: DynamoSettings,
        record: Record,
        timeout: Duration,
    ) -> io::Result<DynamoDriver> {
        let connection = Some(HttpConnection::connect(address).await?);
        Ok(DynamoDriver {
            address: address.to_owned(),
            connection,
            builder: RequestBuilder::new(address, settings, record),
            record,
            timeout,
        })
    }

    /// Sends the builder's current body as `op` and checks the answer with `check`, which
    /// sees the body of a 200 answer; under the timeout.
    async fn call<T>(
        &mut self,
        op: Op,
        check: impl FnOnce(&[u8]) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        if self.connection.is_none() {
            let c = HttpConnection::connect(&self.address)
                .await
                .map_err(|_| OpError::new("connect"))?;
            self.connection = Some(c);
        }
        let Some(connection) = self.connection.as_mut() else {
            return Err(OpError::new("connect"));
        };
        let builder = &self.builder;
        let exchange = async {
            builder.write_request(op, now_unix_secs(), connection.out());
            connection.send().await?;
            let response = connection.read_response().await?;
            let close = response.close;
            let result = if response.status == 200 {
                check(response.body)
            } else {
                Err(error_kind(response.status, response.body))
            };
            Ok::<_, io::Error>((result, close))
        };
        let outcome = tokio::time::timeout(self.timeout, exchange).await;
        let (result, keep) = match outcome {
            Ok(Ok((result, close))) => (result, !close),
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                (Err(OpError::new("protocol")), false)
            }
            Ok(Err(_)) => (Err(OpError::new("connection")), false),
            Err(_) => (Err(OpError::new("timeout")), false),
        };
        if !keep {
            self.connection = None;
        }
        result
    }

    /// Reads record `key` (GetItem).
    ///
    /// # Errors
    /// The failure's kind; `not_found` for a missing record.
    pub async fn read(&mut self, key: u64) -> Result<(), OpError> {
        self.builder.get_item_body(key);
        let found = self.call(Op::GetItem, get_item_found).await?;
        if found {
            Ok(())
        } else {
            Err(OpError::new("not_found"))
        }
    }

    /// Sets field `field` of record `key` (UpdateItem).
    ///
    /// # Errors
    /// The failure's kind.
    pub async fn update(&mut self, key: u64, field: usize, value: &str) -> Result<(), OpError> {
        self.builder.update_item_body(key, field, value);
        self.call(Op::UpdateItem, |_| Ok(())).await
    }

    /// Writes record `key` (PutItem).
    ///
    /// # Errors
    /// The failure's kind.
    pub async fn insert(&mut self, key: u64, values: &[&str]) -> Result<(), OpError> {
        self.builder.put_item_body(key, values);
        self.call(Op::PutItem, |_| Ok(())).await
    }

    /// Reads up to `len` records from `key` (Query, sorted layout only).
    ///
    /// # Errors
    /// The failure's kind; `not_found` when the page is empty, `bad_layout` in the plain
    /// layout.
    pub async fn scan(&mut self, key: u64, len: u64) -> Result<(), OpError> {
        if self.record.layout != Layout::Sorted {
            return Err(OpError::new("bad_layout"));
        }
        self.builder.query_body(key, len);
        match self.call(Op::Query, query_count).await? {
            0 => Err(OpError::new("not_found")),
            _ => Ok(()),
        }
    }

    /// Sends `json` as `op` and returns the answer parsed (any status).
    async fn admin(
        &mut self,
        op: Op,
        json: &serde_json::Value,
    ) -> Result<Result<serde_json::Value, OpError>, OpError> {
        self.builder.json_body(json);
        let answer = self
            .call(op, |body| serde_json::from_slice(body).map_err(|_| OpError::new("protocol")))
            .await;
        match answer {
            Ok(v) => Ok(Ok(v)),
            Err(e) if e.0.ends_with("Exception") || e.0.starts_with("http_") => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }
}

/// The CreateTable request of `layout`'s table (PAY_PER_REQUEST).
pub fn create_table_json(layout: Layout) -> serde_json::Value {
    let attr = |name: &str| serde_json::json!({"AttributeName": name, "AttributeType": "S"});
    let key = |name: &str, kind: &str| serde_json::json!({"AttributeName": name, "KeyType": kind});
    match layout {
        Layout::Plain => serde_json::json!({
            "TableName": TABLE_PLAIN,
            "AttributeDefinitions": [attr(ATTR_KEY)],
            "KeySchema": [key(ATTR_KEY, "HASH")],
            "BillingMode": "PAY_PER_REQUEST",
        }),
        Layout::Sorted => serde_json::json!({
            "TableName": TABLE_SORTED,
            "AttributeDefinitions": [attr(ATTR_BUCKET), attr(ATTR_KEY)],
            "KeySchema": [key(ATTR_BUCKET, "HASH"), key(ATTR_KEY, "RANGE")],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    }
}

/// Creates the table of `record.layout` through `hosts[0]` unless it exists, then waits
/// until DescribeTable on every host says ACTIVE (at most [`TABLE_ACTIVE_DEADLINE`]).
///
/// # Errors
/// A message saying what failed.
pub async fn ensure_tables(
    hosts: &[String],
    settings: &DynamoSettings,
    record: Record,
    timeout: Duration,
) -> Result<(), String> {
    let table = match record.layout {
        Layout::Plain => TABLE_PLAIN,
        Layout::Sorted => TABLE_SORTED,
    };
    let describe = serde_json::json!({ "TableName": table });
    let first = hosts.first().ok_or("no --hosts")?;
    let connect = |host: &String| {
        let host = host.clone();
        async move {
            DynamoDriver::connect(&host, settings.clone(), record, timeout)
                .await
                .map_err(|e| format!("cannot connect to {host}: {e}"))
        }
    };
    let mut driver = connect(first).await?;
    let fail = |what: &str, e: OpError| format!("{what} {table} on {first}: {}", e.0);
    match driver.admin(Op::DescribeTable, &describe).await.map_err(|e| fail("DescribeTable", e))? {
        Ok(_) => {}
        Err(OpError(kind)) if kind == "ResourceNotFoundException" => {
            match driver
                .admin(Op::CreateTable, &create_table_json(record.layout))
                .await
                .map_err(|e| fail("CreateTable", e))?
            {
                Ok(_) => {}
                // Created meanwhile by someone else.
                Err(OpError(kind)) if kind == "ResourceInUseException" => {}
                Err(e) => return Err(fail("CreateTable", e)),
            }
        }
        Err(e) => return Err(fail("DescribeTable", e)),
    }
    let deadline = Instant::now() + TABLE_ACTIVE_DEADLINE;
    for host in hosts {
        let mut own;
        let d = if host == first {
            &mut driver
        } else {
            own = connect(host).await?;
            &mut own
        };
        loop {
            let status = match d.admin(Op::DescribeTable, &describe).await {
                Ok(Ok(v)) => v
                    .get("Table")
                    .and_then(|t| t.get("TableStatus"))
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("no TableStatus")
                    .to_owned(),
                Ok(Err(OpError(kind))) | Err(OpError(kind)) => kind,
            };
            if status == "ACTIVE" {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "table {table} on {host} not ACTIVE after {} s (last: {status})",
                    TABLE_ACTIVE_DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use shoal_dynamo::sigv4::{verify, AuthMode};
    use tokio::io::duplex;
    use tokio::net::TcpListener;

    const NOW: u64 = 1_765_000_000; // 2025-12-06T05:46:40Z

    fn settings(write_header: Option<Consistency>) -> DynamoSettings {
        DynamoSettings {
            credentials: credentials("AKIDTEST", "secret/key"),
            consistency: Consistencies {
                read: Consistency::Quorum,
                write: Consistency::Quorum,
                scan: Consistency::One,
            },
            write_consistency_header: write_header,
        }
    }

    fn record(layout: Layout) -> Record {
        Record { fields: 3, field_bytes: 4, layout }
    }

    /// The request `builder` writes for `op`, parsed: headers (lowercase names) and body.
    fn parse_request(builder: &RequestBuilder, op: Op) -> (Vec<(String, String)>, Value, Vec<u8>) {
        let mut out = Vec::new();
        builder.write_request(op, NOW, &mut out);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = request.parse(&out).unwrap() else {
            panic!("incomplete request head")
        };
        assert_eq!(request.method, Some("POST"));
        assert_eq!(request.path, Some("/"));
        assert_eq!(request.version, Some(1));
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap()))
            .collect();
        let body = out[head_len..].to_vec();
        let length: usize = header(&headers, "content-length").unwrap().parse().unwrap();
        assert_eq!(length, body.len());
        let json = serde_json::from_slice(&body).unwrap();
        (headers, json, body)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn requests_are_signed_and_verify() {
        let mut b = RequestBuilder::new("127.0.0.1:8000", settings(None), record(Layout::Plain));
        b.get_item_body(42);
        let (headers, _, body) = parse_request(&b, Op::GetItem);
        assert_eq!(header(&headers, "host"), Some("127.0.0.1:8000"));
        assert_eq!(header(&headers, "content-type"), Some(CONTENT_TYPE));
        assert_eq!(header(&headers, "x-amz-target"), Some("DynamoDB_20120810.GetItem"));
        assert_eq!(header(&headers, "x-amz-date"), Some("20251206T054640Z"));
        assert_eq!(header(&headers, CONSISTENCY_HEADER), None);
        let auth = header(&headers, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDTEST/20251206/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
            ),
            "{auth}"
        );
        // The server's verifier accepts it with the right secret, and refuses a wrong one.
        let keys = |secret: &str| {
            AuthMode::Keys([("AKIDTEST".to_owned(), secret.to_owned())].into_iter().collect())
        };
        verify(&keys("secret/key"), "POST", "/", &headers, &body, NOW + 5).unwrap();
        let wrong = verify(&keys("other"), "POST", "/", &headers, &body, NOW + 5).unwrap_err();
        assert_eq!(wrong.type_name, "InvalidSignatureException");
        // A changed body no longer verifies.
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(verify(&keys("secret/key"), "POST", "/", &headers, &tampered, NOW).is_err());
    }

    #[test]
    fn consistency_header_only_on_writes_when_given() {
        let mut b =
            RequestBuilder::new("h:1", settings(Some(Consistency::All)), record(Layout::Plain));
        b.put_item_body(1, &["a", "b", "c"]);
        let (headers, _, body) = parse_request(&b, Op::PutItem);
        assert_eq!(header(&headers, CONSISTENCY_HEADER), Some("ALL"));
        assert!(header(&headers, "authorization").unwrap().contains("x-shoal-consistency"));
        let mode = AuthMode::Keys([("AKIDTEST".into(), "secret/key".into())].into());
        verify(&mode, "POST", "/", &headers, &body, NOW).unwrap();
        b.update_item_body(1, 0, "x");
        assert_eq!(header(&parse_request(&b, Op::UpdateItem).0, CONSISTENCY_HEADER), Some("ALL"));
        b.get_item_body(1);
        assert_eq!(header(&parse_request(&b, Op::GetItem).0, CONSISTENCY_HEADER), None);
    }

    #[test]
    fn body_shapes_plain_layout() {
        let mut b = RequestBuilder::new("h:1", settings(None), record(Layout::Plain));
        let key = json!({"ycsb_key": {"S": "user000000000042"}});
        b.get_item_body(42);
        assert_eq!(
            parse_request(&b, Op::GetItem).1,
            json!({"TableName": "usertable", "Key": key, "ConsistentRead": true})
        );
        b.update_item_body(42, 2, "v\"q\\");
        assert_eq!(
            parse_request(&b, Op::UpdateItem).1,
            json!({"TableName": "usertable", "Key": key, "UpdateExpression": "SET #f = :v",
                   "ExpressionAttributeNames": {"#f": "field2"},
                   "ExpressionAttributeValues": {":v": {"S": "v\"q\\"}}})
        );
        b.put_item_body(7, &["aaaa", "bbbb", "cccc"]);
        assert_eq!(
            parse_request(&b, Op::PutItem).1,
            json!({"TableName": "usertable", "Item": {
                "ycsb_key": {"S": "user000000000007"}, "field0": {"S": "aaaa"},
                "field1": {"S": "bbbb"}, "field2": {"S": "cccc"}}})
        );
        // Reads at ONE are eventually consistent: no ConsistentRead.
        let mut one = settings(None);
        one.consistency.read = Consistency::One;
        let mut b = RequestBuilder::new("h:1", one, record(Layout::Plain));
        b.get_item_body(42);
        assert_eq!(parse_request(&b, Op::GetItem).1, json!({"TableName": "usertable", "Key": key}));
    }

    #[test]
    fn body_shapes_sorted_layout() {
        let mut b = RequestBuilder::new("h:1", settings(None), record(Layout::Sorted));
        let key = json!({"ycsb_key": {"S": "user000000001234"}, "bucket": {"S": "b00000001"}});
        b.get_item_body(1234);
        assert_eq!(
            parse_request(&b, Op::GetItem).1,
            json!({"TableName": "usertable_sorted", "Key": key, "ConsistentRead": true})
        );
        b.put_item_body(1234, &["a", "b", "c"]);
        let item = &parse_request(&b, Op::PutItem).1["Item"];
        assert_eq!(item["bucket"], json!({"S": "b00000001"}));
        assert_eq!(item["field2"], json!({"S": "c"}));
        b.query_body(1234, 17);
        assert_eq!(
            parse_request(&b, Op::Query).1,
            json!({"TableName": "usertable_sorted",
                   "KeyConditionExpression": "#b = :b AND #k >= :k",
                   "ExpressionAttributeNames": {"#b": "bucket", "#k": "ycsb_key"},
                   "ExpressionAttributeValues": {":b": {"S": "b00000001"},
                                                 ":k": {"S": "user000000001234"}},
                   "Limit": 17})
        );
        let (headers, _, _) = parse_request(&b, Op::Query);
        assert_eq!(header(&headers, "x-amz-target"), Some("DynamoDB_20120810.Query"));
    }

    #[test]
    fn create_table_requests() {
        let plain = create_table_json(Layout::Plain);
        assert_eq!(plain["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(plain["KeySchema"], json!([{"AttributeName": "ycsb_key", "KeyType": "HASH"}]));
        let sorted = create_table_json(Layout::Sorted);
        assert_eq!(sorted["TableName"], "usertable_sorted");
        assert_eq!(
            sorted["KeySchema"][1],
            json!({"AttributeName": "ycsb_key", "KeyType": "RANGE"})
        );
    }

    #[test]
    fn json_strings_escape() {
        let mut out = Vec::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
        assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn heads_parse() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: x\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_head(&ok[..20]).unwrap(), None);
        assert_eq!(
            parse_head(ok).unwrap(),
            Some(ResponseHead {
                status: 200,
                head_len: 55,
                framing: Framing::Length(5),
                close: false
            })
        );
        let close = b"HTTP/1.1 400 Bad\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(parse_head(close).unwrap().unwrap().close);
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_head(old).unwrap().unwrap().close);
        let chunked = b"HTTP/1.1 413 Too Large\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(parse_head(chunked).unwrap().unwrap().framing, Framing::Chunked);
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n";
        let h = parse_head(until_close).unwrap().unwrap();
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"SMTP ready\r\n\r\n").is_err());
        let huge = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY_BYTES_MAX + 1);
        assert!(parse_head(huge.as_bytes()).is_err());
    }

    #[test]
    fn chunked_bodies_decode() {
        let mut out = Vec::new();
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for cut in 0..body.len() - 4 {
            assert_eq!(decode_chunked(&body[..cut], &mut out).unwrap(), None, "cut {cut}");
        }
        assert_eq!(decode_chunked(body, &mut out).unwrap(), Some(body.len() - 4));
        assert_eq!(out, b"hello world");
        assert!(decode_chunked(b"zz\r\n", &mut out).is_err());
        assert!(decode_chunked(b"2\r\nabX\r\n", &mut out).is_err());
    }

    #[test]
    fn answers_classify() {
        let err = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
        assert_eq!(error_kind(400, err), OpError::new("ProvisionedThroughputExceededException"));
        let plain = br#"{"__type":"ConditionalCheckFailedException"}"#;
        assert_eq!(error_kind(400, plain), OpError::new("ConditionalCheckFailedException"));
        assert_eq!(error_kind(500, b"<html>oops</html>"), OpError::new("http_500"));
        assert_eq!(error_kind(503, b"{}"), OpError::new("http_503"));
        assert_eq!(get_item_found(br#"{"Item":{"ycsb_key":{"S":"k"}}}"#), Ok(true));
        assert_eq!(get_item_found(b"{}"), Ok(false));
        assert_eq!(get_item_found(b"nope"), Err(OpError::new("protocol")));
        assert_eq!(query_count(br#"{"Count":3,"Items":[{},{},{}],"ScannedCount":3}"#), Ok(3));
        assert_eq!(query_count(br#"{"Items":[{}]}"#), Ok(1));
        assert_eq!(query_count(br#"{"Count":0,"Items":[]}"#), Ok(0));
    }

    /// Responses written in pieces (one byte per write, with yields between) are read one
    /// by one on the same keep-alive connection, and responses that arrive together too.
    #[tokio::test]
    async fn responses_split_and_kept_alive() {
        let (client, mut server) = duplex(64);
        let mut conn = HttpConnection::new(client);
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"Item\":{}}\r\n";
        let second_body = "{\"__type\":\"a.b#ValidationException\",\"m\":1}";
        let second = answer("400 Bad Request", "", second_body).into_bytes();
        let third = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let fourth = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        let writer = tokio::spawn(async move {
            for byte in first.iter().chain(&second) {
                server.write_all(&[*byte]).await.unwrap();
                tokio::task::yield_now().await;
            }
            // Two answers in one write: the second stays buffered for the next read.
            let mut both = third.to_vec();
            both.extend_from_slice(fourth);
            server.write_all(&both).await.unwrap();
            server
        });
        let r = conn.read_response().await.unwrap();
        assert_eq!((r.status, r.body, r.close), (200, &b"{\"Item\":{}}\r\n"[..], false));
        let r = conn.read_response().await.unwrap();
        assert_eq!((r.status, r.body), (400, second_body.as_bytes()));
        assert_eq!(error_kind(r.status, r.body), OpError::new("ValidationException"));
        let r = conn.read_response().await.unwrap();
        assert_eq!((r.status, r.body), (200, &b"{}"[..]));
        let r = conn.read_response().await.unwrap();
        assert_eq!((r.status, r.body, r.close), (200, &b"{}"[..], true));
        let server = writer.await.unwrap();
        drop(server);
        let eof = conn.read_response().await.unwrap_err();
        assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A body framed by the end of the connection.
    #[tokio::test]
    async fn response_until_close() {
        let (client, mut server) = duplex(1024);
        let mut conn = HttpConnection::new(client);
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n{\"Count\":1}").await.unwrap();
        drop(server);
        let r = conn.read_response().await.unwrap();
        assert_eq!((r.status, r.body, r.close), (200, &b"{\"Count\":1}"[..], true));
    }

    /// A response with `Content-Length` and `headers` (each ending in CRLF).
    fn answer(status: &str, headers: &str, body: &str) -> String {
        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len())
    }

    /// A fake endpoint answering canned responses, one per request, on each connection it
    /// accepts; a `None` answer closes the connection without answering.
    async fn fake_endpoint(
        answers: Vec<Option<String>>,
    ) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handle = tokio::spawn(async move {
            let mut answers = answers.into_iter().peekable();
            let mut connections = 0;
            'accept: while let Ok((mut s, _)) = listener.accept().await {
                connections += 1;
                let mut buf = Vec::new();
                loop {
                    // Read one whole request (head + content-length body).
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        // The client hung up: done once every answer was given.
                        if answers.peek().is_none() {
                            return connections;
                        }
                        continue 'accept;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let mut headers = [httparse::EMPTY_HEADER; 32];
                    let mut req = httparse::Request::new(&mut headers);
                    let Ok(httparse::Status::Complete(head)) = req.parse(&buf) else { continue };
                    let len: usize = req
                        .headers
                        .iter()
                        .find(|h| h.name == "content-length")
                        .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                        .unwrap();
                    if buf.len() < head + len {
                        continue;
                    }
                    buf.drain(..head + len);
                    match answers.next() {
                        Some(Some(answer)) => s.write_all(answer.as_bytes()).await.unwrap(),
                        Some(None) => continue 'accept,
                        None => return connections,
                    }
                }
            }
            connections
        });
        (address, handle)
    }

    #[tokio::test]
    async fn driver_classifies_and_reconnects() {
        let (address, server) = fake_endpoint(vec![
            Some(answer("200 OK", "", "{\"Item\":{\"a\":{\"S\":\"\"}}}")),
            Some(answer("200 OK", "", "{}")),
            Some(answer(
                "400 Bad Request",
                "",
                "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\"}",
            )),
            // Closed without an answer: a connection error, then a new connection.
            None,
            Some(answer("200 OK", "Connection: close\r\n", "{}")),
            Some(answer("200 OK", "", "{}")),
        ])
        .await;
        let timeout = Duration::from_secs(5);
        let mut d = DynamoDriver::connect(&address, settings(None), record(Layout::Plain), timeout)
            .await
            .unwrap();
        assert_eq!(d.read(1).await, Ok(()));
        assert_eq!(d.read(2).await, Err(OpError::new("not_found")));
        assert_eq!(d.update(1, 0, "x").await, Err(OpError::new("ConditionalCheckFailedException")));
        assert_eq!(d.insert(1, &["a", "b", "c"]).await, Err(OpError::new("connection")));
        assert_eq!(d.insert(1, &["a", "b", "c"]).await, Ok(()));
        assert_eq!(d.update(1, 1, "y").await, Ok(()));
        assert_eq!(d.scan(1, 5).await, Err(OpError::new("bad_layout")));
        drop(d);
        // First connection, the one after the close without answer, the one after
        // `Connection: close`.
        let connections = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert_eq!(connections.unwrap().unwrap(), 3);
    }

    #[tokio::test]
    async fn driver_times_out_and_keeps_it_out_of_the_next_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            // First connection: never answers. Second: answers one read.
            let (silent, _) = listener.accept().await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"Item\":{}}")
                .await
                .unwrap();
            drop(silent);
            s
        });
        let timeout = Duration::from_millis(200);
        let mut d = DynamoDriver::connect(&address, settings(None), record(Layout::Plain), timeout)
            .await
            .unwrap();
        assert_eq!(d.read(1).await, Err(OpError::new("timeout")));
        assert_eq!(d.read(1).await, Ok(()));
        let _ = server.await.unwrap();
    }
}
