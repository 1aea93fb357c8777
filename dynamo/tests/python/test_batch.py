"""BatchWriteItem and BatchGetItem over several tables, with the retry loop real clients
run on UnprocessedItems and UnprocessedKeys."""

import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import batch_get_all, batch_write_all, error_code, pick


@pytest.fixture(scope="module")
def tables(table_factory):
    return (
        table_factory("batch-a"),
        table_factory("batch-b", hash_key=("pk", "S"), range_key=("sk", "N")),
    )


def test_batch_write_25_puts_across_tables_then_get(clients, tables):
    a, b = tables
    run = uuid.uuid4().hex
    puts_a = [
        {"PutRequest": {"Item": {"pk": {"S": f"{run}-{i}"}, "v": {"N": str(i)}, "pad": {"S": "x" * i}}}}
        for i in range(13)
    ]
    puts_b = [
        {"PutRequest": {"Item": {"pk": {"S": run}, "sk": {"N": str(i)}, "sq": {"N": str(i * i)}}}}
        for i in range(12)
    ]
    # One call with 25 requests (the maximum) over two tables.
    response = pick(clients, 0).batch_write_item(RequestItems={a: puts_a, b: puts_b})
    assert response["UnprocessedItems"] == {}
    # Whatever a server leaves unprocessed must be retried; a full retry loop is what
    # clients run, and it must converge.
    batch_write_all(pick(clients, 0), {a: puts_a, b: puts_b})

    keys_a = [{"pk": {"S": f"{run}-{i}"}} for i in range(13)]
    keys_b = [{"pk": {"S": run}, "sk": {"N": str(i)}} for i in range(12)]
    response = pick(clients, 1).batch_get_item(
        RequestItems={
            a: {"Keys": keys_a, "ConsistentRead": True},
            b: {"Keys": keys_b, "ConsistentRead": True},
        }
    )
    assert response["UnprocessedKeys"] == {}
    got_a = {it["pk"]["S"]: it for it in response["Responses"][a]}
    assert sorted(got_a) == sorted(k["pk"]["S"] for k in keys_a)
    for i in range(13):
        assert got_a[f"{run}-{i}"] == puts_a[i]["PutRequest"]["Item"]
    got_b = sorted(response["Responses"][b], key=lambda it: int(it["sk"]["N"]))
    assert got_b == [p["PutRequest"]["Item"] for p in puts_b]


def test_batch_write_puts_and_deletes(clients, tables):
    a, b = tables
    run = uuid.uuid4().hex
    batch_write_all(
        pick(clients, 1),
        {a: [{"PutRequest": {"Item": {"pk": {"S": f"{run}-{i}"}, "v": {"N": str(i)}}}} for i in range(40)]},
    )
    # Delete the even ones and overwrite the odd ones in one batch stream.
    requests = []
    for i in range(40):
        if i % 2 == 0:
            requests.append({"DeleteRequest": {"Key": {"pk": {"S": f"{run}-{i}"}}}})
        else:
            requests.append(
                {"PutRequest": {"Item": {"pk": {"S": f"{run}-{i}"}, "v": {"N": str(-i)}}}}
            )
    calls = batch_write_all(pick(clients, 2), {a: requests})
    assert calls >= 2  # 40 requests need at least two calls of 25

    keys = [{"pk": {"S": f"{run}-{i}"}} for i in range(40)]
    got = {}
    for start in range(0, 40, 100):
        result = batch_get_all(
            pick(clients, 0), {a: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        )
        got.update({it["pk"]["S"]: it["v"]["N"] for it in result.get(a, [])})
    assert got == {f"{run}-{i}": str(-i) for i in range(1, 40, 2)}


def test_batch_get_projection_and_missing_keys(clients, tables):
    a, b = tables
    run = uuid.uuid4().hex
    batch_write_all(
        pick(clients, 2),
        {
            a: [
                {"PutRequest": {"Item": {"pk": {"S": f"{run}-{i}"}, "v": {"N": str(i)}, "big": {"S": "y" * 100}}}}
                for i in range(5)
            ],
            b: [
                {"PutRequest": {"Item": {"pk": {"S": run}, "sk": {"N": str(i)}, "sq": {"N": "1"}, "w": {"S": "w"}}}}
                for i in range(5)
            ],
        },
    )
    result = batch_get_all(
        pick(clients, 1),
        {
            a: {
                "Keys": [{"pk": {"S": f"{run}-{i}"}} for i in range(8)],  # 5, 6, 7 are missing
                "ProjectionExpression": "#v",
                "ExpressionAttributeNames": {"#v": "v"},
                "ConsistentRead": True,
            },
            b: {
                "Keys": [{"pk": {"S": run}, "sk": {"N": str(i)}} for i in range(3)],
                "ProjectionExpression": "sk, w",
                "ConsistentRead": True,
            },
        },
    )
    assert sorted(int(it["v"]["N"]) for it in result[a]) == [0, 1, 2, 3, 4]
    assert all(set(it) == {"v"} for it in result[a])
    assert sorted(int(it["sk"]["N"]) for it in result[b]) == [0, 1, 2]
    assert all(it["w"] == {"S": "w"} and set(it) == {"sk", "w"} for it in result[b])


def test_batch_get_of_only_missing_keys(clients, tables):
    a, _ = tables
    response = pick(clients, 0).batch_get_item(
        RequestItems={a: {"Keys": [{"pk": {"S": f"missing-{uuid.uuid4().hex}"}}]}}
    )
    assert response["Responses"] == {a: []}
    assert response["UnprocessedKeys"] == {}


def test_batch_limits(clients, tables):
    a, _ = tables
    # More than 25 write requests in one call.
    with pytest.raises(ClientError) as e:
        pick(clients, 1).batch_write_item(
            RequestItems={
                a: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)]
            }
        )
    assert error_code(e) == "ValidationException"
    # More than 100 keys in one BatchGetItem.
    with pytest.raises(ClientError) as e:
        pick(clients, 2).batch_get_item(
            RequestItems={a: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}}
        )
    assert error_code(e) == "ValidationException"
    # The same key twice in one BatchWriteItem.
    with pytest.raises(ClientError) as e:
        pick(clients, 0).batch_write_item(
            RequestItems={
                a: [
                    {"PutRequest": {"Item": {"pk": {"S": "dup"}}}},
                    {"DeleteRequest": {"Key": {"pk": {"S": "dup"}}}},
                ]
            }
        )
    assert error_code(e) == "ValidationException"
    assert "duplicates" in e.value.response["Error"]["Message"]
