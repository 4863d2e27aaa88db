"""Run build steps on buildah with per-instruction layer reuse and host package caches.

Semantics follow ``buildah bud --layers``: each step that changes the filesystem is committed to its own
image and the next step starts from a fresh container of that image; config-only steps (ENV, LABEL, ...)
are folded into the next commit. Every step has a cache key chained from its parent; a key found in the
index (and still in storage) is reused without starting a container, so a cached step costs a dict lookup.

Cleanup is the executor's promise: whatever happens (failure, Ctrl-C, SIGTERM), the working containers it
created are unmounted and removed, and files it wrote for a single run are deleted.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shlax_front.backend import aptlists
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext, ContextError, IgnoreRules
from shlax_front.backend.copyopts import checksum_problem, downloaded_path, exclusion_lines
from shlax_front.backend.hostcache import (
    APT_RUN_CONFIG,
    HostCaches,
    partition_name,
    read_os_release,
)
from shlax_front.backend.keys import explain_miss, root_key, step_key
from shlax_front.backend.report import Reporter, StepReport
from shlax_front.backend.rootfs import MissingSource, copy_from_root
from shlax_front.backend.rootfs import inside as _inside
from shlax_front.backend.run_output import (
    fetched_bytes,
    offline_missing,
    served_bytes,
    tail,
    tree_size,
)
from shlax_front.backend.runner import CommandFailed
from shlax_front.backend.secrets import Secret, SecretError, read_secret_mount, write_secret_file
from shlax_front.backend.setid import clear_setid, setid_destinations
from shlax_front.backend.steps import (
    BuildSteps,
    ConfigStep,
    CopyStep,
    FromStep,
    HostCache,
    RunStep,
    Stage,
    Step,
)
from shlax_front.backend.store import LayerIndex
from shlax_front.backend.users import resolve_owner
from shlax_front.backend.wheelhouse import WHEELHOUSE_TARGET
from shlax_front.backend.wheelhouse import fill as fill_wheelhouse
from shlax_front.backend.wheelhouse import history_directory as wheelhouse_history
from shlax_front.errors import BuildError

CA_TARGET = "/run/shlax-front/ca-certificates.crt"
ALWAYS_CREATED = ("/run", "/dev", "/proc", "/sys")
APT_CONFIG_TARGET = "/run/shlax-front/apt.conf"
CA_ENV = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE")
PROXY_ENV = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy")


@dataclass
class Options:
    tags: tuple[str, ...] = ()
    no_cache: bool = False
    format: str | None = None  # None: oci unless the file needs docker
    offline: bool = False
    ca_bundle: str | None = None
    explain: bool = False
    proxy_env: tuple[tuple[str, str], ...] = ()
    #: ``--secret`` values by id, for ``RUN --mount=type=secret`` (never in the key nor the image)
    secrets: dict[str, Secret] = field(default_factory=dict)
    lists_ttl: int = aptlists.DEFAULT_TTL  # seconds; 0: always run the update as written


@dataclass
class StageResult:
    image: str
    key: str


@dataclass
class _State:
    """Where a stage is: the last image and key, and the working container when one exists."""

    key: str
    image: str | None
    container: str | None = None
    rootfs: str | None = None
    pending: list[ConfigStep] = field(default_factory=list)
    uncommitted: bool = False


class Executor:
    def __init__(
        self,
        buildah: Buildah,
        index: LayerIndex,
        caches: HostCaches,
        context: BuildContext,
        options: Options,
        reporter: Reporter,
        onbuild: Callable[[list[str], Stage, FromStep], list[Step]] | None = None,
    ):
        self.buildah = buildah
        self.index = index
        self.caches = caches
        self.context = context
        self.options = options
        self.reporter = reporter
        self.onbuild = onbuild
        self.containers: list[str] = []
        self.tempdirs: list[str] = []
        self._image_ids: set[str] | None = None
        self._inspected: dict[str, dict] = {}
        self._partitions: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self.format = "oci"

    # -- the whole build ----------------------------------------------------------------------------------
    def build(self, plan: BuildSteps) -> str:
        self.format = self.options.format or ("docker" if plan.needs_docker_format else "oci")
        results: dict[int, StageResult] = {}
        start = time.monotonic()
        try:
            for stage in plan.stages:
                results[stage.index] = self._build_stage(stage, results, plan.path)
        except CommandFailed as err:  # a buildah verb the executor did not expect to fail
            raise BuildError(
                f"buildah failed: {' '.join(err.result.argv[:4])}", plan.path, None, tail(err.result.output)
            ) from None
        finally:
            self.cleanup()
        final = results[plan.stages[-1].index]
        if self.options.tags:
            self.buildah.tag(final.image, list(self.options.tags))
        self.reporter.summary(final.image, time.monotonic() - start)
        return final.image

    def cleanup(self) -> None:
        self._sources.clear()
        for name in reversed(self.containers):
            self.buildah.umount(name)
            self.buildah.rm(name)
        self.containers.clear()
        for path in self.tempdirs:
            shutil.rmtree(path, ignore_errors=True)
        self.tempdirs.clear()

    # -- one stage ----------------------------------------------------------------------------------------
    def _build_stage(self, stage: Stage, results: dict[int, StageResult], path: str) -> StageResult:
        steps = list(stage.steps)
        state: _State | None = None
        i = 0
        while i < len(steps):
            step = steps[i]
            slot = f"{os.path.abspath(path)}|{stage.index}|{i}|{type(step).__name__}"
            t0 = time.monotonic()
            if isinstance(step, FromStep):
                state, triggers = self._from(step, results)
                if triggers and self.onbuild:
                    steps[i + 1 : i + 1] = self.onbuild(triggers, stage, step)
                self.reporter.step(StepReport(stage.label, step, "from", time.monotonic() - t0))
                i += 1
                continue
            assert state is not None, "a stage starts with FROM"
            inputs = self._inputs(step, state, results)
            key = step_key(state.key, inputs)
            inputs = self._with_manifest(step, inputs)  # for --explain only: not part of the key
            cached = None if self.options.no_cache else self._lookup(key)
            if cached is not None:
                self._drop_container(state)
                self.index.remember_slot(slot, {"parent": state.key, **inputs})
                state.key, state.image, state.pending, state.uncommitted = key, cached, [], False
                self.reporter.step(StepReport(stage.label, step, "cached", time.monotonic() - t0))
                i += 1
                continue
            parent_key = state.key
            state.key = key
            fetched = served = None
            if isinstance(step, ConfigStep) and not step.mkdir:
                # config-only: folded into the next commit, costs nothing, so it is neither built nor cached
                if state.container:
                    self.buildah.config(state.container, step.options)
                else:
                    state.pending.append(step)
                state.uncommitted = True
                self.reporter.step(StepReport(stage.label, step, "config", time.monotonic() - t0))
            else:
                reason = explain_miss(self.index.slots.get(slot), {"parent": parent_key, **inputs})
                if self.options.no_cache:
                    reason = "--no-cache"
                self._ensure_container(state)
                if isinstance(step, RunStep):
                    fetched, served = self._run(step, state, results)
                elif isinstance(step, CopyStep):
                    self._copy(step, state, results)
                elif isinstance(step, ConfigStep):
                    self.buildah.config(state.container, step.options)
                    self._mkdir(state, step.mkdir, step.mkdir_user)
                self._commit(state, key, step, slot, {"parent": parent_key, **inputs})
                self.reporter.step(
                    StepReport(
                        stage.label,
                        step,
                        "built",
                        time.monotonic() - t0,
                        reason=reason,
                        fetched=fetched,
                        served=served,
                    )
                )
            i += 1
        assert state is not None
        if state.uncommitted:
            cached = None if self.options.no_cache else self._lookup(state.key)
            if cached is not None:
                self._drop_container(state)
                state.image = cached
            else:
                self._ensure_container(state)
                self._commit(state, state.key, None, None, {})
        self._drop_container(state)
        assert state.image is not None
        return StageResult(state.image, state.key)

    # -- FROM ---------------------------------------------------------------------------------------------
    def _from(self, step: FromStep, results: dict[int, StageResult]) -> tuple[_State, list[str]]:
        if step.stage is not None:
            base = results[step.stage]
            info = self._inspect(base.image)
            return _State(root_key(base.key, self.format), base.image), _onbuild(info)
        if step.image == "scratch":
            return _State(root_key("scratch", self.format), None), []
        info = self._inspect(step.image)
        if info is None:
            if self.options.offline:
                raise BuildError(
                    f"FROM {step.image}: image not in local storage and --offline given",
                    step.location.path,
                    step.location.line,
                )
            try:
                self.buildah.pull(step.image)
            except CommandFailed as err:
                raise BuildError(
                    f"FROM {step.image}: cannot pull the image",
                    step.location.path,
                    step.location.line,
                    tail(err.result.output),
                ) from None
            self._inspected.pop(step.image, None)
            info = self._inspect(step.image)
            if info is None:
                raise BuildError(
                    f"FROM {step.image}: image not found", step.location.path, step.location.line
                )
        image_id = info["FromImageID"]
        return _State(root_key(image_id, self.format), image_id), _onbuild(info)

    def _inspect(self, ref: str) -> dict | None:
        if ref not in self._inspected:
            self._inspected[ref] = self.buildah.inspect_image(ref)
        return self._inspected[ref]

    # -- keys ---------------------------------------------------------------------------------------------
    def _inputs(self, step: Step, state: _State, results: dict[int, StageResult]) -> dict:
        inputs: dict = {"instruction": step.text}
        if isinstance(step, RunStep):
            inputs["argv"] = list(step.original_argv or step.argv)
            inputs["env"] = sorted(list(kv) for kv in step.env)
            if step.mounts:
                inputs["mounts"] = [[m.type, [list(o) for o in m.options]] for m in step.mounts]
            if step.files:
                inputs["files"] = sorted(list(f) for f in step.files)
            binds = [m for m in step.mounts if m.type == "bind"]
            ctx_sources = tuple(m.get("source") or m.get("src") or "." for m in binds if not m.get("from"))
            if ctx_sources:
                inputs["context"] = self._digest(step, ctx_sources, mounted=True)
            froms = [self._from_ref(m.get("from"), results) for m in binds if m.get("from")]
            if froms:
                inputs["from"] = froms
        elif isinstance(step, CopyStep):
            if step.heredocs:
                inputs["files"] = sorted(list(h) for h in step.heredocs)
            if step.from_stage is not None:
                inputs["from"] = results[step.from_stage].key
            elif step.from_image:
                info = self._inspect(step.from_image)
                inputs["from"] = info["FromImageID"] if info else step.from_image
            elif step.sources:
                local = tuple(s for s in step.sources if not _is_url(s))
                if local:
                    inputs["context"] = self._digest(step, local, step.exclude)
        elif isinstance(step, ConfigStep):
            inputs["options"] = list(step.options)
            if step.mkdir:
                inputs["mkdir"] = [step.mkdir, step.mkdir_user]
        return inputs

    def _with_manifest(self, step: Step, inputs: dict) -> dict:
        if "context" not in inputs or not isinstance(step, CopyStep):
            return inputs
        local = tuple(s for s in step.sources if not _is_url(s))
        manifest = self.context.manifest(local, step.exclude)
        if len(manifest) > 5000:  # keep the index small: big trees are explained as "context files changed"
            return inputs
        return {**inputs, "context_files": manifest}

    def _digest(
        self, step: Step, sources: tuple[str, ...], exclude: tuple[str, ...] = (), mounted: bool = False
    ) -> str:
        """Key of what a COPY copies from the context, or (``mounted``) of what a RUN bind mount shows."""
        try:
            if mounted:
                return self.context.mounted_digest(sources)
            return self.context.digest(sources, exclude)
        except (ContextError, OSError) as err:
            raise BuildError(str(err), step.location.path, step.location.line) from None

    def _from_ref(self, ref: str, results: dict[int, StageResult]) -> str:
        """Key of a ``--mount from=``: the stage's key, or the id of the image the name points at now (as
        ``COPY --from``: a re-tagged name is another image)."""
        for index, result in results.items():
            if ref == str(index) or ref == getattr(result, "name", None):
                return result.key
        info = self._inspect(ref)
        return info["FromImageID"] if info else ref

    def _lookup(self, key: str) -> str | None:
        image = self.index.lookup(key)
        if image is None:
            return None
        if self._image_ids is None:
            self._image_ids = self.buildah.image_ids()
        if image in self._image_ids:
            return image
        # not listed: confirmed one by one, as a listing raced by another build's removal can miss images
        if self.buildah.inspect_image(image) is not None:
            self._image_ids.add(image)
            return image
        return None

    # -- containers ---------------------------------------------------------------------------------------
    def _ensure_container(self, state: _State) -> None:
        if state.container:
            return
        name = f"shlax-front-{uuid.uuid4().hex[:12]}"
        self.containers.append(name)
        self.buildah.from_(state.image or "scratch", name, pull="never")
        state.container = name
        for step in state.pending:
            self.buildah.config(name, step.options)
        state.pending = []
        state.rootfs = None

    def _rootfs(self, state: _State) -> str:
        if state.rootfs is None:
            state.rootfs = self.buildah.mount(state.container)
        return state.rootfs

    def _drop_container(self, state: _State) -> None:
        if state.container:
            self.buildah.umount(state.container)
            self.buildah.rm(state.container)
            if state.container in self.containers:
                self.containers.remove(state.container)
        state.container = None
        state.rootfs = None

    def _commit(self, state: _State, key: str, step: Step | None, slot: str | None, inputs: dict) -> None:
        text = step.text if step else "(config)"
        image = self.buildah.commit(state.container, self.format, history_comment=f"shlax-front-key={key}")
        image = image.removeprefix("sha256:")
        self.index.record(key, image, text, slot, inputs)
        if self._image_ids is not None:
            self._image_ids.add(image)
        self._drop_container(state)
        state.image, state.key, state.uncommitted = image, key, False

    # -- RUN ----------------------------------------------------------------------------------------------
    def _run(
        self, step: RunStep, state: _State, results: dict[int, StageResult]
    ) -> tuple[int | None, int | None]:
        """Run one RUN; returns (bytes downloaded, bytes served from the host caches) when known."""
        rootfs = self._rootfs(state)
        scratch = tempfile.mkdtemp(prefix="shlax-front-run-")
        self.tempdirs.append(scratch)
        env = list(step.env) + list(self.options.proxy_env) + list(step.cache_env)
        volumes: list[str] = []
        targets: list[str] = []
        for n, (target, content, mode) in enumerate(step.files):
            host = os.path.join(scratch, f"file{n}")
            with open(host, "w") as f:
                f.write(content)
            os.chmod(host, mode)
            volumes.append(f"{host}:{target}:ro")
            targets.append(target)
        if self.options.ca_bundle and os.path.isfile(self.options.ca_bundle):
            volumes.append(f"{self.options.ca_bundle}:{CA_TARGET}:ro")
            targets.append(CA_TARGET)
            env += [(name, CA_TARGET) for name in CA_ENV]
        partition = None
        if step.cache_mounts:
            partition = self._partition(state, rootfs)
            if any(
                c.target.startswith("/var/cache/apt") or c.target.startswith("/var/lib/apt")
                for c in step.cache_mounts
            ):
                host = os.path.join(scratch, "apt.conf")
                with open(host, "w") as f:
                    f.write(APT_RUN_CONFIG)
                volumes.append(f"{host}:{APT_CONFIG_TARGET}:ro")
                targets.append(APT_CONFIG_TARGET)
                env.append(("APT_CONFIG", APT_CONFIG_TARGET))
        for n, mask in enumerate(step.masks):
            if os.path.lexists(_inside(rootfs, mask)):
                host = os.path.join(scratch, f"mask{n}")
                open(host, "w").close()
                volumes.append(f"{host}:{mask}:ro")
        mounts = [self._mount_arg(m, results) for m in step.mounts if m.type != "secret"]
        secret_volumes, secret_targets, secret_dir = self._secrets(step)
        volumes += secret_volumes
        caches = tuple(resolve_owner(c, rootfs) for c in step.cache_mounts)
        wheelhouse = [(exe, wh) for exe, wh in step.wheelhouse if not wh.no_index]
        if wheelhouse:
            owner = next((c for c in caches if c.host == "pip"), None)
            caches += (
                HostCache(
                    "pip-wheelhouse",
                    WHEELHOUSE_TARGET,
                    uid=owner.uid if owner else 0,
                    gid=owner.gid if owner else 0,
                ),
            )
        network, offline_env = self._network(step)
        env += offline_env
        fetched = None
        with self.caches.mounted(caches, partition) as prepared:
            for directory, cache in prepared:
                volumes.append(f"{directory}:{cache.target}")
                targets.append(cache.target)
            lists = next((d for d, c in prepared if c.target == aptlists.LISTS_TARGET), None)
            if lists is not None:
                ttl = -1 if self.options.offline else self.options.lists_ttl
                env += aptlists.mount_stand_ins(
                    rootfs, scratch, lists, ttl, env, volumes, targets, lambda: self._container_path(state)
                )
            sizes = {str(d): tree_size(d) for d, c in prepared}
            wheelhouse_before = {
                f.name: f.stat().st_size
                for d, c in prepared
                if c.id == "pip-wheelhouse"
                for f in Path(d).iterdir()
            }
            created = _missing_ancestors(rootfs, targets)
            replaced: list[str] = []  # written mount targets that were there before: bud deletes them too
            # RUN --mount targets as written: like buildah bud, remove the mount point, keep parents it made
            for m in step.mounts:
                if m.type == "secret":  # below
                    continue
                target = m.get("target") or m.get("dst") or m.get("destination")
                if (
                    target
                    and not os.path.lexists(_inside(rootfs, target))
                    and not _bud_keeps_mountpoint(target)
                ):
                    created.append(_inside(rootfs, target))
                elif target and not _bud_keeps_mountpoint(target):
                    parent, name = posixpath.split(posixpath.normpath("/" + target.lstrip("/")))
                    replaced.append(os.path.join(_inside(rootfs, parent), name))
            # secret mount points as bud 1.28 leaves them: kept below /var/, else removed - and a target that
            # was already in the image outside /var/ is deleted with them (bud's own loss, matched)
            doomed = [_inside(rootfs, t) for t in secret_targets if not _bud_keeps_mountpoint(t)]
            created += [p for p in doomed if not os.path.lexists(p)]
            doomed = [p for p in doomed if os.path.lexists(p) and not os.path.isdir(p)]
            try:
                if wheelhouse:

                    def in_container(argv, online, container=state.container):
                        return self.buildah.run(
                            container, argv, env=env, volumes=volumes, network=network if online else None
                        )

                    env += fill_wheelhouse(
                        in_container,
                        wheelhouse,
                        wheelhouse_history(self.caches),
                        self.options.offline,
                        self.options.lists_ttl,
                        self.reporter.output,
                    )
                result = self.buildah.run(
                    state.container, step.argv, env=env, volumes=volumes, mounts=mounts, network=network
                )
            finally:
                if secret_dir:
                    shutil.rmtree(secret_dir, ignore_errors=True)
                for path in doomed:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                _remove_mountpoints(rootfs, created)
                _delete_replaced(replaced)
            if result.returncode == 0:
                aptlists.replay_layout(rootfs, caches)
            grown = sum(max(0, tree_size(d) - sizes[str(d)]) for d, c in prepared if c.id != "apt-lists")
            fetched = grown or None
        if result.returncode != 0:
            message = f"{step.text[:60]}: exited with status {result.returncode}"
            missing = offline_missing(result.output) if self.options.offline else []
            if missing:
                message += f" (--offline: not in the host caches: {', '.join(missing)})"
            elif self.options.offline:
                message += " (--offline: it needed something the host caches do not have, see the output)"
            raise BuildError(message, step.location.path, step.location.line, tail(result.output))
        self.reporter.output(result.output)
        return fetched_bytes(result.output) or fetched, served_bytes(result.output, wheelhouse_before)

    def _container_path(self, state: _State) -> str | None:
        info = self.buildah.inspect_container(state.container) or {}
        for entry in (info.get("OCIv1") or {}).get("config", {}).get("Env") or ():
            if entry.startswith("PATH="):
                return entry[len("PATH=") :]
        return None

    def _network(self, step: RunStep) -> tuple[str | None, list[tuple[str, str]]]:
        """(--network, extra env) for a RUN. ``--offline``: ``--network none`` - a real cut, made by
        ``Buildah.run`` itself under chroot isolation - and pip/npm told to stay offline, so a miss fails
        at once naming the package instead of after network timeouts. Rootless chroot builds cannot
        create a network namespace: there every proxy variable points at a closed port instead (apt,
        pip, npm and curl all honour them)."""
        if not self.options.offline:
            return step.network, []
        env = [("npm_config_offline", "true"), ("PIP_NO_INDEX", "1")]
        if self.buildah.isolation in (None, "chroot") and not self.buildah.cuts_network_itself:
            dead = "http://127.0.0.1:9"
            proxies = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ftp_proxy")
            env += [(name, dead) for name in proxies] + [("no_proxy", ""), ("NO_PROXY", "")]
        return "none", env

    def _secrets(self, step: RunStep) -> tuple[list[str], list[str], str | None]:
        """(volumes, targets, private directory) for the RUN's secret mounts given by ``--secret``.

        buildah 1.28's ``run --mount`` knows no ``type=secret``: each secret is copied to a private file
        (mode/uid/gid of the mount) bind-mounted read-only at its target; the caller deletes the directory
        right after the run. An absent secret is skipped unless the mount says ``required``, as bud does.
        """
        volumes: list[str] = []
        targets: list[str] = []
        directory = None
        for n, m in enumerate(m for m in step.mounts if m.type == "secret"):
            try:
                mount = read_secret_mount(m.options)
            except ValueError as err:
                raise SecretError(
                    f"{step.text[:60]}: {err}", step.location.path, step.location.line
                ) from None
            secret = self.options.secrets.get(mount.id)
            if secret is None:
                if mount.required:
                    raise SecretError(
                        f"{step.text[:60]}: secret {mount.id!r} is required"
                        f" (give it with --secret id={mount.id},src=PATH)",
                        step.location.path,
                        step.location.line,
                    )
                continue
            if directory is None:
                directory = tempfile.mkdtemp(prefix="shlax-front-secret-")
                self.tempdirs.append(directory)
            volumes.append(f"{write_secret_file(secret, mount, directory, n)}:{mount.target}:ro")
            targets.append(mount.target)
        return volumes, targets, directory

    def _mount_arg(self, mount, results: dict[int, StageResult]) -> str:
        """A RUN --mount as written, with ``from=<stage>`` turned into that stage's image id."""
        parts = [f"type={mount.type}"]
        local_bind = mount.type == "bind" and not mount.get("from")
        for k, v in mount.options:
            if local_bind and k in ("source", "src"):
                v = os.path.join(self.context.root, v.lstrip("/"))
            if k == "from":
                for index, result in results.items():
                    if v == str(index) or v == getattr(result, "name", None):
                        v = result.image
            parts.append(f"{k}={v}" if v != "" else k)
        if mount.type == "bind" and not (mount.get("source") or mount.get("src")):
            # BuildKit's and bud's default: the whole context (or the from= image's root); buildah run
            # itself refuses a bind without one ("must set volume source")
            parts.append(f"source={self.context.root if local_bind else '/'}")
        return ",".join(parts)

    def _partition(self, state: _State, rootfs: str) -> str:
        key = state.image or "scratch"
        if key not in self._partitions:
            info = self._inspect(state.image) if state.image else None
            arch = (info or {}).get("OCIv1", {}).get("architecture") or "amd64"
            self._partitions[key] = partition_name(read_os_release(rootfs), arch)
        return self._partitions[key]

    # -- COPY / ADD ---------------------------------------------------------------------------------------
    def _copy(self, step: CopyStep, state: _State, results: dict[int, StageResult]) -> None:
        try:
            if step.heredocs:
                scratch = tempfile.mkdtemp(prefix="shlax-front-heredoc-")
                self.tempdirs.append(scratch)
                sources = []
                for name, content in step.heredocs:
                    host = os.path.join(scratch, os.path.basename(name))
                    with open(host, "w") as f:
                        f.write(content)
                    os.chmod(host, 0o644)
                    sources.append(host)
                self.buildah.copy(state.container, sources, step.dest, chown=step.chown, chmod=step.chmod)
            elif (step.from_stage is not None or step.from_image) and not step.chown and not step.add:
                source = results[step.from_stage].image if step.from_stage is not None else step.from_image
                self._copy_preserving_owners(state, self._source_rootfs(source), step)
            elif step.from_stage is not None or step.from_image:
                source = results[step.from_stage].image if step.from_stage is not None else step.from_image
                self.buildah.copy(
                    state.container,
                    list(step.sources),
                    step.dest,
                    add=step.add,
                    from_=source,
                    chown=step.chown,
                    chmod=step.chmod,
                )
            else:
                local = tuple(s for s in step.sources if not _is_url(s))
                setid = [] if step.chmod else self._setid_destinations(state, step, local)
                for sources, dest, ignorefile in self._copy_batches(step):
                    self.buildah.copy(
                        state.container,
                        [
                            s if _is_url(s) else os.path.join(self.context.root, s.lstrip("/"))
                            for s in sources
                        ],
                        dest,
                        add=step.add,
                        chown=step.chown,
                        chmod=step.chmod,
                        contextdir=self.context.root,
                        ignorefile=ignorefile,
                        cwd=self.context.root,
                    )
                if step.checksum:
                    self._verify_checksum(step, state)
                clear_setid(lambda path: _inside(self._rootfs(state), path), setid)
        except CommandFailed as err:
            raise BuildError(
                f"{step.text[:60]}: failed", step.location.path, step.location.line, tail(err.result.output)
            ) from None

    def _copy_batches(self, step: CopyStep):
        """(sources, dest, ignore file) per ``buildah copy`` call: one call, unless ``--exclude`` patterns
        (relative to each source's directory, see copyopts) need an ignore file of their own per source."""
        if not step.exclude:
            yield step.sources, step.dest, self.context.ignore_file
            return
        scratch = tempfile.mkdtemp(prefix="shlax-front-exclude-")
        self.tempdirs.append(scratch)
        own = ""
        if self.context.ignore_file:
            with open(self.context.ignore_file, encoding="utf-8", errors="replace") as f:
                own = f.read()
        into_dir = len(step.sources) > 1 and not step.dest.endswith("/")
        for n, source in enumerate(step.sources):
            if _is_url(source):
                yield (source,), step.dest + ("/" if into_dir else ""), self.context.ignore_file
                continue
            path = os.path.join(scratch, f"ignore{n}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(
                    own + "\n" + "\n".join(exclusion_lines(self.context.root, source, step.exclude)) + "\n"
                )
            yield (source,), step.dest + ("/" if into_dir else ""), path

    def _verify_checksum(self, step: CopyStep, state: _State) -> None:
        """ADD --checksum: the downloaded file, where it landed, must have the digest (else no commit)."""
        landed = downloaded_path(_inside(self._rootfs(state), step.dest), step.sources[0])
        problem = checksum_problem(landed, step.checksum)
        if problem:
            raise BuildError(f"ADD {step.sources[0]}: {problem}", step.location.path, step.location.line)

    def _setid_destinations(self, state: _State, step: CopyStep, local: tuple[str, ...]):
        """Where the context's setuid/setgid entries land (bud strips those bits, ``buildah copy`` does not)."""
        try:
            return setid_destinations(
                self.context,
                local,
                step.dest,
                lambda: os.path.isdir(_inside(self._rootfs(state), step.dest)),
                step.add,
            )
        except (ContextError, OSError):
            return []  # buildah copy reports the missing source itself

    def _source_rootfs(self, image: str) -> str:
        """The mounted root of ``image`` (one read-only-use container per image per build)."""
        if image not in self._sources:
            name = f"shlax-front-{uuid.uuid4().hex[:12]}"
            self.containers.append(name)
            self.buildah.from_(image, name, pull="never")
            self._sources[image] = self.buildah.mount(name)
        return self._sources[image]

    def _copy_preserving_owners(self, state: _State, source_root: str, step: CopyStep) -> None:
        """``COPY --from`` without ``--chown``: buildah bud keeps the files' owners, ``buildah copy`` cannot.

        What bud does there (symlinks followed at the top, the destination directory's own mode kept, ...)
        is in ``rootfs.copy_from_root``.
        """
        try:
            copy_from_root(
                source_root,
                self._rootfs(state),
                step.sources,
                step.dest,
                step.chmod,
                IgnoreRules.parse("\n".join(step.exclude)).ignored if step.exclude else None,
            )
        except MissingSource as err:
            raise BuildError(
                f"{step.text[:60]}: {err}: no such file or directory in the source image",
                step.location.path,
                step.location.line,
            ) from None
        except ContextError as err:  # a malformed --exclude pattern, refused as buildah and BuildKit do
            raise BuildError(f"{step.text[:60]}: {err}", step.location.path, step.location.line) from None

    def _mkdir(self, state: _State, path: str | None, user: str | None = None) -> None:
        if not path:
            return
        rootfs = self._rootfs(state)
        missing = []
        current = "/"
        for part in [p for p in path.split("/") if p]:
            current = posixpath.join(current, part)
            if not os.path.lexists(_inside(rootfs, current)):
                missing.append(current)
        for directory in missing:
            os.makedirs(_inside(rootfs, directory), 0o755, exist_ok=True)
        if user and missing:
            owner = resolve_owner(HostCache("workdir", path, uid=None, gid=None, user=user), rootfs)
            for directory in missing:
                os.lchown(_inside(rootfs, directory), owner.uid or 0, owner.gid or 0)


