"""Time to compare two contract folders of 200 contracts each (compare_folders).

    .venv/bin/python bench/bench_compat.py [--contracts N] [--repeat R]

Each contract is an order-like object with a nested $ref to a shared
definition; the new folder widens or narrows a bound in every tenth one. The
baseline, measured in the same run, is loading both folders with
SchemaRegistry.from_folder (what any check must pay) and a plain json.load of
every file; the ratio says what the comparison itself costs on top.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from zeroevents_core.schemas import SchemaRegistry, compare_folders


def contract(index: int, sku_length: int) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "item"],
        "properties": {
            "id": {"type": "integer", "minimum": 0},
            "state": {"enum": ["new", "paid", "sent"]},
            "item": {"$ref": "definitions/item.json"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": sku_length}},
            f"field{index}": {"type": ["string", "null"], "format": "date-time"},
        },
    }


def make_folder(root: Path, count: int, change: bool) -> Path:
    item = {"type": "object", "properties": {"sku": {"type": "string", "pattern": "^[A-Z]+$"}}}
    (root / "definitions").mkdir(parents=True)
    (root / "definitions" / "item.json").write_text(json.dumps(item))
    for index in range(count):
        length = 8 if change and index % 10 == 0 else 16
        (root / f"events.e{index}.json").write_text(json.dumps(contract(index, length)))
    return root


def best(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        old = make_folder(Path(scratch) / "old", args.contracts, change=False)
        new = make_folder(Path(scratch) / "new", args.contracts, change=True)
        registries = (SchemaRegistry.from_folder(old), SchemaRegistry.from_folder(new))
        report = compare_folders(*registries, "FULL")
        broken = sum(r.compatible is False for r in report.reports.values())

        def read_json() -> None:
            for file in (*old.rglob("*.json"), *new.rglob("*.json")):
                json.loads(file.read_text())

        def python_meta_check() -> None:
            # What from_folder paid for every file before jsonschema-rs checked
            # the meta-schema (the pure-Python verdict now runs only on refusal).
            meta = jsonschema.Draft202012Validator(
                jsonschema.Draft202012Validator.META_SCHEMA,
                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
            )
            for file in (*old.rglob("*.json"), *new.rglob("*.json")):
                list(meta.iter_errors(json.loads(file.read_text())))

        rows = [
            ("json.loads of every file (baseline)", best(read_json, args.repeat)),
            ("pure-Python meta-schema check (before)", best(python_meta_check, args.repeat)),
            (
                "SchemaRegistry.from_folder x2 (baseline)",
                best(
                    lambda: (SchemaRegistry.from_folder(old), SchemaRegistry.from_folder(new)),
                    args.repeat,
                ),
            ),
            (
                "compare_folders FULL, registries loaded",
                best(lambda: compare_folders(*registries, "FULL"), args.repeat),
            ),
            (
                "compare_folders FULL, from the folders",
                best(lambda: compare_folders(old, new, "FULL"), args.repeat),
            ),
        ]
    base = rows[2][1]
    expected = len(range(0, args.contracts, 10))
    print(
        f"python {platform.python_version()}, {args.contracts} contracts per folder, "
        f"{broken} incompatible (expected {expected}), best of {args.repeat}"
    )
    for name, seconds in rows:
        print(f"  {name:<44} {seconds * 1000:9.1f} ms   x{seconds / base:5.2f} of from_folder")


if __name__ == "__main__":
    main()
