"""The pytest plugin ``zeroevents.testing``: its fixtures here, and real pytest runs
of small test modules (``pytester``) for its failure messages, settings and teardown."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import (
    ConfigurationError,
    Dispatcher,
    SchemaValidationError,
    ZeroEventsError,
    events,
    testing,
)
from zeroevents_core.testing import EventLink, EventRecorder

CONTRACTS = Path(__file__).parent.parent / "examples" / "contracts"
GOOD = {
    "id": 7,
    "customer": {"id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1234", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
    "created_at": "2026-11-26T12:00:00Z",
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process on the module made in ``pytester.path``, configured by
    its own ini file only (not this project's)."""
    if not (pytester.path / "tox.ini").exists():
        pytester.makeini("[pytest]\n")
    quiet = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
    return pytester.runpytest(*quiet, *args)


# --- fired, in this suite -----------------------------------------------------------


def test_fired_sees_events_that_a_listener_stops_or_breaks(fired: EventRecorder) -> None:
    def stopper(*_: object) -> bool:
        return False

    def broken() -> None:
        raise ZeroDivisionError

    events.listen("test.fired.stopped", stopper, priority=1000)
    events.listen("test.fired.broken", broken, priority=1000)
    try:
        events.fire("test.fired.stopped", 1)
        with pytest.raises(ZeroDivisionError):
            events.fire("test.fired.broken")
    finally:
        events.forget("test.fired.stopped")
        events.forget("test.fired.broken")
    assert [(e.name, e.payload) for e in fired.events] == [
        ("test.fired.stopped", (1,)),
        ("test.fired.broken", ()),
    ]
    assert (fired.events[0].headers, fired.events[0].id) == (None, None)  # v1: none


def test_fired_keeps_what_the_dispatcher_answers_but_one_none(fired: EventRecorder) -> None:
    dispatcher = Dispatcher()
    dispatcher.listen("e", lambda: "answer")
    recorder = fired.on(dispatcher)
    assert dispatcher.until("e") == "answer"
    assert dispatcher.fire("e") == [None, "answer"]  # the recorder's, first
    recorder.stop()
    assert dispatcher.fire("e") == ["answer"]
    assert len(recorder.events) == 2


def test_assertions_match_through_the_dispatchers_matcher(fired: EventRecorder) -> None:
    segments = fired.on(Dispatcher("segments"))
    segments.dispatcher.fire("orders.created.eu", {"id": 1})
    segments.dispatcher.fire("orders.shipped", {"id": 1})
    assert len(segments.assert_fired_matching("orders.#", count=2)) == 2
    segments.assert_fired_matching("orders.*", count=1)  # one segment: not .created.eu
    segments.assert_not_fired("refunds.#")
    with pytest.raises(AssertionError, match=re.escape("'orders.#' was fired 2 times")):
        segments.assert_not_fired("orders.#")
    assert segments.assert_fired("orders.shipped", payload=[{"id": 1}]).name == "orders.shipped"
    with pytest.raises(AssertionError, match="was not fired"):
        segments.assert_fired("orders.shipped", payload=[])


BILLING = Dispatcher("segments")


@pytest.mark.parametrize("fired", [BILLING], indirect=True)
def test_fired_records_the_dispatcher_given_by_indirect_parametrization(
    fired: EventRecorder,
) -> None:
    BILLING.fire("invoices.sent.eu", 1)
    events.fire("invoices.sent.us", 2)  # the default dispatcher: not this recorder's
    assert fired.dispatcher is BILLING
    assert [(e.name, e.payload) for e in fired.events] == [("invoices.sent.eu", (1,))]


def test_wait_for_an_event_fired_from_another_thread(fired: EventRecorder) -> None:
    dispatcher = Dispatcher()
    recorder = fired.on(dispatcher)
    threads = [threading.Thread(target=dispatcher.fire, args=(f"jobs.{n}", n)) for n in range(20)]
    for thread in threads:
        thread.start()
    # Whether it came already or comes later, the first match is the answer.
    assert recorder.wait_for("jobs.19").payload == (19,)
    for thread in threads:
        thread.join()
    assert len(recorder.assert_fired_matching("jobs.*", count=20)) == 20


def test_wait_for_async_lets_the_loop_run_the_task_that_fires(fired: EventRecorder) -> None:
    async def main() -> tuple[object, str]:
        async def later() -> None:
            await asyncio.sleep(0.01)
            await events.fire_async("test.fired.async", "done")

        task = asyncio.create_task(later())
        record = await fired.wait_for_async("test.fired.*")
        await task
        with pytest.raises(ZeroEventsError, match="wait_for_async"):
            fired.wait_for("test.fired.async")  # would block the loop
        with pytest.raises(AssertionError, match=re.escape("'never' was not fired within 0.01 s")):
            await fired.wait_for_async("never", timeout=0.01)
        return record.payload, record.name

    assert asyncio.run(main()) == (("done",), "test.fired.async")


