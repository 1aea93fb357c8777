"""The AWS CLI (v1, from the venv) against the endpoints: create-table, wait, put-item,
get-item, query, scan, delete-table; output parsed as JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ENDPOINTS, REGION, unique_name

AWS = Path(sys.executable).parent / "aws"


def aws(endpoint, *args, check=True):
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
    }
    result = subprocess.run(
        [str(AWS), "dynamodb", *args, "--endpoint-url", endpoint, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, f"aws {' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else None
    return result


@pytest.fixture(scope="module")
def cli_table():
    if not AWS.exists():
        pytest.fail(f"no aws executable beside {sys.executable}; run tools/pyenv.sh")
    name = unique_name("cli")
    first, last = ENDPOINTS[0], ENDPOINTS[-1]
    created = aws(
        first,
        "create-table",
        "--table-name", name,
        "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=N",
        "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
        "--billing-mode", "PAY_PER_REQUEST",
    )
    assert created["TableDescription"]["TableName"] == name
    for endpoint in ENDPOINTS:
        aws(endpoint, "wait", "table-exists", "--table-name", name)
    yield name
    aws(last, "delete-table", "--table-name", name, check=False)


def test_cli_put_get_query_scan(cli_table):
    name = cli_table
    for i in range(6):
        endpoint = ENDPOINTS[i % len(ENDPOINTS)]
        item = {"pk": {"S": "cli"}, "sk": {"N": str(i)}, "label": {"S": f"item {i}"}, "tags": {"SS": ["a", "b"]}}
        assert aws(endpoint, "put-item", "--table-name", name, "--item", json.dumps(item)) is None

    got = aws(
        ENDPOINTS[-1],
        "get-item",
        "--table-name", name,
        "--key", json.dumps({"pk": {"S": "cli"}, "sk": {"N": "3"}}),
        "--consistent-read",
    )
    assert got["Item"]["label"] == {"S": "item 3"}
    assert sorted(got["Item"]["tags"]["SS"]) == ["a", "b"]

    queried = aws(
        ENDPOINTS[len(ENDPOINTS) // 2],
        "query",
        "--table-name", name,
        "--key-condition-expression", "pk = :p AND sk BETWEEN :lo AND :hi",
        "--expression-attribute-values", json.dumps({":p": {"S": "cli"}, ":lo": {"N": "1"}, ":hi": {"N": "4"}}),
        "--consistent-read",
    )
    assert [it["sk"]["N"] for it in queried["Items"]] == ["1", "2", "3", "4"]
    assert queried["Count"] == 4

    # The CLI pages by itself with --page-size (several requests, one merged answer).
    scanned = aws(ENDPOINTS[0], "scan", "--table-name", name, "--page-size", "2", "--consistent-read")
    assert sorted(int(it["sk"]["N"]) for it in scanned["Items"]) == list(range(6))

    described = aws(ENDPOINTS[-1], "describe-table", "--table-name", name)
    assert described["Table"]["TableStatus"] == "ACTIVE"
    assert name in aws(ENDPOINTS[0], "list-tables")["TableNames"]


def test_cli_error_exit_code(cli_table):
    result = aws(
        ENDPOINTS[0],
        "put-item",
        "--table-name", cli_table,
        "--item", json.dumps({"pk": {"S": "cli"}}),
        check=False,
    )
    assert result.returncode != 0
    assert "ValidationException" in result.stderr
    result = aws(ENDPOINTS[0], "describe-table", "--table-name", unique_name("nope"), check=False)
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
