"""Parse throughput benchmark (not a test: nothing here asserts a timing).

Prints files/s over every fixture Containerfile and every BuildKit conformance Dockerfile for:

- ``parse-to-IR``: the figure the front end is judged on (issue 2): text -> typed instructions grouped in
  stages, i.e. ``stages.plan(parse(text))``, what ``build``, ``optimize`` and ``parse --json`` start from
  (instruction checks, typed instructions, stage graph, ARG/ENV expansion of every needed stage);
- ``dockerfile-parse alone``: ``DockerfileParser(fileobj=...).structure`` on the same bytes, for reference;
- the stages of the pipeline on their own: ``parse(text, strict=False)`` (BuildKit's parser level, what
  ``--dump`` runs), ``parse(text)`` (plus BuildKit's instruction-level checks), and ``parse`` then
  ``instructions.from_node`` for every node.

Files a stage of the pipeline rejects (the negative fixtures, some conformance files at the strict level)
count as processed: rejecting is work too. Rates are per second of CPU time; each row is timed in several
rounds and the best round is printed (other processes on the machine only ever slow a round down). Run:
``python tests/bench/parse_throughput.py [--seconds N] [--rounds R] [FOLDER...]`` (folders: a real-world corpus
instead of the fixtures).
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


def corpus(extra: list[Path] | None = None) -> list[Path]:
    """The fixtures and the conformance files, or, when ``extra`` folders are given, every file under them whose
    name contains ``Dockerfile`` or ``Containerfile`` (any case): a real-world corpus."""
    if extra:
        return sorted(
            p
            for folder in extra
            for p in folder.rglob("*")
            if p.is_file() and ("dockerfile" in p.name.lower() or "containerfile" in p.name.lower())
        )
    files = sorted(ROOT.glob("fixtures/**/Containerfile")) + sorted(ROOT.glob("fixtures/**/Dockerfile"))
    conformance = ROOT.parent / "shared" / "conformance" / "buildkit" / "parser"
    files += sorted(conformance.glob("testfiles*/*/Dockerfile"))
    return files


def measure(function, items, seconds: float) -> float:
    """files/s of ``function`` over ``items``, repeated for at least ``seconds`` of this process's CPU time.

    CPU time, not wall time: the machines this runs on are shared, and time spent waiting for a core is not
    the parser's. The figure is what a quiet machine shows (the parser is single-threaded and does no I/O).
    """
    done = 0
    start = time.process_time()
    while True:
        for item in items:
            try:
                function(item)
            except (ShlaxError, ValueError):
                pass
        done += len(items)
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return done / elapsed


def best_rate(function, items, seconds: float, rounds: int) -> float:
    """The best files/s of ``rounds`` rounds sharing ``seconds``."""
    return max(measure(function, items, seconds / rounds) for _ in range(rounds))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--seconds", type=float, default=2.0, help="minimum time per row (default 2)")
    options.add_argument("--rounds", type=int, default=4, help="rounds per row, best one printed (default 4)")
    options.add_argument(
        "corpus", nargs="*", type=Path, help="folders of real-world files to use instead of the fixtures"
    )
    args = options.parse_args()

    paths = corpus(args.corpus)
    data = [p.read_bytes() for p in paths]
    texts = [decode(d) for d in data]
    lines = sum(t.count("\n") + 1 for t in texts)

    rows = []
    try:
        plan = importlib.import_module("shlax_front.stages").plan
        rows.append(("parse-to-IR (typed stages)", lambda t: plan(parse(t)), texts))
    except (ImportError, AttributeError):
        rows.append(("parse-to-IR (typed stages)", None, texts))
    try:
        from dockerfile_parse import DockerfileParser

        rows.append(
            ("dockerfile-parse alone", lambda d: DockerfileParser(fileobj=io.BytesIO(d)).structure, data),
        )
    except ImportError:
        rows.append(("dockerfile-parse alone", None, data))
    rows.append(("parse, BuildKit parser level", lambda t: parse(t, strict=False), texts))
    rows.append(("parse, strict", parse, texts))
    try:
        from_node = importlib.import_module("shlax_front.instructions").from_node
        rows.append(("parse + typed instructions", lambda t: [from_node(n) for n in parse(t).nodes], texts))
    except (ImportError, AttributeError):
        pass

    print(
        f"{len(paths)} files, {lines} lines, {sum(len(d) for d in data)} bytes; "
        f">= {args.seconds:g}s per row, best of {args.rounds} rounds"
    )
    print(f"{'pipeline':<34} {'files/s':>10} {'us/file':>9}")
    for name, function, items in rows:
        if function is None:
            print(f"{name:<34} {'(not installed)':>10}")
            continue
        rate = best_rate(function, items, args.seconds, max(args.rounds, 1))
        print(f"{name:<34} {rate:>10,.0f} {1e6 / rate:>9.1f}")


if __name__ == "__main__":
    main()
