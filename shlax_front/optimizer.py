"""``optimize``: the Containerfile with BuildKit-style cache mounts on the RUNs that install packages.

Only rewritten RUN instructions change; everything else is replayed byte for byte (``emit``). Inside a
rewritten RUN, only the characters the passes edited change: the ``--mount`` flags go right after the
keyword and each script edit is mapped back through the line continuations onto the original text, so
the user's own layout survives. Where that mapping is not exact, the RUN is re-rendered on one line.

The output is for ``docker buildx``/BuildKit and for ``buildah bud`` (1.28 included). buildah 1.28 cannot
parse heredocs: ``Result.warnings`` says so when the file has any.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shlax_front import actions as A
from shlax_front import runbody
from shlax_front.emit.containerfile import emit
from shlax_front.lower import lower
from shlax_front.parser import parse
from shlax_front.passes import apply_edits, run_passes
from shlax_front.syntax import Document, Node

SYNTAX_DIRECTIVE = "# syntax=docker/dockerfile:1\n"
#: a RUN's text starts with its keyword and a blank, where the mount flags go
_KEYWORD = re.compile(r"[ \t]*\S+[ \t]+")


@dataclass
class Result:
    """The optimised text, the instructions that changed (node index -> action), and warnings."""

    original: str
    text: str
    doc: Document
    stages: tuple[A.Stage, ...]
    changed: dict[int, A.RunLike] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return self.text != self.original

    def diff(self, path: str = "Containerfile") -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"a/{path}",
                tofile=f"b/{path}",
            )
        )


def optimize(
    text: str, path: str = "Containerfile", build_args: Mapping[str, str] | None = None, syntax: bool = False
) -> Result:
    """Optimise Containerfile ``text``; ``syntax`` adds ``# syntax=docker/dockerfile:1`` when missing."""
    return optimize_document(parse(text, path), build_args, syntax)


def optimize_document(
    doc: Document,
    build_args: Mapping[str, str] | None = None,
    syntax: bool = False,
    lower_heredocs: bool = False,
) -> Result:
    """``optimize`` for an already parsed document; ``lower_heredocs`` rewrites every ``RUN <<EOF`` script
    into a one-line RUN so that buildah before 1.33 can build the result."""
    text, path = doc.text, doc.path
    stages = run_passes(lower(doc, build_args))
    result = Result(text, text, doc, stages)
    replacements: dict[int, str] = {}
    for stage in stages:
        for action in stage.actions:
            if not isinstance(action, A.RunLike) or action.caching is None or action.node < 0:
                continue
            unresolved = [m for m in action.caching.mounts if m.user is not None and m.uid is None]
            if unresolved:
                result.skipped[action.node] = (
                    f"user {unresolved[0].user} (USER, su, gosu...) has no numeric uid here: "
                    "`shlax-front build` resolves it, optimize leaves the RUN alone"
                )
                continue
            node = doc.nodes[action.node]
            if _KEYWORD.match(doc.source_of(node)) is None:
                result.skipped[action.node] = (
                    f"a line continuation ('{doc.escape}') joins the RUN keyword to another line: "
                    "optimize leaves the RUN alone"
                )
                continue
            replacements[action.node] = render_run(doc, node, action)
            result.changed[action.node] = action
    if lower_heredocs:
        for stage in stages:
            for action in stage.actions:
                if isinstance(action, A.RunLike) and action.heredocs and action.node >= 0:
                    lowered = lower_heredoc_run(
                        doc, doc.nodes[action.node], action, action.node in replacements
                    )
                    if lowered is not None:
                        replacements[action.node] = lowered
                        result.changed.setdefault(action.node, action)
    left = [
        n.start_line
        for i, n in enumerate(doc.nodes)
        if n.heredocs and (i not in replacements or "<<" in replacements[i].split("\n", 1)[0])
    ]
    if left:
        result.warnings.append(
            f"{path}:{left[0]}: uses heredocs, which buildah before 1.33 cannot parse "
            "(`shlax-front build` lowers them itself"
            + (")" if lower_heredocs else "; `optimize --lower-heredocs` rewrites RUN ones)")
        )
    out = emit(doc, replacements)
    if syntax and replacements and "syntax" not in doc.directives:
        out = SYNTAX_DIRECTIVE + out
    result.text = out
    return result


def _single_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def lower_heredoc_run(doc: Document, node: Node, action: A.RunLike, rewritten: bool) -> str | None:
    """``RUN <<EOF`` (a sh script) as one line, ``RUN eval "$(printf '%s\\n' 'line' ...)"``: the same
    script run by the same shell, in a form every builder parses. None when it is not a plain script."""
    if action.exec_form or not isinstance(action.run, str):
        return None
    body = runbody.script_body(action.run, action.heredocs)
    if body is None or not body.strip() or action.heredocs[0].chomp:
        return None
    if rewritten and action.caching is not None:
        body = action.caching.script
        flags = [mount_flag(m) for m in action.caching.mounts]
    else:
        flags = []
    lines = body[:-1].split("\n") if body.endswith("\n") else body.split("\n")
    if any("\r" in line for line in lines):
        return None
    src = doc.source_of(node)
    m = re.match(r"[ \t]*\S+[ \t]+", src)
    if m is None:
        return None
    words = " ".join([*flags, *node.flags])
    quoted = " ".join(_single_quoted(line) for line in lines)
    return f"{src[: m.end()]}{words + ' ' if words else ''}eval \"$(printf '%s\\n' {quoted})\""


