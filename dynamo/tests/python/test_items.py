"""Item operations: PutItem, GetItem, UpdateItem, DeleteItem, conditions, ReturnValues,
projections, every attribute type, and the legacy parameters (AttributesToGet, Expected,
AttributeUpdates)."""

import time
import uuid
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from conftest import DYNALITE, error_code, error_message, pick


@pytest.fixture(scope="module")
def table(table_factory):
    return table_factory("items")


@pytest.fixture(scope="module")
def ranged(table_factory):
    return table_factory("items-range", hash_key=("pk", "S"), range_key=("sk", "N"))


def fresh_key():
    return {"pk": {"S": f"item-{uuid.uuid4().hex}"}}


def get(clients, i, table, key, **kwargs):
    """GetItem through endpoint i, strongly consistent (the write may have gone through
    another endpoint)."""
    return pick(clients, i).get_item(TableName=table, Key=key, ConsistentRead=True, **kwargs)


def normalize(value):
    """An attribute value with set members sorted (sets are unordered) and numbers as
    Decimal (exact: the text may differ, e.g. in exponent notation, the value may not)."""
    (kind, inner), = value.items()
    if kind == "N":
        return {kind: Decimal(inner)}
    if kind in ("SS", "BS"):
        return {kind: sorted(inner)}
    if kind == "NS":
        return {kind: sorted(Decimal(n) for n in inner)}
    if kind == "L":
        return {kind: [normalize(v) for v in inner]}
    if kind == "M":
        return {kind: {k: normalize(v) for k, v in inner.items()}}
    return value


def normalize_item(item):
    return {k: normalize(v) for k, v in item.items()}


EVERY_TYPE = {
    "s": {"S": "héllo wörld ✓ \u0000 tab\t"},
    "n_int": {"N": "42"},
    "n_neg": {"N": "-7"},
    "n_zero": {"N": "0"},
    "n_frac": {"N": "3.14159265358979323846264338327950288"},
    "n_big": {"N": "12345678901234567890123456789012345678"},
    "n_small": {"N": "0.00000000000000000000000000000000000001"},
    "n_neg_frac": {"N": "-123456789.000000001"},
    "b": {"B": bytes(range(256))},
    "b_empty_in_list": {"L": [{"B": b"\x00"}]},
    "bool_t": {"BOOL": True},
    "bool_f": {"BOOL": False},
    "null": {"NULL": True},
    "l": {"L": [{"S": "a"}, {"N": "1"}, {"BOOL": False}, {"L": []}, {"M": {}}]},
    "m": {
        "M": {
            "inner": {"M": {"deep": {"S": "value"}, "list": {"L": [{"N": "1"}, {"N": "2"}]}}},
            "n": {"N": "5"},
        }
    },
    "ss": {"SS": ["a", "b", "c", "ümlaut"]},
    "ns": {"NS": ["1", "-2.5", "100000000000000000000", "0.001"]},
    "bs": {"BS": [b"\x00", b"\x01\x02", b"\xff" * 10]},
    "empty_s": {"S": ""},
    "empty_b": {"B": b""},
}


def test_every_type_round_trips(clients, table):
    key = fresh_key()
    item = {**key, **EVERY_TYPE}
    pick(clients, 0).put_item(TableName=table, Item=item)
    for i in range(len(clients)):
        got = get(clients, i + 1, table, key)["Item"]
        assert normalize_item(got) == normalize_item(item)


def test_numbers_are_normalized(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "a": {"N": "1.50"}, "b": {"N": "007"}, "c": {"N": "-0.0"}, "d": {"N": "1e3"}},
    )
    got = get(clients, 1, table, key)["Item"]
    assert got["a"] == {"N": "1.5"}
    assert got["b"] == {"N": "7"}
    assert got["c"] == {"N": "0"}
    assert got["d"] == {"N": "1000"}


def test_missing_item_has_no_item_key(clients, table):
    for i in range(len(clients)):
        response = get(clients, i, table, fresh_key())
        assert "Item" not in response
        response = pick(clients, i).get_item(TableName=table, Key=fresh_key())
        assert "Item" not in response