def _onbuild(info: dict | None) -> list[str]:
    if not info:
        return []
    docker = info.get("Docker") or {}
    config = docker.get("config") or {}
    return list(config.get("OnBuild") or [])


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _missing_ancestors(rootfs: str, targets: list[str]) -> list[str]:
    """For each mount target, the first path component that does not exist yet (buildah will create it)."""
    created = []
    for target in targets:
        current = "/"
        for part in [p for p in target.split("/") if p]:
            current = os.path.join(current, part)
            if current in ALWAYS_CREATED:  # buildah run makes these itself; bud's images have them too
                continue
            if not os.path.lexists(_inside(rootfs, current)):
                created.append(_inside(rootfs, current))
                break
    return created


def _bud_keeps_mountpoint(target: str) -> bool:
    """Whether ``buildah bud`` 1.28 (chroot isolation) leaves the mount point of a written ``RUN --mount`` in
    the layer when the RUN created it. Measured for cache, bind (file and directory) and tmpfs mounts alike:
    kept below ``/var/`` (``/var/cache/x``, ``/var/new/x``), removed anywhere else (``/root/.cache/pip``,
    ``/srv/x``, ``/varx/y``); parents the mount made stay in both cases. ``RUN --mount=type=cache,
    target=/root/.cache/pip pip install ...`` is the common real case (bud's image has no ``pip`` there)."""
    return ("/" + posixpath.normpath(target).lstrip("/")).startswith("/var/")


