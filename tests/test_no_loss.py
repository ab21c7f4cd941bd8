"""No event lost at exit: a producer sends 50,000 events to a slower consumer,
closes its listener the library's way, and exits; the consumer gets every one.

libzmq loses the messages in flight when a sender disconnects while its receiver
sits at its receive high-water mark (libzmq issue 4660). DEALER and PAIR
listeners close behind a ``zeroevents.flush`` barrier; PUSH has no reply path,
so a PULL consumer that must lose nothing sets ``RCVHWM`` to 0 (see docs).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

EVENTS = 50_000

CONSUMER = """
import sys, time
from zeroevents_core import Dispatcher, EventListener, EventService

endpoint, socket_type, rcvhwm, ready_file = sys.argv[1:5]
dispatcher = Dispatcher()
seen = []

def slow(number):
    seen.append(number)
    until = time.perf_counter() + 0.00005  # slower than the producer
    while time.perf_counter() < until:
        pass

dispatcher.listen("orders.created", slow)
options = {"bind": endpoint, "socket_type": socket_type}
if int(rcvhwm) >= 0:
    options["socket_options"] = {"RCVHWM": int(rcvhwm)}
service = EventService(dispatcher).listen(EventListener(options, dispatcher)).poll_timeout(3000)
dispatcher.listen("zeroevents.service.idle", lambda service: service.stop())
service.listeners[0].socket()  # bound before the producer starts
open(ready_file, "w").close()
service.run()
print(len(seen), int(seen == list(range(len(seen)))))
"""

PRODUCER = """
import sys
from zeroevents_core import Dispatcher, EventListener

endpoint, socket_type, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
dispatcher = Dispatcher()
listener = EventListener({"connect": endpoint, "socket_type": socket_type}, dispatcher)
dispatcher.listen("orders.*", listener)
for number in range(count):
    dispatcher.fire("orders.created", number)
listener.close()
"""


@pytest.mark.parametrize(
    ("producer_type", "consumer_type", "rcvhwm"),
    # DEALER/DEALER: both at the library's defaults.
    [("DEALER", "DEALER", -1), ("DEALER", "ROUTER", -1), ("PAIR", "PAIR", -1), ("PUSH", "PULL", 0)],
)
def test_slow_consumer_gets_every_event_after_producer_exits(
    tmp_path: Path, producer_type: str, consumer_type: str, rcvhwm: int
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    ready = tmp_path / "ready"
    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, endpoint, consumer_type, str(rcvhwm), str(ready)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):
            if ready.exists() or consumer.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), "consumer did not start"
        producer = subprocess.run(
            [sys.executable, "-c", PRODUCER, endpoint, producer_type, str(EVENTS)],
            timeout=120,
        )
        assert producer.returncode == 0
        out, _ = consumer.communicate(timeout=120)
    finally:
        consumer.kill()
        consumer.wait(10)
    received, in_order = map(int, out.split())
    assert received == EVENTS
    assert in_order == 1
