"""``zeroevents demo`` as a new user sees it (issue 20): the user code first, then the
contract's rejections in the project's words, live counters, the summary and a pointer.

The demo is run as the installed command, in a real terminal (tmux) for the
counters and through a pipe for the plain output. The terminal is captured every
``CAPTURE_SECONDS``; what is checked is a property of what the screen shows, not a
speed: while the paced stream runs (something sent, below 100%) the captures show
counters that change, however seldom a loaded machine captures.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zeroevents_core
from zeroevents_core import demo, hookimpl
from zeroevents_core.demo import user_code
from zeroevents_core.demo.command import CONTRACTS
from zeroevents_core.demo.orders import BROKEN
from zeroevents_core.demo.wording import explain
from zeroevents_core.errors import UsageError
from zeroevents_core.plugins import list_plugins
from zeroevents_core.schemas import SchemaRegistry
from zeroevents_core.transports.zmq import ZmqTransport

ZEROEVENTS = Path(sys.executable).parent / "zeroevents"
# Generous: the demo starts two fresh interpreters on a possibly busy 2-core machine.
WAIT = 120.0
# What a user's .venv holds: the test plugin distribution (with its tape transport)
# is left out, as in the README's demo command.
USER_ENV = {**os.environ, "ZEROEVENTS_LOAD_PLUGINS": "zeroevents-msgpack"}
CAPTURE_SECONDS = 0.25
COUNTERS = re.compile(
    r"^\s+(?P<phase>stream|burst)\s+\S+\s+(?P<percent>\d+)%\s+sent (?P<sent>[\d,]+)\s+"
    r"received (?P<received>[\d,]+)\s+rejected (?P<rejected>[\d,]+)",
    re.MULTILINE,
)

pytestmark = pytest.mark.skipif(not ZEROEVENTS.exists(), reason="zeroevents is not installed")


def code_lines() -> list[str]:
    """The lines of user code the demo runs, as its source has them."""
    lines: list[str] = []
    for function in (user_code.producer, user_code.service):
        lines += [line for line in inspect.getsource(function).splitlines() if line.strip()]
    return lines


def first_index(lines: list[str], needle: str) -> int:
    found = [index for index, line in enumerate(lines) if needle in line]
    assert found, f"{needle!r} not in:\n" + "\n".join(lines)
    return found[0]


# Plain output -------------------------------------------------------------------------


def test_demo_shows_the_code_then_rejections_then_figures_and_next_step() -> None:
    done = subprocess.run(
        [str(ZEROEVENTS), "demo", "--short", "--transport", "zmq"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env=USER_ENV,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # The code it runs, exactly as written in zeroevents_core/demo/user_code.py, first.
    start = first_index(lines, "def producer(")
    shown = [line.strip() for line in lines[start : start + len(code_lines()) + 2]]
    assert [line.strip() for line in code_lines()] == [line for line in shown if line]
    assert start <= 4  # the title and the import line only come before it
    assert "socket_type" not in "\n".join(code_lines())  # the library's default
    assert "DEALER -> DEALER: the library's default" in done.stdout
    assert "zmq  (the only one installed)" in done.stdout
    # Then the rejections, in the project's words rather than jsonschema's.
    assert "customer.email: 'ada.example.com' is not an email address" in done.stdout
    assert "is not a 'email'" not in done.stdout
    rejected = first_index(lines, "rejected orders.")
    # Then the figures: the stream's line ends at 100%, the summary, the next step.
    stream_done = first_index(lines, "  stream ")
    assert "100%" in lines[stream_done]
    summary = first_index(lines, "summary")
    pointer = first_index(lines, "next")
    assert start < rejected < stream_done < summary < pointer
    assert "README.md" in "\n".join(lines[pointer:])
    assert "sent = received + rejected ✓" in done.stdout or "received + rejected ok" in done.stdout


def test_an_unknown_transport_is_refused_naming_the_installed_ones() -> None:
    done = subprocess.run(
        [str(ZEROEVENTS), "demo", "--short", "--transport", "carrier-pigeon"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env=USER_ENV,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--transport carrier-pigeon" in done.stderr
    assert "installed: zmq" in done.stderr
    assert "Traceback" not in done.stderr


class PigeonTransport(ZmqTransport):
    """A second transport, registered at run time: the demo must offer it."""

    name = "pigeon"


class PigeonPlugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register(PigeonTransport)


@pytest.fixture
def pigeon() -> Iterator[None]:
    plugin = PigeonPlugin()
    zeroevents_core.register_plugin(plugin, name="pigeon-plugin")
    yield
    zeroevents_core.unregister_plugin(plugin)


def test_with_two_transports_installed_the_demo_lists_them_and_offers_the_choice(
    pigeon: None,
) -> None:
    out = io.StringIO()
    assert demo.run(events=30, transport="zmq", out=out) == 0
    # Transports that live in one process (memory) cannot carry the demo's two.
    installed = ", ".join(
        sorted(
            i.name
            for i in list_plugins()
            if i.kind == "transport" and not getattr(i.obj, "in_process", False)
        )
    )
    assert "pigeon, " in installed
    assert (
        f"transport   zmq  (installed: {installed}; --transport NAME picks one)" in out.getvalue()
    )
    # Installed, but the demo has no endpoint for it: said, not attempted.
    with pytest.raises(UsageError, match="--transport pigeon: the demo does not know how"):
        demo.run(events=30, transport="pigeon", out=io.StringIO())


def test_rejections_are_worded_by_the_project() -> None:
    registry = SchemaRegistry.from_folder(CONTRACTS)
    worded = [explain(registry, event, [order]) for event, order in BROKEN]
    assert worded == [
        "total: -12.5 is below the minimum, 0",
        "customer.email: 'ada.example.com' is not an email address",
        "carrier: 'pigeon' is not one of 'DHL', 'UPS', 'FedEx', 'La Poste'",
        "items[0].sku: 'pen' does not match the pattern ^[A-Z]{3}-[0-9]{4}$",
    ]
    assert explain(registry, "orders.created", [{"id": 1, "seq": 0, "sent_at": 0.0}]) == (
        "customer: missing"
    )


# In a terminal ------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Terminal:
    """A tmux server of its own, one window running ``command``."""

    def __init__(self, socket: Path, command: str) -> None:
        self.tmux = ["tmux", "-u", "-S", str(socket)]
        env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        env.pop("NO_COLOR", None)
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", "demo", "-x", "200", "-y", "80", command],
            env=env,
            check=True,
            timeout=30,
        )
        pane = subprocess.run(
            [*self.tmux, "list-panes", "-t", "demo", "-F", "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        self.shell = int(pane.stdout.split()[0])

    def capture(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", "demo"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def close(self) -> None:
        """Ctrl-C first (the demo then ends its children), then end what is left."""
        left = descendants(self.shell)
        if left:
            subprocess.run([*self.tmux, "send-keys", "-t", "demo", "C-c"], check=False, timeout=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(descendants(self.shell)) > 1:
                time.sleep(0.1)
            for pid in descendants(self.shell):
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.kill(pid, signal.SIGKILL)
        subprocess.run([*self.tmux, "kill-server"], check=False, timeout=30)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: the demo cannot be watched in a terminal")
    command = f"{shlex.quote(str(ZEROEVENTS))} demo; echo DEMO EXITED $?; sleep {WAIT:.0f}"
    window = Terminal(tmp_path / "tmux.sock", command)
    yield window
    window.close()


def test_the_demo_in_a_terminal_shows_the_code_first_and_counters_that_move(
    terminal: Terminal,
) -> None:
    frames: list[tuple[float, str]] = []
    deadline = time.monotonic() + WAIT
    screen = ""
    while "DEMO EXITED" not in screen:
        assert time.monotonic() < deadline, "the demo did not end in time:\n" + screen
        time.sleep(CAPTURE_SECONDS)
        screen = terminal.capture()
        frames.append((time.monotonic(), screen))
    assert "DEMO EXITED 0" in screen, screen

    lines = screen.splitlines()
    assert lines[0].startswith("zeroevents demo: this code"), screen
    code = first_index(lines, "def producer(")
    assert code <= 4 and first_index(lines, "events.fire(name, order)") > code
    assert first_index(lines, "EventService(") < first_index(lines, "  stream ")
    # Every frame that shows counters shows the code above them.
    assert all("events.fire(name, order)" in text for _, text in frames if COUNTERS.search(text))

    # While the stream flows (something sent, not all arrived), the counters on
    # screen move: the captures show several different counts, not one frozen line
    # (counted, not timed: a loaded machine may capture less often).
    streaming: list[tuple[str, ...]] = []
    for _, text in frames:
        shown = list(COUNTERS.finditer(text))
        if not shown or shown[-1]["phase"] != "stream":
            continue
        last = shown[-1]
        if last["sent"] != "0" and int(last["percent"]) < 100:
            streaming.append((last["sent"], last["received"], last["rejected"]))
    assert len(streaming) >= 2, f"too few captures while streaming: {streaming}"
    assert len(set(streaming)) >= 2, f"the counters did not move while streaming: {streaming}"

    # The stream's line and the burst's end at 100%, then the summary and the next step.
    final = {match["phase"]: match for match in COUNTERS.finditer(screen)}
    assert final["stream"]["percent"] == "100" and final["burst"]["percent"] == "100"
    assert first_index(lines, "summary") < first_index(lines, "next")
