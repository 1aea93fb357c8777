//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), both halves.
//!
//! [`verify`] checks the `Authorization` header that AWS SDKs (boto3, the aws CLI) put on a
//! DynamoDB request; [`sign`] produces one, for Shoal's own drivers such as the load
//! generator. Both build the same canonical request, per AWS's documented algorithm:
//!
//! ```text
//! method \n canonical path \n canonical query \n canonical headers \n
//! signed header names \n payload hash
//! ```
//!
//! - path: dot segments resolved, empty segments dropped, each segment URI-encoded once
//!   more (as every service but S3 does);
//! - query: pairs sorted by encoded name then value, each part encoded exactly once;
//! - headers: lowercase names, values trimmed with runs of spaces folded to one, repeated
//!   headers joined with `,`;
//! - payload hash: `x-amz-content-sha256` if sent, else the hex SHA-256 of the body.
//!
//! The string to sign is `AWS4-HMAC-SHA256\n<x-amz-date>\n<scope>\n<hex sha256 of the
//! canonical request>`, signed with the key derived by HMAC from `"AWS4" + secret` over the
//! scope's date, region, service and `aws4_request`.
//!
//! Failures are [`AuthError`]s carrying DynamoDB's own `__type` names and messages, so SDKs
//! report them as they would against AWS. [`AuthMode::AllowAnyKey`] (DynamoDB Local's
//! behaviour) still refuses a malformed `Authorization` header but checks no key, no HMAC
//! and no clock; [`AuthMode::Keys`] checks all of them, with a clock skew of at most
//! [`CLOCK_SKEW_SECS_MAX`].

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The one signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Last element of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";
/// Service name DynamoDB clients sign with; [`AuthMode::Keys`] requires it in the scope.
pub const SERVICE: &str = "dynamodb";
/// Most seconds between `x-amz-date` and the server's clock, either way: AWS's 15 minutes.
pub const CLOCK_SKEW_SECS_MAX: u64 = 15 * 60;

/// `__type` of a request with no `Authorization` header.
pub const MISSING_AUTHENTICATION_TOKEN: &str = "MissingAuthenticationTokenException";
/// `__type` of a malformed `Authorization` header.
pub const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
/// `__type` of an unknown access key.
pub const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
/// `__type` of a wrong signature, scope or date.
pub const INVALID_SIGNATURE: &str = "InvalidSignatureException";

const MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the \
     signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
     service documentation for details.";

type HmacSha256 = Hmac<Sha256>;

/// What [`sign`] signs with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id, e.g. `AKIDEXAMPLE`.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Region of the scope, e.g. `us-east-1`.
    pub region: String,
    /// Service of the scope: [`SERVICE`] for DynamoDB.
    pub service: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

/// How [`verify`] treats keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Accept any well-formed signature (DynamoDB Local's behaviour; the default for local
    /// development).
    AllowAnyKey,
    /// Verify against these access key id -> secret pairs.
    Keys(BTreeMap<String, String>),
}

/// Who signed a request that [`verify`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Access key id from the credential scope.
    pub access_key: String,
    /// Region from the credential scope.
    pub region: String,
}

/// Why [`verify`] refused a request, as DynamoDB would say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    /// DynamoDB's `__type` name, e.g. [`INVALID_SIGNATURE`].
    pub type_name: &'static str,
    /// DynamoDB's message.
    pub message: String,
}

impl AuthError {
    fn new(type_name: &'static str, message: impl Into<String>) -> Self {
        AuthError { type_name, message: message.into() }
    }

