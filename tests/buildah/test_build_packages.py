"""Host package caches on real buildah with the debian base: apt, pip (non-root USER), offline, concurrency.

These assert from the package managers' own output what crossed the network, never timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from buildah_tools import (
    bud,
    build_concurrently,
    diff_trees,
    file_tree,
    forget_layers,
    image_config,
    mounted_image,
    printed_lines,
    read_file,
    run_output,
    shlax,
)

from shlax_front.backend import distcheck

APT = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*
"""

PIP = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
RUN useradd -m -u 1234 app
USER app
WORKDIR /home/app
RUN python3 -m venv venv
COPY requirements.txt .
RUN venv/bin/pip install --no-cache-dir -r requirements.txt
"""

INDEX_GET = re.compile(r"^(?:Get|Hit|Ign|Err):\d+ \S+ \S+ InRelease", re.M)
PACKAGE_GET = re.compile(r"^Get:\d+ \S+ \S+ \S+ (\S+) \S+ \S+ \[", re.M)


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("pip-cache")
    yield cache
    forget_layers(cache)


def _write(ctx, text, **files):
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    for name, content in files.items():
        (ctx / name.replace("_", ".")).write_text(content)


def test_added_apt_package_downloads_only_itself(tmp_path, base_images, buildah_cleanup):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    try:
        _write(ctx, APT.format(packages="tree"))
        first = shlax("build", "--verbose", str(ctx), cache_dir=cache)
        assert PACKAGE_GET.findall(run_output(first.stderr)) == ["tree"]
        _write(ctx, APT.format(packages="tree less"))
        tag = buildah_cleanup.tag()
        second = shlax("build", "--verbose", "-t", tag, str(ctx), cache_dir=cache)
        assert PACKAGE_GET.findall(run_output(second.stderr)) == ["less"], second.stderr
        # the lists the first build fetched are fresh: no index crossed the network this time
        assert "`apt-get update` skipped" in second.stderr
        assert not INDEX_GET.findall(run_output(second.stderr)), second.stderr
        # the image is as if no cache had been used: no downloaded debs, no lists, docker-clean still there
        tree = file_tree(tag)
        assert not [p for p in tree if p.startswith("/var/cache/apt/archives/") and p.endswith(".deb")]
        assert not [p for p in tree if p.startswith("/var/lib/apt/lists/") and "Packages" in p]
        assert "/etc/apt/apt.conf.d/docker-clean" in tree
        assert "/usr/bin/less" in tree and "/usr/bin/tree" in tree
        assert not [p for p in tree if p.startswith("/run/shlax-front")]
        # the downloaded debs are in the host cache, partitioned by release and architecture
        archives = list(cache.glob("caches/*/debian-12-*/archives/*.deb"))
        assert {p.name.split("_")[0] for p in archives} >= {"tree", "less"}
    finally:
        forget_layers(cache)


def test_lists_ttl_zero_updates_as_written(tmp_path, base_images):
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    try:
        _write(ctx, APT.format(packages="tree"))
        shlax("build", str(ctx), cache_dir=cache)
        again = shlax("build", "--verbose", "--no-cache", "--lists-ttl", "0", str(ctx), cache_dir=cache)
        assert "skipped" not in again.stderr
        assert INDEX_GET.findall(run_output(again.stderr)), again.stderr
        fresh = shlax("build", "--verbose", "--no-cache", "--lists-ttl", "2h", str(ctx), cache_dir=cache)
        assert "`apt-get update` skipped" in fresh.stderr and not INDEX_GET.findall(run_output(fresh.stderr))
        # every deb came from the host cache; apt's binary caches, rebuilt from the lists, were not fetched
        assert " built, 0 B downloaded," in fresh.stderr, fresh.stderr[-500:]
        bad = shlax("build", "--lists-ttl", "soon", str(ctx), cache_dir=cache, check=False)
        assert bad.returncode == 2
        assert (
            bad.stderr.strip()
            .splitlines()[-1]
            .endswith("--lists-ttl soon: expected a number with s, m, h, d or w (e.g. 30d)")
        )
    finally:
        forget_layers(cache)


OFFLINE_PROBE = """\
FROM debian:bookworm
RUN perl -MIO::Socket::INET -e '\\
  my $out = IO::Socket::INET->new(PeerAddr => "{address}:80", Timeout => 5); \\
  my $lo = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:5555") or die "no loopback: $!"; \\
  print $out ? "REACHED THE NETWORK\\n" : "network unreachable\\n";'