def mount_flag(mount: A.CacheMount) -> str:
    parts = ["type=cache", f"target={mount.target}"]
    if mount.sharing and mount.sharing != "shared":
        parts.append(f"sharing={mount.sharing}")
    if mount.uid is not None:
        parts.append(f"uid={mount.uid}")
    if mount.gid is not None:
        parts.append(f"gid={mount.gid}")
    return "--mount=" + ",".join(parts)


def render_run(doc: Document, node: Node, action: A.RunLike) -> str:
    """The new text of a rewritten RUN instruction (original layout kept where the edits map exactly)."""
    caching = action.caching
    assert caching is not None
    src = doc.source_of(node)
    flags = " ".join(mount_flag(m) for m in caching.mounts) + " "
    m = _KEYWORD.match(src)
    if m is None:  # optimize_document leaves such a RUN alone
        raise ValueError(f"{doc.path}:{node.start_line}: RUN without a body")
    keyword_end = m.end()
    if action.heredocs:
        mapped = _heredoc_edits(src, action, caching.edits)
    else:
        mapped = _shell_edits(src, node.value, caching.edits, doc.escape)
    if mapped is None:
        # fallback: one line, same flags as written, rewritten script
        written = " ".join(node.flags)
        return f"{src[:keyword_end]}{flags}{written + ' ' if written else ''}{caching.script}"
    if not action.heredocs:
        mapped = [_whole_line(src, edit, doc.escape) for edit in mapped]
        indent = _continuation_indent(src, doc.escape)
        if indent is not None:  # a multi-line RUN: one mount per line, the script starts on its own line
            newline = "\r\n" if "\r\n" in src else "\n"
            sep = f" {doc.escape}{newline}{indent}"
            flags = sep.join(mount_flag(m) for m in caching.mounts) + sep
            start = keyword_end + (len(src) - keyword_end - len(src[keyword_end:].lstrip(" \t")))
            mapped = [
                (a, b, r.rstrip() + sep) if a == b == start and r.endswith("; ") else (a, b, r)
                for a, b, r in mapped
            ]
    body = apply_edits(src, mapped)
    return body[:keyword_end] + flags + body[keyword_end:]


def _continuation_indent(src: str, escape: str) -> str | None:
    """The indentation of a RUN's continuation lines (None for a one-line RUN)."""
    lines = src.split("\n")
    if len(lines) < 2 or not lines[0].rstrip("\r").rstrip().endswith(escape):
        return None
    for line in lines[1:]:
        stripped = line.lstrip(" \t")
        if stripped and not stripped.startswith("#"):
            indent = line[: len(line) - len(stripped)]
            return indent if indent else "    "
    return "    "


def _heredoc_edits(src: str, action: A.RunLike, edits) -> list[tuple[int, int, str]] | None:
    heredoc = action.heredocs[0]
    if heredoc.chomp:
        return None
    raw = getattr(heredoc, "raw", heredoc.content)
    first_nl = src.find("\n")
    at = src.find(raw, first_nl + 1) if first_nl >= 0 else -1
    if at < 0 or raw != heredoc.content:
        return None
    return [(s + at, e + at, r) for s, e, r in edits]


def value_map(src: str, value: str, escape: str = "\\") -> list[int] | None:
    """For each character of ``value`` (the RUN body with continuations joined), its offset in ``src``."""
    lines = src.splitlines(keepends=True)
    segments: list[tuple[int, str]] = []
    pos = 0
    cont_re = re.compile(re.escape(escape) + r"[ \t]*$")
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if i and (not body.strip() or body.lstrip().startswith("#")):
            pos += len(line)
            continue
        cm = cont_re.search(body)
        if cm:
            body = body[: cm.start()]
        segments.append((pos, body))
        pos += len(line)
        if not cm:
            break
    index: list[int] = []
    joined: list[str] = []
    for start, body in segments:
        for k, ch in enumerate(body):
            index.append(start + k)
            joined.append(ch)
    text = "".join(joined)
    for candidate in (text, text.rstrip()):
        if candidate.endswith(value) and value:
            offset = len(candidate) - len(value)
            return index[offset : offset + len(value)]
    return None


def _shell_edits(src: str, value: str, edits, escape: str) -> list[tuple[int, int, str]] | None:
    mapping = value_map(src, value, escape)
    if mapping is None:
        return None
    out = []
    for start, end, repl in edits:
        s = mapping[start] if start < len(mapping) else mapping[-1] + 1
        e = (mapping[end - 1] + 1) if end > start else s
        out.append((s, e, repl))
    return out


def _whole_line(src: str, edit: tuple[int, int, str], escape: str) -> tuple[int, int, str]:
    """A deletion that would leave a line holding only its continuation escape takes the whole line."""
    start, end, repl = edit
    if repl or end <= start:
        return edit
    line_start = src.rfind("\n", 0, start) + 1
    line_end = src.find("\n", end)
    if line_start == 0 or line_end < 0:
        return edit
    if src[line_start:start].strip() == "" and src[end:line_end].strip() == escape:
        return (line_start, line_end + 1, "")
    return edit
