"""Incremental npm layers without buildah: which ``npm ci`` RUNs the delta rule understands, the key that finds
the earlier RUN layer across the COPY of the manifests, and the checks before and after the delta run (the
real build is in tests/buildah/test_build_incremental_npm.py)."""

from __future__ import annotations

import copy
import json
import os

import pytest

from shlax_front.backend.incremental import IncrementalLayers
from shlax_front.backend.npmdelta import (
    DELTA_VERB,
    Manifests,
    NpmDelta,
    NpmInstall,
    config_refusal,
    manifest_refusal,
    tree_refusal,
)
from shlax_front.backend.plan import Planner
from shlax_front.backend.steps import CopyStep, RunStep
from shlax_front.parser import parse

PREFIX = "FROM debian:bookworm\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"


def _config(ref: str) -> dict:
    return {"env": {"PATH": "/usr/bin:/bin"}, "shell": None, "workdir": "/", "user": ""}


def _steps(text: str, incremental: bool | None = True) -> tuple[CopyStep, RunStep]:
    steps = Planner(parse(text, path="Containerfile"), image_config=_config, incremental=incremental).plan()
    found = steps.stages[0].steps
    copies = [s for s in found if isinstance(s, CopyStep)]
    (run,) = [s for s in found if isinstance(s, RunStep)]
    return copies[-1], run


def test_npm_ci_is_described_with_its_verb_cut_out_and_runs_as_an_install_on_the_tree():
    _, run = _steps(PREFIX + "RUN npm ci --omit=dev && npm cache clean --force\n")
    install = run.incremental
    assert isinstance(install, NpmInstall)
    assert install.cwd == "/app" and install.omits_dev
    assert install.template == "npm \x00npm-verb\x00 --omit=dev && npm cache clean --force"
    # the script the step runs (npm's cache kept: no clean), the verb replaced
    assert run.argv[-1] == "npm ci --omit=dev"
    assert install.delta_script() == f"npm {DELTA_VERB} --omit=dev"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("RUN npm install", "npm install is built in full: only `npm ci`"),
        ("RUN npm ci --legacy-peer-deps", "npm option --legacy-peer-deps is not known to mean the same"),
        ("RUN npm ci --include=dev", "npm option --include=dev"),
        ("RUN npm ci && npm run build", "the RUN also runs `npm run build`"),
        ("RUN cd /app && npm ci", "the RUN also runs `cd /app`"),
        ("RUN npm ci $OPTS", "computed arguments"),
        ('RUN ["npm", "ci"]', "exec form"),
        (
            "ARG npm_config_install_strategy=nested\nRUN npm ci",
            "npm_config_install_strategy sets an npm option",
        ),
        ("RUN yarn install --frozen-lockfile", "yarn installs are built in full"),
        ("RUN pnpm install --frozen-lockfile", "pnpm installs are built in full"),
    ],
)
def test_what_the_npm_rule_does_not_understand_says_why(line, why):
    _, run = _steps(PREFIX + line + "\n")
    assert isinstance(run.incremental, str) and why in run.incremental, run.incremental


def test_without_incremental_npm_says_the_flag_builds_it_incrementally():
    _, run = _steps(PREFIX + "RUN npm ci\n", incremental=None)
    assert run.incremental == "npm deltas are built only with --incremental"


def _before(text: str, digest: str, parent: str = "below-copy"):
    copy_step, run = _steps(text)
    copy_inputs = {"instruction": copy_step.text, "context": digest}
    return copy_step, run, (parent, copy_inputs, copy_step)


RUN = "RUN npm ci --omit=dev\n"


def test_the_earlier_run_layer_is_found_across_the_copy_whatever_the_manifests_hold(tmp_path):
    _, old, before = _before(PREFIX + RUN, "manifests-1")
    inputs = {"instruction": old.text, "argv": list(old.argv)}
    IncrementalLayers(tmp_path).remember(old, "copy-1-key", inputs, "old-run-key", copied=before)
    _, new, after = _before(PREFIX + RUN, "manifests-2")
    start = IncrementalLayers(tmp_path).start(new, "copy-2-key", inputs, {"old-run-key": "img1"}.get, after)
    assert start.image == "img1" and start.copy is after[2]
    assert start.step is not None and start.step.argv[-1] == f"npm {DELTA_VERB} --omit=dev"
    assert "built incrementally: npm installed the lockfile's added packages" in (start.explained(None) or "")


@pytest.mark.parametrize(
    ("text", "parent", "why"),
    [
        (PREFIX + "RUN npm ci\n", "below-copy", "no earlier layer of this npm install"),
        (
            PREFIX.replace("./", "/srv/") + RUN,
            "below-copy",
            "copies elsewhere than the directory npm runs in",
        ),
        (PREFIX + RUN, "another-parent", "no earlier layer of this npm install"),
        (
            PREFIX.replace("package-lock.json ./", "package-lock.json .npmrc ./") + RUN,
            "below-copy",
            "copies more than",
        ),
        (PREFIX.replace("COPY package.json ", "COPY ") + RUN, "below-copy", "does not copy both"),
    ],
)
def test_another_copy_script_or_parent_finds_no_earlier_layer(tmp_path, text, parent, why):
    _, old, before = _before(PREFIX + RUN, "manifests-1")
    inputs = {"instruction": old.text, "argv": list(old.argv)}
    IncrementalLayers(tmp_path).remember(old, "copy-1-key", inputs, "old-run-key", copied=before)
    _, new, after = _before(text, "manifests-2", parent)
    new_inputs = {"instruction": new.text, "argv": list(new.argv)}
    start = IncrementalLayers(tmp_path).start(
        new, "copy-2-key", new_inputs, {"old-run-key": "img1"}.get, after
    )
    assert start.image is None and why in start.why, start.why


