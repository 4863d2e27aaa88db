"""``build()``: the library entry point behind ``shlax-front build`` (``shlax_front.build``).

Parse -> plan (stages, scope, target) -> executor on buildah -> a ``BuildResult``; nothing is printed (the
CLI formats the result, and follows the steps through the ``on_step``/``on_output`` callbacks). Signals:
SIGTERM and SIGHUP are turned into KeyboardInterrupt so that the executor's cleanup (containers, mounts,
temporary files) runs for them too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shlax_front.backend import budversion, run_settings
from shlax_front.backend.aptlists import DEFAULT_TTL
from shlax_front.backend.buildah import Buildah, default_isolation
from shlax_front.backend.context import BuildContext
from shlax_front.backend.executor import Executor, Options
from shlax_front.backend.hostcache import HostCaches
from shlax_front.backend.imagecache import InspectCache
from shlax_front.backend.interrupts import signals_as_interrupt
from shlax_front.backend.plan import Planner
from shlax_front.backend.prepare import checked, configure, executor_options, planned, pull_policy
from shlax_front.backend.result import BuildResult, OutputCallback, StartCallback, StepCallback
from shlax_front.backend.runenv import default_ca_bundle, proxy_env
from shlax_front.backend.runner import SubprocessRunner
from shlax_front.backend.secrets import secrets_by_id
from shlax_front.backend.statcache import FileDigests
from shlax_front.backend.store import LayerIndex, default_root
from shlax_front.errors import ShlaxError


@dataclass
class BuildRequest:
    """What to build and how: ``shlax-front build``'s options (``build()`` documents them)."""

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
    #: ``--secret`` flags as buildah bud spells them (``id=ID,src=PATH``, ``id=ID,env=VAR``)
    secrets: tuple[str, ...] = ()
    #: ``--cache-from``/``--cache-to`` (``cachetransfer.refs.CacheRef``), ``--push``, and the registry login
    #: (``--authfile``, ``--creds``: never shown, never on a command line)
    cache_from: tuple = ()
    cache_to: tuple = ()
    push: bool = False
    authfile: str | None = None
    creds: str | None = field(default=None, repr=False)
    #: an install that only gained packages starts from its previous layer: None (the default) for apt,
    #: True (``--incremental``) for apt and pip, False (``--no-incremental``) never
    incremental: bool | None = None
    #: ``--jobs``: how many independent stages build at once (None: the CPU count; 1: one after the other)
    jobs: int | None = None
    #: ``--ignorefile``: the ignore file to read instead of the ones bud looks for (context.BuildContext)
    ignorefile: str | None = None
    #: bud's and docker's flags as typed (``flags`` reads and checks them before the build):
    #: ``--pull`` (None: missing), ``--label``/``--annotation`` KEY=VALUE, ``--iidfile``, ``--network``
    pull: str | None = None
    labels: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()
    iidfile: str | None = None
    network: str | None = None
    #: run settings of every RUN: ``--add-host``, ``--ulimit``, ``--shm-size``, ``-v/--volume``
    add_hosts: tuple[str, ...] = ()
    ulimits: tuple[str, ...] = ()
    shm_size: str | None = None
    volumes: tuple[str, ...] = ()
    #: the other settings of RUN containers (``--cap-add``, ``--dns``, ``--memory``...; ``run_settings``), as
    #: ``(flag, value)`` pairs
    run_settings: tuple[tuple[str, str], ...] = ()
    #: ``--timestamp`` (default ``$SOURCE_DATE_EPOCH``), ``--platform`` (this machine's only)
    timestamp: int | None = None
    platform: str | None = None
    #: pulling FROM images: ``--tls-verify`` (and the registry login, ``authfile``/``creds`` below)
    tls_verify: bool | None = None
    #: ``--retry N`` / ``--retry-delay DURATION``: how often buildah tries a failed pull again, and after how long
    retry: int | None = None
    retry_delay: str | None = None
    #: ``--build-context NAME=DIR``, ``--ssh default|ID=PATH``, ``-o/--output type=local|tar,dest=PATH``
    build_contexts: tuple[str, ...] = ()
    ssh: tuple[str, ...] = ()
    output: str | None = None
    #: filled by ``prepare.checked`` before the build (the flags read, the SSH agents' sockets)
    checked: Any = None
    #: the command line's ``replay.Recorder``: told at the end what the build read, for the next no-op
    recorder: Any = None


