"""``zeroevents schema diff`` / ``schema check --against`` on folders, files and git revisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ZEROEVENTS = Path(sys.executable).with_name("zeroevents")
WAIT = 120.0


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZEROEVENTS), *args], cwd=cwd, capture_output=True, text=True, timeout=WAIT, check=False
    )


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True, timeout=WAIT,
    )  # fmt: skip


def write(path: Path, schema: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema))


def make_repo(tmp_path: Path) -> Path:
    """A repository whose main has a 9-character sku, and a working tree with 5."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    contracts = repo / "contracts"
    write(contracts / "definitions" / "sku.json", {"type": "string", "maxLength": 9})
    write(contracts / "orders.created.json", {"type": "object", "properties": {
        "sku": {"$ref": "definitions/sku.json"}}})  # fmt: skip
    write(contracts / "orders.cancelled.json", {"type": "object"})
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "contracts")
    write(contracts / "definitions" / "sku.json", {"type": "string", "maxLength": 5})
    return repo


def test_git_revision_against_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = run(repo, "schema", "diff", "git:main", "contracts/")
    assert done.returncode == 1, done
    assert "MAX_LENGTH_DECREASED #/properties/sku/maxLength" in done.stdout
    forward = run(repo, "schema", "diff", "git:main", "contracts/", "--mode", "forward", "--json")
    assert forward.returncode == 0, forward
    assert json.loads(forward.stdout)["verdict"] == "compatible"


def test_git_revision_with_a_path_from_a_subfolder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "shorter sku")
    done = run(repo / "contracts", "schema", "diff", "git:HEAD~1:.", "git:HEAD:.", "--json")
    assert done.returncode == 1, done
    report = json.loads(done.stdout)
    assert report["events"]["orders.created"]["verdict"] == "incompatible"
    assert report["events"]["orders.cancelled"]["verdict"] == "compatible"


def test_added_and_removed_names_and_files(tmp_path: Path) -> None:
    write(tmp_path / "old" / "a.json", {"type": "integer"})
    write(tmp_path / "new" / "a.json", {"type": "number"})
    write(tmp_path / "new" / "b.json", {"type": "string"})
    done = run(tmp_path, "schema", "diff", "old", "new")
    assert done.returncode == 0, done
    assert "added    b" in done.stdout and "TYPE_EXTENDED" in done.stdout
    files = run(tmp_path, "schema", "diff", "new/a.json", "old/a.json")
    assert files.returncode == 1 and "TYPE_NARROWED" in files.stdout


def test_unknown_and_errors_exit_2(tmp_path: Path) -> None:
    write(tmp_path / "old" / "a.json", {"propertyNames": {"maxLength": 3}})
    write(tmp_path / "new" / "a.json", {"propertyNames": {"maxLength": 2}})
    unknown = run(tmp_path, "schema", "diff", "old", "new")
    assert unknown.returncode == 2 and "unknown" in unknown.stdout, unknown
    missing = run(tmp_path, "schema", "diff", "old", "nowhere")
    assert missing.returncode == 2 and "nowhere: no such folder or file" in missing.stdout
    not_git = run(tmp_path, "schema", "diff", "git:main", "new")
    assert not_git.returncode == 2 and "git ls-tree" in not_git.stdout


def test_check_against(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = run(repo, "schema", "check", "contracts", "--against", "git:main")
    assert done.returncode == 1, done
    assert "ok   orders.created" in done.stdout and "MAX_LENGTH_DECREASED" in done.stdout
    alone = run(repo, "schema", "check", "contracts")
    assert alone.returncode == 0, alone


def test_the_cli_mode_list_is_the_library_one() -> None:
    # The CLI keeps a copy so that building its parser does not load jsonschema.
    from zeroevents_core.cli import schema as cli_schema
    from zeroevents_core.schemas import compat

    assert cli_schema.MODES == compat.MODES
