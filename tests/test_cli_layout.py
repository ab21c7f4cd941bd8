"""The command line's layout (issue 12): one module per command, each importable
alone, and no ZeroMQ in it: the transport brings its flags and its behaviour."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "zeroevents_core" / "cli"
WAIT = 120.0


def cli_modules() -> list[str]:
    return sorted(
        "zeroevents_core.cli" + ("" if path.stem == "__init__" else f".{path.stem}")
        for path in CLI.glob("*.py")
        if path.stem != "__main__"
    )


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT, check=False
    )


def test_the_cli_is_a_package_of_one_module_per_command() -> None:
    modules = cli_modules()
    for command in ("listen", "emit", "plugins", "schema", "demo"):
        assert f"zeroevents_core.cli.{command}" in modules
    assert not (ROOT / "zeroevents_core" / "cli.py").exists()


def test_each_cli_module_imports_alone_in_a_fresh_interpreter() -> None:
    """An import circle shows as an ImportError when the module is the first one loaded."""
    modules = cli_modules()
    assert len(modules) >= 8, modules
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda module: run_python(f"import {module}"), modules))
    failed = {m: done.stderr for m, done in zip(modules, runs, strict=True) if done.returncode}
    assert failed == {}


def test_no_zmq_in_the_cli_package() -> None:
    """``grep zmq zeroevents_core/cli``: nothing (the transport's name included)."""
    assert CLI.is_dir()
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(CLI.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "zmq" in line
    ]
    assert found == []


def test_the_zmq_flags_module_loads_without_pyzmq() -> None:
    """transports/zmq/_cli.py imports neither pyzmq nor the module that does at load
    (the package root still loads the ZeroMQ transport, so this reads the imports)."""
    tree = ast.parse((ROOT / "zeroevents_core" / "transports" / "zmq" / "_cli.py").read_text())
    loaded = [
        alias.name if isinstance(node, ast.Import) else f"{'.' * node.level}{node.module}"
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert loaded and not [name for name in loaded if "zmq" in name or "security" in name]


@pytest.mark.parametrize("module", ["zeroevents_core.demo", "zeroevents_core.demo.command"])
def test_the_demo_does_not_import_the_cli(module: str) -> None:
    done = run_python(f"import sys, {module}; print('zeroevents_core.cli' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_cli_errors_live_in_errors() -> None:
    from zeroevents_core import cli, errors

    assert cli.CommandError is errors.CommandError and cli.UsageError is errors.UsageError
    assert issubclass(errors.CommandError, errors.ZeroEventsError)
    assert issubclass(errors.UsageError, errors.ZeroEventsError)


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "zeroevents_core.cli", "--help"],
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: zeroevents")


def test_no_bench_runner_in_the_shipped_package() -> None:
    """The benchmarks ship with the source repository: their runner is bench/run.py."""
    assert [p for p in CLI.rglob("*.py") if "bench" in p.read_text()] == []
    assert (ROOT / "bench" / "run.py").is_file()
