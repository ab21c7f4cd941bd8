"""The installed ``zeroevents`` script, run as a subprocess (issue 7).

Every test runs the console script that pip installed next to this interpreter,
never the functions behind it: what is tested is what a user types. Endpoints are
ipc under tmp_path or tcp on 127.0.0.1 with a port the listener picked (its
``listening on`` line on stderr says which). Each process started here is killed at
teardown, and every wait is bounded.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ZEROEVENTS = Path(sys.executable).parent / ("zeroevents.exe" if os.name == "nt" else "zeroevents")
ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "examples" / "contracts"
# Generous: each run starts a fresh interpreter on a possibly busy 2-core machine.
WAIT = 60.0

pytestmark = pytest.mark.skipif(not ZEROEVENTS.exists(), reason="zeroevents is not installed")


class Running:
    """A ``zeroevents`` process whose stdout and stderr are read line by line."""

    def __init__(self, args: list[str], stdin: str | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [str(ZEROEVENTS), *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._err_lines: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out, None)),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.err, self._err_lines)
            ),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        if stdin is not None:
            assert self.process.stdin is not None
            writer = threading.Thread(target=self._write, args=(stdin,), daemon=True)
            writer.start()

    def _read(self, stream: Any, lines: list[str], copy: queue.Queue[str] | None) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if copy is not None:
                copy.put(line)
        stream.close()

    def _write(self, text: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(text)
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def ready(self) -> str:
        """Wait for the ``listening on EP`` line; return the endpoint."""
        while True:
            try:
                line = self._err_lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"{self.args}: not listening within {WAIT} s") from None
            found = re.search(r"listening on (\S+) \(", line)
            if found:
                return found.group(1)
            if self.process.poll() is not None and self._err_lines.empty():
                raise AssertionError(f"{self.args} ended early: {self.err}")

    def finish(self, timeout: float = WAIT) -> int:
        """The exit status, once the process and its readers are done."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.args} still running after {timeout} s") from None
        for reader in self._readers:
            reader.join(timeout)
        return code

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out]


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """Start ``zeroevents ARGS...`` in the background; killed at teardown if still running."""
    started: list[Running] = []

    def run(*args: str, stdin: str | None = None) -> Running:
        running = Running(list(args), stdin)
        started.append(running)
        return running

    yield run
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait(10)
        for stream in (running.process.stdout, running.process.stderr, running.process.stdin):
            if stream is not None and not stream.closed:
                stream.close()


