"""Incremental package layers without buildah: which RUNs the delta rule understands, and what it starts from
given a recorded layer (the real apt build is in tests/buildah/test_build_incremental.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fake_runner import FakeRunner, build_with

from shlax_front.backend.deltarule import DeltaInstall, PipInstall
from shlax_front.backend.incremental import IncrementalLayers, PipCheck, Start
from shlax_front.backend.plan import Planner
from shlax_front.backend.runner import Result
from shlax_front.backend.steps import RunStep
from shlax_front.parser import parse

INSTALL = "RUN apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*"


def _config(ref: str) -> dict:
    return {"env": {"PATH": "/usr/bin:/bin"}, "shell": None, "workdir": "/", "user": ""}


def run_step(line: str) -> RunStep:
    doc = parse(f"FROM debian:bookworm\n{line}\n", path="Containerfile")
    steps = Planner(doc, image_config=_config, incremental=True).plan().stages[0].steps
    (step,) = [s for s in steps if isinstance(s, RunStep)]
    return step


def test_an_apt_install_gives_its_packages_and_a_template_without_them():
    one, two = run_step(INSTALL.format("tini procps")), run_step(INSTALL.format("tini  procps 'nano'"))
    assert isinstance(one.incremental, DeltaInstall) and isinstance(two.incremental, DeltaInstall)
    assert one.incremental.packages == ("tini", "procps")
    assert two.incremental.packages == ("tini", "procps", "nano")
    assert one.incremental.template == two.incremental.template
    # the delta script is the one the step runs (cache settings included) with only the added packages
    delta = two.incremental.script_with(("nano",))
    assert delta == two.argv[-1].replace("tini  procps 'nano'", "'nano'")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (INSTALL.format("tini") + " && echo done > /etc/done", "also runs `echo done`"),
        (INSTALL.format("tini foo-"), "not a plain name"),
        (INSTALL.format("tini $EXTRA"), "computed at run time"),
        (
            INSTALL.format("$(cat /tmp/pkgs)"),
            "computed at run time (`cat /tmp/pkgs` in the install's arguments)",
        ),
        (INSTALL.format("tini `cat /tmp/pkgs`"), "computed at run time (`cat /tmp/pkgs`"),
        ("RUN apt-get install -y tini -q less", "options among the package names"),
        (
            "RUN apt-get update && apt-get -y upgrade && apt-get install -y tini",
            "more than one install in the RUN (`apt-get -y upgrade`, `apt-get install -y`)",
        ),
        ("RUN apt-get update && (apt-get install -y tini || true)", "the install runs conditionally"),
        ("RUN npm install", "npm install is built in full: only `npm ci` from a lockfile"),
        ("RUN yarn install --frozen-lockfile", "yarn installs are built in full"),
        ("RUN pip install -r requirements.txt flask", "requirement or constraint files"),
        ("RUN pip install --target=/opt/lib flask", "pip --target merges"),
        ("RUN pip install -I flask", "pip -I installs the earlier layer's distributions again"),
        ("RUN pip install --ignore-installed flask", "pip --ignore-installed installs"),
        ("RUN pip install ./wheels/flask.whl", "not a plain requirement"),
        ("RUN pip install git+https://example.org/flask", "not a plain requirement"),
        ("RUN python3 -m venv /v && /v/bin/pip install flask", "also runs `python3 -m venv`"),
        ("RUN su -c 'apt-get install -y tini'", "also runs `su -c"),
        ('RUN ["apt-get", "install", "-y", "tini"]', "exec form"),
    ],
)
def test_what_the_rule_does_not_understand_says_why(line, why):
    assert why in run_step(line).incremental


def test_a_run_without_install_has_nothing_to_say():
    assert run_step("RUN echo hi > /x").incremental is None


def _started(tmp_path, before: list[str], now: str, images: dict[str, str]):
    layers = IncrementalLayers(tmp_path)
    old = run_step(INSTALL.format(" ".join(before)))
    inputs = {"instruction": old.text, "argv": list(old.argv)}
    layers.remember(old, "parent", inputs, "old-key")
    step = run_step(INSTALL.format(now))
    fresh = IncrementalLayers(tmp_path)  # read back from the file, as the next build does
    return fresh.start(step, "parent", {"instruction": step.text, "argv": list(step.argv)}, images.get)


def test_added_packages_start_from_the_recorded_layer_and_install_only_themselves(tmp_path):
    start = _started(tmp_path, ["tini", "procps"], "tini nano procps", {"old-key": "img1"})
    assert start.image == "img1"
    assert start.step is not None
    assert "--no-install-recommends nano" in start.step.argv[-1]
    assert "tini" not in start.step.argv[-1]
    assert "built incrementally: added nano" in start.explained(None)


@pytest.mark.parametrize(
    ("now", "images", "why"),
    [
        ("tini", {"old-key": "img1"}, "procps removed or re-versioned"),
        ("tini=0.19.0-1 procps", {"old-key": "img1"}, "tini removed or re-versioned"),
        ("procps tini", {"old-key": "img1"}, "no package added"),
        ("tini procps nano", {}, "the earlier layer of this install is gone"),
    ],
)
def test_anything_but_an_addition_builds_in_full(tmp_path, now, images, why):
    start = _started(tmp_path, ["tini", "procps"], now, images)
    assert start.image is None and start.step is None
    assert start.explained("instruction text changed") == f"instruction text changed; not incremental: {why}"


def test_other_script_text_is_another_install(tmp_path):
    layers = IncrementalLayers(tmp_path)
    old = run_step(INSTALL.format("tini"))
    layers.remember(old, "parent", {"argv": list(old.argv)}, "old-key")
    step = run_step(INSTALL.format("tini nano").replace("--no-install-recommends ", ""))
    start = layers.start(step, "parent", {"argv": list(step.argv)}, {"old-key": "img1"}.get)
    assert start.image is None and "no earlier layer" in start.why
    assert layers.start(step, "other-parent", {}, {"old-key": "img1"}.get).image is None


def test_new_package_lists_on_the_host_build_in_full(tmp_path):
    lists = tmp_path / "caches" / "apt-lists" / "debian-12-amd64"
    lists.mkdir(parents=True)
    release = lists / "deb.debian.org_debian_dists_bookworm_InRelease"
    release.write_text("Date: Sat, 05 Dec 2026\n")
    old = run_step(INSTALL.format("tini"))
    IncrementalLayers(tmp_path).remember(old, "parent", {}, "old-key")
    release.write_text("Date: Sun, 06 Dec 2026\n")  # a later full build's update fetched new lists
    step = run_step(INSTALL.format("tini nano"))
    start = IncrementalLayers(tmp_path).start(step, "parent", {}, {"old-key": "img1"}.get)
    assert start.image is None
    assert start.why == "the host's package lists changed since the earlier layer was built"


def test_a_delta_run_whose_update_brought_new_lists_is_not_kept(tmp_path):
    lists = tmp_path / "caches" / "apt-lists" / "debian-12-amd64"
    lists.mkdir(parents=True)
    release = lists / "deb.debian.org_debian_dists_bookworm_InRelease"
    release.write_text("Date: Sat, 05 Dec 2026\n")
    start = _started(tmp_path, ["tini"], "tini nano", {"old-key": "img1"})
    layers = IncrementalLayers(tmp_path)
    assert layers.spoiled(start, str(tmp_path / "rootfs")) is None
    release.write_text("Date: Sun, 06 Dec 2026\n")  # what the update in the delta run fetched
    why = layers.spoiled(start, str(tmp_path / "rootfs"))
    assert why == "the update in the delta run brought new package lists"
    assert start.redone(None, why) == f"not incremental: {why} (built in full)"
    assert (
        start.redone(start.explained("argv changed"), why)
        == f"argv changed; not incremental: {why} (built in full)"
    )


DPKG_LOG = """\
2026-12-06 22:16:22 trigproc libc-bin:amd64 2.36-9+deb12u14 <none>
2026-12-06 23:13:41 startup packages configure
2026-12-06 23:13:41 trigproc libc-bin:amd64 2.36-9+deb12u14 <none>
2026-12-06 23:13:41 trigproc man-db:amd64 2.11.2-2 <none>
"""


def test_a_delta_run_that_ran_an_unproven_dpkg_trigger_is_not_kept(tmp_path):
    """man-db's trigger rebuilds index.db on top of the earlier one, unlike a first install: built in full;
    ldconfig's (libc-bin) leaves what a full install leaves."""
    log = tmp_path / "rootfs" / "var" / "log" / "dpkg.log"
    log.parent.mkdir(parents=True)
    earlier = DPKG_LOG.splitlines(keepends=True)[0]
    log.write_text(earlier)
    layers = IncrementalLayers(tmp_path)
    start = Start("added less", "img1")
    layers.before_run(start, str(tmp_path / "rootfs"))
    assert start.dpkg_log_size == len(earlier)
    log.write_text(DPKG_LOG.replace("2026-12-06 23:13:41 trigproc man-db:amd64 2.11.2-2 <none>\n", ""))
    assert layers.spoiled(start, str(tmp_path / "rootfs")) is None
    log.write_text(DPKG_LOG)
    assert layers.spoiled(start, str(tmp_path / "rootfs")) == (
        "dpkg ran the trigger of man-db, whose files a delta may leave otherwise"
    )


