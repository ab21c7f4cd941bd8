"""CURVE for the zmq transport: the ``security`` option, key files, the ZAP handler.

A server socket (``allow`` given) encrypts every link and accepts only the clients
whose public key is allowed: a ZAP handler, one per context, started with the first
such socket and stopped with the last, answers libzmq's authentication requests and
names each client after its key file (``billing.key`` → ``billing``). libzmq then
stamps that name on every message of the link (``User-Id``), which the socket reads
as the message's sender, for :class:`~zeroevents_core.security.Rights`.

Key files are the ZeroMQ certificate format (``NAME.key`` public, ``NAME.key_secret``
both keys), readable by ``zmq.auth.load_certificate`` and czmq's tools.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import zmq
import zmq.auth
from zmq.utils import z85

from ...errors import ConfigurationError
from ...security import Rights

log = logging.getLogger(__name__)

# CVE-2019-13132: a stack overflow reachable by unauthenticated CURVE peers.
SAFE_LIBZMQ = (4, 3, 2)
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_POLL_MS = 100  # how soon a stopped handler notices
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_KEY_LENGTH = 40  # a z85-encoded 32-byte key


@dataclass(frozen=True)
class Curve:
    """One socket's CURVE settings: a server has ``allow``, a client ``server_key``."""

    public_key: bytes
    secret_key: bytes
    server_key: bytes | None
    allow: AllowList | None
    rights: Rights | None

    @property
    def is_server(self) -> bool:
        return self.allow is not None


def check_libzmq(version: tuple[int, int, int] | None = None) -> None:
    """Refuse CURVE on a libzmq without it, or one with a known CURVE CVE."""
    found = version or zmq.zmq_version_info()
    if found < SAFE_LIBZMQ:
        raise ConfigurationError(
            f"option 'security': libzmq {'.'.join(map(str, found))} is older than 4.3.2, "
            "which fixed CVE-2019-13132 (a stack overflow any unauthenticated CURVE peer "
            "can trigger); upgrade pyzmq, whose wheels bundle a current libzmq"
        )
    if version is None and not zmq.has("curve"):
        raise ConfigurationError(
            f"option 'security': this libzmq ({zmq.zmq_version()}) was built without CURVE"
        )


