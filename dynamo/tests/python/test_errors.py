"""Errors: codes, HTTP status and DynamoDB's messages (substrings, checked against dynalite;
where dynalite differs from DynamoDB, DynamoDB's message is asserted and a comment says so),
unsupported operations, and the protocol's response headers."""

import binascii
import json

import pytest
from botocore.exceptions import ClientError

from conftest import DYNALITE, ENDPOINTS, error_code, error_message, pick, raw_post, unique_name

KEY_MISMATCH = "The provided key element does not match the schema"


@pytest.fixture(scope="module")
def table(table_factory):
    return table_factory("errors", hash_key=("pk", "S"), range_key=("sk", "N"))


def expect_error(call, code, *fragments, status=400):
    """Runs call, which must fail with code; returns the message."""
    with pytest.raises(ClientError) as e:
        call()
        pytest.fail(f"expected {code} {fragments}, but the call succeeded")
    assert error_code(e) == code, e.value.response
    message = error_message(e)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    return message


def test_unknown_table(clients):
    name = unique_name("missing")
    key = {"pk": {"S": "a"}}
    for i in range(len(clients)):
        c = pick(clients, i)
        not_found = "ResourceNotFoundException"
        expect_error(lambda: c.get_item(TableName=name, Key=key), not_found, "Requested resource not found")
        expect_error(lambda: c.put_item(TableName=name, Item=key), not_found, "Requested resource not found")
        expect_error(
            lambda: c.query(
                TableName=name,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "a"}},
            ),
            not_found,
            "Requested resource not found",
        )
        expect_error(lambda: c.scan(TableName=name), not_found, "Requested resource not found")
        expect_error(lambda: c.describe_table(TableName=name), not_found, "Requested resource not found")
        expect_error(
            lambda: c.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": key}}]}),
            not_found,
            "Requested resource not found",
        )


def test_key_does_not_match_schema(clients, table):
    c = pick(clients, 1)
    for key in (
        {"pk": {"S": "a"}},  # missing the sort key
        {"sk": {"N": "1"}},  # missing the partition key
        {"pk": {"N": "1"}, "sk": {"N": "1"}},  # wrong type
        {"pk": {"S": "a"}, "sk": {"S": "1"}},  # wrong type
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "b"}},  # extra attribute
    ):
        expect_error(lambda: c.get_item(TableName=table, Key=key), "ValidationException", KEY_MISMATCH)
        expect_error(
            lambda: c.delete_item(TableName=table, Key=key), "ValidationException", KEY_MISMATCH
        )
        expect_error(
            lambda: c.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET a = :v",
                ExpressionAttributeValues={":v": {"S": "v"}},
            ),
            "ValidationException",
            KEY_MISMATCH,
        )
    # PutItem names the key attribute at fault.
    expect_error(
        lambda: c.put_item(TableName=table, Item={"pk": {"S": "a"}}),
        "ValidationException",
        "Missing the key sk in the item",
    )
    expect_error(
        lambda: c.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}}),
        "ValidationException",
        "Type mismatch for key sk expected: N actual: S",
    )


def test_empty_string_key(clients, table):
    c = pick(clients, 2)
    fragment = "The AttributeValue for a key attribute cannot contain an empty string value"
    expect_error(
        lambda: c.put_item(TableName=table, Item={"pk": {"S": ""}, "sk": {"N": "1"}}),
        "ValidationException",
        fragment,
    )
    expect_error(
        lambda: c.get_item(TableName=table, Key={"pk": {"S": ""}, "sk": {"N": "1"}}),
        "ValidationException",
        fragment,
    )


def test_item_too_large(clients, table):
    c = pick(clients, 0)
    key = {"pk": {"S": "big"}, "sk": {"N": "1"}}
    expect_error(
        lambda: c.put_item(TableName=table, Item={**key, "x": {"S": "x" * (401 * 1024)}}),
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    )
    assert "Item" not in c.get_item(TableName=table, Key=key, ConsistentRead=True)
    # Just under the limit is fine (400 KB counts names and values).
    c.put_item(TableName=table, Item={**key, "x": {"S": "x" * (399 * 1024)}})
    got = pick(clients, 1).get_item(TableName=table, Key=key, ConsistentRead=True)
    assert len(got["Item"]["x"]["S"]) == 399 * 1024
    # An update that grows the item past the limit fails and leaves it as it was.
    expect_error(
        lambda: c.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET y = :y",
            ExpressionAttributeValues={":y": {"S": "y" * (10 * 1024)}},
        ),
        "ValidationException",
        "Item size",  # DynamoDB: "Item size to update has exceeded the maximum allowed size"
    )
    got = pick(clients, 2).get_item(TableName=table, Key=key, ConsistentRead=True)
    assert "y" not in got["Item"]