def test_a_layer_reused_after_another_was_recorded_keeps_its_lists_and_count(tmp_path):
    """tini, then tini nano (a delta), then tini again (its layer reused from the cache), then tini nano again:
    each reused layer is recorded with the lists it was built with and its count, so adding a package to it is
    a delta. Its facts used to be looked up only in the install's record, which the later layer had replaced:
    the next build said the host's lists had changed, and lost the count."""
    lists = tmp_path / "caches" / "apt-lists" / "debian-12-amd64"
    lists.mkdir(parents=True)
    (lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text("Date: Sat, 05 Dec 2026\n")
    tini, nano = run_step(INSTALL.format("tini")), run_step(INSTALL.format("tini nano"))
    IncrementalLayers(tmp_path).remember(tini, "parent", {}, "tini-key")
    IncrementalLayers(tmp_path).remember(nano, "parent", {}, "nano-key", updates=12)
    IncrementalLayers(tmp_path).remember(tini, "parent", {}, "tini-key", built=False)
    images = {"tini-key": "img1", "nano-key": "img2"}.get
    start = IncrementalLayers(tmp_path).start(run_step(INSTALL.format("tini jq")), "parent", {}, images)
    assert (start.image, start.why) == ("img1", "added jq to the layer with tini")
    IncrementalLayers(tmp_path).remember(nano, "parent", {}, "nano-key", built=False)
    start = IncrementalLayers(tmp_path).start(run_step(INSTALL.format("tini nano jq")), "parent", {}, images)
    assert (start.image, start.recorded_updates) == ("img2", 12)


def test_a_delta_on_a_delta_starts_again_from_the_full_layer_with_everything_added_since(tmp_path):
    """tini (built in full), then tini nano (a delta on it), then tini nano jq: the second delta starts from
    tini's layer and installs nano and jq, so the image has one layer more than a full build's. It used to start
    from nano's delta layer: one layer more per delta (4 against bud's 2 after two). The delta's layer keeps
    that base when it is reused; a base gone from the store builds in full."""
    tini, nano = run_step(INSTALL.format("tini")), run_step(INSTALL.format("tini nano"))
    IncrementalLayers(tmp_path).remember(tini, "parent", {}, "tini-key")
    images = {"tini-key": "img1", "nano-key": "img2"}.get
    first = IncrementalLayers(tmp_path).start(nano, "parent", {}, images)
    assert first.image == "img1" and first.base is not None
    assert (first.base["key"], first.base["packages"]) == ("tini-key", ["tini"])
    IncrementalLayers(tmp_path).remember(nano, "parent", {}, "nano-key", updates=12, base=first.base)
    jq = run_step(INSTALL.format("tini nano jq"))
    start = IncrementalLayers(tmp_path).start(jq, "parent", {}, images)
    assert (start.image, start.why) == ("img1", "added nano jq to the layer with tini")
    assert start.recorded_updates is None and start.base == first.base
    assert start.step is not None and "nano jq" in start.step.argv[-1] and "tini" not in start.step.argv[-1]
    IncrementalLayers(tmp_path).remember(tini, "parent", {}, "tini-key", built=False)
    IncrementalLayers(tmp_path).remember(
        nano, "parent", {}, "nano-key", built=False
    )  # reused: keeps its base
    assert IncrementalLayers(tmp_path).start(jq, "parent", {}, images).image == "img1"
    gone = IncrementalLayers(tmp_path).start(jq, "parent", {}, {"nano-key": "img2"}.get)
    assert (gone.image, gone.why) == (
        None,
        "the full layer this install's earlier delta started from is gone",
    )


@pytest.mark.parametrize("target", ["/var/lib/apt", "/var/lib/apt/lists/"])
def test_lists_in_a_cache_mount_of_the_containerfile_are_named_as_such(tmp_path, target):
    """Docker's apt recipe (``--mount=type=cache,target=/var/lib/apt``): the lists are the mount's, not the image's
    (``--explain`` said "keeps in the image")."""
    line = f"RUN --mount=type=cache,target={target} apt-get update && apt-get install -y {{}}"
    layers = IncrementalLayers(tmp_path)
    layers.remember(run_step(line.format("tini")), "parent", {}, "old-key")
    start = layers.start(run_step(line.format("tini nano")), "parent", {}, {"old-key": "img1"}.get)
    assert start.image is None
    assert start.why == (
        f"the RUN updates package lists in its own cache mount ({target.rstrip('/')}): the lists the earlier"
        " layer was built with are not known"
    )


def test_lists_kept_in_the_image_are_not_compared_but_refused(tmp_path):
    layers = IncrementalLayers(tmp_path)
    old = run_step("RUN apt-get update && apt-get install -y tini")  # the lists stay in the image
    layers.remember(old, "parent", {}, "old-key")
    step = run_step("RUN apt-get update && apt-get install -y tini nano")
    start = layers.start(step, "parent", {}, {"old-key": "img1"}.get)
    assert start.why == "the RUN updates package lists it keeps in the image"
    no_update = run_step("RUN apt-get install -y tini nano")  # reads the parent's lists: same in both builds
    layers.remember(run_step("RUN apt-get install -y tini"), "parent", {}, "k2")
    assert layers.start(no_update, "parent", {}, {"k2": "img2"}.get).image == "img2"


class ListsRefreshingRunner(FakeRunner):
    """A fake buildah whose RUN of an install naming ``nano`` also refreshes the host's package lists (an
    update that found new ones), as a delta run's ``apt-get update`` would once the TTL ran out."""

    def __init__(self, cache: Path, refresh: bool):
        super().__init__()
        self.cache, self.refresh = cache, refresh

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        if self.refresh and argv[1] == "run" and "nano" in argv[-1]:
            for lists in (self.cache / "caches" / "apt-lists").glob("*-*"):
                if lists.is_dir() and not lists.name.endswith(".state"):
                    (lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text(
                        str(len(self.calls))
                    )
        return super().run(argv, check, on_output, cwd, input)


def _build(tmp_path, runner, packages: str, shown: list | None = None):
    text = f"FROM busybox\n{INSTALL.format(packages)}\n"
    result = build_with(runner, tmp_path, text, on_output=None if shown is None else shown.append)
    runs = [call[-1] for call in runner.calls if call[1] == "run"]
    froms = [call[-1] for call in runner.calls if call[1] == "from"]
    return result, runs, froms


@pytest.mark.parametrize("refresh", [False, True])
def test_the_executor_runs_the_delta_on_the_earlier_layer_unless_the_lists_moved(tmp_path, refresh):
    runner = ListsRefreshingRunner(tmp_path / "cache", refresh)
    first, _, _ = _build(tmp_path, runner, "tini")
    earlier = first.image
    runner.calls.clear()
    second, runs, froms = _build(tmp_path, runner, "tini nano")
    (record,) = [s for s in second.steps if s.status == "built"]
    if not refresh:
        assert froms == [earlier] and len(runs) == 1
        assert "install -y --no-install-recommends nano" in runs[0] and "tini" not in runs[0]
        assert record.reason.endswith("built incrementally: added nano to the layer with tini")
    else:  # the delta run brought new lists: the step is run again in full on the parent
        assert froms == [earlier, "busybox-id"] and len(runs) == 2
        assert "tini nano" in runs[1]
        assert record.reason.endswith("the update in the delta run brought new package lists (built in full)")


def test_a_pip_install_of_names_gives_its_requirements_its_pip_and_its_options():
    one = run_step("RUN /venv/bin/pip install --no-cache-dir 'flask==3.0.3' six")
    two = run_step("RUN /venv/bin/pip install --no-cache-dir 'flask==3.0.3' six 'idna>=3'")
    assert isinstance(one.incremental, DeltaInstall) and isinstance(two.incremental, DeltaInstall)
    assert two.incremental.packages == ("flask==3.0.3", "six", "idna>=3")
    assert one.incremental.template == two.incremental.template
    assert two.incremental.pip == PipInstall(("/venv/bin/pip",), ("--no-cache-dir",))
    # the step runs with the pip cache kept (--no-cache-dir rewritten away), the delta too
    assert two.incremental.script_with(("idna>=3",)) == two.argv[-1].replace("'flask==3.0.3' six ", "")


class _Ran:
    def __init__(self, stdout: str, returncode: int = 0):
        self.stdout, self.returncode = stdout, returncode

    @property
    def output(self) -> str:
        return self.stdout


def _inspect(*dists: tuple[str, str, bool]) -> str:
    import json

    return json.dumps(
        {"installed": [{"metadata": {"name": n, "version": v}, "requested": r} for n, v, r in dists]}
    )


def _checked(parent_has, full_installs, delta_left) -> PipCheck:
    import json

    check = PipCheck(PipInstall(("pip",), ("--user",)), ("alpha", "gamma"), parent="parent")
    report = {
        "install": [{"metadata": {"name": n, "version": v}, "requested": r} for n, v, r in full_installs]
    }
    answers = {
        ("parent", "install"): _Ran("WARNING: running as root\n" + json.dumps(report)),
        ("parent", "inspect"): _Ran(_inspect(*parent_has)),
        (None, "inspect"): _Ran(_inspect(*delta_left)),
    }
    asked = []

    def run(argv, container=None):
        asked.append(list(argv))
        return answers[(container, argv[1])]

    check(run)
    assert asked[0][:6] == ["pip", "install", "--dry-run", "--quiet", "--report", "-"]
    assert asked[0][6:] == ["--user", "alpha", "gamma"] and asked[1] == ["pip", "inspect", "--user"]
    return check


def test_a_pip_delta_that_left_what_a_full_install_would_is_kept():
    check = _checked(
        [("pip", "23.0.1", False), ("dep", "1.0", True)],
        [("Alpha", "1.0", True), ("gamma", "1.0", True), ("dep", "2.0", False)],
        [("pip", "23.0.1", False), ("alpha", "1.0", True), ("gamma", "1.0", True), ("dep", "2.0", False)],
    )
    assert check.verdict is None


def test_a_pip_delta_that_kept_an_older_dependency_or_a_leftover_is_thrown_away():
    check = _checked(
        [("pip", "23.0.1", False)],
        [("alpha", "1.0", True), ("gamma", "1.0", True), ("dep", "2.0", False)],
        [("pip", "23.0.1", False), ("alpha", "1.0", True), ("gamma", "1.0", True), ("dep", "1.0", False)],
    )
    assert check.verdict == "the pip delta left dep 1.0 (a full install: 2.0)"
    check = _checked(
        [],
        [("alpha", "1.0", True), ("gamma", "1.0", True)],
        [("alpha", "1.0", True), ("gamma", "1.0", False), ("old", "1.0", False)],
    )
    assert (
        check.verdict
        == "the pip delta left gamma 1.0 (a full install: 1.0, requested); old 1.0 (a full install: none)"
    )


def _status(*stanzas: tuple[str, str]) -> str:
    return "".join(
        f"Package: {name}\nStatus: install ok {state}\nArchitecture: amd64\n\n" for name, state in stanzas
    )


def test_status_old_is_made_the_one_a_full_install_leaves(tmp_path):
    from shlax_front.backend.dpkgstate import restore_status_old

    dpkg = tmp_path / "var/lib/dpkg"
    dpkg.mkdir(parents=True)
    # the earlier install unpacked then configured tini; the delta did the same with nano (libc-bin's trigger
    # pending in both copies); base stays as it was
    earlier = _status(("base", "installed"), ("libc-bin", "installed"), ("tini", "installed"))
    earlier_old = _status(("base", "installed"), ("libc-bin", "triggers-pending"), ("tini", "unpacked"))
    final = _status(
        ("base", "installed"), ("libc-bin", "installed"), ("nano", "installed"), ("tini", "installed")
    )
    delta_old = _status(
        ("base", "installed"), ("libc-bin", "triggers-pending"), ("nano", "unpacked"), ("tini", "installed")
    )
    (dpkg / "status").write_text(final)
    (dpkg / "status-old").write_text(delta_old)
    restore_status_old(str(tmp_path), earlier, earlier_old)
    assert (dpkg / "status-old").read_text() == _status(
        ("base", "installed"), ("libc-bin", "triggers-pending"), ("nano", "unpacked"), ("tini", "unpacked")
    )


def test_pip_deltas_are_built_only_when_asked():
    doc = parse(
        "FROM debian:bookworm\nRUN /venv/bin/pip install six\nRUN apt-get install -y tini\n",
        path="Containerfile",
    )
    steps = [
        s
        for s in Planner(doc, image_config=_config, incremental=None).plan().stages[0].steps
        if isinstance(s, RunStep)
    ]
    assert "only with --incremental" in steps[0].incremental
    assert isinstance(steps[1].incremental, DeltaInstall)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (INSTALL.format("tini") + " /var/log/dpkg.log", "deletes /var/log/dpkg.log"),
        (INSTALL.format("tini") + " /etc/apt/sources.list.d/extra.list", "deletes /etc/apt/sources.list.d"),
        (INSTALL.format("tini") + " $HOME/x", "deletes `$HOME/x`, a path not known"),
        ("RUN apt-get install -y tini && rm -rf ./*.deb", "deletes `./*.deb`"),
    ],
)
def test_a_run_that_deletes_what_the_install_reads_is_built_in_full(line, why):
    assert why in run_step(line).incremental