def zeroevents(*args: str, stdin: str | None = None, timeout: float = WAIT) -> Any:
    """Run ``zeroevents ARGS...`` to its end (bounded); the CompletedProcess."""
    return subprocess.run(
        [str(ZEROEVENTS), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(stderr: str) -> str:
    """The command's one-line error: a single stderr line, and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zeroevents"), stderr
    return lines[0]


def bind_address(transport: str, ipc: Callable[[str], str]) -> str:
    return ipc("events") if transport == "ipc" else "tcp://127.0.0.1:*"


# listen + emit across processes -------------------------------------------------------


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_emit_reaches_listen(
    start: Callable[..., Running], ipc: Callable[[str], str], transport: str, serializer: str
) -> None:
    listen = start(
        "listen", "--bind", bind_address(transport, ipc), "--serializer", serializer,
        "--count", "3", "--timeout", str(WAIT),
    )  # fmt: skip
    endpoint = listen.ready()
    assert endpoint.startswith(f"{transport}://")
    arguments = ['{"id": 1, "items": [1, 2.5, null, true]}', "42", '"text"']
    if serializer == "msgpack":
        arguments.append('{"$bytes": "AAEC/w=="}')  # bytes survive the trip both ways
    done = zeroevents("emit", "--connect", endpoint, "--serializer", serializer,
                      "orders.created", *arguments)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = '{"event": "orders.shipped"}\n{"event": "ünïcode.événement", "payload": ["ü"]}\n'
    done = zeroevents("emit", "--connect", endpoint, "--serializer", serializer, "-", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert listen.finish() == 0, listen.err
    expected_first: list[Any] = [{"id": 1, "items": [1, 2.5, None, True]}, 42, "text"]
    if serializer == "msgpack":
        expected_first.append({"$bytes": "AAEC/w=="})
    assert listen.events() == [
        {"event": "orders.created", "payload": expected_first},
        {"event": "orders.shipped", "payload": []},
        {"event": "ünïcode.événement", "payload": ["ü"]},
    ]


def test_patterns_filter_with_the_dispatchers_matcher(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    # PUSH/PULL: the events after the third are sent, not taken (a DEALER emit says so).
    listen = start(
        "listen", "--bind", ipc("p"), "orders.*", "*.audit", "--count", "3",
        "--socket-type", "pull",
    )  # fmt: skip
    endpoint = listen.ready()
    names = ["orders.created", "users.created", "orders.a.b", "x.audit", "orders"]
    lines = "".join(json.dumps({"event": name, "payload": [name]}) + "\n" for name in names)
    emit = zeroevents("emit", "--connect", endpoint, "--socket-type", "push", "-", stdin=lines)
    assert emit.returncode == 0
    assert listen.finish() == 0, listen.err
    assert [e["event"] for e in listen.events()] == ["orders.created", "orders.a.b", "x.audit"]


def test_confirmed_dealer_to_router(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    listen = start(
        "listen", "--bind", ipc("router"), "--socket-type", "router", "--confirmed",
        "--count", "2", "--serializer", "msgpack",
    )  # fmt: skip
    endpoint = listen.ready()
    for payload in ('{"n": 1}', '{"n": 2}'):
        done = zeroevents(
            "emit", "--connect", endpoint, "--socket-type", "dealer", "--confirmed",
            "--serializer", "msgpack", "confirmed.event", payload,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert listen.finish() == 0, listen.err
    events = listen.events()
    assert [(e["event"], e["payload"]) for e in events] == [
        ("confirmed.event", [{"n": 1}]),
        ("confirmed.event", [{"n": 2}]),
    ]
    # The ROUTER's peer id of each sender, base64 (two processes, two ids).
    addresses = [base64.b64decode(e["address"], validate=True) for e in events]
    assert all(addresses) and addresses[0] != addresses[1]


def test_confirmed_without_an_answer_fails(ipc: Callable[[str], str]) -> None:
    done = zeroevents(
        "emit", "--connect", ipc("nobody"), "--socket-type", "dealer", "--confirmed",
        "--timeout", "0.5", "lonely", "1",
    )  # fmt: skip
    assert done.returncode == 1
    assert "no receiver on " in one_error_line(done.stderr)
    assert "within 0.5 s" in one_error_line(done.stderr)


@pytest.mark.parametrize(("emitter", "listener"), [("dealer", "router"), ("pair", "pair")])
def test_unconfirmed_reply_sockets_end_with_a_flush(
    start: Callable[..., Running], ipc: Callable[[str], str], emitter: str, listener: str
) -> None:
    listen = start("listen", "--bind", ipc(listener), "--socket-type", listener, "--count", "50")
    endpoint = listen.ready()
    lines = "".join(json.dumps({"event": "n", "payload": [i]}) + "\n" for i in range(50))
    done = zeroevents("emit", "--connect", endpoint, "--socket-type", emitter, "-", stdin=lines)
    assert done.returncode == 0, done.stderr  # the listener answered the closing barrier
    assert listen.finish() == 0, listen.err
    assert [e["payload"] for e in listen.events()] == [[i] for i in range(50)]


def test_pub_to_sub_after_the_settle_delay(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    listen = start("listen", "--bind", ipc("sub"), "--socket-type", "sub", "--count", "1")
    endpoint = listen.ready()
    done = zeroevents(
        "emit", "--connect", endpoint, "--socket-type", "pub", "--settle", "1", "news", '"hi"'
    )
    assert done.returncode == 0, done.stderr
    assert listen.finish() == 0, listen.err
    assert listen.events() == [{"event": "news", "payload": ["hi"]}]


def test_ten_thousand_events_from_stdin_arrive_in_order(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    count = 10_000
    listen = start("listen", "--bind", ipc("many"), "--count", str(count), "--timeout", "30")
    endpoint = listen.ready()
    lines = "".join(
        json.dumps({"event": f"seq.{i % 7}", "payload": [i, {"i": i}]}) + "\n" for i in range(count)
    )
    done = zeroevents("emit", "--connect", endpoint, "-", stdin=lines, timeout=120)
    assert done.returncode == 0, done.stderr
    assert listen.finish(120) == 0, listen.err
    events = listen.events()
    assert len(events) == count
    assert events == [{"event": f"seq.{i % 7}", "payload": [i, {"i": i}]} for i in range(count)]


def test_listen_output_feeds_emit(start: Callable[..., Running], ipc: Callable[[str], str]) -> None:
    """``listen | emit -`` relays: listen's lines (address included) are emit's input."""
    final = start("listen", "--bind", ipc("final"), "--serializer", "cbor", "--count", "2")
    final_endpoint = final.ready()
    first = start(
        "listen", "--bind", ipc("first"), "--socket-type", "router", "--count", "2",
        "--serializer", "msgpack",
    )  # fmt: skip
    first_endpoint = first.ready()
    for payload in ('{"$bytes": "3q2+7w=="}', "[1, 2]"):
        done = zeroevents(
            "emit", "--connect", first_endpoint, "--socket-type", "dealer",
            "--serializer", "msgpack", "r", payload,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert first.finish() == 0, first.err
    relayed = zeroevents(
        "emit", "--connect", final_endpoint, "--serializer", "cbor", "-",
        stdin="\n".join(first.out) + "\n",
    )  # fmt: skip
    assert relayed.returncode == 0, relayed.stderr
    assert final.finish() == 0, final.err
    assert final.events() == [
        {"event": "r", "payload": [{"$bytes": "3q2+7w=="}]},
        {"event": "r", "payload": [[1, 2]]},
    ]


# Ending listen ------------------------------------------------------------------------


def test_listen_format_and_emit_count_text_and_lines(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    template = "{event}|{payload}|{size}|{address}|{headers}|{time}"
    listen = start("listen", "--bind", ipc("f"), "--socket-type", "router", "--count", "6",
                   "--format", template)  # fmt: skip
    endpoint = listen.ready()
    sent = zeroevents("emit", "--connect", endpoint, "--socket-type", "dealer",
                      "--count", "3", "tick.{n}", '{"n": {n}}')  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    sent = zeroevents("emit", "--connect", endpoint, "--socket-type", "dealer",
                      "--text", "said", "a b", "{n}")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    sent = zeroevents("emit", "--connect", endpoint, "--socket-type", "dealer",
                      "--lines", "line", stdin='plain text, no quotes\n\n{"x": 1}\n')  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert listen.finish() == 0, listen.err
    rows = [line.split("|") for line in listen.out]
    assert [(r[0], json.loads(r[1])) for r in rows] == [
        ("tick.1", [{"n": 1}]),
        ("tick.2", [{"n": 2}]),
        ("tick.3", [{"n": 3}]),
        ("said", ["a b", "{n}"]),
        ("line", ["plain text, no quotes"]),
        ("line", ['{"x": 1}']),
    ]
    # size: the name frame and one frame per argument; address: the DEALER's id
    assert int(rows[0][2]) == len(b"tick.1") + len(b'{"n":1}')
    assert all(base64.b64decode(r[3]) and r[4] == "{}" for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", r[5]) for r in rows)


def test_listen_raw_prints_each_argument_frame_undecoded(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    listen = start("listen", "--bind", ipc("r"), "--count", "2", "--raw")
    endpoint = listen.ready()
    lines = '{"event": "a", "payload": [{"id": 1}, "x"]}\n{"event": "b"}\n'
    assert zeroevents("emit", "--connect", endpoint, "-", stdin=lines).returncode == 0
    assert listen.finish() == 0, listen.err
    assert listen.out == ['{"id":1}', '"x"']  # one frame per argument; b has none


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["listen", "--format", "{nope}"], None, "unknown field {nope}; known: {event}"),
        (["listen", "--format", "{event"], None, "--format '{event'"),
        (["listen", "--raw", "--format", "{event}"], None, "not allowed with argument"),
        (["emit", "--count", "2", "-"], "", "EVENT '-' reads JSON lines"),
        (["emit", "--lines", "e", "1"], "", "--lines sends each stdin line"),
        (["emit", "--count", "0", "e"], None, "--count"),
    ],
)
def test_format_and_count_usage_errors(
    ipc: Callable[[str], str], args: list[str], stdin: str | None, expected: str
) -> None:
    where = "--bind" if args[0] == "listen" else "--connect"
    done = zeroevents(args[0], where, ipc("u"), *args[1:], stdin=stdin)
    assert done.returncode == 2, done.stderr
    assert expected in one_error_line(done.stderr)


def test_count_stops_listen_after_n_events(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    listen = start("listen", "--bind", ipc("count"), "--count", "2")
    endpoint = listen.ready()
    lines = "".join(json.dumps({"event": f"e{i}", "payload": []}) + "\n" for i in range(3))
    zeroevents("emit", "--connect", endpoint, "--timeout", "2", "-", stdin=lines)
    assert listen.finish() == 0, listen.err
    assert [e["event"] for e in listen.events()] == ["e0", "e1"]


def test_timeout_with_nothing_received_exits_1(ipc: Callable[[str], str]) -> None:
    done = zeroevents("listen", "--bind", ipc("quiet"), "--timeout", "0.3")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if "listening on" not in line]
    assert lines == ["zeroevents listen: error: nothing received within 0.3 s"]


def test_timeout_after_fewer_than_count_exits_1(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    # emit binds and waits for the listener, so the listener's short timeout only
    # starts counting once it is connected and has the event.
    endpoint = ipc("few")
    emit = start("emit", "--bind", endpoint, "--timeout", str(WAIT), "only.one")
    listen = zeroevents("listen", "--connect", endpoint, "--count", "5", "--timeout", "1")
    assert listen.returncode == 1
    assert [json.loads(line)["event"] for line in listen.stdout.splitlines()] == ["only.one"]
    assert listen.stderr.splitlines()[-1] == (
        "zeroevents listen: error: received 1 of 5 events: nothing more within 1 s"
    )
    assert emit.finish() == 0, emit.err


@pytest.mark.parametrize("delay", [0.05, 0.08, 0.1, 0.15, 0.2, 0.3])
def test_ctrl_c_while_starting_prints_no_traceback(ipc: Callable[[str], str], delay: float) -> None:
    # While the package imports (the first 0.1-0.3 s), Ctrl-C ends the command
    # quietly; once it listens, gracefully. Either way: no traceback.
    process = subprocess.Popen(
        [str(ZEROEVENTS), "listen", "--bind", ipc("starting")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    if "Traceback" in stderr:
        # Under load the signal can land while the interpreter itself starts (site's
        # .pth files), before the script's first line: Python's traceback, not ours.
        assert str(ZEROEVENTS) not in stderr and "zeroevents_core" not in stderr, stderr
        assert "<frozen " in stderr, stderr
        return
    assert process.returncode in (0, -signal.SIGINT, 130), (process.returncode, stderr)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_ends_listen_gracefully(
    start: Callable[..., Running], ipc: Callable[[str], str], signum: int
) -> None:
    listen = start("listen", "--bind", ipc("signal"))
    endpoint = listen.ready()
    assert zeroevents("emit", "--connect", endpoint, "before.signal").returncode == 0
    deadline = WAIT
    while not listen.out and deadline > 0:  # the event is printed before the signal
        threading.Event().wait(0.05)
        deadline -= 0.05
    listen.process.send_signal(signum)
    assert listen.finish() == 0, listen.err
    assert listen.events() == [{"event": "before.signal", "payload": []}]
    assert not any("Traceback" in line for line in listen.err)


def test_listen_reports_contract_violations_on_stderr(
    start: Callable[..., Running], ipc: Callable[[str], str]
) -> None:
    listen = start("listen", "--bind", ipc("contract"), "--schemas", str(CONTRACTS), "--count", "1")
    endpoint = listen.ready()
    lines = (
        json.dumps({"event": "orders.cancelled", "payload": [{"id": 0}]})
        + "\n"
        + json.dumps({"event": "orders.cancelled", "payload": [{"id": 3, "reason": "late"}]})
        + "\n"
    )
    assert zeroevents("emit", "--connect", endpoint, "-", stdin=lines).returncode == 0
    assert listen.finish() == 0, listen.err
    assert listen.events() == [
        {"event": "orders.cancelled", "payload": [{"id": 3, "reason": "late"}]}
    ]
    rejected = [line for line in listen.err if "rejected" in line]
    assert len(rejected) == 1
    assert "'orders.cancelled'" in rejected[0] and "$[0].id" in rejected[0]


# Bad input ----------------------------------------------------------------------------


def test_bad_input_exit_codes_and_messages(tmp_path: Path, ipc: Callable[[str], str]) -> None:
    to = ipc("nobody")
    emit, listen = ["emit", "--connect", to], ["listen", "--bind", to]
    orders = str(CONTRACTS)
    cases: list[tuple[list[str], str | None, int, str]] = [
        # runtime failures: 1
        ([*emit, "e", "{bad"], None, 1, "argument 1 '{bad' is not a JSON literal"),
        ([*emit, "e", "1", "NaN"], None, 1, "argument 2 'NaN' is not a JSON literal"),
        ([*emit, "--serializer", "nope", "e"], None, 1, "unknown serializer 'nope'"),
        ([*listen, "--serializer", "nope"], None, 1, "unknown serializer 'nope'"),
        (
            [*emit, "--schemas", orders, "orders.created", '{"id": "x"}'], None, 1,
            "event 'orders.created' breaks its contract",
        ),
        ([*emit, "--timeout", "0.3", "e"], None, 1, "within 0.3 s"),
        ([*emit, "--socket-type", "push", "--timeout", "0.3", "e"], None, 1, "within 0.3 s"),
        ([*emit, "-"], '\n[1]\n', 1, "stdin line 2: expected"),
        ([*emit, "-"], "{nope\n", 1, "stdin line 1 is not JSON"),
        ([*emit, "-"], '{"event": "a", "paylod": []}\n', 1, "unknown key 'paylod'"),
        ([*emit, "-"], '{"event": "a", "payload": 3}\n', 1, '"payload" must be'),
        ([*emit, "e", '{"$bytes": "%%"}'], None, 1, "must hold base64"),
        ([*listen, "--schemas", str(tmp_path / "none")], None, 1, "does not exist"),
        (
            ["listen", "--bind", f"ipc://{tmp_path}/no/such/dir.ipc"], None, 1,
            "cannot open the dealer socket (bind ipc://",
        ),
        # usage: 2
        (["emit", "e", "1"], None, 2, "give at least one --bind EP or --connect EP"),
        (["listen"], None, 2, "give at least one --bind EP or --connect EP"),
        (emit, None, 2, "arguments are required: EVENT (see"),  # ARG is optional
        (["emit", "--connect", "foo", "e"], None, 2, "malformed endpoint 'foo'"),
        (["listen", "--bind", "tcp://127.0.0.1"], None, 2, "tcp needs host:port"),
        (["listen", "--bind", "tcp://127.0.0.1:99999"], None, 2, "is not in 1-65535"),
        (["listen", "--bind", "inproc://x"], None, 2, "inproc:// endpoints live inside one"),
        ([*emit, "--socket-type", "router", "e"], None, 2, "invalid choice: 'router'"),
        ([*listen, "--socket-type", "push"], None, 2, "invalid choice: 'push'"),
        ([*emit, "--socket-type", "push", "--confirmed", "e"], None, 2, "--confirmed needs a"),
        ([*listen, "--socket-type", "pull", "--confirmed"], None, 2, "--confirmed needs a"),
        ([*emit, "-", "1"], None, 2, "EVENT '-' reads JSON lines from stdin"),
        ([*listen, "--count", "0"], None, 2, "expected a whole number >= 1"),
        ([*listen, "--timeout", "-1"], None, 2, "expected a number of seconds"),
        (emit, None, 2, "the following arguments are required: EVENT"),
        (["frobnicate"], None, 2, "invalid choice: 'frobnicate'"),
    ]  # fmt: skip
    # Run side by side: each is a fresh interpreter, most of whose time is start-up.
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda case: zeroevents(*case[0], stdin=case[1]), cases))
    for (args, _, code, message), done in zip(cases, runs, strict=True):
        stderr = "\n".join(line for line in done.stderr.splitlines() if "listening on" not in line)
        assert done.returncode == code, (args, done.returncode, done.stderr)
        assert message in one_error_line(stderr), (args, done.stderr)
        assert done.stdout == "", args


def test_debug_shows_the_traceback(ipc: Callable[[str], str]) -> None:
    done = zeroevents("emit", "--connect", ipc("x"), "--serializer", "nope", "e", "--debug")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "UnknownPluginError" in done.stderr
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith("zeroevents emit: error: unknown serializer 'nope'")


@pytest.mark.parametrize(
    "command", [[], ["listen"], ["emit"], ["plugins"], ["schema"], ["schema", "check"],
                ["demo"], ["keys"]],
)  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    done = zeroevents(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: zeroevents {' '.join(command)}".rstrip())


def test_no_command_is_a_usage_error() -> None:
    done = zeroevents()
    assert done.returncode == 2
    assert "usage: zeroevents" in done.stderr


# Transports: --transport, --option and each transport's own flags ---------------------


def transport_section(help_text: str, name: str) -> list[str]:
    """The flag lines under ``NAME transport options:`` in a --help output."""
    lines = help_text.splitlines()
    start = lines.index(f"{name} transport options:")
    section = list(itertools.takewhile(str.strip, lines[start + 1 :]))
    return [line.split()[0] for line in section if line.startswith("  --")]


def test_listen_and_emit_help_show_the_zmq_flags_under_the_transport_name() -> None:
    listen = zeroevents("listen", "--help")
    assert transport_section(listen.stdout, "zmq") == ["--bind", "--connect", "--socket-type"]
    assert "{pull,sub,router,dealer,pair}" in listen.stdout
    emit = zeroevents("emit", "--help")
    assert transport_section(emit.stdout, "zmq") == ["--bind", "--connect", "--socket-type"]
    assert "{push,pub,dealer,pair}" in emit.stdout
    assert "zmq sockets:" in listen.stdout and "zmq delivery:" in emit.stdout


def test_a_plugin_transport_brings_its_own_flags(tmp_path: Path) -> None:
    """``tape``, from the test plugin distribution's entry point: its flag, not ZeroMQ's."""
    shown = zeroevents("emit", "--transport", "tape", "--help")
    assert shown.returncode == 0, shown.stderr
    assert transport_section(shown.stdout, "tape") == ["--tape"]
    assert "zmq transport options:" not in shown.stdout and "--bind EP" not in shown.stdout
    # Nor ZeroMQ's notes and examples: those come with the zmq transport only.
    assert "ipc://" not in shown.stdout and "zmq delivery:" not in shown.stdout, shown.stdout
    tape = tmp_path / "tape.jsonl"
    done = zeroevents("emit", "--transport", "tape", "--tape", str(tape), "orders.created", "1")
    assert done.returncode == 0, done.stderr
    refused = zeroevents("emit", "--transport", "tape", "--bind", "ipc:///nowhere", "e")
    assert refused.returncode == 2 and "--bind" in one_error_line(refused.stderr)
    assert [json.loads(line) for line in tape.read_text().splitlines()] == [
        {"event": "orders.created", "payload": [1]}
    ]


def test_option_sets_any_listener_option_its_value_read_as_json(tmp_path: Path) -> None:
    tape = tmp_path / "tape.jsonl"
    done = zeroevents("emit", "--transport", "tape", "--option", f"tape={tape}", "e", "2")
    assert done.returncode == 0, done.stderr
    assert json.loads(tape.read_text()) == {"event": "e", "payload": [2]}
    # A JSON number, not the text "0": the transport's own check says so.
    endpoint = f"ipc://{tmp_path}/none.ipc"
    zero = zeroevents("emit", "--connect", endpoint, "--option", "max_frames=0", "e")
    assert zero.returncode == 1
    assert "option 'max_frames': expected an int >= 1, got 0" in one_error_line(zero.stderr)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["emit", "--transport", "tape", "--option", "nosuch=1", "e"], 1,
         "unknown option 'nosuch' for transport 'tape'"),
        (["emit", "--transport", "tape", "--option", "tape", "e"], 2,
         "argument --option: expected KEY=VALUE, got 'tape'"),
        (["emit", "--transport", "tape", "--tape", "", "e"], 2,
         "argument --tape: give a file name"),
        (["listen", "--transport", "pigeon"], 2,
         "unknown transport 'pigeon'"),
    ],
)  # fmt: skip
def test_transport_usage_errors(args: list[str], code: int, message: str) -> None:
    done = zeroevents(*args)
    assert done.returncode == code, done.stderr
    assert message in one_error_line(done.stderr)


# plugins, schema check, bench runner ------------------------------------------------


def test_plugins_lists_each_with_its_distribution() -> None:
    done = zeroevents("plugins")
    assert done.returncode == 0, done.stderr
    rows = {tuple(line.split()[:3]) for line in done.stdout.splitlines() if line.startswith("  ")}
    for name, distribution in [
        ("json", "zeroevents-core"),
        ("string", "zeroevents-core"),
        ("msgpack", "zeroevents-msgpack"),
        ("cbor", "zeroevents-cbor"),
        ("orjson", "zeroevents-orjson"),
        ("zmq", "zeroevents-core"),
        ("glob", "zeroevents-core"),
        ("segments", "zeroevents-core"),
    ]:
        assert any(row[:2] == (name, distribution) for row in rows), (name, done.stdout)
    headings = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert headings[:3] == ["serializers:", "transports:", "matchers:"]

    document = json.loads(zeroevents("plugins", "--json").stdout)
    msgpack = next(p for p in document["serializers"] if p["name"] == "msgpack")
    assert msgpack["distribution"] == "zeroevents-msgpack" and msgpack["version"]
    assert document["errors"] == []


def test_schema_check_of_the_example_contracts() -> None:
    done = zeroevents("schema", "check", str(CONTRACTS))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{CONTRACTS}: 4 contracts"
    patterns = {line.split()[1]: line for line in lines[1:]}
    assert set(patterns) == {"orders.*", "orders.cancelled", "orders.created", "orders.created.v2"}
    assert all(line.split()[0] == "ok" and "engine jsonschema" in line for line in lines[1:])
    assert "orders.created.v2.json" in patterns["orders.created.v2"]


def test_schema_check_names_every_bad_file(tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    (folder / "definitions").mkdir(parents=True)
    (folder / "good.json").write_text('{"type": "object"}')
    (folder / "broken.json").write_text("{nope")
    (folder / "wrong.json").write_text('{"type": 12}')
    (folder / "remote.json").write_text('{"$ref": "https://example.com/x.json"}')
    (folder / "uses.json").write_text('{"$ref": "definitions/part.json"}')
    (folder / "definitions" / "part.json").write_text('{"minimum": "zero"}')
    (folder / "notes.yaml").write_text("type: object\n")
    done = zeroevents("schema", "check", str(folder))
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        f"zeroevents schema check: error: 6 bad schema files in {folder}"
    )
    bad = {
        line.split()[1].rstrip(":"): line
        for line in done.stdout.splitlines()
        if line.startswith("  bad")
    }
    assert set(bad) == {
        str(folder / name)
        for name in [
            "broken.json", "wrong.json", "remote.json", "uses.json",
            "definitions/part.json", "notes.yaml",
        ]
    }  # fmt: skip
    assert "not valid JSON" in bad[str(folder / "broken.json")]
    assert "remote reference" in bad[str(folder / "remote.json")]
    assert "is bad (see above)" in bad[str(folder / "uses.json")]
    assert "YAML" in bad[str(folder / "notes.yaml")]
    assert re.search(r"^  ok\s+good\s+good\.json", done.stdout, re.MULTILINE)


def test_schema_check_of_a_missing_folder(tmp_path: Path) -> None:
    done = zeroevents("schema", "check", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "does not exist or is not a folder" in one_error_line(done.stderr)


def bench_runner(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *args],
        capture_output=True, text=True, timeout=WAIT, check=False,
    )  # fmt: skip


def test_the_bench_runner_is_not_a_command_of_the_installed_package() -> None:
    done = zeroevents("bench")
    assert done.returncode == 2
    assert "invalid choice: 'bench'" in done.stderr


def test_bench_runner_rejects_an_unknown_suite() -> None:
    done = bench_runner("nosuch")
    assert done.returncode == 2
    assert "no suite 'nosuch'" in done.stderr and "e2e" in done.stderr


def test_bench_runner_help_lists_its_flags() -> None:
    done = bench_runner("--help")
    assert done.returncode == 0, done.stderr
    assert "--full" in done.stdout and "SUITE" in done.stdout


# demo ---------------------------------------------------------------------------------


def summary_number(text: str, label: str) -> int:
    found = re.search(rf"^  {label}\s+([\d,]+)\s", text, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{text}"
    return int(found.group(1).replace(",", ""))


def test_demo_short_adds_up() -> None:
    done = zeroevents("demo", "--short", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    sent = summary_number(out, "sent")
    received = summary_number(out, "received")
    rejected = summary_number(out, "rejected by the contract")
    assert sent == 1500
    assert sent == received + rejected
    assert rejected == 1500 // 25  # one in 25 is made to break the contract
    assert "sent = received + rejected" in out
    assert "\x1b[" not in out  # not a terminal: plain lines, no escape codes
    for needle in ["msgpack", "rejected orders.created", "p50", "p99", "events/s"]:
        assert needle in out, needle