    /// The HTTP status DynamoDB answers these with: 400.
    pub fn status(&self) -> u16 {
        400
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

impl std::error::Error for AuthError {}

/// Signs a request: `headers` must already hold `host` and every other header to be signed;
/// returns the headers to add: `("x-amz-date", ...)` and `("authorization", ...)`. All given
/// headers are signed, except any `x-amz-date` or `authorization` among them, which are
/// replaced by the returned ones.
pub fn sign(
    credentials: &Credentials,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    unix_secs: u64,
) -> Vec<(String, String)> {
    let date = amz_date(unix_secs);
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("x-amz-date") && !name.eq_ignore_ascii_case("authorization")
        })
        .cloned()
        .collect();
    signed.push(("x-amz-date".to_string(), date.clone()));
    let mut names: Vec<String> = signed.iter().map(|(name, _)| name.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let scope = Scope {
        day: date.get(..8).unwrap_or_default(),
        region: &credentials.region,
        service: &credentials.service,
    };
    let request = CanonicalRequest { method, path, query, headers: &signed, signed_names: &names };
    let key = signing_key(&credentials.secret_key, &scope);
    let canonical = request
        .build(&payload_hash(&signed, body))
        .expect("every signed header is one of the request's own");
    let string = string_to_sign(&date, &scope, &canonical);
    let signature = hex(&hmac(&key, string.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        credentials.access_key,
        scope.text(),
        names.join(";")
    );
    vec![("x-amz-date".to_string(), date), ("authorization".to_string(), authorization)]
}

/// Formats `unix_secs` as SigV4's `YYYYMMDDTHHMMSSZ`, in UTC.
pub fn amz_date(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(i64::MAX / 2);
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Checks the request's signature. `method`, `target` (path?query), headers and body as
/// received.
///
/// # Errors
/// An [`AuthError`] named and worded as DynamoDB's: [`MISSING_AUTHENTICATION_TOKEN`] without
/// an `Authorization` header, [`INCOMPLETE_SIGNATURE`] when it is malformed,
/// [`UNRECOGNIZED_CLIENT`] for an unknown key and [`INVALID_SIGNATURE`] for a wrong scope,
/// signature or date.
pub fn verify(
    mode: &AuthMode,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    now_unix_secs: u64,
) -> Result<Verified, AuthError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(value) = first_header(headers, "authorization") else {
        return Err(missing_authorization(query));
    };
    let date_text = first_header(headers, "x-amz-date");
    let has_date_header = first_header(headers, "date").is_some();
    let authorization = Authorization::parse(value, date_text.is_some() || has_date_header)?;
    let Some(date_text) = date_text else {
        return Err(AuthError::new(
            INCOMPLETE_SIGNATURE,
            "Shoal requires the 'X-Amz-Date' header; a 'Date' header alone is not supported.",
        ));
    };
    let Some(date_secs) = parse_amz_date(date_text) else {
        let message = format!(
            "Date must be in ISO-8601 'basic format'. Got '{date_text}'. \
             See http://en.wikipedia.org/wiki/ISO_8601"
        );
        return Err(AuthError::new(INCOMPLETE_SIGNATURE, message));
    };
    let verified = Verified {
        access_key: authorization.access_key.to_string(),
        region: authorization.scope.region.to_string(),
    };
    let AuthMode::Keys(keys) = mode else {
        return Ok(verified);
    };
    let Some(secret) = keys.get(authorization.access_key) else {
        let message = "The security token included in the request is invalid.";
        return Err(AuthError::new(UNRECOGNIZED_CLIENT, message));
    };
    authorization.check_scope(date_text)?;
    check_clock(date_text, date_secs, now_unix_secs)?;
    let payload = payload_hash(headers, body);
    check_payload_hash(&payload, body)?;
    let request = CanonicalRequest {
        method,
        path,
        query,
        headers,
        signed_names: &authorization.signed_names,
    };
    let canonical = request.build(&payload)?;
    let key = signing_key(secret, &authorization.scope);
    let mut mac = new_mac(&key);
    mac.update(string_to_sign(date_text, &authorization.scope, &canonical).as_bytes());
    match unhex(authorization.signature) {
        // verify_slice compares in constant time.
        Some(given) if mac.verify_slice(&given).is_ok() => Ok(verified),
        _ => Err(AuthError::new(INVALID_SIGNATURE, MISMATCH_MESSAGE)),
    }
}

/// The error for a request without `Authorization`.
fn missing_authorization(query: &str) -> AuthError {
    let presigned = query.split('&').any(|pair| {
        pair.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("X-Amz-Signature"))
    });
    if presigned {
        let message = "Query-string (presigned) authentication is not supported by Shoal; \
                       send an Authorization header.";
        return AuthError::new(INCOMPLETE_SIGNATURE, message);
    }
    AuthError::new(MISSING_AUTHENTICATION_TOKEN, "Request is missing Authentication Token")
}

/// Refuses an `x-amz-date` more than [`CLOCK_SKEW_SECS_MAX`] away from `now`.
fn check_clock(date_text: &str, date_secs: u64, now: u64) -> Result<(), AuthError> {
    let minutes = CLOCK_SKEW_SECS_MAX / 60;
    if date_secs < now.saturating_sub(CLOCK_SKEW_SECS_MAX) {
        let message = format!(
            "Signature expired: {date_text} is now earlier than {} ({} - {minutes} min.)",
            amz_date(now.saturating_sub(CLOCK_SKEW_SECS_MAX)),
            amz_date(now)
        );
        return Err(AuthError::new(INVALID_SIGNATURE, message));
    }
    if date_secs > now.saturating_add(CLOCK_SKEW_SECS_MAX) {
        let message = format!(
            "Signature not yet current: {date_text} is still later than {} ({} + {minutes} min.)",
            amz_date(now.saturating_add(CLOCK_SKEW_SECS_MAX)),
            amz_date(now)
        );
        return Err(AuthError::new(INVALID_SIGNATURE, message));
    }
    Ok(())
}

/// A body that does not hash to the `x-amz-content-sha256` it came with was altered.
fn check_payload_hash(payload: &str, body: &[u8]) -> Result<(), AuthError> {
    let is_hash = payload.len() == 64 && payload.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hash && !payload.eq_ignore_ascii_case(&hex(&Sha256::digest(body))) {
        return Err(AuthError::new(INVALID_SIGNATURE, MISMATCH_MESSAGE));
    }
    Ok(())
}

/// The credential scope: `day/region/service/aws4_request`.
#[derive(Debug)]
struct Scope<'a> {
    day: &'a str,
    region: &'a str,
    service: &'a str,
}

