"""What the observer plugins cost per event, each side, idle and tracing, same run.

    python bench/bench_otel.py [--events N] [--repeats R] [--wire v1|v2]

The pipeline of bench_peers.py: an ``EventListener`` (a DEALER connecting over ipc,
json, the orjson plugin loaded as there) in one process, fired by a dispatcher, to
an ``EventService`` (a DEALER binding) in another, one order dict per event.
Cases (``ZEROEVENTS_LOAD_PLUGINS`` besides zeroevents-orjson):

- none: no observer plugin;
- prometheus: zeroevents-prometheus (opened/closed only, reads Stats at scrape
  time; not served here);
- otel, no SDK: zeroevents-otel on the API's proxy tracer provider, nothing set;
- otel, sampler off: an SDK ``TracerProvider`` with ``ParentBased(ALWAYS_OFF)``
  (the plugin's defaults: a send outside a recording span, an event without a
  sampled ``traceparent`` get no span);
- otel, sampler off, roots: the same with ``ZEROEVENTS_OTEL_ROOTS=1``: every send
  and fire makes a non-recording span (for reference);
- otel recording: ``ALWAYS_ON`` and roots, spans recorded, exported nowhere.

CPU time per event of each process (bench/cpu_pair.py), medians of the repeats,
interleaved. Target: an idle tracing plugin (no SDK, or the sampler off) costs at
most 10% of "none" on each side.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from cpu_pair import medians

CASES = {
    "none": "no observer plugin",
    "prometheus": "zeroevents-prometheus only",
    "otel": "zeroevents-otel, no SDK",
    "sampler off": "zeroevents-otel, SDK ParentBased(ALWAYS_OFF)",
    "sampler off, roots": "  the same, ZEROEVENTS_OTEL_ROOTS=1",
    "recording": "zeroevents-otel, ALWAYS_ON and roots",
}
BASE_PLUGINS = "zeroevents-orjson"
TARGET = 0.10


def setup(case: str) -> None:
    """Load the observer plugin of ``case`` and set its tracer provider."""
    plugins = {"none": "", "prometheus": ",zeroevents-prometheus"}.get(case, ",zeroevents-otel")
    os.environ["ZEROEVENTS_LOAD_PLUGINS"] = BASE_PLUGINS + plugins
    os.environ["ZEROEVENTS_OTEL_ROOTS"] = (
        "1" if case.endswith("roots") or case == "recording" else ""
    )
    if case in ("none", "prometheus", "otel"):
        return
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    sampler = ALWAYS_ON if case == "recording" else ParentBased(ALWAYS_OFF)
    trace.set_tracer_provider(TracerProvider(sampler=sampler))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wire", choices=("v1", "v2"), default="v1")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ze-bench-otel-") as folder:
        run = medians(args.events, args.repeats, list(CASES), {"wire": args.wire}, setup, folder)
    print(
        f"observer plugins, wire {args.wire} json pipeline (DEALER over ipc, {args.events:,} "
        f"events, median of {args.repeats}); load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"  {'CPU us/event':<46}{'producer':>10}{'ratio':>8}{'consumer':>10}{'ratio':>8}"
          f"{'events/s':>10}")  # fmt: skip
    base = run["none"]
    for case, label in CASES.items():
        each = run[case]
        print(
            f"  {label:<46}{each.producer * 1e6:>10.2f}{each.producer / base.producer:>7.2f}x"
            f"{each.consumer * 1e6:>10.2f}{each.consumer / base.consumer:>7.2f}x{each.rate:>10,.0f}"
        )
    for case in ("otel", "sampler off"):
        cost = max(run[case].producer / base.producer, run[case].consumer / base.consumer) - 1
        verdict = "met" if cost <= TARGET else "MISSED"
        print(
            f"  target: {CASES[case]} costs <= 10% CPU per event each side: {cost:+.1%}, {verdict}"
        )


if __name__ == "__main__":
    main()
