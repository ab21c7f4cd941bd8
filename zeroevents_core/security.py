"""Who may fire what: rights per authenticated sender, whatever the transport.

A transport that authenticates its peers (ZeroMQ CURVE with its allow list, in
the built-in transport's ``_security`` module) names the sender of each message it
receives: the name of the key the peer proved it holds. ``Rights`` maps those names to the
event-name patterns each may fire, read with a matcher plugin (the service's);
a service never fires an event outside its sender's rights, and fires
``zeroevents.auth.error`` instead. Listeners ask who sent what they are handling
with :func:`current_sender`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .errors import ConfigurationError
from .matchers import Matcher
from .plugins import get_matcher

AUTH_ERROR = "zeroevents.auth.error"
# The second argument of the zeroevents.confirmed reply to an event refused for its
# sender's rights: a v1 sender reads the first argument (the event name) only.
REJECTED = "rejected"

_sender: ContextVar[str | None] = ContextVar("zeroevents-sender", default=None)


def current_sender() -> str | None:
    """The authenticated name of the peer that sent the event being fired, or None
    (an unauthenticated link, or not inside a service's fire)."""
    return _sender.get()


@contextmanager
def sending_as(name: str | None) -> Iterator[None]:
    """Within the block, :func:`current_sender` answers ``name``."""
    token = _sender.set(name)
    try:
        yield
    finally:
        _sender.reset(token)


class Rights:
    """Key name → the event-name patterns it may fire (``{"billing": ["orders.*"]}``).

    A name with no entry may fire nothing, and neither may an unauthenticated sender.
    """

    def __init__(self, rights: Mapping[str, Any], matcher: str = "glob", *, key: str) -> None:
        if not isinstance(rights, Mapping):
            raise ConfigurationError(
                f"option {key!r}: expected a mapping of key names to patterns, got {rights!r}"
            )
        self.source = rights
        self._matchers: dict[str, Matcher] = {}
        for name, patterns in rights.items():
            listed = [patterns] if isinstance(patterns, str) else patterns
            if not isinstance(name, str) or not isinstance(listed, list | tuple):
                raise ConfigurationError(
                    f"option {key!r}: {name!r} must map to a pattern or a list of patterns, "
                    f"got {patterns!r}"
                )
            index = self._matchers[name] = get_matcher(matcher)
            for pattern in listed:
                if not isinstance(pattern, str) or not pattern:
                    raise ConfigurationError(
                        f"option {key!r}: {name!r} has a pattern that is not a non-empty "
                        f"string: {pattern!r}"
                    )
                index.add(pattern)
        self.names = frozenset(self._matchers)

    def allows(self, sender: str | None, event: str) -> bool:
        """Whether ``sender`` may fire ``event``."""
        index = self._matchers.get(sender) if sender is not None else None
        return index is not None and bool(index.match(event))
