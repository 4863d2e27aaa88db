"""Running one RUN in a working container: what it gets for the run only, and what it leaves behind.

For the run only (never in the layer, never in the cache key): heredoc files, the host CA bundle, the proxy
variables, apt's keep-downloads config, empty files over the image's cleanup hooks (masks), ``--secret``
files, the host package caches (owned by the RUN's user), the ``apt-get update`` stand-ins and the pip
wheelhouse. ``RUN --mount`` flags go to ``buildah run`` as written. Afterwards the mount points are left as
``buildah bud`` leaves them (``mountpoints``), and the step's traffic is read from its output
(``run_output``).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shlax_front.backend import aptlists, budversion, netmeter, pipindex
from shlax_front.backend.buildah import Buildah
from shlax_front.backend.cachemounts import CacheMountError, CacheMounts, is_host_cache
from shlax_front.backend.context import OutsideContext
from shlax_front.backend.distcheck import drop_damaged_packages
from shlax_front.backend.hostcache import (
    APT_RUN_CONFIG,
    HostCaches,
    bytes_written_since,
    partition_name,
    read_os_release,
)
from shlax_front.backend.mountpoints import MountPoints
from shlax_front.backend.named import bind_from_named
from shlax_front.backend.rootfs import inside
from shlax_front.backend.run_output import (
    fetched_bytes,
    offline_missing,
    served_bytes,
    tail,
)
from shlax_front.backend.runner import Result
from shlax_front.backend.secrets import SecretError, read_secret_mount, write_secret_file
from shlax_front.backend.sshmount import ssh_volumes
from shlax_front.backend.steps import HostCache, RunMount, RunStep
from shlax_front.backend.users import copy_owner, resolve_owner
from shlax_front.backend.wheelhouse import (
    WHEELHOUSE_TARGET,
    Answers,
    ColdFill,
    cold_fill,
    index_answers,
    wheelhouse_directory,
)
from shlax_front.backend.wheelhouse import fill as fill_wheelhouse
from shlax_front.backend.wheelhouse import history_directory as wheelhouse_history
from shlax_front.errors import RefusedError, RunFailed

if TYPE_CHECKING:
    from shlax_front.backend.executor import Options
    from shlax_front.backend.incremental import AptOrder, RunIn

CA_TARGET = "/run/shlax-front/ca-certificates.crt"
APT_CONFIG_TARGET = "/run/shlax-front/apt.conf"
CA_ENV = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE")


def _also_to(saw: Callable[[str], None], show: Callable[[str], None]) -> Callable[[str], None]:
    """``show`` that hands each line to ``saw`` first (an apt delta's check reads its output)."""

    def both(line: str) -> None:
        saw(line)
        show(line)

    return both


def read_in_rootfs(
    rootfs: str, config: Mapping[str, Any], paths: Sequence[str], covered: Sequence[str]
) -> str | None:
    """The files at ``paths`` (relative to the container's working directory) read from its mounted root, as
    ``cat`` run in the container would print them (a ``buildah run`` less for the wheelhouse's requirements),
    or None when only that run can tell: the container runs as another user than root (its rights decide),
    or a path (or where its symlinks lead) lies under something mounted for the RUN (``covered``)."""
    if str(config.get("User") or "root").split(":")[0] not in ("root", "0"):
        return None
    texts = []
    for path in paths:
        full = posixpath.normpath(posixpath.join(str(config.get("WorkingDir") or "/"), path))
        host = inside(rootfs, full)
        seen = "/" + os.path.relpath(host, rootfs).removeprefix(".")
        for where in (full, seen):
            if any(where == t or where.startswith(t.rstrip("/") + "/") for t in covered):
                return None
        try:
            if not stat.S_ISREG(os.stat(host).st_mode):  # a directory, or a fifo that would block the read
                return None
            with open(host, "rb") as f:
                texts.append(f.read().decode("utf-8", errors="replace"))
        except OSError:
            return None
    return "".join(texts)


class RunExecutor:
    """Runs RUN steps of one build; ``scratch(prefix)`` makes a temporary directory the build removes at
    its end, ``show(text)`` receives what the commands print
    (the RUN's own command line by line as it prints, the wheelhouse's pip runs whole)."""

    def __init__(
        self,
        buildah: Buildah,
        caches: HostCaches,
        context_root: str,
        options: Options,
        scratch: Callable[[str], str],
        show: Callable[[str], None],
        source_rootfs: Callable[[str], str] | None = None,
        known_info: Callable[[str, str | None], dict[str, Any] | None] | None = None,
    ):
        self.buildah = buildah
        #: the mounted root of an image (``--mount from=``), to resolve its sources inside it
        self.source_rootfs = source_rootfs
        #: (container, its image) -> its ``buildah inspect`` when the build knows it without asking, else None
        self.known_info = known_info
        self.caches = caches
        self.context_root = context_root
        self.options = options
        self.scratch = scratch
        self.show = show
        self._partitions: dict[str, str] = {}
        self.cache_mounts = CacheMounts(caches.root)

    def run(
        self,
        step: RunStep,
        container: str,
        rootfs: str,
        image: str | None,
        stage_images: Mapping[int, str],
        check: Callable[[RunIn], None] | None = None,
        beside: AptOrder | None = None,
    ) -> tuple[int | None, int | None]:
        """Run ``step`` in ``container`` (mounted at ``rootfs``, made from ``image``); ``stage_images`` are
        the images of the stages built so far, by index (``--mount from=``). Returns (bytes downloaded,
        bytes served from the host caches) when known. ``check`` (an incremental delta's proof) is called
        once the step succeeded, with a way to run commands as the step ran (environment, mounts,
        wheelhouse) in its container or another one. ``beside`` (an apt delta's check) is begun as the step
        starts, with the same way to run commands, and settled however the run ends."""
        scratch = self.scratch("shlax-front-run-")
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
        inspected: list[dict[str, Any]] = []

        def container_info() -> dict[str, Any]:
            """The container's ``buildah inspect``, asked once for everything this run needs from it (its
            architecture, its user and working directory, its PATH): each ``buildah`` call costs 30-100 ms;
            not asked when the build knows the answer (``known_info``: a FROM image's container, unconfigured)."""
            if not inspected and self.known_info is not None:
                known = self.known_info(container, image)
                if known is not None:
                    inspected.append(known)
            if not inspected:
                inspected.append(self.buildah.inspect_container(container) or {})
            return inspected[0]

        partition = None
        if step.cache_mounts:
            partition = self._partition(image, rootfs, container_info)
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
        make_workdir(rootfs, step.workdir, step.user)
        for n, mask in enumerate(step.masks):
            if os.path.lexists(inside(rootfs, mask)):
                host = os.path.join(scratch, f"mask{n}")
                open(host, "w").close()
                volumes.append(f"{host}:{mask}:ro")
        try:
            mounts = [
                self._mount_arg(m, stage_images) for m in step.mounts if m.type not in ("secret", "ssh")
            ]
        except (CacheMountError, OutsideContext) as err:
            raise RefusedError(f"{step.excerpt}: {err}", step.location.path, step.location.line) from None
        if not budversion.installed().run_bind_writes_kept:  # 1.39 discards bind writes: caches go as -v
            written = [m for m in step.mounts if m.type not in ("secret", "ssh")]
            pairs = list(zip(written, mounts, strict=True))
            volumes += [budversion.bind_as_volume(a) for m, a in pairs if is_host_cache(m)]
            mounts = [a for m, a in pairs if not is_host_cache(m)]
        secret_volumes, secret_targets, secret_dir = self._secrets(step)
        volumes += secret_volumes
        agent_volumes, agent_env, agent_targets = ssh_volumes(step, self.options.ssh_sockets)
        volumes, env, targets = volumes + agent_volumes, env + agent_env, targets + agent_targets
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
        with self.caches.mounted(caches, partition) as prepared, self.cache_mounts.held(step.mounts):
            for directory, cache in prepared:
                volumes.append(f"{directory}:{cache.target}")
                targets.append(cache.target)
            lists = next((d for d, c in prepared if c.target == aptlists.LISTS_TARGET), None)
            if lists is not None:
                ttl = -1 if self.options.offline else self.options.lists_ttl
                env += aptlists.mount_stand_ins(
                    rootfs,
                    scratch,
                    lists,
                    ttl,
                    env,
                    volumes,
                    targets,
                    lambda: _container_path(container_info()),
                )
            for d, c in prepared:  # a damaged package would fail every install from the cache: fetched again
                drop_damaged_packages(c.id, Path(d), rootfs)
            began = time.time()  # what each cache grows by from here is what the RUN fetched
            wheelhouse_before = {
                f.name: f.stat().st_size
                for d, c in prepared
                if c.id == "pip-wheelhouse"
                for f in Path(d).iterdir()
            }
            points = MountPoints.before(rootfs, targets, step.mounts, secret_targets)
            # what the wheelhouse's pip download runs receive (index pages too), counted on the way in
            counting = wheelhouse and netmeter.usable(
                self.buildah.isolation, self.options.proxy_env, self.options.offline
            )
            meter = netmeter.NetMeter() if counting else None
            # a loopback index needs what the meter needs but the user's proxy, which it goes through as pip would
            index_possible = wheelhouse and netmeter.usable(self.buildah.isolation, (), self.options.offline)
            fell_back = False
            cold: ColdFill | None = None
            index: pipindex.PullThroughIndex | None = None
            answers: Answers | None = None
            try:
                if wheelhouse:

                    def in_container(argv: Sequence[str], online: bool) -> Result:
                        through = meter.env if meter is not None and online else []
                        return self.buildah.run(
                            container,
                            argv,
                            env=env + through,
                            volumes=volumes,
                            network=network if online else None,
                        )

                    covered = [*targets, *secret_targets, *step.masks]
                    covered += [
                        m.get("target") or m.get("dst") or m.get("destination") or "/" for m in step.mounts
                    ]

                    def from_rootfs(paths: Sequence[str]) -> str | None:
                        return read_in_rootfs(rootfs, _container_config(container_info()), paths, covered)

                    history = wheelhouse_history(self.caches)

                    def fill() -> list[tuple[str, str]]:
                        """The wheelhouse filled by pip runs before the command (the path without the index)."""
                        return fill_wheelhouse(
                            in_container,
                            wheelhouse,
                            history,
                            self.options.offline,
                            self.options.lists_ttl,
                            self.show,
                            from_rootfs,
                        )

                    shell_form = len(step.argv) == 3 and tuple(step.argv[:2]) == ("/bin/sh", "-c")
                    alone = shell_form and not mounts
                    config = _container_config(container_info()) if alone and index_possible else None
                    # how the index would reach PyPI (None: it cannot stand in): the proxy the RUN's pip would
                    # take, the image's ENV under the run's own variables (build args, the host's proxy), as
                    # buildah run layers them; the index goes that way or not at all (pipindex.route)
                    route = (
                        pipindex.route([*(e.partition("=")[::2] for e in config.get("Env") or []), *env])
                        if config is not None
                        else None
                    )
                    answers = (
                        index_answers(
                            wheelhouse, history, self.options.offline, from_rootfs, self.options.lists_ttl
                        )
                        if route is not None
                        else None
                    )
                    if (
                        answers is not None
                        and config is not None
                        and route is not None
                        and pipindex.usable(
                            rootfs, env, config.get("Env") or [], step.argv[2], config.get("User")
                        )
                    ):
                        # pip runs once, cold or warm: the RUN's own install reads an index on loopback that
                        # answers from the wheelhouse what it may (answers) and reads PyPI for the rest
                        index = pipindex.PullThroughIndex(
                            wheelhouse_directory(history),
                            self.options.ca_bundle,
                            answers=answers.projects,
                            upstream=route,
                        )
                        without_index = list(env)
                        env += index.env + pipindex.loopback_env(env, config.get("Env") or [])
                    else:
                        # a cold install downloads in the RUN's own run, right before its command (ColdFill)
                        cold = (
                            cold_fill(wheelhouse, history, self.options.offline, from_rootfs)
                            if alone
                            else None
                        )
                        if cold is None:
                            env += fill()
                argv = list(step.argv)
                on_output = self.show  # line by line, as the command prints
                if cold is not None:
                    argv = cold.wrap(step.argv, meter.env if meter is not None else [])

                    def on_output(line: str, cold: ColdFill = cold) -> None:
                        if not shown:  # the download's output, before the command's first line
                            shown.append(True)
                            self.show(cold.output())
                        self.show(line)

                shown: list[bool] = []

                def run_command(env: list[tuple[str, str]], on_output: Callable[[str], None]) -> Result:
                    """The step's command (run again after a wheelhouse answer that did not fit)."""
                    return self.buildah.run(
                        container,
                        argv,
                        env=env,
                        volumes=volumes,
                        mounts=mounts,
                        network=network,
                        on_output=on_output,
                    )

                def as_the_step(argv: Sequence[str], other: str | None = None) -> Result:
                    return self.buildah.run(
                        other or container, argv, env=env, volumes=volumes, mounts=mounts, network=network
                    )

                if beside is not None:
                    beside.begin(as_the_step)
                    on_output = _also_to(beside.saw, on_output)
                result = run_command(env, on_output)
                if cold is not None:
                    env += cold.finish(self.show if not shown else lambda output: None)
                if index is not None and answers is not None:
                    self.show(index.summary())
                    if result.returncode != 0 and index.answered and pipindex.unresolved(result.output):
                        # the wheelhouse's answer did not fit (a file for another Python, a requirement added
                        # that wants an older dependency): nothing was installed; resolved as fill does, again
                        self.show(
                            "shlax-front: the wheelhouse's answer did not fit; resolving with the index"
                        )
                        env = without_index
                        fell_back = True
                        env += fill()
                        result = run_command(env, self.show)
                    else:
                        index.record(
                            result.returncode == 0,
                            result.output,
                            history,
                            answers.record_argv,
                            answers.lines,
                        )
                if check is not None and result.returncode == 0:
                    check(as_the_step)
            finally:
                if beside is not None:  # what runs beside the step ends here, within the caches' locks
                    beside.settle(stopping=sys.exc_info()[0] is not None)
                if cold is not None:
                    cold.remove()
                if meter is not None:
                    meter.close()
                if index is not None:
                    index.close()
                if secret_dir:
                    shutil.rmtree(secret_dir, ignore_errors=True)
                points.after(rootfs)
            if result.returncode == 0:
                script = step.original_argv or step.argv  # as written: the passes drop its rm in the caches
                aptlists.replay_layout(rootfs, caches, script[-1] if "-c" in script[:-1] else None)
            # the wheelhouse's growth is what its pip runs fetched, unless counted on the way in: by the meter, or
            # by the index when nothing ran after it (after a fallback without the meter, a file the index kept
            # is counted twice: in its bytes and in the growth)
            counted = meter is not None or (index is not None and not fell_back)
            metered = {"apt-lists"} | ({"pip-wheelhouse"} if counted else set())
            grown = sum(bytes_written_since(d, began) for d, c in prepared if c.id not in metered)
            fetched = grown or None
            pip_bytes = (meter.received if meter is not None else 0) + (
                index.received if index is not None else 0
            )
        if result.returncode != 0:
            message = f"{step.excerpt}: exited with status {result.returncode}"
            missing = offline_missing(result.output) if self.options.offline else []
            if missing:
                message += f" (--offline: not in the host caches: {', '.join(missing)})"
            elif self.options.offline:
                message += " (--offline: it needed something the host caches do not have, see the output)"
            raise RunFailed(
                message, step.location.path, step.location.line, tail(result.output), result.returncode
            )
        downloaded = (fetched_bytes(result.output) or fetched or 0) + pip_bytes
        return downloaded or None, served_bytes(result.output, wheelhouse_before)

    def _network(self, step: RunStep) -> tuple[str | None, list[tuple[str, str]]]:
        """(--network, extra env) for a RUN. ``--offline``: ``--network none`` - a real cut, made by
        ``Buildah.run`` itself under chroot isolation - and pip/npm told to stay offline, so a miss fails
        at once naming the package instead of after network timeouts. Rootless chroot builds cannot
        create a network namespace: there every proxy variable points at a closed port instead (apt,
        pip, npm and curl all honour them)."""
        if not self.options.offline:
            return step.network or self.options.network, []
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
                raise SecretError(f"{step.excerpt}: {err}", step.location.path, step.location.line) from None
            secret = self.options.secrets.get(mount.id)
            if secret is None:
                if mount.required:
                    raise SecretError(
                        f"{step.excerpt}: secret {mount.id!r} is required"
                        f" (give it with --secret id={mount.id},src=PATH)",
                        step.location.path,
                        step.location.line,
                    )
                continue
            if directory is None:
                directory = self.scratch("shlax-front-secret-")
            volumes.append(f"{write_secret_file(secret, mount, directory, n)}:{mount.target}:ro")
            targets.append(mount.target)
        return volumes, targets, directory

    def _mount_arg(self, mount: RunMount, stage_images: Mapping[int, str]) -> str:
        """A RUN --mount as written, with ``from=<stage index>`` turned into that stage's image id (the
        planner names stages by index); a cache mount kept on the host is bound from the tool's cache root
        instead (``cachemounts``)."""
        if is_host_cache(mount):
            return self.cache_mounts.prepare(mount)
        named = self.options.build_contexts if self.options is not None else {}
        if mount.type == "bind" and mount.get("from") in named:
            return bind_from_named(mount, named[mount.get("from") or ""])
        parts = [f"type={mount.type}"]
        local_bind = mount.type == "bind" and not mount.get("from")
        image = next((i for n, i in stage_images.items() if str(n) == mount.get("from")), mount.get("from"))
        if mount.type == "bind" and image:
            single_file = self._file_in_image(image, mount)
            if single_file is not None:
                return single_file
        for k, v in mount.options:
            if local_bind and k in ("source", "src"):
                v = self._in_context(v)
            elif mount.type == "bind" and image and k in ("source", "src"):
                v = self._in_image(image, v)
            if k == "from":
                v = image or v
            parts.append(f"{k}={v}" if v != "" else k)
        if mount.type == "bind" and not (mount.get("source") or mount.get("src")):
            # BuildKit's and bud's default: the whole context (or the from= image's root); buildah run
            # itself refuses a bind without one ("must set volume source")
            parts.append(f"source={self.context_root if local_bind else '/'}")
        return ",".join(parts)

    def _in_image(self, image: str, source: str) -> str:
        """A ``from=`` bind source with the image's symlinks resolved inside the image, as BuildKit does:
        buildah joins it to the image's mount point and lets the host follow the links, so a link to
        ``/etc`` in the image mounted the host's ``/etc``."""
        if self.source_rootfs is None:
            return source
        root = self.source_rootfs(image)
        rel = os.path.relpath(inside(root, source), root)
        return "/" if rel == "." else "/" + rel

    def _file_in_image(self, image: str, mount: RunMount) -> str | None:
        """A ``from=`` bind of a single file, given to buildah as a host path in the image's mounted root.

        buildah 1.39 refuses ``run --mount type=bind,from=IMAGE,source=FILE`` ("sanitizing bind subdirectory
        ... opening non-directory ... read-only file system") where bud, binding from a stage, succeeds; a host
        path works on every version. Writes must not reach that root (later ``COPY --from`` read it), so a
        ``rw`` mount gets a private copy, thrown away with the step as BuildKit discards them.
        """
        if self.source_rootfs is None:
            return None
        root = self.source_rootfs(image)
        host = inside(root, mount.get("source") or mount.get("src") or "/")
        if os.path.isdir(host) or not os.path.lexists(host):
            return None
        writable = any(
            (k in ("rw", "readwrite") and v in ("", "true")) or (k in ("ro", "readonly") and v == "false")
            for k, v in mount.options
        )
        if writable:
            copy = os.path.join(self.scratch("shlax-front-bind-"), os.path.basename(host) or "file")
            shutil.copy2(host, copy)
            host = copy
        parts = ["type=bind", f"source={host}"]
        for k, v in mount.options:
            if k not in ("type", "from", "source", "src", "rw", "readwrite", "ro", "readonly"):
                parts.append(f"{k}={v}" if v != "" else k)
        parts.append("rw" if writable else "ro")
        return ",".join(parts)

    def _in_context(self, source: str) -> str:
        """The host path buildah gets for a bind ``source``: symlinks resolved here, refused when they lead out
        of the context (the key already refused it; this is what is really mounted, checked as it is used)."""
        root = os.path.realpath(self.context_root)
        real = os.path.realpath(os.path.join(root, source.lstrip("/")))
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise OutsideContext(f"{source}: outside the build context (it leads to {real})")
        return real

    def _partition(self, image: str | None, rootfs: str, container_info: Callable[[], dict[str, Any]]) -> str:
        """The host cache partition of a RUN's packages: distribution release and architecture. The architecture
        is read from the RUN's container (``container_info``), made from ``image``: the same as the image's, and
        the inspect is one the run makes anyway."""
        key = image or "scratch"
        if key not in self._partitions:
            info = container_info() if image else None
            arch = (info or {}).get("OCIv1", {}).get("architecture") or "amd64"
            self._partitions[key] = partition_name(read_os_release(rootfs), arch)
        return self._partitions[key]


def make_workdir(rootfs: str, workdir: str, user: str) -> None:
    """The WORKDIR's missing directories, made before a RUN as bud makes them (imagebuilder's ``Run`` calls
    ``EnsureContainerPathAs(WorkingDir, USER)``): mode 0755, owned as ``COPY --chown=USER`` would be
    (``users.copy_owner``: ``USER 1000`` alone is 1000:1000). ``buildah run`` made them itself, owned by the
    user it runs as (1000:0 when the image has no such user)."""
    if not workdir or workdir == "/":
        return
    missing = []
    current = "/"
    for part in [p for p in workdir.split("/") if p]:
        current = posixpath.join(current, part)
        if not os.path.lexists(inside(rootfs, current)):
            missing.append(current)
    if not missing:
        return
    uid, gid = copy_owner(rootfs, user)
    for directory in missing:
        host = inside(rootfs, directory)
        os.mkdir(host, 0o755)
        os.chmod(host, 0o755)
        os.lchown(host, uid, gid)


def _container_config(info: dict[str, Any]) -> dict[str, Any]:
    """The OCI config (Env, User, WorkingDir...) of a container's ``buildah inspect`` (``info``)."""
    return (info.get("OCIv1") or {}).get("config") or {}


def _container_path(info: dict[str, Any]) -> str | None:
    """The PATH of a container's environment, from its ``buildah inspect`` (``info``)."""
    entries: list[str] = _container_config(info).get("Env") or []
    for entry in entries:
        if entry.startswith("PATH="):
            return entry[len("PATH=") :]
    return None
