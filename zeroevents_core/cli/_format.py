"""What ``listen --format`` prints and what ``emit --text/--lines/--count`` sends.

The placeholders follow ``nats sub --translate`` and ``kcat -f`` in spirit, with
Python's ``str.format`` syntax (``{size:>6}`` works). ``{n}`` in ``emit`` is a plain
substitution, not ``str.format``: JSON arguments are full of braces.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import ZeroEventsError

FIELDS = {
    "event": "the event name",
    "payload": "the arguments as one JSON list",
    "time": "when it arrived, ISO 8601 UTC with microseconds",
    "size": "bytes of the message's frames (name and payload)",
    "address": "base64 of the sender's id on a ROUTER, else empty",
    "headers": "the message's headers as JSON ({} on wire v1, which has none)",
}
COUNTER = "{n}"


class TemplateError(ZeroEventsError):
    """A ``--format`` template names an unknown field or is malformed."""


def check_template(template: str) -> str:
    """``template`` with ``\\n``/``\\t`` escapes read, once its fields are known good."""
    text = template.replace("\\n", "\n").replace("\\t", "\t")
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as error:
        raise TemplateError(f"--format {template!r}: {error}") from None
    for field in fields:
        if field not in FIELDS:
            known = ", ".join("{" + name + "}" for name in FIELDS)
            raise TemplateError(f"--format {template!r}: unknown field {{{field}}}; known: {known}")
    return text


def render(
    template: str,
    *,
    event: str,
    payload: Any,
    frames: Sequence[bytes],
    address: bytes | None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """One ``listen`` line; ``payload`` is already JSON-safe (``to_json``)."""
    return template.format(
        event=event,
        payload=json.dumps(payload, ensure_ascii=False),
        time=datetime.now(UTC).isoformat(timespec="microseconds"),
        size=sum(len(frame) for frame in frames),
        address=base64.b64encode(address).decode("ascii") if address else "",
        headers=json.dumps(dict(headers or {}), ensure_ascii=False),
    )


def numbered(texts: Sequence[str], count: int | None) -> Iterator[tuple[int, list[str]]]:
    """``texts`` once, or ``count`` times with ``{n}`` replaced by 1, 2, ... ``count``."""
    if count is None:
        yield 1, list(texts)
        return
    for n in range(1, count + 1):
        yield n, [text.replace(COUNTER, str(n)) for text in texts]


def lines_of(stream: Iterable[str]) -> Iterator[str]:
    """The non-empty lines of ``stream``, without their line ends."""
    for line in stream:
        text = line.rstrip("\r\n")
        if text:
            yield text
