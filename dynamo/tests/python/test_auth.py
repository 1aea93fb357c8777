"""Authentication: unsigned requests are refused everywhere; where the server knows its keys
(SHOAL_DYNAMODB_VERIFIES_KEYS=1, i.e. Shoal with auth = "keys"), a wrong secret, an unknown
key and a tampered body are refused too."""

import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import (
    ENDPOINTS,
    VERIFIES_KEYS,
    error_code,
    error_message,
    make_client,
    raw_post,
    unique_name,
)

needs_keys = pytest.mark.skipif(
    not VERIFIES_KEYS,
    reason="the server accepts any key (dynalite; Shoal with auth = allow-any-key)",
)


def error_type(raw):
    return json.loads(raw)["__type"].rsplit("#", 1)[-1]


def test_unsigned_request_is_refused():
    for endpoint in ENDPOINTS:
        status, headers, raw = raw_post(endpoint, "ListTables", {})
        assert status == 400
        assert error_type(raw) == "MissingAuthenticationTokenException"
        assert "Request is missing Authentication Token" in json.loads(raw)["message"]
        assert headers["x-amzn-RequestId"]


def test_signed_raw_request_is_accepted():
    credentials = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    for endpoint in ENDPOINTS:
        status, _, raw = raw_post(endpoint, "ListTables", {"Limit": 1}, sign_with=credentials)
        assert status == 200, raw
        assert isinstance(json.loads(raw)["TableNames"], list)


def test_unknown_operation():
    credentials = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    for endpoint in ENDPOINTS:
        status, _, raw = raw_post(endpoint, "NoSuchOperation", {}, sign_with=credentials)
        assert status == 400
        assert error_type(raw) == "UnknownOperationException"


def test_malformed_json_body():
    credentials = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    for endpoint in ENDPOINTS:
        status, _, raw = raw_post(endpoint, "ListTables", b"{not json", sign_with=credentials)
        assert status == 400
        assert error_type(raw) == "SerializationException"


@needs_keys
def test_wrong_secret_is_invalid_signature():
    for endpoint in ENDPOINTS:
        c = make_client(
            endpoint,
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key="not-the-secret",
        )
        with pytest.raises(ClientError) as e:
            c.list_tables()
        assert error_code(e) == "InvalidSignatureException"
        assert "The request signature we calculated does not match the signature you provided" in error_message(e)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@needs_keys
def test_unknown_key_is_unrecognized_client():
    for endpoint in ENDPOINTS:
        c = make_client(endpoint, aws_access_key_id="AKIDUNKNOWN", aws_secret_access_key="whatever")
        with pytest.raises(ClientError) as e:
            c.list_tables()
        assert error_code(e) == "UnrecognizedClientException"
        assert "The security token included in the request is invalid" in error_message(e)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@needs_keys
def test_tampered_body_is_invalid_signature():
    credentials = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    for endpoint in ENDPOINTS:
        signed = AWSRequest(
            method="POST",
            url=endpoint + "/",
            data=b'{"Limit": 1}',
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
            },
        )
        SigV4Auth(Credentials(*credentials), "dynamodb", "us-east-1").add_auth(signed)
        headers = dict(signed.headers.items())
        status, _, raw = raw_post(endpoint, "ListTables", b'{"Limit": 2}', headers=headers)
        assert status == 400
        assert error_type(raw) == "InvalidSignatureException"


@needs_keys
def test_wrong_key_cannot_write():
    """A request refused for its signature has no effect."""
    good = make_client(ENDPOINTS[0])
    name = unique_name("auth-never-created")
    bad = make_client(
        ENDPOINTS[-1],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError) as e:
        bad.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert error_code(e) == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        good.describe_table(TableName=name)
    assert error_code(e) == "ResourceNotFoundException"


@needs_keys
def test_expired_signature_is_refused(monkeypatch):
    """A request signed 20 minutes ago is refused (DynamoDB allows 15 minutes of skew), so a
    captured request cannot be replayed later."""
    import datetime

    import botocore.auth

    real_now = botocore.auth.get_current_datetime
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda: real_now() - datetime.timedelta(minutes=20),
    )
    credentials = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    for endpoint in ENDPOINTS:
        status, _, raw = raw_post(endpoint, "ListTables", {}, sign_with=credentials)
        assert status == 400
        assert error_type(raw) == "InvalidSignatureException"
        assert "Signature expired" in json.loads(raw)["message"]