"""


def test_offline_cuts_the_network_but_keeps_loopback(tmp_path, base_images):
    """Under chroot isolation buildah's ``--network none`` leaves the host network reachable; ``--offline``
    must not. Probed with an address (no DNS involved) that the same RUN reaches when online."""
    address = socket.getaddrinfo("deb.debian.org", 80, socket.AF_INET)[0][4][0]
    ctx, cache = tmp_path / "ctx", tmp_path / "cache"
    _write(ctx, OFFLINE_PROBE.format(address=address))
    try:
        online = shlax("build", "--progress=plain", str(ctx), cache_dir=cache)
        assert printed_lines(online.stderr) == ["REACHED THE NETWORK"], online.stderr
        offline = shlax("build", "--progress=plain", "--offline", "--no-cache", str(ctx), cache_dir=cache)
        assert printed_lines(offline.stderr) == ["network unreachable"], offline.stderr
    finally:
        forget_layers(cache)


def test_offline_cold_cache_names_what_is_missing(tmp_path, base_images):
    ctx = tmp_path / "ctx"
    _write(ctx, APT.format(packages="tree"))
    result = shlax("build", "--offline", str(ctx), cache_dir=tmp_path / "cache", check=False)
    assert result.returncode == 100  # apt-get's status, as bud exits
    message = result.stderr.strip().splitlines()[-1]
    assert "Containerfile:2:" in message and "--offline: not in the host caches:" in message
    # apt names the package, or (when its index update already fails) the lists are what is missing
    assert "tree" in message or "apt package lists" in message
    forget_layers(tmp_path / "cache")


def test_non_root_pip_uses_the_wheelhouse(tmp_path, base_images, buildah_cleanup, pip_cache):
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="six==1.16.0\n")
    first = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    assert "Successfully installed six-1.16.0" in first.stderr
    wheelhouse = pip_cache / "caches" / "pip-wheelhouse"
    assert [p.name for p in wheelhouse.iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]
    six_inode = (wheelhouse / "six-1.16.0-py2.py3-none-any.whl").stat().st_ino

    _write(ctx, PIP, requirements_txt="six==1.16.0\nidna==3.7\n")
    tag = buildah_cleanup.tag()
    second = shlax("build", "--verbose", "-t", tag, str(ctx), cache_dir=pip_cache)
    assert "Downloading idna" in second.stderr or "idna-3.7" in second.stderr
    assert "Downloading six" not in second.stderr  # served from the wheelhouse, not the network
    # both pinned: pip asked the index about idna alone (one requirement, no deps), never re-read six's page
    assert re.search(r"^Collecting idna==3\.7$", run_output(second.stderr), re.M), second.stderr
    assert "Collecting six" not in second.stderr
    assert (wheelhouse / "six-1.16.0-py2.py3-none-any.whl").stat().st_ino == six_inode
    assert "Processing /run/shlax-front/wheelhouse/idna-3.7-py3-none-any.whl" in second.stderr
    assert "apt-get update" in second.stderr and "cached" in second.stderr  # the apt layer was reused
    # image: installed for the non-root user, no caches or wheelhouse inside
    tree = file_tree(tag)
    assert any(p.startswith("/home/app/venv/lib/python3.11/site-packages/idna/") for p in tree)
    assert tree["/home/app/venv"][2] == 1234
    assert not [p for p in tree if p.startswith("/home/app/.cache/pip/")]
    assert not [p for p in tree if "wheelhouse" in p or p.startswith("/run/shlax-front")]
    # the host caches are handed back to their owner (the invoking user), never left to uid 1234
    for root in (wheelhouse, pip_cache / "caches"):
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                assert os.lstat(os.path.join(dirpath, name)).st_uid == os.getuid()


ROOT_PIP = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv
COPY requirements.txt .
RUN {before}/venv/bin/pip install --no-cache-dir -r requirements.txt && env | grep -v ^HOSTNAME= | sort >/run-env
"""
#: ROOT_PIP with the install alone in its RUN: the single-command install that runs pip once
ROOT_PIP_ALONE = ROOT_PIP.replace(" && env | grep -v ^HOSTNAME= | sort >/run-env", "").format(before="")


