"""--explain's reason a node or uv install is built in full: what it says names that tool's case."""

from __future__ import annotations

import pytest

from shlax_front import actions as A
from shlax_front.backend.deltarule import describe


@pytest.mark.parametrize(
    ("tool", "record"),
    [("yarn", ".yarn-integrity"), ("pnpm", ".modules.yaml and .pnpm")],
)
def test_a_node_install_built_in_full_names_its_tools_record(tool, record):
    why = describe(A.Npm(tool=tool), f"{tool} install")
    assert isinstance(why, str) and why.startswith(f"{tool} installs are built in full")
    assert f"(and its {record})" in why
    # yarn and pnpm write no .package-lock.json (red-team: --explain said they did)
    assert "package-lock" not in why


def test_an_npm_install_waits_for_incremental_and_then_only_npm_ci_is_a_delta():
    """npm deltas (``npmdelta``) need --incremental; with it, only ``npm ci`` from a lockfile is one."""
    assert (
        describe(A.Npm(tool="npm"), "npm install", pip=False)
        == "npm deltas are built only with --incremental"
    )
    why = describe(A.Npm(tool="npm"), "npm install")
    assert why == (
        "npm install is built in full: only `npm ci` from a lockfile the step before copies is built incrementally"
    )


@pytest.mark.parametrize("pip", [False, True], ids=["default", "--incremental"])
def test_a_uv_install_is_said_to_be_built_in_full_not_waiting_for_incremental(pip):
    """--explain told a uv install to wait for --incremental ("pip deltas are built only with --incremental"),
    and with it said "the RUN also runs `uv pip install`" of its only command: uv is never a delta."""
    action = A.Pip(packages=("six",), tool="uv")
    why = describe(action, "uv pip install --system six", pip=pip)
    assert why == "uv installs are built in full: only apt and pip installs are built incrementally"
