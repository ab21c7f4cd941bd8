"""``zeroevents schema diff`` and ``schema check --against``: contract compatibility."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SchemaError, ZeroEventsError

if TYPE_CHECKING:
    from .schemas.folders import FolderReport

EXIT_COMPATIBLE = 0
EXIT_INCOMPATIBLE = 1
EXIT_UNKNOWN = 2
GIT_PREFIX = "git:"
GIT_TIMEOUT = 60.0


class SourceError(SchemaError):
    """An OLD or NEW argument of ``schema diff`` that names no readable contract."""


def _git(*args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, check=False, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceError(f"git {' '.join(args)}: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise SourceError(f"git {' '.join(args)}: {message}")
    return done.stdout


@contextlib.contextmanager
def materialize(spec: str, default_path: str) -> Iterator[Path]:
    """A local folder or file holding ``spec``: a path, or ``git:REV[:path]``.

    A git revision is read with ``git ls-tree`` and ``git show`` into a temporary
    folder, so nothing is checked out; ``path`` defaults to the other side's path.
    """
    if not spec.startswith(GIT_PREFIX):
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"{spec}: no such folder or file")
        yield path
        return
    revision, _, inside = spec[len(GIT_PREFIX) :].partition(":")
    inside = inside or default_path
    if not revision:
        raise SourceError(f"{spec}: give a revision, as in git:main or git:HEAD~1:contracts")
    listing = _git("ls-tree", "-r", "--full-name", "--name-only", revision, "--", inside)
    root = _git("rev-parse", "--show-prefix").decode().strip()
    names = [line for line in listing.decode().splitlines() if line]
    if not names:
        raise SourceError(f"{spec}: {inside!r} does not exist at {revision}")
    with tempfile.TemporaryDirectory(prefix="zeroevents-git-") as scratch:
        base = Path(scratch) / "tree"
        for name in names:
            target = base / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git("show", f"{revision}:{name}"))
        yield base / root / inside


def _report(old: Path, new: Path, mode: str, policy: str) -> FolderReport:
    from .schemas import SchemaRegistry, check_compatibility, compare_folders
    from .schemas.folders import FolderReport, bundled

    if old.is_file() and new.is_file():
        old_reg = SchemaRegistry.from_folder(old.parent)
        new_reg = SchemaRegistry.from_folder(new.parent)
        name = new.name.removesuffix(".json")
        report = check_compatibility(
            bundled(old_reg, old.name.removesuffix(".json")),
            bundled(new_reg, name),
            mode,
            policy=policy,  # type: ignore[arg-type]
        )
        report.name = name
        folder = FolderReport(mode=report.mode)
        folder.reports[name] = report
        return folder
    if old.is_file() or new.is_file():
        raise SourceError(
            f"compare a folder with a folder or a file with a file, not {old} and {new}"
        )
    return compare_folders(old, new, mode, policy=policy)  # type: ignore[arg-type]


def diff(old_spec: str, new_spec: str, mode: str, policy: str, as_json: bool) -> int:
    """Print the comparison and return the exit status (0, 1, or 2 unknown/error)."""
    try:
        new_default = "." if new_spec.startswith(GIT_PREFIX) else new_spec
        old_default = "." if old_spec.startswith(GIT_PREFIX) else old_spec
        with materialize(old_spec, new_default) as old, materialize(new_spec, old_default) as new:
            report = _report(old, new, mode, policy)
    except ZeroEventsError as error:
        if as_json:
            print(json.dumps({"verdict": "error", "error": str(error)}))
        else:
            print(f"error: {error}")
        return EXIT_UNKNOWN
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{old_spec} -> {new_spec} ({report.mode}): {report.verdict}")
        for name in report.added:
            print(f"  added    {name}")
        for name in report.removed:
            print(f"  removed  {name}")
        for name, result in report.reports.items():
            print(f"  {result.verdict:<12} {name}")
            for difference in result.differences:
                mark = (
                    "BREAKS"
                    if difference.breaks
                    else "ok"
                    if difference.kind != "UNKNOWN"
                    else "??"
                )
                reason = f" ({difference.reason})" if difference.reason else ""
                print(f"    {mark:<6} {difference.kind} {difference.path}{reason}")
    return {True: EXIT_COMPATIBLE, False: EXIT_INCOMPATIBLE, None: EXIT_UNKNOWN}[report.compatible]


def cmd_schema_diff(args: argparse.Namespace) -> int:
    return diff(args.old, args.new, args.mode, args.policy, args.json)


# schemas.compat.MODES, repeated so that building the parser does not import jsonschema.
MODES = (
    "BACKWARD",
    "FORWARD",
    "FULL",
    "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE",
    "FULL_TRANSITIVE",
    "NONE",
)


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode", default="BACKWARD", type=str.upper, choices=MODES,
        help="BACKWARD (default): the new contract reads everything the old one accepted; "
        "FORWARD: the old reads what the new produces; FULL: both; *_TRANSITIVE: "
        "against every NAME.vN version too; NONE: no check",
    )  # fmt: skip
    parser.add_argument(
        "--policy", default="strict", choices=("strict", "lenient"),
        help="Confluent's STRICT (default) or LENIENT set of allowed changes",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON document instead")


def cmd_schema_export(args: argparse.Namespace) -> int:
    from .schemas.asyncapi import export_asyncapi

    document = export_asyncapi(
        args.folder, title=args.title, version=args.version, servers=args.server or []
    )
    if args.format == "yaml":
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as error:
            raise SourceError("--format yaml needs PyYAML (pip install pyyaml)") from error
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n" if not text.endswith("\n") else text)
    else:
        print(text)
    return EXIT_COMPATIBLE


def add_export_parser(
    commands: argparse._SubParsersAction[Any],
    common: argparse.ArgumentParser,
) -> None:
    export = commands.add_parser(
        "export", parents=[common], help="write the contracts in another format",
        description="Write the contract folder as another document format.",
    )  # fmt: skip
    formats = export.add_subparsers(dest="export_format", title="formats", required=True)
    asyncapi = formats.add_parser(
        "asyncapi", parents=[common], help="an AsyncAPI 3.0.0 document",
        description="An AsyncAPI 3.0.0 document: a channel per event name or pattern, "
        "its message with the contract as payload, send and receive operations.",
    )  # fmt: skip
    asyncapi.add_argument("folder", metavar="FOLDER", help="the contract folder")
    asyncapi.add_argument("--title", default="zeroevents contracts", help="info.title")
    asyncapi.add_argument("--version", default="1.0.0", help="info.version (default 1.0.0)")
    asyncapi.add_argument(
        "--server", action="append", metavar="NAME=URL",
        help="a server, e.g. local=tcp://127.0.0.1:5556 (repeatable)",
    )  # fmt: skip
    asyncapi.add_argument("--format", choices=("json", "yaml"), default="json")
    asyncapi.add_argument("--output", "-o", metavar="FILE", help="write there, not to stdout")
    asyncapi.set_defaults(run=cmd_schema_export)