def _wheelhouse_without(pip_cache, project: str):
    """The wheelhouse, with ``project``'s files an earlier test of the session left in it removed."""
    wheelhouse = pip_cache / "caches" / "pip-wheelhouse"
    for old in wheelhouse.glob(f"{project}-*") if wheelhouse.is_dir() else ():
        old.unlink()
    return wheelhouse


def test_a_cold_install_downloads_in_the_steps_own_run(tmp_path, base_images, buildah_cleanup, pip_cache):
    """A wheelhouse holding nothing the install names: one ``buildah run`` downloads into it and then runs the
    RUN's command, installing from it. The image (the command's environment included) is the one the separate
    download run gives (the rebuild from the now warm wheelhouse); the index's answer is recorded."""
    calls, env = _counting_buildah(tmp_path)
    wheelhouse = _wheelhouse_without(pip_cache, "iniconfig")
    ctx = tmp_path / "ctx"
    _write(ctx, ROOT_PIP.format(before=""), requirements_txt="iniconfig==2.0.0\n")
    cold_tag = buildah_cleanup.tag()
    cold = shlax("build", "--verbose", "-t", cold_tag, str(ctx), cache_dir=pip_cache, env=env)
    assert "Saved /run/shlax-front/wheelhouse/iniconfig-2.0.0-py3-none-any.whl" in cold.stderr
    assert "Processing /run/shlax-front/wheelhouse/iniconfig-2.0.0-py3-none-any.whl" in cold.stderr
    runs = [line for line in calls.read_text().splitlines() if line.startswith("run ")]
    (step,) = [line for line in runs if "pip install" in line]
    assert "download --dest /run/shlax-front/wheelhouse" in step  # the download, in the step's own run
    assert not [line for line in runs if "download" in line and line != step]
    assert [p.name for p in wheelhouse.glob("iniconfig-*")] == ["iniconfig-2.0.0-py3-none-any.whl"]
    assert not list(wheelhouse.glob(".shlax-front-*"))
    records = [json.loads(p.read_text()) for p in (pip_cache / "caches" / "pip-wheelhouse.state").iterdir()]
    assert any(r["files"] == {"iniconfig": "iniconfig-2.0.0-py3-none-any.whl"} for r in records)

    calls.unlink()
    _write(ctx, ROOT_PIP.format(before="true && "))  # the same files, built by the separate download run
    warm_tag = buildah_cleanup.tag()
    shlax("build", "-t", warm_tag, str(ctx), cache_dir=pip_cache, env=env)
    runs = [line for line in calls.read_text().splitlines() if line.startswith("run ")]
    assert any("--no-index" in line and "pip install" not in line for line in runs)
    cold_tree, warm_tree = file_tree(cold_tag), file_tree(warm_tag)
    assert "/run-env" in cold_tree
    assert [d for d in diff_trees(cold_tree, warm_tree) if ".pyc:" not in d] == []


