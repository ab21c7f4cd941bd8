"""SLOW (a minute or two): the README's two commands on a fresh copy of the work tree.

``python3 scripts/install`` (what ``scripts/demo`` and ``scripts/test`` run first)
makes ``.venv`` from nothing in a copy of the tracked files, then ``scripts/demo
--short`` runs the demo there. The user's ``.venv`` gets the core with its
contracts extra and the first-party plugins, never the test plugin distribution,
which only ``scripts/test`` installs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def copy_work_tree(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_demo_command_installs_the_plugins_but_not_the_test_plugin(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git work tree to copy it")
    copy = tmp_path / "clone"
    copy_work_tree(copy)
    python3 = shutil.which("python3") or sys.executable

    def run(*args: str) -> str:
        done = subprocess.run(
            [python3, *args], cwd=copy, capture_output=True, text=True, timeout=800
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("scripts/demo", "--short")
    listed = subprocess.run(
        [str(copy / ".venv" / "bin" / "python"), "-m", "pip", "list", "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    installed = {line.split("==")[0].replace("_", "-") for line in listed.split()}
    expected = {"zeroevents-core", "zeroevents-msgpack", "zeroevents-cbor", "zeroevents-orjson"}
    assert expected <= installed, listed
    assert {"jsonschema", "jsonschema-rs"} <= installed, listed
    assert "zeroevents-testplugin" not in installed