def test_bad_expression_syntax(clients, table):
    c = pick(clients, 1)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    v = {":x": {"S": "1"}}
    expect_error(
        lambda: c.update_item(TableName=table, Key=key, UpdateExpression="SET = :x", ExpressionAttributeValues=v),
        "ValidationException",
        "Invalid UpdateExpression: Syntax error",
    )
    expect_error(
        lambda: c.put_item(TableName=table, Item=key, ConditionExpression="a = = :x", ExpressionAttributeValues=v),
        "ValidationException",
        "Invalid ConditionExpression: Syntax error",
    )
    expect_error(
        lambda: c.get_item(TableName=table, Key=key, ProjectionExpression="a,,b"),
        "ValidationException",
        "Invalid ProjectionExpression: Syntax error",
    )
    expect_error(
        lambda: c.scan(TableName=table, FilterExpression="a = ", ExpressionAttributeValues=v),
        "ValidationException",
        "Invalid FilterExpression: Syntax error",
    )
    expect_error(
        lambda: c.query(TableName=table, KeyConditionExpression="pk <> :x", ExpressionAttributeValues=v),
        "ValidationException",
        "Invalid operator used in KeyConditionExpression: <>",
    )
    expect_error(
        lambda: c.query(
            TableName=table, KeyConditionExpression="sk = :n", ExpressionAttributeValues={":n": {"N": "1"}}
        ),
        "ValidationException",
        "Query condition missed key schema element",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="SET name = :x", ExpressionAttributeValues=v
        ),
        "ValidationException",
        "Attribute name is a reserved keyword; reserved keyword: name",
    )


def test_undefined_and_unused_placeholders(clients, table):
    c = pick(clients, 2)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="SET a = :x", ExpressionAttributeValues={":y": {"S": "1"}}
        ),
        "ValidationException",
        "An expression attribute value used in expression is not defined; attribute value: :x",
    )
    expect_error(
        lambda: c.update_item(TableName=table, Key=key, UpdateExpression="SET a = :x"),
        "ValidationException",
        "An expression attribute value used in expression is not defined; attribute value: :x",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET a = :x",
            ExpressionAttributeValues={":x": {"S": "1"}, ":unused": {"S": "2"}},
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET a = :x",
            ExpressionAttributeValues={":x": {"S": "1"}},
            ExpressionAttributeNames={"#u": "u"},
        ),
        "ValidationException",
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="SET #a = :x", ExpressionAttributeValues={":x": {"S": "1"}}
        ),
        "ValidationException",
        "An expression attribute name used in the document path is not defined; attribute name: #a",
    )


def test_bad_values(clients, table):
    c = pick(clients, 0)
    key = {"pk": {"S": "bad"}, "sk": {"N": "1"}}
    # DynamoDB: "The parameter cannot be converted to a numeric value: abc".
    expect_error(
        lambda: c.put_item(TableName=table, Item={**key, "n": {"N": "abc"}}),
        "ValidationException",
        "cannot be converted",
    )
    expect_error(
        lambda: c.put_item(TableName=table, Item={**key, "s": {"SS": ["a", "a"]}}),
        "ValidationException",
        "contains duplicates",
    )
    expect_error(
        lambda: c.put_item(TableName=table, Item={**key, "s": {"SS": []}}),
        "ValidationException",
        "may not be empty",
    )
    c.put_item(TableName=table, Item={**key, "a": {"S": "x"}})
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="ADD a :one", ExpressionAttributeValues={":one": {"N": "1"}}
        ),
        "ValidationException",
        "An operand in the update expression has an incorrect data type",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="SET b = nothing + :one", ExpressionAttributeValues={":one": {"N": "1"}}
        ),
        "ValidationException",
        "The provided expression refers to an attribute that does not exist in the item",
    )
    expect_error(
        lambda: c.update_item(
            TableName=table, Key=key, UpdateExpression="SET sk = :one", ExpressionAttributeValues={":one": {"N": "1"}}
        ),
        "ValidationException",
        "Cannot update attribute sk. This attribute is part of the key",
    )
    # None of the failed updates changed the item.
    got = pick(clients, 1).get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert got == {**key, "a": {"S": "x"}}