def test_put_overwrites_and_return_values_all_old(clients, table):
    key = fresh_key()
    first = pick(clients, 0).put_item(
        TableName=table, Item={**key, "v": {"N": "1"}, "only_first": {"S": "x"}}, ReturnValues="ALL_OLD"
    )
    assert "Attributes" not in first
    second = pick(clients, 1).put_item(
        TableName=table, Item={**key, "v": {"N": "2"}}, ReturnValues="ALL_OLD"
    )
    assert second["Attributes"] == {**key, "v": {"N": "1"}, "only_first": {"S": "x"}}
    # A put replaces the whole item: the attribute only the first put had is gone.
    assert get(clients, 2, table, key)["Item"] == {**key, "v": {"N": "2"}}


def test_delete_item_return_values_and_condition(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(TableName=table, Item={**key, "v": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        pick(clients, 1).delete_item(
            TableName=table,
            Key=key,
            ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    assert "The conditional request failed" in error_message(e)
    assert "Item" in get(clients, 2, table, key)

    deleted = pick(clients, 2).delete_item(
        TableName=table,
        Key=key,
        ConditionExpression="v = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_OLD",
    )
    assert deleted["Attributes"] == {**key, "v": {"N": "1"}}
    for i in range(len(clients)):
        assert "Item" not in get(clients, i, table, key)
    # Deleting a missing item succeeds and returns nothing.
    again = pick(clients, 0).delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    assert "Attributes" not in again


def test_put_if_absent(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "owner": {"S": "first"}},
        ConditionExpression="attribute_not_exists(pk)",
    )
    with pytest.raises(ClientError) as e:
        pick(clients, 1).put_item(
            TableName=table,
            Item={**key, "owner": {"S": "second"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    assert "The conditional request failed" in error_message(e)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for i in range(len(clients)):
        assert get(clients, i, table, key)["Item"]["owner"] == {"S": "first"}


def test_compare_and_set(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(TableName=table, Item={**key, "version": {"N": "1"}, "data": {"S": "v1"}})
    # A writer holding the current version wins; one holding a stale version loses.
    for version in range(1, 6):
        c = pick(clients, version)
        c.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #v = :next, #d = :data",
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "version", "#d": "data"},
            ExpressionAttributeValues={
                ":expected": {"N": str(version)},
                ":next": {"N": str(version + 1)},
                ":data": {"S": f"v{version + 1}"},
            },
        )
        with pytest.raises(ClientError) as e:
            pick(clients, version + 1).update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #v = :next",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={
                    ":expected": {"N": str(version)},
                    ":next": {"N": "999"},
                },
            )
        assert error_code(e) == "ConditionalCheckFailedException"
    item = get(clients, 2, table, key)["Item"]
    assert item["version"] == {"N": "6"} and item["data"] == {"S": "v6"}


def test_condition_functions(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "name": {"S": "alpha-beta"}, "tags": {"SS": ["x", "y"]}, "n": {"N": "10"}},
    )
    ok = [
        ("attribute_exists(#name)", {}),
        ("begins_with(#name, :p)", {":p": {"S": "alpha"}}),
        ("contains(tags, :t)", {":t": {"S": "y"}}),
        ("contains(#name, :sub)", {":sub": {"S": "a-b"}}),
        ("size(tags) = :two", {":two": {"N": "2"}}),
        ("attribute_type(n, :type)", {":type": {"S": "N"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "5"}, ":hi": {"N": "10"}}),
        ("n IN (:a, :b)", {":a": {"N": "1"}, ":b": {"N": "10"}}),
        ("n > :lo AND NOT n >= :hi", {":lo": {"N": "9"}, ":hi": {"N": "11"}}),
        ("attribute_not_exists(nothing) OR n < :lo", {":lo": {"N": "0"}}),
        ("n <> :other", {":other": {"N": "11"}}),
    ]
    fail = [
        ("attribute_not_exists(#name)", {}),
        ("begins_with(#name, :p)", {":p": {"S": "beta"}}),
        ("contains(tags, :t)", {":t": {"S": "z"}}),
        ("size(tags) > :two", {":two": {"N": "2"}}),
        ("attribute_type(n, :type)", {":type": {"S": "S"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "11"}, ":hi": {"N": "20"}}),
        ("n = :s", {":s": {"S": "10"}}),  # a string never equals a number
    ]
    for i, (condition, values) in enumerate(ok + fail):
        kwargs = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET touched = :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {**values, ":one": {"N": "1"}},
        }
        if "#name" in condition:
            kwargs["ExpressionAttributeNames"] = {"#name": "name"}
        c = pick(clients, i)
        if (condition, values) in ok:
            c.update_item(**kwargs)
        else:
            with pytest.raises(ClientError) as e:
                c.update_item(**kwargs)
            assert error_code(e) == "ConditionalCheckFailedException", condition


def test_update_return_values(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table, Item={**key, "a": {"N": "1"}, "b": {"S": "keep"}, "c": {"S": "old"}}
    )

    def update(i, rv, value):
        return pick(clients, i).update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET a = a + :inc, c = :c",
            ExpressionAttributeValues={":inc": {"N": "1"}, ":c": {"S": value}},
            ReturnValues=rv,
        )

    assert "Attributes" not in update(0, "NONE", "c1")  # a = 2
    assert update(1, "ALL_NEW", "c2")["Attributes"] == {
        **key,
        "a": {"N": "3"},
        "b": {"S": "keep"},
        "c": {"S": "c2"},
    }
    assert update(2, "UPDATED_NEW", "c3")["Attributes"] == {"a": {"N": "4"}, "c": {"S": "c3"}}
    assert update(0, "ALL_OLD", "c4")["Attributes"] == {
        **key,
        "a": {"N": "4"},
        "b": {"S": "keep"},
        "c": {"S": "c3"},
    }
    assert update(1, "UPDATED_OLD", "c5")["Attributes"] == {"a": {"N": "5"}, "c": {"S": "c4"}}
    assert get(clients, 2, table, key)["Item"] == {
        **key,
        "a": {"N": "6"},
        "b": {"S": "keep"},
        "c": {"S": "c5"},
    }


