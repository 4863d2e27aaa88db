"""The loopback index with a proxy of the user's (``pipindex.route``, ``pipindex.loopback_env``): its requests to
PyPI go through that proxy as pip's would, the RUN's pip reaches it directly, and where the proxy cannot be used
as pip would use it the download runs before the command, as before."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_pipindex import NAME, WHEEL, Upstream

from shlax_front.actions import Wheelhouse
from shlax_front.backend import netmeter, pipindex
from shlax_front.backend.executor import Options
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.run_step import RunExecutor
from shlax_front.backend.runner import Result
from shlax_front.backend.steps import Location, RunStep

PROXY = "http://proxy.example:3128"


@pytest.mark.parametrize(
    ("proxy_env", "expected"),
    [
        ((), pipindex.Route()),  # no proxy: directly
        ((("http_proxy", PROXY),), pipindex.Route()),  # pip reads https PyPI directly then too
        ((("https_proxy", PROXY),), pipindex.Route(("proxy.example", 3128))),
        ((("HTTPS_PROXY", "proxy.example:8080"),), pipindex.Route(("proxy.example", 8080))),
        ((("https_proxy", "http://a:1"), ("HTTPS_PROXY", "http://b:2")), pipindex.Route(("a", 1))),
        ((("all_proxy", "http://proxy.example"),), pipindex.Route(("proxy.example", 80))),
        (
            (("https_proxy", PROXY), ("no_proxy", "localhost,.internal")),
            pipindex.Route(("proxy.example", 3128)),
        ),
        # where the proxy cannot be used as pip would use it: the download runs before the command, as before
        ((("https_proxy", "http://user:secret@proxy.example:3128"),), None),
        ((("https_proxy", "https://proxy.example:3128"),), None),
        ((("https_proxy", "socks5://proxy.example:1080"),), None),
        ((("https_proxy", "http://proxy.example:port"),), None),
        ((("https_proxy", PROXY), ("no_proxy", "localhost,pypi.org")), None),
        ((("https_proxy", PROXY), ("NO_PROXY", ".pythonhosted.org")), None),
        ((("https_proxy", PROXY), ("no_proxy", "*")), None),
    ],
)
def test_the_index_reaches_pypi_as_pip_would(proxy_env, expected):
    assert pipindex.route(proxy_env) == expected


def test_pip_reaches_the_index_directly_when_it_has_a_proxy():
    assert pipindex.loopback_env([("PIP_CERT", "/x")], ["PATH=/bin"]) == []  # no proxy: nothing added
    loopback = "127.0.0.1,localhost"
    assert dict(pipindex.loopback_env([("https_proxy", PROXY)], [])) == {
        "no_proxy": loopback,
        "NO_PROXY": loopback,
    }
    # the user's own exceptions are kept; the run's setting is taken before the image's, as buildah run does
    mine = [("http_proxy", PROXY), ("NO_PROXY", ".internal")]
    assert dict(pipindex.loopback_env(mine, ["no_proxy=image"]))["no_proxy"] == f".internal,{loopback}"
    # a proxy the image's ENV sets is honoured by pip too
    assert (
        dict(pipindex.loopback_env([], ["HTTP_PROXY=http://p:1", "no_proxy=a"]))["NO_PROXY"]
        == f"a,{loopback}"
    )


def test_a_proxy_given_to_pip_itself_takes_the_download_path(tmp_path):
    """pip sends every request through ``--proxy``/``PIP_PROXY``, no_proxy notwithstanding: loopback too."""
    (tmp_path / "root").mkdir()
    root, path = str(tmp_path / "root"), ["PATH=/usr/bin"]
    assert pipindex.usable(root, [("https_proxy", PROXY)], path, "pip install six", None)
    assert not pipindex.usable(root, [("PIP_PROXY", PROXY)], path, "pip install six", None)
    assert not pipindex.usable(root, [], path, "pip install --proxy http://p:1 six", None)


def test_the_index_reads_pypi_through_the_users_proxy(tmp_path):
    """Every request to the stand-in PyPI goes through the proxy (a forward proxy on loopback that counts what
    it relays); the page and the file reach the client as without it, the file is kept."""
    upstream = Upstream()
    proxy = netmeter.NetMeter()
    wheelhouse = tmp_path / "pip-wheelhouse"
    wheelhouse.mkdir()
    base = f"http://127.0.0.1:{upstream.port}"
    index = pipindex.PullThroughIndex(
        wheelhouse,
        None,
        index=f"{base}/simple/",
        files=f"{base}/up-files/",
        upstream=pipindex.Route(("127.0.0.1", proxy.port)),
    )
    try:
        with urllib.request.urlopen(f"{index.url}/simple/demo/", timeout=10) as response:
            assert f"{index.url}/files/packages/ab/{NAME}".encode() in response.read()
        with urllib.request.urlopen(f"{index.url}/files/packages/ab/{NAME}", timeout=10) as response:
            assert response.read() == WHEEL
        assert upstream.requests == ["/simple/demo/", f"/up-files/packages/ab/{NAME}"]
        assert proxy.received >= len(WHEEL)  # what the index read came through the proxy
        assert (wheelhouse / NAME).read_bytes() == WHEEL
    finally:
        index.close()
        proxy.close()
        upstream.close()


class FakeBuildah:
    """``buildah`` for one RUN under chroot isolation: records each run's argv and environment, prints an
    install."""

    isolation = "chroot"
    cuts_network_itself = True

    def __init__(self, image_env: tuple[str, ...] = ()) -> None:
        self.runs: list[tuple[list[str], dict[str, str]]] = []
        self.image_env = ["PATH=/usr/local/bin:/usr/bin:/bin", *image_env]

    def inspect_container(self, container: str) -> dict[str, Any]:
        return {"OCIv1": {"config": {"Env": self.image_env, "User": ""}}}

    def run(self, container: str, argv, *, env=(), on_output=None, **kwargs: Any) -> Result:
        self.runs.append((list(argv), dict(env)))
        return Result(list(argv), 0, "Successfully installed six-1.16.0\n")


def _run_pip_step(
    tmp_path: Path,
    proxy_env: tuple[tuple[str, str], ...],
    image_env: tuple[str, ...] = (),
    build_args: tuple[tuple[str, str], ...] = (),
) -> FakeBuildah:
    buildah = FakeBuildah(image_env)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    options = Options(proxy_env=proxy_env, ca_bundle=None)
    runs = RunExecutor(
        buildah,  # type: ignore[arg-type]
        HostCaches(tmp_path / "cache"),
        str(tmp_path),
        options,
        lambda prefix: str(scratch),
        lambda text: None,
    )
    step = RunStep(
        Location("Containerfile", 2),
        "RUN pip install six==1.16.0",
        argv=("/bin/sh", "-c", "pip install six==1.16.0"),
        env=build_args,
        wheelhouse=(("pip", Wheelhouse(packages=("six==1.16.0",))),),
    )
    runs.run(step, "ctr", str(rootfs), "debian:bookworm", {})
    return buildah


def test_a_user_with_a_proxy_gets_the_loopback_index(tmp_path):
    """One run, the RUN's: its pip reads the index on loopback directly and keeps the user's proxy variables."""
    buildah = _run_pip_step(tmp_path, (("https_proxy", PROXY), ("HTTPS_PROXY", PROXY)))
    ((argv, env),) = buildah.runs
    assert argv == ["/bin/sh", "-c", "pip install six==1.16.0"]
    assert env["PIP_INDEX_URL"].startswith("http://127.0.0.1:")
    assert env["https_proxy"] == env["HTTPS_PROXY"] == PROXY
    assert env["no_proxy"] == env["NO_PROXY"] == "127.0.0.1,localhost"


def test_without_a_proxy_nothing_about_proxies_is_added(tmp_path):
    ((argv, env),) = _run_pip_step(tmp_path, ()).runs
    assert env["PIP_INDEX_URL"].startswith("http://127.0.0.1:")
    assert not {name for name in env if name.lower().endswith("_proxy")}


def test_an_authenticating_proxy_keeps_the_download_before_the_command(tmp_path):
    """No index: the download runs in the step's own run, through the user's proxy as given, then the command."""
    secret = "http://user:secret@proxy.example:3128"
    ((argv, env),) = _run_pip_step(tmp_path, (("https_proxy", secret),)).runs
    assert "PIP_INDEX_URL" not in env and "no_proxy" not in env
    assert env["https_proxy"] == secret
    assert argv[:2] == ["/bin/sh", "-c"] and " download " in argv[2]
    assert argv[-3:] == ["/bin/sh", "-c", "pip install six==1.16.0"]


def test_a_proxy_of_the_image_s_env_or_a_build_arg_is_the_one_the_index_weighs(tmp_path):
    """The proxy pip would take is the RUN's whole environment's (image ENV, build args, the host's), not the
    host's alone: one with credentials, set by an ENV or a ``--build-arg``, keeps the download path too."""
    secret = "http://user:secret@proxy.example:3128"
    for given in (
        {"image_env": (f"https_proxy={secret}",)},
        {"build_args": (("https_proxy", secret),)},
    ):
        where = tmp_path / next(iter(given))
        where.mkdir()
        ((argv, env),) = _run_pip_step(where, (), **given).runs
        assert "PIP_INDEX_URL" not in env, given
        assert " download " in argv[2], given


def test_a_plain_proxy_of_the_image_s_env_gets_the_index_and_loopback_around_it(tmp_path):
    ((argv, env),) = _run_pip_step(tmp_path, (), image_env=(f"https_proxy={PROXY}",)).runs
    assert argv == ["/bin/sh", "-c", "pip install six==1.16.0"]
    assert env["PIP_INDEX_URL"].startswith("http://127.0.0.1:")
    assert env["no_proxy"] == "127.0.0.1,localhost"