def find_containerfile(context: str, given: str | None) -> str:
    if given:
        from shlax_front.backend.validate import containerfile_path

        return containerfile_path(given, context)
    for name in ("Containerfile", "Dockerfile"):
        path = os.path.join(context, name)
        if os.path.isfile(path):
            return path
    recipe = os.path.join(context, "shlaxfile.py")
    if os.path.isfile(recipe):  # Python run on this host: only when asked for by name
        raise ShlaxError(
            f"{context}: no Containerfile or Dockerfile; {recipe} is a Python recipe, run on this host: "
            f"build it with -f {recipe}"
        )
    raise ShlaxError(f"{context}: no Containerfile or Dockerfile (use -f)")


def image_config_reader(
    buildah: Buildah,
    pull: str = "missing",
    inspected: dict[str, dict | None] | None = None,
    remembered: InspectCache | None = None,
):
    """ref -> the parts of an image's config that instruction expansion and RUN defaults depend on; ``pull``:
    the ``--pull`` policy (``always``/``newer`` pull first, ``never`` never pulls); ``inspected`` keeps what
    buildah said of each image for the executor, ``remembered`` answers for images a previous build inspected."""
    seen: dict[str, dict | None] = {}

    def read(ref: str) -> dict | None:
        if ref not in seen:
            if pull in ("always", "newer"):
                with contextlib.suppress(Exception):
                    buildah.pull(ref, "always")
            info = remembered.get(ref) if remembered is not None else None
            if info is None:
                info = buildah.inspect_image(ref)
                if remembered is not None:
                    remembered.put(ref, info)
            if info is None and pull != "never":
                with contextlib.suppress(Exception):
                    buildah.pull(ref)
                    info = buildah.inspect_image(ref)
            if inspected is not None:  # the executor reads the same base images: one inspect each
                inspected[ref] = info
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


def build(
    context: str = ".",
    containerfile: str | None = None,
    *,
    tags: str | Sequence[str] = (),
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    secrets: Sequence[str] = (),
    no_cache: bool = False,
    format: str | None = None,
    isolation: str | None = None,
    cache_dir: str | None = None,
    offline: bool = False,
    lists_ttl: float = DEFAULT_TTL,
    ca_bundle: str | None = "default",
    on_step: StepCallback | None = None,
    on_output: OutputCallback | None = None,
    on_start: StartCallback | None = None,
    **flags: Any,
) -> BuildResult:
    """Build the Containerfile (or a named ``shlaxfile.py`` recipe) of ``context`` with buildah, as
    ``shlax-front build`` does, and return what was built. Prints nothing.

    ``containerfile``: the file (default: Containerfile or Dockerfile in ``context``); a Python recipe
    (``*.py``) is run on this host, so it is built only when named here.
    ``tags``: names given to the image. ``build_args``: ARG values. ``target``: the last stage to build.
    ``secrets``: ``id=ID,src=PATH`` / ``id=ID,env=VAR`` for ``RUN --mount=type=secret``. ``no_cache``:
    reuse no layer (the package caches still serve). ``format``: ``oci`` or ``docker`` (default: oci
    unless an instruction needs docker). ``isolation``: buildah's (default ``$BUILDAH_ISOLATION``).
    ``cache_dir``: the host cache root. ``offline``: no network in RUN steps. ``lists_ttl``: seconds
    apt lists stay fresh. ``ca_bundle``: mounted into every RUN (``"default"``: the host's; None: none).
    ``flags``: bud's and docker's other flags as ``BuildRequest`` fields (``pull="always"``,
    ``labels=("k=v",)``, ``volumes=("/src:/dst",)``, ``timestamp=0``, ``output="type=tar,dest=F"``,
    ``jobs=2``: independent stages built at once, default the CPU count...).
    ``on_step`` is called with each step's record as it finishes, ``on_start`` with each step that runs as
    it starts, ``on_output`` with what the commands print (a RUN's lines as they come). Raises
    ``ShlaxError`` (``BuildError`` for a failed step) with the file and line.
    """
    request = BuildRequest(
        containerfile=containerfile,
        context=context,
        tags=(tags,) if isinstance(tags, str) else tuple(tags),
        build_args=dict(build_args or {}),
        target=target,
        no_cache=no_cache,
        format=format,
        isolation=isolation,
        cache_dir=cache_dir,
        offline=offline,
        lists_ttl=lists_ttl,
        ca_bundle=ca_bundle,
        secrets=tuple(secrets),
        **flags,
    )
    return run_request(request, on_step=on_step, on_output=on_output, on_start=on_start)