def test_update_creates_missing_item(clients, table):
    key = fresh_key()
    response = pick(clients, 1).update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET greeting = :g ADD hits :one",
        ExpressionAttributeValues={":g": {"S": "hi"}, ":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    assert response["Attributes"] == {**key, "greeting": {"S": "hi"}, "hits": {"N": "1"}}
    assert get(clients, 2, table, key)["Item"] == response["Attributes"]


def test_update_actions(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={
            **key,
            "count": {"N": "10"},
            "price": {"N": "2.5"},
            "tags": {"SS": ["a", "b"]},
            "nums": {"NS": ["1", "2"]},
            "lst": {"L": [{"S": "x"}]},
            "gone": {"S": "bye"},
            "nested": {"M": {"keep": {"N": "1"}, "dropme": {"N": "2"}}},
            "existing": {"S": "stays"},
        },
    )
    pick(clients, 1).update_item(
        TableName=table,
        Key=key,
        UpdateExpression=(
            "SET price = price + price, sum_ = #c + price, diff = #c - :three, "
            "lst = list_append(lst, :more), front = list_append(:more, :empty), "
            "existing = if_not_exists(existing, :dflt), fresh = if_not_exists(fresh, :dflt), "
            "nested.added = :one "
            "REMOVE gone, nested.dropme "
            "ADD #c :five, tags :newtags, nums :newnums, newcounter :one "
            "DELETE bs_none :bs"
        ),
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={
            ":three": {"N": "3"},
            ":five": {"N": "5"},
            ":one": {"N": "1"},
            ":more": {"L": [{"S": "y"}, {"N": "9"}]},
            ":empty": {"L": []},
            ":dflt": {"S": "default"},
            ":newtags": {"SS": ["b", "c"]},
            ":newnums": {"NS": ["3"]},
            ":bs": {"BS": [b"\x01"]},
        },
    )
    item = normalize_item(get(clients, 2, table, key)["Item"])
    # SET sees the item as it was before the update: total = 10 + 2.5.
    assert item == normalize_item(
        {
            **key,
            "count": {"N": "15"},
            "price": {"N": "5"},
            "sum_": {"N": "12.5"},
            "diff": {"N": "7"},
            "tags": {"SS": ["a", "b", "c"]},
            "nums": {"NS": ["1", "2", "3"]},
            "lst": {"L": [{"S": "x"}, {"S": "y"}, {"N": "9"}]},
            "front": {"L": [{"S": "y"}, {"N": "9"}]},
            "existing": {"S": "stays"},
            "fresh": {"S": "default"},
            "nested": {"M": {"keep": {"N": "1"}, "added": {"N": "1"}}},
            "newcounter": {"N": "1"},
        }
    )

    # DELETE removes set members; removing the last member removes the attribute.
    pick(clients, 0).update_item(
        TableName=table,
        Key=key,
        UpdateExpression="DELETE tags :ab, nums :all",
        ExpressionAttributeValues={
            ":ab": {"SS": ["a", "b"]},
            ":all": {"NS": ["1", "2", "3"]},
        },
    )
    item = get(clients, 1, table, key)["Item"]
    assert item["tags"] == {"SS": ["c"]}
    assert "nums" not in item

    # List elements by index: SET one, REMOVE another.
    pick(clients, 2).update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET lst[0] = :z REMOVE lst[1]",
        ExpressionAttributeValues={":z": {"S": "z"}},
    )
    assert get(clients, 0, table, key)["Item"]["lst"] == {"L": [{"S": "z"}, {"N": "9"}]}


