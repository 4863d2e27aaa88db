"""--explain's reason a node install is built in full names the record that tool writes into node_modules."""

from __future__ import annotations

import pytest

from shlax_front import actions as A
from shlax_front.backend.deltarule import describe


@pytest.mark.parametrize(
    ("tool", "record"),
    [("npm", ".package-lock.json"), ("yarn", ".yarn-integrity"), ("pnpm", ".modules.yaml and .pnpm")],
)
def test_a_node_install_built_in_full_names_its_tools_record(tool, record):
    why = describe(A.Npm(tool=tool), f"{tool} install")
    assert isinstance(why, str) and why.startswith(f"{tool} installs are built in full")
    assert f"(and its {record})" in why
    if tool != "npm":  # yarn and pnpm write no .package-lock.json (red-team: --explain said they did)
        assert "package-lock" not in why
