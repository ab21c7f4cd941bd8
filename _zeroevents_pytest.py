"""The pytest plugin ``zeroevents.testing``: the fixtures ``fired`` and ``event_link``.

It ships in the zeroevents-core distribution (entry point ``zeroevents.testing`` of
the ``pytest11`` group) rather than as a separate zeroevents-pytest: the fixtures
drive the core's own dispatcher, service and memory transport, so the two can never
be installed at versions that disagree, and a project testing its events needs
nothing more than the library. The price is that pytest imports this module in every
run of every project where zeroevents-core is installed; so it is a module of its
own, outside the ``zeroevents_core`` package (whose import costs 15 to 30 ms more
than pytest's own, measured with ``python -X importtime``, where this module costs
0.15 ms), and imports pytest alone: the helpers (``zeroevents_core.testing``) load
when a test first asks for a fixture. ``-p no:zeroevents.testing`` turns it off.

Settings: ``--zeroevents-contracts PATH`` or the ini option ``zeroevents_contracts``
(a contract folder both ends of every ``event_link`` enforce; relative to the ini
file), ``zeroevents_max_events`` and ``zeroevents_timeout`` (see docs/testing.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from zeroevents_core.testing import EventLink, EventRecorder


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("zeroevents", "zeroevents: testing event flows")
    group.addoption(
        "--zeroevents-contracts",
        metavar="PATH",
        default=None,
        help="contract folder enforced at both ends of every event_link "
        "(default: the zeroevents_contracts ini option; none)",
    )
    parser.addini(
        "zeroevents_contracts",
        "contract folder enforced at both ends of every event_link, relative to this file",
    )
    parser.addini("zeroevents_max_events", "events a 'fired' recorder keeps (default: 10000)")
    parser.addini("zeroevents_timeout", "seconds fired.wait_for waits when not told (default: 10)")


def _settings(config: pytest.Config) -> dict[str, Any]:
    """The recorder settings given in the ini file; the helpers' defaults otherwise."""
    from zeroevents_core.errors import ConfigurationError

    settings: dict[str, Any] = {}
    for key, option, kind in (
        ("zeroevents_max_events", "max_events", int),
        ("zeroevents_timeout", "timeout", float),
    ):
        text = config.getini(key)
        if text:
            try:
                settings[option] = kind(text)
            except ValueError:
                raise ConfigurationError(
                    f"ini option {key!r} of {config.inipath}: expected a number, got {text!r}"
                ) from None
    return settings


def _contracts(config: pytest.Config) -> Path | None:
    given = config.getoption("zeroevents_contracts")
    if given:
        return Path(given)
    text: str = config.getini("zeroevents_contracts")
    if not text:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / text


@pytest.fixture
def fired(request: pytest.FixtureRequest) -> Iterator[EventRecorder]:
    """Records every event fired on the default dispatcher (or the one given by
    indirect parametrization) during the test; ``fired.on(dispatcher)`` records
    another one. Recording stops at teardown."""
    from zeroevents_core.testing import EventRecorder

    recorder = EventRecorder(getattr(request, "param", None), **_settings(request.config))
    yield recorder
    recorder.stop()


@pytest.fixture
def event_link(request: pytest.FixtureRequest) -> Iterator[Callable[..., EventLink]]:
    """``event_link(**options)``: a connected listener and service in-process (see
    ``zeroevents_core.testing.event_link``), closed at teardown; the configured
    contracts are enforced at both ends."""
    from zeroevents_core.testing import event_link as link

    defaults = {"contracts": _contracts(request.config), **_settings(request.config)}
    with ExitStack() as links:

        def make(**options: Any) -> EventLink:
            made: EventLink = links.enter_context(link(**{**defaults, **options}))
            return made

        yield make
