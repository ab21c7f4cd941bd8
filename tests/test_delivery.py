"""At-least-once delivery, sans-IO (zeroevents_core.delivery): the sender's window and
the receiver's duplicate filter, alone and together over a simulated link that loses,
duplicates and reorders events and acknowledgements, and carries stale and hostile
acknowledgements. Time is passed in, so nothing here waits.
"""

from __future__ import annotations

import random
import re
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroevents_core import delivery, envelope
from zeroevents_core.delivery import Deduplicator, InFlight, SendWindow
from zeroevents_core.envelope import Ack, decode_ack, encode_ack
from zeroevents_core.errors import ConfigurationError, WindowFullError
from zeroevents_core.transports import batching

PRODUCER = bytes(16)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def no_jitter() -> float:
    return 0.0


def seqs(entries: list[InFlight[Any]]) -> list[int]:
    return [entry.seq for entry in entries]


# SendWindow -----------------------------------------------------------------------------


def test_sequence_numbers_start_at_1_and_the_window_bounds_what_is_in_flight() -> None:
    window: SendWindow[str] = SendWindow(window=3)
    assert [window.send(item, 0).seq for item in "abc"] == [1, 2, 3]
    assert window.room == 0
    with pytest.raises(WindowFullError, match=r"3 events are in flight .* option 'window'"):
        window.send("d", 0)
    assert [entry.item for entry in window.acknowledge(1)] == ["a"]
    assert window.room == 1
    assert window.send("d", 0).seq == 4  # numbers are never reused
    stats = window.stats
    assert (stats.sent, stats.acknowledged, stats.in_flight) == (4, 1, 3)


def test_acknowledgements_settle_only_numbers_in_flight() -> None:
    window: SendWindow[int] = SendWindow(window=100)
    for item in range(10):
        window.send(item, 0)
    assert seqs(window.acknowledge(0, [(3, 4), (7, 7)])) == [3, 4, 7]
    # Again, and past what was sent: nothing more.
    assert window.acknowledge(0, [(3, 4), (7, 7), (11, 2**64 - 1)]) == []
    assert seqs(window.acknowledge(5)) == [1, 2, 5]
    assert window.acknowledge(5) == []
    assert seqs(window.pending()) == [6, 8, 9, 10]
    # A cumulative number far past what was sent settles only what is in flight.
    assert seqs(window.acknowledge(2**64 - 1)) == [6, 8, 9, 10]
    assert window.stats.acknowledged == 10
    window.send(10, 0)
    assert seqs(window.pending()) == [11]  # the early acknowledgement did not cover it


def test_low_seq_is_the_lowest_number_in_flight() -> None:
    # What the outbox's sender bounds the span in flight by (next_seq - low_seq).
    window: SendWindow[int] = SendWindow(window=100, first_seq=5)
    assert (window.low_seq, window.next_seq) == (5, 5)
    for item in range(5):
        window.send(item, 0)
    window.acknowledge(0, [(6, 9)])  # 5 still in flight: the span stays 5
    assert (window.low_seq, window.next_seq) == (5, 10)
    window.acknowledge(5)
    assert window.low_seq == window.next_seq == 10


def test_the_stale_confirmation_of_the_issue_confirms_nothing_else() -> None:
    # Consumer slow once (its acknowledgement of event 1 comes after event 1 was
    # retried and later events were sent), then frozen: only event 1 is acknowledged,
    # every later one is reported failed, none is reported both or neither.
    window: SendWindow[str] = SendWindow(
        window=100, retry_after_ms=100, max_attempts=3, deliver_timeout_ms=10_000, random=no_jitter
    )
    window.send("id-1", 0)
    assert seqs(window.due(100).retransmit) == [1]
    for index in range(2, 100):
        window.send(f"id-{index}", 150)
    late = Ack(PRODUCER, 1)  # the consumer's late answer, to event 1 only
    assert [entry.item for entry in window.acknowledge(late.cumulative, late.ranges)] == ["id-1"]
    assert window.acknowledge(late.cumulative, late.ranges) == []  # and repeated
    failed: list[str] = []
    now = 150.0
    while window.pending():
        now += 50
        due = window.due(now)
        failed += [entry.item for entry in due.failed]
    assert failed == [f"id-{index}" for index in range(2, 100)]
    assert (window.stats.acknowledged, window.stats.failed) == (1, 98)