def test_docker_s_apt_cache_mount_recipe_is_incremental():
    line = (
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked"
        " --mount=type=cache,target=/var/lib/apt,sharing=locked"
        " rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update && apt-get install -y --no-install-recommends tini"
    )
    assert isinstance(run_step(line).incremental, DeltaInstall)


def test_a_run_may_delete_downloads_docs_and_temporary_files():
    line = (
        INSTALL.format("tini") + " /tmp/* /var/tmp/* /usr/share/doc/* /var/cache/debconf/*-old /var/log/apt/*"
    )
    step = run_step(line)
    assert isinstance(step.incremental, DeltaInstall) and step.incremental.deletes_lists


def test_a_run_that_deletes_the_lists_of_its_image_is_built_in_full(tmp_path):
    """Without ``apt-get update`` the install reads the lists an earlier RUN left in the image; once this RUN
    deleted them, its layer has none, and a delta from it could not install anything."""
    layers = IncrementalLayers(tmp_path)
    old = run_step("RUN apt-get install -y tini && rm -rf /var/lib/apt/lists/*")
    assert isinstance(old.incremental, DeltaInstall) and old.incremental.deletes_lists
    layers.remember(old, "parent", {}, "old-key")
    step = run_step("RUN apt-get install -y tini nano && rm -rf /var/lib/apt/lists/*")
    start = layers.start(step, "parent", {}, {"old-key": "img1"}.get)
    assert start.image is None
    assert start.why == "the RUN deletes the package lists it installs from (its earlier layer has none)"


def _states(*names: str) -> str:
    return "".join(f"Package: {name}\nArchitecture: amd64\nAuto-Installed: 1\n\n" for name in names)


class _Exited:
    def __init__(self, returncode: int):
        self.returncode, self.stdout, self.output = returncode, "", ""


