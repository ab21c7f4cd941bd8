"""Microseconds per validation of an order payload against the example contract
(examples/contracts: orders.created = the shared order definition by $ref, with
date-time, uuid, email formats, a pattern and an enum; plus the orders.* envelope).

    .venv/bin/python bench/bench_schemas.py [--number N]

Rows: each engine alone on the order schema (validator built once), then the
registry as the enforcement points call it (both schemas of orders.created).
"""

from __future__ import annotations

import argparse
import copy
import platform
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zeroevents_core.schemas import ENGINE_FAST, ENGINE_REFERENCE, SchemaRegistry

CONTRACTS = Path(__file__).resolve().parent.parent / "examples" / "contracts"

ORDER: dict[str, Any] = {
    "id": 42,
    "customer": {
        "id": "6f1c1e2a-8f7b-4b8a-9c55-0a4b8e9d7f10",
        "email": "ana@example.com",
        "name": "Ana",
    },
    "items": [
        {"sku": "ABC-1234", "quantity": 2, "price": 9.5},
        {"sku": "XYZ-99999", "quantity": 1, "price": 0.25},
        {"sku": "QRS-5555", "quantity": 3, "price": 4.0},
    ],
    "total": 31.25,
    "currency": "EUR",
    "created_at": "2024-05-01T10:00:00Z",
    "note": "leave at the door",
}


def per_call(func: Callable[[], object], number: int) -> float:
    """Best of five runs, in microseconds per call."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per run (fast rows)")
    args = parser.parse_args()
    fast_n, slow_n = args.number, max(args.number // 20, 200)

    registry = SchemaRegistry.from_folder(CONTRACTS)
    reference_only = SchemaRegistry.from_folder(CONTRACTS, engine=ENGINE_REFERENCE)
    contract = registry.contract("orders.created")
    payload = (ORDER,)
    bad = copy.deepcopy(ORDER)
    bad["items"][1]["quantity"] = 0
    bad["created_at"] = "yesterday"
    assert contract.verdict(ORDER, ENGINE_FAST) and contract.verdict(ORDER, ENGINE_REFERENCE)
    assert not registry.is_valid("orders.created", (bad,))

    rows = [
        (
            "jsonschema (reference), order schema",
            per_call(lambda: contract.verdict(ORDER, ENGINE_REFERENCE), slow_n),
        ),
        (
            "jsonschema-rs (fast), order schema",
            per_call(lambda: contract.verdict(ORDER, ENGINE_FAST), fast_n),
        ),
        (
            "registry.check, valid, engine=auto",
            per_call(lambda: registry.check("orders.created", payload), fast_n),
        ),
        (
            "registry.check, valid, engine=jsonschema",
            per_call(lambda: reference_only.check("orders.created", payload), slow_n),
        ),
        (
            "registry.errors, invalid (2 failures)",
            per_call(lambda: registry.errors("orders.created", (bad,)), slow_n),
        ),
        (
            "registry.check, name with no schema",
            per_call(lambda: registry.check("customers.created", payload), fast_n),
        ),
    ]
    reference, fast = rows[0][1], rows[1][1]
    print(f"python {platform.python_version()} on {platform.machine()}; best of 5 runs")
    print(f"{'case':<44}{'us/validation':>14}{'events/s':>12}")
    for name, micros in rows:
        print(f"{name:<44}{micros:>14.2f}{1e6 / micros:>12,.0f}")
    print(f"fast engine speed-up on the order schema: x{reference / fast:.0f}")


if __name__ == "__main__":
    main()
