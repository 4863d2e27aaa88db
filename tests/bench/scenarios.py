"""Scenario benchmarks: shlax-front against buildah as people use it, on the bundled example app (``make bench``).

Contenders (each from the same cold state, see ``harness.py``):
  buildah      ``buildah bud --layers`` on fixtures/app/Containerfile, as people write it
  cachemounts  ``buildah bud --layers`` on fixtures/app/Containerfile.cachemounts (BuildKit-style cache mounts)
  shlax-front  ``shlax-front build`` on fixtures/app/Containerfile

Scenarios, in this order for each contender:
  cold      first build from an empty store and empty caches
  noop      the same build again, nothing changed (median of --noop-runs)
  edit      application source copied last edited (fixtures/app/src/static/app.js)
  added     one apt, one pip and one npm package added (fixtures/app/variants/added)

``--app app2`` runs the same on the second, smaller app (fixtures/app2: apt python3 + venv + curl/tini/procps,
pip flask + requests, app.py copied last; its added variant adds less and six, no npm part).
  offline   the network cut (``unshare --net``, and the proxy refuses) and the layer cache bypassed
            (``--no-cache``), so the package steps must run again from whatever the download caches hold;
            shlax-front gets ``--offline``

Every pass runs all of it; by default twice: unthrottled, and through the proxy limited to 20 Mbit/s.
Bytes are counted by the proxy (deterministic); seconds are wall-clock on a shared machine (noisy).
Results: a table on stdout, and ``tests/bench/results/bench.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    APPS,
    CONTENDERS,
    TAG,
    Run,
    cut_network,
    export_base_image,
    export_source,
)
from proxy import CountingProxy  # noqa: E402
from report import write_reports  # noqa: E402
from sizes import AddedPackages, measure_added  # noqa: E402

SCENARIOS = ("cold", "noop", "edit", "added", "offline")
RESULTS = Path(__file__).resolve().parent / "results"


def run_contender(contender, proxy, base_archive, pass_name, noop_runs, added_holder, scenarios) -> list[Run]:
    """All scenarios for one contender in one pass, from a cold state; stops after a failed cold build."""
    runs: list[Run] = []
    print(f"[{pass_name}] {contender.label}: resetting to the cold state", flush=True)
    contender.reset(base_archive, proxy)
    try:
        steps = [
            ("cold", lambda: contender.build(proxy, pass_name, "cold")),
            ("noop", lambda: contender.build_median(proxy, pass_name, "noop", noop_runs)),
            ("edit", lambda: (contender.edit_source(1), contender.build(proxy, pass_name, "edit"))[1]),
            ("added", lambda: (contender.apply_variant(), contender.build(proxy, pass_name, "added"))[1]),
            ("offline", lambda: contender.build(proxy, pass_name, "offline", offline=True, no_cache=True)),
        ]
        for scenario, step in steps:
            if scenario not in scenarios:
                continue
            run = step()
            runs.append(run)
            status = "ok" if run.ok else f"FAILED (exit {run.exit_code})"
            print(
                f"[{pass_name}] {contender.key:<12} {scenario:<8} {run.seconds:8.1f} s "
                f"{run.bytes_received / 2**20:9.2f} MiB  {status}",
                flush=True,
            )
            if scenario == "cold":
                if not run.ok:
                    print(run.tail, flush=True)
                    break
                if added_holder.get("added") is None:
                    print(f"[{pass_name}] weighing the packages the 'added' variant adds", flush=True)
                    app = contender.app
                    added_holder["added"] = measure_added(app.path, app.variant, TAG, contender.env(proxy))
    finally:
        contender.destroy(proxy)
    return runs


def environment() -> dict:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": platform.node(),
        "cpus": out(["nproc"]),
        "kernel": platform.release(),
        "buildah": out(["buildah", "--version"]),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated: " + ",".join(CONTENDERS)
    )
    parser.add_argument("--passes", default="unthrottled,throttled", help="unthrottled, throttled or both")
    parser.add_argument("--rate-mbit", type=float, default=20.0, help="bandwidth of the throttled pass")
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch space (default: a fresh /var/tmp dir)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="subset, in the fixed order; cold always runs first"
    )
    parser.add_argument("--note", action="append", default=[], help="a remark printed with the results")
    parser.add_argument("--shlax-commit", default="HEAD", help="the shlax-front commit to benchmark")
    parser.add_argument(
        "--app",
        default="app",
        choices=sorted(APPS),
        help="app: the bundled example; app2: the second, smaller one",
    )
    args = parser.parse_args(argv)

    keys = [key.strip() for key in args.contenders.split(",") if key.strip()]
    unknown = [key for key in keys if key not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    scenarios = {"cold"} | {name.strip() for name in args.scenarios.split(",") if name.strip()}
    if not scenarios <= set(SCENARIOS):
        parser.error(f"--scenarios takes some of {', '.join(SCENARIOS)}")
    passes = [name.strip() for name in args.passes.split(",") if name.strip()]
    if not set(passes) <= {"unthrottled", "throttled"}:
        parser.error("--passes takes unthrottled, throttled or both")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shlax-bench-", dir="/var/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)

    commit = export_source(workdir, args.shlax_commit)
    contenders = [CONTENDERS[key](workdir, APPS[args.app]) for key in keys]
    missing = {c.key: reason for c in contenders if (reason := c.missing())}
    for key, reason in missing.items():
        print(f"contender {key} MISSING: {reason} (reported as missing, no numbers)", flush=True)

    base_archive = export_base_image(workdir)
    runs: list[Run] = []
    added_holder: dict[str, AddedPackages | None] = {"added": None}
    with CountingProxy() as proxy:
        for pass_name in passes:
            proxy.set_rate(args.rate_mbit if pass_name == "throttled" else None)
            for contender in contenders:
                if contender.key in missing:
                    continue
                runs += run_contender(
                    contender, proxy, base_archive, pass_name, args.noop_runs, added_holder, scenarios
                )

    results = {
        "environment": {**environment(), "commit": commit},
        "app": APPS[args.app].description,
        "contenders": {c.key: c.label for c in contenders},
        "missing": missing,
        "passes": {
            name: f"throttled to {args.rate_mbit:g} Mbit/s" if name == "throttled" else "unthrottled"
            for name in passes
        },
        "rate_mbit": args.rate_mbit,
        "network_cut": (
            "`unshare --net`: the build runs in a network namespace with only loopback, no route out"
            if cut_network(["true"]) != ["true"]
            else "the proxy refuses every request; direct connections were NOT cut"
        ),
        "noop_runs": args.noop_runs,
        "notes": args.note,
        "added": None if added_holder["added"] is None else vars(added_holder["added"]),
        "runs": [run.as_dict() for run in runs],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    table = write_reports(results, args.out)
    print(table)
    print(f"\nwrote {args.out / 'bench.md'}, {args.out / 'bench.png'}, {args.out / 'bench.json'}")
    print(f"logs under {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