def _apt_mark(path: Path, cache_order: list[str], returncode: int = 0):
    """A stand-in for the image's apt-mark: keeps the file's entries, appends the named ones in cache order."""
    calls = []

    def run(argv, container):
        calls.append(list(argv))
        if returncode == 0:
            named = {a.split(":")[0] for a in argv[argv.index("auto") + 1 :]}
            path.write_text(path.read_text() + _states(*[n for n in cache_order if n in named]))
        return _Exited(returncode)

    return run, calls


def test_apt_s_extended_states_are_put_in_a_full_install_s_order(tmp_path):
    """apt appends newly automatic packages in its cache's order after the ones it read: a delta leaves the
    earlier install's before the added ones'; apt-mark writes them again as a full install would."""
    from shlax_front.backend.incremental import AptOrder

    root, parent = tmp_path / "delta", tmp_path / "parent"
    for r in (root, parent):
        (r / "var/lib/apt").mkdir(parents=True)
    states = root / "var/lib/apt/extended_states"
    (parent / "var/lib/apt/extended_states").write_text(_states("base-dep"))
    states.write_text(_states("base-dep", "libonig5", "libjq1", "libmagic-mgc", "libmagic1"))
    run, calls = _apt_mark(states, ["libonig5", "libmagic-mgc", "libmagic1", "libjq1", "base-dep"])
    check = AptOrder(str(root), lambda: str(parent))
    check(run)
    assert check.verdict is None
    assert calls[0][-4:] == ["libonig5:amd64", "libjq1:amd64", "libmagic-mgc:amd64", "libmagic1:amd64"]
    assert "Dir::Cache::pkgcache=" in calls[0]
    assert states.read_text() == _states("base-dep", "libonig5", "libmagic-mgc", "libmagic1", "libjq1")
    # new entries all the delta's (the earlier layer had the parent's only), or all the earlier install's:
    # apt wrote them in one go, apt-mark does not run
    for earlier in (
        {("base-dep", "amd64")},
        set(),
        {(n, "amd64") for n in ("base-dep", "libonig5", "libjq1")},
    ):
        states.write_text(_states("base-dep", "libonig5", "libjq1"))
        run, calls = _apt_mark(states, [])
        AptOrder(str(root), lambda: str(parent), earlier)(run)
        assert calls == []


def test_an_extended_states_apt_mark_cannot_write_again_is_put_back_and_the_delta_not_kept(tmp_path):
    from shlax_front.backend.incremental import AptOrder

    (tmp_path / "var/lib/apt").mkdir(parents=True)
    states = tmp_path / "var/lib/apt/extended_states"
    left = _states("libonig5", "libjq1")
    states.write_text(left)
    run, _ = _apt_mark(states, [], returncode=100)
    check = AptOrder(str(tmp_path), lambda: None)
    check(run)
    assert states.read_text() == left
    assert check.verdict == "apt-mark could not write apt's extended_states as a full install does"
    # one new entry (or none) has nothing to order: apt-mark does not run
    states.write_text(_states("libonig5"))
    run, calls = _apt_mark(states, [])
    AptOrder(str(tmp_path), lambda: None)(run)
    assert calls == []


class FailingDeltaRunner(FakeRunner):
    """A fake buildah whose RUN of the delta (an install of ``nano`` alone) fails."""

    def run(self, argv, check=True, on_output=None, cwd=None, input=None):
        if argv[1] == "run" and argv[-1].endswith("--no-install-recommends nano"):
            self.calls.append([str(a) for a in argv])
            from shlax_front.backend.runner import Result

            return Result([str(a) for a in argv], 100, "E: Unable to locate package nano\n", "")
        return super().run(argv, check, on_output, cwd, input)


def test_a_delta_run_that_fails_is_built_in_full(tmp_path):
    runner = FailingDeltaRunner()
    _build(tmp_path, runner, "tini")
    runner.calls.clear()
    shown: list[str] = []
    second, runs, froms = _build(tmp_path, runner, "tini nano", shown)
    (record,) = [s for s in second.steps if s.status == "built"]
    assert len(runs) == 2 and "tini nano" in runs[1]
    # between the delta's output and the full run's, the progress says why the command runs again
    assert (
        "shlax-front: not incremental: the delta run failed (exited with status 100); the step runs again in full"
        in shown
    )
    assert froms[-1] == "busybox-id"
    assert record.reason.endswith(
        "not incremental: the delta run failed (exited with status 100) (built in full)"
    )


def test_an_install_apt_split_over_several_dpkg_runs_is_built_in_full(tmp_path):
    """status-old is rebuilt on the rule that apt's last dpkg run configured the packages the install added;
    when the earlier install (or the delta) configured a package new to its layer in an earlier run, a full
    install's split is apt's choice for the whole set: not kept (npm on bookworm). An upgrade configured
    early (a library dpkg needs) is configured early by a full install too."""
    from shlax_front.backend.dpkgstate import dpkg_runs_split

    dpkg, parent = tmp_path / "delta/var/lib/dpkg", tmp_path / "parent/var/lib/dpkg"
    for d in (dpkg, parent):
        d.mkdir(parents=True)
    (parent / "status").write_text(_status(("base", "installed"), ("libzstd1", "installed")))
    earlier = _status(("base", "installed"), ("libzstd1", "installed"), ("nodejs", "installed"))
    one_run = _status(("base", "installed"), ("libzstd1", "installed"), ("nodejs", "unpacked"))
    new_early = _status(("base", "installed"), ("libzstd1", "installed"), ("nodejs", "installed"))
    delta = _status(
        ("base", "installed"), ("file", "installed"), ("libzstd1", "installed"), ("nodejs", "installed")
    )
    (dpkg / "status").write_text(
        delta.replace("libzstd1\nStatus: install ok installed", "libzstd1\nStatus: install ok half")
    )
    (dpkg / "status-old").write_text(
        _status(("base", "installed"), ("file", "unpacked"), ("libzstd1", "half"), ("nodejs", "installed"))
    )
    root, parent_root = str(tmp_path / "delta"), lambda: str(tmp_path / "parent")
    # the delta upgraded libzstd1 in an earlier run, added file in its last: kept
    assert dpkg_runs_split(root, parent_root, earlier, one_run) is None
    assert dpkg_runs_split(root, parent_root, earlier, new_early) == (
        "the earlier install configured nodejs in an earlier dpkg run than its last, which a full install"
        " splits its own way"
    )
    (dpkg / "status-old").write_text(
        _status(("base", "installed"), ("file", "installed"), ("libzstd1", "half"), ("nodejs", "installed"))
    )
    assert dpkg_runs_split(root, parent_root, earlier, one_run).startswith("the delta configured file in an")


def _accounts(root: Path, *names: str) -> None:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(
        "".join(f"{n}:x:{100 + i}:{100 + i}::/:/bin/false\n" for i, n in enumerate(names))
    )
    (root / "etc/group").write_text("".join(f"{n}:x:{100 + i}:\n" for i, n in enumerate(names)))


def test_system_users_a_full_install_may_number_otherwise_are_not_kept(tmp_path):
    """adduser --system gives the first free id in apt's configure order: after tcpdump's user, a delta gave
    uuidd 101 where a full install gave it 100."""
    from shlax_front.backend.dpkgstate import accounts_added

    parent, earlier, delta = tmp_path / "parent", tmp_path / "earlier", tmp_path / "delta"
    _accounts(parent, "root")
    _accounts(earlier, "root", "tcpdump")
    _accounts(delta, "root", "tcpdump", "uuidd")
    layers = IncrementalLayers(tmp_path)
    start = Start("added uuid-runtime", "img1")
    layers.before_run(start, str(earlier))
    why = accounts_added(str(delta), lambda: str(parent), start.accounts)
    assert why == (
        "the delta added uuidd to /etc/passwd after the earlier install's tcpdump: a full install may give"
        " their ids in another order"
    )
    _accounts(earlier, "root")  # the earlier install added none: the one the delta added is numbered alike
    layers.before_run(start, str(earlier))
    _accounts(delta, "root", "uuidd")
    assert accounts_added(str(delta), lambda: str(parent), start.accounts) is None
    _accounts(delta, "root", "uuidd", "tcpdump")  # two at once: apt's order for the whole set decides
    assert "added uuidd, tcpdump to /etc/passwd" in accounts_added(str(delta), lambda: None, start.accounts)


