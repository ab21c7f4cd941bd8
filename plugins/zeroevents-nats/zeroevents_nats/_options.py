"""The ``nats`` transport's options: defaults and checks (docs/nats.md lists them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from zeroevents_core import ConfigurationError

DEFAULTS: Mapping[str, Any] = {
    "servers": "nats://127.0.0.1:4222",
    "stream": None,
    "subjects": None,
    "subject_prefix": "",
    "create_stream": False,
    "durable": None,
    # Producer: PubAcks awaited at once before fire() waits for room.
    "max_pending": 1000,
    "ack_timeout_ms": 5000,
    # Consumer: unacknowledged events at most (also the consumer's max_ack_pending).
    "max_in_flight": 512,
    "fetch_batch": 256,
    "fetch_wait_ms": 1000,
    "receive_timeout_ms": 2000,
    "ack_wait_ms": 30000,
    "max_deliver": 5,
    "backoff_ms": [1000, 5000, 30000],
    "connect_timeout_ms": 2000,
    "max_reconnect_attempts": 60,
    "reconnect_wait_ms": 500,
    "flush_timeout_ms": 5000,
    "max_name_bytes": 255,
    "max_frames": 64,
}

# NATS subject tokens: no whitespace, no empty token; wildcards only where allowed.
_TOKEN = re.compile(r"[^\s.*>]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+")

_POSITIVE = ("max_pending", "max_in_flight", "fetch_batch", "max_name_bytes", "max_frames")
_MILLISECONDS = (
    "ack_timeout_ms",
    "fetch_wait_ms",
    "receive_timeout_ms",
    "ack_wait_ms",
    "connect_timeout_ms",
    "reconnect_wait_ms",
    "flush_timeout_ms",
)


def is_subject(value: str, *, wildcards: bool) -> bool:
    """Whether ``value`` is a NATS subject (a filter, with ``*`` and a last ``>``)."""
    tokens = value.split(".")
    for index, token in enumerate(tokens):
        if wildcards and (token == "*" or (token == ">" and index == len(tokens) - 1)):
            continue
        if not _TOKEN.fullmatch(token):
            return False
    return True


def _int(options: dict[str, Any], key: str, minimum: int) -> None:
    value = options[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"option {key!r}: expected an int >= {minimum}, got {value!r}")


def _list_of_str(options: dict[str, Any], key: str) -> list[str]:
    value = options[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"option {key!r}: expected a str or a list of str, got {value!r}")
    return list(values)


def validate(options: Mapping[str, Any]) -> dict[str, Any]:
    """Checked and normalised options (lists for ``servers``, ``subjects``)."""
    checked = dict(options)
    if checked["confirmed"]:
        raise ConfigurationError(
            "option 'confirmed': the nats transport confirms through JetStream (PubAcks "
            "for the producer, acks after the fire for the consumer); leave it false"
        )
    servers = _list_of_str(checked, "servers")
    if not servers or not all("://" in server for server in servers):
        raise ConfigurationError(
            f"option 'servers': expected URLs such as 'nats://127.0.0.1:4222', got {servers!r}"
        )
    checked["servers"] = servers
    for key in ("stream", "durable"):
        value = checked[key]
        if value is not None and not (isinstance(value, str) and _NAME.fullmatch(value)):
            raise ConfigurationError(
                f"option {key!r}: expected a name of letters, digits, '-' and '_', got {value!r}"
            )
    if checked["subjects"] is not None:
        subjects = _list_of_str(checked, "subjects")
        bad = [s for s in subjects if not is_subject(s, wildcards=True)]
        if bad or not subjects:
            raise ConfigurationError(f"option 'subjects': not NATS subjects: {bad or subjects!r}")
        checked["subjects"] = subjects
    prefix = checked["subject_prefix"]
    if not isinstance(prefix, str) or (prefix and not is_subject(prefix, wildcards=False)):
        raise ConfigurationError(
            f"option 'subject_prefix': expected subject tokens such as 'app', got {prefix!r}"
        )
    if checked["durable"] is not None and checked["stream"] is None:
        raise ConfigurationError("option 'durable': a consumer needs option 'stream' too")
    if checked["create_stream"] is not False:
        if checked["create_stream"] is not True:
            raise ConfigurationError(
                f"option 'create_stream': expected true or false, got {checked['create_stream']!r}"
            )
        if checked["stream"] is None or checked["subjects"] is None:
            raise ConfigurationError(
                "option 'create_stream': needs options 'stream' and 'subjects' (the stream's)"
            )
    for key in _POSITIVE:
        _int(checked, key, 1)
    for key in _MILLISECONDS:
        _int(checked, key, 1)
    _int(checked, "max_deliver", 1)
    _int(checked, "max_reconnect_attempts", -1)
    backoff = checked["backoff_ms"]
    if (
        not isinstance(backoff, list | tuple)
        or not backoff
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in backoff)
    ):
        raise ConfigurationError(
            f"option 'backoff_ms': expected a list of delays in ms (ints >= 0), got {backoff!r}"
        )
    checked["backoff_ms"] = list(backoff)
    dead_letter = checked["dead_letter"]
    if dead_letter is not None and not (
        isinstance(dead_letter, str) and is_subject(dead_letter, wildcards=False)
    ):
        raise ConfigurationError(
            f"option 'dead_letter': expected a NATS subject such as 'orders.dead', "
            f"got {dead_letter!r}"
        )
    return checked


def subject_of(prefix: str, event: str) -> str:
    """The subject an event is published to: its name, behind ``subject_prefix``."""
    return f"{prefix}.{event}" if prefix else event
