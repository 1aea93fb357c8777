"""Table operations: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable, tags,
DescribeLimits and DescribeEndpoints."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import (
    DYNALITE,
    create_table,
    dynalite_gap,
    delete_table_quietly,
    error_code,
    error_message,
    pick,
    unique_name,
    wait_active,
    wait_gone,
)


@pytest.fixture(scope="module")
def prefix():
    return unique_name("tables")


def attr_defs(description):
    return {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}


def key_schema(description):
    return [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]


@pytest.mark.parametrize(
    "hash_key,range_key,billing",
    [
        (("id", "S"), None, "PAY_PER_REQUEST"),
        (("id", "N"), None, "PROVISIONED"),
        (("id", "B"), None, "PAY_PER_REQUEST"),
        (("pk", "S"), ("sk", "N"), "PAY_PER_REQUEST"),
        (("pk", "N"), ("sk", "B"), "PROVISIONED"),
        (("pk", "B"), ("sk", "S"), "PAY_PER_REQUEST"),
    ],
)
def test_create_describe_delete(clients, prefix, hash_key, range_key, billing):
    name = f"{prefix}-{hash_key[1]}{range_key[1] if range_key else ''}-{billing[:3]}"
    before = datetime.datetime.now(datetime.timezone.utc)
    try:
        created = create_table(
            clients, name, hash_key=hash_key, range_key=range_key, billing=billing
        )["TableDescription"]
        assert created["TableName"] == name
        assert created["TableStatus"] in ("CREATING", "ACTIVE")

        # Every endpoint describes the same table.
        for i, c in enumerate(clients):
            table = c.describe_table(TableName=name)["Table"]
            assert table["TableName"] == name
            assert table["TableStatus"] == "ACTIVE"
            expected_schema = [(hash_key[0], "HASH")] + (
                [(range_key[0], "RANGE")] if range_key else []
            )
            assert key_schema(table) == expected_schema
            expected_attrs = {hash_key[0]: hash_key[1]}
            if range_key:
                expected_attrs[range_key[0]] = range_key[1]
            assert attr_defs(table) == expected_attrs
            assert table["ItemCount"] == 0
            assert "TableSizeBytes" in table
            assert table["TableArn"].startswith("arn:aws:dynamodb:")
            assert table["TableArn"].endswith(f":table/{name}")
            created_at = table["CreationDateTime"]
            assert isinstance(created_at, datetime.datetime)
            # A clock skew of a minute between test and server is tolerated.
            assert abs((created_at - before).total_seconds()) < 120
            if billing == "PAY_PER_REQUEST":
                assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
                assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
                assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 0
            else:
                # DynamoDB omits BillingModeSummary for tables created PROVISIONED
                # (dynalite too); when present it must say so.
                summary = table.get("BillingModeSummary")
                if summary is not None:
                    assert summary["BillingMode"] == "PROVISIONED"
                assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
                assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 5

        # An item can be written through one node and read through another.
        key = {hash_key[0]: sample(hash_key[1], 1)}
        if range_key:
            key[range_key[0]] = sample(range_key[1], 2)
        pick(clients, 1).put_item(TableName=name, Item={**key, "v": {"S": "x"}})
        got = pick(clients, 2).get_item(TableName=name, Key=key, ConsistentRead=True)
        assert got["Item"]["v"] == {"S": "x"}

        deleted = pick(clients, 1).delete_table(TableName=name)["TableDescription"]
        assert deleted["TableName"] == name
        assert deleted["TableStatus"] in ("DELETING", "ACTIVE")
        wait_gone(clients, name)
        for c in clients:
            with pytest.raises(ClientError) as e:
                c.describe_table(TableName=name)
            assert error_code(e) == "ResourceNotFoundException"
    finally:
        delete_table_quietly(clients[0], name)


def sample(kind, n):
    return {"S": {"S": f"k{n}"}, "N": {"N": str(n)}, "B": {"B": bytes([n, 0, 255])}}[kind]


def test_create_existing_table_is_resource_in_use(clients, prefix):
    name = f"{prefix}-dup"
    try:
        create_table(clients, name)
        for c in clients:
            with pytest.raises(ClientError) as e:
                c.create_table(
                    TableName=name,
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            assert error_code(e) == "ResourceInUseException"
            if not DYNALITE:  # dynalite's message is empty
                assert f"Table already exists: {name}" in error_message(e)
    finally:
        delete_table_quietly(clients[0], name)


def test_list_tables_paging(clients, prefix):
    names = sorted(f"{prefix}-list-{i:02d}" for i in range(7))
    try:
        for i, name in enumerate(names):
            pick(clients, i).create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for name in names:
            wait_active(clients, name)

        for ci, c in enumerate(clients):
            # Pages of 3, starting just before our names (other tables may exist: the
            # listing is global and sorted).
            seen = []
            start = names[0][:-1]  # sorts before every name of ours
            pages = 0
            kwargs = {"Limit": 3, "ExclusiveStartTableName": start}
            while True:
                response = c.list_tables(**kwargs)
                pages += 1
                page = response["TableNames"]
                assert len(page) <= 3
                seen.extend(page)
                if "LastEvaluatedTableName" not in response:
                    break
                assert response["LastEvaluatedTableName"] == page[-1]
                kwargs["ExclusiveStartTableName"] = response["LastEvaluatedTableName"]
                if any(n > names[-1] for n in page):
                    break
            ours = [n for n in seen if n.startswith(f"{prefix}-list-")]
            assert ours == names, f"endpoint {ci}"
            assert seen == sorted(seen)
            assert pages >= 3

        # Without a limit every table of ours is listed (walking the pages if there are
        # many tables).
        everything = []
        for page in clients[-1].get_paginator("list_tables").paginate():
            everything.extend(page["TableNames"])
        assert set(names) <= set(everything)
        assert len(everything) == len(set(everything))
    finally:
        for name in names:
            delete_table_quietly(clients[0], name)


def test_update_table_billing_and_throughput(clients, prefix):
    name = f"{prefix}-upd"
    try:
        create_table(clients, name, billing="PROVISIONED")
        updated = pick(clients, 1).update_table(
            TableName=name,
            ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 9},
        )["TableDescription"]
        assert updated["TableName"] == name
        wait_active(clients, name)
        for c in clients:
            table = c.describe_table(TableName=name)["Table"]
            assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
            assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 9

        pick(clients, 2).update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
        wait_active(clients, name)
        for c in clients:
            table = c.describe_table(TableName=name)["Table"]
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

        # The table still serves reads and writes after the update.
        pick(clients, 0).put_item(TableName=name, Item={"pk": {"S": "a"}})
        assert "Item" in pick(clients, 1).get_item(
            TableName=name, Key={"pk": {"S": "a"}}, ConsistentRead=True
        )
    finally:
        delete_table_quietly(clients[0], name)


def test_update_missing_table(client, prefix):
    with pytest.raises(ClientError) as e:
        client.update_table(TableName=f"{prefix}-nope", BillingMode="PAY_PER_REQUEST")
    assert error_code(e) == "ResourceNotFoundException"


def test_delete_missing_table(client, prefix):
    with pytest.raises(ClientError) as e:
        client.delete_table(TableName=f"{prefix}-nope")
    assert error_code(e) == "ResourceNotFoundException"
    assert "Requested resource not found" in error_message(e)


def test_tags(clients, prefix):
    name = f"{prefix}-tags"
    try:
        create_table(clients, name)
        arn = clients[0].describe_table(TableName=name)["Table"]["TableArn"]
        pick(clients, 1).tag_resource(
            ResourceArn=arn,
            Tags=[{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": "test"}],
        )
        for c in clients:
            tags = c.list_tags_of_resource(ResourceArn=arn)["Tags"]
            assert sorted((t["Key"], t["Value"]) for t in tags) == [
                ("env", "test"),
                ("team", "storage"),
            ]
        # Tagging an existing key replaces its value.
        pick(clients, 2).tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
        pick(clients, 0).untag_resource(ResourceArn=arn, TagKeys=["team"])
        for c in clients:
            tags = c.list_tags_of_resource(ResourceArn=arn)["Tags"]
            assert [(t["Key"], t["Value"]) for t in tags] == [("env", "prod")]
    finally:
        delete_table_quietly(clients[0], name)


def test_describe_limits(clients):
    dynalite_gap("no DescribeLimits")
    for c in clients:
        limits = c.describe_limits()
        for field in (
            "AccountMaxReadCapacityUnits",
            "AccountMaxWriteCapacityUnits",
            "TableMaxReadCapacityUnits",
            "TableMaxWriteCapacityUnits",
        ):
            assert isinstance(limits[field], int) and limits[field] > 0, field


def test_describe_endpoints(clients):
    dynalite_gap("no DescribeEndpoints")
    for c in clients:
        endpoints = c.describe_endpoints()["Endpoints"]
        assert endpoints, "at least one endpoint"
        for e in endpoints:
            assert e["Address"]
            assert e["CachePeriodInMinutes"] > 0


def test_recreated_table_starts_empty(clients, prefix):
    """Items of a deleted table never show up in a new table of the same name."""
    name = f"{prefix}-again"
    try:
        create_table(clients, name, hash_key=("pk", "S"), range_key=("sk", "N"))
        for i in range(10):
            pick(clients, i).put_item(
                TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "old": {"BOOL": True}}
            )
        pick(clients, 1).delete_table(TableName=name)
        wait_gone(clients, name)
        create_table(clients, name, hash_key=("pk", "S"), range_key=("sk", "N"))
        for c in clients:
            assert "Item" not in c.get_item(
                TableName=name, Key={"pk": {"S": "p"}, "sk": {"N": "3"}}, ConsistentRead=True
            )
            assert c.query(
                TableName=name,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p"}},
                ConsistentRead=True,
            )["Items"] == []
            assert c.scan(TableName=name, ConsistentRead=True)["Items"] == []
    finally:
        delete_table_quietly(clients[0], name)