def test_a_shared_file_both_installs_edited_is_not_kept(tmp_path):
    """add-shell appends in configure order: csh's lines then mksh's after a delta, mksh's first in a full
    install. A file only the delta edited, or one the earlier install left as the parent had it, is kept."""
    from shlax_front.backend.dpkgstate import shared_edits

    parent, delta = tmp_path / "parent", tmp_path / "delta"
    for root, shells in ((parent, "/bin/sh\n"), (delta, "/bin/sh\n/bin/csh\n")):
        (root / "etc").mkdir(parents=True)
        (root / "etc/shells").write_text(shells)
        (root / "etc/ld.so.cache").write_text("old")
        (root / "etc/hostname").write_text("x\n")
    layers = IncrementalLayers(tmp_path)
    start = Start("added mksh", "img1")
    layers.before_run(start, str(delta))  # the earlier layer: csh added to /etc/shells
    assert set(start.shared) == {"/etc/shells", "/etc/ld.so.cache", "/etc/hostname"}
    (delta / "etc/shells").write_text("/bin/sh\n/bin/csh\n/bin/mksh\n")
    (delta / "etc/ld.so.cache").write_text("new")
    assert shared_edits(str(delta), lambda: str(parent), start.shared) == (
        "the delta and the earlier install both edited /etc/shells, which a full install edits in its own order"
    )
    (parent / "etc/shells").write_text("/bin/sh\n/bin/csh\n")  # the earlier install had not touched it
    assert shared_edits(str(delta), lambda: str(parent), start.shared) is None
    # debconf's database from before the last package's write: ca-certificates' entries, then tzdata's
    debconf = delta / "var/cache/debconf"
    debconf.mkdir(parents=True)
    (debconf / "config.dat-old").write_text("Name: ca-certificates/title\n")
    layers.before_run(start, str(delta))
    (debconf / "config.dat-old").write_text("Name: ca-certificates/title\n\nName: tzdata/Areas\n")
    assert "both edited /var/cache/debconf/config.dat-old" in shared_edits(
        str(delta), lambda: str(parent), start.shared
    )


def _installed(*packages: tuple[str, str, str]) -> str:
    """A status file of installed packages: (name, version, relation lines)."""
    return "".join(
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n{fields}\n"
        for name, version, fields in packages
    )


GPG_AGENT = ("gpg-agent", "2", "Depends: pinentry-curses | pinentry, libc6 (>= 2.34)\n")
CURSES = ("pinentry-curses", "1", "Provides: pinentry\nDepends: libncursesw6\n")


@pytest.mark.parametrize(
    ("earlier", "after", "why"),
    [
        # the delta's package provides what an or-group of the earlier install's names
        (
            [GPG_AGENT, CURSES],
            [GPG_AGENT, CURSES, ("pinentry-tty", "1", "Provides: pinentry\n")],
            "gpg-agent (earlier install) has `Depends: pinentry-curses | pinentry`, which pinentry-tty (delta"
            " install) meets: a full install may choose otherwise",
        ),
        # the other way round: the delta's package's or-group met by the earlier install's
        (
            [("mailutils", "1", "Depends: dma | mail-transport-agent\n")],
            [
                ("mailutils", "1", "Depends: dma | mail-transport-agent\n"),
                ("x", "1", "Recommends: y | mailutils\n"),
            ],
            "x (delta install) has `Recommends: y | mailutils`, which mailutils (earlier install) meets",
        ),
        # a conflict apt resolved by removing what the earlier install had
        (
            [("libluajit-5.1-2", "1", "")],
            [("libluajit2-5.1-2", "1", "")],
            "the delta removed libluajit-5.1-2, which the earlier layer had installed",
        ),
        # a library the delta upgrades that the earlier install depends on: one real package, no choice
        (
            [GPG_AGENT, CURSES],
            [GPG_AGENT, CURSES, ("libc6", "3", ""), ("tree", "1", "Depends: libc6 (>= 3)\n")],
            None,
        ),
        # an or-group met by the same install's own package, or by the parent's
        ([GPG_AGENT, CURSES], [GPG_AGENT, CURSES, ("nano", "1", "Depends: debconf | debconf-2.0\n")], None),
    ],
)
def test_a_delta_whose_packages_a_full_install_may_choose_otherwise_is_not_kept(earlier, after, why):
    """apt meets an or-group or a virtual package by what is installed or already chosen, so the earlier
    install's choices and the delta's may not be a full install's; a removal is one too."""
    from shlax_front.backend.dpkgstate import choices_differ

    parent = _installed(("libc6", "2", ""), ("debconf", "1", ""))
    base = [("libc6", "2", ""), ("debconf", "1", "")]
    got = choices_differ(parent, _installed(*base, *earlier), _installed(*base, *after))
    assert got == why if why is None else why in got


def test_a_delta_without_dpkg_s_status_file_is_not_kept():
    from shlax_front.backend.dpkgstate import choices_differ

    status = _installed(GPG_AGENT, CURSES)
    assert choices_differ(None, None, None) is None  # no dpkg at all
    assert "dpkg's status file is missing" in choices_differ(None, status, None)


def test_a_split_the_earlier_layer_shows_is_compared_with_apt_s_plan_after_the_delta_ran(
    tmp_path, monkeypatch
):
    """The earlier install configured a package new to its layer before its last dpkg run (apt configures
    pre-dependencies first): the delta runs, and its check asks apt which packages a full install of the whole
    set configures early (``aptplan``), with the step's own script. No answer: refused as before."""
    from shlax_front.backend.aptplan import PLAN_OPTION
    from shlax_front.backend.dpkgstate import dpkg_runs_split
    from shlax_front.backend.incremental import AptOrder, IncrementalLayers, Start

    earlier, parent = tmp_path / "earlier/var/lib/dpkg", tmp_path / "parent/var/lib/dpkg"
    for d in (earlier, parent):
        d.mkdir(parents=True)
    (parent / "status").write_text(_status(("base", "installed")))
    earlier_status = _status(("base", "installed"), ("nodejs", "installed"), ("npm", "installed"))
    (earlier / "status").write_text(earlier_status)
    # nodejs configured in an earlier run: installed already in the copy the last run left
    earlier_old = _status(("base", "installed"), ("nodejs", "installed"), ("npm", "unpacked"))
    (earlier / "status-old").write_text(earlier_old)
    layers = IncrementalLayers(tmp_path / "cache")
    step = run_step(INSTALL.format("npm file"))
    start = Start("", "earlier-image", replace(step, argv=(*step.argv[:-1], "apt-get install -y file")))
    refused = layers.before_run(start, str(tmp_path / "earlier"), lambda: str(tmp_path / "parent"))
    assert refused is None
    assert start.earlier_early == {("nodejs", "amd64")}
    assert isinstance(start.check, AptOrder) and start.check.plan is not None
    assert start.check.plan.argv == (
        *step.argv[:-1],
        step.argv[-1].replace("npm file", f"{PLAN_OPTION} npm file"),
    )
    assert start.check.plan.needed()
    # the plan not asked, or not answered: refused after the run, as the earlier layer shows
    root, parent_root = str(tmp_path / "earlier"), lambda: str(tmp_path / "parent")
    why = "the earlier install configured nodejs in an earlier dpkg run than its last, which a full install"
    assert dpkg_runs_split(root, parent_root, earlier_status, earlier_old) == f"{why} splits its own way"
    start.check.plan.failed = "apt's plan of a full install failed (exit status 100)"
    assert dpkg_runs_split(root, parent_root, earlier_status, earlier_old, plan=start.check.plan) == (
        f"{why} splits its own way (apt's plan of a full install failed (exit status 100))"
    )

    # the executor: before_run can still refuse (a mid-run write): no delta run, the step run once in full
    runner = FakeRunner()
    _build(tmp_path, runner, "tini")
    runner.calls.clear()
    monkeypatch.setattr(IncrementalLayers, "before_run", lambda self, start, rootfs, parent_root: "split")
    second, runs, froms = _build(tmp_path, runner, "tini nano")
    (record,) = [s for s in second.steps if s.status == "built"]
    assert len(runs) == 1 and "tini nano" in runs[0]
    assert froms[-1] == "busybox-id"
    assert record.reason.endswith("not incremental: split (built in full)")


