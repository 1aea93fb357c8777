//! The API against a recording backend: what reaches the node for each request, what the
//! client gets back for each kind of mistake, and the response headers.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use shoal_dynamo::http::{HttpRequest, HttpResponse};
use shoal_dynamo::sigv4::{self, AuthMode, Credentials};
use shoal_dynamo::{handle, ApiConfig, Backend};
use shoal_net::{
    Compaction, Consistency, KeyAttribute, Request, RequestHeader, Response, ResponseBody, Status,
    TableDescription, TableSpec,
};
use shoal_types::{KeyType, Value};

/// Answers every request with `answer` and records what it was asked.
struct Recorder {
    tables: Vec<TableDescription>,
    answer: Response,
    calls: RefCell<Vec<(RequestHeader, Request)>>,
}

impl Backend for Recorder {
    fn table(&self, name: &str) -> Option<TableDescription> {
        self.tables.iter().find(|t| t.spec.name == name).cloned()
    }

    fn tables(&self) -> Vec<TableDescription> {
        self.tables.clone()
    }

    async fn call(&self, header: RequestHeader, request: Request) -> Response {
        self.calls.borrow_mut().push((header, request));
        self.answer.clone()
    }
}

fn table() -> TableDescription {
    TableDescription {
        spec: TableSpec {
            name: "users".into(),
            partition_key: KeyAttribute { name: "id".into(), key_type: KeyType::S },
            sort_key: Some(KeyAttribute { name: "at".into(), key_type: KeyType::N }),
            replication_factor: 3,
            compaction: Compaction::SizeTiered,
            default_ttl_secs: 0,
            ttl_attribute: None,
            options: BTreeMap::new(),
        },
        id: 1,
        created_micros: 1_700_000_000_000_000,
        altered_micros: 0,
    }
}

fn recorder(answer: Response) -> Recorder {
    Recorder { tables: vec![table()], answer, calls: RefCell::new(Vec::new()) }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A signed request for `operation` with `body`.
fn request(operation: &str, body: &Json, secret: &str) -> HttpRequest {
    let body = serde_json::to_vec(body).unwrap();
    let mut headers = vec![
        ("host".to_string(), "127.0.0.1:8000".to_string()),
        ("content-type".to_string(), "application/x-amz-json-1.0".to_string()),
        ("x-amz-target".to_string(), format!("DynamoDB_20120810.{operation}")),
    ];
    let credentials = Credentials {
        access_key: "shoal".into(),
        secret_key: secret.into(),
        region: "us-east-1".into(),
        service: "dynamodb".into(),
    };
    let added = sigv4::sign(&credentials, "POST", "/", "", &headers, &body, now());
    headers.extend(added);
    HttpRequest { method: "POST".into(), target: "/".into(), minor_version: 1, headers, body }
}

fn run(config: &ApiConfig, backend: &Recorder, request: &HttpRequest) -> (u16, Json, HttpResponse) {
    let response = futures_lite::future::block_on(handle(config, backend, request));
    let json: Json = serde_json::from_slice(&response.body).unwrap();
    (response.status, json, response)
}

fn error_type(json: &Json) -> &str {
    json["__type"].as_str().unwrap().rsplit('#').next().unwrap()
}

#[test]
fn get_item_becomes_a_native_get_at_the_mapped_level() {
    let mut item = BTreeMap::new();
    item.insert("id".to_string(), Value::S("u1".into()));
    item.insert("name".to_string(), Value::S("Ada".into()));
    let backend = recorder(Response::ok(ResponseBody::Item(Some(item))));
    let config = ApiConfig::default();
    let body = json!({"TableName": "users", "Key": {"id": {"S": "u1"}, "at": {"N": "5"}}});
    let (status, json, response) = run(&config, &backend, &request("GetItem", &body, "x"));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["Item"]["name"], json!({"S": "Ada"}));
    // Headers: a request id and the body's CRC-32, which botocore checks.
    let header = |name: &str| {
        response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-amzn-RequestId").unwrap().len(), 52);
    let crc = header("x-amz-crc32").unwrap().parse::<u32>().unwrap();
    assert_eq!(crc, shoal_dynamo::crc::body_crc32(&response.body));
    let calls = backend.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.consistency, Consistency::One, "eventually consistent read");
    assert!(
        matches!(&calls[0].1, Request::GetItem { table, key, .. } if table == "users" && key.len() == 2)
    );
    drop(calls);

    let consistent = json!({"TableName": "users", "ConsistentRead": true, "Key": {"id": {"S": "u1"}, "at": {"N": "5"}}});
    run(&config, &backend, &request("GetItem", &consistent, "x"));
    assert_eq!(backend.calls.borrow()[1].0.consistency, Consistency::Quorum);
    let mut overridden = request("GetItem", &consistent, "x");
    overridden.headers.push(("x-shoal-consistency".into(), "all".into()));
    run(&config, &backend, &overridden);
    assert_eq!(backend.calls.borrow()[2].0.consistency, Consistency::All);
}