impl Scope<'_> {
    fn text(&self) -> String {
        format!("{}/{}/{}/{SCOPE_TERMINATOR}", self.day, self.region, self.service)
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug)]
struct Authorization<'a> {
    access_key: &'a str,
    scope: Scope<'a>,
    terminator: &'a str,
    signed_names: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses `value`, with AWS's messages for what is missing or malformed.
    fn parse(value: &'a str, has_date: bool) -> Result<Self, AuthError> {
        let trimmed = value.trim();
        let (algorithm, rest) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
        let is_v4 = algorithm == ALGORITHM;
        let (mut credential, mut signed_headers, mut signature) = ("", "", "");
        for piece in rest.split([',', ' ', '\t']).filter(|piece| !piece.is_empty()) {
            let Some((key, text)) = piece.split_once('=') else {
                // Another scheme's token (a bearer token, `AWS key:sig`) is reported below
                // as missing parameters, as AWS does.
                if !is_v4 {
                    continue;
                }
                let message = format!(
                    "'{piece}' not a valid key=value pair (missing equal-sign) in \
                     Authorization header: '{value}'."
                );
                return Err(AuthError::new(INCOMPLETE_SIGNATURE, message));
            };
            match key {
                "Credential" => credential = text,
                "SignedHeaders" => signed_headers = text,
                "Signature" => signature = text,
                _ => {}
            }
        }
        let mut missing = String::new();
        for (name, text) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if text.is_empty() {
                missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
            }
        }
        if !has_date {
            missing.push_str(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header. ",
            );
        }
        if !missing.is_empty() {
            return Err(AuthError::new(
                INCOMPLETE_SIGNATURE,
                format!("{missing}Authorization={value}"),
            ));
        }
        if !is_v4 {
            let message = format!("Unsupported AWS 'algorithm': '{algorithm}'. Use '{ALGORITHM}'.");
            return Err(AuthError::new(INCOMPLETE_SIGNATURE, message));
        }
        Self::from_parts(credential, signed_headers, signature)
    }

    fn from_parts(
        credential: &'a str,
        signed: &'a str,
        signature: &'a str,
    ) -> Result<Self, AuthError> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, day, region, service, terminator] = parts.as_slice() else {
            let message = format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{credential}'"
            );
            return Err(AuthError::new(INCOMPLETE_SIGNATURE, message));
        };
        let signed_names: Vec<&str> = signed.split(';').collect();
        let host_signed = signed_names
            .iter()
            .any(|name| name.eq_ignore_ascii_case("host") || *name == ":authority");
        if !host_signed {
            let message =
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";
            return Err(AuthError::new(INVALID_SIGNATURE, message));
        }
        Ok(Authorization {
            access_key,
            scope: Scope { day, region, service },
            terminator,
            signed_names,
            signature,
        })
    }

    /// The scope must end in `aws4_request`, name DynamoDB and the day of `x-amz-date`.
    fn check_scope(&self, date_text: &str) -> Result<(), AuthError> {
        if self.terminator != SCOPE_TERMINATOR {
            let message = format!(
                "Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', not \
                 '{}'. ",
                self.terminator
            );
            return Err(AuthError::new(INVALID_SIGNATURE, message));
        }
        if self.scope.service != SERVICE {
            let message = format!("Credential should be scoped to correct service: '{SERVICE}'. ");
            return Err(AuthError::new(INVALID_SIGNATURE, message));
        }
        let day = date_text.get(..8).unwrap_or_default();
        if self.scope.day != day {
            let message = format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{day}', from '{date_text}'.",
                self.scope.day
            );
            return Err(AuthError::new(INVALID_SIGNATURE, message));
        }
        Ok(())
    }
}

