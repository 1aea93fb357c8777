"""Query and Scan: key conditions, filters, projections, Limit, paging of a large
partition forward and backward, Select COUNT, paginators, and parallel scan."""

import uuid
from decimal import Decimal

import pytest

from conftest import SCALE, batch_write_all, pick, scan_all

PAD = "p" * 600  # ~0.6 KB per item, so the default 2000 items pass DynamoDB's 1 MB page size


def spread_puts(clients, table, items):
    """Writes items in batches of 25, each batch through the next endpoint."""
    for n, start in enumerate(range(0, len(items), 25)):
        batch_write_all(
            pick(clients, n),
            {table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]},
        )


@pytest.fixture(scope="module")
def numeric(table_factory, clients):
    """pk S + sk N: a small partition 'small' (sk 0..19) and a big one (sk 0..SCALE-1)."""
    name = table_factory("query-n", hash_key=("pk", "S"), range_key=("sk", "N"))
    small = [
        {"pk": {"S": "small"}, "sk": {"N": str(i)}, "parity": {"N": str(i % 2)}, "sq": {"N": str(i * i)}}
        for i in range(20)
    ]
    # A neighbouring partition whose items must never show up in the others' queries.
    other = [{"pk": {"S": "smalL"}, "sk": {"N": str(i)}} for i in range(5)]
    big = [
        {"pk": {"S": "big"}, "sk": {"N": str(i)}, "parity": {"N": str(i % 2)}, "pad": {"S": PAD}}
        for i in range(SCALE)
    ]
    spread_puts(clients, name, small + other + big)
    return name


@pytest.fixture(scope="module")
def strings(table_factory, clients):
    """pk S + sk S, for begins_with and string ordering."""
    name = table_factory("query-s", hash_key=("pk", "S"), range_key=("sk", "S"))
    sks = ["a", "ab", "abc", "abd", "b", "ba", "c", "ca#1", "ca#2", "ca#10", "d"]
    spread_puts(clients, name, [{"pk": {"S": "p"}, "sk": {"S": s}} for s in sks])
    return name, sorted(sks)


@pytest.fixture(scope="module")
def scanned(table_factory, clients):
    """A hash-only table of SCALE items."""
    name = table_factory("scan")
    items = [
        {"pk": {"S": f"item-{i:06d}"}, "n": {"N": str(i)}, "parity": {"N": str(i % 2)}, "pad": {"S": PAD}}
        for i in range(SCALE)
    ]
    spread_puts(clients, name, items)
    return name


def sks(items):
    return [int(it["sk"]["N"]) for it in items]