def test_precise_arithmetic(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "n": {"N": "0.1"}, "big": {"N": "99999999999999999999999999999999999998"}},
    )
    pick(clients, 1).update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET n = n + :pt2 ADD big :one",
        ExpressionAttributeValues={":pt2": {"N": "0.2"}, ":one": {"N": "1"}},
    )
    item = get(clients, 2, table, key)["Item"]
    assert item["n"] == {"N": "0.3"}  # exact decimal, not 0.30000000000000004
    assert item["big"] == {"N": "99999999999999999999999999999999999999"}


def test_projection_expression(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={
            **key,
            "name": {"S": "n"},
            "other": {"S": "o"},
            "m": {"M": {"in1": {"M": {"deep": {"N": "1"}, "skip": {"N": "2"}}}, "x": {"N": "3"}}},
            "l": {"L": [{"S": "l0"}, {"S": "l1"}, {"S": "l2"}]},
        },
    )
    got = get(
        clients,
        1,
        table,
        key,
        ProjectionExpression="#n, m.in1.deep, l[1], absent_attr",
        ExpressionAttributeNames={"#n": "name"},
    )["Item"]
    assert got == {
        "name": {"S": "n"},
        "m": {"M": {"in1": {"M": {"deep": {"N": "1"}}}}},
        "l": {"L": [{"S": "l1"}]},
    }
    # Legacy AttributesToGet: top-level names only.
    got = get(clients, 2, table, key, AttributesToGet=["pk", "other", "absent"])["Item"]
    assert got == {**key, "other": {"S": "o"}}


def test_consistent_read_sees_every_write(clients, table):
    key = fresh_key()
    for n in range(12):
        pick(clients, n).put_item(TableName=table, Item={**key, "n": {"N": str(n)}})
        for j in range(len(clients)):
            assert get(clients, n + j + 1, table, key)["Item"]["n"] == {"N": str(n)}