def test_retries_back_off_with_jitter_up_to_the_cap() -> None:
    # The first draw is the first retry's, the third the next first retries' (drawn
    # once those due are taken).
    draws = iter([0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0])
    window: SendWindow[str] = SendWindow(
        retry_after_ms=100,
        max_retry_after_ms=300,
        max_attempts=10,
        deliver_timeout_ms=100_000,
        random=lambda: next(draws),
    )
    entry = window.send("a", 0)
    assert entry.due_ms == 100  # jitter 0
    assert window.next_due_ms() == 100
    assert window.due(99.9) == ([], [])
    times = []
    now = 100.0
    for _ in range(4):
        assert seqs(window.due(now).retransmit) == [1]
        times.append(entry.due_ms - now)
        now = entry.due_ms
    # 200 plus half of a quarter, 300 (capped) plus a quarter, then 300, 300.
    assert times == [225, 375, 300, 300]
    assert entry.attempts == 5
    assert window.stats.retried == 4


def test_an_event_is_given_up_after_max_attempts() -> None:
    window: SendWindow[str] = SendWindow(
        retry_after_ms=10, max_attempts=3, deliver_timeout_ms=100_000, random=no_jitter
    )
    window.send("a", 0)
    assert seqs(window.due(10).retransmit) == [1]  # second send
    assert seqs(window.due(30).retransmit) == [1]  # third send
    due = window.due(70)
    assert (due.retransmit, [entry.item for entry in due.failed]) == ([], ["a"])
    assert window.pending() == []
    assert window.next_due_ms() is None
    assert window.acknowledge(1) == []  # a late acknowledgement: already reported failed


def test_an_event_is_given_up_at_deliver_timeout_ms_whatever_the_backoff() -> None:
    window: SendWindow[str] = SendWindow(
        retry_after_ms=400, max_attempts=100, deliver_timeout_ms=1000, random=no_jitter
    )
    entry = window.send("a", 0)
    window.due(400)  # next retry would be at 1200: capped at the give-up time
    assert entry.due_ms == 1000
    assert seqs(window.due(999).failed) == []
    assert seqs(window.due(1000).failed) == [1]


def test_abandon_gives_up_everything_in_flight() -> None:
    window: SendWindow[int] = SendWindow()
    for item in range(5):
        window.send(item, 0)
    window.acknowledge(0, [(2, 2)])
    assert [entry.item for entry in window.abandon()] == [0, 2, 3, 4]
    assert window.pending() == []
    assert window.due(10**9) == ([], [])
    assert (window.stats.failed, window.stats.acknowledged, window.stats.in_flight) == (4, 1, 0)


def test_first_retries_wait_their_jitter_drawn_once_for_those_due_together() -> None:
    draws = iter([1.0, 0.0, 0.0, 0.5, 0.0, 0.0])  # a and b back off by the second and third
    window: SendWindow[str] = SendWindow(
        retry_after_ms=100, deliver_timeout_ms=100_000, random=lambda: next(draws)
    )
    window.send("a", 0)
    window.send("b", 10)
    window.send("c", 30)
    assert window.next_due_ms() == 125  # 100 plus a quarter (the draw 1.0)
    assert window.due(124.9) == ([], [])
    assert seqs(window.due(135).retransmit) == [1, 2]  # both by the same draw
    assert window.next_due_ms() == 142.5  # c: the next draw (0.5)
    assert seqs(window.due(142.5).retransmit) == [3]


def test_acknowledged_timers_do_not_pile_up() -> None:
    window: SendWindow[int] = SendWindow(window=10)
    for item in range(100_000):
        window.send(item, 0)
        window.acknowledge(item + 1)
        if item % 7 == 0:  # and some retransmitted, then acknowledged
            window.send(-item, 0)
            window.due(10**6)
            window.acknowledge(window.next_seq - 1)
    assert len(window._fresh) <= 2 * 1 + 64 + 1  # compacted as it goes
    assert len(window._timers) <= 2 * 1 + 64 + 1


@pytest.mark.parametrize(
    "key", ["window", "retry_after_ms", "max_retry_after_ms", "max_attempts", "deliver_timeout_ms"]
)
@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True])
def test_send_window_options_are_checked(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"option '{key}' must be an int >= 1"):
        SendWindow(**{key: value})


# Deduplicator ---------------------------------------------------------------------------


def test_first_deliveries_pass_duplicates_do_not() -> None:
    dedup = Deduplicator(dedup_window=8)
    assert [dedup.seen(PRODUCER, seq) for seq in (1, 2, 2, 5, 3, 5, 1)] == [
        False, False, True, False, False, True, True
    ]  # fmt: skip
    assert dedup.seen(b"another producer", 1) is False  # per producer
    assert dedup.stats.duplicates == 3