@pytest.mark.parametrize(
    "condition,values,expected",
    [
        ("pk = :p", {}, list(range(20))),
        ("pk = :p AND sk = :a", {":a": "7"}, [7]),
        ("pk = :p AND sk < :a", {":a": "5"}, [0, 1, 2, 3, 4]),
        ("pk = :p AND sk <= :a", {":a": "5"}, [0, 1, 2, 3, 4, 5]),
        ("pk = :p AND sk > :a", {":a": "15"}, [16, 17, 18, 19]),
        ("pk = :p AND sk >= :a", {":a": "15"}, [15, 16, 17, 18, 19]),
        ("pk = :p AND sk BETWEEN :a AND :b", {":a": "3", ":b": "6"}, [3, 4, 5, 6]),
        ("sk BETWEEN :a AND :b AND pk = :p", {":a": "18", ":b": "100"}, [18, 19]),
        ("pk = :p AND sk > :a", {":a": "-1.5"}, list(range(20))),
        ("pk = :p AND sk < :a", {":a": "0"}, []),
    ],
)
def test_key_conditions_numeric(clients, numeric, condition, values, expected):
    for i in range(len(clients)):
        response = pick(clients, i).query(
            TableName=numeric,
            KeyConditionExpression=condition,
            ExpressionAttributeValues={":p": {"S": "small"}, **{k: {"N": v} for k, v in values.items()}},
            ConsistentRead=True,
        )
        assert sks(response["Items"]) == expected
        assert response["Count"] == len(expected)
        assert response["ScannedCount"] == len(expected)
        assert "LastEvaluatedKey" not in response
        back = pick(clients, i + 1).query(
            TableName=numeric,
            KeyConditionExpression=condition,
            ExpressionAttributeValues={":p": {"S": "small"}, **{k: {"N": v} for k, v in values.items()}},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        assert sks(back["Items"]) == expected[::-1]


@pytest.mark.parametrize(
    "condition,values,pred",
    [
        ("pk = :p AND begins_with(sk, :a)", {":a": "ab"}, lambda s: s.startswith("ab")),
        ("pk = :p AND begins_with(sk, :a)", {":a": "ca#"}, lambda s: s.startswith("ca#")),
        ("pk = :p AND begins_with(sk, :a)", {":a": "z"}, lambda s: False),
        ("pk = :p AND sk BETWEEN :a AND :b", {":a": "ab", ":b": "b"}, lambda s: "ab" <= s <= "b"),
        ("pk = :p AND sk > :a", {":a": "c"}, lambda s: s > "c"),
        ("pk = :p AND sk < :a", {":a": "abd"}, lambda s: s < "abd"),
    ],
)
def test_key_conditions_string(clients, strings, condition, values, pred):
    name, all_sks = strings
    response = pick(clients, 1).query(
        TableName=name,
        KeyConditionExpression=condition,
        ExpressionAttributeValues={":p": {"S": "p"}, **{k: {"S": v} for k, v in values.items()}},
        ConsistentRead=True,
    )
    assert [it["sk"]["S"] for it in response["Items"]] == [s for s in all_sks if pred(s)]


def test_filter_projection_and_counts(clients, numeric):
    response = pick(clients, 2).query(
        TableName=numeric,
        KeyConditionExpression="pk = :p AND sk >= :lo",
        FilterExpression="parity = :one AND sq > :sq",
        ProjectionExpression="sk, sq",
        ExpressionAttributeValues={
            ":p": {"S": "small"},
            ":lo": {"N": "4"},
            ":one": {"N": "1"},
            ":sq": {"N": "50"},
        },
        ConsistentRead=True,
    )
    expected = [i for i in range(4, 20) if i % 2 == 1 and i * i > 50]
    assert sks(response["Items"]) == expected
    assert all(set(it) == {"sk", "sq"} for it in response["Items"])
    assert response["Count"] == len(expected)
    assert response["ScannedCount"] == 16  # the filter runs after the key condition

    counted = pick(clients, 0).query(
        TableName=numeric,
        KeyConditionExpression="pk = :p",
        FilterExpression="parity = :zero",
        ExpressionAttributeValues={":p": {"S": "small"}, ":zero": {"N": "0"}},
        Select="COUNT",
        ConsistentRead=True,
    )
    assert "Items" not in counted
    assert counted["Count"] == 10
    assert counted["ScannedCount"] == 20


def test_limit_counts_before_filter(clients, numeric):
    # Limit bounds the items read, not the items returned.
    response = pick(clients, 1).query(
        TableName=numeric,
        KeyConditionExpression="pk = :p",
        FilterExpression="parity = :one",
        ExpressionAttributeValues={":p": {"S": "small"}, ":one": {"N": "1"}},
        Limit=5,
        ConsistentRead=True,
    )
    assert response["ScannedCount"] == 5
    assert sks(response["Items"]) == [1, 3]
    assert response["LastEvaluatedKey"] == {"pk": {"S": "small"}, "sk": {"N": "4"}}


def test_limit_paging_small(clients, numeric):
    items, pages = [], 0
    kwargs = {
        "TableName": numeric,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "small"}},
        "Limit": 6,
        "ConsistentRead": True,
    }
    while True:
        response = pick(clients, pages).query(**kwargs)  # each page through another node
        pages += 1
        assert len(response["Items"]) <= 6
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        assert response["LastEvaluatedKey"] == {
            "pk": response["Items"][-1]["pk"],
            "sk": response["Items"][-1]["sk"],
        }
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    assert sks(items) == list(range(20))
    assert pages in (4, 5)  # a server may or may not know the 4th page was the last


@pytest.mark.parametrize("forward,limit", [(True, 137), (False, 250), (True, None), (False, None)])
def test_big_partition_paging(clients, numeric, forward, limit):
    kwargs = {
        "TableName": numeric,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "big"}},
        "ScanIndexForward": forward,
        "ConsistentRead": True,
    }
    if limit:
        kwargs["Limit"] = limit
    items, pages = [], 0
    while True:
        response = pick(clients, pages).query(**kwargs)
        pages += 1
        if limit:
            assert len(response["Items"]) <= limit
        assert response["Count"] == len(response["Items"])
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    expected = list(range(SCALE)) if forward else list(range(SCALE - 1, -1, -1))
    assert sks(items) == expected  # every item once, in order
    assert all(it["pad"]["S"] == PAD for it in items)
    if limit:
        assert pages >= SCALE // limit
    elif SCALE * (len(PAD) + 20) > 1_100_000:
        assert pages >= 2, "a page holds at most 1 MB"