#[test]
fn mistakes_are_refused_before_the_node_is_asked() {
    let backend = recorder(Response::ok(ResponseBody::Empty));
    let config = ApiConfig::default();
    let cases = [
        (
            "GetItem",
            json!({"TableName": "users", "Key": {"id": {"S": "u1"}}}),
            "ValidationException",
            "does not match the schema",
        ),
        (
            "GetItem",
            json!({"TableName": "users", "Key": {"id": {"N": "1"}, "at": {"N": "5"}}}),
            "ValidationException",
            "does not match the schema",
        ),
        (
            "GetItem",
            json!({"TableName": "nope", "Key": {"id": {"S": "u1"}}}),
            "ResourceNotFoundException",
            "Requested resource not found",
        ),
        (
            "GetItem",
            json!({"TableName": "ab", "Key": {}}),
            "ValidationException",
            "length greater than or equal to 3",
        ),
        (
            "PutItem",
            json!({"TableName": "users", "Item": {"id": {"S": "u1"}}}),
            "ValidationException",
            "Missing the key at in the item",
        ),
        (
            "PutItem",
            json!({"TableName": "users", "Item": {"id": {"S": ""}, "at": {"N": "1"}}}),
            "ValidationException",
            "empty string value",
        ),
        (
            "PutItem",
            json!({"TableName": "users", "Item": {"id": {"S": "a"}, "at": {"N": "1"}}, "ReturnValues": "ALL_NEW"}),
            "ValidationException",
            "Return values set to invalid value",
        ),
        (
            "PutItem",
            json!({"TableName": "users", "Item": {"id": {"S": "a"}, "at": {"N": "1"}}, "Expected": {"x": {"Exists": false}}, "ConditionExpression": "attribute_exists(x)"}),
            "ValidationException",
            "Can not use both expression and non-expression parameters",
        ),
        (
            "Query",
            json!({"TableName": "users", "IndexName": "byName", "KeyConditionExpression": "id = :i"}),
            "ValidationException",
            "does not have the specified index",
        ),
        (
            "Scan",
            json!({"TableName": "users", "Segment": 4, "TotalSegments": 4}),
            "ValidationException",
            "out of bounds",
        ),
        (
            "CreateTable",
            json!({"TableName": "t2x", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "b", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}),
            "ValidationException",
            "not defined in AttributeDefinitions",
        ),
        (
            "CreateTable",
            json!({"TableName": "t2x", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}]}),
            "ValidationException",
            "must both be specified when BillingMode is PROVISIONED",
        ),
        (
            "CreateTable",
            json!({"TableName": "t2x", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST", "GlobalSecondaryIndexes": [{"IndexName": "g"}]}),
            "ValidationException",
            "not supported by Shoal yet",
        ),
        (
            "TransactWriteItems",
            json!({"TransactItems": []}),
            "ValidationException",
            "TransactWriteItems is not supported by Shoal yet",
        ),
        ("NoSuchOperation", json!({}), "UnknownOperationException", ""),
        (
            "BatchGetItem",
            json!({"RequestItems": {"users": {"Keys": [{"id": {"S": "a"}, "at": {"N": "1"}}, {"id": {"S": "a"}, "at": {"N": "1"}}]}}}),
            "ValidationException",
            "contains duplicates",
        ),
    ];
    for (operation, body, type_name, message) in cases {
        let (status, json, _) = run(&config, &backend, &request(operation, &body, "x"));
        assert_eq!(status, 400, "{operation} {body}: {json}");
        assert_eq!(error_type(&json), type_name, "{operation} {body}: {json}");
        assert!(json["message"].as_str().unwrap().contains(message), "{operation} {body}: {json}");
    }
    assert!(backend.calls.borrow().is_empty(), "nothing reached the node");

    // A body that is not JSON.
    let mut bad = request("GetItem", &json!({}), "x");
    bad.body = b"{not json".to_vec();
    let bad = HttpRequest { headers: request_headers_for(&bad.body), ..bad };
    let (status, json, _) = run(&config, &backend, &bad);
    assert_eq!((status, error_type(&json)), (400, "SerializationException"), "{json}");
}

