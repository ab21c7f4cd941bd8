"""``python -m zeroevents_core.demo``: events fired in-process through the dispatcher."""

from __future__ import annotations

from .dispatcher import Dispatcher


def main() -> None:
    dispatcher = Dispatcher()
    dispatcher.listen("orders.*", lambda order: print(f"  {dispatcher.firing()}: {order}"))
    dispatcher.listen("orders.created", lambda order: print("  audit: new order"), priority=10)
    for event, order in [("orders.created", {"id": 1}), ("orders.shipped", {"id": 1})]:
        print(f"fire {event}")
        dispatcher.fire(event, order)


if __name__ == "__main__":
    main()
