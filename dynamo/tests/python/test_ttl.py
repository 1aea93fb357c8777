"""Time to live: UpdateTimeToLive / DescribeTimeToLive, and expired items hidden on read."""

import time
import uuid

import pytest

from conftest import TTL_ON_READ, batch_get_all, dynalite_gap, pick, query_all, scan_all

TTL_ATTR = "expires_at"


@pytest.fixture(scope="module")
def table(table_factory):
    return table_factory("ttl", hash_key=("pk", "S"), range_key=("sk", "S"))


def describe_ttl(client, table):
    return client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]


def test_ttl_disabled_on_a_new_table(clients, table_factory):
    name = table_factory("ttl-fresh")
    for c in clients:
        assert describe_ttl(c, name)["TimeToLiveStatus"] == "DISABLED"


@pytest.fixture(scope="module")
def ttl_enabled(clients, table):
    dynalite_gap("no UpdateTimeToLive")
    response = pick(clients, 1).update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTR},
    )
    assert response["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": TTL_ATTR}
    # DynamoDB passes through ENABLING; wait (with a deadline) until every node says ENABLED.
    deadline = time.monotonic() + 30
    for c in clients:
        while True:
            description = describe_ttl(c, table)
            if description["TimeToLiveStatus"] == "ENABLED":
                break
            assert description["TimeToLiveStatus"] == "ENABLING", description
            assert time.monotonic() < deadline, "TTL never ENABLED"
            time.sleep(0.1)
        assert description["AttributeName"] == TTL_ATTR
    return table


def test_describe_ttl_enabled(clients, ttl_enabled):
    for c in clients:
        assert describe_ttl(c, ttl_enabled) == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": TTL_ATTR,
        }


def test_expired_items_are_not_read(clients, ttl_enabled):
    if not TTL_ON_READ:
        pytest.skip("the server deletes expired items eventually, not on read (DynamoDB, dynalite)")
    table = ttl_enabled
    pk = {"S": f"p-{uuid.uuid4().hex}"}
    now = int(time.time())
    items = {
        "expired": {TTL_ATTR: {"N": str(now - 3600)}},
        "expired-just": {TTL_ATTR: {"N": str(now - 2)}},
        "future": {TTL_ATTR: {"N": str(now + 3600)}},
        "no-ttl": {},
        "ttl-not-a-number": {TTL_ATTR: {"S": str(now - 3600)}},  # ignored: not a number
    }
    for i, (sk, extra) in enumerate(items.items()):
        pick(clients, i).put_item(TableName=table, Item={"pk": pk, "sk": {"S": sk}, **extra})
    live = sorted(["future", "no-ttl", "ttl-not-a-number"])

    for i in range(len(clients)):
        c = pick(clients, i)
        for sk in items:
            for consistent in (True, False):
                got = c.get_item(
                    TableName=table, Key={"pk": pk, "sk": {"S": sk}}, ConsistentRead=consistent
                )
                if sk in live and consistent:
                    assert "Item" in got, sk
                if sk not in live:
                    assert "Item" not in got, f"{sk} expired but was returned"
        queried, _ = query_all(
            c,
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": pk},
            ConsistentRead=True,
        )
        assert sorted(it["sk"]["S"] for it in queried) == live
        scanned, _, _, _ = scan_all(
            c,
            TableName=table,
            FilterExpression="pk = :p",
            ExpressionAttributeValues={":p": pk},
            ConsistentRead=True,
        )
        assert sorted(it["sk"]["S"] for it in scanned) == live
        batch = batch_get_all(
            c,
            {table: {"Keys": [{"pk": pk, "sk": {"S": sk}} for sk in items], "ConsistentRead": True}},
        )
        assert sorted(it["sk"]["S"] for it in batch.get(table, [])) == live

    # Writing a future TTL over an expired item brings it back.
    pick(clients, 0).put_item(
        TableName=table,
        Item={"pk": pk, "sk": {"S": "expired"}, TTL_ATTR: {"N": str(now + 3600)}},
    )
    got = pick(clients, 1).get_item(
        TableName=table, Key={"pk": pk, "sk": {"S": "expired"}}, ConsistentRead=True
    )
    assert "Item" in got


def test_future_ttl_items_are_read(clients, ttl_enabled):
    table = ttl_enabled
    pk = {"S": f"f-{uuid.uuid4().hex}"}
    future = int(time.time()) + 7200
    pick(clients, 0).put_item(
        TableName=table, Item={"pk": pk, "sk": {"S": "a"}, TTL_ATTR: {"N": str(future)}}
    )
    for i in range(len(clients)):
        got = pick(clients, i).get_item(
            TableName=table, Key={"pk": pk, "sk": {"S": "a"}}, ConsistentRead=True
        )
        assert got["Item"][TTL_ATTR] == {"N": str(future)}
