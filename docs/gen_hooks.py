"""MkDocs hook (``hooks:`` in mkdocs.yml): generate reference sections at build time.

A page holding one of these markers gets it replaced by generated Markdown:

- ``<!-- generated: hookspecs -->``: every ``@hookspec`` of
  ``zeroevents_core/hookspecs.py`` with its signature and docstring;
- ``<!-- generated: plugin-bases -->``: the methods of the ``Serializer``,
  ``Matcher`` and ``Transport`` base classes that a plugin implements or inherits,
  and of the Protocols a transport's sockets and pollers implement
  (``EventSocket``, ``AsyncEventSocket``, ``Poller``, ``AsyncPoller``) and an
  observer (``Observer``);
- ``<!-- generated: cli-help -->``: the ``--help`` output of ``zeroevents`` and of
  each of its subcommands, when ``zeroevents_core/cli/`` exists.

The sources are read with :mod:`ast`, not imported, so the reference is the code's
own text and the build needs no plugin loaded. A hookspec without a docstring, or a
marker left in a page, fails the build: the reference can never silently go stale
or empty. Kept dependency-free on purpose: mkdocs alone builds the site.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "zeroevents_core"
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")

# Classes whose methods make up a plugin's contract: (file, class, heading).
PLUGIN_BASES = [
    ("serializers/__init__.py", "Serializer", "zeroevents_core.Serializer"),
    ("matchers/__init__.py", "Matcher", "zeroevents_core.Matcher"),
    ("transports/__init__.py", "Transport", "zeroevents_core.Transport"),
    ("transports/__init__.py", "EventSocket", "zeroevents_core.transports.EventSocket"),
    ("transports/__init__.py", "AsyncEventSocket", "zeroevents_core.transports.AsyncEventSocket"),
    ("transports/__init__.py", "Poller", "zeroevents_core.transports.Poller"),
    ("transports/__init__.py", "AsyncPoller", "zeroevents_core.transports.AsyncPoller"),
    ("observers.py", "Observer", "zeroevents_core.observers.Observer"),
]


class GenerationError(Exception):
    """The reference cannot be generated from the sources as they are."""


def rst_to_markdown(text: str) -> str:
    """The docstring dialect of the core (reST roles, double backticks, ``::``
    literal blocks) as Markdown."""
    # :class:`~a.b.C` -> `C`; :func:`a.b` -> `a.b`; :meth:`.x` -> `x`
    text = re.sub(
        r":(?:class|func|meth|mod|attr|data|exc):`~?\.?([^`]+)`",
        lambda m: "`" + (m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1)) + "`",
        text,
    )
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    # "text::" introducing an indented literal block -> "text:" (the block stays
    # indented, which Markdown reads as code).
    text = re.sub(r"::\n\n", ":\n\n", text)
    return text


def _source(relative: str) -> ast.Module:
    path = CORE / relative
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise GenerationError(f"cannot read {path}: {exc}") from exc


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [ast.unparse(decorator) for decorator in node.decorator_list]


def hookspecs_reference() -> str:
    """One section per ``@hookspec`` function, in source order."""
    module = _source("hookspecs.py")
    sections = []
    for node in module.body:
        if not isinstance(node, ast.FunctionDef) or "hookspec" not in _decorators(node):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            raise GenerationError(f"hookspec {node.name} has no docstring")
        sections.append(
            f"### `{node.name}`\n\n"
            f"```python\n@hookimpl\n{_signature(node)}: ...\n```\n\n"
            f"{rst_to_markdown(doc)}\n"
        )
    if not sections:
        raise GenerationError("zeroevents_core/hookspecs.py declares no @hookspec")
    intro = ast.get_docstring(module) or ""
    return (
        "*Generated from `zeroevents_core/hookspecs.py` when the site is built.*\n\n"
        + rst_to_markdown(intro)
        + "\n\n"
        + "\n".join(sections)
    )


def _class_node(module: ast.Module, name: str) -> ast.ClassDef:
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise GenerationError(f"class {name} not found")


def plugin_bases_reference() -> str:
    """The public methods and class attributes of each plugin base class."""
    parts = ["*Generated from the base classes' source when the site is built.*\n"]
    documented: dict[str, str] = {}  # method name -> the first class that documents it
    for relative, class_name, heading in PLUGIN_BASES:
        cls = _class_node(_source(relative), class_name)
        # What a Protocol lists, a transport's socket or poller must have.
        protocol = any(ast.unparse(base) == "Protocol" for base in cls.bases)
        parts.append(f"### `{heading}`\n\n{rst_to_markdown(ast.get_docstring(cls) or '')}\n")
        attributes = [
            f"`{ast.unparse(node.target)}: {ast.unparse(node.annotation)}"
            + (f" = {ast.unparse(node.value)}" if node.value is not None else "")
            + "`"
            for node in cls.body
            if isinstance(node, ast.AnnAssign)
        ]
        if attributes:
            parts.append("Class attributes: " + ", ".join(attributes) + ".\n")
        rows = []
        for node in cls.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            decorators = _decorators(node)
            if protocol:
                kind = "**required**"
            else:
                kind = "**abstract**" if "abstractmethod" in decorators else "inherited"
            doc = rst_to_markdown(ast.get_docstring(node) or "").split("\n\n")[0]
            doc = " ".join(doc.split())
            if doc:
                documented.setdefault(node.name, class_name)
            elif node.name in documented:  # the asyncio mirror of a documented method
                doc = f"as `{documented[node.name]}.{node.name}`."
            args = re.sub(r"^(self|cls)(, )?", "", ast.unparse(node.args))
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            if "property" in decorators:
                returns = f": {ast.unparse(node.returns)}" if node.returns else ""
                rows.append(f"- `{node.name}{returns}` ({kind}, a property): {doc}")
                continue
            # A list, not a table: a signature's "|" needs no escape (which a code
            # span in a table cell would show) and a long one cuts no column.
            awaited = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
            rows.append(f"- `{awaited}{node.name}({args}){returns}` ({kind}): {doc}")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def _zeroevents(*args: str) -> str:
    """The output of ``zeroevents ARGS`` (``--help`` texts), run as the console script
    would run it, in a fixed terminal width so that the build is reproducible."""
    env = {**os.environ, "COLUMNS": "90", "NO_COLOR": "1"}
    code = (
        "import sys; from zeroevents_core.cli import main; "
        "sys.argv[0] = 'zeroevents'; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise GenerationError(
            f"zeroevents {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
        )
    return done.stdout.rstrip()


# argparse indents a subcommand list by two spaces; a help text that wraps onto a
# line starting with "{payload}" is indented further.
_SUBCOMMANDS = re.compile(r"^  \{([a-z0-9_,-]+)\}", re.MULTILINE)


def cli_reference() -> str:
    """``zeroevents --help`` and each subcommand's, found in argparse's ``{a,b}`` lists."""
    if not (CORE / "cli" / "__init__.py").exists():
        return (
            "*The `zeroevents` command is not in this build's sources "
            "(`zeroevents_core/cli/`), so its `--help` output is not included.*\n"
        )
    parts = ["*Generated by running each command with `--help` when the site is built.*\n"]
    pending: list[tuple[str, ...]] = [()]
    while pending:
        command = pending.pop(0)
        text = _zeroevents(*command, "--help")
        title = " ".join(("zeroevents", *command))
        parts.append(f"### `{title}`\n\n```text\n{text}\n```\n")
        found = _SUBCOMMANDS.search(text)
        if found and len(command) < 3:
            pending.extend((*command, name) for name in found.group(1).split(","))
    return "\n".join(parts)


GENERATORS = {
    "hookspecs": hookspecs_reference,
    "plugin-bases": plugin_bases_reference,
    "cli-help": cli_reference,
}


def expand(markdown: str, where: str) -> str:
    """``markdown`` with each marker replaced by its generated text."""

    def replace(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match.group(1))
        if generator is None:
            raise GenerationError(f"{where}: unknown marker {match.group(0)}")
        return generator()

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """The MkDocs event: expand the markers of each page before it is rendered."""
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown, page.file.src_uri)
    except GenerationError as exc:
        raise PluginError(f"docs/gen_hooks.py: {exc}") from exc
