"""``--build-context NAME=DIR``: another directory a Containerfile reads by name, as BuildKit and bud do.

``COPY --from=NAME src dst`` copies from DIR as from the build context (its own ignore file, sources kept
inside it), and ``RUN --mount=type=bind,from=NAME,source=src`` binds DIR/src. Without the flag the planner
reads NAME as an image; with it, the executor asks here first. The cache key of such a step hashes what it
reads from DIR, as it would from the context.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from shlax_front.backend.buildah import Buildah
from shlax_front.backend.context import BuildContext, ContextError, OutsideContext
from shlax_front.backend.copy_step import CopyExecutor, is_url
from shlax_front.backend.steps import CopyStep, RunMount, Step
from shlax_front.errors import BuildError, RefusedError


class NamedContexts:
    """The named contexts of one build, and the COPY executor that reads from them or from elsewhere."""

    def __init__(
        self,
        directories: Mapping[str, str],
        copies: CopyExecutor,
        buildah: Buildah,
        scratch: Callable[[str], str],
        source_rootfs: Callable[[str], str],
    ):
        self.copies = copies
        self.contexts = {name: BuildContext(os.path.abspath(d)) for name, d in directories.items()}
        self.copiers = {
            name: CopyExecutor(buildah, context, scratch, source_rootfs)
            for name, context in self.contexts.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self.contexts

    def copy(self, step: CopyStep, *args: Any, **kwargs: Any) -> Any:
        """``CopyExecutor.copy``, from a named context when ``step`` reads one (``--from=NAME``)."""
        if step.from_image in self.contexts:
            return self.copiers[step.from_image].copy(replace(step, from_image=None), *args, **kwargs)
        return self.copies.copy(step, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # everything else is the ordinary COPY executor's
        return getattr(self.copies, name)

    def copy_digest(self, step: CopyStep) -> str:
        """Key of what ``COPY --from=NAME`` copies from the named directory."""
        assert step.from_image is not None
        local = tuple(s for s in step.sources if not is_url(s))
        return _located(step, lambda: self.contexts[step.from_image or ""].digest(local, step.exclude))

    def mount_digest(self, name: str) -> str:
        """Key of what a ``RUN --mount=from=NAME`` can see: the whole named directory."""
        return "named:" + self.contexts[name].mounted_digest((".",))


def _located(step: Step, digest: Callable[[], str]) -> str:
    try:
        return digest()
    except OutsideContext as err:
        raise RefusedError(str(err), step.location.path, step.location.line) from None
    except (ContextError, OSError) as err:
        raise BuildError(str(err), step.location.path, step.location.line) from None


def bind_from_named(mount: RunMount, directory: str) -> str:
    """``RUN --mount=type=bind,from=NAME,...`` as ``buildah run --mount``: the source inside the named
    directory (symlinks resolved, refused when they lead out of it), ``from`` dropped."""
    root = os.path.realpath(directory)
    source = mount.get("source") or mount.get("src") or "."
    real = os.path.realpath(os.path.join(root, source.lstrip("/")))
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise OutsideContext(f"{source}: outside the build context {mount.get('from')} (it leads to {real})")
    parts = ["type=bind", f"source={real}"]
    for key, value in mount.options:
        if key not in ("type", "from", "source", "src"):
            parts.append(f"{key}={value}" if value != "" else key)
    return ",".join(parts)
