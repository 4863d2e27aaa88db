"""The benchmark's bookkeeping: what the variant adds, and how targets are judged from measured runs.

The runs themselves are benchmarks (``make bench``), never tests; these check the arithmetic and the wording on
hand-made results, so a wrong verdict cannot hide in a real run's noise.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
APP = Path(__file__).resolve().parents[2] / "fixtures" / "app"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sizes = _load("sizes")
report = _load("report")
MIB = 2**20


def test_the_variant_adds_exactly_one_package_per_manager():
    variant = APP / "variants" / "added"
    apt = sizes.apt_packages((variant / "Containerfile").read_text()) - sizes.apt_packages(
        (APP / "Containerfile").read_text()
    )
    assert apt == {"postgresql-client"}
    apt_mounts = sizes.apt_packages((variant / "Containerfile.cachemounts").read_text()) - sizes.apt_packages(
        (APP / "Containerfile.cachemounts").read_text()
    )
    assert apt_mounts == apt
    pip = sizes.requirement_lines((variant / "requirements.txt").read_text()) - sizes.requirement_lines(
        (APP / "requirements.txt").read_text()
    )
    assert pip == {"pygments==2.18.0"}
    old = sizes.lock_packages(json.loads((APP / "package-lock.json").read_text()))
    new = sizes.lock_packages(json.loads((variant / "package-lock.json").read_text()))
    assert {path for path in new if old.get(path) != new[path]} == {"node_modules/dayjs"}


def test_both_app_containerfiles_install_the_same_apt_packages():
    assert sizes.apt_packages((APP / "Containerfile").read_text()) == sizes.apt_packages(
        (APP / "Containerfile.cachemounts").read_text()
    )
    assert len(sizes.apt_packages((APP / "Containerfile").read_text())) == 13


def _run(contender, scenario, seconds, received, ok=True, pass_name="unthrottled"):
    return {
        "pass_name": pass_name,
        "contender": contender,
        "scenario": scenario,
        "ok": ok,
        "seconds": seconds,
        "bytes_received": received,
        "exit_code": 0 if ok else 1,
        "refused": 0 if ok else 3,
        "samples": [],
    }


def _results(runs, missing=None):
    return {
        "environment": {
            "date": "d",
            "cpus": "2",
            "kernel": "k",
            "buildah": "b",
            "python": "3.11",
            "commit": "c",
        },
        "contenders": {"buildah": "bud", "cachemounts": "mounts", "shlax-front": "shlax"},
        "missing": missing or {},
        "passes": {"unthrottled": "unthrottled"},
        "rate_mbit": 20,
        "noop_runs": 3,
        "added": {
            "apt": {"a.deb": MIB},
            "pip": {"b.whl": MIB // 2},
            "npm": {"c.tgz": MIB // 2},
            "requested": {},
        },
        "runs": runs,
    }


def test_targets_met_and_missed_with_the_margin():
    runs = [
        _run("buildah", "noop", 2.0, 0),
        _run("cachemounts", "added", 100.0, 5 * MIB),
        _run("shlax-front", "added", 95.0, 4 * MIB),  # limit 2*2 MiB + 0.5 = 4.5 MiB: met; 95 > 90 s: missed
        _run("shlax-front", "noop", 0.5, 0),  # limit 0.3 x 2 s: met
        _run("buildah", "edit", 3.0, 0),
        _run("shlax-front", "edit", 2.0, 0),  # limit 0.5 x 3 s: missed
        _run("shlax-front", "offline", 10.0, 0, ok=False),
    ]
    verdicts = {row[1]: row[4] for row in report.targets(_results(runs))}
    assert verdicts["added: bytes <= 2x new packages + 0.5 MiB"].startswith("met")
    assert verdicts["added: wall <= 0.9x cache-mount buildah"].startswith("MISSED by 6%")
    assert verdicts["no-op: wall <= 0.3x buildah bud"].startswith("met")
    assert verdicts["late edit: wall <= 0.5x buildah bud"].startswith("MISSED by 33%")
    measured = {row[1]: row[2] for row in report.targets(_results(runs))}
    assert measured["no-op: wall <= 0.3x buildah bud"] == "0.50 s (0.25x bud)"
    assert verdicts["offline rebuild succeeds"] == "MISSED"


def test_a_missing_contender_is_reported_as_missing_never_as_numbers():
    runs = [_run("buildah", "noop", 2.0, 0), _run("cachemounts", "added", 100.0, 5 * MIB)]
    results = _results(runs, missing={"shlax-front": "`shlax-front build` not available yet"})
    assert {row[4] for row in report.targets(results)} == {"not measured"}
    rows = report.table_rows(results)
    assert [
        "unthrottled",
        "shlax-front",
        "all",
        "MISSING: `shlax-front build` not available yet",
        "",
        "",
        "",
    ] in rows
    text = report.markdown(results)
    assert "**missing**: `shlax-front build` not available yet" in text


def test_table_gives_the_ratio_to_the_new_packages_and_marks_failures():
    runs = [_run("buildah", "added", 10.0, 4 * MIB), _run("buildah", "offline", 1.0, 0, ok=False)]
    rows = {row[2]: row for row in report.table_rows(_results(runs))}
    assert rows["added"][5:] == ["4.00", "2.00x"]
    assert rows["offline"][3] == "FAILED (exit 1, 3 network attempts refused)"