def test_after_an_unbroken_run_the_bitmap_is_whole() -> None:
    # The common case keeps no bitmap (it would shift dedup_window bits per event):
    # it is implied, and the numbers after a gap see it as if it had been kept.
    dedup = Deduplicator(dedup_window=8)
    for seq in range(1, 21):
        assert dedup.seen(PRODUCER, seq) is False
    assert [dedup.seen(PRODUCER, seq) for seq in (20, 13, 12, 23, 22, 22, 21, 24)] == [
        True, True, True, False, False, True, False, False
    ]  # fmt: skip
    state = dedup._producers[PRODUCER]
    assert (state.top, state.contiguous, dedup.bitmap(state)) == (24, 24, 0xFF)
    fresh = Deduplicator(dedup_window=8)
    fresh.seen(PRODUCER, 1)
    fresh.seen(PRODUCER, 2)
    assert fresh.bitmap(fresh._producers[PRODUCER]) == 0b11


def test_numbers_older_than_the_window_are_passed_not_dropped() -> None:
    dedup = Deduplicator(dedup_window=4)
    for seq in (1, 2, 10):
        assert dedup.seen(PRODUCER, seq) is False
    assert dedup.seen(PRODUCER, 7) is False  # inside the window (7..10), first time
    assert dedup.seen(PRODUCER, 7) is True
    assert dedup.seen(PRODUCER, 3) is False  # outside: maybe a duplicate, never a loss
    assert dedup.stats.too_old == 1
    # Outside too, but every number up to it was seen: certainly a duplicate.
    assert dedup.seen(PRODUCER, 2) is True
    assert dedup.stats.too_old == 1
    assert dedup.seen(PRODUCER, 2**64 - 1) is False  # a jump past the window
    assert dedup.seen(PRODUCER, 10) is False


def test_acks_carry_the_run_from_1_and_ranges_to_each_reply_to() -> None:
    dedup = Deduplicator()
    for seq in (1, 2, 3, 5, 6, 9):
        dedup.seen(PRODUCER, seq, reply_to=b"peer-a")
    dedup.seen(b"p" * 16, 4, reply_to=b"peer-b")
    assert dedup.acks() == [
        (b"peer-a", Ack(PRODUCER, 3, ((5, 6), (9, 9)))),
        (b"peer-b", Ack(b"p" * 16, 0, ((4, 4),))),
    ]
    assert dedup.acks() == []
    dedup.seen(PRODUCER, 4, reply_to=b"peer-c")  # fills the gap: the run reaches 6
    assert dedup.acks() == [(b"peer-c", Ack(PRODUCER, 6, ()))]
    dedup.seen(PRODUCER, 2, reply_to=b"peer-c")  # a duplicate is acknowledged again
    assert dedup.acks() == [(b"peer-c", Ack(PRODUCER, 6, ()))]


def test_full_pending_ranges_ask_for_acks_now() -> None:
    dedup = Deduplicator(max_pending_ranges=3)
    for seq in (2, 4, 6):
        dedup.seen(PRODUCER, seq)
    assert dedup.ack_due
    dedup.seen(PRODUCER, 8)  # not recorded: the producer retransmits it, then it is
    assert dedup.stats.unrecorded == 1
    assert dedup.acks() == [(None, Ack(PRODUCER, 0, ((2, 2), (4, 4), (6, 6))))]
    assert not dedup.ack_due
    assert dedup.seen(PRODUCER, 8) is True
    assert dedup.acks() == [(None, Ack(PRODUCER, 0, ((8, 8),)))]


def test_acks_are_due_every_ack_every_events() -> None:
    dedup = Deduplicator(ack_every=3)
    dedup.seen(PRODUCER, 1)
    dedup.seen(PRODUCER, 1)  # a duplicate waits for its acknowledgement too
    assert not dedup.ack_due
    dedup.seen(b"p" * 16, 1)
    assert dedup.ack_due
    assert len(dedup.acks()) == 2
    assert not dedup.ack_due
    dedup.seen(PRODUCER, 2)
    assert not dedup.ack_due


