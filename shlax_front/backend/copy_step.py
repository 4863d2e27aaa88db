"""COPY and ADD into a working container, as ``buildah bud`` does them.

From the context: ``buildah copy`` with the context's ignore file (one call per source when ``--exclude``
patterns need an ignore file of their own), then ``ADD --checksum`` verified where the file landed and the
setuid/setgid bits bud strips cleared. From a stage or an image without ``--chown``: copied between the
mounted roots (``rootfs.copy_from_root``), because only that keeps the files' owners as bud does. Heredoc
files (``COPY <<EOF``) are written on the host first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext, ContextError, IgnoreRules
from shlax_front.backend.copyopts import checksum_problem, downloaded_path, exclusion_lines
from shlax_front.backend.history import printed_digest
from shlax_front.backend.rootfs import MissingSource, copy_from_root, inside
from shlax_front.backend.runner import CommandFailed
from shlax_front.backend.setid import clear_setid, setid_destinations
from shlax_front.backend.steps import CopyStep
from shlax_front.errors import BuildError


class CopyExecutor:
    """Runs COPY/ADD steps of one build; ``scratch(prefix)`` makes a temporary directory the build removes
    at its end, ``source_rootfs(image)`` the mounted root of an image copied from."""

    def __init__(
        self,
        buildah: Buildah,
        context: BuildContext,
        scratch: Callable[[str], str],
        source_rootfs: Callable[[str], str],
        plain_copies: bool = False,
        direct: bool = False,
    ):
        self.buildah = buildah
        self.context = context
        self.scratch = scratch
        self.source_rootfs = source_rootfs
        #: plain context files are copied without ``--contextdir`` (``plain_copies_allowed``)
        self.plain_copies = plain_copies
        #: with ``plain_copies``, one plain file is written into the mounted container by this process
        #: (``directcopy``: ``buildah mount`` instead of ``buildah copy``)
        self.direct = direct

    def copy(
        self, step: CopyStep, container: str, rootfs: Callable[[], str], stage_images: Mapping[int, str]
    ) -> str | None:
        """Copy into ``container``; ``rootfs()`` mounts it when the copy needs its files, ``stage_images``
        are the images of the stages built so far, by index. Returns the content digest buildah printed (for
        the image history), None when the copy was not one ``buildah copy``."""
        digest = None
        try:
            if step.heredocs:
                scratch = self.scratch("shlax-front-heredoc-")
                files = []
                for name, content in step.heredocs:
                    host = os.path.join(scratch, os.path.basename(name))
                    with open(host, "w") as f:
                        f.write(content)
                    os.chmod(host, 0o644)
                    files.append(host)
                done = self.buildah.copy(container, files, step.dest, chown=step.chown, chmod=step.chmod)
                digest = printed_digest(done.stdout)
            elif (step.from_stage is not None or step.from_image) and not step.chown and not step.add:
                source = stage_images[step.from_stage] if step.from_stage is not None else step.from_image
                assert source is not None
                self._copy_preserving_owners(rootfs, self.source_rootfs(source), step)
            elif step.from_stage is not None or step.from_image:
                source = stage_images[step.from_stage] if step.from_stage is not None else step.from_image
                done = self.buildah.copy(
                    container,
                    list(step.sources),
                    step.dest,
                    add=step.add,
                    from_=source,
                    chown=step.chown,
                    chmod=step.chmod,
                )
                digest = printed_digest(done.stdout)
            else:
                if self.direct:
                    digest = self._direct_copy(step, rootfs)
                    if digest is not None:
                        return digest
                local = tuple(s for s in step.sources if not is_url(s))
                setid = [] if step.chmod else self._setid_destinations(rootfs, step, local)
                for sources, dest, ignorefile in self._copy_batches(step):
                    paths = [
                        s if is_url(s) else os.path.join(self.context.root, s.lstrip("/")) for s in sources
                    ]
                    confined = (
                        not self.plain_copies
                        or step.add
                        or ignorefile is not None
                        or not plain_files(self.context.root, paths)
                    )
                    done = self.buildah.copy(
                        container,
                        paths,
                        dest,
                        add=step.add,
                        chown=step.chown,
                        chmod=step.chmod,
                        contextdir=self.context.root if confined else None,
                        ignorefile=ignorefile,
                        cwd=self.context.root,
                    )
                    digest = printed_digest(done.stdout)
                if step.checksum:
                    self._verify_checksum(step, rootfs)
                clear_setid(lambda path: inside(rootfs(), path), setid)
        except CommandFailed as err:
            from shlax_front.backend.run_output import tail  # its patterns compiled only for a failure

            raise BuildError(
                f"{step.excerpt}: failed", step.location.path, step.location.line, tail(err.result.output)
            ) from None
        return digest

    def _direct_copy(self, step: CopyStep, rootfs: Callable[[], str]) -> str | None:
        """One plain file or directory written into the mounted container by this process (``directcopy``): the digest
        ``buildah copy`` would print; None when its rules do not cover the step (``buildah copy`` then)."""
        from shlax_front.backend import directcopy

        if (
            not self.plain_copies
            or step.add
            or step.chown
            or step.chmod
            or step.checksum
            or step.exclude
            or len(step.sources) != 1
            or is_url(step.sources[0])
            or any(c in step.sources[0] for c in "*?[\\")
        ):
            return None
        source = os.path.join(self.context.root, step.sources[0].lstrip("/"))
        if not plain_files(self.context.root, [source]) and not plain_directory(self.context.root, source):
            return None
        entries = directcopy.eligible(source, step.dest, os.environ)
        if entries is None or not self._nothing_ignored(source, [entry.name for entry in entries]):
            return None
        target = directcopy.destination(rootfs(), step.dest, entries)
        if target is None:
            return None
        return directcopy.copy(entries, target)

    def _nothing_ignored(self, source: str, below: list[str]) -> bool:
        """Whether the context's ignore file (if any) surely excludes nothing of ``source``: every pattern read
        (none unsure, none malformed) and none matching the source or a path below it (``below``: the entries'
        names, for a directory), so ``buildah copy --ignorefile`` sends everything, as without one."""
        if self.context.ignore_file is None:
            return True
        rules = self.context.ignore
        if rules.problem or any(rule.regex is None for rule in rules.rules):
            return False
        top = os.path.relpath(source, self.context.root).replace(os.sep, "/")
        paths = [top, *(f"{top}/{name}" for name in below)] if os.path.isdir(source) else [top]
        return not any(rule.regex is not None and rule.regex.search(p) for rule in rules.rules for p in paths)

    def _copy_batches(self, step: CopyStep) -> Iterator[tuple[tuple[str, ...], str, str | None]]:
        """(sources, dest, ignore file) per ``buildah copy`` call: one call, unless ``--exclude`` patterns
        (relative to each source's directory, see copyopts) need an ignore file of their own per source."""
        if not step.exclude:
            yield step.sources, step.dest, self.context.ignore_file
            return
        scratch = self.scratch("shlax-front-exclude-")
        own = ""
        if self.context.ignore_file:
            with open(self.context.ignore_file, encoding="utf-8", errors="replace") as f:
                own = f.read()
        into_dir = len(step.sources) > 1 and not step.dest.endswith("/")
        for n, source in enumerate(step.sources):
            if is_url(source):
                yield (source,), step.dest + ("/" if into_dir else ""), self.context.ignore_file
                continue
            path = os.path.join(scratch, f"ignore{n}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(
                    own + "\n" + "\n".join(exclusion_lines(self.context.root, source, step.exclude)) + "\n"
                )
            yield (source,), step.dest + ("/" if into_dir else ""), path

    def _verify_checksum(self, step: CopyStep, rootfs: Callable[[], str]) -> None:
        """ADD --checksum: the downloaded file, where it landed, must have the digest (else no commit)."""
        assert step.checksum is not None
        landed = downloaded_path(inside(rootfs(), step.dest), step.sources[0])
        problem = checksum_problem(landed, step.checksum)
        if problem:
            raise BuildError(f"ADD {step.sources[0]}: {problem}", step.location.path, step.location.line)

    def _setid_destinations(
        self, rootfs: Callable[[], str], step: CopyStep, local: tuple[str, ...]
    ) -> list[tuple[str, int]]:
        """Where the context's setuid/setgid entries land (bud strips those bits, ``buildah copy`` does not)."""
        try:
            return setid_destinations(
                self.context,
                local,
                step.dest,
                lambda: os.path.isdir(inside(rootfs(), step.dest)),
                step.add,
            )
        except (ContextError, OSError):
            return []  # buildah copy reports the missing source itself

    def _copy_preserving_owners(self, rootfs: Callable[[], str], source_root: str, step: CopyStep) -> None:
        """``COPY --from`` without ``--chown``: buildah bud keeps the files' owners, ``buildah copy`` cannot.

        What bud does there (symlinks followed at the top, the destination directory's own mode kept, ...)
        is in ``rootfs.copy_from_root``.
        """
        try:
            copy_from_root(
                source_root,
                rootfs(),
                step.sources,
                step.dest,
                step.chmod,
                IgnoreRules.parse("\n".join(step.exclude)).ignored if step.exclude else None,
            )
        except MissingSource as err:
            raise BuildError(
                f"{step.excerpt}: {err}: no such file or directory in the source image",
                step.location.path,
                step.location.line,
            ) from None
        except ContextError as err:  # a malformed --exclude pattern, refused as buildah and BuildKit do
            raise BuildError(f"{step.excerpt}: {err}", step.location.path, step.location.line) from None


def plain_copies_allowed() -> bool:
    """Whether the installed buildah prints the same content digest (the history's ``file:<digest>``) for a
    copy of plain files without ``--contextdir`` as bud's COPY: measured the same on 1.28, another on 1.39 (so
    bud's history would differ there). Versions between were not measured: they keep ``--contextdir``."""
    from shlax_front.backend.budversion import installed_version

    return installed_version() == (1, 28)


def plain_files(root: str, paths: list[str]) -> bool:
    """Whether each path is a regular file below ``root`` reached through real directories (``root`` included)
    that only this user or root can change. Such a COPY needs no ``--contextdir``: that option makes buildah
    1.28 chroot into the context to read the sources (two more re-executions of its copier, 60-90 ms at load
    3.5), which only matters when a source or a directory on its way is a symlink that could lead out of the
    context; the bytes, the layer and the printed digest are the same. No one else can swap a symlink in
    between this check and the copy, since no one else may write those directories."""
    try:
        for path in paths:
            rel = os.path.relpath(path, root)
            if rel == os.curdir or rel.startswith(os.pardir) or not stat.S_ISREG(os.lstat(path).st_mode):
                return False
            if not _owned_directories(root, rel.split(os.sep)[:-1]):
                return False
    except (OSError, ValueError):
        return False
    return True


def plain_directory(root: str, path: str) -> bool:
    """Whether ``path`` is a directory below ``root`` reached through real directories (``root`` and itself
    included) that only this user or root can change: ``plain_files``' rule for a directory (``directcopy``
    checks the directories below it)."""
    try:
        rel = os.path.relpath(path, root)
        if rel == os.curdir or rel.startswith(os.pardir):
            return False
        return _owned_directories(root, rel.split(os.sep))
    except (OSError, ValueError):
        return False


def _owned_directories(root: str, parts: list[str]) -> bool:
    """Whether ``root`` and each directory ``parts`` lead to below it are real directories only this user or
    root can change (``OSError`` when one is missing)."""
    me = os.geteuid()
    directory = root
    for part in ["", *parts]:
        directory = os.path.join(directory, part) if part else directory
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, me) or st.st_mode & 0o022:
            return False
    return True


def is_url(source: str) -> bool:
    """An ADD source fetched over the network rather than read from the context."""
    return source.startswith(("http://", "https://"))
