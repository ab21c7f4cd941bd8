"""``zeroevents outbox inspect``, run as the console script, beside a live writer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from zeroevents_core.outbox import Outbox

DEST = "connect tcp://127.0.0.1:5555"
OTHER = "connect ipc:///tmp/zeroevents-other.ipc"


def zeroevents(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from zeroevents_core.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_inspect_counts_each_destination_beside_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:  # still open for writing while the command reads
        for _ in range(7):
            outbox.append(DEST, "orders.created", [b"x" * 10])
        outbox.append(OTHER, "orders.paid", [b"y"])
        outbox.acknowledge(DEST, 2)
        text = zeroevents("outbox", "inspect", str(path))
        document = zeroevents("outbox", "inspect", str(path), "--json")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"{path}: 6 events pending, 156 bytes, 2 destinations\n")
    assert f"  {DEST}\n" in text.stdout
    assert "pending 5  bytes 140  oldest #3" in text.stdout
    assert "last #7" in text.stdout
    found = json.loads(document.stdout)
    assert (found["events"], found["bytes"]) == (6, 156)
    first, second = found["destinations"]
    assert (first["destination"], first["pending"], first["oldest_seq"]) == (DEST, 5, 3)
    assert (second["destination"], second["pending"], second["last_seq"]) == (OTHER, 1, 1)
    assert first["oldest_age_s"] >= 0


def test_inspect_refuses_a_file_that_is_not_an_outbox(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 20)
    done = zeroevents("outbox", "inspect", str(path))
    assert done.returncode == 1
    assert done.stderr == (
        f"zeroevents outbox inspect: error: {path} is not an SQLite database "
        "(its header is not SQLite's)\n"
    )
    assert path.read_text() == "not a database\n" * 20


def test_inspect_of_a_missing_file_makes_none(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    done = zeroevents("outbox", "inspect", str(path))
    assert done.returncode == 1
    assert f"outbox {path} does not exist" in done.stderr
    assert list(tmp_path.iterdir()) == []
