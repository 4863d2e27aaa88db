"""Parse throughput benchmark (not a test: nothing here asserts a timing).

Prints files/s over every fixture Containerfile and every BuildKit conformance Dockerfile for:

- ``parse (BuildKit parser level)``: ``parse(text, strict=False)``, what ``--dump`` runs;
- ``parse (strict)``: plus BuildKit's instruction-level checks;
- ``parse -> typed instructions``: plus ``instructions.from_node`` for every node (when available);
- ``parse -> stage plan``: plus ``stages.plan`` (when available): the full front-end IR;
- ``dockerfile-parse alone``: ``DockerfileParser(fileobj=...).structure`` on the same bytes, for reference.

Files a stage of the pipeline rejects (the negative fixtures, some conformance files at the strict level)
count as processed: rejecting is work too. Run: ``python tests/bench/parse_throughput.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shlax_front.errors import ShlaxError  # noqa: E402
from shlax_front.parser import decode, parse  # noqa: E402


def corpus() -> list[Path]:
    files = sorted(ROOT.glob("fixtures/**/Containerfile")) + sorted(ROOT.glob("fixtures/**/Dockerfile"))
    conformance = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser"
    files += sorted(conformance.glob("testfiles*/*/Dockerfile"))
    return files


def measure(function, items, seconds: float) -> float:
    """files/s of ``function`` over ``items``, repeated for at least ``seconds``."""
    done = 0
    start = time.perf_counter()
    while True:
        for item in items:
            try:
                function(item)
            except (ShlaxError, ValueError):
                pass
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=2.0, help="minimum time per row (default 2)")
    args = options.parse_args()

    paths = corpus()
    data = [p.read_bytes() for p in paths]
    texts = [decode(d) for d in data]
    lines = sum(t.count("\n") + 1 for t in texts)

    rows = [
        ("parse (BuildKit parser level)", lambda t: parse(t, strict=False), texts),
        ("parse (strict)", parse, texts),
    ]
    try:
        from_node = importlib.import_module("shlax_front.instructions").from_node
        rows.append(("parse -> typed instructions", lambda t: [from_node(n) for n in parse(t).nodes], texts))
    except (ImportError, AttributeError):
        pass
    try:
        plan = importlib.import_module("shlax_front.stages").plan
        rows.append(("parse -> stage plan", lambda t: plan(parse(t)), texts))
    except (ImportError, AttributeError):
        pass
    try:
        from dockerfile_parse import DockerfileParser

        rows.append(
            ("dockerfile-parse alone", lambda d: DockerfileParser(fileobj=io.BytesIO(d)).structure, data),
        )
    except ImportError:
        rows.append(("dockerfile-parse alone", None, data))

    print(
        f"{len(paths)} files, {lines} lines, {sum(len(d) for d in data)} bytes; >= {args.seconds:g}s per row"
    )
    print(f"{'pipeline':<34} {'files/s':>10} {'us/file':>9}")
    for name, function, items in rows:
        if function is None:
            print(f"{name:<34} {'(not installed)':>10}")
            continue
        rate = measure(function, items, args.seconds)
        print(f"{name:<34} {rate:>10,.0f} {1e6 / rate:>9.1f}")


if __name__ == "__main__":
    main()
