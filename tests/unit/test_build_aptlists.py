"""The ``apt-get update`` stand-in (``build/aptlists.py``), run by the host's /bin/sh against a fake apt.

The script's decisions are tested here with a pretend container root; the real-buildah tests in
``test_build_packages.py`` show the update skipped on a real build, and run again when the TTL is 0.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from shlax_front.backend import aptlists

FAKE_APT = """#!/bin/sh
echo "$@" >> "{log}"
mkdir -p "{root}/var/lib/apt/lists"
touch "{root}/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
[ -n "$FAKE_WARNING" ] && echo "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" >&2
exit "${{FAKE_STATUS:-0}}"
"""


@pytest.fixture
def sandbox(tmp_path):
    """(run(args, ttl=..., **env) -> CompletedProcess, calls() -> real apt invocations, root, state)."""
    root, state, log = tmp_path / "root", tmp_path / "state", tmp_path / "calls.log"
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    (root / "etc/apt/apt.conf.d").mkdir(parents=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text("Types: deb\nURIs: http://deb.debian.org\n")
    state.mkdir()
    real = tmp_path / "apt-get.real"
    real.write_text(FAKE_APT.format(log=log, root=root))
    real.chmod(0o755)

    def run(*args, ttl=3600, **env):
        shim = tmp_path / "apt-get"
        shim.write_text(aptlists.shim_script("apt-get", str(real), ttl, state=str(state), root=str(root)))
        shim.chmod(0o755)
        return subprocess.run(
            [str(shim), *args], capture_output=True, text=True, env={"PATH": os.environ["PATH"], **env}
        )

    def calls():
        return log.read_text().splitlines() if log.exists() else []

    return run, calls, root, state


def test_second_update_is_skipped_while_fresh(sandbox):
    run, calls, _, state = sandbox
    first = run("update", "-q")
    assert first.returncode == 0 and calls() == ["update -q"]
    assert (state / "stamp").exists()
    second = run("update")
    assert second.returncode == 0
    assert "`apt-get update` skipped" in second.stdout
    assert calls() == ["update -q"]  # the real apt was not run again


def test_other_verbs_and_options_always_run_the_real_apt(sandbox):
    run, calls, _, _ = sandbox
    run("update")
    run("install", "-y", "tree")
    run("-o", "Acquire::Retries=3", "update")
    run("update", "--allow-releaseinfo-change")
    run("update", "update")
    assert calls() == [
        "update",
        "install -y tree",
        "-o Acquire::Retries=3 update",
        "update --allow-releaseinfo-change",
        "update update",
    ]


def test_a_changed_source_list_updates_again(sandbox):
    run, calls, root, _ = sandbox
    run("update")
    (root / "etc/apt/sources.list.d/extra.list").write_text("deb http://example.org/debian bookworm main\n")
    run("update")
    assert calls() == ["update", "update"]
    run("update")  # recorded under the new sources: fresh again
    assert len(calls()) == 2


def test_an_added_architecture_updates_again(sandbox):
    run, calls, root, _ = sandbox
    run("update")
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/arch").write_text("amd64\ni386\n")
    run("update")
    assert calls() == ["update", "update"]


def test_stale_lists_update_again(sandbox):
    run, calls, _, state = sandbox
    run("update")
    when, fingerprint = (state / "stamp").read_text().split(" ", 1)
    (state / "stamp").write_text(f"{int(when) - 7200} {fingerprint}")
    run("update")
    assert calls() == ["update", "update"]
    # under --offline (ttl -1) any recorded lists will do
    (state / "stamp").write_text(f"{int(time.time()) - 10**6} {fingerprint}")
    assert "skipped" in run("update", ttl=-1).stdout
    assert len(calls()) == 2


def test_a_failed_or_partial_update_records_nothing(sandbox):
    run, calls, _, state = sandbox
    failed = run("update", FAKE_STATUS="100")
    assert failed.returncode == 100 and not (state / "stamp").exists()
    partial = run("update", FAKE_WARNING="1")
    assert partial.returncode == 0
    assert "W: Failed to fetch" in partial.stderr  # apt's own message is still shown
    assert not (state / "stamp").exists()
    assert sorted(p.name for p in state.iterdir()) == []  # its stderr copy is gone too
    assert calls() == ["update", "update"]


def test_a_missing_lists_directory_updates_again(sandbox):
    run, calls, root, _ = sandbox
    run("update")
    for entry in (root / "var/lib/apt/lists").iterdir():
        entry.unlink()
    run("update")
    assert calls() == ["update", "update"]


def test_leftovers_of_an_interrupted_script_are_cleared(tmp_path):
    for name in ("stderr.123", "stamp.456", "stamp"):
        (tmp_path / name).write_text("x")
    aptlists.clear_leftovers(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["stamp"]


def test_real_tools_and_path(tmp_path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/apt-get").write_text("")
    assert aptlists.real_tools(str(tmp_path), None) == {"apt-get": "/usr/bin/apt-get"}
    assert aptlists.real_tools(str(tmp_path), "/bin:/usr/bin") == {"apt-get": "/usr/bin/apt-get"}
    # not on the RUN's PATH: `apt-get` would fail as written, and still must
    assert aptlists.real_tools(str(tmp_path), "/opt/venv/bin") == {}
    assert aptlists.shimmed_path("/opt/x:/usr/bin") == f"{aptlists.SHIM_DIR}:/opt/x:/usr/bin"
    assert aptlists.shimmed_path(None).startswith(aptlists.SHIM_DIR + ":/usr/local/sbin")


def test_a_failed_update_under_other_sources_forgets_the_old_record(sandbox):
    """Lists half-rewritten for other sources must not pass for the recorded ones afterwards."""
    run, calls, root, state = sandbox
    run("update")
    sources = root / "etc/apt/sources.list.d/debian.sources"
    original = sources.read_text()
    sources.write_text(original + "Suites: bookworm-backports\n")
    run("update", FAKE_WARNING="1")
    assert not (state / "stamp").exists()
    sources.write_text(original)
    run("update")
    assert calls() == ["update", "update", "update"]


@pytest.mark.parametrize(
    ("deleted", "left"),
    [
        ("/var/lib/apt/lists/* /var/cache/apt/archives/*", {"archives"}),
        ("/var/lib/apt/lists/* /var/cache/apt/*", set()),
        ("/var/lib/apt/lists /var/cache/apt/archives", set()),
        ("/var/lib/apt/lists/*", {"archives", "archives/lock", "archives/partial"}),
    ],
)
def test_what_the_run_deletes_in_apt_s_cache_after_apt_is_deleted_from_the_layer(tmp_path, deleted, left):
    """The passes drop an ``rm`` in the mounted apt cache (it would only empty the host cache); bud's image
    has neither the ``archives/lock`` and ``partial`` apt makes nor the base image's ``archives`` it deletes."""
    from shlax_front.backend.steps import HostCache

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\n_apt:x:42:65534::/nonexistent:/bin/false\n"
    )
    caches = (HostCache("apt-cache", "/var/cache/apt"), HostCache("apt-lists", "/var/lib/apt/lists"))
    script = f"apt-get update && apt-get install -y tini && rm -rf {deleted}"
    aptlists.replay_layout(str(tmp_path), caches, script)
    apt = tmp_path / "var/cache/apt"
    assert {str(p.relative_to(apt)) for p in apt.rglob("*")} == left
    # an rm before the install: apt makes its layout again, as in bud's run
    aptlists.replay_layout(str(tmp_path), caches, f"rm -rf {deleted} && apt-get install -y tini")
    assert {str(p.relative_to(apt)) for p in apt.rglob("*")} >= {"archives/lock", "archives/partial"}