def test_recorder_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_events"):
        EventRecorder(Dispatcher(), max_events=0)
    with pytest.raises(ConfigurationError, match="timeout"):
        EventRecorder(Dispatcher(), timeout=-1)


def test_the_environment_chooses_the_link_of_event_link(
    monkeypatch: pytest.MonkeyPatch, event_link: Any
) -> None:
    assert event_link().kind == "memory"
    monkeypatch.setenv("ZEROEVENTS_TEST_LINK", "ipc")
    link = event_link()
    assert (link.kind, link.endpoint[:6]) == ("ipc", "ipc://")
    link.local.fire("over.ipc", 1)
    assert link.fired.wait_for("over.ipc").payload == (1,)
    assert event_link(with_real="memory").endpoint.startswith("memory://")
    monkeypatch.setenv("ZEROEVENTS_TEST_LINK", "tcp")
    with pytest.raises(ConfigurationError, match="ZEROEVENTS_TEST_LINK='tcp'"):
        event_link()
    with pytest.raises(ConfigurationError, match="option 'with_real'"):
        event_link(with_real="tcp")


def test_the_default_link_forwards_every_event_but_the_librarys(event_link: Any) -> None:
    link = event_link()
    link.local.fire("zeroevents.push.error", "socket", "orders.created", [], None)
    link.local.fire("orders.created", 1)
    link.fired.wait_for("orders.created")
    link.fired.assert_not_fired("zeroevents.*")
    named = event_link(events="zeroevents.*")  # unless asked for
    named.local.fire("zeroevents.push.error", "socket", "orders.created", [], None)
    named.fired.wait_for("zeroevents.push.error")


@pytest.mark.parametrize("with_real", [None, "ipc"])
def test_fired_events_carry_the_headers_and_id_of_a_v2_link(
    event_link: Any, with_real: str | None
) -> None:
    v2 = event_link(wire="v2", with_real=with_real)
    v2.local.fire("orders.created", 1, headers={"tenant": "acme"})
    got = v2.fired.wait_for("orders.created")
    assert (got.payload, got.headers) == ((1,), {"tenant": "acme"})
    assert got.id
    v1 = event_link(with_real=with_real)
    v1.local.fire("orders.created", 2, headers={"tenant": "acme"})
    got = v1.fired.wait_for("orders.created")
    assert (got.payload, got.headers, got.id) == ((2,), None, None)


@pytest.mark.parametrize("taken_out", [False, True])
def test_a_bad_event_reaching_the_service_fails_the_link_unless_taken_out(
    taken_out: bool,
) -> None:
    def send_past_the_senders_check(link: EventLink) -> None:
        socket = link.listener.socket()
        socket.send_frames(socket.encode("orders.created", [{**GOOD, "id": "seven"}]))
        link.fired.wait_for("zeroevents.schema.error")
        link.fired.assert_not_fired("orders.created")

    if taken_out:
        with testing.event_link(with_real="memory", contracts=CONTRACTS) as link:
            send_past_the_senders_check(link)
            assert link.schema_errors.pop().event == "orders.created"
        return
    with (
        pytest.raises(SchemaValidationError, match=re.escape("'orders.created' breaks")),
        testing.event_link(with_real="memory", contracts=CONTRACTS) as link,
    ):
        send_past_the_senders_check(link)