def test_big_partition_count(clients, numeric):
    count, scanned = 0, 0
    kwargs = {
        "TableName": numeric,
        "KeyConditionExpression": "pk = :p AND sk >= :lo",
        "FilterExpression": "parity = :zero",
        "ExpressionAttributeValues": {":p": {"S": "big"}, ":lo": {"N": "10"}, ":zero": {"N": "0"}},
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    while True:
        response = pick(clients, 1).query(**kwargs)
        assert "Items" not in response
        count += response["Count"]
        scanned += response["ScannedCount"]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    assert scanned == SCALE - 10
    assert count == len([i for i in range(10, SCALE) if i % 2 == 0])


def test_query_paginator(clients, numeric):
    paginator = pick(clients, 2).get_paginator("query")
    pages = list(
        paginator.paginate(
            TableName=numeric,
            KeyConditionExpression="pk = :p AND sk < :hi",
            ExpressionAttributeValues={":p": {"S": "big"}, ":hi": {"N": "700"}},
            ProjectionExpression="sk",
            ConsistentRead=True,
            PaginationConfig={"PageSize": 300},
        )
    )
    n = min(700, SCALE)
    assert len(pages) >= -(-n // 300)  # ceil(n / 300)
    items = [it for page in pages for it in page["Items"]]
    assert sks(items) == list(range(min(700, SCALE)))


def test_legacy_key_conditions_and_query_filter(clients, numeric, strings):
    response = pick(clients, 0).query(
        TableName=numeric,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "small"}]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "11"}]},
        },
        QueryFilter={"parity": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
        ConsistentRead=True,
    )
    assert sks(response["Items"]) == [3, 5, 7, 9, 11]
    assert response["ScannedCount"] == 10

    name, all_sks = strings
    response = pick(clients, 1).query(
        TableName=name,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ca"}]},
        },
        ScanIndexForward=False,
        ConsistentRead=True,
    )
    assert [it["sk"]["S"] for it in response["Items"]] == sorted(
        [s for s in all_sks if s.startswith("ca")], reverse=True
    )
    # Legacy AttributesToGet on Query.
    response = pick(clients, 2).query(
        TableName=numeric,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "small"}]}},
        AttributesToGet=["sq"],
        Limit=3,
        ConsistentRead=True,
    )
    assert response["Items"] == [{"sq": {"N": "0"}}, {"sq": {"N": "1"}}, {"sq": {"N": "4"}}]


def pk_numbers(items):
    return sorted(int(it["pk"]["S"].split("-")[1]) for it in items)


def test_full_scan_paging(clients, scanned):
    items, pages, scanned_count, count = [], 0, 0, 0
    kwargs = {"TableName": scanned, "Limit": 400, "ConsistentRead": True}
    while True:
        response = pick(clients, pages).scan(**kwargs)
        pages += 1
        assert len(response["Items"]) <= 400
        items.extend(response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        # DynamoDB's LastEvaluatedKey is the primary key of the last item read, nothing
        # more: clients store it, or build it from an item to resume after that item.
        assert response["LastEvaluatedKey"] == {"pk": response["Items"][-1]["pk"]}
        kwargs["ExclusiveStartKey"] = {"pk": response["Items"][-1]["pk"]}
    assert pk_numbers(items) == list(range(SCALE))  # every item exactly once
    assert pages >= SCALE // 400

    # Without a Limit the 1 MB page size still pages the table.
    items, pages, scanned_count, count = scan_all(
        pick(clients, 1), TableName=scanned, ConsistentRead=True
    )
    assert pk_numbers(items) == list(range(SCALE))
    assert scanned_count == count == SCALE
    if SCALE * (len(PAD) + 30) > 1_100_000:
        assert pages >= 2


def test_parallel_scan(clients, scanned):
    segments = 4
    per_segment = []
    for segment in range(segments):
        items, pages, _, _ = scan_all(
            pick(clients, segment),
            TableName=scanned,
            Segment=segment,
            TotalSegments=segments,
            Limit=150,
            ProjectionExpression="pk",
            ConsistentRead=True,
        )
        per_segment.append(items)
    everything = [it for items in per_segment for it in items]
    assert pk_numbers(everything) == list(range(SCALE))  # each item in exactly one segment
    if SCALE >= 100:
        assert sum(1 for items in per_segment if items) >= 2, "segments split the table"


def test_scan_filter_and_count(clients, scanned):
    items, _, scanned_count, count = scan_all(
        pick(clients, 2),
        TableName=scanned,
        FilterExpression="parity = :one AND n < :hi",
        ExpressionAttributeValues={":one": {"N": "1"}, ":hi": {"N": "1000"}},
        ProjectionExpression="pk, n",
        ConsistentRead=True,
    )
    expected = [i for i in range(min(SCALE, 1000)) if i % 2 == 1]
    assert pk_numbers(items) == expected
    assert all(set(it) == {"pk", "n"} for it in items)
    assert count == len(expected)
    assert scanned_count == SCALE

    count, scanned_count = 0, 0
    kwargs = {
        "TableName": scanned,
        "Select": "COUNT",
        "FilterExpression": "parity = :zero",
        "ExpressionAttributeValues": {":zero": {"N": "0"}},
        "ConsistentRead": True,
    }
    while True:
        response = pick(clients, 0).scan(**kwargs)
        assert "Items" not in response
        count += response["Count"]
        scanned_count += response["ScannedCount"]
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    assert count == (SCALE + 1) // 2
    assert scanned_count == SCALE


def test_scan_paginator(clients, scanned):
    paginator = pick(clients, 1).get_paginator("scan")
    total = 0
    seen = set()
    for page in paginator.paginate(
        TableName=scanned,
        ProjectionExpression="pk",
        ConsistentRead=True,
        PaginationConfig={"PageSize": 500},
    ):
        total += page["Count"]
        seen.update(it["pk"]["S"] for it in page["Items"])
    assert total == SCALE == len(seen)


def test_query_of_empty_partition(clients, numeric):
    response = pick(clients, 0).query(
        TableName=numeric,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"none-{uuid.uuid4().hex}"}},
    )
    assert response["Items"] == []
    assert response["Count"] == 0
    assert "LastEvaluatedKey" not in response