def test_early_configured_packages_are_kept_when_apt_s_plan_configures_the_same_ones_early(tmp_path):
    """python3's pre-dependencies: the earlier install configured python3-minimal before its last dpkg run, the
    delta (less) none. Kept when apt's plan of a full install configures python3-minimal early too (an upgrade
    it configures early, libssl3 here, is left out); refused when the plan configures another, or not that one."""
    from shlax_front.backend.aptplan import FullPlan
    from shlax_front.backend.dpkgstate import dpkg_runs_split

    dpkg, parent = tmp_path / "delta/var/lib/dpkg", tmp_path / "parent/var/lib/dpkg"
    for d in (dpkg, parent):
        d.mkdir(parents=True)
    (parent / "status").write_text(_status(("base", "installed"), ("libssl3", "installed")))
    earlier = _status(("base", "installed"), ("libssl3", "installed"), ("python3", "installed"))
    earlier = earlier.replace(
        "python3\n",
        "python3-minimal\nStatus: install ok installed\nArchitecture: amd64\n\nPackage: python3\n",
    )
    earlier_old = earlier.replace(
        "python3\nStatus: install ok installed", "python3\nStatus: install ok unpacked"
    )
    delta = earlier + _status(("less", "installed"))
    (dpkg / "status").write_text(delta)
    (dpkg / "status-old").write_text(earlier + _status(("less", "unpacked")))
    root, parent_root = str(tmp_path / "delta"), lambda: str(tmp_path / "parent")

    def plan(*early: str) -> FullPlan:
        return FullPlan((), lambda: True, early=frozenset(early))

    assert dpkg_runs_split(root, parent_root, earlier, earlier_old).startswith(
        "the earlier install configured python3-minimal in an earlier dpkg run"
    )
    assert (
        dpkg_runs_split(root, parent_root, earlier, earlier_old, plan=plan("libssl3", "python3-minimal"))
        is None
    )
    assert dpkg_runs_split(root, parent_root, earlier, earlier_old, plan=plan("python3-minimal", "less")) == (
        "a full install configures less early (apt's plan), the delta's layers did not: its status-old would differ"
    )
    assert dpkg_runs_split(root, parent_root, earlier, earlier_old, plan=plan()) == (
        "the delta's layers configured python3-minimal early, a full install does not: its status-old would differ"
    )


#: the real output, apt ending each dpkg call with a space
PLAN_OUTPUT = "".join(
    f"{line} \n" if line.startswith("/usr/bin/dpkg") else f"{line}\n"
    for line in """\
Reading package lists...
Get:1 http://deb.debian.org/debian bookworm/main amd64 tini amd64 0.19.0-1+b3 [267 kB]
debconf: delaying package configuration, since apt-utils is not installed
/usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure /var/cache/apt/archives/libssl3_3.0.22-1~deb12u2_amd64.deb /var/cache/apt/archives/libpython3.11-minimal_3.11.2-6+deb12u9_amd64.deb
/usr/bin/dpkg --status-fd 17 --no-triggers --configure libssl3:amd64 libpython3.11-minimal:amd64 libexpat1:amd64 python3.11-minimal:amd64
/usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-BItCRp
/usr/bin/dpkg --status-fd 17 --no-triggers --configure python3-minimal:amd64
/usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure --recursive /tmp/apt-dpkg-install-daTAhT
/usr/bin/dpkg --status-fd 17 --configure --pending
""".splitlines()
)


def test_apt_s_plan_gives_the_packages_configured_before_its_last_dpkg_run():
    """bookworm's apt-get install -o Debug::pkgDPkgPM=1 curl procps python3 python3-venv tini less (its real
    output, the long unpack lines cut): python3's pre-dependencies, each configured in a run of its own."""
    from shlax_front.backend.aptplan import configured_early

    assert configured_early(PLAN_OUTPUT) == {
        "libssl3",
        "libpython3.11-minimal",
        "libexpat1",
        "python3.11-minimal",
        "python3-minimal",
    }
    one_run = "/usr/bin/dpkg --status-fd 17 --no-triggers --unpack --auto-deconfigure /x/tini.deb\n"
    assert configured_early(one_run + "/usr/bin/dpkg --status-fd 17 --configure --pending\n") == frozenset()


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("Reading package lists...\nE: Unable to locate package nope\n", "shows no dpkg run"),
        (
            PLAN_OUTPUT + "/usr/bin/dpkg --status-fd 17 --remove tini:amd64\n",
            "runs dpkg --remove, not understood",
        ),
        (
            PLAN_OUTPUT.replace("--configure --pending", "--triggers-only --pending"),
            "runs dpkg --triggers-only",
        ),
        (PLAN_OUTPUT.rsplit("/usr/bin/dpkg", 1)[0], "does not end with a dpkg configure run"),
        ("/usr/bin/dpkg --status-fd 17 --no-triggers\n", "runs dpkg without an action"),
    ],
)
def test_a_plan_that_is_not_understood_says_why(output, why):
    from shlax_front.backend.aptplan import configured_early

    said = configured_early(output)
    assert isinstance(said, str) and why in said


def test_the_plan_is_asked_in_a_container_of_the_parent_layer_only_when_needed():
    """No container is made when no install configured a package early; a failed apt or no container refuses."""
    from shlax_front.backend.aptplan import FullPlan

    made, ran = [], []

    def container() -> str:
        made.append("parent")
        return "parent"

    def run(argv, other):
        ran.append((tuple(argv), other))
        return Result(list(argv), 0, "", PLAN_OUTPUT)

    plan = FullPlan(("sh", "-c", "apt-get install"), lambda: False)
    plan(run, container)
    assert (made, ran, plan.early, plan.failed) == ([], [], None, None)
    plan = FullPlan(("sh", "-c", "apt-get install"), lambda: True)
    plan(run, container)
    assert ran == [(("sh", "-c", "apt-get install"), "parent")]
    assert plan.early == {
        "libssl3",
        "libpython3.11-minimal",
        "libexpat1",
        "python3.11-minimal",
        "python3-minimal",
    }
    failing = FullPlan(("sh",), lambda: True)
    failing(lambda argv, other: Result(list(argv), 100, "", "E: nope\n"), container)
    assert failing.early is None and failing.failed == "apt's plan of a full install failed (exit status 100)"
    orphan = FullPlan(("sh",), lambda: True)
    orphan(run, lambda: None)
    assert orphan.early is None and "no container of the parent layer" in (orphan.failed or "")


def _installs(prefix: str, count: int, state: str) -> list[tuple[str, str]]:
    return [(f"{prefix}{n:03}", state) for n in range(count)]


def test_a_full_install_dpkg_may_write_its_status_file_during_is_built_in_full(tmp_path):
    """dpkg writes its status file after every 251st update of a run: a full install of many packages leaves
    a status-old from the middle of its last run, which no rule rebuilds. The earlier install and the delta
    each below it, all their packages unpacked in their copies: still refused when both together are not
    (here 30 + 10 packages: 6 updates each at most, 20 besides, reach 251)."""
    from shlax_front.backend.dpkgstate import dpkg_runs_split, mid_run_write

    dpkg, parent = tmp_path / "delta/var/lib/dpkg", tmp_path / "parent/var/lib/dpkg"
    for d in (dpkg, parent):
        d.mkdir(parents=True)
    base = [("base", "installed")]
    (parent / "status").write_text(_status(*base))
    earlier = _status(*base, *_installs("a", 30, "installed"))
    earlier_old = _status(*base, *_installs("a", 30, "unpacked"))
    (dpkg / "status").write_text(
        _status(*base, *_installs("a", 30, "installed"), *_installs("b", 10, "installed"))
    )
    (dpkg / "status-old").write_text(
        _status(*base, *_installs("a", 30, "installed"), *_installs("b", 10, "unpacked"))
    )
    root, parent_root = str(tmp_path / "delta"), lambda: str(tmp_path / "parent")
    assert dpkg_runs_split(root, parent_root, earlier, earlier_old) == (
        "a full install changes 40 packages: dpkg may write its status file during its last run (every 251"
        " updates; 260 updates estimated, not counted in dpkg's log), and the status-old it leaves then follows"
        " dpkg's own configure order"
    )
    # one package fewer in the delta: 39 * 6 + 20 < 251, no write before the run's end
    (dpkg / "status").write_text(
        _status(*base, *_installs("a", 30, "installed"), *_installs("b", 8, "installed"))
    )
    (dpkg / "status-old").write_text(
        _status(*base, *_installs("a", 30, "installed"), *_installs("b", 8, "unpacked"))
    )
    assert dpkg_runs_split(root, parent_root, earlier, earlier_old) is None
    # what the parent layer had counts for neither
    assert mid_run_write("x", earlier, earlier) is None


