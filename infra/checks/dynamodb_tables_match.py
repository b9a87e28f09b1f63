#!/usr/bin/env python3
"""Check that the DynamoDB tables of infra/cloudformation/data.yaml have exactly
the keys and indexes that the service creates.

    python infra/checks/dynamodb_tables_match.py PAYGRAPH_BIN [--template FILE]

runs `PAYGRAPH_BIN dynamodb describe-tables`, which prints

    {"tables": [{"TableName": "audit_logs", "KeySchema": [...],
                 "AttributeDefinitions": [...], "GlobalSecondaryIndexes": [...]}, ...]}

(table names without the environment prefix), and compares, table by table:
the key schema, the attribute definitions (as sets), and the global secondary
indexes (name, key schema, projection type and non-key attributes). The
template is read with cfn-lint's own YAML loader, so !Sub and !Ref are
understood; a table's TableName there is a !Sub ending in the bare name
("${TablePrefix}audit_logs").

Exit 0 with one OK line on a match; exit 1 with a diff on any difference.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "cloudformation" / "data.yaml"
TABLE_TYPES = ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")

# A table, normalised: {"keys": {(name, HASH|RANGE)}, "attributes": {(name, S|N|B)},
#                       "indexes": {index name: {"keys": {...}, "projection": (type, (non-key attrs))}}}
Table = dict


class DescribeError(Exception):
    """The service's description or the template could not be read."""


def _keys(key_schema) -> frozenset:
    return frozenset((k["AttributeName"], k["KeyType"]) for k in key_schema or [])


def normalise(table: dict) -> Table:
    indexes = {}
    for gsi in table.get("GlobalSecondaryIndexes") or []:
        projection = gsi.get("Projection") or {}
        indexes[gsi["IndexName"]] = {
            "keys": _keys(gsi.get("KeySchema")),
            "projection": (
                projection.get("ProjectionType"),
                tuple(sorted(projection.get("NonKeyAttributes") or [])),
            ),
        }
    return {
        "keys": _keys(table.get("KeySchema")),
        "attributes": frozenset(
            (a["AttributeName"], a["AttributeType"]) for a in table.get("AttributeDefinitions") or []
        ),
        "indexes": indexes,
    }


def bare_table_name(value, logical_id: str) -> str:
    """"audit_logs" from "audit_logs", !Sub "${TablePrefix}audit_logs" or its list form."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        if isinstance(value, list):
            value = value[0]
    if not isinstance(value, str):
        raise DescribeError(f"{logical_id}: TableName must be a string or a !Sub string, got {value!r}")
    match = re.fullmatch(r"(?:\$\{[^}]+\})*([A-Za-z0-9_.-]+)", value)
    if not match:
        raise DescribeError(f"{logical_id}: TableName {value!r} does not end in a bare table name")
    return match.group(1)


def template_tables(path: Path) -> dict[str, Table]:
    from cfnlint.decode import decode  # the venv of infra/check provides cfn-lint

    template, errors = decode(str(path))
    if errors or template is None:
        raise DescribeError(f"{path}: cannot parse: " + "; ".join(str(e) for e in errors or []))
    tables = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") not in TABLE_TYPES:
            continue
        props = resource.get("Properties") or {}
        name = bare_table_name(props.get("TableName"), logical_id)
        if name in tables:
            raise DescribeError(f"{path}: table {name} is defined twice")
        tables[name] = normalise(props)
    return tables


def service_tables(document: dict) -> dict[str, Table]:
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise DescribeError('the service output is not {"tables": [...]}')
    tables = {}
    for table in document["tables"]:
        tables[table["TableName"]] = normalise(table)
    return tables


def run_service(binary: str) -> dict:
    command = [binary, "dynamodb", "describe-tables"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except OSError as err:
        raise DescribeError(f"cannot run {' '.join(command)}: {err}") from err
    except subprocess.TimeoutExpired as err:
        raise DescribeError(f"{' '.join(command)} did not finish in 120 s") from err
    if done.returncode != 0:
        raise DescribeError(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.strip()}"
        )
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise DescribeError(f"{' '.join(command)} did not print JSON: {err}\n{done.stdout[:500]}") from err


def _fmt_keys(keys) -> str:
    order = {"HASH": 0, "RANGE": 1}
    return ", ".join(f"{n} {t}" for n, t in sorted(keys, key=lambda k: (order.get(k[1], 2), k[0]))) or "(none)"


def _fmt_set(items) -> str:
    return ", ".join(f"{n} {t}" for n, t in sorted(items)) or "(none)"


def _fmt_projection(projection) -> str:
    kind, non_key = projection
    return f"{kind}" + (f" [{', '.join(non_key)}]" if non_key else "")


def compare(service: dict[str, Table], template: dict[str, Table]) -> list[str]:
    """Differences as readable lines; empty when the two agree."""
    diff = []
    for name in sorted(service.keys() - template.keys()):
        diff.append(f"table {name}: created by the service, missing from the template")
    for name in sorted(template.keys() - service.keys()):
        diff.append(f"table {name}: in the template, not created by the service")
    for name in sorted(service.keys() & template.keys()):
        svc, tpl = service[name], template[name]
        if svc["keys"] != tpl["keys"]:
            diff.append(
                f"table {name}: KeySchema differs\n"
                f"    service:  {_fmt_keys(svc['keys'])}\n    template: {_fmt_keys(tpl['keys'])}"
            )
        if svc["attributes"] != tpl["attributes"]:
            diff.append(
                f"table {name}: AttributeDefinitions differ\n"
                f"    only in service:  {_fmt_set(svc['attributes'] - tpl['attributes'])}\n"
                f"    only in template: {_fmt_set(tpl['attributes'] - svc['attributes'])}"
            )
        for index in sorted(svc["indexes"].keys() - tpl["indexes"].keys()):
            diff.append(f"table {name}: GSI {index} created by the service, missing from the template")
        for index in sorted(tpl["indexes"].keys() - svc["indexes"].keys()):
            diff.append(f"table {name}: GSI {index} in the template, not created by the service")
        for index in sorted(svc["indexes"].keys() & tpl["indexes"].keys()):
            s, t = svc["indexes"][index], tpl["indexes"][index]
            if s["keys"] != t["keys"]:
                diff.append(
                    f"table {name}: GSI {index} KeySchema differs\n"
                    f"    service:  {_fmt_keys(s['keys'])}\n    template: {_fmt_keys(t['keys'])}"
                )
            if s["projection"] != t["projection"]:
                diff.append(
                    f"table {name}: GSI {index} Projection differs\n"
                    f"    service:  {_fmt_projection(s['projection'])}\n"
                    f"    template: {_fmt_projection(t['projection'])}"
                )
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paygraph_bin", help="the service binary (runs `dynamodb describe-tables`)")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        service = service_tables(run_service(args.paygraph_bin))
        template = template_tables(args.template)
    except DescribeError as err:
        print(f"dynamodb tables: ERROR: {err}", file=sys.stderr)
        return 1
    diff = compare(service, template)
    if diff:
        print(f"dynamodb tables: MISMATCH between the service and {args.template}:", file=sys.stderr)
        for line in diff:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print(
        f"dynamodb tables: OK: {', '.join(sorted(service))} match {args.template.name} "
        "(keys, attributes, indexes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
