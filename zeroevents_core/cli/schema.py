"""``zeroevents schema``: check a contract folder, compare two versions, export them."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommandError, SchemaError, ZeroEventsError
from ._arguments import EXIT_OK, missing_subcommand
from ._values import one_line

if TYPE_CHECKING:
    from ..schemas import SchemaRegistry
    from ..schemas.folders import FolderReport

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
    from ..schemas import SchemaRegistry, check_compatibility, compare_folders
    from ..schemas.folders import FolderReport, bundled

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


def _add_diff_arguments(parser: argparse.ArgumentParser) -> None:
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
    from ..schemas.asyncapi import export_asyncapi

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


def _add_export_parser(
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


# schema check ---------------------------------------------------------------------


def check_folder(folder: Path) -> tuple[SchemaRegistry | None, list[tuple[Path, str]]]:
    """The registry of the folder's good files and each bad file with its problem.

    The registry reads a whole folder and stops at its first bad file; to name them
    all, a copy of the folder is loaded again and again, each bad file hidden (hidden
    files are skipped) once it is named, until the rest loads.
    """
    from ..errors import ConfigurationError
    from ..schemas import SchemaRegistry

    if not folder.is_dir():
        raise CommandError(f"contract folder {folder} does not exist or is not a folder")
    try:
        return SchemaRegistry.from_folder(folder), []
    except ConfigurationError:
        pass
    bad: list[tuple[Path, str]] = []
    with tempfile.TemporaryDirectory(prefix="zeroevents-check-") as scratch:
        copy = Path(scratch) / "contracts"
        shutil.copytree(folder, copy)
        names = {
            str(copy): str(folder),
            copy.absolute().as_uri(): folder.absolute().as_uri(),
        }

        def original(text: str) -> str:
            for mine, theirs in names.items():
                text = text.replace(mine, theirs)
            return text

        while True:
            try:
                return SchemaRegistry.from_folder(copy), bad
            except ConfigurationError as error:
                message = str(error)
            candidates = [
                path
                for path in copy.rglob("*")
                if path.is_file()
                and path.suffix.lower() in (".json", ".yaml", ".yml")
                and not any(p.startswith(".") for p in path.relative_to(copy).parts)
            ]
            named = [(message.find(str(path)), -len(str(path)), path) for path in candidates]
            named = [entry for entry in named if entry[0] >= 0]
            if not named:
                bad.append((folder, original(one_line(message))))
                return None, bad
            culprit = min(named)[2]
            text = original(one_line(message))
            if any(str(earlier) in text for earlier, _ in bad):
                text = text.replace("which does not exist", "which is bad (see above)")
            elif bad and "$ref" in text:
                text += " (perhaps because of a bad file above)"
            bad.append((folder / culprit.relative_to(copy), text))
            culprit.rename(culprit.with_name("." + culprit.name))


def cmd_schema_check(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    registry, bad = check_folder(folder)
    good = registry.patterns() if registry is not None else []
    if good and registry is not None:
        contracts = [registry.contract(pattern) for pattern in good]
        sources = [Path(c.source).name if c.source else "(code)" for c in contracts]
        width = max(len(pattern) for pattern in good)
        source_width = max(len(source) for source in sources)
        print(f"{folder}: {len(good)} contract{'s' * (len(good) != 1)}")
        for pattern, contract, source in zip(good, contracts, sources, strict=True):
            mode = "argument list" if contract.mode == "arguments" else "argument 0"
            engine: str = contract.engine
            if contract.fallback_reason and engine == "jsonschema":
                engine += f" ({contract.fallback_reason})"
            print(
                f"  ok   {pattern:<{width}}  {source:<{source_width}}  "
                f"engine {engine}, describes {mode}"
            )
    elif not bad:
        print(f"{folder}: no contract (no NAME.json at the top of the folder)")
    for path, problem in bad:
        print(f"  bad  {path}: {problem}")
    if bad:
        raise CommandError(
            f"{len(bad)} bad schema file{'s' * (len(bad) != 1)} in {folder}"
            if bad[0][0] != folder
            else bad[0][1]
        )
    if args.against:
        return diff(args.against, str(folder), args.mode, args.policy, args.json)
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """The ``schema`` command and its subcommands."""
    schema = commands.add_parser(
        "schema", parents=[common], help="event contracts: check a contract folder",
        description="Event contracts (JSON Schema per event name or pattern).",
    )  # fmt: skip
    schema_commands = schema.add_subparsers(dest="schema_command", title="commands")
    check = schema_commands.add_parser(
        "check", parents=[common],
        help="load a contract folder and report each bad file",
        description="Load a contract folder as services and listeners do (--schemas DIR): "
        "print each contract's pattern, file and engine, and each bad file with its "
        "problem. Exit 1 if any file is bad.",
    )  # fmt: skip
    check.add_argument("folder", metavar="DIR", help="the contract folder")
    check.add_argument(
        "--against", metavar="OLD",
        help="also check compatibility with OLD (folder or git:REV[:path]); see 'schema diff'",
    )  # fmt: skip
    _add_diff_arguments(check)
    check.set_defaults(run=cmd_schema_check)
    diff = schema_commands.add_parser(
        "diff", parents=[common],
        help="compatibility of two contract versions (folders, files or git:REV[:path])",
        description="Compare OLD and NEW contracts under a compatibility mode, offline. "
        "Exit 0 compatible, 1 incompatible, 2 unknown or error.",
    )  # fmt: skip
    diff.add_argument("old", metavar="OLD", help="folder, file or git:REV[:path]")
    diff.add_argument("new", metavar="NEW", help="folder, file or git:REV[:path]")
    _add_diff_arguments(diff)
    diff.set_defaults(run=cmd_schema_diff)
    _add_export_parser(schema_commands, common)
    schema.set_defaults(run=lambda args: missing_subcommand(schema))
