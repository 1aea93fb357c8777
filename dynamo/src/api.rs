//! The entry point: one HTTP request in, one HTTP response out.
//!
//! Order of checks, as DynamoDB's: the signature (before anything is parsed), the operation
//! named by `X-Amz-Target`, the JSON body, then the operation's own validation. Every
//! response carries `x-amzn-RequestId` and `x-amz-crc32` (the CRC-32 of the body, which
//! botocore verifies).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use shoal_net::{Consistency, Request, RequestHeader, Response, TableDescription};

use crate::crc::{body_crc32, CRC32_HEADER};
use crate::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::ops;
use crate::sigv4::{self, AuthMode};

/// The `X-Amz-Target` prefix of DynamoDB's operations.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// The request header that overrides a request's consistency level.
pub const CONSISTENCY_HEADER: &str = "x-shoal-consistency";
/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The account id in ARNs (DynamoDB Local's).
pub const ACCOUNT_ID: &str = "000000000000";

/// How the API behaves: authentication, consistency levels, naming.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Which signatures are accepted.
    pub auth: AuthMode,
    /// Level of reads without `ConsistentRead`.
    pub read: Consistency,
    /// Level of reads with `ConsistentRead: true`.
    pub consistent_read: Consistency,
    /// Level of writes.
    pub write: Consistency,
    /// Replication factor of tables created through the API.
    pub replication_factor: u8,
    /// Region in ARNs.
    pub region: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            auth: AuthMode::AllowAnyKey,
            read: Consistency::One,
            consistent_read: Consistency::Quorum,
            write: Consistency::Quorum,
            replication_factor: 3,
            region: "ddblocal".to_string(),
        }
    }
}

/// What executes native requests: the node, through the same router as the native
/// protocol. The server implements it on each shard; tests may implement it in memory.
#[allow(async_fn_in_trait)] // Used on one thread (glommio); no Send bound is wanted.
pub trait Backend {
    /// The table called `name` as this node knows it (no round trip).
    fn table(&self, name: &str) -> Option<TableDescription>;
    /// Every table this node knows.
    fn tables(&self) -> Vec<TableDescription>;
    /// Executes a native request.
    async fn call(&self, header: RequestHeader, request: Request) -> Response;
}

/// One request's context: the configuration, the backend and the header overrides.
pub struct Ctx<'a, B: Backend> {
    /// The API's configuration.
    pub config: &'a ApiConfig,
    /// The node.
    pub backend: &'a B,
    /// `x-shoal-consistency`, if the request set it.
    pub consistency_override: Option<Consistency>,
    /// The `Host` header (DescribeEndpoints answers it).
    pub host: String,
}

impl<B: Backend> Ctx<'_, B> {
    /// The level of a read: the override, else `ConsistentRead`'s mapping.
    pub fn read_level(&self, consistent_read: bool) -> Consistency {
        self.consistency_override.unwrap_or(if consistent_read {
            self.config.consistent_read
        } else {
            self.config.read
        })
    }

    /// The level of a write.
    pub fn write_level(&self) -> Consistency {
        self.consistency_override.unwrap_or(self.config.write)
    }

    /// Executes `request` at `consistency`; a failed response becomes its [`ApiError`].
    pub async fn call(&self, consistency: Consistency, request: Request) -> ApiResult<Response> {
        let header = RequestHeader { consistency, ..RequestHeader::default() };
        let response = self.backend.call(header, request).await;
        if response.status == shoal_net::Status::Ok {
            Ok(response)
        } else {
            Err(ApiError::from_native(&response))
        }
    }

    /// The table `name`, or DynamoDB's not-found error.
    pub fn table(&self, name: &str) -> ApiResult<TableDescription> {
        self.backend.table(name).ok_or_else(ApiError::not_found)
    }

    /// The ARN of table `name`.
    pub fn table_arn(&self, name: &str) -> String {
        format!("arn:aws:dynamodb:{}:{ACCOUNT_ID}:table/{name}", self.config.region)
    }
}

thread_local! {
    /// This thread's requests so far, and a tag that tells threads apart.
    static REQUEST_IDS: (Cell<u64>, u64) = (Cell::new(0), thread_tag());
}

fn thread_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

/// A request id unique on this node: the time, the thread's tag and its counter, as 52
/// upper-case hexadecimal digits like DynamoDB's 52-character ids.
fn request_id() -> String {
    let (n, tag) = REQUEST_IDS.with(|(count, tag)| {
        count.set(count.get() + 1);
        (count.get(), *tag)
    });
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    format!("{nanos:016X}{tag:016X}{n:020X}")
}

fn now_unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Answers one HTTP request.
pub async fn handle<B: Backend>(
    config: &ApiConfig,
    backend: &B,
    request: &HttpRequest,
) -> HttpResponse {
    let (status, body) = match answer(config, backend, request).await {
        Ok(json) => (200, json),
        Err(e) => {
            if e.status >= 500 {
                tracing::warn!(error = %e, "DynamoDB API request failed");
            }
            (e.status, e.to_json())
        }
    };
    json_response(status, &body)
}

/// The answer to a request that never reached an operation (the HTTP framing refused it:
/// too large, malformed), as DynamoDB shapes its errors, with `status`.
pub fn refusal(status: u16, message: impl Into<String>) -> HttpResponse {
    json_response(status, &ApiError::validation(message).to_json())
}

/// A response with a JSON body and the headers every DynamoDB response carries.
fn json_response(status: u16, body: &Json) -> HttpResponse {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let headers = vec![
        ("Content-Type".to_string(), CONTENT_TYPE.to_string()),
        ("x-amzn-RequestId".to_string(), request_id()),
        (CRC32_HEADER.to_string(), body_crc32(&body).to_string()),
    ];
    HttpResponse { status, headers, body }
}

async fn answer<B: Backend>(
    config: &ApiConfig,
    backend: &B,
    request: &HttpRequest,
) -> ApiResult<Json> {
    if request.method != "POST" {
        return Err(ApiError::client(
            "UnknownOperationException",
            format!("DynamoDB's API takes POST requests, not {}", request.method),
        ));
    }
    sigv4::verify(
        &config.auth,
        &request.method,
        &request.target,
        &request.headers,
        &request.body,
        now_unix_secs(),
    )
    .map_err(|e| ApiError::client(e.type_name, e.message))?;
    let target = request.header("x-amz-target").unwrap_or_default();
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(ApiError::client("UnknownOperationException", ""));
    };
    let consistency_override = match request.header(CONSISTENCY_HEADER) {
        None => None,
        Some(text) => match Consistency::parse(text.trim()) {
            Some(Consistency::Default) | None => {
                return Err(ApiError::validation(format!(
                    "{CONSISTENCY_HEADER} must be ONE, QUORUM or ALL, got {text:?}"
                )))
            }
            level => level,
        },
    };
    let body: Json = if request.body.is_empty() {
        Json::Object(Default::default())
    } else {
        serde_json::from_slice(&request.body).map_err(|e| {
            ApiError::serialization(format!("the request body is not valid JSON: {e}"))
        })?
    };
    if !body.is_object() {
        return Err(ApiError::serialization("the request body must be a JSON object"));
    }
    let ctx = Ctx {
        config,
        backend,
        consistency_override,
        host: request.header("host").unwrap_or("localhost:8000").to_string(),
    };
    ops::dispatch(&ctx, operation, &body).await
}