def test_sort_key_order_numbers_and_binary(clients, table_factory):
    """Sort keys order as DynamoDB orders them: numbers by value (negatives, fractions,
    magnitudes), binary by unsigned bytes, strings by UTF-8 bytes."""
    numbers = ["-1e20", "-10", "-1.5", "-1", "-0.001", "0", "0.001", "0.5", "1", "2", "10", "1e20"]
    blobs = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\x7f\xff", b"\x80", b"\xfe", b"\xff", b"\xff\x00"]
    strings = ["", "A", "Z", "a", "a\x00", "ab", "z", "é", "\u4e2d", "\U0001f600"]
    n_table = table_factory("order-n", hash_key=("pk", "S"), range_key=("sk", "N"))
    b_table = table_factory("order-b", hash_key=("pk", "S"), range_key=("sk", "B"))
    s_table = table_factory("order-s", hash_key=("pk", "S"), range_key=("sk", "S"))
    shuffled = lambda xs: xs[1::2] + xs[::2]  # noqa: E731
    spread_puts(clients, n_table, [{"pk": {"S": "o"}, "sk": {"N": n}} for n in shuffled(numbers)])
    # Empty binary and string values cannot be key attributes.
    spread_puts(clients, b_table, [{"pk": {"S": "o"}, "sk": {"B": b}} for b in shuffled(blobs) if b])
    spread_puts(clients, s_table, [{"pk": {"S": "o"}, "sk": {"S": s}} for s in shuffled(strings) if s])

    def query(table, forward=True, i=0):
        items = pick(clients, i).query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "o"}},
            ScanIndexForward=forward,
            ConsistentRead=True,
        )["Items"]
        return [it["sk"] for it in items]

    got = [Decimal(v["N"]) for v in query(n_table)]
    assert got == [Decimal(n) for n in numbers]
    assert [Decimal(v["N"]) for v in query(n_table, False, 1)] == [Decimal(n) for n in reversed(numbers)]
    assert [v["B"] for v in query(b_table, i=2)] == [b for b in blobs if b]
    assert [v["S"] for v in query(s_table, i=1)] == sorted(
        (s for s in strings if s), key=lambda s: s.encode("utf-8")
    )
    # Range conditions follow the same order.
    response = pick(clients, 0).query(
        TableName=n_table,
        KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":p": {"S": "o"}, ":lo": {"N": "-1.5"}, ":hi": {"N": "0.5"}},
        ConsistentRead=True,
    )
    assert [Decimal(it["sk"]["N"]) for it in response["Items"]] == [
        Decimal(n) for n in ["-1.5", "-1", "-0.001", "0", "0.001", "0.5"]
    ]
    response = pick(clients, 1).query(
        TableName=b_table,
        KeyConditionExpression="pk = :p AND sk > :lo",
        ExpressionAttributeValues={":p": {"S": "o"}, ":lo": {"B": b"\x7f\xff"}},
        ConsistentRead=True,
    )
    assert [it["sk"]["B"] for it in response["Items"]] == [b"\x80", b"\xfe", b"\xff", b"\xff\x00"]
    response = pick(clients, 2).query(
        TableName=b_table,
        KeyConditionExpression="pk = :p AND begins_with(sk, :pre)",
        ExpressionAttributeValues={":p": {"S": "o"}, ":pre": {"B": b"\xff"}},
        ConsistentRead=True,
    )
    assert [it["sk"]["B"] for it in response["Items"]] == [b"\xff", b"\xff\x00"]