def test_a_cold_install_alone_runs_pip_once_and_fills_the_wheelhouse(
    tmp_path, base_images, buildah_cleanup, pip_cache
):
    """A cold install that is its RUN's only command runs one pip: the RUN's own, reading PyPI through the
    pull-through index, no ``pip download``. The wheelhouse and the index's recorded answer are what the download
    left (a rebuild from them asks the index nothing), and the image is bud's, file for file."""
    calls, env = _counting_buildah(tmp_path)
    wheelhouse = _wheelhouse_without(pip_cache, "iniconfig")
    ctx = tmp_path / "ctx"
    alone = ROOT_PIP.replace(" && env | grep -v ^HOSTNAME= | sort >/run-env", "")
    _write(ctx, alone.format(before=""), requirements_txt="iniconfig==2.0.0\n")
    cold_tag = buildah_cleanup.tag()
    cold = shlax("build", "--verbose", "-t", cold_tag, str(ctx), cache_dir=pip_cache, env=env)
    assert re.search(r"^Looking in indexes: http://127\.0\.0\.1:\d+/simple/$", run_output(cold.stderr), re.M)
    assert "Successfully installed iniconfig-2.0.0" in cold.stderr
    runs = [line for line in calls.read_text().splitlines() if line.startswith("run ")]
    assert not [line for line in runs if "download" in line]  # one pip: the RUN's
    assert [p.name for p in wheelhouse.glob("iniconfig-*")] == ["iniconfig-2.0.0-py3-none-any.whl"]
    assert not list(wheelhouse.glob(".shlax-front-*"))
    records = [json.loads(p.read_text()) for p in (pip_cache / "caches" / "pip-wheelhouse.state").iterdir()]
    assert any(r["files"] == {"iniconfig": "iniconfig-2.0.0-py3-none-any.whl"} for r in records)

    _write(ctx, alone.format(before="true && "))  # the same files, from the wheelhouse alone
    warm = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache, env=env)
    assert "Processing /run/shlax-front/wheelhouse/iniconfig-2.0.0-py3-none-any.whl" in warm.stderr
    assert "Downloading" not in warm.stderr  # nothing crossed the network

    _write(ctx, alone.format(before=""))
    assert _differences_from_bud(ctx, cold_tag, buildah_cleanup) == []


def _differences_from_bud(ctx, ours: str, cleanup) -> list[str]:
    """How ``ours`` differs from bud's build of ``ctx`` (pip reaching PyPI through the host's CA bundle), file
    for file, beyond what two builds differ in anyway: bud's -v leaves its mount points behind, empty; apt's
    logs, ldconfig's aux-cache and the .pyc files hold times."""
    (ctx / "pip.conf").write_text("[global]\ncert = /etc/ssl/host-ca.crt\n")
    theirs = cleanup.tag("bud-pip")
    bud(
        ctx / "Containerfile",
        ctx,
        theirs,
        "-v",
        "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/host-ca.crt:ro",
        "-v",
        f"{ctx / 'pip.conf'}:/etc/pip.conf:ro",
        cleanup=cleanup,
    )
    (ctx / "pip.conf").unlink()
    noise = {"/etc/pip.conf", "/etc/ssl/host-ca.crt", "/var/cache/ldconfig/aux-cache"}
    return [
        d
        for d in diff_trees(file_tree(ours), file_tree(theirs))
        if ".pyc:" not in d and d.split(":")[0] not in noise and not d.startswith("/var/log/")
    ]


