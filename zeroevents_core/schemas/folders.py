"""Compatibility of two contract folders, event name by event name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import referencing

from ..errors import SchemaError
from . import SchemaRegistry
from .compat import CompatibilityReport, Policy, check_compatibility

_VERSION = re.compile(r"^(?P<base>.+)\.v(?P<n>\d+)$")
MAX_REF_DEPTH = 256


@dataclass
class FolderReport:
    """Per event name reports, plus the names only one folder has."""

    mode: str
    reports: dict[str, CompatibilityReport] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def compatible(self) -> bool | None:
        verdicts = [report.compatible for report in self.reports.values()]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    @property
    def verdict(self) -> str:
        return {True: "compatible", False: "incompatible", None: "unknown"}[self.compatible]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "verdict": self.verdict,
            "added": self.added,
            "removed": self.removed,
            "events": {name: report.as_dict() for name, report in self.reports.items()},
        }


def bundled(registry: SchemaRegistry, pattern: str) -> Any:
    """The contract of ``pattern`` with every ``$ref`` replaced by its target.

    A recursive reference becomes the same Python object, so the result may be a
    cyclic graph; the compatibility walk stops on pairs it is already comparing.
    """
    contract = registry.contract(pattern)
    resolver = registry._registry.resolver(base_uri=contract.uri)
    done: dict[int, Any] = {}

    def inline(node: Any, resolver: Any, depth: int) -> Any:
        if depth > MAX_REF_DEPTH:
            raise SchemaError(f"contract {pattern!r}: $ref nesting deeper than {MAX_REF_DEPTH}")
        if isinstance(node, list):
            return [inline(item, resolver, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            resolved = resolver.lookup(ref)
            key = id(resolved.contents)
            if key in done:
                return done[key]
            target: dict[str, Any] = {}
            done[key] = target
            contents = inline(resolved.contents, resolved.resolver, depth + 1)
            rest = {k: inline(v, resolver, depth + 1) for k, v in node.items() if k != "$ref"}
            if isinstance(contents, dict):
                target.update(contents)
                target.update(rest)
                return target
            done[key] = contents
            return contents
        return {key: inline(value, resolver, depth + 1) for key, value in node.items()}

    return inline(contract.schema, resolver, 0)


def earlier_versions(name: str, names: set[str]) -> list[str]:
    """``orders.created.v3`` → ``orders.created``, ``orders.created.v2`` (oldest first)."""
    match = _VERSION.match(name)
    if not match:
        return []
    base, number = match["base"], int(match["n"])
    found = [base] if base in names else []
    found += [f"{base}.v{n}" for n in range(1, number) if f"{base}.v{n}" in names]
    return found


def compare_folders(
    old_dir: str | os.PathLike[str] | SchemaRegistry,
    new_dir: str | os.PathLike[str] | SchemaRegistry,
    mode: str = "BACKWARD",
    *,
    policy: Policy = "strict",
) -> FolderReport:
    """Check every event name of ``new_dir`` present in ``old_dir`` under ``mode``.

    ``$ref`` resolve inside each folder only. With a ``*_TRANSITIVE`` mode, a
    versioned name (``NAME.vN``) is also checked against ``NAME`` and every
    ``NAME.vK`` (K < N) of the old folder.
    """
    old = (
        old_dir
        if isinstance(old_dir, SchemaRegistry)
        else SchemaRegistry.from_folder(old_dir, engine="jsonschema")
    )
    new = (
        new_dir
        if isinstance(new_dir, SchemaRegistry)
        else SchemaRegistry.from_folder(new_dir, engine="jsonschema")
    )
    old_names, new_names = set(old.patterns()), set(new.patterns())
    report = FolderReport(mode=mode.upper())
    report.added = sorted(new_names - old_names)
    report.removed = sorted(old_names - new_names)
    transitive = mode.upper().endswith("_TRANSITIVE")
    for name in sorted(new_names):
        history = earlier_versions(name, old_names) if transitive else []
        if name in old_names:
            history.append(name)
        if not history:
            continue
        try:
            schemas = [bundled(old, earlier) for earlier in history]
            latest = bundled(new, name)
        except referencing.exceptions.Unresolvable as error:
            raise SchemaError(f"contract {name!r}: cannot resolve {error.ref!r}") from error
        result = check_compatibility(schemas, latest, mode, policy=policy)
        result.name = name
        report.reports[name] = result
    return report