def test_a_run_after_another_step_than_a_copy_is_built_in_full(tmp_path):
    _, run = _steps(PREFIX + RUN)
    start = IncrementalLayers(tmp_path).start(run, "p", {}, {}.get, None)
    assert start.image is None and "the step before the npm install is not a COPY" in start.why


# -- the manifests before the delta ------------------------------------------------------------------------

ENTRY = {
    "node_modules/has-flag": {"version": "4.0.0", "integrity": "sha512-h", "license": "MIT"},
    "node_modules/supports-color": {
        "version": "7.2.0",
        "integrity": "sha512-s",
        "dependencies": {"has-flag": "^4.0.0"},
    },
}
ADDED = {
    "node_modules/semver": {"version": "7.6.0", "integrity": "sha512-v", "bin": {"semver": "bin/semver.js"}},
    "node_modules/chalk": {
        "version": "4.1.2",
        "integrity": "sha512-c",
        "dependencies": {"supports-color": "^7"},
    },
}


def _manifests(deps: dict, entries: dict, hidden: dict | None = None) -> Manifests:
    package = {"name": "app", "version": "1.0.0", "dependencies": deps}
    lock = {
        "name": "app",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "app", "version": "1.0.0", "dependencies": deps}, **entries},
    }
    hidden_lock = None
    if hidden is not None:
        hidden_lock = {k: v for k, v in lock.items() if k != "packages"} | {"packages": hidden}
    return Manifests(package, lock, hidden_lock, json.dumps(lock).encode(), json.dumps(package).encode())


OLD_DEPS = {"supports-color": "7.2.0"}
NEW_DEPS = {"supports-color": "7.2.0", "chalk": "4.1.2", "semver": "7.6.0"}


def _delta() -> NpmDelta:
    return NpmDelta(NpmInstall("npm \x00npm-verb\x00", "npm \x00npm-verb\x00", "ci", "/app", omits_dev=True))


def test_dependencies_added_with_their_lockfile_entries_may_run_as_a_delta():
    delta = _delta()
    before = _manifests(OLD_DEPS, ENTRY, hidden=ENTRY)
    assert manifest_refusal(before, _manifests(NEW_DEPS, {**ENTRY, **ADDED}), delta) is None
    assert delta.expected == set(ENTRY) | set(ADDED) and delta.added == ("chalk", "semver")


def _changed(**what):
    entries = copy.deepcopy({**ENTRY, **ADDED})
    deps = dict(NEW_DEPS)
    for path, fields in what.items():
        if path == "deps":
            deps = fields
        else:
            entries.setdefault(path, {}).update(fields)
    return _manifests(deps, entries)


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (
            _changed(**{"node_modules/has-flag": {"version": "5.0.1"}}),
            "the lockfile entry node_modules/has-flag changed (4.0.0 -> 5.0.1)",
        ),
        (
            _changed(**{"node_modules/semver": {"hasInstallScript": True}}),
            "node_modules/semver has hasInstallScript",
        ),
        (_changed(**{"node_modules/chalk": {"optional": True}}), "has optional"),
        (_changed(**{"node_modules/chalk": {"os": ["darwin"]}}), "has os"),
        (
            _changed(deps={"chalk": "4.1.2", "semver": "7.6.0"}),
            "removed or re-versioned in package.json (supports-color)",
        ),
        (_manifests(OLD_DEPS, ENTRY), "no dependency added"),
        (
            _changed(**{"node_modules/chalk": {"resolved": "git+ssh://git@example.org/chalk.git#abc"}}),
            "node_modules/chalk is not a registry tarball with an integrity in the lockfile",
        ),
        (_changed(**{"packages/lib": {"version": "1.0.0"}}), "is not a package under node_modules"),
    ],
)
def test_anything_but_added_entries_builds_in_full(after, why):
    before = _manifests(OLD_DEPS, ENTRY, hidden=ENTRY)
    refused = manifest_refusal(before, after, _delta())
    assert refused is not None and why in refused, refused


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("scripts", {"postinstall": "node x.js"}, "package.json has postinstall scripts that npm ci runs"),
        ("scripts", {"prepare": "tsc"}, "has prepare scripts"),
        ("workspaces", ["packages/*"], "has workspaces"),
        ("description", "other", "package.json changed besides its dependencies"),
    ],
)
def test_root_scripts_workspaces_and_other_edits_build_in_full(field, value, why):
    before = _manifests(OLD_DEPS, ENTRY, hidden=ENTRY)
    after = _manifests(NEW_DEPS, {**ENTRY, **ADDED})
    after.package[field] = value
    refused = manifest_refusal(before, after, _delta())
    assert refused is not None and why in refused, refused


