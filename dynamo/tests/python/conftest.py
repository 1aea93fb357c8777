"""Shared fixtures of the DynamoDB API integration suite.

The suite talks to any DynamoDB-compatible endpoint with boto3 and the AWS CLI: a Shoal
cluster (every node serves the API on port 8000) or a reference server such as dynalite.

Environment:
  SHOAL_DYNAMODB_ENDPOINTS      comma-separated endpoint URLs (one per node); requests are
                                spread over all of them (write through one, read through
                                another) to show the cluster behaves as one.
  SHOAL_DYNAMODB_VERIFIES_KEYS  1 when the server checks signatures against known keys (the
                                auth tests run only then; dynalite accepts any signature).
  SHOAL_DYNAMODB_TTL_ON_READ    1 when expired items are hidden on read (Shoal does; DynamoDB
                                and dynalite delete them in the background, eventually).
  SHOAL_DYNAMODB_REFERENCE      "dynalite" when the endpoint is dynalite: the few checks of
                                behaviour it lacks (noted at each) are skipped.
  SHOAL_TEST_SCALE              rows in the paging tests (default 2000).
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: credentials (dummy defaults).

Against Shoal: `cargo test -p shoal-cli --test e2e_dynamodb` (a 3-node cluster, auth = "keys").
Against dynalite, the reference every test was first proven on:
  cd /tmp/dynalite && npm install dynalite@3 && npx dynalite --port 4567 &
  PY=$(tools/pyenv.sh | tail -1)
  SHOAL_DYNAMODB_REFERENCE=dynalite SHOAL_DYNAMODB_ENDPOINTS=http://127.0.0.1:4567 \
      $PY -m pytest -q dynamo/tests/python
"""

import json
import os
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINTS = [
    e.strip()
    for e in os.environ.get("SHOAL_DYNAMODB_ENDPOINTS", "http://127.0.0.1:8000").split(",")
    if e.strip()
]
VERIFIES_KEYS = os.environ.get("SHOAL_DYNAMODB_VERIFIES_KEYS") == "1"
TTL_ON_READ = os.environ.get("SHOAL_DYNAMODB_TTL_ON_READ") == "1"
DYNALITE = os.environ.get("SHOAL_DYNAMODB_REFERENCE") == "dynalite"
SCALE = int(os.environ.get("SHOAL_TEST_SCALE") or "2000")
REGION = "us-east-1"

os.environ.setdefault("AWS_ACCESS_KEY_ID", "shoaltest")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "shoaltestsecret")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)

# Retries only for throttling and 5xx (standard mode); a test that expects an error sees it
# on the first answer since 4xx validation errors are never retried.
CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=10,
    read_timeout=60,
)


def dynalite_gap(reason):
    """Skips the calling test against dynalite, which lacks what it checks."""
    if DYNALITE:
        pytest.skip(f"dynalite gap: {reason}")


def make_client(endpoint, **kwargs):
    """A low-level DynamoDB client for one endpoint."""
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=CONFIG, **kwargs
    )


@pytest.fixture(scope="session")
def clients():
    """One client per endpoint; tests index it modulo its length (clients[i % n])."""
    return [make_client(e) for e in ENDPOINTS]


@pytest.fixture(scope="session")
def client(clients):
    return clients[0]


def pick(clients, i):
    """The i-th client, round-robin over the endpoints."""
    return clients[i % len(clients)]


