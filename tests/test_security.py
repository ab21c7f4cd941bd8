"""CURVE links with a ZAP allow list and rights per key, across real processes.

Every test makes its own keys with ``zeroevents keys new`` (the real command), runs
the service in another process on tcp://127.0.0.1, and sends from this one.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
from procs import WAIT, nothing_more, take

from zeroevents_core import (
    PUSH_ERROR,
    ConfigurationError,
    Dispatcher,
    EventListener,
    EventService,
    Message,
)
from zeroevents_core.security import AUTH_ERROR, REJECTED, current_sender
from zeroevents_core.transports.zmq._security import check_libzmq

ZEROEVENTS = Path(sys.executable).with_name("zeroevents")
PHP_CLIENT = Path(__file__).parent / "php" / "curve_client.php"


def keys(folder: Path, *names: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        done = subprocess.run(
            [str(ZEROEVENTS), "keys", "new", name, "--dir", str(folder)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 0, done.stderr
    return folder


def allow(folder: Path, *names: str) -> Path:
    allowed = folder / "allow"
    allowed.mkdir(exist_ok=True)
    for name in names:
        done = subprocess.run(
            [str(ZEROEVENTS), "keys", "allow", str(folder / f"{name}.key"), "--dir", str(allowed)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 0, done.stderr
    return allowed


class _Forward(logging.Handler):
    def __init__(self, queue: Any) -> None:
        super().__init__(logging.WARNING)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put(("log", record.getMessage()))


def secure_service(folder: str, rights: Any, matcher: str, confirmed: bool, queue: Any) -> None:
    """A ROUTER service with CURVE: reports each event with its sender, auth errors and
    warnings; stops on the event 'stop' (which its rights must allow)."""
    logging.getLogger("zeroevents_core").addHandler(_Forward(queue))
    dispatcher = Dispatcher(matcher=matcher)
    security: dict[str, Any] = {
        "curve": {"secret_key": f"{folder}/server.key_secret", "allow": f"{folder}/allow"}
    }
    if rights is not None:
        security["rights"] = rights
    listener = EventListener(
        {
            "bind": "tcp://127.0.0.1:*",
            "socket_type": "ROUTER",
            "security": security,
            "confirmed": confirmed,
        },
        dispatcher,
    )
    service = EventService(dispatcher).listen(listener).poll_timeout(50)
    every = "app.#" if matcher == "segments" else "app.*"
    dispatcher.listen(
        every, lambda *payload: queue.put(("event", dispatcher.firing(), current_sender()))
    )
    dispatcher.listen(
        AUTH_ERROR, lambda name, event, address: queue.put(("auth.error", name, event))
    )
    dispatcher.listen("app.stop", lambda *_: service.stop())
    queue.put(("ready", listener.socket().get(zmq.LAST_ENDPOINT).decode()))
    service.run()
    queue.put(("stopped", service.stats.auth_errors, service.stats.fired))


def client(folder: Path, name: str, endpoint: str, server: str = "server", **more: Any) -> Any:
    curve = {
        "secret_key": str(folder / f"{name}.key_secret"),
        "server_key": str(folder / f"{server}.key"),
    }
    return EventListener({"connect": endpoint, "security": {"curve": curve}, **more}, Dispatcher())


def start_service(
    spawn: Callable[..., Any], queue: Any, folder: Path, rights: Any = None,
    matcher: str = "glob", confirmed: bool = False,
) -> str:  # fmt: skip
    spawn(secure_service, str(folder), rights, matcher, confirmed, queue)
    return str(take(queue, "ready")[1])


def test_an_allowed_key_fires_under_its_name_an_unknown_one_is_refused(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path
) -> None:
    folder = keys(tmp_path / "keys", "server", "billing", "mallory")
    allow(folder, "billing")
    endpoint = start_service(spawn, queue, folder)
    with client(folder, "mallory", endpoint) as intruder:
        intruder.socket().push("app.hello", ["from mallory"])
        (_, line) = take(queue, "log")
        public = (folder / "mallory.key").read_text().split('public-key = "')[1][:40]
        assert "refused a CURVE client from 127.0.0.1" in line and public in line, line
    with client(folder, "billing", endpoint) as allowed:
        allowed.socket().push("app.hello", ["from billing"])
        assert take(queue, "event") == ("event", "app.hello", "billing")
        allowed.socket().push("app.stop")
    assert take(queue, "event") == ("event", "app.stop", "billing")
    assert take(queue, "stopped") == ("stopped", 0, 2)  # mallory's event was never fired


def test_rights_per_pattern_with_the_services_matcher(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path
) -> None:
    folder = keys(tmp_path / "keys", "server", "billing", "audit")
    allow(folder, "billing", "audit")
    rights = {"billing": ["app.orders.*", "app.invoices.#", "app.stop"], "audit": "app.audit.#"}
    endpoint = start_service(spawn, queue, folder, rights, matcher="segments", confirmed=True)
    with client(folder, "billing", endpoint, confirmed=True) as billing:
        socket = billing.socket()
        assert socket.push("app.orders.created", [1]).payload == ["app.orders.created"]
        assert take(queue, "event") == ("event", "app.orders.created", "billing")
        assert socket.push("app.invoices.paid.late", [2]).payload == ["app.invoices.paid.late"]
        assert take(queue, "event") == ("event", "app.invoices.paid.late", "billing")
        # orders.* is one segment with the segments matcher: refused, and said so.
        refused = socket.push("app.orders.created.v2", [3])
        assert isinstance(refused, Message)
        assert refused.payload[:2] == ["app.orders.created.v2", REJECTED]
        assert take(queue, "log")[1].startswith("refused 'app.orders.created.v2' from 'billing'")
        assert take(queue, "auth.error") == ("auth.error", "billing", "app.orders.created.v2")
        with client(folder, "audit", endpoint, confirmed=True) as audit:
            assert audit.socket().push("app.audit.read", []).payload == ["app.audit.read"]
            assert take(queue, "event") == ("event", "app.audit.read", "audit")
            assert audit.socket().push("app.orders.created", []).payload[1] == REJECTED
            take(queue, "log")
            assert take(queue, "auth.error") == ("auth.error", "audit", "app.orders.created")
        socket.push("app.stop")
    take(queue, "event")
    assert take(queue, "stopped") == ("stopped", 2, 4)


def push_until_refused(listener: EventListener) -> Any:
    """Push until the socket has seen its handshake fail (a bounded loop); the
    socket, once it has."""
    refusals: list[str] = []

    def refused(socket: Any, event: str, payload: Any, address: Any) -> str:
        refusals.append(event)
        return "refused"

    listener.dispatcher.listen(PUSH_ERROR, refused)
    deadline = time.monotonic() + WAIT
    while not refusals and time.monotonic() < deadline:
        listener.socket().push("app.hello", [])
        time.sleep(0.05)
    assert refusals, "the failed handshake was never noticed"
    return listener.socket()


@pytest.mark.parametrize(
    ("name", "server", "expected"),
    [
        ("mallory", "server", "was refused (ZAP status 400): this key is not allowed there"),
        ("billing", "mallory", "does not hold the secret key of 'server_key'"),
    ],
)
def test_a_client_learns_that_its_key_or_the_servers_is_wrong(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path, name: str, server: str, expected: str
) -> None:
    folder = keys(tmp_path / "keys", "server", "billing", "mallory")
    allow(folder, "billing")
    endpoint = start_service(spawn, queue, folder)
    listener = client(folder, name, endpoint, server)
    socket = push_until_refused(listener)
    assert any(expected in message for message in socket.handshakes.failures.values())
    assert listener.close() > 0  # every push is reported as possibly undelivered


def asyncio_service(folder: str, queue: Any) -> None:
    import asyncio

    from zeroevents_core import AsyncEventListener, AsyncEventService

    async def main() -> None:
        dispatcher = Dispatcher()
        security = {
            "curve": {"secret_key": f"{folder}/server.key_secret", "allow": f"{folder}/allow"},
            "rights": {"billing": ["app.*"]},
        }
        listener = AsyncEventListener(
            {"bind": "tcp://127.0.0.1:*", "socket_type": "ROUTER", "security": security},
            dispatcher,
        )
        service = AsyncEventService(dispatcher).listen(listener).poll_timeout(50)
        dispatcher.listen(
            "app.*", lambda *_: queue.put(("event", dispatcher.firing(), current_sender()))
        )
        dispatcher.listen(
            AUTH_ERROR, lambda name, event, address: queue.put(("auth.error", name, event))
        )
        dispatcher.listen("app.stop", lambda *_: service.stop())
        queue.put(("ready", listener.socket().get(zmq.LAST_ENDPOINT).decode()))
        await service.run()
        queue.put(("stopped",))

    asyncio.run(main())


def test_the_asyncio_service_authenticates_and_enforces_rights(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path
) -> None:
    folder = keys(tmp_path / "keys", "server", "billing", "mallory")
    allow(folder, "billing")
    spawn(asyncio_service, str(folder), queue)
    endpoint = str(take(queue, "ready")[1])
    with client(folder, "mallory", endpoint) as intruder:
        intruder.socket().push("app.hello", [])
    with client(folder, "billing", endpoint) as billing:
        billing.socket().push("other.thing", [])
        assert take(queue, "auth.error") == ("auth.error", "billing", "other.thing")
        billing.socket().push("app.stop", [])
    assert take(queue, "event") == ("event", "app.stop", "billing")
    take(queue, "stopped")


def test_a_key_allowed_while_the_server_runs_is_accepted_at_its_next_handshake(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path
) -> None:
    folder = keys(tmp_path / "keys", "server", "late")
    allow(folder)
    endpoint = start_service(spawn, queue, folder)
    with client(folder, "late", endpoint) as early:
        early.socket().push("app.hello", [])
        take(queue, "log")  # refused
    time.sleep(0.01)  # a new mtime for the folder, even on coarse clocks
    allow(folder, "late")
    with client(folder, "late", endpoint) as late:
        late.socket().push("app.stop", [])
    assert take(queue, "event") == ("event", "app.stop", "late")


# Key files ------------------------------------------------------------------------------


def test_keys_new_writes_the_secret_0600_from_the_start_whatever_the_umask(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [str(ZEROEVENTS), "keys", "new", "svc", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        preexec_fn=lambda: os.umask(0),
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "svc.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "svc.key").stat().st_mode) == 0o644
    again = subprocess.run(
        [str(ZEROEVENTS), "keys", "new", "svc", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert again.returncode == 1 and "exists" in again.stderr
    shown = subprocess.run(
        [str(ZEROEVENTS), "keys", "show", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[2:4] for line in shown.stdout.splitlines()] == [
        ["public", "0644"],
        ["secret", "0600"],
    ]


def test_a_secret_key_readable_by_others_is_refused_as_ssh_does(tmp_path: Path) -> None:
    folder = keys(tmp_path, "server", "client")
    allow(folder, "client")
    os.chmod(folder / "client.key_secret", 0o640)
    with pytest.raises(ConfigurationError, match=r"readable by others \(mode 0640\).*chmod 600"):
        client(folder, "client", "tcp://127.0.0.1:5")
    with pytest.raises(ConfigurationError, match="holds no secret key"):
        EventListener(
            {
                "connect": "tcp://127.0.0.1:5",
                "security": {
                    "curve": {"secret_key": str(folder / "client.key"), "server_key": "x"}
                },
            }
        )


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ({"curve": {"secret_key": "k"}}, "give 'allow'"),
        ({"curve": {"secret_key": "k", "allow": "a", "server_key": "s"}}, "not both"),
        ({"curve": {"allow": "a"}}, "'security.curve.secret_key': missing"),
        ({"curve": {"secret_key": "k", "alow": "a"}}, "unknown key 'alow'"),
        ({"kurve": {}}, "option 'security': expected"),
        ({"curve": {"secret_key": "/nonexistent/k", "allow": "a"}}, "cannot read /nonexistent/k"),
    ],
)
def test_security_option_errors_name_the_key(security: Any, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        EventListener({"connect": "tcp://127.0.0.1:5", "security": security})


def test_rights_are_checked_when_the_options_are(tmp_path: Path) -> None:
    folder = keys(tmp_path, "server")
    allow(folder)
    curve = {"secret_key": str(folder / "server.key_secret"), "allow": str(folder / "allow")}
    with pytest.raises(ConfigurationError, match="'billing' has a pattern that is not"):
        EventListener(
            {"bind": "tcp://127.0.0.1:*", "security": {"curve": curve, "rights": {"billing": [""]}}}
        )


def test_an_unsafe_libzmq_is_refused_naming_the_cve() -> None:
    with pytest.raises(ConfigurationError, match="CVE-2019-13132"):
        check_libzmq((4, 3, 1))
    check_libzmq((4, 3, 2))


def test_the_toml_file_gives_the_security_of_a_connection(tmp_path: Path) -> None:
    folder = keys(tmp_path / "keys", "server", "billing")
    allow(folder, "billing")
    config = tmp_path / "zeroevents.toml"
    config.write_text(
        "[connections.inbox]\n"
        'bind = "tcp://127.0.0.1:*"\n'
        'socket_type = "ROUTER"\n'
        "[connections.inbox.security.curve]\n"
        f'secret_key = "{folder}/server.key_secret"\n'
        f'allow = "{folder}/allow"\n'
        "[connections.inbox.security.rights]\n"
        'billing = ["app.*"]\n'
    )
    code = (
        "from zeroevents_core import EventListener\n"
        "listener = EventListener('inbox')\n"
        "print(sorted(listener.options['security'].rights.names))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "ZEROEVENTS_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['billing']"


# ipc files ------------------------------------------------------------------------------


def bind_many(endpoint: str, times: int, queue: Any) -> None:
    """Bind and close an ipc socket ``times`` times, as a service restarting would."""
    os.umask(0o022)  # the usual umask: a file born 0755 without the library's care
    for _ in range(times):
        listener = EventListener({"bind": endpoint, "socket_type": "PULL"})
        listener.socket()
        listener.close()
    queue.put(("done",))


def test_a_bound_ipc_file_is_never_seen_with_broader_permissions(
    spawn: Callable[..., Any], queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("private")
    path = endpoint[len("ipc://") :]
    spawn(bind_many, endpoint, 300, queue)
    seen: set[int] = set()
    deadline = time.monotonic() + WAIT
    while queue.empty() and time.monotonic() < deadline:
        try:
            seen.add(stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            continue
    take(queue, "done")
    assert seen, "the watcher never saw the file: the test proves nothing"
    assert seen == {0o600}, f"modes seen: {sorted(map(oct, seen))}"


# PHP ------------------------------------------------------------------------------------


def php_has_curve() -> str | None:
    php = shutil.which("php")
    if php is None:
        return "php is not installed"
    done = subprocess.run(
        [
            php,
            "-r",
            'echo defined("ZMQ::SOCKOPT_CURVE_SERVERKEY") ? "yes" : "no";',
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    return None if done.stdout == "yes" else "php-zmq without CURVE socket options"


def test_a_php_curve_client_talks_to_a_python_curve_server(
    spawn: Callable[..., Any], queue: Any, tmp_path: Path
) -> None:
    missing = php_has_curve()
    if missing is not None:
        pytest.skip(missing)
    folder = keys(tmp_path / "keys", "server", "php", "intruder")
    allow(folder, "php")
    endpoint = start_service(spawn, queue, folder, {"php": ["app.*"]})

    def run_php(name: str, event: str) -> None:
        done = subprocess.run(
            ["php", str(PHP_CLIENT), endpoint, str(folder / "server.key"),
             str(folder / f"{name}.key_secret"), event],
            capture_output=True, text=True, timeout=WAIT,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    run_php("intruder", "app.hello")
    take(queue, "log")
    run_php("php", "other.thing")
    take(queue, "log")
    assert take(queue, "auth.error") == ("auth.error", "php", "other.thing")
    run_php("php", "app.stop")
    assert take(queue, "event") == ("event", "app.stop", "php")
    assert take(queue, "stopped") == ("stopped", 1, 1)
    nothing_more(queue)