def _counting_proxy():
    """The benchmark's counting forward proxy (``tests/bench/proxy.py``), not started."""
    spec = importlib.util.spec_from_file_location(
        "bench_proxy", Path(__file__).resolve().parents[1] / "bench" / "proxy.py"
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("bench_proxy", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module.CountingProxy()


def test_a_user_with_a_proxy_still_runs_pip_once_through_the_loopback_index(
    tmp_path, base_images, buildah_cleanup, pip_cache
):
    """http(s)_proxy set (a counting forward proxy on loopback): the pip RUN still runs one pip, the RUN's, which
    reads the loopback index directly while the index reads PyPI through the proxy, so the proxy sees PyPI's
    traffic. The image is the one built without a proxy: bud's, file for file, no proxy variable (nor the
    loopback's no_proxy) in its config, no loopback address in what pip recorded."""
    calls, env = _counting_buildah(tmp_path)
    wheelhouse = _wheelhouse_without(pip_cache, "tomli")
    ctx = tmp_path / "ctx"
    alone = ROOT_PIP_ALONE
    _write(ctx, alone, requirements_txt="tomli==2.0.1\n")
    tag = buildah_cleanup.tag()
    with _counting_proxy() as proxy:
        proxied = {k: v for k, v in env.items() if k.lower() not in ("no_proxy", "all_proxy")}
        proxied.update(
            {name: proxy.url for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
        )
        built = shlax("build", "--verbose", "-t", tag, str(ctx), cache_dir=pip_cache, env=proxied)
        seen = proxy.snapshot()
    output = run_output(built.stderr)
    assert re.search(r"^Looking in indexes: http://127\.0\.0\.1:\d+/simple/$", output, re.M), built.stderr
    assert "Successfully installed tomli-2.0.1" in output
    runs = _pip_runs(calls)  # one pip: the RUN's, no download before it (the earlier steps' runs name no pip)
    assert [r for r in runs if "pip install" in r or "pip download" in r or " download " in r] == [
        r for r in runs if "/venv/bin/pip install" in r and " download " not in r
    ], runs
    assert len([r for r in runs if "pip install" in r]) == 1, runs
    assert seen.per_host.get("pypi.org", 0) > 0 and seen.per_host.get("files.pythonhosted.org", 0) > 0, seen
    assert [p.name for p in wheelhouse.glob("tomli-*")] == ["tomli-2.0.1-py3-none-any.whl"]
    config_env = image_config(tag)["Env"] or []
    assert not [e for e in config_env if e.partition("=")[0].lower().endswith("_proxy")], config_env
    with mounted_image(tag) as root:
        (info,) = Path(root).glob("venv/lib/python3*/site-packages/tomli-2.0.1.dist-info")
        recorded = {p.name: p.read_text(errors="replace") for p in info.iterdir() if p.is_file()}
    assert "RECORD" in recorded and not [name for name, text in recorded.items() if "127.0.0.1" in text]
    assert _differences_from_bud(ctx, tag, buildah_cleanup) == []


def _counting_buildah(tmp_path):
    """(the file each ``buildah`` call's arguments are appended to, the environment that calls it first)."""
    calls = tmp_path / "calls"
    wrapper = tmp_path / "bin" / "buildah"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {shutil.which("buildah")} "$@"\n')
    wrapper.chmod(0o755)
    return calls, {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}


def _pip_runs(calls):
    """The ``buildah run`` calls that start a pip, and forget them."""
    runs = [line for line in calls.read_text().splitlines() if line.startswith("run ") and "pip" in line]
    calls.unlink()
    return runs


def test_a_warm_rebuild_runs_pip_once_and_asks_pypi_only_about_what_was_added(
    tmp_path, base_images, buildah_cleanup, pip_cache
):
    """A rebuild the wheelhouse answers in part runs one pip too, the RUN's: the loopback index answers from the
    wheelhouse the exact pins it holds files of and the dependencies the index's fresh recorded answer took, and
    reads PyPI for the rest. An added pin reads its page and its file alone, an added unpinned requirement its
    page alone; the image is bud's, file for file; an --offline rebuild still installs from the wheelhouse."""
    calls, env = _counting_buildah(tmp_path)
    wheelhouse = _wheelhouse_without(pip_cache, "iniconfig")
    ctx = tmp_path / "ctx"
    alone = ROOT_PIP_ALONE
    _write(ctx, alone, requirements_txt="requests==2.32.3\n")
    shlax("build", str(ctx), cache_dir=pip_cache, env=env)  # the index's answer for requests' dependencies

    calls.unlink()
    _write(ctx, alone, requirements_txt="requests==2.32.3\niniconfig==2.0.0\n")
    pinned_tag = buildah_cleanup.tag()
    pinned = shlax("build", "--verbose", "-t", pinned_tag, str(ctx), cache_dir=pip_cache, env=env)
    out = run_output(pinned.stderr)
    (pip,) = _pip_runs(calls)  # one pip: the RUN's
    assert "download" not in pip
    assert re.search(r"^Looking in indexes: http://127\.0\.0\.1:\d+/simple/$", out, re.M)
    assert (
        "shlax-front: pip's index pages read from PyPI: iniconfig;"
        " answered by the wheelhouse: certifi, charset-normalizer, idna, requests, urllib3"
    ) in out
    assert [d.rsplit("/", 1)[-1] for d in re.findall(r"^\s*Downloading (\S+)", out, re.M)] == [
        "iniconfig-2.0.0-py3-none-any.whl"
    ]
    assert "Processing /run/shlax-front/wheelhouse/requests-2.32.3-py3-none-any.whl" in out
    assert [p.name for p in wheelhouse.glob("iniconfig-*")] == ["iniconfig-2.0.0-py3-none-any.whl"]
    records = [json.loads(p.read_text()) for p in (pip_cache / "caches" / "pip-wheelhouse.state").iterdir()]
    (record,) = [r for r in records if r.get("lines") == ["iniconfig==2.0.0", "requests==2.32.3"]]
    assert set(record["files"]) == {
        "certifi",
        "charset-normalizer",
        "idna",
        "iniconfig",
        "requests",
        "urllib3",
    }

    assert _differences_from_bud(ctx, pinned_tag, buildah_cleanup) == []
    tree = file_tree(pinned_tag)
    assert not [p for p in tree if p.endswith("direct_url.json")]
    for path in [p for p in tree if p.endswith((".dist-info/RECORD", ".dist-info/INSTALLER"))]:
        assert "127.0.0.1" not in read_file(pinned_tag, path)

    _write(ctx, alone, requirements_txt="requests==2.32.3\niniconfig==2.0.0\nsix\n")
    unpinned = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache, env=env)
    out = run_output(unpinned.stderr)
    (pip,) = _pip_runs(calls)
    assert "download" not in pip
    assert (
        "shlax-front: pip's index pages read from PyPI: six;"
        " answered by the wheelhouse: certifi, charset-normalizer, idna, iniconfig, requests, urllib3"
    ) in out
    assert re.search(r"^Successfully installed .*\bsix-", out, re.M), out

    again = alone.replace("--no-cache-dir", "--no-cache-dir --disable-pip-version-check")
    _write(ctx, again)
    offline = shlax("build", "--verbose", "--offline", str(ctx), cache_dir=pip_cache, env=env)
    out = run_output(offline.stderr)
    (pip,) = _pip_runs(calls)  # offline, the install alone too: from the wheelhouse, with --no-index
    assert re.search(r"^Successfully installed .*\bsix-", out, re.M) and "Downloading" not in out


def test_a_wheelhouse_answer_that_does_not_fit_is_resolved_again_with_the_index(
    tmp_path, base_images, pip_cache
):
    """An exact pin whose only file in the wheelhouse is for another platform: pip finds nothing it can install
    on the page the wheelhouse answered and installs nothing; the step then resolves as the download path does
    (the pin fetched) and installs it."""
    ctx = tmp_path / "ctx"
    alone = ROOT_PIP_ALONE
    _write(ctx, alone, requirements_txt="iniconfig==2.0.0\n")
    shlax("build", str(ctx), cache_dir=pip_cache)
    wheelhouse = pip_cache / "caches" / "pip-wheelhouse"
    real, other = (
        wheelhouse / f"iniconfig-2.0.0-{tags}.whl" for tags in ("py3-none-any", "cp27-cp27m-win32")
    )
    shutil.copy(real, other)  # a whole wheel (the damage check keeps it), for Windows and Python 2.7
    real.unlink()
    try:
        _write(ctx, alone.replace("--no-cache-dir", "--no-cache-dir --disable-pip-version-check --no-color"))
        result = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    finally:
        other.unlink()
    out = run_output(result.stderr)
    assert "No matching distribution found for iniconfig==2.0.0" in out
    assert "shlax-front: the wheelhouse's answer did not fit; resolving with the index" in out
    assert re.search(r"^Successfully installed iniconfig-2\.0\.0$", out, re.M), out
    assert real.exists()


def test_offline_warm_cache_needs_no_network(tmp_path, base_images, buildah_cleanup, pip_cache):
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="six==1.16.0\n")
    shlax("build", str(ctx), cache_dir=pip_cache)  # warm (usually already is)
    tag = buildah_cleanup.tag()
    result = shlax("build", "--verbose", "--offline", "--no-cache", "-t", tag, str(ctx), cache_dir=pip_cache)
    assert "Successfully installed six-1.16.0" in result.stderr
    assert "Downloading" not in result.stderr
    assert read_file(tag, "/home/app/venv/lib/python3.11/site-packages/six.py")


def test_two_concurrent_apt_builds_both_succeed(tmp_path, base_images, buildah_cleanup):
    cache = tmp_path / "cache"
    tags = []
    for n, package in enumerate(("tree", "less")):
        _write(tmp_path / f"ctx{n}", APT.format(packages=package))
        tags.append(buildah_cleanup.tag())

    results = build_concurrently([tmp_path / f"ctx{n}" for n in range(2)], tags, cache)
    try:
        for n in range(2):
            assert results[n].returncode == 0, results[n].stderr
        out = subprocess.run(
            ["buildah", "images", "--format", "{{.Name}}:{{.Tag}}"], capture_output=True, text=True
        ).stdout
        assert all(tag in out for tag in tags)
    finally:
        forget_layers(cache)


def test_unpinned_requirement_resolves_against_the_index_like_bud(tmp_path, base_images, pip_cache):
    """A wheelhouse holding an old six must not decide what ``six`` (unpinned) means: the index is asked,
    as a plain ``pip install`` would; within --lists-ttl of that, the wheelhouse's answer stands."""
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="six==1.15.0\n")
    shlax("build", str(ctx), cache_dir=pip_cache)
    _write(ctx, PIP, requirements_txt="six\n")
    unpinned = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    installed = re.findall(r"^Successfully installed six-(\S+)$", run_output(unpinned.stderr), re.M)
    assert installed and installed[-1] != "1.15.0", unpinned.stderr  # the index's newest, not the old wheel
    inodes = _resolution_records(pip_cache)

    again = shlax("build", "--verbose", "--no-cache", str(ctx), cache_dir=pip_cache)
    assert f"Successfully installed six-{installed[-1]}" in again.stderr
    assert _resolution_records(pip_cache) == inodes  # fresh: the index was not asked again

    shlax("build", "--no-cache", "--lists-ttl", "0", str(ctx), cache_dir=pip_cache)
    renewed = _resolution_records(pip_cache)
    assert renewed.keys() == inodes.keys() and renewed != inodes  # asked again, same answer recorded anew