/// Everything the canonical request is built from.
struct CanonicalRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(String, String)],
    /// Lowercase names of the signed headers, in the order they are signed.
    signed_names: &'a [&'a str],
}

impl CanonicalRequest<'_> {
    /// The canonical request text.
    ///
    /// # Errors
    /// [`INCOMPLETE_SIGNATURE`] when a signed header is not in the request.
    fn build(&self, payload_hash: &str) -> Result<String, AuthError> {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.method,
            canonical_path(self.path),
            canonical_query(self.query)
        );
        for name in self.signed_names {
            let values: Vec<String> = self
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, value)| fold_spaces(value))
                .collect();
            if values.is_empty() {
                let message = format!(
                    "'{name}' is named as a SignedHeader, but it does not exist in the HTTP \
                     request."
                );
                return Err(AuthError::new(INCOMPLETE_SIGNATURE, message));
            }
            out.push_str(&name.to_ascii_lowercase());
            out.push(':');
            out.push_str(&values.join(","));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.signed_names.join(";").to_ascii_lowercase());
        out.push('\n');
        out.push_str(payload_hash);
        Ok(out)
    }
}

fn string_to_sign(amz_date: &str, scope: &Scope<'_>, canonical_request: &str) -> String {
    let digest = hex(&Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{amz_date}\n{}\n{digest}", scope.text())
}

fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    let key = hmac(format!("AWS4{secret}").as_bytes(), scope.day.as_bytes());
    let key = hmac(&key, scope.region.as_bytes());
    let key = hmac(&key, scope.service.as_bytes());
    hmac(&key, SCOPE_TERMINATOR.as_bytes())
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `x-amz-content-sha256` if the request has one, else the hex SHA-256 of `body`.
fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    match first_header(headers, "x-amz-content-sha256") {
        Some(value) => value.trim().to_string(),
        None => hex(&Sha256::digest(body)),
    }
}

fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// Trims a header value and folds each run of spaces and tabs into one space.
fn fold_spaces(value: &str) -> String {
    value.split([' ', '\t']).filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The path with dot and empty segments resolved, each segment URI-encoded.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let encoded: Vec<String> = segments.iter().map(|s| uri_encode(s.as_bytes())).collect();
    let mut out = format!("/{}", encoded.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Query pairs decoded, encoded once the canonical way, and sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name)), uri_encode(&percent_decode(value)))
        })
        .collect();
    pairs.sort();
    let pairs: Vec<String> =
        pairs.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
    pairs.join("&")
}