def security_of(value: Any, matcher: str) -> Curve | None:
    """The checked ``security`` option: None, or ``{"curve": {...}, "rights": {...}}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"curve", "rights"}:
        raise ConfigurationError(
            f"option 'security': expected {{'curve': {{...}}, 'rights': {{...}}}}, got {value!r}"
        )
    curve = value.get("curve")
    if not isinstance(curve, Mapping):
        raise ConfigurationError(f"option 'security.curve': expected a mapping, got {curve!r}")
    unknown = sorted(set(curve) - {"secret_key", "server_key", "allow"})
    if unknown:
        raise ConfigurationError(
            f"option 'security.curve': unknown key {unknown[0]!r}; "
            "known: secret_key, server_key (a client's), allow (a server's)"
        )
    if ("server_key" in curve) == ("allow" in curve):
        raise ConfigurationError(
            "option 'security.curve': give 'allow' (a server: the clients' public keys) "
            "or 'server_key' (a client: the server's public key), not both or neither"
        )
    if "secret_key" not in curve:
        raise ConfigurationError("option 'security.curve.secret_key': missing (a .key_secret file)")
    check_libzmq()
    public, secret = load_secret_key(curve["secret_key"], key="security.curve.secret_key")
    rights = value.get("rights")
    if rights is not None and "allow" not in curve:
        raise ConfigurationError(
            "option 'security.rights': rights are a server's (with 'allow'), not a client's"
        )
    return Curve(
        public_key=public,
        secret_key=secret,
        server_key=(
            load_public_key(curve["server_key"], key="security.curve.server_key")
            if "server_key" in curve
            else None
        ),
        allow=AllowList(curve["allow"]) if "allow" in curve else None,
        rights=None if rights is None else Rights(rights, matcher, key="security.rights"),
    )


# Key files ----------------------------------------------------------------------------


def load_secret_key(path: Any, *, key: str) -> tuple[bytes, bytes]:
    """``(public, secret)`` of a ``.key_secret`` file only its owner can read (as ssh asks)."""
    file = _path(path, key)
    try:
        mode = file.stat().st_mode & 0o777
    except OSError as error:
        raise ConfigurationError(f"option {key!r}: cannot read {file}: {error}") from None
    public, secret = _load(file, key)
    if secret is None:
        raise ConfigurationError(
            f"option {key!r}: {file} holds no secret key (a public key file? give the "
            f"{SECRET_SUFFIX} file)"
        )
    if mode & 0o077:
        raise ConfigurationError(
            f"option {key!r}: {file} is readable by others (mode {mode:04o}); a secret key "
            f"must be readable by its owner only: chmod 600 {file}"
        )
    return public, secret


def load_public_key(value: Any, *, key: str) -> bytes:
    """A public key from a key file, or given inline as its 40 z85 characters."""
    if isinstance(value, str) and len(value) == _KEY_LENGTH and not os.path.exists(value):
        _decoded(value.encode(), key)
        return value.encode()
    public, _ = _load(_path(value, key), key)
    return public


def _path(value: Any, key: str) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise ConfigurationError(f"option {key!r}: expected a key file path, got {value!r}")
    return Path(value)


def _load(file: Path, key: str) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(file)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"option {key!r}: {file} is not a key file: {error}") from None
    _decoded(public, f"{key} ({file})")
    return public, secret


def _decoded(z85_key: bytes, key: str) -> bytes:
    try:
        if len(z85_key) == _KEY_LENGTH:
            return z85.decode(z85_key)
    except (ValueError, KeyError):
        pass
    raise ConfigurationError(f"option {key!r}: {z85_key!r} is not a z85-encoded CURVE key")


def write_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """``NAME.key`` and ``NAME.key_secret`` in ``directory``; never overwrites one.

    The secret file is created with mode 0600, never chmod-ed after it holds a key.
    """
    public, secret = zmq.curve_keypair()
    public_file = directory / f"{name}{PUBLIC_SUFFIX}"
    secret_file = directory / f"{name}{SECRET_SUFFIX}"
    for file in (public_file, secret_file):
        if file.exists():
            raise ConfigurationError(f"{file} exists: choose another name or remove it")
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    _create(secret_file, _key_text("Secret", now, public, secret), 0o600)
    _create(public_file, _key_text("Public", now, public, None), 0o644)
    return public_file, secret_file


def _key_text(kind: str, when: str, public: bytes, secret: bytes | None) -> str:
    lines = [
        f"#   ****  Generated on {when} by zeroevents keys  ****",
        f"#   ZeroMQ CURVE {kind} Certificate",
        "",
        "metadata",
        "curve",
        f'    public-key = "{public.decode()}"',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _create(file: Path, text: str, mode: int) -> None:
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(text)


class AllowList:
    """The clients a server accepts: a folder of ``*.key`` files (read again when it
    changes, so that a key allowed or removed takes effect at the next handshake),
    or a list of key files and inline keys. Each key is named after its file."""

    def __init__(self, value: Any) -> None:
        self._folder: Path | None = None
        self._seen: int | None = None
        self._keys: dict[bytes, str] = {}
        if isinstance(value, str | os.PathLike) and Path(value).is_dir():
            self._folder = Path(value)
            self.keys()
            return
        items = [value] if isinstance(value, str | os.PathLike) else value
        if not isinstance(items, list | tuple):
            raise ConfigurationError(
                f"option 'security.curve.allow': expected a folder of {PUBLIC_SUFFIX} files "
                f"or a list of key files and keys, got {value!r}"
            )
        for item in items:
            public = load_public_key(item, key="security.curve.allow")
            name = public.decode() if not os.path.exists(item) else Path(item).stem
            self._keys[z85.decode(public)] = name

    def keys(self) -> dict[bytes, str]:
        """Raw 32-byte public key → client name."""
        if self._folder is None:
            return self._keys
        try:
            stamp = self._folder.stat().st_mtime_ns
        except OSError as error:
            raise ConfigurationError(
                f"option 'security.curve.allow': cannot read {self._folder}: {error}"
            ) from None
        if stamp != self._seen:
            keys = {}
            for file in sorted(self._folder.glob(f"*{PUBLIC_SUFFIX}")):
                public, _ = _load(file, "security.curve.allow")
                keys[z85.decode(public)] = file.stem
            self._keys, self._seen = keys, stamp
        return self._keys


# The ZAP handler ------------------------------------------------------------------------

_domains = (b"zeroevents-%d" % n for n in itertools.count(1))


class ZapHandler:
    """Answers libzmq's ZAP requests for the CURVE server sockets of one context."""

    _running: ClassVar[dict[int, ZapHandler]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, context: zmq.Context[Any]) -> None:
        self._context: zmq.Context[Any] = zmq.Context.shadow(context.underlying)
        self._domains: dict[bytes, tuple[AllowList, str]] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="zeroevents-zap", daemon=True)

    @classmethod
    def acquire(cls, context: zmq.Context[Any], allow: AllowList, where: str) -> bytes:
        """Start answering for a new server socket of ``context``; its ZAP domain."""
        with cls._lock:
            handler = cls._running.get(id(context))
            if handler is None:
                handler = cls._running[id(context)] = cls(context)
                handler._thread.start()
                handler._ready.wait()
                if handler._error is not None:
                    del cls._running[id(context)]
                    raise ConfigurationError(
                        f"option 'security': cannot start the ZAP handler: {handler._error}"
                    )
            domain = next(_domains)
            handler._domains[domain] = (allow, where)
            return domain

    @classmethod
    def release(cls, context: zmq.Context[Any], domain: bytes) -> None:
        """The socket of ``domain`` is closing: stop the handler after the last one."""
        with cls._lock:
            handler = cls._running.get(id(context))
            if handler is None:
                return
            handler._domains.pop(domain, None)
            if not handler._domains:
                del cls._running[id(context)]
                handler._stop.set()
                handler._thread.join()

    def _serve(self) -> None:
        try:
            socket = self._context.socket(zmq.REP)
            socket.linger = 0
            socket.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                if socket.poll(ZAP_POLL_MS):
                    socket.send_multipart(self._answer(socket.recv_multipart()))
        finally:
            socket.close()

    def _answer(self, request: list[bytes]) -> list[bytes]:
        # ZAP 1.0 (RFC 27): version, request id, domain, address, identity, mechanism,
        # credentials; the reply: version, request id, status, text, user id, metadata.
        version, request_id, domain, address, _identity, mechanism, *credentials = request
        allowed = self._domains.get(domain)
        key = credentials[0] if credentials else b""
        name = None
        if allowed is not None and mechanism == b"CURVE":
            try:
                name = allowed[0].keys().get(key)
            except ConfigurationError as error:  # the folder vanished: refuse, say why
                log.error("%s", error)
        if name is None:
            shown = z85.encode(key).decode() if len(key) == 32 else repr(key)
            log.warning(
                "refused a %s client from %s with key %s on %s: not in the allow list",
                mechanism.decode(errors="replace"),
                address.decode(errors="replace"),
                shown,
                allowed[1] if allowed else f"unknown ZAP domain {domain!r}",
            )
            return [version, request_id, b"400", b"key not allowed", b"", b""]
        return [version, request_id, b"200", b"OK", name.encode(), b""]


