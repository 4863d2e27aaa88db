"""Property test of the layer key's context side: after any edit, the key of a COPY source (and of a
``RUN --mount=type=bind`` of the context) changes exactly when what buildah would copy (or mount) changes.

hypothesis generates a context (files with contents and modes, directories, symlinks, hard links, ``user.*``
xattrs, an ignore file of patterns with ``*``, ``?``, ``**`` and ``!`` exceptions) and a series of edits
(contents, modes, owners, mtimes, xattrs, links retargeted, files added and removed, the ignore file
rewritten). The oracle is a plain reference walk (``tests/context_oracle.py``, written apart from
``context.py`` and itself checked against real ``buildah copy``): it lists what a ``COPY <source> /dst/`` puts
in the image and what a bind mount shows (the same, ignore file not applied). A key that stays put while that
listing changes would reuse a stale layer; a key that moves while it stays put rebuilds for nothing. Bounded in
the unit run; ``SHLAX_PROPERTY_EXAMPLES`` (``make soak``) runs more.
"""

from __future__ import annotations

import os

from context_oracle import (
    EDITS,
    EXCLUDES,
    LINKS,
    PATTERNS,
    SOURCES,
    apply,
    contexts,
    generated_context,
    listing,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shlax_front.backend.context import BuildContext, ContextError

EXAMPLES = int(os.environ.get("SHLAX_PROPERTY_EXAMPLES", "60"))


def _key(root: str, source: str, mounted: bool, exclude: tuple[str, ...]) -> str | None:
    context = BuildContext(root)  # a new one each time: digests are memoised per build
    try:
        return context.mounted_digest((source,)) if mounted else context.digest((source,), exclude)
    except (ContextError, OSError):  # the build fails (a dangling bind source): no layer
        return None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spec=contexts(),
    patterns=st.lists(st.sampled_from(PATTERNS), max_size=4),
    source=st.sampled_from(SOURCES),
    mounted=st.booleans(),
    excludes=st.lists(st.sampled_from(EXCLUDES), max_size=2, unique=True),
    edits=st.lists(EDITS, min_size=1, max_size=4),
)
def test_the_context_key_changes_exactly_when_what_buildah_copies_changes(
    spec, patterns, source, mounted, excludes, edits
):
    if mounted and any(c in source for c in "*?"):
        source = "."  # a bind source is one path, never a glob
    exclude = () if mounted or source in LINKS else tuple(excludes)  # (a named link's excludes: not modelled)
    with generated_context(spec, patterns) as root:
        key, view = _key(root, source, mounted, exclude), listing(root, source, mounted, exclude)
        for edit in edits:
            apply(root, edit)
            new_key, new_view = _key(root, source, mounted, exclude), listing(root, source, mounted, exclude)
            if view is not None and new_view is not None:  # else buildah fails: no layer either way
                assert new_key is not None and key is not None, (edit, view, new_view)
                if new_view != view:
                    assert new_key != key, f"stale layer after {edit}: {view} -> {new_view}"
                else:
                    assert new_key == key, f"needless rebuild after {edit}: {view}"
            key, view = new_key, new_view
