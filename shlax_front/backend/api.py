"""``build()``: the library entry point behind ``shlax-front build``.

Parse -> plan (stages, scope, target) -> executor on buildah. Signals: SIGTERM and SIGHUP are turned into
KeyboardInterrupt so that the executor's cleanup (containers, mounts, temporary files) runs for them too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from shlax_front.backend.aptlists import DEFAULT_TTL
from shlax_front.backend.buildah import Buildah, default_isolation
from shlax_front.backend.context import BuildContext
from shlax_front.backend.executor import Executor, Options
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.plan import Planner
from shlax_front.backend.report import Reporter
from shlax_front.backend.run_step import default_ca_bundle, proxy_env
from shlax_front.backend.runner import SubprocessRunner
from shlax_front.backend.secrets import secrets_by_id
from shlax_front.backend.store import LayerIndex, default_root
from shlax_front.errors import ShlaxError


@dataclass
class BuildRequest:
    containerfile: str | None = None
    context: str = "."
    tags: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    format: str | None = None
    isolation: str | None = None
    cache_dir: str | None = None
    offline: bool = False
    lists_ttl: float = DEFAULT_TTL
    ca_bundle: str | None = "default"
    explain: bool = False
    output: str = "text"  # text | quiet | json
    verbose: bool = False
    #: ``--secret`` flags as buildah bud spells them (``id=ID,src=PATH``, ``id=ID,env=VAR``)
    secrets: tuple[str, ...] = ()


def find_containerfile(context: str, given: str | None) -> str:
    if given:
        if given == "-" or os.path.isfile(given):
            return given
        raise ShlaxError(f"{given}: no such file")
    for name in ("Containerfile", "Dockerfile", "shlaxfile.py"):
        path = os.path.join(context, name)
        if os.path.isfile(path):
            return path
    raise ShlaxError(f"{context}: no Containerfile or Dockerfile (use -f)")


def image_config_reader(buildah: Buildah):
    """ref -> the parts of an image's config that instruction expansion and RUN defaults depend on."""
    seen: dict[str, dict | None] = {}

    def read(ref: str) -> dict | None:
        if ref not in seen:
            info = buildah.inspect_image(ref)
            if info is None:
                with contextlib.suppress(Exception):
                    buildah.pull(ref)
                    info = buildah.inspect_image(ref)
            if info is None:
                seen[ref] = None
            else:
                docker = (info.get("Docker") or {}).get("config") or {}
                oci = (info.get("OCIv1") or {}).get("config") or {}
                env = {}
                for item in oci.get("Env") or docker.get("Env") or []:
                    key, _, value = item.partition("=")
                    env[key] = value
                seen[ref] = {
                    "env": env,
                    "shell": docker.get("Shell") or None,
                    "workdir": oci.get("WorkingDir") or docker.get("WorkingDir") or "/",
                    "user": oci.get("User") or docker.get("User") or "",
                }
        return seen[ref]

    return read


def build(request: BuildRequest) -> str:
    """Build and return the image id."""
    from shlax_front.parser import parse

    path = find_containerfile(request.context, request.containerfile)
    tags = tuple(request.tags)
    secrets = secrets_by_id(request.secrets)
    runner = SubprocessRunner()
    buildah = Buildah(runner, isolation=request.isolation or default_isolation())
    images = image_config_reader(buildah)
    if path.endswith(".py"):
        from shlax_front.recipe import load

        container = load(path)
        if not tags and container.commit:
            tags = (container.commit,)
        planner = Planner(
            None, request.build_args, request.target, images, recipe=container.stages, path=path
        )
    else:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
            path = "Containerfile"
        else:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="surrogateescape")
        planner = Planner(parse(text, path=path), request.build_args, request.target, images)
    plan = planner.plan()

    root = Path(request.cache_dir) if request.cache_dir else default_root()
    ca = default_ca_bundle() if request.ca_bundle == "default" else request.ca_bundle
    if ca and not os.path.isfile(ca):
        raise ShlaxError(f"--ca-bundle {ca}: no such file")
    options = Options(
        tags=tags,
        no_cache=request.no_cache,
        format=request.format,
        offline=request.offline,
        lists_ttl=int(request.lists_ttl),
        ca_bundle=ca,
        explain=request.explain,
        proxy_env=proxy_env(),
        secrets=secrets,
    )
    reporter = Reporter(mode=request.output, explain=request.explain, verbose=request.verbose)
    executor = Executor(
        buildah,
        LayerIndex(root).load(),
        HostCaches(root),
        BuildContext(os.path.abspath(request.context), os.path.abspath(path)),
        options,
        reporter,
        onbuild=planner.onbuild_steps,
    )
    with _signals_as_interrupt():
        image = executor.build(plan)
    if request.output == "json":
        print(reporter.as_json())
    return image


@contextlib.contextmanager
def _signals_as_interrupt():
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