def secure(socket: zmq.Socket[Any], curve: Curve, where: str) -> bytes | None:
    """Set ``socket``'s CURVE options before it binds or connects; the ZAP domain
    of a server (to release when it closes), else None."""
    socket.set(zmq.CURVE_PUBLICKEY, curve.public_key)
    socket.set(zmq.CURVE_SECRETKEY, curve.secret_key)
    if curve.allow is None:
        assert curve.server_key is not None
        socket.set(zmq.CURVE_SERVERKEY, curve.server_key)
        return None
    domain = ZapHandler.acquire(socket.context, curve.allow, where)
    socket.set(zmq.CURVE_SERVER, 1)
    socket.set(zmq.ZAP_DOMAIN, domain)
    return domain


# ipc files ------------------------------------------------------------------------------

_umask_lock = threading.Lock()


def bind_private(socket: zmq.Socket[Any], endpoint: str, mode: int) -> None:
    """Bind, an ipc file being born with mode 0600 (never connectable by others for
    an instant, as a chmod after bind would leave it), then given ``mode``.

    The umask is the process's: for the microseconds of the bind, a file another
    thread creates is at most 0600 too, never broader.
    """
    if not endpoint.startswith("ipc://") or endpoint.startswith("ipc://@"):
        socket.bind(endpoint)
        return
    with _umask_lock:
        previous = os.umask(0o177)
        try:
            socket.bind(endpoint)
        finally:
            os.umask(previous)
    path = socket.getsockopt_string(zmq.LAST_ENDPOINT)[len("ipc://") :]
    if mode != 0o600:
        os.chmod(path, mode)
