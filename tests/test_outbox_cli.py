"""``zeroevents outbox inspect`` beside a live writer, and ``zeroevents outbox drain``
toward real processes, run as the console script."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from zeroevents_core.outbox import Outbox

sys.path.insert(0, str(Path(__file__).parent))
from procs_outbox import lines

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


# ``zeroevents outbox drain``: an outbox left by a producer killed -9 before it could
# deliver, drained by the command toward a real service process, counted by id.
PROCS = str(Path(__file__).with_name("procs_outbox.py"))
FILLED = 500
ENDPOINT = "tcp://127.0.0.1:5557"  # a destination as a listener names it


def filled_outbox(tmp_path: Path, endpoint: str) -> tuple[Path, set[tuple[str, str]]]:
    """An outbox of FILLED events for ``endpoint``, where nobody listens, left by a
    producer killed -9 once fire() had returned for each; their (run, n)."""
    outbox, record = tmp_path / "outbox.db", tmp_path / "p.txt"
    producer = subprocess.Popen(
        [sys.executable, PROCS, "producer", endpoint, str(outbox), str(record), str(FILLED), "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(1200):  # bounded: 120 s
            if len(lines(str(record))) == FILLED or producer.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        producer.kill()
        producer.wait(60)
        assert producer.stdout is not None
        producer.stdout.close()
    assert producer.returncode == -9, "the producer exited before its kill"
    returned = {(run, n) for run, n in lines(str(record))}
    assert len(returned) == FILLED
    return outbox, returned


def pending_seqs(outbox: Path) -> list[int]:
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        return [seq for (seq,) in db.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        db.close()


def test_drain_delivers_what_a_killed_producer_left(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox, returned = filled_outbox(tmp_path, endpoint)
    assert pending_seqs(outbox) == list(range(1, FILLED + 1))
    consumed = tmp_path / "c.txt"
    consumer = subprocess.Popen(
        [sys.executable, PROCS, "consumer", endpoint, str(consumed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline() == "ready\n"
        done = zeroevents("outbox", "drain", str(outbox), "--timeout", "60")
    finally:
        consumer.kill()
        consumer.wait(60)
        assert consumer.stdout is not None
        consumer.stdout.close()
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"{outbox}: {endpoint}: {FILLED} delivered and acknowledged, 0 pending\n"
    )
    fired = {(run, n) for run, n, _ in lines(str(consumed))}
    assert fired == returned  # counted by id: every event the producer had fired
    assert pending_seqs(outbox) == []  # each deleted once acknowledged
    assert zeroevents("outbox", "drain", str(outbox)).stdout == f"{outbox}: nothing pending\n"


def test_drain_toward_nobody_times_out_and_keeps_every_row(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/nobody.ipc"
    outbox, _ = filled_outbox(tmp_path, endpoint)
    before = pending_seqs(outbox)
    done = zeroevents("outbox", "drain", str(outbox), "--timeout", "1")
    assert done.returncode == 1
    assert done.stdout == f"{outbox}: {endpoint}: 0 delivered and acknowledged, {FILLED} pending\n"
    assert done.stderr == (
        f"zeroevents outbox drain: error: {FILLED} events still pending after 1 s "
        f"({FILLED} for {endpoint}), kept in {outbox}: is a receiver up there? "
        "(raise --timeout)\n"
    )
    assert pending_seqs(outbox) == before


def test_drain_of_a_destination_the_file_has_not(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        outbox.append(ENDPOINT, "orders.created", [b"{}"])
    done = zeroevents("outbox", "drain", str(path), "--connect", "tcp://127.0.0.1:5999")
    assert done.returncode == 1
    assert done.stderr == (
        f"zeroevents outbox drain: error: {path} has no destination "
        f"'tcp://127.0.0.1:5999' (it has: {ENDPOINT!r})\n"
    )
    assert pending_seqs(path) == [1]
    with Outbox(path) as outbox:
        outbox.acknowledge(ENDPOINT, 1)
    done = zeroevents("outbox", "drain", str(path), "--connect", ENDPOINT)
    assert (done.returncode, done.stdout) == (0, f"{path}: nothing pending\n")


def test_drain_refuses_an_outbox_its_producer_has_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        outbox.append(ENDPOINT, "orders.created", [b"{}"])
        done = zeroevents("outbox", "drain", str(path))
    assert done.returncode == 1
    assert "is open for writing by another process" in done.stderr
    assert pending_seqs(path) == [1]