def unique_name(prefix):
    """A fresh table name, so modules and parallel runs never share a table."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_active(clients, name):
    """Waits until every endpoint describes the table as ACTIVE."""
    for c in clients:
        c.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )


def wait_gone(clients, name):
    for c in clients:
        c.get_waiter("table_not_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )


def create_table(clients, name, hash_key=("pk", "S"), range_key=None, billing="PAY_PER_REQUEST"):
    """Creates a table through the first client and waits until all endpoints see it."""
    attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    if range_key:
        attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
    kwargs = {
        "TableName": name,
        "AttributeDefinitions": attrs,
        "KeySchema": schema,
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    response = clients[0].create_table(**kwargs)
    wait_active(clients, name)
    return response


def delete_table_quietly(client, name):
    """Deletes a table at teardown, ignoring one that is already gone."""
    for _ in range(100):
        try:
            client.delete_table(TableName=name)
            return
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                return
            if code == "ResourceInUseException":  # still CREATING/UPDATING (dynalite)
                time.sleep(0.1)
                continue
            raise


@pytest.fixture(scope="module")
def table_factory(clients):
    """Creates tables for a module and deletes them when the module ends."""
    created = []

    def make(prefix, **kwargs):
        name = unique_name(prefix)
        create_table(clients, name, **kwargs)
        created.append(name)
        return name

    yield make
    for name in created:
        delete_table_quietly(clients[0], name)


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def error_message(excinfo):
    return excinfo.value.response["Error"].get("Message", "")


def batch_write_all(client, request_items, deadline_s=60):
    """BatchWriteItem in chunks of 25, resubmitting UnprocessedItems until none are left
    (as the SDKs' batch writers do). Returns the number of calls made."""
    pending = []
    for table, requests in request_items.items():
        pending.extend((table, r) for r in requests)
    calls = 0
    deadline = time.monotonic() + deadline_s
    while pending:
        assert time.monotonic() < deadline, "unprocessed items never drained"
        chunk, pending = pending[:25], pending[25:]
        items = {}
        for table, r in chunk:
            items.setdefault(table, []).append(r)
        response = client.batch_write_item(RequestItems=items)
        calls += 1
        unprocessed = response.get("UnprocessedItems", {})
        for table, requests in unprocessed.items():
            pending.extend((table, r) for r in requests)
        if unprocessed:
            time.sleep(0.05)
    return calls


def batch_get_all(client, request_items, deadline_s=60):
    """BatchGetItem, resubmitting UnprocessedKeys until none are left. Returns
    {table: [items]}."""
    result = {}
    pending = request_items
    deadline = time.monotonic() + deadline_s
    while pending:
        assert time.monotonic() < deadline, "unprocessed keys never drained"
        response = client.batch_get_item(RequestItems=pending)
        for table, items in response.get("Responses", {}).items():
            result.setdefault(table, []).extend(items)
        pending = response.get("UnprocessedKeys", {})
        if pending:
            time.sleep(0.05)
    return result


def put_many(client, table, items):
    """Writes items with BatchWriteItem (and its retry loop)."""
    batch_write_all(client, {table: [{"PutRequest": {"Item": it}} for it in items]})


def query_all(client, **kwargs):
    """Every page of a Query: (items, pages)."""
    items, pages = [], 0
    while True:
        response = client.query(**kwargs)
        pages += 1
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items, pages
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def scan_all(client, **kwargs):
    """Every page of a Scan: (items, pages, scanned_count, count)."""
    items, pages, scanned, count = [], 0, 0, 0
    while True:
        response = client.scan(**kwargs)
        pages += 1
        items.extend(response.get("Items", []))
        scanned += response["ScannedCount"]
        count += response["Count"]
        if "LastEvaluatedKey" not in response:
            return items, pages, scanned, count
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def raw_post(endpoint, target, body, headers=None, sign_with=None):
    """A POST of body (bytes, or JSON-encoded) with X-Amz-Target DynamoDB_20120810.target,
    unsigned, or signed with Signature V4 when sign_with = (access key, secret key).
    Returns (status, headers, raw body bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        **(headers or {}),
    }
    if sign_with is not None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        aws_request = AWSRequest(method="POST", url=endpoint + "/", data=data, headers=all_headers)
        SigV4Auth(Credentials(*sign_with), "dynamodb", REGION).add_auth(aws_request)
        all_headers = dict(aws_request.headers.items())
    request = urllib.request.Request(endpoint + "/", data=data, method="POST", headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
