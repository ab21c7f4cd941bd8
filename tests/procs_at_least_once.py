"""Consumers run in child processes by tests/test_at_least_once.py.

Each fired event is written to a file with one ``os.write`` (an id per line) before
its listener returns: the kernel keeps it through a kill -9, so the file says what
was fired, whatever happens to the process after.
"""

from __future__ import annotations

import os
import time
from typing import Any

from zeroevents_core import Dispatcher, EventListener, EventService

IDLE = "zeroevents.service.idle"


def consume(
    options: dict[str, Any], log_path: str, queue: Any, hang_on: int = -1, delay: float = 0.0
) -> None:
    """Fire ``orders.*`` from a service on ``options``; each event's id (its payload's
    ``id``) appended to ``log_path``, then ``delay`` seconds (a slow consumer has a
    backlog to lose). The event numbered ``hang_on`` hangs its listener (to be
    killed mid-fire), once its id is written."""
    dispatcher = Dispatcher()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def fired(order: dict[str, Any]) -> None:
        message = dispatcher.firing_message()
        event_id = message.event_id if message is not None else None
        os.write(log, f"{order['id']} {event_id}\n".encode())
        if order["id"] == hang_on:
            time.sleep(120)  # killed before it returns: never acknowledged
        if delay:
            time.sleep(delay)

    dispatcher.listen("orders.*", fired)
    told: list[bool] = []

    def ready(service: EventService) -> None:
        if not told:
            told.append(True)
            queue.put(("ready",))

    dispatcher.listen(IDLE, ready)
    service = EventService(dispatcher).poll_timeout(20)
    service.listen(EventListener(options, dispatcher))
    service.run()
    queue.put(("stopped", service.stats.fired, service.stats.duplicates))


def fired_ids(log_path: str) -> list[int]:
    """The ids written by the consumers, in order, duplicates included."""
    try:
        with open(log_path, encoding="utf-8") as log:
            return [int(line.split()[0]) for line in log if line.strip()]
    except FileNotFoundError:
        return []