fn request_headers_for(body: &[u8]) -> Vec<(String, String)> {
    let mut r = request("GetItem", &json!({}), "x");
    r.body = body.to_vec();
    let credentials = Credentials {
        access_key: "shoal".into(),
        secret_key: "x".into(),
        region: "us-east-1".into(),
        service: "dynamodb".into(),
    };
    let mut headers: Vec<(String, String)> =
        r.headers.into_iter().filter(|(n, _)| n != "authorization" && n != "x-amz-date").collect();
    let added = sigv4::sign(&credentials, "POST", "/", "", &headers, body, now());
    headers.extend(added);
    headers
}

#[test]
fn native_failures_get_dynamodb_names() {
    let config = ApiConfig::default();
    let put = json!({"TableName": "users", "Item": {"id": {"S": "a"}, "at": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(id)"});
    let cases = [
        (Status::ConditionFailed, 400, "ConditionalCheckFailedException"),
        (Status::TooLarge, 400, "ValidationException"),
        (Status::Overloaded, 400, "ProvisionedThroughputExceededException"),
        (Status::Unavailable, 503, "ServiceUnavailable"),
        (Status::Timeout, 500, "InternalServerError"),
    ];
    for (native, status, type_name) in cases {
        let backend = recorder(Response::error(native, "why"));
        let (got, json, _) = run(&config, &backend, &request("PutItem", &put, "x"));
        assert_eq!((got, error_type(&json)), (status, type_name), "{native:?}: {json}");
        assert_eq!(
            backend.calls.borrow()[0].0.consistency,
            Consistency::Quorum,
            "writes at QUORUM"
        );
    }
}

#[test]
fn signatures_are_checked_against_configured_keys() {
    let backend = recorder(Response::ok(ResponseBody::Tables(vec![])));
    let keys: BTreeMap<String, String> = [("shoal".to_string(), "right".to_string())].into();
    let config = ApiConfig { auth: AuthMode::Keys(keys), ..ApiConfig::default() };
    let body = json!({});
    let (status, json, _) = run(&config, &backend, &request("ListTables", &body, "right"));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["TableNames"], json!(["users"]));
    let (status, json, _) = run(&config, &backend, &request("ListTables", &body, "wrong"));
    assert_eq!((status, error_type(&json)), (400, "InvalidSignatureException"));
    let mut unsigned = request("ListTables", &body, "right");
    unsigned.headers.retain(|(n, _)| n != "authorization");
    let (status, json, _) = run(&config, &backend, &unsigned);
    assert_eq!((status, error_type(&json)), (400, "MissingAuthenticationTokenException"));
    // allow-any-key accepts the wrong secret.
    let (status, _, _) =
        run(&ApiConfig::default(), &backend, &request("ListTables", &body, "wrong"));
    assert_eq!(status, 200);
}

#[test]
fn update_item_returns_only_the_updated_attributes_when_asked() {
    let mut new = BTreeMap::new();
    new.insert("id".to_string(), Value::S("a".into()));
    new.insert("at".to_string(), Value::N(1.into()));
    new.insert("n".to_string(), Value::N(2.into()));
    new.insert("other".to_string(), Value::S("kept".into()));
    let backend = recorder(Response::ok(ResponseBody::Item(Some(new))));
    let body = json!({
        "TableName": "users", "Key": {"id": {"S": "a"}, "at": {"N": "1"}},
        "UpdateExpression": "ADD #n :one", "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW",
    });
    let (status, json, _) =
        run(&ApiConfig::default(), &backend, &request("UpdateItem", &body, "x"));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["Attributes"], json!({"n": {"N": "2"}}));
}
