"""The action passes' decisions, looked up per RUN instruction: the only bridge from rewrites to the build.

``run_passes(lower(doc))`` decides, for each RUN that installs packages, which caches to mount, which
run-only settings to pass and the cache-friendly script (issue 3's ``Caching``). The executor applies that
description and nothing else: no rewrite logic lives in the backend. A lowering failure means no caching
for the whole file (the build still runs every RUN exactly as written).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from shlax_front.syntax import Document


def actions_by_node(doc: Document, build_args: Mapping[str, str] | None = None) -> dict[int, object]:
    """node index -> the RUN-derived action that carries a ``caching`` decision."""
    try:
        from shlax_front import actions as A
        from shlax_front.lower import lower
        from shlax_front.passes import run_passes
    except ImportError:
        return {}
    try:
        stages = run_passes(lower(doc, build_args))
    except Exception as err:  # noqa: BLE001 - never guess: run as written, say why
        print(f"shlax-front: package caches off for {doc.path}: {err}", file=sys.stderr)
        return {}
    out: dict[int, object] = {}
    for stage in stages:
        for action in stage.actions:
            if isinstance(action, A.RunLike) and action.caching is not None and action.node >= 0:
                out[action.node] = action
    return out


def caching_lookup(doc: Document, build_args: Mapping[str, str] | None = None):
    """A ``caching_for(run_instruction)`` function for the planner."""
    by_node = actions_by_node(doc, build_args)
    index = {id(node): n for n, node in enumerate(doc.nodes)}

    def caching_for(instruction) -> object | None:
        n = index.get(id(instruction.node))
        return by_node.get(n) if n is not None else None

    return caching_for