/// RFC 3986 encoding: everything but `A-Za-z0-9-._~` as `%XX`, uppercase hex.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4).to_ascii_uppercase());
            out.push(hex_digit(byte & 0xf).to_ascii_uppercase());
        }
    }
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = bytes.get(i + 1..i + 3).and_then(|pair| {
            let high = char::from(*pair.first()?).to_digit(16)?;
            let low = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        });
        match escaped {
            Some(decoded) if byte == b'%' => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0xf));
    }
    out
}

/// Decodes 64 hex digits into 32 bytes.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        let high = char::from(*pair.first()?).to_digit(16)?;
        let low = char::from(*pair.get(1)?).to_digit(16)?;
        *slot = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds; `None` unless exactly that shape.
fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid || year < 1970 {
        return None;
    }
    let days = days_from_civil(i64::try_from(year).ok()?, month, day);
    let days = u64::try_from(days).ok()?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Shifting the year to start in March
/// puts the leap day last, so each 400-year era has the same shape.
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::try_from((month + 9) % 12).unwrap_or(0);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::try_from(day).unwrap_or(1) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day) of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, u64::try_from(month).unwrap_or(1), u64::try_from(day).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the AWS test suite's signing time.
    const SUITE_SECS: u64 = 1_440_938_160;
    /// 2026-12-06T21:20:00Z.
    const NOW: u64 = 1_796_592_000;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn suite_credentials() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            region: "us-east-1".into(),
            service: "service".into(),
        }
    }

    /// Signs an AWS test-suite request and returns the signature.
    fn suite_signature(method: &str, path: &str, query: &str, headers: &[(&str, &str)]) -> String {
        let mut all = owned(&[("Host", "example.amazonaws.com")]);
        all.extend(owned(headers));
        let added = sign(&suite_credentials(), method, path, query, &all, b"", SUITE_SECS);
        assert_eq!(added[0], ("x-amz-date".to_string(), "20150830T123600Z".to_string()));
        let authorization = &added[1].1;
        let (_, signature) = authorization.split_once("Signature=").unwrap();
        signature.to_string()
    }

    #[test]
    fn aws_test_suite_vectors() {
        let added = sign(
            &suite_credentials(),
            "GET",
            "/",
            "",
            &owned(&[("Host", "example.amazonaws.com")]),
            b"",
            SUITE_SECS,
        );
        // get-vanilla, whole header.
        assert_eq!(
            added[1].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let cases = [
            // get-vanilla-query-order-key-case: the query is sorted.
            (
                "GET",
                "/",
                "Param2=value2&Param1=value1",
                vec![],
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            // post-vanilla.
            (
                "POST",
                "/",
                "",
                vec![],
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            // get-utf8: the segment is URI-encoded.
            (
                "GET",
                "/\u{1234}",
                "",
                vec![],
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            // get-header-value-trim: values trimmed, inner spaces folded.
            (
                "GET",
                "/",
                "",
                vec![("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            ),
            // get-header-key-duplicate: repeated headers joined with ',' in order.
            (
                "GET",
                "/",
                "",
                vec![("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ),
        ];
        for (method, path, query, headers, expected) in cases {
            assert_eq!(suite_signature(method, path, query, &headers), expected, "{path}?{query}");
        }
    }

    #[test]
    fn aws_test_suite_canonical_request() {
        let headers = owned(&[
            ("Host", "example.amazonaws.com"),
            ("My-Header1", " value1"),
            ("My-Header2", " \"a   b   c\""),
            ("X-Amz-Date", "20150830T123600Z"),
        ]);
        let names = ["host", "my-header1", "my-header2", "x-amz-date"];
        let request = CanonicalRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            signed_names: &names,
        };
        let canonical = request.build(&payload_hash(&headers, b"")).unwrap();
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n\
             x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let scope = Scope { day: "20150830", region: "us-east-1", service: "service" };
        assert!(string_to_sign("20150830T123600Z", &scope, &canonical)
            .ends_with("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"));
    }

    #[test]
    fn canonical_path_and_query() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("//"), "/");
        assert_eq!(canonical_path("/example/.."), "/");
        assert_eq!(canonical_path("/./example"), "/example");
        assert_eq!(canonical_path("//example//"), "/example/");
        assert_eq!(canonical_path("/example space/"), "/example%20space/");
        // Non-S3 services encode what was sent once more.
        assert_eq!(canonical_path("/a%20b"), "/a%2520b");
        assert_eq!(canonical_query("b=2&a=1&A=0"), "A=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%2fb&k=a&e"), "e=&k=a&k=a%2Fb");
        assert_eq!(canonical_query("x=%7e%zz"), "x=~%25zz");
    }

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(SUITE_SECS), "20150830T123600Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(NOW), "20261206T212000Z");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_SECS));
        assert_eq!(parse_amz_date("20150830T123600"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }

    fn keys() -> AuthMode {
        AuthMode::Keys(BTreeMap::from([("AKID".to_string(), "secret".to_string())]))
    }

    fn dynamo_credentials(secret: &str) -> Credentials {
        Credentials {
            access_key: "AKID".into(),
            secret_key: secret.into(),
            region: "us-east-1".into(),
            service: SERVICE.into(),
        }
    }

    const BODY: &[u8] = br#"{"TableName":"t"}"#;
    /// A well-formed DynamoDB credential scope for the day of [`NOW`].
    const SCOPE: &str = "AKID/20261206/us-east-1/dynamodb/aws4_request";

    fn v4(credential: &str, signed_headers: &str, signature: &str) -> String {
        format!(
            "{ALGORITHM} Credential={credential}, SignedHeaders={signed_headers}, \
             Signature={signature}"
        )
    }

    /// A signed DynamoDB request's headers, signed at `at` with `secret`.
    fn signed_request(secret: &str, at: u64) -> Vec<(String, String)> {
        let mut headers = owned(&[
            ("Host", "localhost:8000"),
            ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ]);
        let added = sign(&dynamo_credentials(secret), "POST", "/", "", &headers, BODY, at);
        headers.extend(added);
        headers
    }

    fn check(
        mode: &AuthMode,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Verified, AuthError> {
        verify(mode, "POST", "/", headers, body, NOW)
    }

    fn set(headers: &mut [(String, String)], name: &str, value: &str) {
        let slot = headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap();
        slot.1 = value.to_string();
    }

    #[test]
    fn verifies_the_aws_suite_request() {
        let headers = owned(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                &v4(
                    "AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request",
                    "host;x-amz-date",
                    &"0".repeat(64),
                ),
            ),
        ]);
        let mode =
            AuthMode::Keys(BTreeMap::from([("AKIDEXAMPLE".to_string(), SECRET.to_string())]));
        let error = verify(&mode, "GET", "/", &headers, b"", SUITE_SECS).unwrap_err();
        assert_eq!(error.type_name, INVALID_SIGNATURE);
        // The same request with the signature sign() computes passes.
        let mut headers = headers;
        let credentials = Credentials { service: SERVICE.into(), ..suite_credentials() };
        let added = sign(&credentials, "GET", "/", "", &headers[..1], b"", SUITE_SECS);
        set(&mut headers, "authorization", &added[1].1);
        let verified = verify(&mode, "GET", "/", &headers, b"", SUITE_SECS).unwrap();
        assert_eq!(
            verified,
            Verified { access_key: "AKIDEXAMPLE".into(), region: "us-east-1".into() }
        );
    }

    #[test]
    fn sign_then_verify_round_trip() {
        let headers = signed_request("secret", NOW - 60);
        let verified = check(&keys(), &headers, BODY).unwrap();
        assert_eq!(verified.access_key, "AKID");
        assert_eq!(verified.region, "us-east-1");
        let authorization = first_header(&headers, "authorization").unwrap();
        assert!(
            authorization
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="),
            "{authorization}"
        );
    }

    #[test]
    fn wrong_secret_and_tampering_are_invalid_signatures() {
        let mismatch = |result: Result<Verified, AuthError>| {
            let error = result.unwrap_err();
            assert_eq!(error.type_name, INVALID_SIGNATURE);
            assert_eq!(error.message, MISMATCH_MESSAGE);
        };
        mismatch(check(&keys(), &signed_request("other secret", NOW), BODY));
        mismatch(check(&keys(), &signed_request("secret", NOW), br#"{"TableName":"u"}"#));
        let mut headers = signed_request("secret", NOW);
        set(&mut headers, "x-amz-target", "DynamoDB_20120810.DeleteItem");
        mismatch(check(&keys(), &headers, BODY));
        // A payload hash header must match the body it came with.
        let mut headers = signed_request("secret", NOW);
        headers.push(("x-amz-content-sha256".into(), hex(&Sha256::digest(b"other"))));
        mismatch(check(&keys(), &headers, BODY));
    }

    #[test]
    fn unknown_key_is_unrecognized_client() {
        let mode = AuthMode::Keys(BTreeMap::from([("OTHER".to_string(), "secret".to_string())]));
        let error = check(&mode, &signed_request("secret", NOW), BODY).unwrap_err();
        assert_eq!(error.type_name, UNRECOGNIZED_CLIENT);
        assert_eq!(error.message, "The security token included in the request is invalid.");
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn missing_authorization() {
        let error = check(&keys(), &owned(&[("Host", "h")]), BODY).unwrap_err();
        assert_eq!(error.type_name, MISSING_AUTHENTICATION_TOKEN);
        assert_eq!(error.message, "Request is missing Authentication Token");
        assert_eq!(
            error.to_string(),
            "MissingAuthenticationTokenException: Request is missing Authentication Token"
        );
        let presigned =
            verify(&keys(), "POST", "/?X-Amz-Signature=ab", &[], BODY, NOW).unwrap_err();
        assert_eq!(presigned.type_name, INCOMPLETE_SIGNATURE);
    }

    #[test]
    fn incomplete_authorization_headers() {
        let incomplete = |authorization: &str, date: bool| {
            let mut headers = owned(&[("Host", "h"), ("Authorization", authorization)]);
            if date {
                headers.push(("X-Amz-Date".into(), "20261206T212000Z".into()));
            }
            let error = check(&AuthMode::AllowAnyKey, &headers, BODY).unwrap_err();
            assert_eq!(error.type_name, INCOMPLETE_SIGNATURE, "{error}");
            error.message
        };
        let no_signature = format!("{ALGORITHM} Credential={SCOPE}, SignedHeaders=host");
        assert_eq!(
            incomplete(&no_signature, true),
            format!(
                "Authorization header requires 'Signature' parameter. Authorization={no_signature}"
            )
        );
        assert_eq!(
            incomplete("Bearer abc.def", false),
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=Bearer abc.def"
        );
        let no_equals = v4(&format!(" {SCOPE}"), "host", "ab");
        assert!(incomplete(&no_equals, true)
            .starts_with(&format!("'{SCOPE}' not a valid key=value pair (missing equal-sign)"),));
        let bad_scope =
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1, SignedHeaders=host, Signature=ab";
        assert!(incomplete(bad_scope, true)
            .starts_with("Credential must have exactly 5 slash-delimited"));
        let sha1 = v4(SCOPE, "host", "ab").replace("SHA256", "SHA1");
        assert!(incomplete(&sha1, true).contains("'AWS4-HMAC-SHA1'"));
        let good = v4(SCOPE, "host", "ab");
        assert_eq!(
            incomplete(&good, false),
            format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header. Authorization={good}"
            )
        );
    }

    #[test]
    fn host_must_be_signed() {
        let headers = owned(&[
            ("Host", "h"),
            ("X-Amz-Date", "20261206T212000Z"),
            ("Authorization", &v4(SCOPE, "x-amz-date", "ab")),
        ]);
        let error = check(&AuthMode::AllowAnyKey, &headers, BODY).unwrap_err();
        assert_eq!(error.type_name, INVALID_SIGNATURE);
        assert_eq!(
            error.message,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        );
    }

    #[test]
    fn scope_must_name_dynamodb_and_the_request_day() {
        let mut credentials = dynamo_credentials("secret");
        credentials.service = "s3".into();
        let mut headers = owned(&[("Host", "h")]);
        headers.extend(sign(&credentials, "POST", "/", "", &headers, BODY, NOW));
        let error = check(&keys(), &headers, BODY).unwrap_err();
        assert_eq!(error.message, "Credential should be scoped to correct service: 'dynamodb'. ");
        let mut headers = signed_request("secret", NOW);
        set(&mut headers, "x-amz-date", "20261207T000100Z");
        let error = check(&keys(), &headers, BODY).unwrap_err();
        assert!(error.message.starts_with("Date in Credential scope does not match"), "{error}");
    }

    #[test]
    fn expired_and_future_dates() {
        let error = check(&keys(), &signed_request("secret", NOW - 15 * 60 - 1), BODY).unwrap_err();
        assert_eq!(error.type_name, INVALID_SIGNATURE);
        assert_eq!(
            error.message,
            "Signature expired: 20261206T210459Z is now earlier than 20261206T210500Z \
             (20261206T212000Z - 15 min.)"
        );
        let error = check(&keys(), &signed_request("secret", NOW + 16 * 60), BODY).unwrap_err();
        assert_eq!(
            error.message,
            "Signature not yet current: 20261206T213600Z is still later than 20261206T213500Z \
             (20261206T212000Z + 15 min.)"
        );
        assert!(check(&keys(), &signed_request("secret", NOW - 15 * 60), BODY).is_ok());
        // AllowAnyKey skips the clock.
        assert!(check(&AuthMode::AllowAnyKey, &signed_request("secret", 0), BODY).is_ok());
    }

    #[test]
    fn allow_any_key_accepts_garbage_but_well_formed() {
        let garbage_scope = "anything/20000101/local/whatever/aws4_request";
        let headers = owned(&[
            ("Host", "h"),
            ("X-Amz-Date", "20261206T212000Z"),
            ("Authorization", &v4(garbage_scope, "host;x-amz-date;absent", "not-even-hex")),
        ]);
        let verified = check(&AuthMode::AllowAnyKey, &headers, b"any body").unwrap();
        assert_eq!(verified, Verified { access_key: "anything".into(), region: "local".into() });
        // In Keys mode the same header names a signed header the request lacks.
        let mode = AuthMode::Keys(BTreeMap::from([("anything".to_string(), "s".to_string())]));
        let mut headers = headers;
        let authorization =
            v4("anything/20261206/local/dynamodb/aws4_request", "host;absent", "ab");
        set(&mut headers, "authorization", &authorization);
        let error = check(&mode, &headers, BODY).unwrap_err();
        assert_eq!(error.type_name, INCOMPLETE_SIGNATURE);
        assert!(error.message.starts_with("'absent' is named as a SignedHeader"), "{error}");
    }

    #[test]
    fn header_whitespace_is_folded_before_signing() {
        let mut headers = owned(&[("Host", "h"), ("X-Custom", "a b c")]);
        let added = sign(&dynamo_credentials("secret"), "POST", "/", "", &headers, BODY, NOW);
        headers.extend(added);
        set(&mut headers, "x-custom", "  a \t  b   c ");
        assert!(check(&keys(), &headers, BODY).is_ok());
        set(&mut headers, "x-custom", "a bc");
        assert!(check(&keys(), &headers, BODY).is_err());
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let text = format!("{:?}", dynamo_credentials("hunter2"));
        assert!(!text.contains("hunter2") && text.contains("AKID"), "{text}");
    }

    proptest! {
        #[test]
        fn amz_date_round_trips(secs in 0u64..253_402_300_799) {
            prop_assert_eq!(parse_amz_date(&amz_date(secs)), Some(secs));
        }

        #[test]
        fn verify_never_panics(
            authorization in "[ -~]{0,120}",
            date in "[0-9TZ]{0,17}",
            target in "[ -~]{0,30}",
        ) {
            let headers =
                owned(&[("Host", "h"), ("X-Amz-Date", &date), ("Authorization", &authorization)]);
            let _ = verify(&keys(), "POST", &target, &headers, BODY, NOW);
            let _ = verify(&AuthMode::AllowAnyKey, "POST", &target, &headers, BODY, NOW);
        }
    }
}
