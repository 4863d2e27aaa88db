"""Per-step cache keys: a sha256 chain over the parent key and the step's own inputs.

A step's inputs are named (``instruction``, ``env``, ``context``, ``from``, ``files``) so that on a miss
``--explain`` can say *which* one differs from the last build at the same place in the file. What only
serves caching (host cache mounts, CA bundle, proxy variables, cache settings) is never an input: it must
not turn a hit into a miss, and it never reaches the image.
"""

from __future__ import annotations

import hashlib
import json

#: bump when the executor's semantics change in a way that makes old layers wrong
#: v5: context keys follow symlinks like buildah, read ignore lines as Go regexps, cover xattrs and hard links
#: v6: build arg values keyed (and stored in the index) by their digest
KEY_VERSION = "shlax-front-layer-v6"


def value_digest(value: str) -> str:
    """What the index keeps of a build arg's value: enough to tell two values apart, not the value (a token
    passed with ``--build-arg`` must not sit in plain text under the cache directory)."""
    return "sha256:" + hashlib.sha256(value.encode(errors="surrogateescape")).hexdigest()


#: slot fields kept as they are: digests already (parent, context, env values) or names ``--explain`` shows (the
#: env's names, the context's file names)
_SHOWN_IN_SLOTS = frozenset({"parent", "env", "context", "context_files"})


def slot_view(inputs: dict) -> dict:
    """What the index keeps of a step's inputs for ``--explain``. A COPY's text, an ENV's or LABEL's options and
    a WORKDIR's path are expanded, so they can hold a build arg's value: they are kept as digests, since the
    explanation only says *that* they changed. Idempotent, so slots written before are read alike."""
    return {
        name: value if name in _SHOWN_IN_SLOTS or _is_digest(value) else _json_digest(value)
        for name, value in inputs.items()
    }


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and value.startswith("sha256:") and len(value) == 71


def _json_digest(value: object) -> str:
    return value_digest(json.dumps(value, sort_keys=True))


def step_key(parent: str, inputs: dict) -> str:
    payload = json.dumps(
        {"v": KEY_VERSION, "parent": parent, **inputs}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def root_key(base: str, fmt: str, timestamp: int | None = None) -> str:
    """Key of a stage's starting point: the base image id (or an earlier stage's key), the image format,
    the installed bud's rules (a layer made to another bud version's image is not reused) and the
    ``--timestamp`` every image gets, when one is given."""
    from shlax_front.backend.budversion import installed  # the planner's modules: not for a key chain alone

    extra = {} if timestamp is None else {"timestamp": timestamp}
    return step_key("", {"base": base, "format": fmt, "bud": installed().key, **extra})


def explain_miss(previous: dict | None, current: dict) -> str:
    """One phrase saying why a step missed, comparing with the inputs last seen at the same place."""
    if previous is None:
        return "not built before"
    previous, current = slot_view(previous), slot_view(current)
    if previous.get("parent") != current.get("parent"):
        return "an earlier step changed"
    names = sorted((set(previous) | set(current)) - {"context_files"})
    changed = [name for name in names if previous.get(name) != current.get(name)]
    if not changed:
        return "cached layer was removed"
    parts = []
    for name in changed:
        if name == "env":
            before, after = dict(previous.get("env") or []), dict(current.get("env") or [])
            diff = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            parts.append(f"build args/env changed: {', '.join(diff)}")
        elif name == "context":
            parts.append("context files changed" + _files_changed(previous, current))
        elif name == "instruction":
            parts.append("instruction text changed")
        elif name == "from_files":
            parts.append("the files copied from the stage changed")
        else:
            parts.append(f"{name} changed")
    return "; ".join(parts)


def _files_changed(previous: dict, current: dict) -> str:
    before, after = previous.get("context_files"), current.get("context_files")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ""
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if not changed:
        return ""
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f": {shown}"
