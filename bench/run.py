"""Run the benchmark suite: ``python3 bench/run.py [SUITE ...] [--full]``.

Each ``bench_*.py`` of this folder is a standalone script printing its table; this
runs them one after another (quick settings unless ``--full``) and exits 1 if one
of them failed. It lives here, beside the scripts, not in the installed package:
the benchmarks ship with the source repository only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Quick settings per script: enough events for stable ratios, a few seconds each.
QUICK_ARGS: Mapping[str, Sequence[str]] = {
    "e2e": ("--events", "20000", "--repeats", "1", "--round-trips", "2000"),
    "serializers": ("--number", "5000", "--repeat", "3"),
    "schemas": ("--number", "5000"),
    "metrics": ("--events", "30000", "--repeats", "3"),
    "otel": ("--events", "30000", "--repeats", "3"),
    "peers": ("--events", "20000", "--repeats", "1"),
    "delivery": (
        "--events",
        "20000",
        "--repeat",
        "3",
        "--pipe-events",
        "20000",
        "--events-e2e",
        "20000",
        "--latency-events",
        "1000",
    ),
}
FIRST_SUITES = ("e2e", "dispatch", "serializers", "schemas")
EXIT_FAILURE = 1
EXIT_USAGE = 2


def suites(folder: Path = HERE) -> dict[str, Path]:
    """Each suite's name (``e2e`` for ``bench_e2e.py``) and script, in running order."""
    found = {path.stem[len("bench_") :]: path for path in folder.glob("bench_*.py")}
    order = sorted(
        found, key=lambda name: (FIRST_SUITES.index(name) if name in FIRST_SUITES else 99, name)
    )
    return {name: found[name] for name in order}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run the benchmark scripts of bench/ and print their tables; the "
        "end-to-end table gives ratios to raw pyzmq measured in the same run.",
    )
    parser.add_argument(
        "suites", nargs="*", metavar="SUITE",
        help="which scripts: e2e, dispatch, serializers, schemas... (default: all of bench/)",
    )  # fmt: skip
    parser.add_argument(
        "--full", action="store_true",
        help="each script's own (longer) settings instead of the quick ones",
    )  # fmt: skip
    args = parser.parse_args(argv)
    found = suites()
    chosen = list(args.suites) or list(found)
    unknown = [name for name in chosen if name not in found]
    if unknown:
        print(
            f"bench/run.py: error: no suite {unknown[0]!r}; suites: {', '.join(sorted(found))}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    failed = []
    for name in chosen:
        extra = [] if args.full else list(QUICK_ARGS.get(name, ()))
        print(f"== {found[name].name} {' '.join(extra)}".rstrip(), flush=True)
        done = subprocess.run(
            [sys.executable, str(found[name]), *extra], cwd=HERE.parent, check=False
        )
        print(flush=True)
        if done.returncode != 0:
            failed.append(f"{found[name].name} exited {done.returncode}")
    if failed:
        print(
            f"bench/run.py: error: {', '.join(failed)} (the benchmark itself failed: see "
            "above; missed targets are only printed)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
