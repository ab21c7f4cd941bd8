"""``zeroevents plugins``: every registered serializer, transport and matcher, and
the observers (listed only when there are some)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._arguments import EXIT_OK
from ._values import one_line

KINDS = ("serializer", "transport", "matcher")


def add_parser(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    plugins = commands.add_parser(
        "plugins", parents=[common],
        help="list serializers, transports and matchers, and plugins that failed",
        description="List every registered serializer, transport and matcher with the "
        "distribution and version providing it, then the plugins that failed to load.",
    )  # fmt: skip
    plugins.add_argument("--json", action="store_true", help="one JSON document instead")
    plugins.set_defaults(run=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..plugins import list_observers, list_plugins, plugin_errors

    infos = list_plugins()
    errors = plugin_errors()
    observers = list_observers()
    if args.json:
        document = {
            f"{kind}s": [
                {
                    "name": info.name,
                    "distribution": info.distribution,
                    "version": info.version,
                    "plugin": info.plugin,
                    "class": f"{info.obj.__module__}.{info.obj.__qualname__}",
                    **({"details": info.obj.describe()} if kind == "transport" else {}),
                }
                for info in infos
                if info.kind == kind
            ]
            for kind in KINDS
        }
        document["observers"] = [
            {"name": info.name, "distribution": info.distribution, "version": info.version,
             "plugin": info.plugin}
            for info in observers
        ]  # fmt: skip
        print(json.dumps({**document, "errors": [one_line(str(e)) for e in errors]}, indent=2))
        return EXIT_OK
    for kind in KINDS:
        rows = [info for info in infos if info.kind == kind]
        print(f"{kind}s:")
        if not rows:
            print("  (none)")
        width = max((len(info.name) for info in rows), default=0)
        provider_width = max((len(info.provider) for info in rows), default=0)
        for info in rows:
            extra = ""
            content_type = getattr(info.obj, "content_type", None)
            if kind == "serializer" and content_type:
                extra = f"  {content_type}"
            if kind == "transport":
                extra = f"  {info.obj.describe()}"
            print(f"  {info.name:<{width}}  {info.provider:<{provider_width}}{extra}".rstrip())
    if observers:
        print("observers:")
        width = max(len(info.name) for info in observers)
        for info in observers:
            print(f"  {info.name:<{width}}  {info.provider}")
    if errors:
        print("failed:")
        for error in errors:
            print(f"  {one_line(str(error))}")
    return EXIT_OK
