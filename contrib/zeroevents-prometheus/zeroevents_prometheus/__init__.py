"""Prometheus metrics for zeroevents, with ``prometheus_client``.

Installed, this plugin registers an observer (the ``register_observers`` hook) that
keeps every open listener socket and running service, weakly, and a collector on
``prometheus_client``'s default registry that reads their live
:class:`~zeroevents_core.Stats` at scrape time: the events pay nothing for it.
Serve the metrics with ``zeroevents listen --metrics-port PORT``, with
:class:`MetricsServer`, or with any ``prometheus_client`` exposition of the
default registry.

Every metric has the labels ``role`` (``listener`` or ``service``), ``transport``
and ``endpoint``; sockets and services with the same three are summed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from zeroevents_core.errors import CommandError
from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.observers import Observed
from zeroevents_core.stats import LATENCY_BUCKETS, Stats

LABELS = ("role", "transport", "endpoint")
# The histogram's ``le`` labels, as prometheus_client writes them.
BOUNDS = (*map(floatToGoString, LATENCY_BUCKETS), "+Inf")
DEFAULT_HOST = "127.0.0.1"

# Counter name (without ``_total``, which prometheus_client adds) -> Stats field, help.
COUNTERS = {
    "zeroevents_events_sent": ("sent", "Events handed to the link by a socket."),
    "zeroevents_events_received": ("received", "Messages a service took off the link."),
    "zeroevents_events_fired": ("fired", "Received events fired on the dispatcher."),
    "zeroevents_events_acknowledged": ("acknowledged", "At-least-once: events acknowledged."),
    "zeroevents_events_retried": ("retried", "At-least-once: retransmissions."),
    "zeroevents_events_failed": ("failed", "At-least-once: events given up."),
    "zeroevents_events_duplicates": ("duplicates", "At-least-once: duplicates not fired."),
    "zeroevents_events_dropped": ("dropped_hwm", "Sends dropped at the high-water mark."),
}
# The ``kind`` label of zeroevents_errors_total -> Stats field.
ERROR_KINDS = {
    "decode": "decode_errors",
    "schema": "schema_errors",
    "listener": "listener_errors",
    "auth": "auth_errors",
    "push": "push_errors",
    "internal": "internal_errors",
}


class StatsCollector(Collector):
    """The observer and the collector: the open sockets and running services, read
    at each scrape. Held weakly, so that one dropped without being closed goes too."""

    def __init__(self) -> None:
        self._observed: weakref.WeakSet[Observed] = weakref.WeakSet()
        self._lock = threading.Lock()

    def opened(self, observed: Observed) -> None:
        with self._lock:
            self._observed.add(observed)

    def closed(self, observed: Observed) -> None:
        with self._lock:
            self._observed.discard(observed)

    def _by_labels(self) -> dict[tuple[str, str, str], list[Stats]]:
        with self._lock:
            observed = list(self._observed)
        groups: dict[tuple[str, str, str], list[Stats]] = {}
        for each in observed:
            groups.setdefault((each.role, each.transport, each.where), []).append(each.stats)
        return groups

    def collect(self) -> Iterator[Metric]:
        groups = self._by_labels()
        for name, (field, text) in COUNTERS.items():
            counter = CounterMetricFamily(name, text, labels=LABELS)
            for labels, stats in groups.items():
                counter.add_metric(labels, sum(getattr(s, field) for s in stats))
            yield counter
        errors = CounterMetricFamily(
            "zeroevents_errors", "Errors by kind (push: zeroevents.push.error fired).",
            labels=(*LABELS, "kind"),
        )  # fmt: skip
        for labels, stats in groups.items():
            for kind, field in ERROR_KINDS.items():
                errors.add_metric((*labels, kind), sum(getattr(s, field) for s in stats))
        yield errors
        in_flight = GaugeMetricFamily(
            "zeroevents_events_in_flight", "Events sent and not yet acknowledged.", labels=LABELS
        )
        for labels, stats in groups.items():
            in_flight.add_metric(labels, sum(s.in_flight for s in stats))
        yield in_flight
        latency = HistogramMetricFamily(
            "zeroevents_ack_latency_seconds",
            "At-least-once: from an event's first send to its acknowledgement.",
            labels=LABELS,
        )
        for labels, stats in groups.items():
            latency.add_metric(labels, _buckets(stats), sum(s.ack_latency.sum for s in stats))
        yield latency


def _buckets(stats: Iterable[Stats]) -> list[tuple[str, float]]:
    """Cumulative counts per ``le`` bound, +Inf last, summed over ``stats``."""
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    for each in stats:
        for i, count in enumerate(each.ack_latency.counts):
            counts[i] += count
    total, buckets = 0, []
    for bound, count in zip(BOUNDS, counts, strict=True):
        total += count
        buckets.append((bound, float(total)))
    return buckets


COLLECTOR = StatsCollector()
_registered = False
_registering = threading.Lock()


@hookimpl
def register_observers(register: Callable[[Any], Any]) -> None:
    global _registered
    with _registering:
        if not _registered:  # the hook runs again after each register_plugin
            REGISTRY.register(COLLECTOR)
            _registered = True
    register(COLLECTOR)


class MetricsServer:
    """The default registry served on ``http://host:port/metrics`` (port 0: a free
    one; :attr:`port` is the one bound) from a daemon thread, until :meth:`close`."""

    def __init__(self, port: int, host: str = DEFAULT_HOST) -> None:
        try:
            self._server, self._thread = start_http_server(port, host)
        except OSError as error:
            raise CommandError(f"metrics port {port}: cannot serve on {host}: {error}") from None
        self.host = host
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {value!r}")
    return port


@hookimpl
def add_cli_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    if command != "listen":
        return
    parser.add_argument(
        "--metrics-port", type=_port, metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (0: a free port, "
        "printed on stderr; zeroevents-prometheus)",
    )  # fmt: skip
    parser.add_argument(
        "--metrics-host", default=DEFAULT_HOST, metavar="HOST",
        help=f"address of --metrics-port (default: {DEFAULT_HOST})",
    )  # fmt: skip


@hookimpl
def configure_cli(command: str, args: argparse.Namespace) -> Callable[[], None] | None:
    port = getattr(args, "metrics_port", None)
    if command != "listen" or port is None:
        return None
    server = MetricsServer(port, args.metrics_host)
    print(
        f"zeroevents listen: metrics on http://{server.host}:{server.port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    return server.close