def test_hash_and_range_items(clients, ranged):
    pk = {"S": f"p-{uuid.uuid4().hex}"}
    for sk in range(5):
        pick(clients, sk).put_item(
            TableName=ranged, Item={"pk": pk, "sk": {"N": str(sk)}, "v": {"N": str(sk * sk)}}
        )
    for sk in range(5):
        got = get(clients, sk + 1, ranged, {"pk": pk, "sk": {"N": str(sk)}})["Item"]
        assert got["v"] == {"N": str(sk * sk)}
    assert "Item" not in get(clients, 0, ranged, {"pk": pk, "sk": {"N": "5"}})
    pick(clients, 0).delete_item(TableName=ranged, Key={"pk": pk, "sk": {"N": "2"}})
    assert "Item" not in get(clients, 1, ranged, {"pk": pk, "sk": {"N": "2"}})
    assert "Item" in get(clients, 1, ranged, {"pk": pk, "sk": {"N": "3"}})


def test_legacy_expected_on_put(clients, table):
    key = fresh_key()
    # Exists: False is put-if-absent.
    pick(clients, 0).put_item(
        TableName=table, Item={**key, "v": {"N": "1"}}, Expected={"pk": {"Exists": False}}
    )
    with pytest.raises(ClientError) as e:
        pick(clients, 1).put_item(
            TableName=table, Item={**key, "v": {"N": "9"}}, Expected={"pk": {"Exists": False}}
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    # Value (implies Exists: True).
    pick(clients, 2).put_item(
        TableName=table, Item={**key, "v": {"N": "2"}}, Expected={"v": {"Value": {"N": "1"}}}
    )
    with pytest.raises(ClientError) as e:
        pick(clients, 0).put_item(
            TableName=table, Item={**key, "v": {"N": "9"}}, Expected={"v": {"Value": {"N": "1"}}}
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    # ComparisonOperator with AttributeValueList, two conditions ANDed by default.
    pick(clients, 1).put_item(
        TableName=table,
        Item={**key, "v": {"N": "3"}},
        Expected={
            "v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
            "nope": {"ComparisonOperator": "NULL"},
        },
    )
    with pytest.raises(ClientError) as e:
        pick(clients, 2).put_item(
            TableName=table,
            Item={**key, "v": {"N": "9"}},
            Expected={"v": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "3"}]}},
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    # ConditionalOperator OR: true OR false holds (it would not under AND).
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "v": {"N": "4"}},
        Expected={
            "v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "3"}]},
            "nope": {"ComparisonOperator": "NOT_NULL"},
        },
        ConditionalOperator="OR",
    )
    assert get(clients, 1, table, key)["Item"]["v"] == {"N": "4"}
    # false OR true holds too (dynalite stops at the first false one: a dynalite bug).
    if not DYNALITE:
        pick(clients, 1).put_item(
            TableName=table,
            Item={**key, "v": {"N": "5"}},
            Expected={
                "v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "100"}]},
                "pk": {"ComparisonOperator": "NOT_NULL"},
            },
            ConditionalOperator="OR",
        )
        assert get(clients, 2, table, key)["Item"]["v"] == {"N": "5"}
    # false OR false fails.
    with pytest.raises(ClientError) as e:
        pick(clients, 2).put_item(
            TableName=table,
            Item={**key, "v": {"N": "9"}},
            Expected={
                "v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "100"}]},
                "nope": {"ComparisonOperator": "NOT_NULL"},
            },
            ConditionalOperator="OR",
        )
    assert error_code(e) == "ConditionalCheckFailedException"


def test_legacy_attribute_updates(clients, table):
    key = fresh_key()
    pick(clients, 0).put_item(
        TableName=table,
        Item={**key, "cnt": {"N": "1"}, "tags": {"SS": ["a"]}, "gone": {"S": "x"}},
    )
    response = pick(clients, 1).update_item(
        TableName=table,
        Key=key,
        AttributeUpdates={
            "cnt": {"Action": "ADD", "Value": {"N": "2"}},
            "tags": {"Action": "ADD", "Value": {"SS": ["b"]}},
            "name": {"Action": "PUT", "Value": {"S": "new"}},
            "gone": {"Action": "DELETE"},
        },
        Expected={"cnt": {"Value": {"N": "1"}}},
        ReturnValues="ALL_NEW",
    )
    expected = {**key, "cnt": {"N": "3"}, "tags": {"SS": ["a", "b"]}, "name": {"S": "new"}}
    assert normalize_item(response["Attributes"]) == normalize_item(expected)
    assert normalize_item(get(clients, 2, table, key)["Item"]) == normalize_item(expected)
    # Expected fails now that cnt is 3.
    with pytest.raises(ClientError) as e:
        pick(clients, 2).update_item(
            TableName=table,
            Key=key,
            AttributeUpdates={"cnt": {"Action": "PUT", "Value": {"N": "0"}}},
            Expected={"cnt": {"Value": {"N": "1"}}},
        )
    assert error_code(e) == "ConditionalCheckFailedException"