def test_bad_key_schema_at_create(clients):
    c = pick(clients, 1)
    name = unique_name("badschema")
    expect_error(
        lambda: c.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Some index key attributes are not defined in AttributeDefinitions",
    )
    expect_error(
        lambda: c.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "extra", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
    )
    expect_error(
        lambda: c.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "pk2", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "pk2", "KeyType": "HASH"},
            ],
            BillingMode="PAY_PER_REQUEST",
        ),
        "ValidationException",
        "Invalid KeySchema",
    )
    # DynamoDB words it two ways: "TableName must be at least 3 characters long and at most
    # 255 characters long" (dynalite's), or its generic "1 validation error detected: Value
    # 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than
    # or equal to 3 and less than or equal to 255".
    message = expect_error(lambda: c.describe_table(TableName="ab"), "ValidationException")
    assert "tablename" in message.lower() and "3" in message and "255" in message, message
    # None of them created the table.
    expect_error(lambda: c.describe_table(TableName=name), "ResourceNotFoundException")


def assert_still_serving(clients):
    for c in clients:
        assert isinstance(c.list_tables(Limit=1)["TableNames"], list)


def expect_unsupported(call):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error_code(e)
    if not DYNALITE:  # dynalite's UnknownOperationException has an empty message
        assert error_message(e).strip(), e.value.response


def test_unsupported_operations(clients, table):
    for i in range(len(clients)):
        c = pick(clients, i)
        expect_unsupported(
            lambda: c.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}}}]
            )
        )
        expect_unsupported(lambda: c.create_backup(TableName=table, BackupName="backup"))
        assert_still_serving(clients)
    # The transaction did not write anything.
    got = pick(clients, 1).get_item(
        TableName=table, Key={"pk": {"S": "t"}, "sk": {"N": "1"}}, ConsistentRead=True
    )
    assert "Item" not in got


def test_global_secondary_index_at_create(clients):
    c = pick(clients, 2)
    name = unique_name("gsi")
    kwargs = dict(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    if DYNALITE:  # dynalite (like DynamoDB) supports indexes; Shoal does not yet
        c.create_table(**kwargs)
        c.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
        c.delete_table(TableName=name)
        return
    expect_unsupported(lambda: c.create_table(**kwargs))
    # No table half-created.
    expect_error(lambda: c.describe_table(TableName=name), "ResourceNotFoundException")
    assert_still_serving(clients)


def test_response_headers(clients, table):
    for i in range(len(clients)):
        c = pick(clients, i)
        ok = c.get_item(TableName=table, Key={"pk": {"S": "h"}, "sk": {"N": "1"}})
        headers = ok["ResponseMetadata"]["HTTPHeaders"]
        assert headers.get("x-amzn-requestid"), headers
        assert ok["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]
        assert headers.get("x-amz-crc32", "").isdigit(), headers
        assert headers.get("content-type") == "application/x-amz-json-1.0"
        with pytest.raises(ClientError) as e:
            c.describe_table(TableName=unique_name("missing"))
        headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert headers.get("x-amzn-requestid"), headers
        assert headers.get("x-amz-crc32", "").isdigit(), headers
    # Request ids are unique.
    ids = {
        pick(clients, i).list_tables(Limit=1)["ResponseMetadata"]["RequestId"] for i in range(6)
    }
    assert len(ids) == 6


def test_crc32_matches_body():
    """botocore checks x-amz-crc32 itself; this checks it on raw bytes, for an answer and an
    error alike."""
    for endpoint in ENDPOINTS:
        for target in ("ListTables", "Nope"):
            status, headers, raw = raw_post(endpoint, target, b"{}")
            assert status in (200, 400)
            assert int(headers["x-amz-crc32"]) == binascii.crc32(raw)
            assert headers["x-amzn-RequestId"]
            json.loads(raw)