def _resolution_records(cache_dir) -> dict[str, int]:
    """name -> inode of the index's recorded answers (a rewritten record has a new inode). The damage check's
    own record of files read back lives there too and changes whenever new files arrive: not an answer."""
    state = cache_dir / "caches" / "pip-wheelhouse.state"
    return {p.name: p.stat().st_ino for p in state.iterdir() if p.name != distcheck.CHECKED}


def test_added_pin_next_to_unpinned_dependencies_asks_the_index_about_itself_alone(
    tmp_path, base_images, pip_cache
):
    """requests==2.32.3 pulls four unpinned dependencies: the first build asks the index about all of
    them; adding packaging==24.1 then asks about packaging alone (the index's recent answer vouches for the
    rest)."""
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="requests==2.32.3\n")
    first = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    assert "Successfully installed" in first.stderr and "requests-2.32.3" in first.stderr
    _write(ctx, PIP, requirements_txt="requests==2.32.3\npackaging==24.1\n")
    second = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    assert re.findall(r"^Collecting (\S+)", run_output(second.stderr), re.M) == ["packaging==24.1"], (
        second.stderr
    )
    assert re.search(r"^Successfully installed .*\bpackaging-24\.1\b", run_output(second.stderr), re.M)


def test_unpinned_addition_asks_the_index_about_itself_and_installs_what_a_full_resolution_does(
    tmp_path, base_images, buildah_cleanup, pip_cache
):
    """six and idna (unpinned) resolved against the index; colorama (unpinned) added within --lists-ttl is
    resolved alone with the previous choices as constraints: one project looked up, not three. The image
    holds the distributions a full resolution (--lists-ttl 0) installs."""
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="six\nidna\n")
    shlax("build", str(ctx), cache_dir=pip_cache)
    _write(ctx, PIP, requirements_txt="six\nidna\ncolorama\n")
    added_tag = buildah_cleanup.tag()
    added = shlax("build", "--verbose", "-t", added_tag, str(ctx), cache_dir=pip_cache)
    assert re.findall(r"^Collecting (\S+)", run_output(added.stderr), re.M) == ["colorama"], added.stderr

    # the same requirements resolved in full: another RUN text (a flag that changes no file) builds that layer
    # again, --lists-ttl 0 makes the wheelhouse ask the index about every requirement
    full_run = "venv/bin/pip install --disable-pip-version-check --no-cache-dir -r requirements.txt"
    _write(ctx, PIP.replace("venv/bin/pip install --no-cache-dir -r requirements.txt", full_run))
    full_tag = buildah_cleanup.tag()
    full = shlax("build", "--verbose", "--lists-ttl", "0", "-t", full_tag, str(ctx), cache_dir=pip_cache)
    assert set(re.findall(r"^Collecting (\S+)", run_output(full.stderr), re.M)) == {"six", "idna", "colorama"}

    def distributions(tag):
        return {p.split("/")[-2] for p in file_tree(tag) if p.endswith(".dist-info/METADATA")}

    assert distributions(added_tag) == distributions(full_tag)
    assert any(d.startswith("colorama-") for d in distributions(added_tag))