def test_the_least_recently_heard_producer_is_forgotten_first() -> None:
    dedup = Deduplicator(max_producers=2)
    a, b, c = b"a" * 16, b"b" * 16, b"c" * 16
    dedup.seen(a, 1)
    dedup.seen(b, 1)
    dedup.seen(a, 2)  # a heard last: b goes first
    dedup.seen(c, 1)
    assert dedup.stats.evicted == 1
    assert dedup.seen(a, 1) is True
    assert dedup.seen(b, 1) is False  # forgotten: passed again
    assert [ack.producer for _, ack in dedup.acks()] == [a, b]  # c was evicted by b


@pytest.mark.parametrize(
    "key", ["dedup_window", "max_producers", "max_pending_ranges", "ack_every"]
)
def test_deduplicator_options_are_checked(key: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"option '{key}' must be an int >= 1"):
        Deduplicator(**{key: 0})


@settings(max_examples=300, deadline=None)
@given(
    window=st.integers(1, 70),
    deliveries=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 200)), max_size=400),
)
def test_dedup_against_a_model(window: int, deliveries: list[tuple[int, int]]) -> None:
    dedup = Deduplicator(dedup_window=window)
    seen: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    top = dict.fromkeys(seen, 0)
    for producer, seq in deliveries:
        duplicate = dedup.seen(bytes([producer]) * 16, seq)
        first = seq not in seen[producer]
        top[producer] = max(top[producer], seq)
        if first:
            assert not duplicate, "a first delivery dropped"
        elif top[producer] - seq < window:
            assert duplicate, "a duplicate inside the window passed"
        seen[producer].add(seq)


def test_memory_stays_bounded_under_hostile_producers_and_numbers() -> None:
    rng = random.Random(7)
    dedup = Deduplicator(max_producers=64)

    def hostile(count: int) -> int:
        tracemalloc.start()
        for _ in range(count):
            producer = rng.randbytes(16) if rng.random() < 0.5 else bytes([rng.randrange(64)]) * 16
            dedup.seen(producer, rng.randrange(1, 2**64))
            if rng.random() < 0.001:
                dedup.acks()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    first = hostile(20_000)
    later = hostile(100_000)
    assert dedup.stats.producers == 64
    # 64 producers of a 4096-bit map and 64 ranges each: well under 2 MB, and no growth.
    assert first < 2_000_000
    assert later < 2_000_000


def test_the_documented_defaults_are_the_code_s() -> None:
    page = DOCS.read_text()
    section = "".join(
        page.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
        for title in ("Delivery (wire v2)", "Batched mode (wire v2)")
    )
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", section, re.MULTILINE))
    constants = {**vars(delivery), **vars(envelope), **vars(batching)}
    for key, value in rows.items():
        if key in ("wire", "delivery"):
            continue
        assert constants[f"DEFAULT_{key.upper()}"] == int(value), key
    assert set(rows) >= {"window", "retry_after_ms", "max_attempts", "deliver_timeout_ms"}


# Both ends over a simulated link --------------------------------------------------------


class Link:
    """A lossy link: each message may be lost, duplicated, and delivered out of order."""

    def __init__(self, rng: random.Random, loss: float, duplicate: float, reorder: bool) -> None:
        self.rng, self.loss, self.duplicate, self.reorder = rng, loss, duplicate, reorder
        self.queue: list[Any] = []

    def send(self, message: Any) -> None:
        if self.rng.random() >= self.loss:
            self.queue.append(message)
            if self.rng.random() < self.duplicate:
                self.queue.append(message)

    def take(self) -> list[Any]:
        if self.reorder:
            self.rng.shuffle(self.queue)
        count = self.rng.randint(0, len(self.queue))
        taken, self.queue = self.queue[:count], self.queue[count:]
        return taken


class Receiver:
    """One receiving process: its duplicate filter and what it received and fired."""

    def __init__(self, dedup_window: int) -> None:
        self.dedup = Deduplicator(dedup_window=dedup_window, max_pending_ranges=8)
        self.received: set[int] = set()
        self.fired: Counter[int] = Counter()

    def take(self, seq: int) -> bool:
        self.received.add(seq)
        fire = not self.dedup.seen(PRODUCER, seq, reply_to=self)
        if fire:
            self.fired[seq] += 1
        # A duplicate passes only when older than the window (never at 4096 here).
        duplicates = self.fired.total() - len(self.fired)
        assert duplicates <= self.dedup.stats.too_old, "duplicate fired"
        return fire

    def acks(self) -> list[list[bytes]]:
        out = []
        for reply_to, ack in self.dedup.acks():
            assert reply_to is self
            # Truthful: only numbers this receiver received.
            claimed = set(range(1, ack.cumulative + 1))
            for first, last in ack.ranges:
                claimed |= set(range(first, last + 1))
            assert claimed <= self.received, "acknowledged what it did not receive"
            out.append(encode_ack(ack))  # through the real bytes
        return out


