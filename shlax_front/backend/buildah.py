"""A thin typed layer over the ``buildah`` CLI (1.28 is the floor): one method per verb the executor uses.

Nothing here knows about Containerfiles or caches; it only spells buildah's command lines, so the executor
reads as build semantics and a fake runner in unit tests can assert the exact argv.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shlax_front.backend.imagecache import IMAGE_LISTING, image_names
from shlax_front.backend.pullauth import authfile_for
from shlax_front.backend.runner import CommandFailed, LineCallback, Result, SubprocessRunner

#: how often ``image_ids`` asks again when a concurrent removal made ``buildah images`` fail
LISTING_ATTEMPTS = 8


@dataclass
class Buildah:
    runner: SubprocessRunner
    isolation: str | None = None
    binary: str = "buildah"
    #: ``buildah from`` options every working container gets, bud's run settings: ``--add-host``,
    #: ``--ulimit``, ``--shm-size``, ``--volume`` (they apply to every RUN, as in bud)
    container_options: tuple[str, ...] = ()
    #: ``--tls-verify`` for pulling FROM images; ``--authfile``/``--creds`` (``pullauth``: never in argv)
    registry_options: tuple[str, ...] = ()
    authfile: str | None = None
    creds: str | None = field(default=None, repr=False)
    #: ``--timestamp``: the created time of every image committed (bud's deterministic builds)
    timestamp: int | None = None
    _pulled: dict[str, Result | None] = field(default_factory=dict)

    def _run(
        self, *args: str, check: bool = True, cwd: str | None = None, input: str | None = None
    ) -> Result:
        return self.runner.run([self.binary, *args], check=check, cwd=cwd, input=input)

    # -- containers -------------------------------------------------------------------------------------
    def from_(self, image: str, name: str, pull: str = "missing") -> str:
        """Create a working container named ``name`` from ``image`` (an id, a reference or ``scratch``)."""
        args = ["from", "--quiet", "--name", name, *self.container_options]
        if image != "scratch":
            args.append(f"--pull={pull}")
        return self._run(*args, image).stdout.strip().splitlines()[-1]

    def run(
        self,
        container: str,
        argv: Sequence[str],
        *,
        env: Iterable[tuple[str, str]] = (),
        volumes: Iterable[str] = (),
        mounts: Iterable[str] = (),
        user: str | None = None,
        workdir: str | None = None,
        network: str | None = None,
        check: bool = False,
        on_output: LineCallback | None = None,
    ) -> Result:
        """``buildah run``; ``on_output`` receives each line the command prints as it prints it (stdout and
        stderr merged, as bud shows them)."""
        args = ["run"]
        if self.isolation:
            args += ["--isolation", self.isolation]
        for key, value in env:
            args += ["--env", f"{key}={value}"]
        for volume in volumes:
            args += ["-v", volume]
        for mount in mounts:
            args += ["--mount", mount]
        if user:
            args += ["--user", user]
        if workdir:
            args += ["--workingdir", workdir]
        if network == "none" and self.cuts_network_itself:  # chroot refuses --network: cut it ourselves
            wrapper = [sys.executable, "-m", "shlax_front.backend.netns", "--", self.binary]
            argv = [*wrapper, *args, container, "--", *argv]
            return self.runner.run(argv, check=check, on_output=on_output)
        if network:
            args += ["--network", network]
        return self.runner.run([self.binary, *args, container, "--", *argv], check=check, on_output=on_output)

    @property
    def cuts_network_itself(self) -> bool:
        """True when ``--network none`` needs our help: under chroot isolation buildah 1.28 refuses it
        when ``--isolation chroot`` is given and, from ``$BUILDAH_ISOLATION``, only hides resolv.conf (the
        host network stays reachable). As root: a network namespace needs privileges."""
        return self.isolation in (None, "chroot") and os.geteuid() == 0

    def copy(
        self,
        container: str,
        sources: Sequence[str],
        dest: str,
        *,
        add: bool = False,
        from_: str | None = None,
        chown: str | None = None,
        chmod: str | None = None,
        contextdir: str | None = None,
        ignorefile: str | None = None,
        cwd: str | None = None,
    ) -> Result:
        args = ["add" if add else "copy"]  # not --quiet: it prints the content digest bud's history names
        if from_:
            args += ["--from", from_]
        if chown:
            args += ["--chown", chown]
        if chmod:
            args += ["--chmod", chmod]
        if contextdir:
            args += ["--contextdir", contextdir]
        if ignorefile:
            args += ["--ignorefile", ignorefile]
        return self._run(*args, container, *sources, dest, cwd=cwd)

    def config(self, container: str, options: Sequence[str]) -> None:
        if options:
            self._run("config", *options, container)

    def commit(
        self,
        container: str,
        fmt: str = "docker",
        created_by: str | None = None,
        remove: bool = False,
        name: str | None = None,
        config: Sequence[str] | None = None,
    ) -> str:
        """Commit ``container`` to a new image; returns the image id. ``created_by`` is the history's line for the
        layer (the comment stays buildah's own ``FROM <parent>``, as bud's); ``remove``: the container goes with
        the commit (``--rm``: no ``buildah rm`` call after it); ``name``: the image's name, as bud names its last
        commit (fully qualified: commit resolves a short name against the images in storage, ``tag`` does not);
        ``config``: ``buildah config`` options set in the same call as the history line."""
        args = ["commit", "--quiet", "--format", fmt, *(["--rm"] if remove else [])]
        if self.timestamp is not None:
            args += ["--timestamp", str(self.timestamp)]
        options = [*(config or []), *(["--created-by", created_by] if created_by else [])]
        if options:
            self._run("config", *options, container)
        return self._run(*args, container, *([name] if name else [])).stdout.strip().splitlines()[-1]

    def mount(self, container: str) -> str:
        return self._run("mount", container).stdout.strip()

    def umount(self, container: str) -> None:
        self._run("umount", container, check=False)

    def rm(self, container: str) -> None:
        self._run("rm", container, check=False)

    # -- images -----------------------------------------------------------------------------------------
    def tag(self, image: str, names: Sequence[str]) -> None:
        if names:
            self._run("tag", image, *names)

    def pull_dir(self, path: str) -> str:
        """Store the ``dir:`` image at ``path`` (``emptylayers``: layers already in the store are reused, never
        read); returns its id. The image gets no name."""
        return self._run("pull", "--quiet", f"dir:{path}").stdout.strip().splitlines()[-1]

    def rmi(self, images: Sequence[str], force: bool = False) -> Result:
        return self._run("rmi", *(["-f"] if force else []), *images, check=False)

    def inspect_image(self, ref: str) -> dict | None:
        """Full ``buildah inspect`` of an image, or None when it is not in local storage."""
        result = self._run("inspect", "--type", "image", ref, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)

    def inspect_container(self, name: str) -> dict | None:
        result = self._run("inspect", "--type", "container", name, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)

    def container_names(self) -> list[str]:
        """The names of every working container in storage, whoever made them."""
        result = self._run("containers", "--json", check=False)
        if result.returncode != 0:
            return []
        listed = json.loads(result.stdout or "[]") or []  # an empty store lists as "null"
        return [c.get("containername") or "" for c in listed]

    def image_ids(self) -> set[str]:
        """Every image id in local storage."""
        return set(self.image_names())

    def image_names(self) -> dict[str, set[str]]:
        """Every image id in local storage -> its names (``registry/repo:tag``), in one call per build: cached
        steps need no shell-out each, and a name the image already has needs no ``tag``.

        ``buildah images`` fails as a whole ("locating image ...: image not known") when another process
        removes an image while it lists them; an empty answer would make every cached layer look removed
        (a full rebuild), so it is asked again a few times.
        """
        for attempt in range(LISTING_ATTEMPTS):
            result = self._run(*IMAGE_LISTING, check=False)
            if result.returncode == 0:
                break
            time.sleep(0.1 * (attempt + 1))
        return image_names(result.stdout)

    def pull(self, ref: str, policy: str = "missing") -> None:
        """``buildah pull`` of a FROM image (``policy``: missing, always, never), with the registry options;
        an image pulled with ``always`` is not pulled again in the same build (planner, then executor): a
        failure is not waited for twice either (buildah retries a registry it cannot reach for seconds)."""
        if policy == "always" and ref in self._pulled:
            failed = self._pulled[ref]
            if failed is not None:
                raise CommandFailed(failed)
            return
        with authfile_for(ref, self.authfile, self.creds) as authfile:
            login = ["--authfile", authfile] if authfile else []
            result = self._run(
                "pull", "--quiet", f"--policy={policy}", *self.registry_options, *login, ref, check=False
            )
        if policy == "always":
            self._pulled[ref] = result if result.returncode != 0 else None
        if result.returncode != 0:
            raise CommandFailed(result)


def normalized_name(name: str) -> str | None:
    """The name ``buildah tag`` gives an image for ``name`` (``app`` is ``localhost/app:latest``, ``docker.io/x``
    is ``docker.io/library/x:latest``), or None when it is not sure (a digest, an odd spelling)."""
    if "@" in name or not name or name != name.strip() or name.lower() != name:
        return None
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        first, rest = "localhost", name
    if first == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    if ":" not in rest.rsplit("/", 1)[-1]:
        rest += ":latest"
    return f"{first}/{rest}"


def default_isolation() -> str | None:
    return os.environ.get("BUILDAH_ISOLATION") or None