@checked
def run_request(
    request: BuildRequest,
    on_step: StepCallback | None = None,
    on_output: OutputCallback | None = None,
    runner: SubprocessRunner | None = None,
    on_start: StartCallback | None = None,
) -> BuildResult:
    """Build what ``request`` asks for; ``build()`` with the options in one object (the CLI's way).
    ``runner`` runs the buildah commands (a fake one in unit tests); ``on_start`` is told when a step
    starts running (before its output reaches ``on_output``)."""
    from shlax_front.parser import parse

    path = find_containerfile(request.context, request.containerfile)
    tags = tuple(request.tags)
    secrets = secrets_by_id(request.secrets)
    runner = runner or SubprocessRunner()
    buildah = configure(Buildah(runner, isolation=request.isolation or default_isolation()), request)
    # absolute: the host caches under it are bind-mounted, and buildah refuses a relative host path
    root = Path(os.path.abspath(request.cache_dir)) if request.cache_dir else default_root()
    budversion.keep_version_in(root / "buildah-version.json")
    # the planner's ``buildah --version`` (asked when the cache root has no record of it: a cold build) runs
    # beside the image listing, not after it
    version = threading.Thread(target=budversion.installed_version, daemon=True)
    version.start()
    # one image listing serves the executor's cached steps and tags, and tells which image a FROM names now
    listing = buildah.image_names()
    version.join()
    remembered = (
        None if pull_policy(request) in ("always", "newer") else InspectCache(root / "images", listing)
    )
    inspected: dict[str, dict | None] = {}
    images = image_config_reader(buildah, pull_policy(request), inspected, remembered)
    if path.endswith(".py"):
        from shlax_front.recipe import load

        container = load(path)
        if not tags and container.commit:
            tags = (container.commit,)
        planner = Planner(
            None,
            request.build_args,
            request.target,
            images,
            recipe=container.stages,
            path=path,
            incremental=request.incremental,
        )
    else:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
            path = "Containerfile"
        else:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="surrogateescape")
        planner = Planner(
            parse(text, path=path),
            request.build_args,
            request.target,
            images,
            incremental=request.incremental,
        )
    plan = planned(planner.plan(), planner, request)

    ca = default_ca_bundle() if request.ca_bundle == "default" else request.ca_bundle
    if ca and not os.path.isfile(ca):
        raise ShlaxError(f"--ca-bundle {ca}: no such file")
    options = Options(
        tags=tags,
        no_cache=request.no_cache,
        offline=request.offline,
        lists_ttl=int(request.lists_ttl),
        ca_bundle=ca,
        explain=request.explain,
        proxy_env=proxy_env() if run_settings.passes_proxy(request.run_settings) else (),
        secrets=secrets,
        incremental=request.incremental is not False,
        jobs=stage_jobs(request.jobs),
        **executor_options(request),
    )
    context_root = os.path.abspath(request.context)
    digests = FileDigests.for_context(root, context_root)
    ignorefile = os.path.abspath(request.ignorefile) if request.ignorefile else None
    context = BuildContext(context_root, os.path.abspath(path), file_digests=digests, ignorefile=ignorefile)
    index = LayerIndex(root).load()  # holds the images it names from a prune until released, below
    executor = Executor(
        buildah,
        index,
        HostCaches(root),
        context,
        options,
        on_step=on_step,
        on_output=on_output,
        on_start=on_start,
        onbuild=planner.onbuild_steps,
        inspected=inspected,
        image_names=listing,
    )
    # a plain build names no cache, push nor output: attach would do nothing, and its registry and TLS modules
    # are not worth importing for that
    if request.cache_from or request.cache_to or request.push or request.output:
        from shlax_front.backend.cachetransfer.transfer import attach

        attach(request, buildah, root, executor)
    try:
        try:
            with signals_as_interrupt():
                result = executor.run(plan)
        finally:
            digests.save()  # what was read this time is not read again (a failed build's too)
        if request.recorder is not None:
            request.recorder.collect(
                request, path, context, options, inspected, executor.reached, result, tail=executor.tail
            )
    finally:
        index.release_images()  # a library caller's process goes on: a prune need not wait for it to end
    return result


def stage_jobs(jobs: int | None) -> int:
    """``--jobs`` as the executor takes it: the CPU count when not given; below 1 is one line."""
    if jobs is None:
        return os.cpu_count() or 1
    if jobs < 1:
        raise ShlaxError(f"--jobs {jobs}: expected a number of stages of 1 or more")
    return jobs