def test_the_plugin_imports_nothing_heavy_at_load() -> None:
    # pytest imports it in every run of every project with zeroevents-core installed.
    code = (
        "import sys, pytest\n"
        "before = set(sys.modules)\n"
        "import _zeroevents_pytest\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["_zeroevents_pytest"]


# --- real pytest runs -----------------------------------------------------------------


def test_the_plugin_loads_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plugin(request, fired, event_link):
            plugin = request.config.pluginmanager.get_plugin("zeroevents.testing")
            assert plugin.__name__ == "_zeroevents_pytest"
        """
    )
    run(pytester).assert_outcomes(passed=1)
    refused = run(pytester, "-p", "no:zeroevents.testing")
    refused.assert_outcomes(errors=1)
    refused.stdout.fnmatch_lines(["*fixture 'fired' not found*"])


def test_assert_fired_shows_the_closest_events_and_the_payload_diff(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from zeroevents_core import events

        def test_it(fired):
            events.fire("orders.created", {"id": 2})
            events.fire("orders.shipped", {"id": 1})
            events.fire("users.signed_up", "ada")
            fired.assert_fired("orders.created", {"id": 1})
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">*fired.assert_fired(*",
            "E*AssertionError: orders.created({'id': 1}) was not fired",
            "E*closest fired events:",
            "E*  orders.created({'id': 2})",
            "E*  orders.shipped({'id': 1})",
            "E*  users.signed_up('ada')",
            "E*payload of the closest 'orders.created', expected (-) and fired (+):",
            "E*  - ({'id': 1},)",
            "E*  + ({'id': 2},)",
            "E*(3 events recorded)",
        ]
    )
    # The failure points at the test's line, not into the helpers.
    assert "zeroevents_core/testing.py" not in result.stdout.str()


def test_count_and_not_fired_messages_list_the_events(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from zeroevents_core import events

        def test_count(fired):
            for n in range(2):
                events.fire("orders.created", n)
            fired.assert_fired_matching("orders.*", count=3)

        def test_none_matched(fired):
            events.fire("orders.created", 1)
            fired.assert_fired_matching("refunds.*")

        def test_not_fired(fired):
            events.fire("orders.created", 1)
            fired.assert_not_fired("orders.*")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E*'orders.*' matched 2 fired events, expected 3:",
            "E*  orders.created(0)",
            "E*  orders.created(1)",
            "E*'refunds.*' matched no fired event (expected at least 1)",
            "E*closest fired events:",
            "E*  orders.created(1)",
            "E*'orders.*' was fired 1 time:",
            "E*  orders.created(1)",
        ]
    )


def test_wait_for_times_out_listing_what_was_fired_instead(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading
        from zeroevents_core import events

        def test_it(fired):
            thread = threading.Thread(target=events.fire, args=("orders.shipped", {"id": 1}))
            thread.start()
            thread.join()
            fired.wait_for("orders.created", timeout=0.2)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: 'orders.created' was not fired within 0.2 s",
            "E*closest fired events:",
            "E*  orders.shipped({'id': 1})",
        ]
    )


def test_recording_stops_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from zeroevents_core import Dispatcher, events

        other = Dispatcher()

        def test_records(fired):
            fired.on(other)
            events.fire("x")
            assert events.has_listeners("anything") and other.has_listeners("anything")

        def test_after():
            assert events.listeners("anything") == [] and other.listeners("anything") == []
            assert events.fire("x") == [] and other.fire("x") == []

        def test_a_new_recorder_starts_empty(fired):
            fired.assert_not_fired("x")
        """
    )
    # A fresh process: its default dispatcher has no listener but the fixture's.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_max_events_drops_the_oldest_and_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nzeroevents_max_events = 3\n")
    pytester.makepyfile(
        """
        from zeroevents_core import events

        def test_it(fired):
            for n in range(5):
                events.fire(f"e.{n}")
            assert [record.name for record in fired.events] == ["e.2", "e.3", "e.4"]
            assert fired.dropped == 2
            fired.assert_fired("e.0")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E*(3 events recorded; 2 older ones dropped past max_events=3)"])


def test_a_wrong_ini_setting_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nzeroevents_timeout = soon\n")
    pytester.makepyfile("def test_it(fired):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ini option 'zeroevents_timeout' of *: expected a number*"])


CONTRACT_TESTS = f"""
GOOD = {GOOD!r}

def test_good(event_link):
    link = event_link()
    link.local.fire("orders.created", GOOD)
    assert link.fired.wait_for("orders.created").payload == (GOOD,)

def test_bad(event_link):
    event_link().local.fire("orders.created", {{**GOOD, "id": "seven"}})
"""


@pytest.mark.parametrize("where", ["option", "ini"])
def test_configured_contracts_fail_a_test_whose_payload_breaks_them(
    pytester: pytest.Pytester, where: str
) -> None:
    pytester.makepyfile(CONTRACT_TESTS)
    if where == "ini":
        (pytester.path / "contracts").symlink_to(CONTRACTS)
        pytester.makeini("[pytest]\nzeroevents_contracts = contracts\n")
        result = run(pytester)
    else:
        result = run(pytester, "--zeroevents-contracts", str(CONTRACTS))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E*SchemaValidationError: event 'orders.created' breaks its contract*", "E*at $?0?.id*"]
    )
    # Without them, the same payload crosses.
    run(pytester, "-o", "zeroevents_contracts=").assert_outcomes(passed=2)
