"""The outbox store on real files: numbering, reading back, deletion on
acknowledgement, group commit, bounds, the process lock and the options."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from zeroevents_core.errors import ConfigurationError, OutboxError, OutboxFullError
from zeroevents_core.outbox import Outbox, check_outbox_options
from zeroevents_core.outbox.store import FRESH_ROWS

DEST = "connect tcp://127.0.0.1:5555"


def test_appends_are_numbered_and_read_back_in_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "out.db") as outbox:
        seqs = [
            outbox.append(DEST, "orders.created", [b'{"id":%d}' % n, b"x"], headers={"k": "v"})
            for n in range(5)
        ]
        other = outbox.append("connect ipc:///tmp/other", "orders.paid", [b"1"])
        rows = outbox.pending(DEST)
    assert seqs == [1, 2, 3, 4, 5]
    assert other == 1  # each destination its own stream
    assert [row.seq for row in rows] == seqs
    assert rows[2].frames == [b'{"id":2}', b"x"]
    assert rows[2].event == "orders.created"
    assert rows[2].headers == {"k": "v"}
    assert rows[2].content_type == "json"


def test_rows_survive_reopening_with_the_same_producer_id(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with Outbox(path) as outbox:
        producer = outbox.producer(DEST)
        for n in range(3):
            outbox.append(DEST, "e", [bytes([n])])
    with Outbox(path) as outbox:
        assert outbox.producer(DEST) == producer
        assert [row.frames for row in outbox.pending(DEST)] == [[b"\x00"], [b"\x01"], [b"\x02"]]
        assert outbox.append(DEST, "e", [b"next"]) == 4
        assert outbox.count == 4


def test_acknowledged_rows_are_deleted_and_numbers_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with Outbox(path) as outbox:
        for _ in range(10):
            outbox.append(DEST, "e", [b"12345"])
        outbox.acknowledge(DEST, 3, [(5, 6), (9, 400)])
        assert [row.seq for row in outbox.pending(DEST)] == [4, 7, 8]
        assert outbox.count == 3
        outbox.acknowledge(DEST, 10)
        assert outbox.count == 0
        assert outbox.bytes == 0
        assert outbox.pending(DEST) == []
    # Every row gone: a reopened outbox goes on from 11, so that the receiver's
    # duplicate suppression does not drop the next events as old ones.
    with Outbox(path) as outbox:
        assert outbox.append(DEST, "e", [b"x"]) == 11


def test_an_acknowledgement_beyond_what_was_given_moves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with Outbox(path) as outbox:
        outbox.append(DEST, "e", [b"x"])
        outbox.acknowledge(DEST, 1000)
    with Outbox(path) as outbox:
        assert outbox.append(DEST, "e", [b"x"]) == 2


def test_last_seq_is_the_last_number_given(tmp_path: Path) -> None:
    with Outbox(tmp_path / "out.db") as outbox:
        assert outbox.last_seq(DEST) == 0
        outbox.append(DEST, "e", [b"x"])
        outbox.append(DEST, "e", [b"x"])
        outbox.acknowledge(DEST, 2)
        assert outbox.last_seq(DEST) == 2


def test_pending_after_pages_through_the_stream(tmp_path: Path) -> None:
    with Outbox(tmp_path / "out.db") as outbox:
        for _ in range(25):
            outbox.append(DEST, "e", [b""])
        first = outbox.pending(DEST, limit=10)
        second = outbox.pending(DEST, after=first[-1].seq, limit=10)
    assert [row.seq for row in first] == list(range(1, 11))
    assert [row.seq for row in second] == list(range(11, 21))


def test_next_rows_hands_over_fresh_rows_and_reads_the_file_for_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        for n in range(1, 4):
            outbox.append(DEST, "e", [str(n).encode()])
    with Outbox(path) as outbox:  # 1-3 from before the restart: only in the file
        for n in range(4, FRESH_ROWS + 10):  # past the hand-over's bound
            outbox.append(DEST, "e", [str(n).encode()], headers={"n": str(n)})
        taken: list[int] = []
        for _ in range(FRESH_ROWS):  # bounded: each call takes at least one row
            rows = outbox.next_rows(DEST, taken[-1] if taken else 0, 1000)
            if not rows:
                break
            taken += [row.seq for row in rows]
        assert taken == list(range(1, FRESH_ROWS + 10))
        assert outbox.next_rows(DEST, 5, 1)[0].headers == {"n": "6"}  # from the file
        assert outbox.next_rows(DEST, FRESH_ROWS + 9, 10) == []


def test_next_rows_never_skips_the_rows_left_out_of_memory(tmp_path: Path) -> None:
    # A sender behind by more than FRESH_ROWS: rows past the bound stay only in the
    # file, and rows appended once the sender has taken some go to memory after that
    # gap. Taking them must not jump the gap (those rows would be deleted unsent).
    with Outbox(tmp_path / "outbox.db") as outbox:
        for n in range(1, FRESH_ROWS + 11):
            outbox.append(DEST, "e", [str(n).encode()])
        taken = [row.seq for row in outbox.next_rows(DEST, 0, 100)]
        for n in range(FRESH_ROWS + 11, FRESH_ROWS + 21):
            outbox.append(DEST, "e", [str(n).encode()])
        for _ in range(FRESH_ROWS):  # bounded: each call takes at least one row
            rows = outbox.next_rows(DEST, taken[-1], 1000)
            if not rows:
                break
            taken += [row.seq for row in rows]
        assert taken == list(range(1, FRESH_ROWS + 21))


def test_a_deferred_acknowledgement_is_committed_with_the_next_append(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        for _ in range(5):
            outbox.append(DEST, "e", [b"x"])
        commits = outbox.commits
        outbox.acknowledge(DEST, 3, wait=False)
        assert (outbox.commits, outbox.count_of(DEST)) == (commits, 5)  # not yet
        outbox.append(DEST, "e", [b"y"])
        assert (outbox.commits, outbox.count_of(DEST), outbox.count) == (commits + 1, 3, 3)
        assert [row.seq for row in outbox.pending(DEST)] == [4, 5, 6]


def test_appends_leave_checkpoints_to_checkpoint(tmp_path: Path) -> None:
    # Appends do not checkpoint (below WRITER_CHECKPOINT_PAGES): the rows stay in the
    # WAL, the file keeps its size, until checkpoint() (a sender's) copies them over.
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        outbox.append(DEST, "orders.created", [b"[0]"])
        assert outbox.checkpoint() is True
        before = path.stat().st_size
        for n in range(1, 3000):
            outbox.append(DEST, "orders.created", [b"[%d]" % n])
        assert path.stat().st_size == before
        assert outbox.checkpoint() is True
        assert path.stat().st_size > before
        assert [row.seq for row in outbox.pending(DEST, limit=5000)] == list(range(1, 3001))
    with Outbox(path) as reopened:
        assert reopened.count == 3000


def test_a_closed_outbox_refuses_a_checkpoint(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.close()
    with pytest.raises(OutboxError, match="is closed"):
        outbox.checkpoint()


def test_threads_firing_at_once_share_transactions(tmp_path: Path) -> None:
    # Counted, not timed: a commit per event from one thread, fewer commits than
    # events from eight (each commit fsyncs with "full", so followers pile up).
    with Outbox(tmp_path / "out.db", sync="full") as outbox:
        for _ in range(50):
            outbox.append(DEST, "e", [b"x" * 100])
        assert (outbox.commits, outbox.writes) == (50, 50)
        start = threading.Barrier(8)

        def fire() -> None:
            start.wait()
            for _ in range(100):
                outbox.append(DEST, "e", [b"x" * 100])

        threads = [threading.Thread(target=fire) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        commits = outbox.commits - 50
        assert outbox.writes == 850
        seqs = [row.seq for row in outbox.pending(DEST, limit=1000)]
    print(f"800 appends from 8 threads in {commits} commits")
    assert seqs == list(range(1, 851))
    assert commits < 800 / 2


def test_a_full_outbox_blocks_then_raises(tmp_path: Path) -> None:
    with Outbox(tmp_path / "out.db", max_events=3) as outbox:
        for _ in range(3):
            outbox.append(DEST, "e", [b"x"])
        with pytest.raises(OutboxFullError) as caught:
            outbox.append(DEST, "orders.created", [b"x"], timeout=0.05)
        message = str(caught.value)
        assert str(tmp_path / "out.db") in message
        assert "'orders.created'" in message
        assert "outbox_max_events 3" in message
        assert outbox.count == 3  # nothing was stored, nothing dropped
        assert len(outbox.pending(DEST)) == 3


def test_a_full_outbox_takes_the_event_once_an_acknowledgement_makes_room(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "out.db", max_events=2) as outbox:
        outbox.append(DEST, "e", [b"1"])
        outbox.append(DEST, "e", [b"2"])
        waiting = threading.Event()
        result: list[int] = []

        def blocked() -> None:
            waiting.set()
            result.append(outbox.append(DEST, "e", [b"3"], timeout=60))

        thread = threading.Thread(target=blocked)
        thread.start()
        waiting.wait(10)
        outbox.acknowledge(DEST, 1)
        thread.join(60)
        assert result == [3]
        assert [row.frames for row in outbox.pending(DEST)] == [[b"2"], [b"3"]]


def test_the_byte_bound(tmp_path: Path) -> None:
    with Outbox(tmp_path / "out.db", max_bytes=100) as outbox:
        outbox.append(DEST, "e", [b"x" * 50])  # 50 + 4 (length) + 1 (name)
        with pytest.raises(OutboxFullError, match="outbox_max_bytes 100"):
            outbox.append(DEST, "e", [b"x" * 50], timeout=0)
        with pytest.raises(OutboxFullError, match="more than outbox_max_bytes"):
            outbox.append(DEST, "e", [b"x" * 200], timeout=60)  # can never fit: no wait
        assert outbox.count == 1


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with Outbox(path), pytest.raises(ConfigurationError, match="open for writing by another"):
        Outbox(path)
    Outbox(path).close()  # free again once closed


def test_a_closed_outbox_refuses_appends(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "out.db")
    outbox.close()
    with pytest.raises(OutboxError, match="is closed"):
        outbox.append(DEST, "e", [b"x"])


def test_closing_wakes_an_append_waiting_for_room(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "out.db", max_events=1)
    outbox.append(DEST, "e", [b"1"])
    waiting = threading.Event()
    raised: list[BaseException] = []

    def blocked() -> None:
        waiting.set()
        try:
            outbox.append(DEST, "e", [b"2"], timeout=600)
        except OutboxError as error:
            raised.append(error)

    thread = threading.Thread(target=blocked)
    thread.start()
    waiting.wait(10)
    outbox.close()
    thread.join(60)
    assert not thread.is_alive()
    assert [type(error) for error in raised] == [OutboxError]
    assert "is closed" in str(raised[0])


def test_the_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'outbox_max_events': expected an int >= 1"):
        Outbox(tmp_path / "out.db", max_events=0)
    with pytest.raises(ConfigurationError, match="sync must be one of"):
        Outbox(tmp_path / "out.db", sync="fast")
    assert check_outbox_options({})["outbox_max_events"] == 1_000_000
    assert check_outbox_options({})["outbox_max_bytes"] == 1 << 30
    assert check_outbox_options({})["outbox_sync"] == "normal"
    good = check_outbox_options({"outbox": "/tmp/o.db", "outbox_sync": "full"})
    assert good["outbox"] == "/tmp/o.db"
    for options, message in [
        ({"outbox": 3}, "option 'outbox': expected a file path"),
        ({"outbox": ""}, "option 'outbox': expected a file path"),
        ({"dedup_store": b"x"}, "option 'dedup_store'"),
        ({"outbox_sync": "FULL"}, "option 'outbox_sync': expected 'normal' or 'full'"),
        ({"outbox_max_events": 0}, "option 'outbox_max_events': expected an int >= 1"),
        ({"outbox_max_bytes": True}, "option 'outbox_max_bytes'"),
        ({"outbox": "a.db", "dedup_store": "a.db"}, "name the same file"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            check_outbox_options(options)