def test_unpinned_addition_on_the_command_line_asks_the_index_about_itself(tmp_path, base_images, pip_cache):
    """The same with the requirements on ``pip install``'s command line: the index's answer for ``six idna``
    stands for them in ``six idna colorama`` (it was recorded under the whole command line, so colorama's
    addition read every page again)."""
    ctx = tmp_path / "ctx"
    named = PIP.replace("COPY requirements.txt .\n", "").replace("-r requirements.txt", "{names}")
    _write(ctx, named.format(names="six idna"))
    shlax("build", str(ctx), cache_dir=pip_cache)
    _write(ctx, named.format(names="six idna colorama"))
    added = shlax("build", "--verbose", str(ctx), cache_dir=pip_cache)
    assert re.findall(r"^Collecting (\S+)", run_output(added.stderr), re.M) == ["colorama"], added.stderr


def test_downloaded_counts_the_index_pages_the_wheelhouse_read(tmp_path, base_images, pip_cache):
    """The summary's "downloaded" counts every byte the wheelhouse's pip download received, the index pages
    of an unpinned requirement included: more than the wheel it saved (which is all it counted before)."""
    ctx = tmp_path / "ctx"
    _write(ctx, PIP, requirements_txt="toml\n")
    done = shlax("build", "--progress=rawjson", str(ctx), cache_dir=pip_cache)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    (pip_step,) = [e for e in events if e["event"] == "end" and "pip install" in e["instruction"]]
    (wheel,) = (pip_cache / "caches" / "pip-wheelhouse").glob("toml-*.whl")
    assert pip_step["status"] == "built" and pip_step["fetched_bytes"] > wheel.stat().st_size
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert summary["fetched_bytes"] >= pip_step["fetched_bytes"]
