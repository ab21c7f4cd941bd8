"""The package root is the public API: every listed name resolves, constants included."""

from __future__ import annotations

import subprocess
import sys

import zeroevents_core


def test_every_listed_name_resolves() -> None:
    missing = [name for name in zeroevents_core.__all__ if not hasattr(zeroevents_core, name)]
    assert missing == []


def test_event_name_constants_are_exported_from_the_root() -> None:
    assert {
        name: getattr(zeroevents_core, name)
        for name in (
            "PUSH_ERROR",
            "PULL_ERROR",
            "SCHEMA_ERROR",
            "IDLE",
            "STOP",
            "CONFIRMED",
            "FLUSH",
        )
    } == {
        "PUSH_ERROR": "zeroevents.push.error",
        "PULL_ERROR": "zeroevents.pull.error",
        "SCHEMA_ERROR": "zeroevents.schema.error",
        "IDLE": "zeroevents.service.idle",
        "STOP": "zeroevents.service.stop",
        "CONFIRMED": "zeroevents.confirmed",
        "FLUSH": "zeroevents.flush",
    }


def test_star_import_gives_the_listed_names() -> None:
    code = "from zeroevents_core import *\nprint(PUSH_ERROR, register_plugin.__name__)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["zeroevents.push.error", "register_plugin"]