@settings(max_examples=200, deadline=None)
@given(
    events=st.integers(1, 300),
    window=st.integers(1, 64),
    receivers=st.integers(1, 2),
    loss=st.floats(0, 0.6),
    duplicate=st.floats(0, 0.5),
    reorder=st.booleans(),
    hostile=st.floats(0, 0.5),
    restarts=st.floats(0, 0.02),
    dedup_window=st.sampled_from([8, 64, 4096]),
    seed=st.integers(0, 2**32),
)
def test_every_event_is_acknowledged_once_or_reported_failed(
    events: int,
    window: int,
    receivers: int,
    loss: float,
    duplicate: float,
    reorder: bool,
    hostile: float,
    restarts: float,
    dedup_window: int,
    seed: int,
) -> None:
    # One producer; one receiver, or two taking the events in turn (a DEALER's
    # round-robin: a retransmission may reach the other one). Receivers are killed
    # and restarted empty at random.
    rng = random.Random(seed)
    sender: SendWindow[int] = SendWindow(
        window=window,
        retry_after_ms=20,
        max_retry_after_ms=160,
        max_attempts=8,
        deliver_timeout_ms=2000,
        random=rng.random,
    )
    alive = [Receiver(dedup_window) for _ in range(receivers)]
    every_receiver = list(alive)
    to_receivers, to_sender = (Link(rng, loss, duplicate, reorder) for _ in range(2))
    fired_ever: set[int] = set()
    acknowledged: Counter[int] = Counter()
    failed: set[int] = set()
    settled_seqs: set[int] = set()
    next_item, now, turn = 0, 0.0, 0

    for _ in range(100_000):
        while next_item < events and sender.room and rng.random() < 0.8:
            to_receivers.send(sender.send(next_item, now).seq)
            next_item += 1
        if rng.random() < restarts:  # kill -9 of a receiver: its state is gone
            killed = rng.randrange(receivers)
            alive[killed] = Receiver(dedup_window)
            every_receiver.append(alive[killed])
        for seq in to_receivers.take():
            receiver = alive[turn % receivers]
            turn += 1
            if receiver.take(seq):
                fired_ever.add(seq)
            if receiver.dedup.ack_due:
                for frames in receiver.acks():
                    to_sender.send(frames)
        for receiver in alive:
            for frames in receiver.acks():
                to_sender.send(frames)
        if rng.random() < hostile:  # stale or forged: numbers settled, or never sent
            settled = sorted(settled_seqs)
            ranges = [(s, s) for s in rng.sample(settled, min(3, len(settled)))]
            ranges += [(events + 1, events + rng.randint(1, 10)), (2**64 - 1, 2**64 - 1)]
            run = 0
            while run + 1 in settled_seqs:
                run += 1
            to_sender.send(encode_ack(Ack(PRODUCER, run, tuple(ranges))))
        for frames in to_sender.take():
            ack = decode_ack(frames)
            for entry in sender.acknowledge(ack.cumulative, ack.ranges):
                acknowledged[entry.item] += 1
                settled_seqs.add(entry.seq)
                assert entry.seq in fired_ever, f"event {entry.item} acknowledged, never fired"
        now += rng.choice([1, 5, 20])
        due = sender.due(now)
        for entry in due.retransmit:
            to_receivers.send(entry.seq)
        for entry in due.failed:
            failed.add(entry.item)
            settled_seqs.add(entry.seq)
        if next_item == events and not sender.pending():
            break
    else:
        raise AssertionError("not settled: the give-up rules are not bounding the run")

    received = set().union(*(receiver.received for receiver in every_receiver))
    assert received <= fired_ever, "a first delivery dropped"
    if dedup_window >= 4096:
        assert all(receiver.dedup.stats.too_old == 0 for receiver in every_receiver)
    assert max(acknowledged.values(), default=1) == 1, "acknowledged twice"
    assert not set(acknowledged) & failed, "acknowledged and failed"
    assert set(acknowledged) | failed == set(range(events)), "neither acknowledged nor failed"
    stats = sender.stats
    assert (stats.sent, stats.acknowledged + stats.failed, stats.in_flight) == (
        events,
        events,
        0,
    )
    if loss == 0 and not restarts and dedup_window >= 4096:
        assert not failed  # nothing lost: everything acknowledged in time