def test_an_earlier_install_dpkg_may_have_written_mid_run_refuses_the_delta_before_it_runs(tmp_path):
    """The earlier layer alone shows it (the example app's nodejs npm install changed 420 packages): known
    before the delta runs. Its copy shows them as a mid-run write does, all installed but the last."""
    from shlax_front.backend.incremental import IncrementalLayers, Start

    earlier, parent = tmp_path / "earlier/var/lib/dpkg", tmp_path / "parent/var/lib/dpkg"
    for d in (earlier, parent):
        d.mkdir(parents=True)
    (parent / "status").write_text(_status(("base", "installed")))
    (earlier / "status").write_text(_status(("base", "installed"), *_installs("node", 50, "installed")))
    (earlier / "status-old").write_text(
        _status(("base", "installed"), *_installs("node", 49, "installed"), ("node049", "unpacked"))
    )
    start = Start("", "earlier-image", run_step("RUN apt-get install -y npm file"))
    refused = IncrementalLayers(tmp_path / "cache").before_run(
        start, str(tmp_path / "earlier"), lambda: str(tmp_path / "parent")
    )
    assert refused is not None
    assert refused.startswith("the earlier install changes 50 packages: dpkg may write its status file")


def test_each_conffile_counts_as_a_status_update_of_dpkg_s_last_run():
    """dpkg updates a package's status once more per conffile as it configures it (10 updates of a real full
    install that its log did not show, each after a package with conffiles): 17 packages with 8 conffiles
    each may reach the write that 17 packages without any do not."""
    from shlax_front.backend.dpkgstate import mid_run_write

    def with_conffiles(count: int) -> str:
        listed = "".join(f" /etc/p{n}/{c} newconffile\n" for c in range(8) for n in [0])
        return "".join(
            f"Package: p{n:03}\nStatus: install ok installed\nArchitecture: amd64\nConffiles:\n"
            + listed.replace("/p0/", f"/p{n}/")
            + "Description: x\n\n"
            for n in range(count)
        )

    base = _status(("base", "installed"))
    plain = _status(("base", "installed"), *_installs("p", 17, "installed"))
    assert mid_run_write("a full install", base, plain) is None
    assert mid_run_write("a full install", base, base + with_conffiles(17)) is not None
    assert mid_run_write("a full install", base, base + with_conffiles(12)) is None


#: the base image's last line, then what apt-get install less procps wrote (lines of a real install of
#: build-essential procps less on bookworm, its other packages cut out)
BASE_LOG = "2026-12-07 13:32:22 trigproc libc-bin:amd64 2.36-9+deb12u14 <none>\n"
LESS_PROCPS_LOG = """\
2026-12-07 13:39:35 startup archives unpack
2026-12-07 13:39:35 install less:amd64 <none> 590-2.1~deb12u2
2026-12-07 13:39:35 status half-installed less:amd64 590-2.1~deb12u2
2026-12-07 13:39:35 status unpacked less:amd64 590-2.1~deb12u2
2026-12-07 13:39:35 install procps:amd64 <none> 2:4.0.2-3
2026-12-07 13:39:35 status half-installed procps:amd64 2:4.0.2-3
2026-12-07 13:39:36 status unpacked procps:amd64 2:4.0.2-3
2026-12-07 13:39:54 startup packages configure
2026-12-07 13:39:54 configure less:amd64 590-2.1~deb12u2 <none>
2026-12-07 13:39:54 status unpacked less:amd64 590-2.1~deb12u2
2026-12-07 13:39:54 status half-configured less:amd64 590-2.1~deb12u2
2026-12-07 13:39:54 status installed less:amd64 590-2.1~deb12u2
2026-12-07 13:39:54 configure procps:amd64 2:4.0.2-3 <none>
2026-12-07 13:39:54 status unpacked procps:amd64 2:4.0.2-3
2026-12-07 13:39:54 status half-configured procps:amd64 2:4.0.2-3
2026-12-07 13:39:54 status installed procps:amd64 2:4.0.2-3
2026-12-07 13:39:55 trigproc libc-bin:amd64 2.36-9+deb12u14 <none>
2026-12-07 13:39:55 status half-configured libc-bin:amd64 2.36-9+deb12u14
2026-12-07 13:39:55 status installed libc-bin:amd64 2.36-9+deb12u14
"""
PROCPS_CONFFILES = """\
Conffiles:
 /etc/init.d/procps f9903aa0d9f2f10714269befb4cdba8f
 /etc/sysctl.conf c0c09cba30da0565737cace8000d64ee
 /etc/sysctl.d/README.sysctl 48e64ce233c8aba8e0693adf8cf4c464
"""


def _less_procps_status() -> tuple[str, str]:
    """The status file before and after the install of ``LESS_PROCPS_LOG`` (procps with its three conffiles)."""
    before = _status(("libc-bin", "installed"))
    after = before + _status(("less", "installed"))
    after += _status(("procps", "installed")).replace("\n\n", "\n" + PROCPS_CONFFILES + "\n", 1)
    return before, after


def test_the_updates_of_an_install_s_last_dpkg_run_are_counted_in_its_log():
    """The status lines after the last run's startup (6 for less and procps, 2 for libc-bin's trigger) and one
    update per conffile of a package it configured, which dpkg does not log (procps: 3)."""
    from shlax_front.backend.dpkgstate import last_run_updates

    before, after = _less_procps_status()
    assert last_run_updates(LESS_PROCPS_LOG, before, after) == 11


@pytest.mark.parametrize(
    "log",
    [
        LESS_PROCPS_LOG[:-1],  # its last line cut short
        LESS_PROCPS_LOG.replace("configure procps:amd64", "configure\tprocps:amd64"),
        LESS_PROCPS_LOG + "dpkg: warning: something else\n",
        LESS_PROCPS_LOG.split("2026-12-07 13:39:54 startup")[1],  # no run's start
        # procps configured in an earlier run (or a delta's run the last): its last run is not all the install's
        LESS_PROCPS_LOG.replace(
            "2026-12-07 13:39:54 configure procps", "2026-12-07 13:39:54 startup packages"
        )
        + "2026-12-07 13:39:56 startup packages configure\n",
        "",
    ],
)
def test_a_log_that_is_not_as_expected_counts_nothing(log):
    from shlax_front.backend.dpkgstate import last_run_updates

    before, after = _less_procps_status()
    assert last_run_updates(log, before, after) is None


def test_packages_apt_s_plan_configures_early_are_not_looked_for_in_the_last_run():
    """procps configured in a dpkg run of its own before the last (as apt does with a pre-dependency): its
    last run is not all the install's, so nothing is counted, unless apt's plan configures procps early too;
    then the last run's updates are counted alone (less: 3, libc-bin's trigger: 2)."""
    from shlax_front.backend.dpkgstate import last_run_updates

    lines = LESS_PROCPS_LOG.splitlines(keepends=True)
    procps = [line for line in lines if "procps" in line]
    less = [line for line in lines if "less" in line or "libc-bin" in line]
    log = "".join(
        ["2026-12-07 13:39:35 startup archives unpack\n", *procps[:3]]
        + ["2026-12-07 13:39:40 startup packages configure\n", *procps[3:]]
        + ["2026-12-07 13:39:41 startup archives unpack\n", *less[:3]]
        + ["2026-12-07 13:39:54 startup packages configure\n", *less[3:]]
    )
    before, after = _less_procps_status()
    assert last_run_updates(log, before, after) is None
    assert last_run_updates(log, before, after, {("procps", "amd64")}) == 5


