"""The listener options of the outbox and of the durable dedup store, checked.

``outbox`` and ``dedup_store`` are paths (or None: off), ``outbox_sync`` and
``dedup_sync`` are ``"normal"`` or ``"full"`` (what each survives: :mod:`.store`), the
two bounds are ints >= 1; ``outbox_batch_max`` (rows per message, 1 to 65535) and
``outbox_linger_ms`` (>= 0) shape the sender's messages (:mod:`.sender`). Defaults:
``OUTBOX_DEFAULTS`` (docs/configuration.md, "The outbox"). No SQLite here: the listener
imports this module, the file is opened on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..errors import ConfigurationError

# Defaults of the options of the same names (docs/configuration.md, "The outbox").
DEFAULT_MAX_EVENTS = 1_000_000
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_SYNC = "normal"
# The sender's messages: up to this many rows in one (a wire v2 batch), and how long
# it waits for rows still coming to join the first (ms). Within a receiver's
# max_batch_events (1,024 by default); a batch it refuses is resent row by row.
DEFAULT_BATCH_MAX = 256
DEFAULT_LINGER_MS = 2
# outbox_sync: SQLite's synchronous setting for each (what each survives: .store).
SYNC_MODES = {"normal": "NORMAL", "full": "FULL"}

OUTBOX_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "outbox": None,
        "outbox_sync": DEFAULT_SYNC,
        "outbox_max_events": DEFAULT_MAX_EVENTS,
        "outbox_max_bytes": DEFAULT_MAX_BYTES,
        "outbox_batch_max": DEFAULT_BATCH_MAX,
        "outbox_linger_ms": DEFAULT_LINGER_MS,
        "dedup_store": None,
        "dedup_sync": DEFAULT_SYNC,
    }
)


def check_outbox_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The eight options of ``options`` (defaults where missing), checked; a wrong one
    is a ConfigurationError naming the key and what it takes."""
    checked = {key: options.get(key, default) for key, default in OUTBOX_DEFAULTS.items()}
    for key in ("outbox", "dedup_store"):
        value = checked[key]
        if value is not None and not (isinstance(value, str | os.PathLike) and str(value)):
            raise ConfigurationError(f"option {key!r}: expected a file path or None, got {value!r}")
    for key in ("outbox_sync", "dedup_sync"):
        sync = checked[key]
        if sync not in SYNC_MODES:
            choices = " or ".join(repr(mode) for mode in SYNC_MODES)
            raise ConfigurationError(f"option {key!r}: expected {choices}, got {sync!r}")
    for key in ("outbox_max_events", "outbox_max_bytes"):
        value = checked[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"option {key!r}: expected an int >= 1, got {value!r}")
    batch_max, linger_ms = checked["outbox_batch_max"], checked["outbox_linger_ms"]
    if isinstance(batch_max, bool) or not isinstance(batch_max, int) or not 0 < batch_max < 2**16:
        raise ConfigurationError(
            f"option 'outbox_batch_max': expected an int from 1 (each row alone) to 65535 "
            f"rows, got {batch_max!r}"
        )
    if isinstance(linger_ms, bool) or not isinstance(linger_ms, int) or linger_ms < 0:
        raise ConfigurationError(
            f"option 'outbox_linger_ms': expected milliseconds, an int >= 0, got {linger_ms!r}"
        )
    if checked["outbox"] is not None and checked["outbox"] == checked["dedup_store"]:
        raise ConfigurationError(
            f"options 'outbox' and 'dedup_store' name the same file {checked['outbox']!r}: "
            "give each its own"
        )
    return checked