def _delete_replaced(paths: list[str]) -> None:
    """Delete written ``RUN --mount`` targets that existed before the RUN, contents and all, as buildah bud
    1.28 does outside ``/var/`` (buildah#4927, #4739: ``--mount=type=tmpfs,target=/tmp`` leaves an image
    without ``/tmp``; a cache mount over an existing ``/root/.cache/pip`` deletes it). A bud bug that loses
    files, matched because the image must be bud's; checked with real bud for bind, cache and tmpfs."""
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _remove_mountpoints(rootfs: str, created: list[str]) -> None:
    """Delete the empty files/dirs buildah made as mount points, so they never reach a layer."""
    for path in created:
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, _dirnames, filenames in os.walk(path, topdown=False):
                for name in filenames:
                    p = os.path.join(dirpath, name)
                    with contextlib.suppress(OSError):
                        if os.path.getsize(p) == 0:
                            os.unlink(p)
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        else:
            with contextlib.suppress(OSError):
                if os.path.getsize(path) == 0:
                    os.unlink(path)


def default_ca_bundle() -> str | None:
    for path in (
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ):
        if Path(path).is_file():
            return path
    return None


def proxy_env() -> tuple[tuple[str, str], ...]:
    """Proxy variables from our environment, passed to every RUN like buildah bud does (never in the key)."""
    out = []
    for name in PROXY_ENV:
        for variant in (name, name.upper()):
            if os.environ.get(variant):
                out.append((variant, os.environ[variant]))
    return tuple(out)