def test_a_package_json_out_of_sync_with_its_lockfile_builds_in_full():
    """npm ci refuses it; npm install would resolve the new dependency."""
    after = _manifests(NEW_DEPS, {**ENTRY, **ADDED})
    after.package["dependencies"] = {**NEW_DEPS, "ms": "2.1.3"}
    refused = manifest_refusal(_manifests(OLD_DEPS, ENTRY, hidden=ENTRY), after, _delta())
    assert refused == "package-lock.json is not in sync with package.json (dependencies): npm ci refuses it"


def test_an_earlier_layer_that_is_not_its_lockfile_s_tree_builds_in_full():
    before = _manifests(OLD_DEPS, ENTRY, hidden={"node_modules/has-flag": ENTRY["node_modules/has-flag"]})
    refused = manifest_refusal(before, _manifests(NEW_DEPS, {**ENTRY, **ADDED}), _delta())
    assert refused == "the earlier layer's node_modules is not its lockfile's tree"


# -- the tree after the delta ------------------------------------------------------------------------------


def _installed(root, manifests: Manifests, delta: NpmDelta, hidden: dict | None = None) -> str:
    app = root / "app"
    (app / "node_modules" / ".bin").mkdir(parents=True)
    (app / "package.json").write_bytes(manifests.package_bytes)
    (app / "package-lock.json").write_bytes(manifests.lock_bytes)
    entries = manifests.lock["packages"]
    for path in delta.expected:
        (app / path).mkdir(parents=True)
        (app / path / "package.json").write_text(json.dumps({"version": entries[path]["version"]}))
    os.symlink("../semver/bin/semver.js", app / "node_modules" / ".bin" / "semver")
    top = {k: v for k, v in manifests.lock.items() if k != "packages"}
    packages = hidden if hidden is not None else {p: entries[p] for p in sorted(delta.expected)}
    (app / "node_modules" / ".package-lock.json").write_text(json.dumps({**top, "packages": packages}))
    return str(root)


def _prepared() -> tuple[Manifests, NpmDelta]:
    delta = _delta()
    after = _manifests(NEW_DEPS, {**ENTRY, **ADDED})
    assert manifest_refusal(_manifests(OLD_DEPS, ENTRY, hidden=ENTRY), after, delta) is None
    return after, delta


def test_the_lockfile_s_tree_is_kept(tmp_path):
    after, delta = _prepared()
    assert tree_refusal(_installed(tmp_path, after, delta), delta) is None


def test_an_extra_package_directory_is_not_kept(tmp_path):
    after, delta = _prepared()
    root = _installed(tmp_path, after, delta)
    os.makedirs(os.path.join(root, "app/node_modules/left-over"))
    with open(os.path.join(root, "app/node_modules/left-over/package.json"), "w") as f:
        f.write("{}")
    assert "extra ['node_modules/left-over']" in (tree_refusal(root, delta) or "")


def test_another_version_on_disk_is_not_kept(tmp_path):
    after, delta = _prepared()
    root = _installed(tmp_path, after, delta)
    with open(os.path.join(root, "app/node_modules/has-flag/package.json"), "w") as f:
        f.write('{"version": "5.0.1"}')
    assert tree_refusal(root, delta) == "node_modules/has-flag is 5.0.1, the lockfile says 4.0.0"


def test_a_missing_bin_link_is_not_kept(tmp_path):
    after, delta = _prepared()
    root = _installed(tmp_path, after, delta)
    os.unlink(os.path.join(root, "app/node_modules/.bin/semver"))
    assert tree_refusal(root, delta) == "node_modules/.bin is not the links the lockfile's bin fields name"


def test_a_hidden_lockfile_other_than_the_lockfile_s_entries_is_not_kept(tmp_path):
    after, delta = _prepared()
    hidden = {p: after.lock["packages"][p] for p in sorted(delta.expected) if p != "node_modules/chalk"}
    root = _installed(tmp_path, after, delta, hidden=hidden)
    assert "node_modules/.package-lock.json is not the lockfile's entries" in (
        tree_refusal(root, delta) or ""
    )


def test_a_rewritten_lockfile_is_not_kept(tmp_path):
    after, delta = _prepared()
    root = _installed(tmp_path, after, delta)
    with open(os.path.join(root, "app/package-lock.json"), "a") as f:
        f.write("\n")
    assert tree_refusal(root, delta) == "the delta's npm rewrote package.json or package-lock.json"


@pytest.mark.parametrize("path", ["app/.npmrc", "root/.npmrc", "usr/local/etc/npmrc", "home/node/.npmrc"])
def test_an_npmrc_where_npm_looks_builds_in_full(tmp_path, path):
    (tmp_path / "app").mkdir()
    (tmp_path / "home" / "node").mkdir(parents=True)
    assert config_refusal(str(tmp_path), "/app") is None
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text("install-strategy=nested\n")
    assert (
        config_refusal(str(tmp_path), "/app")
        == f"npm reads /{path}, whose options a delta is not proven under"
    )
