#!/usr/bin/env python3
"""Check that every environment variable and secret the service's container
gets in infra/cloudformation/service.yaml is a setting of the service's
configuration table (docs/configuration.md), so the two cannot drift: a
renamed or removed setting fails here, not in a deployment.

    python3 infra/checks/service_env_matches_config.py [template] [table]

The template is read with cfn-lint's own YAML loader (its venv comes from
infra/check), so !Ref and !Sub need no special handling.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "infra" / "cloudformation" / "service.yaml"
TABLE = ROOT / "docs" / "configuration.md"
CONTAINER = "paygraph"


def documented(table: Path) -> set[str]:
    """Every name in backticks in the first column of the table's rows."""
    names = set()
    for line in table.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def container_env(template: Path) -> set[str]:
    from cfnlint.decode import decode

    parsed, errors = decode(str(template))
    if errors or parsed is None:
        sys.exit(f"{template}: cannot parse: " + "; ".join(str(e) for e in errors or []))
    names = set()
    for resource in (parsed.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::ECS::TaskDefinition":
            continue
        for container in resource["Properties"].get("ContainerDefinitions", []):
            if container.get("Name") != CONTAINER:
                continue
            for entry in container.get("Environment", []) + container.get("Secrets", []):
                names.add(entry["Name"])
    if not names:
        sys.exit(f"{template}: no container named {CONTAINER} with an environment")
    return names


def main() -> int:
    template = Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE
    table = Path(sys.argv[2]) if len(sys.argv) > 2 else TABLE
    unknown = sorted(container_env(template) - documented(table))
    if unknown:
        print(
            f"{template.name} gives the service settings that {table.name} does not name: "
            + ", ".join(unknown),
            file=sys.stderr,
        )
        return 1
    print(f"service.yaml's {len(container_env(template))} settings are all in the configuration table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
