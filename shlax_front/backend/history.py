"""What an image's history says made each layer, worded as ``buildah bud`` (1.28) words it.

``podman history`` and ``buildah inspect`` show a layer's ``created_by``: for bud it is the instruction as written
(``/bin/sh -c apt-get install ...``, ``/bin/sh -c #(nop) COPY file:<digest> in /app ``), whatever the build did to
run it (our cache mounts and rewritten scripts never show); checked against bud 1.28 and 1.39. The history
``comment`` is left to buildah: 1.28 names the image the layer started from (``FROM 0123456789ab``) as its bud
does, 1.39 leaves it empty as its bud does, except the first layer's, which names the base image on both (bud
starts that layer from its own commit of the ENV/ARG before it). The layer's cache key lives in the host's
layer index (``store.LayerIndex``), not in the image.

The planner computes the text from the instruction (``created_by``); a COPY/ADD's content summary is only known
once buildah copied it (the digest ``buildah copy`` prints), so that text holds ``CONTENT`` until ``with_content``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the front end by ``created_by``, the context by ``with_content``
    from shlax_front.backend.context import BuildContext
    from shlax_front.scope import Step as Walked

#: where a COPY/ADD's ``<type>:<digest>`` goes once buildah printed it
CONTENT = "\x00content\x00"


def created_by(walked: Walked) -> str:
    """bud's ``created_by`` for one walked instruction (RUN with the build args it saw, COPY/ADD with a
    ``CONTENT`` place for its digest, anything else ``#(nop)`` and the line as written)."""
    from shlax_front import instructions as ins

    i = walked.instruction
    line = ins.node_text(i.node)
    keyword, _, rest = line.partition(" ")
    if isinstance(i, ins.Run):
        args = _run_args(walked)
        prefix = f"|{len(args.split(' '))} {args} " if args else ""
        return f"{prefix}/bin/sh -c {rest}"
    if isinstance(i, ins.Arg):  # the names of the stage's ARGs that have a value now, not the line written
        return "/bin/sh -c #(nop) ARG " + " ".join(sorted(name for name, _ in _valued(walked.after.args)))
    if isinstance(i, ins.Copy):  # ADD is a Copy too
        return f"/bin/sh -c #(nop) {keyword.upper()} {CONTENT} in {i.dest} "
    return f"/bin/sh -c #(nop) {line}"


def _run_args(walked: Walked) -> str:
    """The build args a RUN saw, as bud lists them in front of its history line: ``NAME=value`` sorted, the
    image's ENV value where an ENV of that name exists."""
    env = dict(walked.scope.env)
    pairs = [f"{name}={env.get(name, value)}" for name, value in _valued(walked.scope.args)]
    return " ".join(sorted(pairs))


def _valued(args: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """The ARGs that have a value (bud's ``Builder.Args`` among its ``AllowedArgs``)."""
    return [(name, value) for name, value in args if value is not None]


def with_content(
    history: str,
    digest: str | None,
    sources: Sequence[str],
    context: BuildContext | None = None,
    exclude: Sequence[str] = (),
) -> str:
    """A COPY/ADD's history with buildah's content summary in place: ``multi:`` when it copied several items,
    ``dir:`` for one directory, ``file:`` otherwise (bud's ``ContentDigester`` kinds). bud counts what each
    source matched in the build ``context`` less what the ignore file and ``exclude`` leave out (``bin/*``
    copying two files is ``multi``, ``d*`` matching one directory ``dir``); without a context (a copy from a
    stage or an image) the sources as written are counted. Without a digest (a copy done without ``buildah
    copy``) the sources as written stand in."""
    if CONTENT not in history:
        return history
    if not digest:
        return history.replace(CONTENT, " ".join(sources), 1)
    if len(sources) == 1 and "://" in sources[0]:  # a URL: bud's digester gives it no content type
        return history.replace(CONTENT, digest, 1)
    items = _copied_items(sources, context, exclude)
    if len(items) > 1:
        kind = "multi"
    elif context is not None and items and os.path.isdir(os.path.join(context.root, items[0])):
        kind = "dir"
    else:
        kind = "file"
    return history.replace(CONTENT, f"{kind}:{digest}", 1)


def _copied_items(sources: Sequence[str], context: BuildContext | None, exclude: Sequence[str]) -> list[str]:
    """What the sources matched in ``context`` (context-relative), or the sources themselves when that is not
    known: no context, a URL, a source the context cannot expand (the copy reported it)."""
    if context is None or any("://" in source for source in sources):
        return list(sources)
    from shlax_front.backend.context import ContextError

    try:
        return [
            item
            for source in sources
            for item in context.expand(source, context.rules_for(source, tuple(exclude)))
        ]
    except ContextError:
        return list(sources)


def printed_digest(stdout: str) -> str | None:
    """The content digest ``buildah copy``/``add`` prints (without ``--quiet``): its last line of 64 hex digits."""
    lines = stdout.strip().splitlines()
    last = lines[-1].strip() if lines else ""
    if len(last) == 64 and all(c in "0123456789abcdef" for c in last):
        return last
    return None
