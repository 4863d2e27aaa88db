"""What ``run_request`` does around a build for bud's and docker's flags: check every value before the first
step, hold what must live as long as the build (the unpacked stdin context, SSH agents), and after it write
``--iidfile`` and ``--output``.

``checked`` wraps ``run_request``: a bad tag, flag value, ``-f`` or cache root fails here in one line
(exit 2) before any container exists, and an error about bytes that are not UTF-8 is made readable. The
other helpers are the few calls ``run_request`` makes with the checked flags (``BuildRequest.checked``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shlax_front.backend import flags, validate
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.containers import WorkingContainers
from shlax_front.backend.runner import SubprocessRunner
from shlax_front.backend.sshmount import agents
from shlax_front.backend.steps import BuildSteps, ConfigStep, Location
from shlax_front.backend.store import default_root
from shlax_front.errors import BuildError, ShlaxError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """A request's flags once checked, and the agent sockets its ``--ssh`` gave."""

    flags: flags.BudFlags
    ssh_sockets: dict[str, str] = field(default_factory=dict)


def checked(run: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates ``run_request(request, ...)``: checks first, builds, then writes what the flags ask for."""

    @functools.wraps(run)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.checked is not None:
            return run(request, *args, **kwargs)
        if request.context != "-" and not os.path.isdir(request.context):
            raise ShlaxError(f"{request.context}: the context must be a directory (or - for a tar on stdin)")
        if request.containerfile and request.context != "-":
            validate.containerfile_path(request.containerfile, request.context)
        bud = flags.read(request)
        root = Path(request.cache_dir) if request.cache_dir else default_root()
        validate.cache_root(root, bool(request.cache_dir))
        with ExitStack() as stack:
            if request.context == "-":
                directory, containerfile = stack.enter_context(validate.stdin_context())
                given = request.containerfile
                if given and not os.path.isabs(given) and given != "-":
                    given = os.path.join(directory, given)
                request = replace(request, context=directory, containerfile=containerfile or given)
                if request.containerfile and request.containerfile != "-":
                    validate.containerfile_path(request.containerfile)
            sockets = stack.enter_context(agents({s.id: s for s in bud.ssh}))
            request = replace(request, checked=Checked(bud, sockets))
            try:
                result = run(request, *args, **kwargs)
            except ShlaxError as err:
                raise validate.readable_error(err, _text(request.containerfile)) from None
            if bud.iidfile:
                with open(bud.iidfile, "w") as f:
                    f.write(f"sha256:{result.image}")
            if bud.output and bud.output.type != "registry":  # a registry output is pushed by the transfer
                runner = kwargs.get("runner") or (args[2] if len(args) > 2 else None)
                buildah = Buildah(runner or SubprocessRunner(), isolation=None)
                export(buildah, result.image, bud.output)
            return result

    return wrapper


def _text(path: str | None) -> str:
    if not path or path == "-" or not os.path.isfile(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="surrogateescape")


def _flags(request: Any) -> flags.BudFlags:
    return request.checked.flags if request.checked is not None else flags.read(request)


def configure(buildah: Buildah, request: Any) -> Buildah:
    """The buildah settings the flags change: working containers' run options, pulls, commit times."""
    bud = _flags(request)
    buildah.container_options = bud.container_options
    buildah.registry_options = bud.registry_options
    buildah.authfile, buildah.creds = bud.authfile, bud.creds
    buildah.timestamp = bud.timestamp
    return buildah


def pull_policy(request: Any) -> str:
    return _flags(request).pull


def executor_options(request: Any) -> dict[str, Any]:
    """The executor ``Options`` fields the flags set."""
    bud = _flags(request)
    return {
        "pull": bud.pull,
        "format": bud.format,
        "timestamp": bud.timestamp,
        "network": bud.network,
        "build_contexts": dict(bud.build_contexts),
        "ssh_sockets": dict(request.checked.ssh_sockets) if request.checked is not None else {},
    }


def planned(plan: BuildSteps, planner: Any, request: Any) -> BuildSteps:
    """The plan with ``--label``/``--annotation`` in the final stage as bud puts them, and bud's warning about
    build args no ARG consumed. Labels are a last ``LABEL`` step (bud's history shows one, an empty layer);
    annotations alone go on the last step's commit (bud adds no history entry for them): a config step just
    before it."""
    bud = _flags(request)
    if planner.doc is not None:
        unused = validate.unused_build_args(request.build_args, planner.declared_args)
        if unused:
            log.warning("one or more build args were not consumed: [%s]", " ".join(unused))
    if not (bud.labels or bud.annotations) or not plan.stages:
        return plan
    options: list[str] = []
    for key, value in bud.labels:
        options += ["--label", f"{key}={value}"]
    for key, value in bud.annotations:
        options += ["--annotation", f"{key}={value}"]
    final = plan.stages[-1]
    where = final.steps[-1].location if final.steps else Location(plan.path, 1)
    words = [f"{k}={v}" for k, v in bud.labels] + [f"annotation {k}={v}" for k, v in bud.annotations]
    step = ConfigStep(where, f"LABEL {' '.join(words)} (from the command line)", tuple(options))
    if bud.labels:  # bud's own history line for it: each pair quoted as Go's %q does
        quoted = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in bud.labels)
        step.history = f"/bin/sh -c #(nop) LABEL {quoted}"
        final.steps.append(step)
    elif len(final.steps) > 1:
        final.steps.insert(len(final.steps) - 1, step)
    else:
        final.steps.append(step)
    return plan


def export(buildah: Buildah, image: str, out: flags.Output) -> None:
    """``--output``: the root file system of ``image`` copied to a directory or written as a tar file."""
    work = WorkingContainers(buildah)
    try:
        root = work.source_rootfs(image)
        if out.type == "local":
            os.makedirs(out.dest, exist_ok=True)
            argv = ["cp", "-a", "--", f"{root}/.", f"{out.dest}/"]
        else:
            argv = ["tar", "--numeric-owner", "-C", root, "-cf", out.dest, "."]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise BuildError(f"--output type={out.type},dest={out.dest}: {said}")
    finally:
        work.cleanup()
