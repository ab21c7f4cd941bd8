"""Issue 14's kill test, counted by id: a producer fires TOTAL events through an
outbox listener and is killed with -9 at 10 random points, restarted each time (it
fires the remainder, resuming from its own record of what fire() returned); the
consumer is killed and restarted 10 times too. Every event whose fire() had returned
is fired by the consumer at least once; the duplicates are counted and printed.

With ``dedup_store`` the consumer's effect, a row of its table ``fired`` written in
the transaction that commits the event's dedup record (DedupStore.execute), is there
exactly once per event: no event missing, none twice. The listener's calls, counted
in a plain file beside it, are at least once (a consumer killed between a fire and
its commit fires it again); both counts are printed.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from procs_outbox import lines

PROCS = str(Path(__file__).with_name("procs_outbox.py"))
TOTAL = int(os.environ.get("ZEROEVENTS_OUTBOX_KILL_EVENTS", "100000"))
KILLS = 10


class Child:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, PROCS, *args], stdout=subprocess.PIPE, text=True
        )

    def kill(self) -> bool:
        """kill -9; whether it was still running (a kill, not an exit)."""
        running = self.process.poll() is None
        self.process.kill()
        self.process.wait(60)
        if self.process.stdout:
            self.process.stdout.close()
        return running and self.process.returncode == -9


def committed(store: Path) -> Counter[tuple[str, str]]:
    """The consumer's effects committed with its dedup records: (run, n) counted."""
    if not store.exists():
        return Counter()
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT run, n FROM fired").fetchall()
    except sqlite3.OperationalError:  # no table yet: nothing committed
        rows = []
    finally:
        db.close()
    return Counter((str(run), str(n)) for run, n in rows)


def grown(record: Path, by: int, *children: Child) -> None:
    """Wait until ``record`` has grown by ``by`` bytes, or one of ``children`` exited."""
    start = record.stat().st_size if record.exists() else 0
    for _ in range(3000):  # bounded: 300 s
        if any(child.process.poll() is not None for child in children):
            return
        if record.exists() and record.stat().st_size - start >= by:
            return
        time.sleep(0.1)
    raise AssertionError(f"{record} did not grow by {by} bytes in 300 s")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("dedup", [False, True], ids=["memory dedup", "dedup_store"])
def test_kill_9_producer_and_consumer_ten_times_each(tmp_path: Path, dedup: bool) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox, produced, consumed = tmp_path / "outbox.db", tmp_path / "p.txt", tmp_path / "c.txt"
    store = tmp_path / "dedup.db"
    consumer_args = ["consumer", endpoint, str(consumed)]
    consumer_args += [str(store)] if dedup else []
    rng = random.Random(f"kill-{dedup}")
    runs = 0
    effects: Counter[tuple[str, str]] | None = None

    def start_producer() -> Child:
        nonlocal runs
        runs += 1
        return Child("producer", endpoint, str(outbox), str(produced), str(TOTAL), str(runs))

    def start_consumer() -> Child:
        child = Child(*consumer_args)
        assert child.process.stdout is not None
        assert child.process.stdout.readline() == "ready\n"
        return child

    consumer, producer = start_consumer(), start_producer()
    # The producer's kills first: it fires faster than the consumer takes, and on a
    # loaded machine it finished its events before kills shuffled among the consumer's
    # came (4 of 10 landed). The consumer runs through them, then is killed in turn.
    victims = ["producer"] * KILLS + ["consumer"] * KILLS
    kills = Counter[str]()
    try:
        for victim in victims:
            # At a random point of the victim's work: once its record has grown by a
            # random number of lines (a quarter of TOTAL over the ten, on average), so
            # that each kill lands in the middle of firing or of receiving.
            grow = rng.randrange(1, TOTAL // (2 * KILLS))
            if victim == "producer":
                grown(produced, grow * len(f"{runs} {TOTAL}\n"), producer)
            else:
                grown(consumed, grow * 50, consumer, producer)
            if victim == "producer":
                kills["producer"] += producer.kill()
                producer = start_producer()
            else:
                kills["consumer"] += consumer.kill()
                consumer = start_consumer()
        # No more kills: the producer fires what is left, delivers and exits.
        for _ in range(20):  # bounded: each run exits once its close() is done
            assert producer.process.stdout is not None
            last = producer.process.stdout.read()
            producer.process.wait(300)
            if last == "left 0\n":
                break
            producer = start_producer()
        else:
            raise AssertionError("the outbox did not drain in 20 producer runs")
        returned = {(run, n) for run, n in lines(str(produced))}
        for _ in range(1200):  # bounded: 120 s for the consumer's last fires
            effects = committed(store) if dedup else None
            fired = Counter((run, n) for run, n, _ in lines(str(consumed)))
            if returned <= (fired.keys() if effects is None else effects.keys()):
                break
            time.sleep(0.1)
    finally:
        producer.kill()
        consumer.kill()
    if dedup:  # what the last consumer committed before its kill
        effects = committed(store)
    numbers = {int(n) for _, n in returned}
    missing = returned - fired.keys()
    duplicates = sum(count - 1 for count in fired.values())
    ids = {(run, n, event_id) for run, n, event_id in lines(str(consumed))}
    renumbered = len(ids) - len(fired)  # events fired under two numbers
    summary = (
        f"{'dedup_store' if dedup else 'memory dedup'}: {TOTAL} events, "
        f"{kills['producer']} producer kills, {kills['consumer']} consumer kills, "
        f"{len(returned)} fire() returned; listener calls: {len(fired)} events, "
        f"{len(missing)} missing, {duplicates} fired again, {renumbered} renumbered"
    )
    if effects is not None:
        effects_missing = returned - effects.keys()
        twice = sum(count - 1 for count in effects.values())
        summary += (
            f"; committed effects: {len(effects)} events, {len(effects_missing)} missing, "
            f"{twice} twice"
        )
    print(summary)
    assert numbers == set(range(1, TOTAL + 1))
    assert kills["producer"] >= KILLS // 2 and kills["consumer"] == KILLS
    assert missing == set()
    assert renumbered == 0  # a resent event keeps its producer id and number
    if effects is not None:  # exactly once
        assert effects_missing == set()
        assert twice == 0
