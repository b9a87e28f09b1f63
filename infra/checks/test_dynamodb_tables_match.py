#!/usr/bin/env python3
"""Self-test of dynamodb_tables_match.py with plain asserts: the fixture (what
the service prints) matches data.yaml, and deliberately broken copies of it do
not. Run by infra/check with the venv's python (cfn-lint must be importable)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dynamodb_tables_match as m  # noqa: E402

FIXTURE = HERE / "fixtures" / "service-tables.json"
FAKE_BIN = str(HERE / "fixtures" / "fake-paygraph")


def fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def table(doc: dict, name: str) -> dict:
    return next(t for t in doc["tables"] if t["TableName"] == name)


def run_main_with(doc: dict) -> tuple[int, str]:
    """main() against the fake binary printing `doc`; (exit code, stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    os.environ["FAKE_PAYGRAPH_TABLES"] = f.name
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = m.main([FAKE_BIN])
    finally:
        os.environ.pop("FAKE_PAYGRAPH_TABLES", None)
        os.unlink(f.name)
    return code, err.getvalue() + out.getvalue()


def test_fixture_matches_template():
    code, output = run_main_with(fixture())
    assert code == 0, output
    assert "OK" in output, output


def test_missing_gsi_is_reported():
    doc = fixture()
    audit = table(doc, "audit_logs")
    audit["GlobalSecondaryIndexes"] = [
        g for g in audit["GlobalSecondaryIndexes"] if g["IndexName"] != "transaction_id-index"
    ]
    code, output = run_main_with(doc)
    assert code == 1, output
    assert "GSI transaction_id-index in the template, not created by the service" in output, output


def test_wrong_key_type_is_reported():
    doc = fixture()
    fraud = table(doc, "fraud_detection")
    fraud["KeySchema"] = [
        {"AttributeName": "user_id", "KeyType": "HASH"},
        {"AttributeName": "timestamp", "KeyType": "HASH"},
    ]
    code, output = run_main_with(doc)
    assert code == 1, output
    assert "table fraud_detection: KeySchema differs" in output, output


def test_wrong_attribute_type_and_projection_are_reported():
    doc = fixture()
    audit = table(doc, "audit_logs")
    for attribute in audit["AttributeDefinitions"]:
        if attribute["AttributeName"] == "user_id":
            attribute["AttributeType"] = "N"
    audit["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "KEYS_ONLY"}
    diff = m.compare(m.service_tables(doc), m.template_tables(m.DEFAULT_TEMPLATE))
    text = "\n".join(diff)
    assert "AttributeDefinitions differ" in text and "user_id N" in text, text
    assert "GSI user_id-index Projection differs" in text, text


def test_missing_table_and_prefixed_names():
    doc = fixture()
    doc["tables"] = [t for t in doc["tables"] if t["TableName"] != "fraud_detection"]
    diff = m.compare(m.service_tables(doc), m.template_tables(m.DEFAULT_TEMPLATE))
    assert diff == ["table fraud_detection: in the template, not created by the service"], diff
    assert m.bare_table_name({"Fn::Sub": "${TablePrefix}audit_logs"}, "x") == "audit_logs"
    assert m.bare_table_name({"Fn::Sub": ["${P}fraud_detection", {"P": "a"}]}, "x") == "fraud_detection"


def test_failing_binary_is_an_error():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = m.main([str(HERE / "fixtures" / "no-such-binary")])
    assert code == 1 and "ERROR" in err.getvalue(), err.getvalue()


def main() -> int:
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_")]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok   {name}")
        except AssertionError as err:
            failed += 1
            print(f"FAIL {name}: {err}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