def test_eventually_consistent_read_converges(clients, table):
    """A read without ConsistentRead may be stale for a moment, but not for long."""
    key = fresh_key()
    pick(clients, 0).put_item(TableName=table, Item={**key, "v": {"S": "seen"}})
    for i in range(1, len(clients) + 1):
        deadline = time.monotonic() + 10
        while True:
            got = pick(clients, i).get_item(TableName=table, Key=key)
            if got.get("Item", {}).get("v") == {"S": "seen"}:
                break
            assert time.monotonic() < deadline, "an eventually consistent read never saw the write"
            time.sleep(0.05)


def test_update_only_if_exists(clients, ranged):
    key = {"pk": {"S": f"u-{uuid.uuid4().hex}"}, "sk": {"N": "1"}}
    with pytest.raises(ClientError) as e:
        pick(clients, 0).update_item(
            TableName=ranged,
            Key=key,
            UpdateExpression="SET v = :v",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    assert error_code(e) == "ConditionalCheckFailedException"
    # The failed update did not create the item.
    assert "Item" not in get(clients, 1, ranged, key)
    pick(clients, 2).put_item(TableName=ranged, Item={**key, "v": {"S": "a"}})
    pick(clients, 0).update_item(
        TableName=ranged,
        Key=key,
        UpdateExpression="SET v = :v",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":v": {"S": "b"}},
    )
    assert get(clients, 1, ranged, key)["Item"]["v"] == {"S": "b"}


def run_concurrently(jobs):
    """Runs the callables on threads at once; returns their results (or exceptions)."""
    import threading

    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i):
        start.wait()
        try:
            results[i] = jobs[i]()
        except Exception as e:  # noqa: BLE001 - handed back to the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_concurrent_atomic_counter(clients, table):
    """ADD is an atomic counter: concurrent increments through every endpoint all count."""
    from conftest import ENDPOINTS, make_client

    key = fresh_key()
    per_thread = 25
    threads = 6

    # A client per thread, made before the threads start together.
    thread_clients = [make_client(ENDPOINTS[i % len(ENDPOINTS)]) for i in range(threads)]

    def worker(i):
        c = thread_clients[i]
        for _ in range(per_thread):
            c.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return True

    results = run_concurrently([lambda i=i: worker(i) for i in range(threads)])
    assert results == [True] * threads, results
    got = get(clients, 0, table, key)["Item"]
    assert got["hits"] == {"N": str(per_thread * threads)}, "increments were lost"


def test_concurrent_put_if_absent_has_one_winner(clients, table):
    """Of writers racing to create the same item with attribute_not_exists, exactly one
    succeeds, and the item is the winner's."""
    from conftest import ENDPOINTS, make_client

    writers = 6
    writer_clients = [make_client(ENDPOINTS[i % len(ENDPOINTS)]) for i in range(writers)]
    for round_ in range(5):
        key = fresh_key()

        def writer(i):
            c = writer_clients[i]
            try:
                c.put_item(
                    TableName=table,
                    Item={**key, "owner": {"N": str(i)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return "won"
            except ClientError as e:
                return e.response["Error"]["Code"]

        results = run_concurrently([lambda i=i: writer(i) for i in range(writers)])
        winners = [i for i, r in enumerate(results) if r == "won"]
        assert len(winners) == 1, f"round {round_}: {results}"
        assert all(r in ("won", "ConditionalCheckFailedException") for r in results), results
        for i in range(len(clients)):
            assert get(clients, i, table, key)["Item"]["owner"] == {"N": str(winners[0])}