def test_the_earlier_install_s_lines_are_the_ones_after_the_parent_layer_s_log(tmp_path):
    """The base image's runs (and earlier RUNs') are in the parent layer's log too; a log that does not continue
    it (rotated, removed and made again) or no log counts nothing."""
    from shlax_front.backend.dpkgstate import earlier_updates

    parent = tmp_path / "parent"
    (parent / "var/log").mkdir(parents=True)
    (parent / "var/lib/dpkg").mkdir(parents=True)
    before, after = _less_procps_status()
    (parent / "var/log/dpkg.log").write_text(BASE_LOG)
    (parent / "var/lib/dpkg/status").write_text(before)
    parent_root = lambda: str(parent)  # noqa: E731
    assert earlier_updates(BASE_LOG + LESS_PROCPS_LOG, parent_root, after) == 11
    assert earlier_updates(LESS_PROCPS_LOG, parent_root, after) is None
    assert earlier_updates(None, parent_root, after) is None
    # no log in the parent layer: every line is the install's
    (parent / "var/log/dpkg.log").unlink()
    assert earlier_updates(LESS_PROCPS_LOG, parent_root, after) == 11


def _run_log(when: str, names: list[str], trigger: bool = True) -> str:
    """What an apt install of ``names`` writes to dpkg's log: one unpack run, then the configure run (three
    updates a package, libc-bin's trigger), in the lines' real format (``LESS_PROCPS_LOG``)."""
    lines = [f"{when} startup archives unpack"]
    for name in names:
        lines += [f"{when} install {name}:amd64 <none> 1.0", f"{when} status half-installed {name}:amd64 1.0"]
        lines += [f"{when} status unpacked {name}:amd64 1.0"]
    lines.append(f"{when} startup packages configure")
    for name in names:
        lines.append(f"{when} configure {name}:amd64 1.0 <none>")
        lines += [
            f"{when} status {state} {name}:amd64 1.0"
            for state in ("unpacked", "half-configured", "installed")
        ]
    if trigger:
        lines.append(f"{when} trigproc libc-bin:amd64 2.36-9+deb12u14 <none>")
        lines += [
            f"{when} status {s} libc-bin:amd64 2.36-9+deb12u14" for s in ("half-configured", "installed")
        ]
    return "\n".join(lines) + "\n"


def _medium_layers(tmp_path, earlier: int, added: int):
    """The parent layer (libc-bin), the earlier layer after an install of ``earlier`` packages and the delta's
    container after ``added`` more, with their logs, status files and copies."""
    from shlax_front.backend.incremental import Start

    names = [f"a{n:03}" for n in range(earlier)]
    more = [f"b{n:03}" for n in range(added)]
    base = [("libc-bin", "installed")]
    parent, root = tmp_path / "parent", tmp_path / "delta"
    for d in (parent, root):
        (d / "var/log").mkdir(parents=True)
        (d / "var/lib/dpkg").mkdir(parents=True)
    (parent / "var/log/dpkg.log").write_text(BASE_LOG)
    (parent / "var/lib/dpkg/status").write_text(_status(*base))
    earlier_log = BASE_LOG + _run_log("2026-12-07 13:39:54", names)
    (root / "var/log/dpkg.log").write_text(earlier_log)
    installed = [(name, "installed") for name in names]
    (root / "var/lib/dpkg/status").write_text(_status(*base, *installed))
    (root / "var/lib/dpkg/status-old").write_text(_status(*base, *[(name, "unpacked") for name in names]))
    start = Start("added", "earlier-image", run_step("RUN apt-get install -y x"))
    refused = IncrementalLayers(tmp_path / "cache").before_run(start, str(root), lambda: str(parent))

    (root / "var/log/dpkg.log").write_text(earlier_log + _run_log("2026-12-07 13:41:02", more))
    (root / "var/lib/dpkg/status").write_text(_status(*base, *installed, *[(n, "installed") for n in more]))
    (root / "var/lib/dpkg/status-old").write_text(
        _status(*base, *installed, *[(n, "unpacked") for n in more])
    )
    return start, refused, str(root), lambda: str(parent)


def test_a_medium_install_counted_in_dpkg_s_log_keeps_its_delta(tmp_path):
    """62 packages (build-essential procps less): 188 updates counted in the earlier install's last run, where 6
    a package estimated 392 and refused the delta; 2 more packages and their run's trigger make 196 + 20 < 251."""
    from shlax_front.backend.dpkgstate import dpkg_runs_split, mid_run_write

    start, refused, root, parent_root = _medium_layers(tmp_path, 62, 2)
    assert refused is None
    assert start.earlier_updates == 62 * 3 + 2
    assert mid_run_write("x", _status(("libc-bin", "installed")), start.dpkg_status[0]) is not None
    assert dpkg_runs_split(root, parent_root, *start.dpkg_status, (start.earlier_updates, 8)) is None
    # the whole check after the run, as the executor asks it
    assert IncrementalLayers(tmp_path / "cache").spoiled(start, root) is None


def test_a_delta_counted_in_dpkg_s_log_is_refused_when_the_full_install_may_reach_the_write(tmp_path):
    """62 + 14 packages: 188 + 44 + 20 reach 251 (a full install may write its status file mid-run); with 13
    (188 + 41 + 20) it does not."""
    start, refused, root, _ = _medium_layers(tmp_path / "13", 62, 13)
    assert refused is None
    assert IncrementalLayers(tmp_path / "cache").spoiled(start, root) is None
    start, refused, root, _ = _medium_layers(tmp_path, 62, 14)
    assert refused is None
    assert IncrementalLayers(tmp_path / "cache").spoiled(start, root) == (
        "a full install changes 76 packages: dpkg may write its status file during its last run (every 251"
        " updates; 232 updates counted in dpkg's log + 20), and the status-old it leaves then follows dpkg's own"
        " configure order"
    )


def test_an_earlier_install_counted_over_the_write_is_refused_before_the_delta_runs(tmp_path):
    """77 packages: 233 updates + 20 reach 251 before the delta runs; 76 (230 + 20) do not."""
    assert _medium_layers(tmp_path / "76", 76, 1)[1] is None
    _, refused, _, _ = _medium_layers(tmp_path, 77, 1)
    assert refused == (
        "the earlier install changes 77 packages: dpkg may write its status file during its last run (every 251"
        " updates; 233 updates counted in dpkg's log + 20), and the status-old it leaves then follows dpkg's own"
        " configure order"
    )


def test_a_delta_whose_log_went_away_falls_back_to_the_estimate(tmp_path):
    """The script removed dpkg's log (or it was rotated): 64 packages at 6 updates each reach the write."""
    start, refused, root, _ = _medium_layers(tmp_path, 62, 2)
    assert refused is None
    (Path(root) / "var/log/dpkg.log").write_text(_run_log("2026-12-07 13:41:02", ["b000", "b001"]))
    assert "updates estimated, not counted in dpkg's log" in (
        IncrementalLayers(tmp_path / "cache").spoiled(start, root) or ""
    )
    (Path(root) / "var/log/dpkg.log").unlink()
    assert "updates estimated" in (IncrementalLayers(tmp_path / "cache").spoiled(start, root) or "")


def test_a_layer_a_delta_built_is_counted_by_the_updates_recorded_with_it(tmp_path):
    """Its dpkg log holds two installs (62 packages, then 2 added): its last run is the delta's alone, so the
    log counts nothing for the earlier install and the estimate (64 packages) refuses; the count the delta kept
    (188 + 8) is recorded with the layer and counts instead."""
    start, _, root, parent_root = _medium_layers(tmp_path, 62, 2)
    layers = IncrementalLayers(tmp_path / "cache")
    assert layers.spoiled(start, root) is None
    assert start.kept_updates == 196
    old = run_step("RUN apt-get install -y x")
    layers.remember(old, "parent", {}, "chain-key", updates=start.kept_updates)
    layers.remember(old, "parent", {}, "chain-key", built=False)  # reused from the cache: still counted
    step = run_step("RUN apt-get install -y x y")
    later = IncrementalLayers(tmp_path / "cache").start(step, "parent", {}, {"chain-key": "img"}.get)
    assert later.recorded_updates == 196

    # the delta's layer (status-old rebuilt as a full install of the 64 leaves it) is the earlier one now
    refused = IncrementalLayers(tmp_path / "cache").before_run(Start("added", "img", step), root, parent_root)
    assert refused is not None and "updates estimated" in refused
    assert IncrementalLayers(tmp_path / "cache").before_run(later, root, parent_root) is None
    assert later.earlier_updates == 196
